// Package fetch reads a list of byte runs from positional sources into
// their destinations, many at a time: the engine under whole-model loading,
// and under anything else that knows which bytes go where (a planner of
// ranges, a loader of one rank's slices).
//
// A caller describes each run (which source, at which offset, into which
// destination slice); [Do] merges runs that are adjacent both in their
// source and in memory, splits the result into chunks of at most
// [Options.ChunkSize] bytes, and reads the chunks, in order, with
// [Options.Concurrency] goroutines. It allocates nothing in proportion to
// the bytes read: every byte goes straight into its destination.
package fetch

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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
	chunks := split(Merge(runs), o.ChunkSize)
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next      atomic.Int64
		completed atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex // guards first and done, and serializes Progress
		first     error
		done      int64
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel(err)
	}
	for range min(o.Concurrency, len(chunks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				k := next.Add(1) - 1
				if k >= int64(len(chunks)) {
					return
				}
				c := chunks[k]
				if err := srcs[c.Src].ReadAt(ctx, c.Dst, c.Off); err != nil {
					if parent.Err() != nil {
						fail(context.Cause(parent))
					} else {
						fail(&Error{Src: c.Src, Off: c.Off, Len: len(c.Dst), Err: err})
					}
					return
				}
				completed.Add(1)
				if o.Progress != nil {
					mu.Lock()
					done += int64(len(c.Dst))
					o.Progress(done)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if completed.Load() < int64(len(chunks)) {
		// Workers stop early only when ctx is canceled.
		return context.Cause(parent)
	}
	return nil
}

// split cuts runs into chunks of at most size bytes.
func split(runs []Run, size int) []Run {
	n := 0
	for _, r := range runs {
		n += (len(r.Dst) + size - 1) / size
	}
	out := make([]Run, 0, n)
	for _, r := range runs {
		for lo := 0; lo < len(r.Dst); lo += size {
			hi := min(lo+size, len(r.Dst))
			out = append(out, Run{Src: r.Src, Off: r.Off + int64(lo), Dst: r.Dst[lo:hi:hi]})
		}
	}
	return out
}
