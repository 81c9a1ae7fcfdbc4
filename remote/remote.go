// Package remote reads safetensors files over HTTP(S) with range requests,
// so that opening a model costs its header and reading a tensor costs that
// tensor's bytes, however large the file.
//
// [Open] returns a [safetensors.File] over a URL, [OpenModel] a
// [safetensors.Model] over the URL of a single file or of a sharded model's
// index (model.safetensors.index.json), whose shards are resolved relative
// to it and opened on first use. Both work on top of [ReaderAt], an
// [io.ReaderAt] over a URL.
//
// # Requests
//
// Opening a file costs one request when its header fits in the first
// [DefaultPrefixSize] bytes (the first request asks for those bytes, as
// huggingface_hub does, and keeps them), and two otherwise: the second one
// asks for the rest of the header only. Each tensor then costs the requests
// for its own bytes, nothing more (none if it lies in the kept prefix); a
// slice costs the requests for the byte ranges it covers, where runs closer
// than [Options.MergeGap] share a request (a column block of a matrix then
// costs a request per [Options.ChunkSize] of its rows' span, not one per
// row). Reads larger than [Options.ChunkSize] are split into chunks fetched
// in parallel.
//
// # Failures
//
// No data is ever silently wrong: every response must be a 206 Partial
// Content whose Content-Range is exactly the range asked for, of a file of
// the size first seen, without a Content-Encoding, with exactly the ETag
// and Last-Modified first seen: a response that drops one, or carries one
// the first did not, counts as a change. (The validators are also sent as
// If-Range, so that a server answers a changed file with the whole new
// file, which is refused unread.) A file that changed gives an error
// wrapping [ErrChanged]; a server that ignores ranges,
// [ErrRangeNotSupported] (the body is not downloaded); any other deviation,
// [ErrInvalidResponse]. A server without validators that changes a file
// in place without changing its size cannot be detected.
//
// Sizes a server states are claims: memory is allocated as bytes arrive
// (see [safetensors.ReadStep]), never by a Content-Range or a header alone.
//
// Redirects are followed by this package, up to 10 per request; the
// caller's [Options.Header] goes only to the origin it was given for. A
// redirect that cannot be followed (a Location that is missing, does not
// parse or is not http or https, or a loop) fails at once, wrapping
// [ErrInvalidResponse].
//
// Transient failures are retried with exponential backoff and jitter, up to
// [Options.Retries] times per request (so each request is bounded in
// attempts, and each wait by [Options.MaxBackoff]): network errors,
// connection resets, bodies cut short (the retry asks only for the missing
// bytes), responses that stall for [Options.StallTimeout], and statuses
// 408, 429 and 5xx (honouring Retry-After, up to [Options.MaxBackoff]).
// Everything else fails at once: other statuses with a [*StatusError] (404
// and 410 wrap [fs.ErrNotExist], 401 and 403 wrap [fs.ErrPermission]), and
// responses that are not HTTP, bad certificates and bad redirects with
// their error.
//
// Error messages show URLs without their query string, which may hold
// credentials (signed URLs).
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/internal/fetch"
)

// Errors of the remote package, besides [*StatusError], context errors and
// those of the safetensors package.
var (
	// ErrChanged: the file changed on the server between two requests (a
	// different ETag, Last-Modified or size, or a server that answered a
	// conditional If-Range request with the whole new file).
	ErrChanged = errors.New("remote: the file changed on the server")
	// ErrRangeNotSupported: the server answered a range request with the
	// whole file (status 200), which is refused rather than downloaded,
	// unless the whole file is no larger than the prefix that was asked for.
	ErrRangeNotSupported = errors.New("remote: the server does not support range requests")
	// ErrInvalidResponse: a response that does not answer the request: a
	// Content-Range other than the range asked for, a body longer or
	// shorter than announced, a Content-Encoding, a missing size.
	ErrInvalidResponse = errors.New("remote: invalid response")
)

// Defaults of [Options].
const (
	DefaultPrefixSize   = 100_000
	DefaultChunkSize    = 8 << 20
	DefaultParallelism  = 4
	DefaultRetries      = 5
	DefaultBackoff      = 250 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
	DefaultStallTimeout = 60 * time.Second
	// DefaultMergeGap is the default [Options.MergeGap]: 1 MiB, what a
	// connection of 50 MB/s delivers in the 20 ms of a round trip, so that
	// reading the bytes between two runs costs no more than a second
	// request would.
	DefaultMergeGap = 1 << 20
)

// Options adjusts how files are fetched. A nil *Options, and every zero
// field, means the defaults.
type Options struct {
	// Client makes the requests. Nil means a client of this package whose
	// transport is http.DefaultTransport's, keeping up to 16 idle
	// connections per host (http.DefaultClient keeps 2, which parallel
	// reads would churn). A Client's Timeout bounds each request, body
	// included: mind it with large ChunkSize values.
	Client *http.Client
	// Header is added to every request to the origin (scheme, host and
	// port) of the URL it is given with: for example Authorization:
	// Bearer <token> for the Hugging Face Hub. Redirects are followed by
	// this package, not by the Client, and a redirect to another origin
	// (the Hub's CDN, whose URLs are signed) gets none of Header; the
	// Client's CheckRedirect is not used.
	Header http.Header
	// PrefixSize is how many bytes the first request asks for, and keeps:
	// DefaultPrefixSize (100,000, as huggingface_hub), which holds the
	// header of almost every file.
	PrefixSize int64
	// ChunkSize is the largest range one request asks for; larger reads
	// are split into chunks fetched in parallel. Default DefaultChunkSize
	// (8 MiB).
	ChunkSize int64
	// Parallelism is how many requests one read may have in flight.
	// Default DefaultParallelism (4).
	Parallelism int
	// MergeGap is how far apart, in bytes, two runs of a tensor slice may
	// be and still be fetched with one request, the bytes between them
	// dropped: a request costs a round trip, in which the server could
	// have sent that many bytes. A column block of a matrix whose rows are
	// closer than MergeGap then costs a request per ChunkSize of its rows'
	// span, instead of a request per row. Zero means DefaultMergeGap
	// (1 MiB); a negative value merges nothing. The [ReaderAt] tells
	// [safetensors.NewReader] through [ReaderAt.ReadHints].
	MergeGap int64
	// Retries is how many times a request that failed transiently is
	// tried again. Zero means DefaultRetries (5); a negative value, none.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to MaxBackoff, with jitter (each wait is between half and all
	// of it). Defaults DefaultBackoff (250 ms) and DefaultMaxBackoff (10 s).
	Backoff, MaxBackoff time.Duration
	// StallTimeout abandons, and retries, a request whose response headers
	// or body bytes do not arrive for that long. Zero means
	// DefaultStallTimeout (60 s); a negative value, no limit.
	StallTimeout time.Duration
	// MaxHeaderSize is the largest header accepted, as in
	// [safetensors.Options]; it also limits the size of an index. Zero
	// means safetensors.DefaultMaxHeaderSize; a negative value, no limit
	// but the file's claimed size, with memory still allocated only as
	// bytes arrive.
	MaxHeaderSize int64
}

var defaultClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 16
	return t
}()}

// withDefaults returns a copy of o with every zero field set.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Client == nil {
		c.Client = defaultClient
	}
	if c.PrefixSize <= 0 {
		c.PrefixSize = DefaultPrefixSize
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.Parallelism <= 0 {
		c.Parallelism = DefaultParallelism
	}
	if c.MergeGap == 0 {
		c.MergeGap = DefaultMergeGap
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = c.Backoff
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	return c
}

// ReaderAt is an [io.ReaderAt] over a file on an HTTP(S) server, reading
// with range requests. Make one with [NewReaderAt]; pass it to
// [safetensors.NewReader] with its [ReaderAt.Size], or let [Open] do it.
//
// It keeps the first bytes of the file (the prefix that its first request
// fetched) and serves reads from them; every other read is fetched, and
// nothing else is cached. Its methods are safe for concurrent use. It holds
// no resource that needs closing.
type ReaderAt struct {
	ctx context.Context
	c   *conn

	size         int64
	prefix       []byte // bytes [0, len(prefix)) of the file
	etag         string // as the first response gave it; "" if none
	lastModified string // likewise
}

var _ io.ReaderAt = (*ReaderAt)(nil)

// NewReaderAt makes a ReaderAt over the file at rawURL, with one request
// for the first [Options.PrefixSize] bytes (retried if it fails
// transiently), which also gives the file's size and validators.
//
// ctx governs that request and every later one: cancel it to abort reads
// in progress and fail later ones; pass a context that lives as long as
// the ReaderAt is used.
func NewReaderAt(ctx context.Context, rawURL string, opts *Options) (*ReaderAt, error) {
	c, err := newConn(rawURL, opts)
	if err != nil {
		return nil, err
	}
	r := &ReaderAt{ctx: ctx, c: c}
	rng := fmt.Sprintf("bytes=0-%d", c.o.PrefixSize-1)
	if err := c.retry(ctx, func() string { return rng }, r.first); err != nil {
		return nil, err
	}
	return r, nil
}

// Size returns the size of the file in bytes, as the server reported it.
func (r *ReaderAt) Size() int64 { return r.size }

// URL returns the URL the ReaderAt reads.
func (r *ReaderAt) URL() string { return r.c.url }

// Requests returns how many HTTP requests the ReaderAt has sent so far,
// retries included.
func (r *ReaderAt) Requests() int64 { return r.c.requests.Load() }

// ReadHints tells [safetensors.NewReader] how to plan reads of slices:
// runs up to [Options.MergeGap] apart are fetched together, requests are
// at most [Options.ChunkSize] bytes, and [Options.Parallelism] are in
// flight at once.
func (r *ReaderAt) ReadHints() safetensors.ReadHints {
	return safetensors.ReadHints{MergeGap: r.c.o.MergeGap, MaxRead: r.c.o.ChunkSize, Concurrency: r.c.o.Parallelism}
}

// ReadAt reads len(p) bytes at offset off, as [io.ReaderAt] says: it
// returns io.EOF with fewer bytes when the file ends first. Bytes in the
// kept prefix are copied from it; the rest is fetched in chunks of at most
// [Options.ChunkSize] bytes, up to [Options.Parallelism] at a time, each
// with its own retries. On error, p's content is unspecified.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	return r.ReadAtContext(r.ctx, p, off)
}

// ReadAtContext is [ReaderAt.ReadAt] governed by ctx as well as by the
// context the ReaderAt was made with: canceling either abandons the read.
// [safetensors.Model.ReadAll] and [safetensors.Model.ReadSlices] use it
// to stop the requests in flight when their own context is canceled.
func (r *ReaderAt) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("remote: ReadAt at negative offset %d", off)
	}
	return fetch.ReadAt(ctx, r.ctx, p, off, r.size, r.prefix, r.fetch)
}

// fetch fills dst with the bytes at off, in parallel chunks.
func (r *ReaderAt) fetch(ctx context.Context, dst []byte, off int64) error {
	return fetch.Chunks(ctx, dst, off, r.c.o.ChunkSize, r.c.o.Parallelism, r.fetchRange)
}

// fetchRange fills dst with the bytes at off with one request, and more if
// it fails transiently, each asking for the bytes still missing.
func (r *ReaderAt) fetchRange(ctx context.Context, dst []byte, off int64) error {
	rangeOf := func() string { return fmt.Sprintf("bytes=%d-%d", off, off+int64(len(dst))-1) }
	return r.c.retry(ctx, rangeOf, func(resp *http.Response) error {
		n, err := r.ranged(resp, dst, off)
		dst, off = dst[n:], off+int64(n)
		return err
	})
}

// StatusError is an HTTP response whose status is neither the one expected
// nor a transient failure that retries overcame. It unwraps to
// [fs.ErrNotExist] for 404 Not Found and 410 Gone, and to [fs.ErrPermission]
// for 401 Unauthorized and 403 Forbidden, so that errors.Is works as for
// local files.
type StatusError struct {
	URL        string // without its query string
	StatusCode int
	Status     string // "404 Not Found"
}

func (e *StatusError) Error() string {
	s := "remote: the server answered " + e.Status
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		s += " (authentication needed or refused: set an Authorization header in Options.Header, such as a Hugging Face token)"
	}
	return s
}

// Unwrap returns fs.ErrNotExist, fs.ErrPermission or nil, as [StatusError]
// says.
func (e *StatusError) Unwrap() error { return statusSentinel(e.StatusCode) }

// parseContentRange parses "bytes FIRST-LAST/SIZE" (SIZE may be "*", given
// as -1) or "bytes */SIZE" (first and last given as -1).
func parseContentRange(s string) (first, last, size int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, total, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	size = -1
	if total != "*" {
		if size, ok = parseNum(total); !ok {
			return 0, 0, 0, false
		}
	}
	if rng == "*" {
		return -1, -1, size, size >= 0
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	if first, ok = parseNum(a); !ok {
		return 0, 0, 0, false
	}
	if last, ok = parseNum(b); !ok || last < first || (size >= 0 && last >= size) {
		return 0, 0, 0, false
	}
	return first, last, size, true
}

// parseNum parses a non-negative decimal number, digits only.
func parseNum(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
