package safetensors

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Copying the bytes of views of a mapped File.
//
// A Tensor from [File.GetTensor] of a File of [Open] is a view of the
// mapping, and remembers the file and offset its bytes come from. Writing it
// through the mapping would fault in every page (on machines where page
// faults are slow, several times the cost of the copy itself, and the
// process's resident size grows by the whole model); instead the writers
// read the bytes from the file: with copy_file_range when the destination
// is a file (Linux; the kernel copies between the page caches), and with
// pread into the Writer's buffer otherwise. The mapping is never touched.

// putTensor is put for the bytes of t, read from t's source file when it
// has one.
func (tw *Writer) putTensor(t Tensor) (int, error) {
	if t.src == nil || len(t.data) == 0 {
		return tw.putGuarded(t.data)
	}
	n, err := tw.putSource(t.src, t.srcOff, int64(len(t.data)))
	return int(n), err
}

// putSource writes the n bytes at offset off of the file of f (a File of
// Open) as put would write them, and returns how many were written or
// buffered. Close waits for it.
func (tw *Writer) putSource(f *File, off, n int64) (int64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.mem == nil {
		return 0, ErrClosed
	}
	if tw.buf == nil {
		tw.buf = make([]byte, 0, tw.bufCap)
	}
	if n < directWrite && n > int64(cap(tw.buf)-len(tw.buf)) {
		if err := tw.flush(); err != nil {
			return 0, err
		}
	}
	if n <= int64(cap(tw.buf)-len(tw.buf)) {
		// Small: gathered into the buffer, as put gathers small writes.
		space := tw.buf[len(tw.buf) : len(tw.buf)+int(n)]
		if err := readFullAt(f.osf, space, off); err != nil {
			return 0, sourceErr(f, err)
		}
		tw.buf = tw.buf[:len(tw.buf)+int(n)]
		return n, nil
	}
	if err := tw.flush(); err != nil {
		return 0, err
	}
	var done int64
	if dst, ok := tw.w.(*os.File); ok && !tw.noCopyRange {
		m, err := copyFileRange(dst, f.osf, off, n)
		done += m
		switch {
		case err == nil && m == n:
			return n, nil
		case err == nil:
			// The source ended early: the file shrank since Open. The
			// reads below report it.
		case errors.Is(err, errCopyRangeUnsupported):
			tw.noCopyRange = true // not between these files: pread from now on
		default:
			return done, err
		}
	}
	buf := tw.buf[:cap(tw.buf)]
	for done < n {
		chunk := buf[:min(n-done, int64(len(buf)))]
		if err := readFullAt(f.osf, chunk, off+done); err != nil {
			return done, sourceErr(f, err)
		}
		m, err := tw.out(chunk)
		done += int64(m)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// sourceErr is the error of reading a view's bytes from its file: a file
// that ends before them was truncated since Open, which through the mapping
// would have been a fault.
func sourceErr(f *File, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s ends before the tensor's bytes: %w", ErrFault, f.osf.Name(), err)
	}
	return err
}

// errCopyRangeUnsupported: copy_file_range cannot copy between the two
// files (another system, file systems that refuse it, a destination opened
// for appending, a pipe); nothing was copied, and pread and write will do.
var errCopyRangeUnsupported = errors.New("safetensors: copy_file_range not supported for these files")
