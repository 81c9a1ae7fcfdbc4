package hub

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/safetensors-go/safetensors"
)

// The cache is huggingface_hub's, shared with every Python tool:
//
//	CacheDir/models--ORG--NAME/
//	    blobs/<etag>                      the files' bytes, named by their ETag
//	    blobs/<etag>.incomplete           a download in progress
//	    snapshots/<commit>/<path>         -> ../../blobs/<etag> (a copy where symlinks fail)
//	    refs/<revision>                   the commit the revision was last seen at
//	    .no_exist/<commit>/<path>         an empty file: the Hub said it has no such file
//	CacheDir/.locks/models--ORG--NAME/<etag>.lock

// repoDir returns the repository's folder in the cache.
func (s *session) repoDir(n Name) string {
	return filepath.Join(s.cfg.CacheDir, n.folder())
}

// cachedCommit returns the commit that rev names in the cache of the
// repository in dir: rev itself when it is a full commit hash, else the
// content of refs/<rev>.
func cachedCommit(dir, rev string) (string, bool) {
	if isCommit(rev) {
		return rev, true
	}
	f, err := os.Open(filepath.Join(dir, "refs", filepath.FromSlash(rev)))
	if err != nil {
		return "", false
	}
	defer f.Close()
	// A commit, maybe with spaces or a newline that some writer added.
	var buf [64]byte
	n, _ := io.ReadFull(f, buf[:])
	c := strings.TrimSpace(string(buf[:n]))
	if !isCommit(c) {
		return "", false
	}
	return c, true
}

// isCommit reports whether s is a full commit hash: 40 lower-case
// hexadecimal digits.
func isCommit(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// snapshotPath returns the local path of a repository file in a snapshot.
func snapshotPath(dir, commit, file string) string {
	return filepath.Join(dir, "snapshots", commit, filepath.FromSlash(file))
}

// readSmall reads a whole file that should be small, refusing one larger
// than limit.
func readSmall(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readAllLimit(f, limit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// isIndex reports whether a repository path names a sharded model's index,
// whose shards Download fetches with it: a name ending in ".index.json".
func isIndex(p string) bool { return strings.HasSuffix(p, ".index.json") }

// shardPaths returns the repository paths of the shards an index names,
// relative to the index's folder, sorted.
func shardPaths(indexPath string, index []byte) ([]string, error) {
	m, err := safetensors.NewModel(index, func(string) (*safetensors.File, error) {
		return nil, errors.New("not opened")
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range m.Files() {
		out = append(out, path.Join(path.Dir(indexPath), f))
	}
	return out, nil
}

// cachedFiles returns the local path of the model (or file) that file
// names in the snapshot folder snap ("" meaning model.safetensors, else
// model.safetensors.index.json), after checking that it and, for an index,
// every shard are there. The error wraps fs.ErrNotExist when one is not.
func cachedFiles(snap, file string, maxIndex int64) (string, error) {
	if file == "" {
		p, err := cachedFiles(snap, safetensors.SingleFileName, maxIndex)
		if !errors.Is(err, fs.ErrNotExist) {
			return p, err
		}
		return cachedFiles(snap, safetensors.IndexName, maxIndex)
	}
	p := filepath.Join(snap, filepath.FromSlash(file))
	if !isIndex(file) {
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	b, err := readSmall(p, maxIndex)
	if err != nil {
		return "", err
	}
	shards, err := shardPaths(file, b)
	if err != nil {
		return "", fmt.Errorf("hub: %s: %w", p, err)
	}
	for _, sh := range shards {
		if _, err := os.Stat(filepath.Join(snap, filepath.FromSlash(sh))); err != nil {
			return "", err
		}
	}
	return p, nil
}

// writeRef records that rev is at commit, as huggingface_hub does: in
// refs/<rev>, unless rev is the commit itself. The file is replaced
// atomically, so that readers never see it half written.
func writeRef(dir, rev, commit string) error {
	if rev == commit {
		return nil
	}
	p := filepath.Join(dir, "refs", filepath.FromSlash(rev))
	if b, err := readSmall(p, 1024); err == nil && string(b) == commit {
		return nil
	}
	return writeFileAtomic(p, []byte(commit))
}

// writeFileAtomic writes data to a new file beside p and renames it over p.
func writeFileAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// symlink is os.Symlink; tests replace it to act as a system without
// symbolic links.
var symlink = os.Symlink

// link makes the snapshot's entry pointer refer to blob, with a relative
// symbolic link (../../blobs/<etag>) as huggingface_hub makes it. Where
// links cannot be made (Windows without the privilege), it does as
// huggingface_hub does: a new blob moves into the snapshot, an older one
// (maybe referred to by other snapshots) is copied.
func link(blob, pointer string, newBlob bool) error {
	if err := os.MkdirAll(filepath.Dir(pointer), 0o777); err != nil {
		return err
	}
	os.Remove(pointer)
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		rel = blob
	}
	err = symlink(rel, pointer)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		// Made between Remove and Symlink by another process.
		if t, rerr := os.Readlink(pointer); rerr == nil && t == rel {
			return nil
		}
		return err
	}
	if newBlob {
		return os.Rename(blob, pointer)
	}
	return copyFile(blob, pointer)
}

// copyFile copies src to a new file beside dst, then renames it over dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(out.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(out.Name(), dst)
	}
	if err != nil {
		os.Remove(out.Name())
	}
	return err
}
