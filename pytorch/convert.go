package pytorch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/safetensors-go/safetensors"
)

// Options adjusts how checkpoints are opened and converted. The zero value
// means the defaults, so Options{}.Convert(ctx, src, dst) is Convert(ctx,
// src, dst).
type Options struct {
	// MaxPickleSize is the largest pickle accepted, in bytes. Zero means
	// DefaultMaxPickleSize (64 MiB); a negative value means no limit but the
	// file's own size. Independently of it, one pickle may build at most
	// about four million objects (see the package documentation).
	MaxPickleSize int64

	// SkipNonTensors makes Convert leave out state dict entries that are not
	// tensors (an epoch number, a nested optimizer state, ...) and list them
	// in [Result.Skipped]. By default they are an error wrapping
	// [ErrUnsupported], as in safetensors' convert.py.
	SkipNonTensors bool

	// DiscardNames are tensor names to drop in preference to others when
	// several names are exact aliases of one tensor (convert.py's
	// discard_names); by default the first name in sorted order is kept.
	DiscardNames []string

	// SkipVerify skips reading the output back. By default Convert reopens
	// the written file and compares every tensor with the checkpoint, bit
	// for bit, before putting it in place.
	SkipVerify bool

	// MaxOutputSize is the most bytes of tensor data a conversion may write
	// (Result.Bytes; for a sharded checkpoint, the whole set), and the
	// largest tensor [Checkpoint.ReadTensor] returns. Views are written in
	// full, so the output can be larger than the checkpoint: a transpose
	// saved beside its base doubles it, and an expanded view repeats its
	// storage as often as its shape says. Zero means the default: four
	// times the size of the checkpoint's files, plus 1 MiB; a negative
	// value means no limit. Conversions over the limit fail with
	// [ErrVerify] before anything is written.
	MaxOutputSize int64

	// Progress, if not nil, is called as Convert writes and verifies tensor
	// data, at least once per tensor and once per MiB, from the goroutine
	// that called Convert.
	Progress func(Progress)
}

// Phase is a stage of a conversion.
type Phase uint8

// The phases of a conversion, in order.
const (
	PhaseWrite  Phase = iota + 1 // writing the output
	PhaseVerify                  // reading it back and comparing
)

// String returns "write" or "verify".
func (p Phase) String() string {
	switch p {
	case PhaseWrite:
		return "write"
	case PhaseVerify:
		return "verify"
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Progress reports how far a conversion is. Done and Total count tensor
// bytes: Total is the output's data size (a sharded set's, over all its
// shards), the same in both phases. A sharded set is written whole, then
// verified whole, so each phase runs once.
type Progress struct {
	Phase       Phase
	File        string // the output file being written or verified
	Tensor      string // the tensor being processed
	Done, Total int64
}

// Result describes a finished conversion. For a sharded checkpoint, the
// counts are totals over its shards, Removed and Skipped gather the
// shards' entries, and Format, ByteOrder and Unwrapped are the first
// shard's (Shards has each shard's own Result).
type Result struct {
	Format    Format // of the checkpoint
	ByteOrder string // of the checkpoint's storages: "little" or "big"
	Unwrapped bool   // the checkpoint's tensors were under a "state_dict" key

	Tensors    int   // tensors written
	Bytes      int64 // tensor bytes written: the output's data size
	InputBytes int64 // bytes of the distinct storages the converted tensors use

	// Removed maps each tensor left out because it is an exact alias of
	// another (the same storage, storage offset, dtype, shape and strides:
	// tied weights, or one tensor saved under two names) to the tensor
	// kept in its place. The output's metadata records the same pairs, as
	// convert.py does, so that loaders such as safetensors' load_model can
	// restore them. Every other tensor is written, views included.
	Removed map[string]string

	// Skipped lists the entries that were not tensors, left out because
	// Options.SkipNonTensors was set.
	Skipped []NonTensor

	Verified bool // the output was read back and matched the checkpoint

	// Files are the safetensors files written: dst for a single
	// checkpoint; for a sharded one, each shard's path in dst, in the
	// bytewise order of the source shards' names.
	Files []string
	// Index is the path of the index written for a sharded checkpoint
	// (dst/model.safetensors.index.json), or "" for a single file.
	Index string
	// Shards holds, for a sharded checkpoint, the Result of each shard,
	// in the order of Files; nil for a single file.
	Shards []*Result
	// DroppedIndexMetadata names the entries of a sharded checkpoint's
	// index metadata that the new index leaves out: the new index holds
	// integers only (transformers writes "total_size", an integer, and
	// "total_parameters"), so any other value is not copied.
	DroppedIndexMetadata []string
	// StaleRemoved lists the files of an earlier checkpoint in dst that a
	// sharded conversion removed once the new set was in place, because a
	// reader would take them for part of it or for the model instead of
	// it: model.safetensors and model-NNNNN-of-NNNNN.safetensors shards
	// that the new set does not have.
	StaleRemoved []string
}

// Convert converts the PyTorch checkpoint at src to a safetensors file at
// dst, or a sharded checkpoint to a sharded set, with the default
// [Options]; see [Options.Convert].
func Convert(ctx context.Context, src, dst string) (*Result, error) {
	return Options{}.Convert(ctx, src, dst)
}

// Convert converts the PyTorch checkpoint at src (a pytorch_model.bin or
// .pt file, zip or legacy format) to a safetensors file at dst, doing what
// safetensors' convert.py does, without Python and without running any of
// the checkpoint's pickle, except that no tensor is ever lost:
//
//   - a top-level "state_dict" entry is unwrapped;
//   - names that are exact aliases of one tensor (the same storage,
//     storage offset, dtype, shape and strides: tied weights) are written
//     once: the first name in sorted order is kept, the others are left
//     out and recorded in the metadata as name -> kept name;
//   - every other tensor is written as its own contiguous tensor, with the
//     values torch gives for t.contiguous(): transposed, offset, strided
//     and expanded views alike, even when they share a storage with other
//     tensors (where convert.py drops a view of a saved tensor, or fails);
//   - every dtype that safetensors has is written ([ErrUnsupportedDType]
//     for the others);
//   - the metadata is {"format": "pt"} plus the aliases;
//   - the output may hold at most Options.MaxOutputSize bytes of tensor
//     data ([ErrVerify]), which is checked before writing;
//   - the output is read back and every tensor compared with the checkpoint,
//     bit for bit, unless Options.SkipVerify is set.
//
// When src is the index of a sharded checkpoint (pytorch_model.bin.index.json,
// recognised by its content: JSON rather than a zip archive or a pickle),
// dst is a folder, and the checkpoint is converted as convert.py's
// convert_multi does, to a sharded safetensors set: see the package
// documentation's "Sharded checkpoints".
//
// Tensors are streamed from the checkpoint to the output: memory use is a
// few MiB plus, for each non-contiguous tensor, the storage span it covers.
// The output is written to a temporary file next to dst (creating dst's
// directory if needed, as convert.py does), synced, verified, then renamed
// over dst, so dst is either the complete verified file or untouched. The
// new file gets the permissions of the file it replaces, or 0666 less the
// umask. ctx cancels the conversion between chunks of data; a canceled or
// failed conversion leaves no temporary file.
func (o Options) Convert(ctx context.Context, src, dst string) (*Result, error) {
	f, size, err := openRegular(src)
	if err != nil {
		return nil, err
	}
	index, err := sniffIndex(f, size)
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "convert", Path: src, Err: err}
	}
	if index != nil {
		f.Close()
		res, err := o.convertIndex(ctx, src, index, dst)
		if err != nil {
			return nil, &fs.PathError{Op: "convert", Path: src, Err: err}
		}
		return res, nil
	}
	c, err := o.NewReader(f, size)
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: src, Err: err}
	}
	c.closer = f
	defer c.Close()
	res, err := o.convertFile(ctx, c, dst)
	if err != nil {
		return nil, &fs.PathError{Op: "convert", Path: src, Err: err}
	}
	return res, nil
}

// plan is what converting one checkpoint writes.
type plan struct {
	res      *Result
	keep     []*entry   // the tensors written, in the checkpoint's order
	tensors  []declared // their header entries, in the same order
	metadata map[string]string
}

// plan checks the checkpoint's tensors and decides what to write: every
// tensor except the exact aliases of another, which are recorded in the
// metadata instead.
func (o Options) plan(c *Checkpoint) (*plan, error) {
	res := &Result{Format: c.format, ByteOrder: c.ByteOrder(), Unwrapped: c.unwrapped, Removed: map[string]string{}}
	if len(c.nonTensors) > 0 {
		if !o.SkipNonTensors {
			nt := c.nonTensors[0]
			return nil, errorf(ErrUnsupported, "entry %q is not a tensor but a Python %s (%d such entries; Options.SkipNonTensors leaves them out)", nt.Name, nt.Type, len(c.nonTensors))
		}
		res.Skipped = slices.Clone(c.nonTensors)
	}
	for _, e := range c.tensors {
		if err := e.readable(); err != nil {
			return nil, err
		}
		if e.name == "__metadata__" {
			return nil, errorf(ErrUnsupported, "a tensor is named __metadata__, which safetensors reserves")
		}
	}
	discard := make(map[string]bool, len(o.DiscardNames))
	for _, n := range o.DiscardNames {
		discard[n] = true
	}
	res.Removed = aliases(c.tensors, discard)
	p := &plan{res: res, metadata: map[string]string{"format": "pt"}}
	for name, kept := range res.Removed {
		if _, ok := p.metadata[name]; !ok {
			p.metadata[name] = kept
		}
	}
	used := map[storageID]bool{}
	for _, e := range c.tensors {
		// Storages are counted as convert.py sees them: a legacy storage
		// view is a storage of its own.
		if id := e.t.storage.id(); !used[id] {
			used[id] = true
			res.InputBytes += id.size
		}
		if _, gone := res.Removed[e.name]; gone {
			continue
		}
		info := e.info()
		p.keep = append(p.keep, e)
		p.tensors = append(p.tensors, declared{name: e.name, dtype: info.DType, shape: info.Shape, size: e.t.nbytes})
		res.Bytes += e.t.nbytes
	}
	res.Tensors = len(p.keep)
	return p, nil
}

// maxOutput is the most tensor bytes a conversion of checkpoint files of
// in bytes may write: Options.MaxOutputSize, or by default four times in
// plus 1 MiB.
func (o Options) maxOutput(in int64) int64 {
	switch {
	case o.MaxOutputSize < 0:
		return math.MaxInt64
	case o.MaxOutputSize > 0:
		return o.MaxOutputSize
	}
	if in > (math.MaxInt64-defaultOutputAllowance)/4 {
		return math.MaxInt64
	}
	return 4*in + defaultOutputAllowance
}

// defaultOutputAllowance is what the default output limit allows beyond
// four times the checkpoint's size.
const defaultOutputAllowance = 1 << 20

func errOutputTooLarge(out, in, limit int64) error {
	return errorf(ErrVerify, "the output would hold %d bytes of tensor data, more than the limit of %d for %d bytes of checkpoint (views and expanded tensors are written in full; Options.MaxOutputSize raises the limit)", out, limit, in)
}

// tracker reports progress over one or more files.
type tracker struct {
	fn    func(Progress)
	total int64
	file  string
	done  [3]int64 // by phase
}

func (t *tracker) add(phase Phase, tensor string, n int64) {
	t.done[phase] += n
	if t.fn != nil {
		t.fn(Progress{Phase: phase, File: t.file, Tensor: tensor, Done: t.done[phase], Total: t.total})
	}
}

// convertFile converts the opened checkpoint to the file dst.
func (o Options) convertFile(ctx context.Context, c *Checkpoint, dst string) (*Result, error) {
	p, err := o.plan(c)
	if err != nil {
		return nil, err
	}
	if limit := o.maxOutput(c.src.size); p.res.Bytes > limit {
		return nil, errOutputTooLarge(p.res.Bytes, c.src.size, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := mkdirFor(dst); err != nil {
		return nil, err
	}
	tr := &tracker{fn: o.Progress, total: p.res.Bytes, file: dst}
	scratch := make([]byte, chunkSize) // one buffer for every tensor, both phases
	tmp, err := writeTemp(ctx, c, p, dst, tr, scratch)
	if err != nil {
		return nil, err
	}
	if !o.SkipVerify {
		if err := verify(ctx, c, tmp, p, tr, scratch); err != nil {
			os.Remove(tmp)
			return nil, err
		}
		p.res.Verified = true
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	syncDir(filepath.Dir(dst))
	p.res.Files = []string{dst}
	return p.res, nil
}

// writeTemp writes the planned safetensors file to a new temporary file
// next to dst (see createTemp), synced and closed, and returns its name. On
// failure, nothing is left behind.
func writeTemp(ctx context.Context, c *Checkpoint, p *plan, dst string, tr *tracker, scratch []byte) (name string, err error) {
	f, err := createTemp(dst)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	err = writeSafetensors(bw, p.tensors, p.metadata, func(i int, w io.Writer) error {
		e := p.keep[i]
		tr.add(PhaseWrite, e.name, 0)
		return c.src.writeTensor(ctx, w, e.t, func(n int64) { tr.add(PhaseWrite, e.name, n) }, scratch)
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// verify reopens the written file with the safetensors reader and compares
// its metadata, names, dtypes, shapes and bytes with the checkpoint's.
func verify(ctx context.Context, c *Checkpoint, path string, p *plan, tr *tracker, scratch []byte) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("%w: reopening the output: %w", ErrVerify, err)
	}
	defer f.Close()
	if got := f.Metadata(); !maps.Equal(got, p.metadata) {
		return errorf(ErrVerify, "output metadata %v, want %v", got, p.metadata)
	}
	if f.Len() != len(p.keep) {
		return errorf(ErrVerify, "output holds %d tensors, want %d", f.Len(), len(p.keep))
	}
	for _, e := range p.keep {
		want := e.info()
		got, err := f.GetTensor(e.name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrVerify, err)
		}
		if got.DType() != want.DType || !slices.Equal(got.Shape(), want.Shape) {
			return errorf(ErrVerify, "tensor %q is %v%v in the output, %v%v in the checkpoint", e.name, got.DType(), got.Shape(), want.DType, want.Shape)
		}
		tr.add(PhaseVerify, e.name, 0)
		cmp := &compareWriter{want: got.Data(), name: e.name}
		if err := c.src.writeTensor(ctx, cmp, e.t, func(n int64) { tr.add(PhaseVerify, e.name, n) }, scratch); err != nil {
			return err
		}
		if cmp.off != len(cmp.want) {
			return errorf(ErrVerify, "tensor %q has %d bytes in the output, %d in the checkpoint", e.name, len(cmp.want), cmp.off)
		}
	}
	return nil
}

// compareWriter checks that what is written equals want.
type compareWriter struct {
	want []byte
	off  int
	name string
}

func (c *compareWriter) Write(p []byte) (int, error) {
	if len(p) > len(c.want)-c.off || !bytes.Equal(p, c.want[c.off:c.off+len(p)]) {
		return 0, errorf(ErrVerify, "tensor %q differs from the checkpoint near byte %d", c.name, c.off)
	}
	c.off += len(p)
	return len(p), nil
}

// aliases finds the tensors that are exact aliases of another one: the same
// storage, storage offset, dtype, shape and strides, so the same elements in
// the same layout (b = a saved under two names, tied weights). In each group
// the first name in sorted order that is not in discard is kept (the first
// of all when every name is), and the others are returned, each mapped to
// the name kept in its place, as convert.py records them.
//
// Nothing else is grouped: a view of a storage that other tensors also use
// (a transpose, a block of rows or columns, a stepped or expanded view, a
// part of a tensor that is itself saved) is a tensor of its own, written in
// full. Tensors of empty storages hold nothing and are never grouped, as in
// convert.py.
func aliases(entries []*entry, discard map[string]bool) map[string]string {
	type key struct {
		storage storageID
		dtype   string
		offset  int64
		layout  string // shape and strides
	}
	groups := map[key][]string{}
	var order []key
	for _, e := range entries {
		t := e.t
		if t.storage.nbytes == 0 {
			continue
		}
		k := key{t.storage.id(), t.dtype.name, t.offset, fmt.Sprint(t.shape, t.stride)}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e.name)
	}
	removed := map[string]string{}
	for _, k := range order {
		names := groups[k]
		if len(names) < 2 {
			continue
		}
		slices.Sort(names)
		keep := names[0]
		for _, n := range names {
			if !discard[n] {
				keep = n
				break
			}
		}
		for _, n := range names {
			if n != keep {
				removed[n] = keep
			}
		}
	}
	return removed
}
