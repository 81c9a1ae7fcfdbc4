package safetensors

// Writing: Save, SaveFile and the streaming Writer.
//
// All three produce the reference writer's layout byte for byte (see
// the format's "Writing" rules): tensors ordered by dtype (dtypeRank) then by name,
// compact JSON with serde_json's escapes, "__metadata__" first with its keys
// sorted, the header padded with spaces to a multiple of 8, the data
// contiguous from offset 0. A plan (the ordered entries with their offsets,
// and the encoded header) is computed and validated in full before the first
// byte is written, so invalid input writes nothing.

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"syscall"
	"unicode/utf8"
)

// Errors of the streaming [Writer]. Like the format's sentinels, they are
// wrapped with details, so test them with [errors.Is].
var (
	// ErrWriteTooLong is returned when more bytes are written to a [Writer]
	// than its tensors were declared to hold, in total or for one tensor
	// ([Writer.CopyTensor]). The bytes up to the declared size are written;
	// the rest are not. Like every Writer error it is sticky.
	ErrWriteTooLong = errors.New("safetensors: write too long")
	// ErrWriteOutOfOrder is returned by [Writer.WriteTensor] and
	// [Writer.CopyTensor] when the named tensor's bytes do not start where
	// the data written so far ends: tensors must be written in the order of
	// [Writer.Infos], each once.
	ErrWriteOutOfOrder = errors.New("safetensors: tensor written out of order")
	// ErrWriteAfterClose is returned by a [Writer]'s write methods after
	// [Writer.Close].
	ErrWriteAfterClose = errors.New("safetensors: write after close")
)

var (
	_ io.WriteCloser = (*Writer)(nil)
	_ io.ReaderFrom  = (*Writer)(nil)
)

// Buffering of the Writer: writes of at least directWrite bytes go straight
// to the destination (after whatever is buffered), smaller ones are gathered
// into a buffer of at most bufferSize bytes, so that a file of many small
// tensors costs few write calls and a large tensor is never copied.
const (
	bufferSize  = 256 << 10
	directWrite = 64 << 10
)

// metadataKey is the reserved header key of the metadata map.
const metadataKey = "__metadata__"

// Save writes tensors and metadata to w in the safetensors format, exactly as
// the reference implementation's writer lays them out: tensors sorted by
// dtype (U64, I64, F64, C64, F32, U32, I32, BF16, F16, U16, I16,
// F8_E5M2FNUZ, F8_E4M3FNUZ, F8_E8M0, F8_E4M3, F8_E5M2, I8, U8, F6_E3M2,
// F6_E2M3, F4, BOOL: the reference's dtype enum, largest first) then by name
// bytewise, a compact JSON header with "__metadata__" first and its keys
// sorted, padded with spaces to a multiple of 8 bytes, then the tensors'
// bytes back to back. The same input always gives the same bytes; that is
// the one difference from the reference, which writes metadata keys in the
// random order of a hash map.
//
// metadata may be nil: the header then has no "__metadata__" entry. An empty
// non-nil map writes "__metadata__":{}.
//
// Every tensor and the metadata are validated before anything is written,
// and nothing is written if one is invalid: a tensor whose dtype is invalid
// or whose data length differs from what its dtype and shape need
// ([ErrInvalidTensorInfo], [ErrOverflow], [ErrMisalignedSlice] for F4 and F6
// element counts that do not fill whole bytes), a tensor named
// "__metadata__" or a name, metadata key or value that is not valid UTF-8
// ([ErrInvalidHeader]), or a header larger than [DefaultMaxHeaderSize]
// ([ErrHeaderTooLarge]; see [Options.Save] for another limit).
//
// Tensors may come from any [File] as they are (the File must stay open
// until Save returns; a view of a closed File is an error wrapping
// [ErrClosed]). Views of a File from [Open] are not read through the
// mapping, which would fault in every page and grow the process by the
// whole model: their bytes are read from the file, with copy_file_range
// when w is an *os.File on Linux (the kernel copies them, without a pass
// through user memory), and with pread into Save's buffer otherwise. So
// Open, GetTensor and Save copy a file as fast as the streaming [Writer],
// and in as little memory. Other tensors' bytes are written straight from
// where they are. Tensors of less than 64 KiB are gathered into a
// buffer of 256 KiB so that small tensors cost few calls to w.Write; larger
// ones are passed to w.Write directly (views of a mapped File, through
// the same buffer). Save does not close w, and it
// neither retains nor modifies the tensors' bytes, so it may run while other
// goroutines read the same tensors. An error from w is returned as w gave
// it, so that errors.Is finds, for example, syscall.ENOSPC; a short write
// without an error is [io.ErrShortWrite].
func Save(w io.Writer, tensors map[string]Tensor, metadata map[string]string) error {
	return Options{}.Save(w, tensors, metadata)
}

// Save is [Save] with these options: the header may be at most
// o.MaxHeaderSize bytes (see [Options]), the same limit that [Options.Open]
// applies when reading, so that a file written with some Options can be read
// back with the same Options.
func (o Options) Save(w io.Writer, tensors map[string]Tensor, metadata map[string]string) error {
	p, err := o.planTensors(tensors, metadata)
	if err != nil {
		return err
	}
	return p.writeTo(w)
}

// SaveFile writes tensors and metadata to the named file, as [Save] does,
// atomically: it writes a temporary file in the same directory (named
// ".NAME.tmp-RANDOM"), syncs it to stable storage, renames it over path and
// syncs the directory. Whatever fails, at whichever point, the file at path
// is either the old one, untouched, or the complete new one, and the
// temporary file is removed. Invalid input is refused before any file is
// created.
//
// Because the old file is replaced rather than truncated, a process that has
// it open or mapped (with [Open], say) keeps reading the old bytes: its
// views stay valid until it closes the File. (On Windows, replacing a file
// that is open or mapped fails instead, and the old file is kept.)
//
// A new file gets the permissions that [os.Create] would give it (0666 less
// the umask); an existing file keeps its permission bits. If path is a
// symbolic link, the link itself is replaced, and the file it pointed to is
// left as it was. Errors are of type [*fs.PathError] for path, wrapping the
// validation sentinel or the I/O error. The one error that comes after the
// rename, from syncing the directory, means that the new file is in place
// but its name might not survive a crash.
func SaveFile(path string, tensors map[string]Tensor, metadata map[string]string) error {
	return Options{}.SaveFile(path, tensors, metadata)
}

// SaveFile is [SaveFile] with these options; see [Options.Save].
func (o Options) SaveFile(path string, tensors map[string]Tensor, metadata map[string]string) error {
	p, err := o.planTensors(tensors, metadata)
	if err != nil {
		return &fs.PathError{Op: "save", Path: path, Err: err}
	}
	if err := writeFileAtomic(path, p.writeTo); err != nil {
		return &fs.PathError{Op: "save", Path: path, Err: err}
	}
	return nil
}

// plan is a validated layout: the tensors in buffer order with their
// offsets, and the encoded prefix and header.
type plan struct {
	infos  []TensorInfo // buffer order; DataOffsets set
	data   []Tensor     // the tensor of infos[i], for Save; nil for a Writer
	header []byte       // the 8-byte length, then the padded JSON
	total  int64        // size of the data buffer
}

// planTensors validates a map of tensors and plans their layout.
func (o Options) planTensors(tensors map[string]Tensor, metadata map[string]string) (*plan, error) {
	infos := make([]TensorInfo, 0, len(tensors))
	data := make([]Tensor, 0, len(tensors))
	for name, t := range tensors {
		if err := checkName(name); err != nil {
			return nil, err
		}
		if !t.dtype.Valid() {
			return nil, tensorErr(ErrInvalidTensorInfo, name, "invalid dtype %v", t.dtype)
		}
		size, err := shapeSize(name, t.dtype, t.shape)
		if err != nil {
			return nil, err
		}
		if int64(len(t.data)) != size {
			return nil, tensorErr(ErrInvalidTensorInfo, name, "%v%v needs %d bytes, data has %d", t.dtype, t.shape, size, len(t.data))
		}
		infos = append(infos, TensorInfo{Name: name, DType: t.dtype, Shape: t.shape})
		data = append(data, t)
	}
	p := &plan{infos: make([]TensorInfo, len(infos)), data: make([]Tensor, len(infos))}
	for k, i := range canonicalOrder(infos) {
		p.infos[k], p.data[k] = infos[i], data[i]
	}
	if err := p.layout(metadata, o.maxHeader()); err != nil {
		return nil, err
	}
	return p, nil
}

// canonicalOrder returns the indexes of infos in the reference writer's
// order. Sorting indexes rather than the entries moves 4 bytes a swap
// instead of 64.
func canonicalOrder(infos []TensorInfo) []int32 {
	order := make([]int32, len(infos))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return compareInfos(&infos[a], &infos[b]) })
	return order
}

// compareInfos orders tensors as the reference writer does: by dtype rank,
// then by name bytewise.
func compareInfos(a, b *TensorInfo) int {
	if c := cmp.Compare(dtypeRank[a.DType], dtypeRank[b.DType]); c != 0 {
		return c
	}
	return cmp.Compare(a.Name, b.Name)
}

// checkName refuses the names that cannot be written in a header.
func checkName(name string) error {
	if name == metadataKey {
		return tensorErr(ErrInvalidHeader, name, "the name is reserved for the metadata map")
	}
	if !utf8.ValidString(name) {
		return tensorErr(ErrInvalidHeader, name, "the name is not valid UTF-8")
	}
	return nil
}

// shapeSize checks a shape and returns the byte size of a dtype d tensor
// of that shape.
func shapeSize(name string, d DType, shape []int) (int64, error) {
	for i, dim := range shape {
		if dim < 0 {
			return 0, tensorErr(ErrInvalidTensorInfo, name, "negative dimension %d at axis %d of shape %v", dim, i, shape)
		}
	}
	size, err := byteSize(d, shape)
	if err != nil {
		return 0, &FormatError{Err: sentinelOf(err), Tensor: name, HasTensor: true, Offset: -1, Msg: err.Error()}
	}
	return int64(size), nil
}

// layout assigns the offsets of p.infos, which are in buffer order, and
// encodes the header, refusing one of more than limit bytes (no limit if
// limit < 0).
func (p *plan) layout(metadata map[string]string, limit int64) error {
	var off int64
	for i := range p.infos {
		ti := &p.infos[i]
		size, err := shapeSize(ti.Name, ti.DType, ti.Shape)
		if err != nil {
			return err
		}
		// Offsets must fit in an int, as readers on this platform require.
		if size > int64(maxInt)-off {
			return tensorErr(ErrOverflow, ti.Name, "the data buffer would be larger than %d bytes", maxInt)
		}
		ti.DataOffsets = [2]int64{off, off + size}
		off += size
	}
	p.total = off
	hdr, err := encodeHeader(p.infos, metadata, limit)
	if err != nil {
		return err
	}
	p.header = hdr
	return nil
}

// encodeHeader returns the 8-byte length prefix followed by the JSON header
// of infos (in buffer order, offsets set) and metadata, padded with spaces
// to a multiple of 8 bytes, exactly as the reference writer makes it. It
// stops with ErrHeaderTooLarge as soon as the header outgrows limit, so it
// never builds more than limit bytes plus one entry.
func encodeHeader(infos []TensorInfo, metadata map[string]string, limit int64) ([]byte, error) {
	tooLarge := func(n int) error {
		return formatErr(ErrHeaderTooLarge, -1, "the header needs at least %d bytes, over the limit of %d", n, limit)
	}
	over := func(b []byte) bool { return limit >= 0 && int64(len(b)-prefixSize) > limit }

	b := make([]byte, prefixSize, headerEstimate(infos, metadata, limit))
	b = append(b, '{')
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k, v := range metadata {
			if !utf8.ValidString(k) {
				return nil, formatErr(ErrInvalidHeader, -1, "metadata key %q is not valid UTF-8", k)
			}
			if !utf8.ValidString(v) {
				return nil, formatErr(ErrInvalidHeader, -1, "metadata value of key %q is not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, `"__metadata__":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, metadata[k])
			if over(b) {
				return nil, tooLarge(len(b) - prefixSize)
			}
		}
		b = append(b, '}')
		if len(infos) > 0 {
			b = append(b, ',')
		}
	}
	for i := range infos {
		ti := &infos[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, ti.Name)
		b = append(b, `:{"dtype":"`...)
		b = append(b, dtypeNames[ti.DType]...)
		b = append(b, `","shape":[`...)
		for j, d := range ti.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, ti.DataOffsets[0], 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, ti.DataOffsets[1], 10)
		b = append(b, "]}"...)
		if over(b) {
			return nil, tooLarge(len(b) - prefixSize)
		}
	}
	b = append(b, '}')
	for (len(b)-prefixSize)%8 != 0 {
		b = append(b, ' ')
	}
	n := len(b) - prefixSize
	if limit >= 0 && int64(n) > limit {
		return nil, tooLarge(n)
	}
	binary.LittleEndian.PutUint64(b[:prefixSize], uint64(n))
	return b, nil
}

// headerEstimate returns a capacity that usually holds the whole encoded
// header (escapes can make it longer), at most the limit.
func headerEstimate(infos []TensorInfo, metadata map[string]string, limit int64) int {
	n := prefixSize + 2 + 8
	if metadata != nil {
		n += len(`"__metadata__":{},`)
		for k, v := range metadata {
			n += len(k) + len(v) + 6
		}
	}
	for i := range infos {
		// "name":{"dtype":"F8_E4M3FNUZ","shape":[...],"data_offsets":[b,e]},
		n += len(infos[i].Name) + 52 + 11 + 2*11 + 8*len(infos[i].Shape)
	}
	if limit >= 0 && int64(n) > limit+prefixSize+8 {
		n = int(limit) + prefixSize + 8
	}
	return n
}

// appendJSONString appends s, valid UTF-8, as a JSON string with
// serde_json's escapes: \" \\ \n \r \t \b \f, other control characters as
// \u00xx in lowercase hex, and everything else (DEL, '/', U+2028, non-ASCII)
// as it is.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// writeTo writes the planned file to w: Save's body.
func (p *plan) writeTo(w io.Writer) error {
	tw := newWriter(w, p)
	if _, err := tw.put(p.header); err != nil {
		tw.err = err
		return err
	}
	for _, t := range p.data {
		n, err := tw.putTensor(t)
		tw.pos += int64(n)
		if err != nil {
			tw.err = err
			return err
		}
	}
	return tw.Close()
}

// putGuarded is put for bytes that may be a view of a mapping: a memory
// fault while they are copied into the buffer or written out (by a w that
// reads them in this goroutine) becomes an error wrapping ErrFault instead
// of crashing, should the mapped file have been truncated.
func (tw *Writer) putGuarded(p []byte) (n int, err error) {
	if ferr := guardFault(func() { n, err = tw.put(p) }); ferr != nil {
		return 0, ferr
	}
	return n, err
}

// Writer writes a safetensors file as a stream, for files larger than
// memory, in the manner of [archive/tar.Writer]: every tensor's name, dtype
// and shape are declared up front to [NewWriter], which writes the header at
// once; then the tensors' bytes are written in the order of [Writer.Infos]
// (dtype, then name: the reference writer's order), and [Writer.Close]
// checks that every declared byte was written.
//
// The bytes can be given a tensor at a time, with [Writer.WriteTensor] (a
// [Tensor] in memory) or [Writer.CopyTensor] (an [io.Reader]), which check
// that the tensor is the next one in order; or as one stream of the whole
// data buffer, in chunks of any size that may cross tensor boundaries, with
// [Writer.Write] or [Writer.ReadFrom] (so io.Copy works). The kinds may be
// mixed. Writing more bytes than declared is an error wrapping
// [ErrWriteTooLong]; fewer is an error from Close wrapping
// [ErrIncompleteBuffer] (the error a reader would give the truncated file).
//
// Errors are sticky: after the first, every method returns it, and the
// output is not a valid file. Memory use is the header plus one buffer of
// 256 KiB, whatever the size of the data: writes of 64 KiB or more go to
// the destination directly (after anything buffered), smaller ones are
// gathered. [Writer.Flush] pushes the buffered bytes out; Close does too,
// but does not close the underlying writer.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	p       *plan
	index   map[string]int // name -> index in p.infos, built on first use
	pos     int64          // data bytes accepted (written or buffered)
	buf     []byte         // bytes waiting to be written; allocated on first use
	bufCap  int            // capacity to give buf
	err     error          // sticky
	closed  bool
	closeRv error // what Close returned the first time

	// noCopyRange: copy_file_range could not copy from a view's file to
	// w, so views are copied with pread and write.
	noCopyRange bool
}

// NewWriter validates the declared tensors and metadata, writes the header
// to w, and returns a Writer for the tensors' bytes. The order of tensors
// does not matter, and their DataOffsets are ignored: the Writer lays the
// tensors out as [Save] would, and [Writer.Infos] gives that order with the
// offsets. The tensors' Shape slices are copied.
//
// The rules are Save's: no name may repeat or be "__metadata__", names and
// metadata must be valid UTF-8 ([ErrInvalidHeader]), dtypes and shapes must
// be valid with sizes that do not overflow ([ErrInvalidTensorInfo],
// [ErrOverflow], [ErrMisalignedSlice]), and the header must fit in
// [DefaultMaxHeaderSize] ([ErrHeaderTooLarge]). Nothing is written when
// they fail. An error from writing the header is returned with a nil
// Writer.
//
// To copy a file tensor by tensor, declare its [File.Infos]:
//
//	tw, err := safetensors.NewWriter(dst, f.Infos(), f.Metadata())
//	...
//	for _, ti := range tw.Infos() {
//		t, err := f.GetTensor(ti.Name)
//		...
//		if err := tw.WriteTensor(ti.Name, t); err != nil { ... }
//	}
//	err = tw.Close()
func NewWriter(w io.Writer, tensors []TensorInfo, metadata map[string]string) (*Writer, error) {
	return Options{}.NewWriter(w, tensors, metadata)
}

// NewWriter is [NewWriter] with these options; see [Options.Save].
func (o Options) NewWriter(w io.Writer, tensors []TensorInfo, metadata map[string]string) (*Writer, error) {
	p := &plan{infos: make([]TensorInfo, len(tensors))}
	ndims := 0
	for _, ti := range tensors {
		ndims += len(ti.Shape)
	}
	seen := make(map[string]struct{}, len(tensors))
	for i := range tensors {
		ti := &tensors[i]
		if err := checkName(ti.Name); err != nil {
			return nil, err
		}
		if _, dup := seen[ti.Name]; dup {
			return nil, tensorErr(ErrInvalidHeader, ti.Name, "the name is declared twice")
		}
		seen[ti.Name] = struct{}{}
		if !ti.DType.Valid() { // before sorting, which indexes dtypeRank by it
			return nil, tensorErr(ErrInvalidTensorInfo, ti.Name, "invalid dtype %v", ti.DType)
		}
	}
	dims := make([]int, 0, ndims)
	for k, i := range canonicalOrder(tensors) {
		ti := &tensors[i]
		start := len(dims)
		dims = append(dims, ti.Shape...)
		p.infos[k] = TensorInfo{Name: ti.Name, DType: ti.DType, Shape: dims[start:len(dims):len(dims)]}
	}
	if err := p.layout(metadata, o.maxHeader()); err != nil {
		return nil, err
	}
	tw := newWriter(w, p)
	if _, err := tw.put(p.header); err != nil {
		return nil, err
	}
	if err := tw.flush(); err != nil {
		return nil, err
	}
	return tw, nil
}

func newWriter(w io.Writer, p *plan) *Writer {
	c := int64(len(p.header)) + p.total
	if c > bufferSize {
		c = bufferSize
	}
	return &Writer{w: w, p: p, bufCap: int(c)}
}

// Infos returns the declared tensors in the order their bytes must be
// written, each with its DataOffsets in the data buffer, in a new slice.
// The Shape slices are shared with the Writer and must not be modified.
func (tw *Writer) Infos() []TensorInfo { return slices.Clone(tw.p.infos) }

// HeaderSize returns N, the length in bytes of the JSON header written
// after the 8-byte length prefix, padding included.
func (tw *Writer) HeaderSize() int64 { return int64(len(tw.p.header) - prefixSize) }

// Size returns the size in bytes that the whole file will have: the prefix,
// the header and the data buffer.
func (tw *Writer) Size() int64 { return int64(len(tw.p.header)) + tw.p.total }

// Written returns how many bytes of the data buffer have been accepted so
// far (written to the destination or buffered).
func (tw *Writer) Written() int64 { return tw.pos }

// Write writes p as the next bytes of the data buffer, which is every
// tensor's bytes back to back in the order of [Writer.Infos]. Chunks may
// be of any size and cross tensor boundaries. If p goes past the end of the
// data buffer, the bytes up to the end are written and the error wraps
// [ErrWriteTooLong]. Write does not retain p.
func (tw *Writer) Write(p []byte) (int, error) {
	if tw.err != nil {
		return 0, tw.err
	}
	rest := tw.p.total - tw.pos
	long := int64(len(p)) > rest
	if long {
		p = p[:rest]
	}
	n, err := tw.put(p)
	tw.pos += int64(n)
	if err == nil && long {
		err = fmt.Errorf("%w: the data buffer holds %d bytes", ErrWriteTooLong, tw.p.total)
	}
	if err != nil {
		tw.err = err
	}
	return n, err
}

// ReadFrom implements [io.ReaderFrom]: it reads r until [io.EOF] and writes
// what it reads as the next bytes of the data buffer, as [Writer.Write]
// does. If r holds more than the rest of the data buffer, the error wraps
// [ErrWriteTooLong]. It reads into the Writer's buffer, so it copies each
// byte once.
func (tw *Writer) ReadFrom(r io.Reader) (int64, error) {
	if tw.err != nil {
		return 0, tw.err
	}
	n, err := tw.readFrom(r, tw.p.total-tw.pos)
	switch {
	case err == io.EOF:
		return n, nil
	case err == nil:
		err = probeEOF(r, func() error {
			return fmt.Errorf("%w: the reader holds more than the %d bytes of the data buffer", ErrWriteTooLong, tw.p.total)
		})
	}
	if err != nil {
		tw.err = err
	}
	return n, err
}

// WriteTensor writes the bytes of the declared tensor name. t's dtype and
// shape must be the declared ones ([ErrInvalidTensorInfo]), and unless t
// is empty, its bytes must be the next ones of the data buffer: those of
// the first tensor in the order of [Writer.Infos] that is not yet written
// ([ErrWriteOutOfOrder]). An empty tensor has no bytes and may be written
// at any time, or not at all. A name that was not declared is an error
// wrapping [ErrTensorNotFound].
//
// The bytes are passed to the destination directly, without a copy, when
// they are 64 KiB or more; t may be a view of any [File] that is still
// open. A view of a File from [Open] is read from its file rather than
// through the mapping, as [Save] does.
func (tw *Writer) WriteTensor(name string, t Tensor) error {
	if tw.err != nil {
		return tw.err
	}
	ti, err := tw.next(name)
	if err == nil && (t.dtype != ti.DType || !slices.Equal(t.shape, ti.Shape) || int64(len(t.data)) != ti.Size()) {
		err = tensorErr(ErrInvalidTensorInfo, name, "declared as %v%v, but the tensor is %v", ti.DType, ti.Shape, t)
	}
	if err == nil {
		var n int
		n, err = tw.putTensor(t)
		tw.pos += int64(n)
	}
	if err != nil {
		tw.err = err
	}
	return err
}

// CopyTensor reads the bytes of the declared tensor name from r and writes
// them, with the order rules of [Writer.WriteTensor]. r must hold exactly
// the tensor's [TensorInfo.Size] bytes: CopyTensor reads them, then checks
// that r is at [io.EOF]. If r ends early the error wraps
// [io.ErrUnexpectedEOF]; if it holds more, the error wraps
// [ErrWriteTooLong] (to stream several tensors from one reader, use
// [Writer.ReadFrom] or an [io.LimitReader]). It returns the number of bytes
// written.
func (tw *Writer) CopyTensor(name string, r io.Reader) (int64, error) {
	if tw.err != nil {
		return 0, tw.err
	}
	ti, err := tw.next(name)
	var n int64
	if err == nil {
		n, err = tw.readFrom(r, ti.Size())
		switch {
		case n == ti.Size() && err == io.EOF:
			err = nil // the last Read both filled the tensor and said EOF
		case n == ti.Size() && err == nil:
			err = probeEOF(r, func() error {
				return tensorErr(ErrWriteTooLong, name, "the reader holds more than its %d bytes", ti.Size())
			})
		case err == io.EOF:
			err = fmt.Errorf("safetensors: tensor %q: the reader ended after %d of its %d bytes: %w", name, n, ti.Size(), io.ErrUnexpectedEOF)
		}
	}
	if err != nil {
		tw.err = err
	}
	return n, err
}

// next finds the declared tensor name and checks that its bytes come next.
func (tw *Writer) next(name string) (*TensorInfo, error) {
	if tw.index == nil {
		tw.index = make(map[string]int, len(tw.p.infos))
		for i := range tw.p.infos {
			tw.index[tw.p.infos[i].Name] = i
		}
	}
	i, ok := tw.index[name]
	if !ok {
		return nil, tensorErr(ErrTensorNotFound, name, "the tensor was not declared to the Writer")
	}
	ti := &tw.p.infos[i]
	if ti.Size() == 0 || ti.DataOffsets[0] == tw.pos {
		return ti, nil
	}
	if ti.DataOffsets[0] < tw.pos {
		return nil, tensorErr(ErrWriteOutOfOrder, name, "its bytes [%d, %d) are already written (%d bytes of data written)", ti.DataOffsets[0], ti.DataOffsets[1], tw.pos)
	}
	return nil, tensorErr(ErrWriteOutOfOrder, name, "its bytes start at %d, but %d bytes of data are written; %q comes first", ti.DataOffsets[0], tw.pos, tw.at(tw.pos).Name)
}

// at returns the tensor whose bytes include data offset off < total.
func (tw *Writer) at(off int64) *TensorInfo {
	i := sort.Search(len(tw.p.infos), func(i int) bool { return tw.p.infos[i].DataOffsets[1] > off })
	return &tw.p.infos[i]
}

// Flush writes the buffered bytes to the underlying writer.
func (tw *Writer) Flush() error {
	if tw.err != nil {
		return tw.err
	}
	if err := tw.flush(); err != nil {
		tw.err = err
		return err
	}
	return nil
}

// Close writes the buffered bytes and checks that every declared byte was
// written: if not, the error wraps [ErrIncompleteBuffer] and names the first
// incomplete tensor. If an earlier call failed, Close returns that error.
// Close does not close the underlying writer. Later calls return the same
// result, and write methods return [ErrWriteAfterClose].
func (tw *Writer) Close() error {
	if tw.closed {
		return tw.closeRv
	}
	tw.closed = true
	err := tw.Flush()
	if err == nil && tw.pos < tw.p.total {
		ti := tw.at(tw.pos)
		err = &FormatError{Err: ErrIncompleteBuffer, Tensor: ti.Name, HasTensor: true, Offset: -1,
			Msg: fmt.Sprintf("closed after %d of the %d bytes of the data buffer; the tensor misses %d of its %d bytes",
				tw.pos, tw.p.total, ti.DataOffsets[1]-max(tw.pos, ti.DataOffsets[0]), ti.Size())}
	}
	tw.closeRv = err
	tw.err = ErrWriteAfterClose
	tw.buf = nil
	return err
}

// put writes p through the buffer: small writes are gathered, large ones
// (and those that do not fit) go out directly after the buffered bytes. It
// returns how many bytes of p were written or buffered.
func (tw *Writer) put(p []byte) (int, error) {
	if len(p) >= directWrite || len(p) > cap(tw.buf)-len(tw.buf) {
		if err := tw.flush(); err != nil {
			return 0, err
		}
		if len(p) >= directWrite || len(p) > tw.bufCap {
			return tw.out(p)
		}
		if tw.buf == nil {
			tw.buf = make([]byte, 0, tw.bufCap)
		}
	}
	tw.buf = append(tw.buf, p...)
	return len(p), nil
}

// readFrom reads up to limit bytes from r into the buffer, flushing it
// when full, and accounts them as data. It stops at limit (nil error), at
// r's io.EOF (returned as is), or at another error.
func (tw *Writer) readFrom(r io.Reader, limit int64) (int64, error) {
	var n int64
	empty := 0
	for n < limit {
		if tw.buf == nil {
			tw.buf = make([]byte, 0, tw.bufCap)
		}
		if len(tw.buf) == cap(tw.buf) {
			if err := tw.flush(); err != nil {
				return n, err
			}
		}
		space := tw.buf[len(tw.buf):cap(tw.buf)]
		if int64(len(space)) > limit-n {
			space = space[:limit-n]
		}
		m, err := r.Read(space)
		if m < 0 || m > len(space) {
			return n, fmt.Errorf("safetensors: reader returned %d bytes for a buffer of %d", m, len(space))
		}
		tw.buf = tw.buf[:len(tw.buf)+m]
		n += int64(m)
		tw.pos += int64(m)
		if err != nil {
			return n, err
		}
		if m == 0 {
			if empty++; empty >= 100 {
				return n, io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
	return n, nil
}

// probeEOF checks that r has nothing more to give; if it has, it returns
// tooLong().
func probeEOF(r io.Reader, tooLong func() error) error {
	var b [1]byte
	for range 100 {
		n, err := r.Read(b[:])
		if n > 0 {
			return tooLong()
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// flush writes out the buffered bytes.
func (tw *Writer) flush() error {
	if len(tw.buf) == 0 {
		return nil
	}
	_, err := tw.out(tw.buf)
	tw.buf = tw.buf[:0]
	return err
}

// out writes p to the destination, turning a short write into an error.
func (tw *Writer) out(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := tw.w.Write(p)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// saveFile is the part of a file that SaveFile needs; *os.File has it.
type saveFile interface {
	io.Writer
	Sync() error
	Close() error
	Chmod(fs.FileMode) error
	Name() string
}

// saveFS holds the file system operations of SaveFile and the sharded
// saves, so that tests can make each of them fail.
var saveFS = struct {
	create  func(name string) (saveFile, error) // create a new file, failing if it exists
	lstat   func(name string) (fs.FileInfo, error)
	rename  func(oldpath, newpath string) error
	link    func(oldpath, newpath string) error
	remove  func(name string) error
	syncDir func(dir string) error
}{
	create: func(name string) (saveFile, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return f, nil
	},
	lstat:   os.Lstat,
	rename:  os.Rename,
	link:    os.Link,
	remove:  os.Remove,
	syncDir: syncDir,
}

// writeFileAtomic writes a file at path through write, by way of a
// temporary file in the same directory that is synced and renamed over
// path, then syncs the directory. On failure before the rename, the
// temporary file is removed and path is untouched.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := writeTemp(path, write)
	if err != nil {
		return err
	}
	if err := saveFS.rename(tmp, path); err != nil {
		saveFS.remove(tmp)
		return err
	}
	// The new file is in place: from here on, nothing is removed.
	if serr := saveFS.syncDir(dirOf(path)); serr != nil {
		return fmt.Errorf("safetensors: the file is saved, but syncing its directory failed: %w", serr)
	}
	return nil
}

func dirOf(path string) string {
	dir, _ := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	return dir
}

// hiddenName returns a name beside path, for a file that is not yet (or no
// longer) path: .BASE.TAG-RANDOM. A long base is shortened (at a rune
// boundary) so that the name stays within the usual 255-byte limit.
func hiddenName(path, tag string) string {
	dir, base := filepath.Split(path)
	if n := 128; len(base) > n {
		for n > 0 && !utf8.RuneStart(base[n]) {
			n--
		}
		base = base[:n]
	}
	return filepath.Join(dirOf(dir), "."+base+"."+tag+"-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
}

// writeTemp writes, through write, a temporary file beside path that will
// replace it: synced and closed, with the permission bits of the file at
// path if there is one (0666 less the umask otherwise). It returns the
// temporary file's name; on failure nothing is left behind.
func writeTemp(path string, write func(io.Writer) error) (_ string, err error) {
	if path == "" {
		return "", fs.ErrInvalid
	}
	var f saveFile
	for range 10000 {
		f, err = saveFS.create(hiddenName(path, "tmp"))
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			saveFS.remove(tmp)
		}
	}()
	if fi, err := saveFS.lstat(path); err == nil && fi.Mode().IsRegular() {
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			return "", err
		}
	}
	if err := write(f); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	closed = true
	if err := f.Close(); err != nil {
		return "", err
	}
	return tmp, nil
}

// syncDir makes a rename in dir durable. Windows has no directory sync (and
// its renames are durable once MoveFileEx returns); file systems that
// cannot sync a directory (EINVAL, ENOTSUP) are let be.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		err = nil
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
