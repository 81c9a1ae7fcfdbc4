package fetch

import (
	"context"
	"io"
)

// ReadAt reads len(p) bytes at off ≥ 0 from a source of size bytes whose
// first bytes are kept in prefix, as [io.ReaderAt] says: it returns io.EOF
// with fewer bytes when the source ends first. Bytes in prefix are copied
// from it; the rest are read by fill, under ctx, which is also canceled
// (with its cause) when base is: base is the context the reader was made
// with, ctx the caller's. On error, p's content is unspecified.
func ReadAt(ctx, base context.Context, p []byte, off, size int64, prefix []byte, fill func(ctx context.Context, dst []byte, off int64) error) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if off >= size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := size - off; int64(n) > rest {
		n = int(rest)
	}
	q, at := p[:n], off
	if at < int64(len(prefix)) {
		c := copy(q, prefix[at:])
		q, at = q[c:], at+int64(c)
	}
	if len(q) > 0 {
		if ctx != base {
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(ctx)
			stop := context.AfterFunc(base, func() { cancel(context.Cause(base)) })
			defer stop()
			defer cancel(nil)
		}
		if err := fill(ctx, q, at); err != nil {
			return 0, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
