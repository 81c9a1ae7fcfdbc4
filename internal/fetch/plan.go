package fetch

import (
	"context"
	"fmt"
	"sync"
)

// Hints say how to read one source: which runs to read together, and how
// large a read may be. The cost of a read belongs to the source: a local
// file pays a system call per read, so it merges runs only when the bytes
// between them are few; a network source pays a round trip per request, in
// which it could have sent many bytes, so it merges generously.
type Hints struct {
	// Gap: pieces at most Gap bytes apart in the source are read with one
	// read, the bytes between them discarded. Negative: pieces are never
	// read together.
	Gap int64
	// MaxMerge is the largest read that serves more than one piece, or a
	// piece with a Picker: it bounds the scratch buffer of each read in
	// flight. A piece without a Picker longer than MaxMerge is read
	// straight into its destination.
	MaxMerge int64
	// MaxRead is the largest read straight into a destination; longer
	// pieces are read in parts of at most MaxRead bytes, concurrently.
	// Zero or negative: no limit.
	MaxRead int64
}

// Piece is Len bytes of source Src at offset Off (a span), and where they
// go: with a nil Pick, into Dst, which is Len bytes long; otherwise
// Pick.Pick(Dst, span, Arg) picks the bytes Dst needs out of the span.
type Piece struct {
	Src  int
	Off  int64
	Len  int64
	Dst  []byte
	Pick Picker
	Arg  int64
}

// Picker copies what dst needs out of span, the bytes of a [Piece]'s span:
// a strided gather, for the blocks of a tensor slice.
type Picker interface {
	Pick(dst, span []byte, arg int64)
}

// ReadOptions adjusts [Read].
type ReadOptions struct {
	// Concurrency is how many reads are in flight at most. Default 1.
	Concurrency int
	// Batch is how many reads a goroutine takes at once, to read one
	// after the other: more than 1 saves taking a lock per read where
	// reads are short (system calls of a few KiB). Default 1.
	Batch int
	// Progress, if set, is called after each read (each batch of reads)
	// with the number of destination bytes filled so far. Calls are
	// serialized and done only grows.
	Progress func(done int64)
}

// Read fills the destination of every piece that next yields, until it
// yields false: the range planner. next is called from one goroutine at a
// time, and the pieces it yields are read in that order, grouped: a piece
// joins the group before it when both are of the same source, the gap
// between them is at most that source's Hints.Gap, and the group's span
// stays within Hints.MaxMerge; each group is one read, into a scratch
// buffer of the reading goroutine (kept in a pool between calls), from
// which every piece takes its bytes. A group of one piece without a Picker
// is read straight into its destination, in parts of at most
// Hints.MaxRead. Up to o.Concurrency groups are read at once, the calling
// goroutine reading too; each goroutine takes o.Batch groups at a time.
//
// next should yield pieces in the order of their offsets (ascending or
// descending) for merging to find them; any order is read correctly.
// Nothing is allocated in proportion to the number of pieces, beyond the
// pieces of one batch of groups per goroutine.
//
// Errors are those of [Do]: the first failed read, as an [*Error] whose
// Off and Len are those of the read, or an error wrapping
// context.Cause(ctx) once ctx is canceled. Read returns only when no read
// it started may still write to a destination.
func Read(ctx context.Context, srcs []Source, hints []Hints, next func() (Piece, bool), o ReadOptions) error {
	if len(hints) != len(srcs) {
		return fmt.Errorf("fetch: %d hints for %d sources", len(hints), len(srcs))
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	parent := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g := grouper{srcs: srcs, hints: hints, next: next}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex // guards g, first and done, and serializes Progress
		first     error
		done      int64
		completed int64 // groups read, guarded by mu
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel(err)
	}
	batch := max(o.Batch, 1)
	worker := func() {
		var (
			buf  []Piece // the groups taken, one after the other
			ends []int   // where each group ends in buf
			// What the last batch read, accounted for with the next
			// batch under the same lock.
			groups int64
			filled int64
		)
		scratch := getScratch()
		defer putScratch(scratch)
		for ctx.Err() == nil {
			buf, ends = buf[:0], ends[:0]
			var err error
			mu.Lock()
			if groups > 0 {
				completed += groups
				done += filled
				if o.Progress != nil {
					o.Progress(done)
				}
				groups, filled = 0, 0
			}
			for len(ends) < batch {
				n := len(buf)
				if buf, err = g.group(buf); err != nil || len(buf) == n {
					break
				}
				ends = append(ends, len(buf))
			}
			mu.Unlock()
			if err != nil {
				fail(err)
				return
			}
			if len(ends) == 0 {
				return
			}
			start := 0
			for _, end := range ends {
				src, off, n, f, err := readGroup(ctx, srcs, buf[start:end], scratch)
				if err != nil {
					if parent.Err() != nil {
						fail(context.Cause(parent))
					} else {
						fail(&Error{Src: src, Off: off, Len: n, Err: err})
					}
					return
				}
				groups++
				filled += f
				start = end
			}
		}
		if groups > 0 {
			mu.Lock()
			completed += groups
			done += filled
			if o.Progress != nil {
				o.Progress(done)
			}
			mu.Unlock()
		}
	}
	// The calling goroutine is one of the workers: a read that needs only
	// one starts no goroutine.
	for range o.Concurrency - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker()
		}()
	}
	worker()
	wg.Wait()
	if first != nil {
		return first
	}
	if !g.drained || g.held || g.rest.Len > 0 || g.handed != completed {
		// Workers stop early only when ctx is canceled.
		return context.Cause(parent)
	}
	return nil
}

// readGroup reads one group and hands each piece its bytes. It returns
// the read's source, offset and length, and the destination bytes filled.
func readGroup(ctx context.Context, srcs []Source, group []Piece, scratch *[]byte) (src int, off int64, n int, filled int64, err error) {
	p := group[0]
	if len(group) == 1 && p.Pick == nil {
		return p.Src, p.Off, len(p.Dst), int64(len(p.Dst)), srcs[p.Src].ReadAt(ctx, p.Dst, p.Off)
	}
	lo, hi := p.Off, p.Off+p.Len
	for _, q := range group[1:] {
		lo, hi = min(lo, q.Off), max(hi, q.Off+q.Len)
	}
	if int64(cap(*scratch)) < hi-lo {
		*scratch = make([]byte, hi-lo)
	}
	span := (*scratch)[:hi-lo]
	if err := srcs[p.Src].ReadAt(ctx, span, lo); err != nil {
		return p.Src, lo, len(span), 0, err
	}
	for _, q := range group {
		b := span[q.Off-lo : q.Off-lo+q.Len]
		if q.Pick == nil {
			copy(q.Dst, b)
		} else {
			q.Pick.Pick(q.Dst, b, q.Arg)
		}
		filled += int64(len(q.Dst))
	}
	return p.Src, lo, len(span), filled, nil
}

// scratches keeps the scratch buffers of merged reads between calls of
// Read: a fresh buffer of a few MiB costs its page faults every time.
var scratches = sync.Pool{New: func() any { return new([]byte) }}

func getScratch() *[]byte { return scratches.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) > 0 {
		scratches.Put(b)
	}
}

// grouper cuts the pieces of next into groups, each one read.
type grouper struct {
	srcs    []Source
	hints   []Hints
	next    func() (Piece, bool)
	pending Piece // the piece that did not fit the last group
	held    bool  // pending holds a piece
	rest    Piece // what is left of a long piece read in parts
	drained bool  // next yielded false
	handed  int64 // groups handed out
}

// take returns the next piece, checked.
func (g *grouper) take() (Piece, bool, error) {
	if g.held {
		g.held = false
		return g.pending, true, nil
	}
	if g.drained {
		return Piece{}, false, nil
	}
	p, ok := g.next()
	if !ok {
		g.drained = true
		return Piece{}, false, nil
	}
	switch {
	case p.Src < 0 || p.Src >= len(g.srcs):
		return Piece{}, false, fmt.Errorf("fetch: piece of source %d, of %d sources", p.Src, len(g.srcs))
	case p.Off < 0 || p.Len < 0:
		return Piece{}, false, fmt.Errorf("fetch: piece of %d bytes at offset %d", p.Len, p.Off)
	case p.Pick == nil && int64(len(p.Dst)) != p.Len:
		return Piece{}, false, fmt.Errorf("fetch: piece of %d bytes into %d", p.Len, len(p.Dst))
	}
	return p, true, nil
}

// group appends the next group to buf; it returns buf empty when there is
// nothing left to read.
func (g *grouper) group(buf []Piece) ([]Piece, error) {
	if g.rest.Len > 0 {
		g.handed++
		return append(buf, g.cut()), nil
	}
	var p Piece
	for {
		var ok bool
		var err error
		p, ok, err = g.take()
		if err != nil {
			return buf, err
		}
		if !ok {
			return buf, nil
		}
		if p.Len > 0 {
			break
		}
	}
	g.handed++
	h := g.hints[p.Src]
	if p.Pick == nil && p.Len > h.MaxMerge {
		g.rest = p
		return append(buf, g.cut()), nil
	}
	buf = append(buf, p)
	lo, hi := p.Off, p.Off+p.Len
	for {
		q, ok, err := g.take()
		if err != nil {
			return buf, err
		}
		if !ok {
			return buf, nil
		}
		if q.Len == 0 {
			continue
		}
		end := q.Off + q.Len
		var gap int64
		switch {
		case q.Off >= hi:
			gap = q.Off - hi
		case end <= lo:
			gap = lo - end
		}
		if q.Src != p.Src || gap > h.Gap || (q.Pick == nil && q.Len > h.MaxMerge) || max(hi, end)-min(lo, q.Off) > h.MaxMerge {
			g.pending, g.held = q, true
			return buf, nil
		}
		buf = append(buf, q)
		lo, hi = min(lo, q.Off), max(hi, end)
	}
}

// cut returns the first part of g.rest, at most MaxRead bytes, and keeps
// the remainder.
func (g *grouper) cut() Piece {
	p := g.rest
	m := g.hints[p.Src].MaxRead
	if m <= 0 || p.Len <= m {
		g.rest = Piece{}
		return p
	}
	first := p
	first.Len, first.Dst = m, p.Dst[:m:m]
	g.rest.Off, g.rest.Len, g.rest.Dst = p.Off+m, p.Len-m, p.Dst[m:]
	return first
}
