package safetensors

import (
	"errors"
	"io"
)

// readMapped is [View.ReadInto] for a File of [Open]: it copies the
// selection out of the mapping when the pages it spans are already mapped
// into the process (touched before, or populated by [Options.Populate]),
// which costs what copy() between two buffers costs; otherwise it reads the
// selection from the file with pread (readPlan, which groups short runs that
// lie close together into one read), which is several times cheaper than
// faulting in the pages, and keeps the process from mapping the pages it
// reads. dst holds exactly the selection's bytes.
func (v View) readMapped(dst []byte) error {
	s, p := v.s, &v.p
	f := s.f
	if p.empty {
		return f.readPlan(dst, s.info.DataOffsets[0], p)
	}
	f.mu.RLock()
	mem := f.mem
	if mem == nil {
		f.mu.RUnlock()
		return ErrClosed
	}
	start := f.DataOffset() + s.info.DataOffsets[0]
	src := mem[start : start+s.info.Size()]
	if lo, hi := p.span(); f.populated || pagesMapped(src[lo:hi]) {
		defer f.mu.RUnlock()
		return guardFault(func() { gather(dst, src, p.off, p.loops, p.run) })
	}
	f.mu.RUnlock()
	if err := f.readPlan(dst, s.info.DataOffsets[0], p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The file ends before the tensor: it was truncated since
			// Open, which through the mapping would have been a fault.
			return errors.Join(ErrFault, err)
		}
		return err
	}
	return nil
}

// span returns the range [lo, hi) of the tensor's bytes that the plan's
// runs lie in.
func (p *runPlan) span() (lo, hi int64) {
	lo, hi = p.off, p.off+p.run
	for _, l := range p.loops {
		if d := int64(l.n-1) * l.stride; d < 0 {
			lo += d
		} else {
			hi += d
		}
	}
	return lo, hi
}
