package pytorch

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
	// tensors share storage (convert.py's discard_names); by default the
	// first name in sorted order that covers the storage is kept.
	DiscardNames []string

	// SkipVerify skips reading the output back. By default Convert reopens
	// the written file and compares every tensor with the checkpoint, bit
	// for bit, before putting it in place.
	SkipVerify bool

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
// bytes: Total is the output's data size, the same in both phases.
type Progress struct {
	Phase       Phase
	Tensor      string // the tensor being processed
	Done, Total int64
}

// Result describes a finished conversion.
type Result struct {
	Format    Format // of the checkpoint
	ByteOrder string // of the checkpoint's storages: "little" or "big"
	Unwrapped bool   // the checkpoint's tensors were under a "state_dict" key

	Tensors    int   // tensors written
	Bytes      int64 // tensor bytes written: the output's data size
	InputBytes int64 // bytes of the distinct storages the converted tensors use

	// Removed maps each tensor left out because it shares storage with
	// another (tied weights) to the tensor kept in its place. The output's
	// metadata records the same pairs, as convert.py does, so that loaders
	// such as safetensors' load_model can restore them.
	Removed map[string]string

	// Skipped lists the entries that were not tensors, left out because
	// Options.SkipNonTensors was set.
	Skipped []NonTensor

	Verified bool // the output was read back and matched the checkpoint
}

// Convert converts the PyTorch checkpoint at src to a safetensors file at
// dst with the default [Options]; see [Options.Convert].
func Convert(ctx context.Context, src, dst string) (*Result, error) {
	return Options{}.Convert(ctx, src, dst)
}

// Convert converts the PyTorch checkpoint at src (a pytorch_model.bin or
// .pt file, zip or legacy format) to a safetensors file at dst, doing what
// safetensors' convert.py does, without Python and without running any of
// the checkpoint's pickle:
//
//   - a top-level "state_dict" entry is unwrapped;
//   - tensors that share storage (tied weights) are written once: the first
//     name, in sorted order, that covers the whole storage is kept, the
//     others are left out and recorded in the metadata as name -> kept name;
//   - strided and offset views are written contiguous, in every dtype that
//     safetensors has ([ErrUnsupportedDType] for the others);
//   - the metadata is {"format": "pt"} plus those tied names;
//   - the output must not be more than 1% larger than the checkpoint's
//     tensor data ([ErrVerify]), which is checked before writing;
//   - the output is read back and every tensor compared with the checkpoint,
//     bit for bit, unless Options.SkipVerify is set.
//
// Tensors are streamed from the checkpoint to the output: memory use is a
// few MiB plus, for each non-contiguous tensor, the storage span it covers.
// The output is written to a temporary file next to dst (creating dst's
// directory if needed, as convert.py does), synced, verified, then renamed
// over dst, so dst is either the complete verified file or untouched. ctx
// cancels the conversion between chunks of data.
func (o Options) Convert(ctx context.Context, src, dst string) (*Result, error) {
	c, err := o.Open(src)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res, err := o.convert(ctx, c, dst)
	if err != nil {
		return nil, &fs.PathError{Op: "convert", Path: src, Err: err}
	}
	return res, nil
}

func (o Options) convert(ctx context.Context, c *Checkpoint, dst string) (*Result, error) {
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
	removed, err := removeDuplicates(c.tensors, discard)
	if err != nil {
		return nil, err
	}
	res.Removed = removed
	metadata := map[string]string{"format": "pt"}
	for name, kept := range removed {
		if _, ok := metadata[name]; !ok {
			metadata[name] = kept
		}
	}

	var keep []*entry
	var tensors []declared
	used := map[storageID]bool{}
	for _, e := range c.tensors {
		// Storages are counted as convert.py sees them: a legacy storage
		// view is a storage of its own.
		if id := e.t.storage.id(); !used[id] {
			used[id] = true
			res.InputBytes += id.size
		}
		if _, gone := removed[e.name]; gone {
			continue
		}
		info := e.info()
		keep = append(keep, e)
		tensors = append(tensors, declared{name: e.name, dtype: info.DType, shape: info.Shape, size: e.t.nbytes})
		res.Bytes += e.t.nbytes
	}
	res.Tensors = len(keep)
	// convert.py's check_file_size, on tensor bytes rather than file sizes
	// (which include the pickle and the header): more than 1% growth means
	// storage was duplicated.
	if in, out := res.InputBytes, res.Bytes; out > in && (out-in)*100 > in {
		return nil, errorf(ErrVerify, "the output's %d tensor bytes would be more than 1%% larger than the checkpoint's %d (views of one storage written separately)", out, in)
	}

	dir, base := filepath.Split(dst)
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { // as convert.py's os.makedirs
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		if tmpName != "" {
			os.Remove(tmpName)
		}
	}()
	report := func(phase Phase, name string, done int64) {
		if o.Progress != nil {
			o.Progress(Progress{Phase: phase, Tensor: name, Done: done, Total: res.Bytes})
		}
	}
	var done int64
	scratch := make([]byte, chunkSize) // one buffer for every tensor, both phases
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = writeSafetensors(bw, tensors, metadata, func(i int, w io.Writer) error {
		e := keep[i]
		report(PhaseWrite, e.name, done)
		return c.src.writeTensor(ctx, w, e.t, func(n int64) {
			done += n
			report(PhaseWrite, e.name, done)
		}, scratch)
	})
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	tmp = nil
	if err != nil {
		return nil, err
	}
	if !o.SkipVerify {
		if err := verify(ctx, c, tmpName, keep, metadata, report, scratch); err != nil {
			return nil, err
		}
		res.Verified = true
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmpName, dst); err != nil {
		return nil, err
	}
	tmpName = ""
	if d, err := os.Open(dir); err == nil { // make the rename durable where the system allows
		d.Sync()
		d.Close()
	}
	return res, nil
}

// verify reopens the written file with the safetensors reader and compares
// its metadata, names, dtypes, shapes and bytes with the checkpoint's.
func verify(ctx context.Context, c *Checkpoint, path string, keep []*entry, metadata map[string]string, report func(Phase, string, int64), scratch []byte) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("%w: reopening the output: %w", ErrVerify, err)
	}
	defer f.Close()
	if got := f.Metadata(); !maps.Equal(got, metadata) {
		return errorf(ErrVerify, "output metadata %v, want %v", got, metadata)
	}
	if f.Len() != len(keep) {
		return errorf(ErrVerify, "output holds %d tensors, want %d", f.Len(), len(keep))
	}
	var done int64
	for _, e := range keep {
		want := e.info()
		got, err := f.GetTensor(e.name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrVerify, err)
		}
		if got.DType() != want.DType || !slices.Equal(got.Shape(), want.Shape) {
			return errorf(ErrVerify, "tensor %q is %v%v in the output, %v%v in the checkpoint", e.name, got.DType(), got.Shape(), want.DType, want.Shape)
		}
		report(PhaseVerify, e.name, done)
		cmp := &compareWriter{want: got.Data(), name: e.name}
		if err := c.src.writeTensor(ctx, cmp, e.t, func(n int64) {
			done += n
			report(PhaseVerify, e.name, done)
		}, scratch); err != nil {
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

// removeDuplicates finds tensors that share storage and chooses which to
// keep, as safetensors' _remove_duplicate_names does, and returns the names
// to leave out, each mapped to the name kept in its place:
//
//  1. Tensors are grouped by storage (empty storages are never grouped).
//  2. Within a group, tensors are sorted by (start, end, name), where end is
//     one past the last byte of their last element, and swept: a tensor
//     starting at or after the previous tensor's end starts a new subgroup
//     (convert.py compares with the previous tensor's end, not the largest
//     so far; this is kept so that outputs match). Only overlapping tensors
//     share a subgroup.
//  3. In each subgroup, the "complete" tensors (offset 0, as large as the
//     storage) are candidates; the first in sorted order is kept, preferring
//     names not in discard. The others are left out. A lone tensor is kept
//     whatever it covers (and written contiguous). Several tensors with no
//     complete one are ErrSharedStorage.
//
// convert.py computes end with tensor.view(-1), which fails on
// non-contiguous tensors; here end covers the view's highest element, which
// is the same for every tensor convert.py accepts.
func removeDuplicates(entries []*entry, discard map[string]bool) (map[string]string, error) {
	groups := map[storageID][]*entry{}
	var ids []storageID
	for _, e := range entries {
		st := e.t.storage
		if st.nbytes == 0 {
			continue
		}
		id := st.id()
		if groups[id] == nil {
			ids = append(ids, id)
		}
		groups[id] = append(groups[id], e)
	}
	removed := map[string]string{}
	for _, id := range ids {
		g := groups[id]
		if len(g) < 2 {
			continue
		}
		slices.SortFunc(g, func(a, b *entry) int {
			if a.t.first != b.t.first {
				return cmp64(a.t.first, b.t.first)
			}
			if a.t.last != b.t.last {
				return cmp64(a.t.last, b.t.last)
			}
			return strings.Compare(a.name, b.name)
		})
		var subs [][]*entry
		var lastStop int64
		for i, e := range g {
			if i == 0 || e.t.first >= lastStop {
				subs = append(subs, []*entry{e})
			} else {
				subs[len(subs)-1] = append(subs[len(subs)-1], e)
			}
			lastStop = e.t.last
		}
		for _, sub := range subs {
			if len(sub) < 2 {
				continue
			}
			var complete, preferred []string
			for _, e := range sub {
				if e.t.complete() {
					complete = append(complete, e.name)
					if !discard[e.name] {
						preferred = append(preferred, e.name)
					}
				}
			}
			if len(complete) == 0 {
				names := make([]string, len(sub))
				for i, e := range sub {
					names[i] = e.name
				}
				slices.Sort(names)
				return nil, errorf(ErrSharedStorage, "%q share a storage and none covers it all", names)
			}
			keep := slices.Min(complete)
			if len(preferred) > 0 {
				keep = slices.Min(preferred)
			}
			for _, e := range sub {
				if e.name != keep {
					removed[e.name] = keep
				}
			}
		}
	}
	return removed, nil
}

func cmp64(a, b int64) int {
	if a < b {
		return -1
	}
	return 1
}
