package safetensors

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestSyncDirMissing: syncing a directory that cannot be opened is an
// error (except on Windows, which has no directory sync to do).
func TestSyncDirMissing(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no directory sync")
	}
	err := syncDir(filepath.Join(t.TempDir(), "gone"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if err := syncDir(t.TempDir()); err != nil {
		t.Fatalf("an ordinary directory: %v", err)
	}
}

// TestSyncDirRefused syncs a directory on a file system that refuses to
// sync directories with EINVAL, as Linux's /proc does: that is no error,
// since there is nothing such a file system could make durable.
func TestSyncDirRefused(t *testing.T) {
	const dir = "/proc"
	d, err := os.Open(dir)
	if err != nil {
		t.Skipf("no %s: %v", dir, err)
	}
	serr := d.Sync()
	d.Close()
	if !errors.Is(serr, syscall.EINVAL) {
		t.Skipf("syncing %s gives %v here, not EINVAL", dir, serr)
	}
	if err := syncDir(dir); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
}
