package safetensors

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// copyRangeChunk is the most copy_file_range is asked to copy at once, so
// that a signal or a Close is never kept waiting long.
const copyRangeChunk = 1 << 30

// copyFileRange copies n bytes at offset off of src to dst at dst's current
// position, advancing it, with copy_file_range: the kernel copies between
// the page caches, with no copy through user memory. It returns the bytes
// copied. It stops early, without an error, where src ends. It fails with
// errCopyRangeUnsupported, having copied nothing, when the kernel cannot
// copy between these two files.
func copyFileRange(dst, src *os.File, off, n int64) (int64, error) {
	sc, err := src.SyscallConn()
	if err != nil {
		return 0, errCopyRangeUnsupported
	}
	dc, err := dst.SyscallConn()
	if err != nil {
		return 0, errCopyRangeUnsupported
	}
	var done int64
	var cerr, derr error
	ctl := func(sfd uintptr) {
		derr = dc.Control(func(dfd uintptr) {
			for done < n {
				roff := off + done
				m, err := unix.CopyFileRange(int(sfd), &roff, int(dfd), nil, int(min(n-done, copyRangeChunk)), 0)
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					cerr = err
					return
				}
				if m == 0 {
					return // src ends here
				}
				done += int64(m)
			}
		})
	}
	if err := sc.Control(ctl); err != nil {
		return done, err
	}
	if derr != nil {
		return done, derr
	}
	if cerr != nil {
		if done == 0 && unsupportedCopyRange(cerr) {
			return 0, errCopyRangeUnsupported
		}
		return done, &os.PathError{Op: "copy_file_range", Path: dst.Name(), Err: cerr}
	}
	return done, nil
}

// unsupportedCopyRange reports whether err from copy_file_range means that
// the call cannot work for these files, rather than an I/O failure.
func unsupportedCopyRange(err error) bool {
	for _, e := range []error{unix.ENOSYS, unix.EXDEV, unix.EINVAL, unix.EBADF, unix.EOPNOTSUPP, unix.EPERM, unix.ETXTBSY, unix.EOVERFLOW, unix.EISDIR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
