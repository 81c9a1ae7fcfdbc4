package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/safetensors-go/safetensors/internal/byteview"
	"github.com/x448/float16"
)

// maxInt is the largest int, used for the ErrOverflow checks.
const maxInt = int(^uint(0) >> 1)

// Tensor is a dtype, a shape and the element bytes: little-endian, row-major,
// packed. F4 and F6 elements are packed into bytes lowest bits first.
//
// A Tensor is a small value that is cheap to copy; copies share the bytes.
// Whether the bytes belong to the Tensor or to something else depends on
// where it came from: see [File.GetTensor] and [NewTensor].
type Tensor struct {
	dtype DType
	shape []int // never modified after construction; Shape returns a copy
	data  []byte
	// src is the File of Open whose mapping data is a view of, and srcOff
	// the offset of data in its file; nil for any other tensor. Saving
	// reads the bytes from the file there (pread, copy_file_range) instead
	// of through the mapping, whose pages would otherwise be faulted in.
	src    *File
	srcOff int64
}

// NewTensor returns a tensor over data, which it does not copy: the Tensor
// aliases data. shape is copied. It checks dtype, that no dimension is
// negative, that the element count and byte size do not overflow
// ([ErrOverflow]), that sub-byte dtypes fill whole bytes
// ([ErrMisalignedSlice]), and that len(data) is exactly the size that dtype
// and shape need ([ErrInvalidTensorInfo]). An empty shape is a scalar: one
// element.
func NewTensor(dtype DType, shape []int, data []byte) (Tensor, error) {
	n, err := checkShape(dtype, shape)
	if err != nil {
		return Tensor{}, err
	}
	if len(data) != n {
		return Tensor{}, fmt.Errorf("%w: %v%v needs %d bytes, data has %d", ErrInvalidTensorInfo, dtype, shape, n, len(data))
	}
	return Tensor{dtype: dtype, shape: slices.Clone(shape), data: data}, nil
}

// checkShape checks a dtype and a shape given by a caller (a valid dtype, no
// negative dimension, a size that does not overflow) and returns the byte
// size they need.
func checkShape(dtype DType, shape []int) (int, error) {
	if !dtype.Valid() {
		return 0, fmt.Errorf("%w: invalid dtype %v", ErrInvalidTensorInfo, dtype)
	}
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative dimension %d at axis %d of shape %v", ErrInvalidTensorInfo, d, i, shape)
		}
	}
	return byteSize(dtype, shape)
}

// byteSize returns the number of bytes a tensor of dtype d and the given
// non-negative shape needs, computed as the reference does: the element count
// multiplied left to right, then times the bit size, each step checked for
// overflow (ErrOverflow), then the bit count must be a multiple of 8
// (ErrMisalignedSlice). The result fits in an int.
func byteSize(d DType, shape []int) (int, error) {
	count := uint64(1)
	for _, dim := range shape {
		hi, lo := bits.Mul64(count, uint64(dim))
		if hi != 0 {
			return 0, fmt.Errorf("%w: element count of shape %v overflows", ErrOverflow, shape)
		}
		count = lo
	}
	hi, nbits := bits.Mul64(count, uint64(d.BitSize()))
	if hi != 0 {
		return 0, fmt.Errorf("%w: bit size of %v%v overflows", ErrOverflow, d, shape)
	}
	if nbits%8 != 0 {
		return 0, fmt.Errorf("%w: %d elements of %v fill %d bits, not whole bytes", ErrMisalignedSlice, count, d, nbits)
	}
	if nbits/8 > uint64(maxInt) {
		return 0, fmt.Errorf("%w: byte size of %v%v does not fit in an int", ErrOverflow, d, shape)
	}
	return int(nbits / 8), nil
}

// DType returns the tensor's element type.
func (t Tensor) DType() DType { return t.dtype }

// Shape returns a copy of the tensor's dimensions; empty for a scalar. Use
// [Tensor.Rank] and [Tensor.Dim] to read them without allocating.
func (t Tensor) Shape() []int {
	if t.shape == nil {
		return []int{}
	}
	return slices.Clone(t.shape)
}

// Rank returns the number of dimensions: 0 for a scalar.
func (t Tensor) Rank() int { return len(t.shape) }

// Dim returns the size of dimension i. It panics if i is out of range, like
// indexing a slice.
func (t Tensor) Dim(i int) int { return t.shape[i] }

// NumElements returns the number of elements: the product of the shape, 1
// for a scalar.
func (t Tensor) NumElements() int { return numElements(t.shape) }

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d // cannot overflow: every Tensor's shape passed byteSize
	}
	return n
}

// Data returns the element bytes, without copying.
//
// For a tensor from [Open] they are a view of the read-only memory mapping:
// writing to them crashes the program, and they become invalid when the File
// is closed. (The Tensor itself also knows the file its bytes are in, so
// that [Save] and the [Writer] read them from the file instead of faulting
// in the mapping; a Tensor made with [NewTensor] from these bytes does not,
// and is written from memory.) For a tensor from [Load] they alias the caller's buffer. For a
// tensor from [NewReader] they are a fresh buffer that the caller owns.
func (t Tensor) Data() []byte { return t.data }

// String describes the tensor briefly, as in "F32[2 3] (24 bytes)".
func (t Tensor) String() string {
	return fmt.Sprintf("%v%v (%d bytes)", t.dtype, t.shape, len(t.data))
}

// BFloat16 is a bfloat16 value: the top 16 bits of an IEEE 754 float32. It
// is the Go element type of [BF16] tensors in [Values].
type BFloat16 uint16

// Float32 returns the value exactly as a float32.
func (b BFloat16) Float32() float32 { return math.Float32frombits(uint32(b) << 16) }

// Bits returns the raw 16 bits.
func (b BFloat16) Bits() uint16 { return uint16(b) }

// Element is the set of Go types that [Values] can return, each the
// natural type of one dtype: bool for BOOL, uint8 for U8, int8 for I8, and so
// on up to complex64 for C64, [float16.Float16] for F16 and [BFloat16] for
// BF16. The F8, F6 and F4 dtypes have no Go type: convert them with
// [ToFloat32], or read their bytes with [Tensor.Data].
type Element interface {
	bool | uint8 | int8 | uint16 | int16 | uint32 | int32 | uint64 | int64 |
		float32 | float64 | complex64 | float16.Float16 | BFloat16
}

// DTypeOf returns the dtype whose elements have Go type T.
func DTypeOf[T Element]() DType {
	var zero T
	switch any(zero).(type) {
	case bool:
		return BOOL
	case uint8:
		return U8
	case int8:
		return I8
	case uint16:
		return U16
	case int16:
		return I16
	case uint32:
		return U32
	case int32:
		return I32
	case uint64:
		return U64
	case int64:
		return I64
	case float32:
		return F32
	case float64:
		return F64
	case complex64:
		return C64
	case float16.Float16:
		return F16
	case BFloat16:
		return BF16
	}
	panic("unreachable: Element has no other types")
}

// Values returns the tensor's elements as a []T, where T must be the Go
// type of the tensor's dtype (see [Element]); any other T is an error
// wrapping [ErrInvalidTensorInfo].
//
// The result is a view that shares the tensor's bytes, without copying, when
// three things hold: the machine is little-endian (and the build has no
// purego tag), the bytes start at an address aligned for T, and, for BOOL,
// every byte is 0 or 1. Otherwise it is a freshly decoded copy. Tensors from
// files written by the reference writer are aligned, since it pads the header
// to a multiple of 8 and orders tensors by dtype size; files from older
// writers are often not (their data starts at an odd offset), and give copies.
// Whether a view was made can be checked with [IsView]. Writing through a
// view writes the tensor's bytes, which for a tensor of [Open] is read-only
// memory. A copy of a mapped tensor whose file was truncated while open
// returns an error wrapping [ErrFault] instead of crashing.
func Values[T Element](t Tensor) ([]T, error) {
	if want := DTypeOf[T](); t.dtype != want {
		return nil, fmt.Errorf("%w: %v tensor read as []%T (a %v type)", ErrInvalidTensorInfo, t.dtype, *new(T), want)
	}
	if v, ok := castValues[T](t); ok {
		return v, nil
	}
	var v []T
	if err := guardFault(func() { v = decodeValues[T](t.data) }); err != nil {
		return nil, err
	}
	return v, nil
}

// IsView reports whether [Values] on t with the same T returns a view of t's
// bytes rather than a copy.
func IsView[T Element](t Tensor) bool {
	if t.dtype != DTypeOf[T]() {
		return false
	}
	_, ok := castValues[T](t)
	return ok
}

func castValues[T Element](t Tensor) ([]T, bool) {
	if t.dtype == BOOL {
		for _, b := range t.data {
			if b > 1 {
				return nil, false // a bool holding 2 would be undefined behaviour
			}
		}
	}
	return byteview.Cast[T](t.data)
}

// decodeValues copies little-endian bytes into a new []T.
func decodeValues[T Element](b []byte) []T {
	var out any
	le := binary.LittleEndian
	switch any(*new(T)).(type) {
	case bool:
		s := make([]bool, len(b))
		for i, x := range b {
			s[i] = x != 0
		}
		out = s
	case uint8:
		out = slices.Clone(b)
	case int8:
		s := make([]int8, len(b))
		for i, x := range b {
			s[i] = int8(x)
		}
		out = s
	case uint16, int16, float16.Float16, BFloat16:
		s := make([]T, len(b)/2)
		for i := range s {
			s[i] = fromBits[T](uint64(le.Uint16(b[2*i:])))
		}
		out = s
	case uint32, int32:
		s := make([]T, len(b)/4)
		for i := range s {
			s[i] = fromBits[T](uint64(le.Uint32(b[4*i:])))
		}
		out = s
	case float32:
		s := make([]float32, len(b)/4)
		for i := range s {
			s[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		out = s
	case uint64, int64:
		s := make([]T, len(b)/8)
		for i := range s {
			s[i] = fromBits[T](le.Uint64(b[8*i:]))
		}
		out = s
	case float64:
		s := make([]float64, len(b)/8)
		for i := range s {
			s[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		out = s
	case complex64:
		s := make([]complex64, len(b)/8)
		for i := range s {
			s[i] = complex(math.Float32frombits(le.Uint32(b[8*i:])), math.Float32frombits(le.Uint32(b[8*i+4:])))
		}
		out = s
	}
	return out.([]T)
}

// fromBits converts the raw bits of an integer-like element to T.
func fromBits[T Element](u uint64) T {
	var v T
	switch p := any(&v).(type) {
	case *uint16:
		*p = uint16(u)
	case *int16:
		*p = int16(u)
	case *float16.Float16:
		*p = float16.Float16(u)
	case *BFloat16:
		*p = BFloat16(u)
	case *uint32:
		*p = uint32(u)
	case *int32:
		*p = int32(u)
	case *uint64:
		*p = u
	case *int64:
		*p = int64(u)
	}
	return v
}
