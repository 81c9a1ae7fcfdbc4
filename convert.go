package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/safetensors-go/safetensors/internal/byteview"
	fc "github.com/safetensors-go/safetensors/internal/floatconv"
	"github.com/x448/float16"
)

// ErrUnrepresentable is wrapped by the errors of [FromFloat32],
// [FromFloat64], [FromInt64], [AppendEncoded], [Convert], [ToInt64],
// [Unmarshal] and [Marshal] when a
// value has no encoding in the target dtype under that dtype's rule (see
// [FromFloat32]): a NaN or an infinity for F4 and F6, a negative number for
// F8_E8M0, a NaN or an out-of-range number for an integer dtype. The error
// names the element's index and value.
var ErrUnrepresentable = errors.New("safetensors: value not representable in dtype")

// Decoding: any dtype's elements as Go numbers.

// ToFloat32 returns the tensor's elements as float32, decoded exactly: every
// value of F16, BF16, F8_E4M3, F8_E5M2, F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E8M0,
// F4, F6_E2M3 and F6_E3M2 is a float32, and so is every value of BOOL (0 or
// 1; any nonzero byte is true), U8, I8, U16 and I16. F64, and integers of 32
// and 64 bits beyond 2^24, round to the nearest float32, ties to even. NaNs
// stay NaN, with their sign where the format has one.
//
// When t is already F32 and its bytes are aligned for float32 on a
// little-endian machine, the result is a view of t's bytes, as
// [Values][float32] returns: no copy, and writing to it writes the tensor
// (which for a tensor of [Open] is read-only memory). Otherwise it is a new
// slice that the caller owns. [AppendFloat32] decodes into a caller's
// buffer instead.
//
// F4 and F6 are unpacked as the format packs them, lowest element in the
// lowest bits: an F4 byte holds element 2k in its low nibble and 2k+1 in
// its high nibble; three F6 bytes b0 b1 b2 form the 24-bit little-endian
// word b0 | b1<<8 | b2<<16, which holds element 4k in bits 0-5, 4k+1 in
// bits 6-11, 4k+2 in bits 12-17 and 4k+3 in bits 18-23. Within an element
// the sign is the top bit, then the exponent, then the mantissa.
//
// C64 has no float32 form: use [ToComplex64]. The error wraps
// [ErrInvalidTensorInfo]. ToFloat32 does not modify t and is safe for
// concurrent use.
func ToFloat32(t Tensor) ([]float32, error) {
	if t.dtype == F32 {
		return Values[float32](t)
	}
	return AppendFloat32(nil, t)
}

// AppendFloat32 appends the tensor's elements, decoded as [ToFloat32]
// decodes them, to dst and returns the extended slice. It never returns a
// view: with enough capacity in dst it allocates nothing, so a caller can
// reuse one buffer (already touched, which matters for large tensors) with
// buf, err = AppendFloat32(buf[:0], t).
func AppendFloat32(dst []float32, t Tensor) ([]float32, error) {
	n := t.NumElements()
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	if err := guarded(func() error { return decode32(out, t.dtype, t.data) }); err != nil {
		return dst, err
	}
	return dst[:len(dst)+n], nil
}

// ToFloat64 returns the tensor's elements as float64, decoded exactly for
// every dtype but I64 and U64, whose values beyond 2^53 round to the nearest
// float64. When t is F64 and aligned, the result is a view, as with
// [ToFloat32]; otherwise a new slice. C64 is an error wrapping
// [ErrInvalidTensorInfo].
func ToFloat64(t Tensor) ([]float64, error) {
	if t.dtype == F64 {
		return Values[float64](t)
	}
	return AppendFloat64(nil, t)
}

// AppendFloat64 appends the tensor's elements, decoded as [ToFloat64]
// decodes them, to dst and returns the extended slice. Like
// [AppendFloat32], it never returns a view.
func AppendFloat64(dst []float64, t Tensor) ([]float64, error) {
	n := t.NumElements()
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	if err := guarded(func() error { return decode64(out, t.dtype, t.data, false) }); err != nil {
		return dst, err
	}
	return dst[:len(dst)+n], nil
}

// ToComplex64 returns the tensor's elements as complex64: for C64 a view of
// its bytes when aligned (as [Values] makes), else a copy; for every other
// numeric dtype the values of [ToFloat32] with a zero imaginary part, in a
// new slice.
func ToComplex64(t Tensor) ([]complex64, error) {
	if t.dtype == C64 {
		return Values[complex64](t)
	}
	re, err := ToFloat32(t)
	if err != nil {
		return nil, err
	}
	out := make([]complex64, len(re))
	for i, v := range re {
		out[i] = complex(v, 0)
	}
	return out, nil
}

// ToInt64 returns the elements of an integer or BOOL tensor as int64, in a
// new slice: exactly, except that a U64 value above [math.MaxInt64] is an
// error wrapping [ErrUnrepresentable]. Float dtypes are an error wrapping
// [ErrInvalidTensorInfo]: decode them with [ToFloat64] and round as the
// application needs. For the native Go type of a dtype, use [Values].
func ToInt64(t Tensor) ([]int64, error) {
	if !t.dtype.IsInteger() && t.dtype != BOOL {
		return nil, fmt.Errorf("%w: ToInt64 of a %v tensor: only integer and BOOL tensors convert to int64", ErrInvalidTensorInfo, t.dtype)
	}
	out := make([]int64, t.NumElements())
	if err := guarded(func() error { return decodeInt64Checked(out, t.dtype, t.data) }); err != nil {
		return nil, err
	}
	return out, nil
}

// Encoding: Go numbers as any dtype.

// FromFloat32 returns a new tensor of the given dtype and shape holding
// values, encoded. len(values) must be the shape's element count. The
// tensor's bytes are newly allocated and owned by the caller; values is
// not retained (use [FromValues] to wrap a []float32 without copying).
//
// Every float dtype rounds to nearest, ties to even, then applies its rule
// for what lies beyond its largest finite value, for NaN and for infinity:
//
//	dtype        max finite  overflow   ±Inf    NaN         -0
//	F64, F32     -           -          ±Inf    NaN (kept)  -0
//	F16          65504       ±Inf       ±Inf    NaN (kept)  -0
//	BF16         3.39e38     ±Inf       ±Inf    NaN (kept)  -0
//	F8_E4M3      448         NaN        NaN     NaN         -0
//	F8_E5M2      57344       ±Inf       ±Inf    NaN         -0
//	F8_E4M3FNUZ  240         NaN        NaN     NaN         +0
//	F8_E5M2FNUZ  57344       NaN        NaN     NaN         +0
//	F8_E8M0      2^127       2^127      NaN     NaN         2^-127
//	F4           6           ±6         error   error       -0
//	F6_E2M3      7.5         ±7.5       error   error       -0
//	F6_E3M2      28          ±28        error   error       -0
//
// "Overflow" is a finite value that rounds beyond the largest finite one:
// for F8_E4M3 anything from 464 up (464 itself ties to 448), for F16 from
// 65520. The F8 rules are PyTorch's (its casts do not saturate; clamp the
// values first for saturation, as FP8 quantizers do); those of F4, F6 and
// F8_E8M0, which PyTorch cannot cast to, are the saturating conversion of
// the OCP Microscaling (MX) specification v1.0. NaN becomes the format's
// NaN with its sign where the format has one NaN per sign (F8_E4M3: 0x7F or
// 0xFF; F8_E5M2: 0x7F or 0xFF, as PyTorch writes; FNUZ: 0x80); "kept" means
// F16 and BF16 keep the sign and the top payload bits and set the quiet
// bit. F8_E8M0 holds positive powers of two: it rounds to the nearest one
// (1.5*2^k, the tie, goes up to 2^(k+1)), gives its smallest code 2^-127
// for ±0 and anything smaller, and refuses negative values. F4 and F6 have
// no NaN or infinity: those values are an error, as is a negative value for
// F8_E8M0; the error wraps [ErrUnrepresentable] and names the first such
// element.
//
// Integer dtypes round to the nearest integer, ties to even (2.5 gives 2;
// PyTorch and NumPy truncate instead), and refuse NaN and values outside
// their range with an error wrapping [ErrUnrepresentable] rather than wrap
// around. BOOL is true for every value but ±0 (NaN included), as in
// PyTorch. C64 gets the value as its real part and 0 as its imaginary part.
//
// A wrong element count, or an invalid dtype or shape, is an error wrapping
// [ErrInvalidTensorInfo] (or the sentinel of [NewTensor]'s checks).
func FromFloat32(dtype DType, shape []int, values []float32) (Tensor, error) {
	return newEncoded(dtype, shape, values, encodeFloats[float32])
}

// FromFloat64 is [FromFloat32] for float64 values. Each value is rounded
// once, directly from float64 to the target (no double rounding through
// float32), with the same rules.
func FromFloat64(dtype DType, shape []int, values []float64) (Tensor, error) {
	return newEncoded(dtype, shape, values, encodeFloats[float64])
}

// AppendEncoded appends values, encoded as dtype with the rules of
// [FromFloat32] (float64 values rounded once, as [FromFloat64] does), to dst
// and returns the extended slice: the bytes a tensor of these values
// holds. With enough capacity in dst it allocates nothing, which suits
// callers that encode a stream chunk by chunk into one buffer. For F4 and
// F6, len(values) must fill whole bytes (a multiple of 2 or 4), else the
// error wraps [ErrMisalignedSlice]. On error dst is returned unextended.
//
// Encoding 2 Mi float32 values or more to F16 or BF16, which is bound by
// arithmetic rather than memory, is split across up to GOMAXPROCS
// goroutines, as PyTorch's casts are; the result is the same.
func AppendEncoded[F float32 | float64](dst []byte, dtype DType, values []F) ([]byte, error) {
	if !dtype.Valid() {
		return dst, fmt.Errorf("%w: invalid dtype %v", ErrInvalidTensorInfo, dtype)
	}
	bits := len(values) * dtype.BitSize() // cannot overflow: values exist in memory
	if bits%8 != 0 {
		return dst, fmt.Errorf("%w: %d elements of %v fill %d bits, not whole bytes", ErrMisalignedSlice, len(values), dtype, bits)
	}
	n := bits / 8
	dst = slices.Grow(dst, n)
	if err := encodeFloats(dst[len(dst):len(dst)+n], dtype, values); err != nil {
		return dst, err
	}
	return dst[:len(dst)+n], nil
}

// FromInt64 is [FromFloat32] for int64 values: integer dtypes take them
// exactly or refuse those out of their range (wrapping
// [ErrUnrepresentable]); float dtypes round each value once, to nearest
// even, with the rules of [FromFloat32].
func FromInt64(dtype DType, shape []int, values []int64) (Tensor, error) {
	return newEncoded(dtype, shape, values, encodeInt64)
}

// FromValues returns a tensor of the dtype of T (see [DTypeOf]) and the
// given shape over values. On a little-endian machine (without the purego
// build tag) the tensor aliases values, with no copy: its [Tensor.Data] is
// values' memory, and changing one changes the other. Elsewhere its bytes
// are a little-endian copy. len(values) must be the shape's element count,
// else the error wraps [ErrInvalidTensorInfo].
func FromValues[T Element](shape []int, values []T) (Tensor, error) {
	dtype := DTypeOf[T]()
	if err := checkCount(dtype, shape, len(values)); err != nil {
		return Tensor{}, err
	}
	data, ok := byteview.Bytes(values)
	if !ok {
		data = encodeValues(values)
	}
	return NewTensor(dtype, shape, data)
}

// Convert returns t converted to the dtype to, element by element, in a new
// tensor with the same shape whose bytes the caller owns. Each value is
// decoded exactly and rounded once to the target with the rules of
// [FromFloat32] (integer targets: nearest, ties to even, range checked;
// integer to integer: exact or an error wrapping [ErrUnrepresentable]).
// Converting a whole file from F32 to BF16 is a loop calling Convert on each
// floating-point tensor.
//
// When to is t's own dtype, Convert returns t itself, sharing its bytes.
// C64 converts only to C64; a real dtype converts to C64 as its real part.
// An invalid to is an error wrapping [ErrInvalidTensorInfo]. Convert works in
// chunks and holds no more than the input and output plus 32 KiB.
func Convert(t Tensor, to DType) (Tensor, error) {
	if !to.Valid() {
		return Tensor{}, fmt.Errorf("%w: convert to invalid %v", ErrInvalidTensorInfo, to)
	}
	if to == t.dtype {
		return t, nil
	}
	if t.dtype == C64 {
		return Tensor{}, fmt.Errorf("%w: convert C64 to %v: a complex tensor converts only to C64", ErrInvalidTensorInfo, to)
	}
	n := t.NumElements()
	out, err := newOutput(to, t.shape, n)
	if err != nil {
		return Tensor{}, err
	}
	isInt := func(d DType) bool { return d.IsInteger() || d == BOOL }
	err = guarded(func() error {
		switch {
		case isInt(t.dtype) && isInt(to):
			return convertChunks[int64](out.data, to, t)
		case exactIn32(t.dtype) && to != F64:
			return convertChunks[float32](out.data, to, t)
		}
		return convertChunks[float64](out.data, to, t)
	})
	if err != nil {
		return Tensor{}, err
	}
	return out, nil
}

// BFloat16FromFloat32 returns the bfloat16 nearest to f, ties to even;
// values beyond the largest bfloat16 become ±Inf. A NaN stays NaN with its
// sign and the top of its payload, and is made quiet.
func BFloat16FromFloat32(f float32) BFloat16 {
	return BFloat16(fc.BF16FromBits(math.Float32bits(f)))
}

// exactIn32 reports whether every value of d is exactly a float32.
func exactIn32(d DType) bool {
	switch d {
	case F64, I32, U32, I64, U64, C64:
		return false
	}
	return true
}

// convertChunks decodes t in chunks into a buffer of N and encodes each
// chunk into out, which has room for t's element count in dtype to. N is
// int64 for integer-to-integer conversions, float32 when every source value
// is exactly a float32 and the target is not F64, and float64 otherwise
// (sources I64 and U64 then round to odd in float64, so that the one
// rounding to a float target below 53 bits is correct).
func convertChunks[N int64 | float32 | float64](out []byte, to DType, t Tensor) error {
	const chunk = 4096 // a multiple of 4: chunks of F4 and F6 fill whole bytes
	n := t.NumElements()
	buf := make([]N, min(n, chunk))
	inBits, outBits := t.dtype.BitSize(), to.BitSize()
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		src := t.data[i*inBits/8 : (i+m)*inBits/8]
		dst := out[i*outBits/8 : (i+m)*outBits/8]
		var err error
		switch b := any(buf[:m]).(type) {
		case []int64:
			err = decodeInt64Checked(b, t.dtype, src)
			if err == nil {
				err = encodeInt64(dst, to, b)
			}
		case []float32:
			err = decode32(b, t.dtype, src)
			if err == nil {
				err = encodeFloats(dst, to, b)
			}
		case []float64:
			err = decode64(b, t.dtype, src, to != F64)
			if err == nil {
				err = encodeFloats(dst, to, b)
			}
		}
		if err != nil {
			return offsetIndex(err, i)
		}
	}
	return nil
}

// newEncoded returns a new tensor of dtype and shape holding values,
// encoded by enc.
func newEncoded[V any](dtype DType, shape []int, values []V, enc func([]byte, DType, []V) error) (Tensor, error) {
	t, err := newOutput(dtype, shape, len(values))
	if err != nil {
		return Tensor{}, err
	}
	if err := enc(t.data, dtype, values); err != nil {
		return Tensor{}, err
	}
	return t, nil
}

// newOutput allocates a tensor of dtype and shape for count values.
func newOutput(dtype DType, shape []int, count int) (Tensor, error) {
	if err := checkCount(dtype, shape, count); err != nil {
		return Tensor{}, err
	}
	size, _ := byteSize(dtype, shape) // checked by checkCount
	return Tensor{dtype: dtype, shape: slices.Clone(shape), data: make([]byte, size)}, nil
}

// checkCount checks dtype and shape as [NewTensor] does, and that the shape
// has count elements.
func checkCount(dtype DType, shape []int, count int) error {
	if _, err := checkShape(dtype, shape); err != nil {
		return err
	}
	if n := numElements(shape); n != count {
		return fmt.Errorf("%w: shape %v has %d elements, got %d values", ErrInvalidTensorInfo, shape, n, count)
	}
	return nil
}

// elemError is an ErrUnrepresentable about one element, whose index
// offsetIndex can shift when the element was found in a chunk.
type elemError struct {
	index int
	value string
	dtype DType
}

func (e *elemError) Error() string {
	return fmt.Sprintf("%v: element %d (%s) has no %v encoding", ErrUnrepresentable, e.index, e.value, e.dtype)
}

func (e *elemError) Unwrap() error { return ErrUnrepresentable }

func unrepresentable[V any](index int, value V, dtype DType) error {
	return &elemError{index: index, value: fmt.Sprint(value), dtype: dtype}
}

func offsetIndex(err error, by int) error {
	var e *elemError
	if errors.As(err, &e) {
		e.index += by
	}
	return err
}

// decode32 decodes len(dst) elements of dtype d from data into dst.
func decode32(dst []float32, d DType, data []byte) error {
	switch d {
	case F32:
		if v, ok := byteview.Cast[float32](data); ok {
			copy(dst, v)
			return nil
		}
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
	case F64:
		for i, v := range leValues[float64](data) {
			dst[i] = float32(v)
		}
	case F16:
		fc.DecodeF16(dst, data)
	case BF16:
		fc.DecodeBF16(dst, data)
	case F8E4M3, F8E5M2, F8E4M3FNUZ, F8E5M2FNUZ, F8E8M0:
		fc.DecodeTable8(dst, data, dtypeTable8[d])
	case F4:
		fc.DecodeF4(dst, data)
	case F6E2M3, F6E3M2:
		fc.DecodeF6(dst, data, dtypeFormats[d])
	case C64:
		return fmt.Errorf("%w: a C64 tensor has no real values: use ToComplex64", ErrInvalidTensorInfo)
	default:
		return decodeInts(dst, d, data)
	}
	return nil
}

// decode64 decodes len(dst) elements of dtype d from data into dst. With
// odd, I64 and U64 values that float64 cannot hold round to odd (truncate,
// then set the last bit if anything was dropped), for a later rounding to a
// narrower format; without it they round to nearest even.
func decode64(dst []float64, d DType, data []byte, odd bool) error {
	switch d {
	case F64:
		if v, ok := byteview.Cast[float64](data); ok {
			copy(dst, v)
			return nil
		}
		for i := range dst {
			dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
		}
		return nil
	case I64:
		if odd {
			for i, v := range leValues[int64](data) {
				dst[i] = roundOddInt(v)
			}
			return nil
		}
	case U64:
		if odd {
			for i, v := range leValues[uint64](data) {
				dst[i] = roundOdd(v)
			}
			return nil
		}
	}
	switch {
	case d.IsInteger() || d == BOOL:
		return decodeInts(dst, d, data) // exact but for 64-bit values beyond 2^53
	case d == C64:
		return fmt.Errorf("%w: a C64 tensor has no real values: use ToComplex64", ErrInvalidTensorInfo)
	}
	// Every other float dtype's values are float32s: decode through a
	// small float32 buffer and widen.
	var buf [1024]float32 // a multiple of 4: F4 and F6 chunks fill whole bytes
	bitsPer := d.BitSize()
	for i := 0; i < len(dst); i += len(buf) {
		m := min(len(buf), len(dst)-i)
		if err := decode32(buf[:m], d, data[i*bitsPer/8:(i+m)*bitsPer/8]); err != nil {
			return err
		}
		for j, v := range buf[:m] {
			dst[i+j] = float64(v)
		}
	}
	return nil
}

// roundOdd returns u as a float64 rounded to odd: exact when u fits in 53
// bits, else truncated to 53 significant bits with the last one set when any
// dropped bit was. Rounding the result once more to a format of at most 51
// significant bits gives the correctly rounded value of u.
func roundOdd(u uint64) float64 {
	k := bits.Len64(u) - 53
	if k <= 0 {
		return float64(u)
	}
	m := u >> k
	if u&(1<<k-1) != 0 {
		m |= 1
	}
	return math.Ldexp(float64(m), k)
}

// roundOddInt is roundOdd for a signed value.
func roundOddInt(v int64) float64 {
	if v < 0 {
		return -roundOdd(-uint64(v)) // -uint64 is |v|, also for MinInt64
	}
	return roundOdd(uint64(v))
}

// decodeInts converts integer and BOOL elements to N.
func decodeInts[N int64 | float32 | float64](dst []N, d DType, data []byte) error {
	switch d {
	case BOOL:
		for i, b := range data[:len(dst)] {
			if b != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case U8:
		for i, b := range data[:len(dst)] {
			dst[i] = N(b)
		}
	case I8:
		for i, b := range data[:len(dst)] {
			dst[i] = N(int8(b))
		}
	case U16:
		widenInts(dst, leValues[uint16](data))
	case I16:
		widenInts(dst, leValues[int16](data))
	case U32:
		widenInts(dst, leValues[uint32](data))
	case I32:
		widenInts(dst, leValues[int32](data))
	case U64:
		widenInts(dst, leValues[uint64](data))
	case I64:
		widenInts(dst, leValues[int64](data))
	default:
		return fmt.Errorf("%w: cannot decode %v", ErrInvalidTensorInfo, d)
	}
	return nil
}

// decodeInt64Checked is decodeInts into int64, refusing U64 values above
// MaxInt64.
func decodeInt64Checked(dst []int64, d DType, data []byte) error {
	if d == U64 {
		for i, v := range leValues[uint64](data) {
			if v > math.MaxInt64 {
				return unrepresentable(i, v, I64)
			}
			dst[i] = int64(v)
		}
		return nil
	}
	return decodeInts(dst, d, data)
}

type intElement interface {
	uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64 | int64
}

func widenInts[N int64 | float32 | float64, T intElement](dst []N, src []T) {
	for i, v := range src[:len(dst)] {
		dst[i] = N(v)
	}
}

// leValues returns little-endian data as a []T: a view when aligned on a
// little-endian machine, else a decoded copy.
func leValues[T Element](data []byte) []T {
	if v, ok := castValues[T](Tensor{dtype: DTypeOf[T](), data: data}); ok {
		return v
	}
	return decodeValues[T](data)
}

// dtypeTable8 and dtypeFormats map dtypes to their floatconv tables and formats.
var (
	dtypeTable8 = [numDTypes]*fc.Table8{
		F8E4M3: fc.TabE4M3FN, F8E5M2: fc.TabE5M2, F8E4M3FNUZ: fc.TabE4M3FNUZ,
		F8E5M2FNUZ: fc.TabE5M2FNUZ, F8E8M0: fc.TabE8M0,
	}
	dtypeFormats = [numDTypes]*fc.Format{
		F16: fc.F16, BF16: fc.BF16, F8E4M3: fc.E4M3FN, F8E5M2: fc.E5M2,
		F8E4M3FNUZ: fc.E4M3FNUZ, F8E5M2FNUZ: fc.E5M2FNUZ, F8E8M0: fc.E8M0FNU,
		F4: fc.E2M1, F6E2M3: fc.E2M3, F6E3M2: fc.E3M2,
	}
)

// encodeFloats encodes src into dst (exactly the bytes len(src) elements of d
// take) with the rules of FromFloat32.
func encodeFloats[F float32 | float64](dst []byte, d DType, src []F) error {
	bad := -1
	switch d {
	case F32:
		if s32, ok := any(src).([]float32); ok {
			if b, ok := byteview.Bytes(s32); ok {
				copy(dst, b)
				return nil
			}
		}
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(float32(v)))
		}
	case F64:
		for i, v := range src {
			binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	case C64:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[8*i:], math.Float32bits(float32(v)))
			binary.LittleEndian.PutUint32(dst[8*i+4:], 0)
		}
	case F16, BF16:
		if s32, ok := any(src).([]float32); ok {
			enc := fc.EncodeF16
			if d == BF16 {
				enc = fc.EncodeBF16
			}
			if len(s32) < 2*parallelMin {
				enc(dst, s32) // no closure: encoding into capacity allocates nothing
				return nil
			}
			return inParallel(len(s32), func(lo, hi int) { enc(dst[2*lo:2*hi], s32[lo:hi]) })
		}
		fc.Encode16(dst, any(src).([]float64), dtypeFormats[d])
	case F8E4M3, F8E5M2, F8E4M3FNUZ, F8E5M2FNUZ, F8E8M0:
		bad = fc.Encode8(dst, src, dtypeFormats[d])
	case F4:
		bad = fc.EncodeF4(dst, src)
	case F6E2M3, F6E3M2:
		bad = fc.EncodeF6(dst, src, dtypeFormats[d])
	case BOOL:
		for i, v := range src {
			dst[i] = 0
			if v != 0 { // NaN too, as in PyTorch
				dst[i] = 1
			}
		}
	default:
		return encodeFloatInts(dst, d, src)
	}
	if bad >= 0 {
		return unrepresentable(bad, src[bad], d)
	}
	return nil
}

// encodeFloatInts rounds src to nearest even and stores it as integers of
// dtype d, refusing NaN and values out of range.
func encodeFloatInts[F float32 | float64](dst []byte, d DType, src []F) error {
	switch d {
	case U8:
		return roundInts[uint8](dst, d, src)
	case I8:
		return roundInts[int8](dst, d, src)
	case U16:
		return roundInts[uint16](dst, d, src)
	case I16:
		return roundInts[int16](dst, d, src)
	case U32:
		return roundInts[uint32](dst, d, src)
	case I32:
		return roundInts[int32](dst, d, src)
	case U64:
		return roundInts[uint64](dst, d, src)
	case I64:
		return roundInts[int64](dst, d, src)
	}
	return fmt.Errorf("%w: cannot encode to %v", ErrInvalidTensorInfo, d)
}

func roundInts[T intElement, F float32 | float64](dst []byte, d DType, src []F) error {
	lo, hi := intRange(d) // the range is [lo, hi)
	out, view := byteview.Cast[T](dst)
	for i, v := range src {
		x := math.RoundToEven(float64(v))
		if !(x >= lo && x < hi) {
			return unrepresentable(i, v, d)
		}
		if view {
			out[i] = T(x) // in range: exact
		} else if x < 0 {
			putInt(dst, d, i, uint64(int64(x)))
		} else {
			putInt(dst, d, i, uint64(x))
		}
	}
	return nil
}

// intRange returns the range [lo, hi) of integer dtype d, as float64s
// (both exact: powers of two).
func intRange(d DType) (lo, hi float64) {
	n := d.BitSize()
	switch d {
	case U8, U16, U32, U64:
		return 0, math.Ldexp(1, n)
	}
	return -math.Ldexp(1, n-1), math.Ldexp(1, n-1)
}

// putInt stores the low bits of u as element i of integer dtype d.
func putInt(dst []byte, d DType, i int, u uint64) {
	switch d.BitSize() {
	case 8:
		dst[i] = byte(u)
	case 16:
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(u))
	case 32:
		binary.LittleEndian.PutUint32(dst[4*i:], uint32(u))
	default:
		binary.LittleEndian.PutUint64(dst[8*i:], u)
	}
}

// encodeInt64 encodes int64 values into dst as dtype d.
func encodeInt64(dst []byte, d DType, src []int64) error {
	switch {
	case d == BOOL:
		for i, v := range src {
			dst[i] = 0
			if v != 0 {
				dst[i] = 1
			}
		}
		return nil
	case d.IsInteger():
		n := d.BitSize()
		signed := d == I8 || d == I16 || d == I32 || d == I64
		for i, v := range src {
			var ok bool
			switch {
			case signed:
				ok = n == 64 || v >= -1<<(n-1) && v < 1<<(n-1)
			default:
				ok = v >= 0 && (n == 64 || v < 1<<n)
			}
			if !ok {
				return unrepresentable(i, v, d)
			}
			putInt(dst, d, i, uint64(v))
		}
		return nil
	case d == F64:
		for i, v := range src {
			binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
		return nil
	}
	// Floats narrower than float64: round to odd in float64 first, then once
	// to the target.
	var buf [1024]float64
	per := d.BitSize()
	for i := 0; i < len(src); i += len(buf) {
		m := min(len(buf), len(src)-i)
		for j, v := range src[i : i+m] {
			buf[j] = roundOddInt(v)
		}
		if err := encodeFloats(dst[i*per/8:(i+m)*per/8], d, buf[:m]); err != nil {
			return offsetIndex(err, i)
		}
	}
	return nil
}

// encodeValues returns the little-endian bytes of s, copied.
func encodeValues[T Element](s []T) []byte {
	d := DTypeOf[T]()
	out := make([]byte, len(s)*d.BitSize()/8)
	le := binary.LittleEndian
	for i, v := range s {
		switch x := any(v).(type) {
		case bool:
			if x {
				out[i] = 1
			}
		case uint8:
			out[i] = x
		case int8:
			out[i] = byte(x)
		case uint16:
			le.PutUint16(out[2*i:], x)
		case int16:
			le.PutUint16(out[2*i:], uint16(x))
		case float16.Float16:
			le.PutUint16(out[2*i:], x.Bits())
		case BFloat16:
			le.PutUint16(out[2*i:], x.Bits())
		case uint32:
			le.PutUint32(out[4*i:], x)
		case int32:
			le.PutUint32(out[4*i:], uint32(x))
		case float32:
			le.PutUint32(out[4*i:], math.Float32bits(x))
		case uint64:
			le.PutUint64(out[8*i:], x)
		case int64:
			le.PutUint64(out[8*i:], uint64(x))
		case float64:
			le.PutUint64(out[8*i:], math.Float64bits(x))
		case complex64:
			le.PutUint32(out[8*i:], math.Float32bits(real(x)))
			le.PutUint32(out[8*i+4:], math.Float32bits(imag(x)))
		}
	}
	return out
}

// parallelMin is the number of elements from which the float32 to F16 and
// BF16 encoders, which are bound by arithmetic rather than memory, split
// their work across goroutines, as PyTorch's cast kernels do with
// parallel_for. Below it, starting goroutines would cost more than it saves.
const parallelMin = 1 << 20

// inParallel calls fn over [0, n) in up to GOMAXPROCS chunks of at least
// parallelMin elements (a multiple of 64 each), concurrently, and waits.
// Each chunk runs under guardFault, since the values may be a view of a
// mapped file; the first fault is returned.
func inParallel(n int, fn func(lo, hi int)) error {
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin)
	if workers <= 1 {
		return guardFault(func() { fn(0, n) })
	}
	// Round the share up, then to a multiple of 64: rounding n/workers down
	// would leave the last n%workers values to no one.
	chunk := ((n+workers-1)/workers + 63) &^ 63
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min(n, (w+1)*chunk)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = guardFault(func() { fn(lo, hi) })
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
