package safetensors

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error that the format's rules produce wraps exactly
// one of them, so that callers can test with [errors.Is]. Most are wrapped in
// a [*FormatError] that says which tensor and why.
//
// They mirror the reference implementation's error kinds, named in
// parentheses, so that results compare one to one across implementations.
var (
	// ErrHeaderTooSmall: the file is shorter than the 8-byte length prefix (HeaderTooSmall).
	ErrHeaderTooSmall = errors.New("safetensors: header too small")
	// ErrHeaderTooLarge: the header length exceeds the limit, 100,000,000 bytes by default (HeaderTooLarge).
	ErrHeaderTooLarge = errors.New("safetensors: header too large")
	// ErrInvalidHeaderLength: the header runs past the end of the file (InvalidHeaderLength).
	ErrInvalidHeaderLength = errors.New("safetensors: invalid header length")
	// ErrInvalidHeader: the header is not UTF-8, not JSON, or not of the format's schema: an
	// unknown dtype, a duplicate key, a wrong type (InvalidHeader, InvalidHeaderDeserialization).
	ErrInvalidHeader = errors.New("safetensors: invalid header")
	// ErrInvalidOffset: data offsets are not contiguous from 0: a hole, an overlap, end before begin (InvalidOffset).
	ErrInvalidOffset = errors.New("safetensors: invalid offset")
	// ErrInvalidTensorInfo: a tensor's byte length differs from what its dtype and shape need
	// (TensorInvalidInfo, InvalidTensorView).
	ErrInvalidTensorInfo = errors.New("safetensors: invalid tensor info")
	// ErrOverflow: a shape's element count or byte size overflows, or a dimension or offset
	// does not fit in an int (ValidationOverflow).
	ErrOverflow = errors.New("safetensors: overflow")
	// ErrMisalignedSlice: a sub-byte dtype (F4, F6) whose bits do not fill whole bytes (MisalignedSlice).
	ErrMisalignedSlice = errors.New("safetensors: misaligned slice")
	// ErrIncompleteBuffer: the data buffer does not end exactly at the end of the file:
	// trailing bytes, or a truncated file (MetadataIncompleteBuffer).
	ErrIncompleteBuffer = errors.New("safetensors: incomplete buffer")
	// ErrTensorNotFound: no tensor has the requested name (TensorNotFound).
	ErrTensorNotFound = errors.New("safetensors: tensor not found")
	// ErrInvalidSlice: an index that NumPy would refuse (InvalidSlice).
	ErrInvalidSlice = errors.New("safetensors: invalid slice")
	// ErrClosed: a method was called on a closed [File].
	ErrClosed = errors.New("safetensors: file is closed")
)

// FormatError describes a violation of the format's rules: which sentinel,
// which tensor, where, and why. It unwraps to its sentinel, so
// errors.Is(err, ErrInvalidOffset) holds for a FormatError whose Err is
// ErrInvalidOffset.
type FormatError struct {
	Err    error  // the sentinel: ErrInvalidHeader, ErrInvalidOffset, ...
	Tensor string // the tensor concerned; meaningful when HasTensor is true
	// HasTensor tells a tensor named "" (which the format allows) from no tensor.
	HasTensor bool
	Offset    int64  // byte offset in the file the problem was found at, or -1
	Msg       string // what is wrong, in words
}

func (e *FormatError) Error() string {
	s := e.Err.Error()
	if e.HasTensor {
		s += ": tensor " + strconv.Quote(e.Tensor)
	}
	if e.Offset >= 0 {
		s += ": at byte " + strconv.FormatInt(e.Offset, 10)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Unwrap returns the sentinel.
func (e *FormatError) Unwrap() error { return e.Err }

// formatErr builds a FormatError about no particular tensor.
func formatErr(sentinel error, off int64, format string, args ...any) *FormatError {
	return &FormatError{Err: sentinel, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// tensorErr builds a FormatError about one tensor.
func tensorErr(sentinel error, name string, format string, args ...any) *FormatError {
	return &FormatError{Err: sentinel, Tensor: name, HasTensor: true, Offset: -1, Msg: fmt.Sprintf(format, args...)}
}
