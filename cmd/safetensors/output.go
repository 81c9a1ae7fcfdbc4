package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
)

// outputFile is a file written atomically: under a temporary name in the
// destination's folder, synced, then renamed over the destination by
// commit. Until commit, the destination is untouched; abort (or a failed
// commit) removes the temporary file. A process reading the old file keeps
// reading the old bytes, since the rename replaces the name, not the file.
type outputFile struct {
	f    *os.File
	path string // the destination
	tmp  string
}

// createOutput starts writing path. A new file gets the permissions that
// os.Create would give it; an existing one keeps its permission bits.
func createOutput(path string) (*outputFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	perm, existing := fs.FileMode(0o666), false // less the umask, as os.Create does
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return nil, errors.New("is a directory")
		}
		perm, existing = st.Mode().Perm(), true
	}
	for range 100 {
		var r [6]byte
		rand.Read(r[:])
		tmp := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(r[:]))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the temporary name means nothing to the user
			}
			return nil, fmt.Errorf("creating: %w", err)
		}
		if existing {
			// The existing file's bits exactly, which the umask may have
			// changed on create.
			if err := f.Chmod(perm); err != nil {
				f.Close()
				os.Remove(tmp)
				return nil, fmt.Errorf("creating: %w", err)
			}
		}
		return &outputFile{f: f, path: path, tmp: tmp}, nil
	}
	return nil, errors.New("creating: no free temporary name")
}

// Write writes to the temporary file, unbuffered: the library's writer
// buffers small tensors itself. Errors name the destination.
func (o *outputFile) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		err = outFile(o.path, fmt.Errorf("writing: %w", err))
	}
	return n, err
}

// commit syncs and closes the temporary file, renames it over the
// destination and syncs the folder.
func (o *outputFile) commit() error {
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp, o.path)
	}
	if err != nil {
		os.Remove(o.tmp)
		return outFile(o.path, fmt.Errorf("writing: %w", err))
	}
	syncDir(filepath.Dir(o.path))
	return nil
}

// abort removes the temporary file.
func (o *outputFile) abort() {
	o.f.Close()
	os.Remove(o.tmp)
}

// syncDir makes a rename in dir durable, where the system allows it
// (Windows cannot sync a directory).
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// writeOutput writes path atomically with write, which gets the temporary
// file.
func writeOutput(path string, write func(w io.Writer) error) error {
	o, err := createOutput(path)
	if err != nil {
		return outFile(path, err)
	}
	if err := write(o); err != nil {
		o.abort()
		return err
	}
	return o.commit()
}

// wrote reports a file written: its name, tensor count and size, on stdout.
func (a *app) wrote(path string, tensors int, size int64) {
	fmt.Fprintf(a.stdout, "%s: %s %s, %s\n", printable(path), formatCount(int64(tensors)), plural(tensors, "tensor", "tensors"), formatSize(size))
}

// forceFlag gives a command that writes files the --force flag, without
// which checkOverwrite refuses to replace an existing output.
func (a *app) forceFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&a.force, "force", "f", false, "replace an existing output")
}

// checkOverwrite returns an error when one of the outputs exists and
// --force was not given.
func (a *app) checkOverwrite(paths ...string) error {
	if a.force {
		return nil
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return outFile(p, errors.New("exists (use --force to replace it)"))
		}
	}
	return nil
}
