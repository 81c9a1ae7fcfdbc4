package safetensors

import (
	"context"
	"errors"

	"github.com/safetensors-go/safetensors/internal/fetch"
)

// ReadHints say how reads of a source should be planned: which runs of
// wanted bytes to fetch together, how large one read may be, and how many
// may be in flight. An [io.ReaderAt] given to [NewReader] that has a method
//
//	ReadHints() ReadHints
//
// is read as it says; the remote and blob packages' readers have one,
// from their options. Any other reader is read as a local file: runs at
// most 4 KiB apart are read together, up to 1 MiB at a time, and other
// runs each with its own read, from up to 4 goroutines once a selection
// takes 64 reads or more.
//
// The cost of a read is the source's: a local file pays a system call,
// so reading a few KiB it does not need costs more than another call; a
// network source pays a round trip per request, in which it could have
// sent a whole MiB, so it merges runs far apart and reads the bytes
// between them (a column block of a matrix then costs a few requests for
// its rows' span, instead of a request per row).
type ReadHints struct {
	// MergeGap: runs at most this many bytes apart are fetched with one
	// read, and the bytes between them dropped. Negative: never.
	MergeGap int64
	// MaxRead is the largest read, in bytes: merged reads stop growing
	// there, and longer runs are read in parts of at most MaxRead, at
	// once. A selection whose span would fit in fewer reads than
	// Concurrency is cut into smaller merged reads, one for each read in
	// flight, down to 1 MiB: where each connection has a bandwidth of its
	// own, four requests of 4 MiB arrive sooner than two of 8. MaxRead
	// also bounds the scratch memory each read in flight needs to pick
	// runs out of a merged read. Zero or negative: 1 MiB.
	MaxRead int64
	// Concurrency is how many reads one [View.Get] may have in flight.
	// Zero or negative: 4.
	Concurrency int
}

// readHinter is a reader that says how to plan its reads.
type readHinter interface {
	ReadHints() ReadHints
}

// planHints are the planner's settings for one File.
type planHints struct {
	fetch.Hints
	concurrency int
	perWorker   int // reads each goroutine should have, at least
}

// localBatch is how many reads of a local file a goroutine takes at once:
// reads of a few KiB cost about as much as taking a lock.
const localBatch = 16

// batch returns how many reads each goroutine takes at once.
func (h planHints) batch() int {
	if h.perWorker > 1 {
		return localBatch
	}
	return 1
}

// hints returns how to plan reads of f's data.
func (f *File) hints() planHints {
	if h, ok := f.ra.(readHinter); ok && f.kind == reader {
		rh := h.ReadHints()
		if rh.MaxRead <= 0 {
			rh.MaxRead = maxReadBlock
		}
		if rh.Concurrency <= 0 {
			rh.Concurrency = maxParallelReads
		}
		return planHints{Hints: fetch.Hints{Gap: rh.MergeGap, MaxMerge: rh.MaxRead, MaxRead: rh.MaxRead}, concurrency: rh.Concurrency, perWorker: 1}
	}
	return planHints{Hints: fetch.Hints{Gap: readGap, MaxMerge: maxReadBlock}, concurrency: maxParallelReads, perWorker: minReadsPerWorker}
}

// minMergedRead is the smallest that readView cuts the merged reads of a
// source with hints to, to spread a selection over the reads in flight:
// 1 MiB, which a connection of 100 MB/s sends in 10 ms, less than a round
// trip over most networks.
const minMergedRead = 1 << 20

// span returns the bytes from the lowest the plan reads to the highest.
func (p *runPlan) extent() int64 {
	s := p.run
	for _, l := range p.loops {
		s += int64(l.n-1) * abs64(l.stride)
	}
	return s
}

// readView fills dst with the plan's runs, read through the range planner
// from the tensor whose data starts at base (relative to the data buffer):
// the reading path of [View.ReadInto] for a File of [NewReader].
func (f *File) readView(dst []byte, base int64, p *runPlan) error {
	if f.closed.Load() {
		return ErrClosed
	}
	if p.empty {
		return nil
	}
	h := f.hints()
	if h.perWorker == 1 {
		// A source with hints, whose reads cost a round trip: merged reads
		// are cut so that every one of the reads in flight has one, as
		// connections that each have a bandwidth of their own want, but
		// none under minMergedRead (or MaxRead), where a round trip costs
		// more than the bytes.
		share := (p.extent() + int64(h.concurrency) - 1) / int64(h.concurrency)
		h.MaxMerge = min(h.MaxMerge, max(share, minMergedRead))
	}
	pieces := newViewPieces(0, base, dst, p, h.Hints)
	workers := max(1, min(h.concurrency, pieces.reads()/h.perWorker))
	err := fetch.Read(context.Background(), []fetch.Source{fileSource{f}}, []fetch.Hints{h.Hints}, pieces.next, fetch.ReadOptions{Concurrency: workers, Batch: h.batch()})
	var fe *fetch.Error
	if errors.As(err, &fe) {
		return fe.Err
	}
	return err
}

// viewPieces yields the pieces of one tensor's selection for the range
// planner, in the order of the selection's bytes. A block is the innermost
// loops whose gaps are at most the source's gap, as many as fit in its
// largest merged read, and, when the next loop out does not fit whole, as
// many of its steps as fit: each block is one piece, picked out of its span
// by a strided gather. The outer loops iterate over the blocks.
type viewPieces struct {
	src   int
	base  int64 // the tensor's data, relative to the source's offsets
	dst   []byte
	outer []loop // the loops over blocks, outermost first; the last may be part
	// A block: the whole inner loops, then k steps of part (the
	// innermost outer loop) if k > 1. full and last are a block of k
	// steps and of the steps left at the end of part.
	k          int
	full, last block
	count      int   // blocks in all
	idx        []int // the next block's position in the outer loops
	off        int64 // the next block's first run, from the tensor's data
	pos        int64 // the next block's place in dst
	done       int
	maxRead    int64
}

// block is the geometry of one block: the span it covers, where its lowest
// byte is, the bytes it gives, and how to pick them.
type block struct {
	span, lowShift, bytes int64
	pick                  *blockPick // nil when the block is one run
}

// blockPick gathers a block's runs out of its span.
type blockPick struct {
	loops []loop
	run   int64
}

func (b *blockPick) Pick(dst, span []byte, arg int64) { gather(dst, span, arg, b.loops, b.run) }

// newBlock returns the block of loops (innermost last) over runs of run
// bytes.
func newBlock(loops []loop, run int64) block {
	b := block{span: run, bytes: run}
	for _, l := range loops {
		b.span += int64(l.n-1) * abs64(l.stride)
		b.bytes *= int64(l.n)
		if l.stride < 0 {
			b.lowShift += int64(l.n-1) * l.stride
		}
	}
	if len(loops) > 0 {
		b.pick = &blockPick{loops: loops, run: run}
	}
	return b
}

func newViewPieces(src int, base int64, dst []byte, p *runPlan, h fetch.Hints) *viewPieces {
	v := &viewPieces{src: src, base: base, dst: dst, off: p.off, maxRead: h.MaxRead, k: 1}
	loops := p.loops
	span := p.run
	m := 0
	for j := len(loops) - 1; j >= 0; j-- {
		st := abs64(loops[j].stride)
		if st-span > h.Gap {
			break
		}
		if next := span + int64(loops[j].n-1)*st; next <= h.MaxMerge {
			span = next
			m++
			continue
		}
		// Only some steps of this loop fit: the block takes as many.
		if span <= h.MaxMerge && st > 0 {
			v.k = int(min(int64(loops[j].n), 1+(h.MaxMerge-span)/st))
		}
		break
	}
	inner := loops[len(loops)-m:]
	v.outer = loops[:len(loops)-m]
	v.full = newBlock(inner, p.run)
	if v.k > 1 {
		part := v.outer[len(v.outer)-1]
		v.full = newBlock(append([]loop{{n: v.k, stride: part.stride}}, inner...), p.run)
		switch r := part.n % v.k; r {
		case 0:
			v.last = v.full
		case 1:
			v.last = newBlock(inner, p.run)
		default:
			v.last = newBlock(append([]loop{{n: r, stride: part.stride}}, inner...), p.run)
		}
	}
	v.count = 1
	for i, l := range v.outer {
		n := l.n
		if i == len(v.outer)-1 && v.k > 1 {
			n = (n + v.k - 1) / v.k
		}
		v.count *= n // at most the number of runs, which fits in an int
	}
	v.idx = make([]int, len(v.outer))
	return v
}

// reads returns how many reads the pieces take at most: one per block, or
// per part of a block read in parts.
func (v *viewPieces) reads() int {
	if m := v.maxRead; v.full.pick == nil && m > 0 && v.full.span > m && v.count < 1<<20 {
		return v.count * int(min((v.full.span+m-1)/m, 1<<10))
	}
	return v.count
}

// next yields the next block's piece.
func (v *viewPieces) next() (fetch.Piece, bool) {
	if v.done == v.count {
		return fetch.Piece{}, false
	}
	b := v.full
	step := 1 // the steps of the innermost outer loop this block takes
	if v.k > 1 {
		k := len(v.outer) - 1
		step = min(v.k, v.outer[k].n-v.idx[k])
		if step < v.k {
			b = v.last
		}
	}
	pc := fetch.Piece{Src: v.src, Off: v.base + v.off + b.lowShift, Len: b.span, Dst: v.dst[v.pos : v.pos+b.bytes : v.pos+b.bytes]}
	if b.pick != nil {
		pc.Pick, pc.Arg = b.pick, -b.lowShift
	}
	v.done++
	v.pos += b.bytes
	outer := v.outer
	for k := len(outer) - 1; k >= 0; k-- {
		n := 1
		if k == len(outer)-1 {
			n = step
		}
		v.idx[k] += n
		v.off += int64(n) * outer[k].stride
		if v.idx[k] < outer[k].n {
			break
		}
		v.off -= int64(outer[k].n) * outer[k].stride
		v.idx[k] = 0
	}
	return pc, true
}
