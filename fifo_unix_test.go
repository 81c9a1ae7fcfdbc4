//go:build unix

package safetensors_test

import (
	"syscall"
	"testing"
)

// mkfifo makes a named pipe or skips the test.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skip("no named pipes here:", err)
	}
}
