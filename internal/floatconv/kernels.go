package floatconv

import (
	"encoding/binary"
	"math"

	"github.com/x448/float16"
)

// Table8 maps each code of an 8-bit format to its float32 value.
type Table8 [256]float32

// The decoding tables of the 8-bit formats, and of F4 and F6 by code. They
// are built once from [Format.Decode]; every value of every format except
// F64 is exactly a float32 (the smallest, E8M0's 2^-127, is a float32
// subnormal).
var (
	TabE4M3FN, TabE5M2, TabE4M3FNUZ, TabE5M2FNUZ, TabE8M0 = table8(E4M3FN), table8(E5M2), table8(E4M3FNUZ), table8(E5M2FNUZ), table8(E8M0FNU)

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
	// Four at a time: one 8-byte load, two 8-byte stores when the
	// destination can be written as bytes.
	if out, ok := asBytes(dst); ok {
		n := len(dst) &^ 3
		for i := 0; i < n; i += 4 {
			x := binary.LittleEndian.Uint64(src[2*i:])
			lo := (x&0xFFFF)<<16 | (x&0xFFFF0000)<<32
			hi := (x>>16)&0xFFFF0000 | x&0xFFFF000000000000
			binary.LittleEndian.PutUint64(out[4*i:], lo)
			binary.LittleEndian.PutUint64(out[4*i+8:], hi)
		}
		dst, src = dst[n:], src[2*n:]
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
	for i := range dst {
		dst[i] = math.Float32frombits(F16Bits32(binary.LittleEndian.Uint16(src[2*i:])))
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
	if in, ok := asBytes(src); ok {
		// Two at a time: one 8-byte load, one 4-byte store.
		n := len(src) &^ 1
		for i := 0; i < n; i += 2 {
			x := binary.LittleEndian.Uint64(in[4*i:])
			a := BF16FromBits(uint32(x))
			b := BF16FromBits(uint32(x >> 32))
			binary.LittleEndian.PutUint32(dst[2*i:], uint32(a)|uint32(b)<<16)
		}
		src, dst = src[n:], dst[2*n:]
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
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], float16.Fromfloat32(v).Bits())
	}
}

// Encode8 encodes src into the one-byte codes of the 8-bit format f, one per
// byte of dst, which must hold len(src) bytes. It returns the index of the
// first value f cannot represent (see [Format.Encode]), or -1.
func Encode8[F float32 | float64](dst []byte, src []F, f *Format) int {
	dst = dst[:len(src)]
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
func Encode16[F float32 | float64](dst []byte, src []F, f *Format) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		c, _ := f.Encode(float64(v)) // IEEE formats represent everything
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(c))
	}
}

// EncodeF4 packs src as F4 (E2M1) codes, two a byte, the lower-indexed
// element in the low nibble. len(src) must be even; dst must hold
// len(src)/2 bytes. It returns the index of the first value that has no
// code (NaN, ±Inf), or -1.
func EncodeF4[F float32 | float64](dst []byte, src []F) int {
	dst = dst[:len(src)/2]
	for i := range dst {
		lo, ok := E2M1.Encode(float64(src[2*i]))
		if !ok {
			return 2 * i
		}
		hi, ok := E2M1.Encode(float64(src[2*i+1]))
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
	for k := range n {
		var w uint32
		for j := range 4 {
			c, ok := f.Encode(float64(src[4*k+j]))
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
