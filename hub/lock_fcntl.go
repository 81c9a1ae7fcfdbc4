//go:build aix || solaris

package hub

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLock takes an exclusive fcntl lock on f without waiting, and reports
// whether it got it. fcntl locks belong to the process, so the goroutines
// of this one are excluded by path as well.
func tryLock(f *os.File) (bool, error) {
	if !holdInProcess(f.Name()) {
		return false, nil
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		releaseInProcess(f.Name())
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return false, nil
		}
		return false, &os.PathError{Op: "fcntl", Path: f.Name(), Err: err}
	}
}

func unlockFile(f *os.File) {
	lk := unix.Flock_t{Type: unix.F_UNLCK}
	unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	releaseInProcess(f.Name())
}
