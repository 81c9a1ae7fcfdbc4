//go:build !linux

package safetensors

import "os"

// copyFileRange has no kernel copy to use here: the bytes go through
// pread and write.
func copyFileRange(dst, src *os.File, off, n int64) (int64, error) {
	return 0, errCopyRangeUnsupported
}
