package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azblobblob "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/internal/fetch"
	"github.com/safetensors-go/safetensors/remote"
	gblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"
)

// ReaderAt is an [io.ReaderAt] over an object of a bucket, reading with
// range reads. Make one with [NewReaderAt]; pass it to
// [safetensors.NewReader] with its [ReaderAt.Size], or let
// [OpenBucketFile] do it.
//
// It keeps the first bytes of the object (what its first read fetched) and
// serves reads from them; every other read is fetched, and nothing else is
// cached. Its methods are safe for concurrent use. It holds no resource
// that needs closing (the bucket is the caller's).
type ReaderAt struct {
	ctx      context.Context
	b        *gblob.Bucket
	key      string
	o        Options
	requests atomic.Int64

	size   int64
	prefix []byte
	// The object's identity as the first read saw it.
	modTime time.Time
	etag    string // ETag (S3, Azure) or generation (GCS); "" if the driver gives none
}

var _ io.ReaderAt = (*ReaderAt)(nil)

// NewReaderAt makes a ReaderAt over the object key of bucket b, with one
// range read of the first [Options.PrefixSize] bytes (retried if it fails
// transiently), which also gives the object's size and identity.
//
// ctx governs that read and every later one: pass a context that lives as
// long as the ReaderAt is used.
func NewReaderAt(ctx context.Context, b *gblob.Bucket, key string, opts *Options) (*ReaderAt, error) {
	r := &ReaderAt{ctx: ctx, b: b, key: key, o: opts.withDefaults()}
	err := retry(ctx, r.o, fmt.Sprintf("read %s (bytes 0-%d)", key, r.o.PrefixSize-1), func(ctx context.Context, watch func(io.Reader) io.Reader) error {
		r.requests.Add(1)
		rd, err := b.NewRangeReader(ctx, key, 0, r.o.PrefixSize, nil)
		if err != nil {
			return classify(err)
		}
		defer rd.Close()
		size := rd.Size()
		if size < 0 {
			return fmt.Errorf("%w: the store reports a size of %d bytes", remote.ErrInvalidResponse, size)
		}
		// At most PrefixSize, whatever the size the store reports.
		buf := make([]byte, min(size, r.o.PrefixSize))
		if n, err := io.ReadFull(watch(rd), buf); err != nil {
			return &transient{err: fmt.Errorf("the read ended after %d of %d bytes: %w", n, len(buf), err)}
		}
		r.size, r.prefix = size, buf
		r.modTime, r.etag = rd.ModTime(), identity(rd)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Size returns the size of the object in bytes, as the store reported it.
func (r *ReaderAt) Size() int64 { return r.size }

// Key returns the key of the object the ReaderAt reads.
func (r *ReaderAt) Key() string { return r.key }

// Requests returns how many range reads the ReaderAt has started so far,
// retries included.
func (r *ReaderAt) Requests() int64 { return r.requests.Load() }

// ReadHints tells [safetensors.NewReader] how to plan reads of slices:
// runs up to [Options.MergeGap] (1 MiB by default) apart are read together,
// each range read is at most [Options.ChunkSize] bytes, and
// [Options.Parallelism] are in flight at once. A range read of an object
// store costs a round trip, as an HTTP request does.
func (r *ReaderAt) ReadHints() safetensors.ReadHints {
	return safetensors.ReadHints{MergeGap: r.o.MergeGap, MaxRead: r.o.ChunkSize, Concurrency: r.o.Parallelism}
}

// ReadAt reads len(p) bytes at offset off, as [io.ReaderAt] says: it
// returns io.EOF with fewer bytes when the object ends first. Bytes in the
// kept prefix are copied from it; the rest is read in chunks of at most
// [Options.ChunkSize] bytes, up to [Options.Parallelism] at a time, each
// with its own retries. On error, p's content is unspecified.
func (r *ReaderAt) ReadAt(p []byte, off int64) (int, error) {
	return r.ReadAtContext(r.ctx, p, off)
}

// ReadAtContext is [ReaderAt.ReadAt] governed by ctx as well as by the
// context the ReaderAt was made with: canceling either abandons the read.
// [safetensors.Model.ReadAll] uses it to stop reads in flight.
func (r *ReaderAt) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("blob: ReadAt at negative offset %d", off)
	}
	return fetch.ReadAt(ctx, r.ctx, p, off, r.size, r.prefix, r.fetch)
}

// fetch fills dst with the bytes at off, in parallel chunks.
func (r *ReaderAt) fetch(ctx context.Context, dst []byte, off int64) error {
	return fetch.Chunks(ctx, dst, off, r.o.ChunkSize, r.o.Parallelism, r.fetchRange)
}

// fetchRange fills dst with the bytes at off with one range read, and more
// if it fails transiently, each asking for the bytes still missing.
func (r *ReaderAt) fetchRange(ctx context.Context, dst []byte, off int64) error {
	what := fmt.Sprintf("read %s (bytes %d-%d)", r.key, off, off+int64(len(dst))-1)
	return retry(ctx, r.o, what, func(ctx context.Context, watch func(io.Reader) io.Reader) error {
		r.requests.Add(1)
		rd, err := r.b.NewRangeReader(ctx, r.key, off, int64(len(dst)), nil)
		if err != nil {
			return classify(err)
		}
		defer rd.Close()
		if err := r.same(rd); err != nil {
			return err
		}
		n, err := io.ReadFull(watch(rd), dst)
		dst, off = dst[n:], off+int64(n)
		if err != nil {
			return &transient{err: fmt.Errorf("the read ended %d bytes short: %w", len(dst), err)}
		}
		return nil
	})
}

// same checks that a reader reads the object the first read saw.
func (r *ReaderAt) same(rd *gblob.Reader) error {
	if s := rd.Size(); s != r.size {
		return fmt.Errorf("%w: its size was %d bytes, it is now %d", remote.ErrChanged, r.size, s)
	}
	if e := identity(rd); r.etag != "" && e != "" && e != r.etag {
		return fmt.Errorf("%w: its ETag was %s, it is now %s", remote.ErrChanged, r.etag, e)
	}
	if m := rd.ModTime(); !r.modTime.IsZero() && !m.IsZero() && !m.Equal(r.modTime) {
		return fmt.Errorf("%w: it was last modified %v, now %v", remote.ErrChanged, r.modTime, m)
	}
	return nil
}

// identity returns what identifies a version of the object, where the
// driver gives it: the ETag of S3 and Azure, the generation of GCS.
func identity(rd *gblob.Reader) string {
	var s3out s3.GetObjectOutput
	if rd.As(&s3out) && s3out.ETag != nil {
		return *s3out.ETag
	}
	var gcs *storage.Reader
	if rd.As(&gcs) && gcs != nil && gcs.Attrs.Generation != 0 {
		return "generation " + strconv.FormatInt(gcs.Attrs.Generation, 10)
	}
	var az azblobblob.DownloadStreamResponse
	if rd.As(&az) && az.ETag != nil {
		return string(*az.ETag)
	}
	return ""
}

// transient marks an error worth retrying.
type transient struct{ err error }

func (e *transient) Error() string { return e.err.Error() }
func (e *transient) Unwrap() error { return e.err }

// codeError is a store's error with the sentinel of its kind:
// fs.ErrNotExist or fs.ErrPermission.
type codeError struct {
	err, kind error
}

func (e *codeError) Error() string   { return e.err.Error() }
func (e *codeError) Unwrap() []error { return []error{e.kind, e.err} }

// classify sorts an error of the bucket: missing and refused objects wrap
// fs.ErrNotExist and fs.ErrPermission, failures of the network or of the
// service are transient, the rest (bad arguments, unsupported operations,
// client errors) final.
func classify(err error) error {
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return &codeError{err: err, kind: fs.ErrNotExist}
	case gcerrors.PermissionDenied:
		return &codeError{err: err, kind: fs.ErrPermission}
	case gcerrors.FailedPrecondition:
		return fmt.Errorf("%w: %w", remote.ErrChanged, err)
	case gcerrors.Internal, gcerrors.ResourceExhausted, gcerrors.DeadlineExceeded:
		return &transient{err: err}
	case gcerrors.Unknown:
		switch s := httpStatus(err); {
		case s == http.StatusNotFound:
			return &codeError{err: err, kind: fs.ErrNotExist}
		case s == http.StatusUnauthorized || s == http.StatusForbidden:
			return &codeError{err: err, kind: fs.ErrPermission}
		case s == http.StatusPreconditionFailed:
			return fmt.Errorf("%w: %w", remote.ErrChanged, err)
		case s == 0, s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
			return &transient{err: err} // no answer at all, or a failure of the service
		}
	}
	return err
}

// httpStatus digs the HTTP status out of a cloud SDK's error, or 0.
func httpStatus(err error) int {
	var aws interface{ HTTPStatusCode() int }
	if errors.As(err, &aws) {
		return aws.HTTPStatusCode()
	}
	var g *googleapi.Error
	if errors.As(err, &g) {
		return g.Code
	}
	var az *azcore.ResponseError
	if errors.As(err, &az) {
		return az.StatusCode
	}
	return 0
}

// retry calls attempt until it succeeds, fails for good, or the retries
// run out, waiting between attempts with exponential backoff and jitter.
// Each attempt is abandoned, and retried, when it stalls: when its
// context has been live for StallTimeout with no bytes arriving through
// the readers that watch wraps.
func retry(ctx context.Context, o Options, what string, attempt func(context.Context, func(io.Reader) io.Reader) error) error {
	wait := o.Backoff
	for n := 0; ; n++ {
		err := once(ctx, o, attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("blob: %s: %w", what, context.Cause(ctx))
		}
		var t *transient
		if !errors.As(err, &t) {
			return fmt.Errorf("blob: %s: %w", what, err)
		}
		if n >= o.Retries {
			return fmt.Errorf("blob: %s: giving up after %d attempts: %w", what, n+1, t.err)
		}
		d := wait/2 + rand.N(wait/2+1)
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("blob: %s: %w (while waiting to retry after: %v)", what, context.Cause(ctx), t.err)
		case <-timer.C:
		}
		wait = min(2*wait, o.MaxBackoff)
	}
}

// once runs one attempt under the stall timeout.
func once(ctx context.Context, o Options, attempt func(context.Context, func(io.Reader) io.Reader) error) error {
	if o.StallTimeout <= 0 {
		return attempt(ctx, func(r io.Reader) io.Reader { return r })
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	timer := time.AfterFunc(o.StallTimeout, func() { stalled.Store(true); cancel() })
	defer timer.Stop()
	watch := func(r io.Reader) io.Reader { return &stallReader{r: r, timer: timer, d: o.StallTimeout} }
	err := attempt(actx, watch)
	if err != nil && stalled.Load() && ctx.Err() == nil {
		return &transient{err: fmt.Errorf("no data for %v: %w", o.StallTimeout, err)}
	}
	return err
}

// stallReader pushes the stall timer back whenever bytes arrive.
type stallReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 {
		s.timer.Reset(s.d)
	}
	return n, err
}
