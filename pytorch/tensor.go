package pytorch

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
)

// record is one storage's bytes in the file: a data/<key> record of a zip
// checkpoint, or one entry of a legacy checkpoint's storage list.
type record struct {
	key    string
	nbytes int64       // as the first persistent id naming the key says
	dtype  *torchDType // the first reference's dtype (sizes legacy entries)
	zf     *zip.File   // zip checkpoints: the record, for checksummed reads
	off    int64       // absolute file offset of the bytes, once located
	found  bool
}

// storageRef is what a persistent id resolves to: a storage, or (in legacy
// checkpoints of old torch versions) a view of one.
type storageRef struct {
	rec    *record
	base   int64 // byte offset in rec: non-zero only for legacy storage views
	nbytes int64
	dtype  *torchDType
}

// storageID identifies a storage as torch's data_ptr and size would.
type storageID struct {
	rec        *record
	base, size int64
}

func (s *storageRef) id() storageID { return storageID{s.rec, s.base, s.nbytes} }

// tensorRef describes a tensor as torch rebuilds it: a strided view of a
// storage. It holds no data.
type tensorRef struct {
	storage       *storageRef
	dtype         *torchDType
	offset        int64 // storage offset, in elements
	shape, stride []int64

	numel  int64
	nbytes int64 // size of the contiguous tensor
	first  int64 // byte offset in the storage of the lowest element
	last   int64 // one past the highest byte any element occupies (== first when empty)
}

// check computes sizes with overflow checks and verifies that every
// element lies inside the storage, as torch's set_ does. Strides are never
// negative (torch has none); zero strides (expand) are allowed.
func (t *tensorRef) check() error {
	es := t.dtype.size
	numel := int64(1)
	for _, d := range t.shape {
		hi, lo := bits.Mul64(uint64(numel), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return errorf(ErrCorrupt, "tensor size %s overflows", dims(t.shape))
		}
		numel = int64(lo)
	}
	t.numel = numel
	nbytes, ok := mul(numel, es)
	if !ok {
		return errorf(ErrCorrupt, "tensor size %s overflows", dims(t.shape))
	}
	t.nbytes = nbytes
	first, ok := mul(t.offset, es)
	if !ok {
		return errorf(ErrCorrupt, "storage offset %d overflows", t.offset)
	}
	t.first, t.last = first, first
	if numel == 0 {
		return nil
	}
	maxIndex := t.offset
	for i, d := range t.shape {
		step, ok := mul(d-1, t.stride[i])
		if !ok || maxIndex > math.MaxInt64-step {
			return errorf(ErrCorrupt, "tensor view %s/%s overflows", dims(t.shape), dims(t.stride))
		}
		maxIndex += step
	}
	end, ok := mul(maxIndex+1, es)
	if !ok || maxIndex == math.MaxInt64 {
		return errorf(ErrCorrupt, "tensor view %s/%s overflows", dims(t.shape), dims(t.stride))
	}
	if end > t.storage.nbytes {
		return errorf(ErrCorrupt, "tensor of size %s, stride %s at offset %d runs past its storage of %d bytes",
			dims(t.shape), dims(t.stride), t.offset, t.storage.nbytes)
	}
	t.last = end
	return nil
}

func mul(a, b int64) (int64, bool) {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	return int64(lo), a >= 0 && b >= 0 && hi == 0 && lo <= math.MaxInt64
}

// contiguous reports whether the tensor is row-major and packed (strides of
// size-1 dimensions do not matter, as in torch's is_contiguous).
func (t *tensorRef) contiguous() bool {
	expected := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] == 1 {
			continue
		}
		if t.stride[i] != expected {
			return false
		}
		expected *= t.shape[i]
	}
	return true
}

// chunkSize is the buffer size for streaming tensor bytes; a multiple of
// every element size.
const chunkSize = 1 << 20

// reader gives access to a checkpoint's bytes.
type source struct {
	ra        io.ReaderAt
	size      int64
	bigEndian bool
}

// rangeReader returns a reader over n bytes at byte off of the storage.
// When the range is a whole zip record it reads through archive/zip, which
// verifies the record's CRC-32 when it reaches the end.
func (s *source) rangeReader(st *storageRef, off, n int64) (io.Reader, func() error) {
	rec := st.rec
	if rec.zf != nil && st.base == 0 && off == 0 && n == rec.nbytes {
		rc, err := rec.zf.Open()
		if err == nil {
			return rc, func() error {
				defer rc.Close()
				var one [1]byte
				// Read to the end so that archive/zip checks the CRC-32.
				if k, err := rc.Read(one[:]); k != 0 || err != io.EOF {
					if errors.Is(err, zip.ErrChecksum) {
						return errorf(ErrCorrupt, "storage record %q: %v", rec.key, err)
					}
					if err == nil || err == io.EOF {
						return errorf(ErrCorrupt, "storage record %q is longer than %d bytes", rec.key, n)
					}
					return errorf(ErrCorrupt, "storage record %q: %v", rec.key, err)
				}
				return nil
			}
		}
	}
	return io.NewSectionReader(s.ra, rec.off+st.base+off, n), func() error { return nil }
}

// readFull fills p from r, turning short reads and checksum errors into
// this package's errors.
func readFull(r io.Reader, p []byte, key string) error {
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, zip.ErrChecksum) {
			return errorf(ErrCorrupt, "storage record %q: %v", key, err)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return errorf(ErrTruncated, "storage %q ends early", key)
		}
		return fmt.Errorf("pytorch: reading storage %q: %w", key, err)
	}
	return nil
}

// writeTensor writes the tensor's elements to w in row-major order,
// little-endian, packed: the bytes of t.contiguous() in safetensors' layout.
// A contiguous tensor is streamed through a 1 MiB buffer; any other is read
// once as the span of storage it covers (at most the storage's size) and
// gathered. progress, if not nil, is told the bytes written after each write.
//
// scratch, if at least min(t.nbytes, 1 MiB) long, is used as the buffer
// instead of a new one.
func (s *source) writeTensor(ctx context.Context, w io.Writer, t *tensorRef, progress func(int64), scratch []byte) error {
	if t.numel == 0 {
		return nil
	}
	key := t.storage.rec.key
	out := newChunker(w, t.nbytes, t.dtype.swap, s.bigEndian, progress, scratch)
	if t.contiguous() {
		r, done := s.rangeReader(t.storage, t.first, t.nbytes)
		for left := t.nbytes; left > 0; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(left, int64(len(out.buf)))
			p := out.buf[:n]
			if err := readFull(r, p, key); err != nil {
				return err
			}
			if err := out.flushBytes(p); err != nil {
				return err
			}
			left -= n
		}
		return done()
	}
	if t.last-t.first > math.MaxInt {
		return errorf(ErrUnsupported, "a %d-byte storage span does not fit in memory here", t.last-t.first)
	}
	span := make([]byte, t.last-t.first) // at most the storage's size: real bytes
	r, done := s.rangeReader(t.storage, t.first, int64(len(span)))
	if err := readFull(r, span, key); err != nil {
		return err
	}
	if err := done(); err != nil {
		return err
	}
	// Merge the trailing dimensions that are packed into one block copied
	// whole; walk the others with an odometer.
	es := t.dtype.size
	inner, k := int64(1), len(t.shape)
	for k > 0 {
		d := t.shape[k-1]
		if d != 1 && t.stride[k-1] != inner {
			break
		}
		inner *= d
		k--
	}
	// k >= 1 here, since the tensor is not contiguous. The innermost
	// unmerged dimension k-1 is walked in a tight loop; the ones before it
	// with an odometer.
	block := inner * es
	rowLen, rowStep := t.shape[k-1], t.stride[k-1]*es
	idx := make([]int64, k-1)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var pos int64
		for i, j := range idx {
			pos += j * t.stride[i]
		}
		pos *= es
		if err := out.row(span, pos, rowStep, rowLen, block); err != nil {
			return err
		}
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < t.shape[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			break
		}
	}
	return out.flush()
}

// chunker stages output bytes in a buffer of chunkSize, byte-swaps each
// element when the source is big-endian, and writes full buffers.
type chunker struct {
	w        io.Writer
	buf      []byte
	n        int
	swap     int64
	swapping bool
	progress func(int64)
}

func newChunker(w io.Writer, total int64, swap int64, bigEndian bool, progress func(int64), scratch []byte) *chunker {
	n := min(total, chunkSize)
	if int64(len(scratch)) < n {
		scratch = make([]byte, n)
	}
	return &chunker{w: w, buf: scratch[:n], swap: swap, swapping: bigEndian && swap > 1, progress: progress}
}

// row appends n blocks of block bytes, taken from src every step bytes
// starting at pos. Blocks are whole elements, so flushing between them
// keeps every write whole elements too.
func (c *chunker) row(src []byte, pos, step, n, block int64) error {
	if block > int64(len(c.buf)) {
		for j := int64(0); j < n; j++ {
			if err := c.write(src[pos : pos+block]); err != nil {
				return err
			}
			pos += step
		}
		return nil
	}
	buf, at := c.buf, int64(c.n)
	for j := int64(0); j < n; j++ {
		if at+block > int64(len(buf)) {
			c.n = int(at)
			if err := c.flush(); err != nil {
				return err
			}
			at = 0
		}
		switch block {
		case 4:
			copy(buf[at:at+4:at+4], src[pos:pos+4:pos+4])
		case 2:
			buf[at], buf[at+1] = src[pos], src[pos+1]
		default:
			copy(buf[at:at+block], src[pos:pos+block])
		}
		at += block
		pos += step
	}
	c.n = int(at)
	return nil
}

// write appends p, flushing full buffers. The stream is whole elements and
// the buffer a multiple of the element size, so every flush is too.
func (c *chunker) write(p []byte) error {
	for len(p) > 0 {
		k := copy(c.buf[c.n:], p)
		c.n += k
		p = p[k:]
		if c.n == len(c.buf) {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *chunker) flush() error {
	if c.n == 0 {
		return nil
	}
	err := c.flushBytes(c.buf[:c.n])
	c.n = 0
	return err
}

// flushBytes swaps p in place if needed and writes it.
func (c *chunker) flushBytes(p []byte) error {
	if c.swapping {
		swapBytes(p, c.swap)
	}
	if _, err := c.w.Write(p); err != nil {
		return err
	}
	if c.progress != nil {
		c.progress(int64(len(p)))
	}
	return nil
}

// swapBytes reverses the bytes of each unit-sized element of p.
func swapBytes(p []byte, unit int64) {
	switch unit {
	case 2:
		for i := 0; i+1 < len(p); i += 2 {
			p[i], p[i+1] = p[i+1], p[i]
		}
	case 4:
		for i := 0; i+3 < len(p); i += 4 {
			p[i], p[i+1], p[i+2], p[i+3] = p[i+3], p[i+2], p[i+1], p[i]
		}
	case 8:
		for i := 0; i+7 < len(p); i += 8 {
			p[i], p[i+1], p[i+2], p[i+3], p[i+4], p[i+5], p[i+6], p[i+7] = p[i+7], p[i+6], p[i+5], p[i+4], p[i+3], p[i+2], p[i+1], p[i]
		}
	}
}
