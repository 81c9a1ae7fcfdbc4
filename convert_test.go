package safetensors

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors/internal/byteview"
	"github.com/x448/float16"
)

// The format definitions, written out here independently of
// internal/floatconv: each float dtype's sign, exponent and mantissa widths,
// bias and special codes, from the OCP FP8 (v1.0), OCP MX (v1.0) and IEEE
// 754 specifications.
type fmtSpec struct {
	e, m, bias int
	// isNaN, isInf classify a code; both nil means every code is finite.
	isNaN, isInf func(code uint32) bool
	signed       bool
	negZero      bool // -0 exists (false for FNUZ, E8M0)
}

var fmtSpecs = map[DType]fmtSpec{
	F16: {e: 5, m: 10, bias: 15, signed: true, negZero: true,
		isNaN: func(c uint32) bool { return c&0x7C00 == 0x7C00 && c&0x3FF != 0 },
		isInf: func(c uint32) bool { return c&0x7FFF == 0x7C00 }},
	BF16: {e: 8, m: 7, bias: 127, signed: true, negZero: true,
		isNaN: func(c uint32) bool { return c&0x7F80 == 0x7F80 && c&0x7F != 0 },
		isInf: func(c uint32) bool { return c&0x7FFF == 0x7F80 }},
	F8E4M3: {e: 4, m: 3, bias: 7, signed: true, negZero: true, // E4M3FN: S.1111.111 is NaN, no Inf
		isNaN: func(c uint32) bool { return c&0x7F == 0x7F },
		isInf: func(c uint32) bool { return false }},
	F8E5M2: {e: 5, m: 2, bias: 15, signed: true, negZero: true, // IEEE-like
		isNaN: func(c uint32) bool { return c&0x7C == 0x7C && c&3 != 0 },
		isInf: func(c uint32) bool { return c&0x7F == 0x7C }},
	F8E4M3FNUZ: {e: 4, m: 3, bias: 8, signed: true,
		isNaN: func(c uint32) bool { return c == 0x80 },
		isInf: func(c uint32) bool { return false }},
	F8E5M2FNUZ: {e: 5, m: 2, bias: 16, signed: true,
		isNaN: func(c uint32) bool { return c == 0x80 },
		isInf: func(c uint32) bool { return false }},
	F8E8M0: {e: 8, m: 0, bias: 127,
		isNaN: func(c uint32) bool { return c == 0xFF },
		isInf: func(c uint32) bool { return false }},
	F4:     {e: 2, m: 1, bias: 1, signed: true, negZero: true},
	F6E2M3: {e: 2, m: 3, bias: 1, signed: true, negZero: true},
	F6E3M2: {e: 3, m: 2, bias: 3, signed: true, negZero: true},
}

func (s fmtSpec) bits() int {
	if !s.signed {
		return s.e + s.m
	}
	return 1 + s.e + s.m
}

// value returns the value of code by the format's definition: a normal code
// is (-1)^s * 2^(exp-bias) * (1 + mant/2^m), a subnormal (exp 0) is
// (-1)^s * 2^(1-bias) * mant/2^m; E8M0 (no sign, no mantissa, no
// subnormals) is 2^(code-127).
func (s fmtSpec) value(code uint32) (v float64, nan bool) {
	if s.isNaN != nil && s.isNaN(code) {
		return math.NaN(), true
	}
	neg := s.signed && code>>(s.e+s.m)&1 == 1
	exp := int(code>>s.m) & (1<<s.e - 1)
	mant := int(code) & (1<<s.m - 1)
	switch {
	case s.isInf != nil && s.isInf(code):
		v = math.Inf(1)
	case s.m == 0: // E8M0
		v = math.Ldexp(1, exp-s.bias)
	case exp == 0:
		v = math.Ldexp(float64(mant)/float64(int(1)<<s.m), 1-s.bias)
	default:
		v = math.Ldexp(1+float64(mant)/float64(int(1)<<s.m), exp-s.bias)
	}
	if neg {
		v = -v
	}
	return v, false
}

// pack lays out codes of d as the format's bytes, written independently of
// the library from the layout the format states: lowest element in the lowest
// bits, elements back to back (F4: two per byte, low nibble first; F6: four
// per three bytes, little-endian across the 24 bits).
func packCodes(d DType, codes []uint32) []byte {
	var out []byte
	switch d.BitSize() {
	case 4, 6:
		w := d.BitSize()
		out = make([]byte, len(codes)*w/8)
		for i, c := range codes {
			for b := range w {
				bit := i*w + b
				if c>>b&1 == 1 {
					out[bit/8] |= 1 << (bit % 8)
				}
			}
		}
	case 8:
		for _, c := range codes {
			out = append(out, byte(c))
		}
	case 16:
		for _, c := range codes {
			out = binary.LittleEndian.AppendUint16(out, uint16(c))
		}
	}
	return out
}

func allCodes(d DType) []uint32 {
	n := 1 << fmtSpecs[d].bits()
	codes := make([]uint32, n)
	for i := range codes {
		codes[i] = uint32(i)
	}
	return codes
}

func codesTensor(t *testing.T, d DType, n int, data []byte) Tensor {
	t.Helper()
	tt, err := NewTensor(d, []int{n}, data)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func sameValue(got, want float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return got == want && math.Signbit(got) == math.Signbit(want)
}

// TestDecodeEveryCode decodes every code of every narrow float dtype, in
// every position of the F4 and F6 packings, with ToFloat32 and ToFloat64,
// and compares with the value from the format's definition.
func TestDecodeEveryCode(t *testing.T) {
	for d, s := range fmtSpecs {
		t.Run(d.String(), func(t *testing.T) {
			codes := allCodes(d)
			if w := d.BitSize(); w < 8 {
				// Each code in each position of a packing group: the
				// rotations of the list.
				group := 8 / w // F4: 2 per byte
				if w == 6 {
					group = 4 // F6: 4 per 3 bytes
				}
				var rot []uint32
				for r := range group {
					for i := range codes {
						rot = append(rot, codes[(i*group+r)%len(codes)])
					}
				}
				codes = rot
			}
			tt := codesTensor(t, d, len(codes), packCodes(d, codes))
			f32, err := ToFloat32(tt)
			if err != nil {
				t.Fatal(err)
			}
			f64, err := ToFloat64(tt)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range codes {
				want, nan := s.value(c)
				if !sameValue(float64(f32[i]), want) || !sameValue(f64[i], want) {
					t.Fatalf("code %#x (element %d): ToFloat32 %v, ToFloat64 %v, want %v", c, i, f32[i], f64[i], want)
				}
				if nan && s.signed && s.negZero { // one NaN per sign: the sign survives
					if math.Signbit(float64(f32[i])) != (c>>(s.e+s.m)&1 == 1) {
						t.Fatalf("NaN code %#x decoded with the wrong sign", c)
					}
				}
			}
		})
	}
}

// TestDecodeKnownValues pins values that the specifications state outright.
func TestDecodeKnownValues(t *testing.T) {
	cases := []struct {
		d    DType
		code uint32
		want float64
	}{
		{F8E4M3, 0x7E, 448}, {F8E4M3, 0xFE, -448}, {F8E4M3, 0x01, 0x1p-9}, {F8E4M3, 0x08, 0x1p-6},
		{F8E4M3, 0x38, 1}, {F8E4M3, 0x7F, math.NaN()}, {F8E4M3, 0xFF, math.NaN()}, {F8E4M3, 0x80, math.Copysign(0, -1)},
		{F8E5M2, 0x7B, 57344}, {F8E5M2, 0x7C, math.Inf(1)}, {F8E5M2, 0xFC, math.Inf(-1)}, {F8E5M2, 0x7D, math.NaN()},
		{F8E5M2, 0x01, 0x1p-16}, {F8E5M2, 0x3C, 1},
		{F8E4M3FNUZ, 0x7F, 240}, {F8E4M3FNUZ, 0x01, 0x1p-10}, {F8E4M3FNUZ, 0x40, 1}, {F8E4M3FNUZ, 0x80, math.NaN()},
		{F8E4M3FNUZ, 0xFF, -240},
		{F8E5M2FNUZ, 0x7F, 57344}, {F8E5M2FNUZ, 0x01, 0x1p-17}, {F8E5M2FNUZ, 0x40, 1}, {F8E5M2FNUZ, 0x80, math.NaN()},
		{F8E8M0, 0x00, 0x1p-127}, {F8E8M0, 0x7F, 1}, {F8E8M0, 0xFE, 0x1p127}, {F8E8M0, 0xFF, math.NaN()},
		{F4, 0x1, 0.5}, {F4, 0x2, 1}, {F4, 0x3, 1.5}, {F4, 0x4, 2}, {F4, 0x5, 3}, {F4, 0x6, 4}, {F4, 0x7, 6}, {F4, 0xF, -6},
		{F6E2M3, 0x1F, 7.5}, {F6E2M3, 0x01, 0.125}, {F6E2M3, 0x08, 1}, {F6E2M3, 0x3F, -7.5},
		{F6E3M2, 0x1F, 28}, {F6E3M2, 0x01, 0.0625}, {F6E3M2, 0x0C, 1}, {F6E3M2, 0x3F, -28},
		{F16, 0x7BFF, 65504}, {F16, 0x0001, 0x1p-24}, {F16, 0x3C00, 1}, {F16, 0x7C00, math.Inf(1)},
		{BF16, 0x3F80, 1}, {BF16, 0x7F7F, 0x1.FEp127}, {BF16, 0x0001, 0x1p-133},
	}
	for _, c := range cases {
		n := 1
		codes := []uint32{c.code}
		switch c.d {
		case F4:
			n, codes = 2, []uint32{c.code, 0}
		case F6E2M3, F6E3M2:
			n, codes = 4, []uint32{c.code, 0, 0, 0}
		}
		got, err := ToFloat32(codesTensor(t, c.d, n, packCodes(c.d, codes)))
		if err != nil {
			t.Fatal(err)
		}
		if !sameValue(float64(got[0]), c.want) {
			t.Errorf("%v code %#x = %v, want %v", c.d, c.code, got[0], c.want)
		}
	}
}

// TestPackedLayout checks the bit order of F4 and F6 on hand-made bytes.
func TestPackedLayout(t *testing.T) {
	// F4: 0x21 holds code 1 (0.5) in the low nibble, code 2 (1.0) in the high.
	got, err := ToFloat32(codesTensor(t, F4, 2, []byte{0x21}))
	if err != nil || !slices.Equal(got, []float32{0.5, 1}) {
		t.Errorf("F4 0x21 = %v, %v; want [0.5 1]", got, err)
	}
	// F6_E2M3: codes 1, 2, 3, 4 give 1 | 2<<6 | 3<<12 | 4<<18 = 0x103081.
	got, err = ToFloat32(codesTensor(t, F6E2M3, 4, []byte{0x81, 0x30, 0x10}))
	if err != nil || !slices.Equal(got, []float32{0.125, 0.25, 0.375, 0.5}) {
		t.Errorf("F6_E2M3 81 30 10 = %v, %v; want [0.125 0.25 0.375 0.5]", got, err)
	}
	for _, d := range []DType{F4, F6E2M3} {
		vals := []float32{0.5, 1, 1.5, 2}
		tt, err := FromFloat32(d, []int{4}, vals)
		if err != nil {
			t.Fatal(err)
		}
		want := map[DType][]byte{F4: {0x21, 0x43}, F6E2M3: {0x04, 0xC2, 0x40}}[d]
		if !slices.Equal(tt.Data(), want) {
			t.Errorf("%v of %v = % x, want % x", d, vals, tt.Data(), want)
		}
	}
}

// TestDecodeF16MatchesX448 checks all 65536 F16 codes against
// github.com/x448/float16, a second, independent decoder.
func TestDecodeF16MatchesX448(t *testing.T) {
	got, err := ToFloat32(codesTensor(t, F16, 1<<16, packCodes(F16, allCodes(F16))))
	if err != nil {
		t.Fatal(err)
	}
	for c := range 1 << 16 {
		want := float16.Frombits(uint16(c)).Float32()
		if !sameValue(float64(got[c]), float64(want)) {
			t.Fatalf("F16 %#04x: %v, x448 says %v", c, got[c], want)
		}
		if math.IsNaN(float64(want)) && math.Float32bits(got[c])&0x803FFFFF != math.Float32bits(want)&0x803FFFFF {
			t.Fatalf("F16 NaN %#04x: bits %#08x lost sign or payload (x448: %#08x)", c, math.Float32bits(got[c]), math.Float32bits(want))
		}
	}
}

// encodeBoth encodes values to d through FromFloat32 and FromFloat64 and
// fails unless both give the same bytes.
func encodeBoth(t *testing.T, d DType, vals []float64) ([]byte, error) {
	t.Helper()
	n := len(vals)
	v32 := make([]float32, n)
	for i, v := range vals {
		v32[i] = float32(v)
		if float64(v32[i]) != v && !math.IsNaN(v) {
			t.Fatalf("test value %v is not a float32", v)
		}
	}
	a, err1 := FromFloat32(d, []int{n}, v32)
	b, err2 := FromFloat64(d, []int{n}, vals)
	if (err1 == nil) != (err2 == nil) {
		t.Fatalf("%v: FromFloat32 error %v, FromFloat64 error %v", d, err1, err2)
	}
	if err1 != nil {
		return nil, err1
	}
	if !slices.Equal(a.Data(), b.Data()) {
		t.Fatalf("%v: FromFloat32 and FromFloat64 differ", d)
	}
	return a.Data(), nil
}

// unpack reads the codes of d back from bytes, independently of the
// library, for the encoding tests.
func unpackCodes(d DType, data []byte, n int) []uint32 {
	out := make([]uint32, n)
	switch w := d.BitSize(); w {
	case 4, 6:
		for i := range out {
			for b := range w {
				bit := i*w + b
				out[i] |= uint32(data[bit/8]>>(bit%8)&1) << b
			}
		}
	case 8:
		for i := range out {
			out[i] = uint32(data[i])
		}
	case 16:
		for i := range out {
			out[i] = uint32(binary.LittleEndian.Uint16(data[2*i:]))
		}
	}
	return out
}

// padTo makes len(vals) a multiple of 4 (for F4 and F6) with zeros.
func padTo4(vals []float64) []float64 {
	for len(vals)%4 != 0 {
		vals = append(vals, 0)
	}
	return vals
}

// TestEncodeRoundTrip encodes the value of every code and expects the code
// back (NaN codes: a NaN code).
func TestEncodeRoundTrip(t *testing.T) {
	for d, s := range fmtSpecs {
		t.Run(d.String(), func(t *testing.T) {
			codes := allCodes(d)
			vals := make([]float64, len(codes))
			for i, c := range codes {
				vals[i], _ = s.value(c)
			}
			data, err := encodeBoth(t, d, vals)
			if err != nil {
				t.Fatal(err)
			}
			got := unpackCodes(d, data, len(codes))
			for i, c := range codes {
				if s.isNaN != nil && s.isNaN(c) {
					if !s.isNaN(got[i]) {
						t.Fatalf("NaN code %#x encoded to non-NaN %#x", c, got[i])
					}
					continue
				}
				if got[i] != c {
					t.Fatalf("value %v of code %#x encoded to %#x", vals[i], c, got[i])
				}
			}
		})
	}
}

// ladder is the sorted positive finite values of a format with their
// codes, plus the value one step past the largest with an unbounded
// exponent (code maxCode+1), for rounding at the top.
type ladder struct {
	vals  []float64
	codes []uint32
}

func ladderOf(d DType) ladder {
	s := fmtSpecs[d]
	var l ladder
	for c := range uint32(1) << s.bits() {
		if s.signed && c>>(s.e+s.m)&1 == 1 {
			continue
		}
		v, nan := s.value(c)
		if nan || math.IsInf(v, 0) {
			continue
		}
		l.vals = append(l.vals, v)
		l.codes = append(l.codes, c)
	}
	sort.Sort(byVal(l))
	top := l.codes[len(l.codes)-1]
	ulp := math.Ldexp(1, int(top>>s.m)-s.bias-s.m) // the top code is normal
	if s.m == 0 {
		ulp = l.vals[len(l.vals)-1] // E8M0: the next power of two
	}
	l.vals = append(l.vals, l.vals[len(l.vals)-1]+ulp)
	l.codes = append(l.codes, top+1)
	return l
}

type byVal ladder

func (b byVal) Len() int           { return len(b.vals) }
func (b byVal) Less(i, j int) bool { return b.vals[i] < b.vals[j] }
func (b byVal) Swap(i, j int) {
	b.vals[i], b.vals[j] = b.vals[j], b.vals[i]
	b.codes[i], b.codes[j] = b.codes[j], b.codes[i]
}

// want returns the code the documented rules give for x, found by search
// on the ladder with exact arithmetic, or ok false where FromFloat32 must
// fail.
func (l ladder) want(d DType, x float64) (code uint32, nan, ok bool) {
	s := fmtSpecs[d]
	sign := uint32(0)
	if math.Signbit(x) && s.signed {
		sign = 1 << (s.e + s.m)
	}
	overflow := func() (uint32, bool, bool) {
		switch d {
		case F16, BF16, F8E5M2:
			return sign | l.codes[len(l.codes)-1], false, true // the Inf code follows max
		case F8E4M3:
			return sign | 0x7F, true, true
		case F8E4M3FNUZ, F8E5M2FNUZ:
			return 0x80, true, true
		case F8E8M0:
			return 0xFE, false, true
		}
		return sign | l.codes[len(l.codes)-2], false, true // saturate
	}
	switch {
	case math.IsNaN(x):
		switch d {
		case F4, F6E2M3, F6E3M2:
			return 0, false, false
		case F8E4M3, F8E5M2:
			return sign | 0x7F, true, true // the sign is kept; PyTorch's NaN
		case F8E4M3FNUZ, F8E5M2FNUZ:
			return 0x80, true, true
		case F8E8M0:
			return 0xFF, true, true
		}
		return sign, true, true // F16, BF16: payload-dependent, sign kept
	case math.IsInf(x, 0):
		if s.isNaN == nil {
			return 0, false, false
		}
		if d == F8E8M0 {
			return 0xFF, true, true
		}
		if d == F8E4M3 || d == F8E4M3FNUZ || d == F8E5M2FNUZ {
			return overflow() // NaN
		}
		return sign | l.codes[len(l.codes)-1], false, true
	case d == F8E8M0 && x < 0:
		return 0, false, false
	}
	a := math.Abs(x)
	i := sort.SearchFloat64s(l.vals, a) // first >= a
	var c uint32
	switch {
	case d == F8E8M0 && i == 0:
		c = 0 // below 2^-127 and zero: the smallest code
	case i < len(l.vals) && l.vals[i] == a:
		c = l.codes[i]
	case i == len(l.vals):
		return overflow()
	default:
		// Both differences are exact (Sterbenz: neighbours lo > 0 and hi
		// satisfy hi <= 2*lo, so lo <= a <= 2*lo and hi/2 <= a <= hi); for
		// lo == 0, a-lo is exact and hi-a >= hi/2 > a when it is inexact.
		lo, hi := l.vals[i-1], l.vals[i]
		dlo, dhi := a-lo, hi-a
		switch {
		case dlo < dhi:
			c = l.codes[i-1]
		case dlo > dhi:
			c = l.codes[i]
		default: // a tie: the even code; E8M0's ties go up
			c = l.codes[i-1]
			if c&1 == 1 || d == F8E8M0 {
				c = l.codes[i]
			}
		}
	}
	if c == l.codes[len(l.codes)-1] {
		return overflow()
	}
	if c == 0 && !s.negZero {
		return 0, false, true
	}
	return sign | c, false, true
}

// checkEncode encodes xs (float32 values, as float64) to d with both
// FromFloat32 and FromFloat64 and compares each with the ladder's answer.
func checkEncode(t *testing.T, d DType, l ladder, xs []float64) {
	t.Helper()
	xs = slices.Clone(xs)
	for i, x := range xs {
		xs[i] = float64(float32(x)) // the same input for both paths
	}
	for start := 0; start < len(xs); start += 4096 {
		chunk := padTo4(slices.Clone(xs[start:min(start+4096, len(xs))]))
		v32 := make([]float32, len(chunk))
		for i, v := range chunk {
			v32[i] = float32(v)
		}
		a, errA := FromFloat32(d, []int{len(chunk)}, v32)
		b, errB := FromFloat64(d, []int{len(chunk)}, chunk)
		if errA != nil || errB != nil {
			// Some value has no code: check each one alone.
			if !slices.ContainsFunc(chunk, func(x float64) bool { _, _, ok := l.want(d, x); return !ok }) {
				t.Fatalf("%v: unexpected errors %v / %v", d, errA, errB)
			}
			for _, x := range chunk {
				_, errA := FromFloat32(d, []int{4}, []float32{float32(x), 0, 0, 0})
				_, errB := FromFloat64(d, []int{4}, []float64{x, 0, 0, 0})
				_, _, ok := l.want(d, x)
				if (errA == nil) != ok || (errB == nil) != ok {
					t.Fatalf("%v(%v): errors %v / %v, want ok=%v", d, x, errA, errB, ok)
				}
				if !ok && (!errors.Is(errA, ErrUnrepresentable) || !errors.Is(errB, ErrUnrepresentable)) {
					t.Fatalf("%v(%v): errors %v / %v do not wrap ErrUnrepresentable", d, x, errA, errB)
				}
			}
			continue
		}
		ca := unpackCodes(d, a.Data(), len(chunk))
		cb := unpackCodes(d, b.Data(), len(chunk))
		for i, x := range chunk {
			want, nan, _ := l.want(d, x)
			s := fmtSpecs[d]
			for _, got := range []uint32{ca[i], cb[i]} {
				if nan && (d == F16 || d == BF16) {
					if !s.isNaN(got) || got&(1<<15) != want {
						t.Fatalf("%v(%v) = %#x, want a NaN with sign %#x", d, x, got, want)
					}
					continue
				}
				if got != want {
					t.Fatalf("%v(%v) = %#x, want %#x", d, x, got, want)
				}
			}
		}
	}
}

// TestEncodeMidpoints encodes each midpoint between neighbouring values (a
// tie: the even code must win) and the float32 numbers on either side of it,
// for both signs, including the step from the largest finite value to the
// overflow.
func TestEncodeMidpoints(t *testing.T) {
	for d := range fmtSpecs {
		t.Run(d.String(), func(t *testing.T) {
			l := ladderOf(d)
			var xs []float64
			for i := 1; i < len(l.vals); i++ {
				mid := (l.vals[i-1] + l.vals[i]) / 2 // exact in float32 for all these formats
				m32 := float32(mid)
				if float64(m32) != mid {
					t.Fatalf("midpoint %v is not a float32", mid)
				}
				for _, v := range []float32{m32, math.Nextafter32(m32, 0), math.Nextafter32(m32, float32(math.Inf(1)))} {
					xs = append(xs, float64(v), -float64(v))
				}
			}
			if d == F8E8M0 {
				xs = slices.DeleteFunc(xs, func(x float64) bool { return x < 0 })
			}
			checkEncode(t, d, l, xs)
		})
	}
}

// TestEncodeSpecialValues covers zeros, infinities, NaNs, the overflow
// thresholds and subnormal inputs, for every float dtype.
func TestEncodeSpecialValues(t *testing.T) {
	inf := math.Inf(1)
	xs := []float64{0, math.Copysign(0, -1), inf, -inf, math.NaN(), -math.NaN(),
		math.MaxFloat32, -math.MaxFloat32, 0x1p-149, -0x1p-149, 0x1p-126, 0x1p-127, 0x1.8p-127, 0x1.8p-128,
		448, 464, 464.00003, 480, 500, 1e9, 240, 248, 256, 57344, 61440, 65504, 65519.996, 65520, 65536,
		6, 7, 8, 7.5, 7.75, 28, 30, 32, 0x1p-9, 0x1p-10, 0x1.8p-10, 0x1p-17, 0x1p-18, 0x1.0000002p-18,
		3.3895314e38, 3.3961776e38}
	for d := range fmtSpecs {
		l := ladderOf(d)
		checkEncode(t, d, l, xs)
		checkEncode(t, d, l, func() []float64 {
			neg := make([]float64, len(xs))
			for i, x := range xs {
				neg[i] = -x
			}
			return neg
		}())
	}
}

// TestEncodeDocumentedRules pins the table of FromFloat32's doc comment.
func TestEncodeDocumentedRules(t *testing.T) {
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	cases := []struct {
		d    DType
		in   float32
		want uint32 // ignored when err
		err  bool
	}{
		{F8E4M3, 448, 0x7E, false}, {F8E4M3, 464, 0x7E, false}, {F8E4M3, 465, 0x7F, false}, {F8E4M3, 1000, 0x7F, false},
		{F8E4M3, -1000, 0xFF, false}, {F8E4M3, inf, 0x7F, false}, {F8E4M3, -inf, 0xFF, false}, {F8E4M3, nan, 0x7F, false},
		{F8E5M2, 57344, 0x7B, false}, {F8E5M2, 61439, 0x7B, false}, {F8E5M2, 61440, 0x7C, false}, {F8E5M2, -1e6, 0xFC, false},
		{F8E5M2, nan, 0x7F, false}, {F8E5M2, -inf, 0xFC, false},
		{F8E4M3FNUZ, 240, 0x7F, false}, {F8E4M3FNUZ, 247, 0x7F, false}, {F8E4M3FNUZ, 248, 0x80, false},
		{F8E4M3FNUZ, -1e6, 0x80, false}, {F8E4M3FNUZ, -inf, 0x80, false}, {F8E4M3FNUZ, float32(math.Copysign(0, -1)), 0, false},
		{F8E4M3FNUZ, -0x1p-12, 0, false},
		{F8E5M2FNUZ, 57344, 0x7F, false}, {F8E5M2FNUZ, 61440, 0x80, false}, {F8E5M2FNUZ, nan, 0x80, false},
		{F8E8M0, 1, 0x7F, false}, {F8E8M0, 1.4999999, 0x7F, false}, {F8E8M0, 1.5, 0x80, false}, {F8E8M0, 3, 0x81, false},
		{F8E8M0, 0, 0, false}, {F8E8M0, 1e-45, 0, false}, {F8E8M0, math.MaxFloat32, 0xFE, false},
		{F8E8M0, inf, 0xFF, false}, {F8E8M0, nan, 0xFF, false}, {F8E8M0, -1, 0, true},
		{F4, 6, 7, false}, {F4, 7, 7, false}, {F4, 1e30, 7, false}, {F4, -100, 0xF, false}, {F4, 2.5, 4, false},
		{F4, 0.25, 0, false}, {F4, 0.26, 1, false}, {F4, inf, 0, true}, {F4, nan, 0, true},
		{F6E2M3, 7.5, 0x1F, false}, {F6E2M3, 100, 0x1F, false}, {F6E2M3, -inf, 0, true},
		{F6E3M2, 28, 0x1F, false}, {F6E3M2, 31, 0x1F, false}, {F6E3M2, -40, 0x3F, false}, {F6E3M2, nan, 0, true},
		{F16, 65519, 0x7BFF, false}, {F16, 65520, 0x7C00, false}, {F16, -65520, 0xFC00, false},
		{BF16, 3.3961776e38, 0x7F80, false}, {BF16, -nan, 0xFFC0, false},
	}
	for _, c := range cases {
		n := 1
		switch c.d {
		case F4:
			n = 2
		case F6E2M3, F6E3M2:
			n = 4
		}
		vals := make([]float32, n)
		vals[0] = c.in
		tt, err := FromFloat32(c.d, []int{n}, vals)
		if c.err {
			if !errors.Is(err, ErrUnrepresentable) {
				t.Errorf("%v(%v): err %v, want ErrUnrepresentable", c.d, c.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v(%v): %v", c.d, c.in, err)
			continue
		}
		if got := unpackCodes(c.d, tt.Data(), n)[0]; got != c.want {
			t.Errorf("%v(%v) = %#x, want %#x", c.d, c.in, got, c.want)
		}
	}
}

// TestEncodeRandom compares random inputs of every magnitude near each
// format's range with the ladder search.
func TestEncodeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for d := range fmtSpecs {
		l := ladderOf(d)
		lo := math.Logb(l.vals[1]) - 3
		hi := math.Logb(l.vals[len(l.vals)-1]) + 2
		xs := make([]float64, 5000)
		for i := range xs {
			x := float64(float32(math.Ldexp(1+rng.Float64(), int(lo)+rng.IntN(int(hi-lo)+1))))
			if rng.IntN(2) == 0 && d != F8E8M0 {
				x = -x
			}
			xs[i] = x
		}
		checkEncode(t, d, l, xs)
	}
}

// TestEncodeFloat64NoDoubleRounding: a float64 just above a tie of the
// target is below the tie once rounded to float32; FromFloat64 must round
// once, from the float64.
func TestEncodeFloat64NoDoubleRounding(t *testing.T) {
	cases := []struct {
		d    DType
		x    float64
		want uint32
	}{
		{F16, 1 + 0x1p-11 + 0x1p-40, 0x3C01}, // float32 rounding would make it the tie 1+2^-11, then 1.0
		{BF16, 1 + 0x1p-8 + 0x1p-40, 0x3F81},
		{F8E4M3, 1 + 0x1p-4 + 0x1p-40, 0x39},
		{F4, 2.5 + 0x1p-40, 0x5},
	}
	for _, c := range cases {
		n := 1
		if c.d == F4 {
			n = 2
		}
		vals := make([]float64, n)
		vals[0] = c.x
		tt, err := FromFloat64(c.d, []int{n}, vals)
		if err != nil {
			t.Fatal(err)
		}
		if got := unpackCodes(c.d, tt.Data(), n)[0]; got != c.want {
			t.Errorf("FromFloat64(%v, %v) = %#x, want %#x", c.d, c.x, got, c.want)
		}
		conv, err := Convert(cvF64(t, vals), c.d)
		if err != nil {
			t.Fatal(err)
		}
		if got := unpackCodes(c.d, conv.Data(), n)[0]; got != c.want {
			t.Errorf("Convert(F64 %v, %v) = %#x, want %#x", c.x, c.d, got, c.want)
		}
	}
}

func cvF64(t *testing.T, vals []float64) Tensor {
	t.Helper()
	tt, err := FromFloat64(F64, []int{len(vals)}, vals)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// TestTorchCasts compares FromFloat32 with PyTorch's tensor.to(dtype) on
// the inputs of testdata/convert/torch_casts.bin.gz, written by
// scripts/gen_torch_tables.py with Debian's PyTorch. Torch's NaN results
// vary with the code path (0x7FC0 from its scalar code, 0xFFFF from its
// vector code), so NaN inputs must give a NaN of the same sign, and every
// other input the same bits.
func TestTorchCasts(t *testing.T) {
	f, err := os.Open("testdata/convert/torch_casts.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(zr)
	header, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var version, columns string
	var count int
	if _, err := fmt.Sscanf(header, "torch-casts v1 torch=%s columns=%s count=%d", &version, &columns, &count); err != nil {
		t.Fatalf("header %q: %v", header, err)
	}
	cols := strings.Split(columns, ",")
	dtypes := map[string]DType{"f16": F16, "bf16": BF16, "float8_e4m3fn": F8E4M3, "float8_e5m2": F8E5M2,
		"float8_e4m3fnuz": F8E4M3FNUZ, "float8_e5m2fnuz": F8E5M2FNUZ}
	rec := make([]byte, 4+2*len(cols))
	in := make([]float32, count)
	want := make([][]uint16, len(cols))
	for i := range want {
		want[i] = make([]uint16, count)
	}
	for i := range count {
		if _, err := io.ReadFull(br, rec); err != nil {
			t.Fatal(err)
		}
		in[i] = math.Float32frombits(binary.LittleEndian.Uint32(rec))
		for j := range cols {
			want[j][i] = binary.LittleEndian.Uint16(rec[4+2*j:])
		}
	}
	if n, _ := br.Read(rec[:1]); n != 0 {
		t.Fatal("trailing data after the records")
	}
	t.Logf("%d inputs from torch %s: %s", count, version, columns)
	for j, col := range cols {
		d, ok := dtypes[col]
		if !ok {
			t.Fatalf("unknown column %q", col)
		}
		tt, err := FromFloat32(d, []int{count}, in)
		if err != nil {
			t.Fatal(err)
		}
		got := unpackCodes(d, tt.Data(), count)
		mismatches := 0
		for i, x := range in {
			w := uint32(want[j][i])
			if math.IsNaN(float64(x)) || fmtSpecs[d].isNaN(w) {
				if !fmtSpecs[d].isNaN(got[i]) || !fmtSpecs[d].isNaN(w) {
					t.Errorf("%s(%#08x): got %#x, torch %#x: want both NaN", col, math.Float32bits(x), got[i], w)
					mismatches++
				}
			} else if got[i] != w {
				t.Errorf("%s(%v = %#08x): got %#x, torch %#x", col, x, math.Float32bits(x), got[i], w)
				mismatches++
			}
			if mismatches > 10 {
				t.Fatal("too many mismatches")
			}
		}
		if d == BF16 {
			for i, x := range in {
				if b := BFloat16FromFloat32(x); uint32(b.Bits()) != got[i] {
					t.Fatalf("BFloat16FromFloat32(%v) = %#x, FromFloat32 gave %#x", x, b.Bits(), got[i])
				}
			}
		}
	}
}

// TestNaNPayloads: F16 and BF16 keep a NaN's sign and top payload bits,
// made quiet; a float32 sNaN whose payload lies below BF16's bits must not
// become an infinity.
func TestNaNPayloads(t *testing.T) {
	cases := []struct {
		in         uint32
		bf16, fp16 uint16
	}{
		{0x7FC00000, 0x7FC0, 0x7E00},
		{0xFFC00000, 0xFFC0, 0xFE00},
		{0x7F800001, 0x7FC0, 0x7E00}, // signaling, payload below both formats' bits
		{0x7FA00000, 0x7FE0, 0x7F00}, // payload's top bit kept
	}
	for _, c := range cases {
		x := math.Float32frombits(c.in)
		if got := BFloat16FromFloat32(x).Bits(); got != c.bf16 {
			t.Errorf("BFloat16FromFloat32(%#08x) = %#04x, want %#04x", c.in, got, c.bf16)
		}
		tt, err := FromFloat32(F16, []int{1}, []float32{x})
		if err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint16(tt.Data()); got != c.fp16 {
			t.Errorf("F16(%#08x) = %#04x, want %#04x", c.in, got, c.fp16)
		}
	}
}

// TestIntegers covers integer sources and targets.
func TestIntegers(t *testing.T) {
	// Round half to even, range checked, NaN refused.
	tt, err := FromFloat32(I8, []int{8}, []float32{0.5, 1.5, 2.5, -2.5, -0.5, 127.4, -128.5, 3.7})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Values[int8](tt); !slices.Equal(got, []int8{0, 2, 2, -2, 0, 127, -128, 4}) {
		t.Errorf("I8 rounding: %v", got)
	}
	for _, c := range []struct {
		d DType
		x float64
	}{{I8, 127.5}, {I8, -129}, {U8, 255.5}, {U8, -1}, {I16, 32768}, {U16, 65536}, {I32, 0x1p31}, {U32, 0x1p32},
		{I64, 0x1p63}, {I64, -0x1p63 - 0x1p11}, {U64, 0x1p64}, {U64, -0.6}, {I32, math.NaN()}, {U8, math.Inf(1)}} {
		_, err := FromFloat64(c.d, []int{1}, []float64{c.x})
		if !errors.Is(err, ErrUnrepresentable) {
			t.Errorf("FromFloat64(%v, %v): err %v, want ErrUnrepresentable", c.d, c.x, err)
		}
	}
	// The ends of the ranges are accepted.
	for _, c := range []struct {
		d    DType
		x    float64
		want int64
	}{{I8, -128, -128}, {U8, 255, 255}, {I64, -0x1p63, math.MinInt64}, {U8, -0.5, 0}, {I32, 2147483647, math.MaxInt32}} {
		tt, err := FromFloat64(c.d, []int{1}, []float64{c.x})
		if err != nil {
			t.Errorf("FromFloat64(%v, %v): %v", c.d, c.x, err)
			continue
		}
		if got, err := ToInt64(tt); err != nil || got[0] != c.want {
			t.Errorf("FromFloat64(%v, %v) = %v, %v; want %d", c.d, c.x, got, err, c.want)
		}
	}
	u64, err := FromFloat64(U64, []int{1}, []float64{0x1.fffffffffffffp63})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Values[uint64](u64); got[0] != 0xFFFFFFFFFFFFF800 {
		t.Errorf("U64 of 2^64-2^11 = %#x", got[0])
	}
	// BOOL: nonzero and NaN are true.
	b, err := FromFloat32(BOOL, []int{4}, []float32{0, float32(math.Copysign(0, -1)), 0.1, float32(math.NaN())})
	if err != nil || !slices.Equal(b.Data(), []byte{0, 0, 1, 1}) {
		t.Errorf("BOOL: % x, %v", b.Data(), err)
	}
	// BOOL decodes any nonzero byte as 1.
	bt := codesTensor(t, BOOL, 3, []byte{0, 1, 7})
	if got, _ := ToFloat32(bt); !slices.Equal(got, []float32{0, 1, 1}) {
		t.Errorf("BOOL to float: %v", got)
	}
	// ToInt64 of every integer dtype, at its extremes.
	for _, c := range []struct {
		d    DType
		data []byte
		want []int64
	}{
		{U8, []byte{0, 255}, []int64{0, 255}},
		{I8, []byte{0x80, 0x7F}, []int64{-128, 127}},
		{U16, []byte{0xFF, 0xFF, 0, 0}, []int64{65535, 0}},
		{I16, []byte{0, 0x80, 0xFF, 0x7F}, []int64{-32768, 32767}},
		{U32, []byte{0xFF, 0xFF, 0xFF, 0xFF}, []int64{math.MaxUint32}},
		{I32, []byte{0, 0, 0, 0x80}, []int64{math.MinInt32}},
		{I64, []byte{0, 0, 0, 0, 0, 0, 0, 0x80}, []int64{math.MinInt64}},
		{U64, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, []int64{math.MaxInt64}},
		{BOOL, []byte{0, 2}, []int64{0, 1}},
	} {
		got, err := ToInt64(codesTensor(t, c.d, len(c.want), c.data))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ToInt64(%v % x) = %v, %v; want %v", c.d, c.data, got, err, c.want)
		}
		// FromInt64 writes the same bytes back (BOOL writes 1 for true).
		back, err := FromInt64(c.d, []int{len(c.want)}, c.want)
		if err != nil {
			t.Errorf("FromInt64(%v, %v): %v", c.d, c.want, err)
		} else if c.d != BOOL && !slices.Equal(back.Data(), c.data) {
			t.Errorf("FromInt64(%v, %v) = % x, want % x", c.d, c.want, back.Data(), c.data)
		}
	}
	if _, err := ToInt64(codesTensor(t, U64, 1, []byte{0, 0, 0, 0, 0, 0, 0, 0x80})); !errors.Is(err, ErrUnrepresentable) {
		t.Errorf("ToInt64(U64 2^63): %v", err)
	}
	if _, err := ToInt64(codesTensor(t, F32, 1, make([]byte, 4))); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("ToInt64(F32): %v", err)
	}
	for _, c := range []struct {
		d DType
		v int64
	}{{I8, 128}, {I8, -129}, {U8, -1}, {U8, 256}, {U16, 1 << 16}, {I32, 1 << 31}, {U32, -1}, {U64, -1}} {
		if _, err := FromInt64(c.d, []int{1}, []int64{c.v}); !errors.Is(err, ErrUnrepresentable) {
			t.Errorf("FromInt64(%v, %d): %v", c.d, c.v, err)
		}
	}
}

// TestLargeIntegersRoundOnce checks 64-bit integers to narrow floats
// against math/big, which rounds exactly: going through float64 first would
// round twice.
func TestLargeIntegersRoundOnce(t *testing.T) {
	vals := []int64{1<<60 + 1<<52 + 1, 1<<60 + 1<<52, -(1<<60 + 1<<52 + 1), 1<<62 + 1<<38 + 1, 1<<53 + 1, 1<<24 + 1,
		math.MaxInt64, math.MinInt64, 1<<40 + 1<<16 + 1}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		vals = append(vals, int64(rng.Uint64()>>rng.IntN(40)))
	}
	f32 := make([]float32, len(vals))
	bf := make([]uint16, len(vals))
	for i, v := range vals {
		x, _ := new(big.Float).SetPrec(24).SetMode(big.ToNearestEven).SetInt64(v).Float32()
		f32[i] = x
		b := new(big.Float).SetPrec(8).SetMode(big.ToNearestEven).SetInt64(v)
		y, _ := b.Float32() // exact: 8 bits fit
		bf[i] = uint16(math.Float32bits(y) >> 16)
	}
	i64, err := FromValues([]int{len(vals)}, vals)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []DType{F32, BF16} {
		viaFrom, err := FromInt64(d, []int{len(vals)}, vals)
		if err != nil {
			t.Fatal(err)
		}
		viaConvert, err := Convert(i64, d)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(viaFrom.Data(), viaConvert.Data()) {
			t.Fatalf("%v: FromInt64 and Convert differ", d)
		}
		got, _ := ToFloat32(viaFrom)
		direct, _ := ToFloat32(i64) // ToFloat32 of the I64 tensor itself
		for i, v := range vals {
			if direct[i] != f32[i] {
				t.Fatalf("ToFloat32(I64 %d) = %v, want %v", v, direct[i], f32[i])
			}
			want := f32[i]
			if d == BF16 {
				want = math.Float32frombits(uint32(bf[i]) << 16)
			}
			if got[i] != want {
				t.Fatalf("%v(%d) = %v, want %v", d, v, got[i], want)
			}
		}
	}
	// And U64 above 2^63.
	u := []uint64{1<<63 + 1<<55 + 1, math.MaxUint64} // just above a BF16 tie, which float64 would land on
	ut, _ := FromValues([]int{2}, u)
	bt, err := Convert(ut, BF16)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ToFloat32(bt)
	if got[0] != 0x1.02p63 || got[1] != 0x1p64 {
		t.Errorf("U64 to BF16: %v, want [0x1.02p63 0x1p64]", got)
	}
	f, _ := ToFloat32(ut)
	if f[0] != 0x1.01p63 || f[1] != 0x1p64 {
		t.Errorf("U64 to float32: %v", f)
	}
}

// TestConvert checks Convert between dtypes against the one-value paths.
func TestConvert(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	vals := make([]float32, 10000) // more than one chunk
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * 10)
	}
	src, err := FromFloat32(F32, []int{100, 100}, vals)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []DType{F16, BF16, F8E4M3, F8E5M2, F8E4M3FNUZ, F8E5M2FNUZ, F4, F6E2M3, F6E3M2, F64, I32, C64} {
		got, err := Convert(src, to)
		if err != nil {
			t.Fatalf("Convert F32 -> %v: %v", to, err)
		}
		want, err := FromFloat32(to, []int{100, 100}, vals)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Data(), want.Data()) || !slices.Equal(got.Shape(), []int{100, 100}) || got.DType() != to {
			t.Errorf("Convert F32 -> %v differs from FromFloat32", to)
		}
		// And back: every narrow value is exactly a float32.
		if to == I32 || to == C64 {
			continue
		}
		back, err := Convert(got, F32)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := ToFloat32(got)
		if b, _ := ToFloat32(back); !slices.Equal(b, dec) {
			t.Errorf("Convert %v -> F32 differs from ToFloat32", to)
		}
	}
	// Same dtype: t itself.
	if same, _ := Convert(src, F32); &same.Data()[0] != &src.Data()[0] {
		t.Error("Convert to the same dtype copied")
	}
	// Integer to integer, with the failing element's index past the first chunk.
	ints := make([]int64, 5000)
	ints[4321] = 300
	bt, _ := FromValues([]int{5000}, ints)
	_, err = Convert(bt, I8)
	if !errors.Is(err, ErrUnrepresentable) || !strings.Contains(err.Error(), "element 4321 ") {
		t.Errorf("Convert I64 -> I8: %v", err)
	}
	if _, err := Convert(bt, U8); err == nil {
		t.Error("300 fits in U8? no: U8 holds up to 255")
	}
	fbig := make([]float32, 6000)
	fbig[5555] = float32(math.NaN())
	ft, _ := FromValues([]int{6000}, fbig)
	if _, err := Convert(ft, F4); !errors.Is(err, ErrUnrepresentable) || !strings.Contains(err.Error(), "element 5555 ") {
		t.Errorf("Convert F32 NaN -> F4: %v", err)
	}
	// C64.
	c, _ := FromValues([]int{1}, []complex64{1 + 2i})
	if _, err := Convert(c, F32); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("Convert C64 -> F32: %v", err)
	}
	if _, err := ToFloat32(c); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("ToFloat32(C64): %v", err)
	}
	if z, err := ToComplex64(c); err != nil || z[0] != 1+2i {
		t.Errorf("ToComplex64(C64) = %v, %v", z, err)
	}
	if z, err := ToComplex64(src); err != nil || z[7] != complex(vals[7], 0) {
		t.Errorf("ToComplex64(F32) = %v, %v", z[7], err)
	}
	// The zero Tensor has no dtype: an error, not a panic.
	if _, err := ToFloat32(Tensor{}); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("ToFloat32(Tensor{}): %v", err)
	}
	if _, err := ToFloat64(Tensor{}); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("ToFloat64(Tensor{}): %v", err)
	}
	if _, err := Convert(Tensor{}, F16); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("Convert(Tensor{}): %v", err)
	}
	if _, err := Convert(src, DType(0)); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("Convert to DType(0): %v", err)
	}
	// Integer sources to floats, exactly: I32 beyond 2^24 goes through float64.
	it, _ := FromValues([]int{2}, []int32{1<<24 + 1, -(1<<30 + 1)})
	if f, _ := Convert(it, F64); !slices.Equal(cvValues[float64](t, f), []float64{1<<24 + 1, -(1<<30 + 1)}) {
		t.Errorf("I32 -> F64 not exact")
	}
	if f, _ := ToFloat64(it); !slices.Equal(f, []float64{1<<24 + 1, -(1<<30 + 1)}) {
		t.Errorf("ToFloat64(I32) not exact: %v", f)
	}
}

func cvValues[T Element](t *testing.T, tt Tensor) []T {
	t.Helper()
	v, err := Values[T](tt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestViewsAndCopies checks which results share memory.
func TestViewsAndCopies(t *testing.T) {
	vals := []float32{1, 2, 3, 4}
	tt, err := FromValues([]int{2, 2}, vals)
	if err != nil {
		t.Fatal(err)
	}
	if byteview.Enabled {
		vals[0] = 10 // the tensor aliases vals
		if got, _ := ToFloat32(tt); got[0] != 10 {
			t.Error("FromValues copied on a little-endian build")
		}
		got, _ := ToFloat32(tt)
		got[1] = 20 // ToFloat32 of an aligned F32 tensor is a view
		if vals[1] != 20 {
			t.Error("ToFloat32 of an aligned F32 tensor copied")
		}
	}
	// FromFloat32 always copies.
	own, _ := FromFloat32(F32, []int{4}, vals)
	vals[2] = 30
	if got, _ := ToFloat32(own); got[2] != 3 {
		t.Error("FromFloat32 aliased its input")
	}
	// A misaligned F32 tensor decodes to a copy, correctly.
	buf := make([]byte, 17)
	copy(buf[1:], own.Data())
	mis := codesTensor(t, F32, 4, buf[1:])
	if got, _ := ToFloat32(mis); !slices.Equal(got, []float32{10, 20, 3, 4}) && !slices.Equal(got, []float32{1, 2, 3, 4}) {
		t.Errorf("misaligned: %v", got)
	}
	// Misaligned BF16 and F16 decode too (the wide kernels read bytes).
	b16 := make([]byte, 2*9+1)
	for i := range 9 {
		binary.LittleEndian.PutUint16(b16[1+2*i:], BFloat16FromFloat32(float32(i)).Bits())
	}
	if got, _ := ToFloat32(codesTensor(t, BF16, 9, b16[1:])); !slices.Equal(got, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("misaligned BF16: %v", got)
	}
	// Wrong counts and shapes.
	if _, err := FromFloat32(F32, []int{3}, vals); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("wrong count: %v", err)
	}
	if _, err := FromFloat32(F4, []int{3}, vals[:3]); !errors.Is(err, ErrMisalignedSlice) {
		t.Errorf("odd F4 count: %v", err)
	}
	if _, err := FromFloat32(F32, []int{-1}, nil); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("negative dim: %v", err)
	}
	if _, err := FromValues([]int{5}, vals); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("FromValues wrong count: %v", err)
	}
	// Scalars and empty tensors.
	s, err := FromFloat32(BF16, nil, []float32{1.5})
	if err != nil || s.Rank() != 0 || !slices.Equal(cvF32(t, s), []float32{1.5}) {
		t.Errorf("scalar: %v %v", s, err)
	}
	e, err := FromFloat32(F8E4M3, []int{0, 3}, nil)
	if err != nil || len(e.Data()) != 0 || len(cvF32(t, e)) != 0 {
		t.Errorf("empty: %v %v", e, err)
	}
}

func cvF32(t *testing.T, tt Tensor) []float32 {
	t.Helper()
	v, err := ToFloat32(tt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAppendReuse: the Append variants extend dst and, with capacity,
// allocate nothing.
func TestAppendReuse(t *testing.T) {
	tt, _ := FromFloat32(BF16, []int{1000}, make([]float32, 1000))
	buf := make([]float32, 0, 1000)
	allocs := testing.AllocsPerRun(20, func() {
		var err error
		buf, err = AppendFloat32(buf[:0], tt)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || len(buf) != 1000 {
		t.Errorf("AppendFloat32 into capacity: %v allocs, len %d", allocs, len(buf))
	}
	pre := []float32{7}
	out, err := AppendFloat32(pre, codesTensor(t, F8E4M3, 2, []byte{0x38, 0x40}))
	if err != nil || !slices.Equal(out, []float32{7, 1, 2}) {
		t.Errorf("AppendFloat32 = %v, %v", out, err)
	}
	out64, err := AppendFloat64([]float64{7}, codesTensor(t, F8E5M2, 2, []byte{0x3C, 0x40}))
	if err != nil || !slices.Equal(out64, []float64{7, 1, 2}) {
		t.Errorf("AppendFloat64 = %v, %v", out64, err)
	}
	f64buf := make([]float64, 0, 1000)
	allocs = testing.AllocsPerRun(20, func() { f64buf, _ = AppendFloat64(f64buf[:0], tt) })
	if allocs != 0 {
		t.Errorf("AppendFloat64 into capacity: %v allocs", allocs)
	}
}

// TestAppendEncoded: the bytes of FromFloat32/FromFloat64, appended, with
// no allocation when dst has room; misaligned destinations included.
func TestAppendEncoded(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	vals := make([]float32, 1001)
	for i := range vals {
		vals[i] = float32(rng.NormFloat64())
	}
	vals[17], vals[500] = float32(math.NaN()), float32(math.Inf(-1))
	v64 := make([]float64, len(vals))
	for i, v := range vals {
		v64[i] = float64(v)
	}
	for _, d := range []DType{BF16, F16, F32, F64, F8E4M3, F8E5M2, I32, BOOL, C64} {
		want, err := FromFloat32(d, []int{len(vals)}, vals)
		if d == I32 {
			if _, err := AppendEncoded(nil, d, vals); !errors.Is(err, ErrUnrepresentable) {
				t.Errorf("AppendEncoded(I32, NaN): %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, pre := range [][]byte{nil, {0xAA}, {1, 2, 3}} {
			got, err := AppendEncoded(slices.Clone(pre), d, vals)
			if err != nil || !slices.Equal(got[:len(pre)], pre) || !slices.Equal(got[len(pre):], want.Data()) {
				t.Errorf("AppendEncoded(%v, prefix %d) differs from FromFloat32: %v", d, len(pre), err)
			}
		}
		want64, _ := FromFloat64(d, []int{len(v64)}, v64)
		if got, _ := AppendEncoded(nil, d, v64); !slices.Equal(got, want64.Data()) {
			t.Errorf("AppendEncoded(%v, float64) differs from FromFloat64", d)
		}
	}
	buf := make([]byte, 0, 2*len(vals))
	if a := testing.AllocsPerRun(20, func() { buf, _ = AppendEncoded(buf[:0], BF16, vals) }); a != 0 {
		t.Errorf("AppendEncoded into capacity: %v allocs", a)
	}
	if _, err := AppendEncoded(nil, F4, vals[:3]); !errors.Is(err, ErrMisalignedSlice) {
		t.Errorf("AppendEncoded(F4, 3 values): %v", err)
	}
	if _, err := AppendEncoded(nil, DType(99), vals); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("AppendEncoded(DType(99)): %v", err)
	}
}

// TestEncodeParallelMatchesSerial: a large F16/BF16 encode, split across
// goroutines, gives the same bytes as encoding each value alone.
func TestEncodeParallelMatchesSerial(t *testing.T) {
	n := 2*parallelMin + 123 // chunks that are not all the same size
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = math.Float32frombits(uint32(i) * 2654435761)
	}
	for _, d := range []DType{BF16, F16} {
		got, err := AppendEncoded(nil, d, vals)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i += 997 { // a sample, through the one-value path
			one, err := AppendEncoded(nil, d, vals[i:i+1])
			if err != nil {
				t.Fatal(err)
			}
			if got[2*i] != one[0] || got[2*i+1] != one[1] {
				t.Fatalf("%v element %d (%v): % x, alone % x", d, i, vals[i], got[2*i:2*i+2], one)
			}
		}
		if last, _ := AppendEncoded(nil, d, vals[n-1:]); got[2*n-2] != last[0] || got[2*n-1] != last[1] {
			t.Fatalf("%v: last element differs", d)
		}
	}
}
