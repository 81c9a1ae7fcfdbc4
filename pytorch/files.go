package pytorch

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"
)

// openRegular opens path for reading if it is a regular file, and returns
// it with its size. The path is checked before it is opened, so that a
// FIFO or a device is refused rather than waited on, and the file opened
// is checked to be the one that was checked.
func openRegular(path string) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	notRegular := &fs.PathError{Op: "open", Path: path, Err: errorf(ErrNotCheckpoint, "not a regular file")}
	if !st.Mode().IsRegular() {
		return nil, 0, notRegular
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fst, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fst.Mode().IsRegular() || !os.SameFile(st, fst) {
		f.Close()
		return nil, 0, notRegular
	}
	return f, fst.Size(), nil
}

// createTemp creates a new, empty file next to path, named
// .<base>.tmp-<random>, to be renamed over path once complete. It has the
// permissions path is to end with: those of the regular file it replaces,
// or 0666 less the umask (as os.Create gives).
func createTemp(path string) (*os.File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	base = shortBase(base)
	perm, replacing := fs.FileMode(0o666), false
	if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
		// Created with the old file's mode (less the umask) so that it is
		// never more open than the old file, then given exactly that mode.
		perm, replacing = st.Mode().Perm(), true
	}
	var f *os.File
	var err error
	for range 1000 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if replacing {
		if err := f.Chmod(perm); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, err
		}
	}
	return f, nil
}

// shortBase shortens a long file name, at a rune boundary, to 128 bytes,
// so that a temporary or backup name made from it (up to 16 bytes more)
// stays within the usual limit of 255.
func shortBase(base string) string {
	if n := 128; len(base) > n {
		for n > 0 && !utf8.RuneStart(base[n]) {
			n--
		}
		base = base[:n]
	}
	return base
}

// mkdirFor creates the directory that is to hold path, if needed, with
// 0777 less the umask, as convert.py's os.makedirs does.
func mkdirFor(path string) error {
	return os.MkdirAll(filepath.Dir(path), 0o777)
}

// syncDir makes renames in dir durable where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
