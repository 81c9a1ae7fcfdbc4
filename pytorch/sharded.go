package pytorch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/internal/shardname"
)

// MaxIndexSize is the largest index of a sharded checkpoint
// (pytorch_model.bin.index.json) that Convert reads: 64 MiB, some thousand
// times the index of a model of hundreds of billions of parameters.
const MaxIndexSize = 64 << 20

// sniffIndex tells an index from a checkpoint by the file's first bytes:
// an index is JSON, its first byte after any blank and byte order mark
// being '{', which starts neither a zip archive nor a pickle. It returns
// the whole index, or nil for anything else.
func sniffIndex(f io.ReaderAt, size int64) ([]byte, error) {
	var head [64]byte
	n, _ := f.ReadAt(head[:min(size, int64(len(head)))], 0)
	h := bytes.TrimLeft(bytes.TrimPrefix(head[:n], []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(h) == 0 || h[0] != '{' {
		return nil, nil
	}
	if size > MaxIndexSize {
		return nil, fmt.Errorf("%w: a %d-byte index, larger than the limit of %d bytes", safetensors.ErrInvalidIndex, size, MaxIndexSize)
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, size))
	if err != nil {
		return nil, err
	}
	return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), nil
}

// shardOutName is the name convert.py's convert_multi gives the converted
// shard: the extension replaced by .safetensors, and every "pytorch_model"
// replaced by "model" (pytorch_model-00001-of-00002.bin becomes
// model-00001-of-00002.safetensors). The extension is found as Python's
// os.path.splitext finds it: the last dot of the last element, not counting
// the element's leading dots.
func shardOutName(name string) string {
	dir, base := path.Split(name)
	lead := len(base) - len(strings.TrimLeft(base, "."))
	if i := strings.LastIndexByte(base, '.'); i > lead {
		base = base[:i]
	}
	return strings.ReplaceAll(dir+base+".safetensors", "pytorch_model", "model")
}

// shardJob is one shard of a sharded conversion.
type shardJob struct {
	name, out string // in the index, in the new set
	src, dst  string // paths
	c         *Checkpoint
	p         *plan
	tmp       string // the written temporary file, once written
}

// convertIndex converts the sharded checkpoint whose index, read from src,
// is index, to a sharded safetensors set in the folder dst.
func (o Options) convertIndex(ctx context.Context, src string, index []byte, dst string) (res *Result, err error) {
	m, err := safetensors.NewModel(index, func(name string) (*safetensors.File, error) {
		return nil, fmt.Errorf("pytorch: shard %q is a PyTorch checkpoint", name)
	})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if m.Len() == 0 {
		return nil, fmt.Errorf("%w: the index lists no tensors", safetensors.ErrInvalidIndex)
	}
	var raw struct {
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(index, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", safetensors.ErrInvalidIndex, err)
	}

	srcDir := filepath.Dir(src)
	outIndex := filepath.Join(dst, safetensors.IndexName)
	if st, err := os.Stat(outIndex); err == nil {
		if sst, err := os.Stat(src); err == nil && os.SameFile(st, sst) {
			return nil, fmt.Errorf("pytorch: the new index %s would replace the checkpoint's own index", outIndex)
		}
	}
	listed := map[string]int{} // tensors the index lists per shard
	for _, name := range m.Keys() {
		f, _ := m.FileOf(name)
		listed[f]++
	}
	var jobs []*shardJob
	outs := map[string]string{}
	defer func() {
		for _, j := range jobs {
			if j.c != nil {
				j.c.Close()
			}
			if j.tmp != "" {
				os.Remove(j.tmp)
			}
		}
	}()
	for _, name := range m.Files() {
		out := shardOutName(name)
		if strings.HasSuffix(name, ".safetensors") {
			return nil, fmt.Errorf("%w: shard %q is already a safetensors file", safetensors.ErrInvalidIndex, name)
		}
		if prev, dup := outs[out]; dup {
			return nil, fmt.Errorf("%w: shards %q and %q would both be converted to %q", safetensors.ErrInvalidIndex, prev, name, out)
		}
		outs[out] = name
		jobs = append(jobs, &shardJob{name: name, out: out, src: filepath.Join(srcDir, filepath.FromSlash(name)), dst: filepath.Join(dst, filepath.FromSlash(out))})
	}
	var inSize int64
	for _, j := range jobs {
		if j.c, err = o.Open(j.src); err != nil {
			return nil, err
		}
		inSize += j.c.src.size
		if j.p, err = o.plan(j.c); err != nil {
			return nil, &fs.PathError{Op: "convert", Path: j.src, Err: err}
		}
		if err := checkShard(m, j, listed[j.name]); err != nil {
			return nil, err
		}
	}

	res = &Result{Removed: map[string]string{}, Index: outIndex}
	first := jobs[0].p.res
	res.Format, res.ByteOrder, res.Unwrapped = first.Format, first.ByteOrder, first.Unwrapped
	x := &safetensors.ShardIndex{Metadata: map[string]int64{}, WeightMap: map[string]string{}}
	var params int64
	for _, j := range jobs {
		r := j.p.res
		r.Files = []string{j.dst}
		res.Shards = append(res.Shards, r)
		res.Files = append(res.Files, j.dst)
		res.Tensors += r.Tensors
		res.Bytes += r.Bytes
		res.InputBytes += r.InputBytes
		for k, v := range r.Removed {
			res.Removed[k] = v
		}
		res.Skipped = append(res.Skipped, r.Skipped...)
		for _, e := range j.p.keep {
			x.WeightMap[e.name] = j.out
			params += e.t.numel
		}
	}
	// The index's metadata, as convert_multi copies it, except that the
	// totals describe the new set: views written in full and aliases
	// left out change them.
	for k, v := range raw.Metadata {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			x.Metadata[k] = n
		} else if k != "total_size" && k != "total_parameters" {
			res.DroppedIndexMetadata = append(res.DroppedIndexMetadata, k)
		}
	}
	slices.Sort(res.DroppedIndexMetadata)
	x.Metadata["total_size"] = res.Bytes
	if _, ok := raw.Metadata["total_parameters"]; ok {
		x.Metadata["total_parameters"] = params
	}
	var ib bytes.Buffer
	if _, err := x.WriteTo(&ib); err != nil {
		return nil, err
	}
	// The new index must pass the reader's own checks (shard names
	// included) before anything is written.
	if _, err := safetensors.NewModel(ib.Bytes(), nil); err != nil {
		return nil, fmt.Errorf("pytorch: the new index: %w", err)
	}
	if limit := o.maxOutput(inSize); res.Bytes > limit {
		return nil, errOutputTooLarge(res.Bytes, inSize, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	tr := &tracker{fn: o.Progress, total: res.Bytes}
	scratch := make([]byte, chunkSize)
	for _, j := range jobs {
		if err := mkdirFor(j.dst); err != nil {
			return nil, err
		}
		tr.file = j.dst
		if j.tmp, err = writeTemp(ctx, j.c, j.p, j.dst, tr, scratch); err != nil {
			return nil, &fs.PathError{Op: "convert", Path: j.src, Err: err}
		}
	}
	idx := &shardJob{dst: outIndex}
	jobs = append(jobs, idx) // from here on, its temporary file is removed on failure too
	if idx.tmp, err = writeIndexTemp(outIndex, ib.Bytes()); err != nil {
		return nil, err
	}
	if !o.SkipVerify {
		for _, j := range jobs[:len(jobs)-1] {
			tr.file = j.dst
			if err := verify(ctx, j.c, j.tmp, j.p, tr, scratch); err != nil {
				return nil, &fs.PathError{Op: "convert", Path: j.src, Err: err}
			}
			j.p.res.Verified = true
		}
		res.Verified = true
	}
	// The set as a reader sees it: every shard against the index.
	tmps := map[string]string{}
	for _, j := range jobs[:len(jobs)-1] {
		tmps[j.out] = j.tmp
	}
	set, err := safetensors.NewModel(ib.Bytes(), func(name string) (*safetensors.File, error) {
		return safetensors.Open(tmps[name])
	})
	if err == nil {
		err = set.Verify()
		set.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the new set: %w", ErrVerify, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	moves := make([][2]string, len(jobs))
	for i, j := range jobs {
		moves[i] = [2]string{j.tmp, j.dst}
	}
	if err := install(moves); err != nil {
		return nil, err
	}
	for _, j := range jobs {
		j.tmp = ""
	}
	if res.StaleRemoved, err = removeStale(dst, outs); err != nil {
		return nil, err
	}
	return res, nil
}

// removeStale removes from dir the files of an earlier checkpoint that a
// reader would take for part of the new set, or for the model instead of
// it, as the root package's SaveSharded and transformers do: a
// model.safetensors (which OpenModel prefers to an index) and shards named
// model-NNNNN-of-NNNNN.safetensors, unless the new set has them. It returns
// their paths.
func removeStale(dir string, outs map[string]string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("pytorch: the set is written, but listing %s for stale shards failed: %w", dir, err)
	}
	var removed []string
	for _, e := range entries {
		n := e.Name()
		if _, ours := outs[n]; ours || !e.Type().IsRegular() || (n != safetensors.SingleFileName && !shardname.Match(n, "model")) {
			continue
		}
		p := filepath.Join(dir, n)
		if err := os.Remove(p); err != nil {
			return removed, fmt.Errorf("pytorch: the set is written, but removing the stale %s failed: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// checkShard checks that the shard holds exactly the tensors the index
// lists for it.
func checkShard(m *safetensors.Model, j *shardJob, listed int) error {
	have := 0
	for _, e := range j.c.tensors {
		f, ok := m.FileOf(e.name)
		if !ok {
			return fmt.Errorf("%w: shard %q holds tensor %q, which the index does not list", safetensors.ErrInvalidIndex, j.name, e.name)
		}
		if f != j.name {
			return fmt.Errorf("%w: shard %q holds tensor %q, which the index lists in %q", safetensors.ErrInvalidIndex, j.name, e.name, f)
		}
		have++
	}
	if have != listed {
		for _, name := range m.Keys() {
			if f, _ := m.FileOf(name); f == j.name {
				if _, err := j.c.lookup(name); err != nil {
					return fmt.Errorf("%w: the index lists tensor %q in shard %q, which does not hold it", safetensors.ErrInvalidIndex, name, j.name)
				}
			}
		}
	}
	return nil
}

// writeIndexTemp writes the index bytes to a temporary file next to path
// and returns its name.
func writeIndexTemp(path string, b []byte) (string, error) {
	f, err := createTemp(path)
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// install renames each temporary file over its final path, in order (the
// index last). A file it replaces is first linked (or, where links are not
// available, renamed) to a backup name, so that when a rename fails every
// file is put back as it was; the backups are removed once all are in
// place.
func install(moves [][2]string) error {
	type undo struct{ final, backup string }
	var done []undo
	rollback := func() {
		for i := len(done) - 1; i >= 0; i-- {
			u := done[i]
			if u.backup != "" {
				os.Rename(u.backup, u.final)
			} else {
				os.Remove(u.final)
			}
		}
	}
	for _, mv := range moves {
		tmp, final := mv[0], mv[1]
		u := undo{final: final}
		if st, err := os.Lstat(final); err == nil {
			if st.IsDir() {
				rollback()
				return &fs.PathError{Op: "convert", Path: final, Err: errors.New("pytorch: a folder is in the way")}
			}
			if u.backup, err = backup(final); err != nil {
				rollback()
				return err
			}
		}
		if err := os.Rename(tmp, final); err != nil {
			if u.backup != "" {
				os.Rename(u.backup, final)
			}
			rollback()
			return err
		}
		done = append(done, u)
	}
	dirs := map[string]bool{}
	for _, u := range done {
		if u.backup != "" {
			os.Remove(u.backup)
		}
		dirs[filepath.Dir(u.final)] = true
	}
	for dir := range dirs {
		syncDir(dir)
	}
	return nil
}

// backup gives the file at path a second name, .<base>.old-<random>, and
// returns it: a hard link where the file system has them, else a rename.
func backup(path string) (string, error) {
	dir, base := filepath.Split(path)
	base = shortBase(base)
	for range 1000 {
		name := filepath.Join(dir, "."+base+".old-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		if _, err := os.Lstat(name); err == nil {
			continue
		}
		err := os.Link(path, name)
		if err == nil {
			return name, nil
		}
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err := os.Rename(path, name); err != nil {
			return "", err
		}
		return name, nil
	}
	return "", &fs.PathError{Op: "convert", Path: path, Err: errors.New("pytorch: no free name for a backup")}
}
