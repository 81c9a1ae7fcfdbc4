//go:build !unix && !windows

package safetensors

import (
	"io"
	"os"
)

// mmapFile reads the whole file where there is no memory mapping (js/wasm,
// wasip1, plan9): views are then of this copy.
func mmapFile(f *os.File, size int) ([]byte, func() error, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, int64(size)), b); err != nil {
		return nil, nil, err
	}
	return b, func() error { return nil }, nil
}
