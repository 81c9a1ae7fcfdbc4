package safetensors

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// populateKernel maps b's pages with madvise(MADV_POPULATE_READ), which
// Linux has since 5.14. It reports false, with no error, on an older kernel
// (EINVAL), for populate to touch the pages instead.
func populateKernel(b []byte) (bool, error) {
	for {
		err := unix.Madvise(b, unix.MADV_POPULATE_READ)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.EINVAL):
			return false, nil
		case errors.Is(err, unix.EFAULT):
			return true, fmt.Errorf("%w: madvise(MADV_POPULATE_READ): %w", ErrFault, err)
		}
		return true, fmt.Errorf("madvise(MADV_POPULATE_READ): %w", err)
	}
}
