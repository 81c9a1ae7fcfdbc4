//go:build unix

package pytorch

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOutputMode: a converted file gets 0666 less the umask, as os.Create
// gives, or the mode of the file it replaces; never a fixed 0644 that
// would make a private file world-readable.
func TestOutputMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	ctx := context.Background()
	mode := func(path string) fs.FileMode {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Mode().Perm()
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "sub", "new.safetensors")
	if _, err := Convert(ctx, "testdata/state_dict.pt", dst); err != nil {
		t.Fatal(err)
	}
	if m := mode(dst); m != 0o600 {
		t.Errorf("new file under umask 077: %v", m)
	}
	if m := mode(filepath.Dir(dst)); m != 0o700 {
		t.Errorf("new folder under umask 077: %v", m)
	}
	// Over an existing file, its mode, whatever the umask says.
	for _, want := range []fs.FileMode{0o600, 0o640, 0o644, 0o604} {
		if err := os.Chmod(dst, want); err != nil {
			t.Fatal(err)
		}
		if _, err := Convert(ctx, "testdata/state_dict.pt", dst); err != nil {
			t.Fatal(err)
		}
		if m := mode(dst); m != want {
			t.Errorf("over a %v file under umask 077: %v", want, m)
		}
	}
	// A sharded set: every file new, so 0600.
	out := filepath.Join(dir, "set")
	res, err := Convert(ctx, "testdata/sharded/pytorch_model.bin.index.json", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(res.Files, res.Index) {
		if m := mode(p); m != 0o600 {
			t.Errorf("%s under umask 077: %v", p, m)
		}
	}

	syscall.Umask(0o022)
	dst2 := filepath.Join(dir, "second.safetensors")
	if _, err := Convert(ctx, "testdata/state_dict.pt", dst2); err != nil {
		t.Fatal(err)
	}
	if m := mode(dst2); m != 0o644 {
		t.Errorf("new file under umask 022: %v", m)
	}
	os.Chmod(dst2, 0o600)
	if _, err := Convert(ctx, "testdata/state_dict.pt", dst2); err != nil {
		t.Fatal(err)
	}
	if m := mode(dst2); m != 0o600 {
		t.Errorf("over a 0600 file under umask 022: %v", m)
	}
	// The set converted again over itself keeps the modes it had.
	os.Chmod(res.Files[0], 0o640)
	if _, err := Convert(ctx, "testdata/sharded/pytorch_model.bin.index.json", out); err != nil {
		t.Fatal(err)
	}
	if m, m2 := mode(res.Files[0]), mode(res.Index); m != 0o640 || m2 != 0o600 {
		t.Errorf("set converted again: shard %v, index %v", m, m2)
	}
}

// TestNotRegular: a FIFO is refused at once, not waited on.
func TestNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := Open(fifo)
		done <- err
	}()
	go func() {
		_, err := Convert(context.Background(), fifo, fifo+".safetensors")
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotCheckpoint) {
				t.Errorf("FIFO: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("opening a FIFO blocks")
		}
	}
}
