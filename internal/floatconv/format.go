// Package floatconv holds the number formats of safetensors that Go has no
// type for (F16, BF16, the F8 family, F6 and F4) and the bulk kernels that
// decode them to float32 and encode float32 and float64 into them.
//
// Every format is described by a [Format]: its field widths, its bias, and
// the rules for its special values. [Format.Decode] gives the exact value of
// a code and [Format.Encode] the code nearest to a float64, with ties to the
// even code and the format's overflow rule. The bulk kernels in kernels.go
// are table lookups and shifts built on those two, and are tested against
// them.
package floatconv

import (
	"math"
	"math/bits"
)

// Kind says which special values a format has.
type Kind uint8

const (
	// IEEE formats (F16, BF16, F8_E5M2) have ±0, and at the largest
	// exponent ±Inf (mantissa 0) and NaNs (any other mantissa).
	IEEE Kind = iota + 1
	// FN formats (F8_E4M3, that is E4M3FN) have ±0 and no infinities: the
	// code with every exponent and mantissa bit set is NaN, one per sign.
	FN
	// FNUZ formats (F8_E4M3FNUZ, F8_E5M2FNUZ) have no infinities and no
	// negative zero: the code with only the sign bit set is the one NaN.
	FNUZ
	// Finite formats (F4, F6_E2M3, F6_E3M2) have ±0 and every other code is
	// a finite number: there is no Inf and no NaN.
	Finite
	// E8M0 is the unsigned scale format F8_E8M0 (E8M0FNU): code c is
	// 2^(c-127) for c < 255, and 255 is NaN. It has no sign, no zero and no
	// infinity.
	E8M0
)

// Overflow results of [Format.Encode] for finite values beyond the largest
// finite code, after rounding, by kind:
//
//	IEEE    ±Inf
//	FN      NaN with the value's sign
//	FNUZ    NaN
//	Finite  ±max (saturation)
//	E8M0    max, 2^127 (saturation)
//
// The first three are PyTorch's casts (round to nearest even with an
// unbounded exponent, then overflow to the code past the largest finite
// one); the last two the saturating conversion of the OCP MX specification.

// Format describes one small binary floating-point format.
type Format struct {
	Name     string
	Kind     Kind
	ExpBits  uint // width of the exponent field
	MantBits uint // width of the mantissa field (fraction bits, no implicit bit)
	Bias     int  // exponent bias: a normal code is 2^(exp-Bias) * 1.mant

	signBit uint32 // the sign bit, 0 for E8M0
	maxMag  uint32 // the largest code, sign cleared, of a finite value
	nanCode uint32 // the NaN returned by Encode, sign cleared (FNUZ: the one NaN)
	infMag  uint32 // the infinity, sign cleared (IEEE only)
	// keepPayload makes Encode keep a NaN's payload bits that fit, and set
	// the quiet bit (F16, BF16), instead of returning nanCode.
	keepPayload bool

	// For Encode32, the float32 fast path (not for E8M0):
	minNormal32 uint32 // float32 bits of the smallest normal value, 2^(1-Bias)
	denorm32    uint32 // float32 bits of 2^(1-Bias-MantBits+23), whose ulp is one subnormal step
	shift32     uint   // 23 - MantBits
}

func newFormat(name string, kind Kind, e, m uint, bias int) *Format {
	f := &Format{Name: name, Kind: kind, ExpBits: e, MantBits: m, Bias: bias}
	all := uint32(1)<<(e+m) - 1 // every exponent and mantissa bit set
	if kind != E8M0 {
		f.signBit = 1 << (e + m)
	}
	switch kind {
	case IEEE:
		f.infMag = (1<<e - 1) << m
		f.maxMag = f.infMag - 1
		f.nanCode = all // what PyTorch writes for F8_E5M2; F16 and BF16 keep payloads
	case FN:
		f.maxMag = all - 1
		f.nanCode = all
	case FNUZ:
		f.maxMag = all
		f.nanCode = f.signBit
	case Finite:
		f.maxMag = all
	case E8M0:
		f.maxMag = 0xFE
		f.nanCode = 0xFF
	}
	emin := 1 - bias
	f.minNormal32 = uint32(emin+127) << 23
	f.denorm32 = uint32(emin-int(m)+23+127) << 23
	f.shift32 = 23 - m
	return f
}

// The formats of safetensors' dtypes. F16 and BF16 are here for the
// float64 encoder; their float32 kernels are dedicated.
var (
	F16        = withPayload(newFormat("F16", IEEE, 5, 10, 15))
	BF16       = withPayload(newFormat("BF16", IEEE, 8, 7, 127))
	E4M3FN     = newFormat("F8_E4M3", FN, 4, 3, 7)
	E5M2       = newFormat("F8_E5M2", IEEE, 5, 2, 15)
	E4M3FNUZ   = newFormat("F8_E4M3FNUZ", FNUZ, 4, 3, 8)
	E5M2FNUZ   = newFormat("F8_E5M2FNUZ", FNUZ, 5, 2, 16)
	E8M0FNU    = newFormat("F8_E8M0", E8M0, 8, 0, 127)
	E2M1       = newFormat("F4", Finite, 2, 1, 1)
	E2M3       = newFormat("F6_E2M3", Finite, 2, 3, 1)
	E3M2       = newFormat("F6_E3M2", Finite, 3, 2, 3)
	allFormats = []*Format{F16, BF16, E4M3FN, E5M2, E4M3FNUZ, E5M2FNUZ, E8M0FNU, E2M1, E2M3, E3M2}
)

func withPayload(f *Format) *Format {
	f.keepPayload = true
	f.nanCode = f.infMag | 1<<(f.MantBits-1) // the canonical quiet NaN
	return f
}

// Bits returns the width of a code: 1 + ExpBits + MantBits, or 8 for E8M0.
func (f *Format) Bits() uint {
	if f.Kind == E8M0 {
		return 8
	}
	return 1 + f.ExpBits + f.MantBits
}

// Codes returns the number of codes, 2^Bits.
func (f *Format) Codes() int { return 1 << f.Bits() }

// MaxFinite returns the largest finite value.
func (f *Format) MaxFinite() float64 { return f.Decode(f.maxMag) }

// Decode returns the exact value of code (only its low Bits bits are
// used). NaNs decode to a float64 NaN with the code's sign (none for FNUZ
// and E8M0) and, for IEEE formats, its payload bits.
func (f *Format) Decode(code uint32) float64 {
	code &= uint32(f.Codes() - 1)
	if f.Kind == E8M0 {
		if code == 0xFF {
			return math.Float64frombits(0x7FF8 << 48)
		}
		return math.Ldexp(1, int(code)-127)
	}
	neg := code&f.signBit != 0
	mag := code &^ f.signBit
	exp := mag >> f.MantBits
	mant := mag & (1<<f.MantBits - 1)
	maxExp := uint32(1)<<f.ExpBits - 1
	var v float64
	switch {
	case f.Kind == FNUZ && code == f.signBit,
		f.Kind == FN && mag == f.nanCode:
		v = math.Float64frombits(0x7FF8 << 48)
		if f.Kind == FNUZ {
			return v
		}
	case f.Kind == IEEE && exp == maxExp && mant == 0:
		v = math.Inf(1)
	case f.Kind == IEEE && exp == maxExp:
		// Keep the payload: the mantissa goes to the top of float64's.
		v = math.Float64frombits(0x7FF<<52 | uint64(mant)<<(52-f.MantBits))
	case exp == 0:
		v = math.Ldexp(float64(mant), 1-f.Bias-int(f.MantBits))
	default:
		v = math.Ldexp(float64(mant|1<<f.MantBits), int(exp)-f.Bias-int(f.MantBits))
	}
	if neg {
		v = math.Copysign(v, -1)
	}
	return v
}

// Encode returns the code of the value nearest to x, ties to the code with
// an even mantissa (for E8M0, whose codes are powers of two, the tie
// 1.5*2^k goes up to 2^(k+1): ties to even on a significand with no
// fraction bits, 1 or 2, pick 2), applying the format's rules:
//
//   - NaN: the format's NaN, with x's sign where the format has one per
//     sign; F16 and BF16 keep the payload's top bits and set the quiet bit.
//     Finite formats have none: ok is false.
//   - ±Inf: ±Inf for IEEE, NaN for FN, FNUZ and E8M0; ok is false for
//     Finite formats.
//   - beyond the largest finite value after rounding: see the overflow
//     table above.
//   - -0, and negative values that round to zero: -0, except FNUZ formats,
//     which have no negative zero and give +0.
//   - E8M0: positive values below 2^-127, and ±0, give 2^-127 (code 0), the
//     smallest code; negative values have no code: ok is false.
func (f *Format) Encode(x float64) (code uint32, ok bool) {
	b := math.Float64bits(x)
	neg := b>>63 != 0
	b &^= 1 << 63
	if f.Kind == E8M0 {
		return f.encodeE8M0(b, neg)
	}
	sign := uint32(0)
	if neg {
		sign = f.signBit
	}
	const inf64 = 0x7FF << 52
	switch {
	case b > inf64: // NaN
		switch f.Kind {
		case Finite:
			return 0, false
		case FNUZ:
			return f.nanCode, true
		}
		if f.keepPayload {
			payload := uint32(b>>(52-f.MantBits)) & (1<<(f.MantBits-1) - 1)
			return sign | f.nanCode | payload, true
		}
		return sign | f.nanCode, true
	case b == inf64:
		return f.overflow(sign)
	}
	return f.finish(sign, f.roundMag(b))
}

// finish returns the code of the rounded magnitude mag with the sign bit
// sign, applying the rules for overflow (mag beyond the largest finite
// code) and for FNUZ's missing negative zero.
func (f *Format) finish(sign, mag uint32) (uint32, bool) {
	switch {
	case mag > f.maxMag:
		if f.Kind == Finite {
			return sign | f.maxMag, true
		}
		return f.overflow(sign)
	case mag == 0 && f.Kind == FNUZ:
		return 0, true // no negative zero
	}
	return sign | mag, true
}

// roundMag returns the magnitude code nearest to the positive finite
// float64 whose bits are b, rounding ties to even, with an unbounded
// exponent: the result may exceed maxMag (and a Finite or FN format's
// codes), which the caller treats as overflow. It saturates at 1<<31 so that
// huge values cannot wrap.
func (f *Format) roundMag(b uint64) uint32 {
	e := int(b >> 52)
	sig := b & (1<<52 - 1)
	if e == 0 {
		e = 1 // float64 subnormal: sig * 2^(1-1075)
	} else {
		sig |= 1 << 52
	}
	e0 := e - 1075                      // x = sig * 2^e0
	E := bits.Len64(sig) - 1 + e0       // x in [2^E, 2^(E+1))
	emin := 1 - f.Bias                  // the exponent of the smallest normal
	q := max(E, emin) - int(f.MantBits) // the weight of one unit in the last place
	shift := q - e0                     // > 0 for every format here (MantBits < 52)
	var n uint64
	if shift < 64 {
		n = sig >> shift
		rem := sig & (1<<shift - 1)
		half := uint64(1) << (shift - 1)
		if rem > half || rem == half && n&1 == 1 {
			n++
		}
	}
	// A normal value's code is (E-emin+1)<<m | fraction, and n already
	// holds the implicit bit 1<<m (or carried into 1<<(m+1)), so the code is
	// (E-emin)<<m + n; a subnormal's is n itself, which becomes the smallest
	// normal when it rounds up to 1<<m.
	mag := uint64(max(E-emin, 0))<<f.MantBits + n
	return uint32(min(mag, 1<<31))
}

// Encode32 is [Format.Encode] for a float32, given as its bits u, with
// integer arithmetic on the bits instead of the general float64 path: the
// same results, several times faster. It does not handle E8M0, whose
// Encode is already short.
func (f *Format) Encode32(bits uint32) (code uint32, ok bool) {
	sign := bits >> 31 << (f.ExpBits + f.MantBits)
	u := bits &^ (1 << 31)
	if u >= 0x7F800000 { // Inf or NaN: rare, take the general path
		return f.Encode(float64(math.Float32frombits(bits)))
	}
	var mag uint32
	if u < f.minNormal32 {
		// Below the smallest normal: adding 2^k, whose ulp is the
		// subnormal step, makes the FPU round to that step, ties to even;
		// the bits above 2^k's count the steps (2^m of them is the
		// smallest normal, whose code is indeed 1<<m).
		d := math.Float32frombits(f.denorm32)
		mag = math.Float32bits(math.Float32frombits(u)+d) - f.denorm32
	} else {
		// Rebase the exponent to the smallest normal, round the mantissa
		// to nearest even at bit shift32 (a carry moves into the
		// exponent), and add the smallest normal's code, 1<<m.
		v := u - f.minNormal32
		v += 1<<(f.shift32-1) - 1 + (v>>f.shift32)&1
		mag = v>>f.shift32 + 1<<f.MantBits
	}
	return f.finish(sign, mag)
}

// overflow returns the code for ±Inf, which is also that of finite
// overflow except in Finite formats (which saturate finite values and have
// no code for infinity).
func (f *Format) overflow(sign uint32) (uint32, bool) {
	switch f.Kind {
	case IEEE:
		return sign | f.infMag, true
	case FN:
		return sign | f.nanCode, true
	case FNUZ:
		return f.nanCode, true
	}
	return 0, false // Finite
}

// encodeE8M0 encodes the magnitude bits b of a float64 (sign neg) to E8M0.
func (f *Format) encodeE8M0(b uint64, neg bool) (uint32, bool) {
	const inf64 = 0x7FF << 52
	switch {
	case b >= inf64:
		return 0xFF, true // NaN and ±Inf
	case b == 0:
		return 0, true // ±0: the smallest scale
	case neg:
		return 0, false
	}
	e := int(b>>52) - 1023 // x in [2^e, 2^(e+1)) for a normal float64
	if e < -127 {
		return 0, true // below 2^-127 (float64 subnormals included)
	}
	if b&(1<<51) != 0 {
		e++ // 1.5*2^e and above are nearer 2^(e+1), and the tie goes up
	}
	if e > 127 {
		return f.maxMag, true
	}
	return uint32(e + 127), true
}
