package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// Verifier checks the files of a model opened with [OpenModelVerified]
// against the SHA-256 the Hub gives for each (the ETag of an LFS file),
// as the bytes are read: every read of a file is hashed on the way, in
// file order, and [Verifier.Verify] reads only what was not read (for
// example the tensors that a copy left out) before it compares. A copy of
// the whole model therefore reads each byte once and is verified.
type Verifier struct {
	mu    sync.Mutex
	files map[string]*hashCheck // by path in the repository
}

// OpenModelVerified is [OpenModel] with a [Verifier] of its files: those
// read over the network are hashed as they are read, and those found in
// the cache are hashed from the cache when verified. It never consults
// the cache first for a name that is online: it asks the Hub which
// commit and files the name means (a blob already in the cache is used,
// and hashed). Every shard is opened (its header read) before it returns.
func OpenModelVerified(ctx context.Context, name string, opts *Options) (*safetensors.Model, *Verifier, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, nil, err
	}
	s, err := newSession(opts)
	if err != nil {
		return nil, nil, err
	}
	v := &Verifier{files: map[string]*hashCheck{}}
	s.verify = v
	if s.cfg.Offline {
		dir := s.repoDir(n)
		commit, known := cachedCommit(dir, n.rev())
		if !known {
			return nil, nil, s.notCached(n, dir, commit, known)
		}
		snap := snapshotPath(dir, commit, "")
		m, err := s.openCachedModel(snap, n.Path)
		if err != nil {
			return nil, nil, err
		}
		sub := path.Dir(n.Path) // the folder of the file or index; "." for none
		for _, f := range m.Files() {
			p := path.Join(sub, f)
			v.files[p] = &hashCheck{local: filepath.Join(snap, filepath.FromSlash(p))}
		}
		return m, v, nil
	}
	m, err := s.openModelOnline(ctx, n)
	if err != nil {
		return nil, nil, err
	}
	// Open every shard now, so that each has its check.
	for _, f := range m.Files() {
		if _, err := m.Shard(f); err != nil {
			m.Close()
			return nil, nil, err
		}
	}
	return m, v, nil
}

// Verify checks the named file of the model (one of its Files) against
// its SHA-256, reading the parts of it not yet read. The result is kept:
// a second call answers at once. A mismatch is an error wrapping
// [ErrChecksum]. A file that is not stored with LFS (the Hub gives no
// SHA-256 for it) passes.
func (v *Verifier) Verify(ctx context.Context, file string) error {
	v.mu.Lock()
	c := v.files[file]
	if c == nil {
		for p, fc := range v.files {
			if strings.HasSuffix(p, "/"+file) {
				c = fc
				break
			}
		}
	}
	v.mu.Unlock()
	if c == nil {
		return fmt.Errorf("hub: %s is not a file of the verified model", file)
	}
	return c.verify(ctx, file)
}

// add registers the check of a file.
func (v *Verifier) add(p string, c *hashCheck) {
	v.mu.Lock()
	v.files[p] = c
	v.mu.Unlock()
}

// openVerified opens a file the Hub described, as openFile does, hashing
// its reads; a blob in the cache is opened as it is and hashed when
// verified.
func (v *Verifier) openVerified(ctx context.Context, s *session, n Name, m meta, file, blob, url string, ro *remote.Options) (*safetensors.File, error) {
	want := ""
	if sha256Re.MatchString(m.etag) {
		want = m.etag
	}
	if blob != "" {
		v.add(file, &hashCheck{local: blob, want: want})
		return s.fileOptions().Open(blob)
	}
	r, err := remote.NewReaderAt(ctx, url, ro)
	if err != nil {
		return nil, err
	}
	c := &hashCheck{r: r, size: r.Size(), want: want, h: sha256.New(), pending: map[int64][]byte{}}
	f, err := s.fileOptions().NewReader(c, r.Size())
	if err != nil {
		return nil, err
	}
	v.add(file, c)
	return f, nil
}

// maxPending is the most bytes a hashCheck keeps of reads that came ahead
// of the hash: reads beyond it are read again by verify.
const maxPending = 32 << 20

// hashCheck hashes the reads of one file in file order, and checks the
// result. For a file in the cache (local), verify hashes the file.
type hashCheck struct {
	local string // a file in the cache

	r    io.ReaderAt
	size int64
	want string // the SHA-256 expected, hex; "" for none

	mu           sync.Mutex
	h            hash.Hash
	at           int64            // bytes hashed: [0, at)
	pending      map[int64][]byte // reads past at, by offset
	pendingBytes int64
	done         bool
	err          error
}

// ReadAt reads through the file's reader and hashes what it can.
func (c *hashCheck) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if n > 0 {
		c.absorb(p[:n], off)
	}
	return n, err
}

// absorb hashes b, read at off, if it continues the hash, with whatever
// it makes contiguous; else keeps a copy for later, within maxPending.
func (c *hashCheck) absorb(b []byte, off int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	end := off + int64(len(b))
	switch {
	case end <= c.at:
		return
	case off <= c.at:
		c.h.Write(b[c.at-off:])
		c.at = end
		c.drain()
	case c.pendingBytes+int64(len(b)) <= maxPending:
		if old, ok := c.pending[off]; !ok || len(old) < len(b) {
			c.pendingBytes += int64(len(b)) - int64(len(old))
			c.pending[off] = append([]byte(nil), b...)
		}
	}
}

// drain hashes the pending reads that now continue the hash.
func (c *hashCheck) drain() {
	for progress := true; progress; {
		progress = false
		for off, b := range c.pending {
			end := off + int64(len(b))
			if off > c.at {
				continue
			}
			if end > c.at {
				c.h.Write(b[c.at-off:])
				c.at = end
			}
			delete(c.pending, off)
			c.pendingBytes -= int64(len(b))
			progress = true
		}
	}
}

func (c *hashCheck) verify(ctx context.Context, file string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return c.err
	}
	if c.want == "" && c.local == "" {
		c.done = true
		return nil
	}
	var sum string
	if c.local != "" {
		want := c.want
		if want == "" {
			// A snapshot's file links to its blob, named by its SHA-256.
			if real, err := filepath.EvalSymlinks(c.local); err == nil && sha256Re.MatchString(filepath.Base(real)) {
				want = filepath.Base(real)
			}
		}
		if want == "" {
			c.done = true
			return nil
		}
		c.want = want
		f, err := os.Open(c.local)
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		sum = hex.EncodeToString(h.Sum(nil))
	} else {
		// Read what was not read, using the pending reads on the way.
		buf := make([]byte, 0, 4<<20)
		for c.at < c.size {
			if err := ctx.Err(); err != nil {
				return err
			}
			c.drain()
			if c.at >= c.size {
				break
			}
			n := min(int64(cap(buf)), c.size-c.at)
			for off := range c.pending {
				if off > c.at && off-c.at < n {
					n = off - c.at
				}
			}
			b := buf[:n]
			got, err := c.r.ReadAt(b, c.at)
			if int64(got) < n && err == nil {
				err = io.ErrUnexpectedEOF
			}
			if err != nil && !(err == io.EOF && int64(got) == n) {
				return fmt.Errorf("hub: %s: reading to verify: %w", file, err)
			}
			c.h.Write(b)
			c.at += n
		}
		sum = hex.EncodeToString(c.h.Sum(nil))
		c.pending, c.pendingBytes = nil, 0
	}
	c.done = true
	if sum != c.want {
		c.err = fmt.Errorf("hub: %s: %w: SHA-256 %s, expected %s (the ETag)", file, ErrChecksum, sum, c.want)
	}
	return c.err
}
