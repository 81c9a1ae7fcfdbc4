package safetensors

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/safetensors-go/safetensors/internal/byteview"
)

// This file implements NumPy's basic indexing over a tensor's bytes:
// [Index] and its constructors, [ParseIndex], [Slice] (from
// [File.GetSlice]) and [View], a strided view that materializes run by run.

// indexKind tells what an Index selects.
type indexKind uint8

const (
	kindRange    indexKind = iota // start:stop:step, each part optional; the zero Index is x[:]
	kindAt                        // one position; drops the dimension
	kindEllipsis                  // ...: as many x[:] as the other indices leave dimensions
	kindNewAxis                   // None: a new dimension of size 1
	kindInvalid                   // WithStep on an index that is not a range
)

// Index is one entry of a NumPy basic index: what x[i], x[start:stop:step],
// x[...] or x[None] puts between the brackets, one dimension at a time.
// Make one with [At], [Range], [RangeStep], [RangeFrom], [RangeTo], [Full],
// [Ellipsis], [NewAxis] or [Index.WithStep], or parse NumPy's text with
// [ParseIndex].
//
// The zero Index is [Full]: x[:]. Indexes are small comparable values; they
// do not refer to any tensor, and the same Index can be applied to tensors
// of any shape. Whether an Index fits a shape (an integer in range, a
// non-zero step) is checked when it is applied, by [Slice.Get],
// [Slice.View] or [View.Index], as NumPy checks when it indexes.
type Index struct {
	kind                       indexKind
	hasStart, hasStop, hasStep bool
	start, stop, step          int // start is also At's position
}

// At selects one position: x[i]. The dimension is dropped from the result.
// A negative i counts from the end, as in NumPy: At(-1) is the last
// position. Applying At(i) to a dimension of size n with i < -n or i >= n
// is an error wrapping [ErrInvalidSlice].
func At(i int) Index { return Index{kind: kindAt, start: i} }

// Range selects x[start:stop] with a step of 1. Negative bounds count from
// the end, and bounds beyond either end are clamped, exactly as NumPy (and
// Python's slice.indices) clamps them: Range(2, 100) on a dimension of 5 is
// positions 2, 3, 4, and Range(3, 1) is empty. It is never an error.
func Range(start, stop int) Index {
	return Index{kind: kindRange, hasStart: true, hasStop: true, start: start, stop: stop}
}

// RangeStep selects x[start:stop:step]. A negative step walks backwards
// from start (included) towards stop (excluded): RangeStep(4, 1, -1) is
// positions 4, 3, 2. Bounds are clamped as NumPy clamps them. A step of 0 is
// an error wrapping [ErrInvalidSlice] when the index is applied, as NumPy
// raises "slice step cannot be zero".
//
// To leave start or stop out, as in x[::-1] or x[5::-2], whose defaults
// depend on the sign of the step, use [Full], [RangeFrom] or [RangeTo] with
// [Index.WithStep].
func RangeStep(start, stop, step int) Index {
	return Index{kind: kindRange, hasStart: true, hasStop: true, hasStep: true, start: start, stop: stop, step: step}
}

// RangeFrom selects x[start:]: from start to the end (or, with a negative
// step set by [Index.WithStep], from start back to the beginning).
func RangeFrom(start int) Index { return Index{kind: kindRange, hasStart: true, start: start} }

// RangeTo selects x[:stop]: from the beginning up to stop, excluded (or,
// with a negative step set by [Index.WithStep], from the end down to stop,
// excluded).
func RangeTo(stop int) Index { return Index{kind: kindRange, hasStop: true, stop: stop} }

// Full selects a whole dimension: x[:]. It is the zero Index. Full().WithStep(-1)
// is x[::-1], the dimension reversed, and Full().WithStep(2) is x[::2].
func Full() Index { return Index{} }

// Ellipsis is NumPy's "...": it stands for as many [Full] indices as the
// other indices leave dimensions unindexed, possibly none. An index may hold
// at most one; two are an error wrapping [ErrInvalidSlice].
func Ellipsis() Index { return Index{kind: kindEllipsis} }

// NewAxis is NumPy's None (np.newaxis): it inserts a dimension of size 1 at
// its place in the result, and does not consume a dimension of the tensor.
// It adds no data: the new dimension's stride is 0.
func NewAxis() Index { return Index{kind: kindNewAxis} }

// WithStep returns the range x with its step set to step, keeping x's start
// and stop, or their absence: RangeFrom(5).WithStep(-2) is x[5::-2], and
// RangeTo(2).WithStep(-1) is x[:2:-1]. A missing start or stop takes the
// default that NumPy gives for the sign of the step: for a negative step,
// the last position and "before the first".
//
// WithStep applies only to ranges. On an [At], [Ellipsis] or [NewAxis] index
// it returns an invalid Index, which every method that applies it refuses
// with an error wrapping [ErrInvalidSlice].
func (x Index) WithStep(step int) Index {
	if x.kind != kindRange {
		return Index{kind: kindInvalid, start: int(x.kind), step: step}
	}
	x.hasStep, x.step = true, step
	return x
}

// String returns the index in NumPy's syntax, which [ParseIndex] reads back
// to an equal Index: "3", "-2:", "::-1", ":", "...", "None". An invalid
// Index (see [Index.WithStep]) prints as a description that does not parse.
func (x Index) String() string {
	switch x.kind {
	case kindAt:
		return strconv.Itoa(x.start)
	case kindEllipsis:
		return "..."
	case kindNewAxis:
		return "None"
	case kindInvalid:
		return "<invalid: step " + strconv.Itoa(x.step) + " on a non-range index>"
	}
	var b strings.Builder
	if x.hasStart {
		b.WriteString(strconv.Itoa(x.start))
	}
	b.WriteByte(':')
	if x.hasStop {
		b.WriteString(strconv.Itoa(x.stop))
	}
	if x.hasStep {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(x.step))
	}
	return b.String()
}

// formatIndex writes a whole index as NumPy's text between brackets.
func formatIndex(index []Index) string {
	parts := make([]string, len(index))
	for i, x := range index {
		parts[i] = x.String()
	}
	return strings.Join(parts, ", ")
}

// indices resolves the range x on a dimension of size n as Python's
// slice.indices (CPython's PySlice_Unpack and PySlice_AdjustIndices) does,
// and returns the first position, the number of positions and the step.
// Every intermediate value stays within [-1, n] or is the step, so nothing
// overflows.
func (x Index) indices(n int) (start, length, step int, err error) {
	step = 1
	if x.hasStep {
		step = x.step
	}
	if step == 0 {
		return 0, 0, 0, fmt.Errorf("slice step cannot be zero")
	}
	if step < -math.MaxInt {
		step = -math.MaxInt // as CPython does, so that -step exists
	}
	var stop int
	switch {
	case x.hasStart:
		start = x.start
	case step < 0:
		start = math.MaxInt
	}
	switch {
	case x.hasStop:
		stop = x.stop
	case step < 0:
		stop = math.MinInt
	default:
		stop = math.MaxInt
	}
	start = clampBound(start, n, step)
	stop = clampBound(stop, n, step)
	if step < 0 {
		if stop < start {
			length = (start-stop-1)/(-step) + 1
		}
	} else if start < stop {
		length = (stop-start-1)/step + 1
	}
	return start, length, step, nil
}

// clampBound is one half of CPython's PySlice_AdjustIndices.
func clampBound(i, n, step int) int {
	if i < 0 {
		i += n
		if i < 0 {
			if step < 0 {
				return -1
			}
			return 0
		}
	} else if i >= n {
		if step < 0 {
			return n - 1
		}
		return n
	}
	return i
}

// ParseIndex parses the text between the brackets of a NumPy basic index
// into the same selection: ParseIndex("0, ..., -3:, ::-2") is
// x[0, ..., -3:, ::-2]. It accepts, separated by commas (one trailing comma
// allowed, spaces anywhere between items):
//
//   - an integer, as Python writes it in decimal: "3", "-1", "+2", "1_000",
//     "- 2"; "01" is refused as Python refuses it;
//   - a slice "start:stop" or "start:stop:step", each part optional and
//     each an integer or None: ":", "2:", ":-1", "::2", "5::-1", "None:3";
//   - "..." or "Ellipsis";
//   - "None" or "np.newaxis", which insert a dimension of size 1.
//
// The empty string is the empty index, x[()], which selects everything.
// Integers beyond the range of int are saturated, which gives NumPy's
// result: a slice bound is clamped all the same, and an integer index is out
// of range all the same.
//
// Anything else (advanced indexing with lists or booleans, expressions,
// floats) is an error wrapping [ErrInvalidSlice] that says where and what.
// ParseIndex checks syntax only: whether the index fits a shape is checked
// when it is applied.
func ParseIndex(s string) ([]Index, error) {
	p := indexParser{s: s}
	return p.parse()
}

type indexParser struct {
	s   string
	pos int
}

func (p *indexParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: ParseIndex(%q): at offset %d: %s", ErrInvalidSlice, p.s, p.pos, fmt.Sprintf(format, args...))
}

func (p *indexParser) skipSpace() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			p.pos++
		default:
			return
		}
	}
}

// peekWord reports whether the input continues with word, not followed by
// an identifier character.
func (p *indexParser) peekWord(word string) bool {
	if !strings.HasPrefix(p.s[p.pos:], word) {
		return false
	}
	end := p.pos + len(word)
	return end == len(p.s) || !isIdentChar(p.s[end])
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

func (p *indexParser) parse() ([]Index, error) {
	var out []Index
	p.skipSpace()
	if p.pos == len(p.s) {
		return []Index{}, nil
	}
	for {
		x, err := p.item()
		if err != nil {
			return nil, err
		}
		out = append(out, x)
		p.skipSpace()
		if p.pos == len(p.s) {
			return out, nil
		}
		if p.s[p.pos] != ',' {
			return nil, p.errorf("unexpected %s after an index: want \",\" or the end", p.describe())
		}
		p.pos++
		p.skipSpace()
		if p.pos == len(p.s) {
			return out, nil // one trailing comma: x[1,] is x[1]
		}
	}
}

// describe names what is at the current position, for error messages.
func (p *indexParser) describe() string {
	if p.pos >= len(p.s) {
		return "end of input"
	}
	end := p.pos + 1
	for end < len(p.s) && end-p.pos < 12 && isIdentChar(p.s[end]) && isIdentChar(p.s[p.pos]) {
		end++
	}
	return strconv.Quote(p.s[p.pos:end])
}

const wantItem = `want an integer, a slice such as "1:5:2", "...", or None`

func (p *indexParser) item() (Index, error) {
	switch {
	case strings.HasPrefix(p.s[p.pos:], "..."):
		p.pos += 3
		return Ellipsis(), nil
	case p.peekWord("Ellipsis"):
		p.pos += len("Ellipsis")
		return Ellipsis(), nil
	case p.peekWord("np.newaxis"):
		p.pos += len("np.newaxis")
		return NewAxis(), nil
	}
	if p.pos < len(p.s) {
		switch c := p.s[p.pos]; c {
		case '[':
			return Index{}, p.errorf("unexpected \"[\": advanced (list) indexing is not supported, only basic indexing")
		case ',':
			return Index{}, p.errorf("unexpected \",\": empty index; %s", wantItem)
		}
	}
	// A slice or an integer or None: parts separated by colons.
	var parts [3]struct {
		set bool
		v   int
	}
	nparts := 0
	isNone := false
	for {
		if nparts == 3 {
			return Index{}, p.errorf("a slice has at most three parts, start:stop:step")
		}
		p.skipSpace()
		switch {
		case p.peekWord("None"):
			p.pos += len("None")
			isNone = nparts == 0
		case p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-' || isDigit(p.s[p.pos])):
			v, err := p.integer()
			if err != nil {
				return Index{}, err
			}
			parts[nparts].set, parts[nparts].v = true, v
		case p.pos < len(p.s) && (p.s[p.pos] == ':' || p.s[p.pos] == ','):
			// an empty part
		case p.pos == len(p.s):
			// an empty part at the end
		default:
			return Index{}, p.errorf("unexpected %s: %s", p.describe(), wantItem)
		}
		nparts++
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ':' {
			p.pos++
			isNone = false
			continue
		}
		break
	}
	if nparts == 1 {
		switch {
		case isNone:
			return NewAxis(), nil
		case parts[0].set:
			return At(parts[0].v), nil
		}
		return Index{}, p.errorf("unexpected %s: %s", p.describe(), wantItem)
	}
	x := Index{kind: kindRange}
	x.hasStart, x.start = parts[0].set, parts[0].v
	x.hasStop, x.stop = parts[1].set, parts[1].v
	if nparts == 3 {
		x.hasStep, x.step = parts[2].set, parts[2].v
	}
	return x, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// integer parses [+-] spaces digits, with Python's rules for decimal
// literals: underscores only between digits, no leading zeros except in
// zero itself. Values beyond int saturate.
func (p *indexParser) integer() (int, error) {
	neg := false
	if c := p.s[p.pos]; c == '+' || c == '-' {
		neg = c == '-'
		p.pos++
		p.skipSpace()
	}
	start := p.pos
	if p.pos == len(p.s) || !isDigit(p.s[p.pos]) {
		return 0, p.errorf("unexpected %s after a sign: want digits", p.describe())
	}
	var u uint64
	over := false
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '_' {
			if p.pos+1 >= len(p.s) || !isDigit(p.s[p.pos+1]) {
				p.pos++
				return 0, p.errorf("an underscore in a number must be followed by a digit")
			}
			p.pos++
			continue
		}
		if !isDigit(c) {
			break
		}
		if u > (math.MaxUint64-9)/10 {
			over = true
		} else {
			u = u*10 + uint64(c-'0')
		}
		p.pos++
	}
	if p.pos < len(p.s) && isIdentChar(p.s[p.pos]) {
		return 0, p.errorf("unexpected %s in a number: only decimal integers are accepted", p.describe())
	}
	digits := strings.ReplaceAll(p.s[start:p.pos], "_", "")
	if len(digits) > 1 && digits[0] == '0' && strings.Trim(digits, "0") != "" {
		p.pos = start
		return 0, p.errorf("leading zeros in a decimal integer are not allowed, as in Python")
	}
	switch {
	case neg && (over || u > uint64(math.MaxInt)+1):
		return math.MinInt, nil
	case neg:
		return int(-u), nil // -u wraps to MinInt exactly when u is MaxInt+1
	case over || u > uint64(math.MaxInt):
		return math.MaxInt, nil
	}
	return int(u), nil
}

// Slice is a lazy handle on one tensor of a [File], for reading parts of it
// with NumPy's basic indexing: [Slice.Get] materializes a selection, and
// [Slice.View] describes one without reading anything. Make one with
// [File.GetSlice].
//
// A Slice is immutable and safe for concurrent use. It reads through its
// File, so Get and ReadInto fail with [ErrClosed] once the File is closed;
// View, which reads nothing, still works.
type Slice struct {
	f    *File
	info TensorInfo
}

// GetSlice returns a lazy handle on the named tensor, for reading a part of
// it: it reads no data. The error wraps [ErrTensorNotFound] if there is no
// such tensor, and is [ErrClosed] if the File is closed.
//
// Tensors of 2^60 bytes or more (an exbibyte: views address them in bits)
// are refused with [ErrOverflow].
func (f *File) GetSlice(name string) (*Slice, error) {
	i, ok := f.h.index[name]
	if !ok {
		return nil, notFound(name)
	}
	if f.closed.Load() {
		return nil, ErrClosed
	}
	info := f.h.tensors[i]
	if info.Size() > math.MaxInt64/8 {
		return nil, tensorErr(ErrOverflow, name, "%d bytes is too large to address in bits", info.Size())
	}
	return &Slice{f: f, info: info}, nil
}

// Name returns the tensor's name.
func (s *Slice) Name() string { return s.info.Name }

// DType returns the tensor's dtype.
func (s *Slice) DType() DType { return s.info.DType }

// Shape returns a copy of the whole tensor's shape; empty for a scalar.
func (s *Slice) Shape() []int { return append([]int{}, s.info.Shape...) }

// Get returns the elements that index selects, packed in row-major order,
// as a new Tensor whose bytes the caller owns: it always copies, even when
// the selection is the whole tensor (see [Slice.View] to avoid copying). The
// index has NumPy's basic-indexing meaning; see [Index] and [ParseIndex].
// No index, or missing trailing indices, select whole dimensions.
//
// Errors wrap [ErrInvalidSlice] where NumPy raises one (an integer out of
// range, a step of 0, more indices than dimensions, two ellipses),
// [ErrMisalignedSlice] for an F4 or F6 selection whose contiguous runs do
// not start and end on byte boundaries, and [ErrClosed] once the File is
// closed.
//
// From a File of [Load] it copies from memory run by run; from a File of
// [NewReader] it reads only the byte ranges the selection covers; a File of
// [Open] does one or the other depending on the length of the runs (see
// [View.Get]).
func (s *Slice) Get(index ...Index) (Tensor, error) {
	v, err := s.View(index...)
	if err != nil {
		return Tensor{}, err
	}
	return v.Get()
}

// ReadInto is [Slice.Get] into the caller's buffer dst, which must hold at
// least the selection's size in bytes (see [View.Size]). The returned
// Tensor's bytes are dst[:size]. Reusing a buffer saves the allocation and,
// more importantly for large selections, the page faults of touching fresh
// memory.
func (s *Slice) ReadInto(dst []byte, index ...Index) (Tensor, error) {
	v, err := s.View(index...)
	if err != nil {
		return Tensor{}, err
	}
	return v.ReadInto(dst)
}

// View returns the selection that index makes, as a strided [View] of the
// tensor's bytes, without reading anything. The errors are those of
// [Slice.Get], except ErrClosed.
func (s *Slice) View(index ...Index) (View, error) {
	shape := s.info.Shape
	rank := len(shape)
	elem := int64(s.info.DType.BitSize())
	strides := make([]int64, rank)
	stride := elem
	for i := rank - 1; i >= 0; i-- {
		strides[i] = stride
		stride *= int64(shape[i]) // exact unless a dimension is 0: then the view is empty, and strides do not matter
	}
	full := View{s: s, shape: shape, strides: strides}
	if len(index) == 0 {
		if err := full.finish(); err != nil {
			return View{}, err
		}
		return full, nil
	}
	return full.Index(index...)
}

// View is a strided selection of a tensor's bytes, the idea of
// [image.RGBA]: a shape, a stride per dimension and the position of the
// first element. Element (i0, i1, ..., ik) of the view starts at bit
//
//	BitOffset() + i0*BitStrides()[0] + i1*BitStrides()[1] + ... + ik*BitStrides()[k]
//
// of the tensor's data, which for dtypes of 8 bits or more is byte
// Offset() + i0*Strides()[0] + ... . Strides may be negative (a reversed
// dimension) or 0 (a dimension of size 1 from [NewAxis]); the stride of a
// dimension of size 0 or 1 does not matter. An empty view's offset is 0.
//
// A View holds no data and reads nothing: [View.Runs] lists the contiguous
// byte ranges it covers, for callers who copy them straight into their own
// buffers or device memory, and [View.Get] and [View.ReadInto] materialize
// it. [View.Index] narrows it further without touching data:
// s.View(a...) then .Index(b...) selects what NumPy's x[a][b] does.
//
// A View is an immutable value, safe for concurrent use. The zero View is
// not usable. Views come from [Slice.View]; they read through the [Slice]'s
// File, so Get fails with [ErrClosed] once it is closed.
type View struct {
	s       *Slice
	shape   []int   // never modified; may be shared with the TensorInfo
	strides []int64 // in bits
	offset  int64   // in bits
	p       runPlan // the copy plan, derived from the geometry by finish
}

// runPlan is a View coalesced into runs: the bytes at off + Σ i_j*loops[j].stride,
// for every combination of 0 <= i_j < loops[j].n, each run bytes long, in
// row-major order of the i_j. Adjacent dimensions are merged when one
// steps exactly over the other, so the runs are as long as the layout
// allows.
type runPlan struct {
	off   int64 // bytes
	run   int64 // bytes per run
	loops []loop
	total int64 // bytes in all: run * Π n
	empty bool
}

type loop struct {
	n      int
	stride int64 // bytes, or bits while coalescing
}

// finish computes v.p and checks sub-byte alignment.
func (v *View) finish() error {
	elem := int64(v.s.info.DType.BitSize())
	dims := make([]loop, 0, len(v.shape))
	for i, n := range v.shape {
		if n == 0 {
			v.offset = 0
			v.p = runPlan{empty: true, total: 0}
			return nil
		}
		if n == 1 {
			continue
		}
		if k := len(dims); k > 0 && dims[k-1].stride == int64(n)*v.strides[i] {
			dims[k-1] = loop{n: dims[k-1].n * n, stride: v.strides[i]}
			continue
		}
		dims = append(dims, loop{n: n, stride: v.strides[i]})
	}
	run := elem
	if k := len(dims); k > 0 && dims[k-1].stride == elem {
		run = int64(dims[k-1].n) * elem
		dims = dims[:k-1]
	}
	if elem%8 != 0 {
		if err := v.checkAligned(dims, run); err != nil {
			return err
		}
	}
	p := runPlan{off: v.offset / 8, run: run / 8, loops: dims, total: run / 8}
	for i := range dims {
		dims[i].stride /= 8
		p.total *= int64(dims[i].n)
	}
	v.p = p
	return nil
}

// checkAligned refuses a sub-byte selection whose runs do not all start and
// end on byte boundaries. Every loop has n >= 2, so the runs start at
// offset + stride for each loop: all are aligned exactly when the offset and
// every stride are.
func (v *View) checkAligned(loops []loop, run int64) error {
	bad := func(what string, bits int64) error {
		return tensorErr(ErrMisalignedSlice, v.s.info.Name,
			"%v selection of shape %v: %s is %d bits, not whole bytes; a sub-byte selection must consist of whole bytes",
			v.s.info.DType, v.shape, what, bits)
	}
	if v.offset%8 != 0 {
		return bad("its first element's offset", v.offset)
	}
	if run%8 != 0 {
		return bad("a contiguous run", run)
	}
	for _, l := range loops {
		if l.stride%8 != 0 {
			return bad("the distance between runs", l.stride)
		}
	}
	return nil
}

// Index narrows the view with a further NumPy basic index, as NumPy's
// x[a][b] narrows x[a]: it returns a new View of the same tensor and leaves
// v unchanged. It reads nothing. The errors are those of [Slice.Get],
// except ErrClosed.
func (v View) Index(index ...Index) (View, error) {
	s := v.s
	if s == nil {
		return View{}, fmt.Errorf("%w: the zero View selects nothing", ErrInvalidSlice)
	}
	fail := func(format string, args ...any) (View, error) {
		return View{}, tensorErr(ErrInvalidSlice, s.info.Name, "index [%s] on shape %v: %s", formatIndex(index), v.shape, fmt.Sprintf(format, args...))
	}
	consumed, ellipsis, newAxes := 0, -1, 0
	for k, x := range index {
		switch x.kind {
		case kindAt, kindRange:
			consumed++
		case kindEllipsis:
			if ellipsis >= 0 {
				return fail("an index can only have a single ellipsis ('...')")
			}
			ellipsis = k
		case kindNewAxis:
			newAxes++
		default:
			return fail("index %d is invalid: WithStep applies only to ranges", k)
		}
	}
	if consumed > len(v.shape) {
		return fail("too many indices: the view is %d-dimensional, but %d were indexed", len(v.shape), consumed)
	}
	out := View{s: s, offset: v.offset}
	out.shape = make([]int, 0, len(v.shape)+newAxes)
	out.strides = make([]int64, 0, len(v.shape)+newAxes)
	d := 0
	keep := func(count int) {
		for range count {
			out.shape = append(out.shape, v.shape[d])
			out.strides = append(out.strides, v.strides[d])
			d++
		}
	}
	for _, x := range index {
		switch x.kind {
		case kindEllipsis:
			keep(len(v.shape) - consumed)
		case kindNewAxis:
			out.shape = append(out.shape, 1)
			out.strides = append(out.strides, 0)
		case kindAt:
			n, i := v.shape[d], x.start
			if i < -n || i >= n {
				return fail("index %d is out of bounds for axis %d with size %d", i, d, n)
			}
			if i < 0 {
				i += n
			}
			out.offset += int64(i) * v.strides[d]
			d++
		case kindRange:
			start, length, step, err := x.indices(v.shape[d])
			if err != nil {
				return fail("%v", err)
			}
			stride := v.strides[d]
			if length > 0 {
				out.offset += int64(start) * stride
			}
			if length > 1 {
				stride *= int64(step) // |step| < n here, so this stays within the tensor
			}
			out.shape = append(out.shape, length)
			out.strides = append(out.strides, stride)
			d++
		}
	}
	keep(len(v.shape) - d) // missing trailing indices are x[:]
	if err := out.finish(); err != nil {
		return View{}, err
	}
	return out, nil
}

// DType returns the dtype of the view's elements: the tensor's.
func (v View) DType() DType {
	if v.s == nil {
		return 0
	}
	return v.s.info.DType
}

// Shape returns a copy of the view's shape; empty for a scalar.
func (v View) Shape() []int { return append([]int{}, v.shape...) }

// Rank returns the number of dimensions.
func (v View) Rank() int { return len(v.shape) }

// NumElements returns the number of selected elements.
func (v View) NumElements() int {
	if v.p.empty {
		return 0
	}
	return numElements(v.shape)
}

// Size returns the size in bytes of the selection once packed: the length
// of [View.Get]'s data, and the smallest buffer [View.ReadInto] accepts.
func (v View) Size() int64 { return v.p.total }

// BitOffset returns the position of the view's first element, in bits from
// the start of the tensor's data.
func (v View) BitOffset() int64 { return v.offset }

// BitStrides returns a copy of the view's strides in bits: how far apart
// consecutive positions of each dimension are.
func (v View) BitStrides() []int64 { return slices.Clone(v.strides) }

// Offset returns the position of the view's first element in bytes from
// the start of the tensor's data. For F4 and F6, whose elements are smaller
// than a byte, it returns -1: use [View.BitOffset].
func (v View) Offset() int64 {
	if v.DType().BitSize()%8 != 0 {
		return -1
	}
	return v.offset / 8
}

// Strides returns a copy of the view's strides in bytes, as NumPy's
// ndarray.strides. For F4 and F6, whose elements are smaller than a byte, it
// returns nil: use [View.BitStrides].
func (v View) Strides() []int64 {
	if v.DType().BitSize()%8 != 0 {
		return nil
	}
	out := make([]int64, len(v.strides))
	for i, st := range v.strides {
		out[i] = st / 8
	}
	return out
}

// Contiguous reports whether the selection is one contiguous range of the
// tensor's bytes in order (or empty): then [View.Runs] yields at most one
// run, and with a File of [Open] or [Load], the bytes
// t.Data()[v.Offset():v.Offset()+v.Size()] of t from [File.GetTensor] are the
// selection without a copy (for F4 and F6, start at v.BitOffset()/8).
func (v View) Contiguous() bool { return v.p.empty || len(v.p.loops) == 0 }

// Runs returns an iterator over the contiguous byte ranges that the view
// covers, in the order of its elements: each is an offset from the start of
// the tensor's data and a length in bytes. Adjacent dimensions are merged, so
// the runs are as long as the layout allows: a block of whole rows is one
// run, a block of columns one run per row. Concatenated, the runs are the
// bytes [View.Get] returns. For F4 and F6 every run is whole bytes (views
// that are not cannot be made).
//
// To turn an offset into a position in the file, add [File.DataOffset] and
// the tensor's DataOffsets[0] (see [File.Info]). Example, copying into a
// buffer of the caller's:
//
//	t, _ := f.GetTensor(name) // a view of the mapping, for a File of Open
//	pos := 0
//	for off, n := range v.Runs() {
//		pos += copy(dst[pos:], t.Data()[off:off+n])
//	}
func (v View) Runs() iter.Seq2[int64, int64] {
	p := v.p
	return func(yield func(int64, int64) bool) {
		if p.empty {
			return
		}
		p.each(func(off int64) bool { return yield(off, p.run) })
	}
}

// each calls fn with the offset of every run in order, until fn returns
// false.
func (p *runPlan) each(fn func(off int64) bool) {
	loops := p.loops
	if len(loops) == 0 {
		fn(p.off)
		return
	}
	idx := make([]int, len(loops))
	off := p.off
	for {
		if !fn(off) {
			return
		}
		k := len(loops) - 1
		for ; k >= 0; k-- {
			idx[k]++
			off += loops[k].stride
			if idx[k] < loops[k].n {
				break
			}
			off -= int64(loops[k].n) * loops[k].stride
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// Get materializes the view: it returns the selected elements, packed in
// row-major order, as a new Tensor whose bytes the caller owns. It always
// copies, even a contiguous view of a mapped file.
//
// From a File of [Load], it copies from memory run by run. From a File of
// [Open], it does the same when the pages the selection spans are already
// mapped into the process (they were touched before, or the File was opened
// with [Options.Populate]; on Linux it asks /proc/self/pagemap), which costs
// what copy() costs; otherwise it reads the selection from the file as it
// would from a File of NewReader (below), which is several times faster
// than faulting in the mapping's pages one by one. A file truncated under
// the mapping gives an error wrapping [ErrFault] rather than a crash. From
// a File of [NewReader], it reads only the bytes the selection covers: one
// ReadAt per run, except that runs less than 4 KiB apart are read together
// (up to 1 MiB at a time) into a scratch buffer and picked out of it, from
// up to 4 goroutines once the selection takes 64 reads (the [io.ReaderAt]
// contract allows it): the plan of a local file. A reader that says what
// its reads cost (see [ReadHints]; the remote and blob packages' readers
// do) is read as its hints say: over a network, runs up to 1 MiB apart
// share a request, and a selection is spread over the requests in flight.
// It never reads the whole tensor unless the selection covers it. The
// result's size is [View.Size], at most the tensor's; the scratch buffers
// are at most 1 MiB each, or the hints' MaxRead. A result larger than
// [ReadStep] from a File of NewReader whose size
// is only a claim is read in parts into a buffer that grows as they
// arrive, as [File.GetTensor] does.
func (v View) Get() (Tensor, error) {
	if v.s != nil && v.s.f.claimed && v.p.total > ReadStep {
		return v.getGrowing()
	}
	return v.ReadInto(make([]byte, v.p.total))
}

// ReadInto is [View.Get] into the caller's buffer dst, which must hold at
// least [View.Size] bytes; the returned Tensor's bytes are dst[:v.Size()].
func (v View) ReadInto(dst []byte) (Tensor, error) {
	if v.s == nil {
		return Tensor{}, fmt.Errorf("%w: the zero View selects nothing", ErrInvalidSlice)
	}
	s, p := v.s, &v.p
	if int64(len(dst)) < p.total {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: destination of %d bytes is smaller than the selection's %d bytes", s.info.Name, len(dst), p.total)
	}
	dst = dst[:p.total:p.total]
	t := Tensor{dtype: s.info.DType, shape: slices.Clone(v.shape), data: dst}
	if t.shape == nil {
		t.shape = []int{}
	}
	f := s.f
	if f.kind == mapped {
		if err := v.readMapped(dst); err != nil {
			return Tensor{}, tensorReadErr(s.info.Name, err)
		}
		return t, nil
	}
	if f.kind == reader {
		if err := f.readPlan(dst, s.info.DataOffsets[0], p); err != nil {
			return Tensor{}, tensorReadErr(s.info.Name, err)
		}
		return t, nil
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.mem == nil {
		return Tensor{}, ErrClosed
	}
	if !p.empty {
		start := f.DataOffset() + s.info.DataOffsets[0]
		src := f.mem[start : start+s.info.Size()]
		if err := guardFault(func() { gather(dst, src, p.off, p.loops, p.run) }); err != nil {
			return Tensor{}, tensorReadErr(s.info.Name, err)
		}
	}
	return t, nil
}

// gather copies the runs at off + Σ i_j*loops[j].stride of src, each run
// bytes long, into dst in order.
func gather(dst, src []byte, off int64, loops []loop, run int64) {
	if len(loops) == 0 {
		copy(dst, src[off:off+run])
		return
	}
	// Runs of one 2-, 4- or 8-byte element are moved as typed values when
	// the memory allows it: three times faster than through bytes.
	switch run {
	case 2:
		if gatherAs[uint16](dst, src, off, loops, 2) {
			return
		}
	case 4:
		if gatherAs[uint32](dst, src, off, loops, 4) {
			return
		}
	case 8:
		if gatherAs[uint64](dst, src, off, loops, 8) {
			return
		}
	}
	inner := loops[len(loops)-1]
	outer := loops[:len(loops)-1]
	step := int(run) * inner.n
	if len(outer) == 0 {
		gatherLoop(dst[:step], src, off, inner.n, inner.stride, run)
		return
	}
	idx := make([]int, len(outer))
	pos := 0
	for {
		gatherLoop(dst[pos:pos+step], src, off, inner.n, inner.stride, run)
		pos += step
		k := len(outer) - 1
		for ; k >= 0; k-- {
			idx[k]++
			off += outer[k].stride
			if idx[k] < outer[k].n {
				break
			}
			off -= int64(outer[k].n) * outer[k].stride
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// gatherAs is gather for runs of one element of type T (size bytes), through views of
// dst and src as []T. It returns false, having done nothing, when views
// cannot be made (a purego build, a big-endian machine, memory not aligned
// for T) or an offset is not a multiple of T's size.
func gatherAs[T uint16 | uint32 | uint64](dst, src []byte, off int64, loops []loop, size int64) bool {
	d, ok := byteview.Cast[T](dst)
	if !ok {
		return false
	}
	s, ok := byteview.Cast[T](src)
	if !ok {
		return false
	}
	if off%size != 0 {
		return false
	}
	var buf [8]loop
	el := append(buf[:0], loops...) // the loops in elements
	for i := range el {
		if el[i].stride%size != 0 {
			return false
		}
		el[i].stride /= size
	}
	inner, outer := el[len(el)-1], el[:len(el)-1]
	k, st := int(off/size), int(inner.stride)
	if len(outer) == 0 {
		for j := range d {
			d[j] = s[k]
			k += st
		}
		return true
	}
	idx := make([]int, len(outer))
	for pos := 0; pos < len(d); pos += inner.n {
		row := d[pos : pos+inner.n]
		kk := k
		for j := range row {
			row[j] = s[kk]
			kk += st
		}
		for o := len(outer) - 1; o >= 0; o-- {
			idx[o]++
			k += int(outer[o].stride)
			if idx[o] < outer[o].n {
				break
			}
			k -= outer[o].n * int(outer[o].stride)
			idx[o] = 0
		}
	}
	return true
}

// gatherLoop copies n runs of run bytes, stride apart from off in src, into
// dst, which is n*run bytes long. Runs of one element of 1, 2, 4 or 8 bytes
// are moved as integers, which is several times faster than a copy call
// each.
func gatherLoop(dst, src []byte, off int64, n int, stride int64, run int64) {
	le := binary.LittleEndian
	switch run {
	case 1:
		for j := range dst {
			dst[j] = src[off]
			off += stride
		}
	case 2:
		for j := 0; j+2 <= len(dst); j += 2 {
			le.PutUint16(dst[j:], le.Uint16(src[off:]))
			off += stride
		}
	case 4:
		for j := 0; j+4 <= len(dst); j += 4 {
			le.PutUint32(dst[j:], le.Uint32(src[off:]))
			off += stride
		}
	case 8:
		for j := 0; j+8 <= len(dst); j += 8 {
			le.PutUint64(dst[j:], le.Uint64(src[off:]))
			off += stride
		}
	default:
		r := int(run)
		for j := 0; j < n; j++ {
			copy(dst[j*r:(j+1)*r], src[off:off+run])
			off += stride
		}
	}
}

// Reading through an io.ReaderAt: runs closer than readGap are read
// together, in blocks of at most maxReadBlock bytes; selections that take
// many reads spread them over up to maxParallelReads goroutines, each
// with at least minReadsPerWorker reads.
const (
	readGap           = 4 << 10
	maxReadBlock      = 1 << 20
	maxParallelReads  = 4
	minReadsPerWorker = 32
)

// readPlan fills dst with the plan's runs, read from the tensor whose data
// starts at base (relative to the data buffer): through the range planner
// (readView) for a File of NewReader, with readBlocks otherwise.
func (f *File) readPlan(dst []byte, base int64, p *runPlan) error {
	if f.kind == reader {
		return f.readView(dst, base, p)
	}
	return f.readBlocks(dst, base, p)
}

// readBlocks fills dst with the plan's runs, read with f.readAt from the
// tensor whose data starts at base (relative to the data buffer).
//
// It splits the loops in two: the innermost ones form a block, whose span
// is read with one ReadAt when every gap inside it is at most readGap and
// the span at most maxReadBlock, then gathered from a scratch buffer; the
// outer ones iterate over the blocks. With no block (runs far apart), each
// run is read straight into dst. Blocks are independent, so many of them
// are read concurrently: the ReaderAt's contract allows parallel calls,
// and they hide the latency of each call (a system call, or a request
// over a network).
func (f *File) readBlocks(dst []byte, base int64, p *runPlan) error {
	if p.empty {
		if f.closed.Load() {
			return ErrClosed
		}
		return nil
	}
	loops := p.loops
	if len(loops) == 0 {
		return f.readAt(dst, base+p.off)
	}
	r := blockReader{f: f, dst: dst, base: base, p: p, span: p.run, blockBytes: p.run}
	// Choose the block: the innermost m loops.
	m := 0
	for j := len(loops) - 1; j >= 0; j-- {
		st := abs64(loops[j].stride)
		if st-r.span > readGap {
			break
		}
		next := r.span + int64(loops[j].n-1)*st
		if next > maxReadBlock {
			break
		}
		r.span = next
		m++
	}
	r.outer, r.block = loops[:len(loops)-m], loops[len(loops)-m:]
	for _, l := range r.block {
		r.blockBytes *= int64(l.n)
		if l.stride < 0 {
			r.lowShift += int64(l.n-1) * l.stride
		}
	}
	blocks := 1
	for _, l := range r.outer {
		blocks *= l.n // at most the number of runs, which fits in an int
	}
	workers := min(maxParallelReads, blocks/minReadsPerWorker)
	if workers <= 1 {
		return r.read(0, blocks)
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first, last := blocks*w/workers, blocks*(w+1)/workers
			if errs[w] = r.read(first, last-first); errs[w] != nil {
				r.failed.Store(true)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// blockReader reads the blocks of a plan, for readPlan: the block is the
// innermost loops, read as one span of span bytes whose lowest byte is
// lowShift from the block's first run, and the outer loops iterate over
// blocks, each blockBytes long in dst.
type blockReader struct {
	f            *File
	dst          []byte
	base         int64
	p            *runPlan
	outer, block []loop
	span         int64
	lowShift     int64
	blockBytes   int64
	failed       atomic.Bool // set when a concurrent reader fails, to stop the others
}

// read reads count blocks starting from the first-th, in row-major order
// of the outer loops.
func (r *blockReader) read(first, count int) error {
	if count == 0 {
		return nil
	}
	outer := r.outer
	// The first block's position in the outer loops, and its offset.
	idx := make([]int, len(outer))
	off := r.p.off
	rest := first
	for k := len(outer) - 1; k >= 0; k-- {
		idx[k] = rest % outer[k].n
		rest /= outer[k].n
		off += int64(idx[k]) * outer[k].stride
	}
	pos := int64(first) * r.blockBytes
	var scratch []byte
	if len(r.block) > 0 {
		scratch = make([]byte, r.span)
	}
	for range count {
		if r.failed.Load() {
			return nil // another reader failed; its error is reported
		}
		if scratch == nil {
			if err := r.f.readAt(r.dst[pos:pos+r.blockBytes], r.base+off); err != nil {
				return err
			}
		} else {
			lo := off + r.lowShift
			if err := r.f.readAt(scratch, r.base+lo); err != nil {
				return err
			}
			gather(r.dst[pos:pos+r.blockBytes], scratch, off-lo, r.block, r.p.run)
		}
		pos += r.blockBytes
		for k := len(outer) - 1; k >= 0; k-- {
			idx[k]++
			off += outer[k].stride
			if idx[k] < outer[k].n {
				break
			}
			off -= int64(outer[k].n) * outer[k].stride
			idx[k] = 0
		}
	}
	return nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
