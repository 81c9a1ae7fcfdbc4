// Package byteview reinterprets little-endian bytes as slices of fixed-size
// numbers without copying, where the platform and the alignment allow it.
//
// All of the module's unsafe code is in this package. Building with the tag
// purego (or on a big-endian machine) replaces it with a version that never
// makes a view, and callers fall back to copying through encoding/binary.
package byteview

// Element is the set of types a view can have: fixed-size, pointer-free
// numbers whose in-memory form on a little-endian machine is the format's.
type Element interface {
	~bool | ~uint8 | ~int8 | ~uint16 | ~int16 | ~uint32 | ~int32 | ~uint64 | ~int64 |
		~float32 | ~float64 | ~complex64
}
