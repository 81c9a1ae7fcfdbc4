package blob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/safetensors-go/safetensors"
	gblob "gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/safetensors-go/safetensors/internal/redact"
)

// Defaults of [WriteOptions].
const (
	// DefaultPartSize is the size of each part of an upload: 8 MiB, the
	// AWS SDK's transfer manager's own default and the size S3 recommends.
	DefaultPartSize = 8 << 20
	// DefaultUploadConcurrency is how many parts of one object are
	// uploaded at once: 4. An upload to S3 holds about PartSize ×
	// (concurrency + 1) bytes of memory, plus the AWS transfer manager's
	// first read of up to 16 MiB (its threshold for multipart uploads).
	DefaultUploadConcurrency = 4
)

// WriteOptions adjusts how objects are written. A nil *WriteOptions, and
// every zero field, means the defaults.
type WriteOptions struct {
	// PartSize is the size of each part of a multipart upload (S3, GCS's
	// chunks, Azure's blocks); an object smaller than it is uploaded with
	// one request. S3 refuses parts under 5 MiB but the last. Default
	// DefaultPartSize.
	PartSize int
	// Concurrency is how many parts of one object are uploaded at once.
	// Default DefaultUploadConcurrency.
	Concurrency int
	// ContentType of the objects written: "application/octet-stream" for
	// safetensors files, "application/json" for an index when empty.
	ContentType string
}

func (o *WriteOptions) withDefaults() WriteOptions {
	var c WriteOptions
	if o != nil {
		c = *o
	}
	if c.PartSize <= 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultUploadConcurrency
	}
	return c
}

// Writer writes one object. Nothing is visible under its key until
// [Writer.Close] (or Commit) succeeds; [Writer.Abort], a failed upload, or
// the context canceled, leaves nothing behind: the parts already uploaded
// are deleted (S3's AbortMultipartUpload). It implements
// safetensors.PendingFile.
type Writer struct {
	key    string
	closed bool
	err    error

	// S3: the bytes go through a pipe to the bucket's Upload, so that an
	// abort is a failed read, which the transfer manager answers by
	// aborting the multipart upload with a live context. (Canceling its
	// context instead, gocloud's way, makes the transfer manager's abort
	// request fail with that same canceled context, which leaves the
	// parts behind.)
	pw    *io.PipeWriter
	done  chan struct{} // closed when the upload has ended, with upErr
	upErr error
	stop  func() bool // stops watching the caller's context
	ctx   context.Context

	// Other stores: gocloud's Writer, aborted by canceling its context.
	w *gblob.Writer

	cancel context.CancelFunc
}

// errAborted is the error the upload of an aborted Writer fails with.
var errAborted = errors.New("blob: upload aborted")

// abortGrace is how long an upload whose context was canceled is given to
// abort cleanly (the parts in flight end, the abort request is sent)
// before it is cut off.
const abortGrace = 30 * time.Second

// NewWriter begins the object at rawURL (s3://bucket/dir/model.safetensors?region=...),
// uploaded in parts as bytes are written: memory is bounded by the part
// size times the parts in flight, whatever the object's size. ctx governs
// the upload: canceling it aborts it.
//
// To save a map of tensors, see [Save]; to stream a file, give the Writer
// to safetensors.NewWriter.
func NewWriter(ctx context.Context, rawURL string, opts *WriteOptions) (*Writer, error) {
	b, key, err := bucketOf(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("blob: %s names a folder, not an object", redactString(rawURL))
	}
	return NewBucketWriter(ctx, b, key, opts)
}

// NewBucketWriter is [NewWriter] for the key of a bucket opened by the
// caller.
func NewBucketWriter(ctx context.Context, b *gblob.Bucket, key string, opts *WriteOptions) (*Writer, error) {
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
		if strings.HasSuffix(key, ".json") {
			ct = "application/json"
		}
	}
	wopts := &gblob.WriterOptions{BufferSize: o.PartSize, MaxConcurrency: o.Concurrency, ContentType: ct}
	var s3c *s3.Client
	if !b.As(&s3c) {
		wctx, cancel := context.WithCancel(ctx)
		w, err := b.NewWriter(wctx, key, wopts)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("blob: writing %s: %w", key, classify(err))
		}
		return &Writer{w: w, cancel: cancel, key: key}, nil
	}
	uctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	pr, pw := io.Pipe()
	w := &Writer{key: key, pw: pw, done: make(chan struct{}), cancel: cancel, ctx: ctx}
	go func() {
		defer close(w.done)
		w.upErr = b.Upload(uctx, key, pr, wopts)
		pr.CloseWithError(cmp.Or(w.upErr, io.ErrClosedPipe))
	}()
	w.stop = context.AfterFunc(ctx, func() {
		pw.CloseWithError(context.Cause(ctx))
		time.AfterFunc(abortGrace, cancel)
	})
	return w, nil
}

// Write uploads p, a part at a time.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("blob: writing %s: %w", w.key, fs.ErrClosed)
	}
	var n int
	var err error
	if w.pw != nil {
		n, err = w.pw.Write(p)
		if cause := context.Cause(w.ctx); err != nil && cause != nil {
			err = cause // the pipe was closed because the context ended
		}
	} else {
		n, err = w.w.Write(p)
	}
	if err != nil {
		err = fmt.Errorf("blob: writing %s: %w", w.key, classify(err))
	}
	return n, err
}

// Close completes the upload: the object becomes visible, whole. If it
// fails, nothing is visible, and the parts are deleted.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	w.closed = true
	defer w.cancel()
	var err error
	if w.pw != nil {
		if !w.stop() || context.Cause(w.ctx) != nil {
			// The caller's context ended: the upload is being aborted.
			w.pw.CloseWithError(context.Cause(w.ctx))
			<-w.done
			err = cmp.Or(context.Cause(w.ctx), w.upErr)
		} else {
			w.pw.Close()
			<-w.done
			err = w.upErr
		}
	} else {
		err = w.w.Close()
	}
	if err != nil {
		w.err = fmt.Errorf("blob: writing %s: %w", w.key, classify(err))
	}
	return w.err
}

// Commit is [Writer.Close].
func (w *Writer) Commit() error { return w.Close() }

// Abort abandons the upload: nothing becomes visible, and the parts
// uploaded so far are deleted. After Close it does nothing.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.err = fmt.Errorf("blob: writing %s: %w", w.key, errAborted)
	defer w.cancel()
	if w.pw != nil {
		w.stop()
		w.pw.CloseWithError(errAborted)
		<-w.done
		return
	}
	// Canceling the writer's context before Close is gocloud's way of
	// aborting an upload.
	w.cancel()
	w.w.Close()
}

var _ safetensors.PendingFile = (*Writer)(nil)

// Save writes tensors and metadata as one safetensors object at rawURL,
// with the bytes of [safetensors.Save], uploaded in parts: the object
// appears, whole, once the upload completes, and a failure leaves the
// object that was there before, if any.
func Save(ctx context.Context, rawURL string, tensors map[string]safetensors.Tensor, metadata map[string]string, opts *WriteOptions) error {
	w, err := NewWriter(ctx, rawURL, opts)
	if err != nil {
		return err
	}
	if err := safetensors.Save(w, tensors, metadata); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// SaveSharded writes tensors as a sharded checkpoint under the prefix
// rawURL (a "folder", ending in "/": s3://bucket/models/x/?region=...),
// as safetensors.SaveSharded does in a local folder: the same plan and
// files, then the index. The set appears whole or not at all, and a
// failure leaves the previous set under that prefix readable and intact:
// see safetensors.SaveShardedTo, which this calls with [NewDestination].
func SaveSharded(ctx context.Context, rawURL string, tensors map[string]safetensors.Tensor, opts safetensors.ShardOptions, wopts *WriteOptions) (*safetensors.ShardPlan, error) {
	dst, err := OpenDestination(ctx, rawURL, wopts)
	if err != nil {
		return nil, err
	}
	return safetensors.SaveShardedTo(ctx, dst, tensors, opts)
}

// OpenDestination returns the safetensors.Destination of the prefix at
// rawURL, which must end in "/" (the bucket's root is "s3://bucket/"), for
// safetensors.Copy and safetensors.SaveShardedTo.
func OpenDestination(ctx context.Context, rawURL string, opts *WriteOptions) (safetensors.Destination, error) {
	b, key, err := bucketOf(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		return nil, fmt.Errorf("blob: %s is not a folder: a destination's URL ends in \"/\"", redactString(rawURL))
	}
	return NewDestination(b, key, opts), nil
}

// NewDestination returns the safetensors.Destination of the keys under
// prefix ("models/x/", or "" for the bucket's root) in a bucket opened by
// the caller: file NAME is the object prefix+NAME. Its files are written
// by [Writer]s, so that each appears only when whole; copying one to
// another name is the store's own copy (no bytes pass through the
// program).
func NewDestination(b *gblob.Bucket, prefix string, opts *WriteOptions) safetensors.Destination {
	return &destination{b: b, prefix: prefix, opts: opts}
}

type destination struct {
	b      *gblob.Bucket
	prefix string
	opts   *WriteOptions
}

func (d *destination) key(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return "", fmt.Errorf("blob: %q is not a plain file name", name)
	}
	return d.prefix + name, nil
}

func (d *destination) Create(ctx context.Context, name string) (safetensors.PendingFile, error) {
	key, err := d.key(name)
	if err != nil {
		return nil, err
	}
	return NewBucketWriter(ctx, d.b, key, d.opts)
}

func (d *destination) ReadFile(ctx context.Context, name string, limit int64) ([]byte, error) {
	key, err := d.key(name)
	if err != nil {
		return nil, err
	}
	o := (&Options{MaxHeaderSize: limit}).withDefaults()
	return readIndex(ctx, d.b, key, o)
}

func (d *destination) List(ctx context.Context) ([]string, error) {
	it := d.b.List(&gblob.ListOptions{Prefix: d.prefix, Delimiter: "/"})
	var names []string
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("blob: listing %s: %w", d.prefix, classify(err))
		}
		if !obj.IsDir {
			names = append(names, strings.TrimPrefix(obj.Key, d.prefix))
		}
	}
}

func (d *destination) Copy(ctx context.Context, from, to string) error {
	kf, err := d.key(from)
	if err != nil {
		return err
	}
	kt, err := d.key(to)
	if err != nil {
		return err
	}
	if err := d.b.Copy(ctx, kt, kf, nil); err != nil {
		return fmt.Errorf("blob: copying %s to %s: %w", kf, kt, classify(err))
	}
	return nil
}

func (d *destination) Remove(ctx context.Context, name string) error {
	key, err := d.key(name)
	if err != nil {
		return err
	}
	if err := d.b.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("blob: deleting %s: %w", key, classify(err))
	}
	return nil
}

// redactString is redact for a URL given as a string.
func redactString(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "the URL"
	}
	return redact.URL(u)
}
