package safetensors

import (
	"cmp"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxHeaderSize is the largest header accepted by default, in bytes:
// the reference implementation's MAX_HEADER_SIZE. See [Options.MaxHeaderSize].
const DefaultMaxHeaderSize = 100_000_000

// maxJSONDepth is how deeply arrays and objects may nest in a header. The
// reference parses with serde_json, whose recursion limit of 128 refuses the
// 128th level; the deepest level the schema itself uses is 3 (a shape array
// inside an entry inside the top object).
const maxJSONDepth = 127

// prefixSize is the size of the little-endian header length at the start of
// every file.
const prefixSize = 8

// TensorInfo describes one tensor as its header entry does, without its
// data.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int // shared with the File: do not modify
	// DataOffsets are the entry's data_offsets: the first byte and one past
	// the last, relative to the start of the data buffer ([File.DataOffset]).
	DataOffsets [2]int64
}

// Size returns the tensor's size in bytes.
func (ti TensorInfo) Size() int64 { return ti.DataOffsets[1] - ti.DataOffsets[0] }

// NumElements returns the number of elements: the product of the shape.
func (ti TensorInfo) NumElements() int { return numElements(ti.Shape) }

// header is a parsed and validated header.
type header struct {
	size     int64             // N: the header's length in bytes, after the 8-byte prefix
	metadata map[string]string // nil when absent or null
	tensors  []TensorInfo      // in the order of the JSON
	order    []int32           // indexes into tensors, in buffer order
	index    map[string]int32  // name -> index into tensors
}

// implausibleHeader is a header length (1 TiB) that no safetensors file
// has: 8 bytes of text read as a number are far beyond it, and printing that
// number would print the text ("root:x:0" reads as 3475222254926655346).
const implausibleHeader = 1 << 40

// readPrefix applies the reference's first three checks to the first bytes
// of a file of fileSize bytes and returns the header length N.
func readPrefix(prefix []byte, fileSize, limit int64) (int64, error) {
	if fileSize < prefixSize || len(prefix) < prefixSize {
		return 0, formatErr(ErrHeaderTooSmall, -1, "the file has %d bytes, fewer than the %d of the length prefix", fileSize, prefixSize)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if limit >= 0 && n > uint64(limit) {
		if n >= implausibleHeader {
			return 0, formatErr(ErrHeaderTooLarge, 0, "this is not a safetensors file: its first 8 bytes are no plausible header length")
		}
		return 0, formatErr(ErrHeaderTooLarge, 0, "header length %d is over the limit of %d bytes", n, limit)
	}
	if n > uint64(fileSize-prefixSize) {
		if n >= implausibleHeader {
			return 0, formatErr(ErrInvalidHeaderLength, 0, "this is not a safetensors file: its first 8 bytes are no plausible header length")
		}
		return 0, formatErr(ErrInvalidHeaderLength, 0, "header length %d runs past the end of the %d-byte file", n, fileSize)
	}
	return int64(n), nil
}

// rawEntry is a tensor entry as parsed, before validation.
type rawEntry struct {
	name        string
	dtype       DType
	shapeAt     int32 // start of the shape in the dims pool
	shapeLen    int32
	begin, end  uint64
	dimOverflow bool // a dimension did not fit in an int
}

// parseHeader parses and validates the JSON header hdr of a file of
// fileSize bytes, in the reference implementation's order (checks 4 to 7 of
// the format's read-time checks). It does no I/O, and its time and memory are linear in
// len(hdr), whatever numbers the header holds.
func parseHeader(hdr []byte, fileSize int64) (*header, error) {
	if !utf8.Valid(hdr) {
		return nil, formatErr(ErrInvalidHeader, prefixSize+int64(invalidUTF8At(hdr)), "header is not valid UTF-8")
	}
	p := headerParser{
		scanner: scanner{s: string(hdr)},
		dims:    make([]int, 0, len(hdr)/16),
	}
	h := &header{size: int64(len(hdr))}
	entries, err := p.parse(h)
	if err != nil {
		return nil, err
	}
	if err := h.validate(entries, p.dims, fileSize); err != nil {
		return nil, err
	}
	return h, nil
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// validate applies check 6 (offsets, sizes) and check 7 (buffer end) to the
// parsed entries, and fills h.tensors and h.order.
func (h *header) validate(entries []rawEntry, dims []int, fileSize int64) error {
	n := len(entries)
	h.tensors = make([]TensorInfo, n)
	h.order = make([]int32, n)
	for i := range h.order {
		h.order[i] = int32(i)
	}
	less := func(a, b int32) int {
		x, y := &entries[a], &entries[b]
		if c := cmp.Compare(x.begin, y.begin); c != 0 {
			return c
		}
		if c := cmp.Compare(x.end, y.end); c != 0 {
			return c
		}
		return cmp.Compare(x.name, y.name)
	}
	if !slices.IsSortedFunc(h.order, less) { // writers usually list entries in buffer order
		slices.SortFunc(h.order, less)
	}
	var running uint64
	for _, i := range h.order {
		e := &entries[i]
		if e.begin != running {
			what := "leave a hole after"
			if e.begin < running {
				what = "overlap"
			}
			return tensorErr(ErrInvalidOffset, e.name, "data_offsets [%d, %d] %s the previous tensor, which ends at %d", e.begin, e.end, what, running)
		}
		if e.end < e.begin {
			return tensorErr(ErrInvalidOffset, e.name, "data_offsets [%d, %d] end before they begin", e.begin, e.end)
		}
		shape := dims[e.shapeAt : e.shapeAt+e.shapeLen : e.shapeAt+e.shapeLen]
		if e.dimOverflow {
			return tensorErr(ErrOverflow, e.name, "a dimension of the shape does not fit in an int")
		}
		size, err := byteSize(e.dtype, shape)
		if err != nil {
			sentinel := sentinelOf(err)
			msg := strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
			return &FormatError{Err: sentinel, Tensor: e.name, HasTensor: true, Offset: -1, Msg: msg}
		}
		if e.end-e.begin != uint64(size) {
			return tensorErr(ErrInvalidTensorInfo, e.name, "data_offsets [%d, %d] hold %d bytes, but %v%v needs %d", e.begin, e.end, e.end-e.begin, e.dtype, shape, size)
		}
		if e.end > math.MaxInt64 || e.end > uint64(maxInt) {
			return tensorErr(ErrOverflow, e.name, "data offset %d does not fit in an int", e.end)
		}
		running = e.end
		h.tensors[i] = TensorInfo{Name: e.name, DType: e.dtype, Shape: shape, DataOffsets: [2]int64{int64(e.begin), int64(e.end)}}
	}
	if want := uint64(fileSize) - uint64(prefixSize) - uint64(h.size); running != want {
		if running < want {
			return formatErr(ErrIncompleteBuffer, -1, "the tensors end %d bytes into the data buffer, but the file has %d more bytes after them", running, want-running)
		}
		return formatErr(ErrIncompleteBuffer, -1, "the tensors end %d bytes into the data buffer, past the end of the file (%d bytes of data)", running, want)
	}
	return nil
}

// sentinelOf returns the sentinel that err wraps, among those byteSize
// returns.
func sentinelOf(err error) error {
	for _, s := range []error{ErrOverflow, ErrMisalignedSlice, ErrInvalidTensorInfo} {
		if errors.Is(err, s) {
			return s
		}
	}
	return ErrInvalidHeader
}

// headerParser reads the header's JSON against the format's schema.
type headerParser struct {
	scanner
	dims []int // pool of every entry's shape
}

func (p *headerParser) parse(h *header) ([]rawEntry, error) {
	p.skipSpace()
	// Every entry spells "data_offsets" (unless it escapes it), so this count
	// sizes the tables in one pass; it is bounded by the header's length.
	hint := strings.Count(p.s, `"data_offsets"`)
	entries := make([]rawEntry, 0, hint)
	h.index = make(map[string]int32, hint)
	seenMetadata := false
	err := p.object(func(key string, keyAt int) error {
		if key == "__metadata__" {
			if seenMetadata {
				return p.errAt(keyAt, "duplicate key \"__metadata__\"")
			}
			seenMetadata = true
			var err error
			h.metadata, err = p.metadata()
			return err
		}
		if _, dup := h.index[key]; dup {
			return p.errAt(keyAt, "duplicate tensor name %s", strconv.Quote(key))
		}
		e, err := p.entry(key)
		if err != nil {
			return err
		}
		if len(entries) == math.MaxInt32 {
			return p.errAt(keyAt, "too many tensors")
		}
		h.index[key] = int32(len(entries))
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errAt(p.i, "unexpected %s after the header object", p.describe())
	}
	return entries, nil
}

// metadata reads the value of "__metadata__": null, or an object whose
// values are all strings.
func (p *headerParser) metadata() (map[string]string, error) {
	if p.literal("null") {
		return nil, nil
	}
	if p.peek() != '{' {
		return nil, p.errAt(p.i, "__metadata__ must be an object of strings or null, not %s", p.describe())
	}
	m := map[string]string{}
	err := p.object(func(k string, keyAt int) error {
		if p.peek() != '"' {
			return p.errAt(p.i, "__metadata__ value of %s must be a string, not %s", strconv.Quote(k), p.describe())
		}
		v, err := p.str()
		if err != nil {
			return err
		}
		if _, dup := m[k]; dup {
			return p.errAt(keyAt, "duplicate __metadata__ key %s", strconv.Quote(k))
		}
		m[k] = v
		return nil
	})
	return m, err
}

// entry reads one tensor entry: {"dtype": ..., "shape": [...], "data_offsets": [b, e]},
// ignoring (but checking the syntax and keys of) any other field.
func (p *headerParser) entry(name string) (rawEntry, error) {
	e := rawEntry{name: name}
	entryAt := p.i
	if p.peek() != '{' {
		return e, p.errAt(p.i, "entry of tensor %s must be an object, not %s", strconv.Quote(name), p.describe())
	}
	const hasDType, hasShape, hasOffsets = 1, 2, 4
	var seen int
	var others []string // unknown fields, to refuse duplicates among them
	err := p.object(func(key string, keyAt int) error {
		var bit int
		var err error
		switch key {
		case "dtype":
			bit = hasDType
			err = p.dtype(&e)
		case "shape":
			bit = hasShape
			err = p.shape(&e)
		case "data_offsets":
			bit = hasOffsets
			err = p.offsets(&e)
		default:
			if slices.Contains(others, key) {
				return p.errAt(keyAt, "duplicate field %s in the entry of tensor %s", strconv.Quote(key), strconv.Quote(name))
			}
			others = append(others, key)
			err = p.skipValue()
		}
		if err != nil {
			return err
		}
		if seen&bit != 0 {
			return p.errAt(keyAt, "duplicate field %s in the entry of tensor %s", strconv.Quote(key), strconv.Quote(name))
		}
		seen |= bit
		return nil
	})
	if err != nil {
		return e, err
	}
	for _, f := range []struct {
		bit  int
		name string
	}{{hasDType, "dtype"}, {hasShape, "shape"}, {hasOffsets, "data_offsets"}} {
		if seen&f.bit == 0 {
			return e, p.errAt(entryAt, "entry of tensor %s has no %q field", strconv.Quote(name), f.name)
		}
	}
	return e, nil
}

func (p *headerParser) dtype(e *rawEntry) error {
	at := p.i
	if p.peek() != '"' {
		return p.errAt(at, "dtype must be a string, not %s", p.describe())
	}
	s, err := p.str()
	if err != nil {
		return err
	}
	if e.dtype = lookupDType(s); e.dtype == 0 {
		return p.errAt(at, "unknown dtype %s of tensor %s", strconv.Quote(s), strconv.Quote(e.name))
	}
	return nil
}

func (p *headerParser) shape(e *rawEntry) error {
	if err := p.open('['); err != nil {
		return p.errAt(p.i, "shape of tensor %s must be an array, not %s", strconv.Quote(e.name), p.describe())
	}
	start := len(p.dims)
	if start > math.MaxInt32 {
		return p.errAt(p.i, "too many dimensions")
	}
	p.skipSpace()
	if !p.close(']') {
		for {
			p.skipSpace()
			v, err := p.uint("shape")
			if err != nil {
				return err
			}
			if v > uint64(maxInt) {
				e.dimOverflow = true
				v = 0
			}
			p.dims = append(p.dims, int(v))
			more, err := p.next(']')
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	e.shapeAt, e.shapeLen = int32(start), int32(len(p.dims)-start)
	return nil
}

func (p *headerParser) offsets(e *rawEntry) error {
	if err := p.open('['); err != nil {
		return p.errAt(p.i, "data_offsets of tensor %s must be an array, not %s", strconv.Quote(e.name), p.describe())
	}
	var v [2]uint64
	for k := range 2 {
		p.skipSpace()
		if p.peek() == ']' {
			return p.errAt(p.i, "data_offsets of tensor %s must have 2 elements, not %d", strconv.Quote(e.name), k)
		}
		var err error
		if v[k], err = p.uint("data_offsets"); err != nil {
			return err
		}
		p.skipSpace()
		if k == 0 && !p.consume(',') {
			return p.errAt(p.i, "expected ',' in data_offsets of tensor %s, found %s", strconv.Quote(e.name), p.describe())
		}
	}
	p.skipSpace()
	if !p.close(']') {
		return p.errAt(p.i, "data_offsets of tensor %s must have exactly 2 elements", strconv.Quote(e.name))
	}
	e.begin, e.end = v[0], v[1]
	return nil
}
