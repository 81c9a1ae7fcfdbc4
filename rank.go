package safetensors

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/safetensors-go/safetensors/internal/fetch"
)

// SliceFunc says what to read of a tensor: the index of the part wanted
// (see [Slice.Get]; nil or empty for the whole tensor) and true, or false
// to skip the tensor. [SplitIndex] gives the index of one part of an even
// split.
type SliceFunc func(info TensorInfo) (index []Index, ok bool)

// ReadSlices reads a part of each tensor of the model, as sel chooses,
// into memory it allocates, and returns the parts by name: the load of one
// rank of a tensor-parallel model, each tensor's slice for that rank, in
// one call. The slices of all tensors are planned together, across the
// model's shards: on a File of [NewReader], runs of bytes close enough
// (by the reader's [ReadHints]) are fetched with one read, even runs of
// different tensors, and up to [ReadAllOptions.Concurrency] reads are in
// flight across all files. A column block of a matrix over a network
// costs a few requests for its rows' span rather than one per row.
//
// sel is called once per tensor, from the calling goroutine, before
// anything is read, in the order of the files and of the data in each
// file. An index that does not fit the tensor's shape fails ReadSlices
// before anything is read, with the error of [Slice.Get].
//
// Each tensor's part is packed in row-major order, as [Slice.Get] returns
// it. The parts of one file share one allocation, the sum of their sizes
// as the file's header gives them, made before the bytes arrive, as
// [Model.ReadAll] makes its own: use [Model.ReadSlicesInto] to put them
// in memory of your own.
// Shards are opened first (in parallel, as [Model.ReadAll] does), since
// sel needs their headers. Progress, if set, counts the bytes of the
// parts, not those read between them. ChunkSize is the largest read
// straight into a part from a reader without hints (a local file); a
// reader's hints set its own. Cancellation and errors are as for
// [Model.ReadAll].
func (m *Model) ReadSlices(ctx context.Context, sel SliceFunc, opts *ReadAllOptions) (map[string]Tensor, error) {
	return m.readSlices(ctx, sel, nil, opts)
}

// ReadSlicesInto is [Model.ReadSlices] into memory the caller provides:
// dst is called for each tensor sel keeps, from the calling goroutine,
// after sel and before anything is read, with the name of the tensor's
// file, its header entry and the view of the part to read, whose
// [View.Size] is the bytes needed. It returns memory of at least that
// many bytes, or nil to skip the tensor, or an error, which stops
// ReadSlicesInto before it reads anything. Destinations must not overlap:
// they are written concurrently.
func (m *Model) ReadSlicesInto(ctx context.Context, sel SliceFunc, dst func(file string, info TensorInfo, v View) ([]byte, error), opts *ReadAllOptions) (map[string]Tensor, error) {
	if dst == nil {
		return nil, errors.New("safetensors: ReadSlicesInto with a nil dst")
	}
	return m.readSlices(ctx, sel, dst, opts)
}

// ReadSlices reads a part of each tensor of the file, as
// [Model.ReadSlices] does for a model.
func (f *File) ReadSlices(ctx context.Context, sel SliceFunc, opts *ReadAllOptions) (map[string]Tensor, error) {
	if sel == nil {
		return nil, errors.New("safetensors: ReadSlices with a nil SliceFunc")
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return readSlices(ctx, []*File{f}, []string{""}, sel, nil, opts)
}

func (m *Model) readSlices(ctx context.Context, sel SliceFunc, dst func(string, TensorInfo, View) ([]byte, error), opts *ReadAllOptions) (map[string]Tensor, error) {
	if sel == nil {
		return nil, errors.New("safetensors: ReadSlices with a nil SliceFunc")
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	o := opts.withDefaults()
	files, err := m.openAll(ctx, o.Concurrency)
	if err != nil {
		return nil, err
	}
	return readSlices(ctx, files, m.Files(), sel, dst, opts)
}

// part is one tensor's selection, for readSlices.
type part struct {
	src int
	ti  TensorInfo
	v   View
	dst []byte
}

// readSlices reads the parts sel chooses of the tensors of files (named
// names, for dst), into the memory dst gives, or one allocation per file.
func readSlices(ctx context.Context, files []*File, names []string, sel SliceFunc, dst func(string, TensorInfo, View) ([]byte, error), opts *ReadAllOptions) (map[string]Tensor, error) {
	o := opts.withDefaults()
	var parts []part
	for i, f := range files {
		if f.closed.Load() {
			return nil, ErrClosed
		}
		first := len(parts)
		var size int64
		for _, k := range f.h.order {
			ti := f.h.tensors[k]
			index, ok := sel(ti)
			if !ok {
				continue
			}
			s, err := f.GetSlice(ti.Name)
			if err != nil {
				return nil, fmt.Errorf("%s%w", fileName(names[i]), err)
			}
			v, err := s.View(index...)
			if err != nil {
				return nil, fmt.Errorf("%s%w", fileName(names[i]), err)
			}
			p := part{src: i, ti: ti, v: v}
			if dst != nil {
				d, err := dst(names[i], ti, v)
				if err != nil {
					return nil, fmt.Errorf("safetensors: %stensor %q: %w", fileName(names[i]), ti.Name, err)
				}
				if d == nil {
					continue
				}
				if int64(len(d)) < v.Size() {
					return nil, fmt.Errorf("safetensors: %stensor %q: destination of %d bytes is smaller than the selection's %d bytes", fileName(names[i]), ti.Name, len(d), v.Size())
				}
				p.dst = d[:v.Size():v.Size()]
			}
			size += v.Size()
			parts = append(parts, p)
		}
		if dst == nil {
			slab := make([]byte, size)
			for j := first; j < len(parts); j++ {
				n := parts[j].v.Size()
				parts[j].dst, slab = slab[:n:n], slab[n:]
			}
		}
	}
	out := make(map[string]Tensor, len(parts))
	var total int64
	for _, p := range parts {
		shape := slices.Clone(p.v.shape)
		if shape == nil {
			shape = []int{}
		}
		out[p.ti.Name] = Tensor{dtype: p.ti.DType, shape: shape, data: p.dst}
		total += p.v.Size()
	}
	srcs := make([]fetch.Source, len(files))
	hints := make([]fetch.Hints, len(files))
	batch := localBatch
	for i, f := range files {
		srcs[i] = fileSource{f}
		h := f.hints()
		batch = min(batch, h.batch())
		if h.perWorker > 1 {
			// No hints: a local file, whose long runs are read in chunks
			// of ChunkSize, several at once, as ReadAll reads them.
			h.MaxRead = int64(o.ChunkSize)
		}
		hints[i] = h.Hints
	}
	k := 0
	var cur *viewPieces
	next := func() (fetch.Piece, bool) {
		for {
			if cur != nil {
				if pc, ok := cur.next(); ok {
					return pc, true
				}
				cur = nil
			}
			for k < len(parts) && parts[k].v.p.empty {
				k++
			}
			if k == len(parts) {
				return fetch.Piece{}, false
			}
			p := &parts[k]
			k++
			cur = newViewPieces(p.src, p.ti.DataOffsets[0], p.dst, &p.v.p, hints[p.src])
		}
	}
	fo := fetch.ReadOptions{Concurrency: o.Concurrency, Batch: batch}
	if o.Progress != nil {
		fo.Progress = func(done int64) { o.Progress(done, total) }
	}
	if err := fetch.Read(ctx, srcs, hints, next, fo); err != nil {
		var fe *fetch.Error
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("safetensors: %s%s: %w", fileName(names[fe.Src]), tensorAt(files[fe.Src], fe.Off), fe.Err)
		}
		return nil, err
	}
	return out, nil
}

// SplitIndex returns the index of part number part (from 0) of parts
// even parts of a tensor of the given shape, split along dimension dim (a
// negative dim counts from the last): Full for the dimensions before dim,
// and the part's range of dim. When parts does not divide the dimension,
// the first (size % parts) parts have one more position, as NumPy's
// array_split gives them.
//
// In the tensor parallelism of Megatron-LM, a linear layer's weight of
// shape [out, in] is split along dim 0 in a column-parallel layer (each
// rank computes some outputs: a block of rows of the weight, and the same
// part of the bias), and along dim 1 in a row-parallel layer (each rank
// takes some inputs: a block of columns; the bias is not split).
//
// Errors wrap [ErrInvalidSlice]: parts less than 1, part or dim out of
// range.
func SplitIndex(shape []int, dim, part, parts int) ([]Index, error) {
	rank := len(shape)
	switch {
	case parts < 1:
		return nil, fmt.Errorf("%w: a split in %d parts", ErrInvalidSlice, parts)
	case part < 0 || part >= parts:
		return nil, fmt.Errorf("%w: part %d of %d parts", ErrInvalidSlice, part, parts)
	case dim < -rank || dim >= rank:
		return nil, fmt.Errorf("%w: dimension %d of shape %v", ErrInvalidSlice, dim, shape)
	}
	if dim < 0 {
		dim += rank
	}
	size := shape[dim]
	base, extra := size/parts, size%parts
	start := part*base + min(part, extra)
	stop := start + base
	if part < extra {
		stop++
	}
	index := make([]Index, dim+1)
	index[dim] = Range(start, stop)
	return index, nil
}
