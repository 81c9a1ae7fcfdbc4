// Package fetch reads byte runs from positional sources into their
// destinations, many at a time: the range planner under every read of the
// library that knows which bytes go where (a tensor slice, a rank's slices
// of a model, a whole model, the chunks of one large read).
//
// [Read] is the planner: it takes pieces (a span of a source, and where its
// bytes go), reads those that lie close together with one read, as the
// source's [Hints] say, splits long ones into parts, and reads with a
// bounded number of goroutines. [Do] is the simple case: runs read
// straight into their destinations, adjacent ones merged, cut into chunks
// of at most [Options.ChunkSize] bytes, read in order with
// [Options.Concurrency] goroutines. Neither allocates in proportion to the
// bytes read, beyond one scratch buffer per goroutine for merged reads.
package fetch

import (
	"context"
	"fmt"
	"sync"
)

// Source reads len(p) bytes at off into p: all of them, or an error. It
// must be safe for concurrent use. Sources that can abandon a read when ctx
// is canceled should; others finish the read they are in.
type Source interface {
	ReadAt(ctx context.Context, p []byte, off int64) error
}

// SourceFunc adapts a function to a Source.
type SourceFunc func(ctx context.Context, p []byte, off int64) error

// ReadAt calls f.
func (f SourceFunc) ReadAt(ctx context.Context, p []byte, off int64) error { return f(ctx, p, off) }

// Run is len(Dst) bytes of source Src (an index into the sources given to
// [Do]) at offset Off, to be read into Dst.
type Run struct {
	Src int
	Off int64
	Dst []byte
}

// Options adjusts [Do]. Zero fields take the defaults given.
type Options struct {
	// Concurrency is how many reads are in flight at most. Default 1.
	Concurrency int
	// ChunkSize is the largest read, in bytes. Default 8 MiB.
	ChunkSize int
	// Progress, if set, is called after each chunk with the number of
	// bytes read so far. Calls are serialized and done only grows.
	Progress func(done int64)
}

// Error is a failed read: which source, which byte range, and why.
type Error struct {
	Src int
	Off int64
	Len int
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("reading %d bytes at offset %d: %v", e.Len, e.Off, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Merge returns runs with neighbours joined where the second starts, in the
// same source, where the first ends, and its destination starts in memory
// right after the first's, inside the first's capacity: one read then fills
// both. Empty runs are dropped. The order is kept; runs is not modified.
func Merge(runs []Run) []Run {
	out := make([]Run, 0, len(runs))
	for _, r := range runs {
		if len(r.Dst) == 0 {
			continue
		}
		if k := len(out) - 1; k >= 0 {
			p := &out[k]
			if p.Src == r.Src && p.Off+int64(len(p.Dst)) == r.Off && follows(p.Dst, r.Dst) {
				p.Dst = p.Dst[:len(p.Dst)+len(r.Dst)]
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// follows reports whether b starts right after a in memory and a's capacity
// covers all of b: then a[:len(a)+len(b)] is a followed by b.
func follows(a, b []byte) bool {
	if cap(a)-len(a) < len(b) {
		return false
	}
	return &a[:len(a)+1][len(a)] == &b[0]
}

// Do reads every run into its destination, as the package documentation
// describes. It returns when all reads it started have finished: never
// while a read may still write to a destination. The first error stops
// the reads not yet started and is returned as an [*Error]; when ctx is
// canceled it returns an error wrapping context.Cause(ctx), after the reads
// in flight end. Destinations of runs that were not read are left as they
// were; on error, those of runs that were are unspecified.
func Do(ctx context.Context, srcs []Source, runs []Run, o Options) error {
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 8 << 20
	}
	for _, r := range runs {
		if r.Src < 0 || r.Src >= len(srcs) {
			return fmt.Errorf("fetch: run of source %d, of %d sources", r.Src, len(srcs))
		}
		if r.Off < 0 {
			return fmt.Errorf("fetch: run at negative offset %d", r.Off)
		}
	}
	merged := Merge(runs)
	hints := make([]Hints, len(srcs))
	for i := range hints {
		hints[i] = Hints{Gap: -1, MaxRead: int64(o.ChunkSize)}
	}
	k := 0
	next := func() (Piece, bool) {
		if k == len(merged) {
			return Piece{}, false
		}
		r := merged[k]
		k++
		return Piece{Src: r.Src, Off: r.Off, Len: int64(len(r.Dst)), Dst: r.Dst}, true
	}
	return Read(ctx, srcs, hints, next, ReadOptions{Concurrency: o.Concurrency, Progress: o.Progress})
}

// Chunks fills dst with the bytes at off through read, in chunks of at
// most size bytes, up to n at a time: one large read of a ReaderAt over a
// network, each chunk one request. A read that fits in one chunk is made
// from the calling goroutine. The first error stops the chunks not yet
// started and is returned as read returned it; when ctx is canceled, so is
// the error of the first read that saw it, or else context.Cause(ctx).
func Chunks(ctx context.Context, dst []byte, off int64, size int64, n int, read func(ctx context.Context, p []byte, off int64) error) error {
	if size <= 0 || int64(len(dst)) <= size {
		return read(ctx, dst, off)
	}
	var (
		mu    sync.Mutex
		first error
	)
	src := SourceFunc(func(ctx context.Context, p []byte, off int64) error {
		err := read(ctx, p, off)
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
		return err
	})
	err := Read(ctx, []Source{src}, []Hints{{Gap: -1, MaxRead: size}}, func() func() (Piece, bool) {
		done := false
		return func() (Piece, bool) {
			if done {
				return Piece{}, false
			}
			done = true
			return Piece{Off: off, Len: int64(len(dst)), Dst: dst}, true
		}
	}(), ReadOptions{Concurrency: n})
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		if first != nil {
			return first
		}
	}
	return err
}
