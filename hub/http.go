package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safetensors-go/safetensors/remote"
)

// Options adjusts how names are resolved, opened and downloaded. A nil
// *Options, and every zero field, means the defaults.
type Options struct {
	// Config is where the Hub and the cache are, the token, and whether
	// the network may be used. Nil means ConfigFromEnv().
	Config *Config
	// Client makes every request. Nil means a client of this package
	// whose transport is http.DefaultTransport's (proxies from the
	// environment), keeping up to 16 idle connections per host. The hub
	// package copies it and sets its own CheckRedirect, which drops the
	// Authorization header on a redirect to any origin but the Hub's.
	Client *http.Client
	// Remote tunes the files that OpenModel and Open read over the
	// network (PrefixSize, ChunkSize, Parallelism, Retries, ...), as in
	// the remote package. Its Client and Header are ignored: the hub
	// package sets them.
	Remote *remote.Options
	// Progress, if set, is called by Download as files are fetched, never
	// by two goroutines at once; see [Progress].
	Progress func(Progress)
	// Retries is how many times Download and the Hub's metadata requests
	// try again after a transient failure (a network error, a body cut
	// short, 429 or 5xx): a download resumes where it stopped. Zero means
	// 5; a negative value, none. The count starts again whenever bytes
	// arrive.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to 10 s, with jitter. Zero means 250 ms.
	Backoff time.Duration
	// StallTimeout abandons, and retries, a request of Download or of the
	// Hub's metadata whose response headers or body bytes do not arrive
	// for that long. Zero means 60 s; a negative value, no limit. (Reads
	// through the remote package have Remote.StallTimeout.)
	StallTimeout time.Duration
}

var defaultClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}()}

// session is Options made ready for use.
type session struct {
	cfg      Config
	origin   string       // scheme://host[:port] of cfg.Endpoint
	client   *http.Client // Options.Client
	once     sync.Once    // makes head and get
	head     *http.Client // follows no redirect
	get      *http.Client // follows redirects, dropping the token off the Hub's origin
	remote   remote.Options
	progress func(Progress)
	retries  int
	backoff  time.Duration
	stall    time.Duration
	verify   *Verifier // set by OpenModelVerified: files are opened to be hashed
}

func newSession(o *Options) (*session, error) {
	var opts Options
	if o != nil {
		opts = *o
	}
	s := &session{progress: opts.Progress, retries: opts.Retries, backoff: opts.Backoff, stall: opts.StallTimeout}
	if opts.Config != nil {
		s.cfg = *opts.Config
	} else {
		s.cfg = ConfigFromEnv()
	}
	s.cfg.Endpoint = strings.TrimRight(s.cfg.Endpoint, "/")
	if s.cfg.Endpoint == "" {
		s.cfg.Endpoint = DefaultEndpoint
	}
	u, err := url.Parse(s.cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hub: the endpoint (HF_ENDPOINT) %q is not an http(s) URL", s.cfg.Endpoint)
	}
	s.origin = origin(u)
	if s.cfg.CacheDir == "" {
		return nil, errors.New("hub: no cache folder: set HF_HUB_CACHE or HF_HOME, or Config.CacheDir")
	}
	switch {
	case s.retries == 0:
		s.retries = 5
	case s.retries < 0:
		s.retries = 0
	}
	if s.backoff <= 0 {
		s.backoff = 250 * time.Millisecond
	}
	if s.stall == 0 {
		s.stall = 60 * time.Second
	}
	s.client = opts.Client
	if opts.Remote != nil {
		s.remote = *opts.Remote
	}
	s.remote.Header = nil
	return s, nil
}

// clients makes the session's HTTP clients, on first use: a cached name
// needs none.
func (s *session) clients() {
	s.once.Do(func() {
		base := s.client
		if base == nil {
			base = defaultClient
		}
		head := *base
		head.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		s.head = &head
		get := *base
		userCheck := base.CheckRedirect
		get.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if origin(req.URL) != s.origin {
				req.Header.Del("Authorization")
			}
			if userCheck != nil {
				return userCheck(req, via)
			}
			return nil
		}
		s.get = &get
		s.remote.Client = s.get
	})
}

// origin returns scheme://host[:port] of u, lower-cased, with the scheme's
// default port made explicit, so that equal origins compare equal.
func origin(u *url.URL) string {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	scheme := strings.ToLower(u.Scheme)
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

// authorize adds the token to req if it goes to the Hub's origin, and
// reports whether it did.
func (s *session) authorize(req *http.Request) bool {
	if s.cfg.Token == "" || origin(req.URL) != s.origin {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Token)
	return true
}

// fileURL returns the Hub's URL of a file:
// {endpoint}/[TYPEs/]ORG/NAME/resolve/{revision}/{path}, with the revision
// and the path escaped as huggingface_hub's hf_hub_url escapes them.
func (s *session) fileURL(n Name, rev, path string) string {
	return s.cfg.Endpoint + "/" + n.urlPrefix() + n.Repo + "/resolve/" + quote(rev, "") + "/" + quote(path, "/")
}

// meta is what the Hub says about a file, as huggingface_hub's
// get_hf_file_metadata reads it.
type meta struct {
	commit   string   // X-Repo-Commit
	etag     string   // X-Linked-Etag, else ETag, without W/ and quotes
	size     int64    // X-Linked-Size, else Content-Length
	location *url.URL // where to download it: the redirect's Location, else the file's URL
}

var (
	sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
	etagRe   = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$`)
)

// stat asks the Hub about a file with a HEAD request that follows only
// relative redirects (a renamed repository), keeping the redirect to the
// storage host as the file's location without following it. The token
// goes to the Hub only.
func (s *session) stat(ctx context.Context, n Name, rev, path string) (meta, error) {
	s.clients()
	file := n
	file.Path = path
	if rev != n.rev() {
		file.Revision = rev
	}
	u, err := url.Parse(s.fileURL(n, rev, path))
	if err != nil {
		return meta{}, fmt.Errorf("hub: %s: %w", file, err)
	}
	for hops := 0; ; hops++ {
		var resp *http.Response
		var tokenSent bool
		err := s.retry(ctx, func() (bool, error) {
			rctx, w := s.watch(ctx)
			defer w.stop()
			req, err := http.NewRequestWithContext(rctx, http.MethodHead, u.String(), nil)
			if err != nil {
				return false, err
			}
			req.Header.Set("Accept-Encoding", "identity")
			tokenSent = s.authorize(req)
			r, err := s.head.Do(req)
			if err != nil {
				return true, w.explain(err)
			}
			r.Body.Close()
			if transientStatus(r.StatusCode) {
				return true, &StatusError{Name: file, URL: redact(u), StatusCode: r.StatusCode, Code: r.Header.Get("X-Error-Code"), Message: r.Header.Get("X-Error-Message"), Token: tokenSent, Endpoint: s.cfg.Endpoint}
			}
			resp = r
			return false, nil
		})
		if err != nil {
			return meta{}, wrapErr(file, err)
		}
		h := resp.Header
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			rel, err := url.Parse(h.Get("Location"))
			if err != nil || h.Get("Location") == "" {
				return meta{}, fmt.Errorf("%w: %s: a redirect (%d) without a valid Location from %s", ErrMetadata, file, resp.StatusCode, redact(u))
			}
			loc := u.ResolveReference(rel)
			if rel.Host != "" || rel.Scheme != "" {
				// Another host (or an absolute URL): the storage host.
				return s.metaFrom(file, u, h, loc)
			}
			if hops >= 10 {
				return meta{}, fmt.Errorf("hub: %s: more than 10 redirects from %s", file, redact(u))
			}
			u = loc
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return s.metaFrom(file, u, h, u)
		default:
			se := &StatusError{Name: file, URL: redact(u), StatusCode: resp.StatusCode, Code: h.Get("X-Error-Code"), Message: h.Get("X-Error-Message"), Token: tokenSent, Endpoint: s.cfg.Endpoint}
			if c := h.Get("X-Repo-Commit"); isCommit(c) {
				se.commit = c
			}
			return meta{}, se
		}
	}
}

func (s *session) metaFrom(file Name, u *url.URL, h http.Header, loc *url.URL) (meta, error) {
	bad := func(what string) (meta, error) {
		return meta{}, fmt.Errorf("%w: %s: %s from %s (is HF_ENDPOINT the Hub, or is a proxy answering in its place?)", ErrMetadata, file, what, redact(u))
	}
	m := meta{commit: h.Get("X-Repo-Commit"), location: loc}
	if m.commit == "" {
		return bad("no X-Repo-Commit header")
	}
	if !isCommit(m.commit) {
		return bad(fmt.Sprintf("X-Repo-Commit %.60q is not a commit hash", m.commit))
	}
	etag := h.Get("X-Linked-Etag")
	if etag == "" {
		etag = h.Get("ETag")
	}
	m.etag = strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
	if m.etag == "" {
		return bad("no ETag")
	}
	if !etagRe.MatchString(m.etag) {
		return bad(fmt.Sprintf("ETag %.80q is not a file name", m.etag))
	}
	size := h.Get("X-Linked-Size")
	if size == "" {
		size = h.Get("Content-Length")
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 {
		return bad(fmt.Sprintf("no valid size (X-Linked-Size or Content-Length %.40q)", size))
	}
	m.size = n
	if m.location.Scheme != "http" && m.location.Scheme != "https" {
		return bad("a Location that is not an http(s) URL")
	}
	return m, nil
}

// watchdog cancels a request whose response makes no progress for the
// session's stall timeout.
type watchdog struct {
	d       time.Duration
	t       *time.Timer
	cancel  context.CancelFunc
	stalled atomic.Bool
}

// watch returns a context for one request, and its watchdog, started.
func (s *session) watch(ctx context.Context) (context.Context, *watchdog) {
	rctx, cancel := context.WithCancel(ctx)
	w := &watchdog{d: s.stall, cancel: cancel}
	if s.stall > 0 {
		w.t = time.AfterFunc(s.stall, func() { w.stalled.Store(true); cancel() })
	}
	return rctx, w
}

// kick restarts the wait: some progress was made.
func (w *watchdog) kick() {
	if w.t != nil {
		w.t.Reset(w.d)
	}
}

// stop ends the watch and releases the request's context.
func (w *watchdog) stop() {
	if w.t != nil {
		w.t.Stop()
	}
	w.cancel()
}

// explain says that err comes from a stall, when it does.
func (w *watchdog) explain(err error) error {
	if err != nil && w.stalled.Load() {
		return fmt.Errorf("no progress for %v: %w", w.d, err)
	}
	return err
}

// transientStatus reports whether a status is worth retrying.
func transientStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500
}

// retry runs f until it succeeds, fails for good (retryable false), or
// has failed s.retries+1 times, waiting with exponential backoff and
// jitter between tries.
func (s *session) retry(ctx context.Context, f func() (retryable bool, err error)) error {
	wait := s.backoff
	for try := 0; ; try++ {
		retryable, err := f()
		if err == nil || !retryable || try >= s.retries || ctx.Err() != nil {
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// sleep waits for between half and all of d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redact returns u without its query string and fragment, which may hold
// credentials (signed URLs), and without user information.
func redact(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.RawFragment, c.User, c.ForceQuery = "", "", "", nil, false
	return c.String()
}

// wrapErr gives err the file's name, and strips the query string from the
// URL that net/http errors show.
func wrapErr(file Name, err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("hub: %s: %w", file, cleanErr(err))
}

// cleanErr rebuilds a *url.Error with its URL's query string removed.
func cleanErr(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	clean := "(an unparsable URL)"
	if perr == nil {
		clean = redact(u)
	}
	return &url.Error{Op: ue.Op, URL: clean, Err: ue.Err}
}

// readAllLimit reads r to its end, failing if it holds more than limit bytes.
func readAllLimit(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than the limit of %d bytes", limit)
	}
	return b, nil
}
