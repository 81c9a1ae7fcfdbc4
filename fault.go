package safetensors

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrFault is returned when copying from a tensor's memory faults: the
// memory is a mapping of a file that was truncated (or otherwise lost its
// pages) after [Open]. Without this guard the fault (SIGBUS) would crash the
// program. It is only possible with files from Open that are changed in
// place while open. Saving a view of such a file, which reads the file
// rather than the mapping, returns it too when the file now ends before
// the view's bytes.
var ErrFault = errors.New("safetensors: memory fault reading mapped data (was the file truncated while open?)")

// guardFault runs fn, turning a memory fault inside it into ErrFault.
// debug.SetPanicOnFault is per goroutine, so the guard covers fn's own
// reads, which is where this package reads mapped memory on a caller's
// behalf: copies and conversions of views.
func guardFault(fn func()) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if fault, ok := r.(interface{ Addr() uintptr }); ok {
				err = fmt.Errorf("%w: at address %#x", ErrFault, fault.Addr())
				return
			}
			panic(r)
		}
	}()
	fn()
	return nil
}

// guarded is guardFault for a function that returns an error.
func guarded(fn func() error) error {
	var err error
	if ferr := guardFault(func() { err = fn() }); ferr != nil {
		return ferr
	}
	return err
}
