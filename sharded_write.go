package safetensors

// Writing sharded checkpoints as transformers' save_pretrained does: the
// tensors split into shard files by huggingface_hub's
// split_state_dict_into_shards_factory, each shard a safetensors file with
// {"format": "pt"} metadata, and an index, model.safetensors.index.json,
// written as json.dumps(index, indent=2, sort_keys=True) + "\n".

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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
			name = fmt.Sprintf("%s-%05d-of-%05d.safetensors", prefix, i+1, len(shards))
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
