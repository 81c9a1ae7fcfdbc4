// Package blob reads safetensors files from object stores (Amazon S3 and
// the stores that speak its protocol, Google Cloud Storage, Azure Blob
// Storage) and from the other buckets of gocloud.dev/blob, with range
// reads: opening a model costs its headers, reading a tensor costs that
// tensor's bytes.
//
// [Open] returns a [safetensors.File] for a URL such as
// s3://bucket/path/model.safetensors?region=us-east-1, [OpenModel] a
// [safetensors.Model] for the URL of a file, of a sharded model's index or
// of a folder. The URL schemes are those of gocloud.dev/blob, whose drivers
// this package imports:
//
//   - s3://BUCKET/KEY (gocloud.dev/blob/s3blob): credentials, region and
//     profile come from the AWS SDK's usual sources (environment, shared
//     config and credentials files, the instance's role); query parameters
//     such as region, profile, endpoint and use_path_style=true (for
//     S3-compatible stores) configure the bucket;
//   - gs://BUCKET/KEY (gocloud.dev/blob/gcsblob): Application Default
//     Credentials;
//   - azblob://CONTAINER/KEY (gocloud.dev/blob/azureblob): the account from
//     AZURE_STORAGE_ACCOUNT, credentials from the Azure SDK's default chain
//     or a key or SAS token in the environment;
//   - file:///PATH (gocloud.dev/blob/fileblob) and mem:// (memblob, a new,
//     empty bucket per URL: for tests, use [OpenBucketFile] on a bucket
//     you filled).
//
// For a bucket configured in code, use [OpenBucketFile], [OpenBucketModel]
// and [NewReaderAt].
//
// # Reads
//
// Opening a file reads its first [Options.PrefixSize] bytes (100,000 by
// default) with one range read, which holds the header of almost every
// file, and reads the rest of the header with a second one when it does
// not. Each tensor is then read when asked for, with range reads of at
// most [Options.ChunkSize] bytes, up to [Options.Parallelism] at once.
// [safetensors.Model.ReadAll] reads a whole model with many range reads in
// flight.
//
// # Writes
//
// [NewWriter] uploads one object in parts ([WriteOptions.PartSize],
// [WriteOptions.Concurrency]): memory stays bounded by the part size times
// the parts in flight, whatever the object's size, and the object appears
// only when its upload completes; an aborted or failed upload leaves
// nothing, not even parts. [Save] writes a map of tensors as one object,
// [SaveSharded] a sharded set under a prefix, and [OpenDestination] gives
// a prefix to safetensors.Copy: a set appears whole or not at all, and a
// failed save leaves the previous set under the prefix intact (see
// safetensors.SaveShardedTo).
//
// # Failures
//
// No data is ever silently wrong: every range read must come from an
// object of the size, modification time and entity tag (ETag for S3 and
// Azure, generation for GCS) that the first read saw, or the read fails
// with an error wrapping [remote.ErrChanged]; a read that ends early is
// resumed from the missing byte. Transient failures (network errors,
// bodies cut short, 5xx, 408 and 429 answers, throttling) are retried with
// exponential backoff and jitter, up to [Options.Retries] times, on top of
// the retries of the cloud SDKs. A missing object gives an error wrapping
// [fs.ErrNotExist], a refused one [fs.ErrPermission]. Nothing is allocated
// by a size that the store reports before the bytes arrive, beyond the
// prefix and the safetensors package's header limit.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
	gblob "gocloud.dev/blob"

	// The drivers of the URL schemes Open and OpenModel accept.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/memblob"
	_ "gocloud.dev/blob/s3blob"

	"github.com/safetensors-go/safetensors/internal/redact"
)

// Defaults of [Options].
const (
	DefaultPrefixSize   = remote.DefaultPrefixSize
	DefaultChunkSize    = remote.DefaultChunkSize
	DefaultParallelism  = remote.DefaultParallelism
	DefaultRetries      = remote.DefaultRetries
	DefaultBackoff      = remote.DefaultBackoff
	DefaultMaxBackoff   = remote.DefaultMaxBackoff
	DefaultStallTimeout = remote.DefaultStallTimeout
)

// Options adjusts how objects are read. A nil *Options, and every zero
// field, means the defaults, which are those of the remote package.
type Options struct {
	// PrefixSize is how many bytes the first read of a file asks for, and
	// keeps. Default DefaultPrefixSize (100,000).
	PrefixSize int64
	// ChunkSize is the largest range one read asks for; larger reads are
	// split into chunks read in parallel. Default DefaultChunkSize (8 MiB).
	ChunkSize int64
	// Parallelism is how many range reads one ReadAt may have in flight.
	// Default DefaultParallelism (4).
	Parallelism int
	// MergeGap is how far apart, in bytes, two runs of a tensor slice may
	// be and still be read with one range read, the bytes between them
	// dropped: a range read costs a round trip, in which the store could
	// have sent that many bytes. Zero means remote.DefaultMergeGap (1 MiB);
	// a negative value merges nothing. Lower it where transfer is billed
	// by the byte and slices are sparse.
	MergeGap int64
	// Retries is how many times a read that failed transiently is tried
	// again. Zero means DefaultRetries (5); a negative value, none.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next one
	// up to MaxBackoff, with jitter. Defaults DefaultBackoff (250 ms) and
	// DefaultMaxBackoff (10 s).
	Backoff, MaxBackoff time.Duration
	// StallTimeout abandons, and retries, a read whose bytes do not arrive
	// for that long. Zero means DefaultStallTimeout (60 s); a negative
	// value, no limit.
	StallTimeout time.Duration
	// MaxHeaderSize is the largest header accepted, as in
	// [safetensors.Options]; it also limits the size of an index. Zero
	// means safetensors.DefaultMaxHeaderSize.
	MaxHeaderSize int64
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
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
		c.MergeGap = remote.DefaultMergeGap
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
	c.MaxBackoff = max(c.MaxBackoff, c.Backoff)
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MaxHeaderSize == 0 {
		c.MaxHeaderSize = safetensors.DefaultMaxHeaderSize
	}
	return c
}

// Supports reports whether rawURL has a scheme that [Open] and [OpenModel]
// open: s3, gs, azblob, file or mem, or any other that a gocloud.dev/blob
// driver imported by the program registered. A command that takes paths
// and URLs can send these to this package, and http(s) URLs to the remote
// package.
func Supports(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return false
	}
	return gblob.DefaultURLMux().ValidBucketScheme(u.Scheme)
}

// Open opens the safetensors file at rawURL, a gocloud.dev/blob URL with
// the object's key as its path (s3://bucket/dir/model.safetensors?region=eu-west-1),
// as the package documentation describes: it reads the header with one
// range read, or two for a header larger than the prefix, and validates
// it. Tensors are read when asked for.
//
// ctx governs every read of the File, now and later: cancel it to abort
// them. The bucket is opened once per bucket URL and kept for the life of
// the process, shared by every File of that bucket.
func Open(ctx context.Context, rawURL string, opts *Options) (*safetensors.File, error) {
	b, key, err := bucketOf(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return OpenBucketFile(ctx, b, key, opts)
}

// OpenModel opens the model at rawURL, as [Open] does a file, where rawURL
// is one of:
//
//   - the URL of an index, whose key ends in ".json" (a sharded model):
//     it reads the index and checks it, as [safetensors.NewModel] does;
//     the shards, named relative to the index's key, are opened on first
//     use;
//   - the URL of a folder, ending in "/": it tries folder/model.safetensors,
//     then folder/model.safetensors.index.json, as transformers does;
//   - the URL of a single .safetensors file (any other key), opened at once.
func OpenModel(ctx context.Context, rawURL string, opts *Options) (*safetensors.Model, error) {
	b, key, err := bucketOf(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	return OpenBucketModel(ctx, b, key, opts)
}

// OpenBucketFile is [Open] for the object key of a bucket opened by the
// caller, who closes the bucket once done with the File.
func OpenBucketFile(ctx context.Context, b *gblob.Bucket, key string, opts *Options) (*safetensors.File, error) {
	r, err := NewReaderAt(ctx, b, key, opts)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Options{MaxHeaderSize: r.o.MaxHeaderSize}.NewReader(r, r.Size())
	if err != nil {
		return nil, fmt.Errorf("blob: %s: %w", key, err)
	}
	return f, nil
}

// OpenBucketModel is [OpenModel] for a key (or a folder: a prefix ending
// in "/", or "" for the bucket's root) of a bucket opened by the caller,
// who closes the bucket once done with the Model.
func OpenBucketModel(ctx context.Context, b *gblob.Bucket, key string, opts *Options) (*safetensors.Model, error) {
	switch {
	case strings.HasSuffix(key, ".json"):
		return openIndex(ctx, b, key, opts)
	case key == "" || strings.HasSuffix(key, "/"):
		m, err := openFile(ctx, b, key+safetensors.SingleFileName, opts)
		if !errors.Is(err, fs.ErrNotExist) {
			return m, err
		}
		m, err2 := openIndex(ctx, b, key+safetensors.IndexName, opts)
		if errors.Is(err2, fs.ErrNotExist) {
			return nil, fmt.Errorf("blob: neither %s nor %s: %w", safetensors.SingleFileName, safetensors.IndexName, errors.Join(err, err2))
		}
		return m, err2
	}
	return openFile(ctx, b, key, opts)
}

func openFile(ctx context.Context, b *gblob.Bucket, key string, opts *Options) (*safetensors.Model, error) {
	f, err := OpenBucketFile(ctx, b, key, opts)
	if err != nil {
		return nil, err
	}
	return safetensors.NewFileModel(f, path.Base(key)), nil
}

func openIndex(ctx context.Context, b *gblob.Bucket, key string, opts *Options) (*safetensors.Model, error) {
	o := opts.withDefaults()
	index, err := readIndex(ctx, b, key, o)
	if err != nil {
		return nil, err
	}
	dir := path.Dir(key)
	m, err := safetensors.NewModel(index, func(name string) (*safetensors.File, error) {
		return OpenBucketFile(ctx, b, path.Join(dir, name), opts)
	})
	if err != nil {
		return nil, fmt.Errorf("blob: %s: %w", key, err)
	}
	return m, nil
}

// readIndex reads a whole (small) object, up to the MaxHeaderSize limit,
// with the package's retries: memory grows with the bytes that arrive,
// never by the size the store reports.
func readIndex(ctx context.Context, b *gblob.Bucket, key string, o Options) ([]byte, error) {
	limit := o.MaxHeaderSize
	var body []byte
	err := retry(ctx, o, "read "+key, func(ctx context.Context, watch func(io.Reader) io.Reader) error {
		rd, err := b.NewReader(ctx, key, nil)
		if err != nil {
			return classify(err)
		}
		defer rd.Close()
		r := watch(rd)
		if limit >= 0 {
			if rd.Size() > limit {
				return fmt.Errorf("%w: the index has %d bytes, more than the limit of %d", safetensors.ErrInvalidIndex, rd.Size(), limit)
			}
			r = io.LimitReader(r, limit+1)
		}
		buf, err := io.ReadAll(r)
		if err != nil {
			return &transient{err: fmt.Errorf("reading the index: %w", err)}
		}
		if limit >= 0 && int64(len(buf)) > limit {
			return fmt.Errorf("%w: the index is larger than the limit of %d bytes", safetensors.ErrInvalidIndex, limit)
		}
		body = buf
		return nil
	})
	return body, err
}

// buckets holds the buckets opened from URLs, by bucket URL.
var buckets struct {
	sync.Mutex
	m map[string]*gblob.Bucket
}

// bucketOf splits rawURL into a bucket URL and a key, and opens the
// bucket, or returns the one already open. For file:// URLs the bucket is
// the folder of the path; for the others it is the URL's host, with the
// query, and the key is the path.
func bucketOf(ctx context.Context, rawURL string) (*gblob.Bucket, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("blob: %w", err)
	}
	if u.Scheme == "" {
		return nil, "", fmt.Errorf("blob: %q is not a URL: want scheme://bucket/key, such as s3://bucket/model.safetensors", rawURL)
	}
	bu := *u
	bu.Fragment, bu.RawFragment = "", ""
	var key string
	if u.Scheme == "file" {
		dir, base := path.Split(u.Path)
		bu.Path, bu.RawPath, key = dir, "", base
		if bu.Path == "" {
			bu.Path = "/"
		}
	} else {
		bu.Path, bu.RawPath = "", ""
		key = strings.TrimPrefix(u.Path, "/")
	}
	burl := bu.String()
	buckets.Lock()
	defer buckets.Unlock()
	if b, ok := buckets.m[burl]; ok {
		return b, key, nil
	}
	b, err := gblob.OpenBucket(ctx, burl)
	if err != nil {
		return nil, "", fmt.Errorf("blob: opening the bucket of %s: %w", redact.URL(u), err)
	}
	if buckets.m == nil {
		buckets.m = map[string]*gblob.Bucket{}
	}
	if u.Scheme != "mem" { // a mem:// URL means a new bucket each time
		buckets.m[burl] = b
	}
	return b, key, nil
}
