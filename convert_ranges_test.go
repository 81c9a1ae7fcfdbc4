package safetensors

import (
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

// These tests hold the conversions at the edges of every integer range
// (the last representable value and the first that is not), and check
// that 64-bit integers round once, correctly, to narrower floats: the
// expected values are Go's own conversions, which round directly.

func crInts(t *testing.T, d DType, vals ...int64) Tensor {
	t.Helper()
	tt, err := FromInt64(d, []int{len(vals)}, vals)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func TestFromInt64Ranges(t *testing.T) {
	for _, c := range []struct {
		d        DType
		lo, hi   int64 // the range, inclusive
		checkLo  bool  // lo-1 must be refused
		checkHi  bool  // hi+1 must be refused
		wantSize int
	}{
		{I8, math.MinInt8, math.MaxInt8, true, true, 1},
		{U8, 0, math.MaxUint8, true, true, 1},
		{I16, math.MinInt16, math.MaxInt16, true, true, 2},
		{U16, 0, math.MaxUint16, true, true, 2},
		{I32, math.MinInt32, math.MaxInt32, true, true, 4},
		{U32, 0, math.MaxUint32, true, true, 4},
		{I64, math.MinInt64, math.MaxInt64, false, false, 8},
		{U64, 0, math.MaxInt64, true, false, 8},
	} {
		tt, err := FromInt64(c.d, []int{2}, []int64{c.lo, c.hi})
		if err != nil {
			t.Errorf("%v [%d, %d]: %v", c.d, c.lo, c.hi, err)
			continue
		}
		back, err := ToInt64(tt)
		if err != nil || back[0] != c.lo || back[1] != c.hi {
			t.Errorf("%v round trip: %v, %v", c.d, back, err)
		}
		if len(tt.Data()) != 2*c.wantSize {
			t.Errorf("%v: %d bytes", c.d, len(tt.Data()))
		}
		for _, bad := range []struct {
			check bool
			v     int64
		}{{c.checkLo, c.lo - 1}, {c.checkHi, c.hi + 1}} {
			if !bad.check {
				continue
			}
			_, err := FromInt64(c.d, []int{3}, []int64{0, 0, bad.v})
			if !errors.Is(err, ErrUnrepresentable) || !strings.Contains(err.Error(), "element 2 (") {
				t.Errorf("%v of %d: %v", c.d, bad.v, err)
			}
		}
	}
	// BOOL: zero is false, anything else true.
	tt := crInts(t, BOOL, 0, 1, -1, 7)
	if got := tt.Data(); string(got) != "\x00\x01\x01\x01" {
		t.Errorf("BOOL: %v", got)
	}
}

func TestFromFloatRoundsIntoRange(t *testing.T) {
	for _, c := range []struct {
		d    DType
		v    float64
		want int64
		ok   bool
	}{
		{I8, 127.4, 127, true},
		{I8, 127.5, 0, false}, // rounds to 128
		{I8, -128.5, -128, true},
		{I8, -128.6, 0, false},
		{U8, 255.49, 255, true},
		{U8, 255.5, 0, false},
		{U8, -0.5, 0, true}, // -0
		{U8, -0.6, 0, false},
		{I16, 32767.5, 0, false},
		{I16, -32768.5, -32768, true},
		{U16, 65535.4, 65535, true},
		{I32, 2147483647.4, 2147483647, true},
		{I32, 2147483647.5, 0, false},
		{U32, 4294967295.4, 4294967295, true},
		{U32, 4294967295.5, 0, false},
		{I64, 9223372036854775807, 0, false}, // the float64 is 2^63
		{I64, -9223372036854775808, math.MinInt64, true},
		{U64, 18446744073709549568, -2048, true}, // 2^64-2048, the largest float64 under 2^64
		{U64, 18446744073709551616, 0, false},
		{U64, -0.4, 0, true},
		{I8, math.NaN(), 0, false},
		{I8, math.Inf(1), 0, false},
		{U64, math.Inf(-1), 0, false},
		{I8, 2.5, 2, true}, // ties to even
		{I8, 3.5, 4, true},
		{I8, -2.5, -2, true},
	} {
		tt, err := FromFloat64(c.d, []int{2}, []float64{1, c.v})
		if !c.ok {
			if !errors.Is(err, ErrUnrepresentable) || !strings.Contains(err.Error(), "element 1 (") {
				t.Errorf("%v of %v: %v", c.d, c.v, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v of %v: %v", c.d, c.v, err)
			continue
		}
		var got int64
		b := tt.Data()[len(tt.Data())/2:]
		switch len(b) {
		case 1:
			if c.d == I8 {
				got = int64(int8(b[0]))
			} else {
				got = int64(b[0])
			}
		case 2:
			u := binary.LittleEndian.Uint16(b)
			if c.d == I16 {
				got = int64(int16(u))
			} else {
				got = int64(u)
			}
		case 4:
			u := binary.LittleEndian.Uint32(b)
			if c.d == I32 {
				got = int64(int32(u))
			} else {
				got = int64(u)
			}
		case 8:
			got = int64(binary.LittleEndian.Uint64(b))
		}
		if got != c.want {
			t.Errorf("%v of %v: %d, want %d", c.d, c.v, got, c.want)
		}
		// The same through float32 where the value is a float32.
		if f := float32(c.v); float64(f) == c.v {
			tt32, err := FromFloat32(c.d, []int{2}, []float32{1, f})
			if err != nil || string(tt32.Data()) != string(tt.Data()) {
				t.Errorf("%v of float32 %v: %v", c.d, f, err)
			}
		}
	}
}

func TestToInt64OfU64(t *testing.T) {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b, math.MaxInt64)
	binary.LittleEndian.PutUint64(b[8:], 1<<63)
	tt, err := NewTensor(U64, []int{2}, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ToInt64(tt); !errors.Is(err, ErrUnrepresentable) || !strings.Contains(err.Error(), "element 1 (9223372036854775808)") {
		t.Errorf("U64 2^63: %v", err)
	}
	tt, _ = NewTensor(U64, []int{1}, b[:8])
	if v, err := ToInt64(tt); err != nil || v[0] != math.MaxInt64 {
		t.Errorf("U64 MaxInt64: %v, %v", v, err)
	}
	for _, d := range []DType{F32, F16, C64} {
		tt, _ := NewTensor(d, []int{0}, nil)
		if _, err := ToInt64(tt); !errors.Is(err, ErrInvalidTensorInfo) {
			t.Errorf("ToInt64 of %v: %v", d, err)
		}
	}
}

// TestWideIntsRoundOnce: 64-bit integers convert to float32 and narrower
// floats with one correct rounding, as Go's conversion does, not two (to
// float64, then down), which gets the halfway cases wrong.
func TestWideIntsRoundOnce(t *testing.T) {
	signed := []int64{
		1<<60 + 1<<36 + 1, // just over half a float32 ulp above 2^60: rounds up
		1<<60 + 1<<36,     // exactly half: ties to even, down
		1<<60 + 1<<36 - 1,
		-(1<<60 + 1<<36 + 1),
		1<<24 + 1, 1<<53 + 1, math.MaxInt64, math.MinInt64, -1, 0, 3,
		1<<62 + 1<<38 + 1, 1<<54 + 1<<30 + 1,
	}
	tt := crInts(t, I64, signed...)
	f32, err := ToFloat32(tt)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range signed {
		if f32[i] != float32(v) {
			t.Errorf("ToFloat32(I64 %d) = %v, want %v", v, f32[i], float32(v))
		}
	}
	conv, err := Convert(tt, F32)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Values[float32](conv)
	for i, v := range signed {
		if got[i] != float32(v) {
			t.Errorf("Convert(I64 %d, F32) = %v, want %v", v, got[i], float32(v))
		}
	}
	// FromInt64 to F32 rounds the same way.
	enc, err := FromInt64(F32, []int{len(signed)}, signed)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = Values[float32](enc)
	for i, v := range signed {
		if got[i] != float32(v) {
			t.Errorf("FromInt64(F32, %d) = %v, want %v", v, got[i], float32(v))
		}
	}
	unsigned := []uint64{1<<63 + 1<<39 + 1, 1<<63 + 1<<39, math.MaxUint64, 1<<53 + 1, 1 << 63}
	b := make([]byte, 8*len(unsigned))
	for i, v := range unsigned {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	ut, err := NewTensor(U64, []int{len(unsigned)}, b)
	if err != nil {
		t.Fatal(err)
	}
	f32, err = ToFloat32(ut)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range unsigned {
		if f32[i] != float32(v) {
			t.Errorf("ToFloat32(U64 %d) = %v, want %v", v, f32[i], float32(v))
		}
	}
	f64, err := ToFloat64(ut)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range unsigned {
		if f64[i] != float64(v) {
			t.Errorf("ToFloat64(U64 %d) = %v, want %v", v, f64[i], float64(v))
		}
	}
}
