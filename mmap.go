package safetensors

import (
	"errors"
	"os"
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
