//go:build !purego && (386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package byteview

import "unsafe"

// Enabled reports whether this build makes views at all: true on
// little-endian machines without the purego tag.
const Enabled = true

// Cast returns b as a []T sharing b's memory, and true, when len(b) is a
// multiple of T's size and b's first byte is aligned for T. Otherwise it
// returns nil and false and the caller must copy. An empty b gives an empty,
// non-nil slice.
func Cast[T Element](b []byte) ([]T, bool) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if len(b)%size != 0 {
		return nil, false
	}
	if len(b) == 0 {
		return []T{}, true
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	if uintptr(p)%unsafe.Alignof(zero) != 0 {
		return nil, false
	}
	return unsafe.Slice((*T)(p), len(b)/size), true
}

// Bytes returns the memory of s as bytes sharing it, and true.
func Bytes[T Element](s []T) ([]byte, bool) {
	if len(s) == 0 {
		return []byte{}, true
	}
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero))), true
}
