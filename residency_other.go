//go:build !linux

package safetensors

// pagesMapped cannot tell here whether a mapping's pages are mapped into
// the process: a selection of a File that was not populated is read with
// pread.
func pagesMapped([]byte) bool { return false }
