package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/internal/redact"
)

// Open opens the safetensors file at rawURL: it makes a [ReaderAt] (one
// request, for the first [Options.PrefixSize] bytes), then reads and
// validates the header through it, which costs a second request only when
// the header does not fit in those bytes. Tensors are fetched when asked
// for: [safetensors.File.GetTensor] fetches exactly the tensor's bytes,
// [safetensors.File.GetSlice] the ranges the selection covers.
//
// ctx governs every request of the File, now and later: cancel it to
// abort them. Closing the File stops its reads; there is nothing else to
// release.
func Open(ctx context.Context, rawURL string, opts *Options) (*safetensors.File, error) {
	r, err := NewReaderAt(ctx, rawURL, opts)
	if err != nil {
		return nil, err
	}
	f, err := safetensors.Options{MaxHeaderSize: opts.withDefaults().MaxHeaderSize}.NewReader(r, r.Size())
	if err != nil {
		return nil, fmt.Errorf("remote: %s: %w", r.c.display, err)
	}
	return f, nil
}

// OpenModel opens the model at rawURL, which is one of:
//
//   - the URL of an index, whose path ends in ".json" (for example
//     https://huggingface.co/ORG/NAME/resolve/main/model.safetensors.index.json):
//     it fetches the index with one request and checks it, as
//     [safetensors.NewModel] does; the shards, named relative to the
//     index's URL (its query string is not carried over), are opened with
//     [Open] on first use;
//   - the URL of a folder, ending in "/": it tries folder/model.safetensors,
//     then folder/model.safetensors.index.json if the first is not found,
//     as transformers does;
//   - the URL of a single .safetensors file (any other path), opened with
//     [Open] at once.
//
// ctx governs every request of the Model, including those that open shards
// later: cancel it to abort them.
func OpenModel(ctx context.Context, rawURL string, opts *Options) (*safetensors.Model, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	switch {
	case strings.HasSuffix(u.Path, ".json"):
		return openIndex(ctx, u, opts)
	case strings.HasSuffix(u.Path, "/") || u.Path == "":
		single := resolve(u, safetensors.SingleFileName)
		m, err := openFile(ctx, single, opts)
		if !errors.Is(err, fs.ErrNotExist) {
			return m, err
		}
		m, err2 := openIndex(ctx, resolve(u, safetensors.IndexName), opts)
		if errors.Is(err2, fs.ErrNotExist) {
			return nil, fmt.Errorf("remote: neither %s nor %s: %w", safetensors.SingleFileName, safetensors.IndexName, errors.Join(err, err2))
		}
		return m, err2
	}
	return openFile(ctx, u, opts)
}

func openFile(ctx context.Context, u *url.URL, opts *Options) (*safetensors.Model, error) {
	f, err := Open(ctx, u.String(), opts)
	if err != nil {
		return nil, err
	}
	return safetensors.NewFileModel(f, path.Base(u.Path)), nil
}

func openIndex(ctx context.Context, u *url.URL, opts *Options) (*safetensors.Model, error) {
	index, err := fetchIndex(ctx, u.String(), opts)
	if err != nil {
		return nil, err
	}
	m, err := safetensors.NewModel(index, func(name string) (*safetensors.File, error) {
		return Open(ctx, resolve(u, name).String(), opts)
	})
	if err != nil {
		return nil, fmt.Errorf("remote: %s: %w", redact.URL(u), err)
	}
	return m, nil
}

// resolve returns the URL of name (a relative slash-separated path, as an
// index's shard names are) beside base, without base's query.
func resolve(base *url.URL, name string) *url.URL {
	return base.ResolveReference(&url.URL{Path: name})
}

// fetchIndex fetches a whole (small) file with plain GET requests,
// retried when they fail transiently, up to the MaxHeaderSize limit.
func fetchIndex(ctx context.Context, rawURL string, opts *Options) ([]byte, error) {
	c, err := newConn(rawURL, opts)
	if err != nil {
		return nil, err
	}
	limit := c.o.MaxHeaderSize
	if limit == 0 {
		limit = safetensors.DefaultMaxHeaderSize
	}
	var body []byte
	err = c.retry(ctx, func() string { return "" }, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK {
			return c.status(resp)
		}
		r := io.Reader(resp.Body)
		if limit >= 0 {
			if resp.ContentLength > limit {
				return fmt.Errorf("%w: the index has %d bytes, more than the limit of %d", safetensors.ErrInvalidIndex, resp.ContentLength, limit)
			}
			r = io.LimitReader(r, limit+1)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return &transient{err: fmt.Errorf("reading the index: %w", err)}
		}
		if limit >= 0 && int64(len(b)) > limit {
			return fmt.Errorf("%w: the index is larger than the limit of %d bytes", safetensors.ErrInvalidIndex, limit)
		}
		body = b
		return nil
	})
	return body, err
}
