package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/safetensors-go/safetensors/internal/redact"
)

// conn sends the requests of one URL, with the retry policy of its options.
type conn struct {
	url      string
	u        *url.URL
	display  string // url without its query, for messages
	o        Options
	client   *http.Client // o.Client, with redirects left to attempt
	requests atomic.Int64

	// Validators of the file, set by the first response of a ReaderAt and
	// read-only afterwards.
	etag         string // "" if none
	lastModified string // "" if none
	ifRange      string // the validator sent as If-Range; "" if none is usable
}

func newConn(rawURL string, opts *Options) (*conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	o := opts.withDefaults()
	client := *o.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &conn{url: rawURL, u: u, display: redact.URL(u), o: o, client: &client}, nil
}

// retry sends a GET request for the range rangeOf gives ("" for the whole
// file) and passes the response to handle, again while the failure is
// transient and attempts remain. rangeOf is asked again before each
// attempt, so that a retry can ask only for what is missing.
func (c *conn) retry(ctx context.Context, rangeOf func() string, handle func(*http.Response) error) error {
	wait := c.o.Backoff
	for attempt := 0; ; attempt++ {
		rng := rangeOf()
		err := c.attempt(ctx, rng, handle)
		if err == nil {
			return nil
		}
		what := "remote: GET " + c.display
		if rng != "" {
			what += " (" + rng + ")"
		}
		var t *transient
		if !errors.As(err, &t) {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", what, context.Cause(ctx))
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		if attempt >= c.o.Retries {
			return fmt.Errorf("%s: giving up after %d attempts: %w", what, attempt+1, t.err)
		}
		d := wait/2 + rand.N(wait/2+1)
		if t.retryAfter > d {
			d = min(t.retryAfter, c.o.MaxBackoff)
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%s: %w (while waiting to retry after: %v)", what, context.Cause(ctx), t.err)
		case <-timer.C:
		}
		wait = min(2*wait, c.o.MaxBackoff)
	}
}

// attempt sends one request and hands the response to handle. Errors
// worth retrying are *transient.
func (c *conn) attempt(ctx context.Context, rng string, handle func(*http.Response) error) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	var timer *time.Timer
	if st := c.o.StallTimeout; st > 0 {
		timer = time.AfterFunc(st, func() { stalled.Store(true); cancel() })
		defer timer.Stop()
	}
	resp, err := c.follow(actx, rng)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if stalled.Load() {
			return &transient{err: fmt.Errorf("no response for %v", c.o.StallTimeout)}
		}
		return err
	}
	defer resp.Body.Close()
	if timer != nil {
		timer.Reset(c.o.StallTimeout)
		resp.Body = &stallBody{ReadCloser: resp.Body, timer: timer, d: c.o.StallTimeout}
	}
	err = handle(resp)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && stalled.Load() {
		return &transient{err: fmt.Errorf("the response stalled: no data for %v (%v)", c.o.StallTimeout, err)}
	}
	return err
}

// maxRedirects is how many redirects one request follows, as Go's client.
const maxRedirects = 10

// follow sends a GET request for the range rng ("" for the whole file),
// following redirects itself: Options.Header goes only to the origin
// (scheme, host and port) of the URL it was given for, never to another one
// a redirect leads to. It returns the first response that is not a
// redirect. A redirect that cannot be followed (no usable Location, not
// http or https, too many) is an error wrapping ErrInvalidResponse, which
// is not retried; network errors that retrying may fix are *transient.
func (c *conn) follow(ctx context.Context, rng string) (*http.Response, error) {
	u := c.u
	for hops := 0; ; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("remote: %w", err)
		}
		if sameOrigin(u, c.u) {
			for k, v := range c.o.Header {
				req.Header[k] = append([]string(nil), v...)
			}
		}
		if rng != "" {
			req.Header.Set("Range", rng)
			// Ranges of an encoded body are not the file's bytes.
			req.Header.Set("Accept-Encoding", "identity")
			if c.ifRange != "" {
				req.Header.Set("If-Range", c.ifRange)
			}
		}
		c.requests.Add(1)
		resp, err := c.client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // its message repeats the URL, query included
			}
			if strings.HasPrefix(err.Error(), "failed to parse Location header") {
				// Go's client parses Location before it asks whether to
				// follow it, and its error has no type of its own.
				return nil, fmt.Errorf("%w: %s with an unusable Location", ErrInvalidResponse, u.Redacted())
			}
			if permanentNetError(err) {
				return nil, err
			}
			return nil, &transient{err: err}
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			return resp, nil
		}
		loc := resp.Header.Get("Location")
		io.CopyN(io.Discard, resp.Body, 4<<10) // lets the connection be reused
		resp.Body.Close()
		next, perr := u.Parse(loc)
		switch {
		case loc == "" || perr != nil:
			return nil, fmt.Errorf("%w: %s with an unusable Location %q", ErrInvalidResponse, resp.Status, redactRaw(loc))
		case next.Scheme != "http" && next.Scheme != "https" || next.Host == "":
			return nil, fmt.Errorf("%w: a redirect to %s, which is not an http or https URL", ErrInvalidResponse, redact.URL(next))
		case hops >= maxRedirects:
			return nil, fmt.Errorf("%w: more than %d redirects", ErrInvalidResponse, maxRedirects)
		}
		u = next
	}
}

// sameOrigin reports whether a and b have the same scheme, host and port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// redactRaw is redact for a URL that may not parse: up to its query.
func redactRaw(s string) string {
	if u, err := url.Parse(s); err == nil {
		return redact.URL(u)
	}
	s, _, _ = strings.Cut(s, "?")
	return s
}

// permanentNetError reports errors that retrying cannot fix: bad
// certificates, TLS spoken to a server that does not, a response that is
// not HTTP.
func permanentNetError(err error) bool {
	var (
		unknown    x509.UnknownAuthorityError
		invalid    x509.CertificateInvalidError
		hostname   x509.HostnameError
		verify     *tls.CertificateVerificationError
		recordHead tls.RecordHeaderError
	)
	var protocol textproto.ProtocolError
	return errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &recordHead) || errors.As(err, &protocol) ||
		strings.Contains(err.Error(), "malformed HTTP") || // net/http's errors for a response that is not HTTP have no type
		errors.Is(err, http.ErrSchemeMismatch) // TLS spoken to an HTTP server: net/http replaces the RecordHeaderError
}

// stallBody pushes the stall timer back whenever bytes arrive.
type stallBody struct {
	io.ReadCloser
	timer *time.Timer
	d     time.Duration
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.d)
	}
	return n, err
}

// status turns an unexpected status into an error: transient for 408, 429
// and 5xx, a *StatusError otherwise. The body is not read.
func (c *conn) status(resp *http.Response) error {
	err := &StatusError{URL: c.display, StatusCode: resp.StatusCode, Status: resp.Status}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return &transient{err: err, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return err
}

func statusSentinel(code int) error {
	switch code {
	case http.StatusNotFound, http.StatusGone:
		return fs.ErrNotExist
	case http.StatusUnauthorized, http.StatusForbidden:
		return fs.ErrPermission
	}
	return nil
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(min(s, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// checkEncoding refuses a response whose body is encoded: its bytes are
// not the file's.
func checkEncoding(resp *http.Response) error {
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return fmt.Errorf("%w: the response has Content-Encoding %q; asked for identity", ErrInvalidResponse, ce)
	}
	return nil
}

// first handles the response to a ReaderAt's first request, for bytes
// [0, PrefixSize): it learns the size and validators, and keeps the bytes.
func (r *ReaderAt) first(resp *http.Response) error {
	c := r.c
	if err := checkEncoding(resp); err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, last, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || size < 0 || first != 0 || last != min(c.o.PrefixSize, size)-1 {
			return fmt.Errorf("%w: Content-Range %q does not answer a request for bytes 0-%d of a file of known size",
				ErrInvalidResponse, resp.Header.Get("Content-Range"), c.o.PrefixSize-1)
		}
		buf := make([]byte, last+1) // at most PrefixSize
		if err := readBody(resp, buf); err != nil {
			return err
		}
		r.size, r.prefix = size, buf
	case http.StatusOK:
		// The whole file: accepted if it is no larger than what was asked
		// for, refused unread otherwise.
		p := c.o.PrefixSize
		if resp.ContentLength > p {
			return fmt.Errorf("%w: asked for bytes 0-%d, the server sent the whole file of %d bytes", ErrRangeNotSupported, p-1, resp.ContentLength)
		}
		buf, err := io.ReadAll(io.LimitReader(resp.Body, p+1))
		switch {
		case int64(len(buf)) > p:
			return fmt.Errorf("%w: asked for bytes 0-%d, the server sent the whole file, of more bytes", ErrRangeNotSupported, p-1)
		case err != nil:
			return &transient{err: fmt.Errorf("reading the response: %w", err)}
		case resp.ContentLength >= 0 && int64(len(buf)) != resp.ContentLength:
			return &transient{err: fmt.Errorf("the response ended after %d of %d bytes", len(buf), resp.ContentLength)}
		}
		r.size, r.prefix = int64(len(buf)), buf
	case http.StatusRequestedRangeNotSatisfiable:
		// An empty file has no byte 0.
		first, _, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || first != -1 || size != 0 {
			return fmt.Errorf("%w: status %s with Content-Range %q for bytes 0-%d", ErrInvalidResponse, resp.Status, resp.Header.Get("Content-Range"), c.o.PrefixSize-1)
		}
		r.size, r.prefix = 0, nil
	default:
		return c.status(resp)
	}
	c.etag = resp.Header.Get("ETag")
	c.lastModified = resp.Header.Get("Last-Modified")
	switch {
	case c.etag != "" && !isWeak(c.etag):
		c.ifRange = c.etag
	case c.etag == "" && c.lastModified != "":
		c.ifRange = c.lastModified
	}
	return nil
}

// isWeak reports a weak entity tag, which If-Range may not carry.
func isWeak(etag string) bool { return len(etag) >= 2 && etag[:2] == "W/" }

// readBody fills buf with the whole body, which must be exactly that long.
// A body cut short is transient.
func readBody(resp *http.Response, buf []byte) error {
	if resp.ContentLength >= 0 && resp.ContentLength != int64(len(buf)) {
		return fmt.Errorf("%w: Content-Length %d for a range of %d bytes", ErrInvalidResponse, resp.ContentLength, len(buf))
	}
	if n, err := io.ReadFull(resp.Body, buf); err != nil {
		return &transient{err: fmt.Errorf("the response ended after %d of %d bytes: %w", n, len(buf), err)}
	}
	return checkNoMore(resp)
}

// checkNoMore refuses a body longer than its range, when no Content-Length
// said how long it was.
func checkNoMore(resp *http.Response) error {
	if resp.ContentLength >= 0 {
		return nil // the client enforces it
	}
	var b [1]byte
	if n, _ := io.ReadFull(resp.Body, b[:]); n > 0 {
		return fmt.Errorf("%w: the response body is longer than the range", ErrInvalidResponse)
	}
	return nil
}

// sameFile compares a response's validators with the first response's:
// each must be there if and only if it was there first, and be the same.
// A response that drops a validator the first one had proves nothing about
// the file, so it is refused as a change.
func (c *conn) sameFile(resp *http.Response) error {
	if err := sameValidator("ETag", c.etag, resp.Header.Get("ETag")); err != nil {
		return err
	}
	return sameValidator("Last-Modified", c.lastModified, resp.Header.Get("Last-Modified"))
}

func sameValidator(name, first, now string) error {
	switch {
	case first == now:
		return nil
	case now == "":
		return fmt.Errorf("%w: the first response had %s %s, this one has none", ErrChanged, name, first)
	case first == "":
		return fmt.Errorf("%w: the first response had no %s, this one has %s", ErrChanged, name, now)
	}
	return fmt.Errorf("%w: its %s was %s, it is now %s", ErrChanged, name, first, now)
}

// ranged handles the response to a request for len(dst) bytes at off,
// filling dst (or a first part of it, when the body is cut short: then
// the error is transient and n says how much). The body is read only once
// the headers prove it is the range asked for, of the same file.
func (r *ReaderAt) ranged(resp *http.Response, dst []byte, off int64) (n int, err error) {
	c := r.c
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusOK:
		return 0, r.whole(resp)
	case http.StatusPreconditionFailed:
		return 0, fmt.Errorf("%w: status %s", ErrChanged, resp.Status)
	case http.StatusRequestedRangeNotSatisfiable:
		if _, _, size, ok := parseContentRange(resp.Header.Get("Content-Range")); ok && size != r.size {
			return 0, fmt.Errorf("%w: its size was %d bytes, it is now %d", ErrChanged, r.size, size)
		}
		return 0, fmt.Errorf("%w: status %s for a range inside the file", ErrInvalidResponse, resp.Status)
	default:
		return 0, c.status(resp)
	}
	if err := c.sameFile(resp); err != nil {
		return 0, err
	}
	if err := checkEncoding(resp); err != nil {
		return 0, err
	}
	cr := resp.Header.Get("Content-Range")
	first, last, size, ok := parseContentRange(cr)
	if ok && size >= 0 && size != r.size {
		return 0, fmt.Errorf("%w: its size was %d bytes, it is now %d", ErrChanged, r.size, size)
	}
	if want := off + int64(len(dst)) - 1; !ok || first != off || last != want || size < 0 {
		return 0, fmt.Errorf("%w: Content-Range %q for a request of bytes %d-%d", ErrInvalidResponse, cr, off, want)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != int64(len(dst)) {
		return 0, fmt.Errorf("%w: Content-Length %d for a range of %d bytes", ErrInvalidResponse, resp.ContentLength, len(dst))
	}
	n, err = io.ReadFull(resp.Body, dst)
	if err != nil {
		return n, &transient{err: fmt.Errorf("the response ended after %d of %d bytes: %w", n, len(dst), err)}
	}
	return n, checkNoMore(resp)
}

// whole explains a 200 answer to a range request, without reading its
// body: the file changed if its validators or size differ, or if the
// request carried If-Range (the server found the validator stale);
// otherwise the server ignores ranges.
func (r *ReaderAt) whole(resp *http.Response) error {
	c := r.c
	if err := c.sameFile(resp); err != nil {
		return err
	}
	if resp.ContentLength >= 0 && resp.ContentLength != r.size {
		return fmt.Errorf("%w: its size was %d bytes, the server now sends %d", ErrChanged, r.size, resp.ContentLength)
	}
	if c.ifRange != "" {
		return fmt.Errorf("%w: the server answered a range request conditional on %s with the whole file", ErrChanged, c.ifRange)
	}
	return fmt.Errorf("%w: the server answered a range request with the whole file", ErrRangeNotSupported)
}

// transient marks an error worth retrying, with the wait the server asked
// for, if any.
type transient struct {
	err        error
	retryAfter time.Duration
}

func (e *transient) Error() string { return e.err.Error() }
func (e *transient) Unwrap() error { return e.err }
