package safetensors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/safetensors-go/safetensors/internal/fetch"
)

// Defaults of [ReadAllOptions], measured on local files in the page cache
// and over a loopback HTTP server that adds 5 ms to each request
// (BENCHMARKS.md).
const (
	// DefaultReadConcurrency is how many reads [Model.ReadAll] keeps in
	// flight: 16. On local files in the page cache it reads as fast as 2
	// or 4 (the cores are the limit); over a network where each connection
	// is the limit (5 ms and 100 MB/s per request, on loopback), 16 reads
	// in flight were 3 times as fast as 4, and 32 faster still: raise it
	// on hosts with more bandwidth than 16 connections fill.
	DefaultReadConcurrency = 16
	// DefaultReadChunkSize is the largest single read of [Model.ReadAll]:
	// 8 MiB, the range size object stores recommend and the remote
	// package's chunk size. Larger tensors are read in several chunks at
	// once. Over a network, 1 MiB chunks cost a round trip per MiB and
	// were slower at every concurrency; on local files the chunk size
	// made no difference.
	DefaultReadChunkSize = 8 << 20
)

// ReadAllOptions adjusts [Model.ReadAll] and [Model.ReadAllInto]. A nil
// *ReadAllOptions, and every zero field, means the defaults.
type ReadAllOptions struct {
	// Concurrency is how many reads are in flight at most, across all
	// files. Default DefaultReadConcurrency (16).
	Concurrency int
	// ChunkSize is the largest single read, in bytes. Default
	// DefaultReadChunkSize (8 MiB).
	ChunkSize int
	// Progress, if set, is called after each read with the bytes read so
	// far and the bytes to read in all. Calls come from the reading
	// goroutines, one at a time, with done growing; the last has done ==
	// total. It is not called when there is nothing to read. It must
	// return quickly: reads wait for it.
	Progress func(done, total int64)
}

// ReadAll reads every tensor of the model into memory it allocates, with
// up to [ReadAllOptions.Concurrency] reads in flight, and returns them by
// name. It opens the shards not yet open (in parallel too), then reads each
// file's whole data buffer into one allocation, in chunks of at most
// [ReadAllOptions.ChunkSize] bytes, so that a single large tensor is read
// in parallel as well. The tensors of one file share that allocation: it is
// freed once none of them is referenced. The memory used is the tensors'
// bytes and a small bookkeeping overhead, nothing in proportion to the data
// besides the destination.
//
// Every backend reads the same way: files from [Open] with pread (the
// mapping is not touched, and the tensors returned are copies that outlive
// [Model.Close]), files from [NewReader] through their [io.ReaderAt]
// (an HTTP or object-store reader then makes one range request per chunk),
// files from [Load] by copying.
//
// Canceling ctx stops ReadAll: no read starts after it, and ReadAll returns
// an error wrapping context.Cause(ctx) once those in flight end (readers
// that offer ReadAtContext, as the blob package's do, abandon theirs at
// once; others finish the chunk they are reading). A read that fails stops
// the others the same way; its error names the file and the tensor where
// the failed read starts.
func (m *Model) ReadAll(ctx context.Context, opts *ReadAllOptions) (map[string]Tensor, error) {
	return m.readAll(ctx, nil, opts)
}

// ReadAllInto is [Model.ReadAll] into memory the caller provides: dst is
// called once per tensor, from the calling goroutine, before any tensor
// data is read, with the name of the tensor's file (one of [Model.Files])
// and its header entry, in the order of the files and then of the data in
// each file. It returns the memory for that tensor, at least
// info.Size() bytes long, or nil to skip the tensor, or an error, which
// stops ReadAllInto before it reads anything. The tensors returned are over
// that memory (their first info.Size() bytes). Destinations must not
// overlap: they are written concurrently.
//
// Destinations that follow each other in memory, as when dst cuts a
// single buffer in the order it is called, are read together: one read of
// up to ChunkSize bytes can then fill many small tensors. Example, the
// whole model into one buffer (its size is the sum of info.Size(), from
// [Model.All]):
//
//	buf := make([]byte, total)
//	tensors, err := m.ReadAllInto(ctx, func(file string, info safetensors.TensorInfo) ([]byte, error) {
//		b := buf[:info.Size()]
//		buf = buf[len(b):]
//		return b, nil
//	}, nil)
func (m *Model) ReadAllInto(ctx context.Context, dst func(file string, info TensorInfo) ([]byte, error), opts *ReadAllOptions) (map[string]Tensor, error) {
	if dst == nil {
		return nil, errors.New("safetensors: ReadAllInto with a nil dst")
	}
	return m.readAll(ctx, dst, opts)
}

// ReadAll reads every tensor of the file, as [Model.ReadAll] does for a
// model.
func (f *File) ReadAll(ctx context.Context, opts *ReadAllOptions) (map[string]Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	return readFiles(ctx, []*File{f}, []string{""}, nil, opts)
}

func (m *Model) readAll(ctx context.Context, dst func(string, TensorInfo) ([]byte, error), opts *ReadAllOptions) (map[string]Tensor, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	o := opts.withDefaults()
	files, err := m.openAll(ctx, o.Concurrency)
	if err != nil {
		return nil, err
	}
	return readFiles(ctx, files, m.Files(), dst, opts)
}

func (o *ReadAllOptions) withDefaults() ReadAllOptions {
	var c ReadAllOptions
	if o != nil {
		c = *o
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultReadConcurrency
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultReadChunkSize
	}
	return c
}

// openAll opens every shard, with up to n workers, and returns them in the
// order of m.shards. Shards that fail to open are reported together.
func (m *Model) openAll(ctx context.Context, n int) ([]*File, error) {
	files := make([]*File, len(m.shards))
	errs := make([]error, len(m.shards))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, len(m.shards)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(m.shards)) {
					return
				}
				files[i], errs[i] = m.shardFile(int32(i))
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return files, nil
}

// readFiles reads every tensor of files (named names, for dst) into the
// memory dst gives, or into one allocation per file when dst is nil.
func readFiles(ctx context.Context, files []*File, names []string, dst func(string, TensorInfo) ([]byte, error), opts *ReadAllOptions) (map[string]Tensor, error) {
	o := opts.withDefaults()
	n := 0
	for _, f := range files {
		if f.closed.Load() {
			return nil, ErrClosed
		}
		n += f.Len()
	}
	out := make(map[string]Tensor, n)
	srcs := make([]fetch.Source, len(files))
	runs := make([]fetch.Run, 0, n)
	var total int64
	for i, f := range files {
		srcs[i] = fileSource{f}
		var slab []byte
		if dst == nil {
			// One allocation per file, read as one run: every tensor, in
			// file order. The size is that of the data buffer, checked
			// against the file's size when the header was parsed.
			slab = make([]byte, f.size-f.DataOffset())
			runs = append(runs, fetch.Run{Src: i, Dst: slab})
			total += int64(len(slab))
		}
		for _, k := range f.h.order {
			ti := f.h.tensors[k]
			size := ti.Size()
			if dst == nil {
				out[ti.Name] = Tensor{dtype: ti.DType, shape: ti.Shape, data: slab[ti.DataOffsets[0]:ti.DataOffsets[1]:ti.DataOffsets[1]]}
				continue
			}
			d, err := dst(names[i], ti)
			if err != nil {
				return nil, fmt.Errorf("safetensors: tensor %q: %w", ti.Name, err)
			}
			if d == nil {
				continue
			}
			if int64(len(d)) < size {
				return nil, fmt.Errorf("safetensors: tensor %q: destination of %d bytes is smaller than its %d bytes", ti.Name, len(d), size)
			}
			// The run keeps d's capacity, so that it can merge with a
			// destination that follows it; the Tensor does not.
			b := d[:size]
			out[ti.Name] = Tensor{dtype: ti.DType, shape: ti.Shape, data: b[:size:size]}
			runs = append(runs, fetch.Run{Src: i, Off: ti.DataOffsets[0], Dst: b})
			total += size
		}
	}
	fo := fetch.Options{Concurrency: o.Concurrency, ChunkSize: o.ChunkSize}
	if o.Progress != nil {
		fo.Progress = func(done int64) { o.Progress(done, total) }
	}
	if err := fetch.Do(ctx, srcs, runs, fo); err != nil {
		var fe *fetch.Error
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("safetensors: %s%s: %w", fileName(names[fe.Src]), tensorAt(files[fe.Src], fe.Off), fe.Err)
		}
		return nil, err
	}
	return out, nil
}

func fileName(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf("file %q: ", name)
}

// tensorAt names the tensor of f whose data holds offset off.
func tensorAt(f *File, off int64) string {
	order := f.h.order
	k := sort.Search(len(order), func(k int) bool { return f.h.tensors[order[k]].DataOffsets[1] > off })
	if k == len(order) {
		return fmt.Sprintf("data offset %d", off)
	}
	return fmt.Sprintf("tensor %q", f.h.tensors[order[k]].Name)
}

// contextReaderAt is what a reader offers to abandon a read when its
// context is canceled.
type contextReaderAt interface {
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
}

// fileSource reads a File's data buffer for the fetch engine.
type fileSource struct{ f *File }

func (s fileSource) ReadAt(ctx context.Context, p []byte, off int64) error {
	f := s.f
	if cr, ok := f.ra.(contextReaderAt); ok && f.kind == reader {
		if f.closed.Load() {
			return ErrClosed
		}
		at := f.DataOffset() + off
		n, err := cr.ReadAtContext(ctx, p, at)
		if n == len(p) {
			return nil
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading %d bytes at offset %d: %w", len(p), at, err)
	}
	return f.readAt(p, off)
}
