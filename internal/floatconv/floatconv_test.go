package floatconv

import (
	"math"
	"testing"
)

// TestEncode32MatchesEncode sweeps float32 inputs for each format, every
// exponent from far below the smallest subnormal to beyond the largest
// value, with mantissas that put every possible pattern in the kept bits
// and, in the dropped bits, zero, one, just below half, exactly half (a
// tie), just above half and all ones; plus infinities and NaNs. The fast
// float32 path must agree with the general one, which the package's
// callers test against the formats' definitions.
func TestEncode32MatchesEncode(t *testing.T) {
	for _, f := range allFormats {
		if f.Kind == E8M0 {
			continue
		}
		keep := f.MantBits + 2 // kept bits, and two more to cross neighbours
		drop := 23 - keep
		half := uint32(1) << (drop - 1)
		tails := []uint32{0, 1, half - 1, half, half + 1, 1<<drop - 1}
		emin := 1 - f.Bias
		emax := 1<<f.ExpBits - f.Bias
		lo := max(emin-int(f.MantBits)-3, -149)
		hi := min(emax+2, 127)
		// The kept bits: all patterns for narrow formats; for F16 and BF16,
		// every pattern of the top 4 and bottom 3 with the middle all zeros
		// or all ones.
		var tops []uint32
		if keep <= 8 {
			for top := range uint32(1) << keep {
				tops = append(tops, top)
			}
		} else {
			midOnes := (uint32(1)<<(keep-4) - 1) &^ 7
			for h := range uint32(16) {
				for l := range uint32(8) {
					tops = append(tops, h<<(keep-4)|l, h<<(keep-4)|midOnes|l)
				}
			}
		}
		var inputs []uint32
		for e := lo; e <= hi; e++ {
			for _, top := range tops {
				for _, tail := range tails {
					// Exponents below -126 are float32 subnormals: shift the
					// significand down instead.
					var u uint32
					if e >= -126 {
						u = uint32(e+127)<<23 | top<<drop | tail
					} else {
						u = (1<<23 | top<<drop | tail) >> (-126 - e)
					}
					inputs = append(inputs, u, u|1<<31)
				}
			}
		}
		inputs = append(inputs, 0, 1<<31, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
			0x7F7FFFFF, 0xFF7FFFFF, 1, 0x80000001)
		for _, u := range inputs {
			want, wok := f.Encode(float64(math.Float32frombits(u)))
			got, gok := f.Encode32(u)
			if got != want || gok != wok {
				t.Fatalf("%s: Encode32(%#08x = %v) = %#x, %v; Encode gives %#x, %v",
					f.Name, u, math.Float32frombits(u), got, gok, want, wok)
			}
		}
	}
}

// TestF16Bits32 checks the bit trick that builds the F16 table against
// Format.Decode for every code, NaN payloads included.
func TestF16Bits32(t *testing.T) {
	for c := range uint32(1 << 16) {
		got := F16Bits32(uint16(c))
		want := F16.Decode(c)
		if math.IsNaN(want) {
			// Same sign and payload: the 10 mantissa bits move to the top
			// of float32's 23.
			if got != uint32(c&0x8000)<<16|0x7F800000|(c&0x3FF)<<13 {
				t.Fatalf("F16 NaN %#04x: %#08x", c, got)
			}
			continue
		}
		if float64(math.Float32frombits(got)) != want || math.Signbit(want) != (got>>31 == 1) {
			t.Fatalf("F16 %#04x: %v, want %v", c, math.Float32frombits(got), want)
		}
	}
}

// TestKernelsFallback runs each kernel on misaligned memory, where the
// typed views are refused, and compares with the aligned result.
func TestKernelsFallback(t *testing.T) {
	const n = 64
	raw := make([]byte, 2*n+1)
	for i := range raw {
		raw[i] = byte(i*37 + 11)
	}
	for _, dec := range []func([]float32, []byte){DecodeBF16, DecodeF16} {
		b := make([]float32, n)
		dec(b, raw[1:]) // misaligned source
		if !bitsEqual(b, refAll(dec, raw[1:], n)) {
			t.Fatal("misaligned decode differs from one-by-one decode")
		}
	}
	vals := []float32{1, 2.5, -3, 65504, 1e-8, float32(math.Inf(1))}
	buf := make([]byte, 2*len(vals)+1)
	EncodeBF16(buf[1:], vals)
	for i, v := range vals {
		if got := uint16(buf[1+2*i]) | uint16(buf[2+2*i])<<8; got != BF16FromBits(math.Float32bits(v)) {
			t.Fatalf("misaligned EncodeBF16(%v) = %#x", v, got)
		}
	}
}

func decodeRef(dec func([]float32, []byte), two []byte) float32 {
	var out [1]float32
	buf := make([]byte, 2) // fresh, aligned
	copy(buf, two)
	dec(out[:], buf)
	return out[0]
}

func refAll(dec func([]float32, []byte), src []byte, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = decodeRef(dec, src[2*i:2*i+2])
	}
	return out
}

func bitsEqual(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}
