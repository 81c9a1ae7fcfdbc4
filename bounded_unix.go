//go:build unix

package safetensors

import (
	"os"
	"syscall"
)

// openFlags opens without blocking: opening a named pipe would otherwise
// wait for a writer.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK

// clearNonblock puts a regular file back in blocking mode, which is what
// reads and mappings of it expect.
func clearNonblock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// noFollow refuses a symbolic link as the last element of a path.
const noFollow = syscall.O_NOFOLLOW
