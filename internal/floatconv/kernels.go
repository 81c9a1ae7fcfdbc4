package floatconv

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/safetensors-go/safetensors/internal/byteview"
	"github.com/x448/float16"
)

// The kernels work on typed views of the bytes (package byteview) when the
// build and the alignment allow: one load, one table lookup or shift and one
// store per element. Otherwise they fall back to loops over bytes with
// encoding/binary, which give the same results.

// Table8 maps each code of an 8-bit format to its float32 value.
type Table8 [256]float32

// The decoding tables of the 8-bit formats, and of F4 and F6 by code. They
// are built once from [Format.Decode]; every value of every format except
// F64 is exactly a float32 (the smallest, E8M0's 2^-127, is a float32
// subnormal).
var (
	TabE4M3FN   = table8(E4M3FN)
	TabE5M2     = table8(E5M2)
	TabE4M3FNUZ = table8(E4M3FNUZ)
	TabE5M2FNUZ = table8(E5M2FNUZ)
	TabE8M0     = table8(E8M0FNU)

	tabE2M1 = tableN(E2M1)
	tabE2M3 = tableN(E2M3)
	tabE3M2 = tableN(E3M2)
	// tabF4Pairs decodes one byte of F4: the low nibble's value, then the
	// high nibble's.
	tabF4Pairs = func() (t [256][2]float32) {
		for b := range t {
			t[b] = [2]float32{tabE2M1[b&15], tabE2M1[b>>4]}
		}
		return t
	}()
	// tabF16 maps every binary16 code to its float32 bits: 256 KiB, built
	// on first use. A lookup is faster than the bit manipulation, and most
	// tensors use few distinct codes, so the hot part stays in cache.
	tabF16 = sync.OnceValue(func() *[1 << 16]uint32 {
		var t [1 << 16]uint32
		for c := range t {
			t[c] = F16Bits32(uint16(c))
		}
		return &t
	})
)

func table8(f *Format) *Table8 {
	var t Table8
	for c := range t {
		t[c] = float32(f.Decode(uint32(c))) // exact: every value is a float32
	}
	return &t
}

func tableN(f *Format) []float32 {
	t := make([]float32, f.Codes())
	for c := range t {
		t[c] = float32(f.Decode(uint32(c)))
	}
	return t
}

// u32s returns dst's memory as []uint32, when views are possible.
func u32s(dst []float32) ([]uint32, bool) {
	b, ok := byteview.Bytes(dst)
	if !ok {
		return nil, false
	}
	return byteview.Cast[uint32](b)
}

// DecodeTable8 decodes len(dst) one-byte codes from src through tab.
// src must hold at least len(dst) bytes.
func DecodeTable8(dst []float32, src []byte, tab *Table8) {
	src = src[:len(dst)]
	for i, c := range src {
		dst[i] = tab[c]
	}
}

// DecodeBF16 decodes len(dst) little-endian bfloat16 values from src,
// which must hold at least 2*len(dst) bytes. A bfloat16 is the top half of a
// float32, so this is a shift; NaNs keep their payload.
func DecodeBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	s, ok1 := byteview.Cast[uint16](src)
	d, ok2 := u32s(dst)
	if ok1 && ok2 {
		d = d[:len(s)]
		for i, v := range s {
			d[i] = uint32(v) << 16
		}
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
	}
}

// DecodeF16 decodes len(dst) little-endian IEEE binary16 values from src,
// which must hold at least 2*len(dst) bytes. NaNs keep their sign and
// payload bits (a signaling NaN stays signaling).
func DecodeF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	tab := tabF16()
	s, ok1 := byteview.Cast[uint16](src)
	d, ok2 := u32s(dst)
	if ok1 && ok2 {
		d = d[:len(s)]
		for i, v := range s {
			d[i] = tab[v]
		}
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(tab[binary.LittleEndian.Uint16(src[2*i:])])
	}
}

// F16Bits32 returns the float32 bits of the binary16 value h, exactly.
func F16Bits32(h uint16) uint32 {
	const expMask = 0x7C00 << 13
	u := uint32(h&0x7FFF) << 13 // exponent and mantissa, in float32 place
	e := u & expMask
	u += (127 - 15) << 23 // rebias
	switch e {
	case expMask: // Inf or NaN: the exponent must be all ones
		u += (128 - 16) << 23
	case 0: // zero or subnormal: let the FPU normalize it, exactly
		const magic = 113 << 23 // 2^-14
		u += 1 << 23
		u = math.Float32bits(math.Float32frombits(u) - math.Float32frombits(magic))
	}
	return u | uint32(h&0x8000)<<16
}

// DecodeF4 decodes len(dst) F4 (E2M1) values from src, two a byte, the
// lower-indexed element in the low nibble. len(dst) must be even and src
// must hold at least len(dst)/2 bytes.
func DecodeF4(dst []float32, src []byte) {
	src = src[:len(dst)/2]
	dst = dst[:2*len(src)]
	for i, b := range src {
		p := &tabF4Pairs[b]
		dst[2*i] = p[0]
		dst[2*i+1] = p[1]
	}
}

// DecodeF6 decodes len(dst) six-bit values from src, four in each three
// bytes: the 24 bits b0 | b1<<8 | b2<<16 hold element 4k in bits 0-5, 4k+1
// in 6-11, 4k+2 in 12-17 and 4k+3 in 18-23. len(dst) must be a multiple of
// 4 and src must hold at least 3*len(dst)/4 bytes. f is E2M3 or E3M2.
func DecodeF6(dst []float32, src []byte, f *Format) {
	tab := tabE2M3
	if f == E3M2 {
		tab = tabE3M2
	}
	tab = tab[:64]
	n := len(dst) / 4
	src = src[:3*n]
	for k := range n {
		w := uint32(src[3*k]) | uint32(src[3*k+1])<<8 | uint32(src[3*k+2])<<16
		d := dst[4*k : 4*k+4 : 4*k+4]
		d[0] = tab[w&63]
		d[1] = tab[w>>6&63]
		d[2] = tab[w>>12&63]
		d[3] = tab[w>>18&63]
	}
}

// EncodeBF16 encodes src into dst as little-endian bfloat16, rounding to
// nearest even; overflow gives ±Inf. dst must hold 2*len(src) bytes.
func EncodeBF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	if b, ok := byteview.Bytes(src); ok {
		s, ok1 := byteview.Cast[uint64](b[:len(b)&^7])
		d, ok2 := byteview.Cast[uint32](dst[:len(dst)&^3])
		if ok1 && ok2 {
			// Two at a time: round both halves of a 64-bit word at once
			// (no carry can cross between them unless one is Inf or NaN,
			// which the test sends to the one-at-a-time path).
			d = d[:len(s)]
			for i, x := range s {
				lo, hi := uint32(x), uint32(x>>32)
				if lo&0x7F800000 == 0x7F800000 || hi&0x7F800000 == 0x7F800000 {
					d[i] = uint32(BF16FromBits(lo)) | uint32(BF16FromBits(hi))<<16
					continue
				}
				r := x + 0x00007FFF00007FFF + (x>>16)&0x0000000100000001
				d[i] = uint32(r>>16)&0xFFFF | uint32(r>>32)&0xFFFF0000
			}
			dst, src = dst[4*len(s):], src[2*len(s):]
		}
	}
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], BF16FromBits(math.Float32bits(v)))
	}
}

// BF16FromBits returns the bfloat16 nearest to the float32 with bits u,
// ties to even. A NaN keeps its sign and the top of its payload and becomes
// quiet, so it cannot round into an infinity.
func BF16FromBits(u uint32) uint16 {
	if u&0x7FFFFFFF > 0x7F800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7FFF + (u>>16)&1) >> 16)
}

// EncodeF16 encodes src into dst as little-endian IEEE binary16, rounding to
// nearest even with github.com/x448/float16; overflow gives ±Inf, and NaNs
// keep their sign and top payload bits and become quiet. dst must hold
// 2*len(src) bytes.
func EncodeF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	if d, ok := byteview.Cast[uint16](dst); ok {
		d = d[:len(src)]
		for i, v := range src {
			d[i] = float16.Fromfloat32(v).Bits()
		}
		return
	}
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], float16.Fromfloat32(v).Bits())
	}
}

// codesOf returns a function that encodes element i of src to f, with the
// float32 fast path where it applies; the kernels below call it through a
// direct, non-interface function value chosen once per call.
func codesOf[F float32 | float64](src []F, f *Format) func(i int) (uint32, bool) {
	if s32, ok := any(src).([]float32); ok && f.Kind != E8M0 {
		return func(i int) (uint32, bool) { return f.Encode32(math.Float32bits(s32[i])) }
	}
	return func(i int) (uint32, bool) { return f.Encode(float64(src[i])) }
}

// Encode8 encodes src into the one-byte codes of the 8-bit format f, one per
// byte of dst, which must hold len(src) bytes. It returns the index of the
// first value f cannot represent (see [Format.Encode]), or -1.
func Encode8[F float32 | float64](dst []byte, src []F, f *Format) int {
	dst = dst[:len(src)]
	if s32, ok := any(src).([]float32); ok && f.Kind != E8M0 {
		for i, v := range s32 {
			c, ok := f.Encode32(math.Float32bits(v))
			if !ok {
				return i
			}
			dst[i] = byte(c)
		}
		return -1
	}
	for i, v := range src {
		c, ok := f.Encode(float64(v))
		if !ok {
			return i
		}
		dst[i] = byte(c)
	}
	return -1
}

// Encode16 encodes src into little-endian two-byte codes of f (F16 or BF16)
// with [Format.Encode]: the correctly rounded path for float64 inputs.
func Encode16(dst []byte, src []float64, f *Format) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		c, _ := f.Encode(v) // IEEE formats represent everything
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(c))
	}
}

// EncodeF4 packs src as F4 (E2M1) codes, two a byte, the lower-indexed
// element in the low nibble. len(src) must be even; dst must hold
// len(src)/2 bytes. It returns the index of the first value that has no
// code (NaN, ±Inf), or -1.
func EncodeF4[F float32 | float64](dst []byte, src []F) int {
	dst = dst[:len(src)/2]
	code := codesOf(src, E2M1)
	for i := range dst {
		lo, ok := code(2 * i)
		if !ok {
			return 2 * i
		}
		hi, ok := code(2*i + 1)
		if !ok {
			return 2*i + 1
		}
		dst[i] = byte(lo | hi<<4)
	}
	return -1
}

// EncodeF6 packs src as six-bit codes of f (E2M3 or E3M2), four in each
// three bytes as [DecodeF6] reads them. len(src) must be a multiple of 4;
// dst must hold 3*len(src)/4 bytes. It returns the index of the first value
// that has no code (NaN, ±Inf), or -1.
func EncodeF6[F float32 | float64](dst []byte, src []F, f *Format) int {
	n := len(src) / 4
	dst = dst[:3*n]
	code := codesOf(src, f)
	for k := range n {
		var w uint32
		for j := range 4 {
			c, ok := code(4*k + j)
			if !ok {
				return 4*k + j
			}
			w |= c << (6 * j)
		}
		dst[3*k] = byte(w)
		dst[3*k+1] = byte(w >> 8)
		dst[3*k+2] = byte(w >> 16)
	}
	return -1
}
