package safetensors

import (
	"errors"
	"os"
	"sync/atomic"
)

// mapFile returns the first size bytes of f mapped read-only into memory,
// and a function that unmaps them. Each platform supplies mmapFile; a file
// of zero bytes is not mapped (mmap refuses a zero length) and gives an empty
// slice.
func mapFile(f *os.File, size int64) ([]byte, func() error, error) {
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if int64(int(size)) != size {
		return nil, nil, errors.New("safetensors: file too large to map on this platform")
	}
	return mmapFile(f, int(size))
}

// populate maps every page of b, a mapping of mapFile, into the process:
// with the kernel's call for it where there is one (populateKernel), else
// by reading one byte of each page. A file truncated since it was mapped
// gives an error wrapping ErrFault.
func populate(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if done, err := populateKernel(b); done || err != nil {
		return err
	}
	return guardFault(func() { touchPages(b) })
}

// touchSink keeps touchPages' reads from being optimized away.
var touchSink atomic.Uint32

// touchPages reads one byte of each page of b.
func touchPages(b []byte) {
	step := os.Getpagesize()
	var s byte
	for i := 0; i < len(b); i += step {
		s += b[i]
	}
	s += b[len(b)-1]
	touchSink.Add(uint32(s))
}
