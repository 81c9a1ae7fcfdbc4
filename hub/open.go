package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// OpenModel opens the model that name (hf://ORG/NAME[@REVISION][/PATH])
// gives: the repository's model.safetensors, else its
// model.safetensors.index.json, when the name has no path; else the file
// at PATH, a sharded model's index when PATH ends in ".json".
//
// It looks in the cache first: the revision's commit (refs/REVISION, or
// the revision itself when it is a commit hash), then the file in that
// commit's snapshot, and for an index every shard. What is there opens
// with [safetensors.Options.Open] (memory-mapped, zero-copy) and
// [safetensors.Options.OpenModel] on the snapshot's paths, with no
// request: the Hub is not asked whether a branch moved since (Download
// brings the cache up to date). A cached file that fails to open is an
// error, not a reason to go to the network. In offline mode ([Config.Offline], HF_HUB_OFFLINE) nothing else
// is tried: a missing file is an error wrapping [ErrNotCached] and
// [fs.ErrNotExist].
//
// Otherwise it asks the Hub (a HEAD request per file, carrying the token)
// where the file is, and reads it without downloading it: through the
// remote package, with range requests to the storage host that the Hub
// redirects to, without the token; a blob already in the cache is mapped
// instead. That costs the header: opening a single file is one request to
// the Hub and one to the storage host when the header fits in
// remote.DefaultPrefixSize bytes. An index is fetched whole, and its shards
// are resolved and opened on first use, all at the commit the first answer
// named (X-Repo-Commit), so that every shard comes from one commit even if
// the branch moves. Nothing is written to the cache; see [Download].
//
// The storage host's URLs are signed for a limited time (hours on the
// Hub): a File read over the network long after it was opened may fail
// with fs.ErrPermission; open the name again then. Shards opened later get
// fresh URLs.
//
// ctx governs every request of the Model, including those that open
// shards later and fetch tensors: cancel it to abort them.
func OpenModel(ctx context.Context, name string, opts *Options) (*safetensors.Model, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	s, err := newSession(opts)
	if err != nil {
		return nil, err
	}
	dir := s.repoDir(n)
	commit, known := cachedCommit(dir, n.rev())
	if known {
		m, err := s.openCachedModel(snapshotPath(dir, commit, ""), n.Path)
		if !errors.Is(err, fs.ErrNotExist) {
			return m, err
		}
	}
	if s.cfg.Offline {
		return nil, s.notCached(n, dir, commit, known)
	}
	return s.openModelOnline(ctx, n)
}

// Open opens one safetensors file of the Hub: the file at the name's path,
// or the repository's model.safetensors when the name has none. It
// resolves the file as [OpenModel] does: from the cache first (a mapped
// file), else over the network with range requests. A sharded model has no
// single file: open it with OpenModel.
//
// ctx governs every request of the File: cancel it to abort them.
func Open(ctx context.Context, name string, opts *Options) (*safetensors.File, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, err
	}
	if n.Path == "" {
		n.Path = safetensors.SingleFileName
	} else if strings.HasSuffix(n.Path, ".json") {
		return nil, fmt.Errorf("hub: %s is an index of shards, not a safetensors file: open it with OpenModel", n)
	}
	s, err := newSession(opts)
	if err != nil {
		return nil, err
	}
	dir := s.repoDir(n)
	commit, known := cachedCommit(dir, n.rev())
	if known {
		f, err := s.fileOptions().Open(snapshotPath(dir, commit, n.Path))
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
	}
	if s.cfg.Offline {
		return nil, s.notCached(n, dir, commit, known)
	}
	m, err := s.stat(ctx, n, n.rev(), n.Path)
	if err != nil {
		if n.Revision == "" && n.Path == safetensors.SingleFileName && errors.Is(err, fs.ErrNotExist) && notFoundEntry(err) {
			return nil, fmt.Errorf("%w (a sharded model? open it with OpenModel)", err)
		}
		return nil, err
	}
	return s.openFile(ctx, n, m, n.Path)
}

// fileOptions returns the safetensors options for local files.
func (s *session) fileOptions() safetensors.Options {
	return safetensors.Options{MaxHeaderSize: s.remote.MaxHeaderSize}
}

// maxIndex is the largest index accepted, in bytes.
func (s *session) maxIndex() int64 {
	if s.remote.MaxHeaderSize > 0 {
		return s.remote.MaxHeaderSize
	}
	return safetensors.DefaultMaxHeaderSize
}

// openCachedModel opens the model that file names in the snapshot folder
// snap (see cachedFiles). The error wraps fs.ErrNotExist when a file is
// missing.
func (s *session) openCachedModel(snap, file string) (*safetensors.Model, error) {
	if file == "" {
		m, err := s.openCachedModel(snap, safetensors.SingleFileName)
		if !errors.Is(err, fs.ErrNotExist) {
			return m, err
		}
		return s.openCachedModel(snap, safetensors.IndexName)
	}
	p := filepath.Join(snap, filepath.FromSlash(file))
	if strings.HasSuffix(file, ".json") {
		return s.fileOptions().OpenModel(p)
	}
	f, err := s.fileOptions().Open(p)
	if err != nil {
		return nil, err
	}
	return safetensors.NewFileModel(f, path.Base(file)), nil
}

// notCached returns the error of a name missing from the cache in offline
// mode, saying what is missing.
func (s *session) notCached(n Name, dir, commit string, known bool) error {
	var why string
	switch {
	case !known:
		why = fmt.Sprintf("the cache does not know revision %q (no %s)", n.rev(), filepath.Join(dir, "refs", filepath.FromSlash(n.rev())))
	case n.Path == "":
		why = fmt.Sprintf("snapshot %s has neither %s nor %s with all its shards", snapshotPath(dir, commit, ""), safetensors.SingleFileName, safetensors.IndexName)
	default:
		why = fmt.Sprintf("snapshot %s lacks %s (or one of its shards)", snapshotPath(dir, commit, ""), n.Path)
	}
	return &notCachedError{fmt.Sprintf("hub: %s: not in the local cache: %s, and offline mode is on (HF_HUB_OFFLINE): download it while online (safetensors download %s), or turn offline mode off",
		n, why, n)}
}

// notFoundEntry reports whether err is the Hub saying that a file does not
// exist in a repository that does: EntryNotFound, or a 404 without a code
// (a server that is not the Hub itself).
func notFoundEntry(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	return se.Code == "EntryNotFound" || (se.Code == "" && se.StatusCode == http.StatusNotFound)
}

// openModelOnline resolves and opens a model over the network.
func (s *session) openModelOnline(ctx context.Context, n Name) (*safetensors.Model, error) {
	file := n.Path
	var m meta
	var err error
	if file == "" {
		file = safetensors.SingleFileName
		m, err = s.stat(ctx, n, n.rev(), file)
		if notFoundEntry(err) {
			file = safetensors.IndexName
			var err2 error
			m, err2 = s.stat(ctx, n, n.rev(), file)
			if notFoundEntry(err2) {
				return nil, fmt.Errorf("hub: %s has neither %s nor %s at revision %q: %w", n, safetensors.SingleFileName, safetensors.IndexName, n.rev(), errors.Join(err, err2))
			}
			err = err2
		}
	} else {
		m, err = s.stat(ctx, n, n.rev(), file)
	}
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(file, ".json") {
		f, err := s.openFile(ctx, n, m, file)
		if err != nil {
			return nil, err
		}
		return safetensors.NewFileModel(f, path.Base(file)), nil
	}
	index, err := s.readIndex(ctx, n, m, file)
	if err != nil {
		return nil, err
	}
	commit := m.commit
	model, err := safetensors.NewModel(index, func(shard string) (*safetensors.File, error) {
		p := path.Join(path.Dir(file), shard)
		sm, err := s.stat(ctx, n, commit, p)
		if err != nil {
			return nil, err
		}
		return s.openFile(ctx, n, sm, p)
	})
	if err != nil {
		return nil, fmt.Errorf("hub: %s: %s: %w", n, file, err)
	}
	return model, nil
}

// openFile opens a file the Hub described: its blob if the cache has it,
// else over the network from its location, with the token only if the
// location is on the Hub's origin.
func (s *session) openFile(ctx context.Context, n Name, m meta, file string) (*safetensors.File, error) {
	blob := filepath.Join(s.repoDir(n), "blobs", m.etag)
	if fi, err := os.Stat(blob); err == nil && fi.Size() == m.size {
		if s.verify != nil {
			return s.verify.openVerified(ctx, s, n, m, file, blob, "", nil)
		}
		return s.fileOptions().Open(blob)
	}
	s.clients()
	ro := s.remote
	if origin(m.location) == s.origin && s.cfg.Token != "" {
		ro.Header = http.Header{"Authorization": {"Bearer " + s.cfg.Token}}
	}
	var f *safetensors.File
	var err error
	if s.verify != nil {
		f, err = s.verify.openVerified(ctx, s, n, m, file, "", s.location(n, m, file), &ro)
	} else {
		f, err = remote.Open(ctx, s.location(n, m, file), &ro)
	}
	if err != nil {
		at := n
		at.Path = file
		if origin(m.location) != s.origin && errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("hub: %s: the storage host refused the download URL that the Hub signed (signed URLs expire): try again: %w", at, cleanErr(err))
		}
		return nil, fmt.Errorf("hub: %s: %w", at, cleanErr(err))
	}
	return f, nil
}

// location returns where to fetch a file from: the storage host that the
// Hub redirected to, or, when the Hub serves the file itself, its URL at
// the commit the Hub named, so that a branch moving in between changes
// nothing.
func (s *session) location(n Name, m meta, file string) string {
	if origin(m.location) == s.origin && m.location.String() == s.fileURL(n, n.rev(), file) {
		return s.fileURL(n, m.commit, file)
	}
	return m.location.String()
}

// readIndex returns the bytes of an index the Hub described: from its blob
// if the cache has it, else with one GET request.
func (s *session) readIndex(ctx context.Context, n Name, m meta, file string) ([]byte, error) {
	at := n
	at.Path = file
	if m.size > s.maxIndex() {
		return nil, fmt.Errorf("hub: %s: %w: the index has %d bytes, more than the limit of %d", at, safetensors.ErrInvalidIndex, m.size, s.maxIndex())
	}
	blob := filepath.Join(s.repoDir(n), "blobs", m.etag)
	if b, err := readSmall(blob, s.maxIndex()); err == nil && int64(len(b)) == m.size {
		return b, nil
	}
	s.clients()
	var body []byte
	err := s.retry(ctx, func() (bool, error) {
		rctx, wd := s.watch(ctx)
		defer wd.stop()
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, s.location(n, m, file), nil)
		if err != nil {
			return false, err
		}
		req.Header.Set("Accept-Encoding", "identity")
		tok := s.authorize(req)
		resp, err := s.get.Do(req)
		if err != nil {
			return true, wd.explain(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return transientStatus(resp.StatusCode), &StatusError{Name: at, URL: redact(resp.Request.URL), StatusCode: resp.StatusCode,
				Code: resp.Header.Get("X-Error-Code"), Message: resp.Header.Get("X-Error-Message"), Token: tok, Endpoint: s.cfg.Endpoint}
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, s.maxIndex()+1))
		if err != nil {
			return true, fmt.Errorf("reading the index: %w", wd.explain(err))
		}
		if int64(len(b)) > s.maxIndex() {
			return false, fmt.Errorf("%w: the index is larger than the limit of %d bytes", safetensors.ErrInvalidIndex, s.maxIndex())
		}
		body = b
		return false, nil
	})
	if err != nil {
		return nil, wrapErr(at, err)
	}
	return body, nil
}
