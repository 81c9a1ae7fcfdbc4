package safetensors

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// ReadStep is how many bytes are allocated for a read before any of them
// have arrived, when the size to read is only a claim: 32 MiB. A header
// (from any backend), and a tensor ([File.GetTensor]) or a selection
// ([View.Get]) of a File of [NewReader] whose size is a claim, larger than
// this, is read in steps, each into a buffer at most twice what has
// arrived so far, so that a claim (a server's, for a remote file) costs no
// more memory than the bytes that really come: a lie fails on the read, not
// on the allocation. 32 MiB is four of the remote package's default 8 MiB
// chunks, so that even the first step keeps its default four requests in
// flight.
const ReadStep = 32 << 20

// readGrowing returns n bytes that read fills: read(p, off) must fill p
// with the bytes at off (from 0 to n). Up to ReadStep bytes are read at
// once; beyond, the buffer doubles with each step, so that at any time it
// is at most twice the bytes read so far (or ReadStep).
func readGrowing(n int64, read func(p []byte, off int64) error) ([]byte, error) {
	buf := make([]byte, min(n, ReadStep))
	if err := read(buf, 0); err != nil {
		return nil, err
	}
	for int64(len(buf)) < n {
		next := make([]byte, min(n, 2*int64(len(buf))))
		copy(next, buf)
		if err := read(next[len(buf):], int64(len(buf))); err != nil {
			return nil, err
		}
		buf = next
	}
	return buf, nil
}

// readHeader reads the n-byte header that follows the prefix. n has been
// checked against the limit and the size, but the size may be a claim and
// the limit may be off: the buffer grows as bytes arrive, and a header
// longer than ReadStep is refused as soon as a step holds a byte that JSON
// allows nowhere (a control character other than tab, newline and carriage
// return), so that a sparse file of zeros claiming a huge header fails at
// its first step rather than after reading, and holding, all of it.
func readHeader(r io.ReaderAt, n int64) ([]byte, error) {
	return readGrowing(n, func(p []byte, off int64) error {
		if err := readFullAt(r, p, prefixSize+off); err != nil {
			return err
		}
		if n <= ReadStep {
			return nil // parseHeader reports it, with the reference's precedence
		}
		for i, c := range p {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return formatErr(ErrInvalidHeader, prefixSize+off+int64(i), "the %d-byte header holds the control character %#02x, which JSON allows nowhere", n, c)
			}
		}
		return nil
	})
}

// ErrNotRegular: a path given to [Open], [OpenModel] or found in a model's
// folder is not a regular file: a named pipe, a device, a socket or a
// folder. Such a file is never read (a pipe could block forever, a device
// return endless bytes).
var ErrNotRegular = errors.New("safetensors: not a regular file")

// openRegular opens path for reading if it is a regular file, and refuses
// anything else before opening it. The open itself does not block (it is
// non-blocking where the system allows), and the file opened is checked
// again, which closes the race with a file replaced in between.
func openRegular(path string, nofollow bool) (*os.File, fs.FileInfo, error) {
	stat, flags := os.Stat, openFlags
	if nofollow {
		stat, flags = os.Lstat, flags|noFollow
	}
	st, err := stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRegular(path, st); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err = f.Stat()
	if err == nil {
		err = checkRegular(path, st)
	}
	if err == nil {
		err = clearNonblock(f)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// checkRegular refuses what is not a regular file, saying what it is.
func checkRegular(path string, st fs.FileInfo) error {
	m := st.Mode()
	if m.IsRegular() {
		return nil
	}
	what := "a special file"
	switch {
	case m.IsDir():
		what = "a folder"
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: it is %s", ErrNotRegular, what)}
}

// getGrowing is [View.Get] for a File of NewReader and a selection larger
// than ReadStep: the selection is read in parts, in the order of the
// result, each part into a buffer at most twice what has arrived so far.
func (v View) getGrowing() (Tensor, error) {
	s, p := v.s, &v.p
	buf := make([]byte, 0, ReadStep)
	err := splitPlan(*p, ReadStep, func(part runPlan) error {
		if need := int64(len(buf)) + part.total; need > int64(cap(buf)) {
			next := make([]byte, len(buf), min(p.total, max(need, 2*int64(cap(buf)))))
			copy(next, buf)
			buf = next
		}
		dst := buf[len(buf) : int64(len(buf))+part.total]
		if err := s.f.readPlan(dst, s.info.DataOffsets[0], &part); err != nil {
			return err
		}
		buf = buf[:int64(len(buf))+part.total]
		return nil
	})
	if err != nil {
		return Tensor{}, tensorReadErr(s.info.Name, err)
	}
	t := Tensor{dtype: s.info.DType, shape: slices.Clone(v.shape), data: buf[:len(buf):len(buf)]}
	if t.shape == nil {
		t.shape = []int{}
	}
	return t, nil
}

// splitPlan calls part with consecutive parts of p, in the order of the
// bytes they give: parts of at most max bytes, made by splitting the
// outermost loop, then the next one, and finally the run itself.
func splitPlan(p runPlan, max int64, part func(runPlan) error) error {
	if p.total <= max || p.empty {
		return part(p)
	}
	if len(p.loops) == 0 {
		for off := int64(0); off < p.run; off += max {
			n := min(max, p.run-off)
			if err := part(runPlan{off: p.off + off, run: n, total: n}); err != nil {
				return err
			}
		}
		return nil
	}
	outer, inner := p.loops[0], p.loops[1:]
	each := p.total / int64(outer.n) // the bytes of one step of the outer loop
	if each > max {
		for i := range outer.n {
			sub := runPlan{off: p.off + int64(i)*outer.stride, run: p.run, loops: inner, total: each}
			if err := splitPlan(sub, max, part); err != nil {
				return err
			}
		}
		return nil
	}
	k := int(max / each) // steps per part, at least 1
	for i := 0; i < outer.n; i += k {
		c := min(k, outer.n-i)
		loops := append([]loop{{n: c, stride: outer.stride}}, inner...)
		sub := runPlan{off: p.off + int64(i)*outer.stride, run: p.run, loops: loops, total: each * int64(c)}
		if err := part(sub); err != nil {
			return err
		}
	}
	return nil
}

// sizeIsReal reports whether r is known to hold size bytes: a regular file
// (an *os.File, or anything else whose Stat says so) at least that long.
// Any other reader's size is a claim.
func sizeIsReal(r io.ReaderAt, size int64) bool {
	s, ok := r.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return false
	}
	fi, err := s.Stat()
	return err == nil && fi.Mode().IsRegular() && fi.Size() >= size
}
