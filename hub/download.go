package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/safetensors-go/safetensors"
)

// Progress reports a download's advance to [Options.Progress]. Download
// calls it when it starts a file, as bytes arrive (at least every MiB),
// and when the file is in place.
type Progress struct {
	Path   string // the file, as a path in the repository
	Size   int64  // its size in bytes
	Done   int64  // its bytes in the cache so far, resumed ones included
	Cached bool   // it was in the cache already: nothing is downloaded

	// TotalSize and TotalDone are over every file of the download known
	// so far: the index, then (once the index is read) all its shards.
	TotalSize, TotalDone int64
}

// Download puts the model (or file) that name gives into the cache, in
// huggingface_hub's layout, and returns the local path of its snapshot
// entry: the single file, the index (with every shard beside it) or the
// file that the name's path gives. [safetensors.OpenModel] opens that
// path, and so does [OpenModel] of the same name from then on, offline
// too.
//
// It asks the Hub for the revision's commit (one HEAD request per file,
// carrying the token), then fetches what the snapshot lacks: a file whose blob is cached only gets its link; others
// are downloaded from the storage host, without the token, into
// blobs/<etag>.incomplete, resuming one that an earlier attempt left with
// a range request, and retrying transient failures (Options.Retries).
// A file whose ETag is a SHA-256 (every LFS file, which weights are) is
// hashed and refused with [ErrChecksum] if it differs, and the partial file
// deleted; a verified file is synced and renamed to blobs/<etag>, then
// linked from snapshots/<commit>/<path> (../../blobs/<etag>; copied where
// symbolic links cannot be made). A failed download therefore never leaves
// a blob that is not verified. Once every file is in place, refs/REVISION
// records the commit (a failed download leaves it as it was). A lock file
// per blob
// (.locks/models--ORG--NAME/<etag>.lock) makes concurrent downloads of one
// blob, by goroutines or processes, fetch it once.
//
// With a commit hash as the revision and the files in its snapshot, or in
// offline mode with the files cached, no request is made. In offline mode
// a missing file is an error wrapping [ErrNotCached].
func Download(ctx context.Context, name string, opts *Options) (string, error) {
	n, err := ParseName(name)
	if err != nil {
		return "", err
	}
	s, err := newSession(opts)
	if err != nil {
		return "", err
	}
	dir := s.repoDir(n)
	if commit, ok := cachedCommit(dir, n.rev()); ok && (s.cfg.Offline || isCommit(n.rev())) {
		p, err := cachedFiles(snapshotPath(dir, commit, ""), n.Path, s.maxIndex())
		if !errors.Is(err, fs.ErrNotExist) {
			return p, err
		}
	}
	if s.cfg.Offline {
		commit, known := cachedCommit(dir, n.rev())
		return "", s.notCached(n, dir, commit, known)
	}

	file := n.Path
	var m meta
	if file == "" {
		file = safetensors.SingleFileName
		m, err = s.stat(ctx, n, n.rev(), file)
		if notFoundEntry(err) {
			s.noExist(dir, err, file)
			file = safetensors.IndexName
			var err2 error
			m, err2 = s.stat(ctx, n, n.rev(), file)
			if notFoundEntry(err2) {
				return "", fmt.Errorf("hub: %s has neither %s nor %s at revision %q: %w", n, safetensors.SingleFileName, safetensors.IndexName, n.rev(), errors.Join(err, err2))
			}
			err = err2
		}
	} else {
		m, err = s.stat(ctx, n, n.rev(), file)
		if notFoundEntry(err) {
			s.noExist(dir, err, file)
		}
	}
	if err != nil {
		return "", err
	}
	s.clients()
	d := &downloader{s: s, n: n, dir: dir, commit: m.commit, total: m.size}
	top, err := d.fetch(ctx, file, m)
	if err != nil {
		return "", err
	}
	if !isIndex(file) {
		return top, d.writeRef()
	}

	// An index: fetch its shards at the same commit.
	b, err := readSmall(top, s.maxIndex())
	if err != nil {
		return "", fmt.Errorf("hub: %s: %w", n, err)
	}
	shards, err := shardPaths(file, b)
	if err != nil {
		return "", fmt.Errorf("hub: %s: %s: %w", n, file, err)
	}
	metas := make([]meta, len(shards))
	for i, sh := range shards {
		if fi, err := os.Stat(snapshotPath(dir, m.commit, sh)); err == nil {
			metas[i].size = fi.Size() // in the snapshot already: no request
			d.total += fi.Size()
			continue
		}
		if metas[i], err = s.stat(ctx, n, m.commit, sh); err != nil {
			return "", err
		}
		d.total += metas[i].size
	}
	for i, sh := range shards {
		if _, err := d.fetch(ctx, sh, metas[i]); err != nil {
			return "", err
		}
	}
	return top, d.writeRef()
}

// writeRef records the revision's commit in refs/, once every file is in
// the snapshot: a failed download leaves the ref as it was, so that the
// revision still opens offline at the commit it had.
func (d *downloader) writeRef() error {
	if err := writeRef(d.dir, d.n.rev(), d.commit); err != nil {
		return fmt.Errorf("hub: %s: writing the revision's ref: %w", d.n, err)
	}
	return nil
}

// noExist records, as huggingface_hub does, that the Hub has no such file
// at the commit its answer named: an empty .no_exist/<commit>/<path>.
// Python tools read it to skip asking again. Failing to write it is not
// an error.
func (s *session) noExist(dir string, err error, file string) {
	var se *StatusError
	if !errors.As(err, &se) || se.commit == "" {
		return
	}
	p := filepath.Join(dir, ".no_exist", se.commit, filepath.FromSlash(file))
	if os.MkdirAll(filepath.Dir(p), 0o777) == nil {
		if f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o666); err == nil {
			f.Close()
		}
	}
}

// downloader fetches the files of one Download.
type downloader struct {
	s           *session
	n           Name
	dir, commit string
	total, done int64
}

// report calls the progress callback, if any.
func (d *downloader) report(file string, size, done int64, cached bool) {
	if d.s.progress != nil {
		d.s.progress(Progress{Path: file, Size: size, Done: done, Cached: cached, TotalSize: d.total, TotalDone: d.done + done})
	}
}

// fetch puts one file in the snapshot and returns its local path.
func (d *downloader) fetch(ctx context.Context, file string, m meta) (string, error) {
	pointer := snapshotPath(d.dir, d.commit, file)
	finish := func(size int64, cached bool) {
		d.report(file, size, size, cached)
		d.done += size
	}
	if fi, err := os.Stat(pointer); err == nil {
		finish(fi.Size(), true)
		return pointer, nil
	}
	at := d.n
	at.Path = file
	fail := func(err error) (string, error) {
		if errors.Is(err, ErrChecksum) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("hub: %s: %w", at, err)
		}
		return "", wrapErr(at, err)
	}
	blobs := filepath.Join(d.dir, "blobs")
	if err := os.MkdirAll(blobs, 0o777); err != nil {
		return fail(err)
	}
	blob := filepath.Join(blobs, m.etag)
	unlock, err := lockFile(ctx, filepath.Join(d.s.cfg.CacheDir, ".locks", d.n.folder(), m.etag+".lock"))
	if err != nil {
		return fail(err)
	}
	defer unlock()
	if fi, err := os.Stat(pointer); err == nil { // made while we waited
		finish(fi.Size(), true)
		return pointer, nil
	}
	if _, err := os.Stat(blob); err == nil {
		if err := link(blob, pointer, false); err != nil {
			return fail(err)
		}
		finish(m.size, true)
		return pointer, nil
	}
	d.report(file, m.size, 0, false)
	if err := d.download(ctx, file, m, blob); err != nil {
		return fail(err)
	}
	if err := link(blob, pointer, true); err != nil {
		return fail(err)
	}
	finish(m.size, false)
	return pointer, nil
}

// download fetches a blob into blob+".incomplete", resuming what is there,
// checks it, and renames it to blob.
func (d *downloader) download(ctx context.Context, file string, m meta, blob string) error {
	inc := blob + ".incomplete"
	f, err := os.OpenFile(inc, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return err
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if have > m.size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		have = 0
	}
	h := sha256.New()
	if have > 0 {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, have)); err != nil {
			return err
		}
	}
	d.report(file, m.size, have, false)
	tries := 0
	wait := d.s.backoff
	for have < m.size {
		got, err := d.get(ctx, file, m, f, h, have)
		if got > have {
			tries, wait = 0, d.s.backoff
		}
		have = got
		if err == nil {
			continue
		}
		var tr *transientErr
		if !errors.As(err, &tr) || tries >= d.s.retries || ctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if tr != nil {
				return tr.err
			}
			return err
		}
		tries++
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 10*time.Second)
	}
	if sha256Re.MatchString(m.etag) {
		if sum := hex.EncodeToString(h.Sum(nil)); sum != m.etag {
			f.Close()
			f = nil
			os.Remove(inc)
			return fmt.Errorf("%w: SHA-256 %s, expected %s (the ETag); the download was deleted", ErrChecksum, sum, m.etag)
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return err
	}
	return os.Rename(inc, blob)
}

// transientErr marks a failure worth retrying.
type transientErr struct{ err error }

func (e *transientErr) Error() string { return e.err.Error() }
func (e *transientErr) Unwrap() error { return e.err }

// get makes one request for the file's bytes from offset have on, writes
// them to f at that offset and into h, and returns how many bytes f holds
// then. A server that ignores the range starts the file over.
func (d *downloader) get(ctx context.Context, file string, m meta, f *os.File, h hash.Hash, have int64) (int64, error) {
	at := d.n
	at.Path = file
	rctx, wd := d.s.watch(ctx)
	defer wd.stop()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, d.s.location(d.n, m, file), nil)
	if err != nil {
		return have, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	tok := d.s.authorize(req)
	resp, err := d.s.get.Do(req)
	if err != nil {
		return have, &transientErr{wd.explain(cleanErr(err))}
	}
	defer resp.Body.Close()
	where := redact(resp.Request.URL)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if have == 0 {
			return have, fmt.Errorf("%w: %s answered 206 to a request without a range", ErrMetadata, where)
		}
		want := fmt.Sprintf("bytes %d-%d/%d", have, m.size-1, m.size)
		if cr := resp.Header.Get("Content-Range"); cr != want {
			return have, fmt.Errorf("%w: %s answered Content-Range %.80q, expected %q", ErrMetadata, where, cr, want)
		}
	case http.StatusOK:
		if have > 0 { // the whole file: start over
			if err := f.Truncate(0); err != nil {
				return have, err
			}
			h.Reset()
			have = 0
		}
		if resp.ContentLength >= 0 && resp.ContentLength != m.size {
			return have, fmt.Errorf("%w: %s sends %d bytes, the Hub announced %d", ErrChecksum, where, resp.ContentLength, m.size)
		}
	default:
		se := &StatusError{Name: at, URL: where, StatusCode: resp.StatusCode, Code: resp.Header.Get("X-Error-Code"),
			Message: resp.Header.Get("X-Error-Message"), Token: tok, Storage: origin(resp.Request.URL) != d.s.origin, Endpoint: d.s.cfg.Endpoint}
		if transientStatus(resp.StatusCode) {
			return have, &transientErr{se}
		}
		return have, se
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return have, err
	}
	w := &progressWriter{f: f, h: h, n: have, kick: wd.kick, report: func(n int64) { d.report(file, m.size, n, false) }}
	_, err = io.Copy(w, io.LimitReader(resp.Body, m.size-have))
	w.flush()
	if err != nil {
		if w.werr != nil {
			return w.n, w.werr
		}
		return w.n, &transientErr{fmt.Errorf("reading %s: %w", where, wd.explain(cleanErr(err)))}
	}
	if w.n < m.size {
		return w.n, &transientErr{fmt.Errorf("reading %s: %w after %d of %d bytes", where, io.ErrUnexpectedEOF, w.n, m.size)}
	}
	return w.n, nil
}

// progressWriter writes to f and h, counting bytes and reporting every MiB.
type progressWriter struct {
	f        *os.File
	h        hash.Hash
	n, shown int64
	report   func(int64)
	kick     func()
	werr     error
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.kick()
	k, err := w.f.Write(p)
	w.h.Write(p[:k])
	w.n += int64(k)
	if err != nil {
		w.werr = err
		return k, err
	}
	if w.n-w.shown >= 1<<20 {
		w.flush()
	}
	return k, nil
}

func (w *progressWriter) flush() {
	if w.n != w.shown {
		w.shown = w.n
		w.report(w.n)
	}
}
