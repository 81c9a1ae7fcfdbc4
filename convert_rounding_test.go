package safetensors

import (
	"math"
	"testing"
)

// TestWideIntsStickyBits: a 64-bit integer whose bits below float64's 53
// are set only away from the lowest bit still rounds to float32 as Go's
// single, correct conversion does: those bits make a value just above a
// halfway point round up, not to even.
func TestWideIntsStickyBits(t *testing.T) {
	vals := []int64{
		1<<60 + 1<<36 + 2,    // k = 8 bits dropped below 53; only bit 1 of them set
		1<<60 + 1<<36 + 1<<7, // only the highest dropped bit set
		1<<62 + 1<<38 + 1<<5,
		-(1<<60 + 1<<36 + 2),
	}
	conv, err := Convert(crInts(t, I64, vals...), F32)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := Values[float32](conv)
	for i, v := range vals {
		if got[i] != float32(v) {
			t.Errorf("Convert(I64 %d, F32) = %v, want %v", v, got[i], float32(v))
		}
	}
	u := []uint64{1<<63 + 1<<39 + 2, 1<<63 + 1<<39 + 1<<9}
	ut, err := FromValues([]int{len(u)}, u)
	if err != nil {
		t.Fatal(err)
	}
	uconv, err := Convert(ut, F32)
	if err != nil {
		t.Fatal(err)
	}
	ugot, _ := Values[float32](uconv)
	for i, v := range u {
		if ugot[i] != float32(v) {
			t.Errorf("Convert(U64 %d, F32) = %v, want %v", v, ugot[i], float32(v))
		}
	}
}

// TestIntZeroIsPositiveZero: integer 0 converts to +0 in every float dtype
// (all bits clear), never to -0.
func TestIntZeroIsPositiveZero(t *testing.T) {
	for _, from := range []DType{I64, I32, U64} {
		for _, to := range []DType{F64, F32, F16, BF16} {
			conv, err := Convert(crInts(t, from, 0, 0), to)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range conv.Data() {
				if b != 0 {
					t.Errorf("Convert(%v 0, %v) = bytes % x, want all zero", from, to, conv.Data())
					break
				}
			}
		}
	}
	f64, err := ToFloat64(crInts(t, I64, 0))
	if err != nil || math.Signbit(f64[0]) {
		t.Errorf("ToFloat64(I64 0) = %v, %v; want +0", f64, err)
	}
}
