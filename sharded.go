package safetensors

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// ErrInvalidIndex: a sharded model's index (model.safetensors.index.json) is
// malformed, names a shard file that does not exist or lies outside the
// index's folder, or disagrees with its shards: a tensor listed for a shard
// that lacks it, or a tensor in a shard that the index does not list there.
var ErrInvalidIndex = errors.New("safetensors: invalid index")

// IndexName is the name transformers gives the index of a sharded model,
// and the one [OpenModel] looks for in a folder.
const IndexName = "model.safetensors.index.json"

// SingleFileName is the name transformers gives an unsharded model, and the
// first one [OpenModel] looks for in a folder.
const SingleFileName = "model.safetensors"

// Model is a set of safetensors files read as one: a sharded checkpoint
// (an index, model.safetensors.index.json, whose "weight_map" says which
// shard file holds each tensor) or a single file. Create one with
// [OpenModel], [NewModel] or [NewFileModel]; the remote package makes them
// over HTTP.
//
// The index alone answers [Model.Keys], [Model.Len], [Model.Metadata],
// [Model.Files] and [Model.FileOf], without opening any shard.
// [Model.GetTensor], [Model.GetSlice] and [Model.Info] work across shards
// as [File]'s methods do within one, opening the shard they need, once, on
// first use. On opening, a shard's header is checked against the index
// (see [ErrInvalidIndex]); [Model.Verify] opens and checks them all. A
// shard that fails to open is not remembered as failed: the next call
// tries again.
//
// The Model owns the shards it opens and closes them in [Model.Close]. Its
// methods are safe for concurrent use: concurrent first uses of a shard open
// it once.
type Model struct {
	metadata map[string]string
	names    []string         // sorted
	where    map[string]int32 // tensor name -> index into shards
	shards   []*shard         // sorted by name
	open     func(name string) (*File, error)
	indexed  bool // from an index, rather than a single file
	closed   atomic.Bool
}

// shard is one file of a Model.
type shard struct {
	name   string
	listed int // how many tensors the index puts in this shard
	mu     sync.Mutex
	f      atomic.Pointer[File]
}

// OpenModel opens a model stored on disk, given as any of:
//
//   - an index file (a name ending in ".json", such as
//     model.safetensors.index.json): a sharded model whose shards are in
//     the index's folder;
//   - a single .safetensors file (any other file name);
//   - a folder holding, in this order of preference (transformers'):
//     model.safetensors; model.safetensors.index.json; exactly one file
//     named *.safetensors.index.json; exactly one *.safetensors file.
//
// It reads and checks the index, and checks that each shard it names
// exists, but opens no shard: shards are opened, with [Open] (memory
// mapped), on first use. A single-file model is opened at once. Shard names
// in the index must be relative paths inside the index's folder: absolute
// paths and ".." are refused. Subfolders are allowed, and so are symbolic
// links that stay inside the folder or, in the Hugging Face cache, lead to
// the repository's blobs; see [Options.FollowSymlinks]. Only regular files
// are read: see [ErrNotRegular].
//
// Errors in the index wrap [ErrInvalidIndex]; a missing shard also wraps
// [fs.ErrNotExist].
func OpenModel(path string) (*Model, error) { return Options{}.OpenModel(path) }

// OpenModel is [OpenModel] with these options. The shards are opened with
// [Options.Open], MaxHeaderSize also limits the size of the index file, and
// FollowSymlinks says where symbolic links of the model's folder may lead.
func (o Options) OpenModel(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var md *modelDir
	open := path // the path to open: path, or where it leads once checked
	nofollow := false
	if st.IsDir() {
		if md, err = o.newModelDir(path); err != nil {
			return nil, err
		}
		if path, err = findModel(path); err != nil {
			return nil, err
		}
		if open, err = md.resolve(filepath.Base(path)); err != nil {
			return nil, err
		}
		nofollow = md.roots != nil
	}
	if !strings.HasSuffix(path, ".json") {
		f, err := o.open(open, nofollow)
		if err != nil {
			return nil, err
		}
		return NewFileModel(f, filepath.Base(path)), nil
	}
	if md == nil {
		if md, err = o.newModelDir(filepath.Dir(path)); err != nil {
			return nil, err
		}
	}
	index, err := readIndexFile(open, nofollow, o.maxHeader())
	if err != nil {
		return nil, err
	}
	m, err := NewModel(index, func(name string) (*File, error) {
		p, err := md.resolve(name)
		if err != nil {
			return nil, err
		}
		return o.open(p, md.roots != nil)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range m.shards {
		p, err := md.resolve(s.name)
		if err == nil {
			var st fs.FileInfo
			if st, err = os.Stat(p); err == nil {
				err = checkRegular(p, st)
			}
		}
		if err != nil {
			return nil, &indexError{
				msg:  fmt.Sprintf("%v: index %s names shard %q, which cannot be opened: %v", ErrInvalidIndex, path, s.name, err),
				errs: []error{ErrInvalidIndex, err},
			}
		}
	}
	return m, nil
}

// modelDir is a model's folder on disk, and the folders that the files it
// names may lead to once symbolic links are resolved.
type modelDir struct {
	dir   string
	roots []string // absolute and resolved; nil when links may lead anywhere
}

func (o Options) newModelDir(dir string) (*modelDir, error) {
	md := &modelDir{dir: dir}
	if o.FollowSymlinks {
		return md, nil
	}
	real, err := filepath.EvalSymlinks(dir)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return nil, err
	}
	md.roots = []string{real}
	// The Hugging Face cache: REPO/snapshots/REV/NAME -> ../../blobs/HASH,
	// and REPO/snapshots/REV/SUB/NAME -> ../../../blobs/HASH for a model in
	// a subfolder of its repository (as diffusers lays them out).
	for d := real; filepath.Dir(d) != d; d = filepath.Dir(d) {
		if parent := filepath.Dir(d); filepath.Base(parent) == "snapshots" {
			md.roots = append(md.roots, filepath.Join(filepath.Dir(parent), "blobs"))
			break
		}
	}
	return md, nil
}

// resolve returns the path of name (slash-separated, relative to the
// folder) to open: with every link resolved, once checked to be inside the
// roots, or as it is when links may lead anywhere.
func (md *modelDir) resolve(name string) (string, error) {
	p := filepath.Join(md.dir, filepath.FromSlash(name))
	if md.roots == nil {
		return p, nil
	}
	real, err := filepath.EvalSymlinks(p)
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return "", err
	}
	for _, root := range md.roots {
		if rel, err := filepath.Rel(root, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel) {
			return real, nil
		}
	}
	return "", &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("safetensors: a symbolic link out of the model's folder %s (Options.FollowSymlinks allows it): %w", md.roots[0], fs.ErrPermission)}
}

// findModel picks the model file of folder dir, as OpenModel documents.
func findModel(dir string) (string, error) {
	for _, name := range []string{SingleFileName, IndexName} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var indexes, files []string
	for _, e := range entries {
		switch n := e.Name(); {
		case e.IsDir():
		case strings.HasSuffix(n, ".safetensors.index.json"):
			indexes = append(indexes, n)
		case strings.HasSuffix(n, ".safetensors"):
			files = append(files, n)
		}
	}
	switch {
	case len(indexes) == 1:
		return filepath.Join(dir, indexes[0]), nil
	case len(indexes) > 1:
		return "", &fs.PathError{Op: "open model", Path: dir, Err: fmt.Errorf("safetensors: the folder holds %d index files (%s): open one of them", len(indexes), strings.Join(indexes, ", "))}
	case len(files) == 1:
		return filepath.Join(dir, files[0]), nil
	case len(files) > 1:
		return "", &fs.PathError{Op: "open model", Path: dir, Err: fmt.Errorf("safetensors: the folder holds %d .safetensors files and no index: open one of them", len(files))}
	}
	return "", &fs.PathError{Op: "open model", Path: dir, Err: fmt.Errorf("safetensors: no %s, %s or other .safetensors file in the folder: %w", SingleFileName, IndexName, fs.ErrNotExist)}
}

// readIndexFile reads an index file of at most limit bytes (no limit when
// limit is negative), which must be a regular file.
func readIndexFile(path string, nofollow bool, limit int64) ([]byte, error) {
	f, _, err := openRegular(path, nofollow)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if limit >= 0 {
		r = io.LimitReader(f, limit+1)
	}
	// Read in steps; past the first ReadStep bytes, a step holding a byte
	// that JSON allows nowhere ends the read, so that a sparse file of
	// zeros (with no limit) fails early instead of filling memory.
	var b []byte
	for {
		if len(b) == cap(b) {
			next := make([]byte, len(b), max(512, 2*len(b)))
			copy(next, b)
			b = next
		}
		n, err := r.Read(b[len(b):cap(b)])
		if chunk := b[len(b) : len(b)+n]; len(b) >= ReadStep {
			if i := slices.IndexFunc(chunk, func(c byte) bool { return c < 0x20 && c != '\t' && c != '\n' && c != '\r' }); i >= 0 {
				return nil, &fs.PathError{Op: "open model", Path: path, Err: &FormatError{Err: ErrInvalidIndex, Offset: int64(len(b) + i),
					Msg: fmt.Sprintf("the index holds the control character %#02x, which JSON allows nowhere", chunk[i])}}
			}
		}
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
	}
	if limit >= 0 && int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "open model", Path: path, Err: fmt.Errorf("%w: the index is larger than the limit of %d bytes", ErrInvalidIndex, limit)}
	}
	return b, nil
}

// NewModel makes a sharded Model from the bytes of its index and a
// function that opens a shard given its name, as written in the index's
// weight_map ("model-00001-of-00002.safetensors"). It checks the index
// (valid JSON, a "weight_map" object of strings, no tensor listed twice,
// shard names that are clean relative paths: no "..", no leading "/", no
// backslash or colon) but opens no shard; open is called, at most once per
// shard at a time, on first use, and not after [Model.Close]. The Model owns
// the Files that open returns and closes them.
//
// The index's "metadata" object becomes [Model.Metadata]; other top-level
// keys are ignored.
func NewModel(index []byte, open func(name string) (*File, error)) (*Model, error) {
	metadata, weights, err := parseIndex(index)
	if err != nil {
		return nil, err
	}
	m := &Model{
		metadata: metadata,
		names:    make([]string, 0, len(weights)),
		where:    make(map[string]int32, len(weights)),
		open:     open,
		indexed:  true,
	}
	var files []string
	seen := map[string]bool{}
	for _, w := range weights {
		if !seen[w[1]] {
			if err := checkShardName(w[1]); err != nil {
				return nil, err
			}
			seen[w[1]] = true
			files = append(files, w[1])
		}
	}
	slices.Sort(files)
	m.shards = make([]*shard, len(files))
	for i, name := range files {
		m.shards[i] = &shard{name: name}
	}
	for _, w := range weights {
		i, _ := slices.BinarySearch(files, w[1])
		m.where[w[0]] = int32(i)
		m.shards[i].listed++
		m.names = append(m.names, w[0])
	}
	slices.Sort(m.names)
	return m, nil
}

// checkShardName refuses shard names that could reach outside the index's
// folder, on any system and in a URL.
func checkShardName(name string) error {
	if !fs.ValidPath(name) || name == "." || strings.ContainsAny(name, `\:`) {
		return fmt.Errorf("%w: shard name %q is not a relative path inside the index's folder", ErrInvalidIndex, name)
	}
	return nil
}

// NewFileModel makes a Model of the single file f, named name (what
// [Model.Files] reports). The Model owns f: [Model.Close] closes it. Its
// Metadata is f's.
func NewFileModel(f *File, name string) *Model {
	m := &Model{
		metadata: f.Metadata(),
		names:    f.Keys(),
		where:    make(map[string]int32, f.Len()),
		shards:   []*shard{{name: name, listed: f.Len()}},
		open: func(string) (*File, error) {
			return nil, fmt.Errorf("safetensors: %s cannot be reopened", name)
		},
	}
	for _, n := range m.names {
		m.where[n] = 0
	}
	m.shards[0].f.Store(f)
	return m
}

// parseIndex reads an index: {"metadata": {...}, "weight_map": {"tensor":
// "file", ...}}, strictly (duplicate keys are errors). It returns the
// metadata, values as strings (JSON strings unquoted, other values as their
// JSON text), and the weight map in the index's order.
func parseIndex(b []byte) (map[string]string, [][2]string, error) {
	if !utf8.Valid(b) {
		return nil, nil, &FormatError{Err: ErrInvalidIndex, Offset: -1, Msg: "the index is not valid UTF-8"}
	}
	p := scanner{s: string(b)}
	metadata, weights, err := parseIndexJSON(&p)
	if err != nil {
		var fe *FormatError
		if errors.As(err, &fe) && fe.Err == ErrInvalidHeader {
			// The scanner speaks of headers, at file offsets 8 bytes on.
			return nil, nil, &FormatError{Err: ErrInvalidIndex, Offset: fe.Offset - prefixSize, Msg: fe.Msg}
		}
		return nil, nil, err
	}
	return metadata, weights, nil
}

func parseIndexJSON(p *scanner) (map[string]string, [][2]string, error) {
	var metadata map[string]string
	var weights [][2]string
	seen := map[string]bool{}
	p.skipSpace()
	if err := p.open('{'); err != nil {
		return nil, nil, err
	}
	p.skipSpace()
	if !p.close('}') {
		for {
			p.skipSpace()
			at := p.i
			key, err := p.str()
			if err != nil {
				return nil, nil, err
			}
			if seen[key] {
				return nil, nil, p.errAt(at, "duplicate key %s", strconv.Quote(key))
			}
			seen[key] = true
			if err := p.colon(); err != nil {
				return nil, nil, err
			}
			switch key {
			case "metadata":
				metadata, err = indexMetadata(p)
			case "weight_map":
				weights, err = weightMap(p)
			default:
				err = p.skipValue()
			}
			if err != nil {
				return nil, nil, err
			}
			more, err := p.next('}')
			if err != nil {
				return nil, nil, err
			}
			if !more {
				break
			}
		}
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, nil, p.errAt(p.i, "unexpected %s after the index object", p.describe())
	}
	if !seen["weight_map"] {
		return nil, nil, &FormatError{Err: ErrInvalidIndex, Offset: -1, Msg: `the index has no "weight_map"`}
	}
	return metadata, weights, nil
}

// indexMetadata reads the index's "metadata": null or an object of any
// values. Strings are kept unquoted, other values as their JSON text.
func indexMetadata(p *scanner) (map[string]string, error) {
	if p.literal("null") {
		return nil, nil
	}
	if p.peek() != '{' {
		return nil, p.errAt(p.i, `"metadata" must be an object or null, not %s`, p.describe())
	}
	if err := p.open('{'); err != nil {
		return nil, err
	}
	m := map[string]string{}
	p.skipSpace()
	if p.close('}') {
		return m, nil
	}
	for {
		p.skipSpace()
		at := p.i
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, p.errAt(at, "duplicate metadata key %s", strconv.Quote(k))
		}
		if err := p.colon(); err != nil {
			return nil, err
		}
		var v string
		if p.peek() == '"' {
			v, err = p.str()
		} else {
			start := p.i
			err = p.skipValue()
			v = p.s[start:p.i]
		}
		if err != nil {
			return nil, err
		}
		m[k] = v
		more, err := p.next('}')
		if err != nil {
			return nil, err
		}
		if !more {
			return m, nil
		}
	}
}

// weightMap reads the index's "weight_map": an object of strings, tensor
// name to shard name, with no name twice.
func weightMap(p *scanner) ([][2]string, error) {
	if p.peek() != '{' {
		return nil, p.errAt(p.i, `"weight_map" must be an object, not %s`, p.describe())
	}
	if err := p.open('{'); err != nil {
		return nil, err
	}
	var out [][2]string
	seen := map[string]bool{}
	p.skipSpace()
	if p.close('}') {
		return out, nil
	}
	for {
		p.skipSpace()
		at := p.i
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, p.errAt(at, "tensor %s is listed twice in the weight_map", strconv.Quote(name))
		}
		seen[name] = true
		if err := p.colon(); err != nil {
			return nil, err
		}
		if p.peek() != '"' {
			return nil, p.errAt(p.i, "the weight_map entry of tensor %s must be a file name, not %s", strconv.Quote(name), p.describe())
		}
		file, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{name, file})
		more, err := p.next('}')
		if err != nil {
			return nil, err
		}
		if !more {
			return out, nil
		}
	}
}

// indexError is an error that wraps several: ErrInvalidIndex and the cause
// (ErrTensorNotFound, fs.ErrNotExist, ...).
type indexError struct {
	msg  string
	errs []error
}

func (e *indexError) Error() string   { return e.msg }
func (e *indexError) Unwrap() []error { return e.errs }

// shardFile returns shard i, opened and checked against the index.
func (m *Model) shardFile(i int32) (*File, error) {
	s := m.shards[i]
	if f := s.f.Load(); f != nil {
		return f, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if f := s.f.Load(); f != nil {
		return f, nil
	}
	f, err := m.open(s.name)
	if err != nil {
		return nil, fmt.Errorf("safetensors: shard %q: %w", s.name, err)
	}
	if err := m.check(i, f); err != nil {
		f.Close()
		return nil, err
	}
	s.f.Store(f)
	return f, nil
}

// check compares the header of shard i with the index: every tensor of the
// shard must be listed there for this shard, and every tensor the index
// lists for it must be there.
func (m *Model) check(i int32, f *File) error {
	s := m.shards[i]
	for _, ti := range f.h.tensors {
		j, ok := m.where[ti.Name]
		switch {
		case !ok:
			return &indexError{
				msg:  fmt.Sprintf("%v: shard %q holds tensor %q, which the index does not list", ErrInvalidIndex, s.name, ti.Name),
				errs: []error{ErrInvalidIndex},
			}
		case j != i:
			other := m.shards[j]
			where := "is in shard %[3]q"
			if g := other.f.Load(); g != nil && g.h.index != nil {
				if _, both := g.h.index[ti.Name]; both {
					where = "is in two shards, %[3]q and %[4]q"
				}
			}
			return &indexError{
				msg:  fmt.Sprintf("%[1]v: tensor %[2]q "+where+", but the index puts it in shard %[4]q", ErrInvalidIndex, ti.Name, s.name, other.name),
				errs: []error{ErrInvalidIndex},
			}
		}
	}
	if f.Len() == s.listed {
		return nil // every tensor of the shard is listed for it, and there are as many
	}
	for _, name := range m.names {
		if m.where[name] == i {
			if _, ok := f.h.index[name]; !ok {
				return &indexError{
					msg:  fmt.Sprintf("%v: the index puts tensor %q in shard %q, which does not hold it", ErrInvalidIndex, name, s.name),
					errs: []error{ErrInvalidIndex, ErrTensorNotFound},
				}
			}
		}
	}
	return nil // not reached: f.Len() < s.listed means one is missing
}

// tensorShard returns the opened shard that holds the named tensor.
func (m *Model) tensorShard(name string) (*File, error) {
	i, ok := m.where[name]
	if !ok {
		if m.closed.Load() {
			return nil, ErrClosed
		}
		return nil, notFound(name)
	}
	return m.shardFile(i)
}

// Close closes every shard the Model opened. Views from [Model.GetTensor]
// of memory-mapped shards die with it, as with [File.Close]. It is
// idempotent, and afterwards the methods that need a shard return
// [ErrClosed]. It returns the first error of closing a shard.
func (m *Model) Close() error {
	m.closed.Store(true)
	var first error
	for _, s := range m.shards {
		s.mu.Lock()
		if f := s.f.Swap(nil); f != nil {
			if err := f.Close(); err != nil && first == nil {
				first = err
			}
		}
		s.mu.Unlock()
	}
	return first
}

// Keys returns the names of all the tensors, sorted bytewise, in a new
// slice. It opens no shard.
func (m *Model) Keys() []string { return slices.Clone(m.names) }

// Len returns the number of tensors. It opens no shard.
func (m *Model) Len() int { return len(m.names) }

// Metadata returns a copy of the model's metadata, or nil when it has none.
// For a sharded model it is the index's "metadata" object, which
// transformers writes as {"total_size": 7510440576, "total_parameters":
// ...}: JSON strings are given unquoted and any other value as its JSON
// text (so "7510440576"). The shards' own "__metadata__" (usually
// {"format": "pt"}) is on each shard: see [Model.Shard]. For a single-file
// model it is the file's "__metadata__", as [File.Metadata].
func (m *Model) Metadata() map[string]string { return maps.Clone(m.metadata) }

// Sharded reports whether the model was made from an index, rather than
// from a single file.
func (m *Model) Sharded() bool { return m.indexed }

// Files returns the names of the model's files, sorted bytewise, in a new
// slice: the shard names as the index writes them (relative to the index's
// folder or URL), or the one file's name. It opens no shard.
func (m *Model) Files() []string {
	out := make([]string, len(m.shards))
	for i, s := range m.shards {
		out[i] = s.name
	}
	return out
}

// FileOf returns the name of the file that holds the named tensor, as the
// index says, and whether there is such a tensor. It opens no shard.
func (m *Model) FileOf(name string) (string, bool) {
	i, ok := m.where[name]
	if !ok {
		return "", false
	}
	return m.shards[i].name, true
}

// Shard returns the file of the given name, one of [Model.Files], opening
// and checking it if it is not yet open. The File belongs to the Model:
// do not close it; it is closed by [Model.Close].
func (m *Model) Shard(file string) (*File, error) {
	i, ok := slices.BinarySearchFunc(m.shards, file, func(s *shard, name string) int { return strings.Compare(s.name, name) })
	if !ok {
		if m.closed.Load() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("safetensors: the model has no file %q", file)
	}
	return m.shardFile(int32(i))
}

// Info returns the header entry of the named tensor, opening its shard if
// needed. Its DataOffsets are relative to the data buffer of its shard
// ([Model.FileOf]). The error wraps [ErrTensorNotFound] when the model has
// no such tensor.
func (m *Model) Info(name string) (TensorInfo, error) {
	f, err := m.tensorShard(name)
	if err != nil {
		return TensorInfo{}, err
	}
	return f.Info(name)
}

// All returns an iterator over the tensors' header entries, shard after
// shard in the order of [Model.Files], and within a shard in the order of
// their data (the order that reads them fastest). It opens each shard as it
// reaches it; if one fails to open it yields a zero TensorInfo and the
// error, and stops. Example:
//
//	for info, err := range m.All() {
//		if err != nil {
//			return err
//		}
//		fmt.Println(info.Name, info.DType, info.Shape)
//	}
func (m *Model) All() iter.Seq2[TensorInfo, error] {
	return func(yield func(TensorInfo, error) bool) {
		for i := range m.shards {
			f, err := m.shardFile(int32(i))
			if err != nil {
				yield(TensorInfo{}, err)
				return
			}
			for _, ti := range f.All() {
				if !yield(ti, nil) {
					return
				}
			}
		}
	}
}

// GetTensor returns the named tensor, from its shard, opening the shard if
// needed; see [File.GetTensor] for whether it is a view or a copy. Views of
// memory-mapped shards die with [Model.Close].
func (m *Model) GetTensor(name string) (Tensor, error) {
	f, err := m.tensorShard(name)
	if err != nil {
		return Tensor{}, err
	}
	return f.GetTensor(name)
}

// GetSlice returns a lazy handle on the named tensor, for reading a part of
// it (see [File.GetSlice]), opening its shard if needed. It reads no tensor
// data. The Slice reads through its shard, so it fails with [ErrClosed]
// once the Model is closed.
func (m *Model) GetSlice(name string) (*Slice, error) {
	f, err := m.tensorShard(name)
	if err != nil {
		return nil, err
	}
	return f.GetSlice(name)
}

// Verify opens every shard and checks it against the index: it reports
// tensors listed in the index but missing from their shard, tensors in a
// shard that the index does not list or puts in another shard, and any
// shard that fails to open. It reads headers only, no tensor data. The
// error joins one error per failing shard.
func (m *Model) Verify() error {
	var errs []error
	for i := range m.shards {
		if _, err := m.shardFile(int32(i)); err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
