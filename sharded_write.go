package safetensors

// Writing sharded checkpoints as transformers' save_pretrained does: the
// tensors split into shard files by huggingface_hub's
// split_state_dict_into_shards_factory, each shard a safetensors file with
// {"format": "pt"} metadata, and an index, model.safetensors.index.json,
// written as json.dumps(index, indent=2, sort_keys=True) + "\n".

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/safetensors-go/safetensors/internal/shardname"
)

// DefaultMaxShardSize is the default largest shard, in bytes of tensor
// data: 5,000,000,000, huggingface_hub's MAX_SHARD_SIZE and transformers'
// "5GB".
const DefaultMaxShardSize = 5_000_000_000

// ShardOptions adjusts how tensors are split into shards. The zero value
// means the defaults.
type ShardOptions struct {
	// MaxShardSize is the most bytes of tensor data a shard holds (headers
	// not counted, as in huggingface_hub), except that a tensor larger than
	// it gets a shard of its own. Zero or negative means
	// DefaultMaxShardSize.
	MaxShardSize int64
	// Prefix names the files: PREFIX-00001-of-00003.safetensors, the index
	// PREFIX.safetensors.index.json, or PREFIX.safetensors when there is
	// one shard. It must be a plain file name. Empty means "model".
	Prefix string
	// Metadata is every shard's "__metadata__". Nil means {"format": "pt"},
	// what transformers writes.
	Metadata map[string]string
}

func (o ShardOptions) prefix() string {
	if o.Prefix == "" {
		return "model"
	}
	return o.Prefix
}

func (o ShardOptions) maxSize() int64 {
	if o.MaxShardSize <= 0 {
		return DefaultMaxShardSize
	}
	return o.MaxShardSize
}

func (o ShardOptions) metadata() map[string]string {
	if o.Metadata == nil {
		return map[string]string{"format": "pt"}
	}
	return o.Metadata
}

func (o ShardOptions) check() error {
	p := o.prefix()
	if p == "." || p == ".." || strings.ContainsAny(p, `/\:`) || !utf8.ValidString(p) {
		return fmt.Errorf("safetensors: shard prefix %q is not a plain file name", p)
	}
	return nil
}

// ShardPlan says which tensors go in which file of a sharded checkpoint.
// Make one with [PlanShards]; [SaveSharded] and [SaveShardedFunc] follow it.
type ShardPlan struct {
	// Files are the shard files in order: PREFIX-00001-of-0000N.safetensors
	// and so on, or the one file PREFIX.safetensors when everything fits in
	// one shard (then no index is written, as transformers does).
	Files []ShardFile
	// TotalSize is the index's "total_size": the sum of the tensors' data
	// sizes (tensors sharing storage counted once).
	TotalSize int64
	// TotalParameters is the index's "total_parameters": the sum of the
	// tensors' element counts (tensors sharing storage counted once).
	TotalParameters int64
	// IndexName is the name of the index file, PREFIX.safetensors.index.json.
	IndexName string
}

// ShardFile is one file of a [ShardPlan].
type ShardFile struct {
	Name    string   // the file name, such as model-00001-of-00002.safetensors
	Tensors []string // the names of its tensors, in the order they were assigned
	Size    int64    // the bytes of tensor data the shard holds
}

// Sharded reports whether the plan has more than one file, and so an index.
func (p *ShardPlan) Sharded() bool { return len(p.Files) > 1 }

// Index returns the plan's index: the metadata (total_size,
// total_parameters) and the weight map of every tensor to its file.
func (p *ShardPlan) Index() *ShardIndex {
	x := &ShardIndex{
		Metadata:  map[string]int64{"total_size": p.TotalSize, "total_parameters": p.TotalParameters},
		WeightMap: make(map[string]string),
	}
	for _, f := range p.Files {
		for _, t := range f.Tensors {
			x.WeightMap[t] = f.Name
		}
	}
	return x
}

// shardItem is one tensor to assign: its size, element count, and the
// storage it shares with others (nil for none).
type shardItem struct {
	name    string
	size    int64
	params  int64
	storage *storageKey
}

// storageKey identifies a tensor's bytes: tensors whose data are the very
// same bytes share storage, as tied weights do in PyTorch.
type storageKey struct {
	first *byte
	n     int
}

// PlanShards assigns tensors to shard files, in the order given, exactly
// as huggingface_hub's split_state_dict_into_shards_factory (which
// transformers' save_pretrained uses) does: a tensor goes into the current
// shard unless it would take it over the maximum, in which case a new shard
// is started; a tensor larger than the maximum gets a shard of its own,
// placed before the current one. There is no search for the tightest
// packing: with a maximum of 10 and sizes 6, 6, 2, 6, 2, 2 the shards are
// [6], [6, 2], [6, 2, 2].
//
// Only the names, dtypes and shapes of tensors are used. Names must be
// unique, valid UTF-8, and not "__metadata__"; dtypes and shapes valid.
func PlanShards(tensors []TensorInfo, opts ShardOptions) (*ShardPlan, error) {
	items := make([]shardItem, len(tensors))
	seen := make(map[string]bool, len(tensors))
	for i, ti := range tensors {
		if seen[ti.Name] {
			return nil, tensorErr(ErrInvalidHeader, ti.Name, "the name is given twice")
		}
		seen[ti.Name] = true
		it, err := newShardItem(ti.Name, ti.DType, ti.Shape)
		if err != nil {
			return nil, err
		}
		items[i] = it
	}
	return planShards(items, opts)
}

func newShardItem(name string, d DType, shape []int) (shardItem, error) {
	if name == "__metadata__" {
		return shardItem{}, tensorErr(ErrInvalidHeader, name, "the name is reserved for the metadata map")
	}
	if !utf8.ValidString(name) {
		return shardItem{}, tensorErr(ErrInvalidHeader, name, "the name is not valid UTF-8")
	}
	if !d.Valid() {
		return shardItem{}, tensorErr(ErrInvalidTensorInfo, name, "invalid dtype %v", d)
	}
	for i, dim := range shape {
		if dim < 0 {
			return shardItem{}, tensorErr(ErrInvalidTensorInfo, name, "negative dimension %d at axis %d of shape %v", dim, i, shape)
		}
	}
	size, err := byteSize(d, shape)
	if err != nil {
		return shardItem{}, &FormatError{Err: sentinelOf(err), Tensor: name, HasTensor: true, Offset: -1, Msg: err.Error()}
	}
	return shardItem{name: name, size: int64(size), params: int64(numElements(shape))}, nil
}

// planShards is the algorithm of huggingface_hub's
// split_state_dict_into_shards_factory, step for step.
func planShards(items []shardItem, opts ShardOptions) (*ShardPlan, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	limit := opts.maxSize()
	type shard struct {
		names []string
		size  int64
	}
	var (
		shards  []*shard
		current = &shard{}
		shared  = map[storageKey][]string{} // storage -> its tensors, the first one assigned
		plan    = &ShardPlan{IndexName: opts.prefix() + ".safetensors.index.json"}
	)
	for _, it := range items {
		if it.storage != nil {
			if names, ok := shared[*it.storage]; ok {
				shared[*it.storage] = append(names, it.name) // placed with the first, below
				continue
			}
			shared[*it.storage] = []string{it.name}
		}
		plan.TotalParameters += it.params
		if it.size > limit {
			plan.TotalSize += it.size
			shards = append(shards, &shard{names: []string{it.name}, size: it.size})
			continue
		}
		if current.size+it.size > limit {
			shards = append(shards, current)
			current = &shard{}
		}
		current.names = append(current.names, it.name)
		current.size += it.size
		plan.TotalSize += it.size
	}
	if len(current.names) > 0 || len(shards) == 0 {
		shards = append(shards, current)
	}
	// Tensors sharing storage join the shard of the first of them.
	if len(shared) > 0 {
		where := map[string]*shard{}
		for _, s := range shards {
			for _, n := range s.names {
				where[n] = s
			}
		}
		for _, it := range items { // in input order, for determinism
			if it.storage == nil {
				continue
			}
			names := shared[*it.storage]
			if len(names) < 2 || names[0] != it.name {
				continue
			}
			s := where[names[0]]
			s.names = append(s.names, names[1:]...)
		}
	}
	prefix := opts.prefix()
	for i, s := range shards {
		name := prefix + ".safetensors"
		if len(shards) > 1 {
			name = shardname.Format(prefix, i, len(shards))
		}
		plan.Files = append(plan.Files, ShardFile{Name: name, Tensors: s.names, Size: s.size})
	}
	return plan, nil
}

// ShardIndex is the content of a sharded checkpoint's index file,
// model.safetensors.index.json.
type ShardIndex struct {
	// Metadata is the index's "metadata" object: transformers writes
	// "total_size" and "total_parameters".
	Metadata map[string]int64
	// WeightMap maps each tensor's name to the name of its shard file.
	WeightMap map[string]string
}

// WriteTo writes the index as transformers writes it, byte for byte:
// json.dumps(index, indent=2, sort_keys=True) followed by a newline, which
// means two-space indentation, keys sorted (by code point), ", " never at
// line ends, and every character outside printable ASCII escaped as \uXXXX
// (Python's ensure_ascii). Names that are not valid UTF-8 are refused.
func (x *ShardIndex) WriteTo(w io.Writer) (int64, error) {
	b, err := x.appendJSON(nil)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

func (x *ShardIndex) appendJSON(b []byte) ([]byte, error) {
	b = append(b, "{\n  \"metadata\": "...)
	if len(x.Metadata) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, "{"...)
		for i, k := range slices.Sorted(maps.Keys(x.Metadata)) {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			b = append(b, "\n    "...)
			if b, err = appendPyString(b, k); err != nil {
				return nil, err
			}
			b = append(b, ": "...)
			b = strconv.AppendInt(b, x.Metadata[k], 10)
		}
		b = append(b, "\n  }"...)
	}
	b = append(b, ",\n  \"weight_map\": "...)
	if len(x.WeightMap) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, "{"...)
		for i, k := range slices.Sorted(maps.Keys(x.WeightMap)) {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			b = append(b, "\n    "...)
			if b, err = appendPyString(b, k); err != nil {
				return nil, err
			}
			b = append(b, ": "...)
			if b, err = appendPyString(b, x.WeightMap[k]); err != nil {
				return nil, err
			}
		}
		b = append(b, "\n  }"...)
	}
	return append(b, "\n}\n"...), nil
}

// appendPyString appends s as Python's json.dumps writes a string with
// ensure_ascii: \" \\ \n \r \t \b \f, and \uXXXX (lowercase hex, surrogate
// pairs above U+FFFF) for every other character outside ' '..'~'.
func appendPyString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: %q is not valid UTF-8", ErrInvalidIndex, s)
	}
	const hex = "0123456789abcdef"
	u := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r >= ' ' && r <= '~':
			b = append(b, byte(r))
		case r > 0xffff:
			r -= 0x10000
			b = u(b, 0xd800+(r>>10))
			b = u(b, 0xdc00+(r&0x3ff))
		default:
			b = u(b, r)
		}
	}
	return append(b, '"'), nil
}

// SaveSharded writes tensors into the folder dir (created if needed) as a
// sharded checkpoint, as transformers' save_pretrained does with
// safetensors: the tensors, taken in sorted name order, are split into
// shards of at most opts.MaxShardSize bytes of data by [PlanShards]'s rule,
// each shard is written with {"format": "pt"} metadata as
// PREFIX-00001-of-0000N.safetensors, and the index
// PREFIX.safetensors.index.json byte for byte as transformers writes it
// ([ShardIndex.WriteTo]). When
// everything fits in one shard, the one file is PREFIX.safetensors and no
// index is written, as transformers does. Either way, [OpenModel] reads
// the folder back. It returns the plan it followed.
//
// Tensors whose data are the very same bytes (the same slice, as tied
// weights would be) are put in the same shard, and counted once in
// total_size and total_parameters, as huggingface_hub does for tensors that
// share storage; the file holds each of them in full.
//
// Everything is validated before the first file is created: the
// tensors, as [Save] validates them, and every shard's header size. Then,
// once the new checkpoint is complete, files of an earlier checkpoint
// with the same prefix that would be mistaken for part of it are removed:
// shards named PREFIX-NNNNN-of-NNNNN.safetensors that the new one does not
// have (as transformers does), and PREFIX.safetensors or the index,
// whichever the new checkpoint does not use. No other file is touched.
//
// The checkpoint is saved as a set: every file, shards and index, is
// written in full under a temporary name (and synced) before any is
// renamed into place, the index last, and a file that a new one replaces
// is kept aside until every rename has succeeded. A failure at any point
// (a full disk, a failed rename) removes the temporary files and leaves
// the previous checkpoint in the folder as it was, index and shards (so the
// disk needs room for both checkpoints while the new one is written). New
// files get 0666 less the umask; a file replaced keeps its permission
// bits.
func SaveSharded(dir string, tensors map[string]Tensor, opts ShardOptions) (*ShardPlan, error) {
	return Options{}.SaveSharded(dir, tensors, opts)
}

// SaveSharded is [SaveSharded] with these options, which apply to each
// shard as in [Options.Save].
func (o Options) SaveSharded(dir string, tensors map[string]Tensor, opts ShardOptions) (*ShardPlan, error) {
	sp, plans, err := o.planShardedSave(tensors, opts)
	if err != nil {
		return nil, err
	}
	if err := writeSharded(dir, sp, func(i int, w io.Writer) error { return plans[i].writeTo(w) }); err != nil {
		return nil, err
	}
	return sp, nil
}

// SaveShardedFunc writes a sharded checkpoint of the declared tensors, as
// [SaveSharded] does, but streams their bytes: tensors are taken in the
// order given (which decides the split, see [PlanShards]), and for each
// shard a [Writer] is made and write is called once per tensor, in the
// Writer's order ([Writer.Infos]: the reference writer's buffer order
// within the shard), to write that tensor with [Writer.WriteTensor] or
// [Writer.CopyTensor]. At most one tensor need be in memory at a time, so
// this suits checkpoints larger than memory, such as a [Model] being
// re-sharded:
//
//	plan, err := safetensors.SaveShardedFunc(dir, infos, opts,
//		func(w *safetensors.Writer, name string) error {
//			t, err := m.GetTensor(name)
//			if err != nil {
//				return err
//			}
//			return w.WriteTensor(name, t)
//		})
//
// A write that fails, or that writes the tensor short, abandons the whole
// set and returns the error: as with SaveSharded, nothing is renamed into
// place until every file is complete, and the previous checkpoint is left
// as it was. Every shard's header is validated before the first file is
// created; the folder is then handled as by SaveSharded. Tensors cannot share storage here.
func SaveShardedFunc(dir string, tensors []TensorInfo, opts ShardOptions, write func(w *Writer, name string) error) (*ShardPlan, error) {
	return Options{}.SaveShardedFunc(dir, tensors, opts, write)
}

// SaveShardedFunc is [SaveShardedFunc] with these options, which apply to
// each shard as in [Options.Save].
func (o Options) SaveShardedFunc(dir string, tensors []TensorInfo, opts ShardOptions, write func(w *Writer, name string) error) (*ShardPlan, error) {
	plan, err := PlanShards(tensors, opts)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]TensorInfo, len(tensors))
	for _, ti := range tensors {
		byName[ti.Name] = TensorInfo{Name: ti.Name, DType: ti.DType, Shape: ti.Shape}
	}
	meta := opts.metadata()
	declared := make([][]TensorInfo, len(plan.Files))
	for i, f := range plan.Files {
		for _, name := range f.Tensors {
			declared[i] = append(declared[i], byName[name])
		}
		// Validate the header now, so that nothing is written if a shard's
		// is too large.
		if _, err := o.NewWriter(io.Discard, declared[i], meta); err != nil {
			return nil, fmt.Errorf("safetensors: shard %s: %w", f.Name, err)
		}
	}
	err = writeSharded(dir, plan, func(i int, w io.Writer) error {
		tw, err := o.NewWriter(w, declared[i], meta)
		if err != nil {
			return err
		}
		for _, ti := range tw.Infos() {
			if err := write(tw, ti.Name); err != nil {
				return fmt.Errorf("safetensors: writing tensor %q: %w", ti.Name, err)
			}
			if tw.Written() != ti.DataOffsets[1] {
				return &FormatError{Err: ErrIncompleteBuffer, Tensor: ti.Name, HasTensor: true, Offset: -1,
					Msg: fmt.Sprintf("the write function wrote %d bytes of the data buffer, the tensor ends at %d", tw.Written(), ti.DataOffsets[1])}
			}
		}
		return tw.Close()
	})
	if err != nil {
		return nil, err
	}
	return plan, nil
}

// writeSharded writes the files of plan into dir, file i through
// writeFile, then the index, as a set: every file is first written in full
// under a temporary name, and only then are they renamed into place, the
// index last. A file that a new one replaces is kept under a hidden name
// until every rename has succeeded, so that a failed rename puts the
// previous set back. Then stale files of the same prefix are removed.
func writeSharded(dir string, plan *ShardPlan, writeFile func(i int, w io.Writer) error) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	var targets, temps []string
	abandon := func() {
		for _, tmp := range temps {
			saveFS.remove(tmp)
		}
	}
	for i, f := range plan.Files {
		path := filepath.Join(dir, f.Name)
		tmp, err := writeTemp(path, func(w io.Writer) error { return writeFile(i, w) })
		if err != nil {
			abandon()
			return &fs.PathError{Op: "save", Path: path, Err: err}
		}
		targets, temps = append(targets, path), append(temps, tmp)
	}
	if plan.Sharded() {
		path := filepath.Join(dir, plan.IndexName)
		x := plan.Index()
		tmp, err := writeTemp(path, func(w io.Writer) error { _, err := x.WriteTo(w); return err })
		if err != nil {
			abandon()
			return &fs.PathError{Op: "save", Path: path, Err: err}
		}
		targets, temps = append(targets, path), append(temps, tmp)
	}
	if err := renameSet(temps, targets); err != nil {
		return err
	}
	if err := saveFS.syncDir(dir); err != nil {
		return fmt.Errorf("safetensors: the checkpoint is saved, but syncing its directory failed: %w", err)
	}
	return removeStale(dir, plan)
}

// renameSet renames each of temps to its target, in order. Before a
// target is replaced, the file it holds is kept under a hidden name (a
// hard link, or a rename where links are not supported); if a rename
// fails, the targets renamed so far get their old files back, the
// temporary files are removed, and the error says whether that worked. On
// success the kept files are removed.
func renameSet(temps, targets []string) error {
	kept := make([]string, len(targets)) // "" where there was no file
	moved := make([]bool, len(targets))  // kept by a rename rather than a link
	done := 0
	undo := func(path string, cause error) error {
		errs := []error{cause}
		for j := done - 1; j >= 0; j-- {
			if kept[j] != "" {
				if err := saveFS.rename(kept[j], targets[j]); err != nil {
					errs = append(errs, fmt.Errorf("safetensors: putting back %s (kept as %s): %w", targets[j], kept[j], err))
				}
			} else {
				saveFS.remove(targets[j])
			}
		}
		for j := done; j < len(targets); j++ {
			// A target not yet replaced still holds its file: a kept link
			// to it is removed (renaming it onto the target would keep both
			// names), a file moved aside is moved back.
			if kept[j] != "" && !moved[j] {
				saveFS.remove(kept[j])
			} else if kept[j] != "" {
				if err := saveFS.rename(kept[j], targets[j]); err != nil {
					errs = append(errs, fmt.Errorf("safetensors: putting back %s (kept as %s): %w", targets[j], kept[j], err))
				}
			}
			saveFS.remove(temps[j])
		}
		return &fs.PathError{Op: "save", Path: path, Err: errors.Join(errs...)}
	}
	for j, target := range targets {
		if fi, err := saveFS.lstat(target); err == nil && !fi.IsDir() {
			keep := hiddenName(target, "old")
			if err := saveFS.link(target, keep); err != nil {
				// No hard links here: move the old file aside instead.
				if err := saveFS.rename(target, keep); err != nil {
					return undo(target, err)
				}
				moved[j] = true
			}
			kept[j] = keep
		}
		if err := saveFS.rename(temps[j], target); err != nil {
			return undo(target, err)
		}
		done++
	}
	for _, keep := range kept {
		if keep != "" {
			saveFS.remove(keep)
		}
	}
	return nil
}

// removeStale removes, from dir, the files of an earlier checkpoint with
// plan's prefix that plan does not have.
func removeStale(dir string, plan *ShardPlan) error {
	prefix := strings.TrimSuffix(plan.IndexName, ".safetensors.index.json")
	keep := map[string]bool{}
	for _, f := range plan.Files {
		keep[f.Name] = true
	}
	var stale []string
	if plan.Sharded() {
		stale = append(stale, prefix+".safetensors")
	} else {
		stale = append(stale, plan.IndexName)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("safetensors: the checkpoint is saved, but listing %s for stale shards failed: %w", dir, err)
	}
	for _, e := range entries {
		if n := e.Name(); !keep[n] && shardname.Match(n, prefix) {
			stale = append(stale, n)
		}
	}
	for _, n := range stale {
		p := filepath.Join(dir, n)
		if fi, err := os.Lstat(p); err != nil || fi.IsDir() {
			continue
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("safetensors: the checkpoint is saved, but removing the stale %s failed: %w", p, err)
		}
	}
	return nil
}

// planShardedSave splits a map of tensors into shards with opts and plans
// each shard's file as o would save it: the first half of a sharded save,
// whatever the files are written into.
func (o Options) planShardedSave(tensors map[string]Tensor, opts ShardOptions) (*ShardPlan, []*plan, error) {
	names := slices.Sorted(maps.Keys(tensors))
	items := make([]shardItem, len(names))
	for i, name := range names {
		t := tensors[name]
		it, err := newShardItem(name, t.dtype, t.shape)
		if err != nil {
			return nil, nil, err
		}
		if int64(len(t.data)) != it.size {
			return nil, nil, tensorErr(ErrInvalidTensorInfo, name, "%v%v needs %d bytes, data has %d", t.dtype, t.shape, it.size, len(t.data))
		}
		if it.size > 0 {
			it.storage = &storageKey{first: &t.data[0], n: len(t.data)}
		}
		items[i] = it
	}
	sp, err := planShards(items, opts)
	if err != nil {
		return nil, nil, err
	}
	meta := opts.metadata()
	plans := make([]*plan, len(sp.Files))
	for i, f := range sp.Files {
		sub := make(map[string]Tensor, len(f.Tensors))
		for _, name := range f.Tensors {
			sub[name] = tensors[name]
		}
		if plans[i], err = o.planTensors(sub, meta); err != nil {
			return nil, nil, fmt.Errorf("safetensors: shard %s: %w", f.Name, err)
		}
	}
	return sp, plans, nil
}
