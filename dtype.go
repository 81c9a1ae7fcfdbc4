package safetensors

import "fmt"

// DType is the element type of a tensor, as named in a file's header.
//
// The zero value is not a valid DType. [DType.String] gives the name a file
// uses ("F8_E4M3"), which differs from the Go identifier (F8E4M3) only for the
// F8 and F6 families.
type DType uint8

// The 22 dtypes of the format. The numeric values are this package's own and
// are not written to files; files name dtypes by their String form.
const (
	BOOL       DType = iota + 1 // 8-bit boolean: 0 is false, any other byte true
	U8                          // unsigned 8-bit integer
	I8                          // signed 8-bit integer
	I16                         // signed 16-bit integer
	U16                         // unsigned 16-bit integer
	I32                         // signed 32-bit integer
	U32                         // unsigned 32-bit integer
	I64                         // signed 64-bit integer
	U64                         // unsigned 64-bit integer
	F16                         // IEEE 754 binary16
	BF16                        // bfloat16: the top 16 bits of a float32
	F32                         // IEEE 754 binary32
	F64                         // IEEE 754 binary64
	C64                         // complex64: two float32, real part first
	F8E4M3                      // "F8_E4M3": OCP FP8 E4M3FN, no infinities
	F8E5M2                      // "F8_E5M2": OCP FP8 E5M2
	F8E8M0                      // "F8_E8M0": OCP MX scale E8M0FNU, powers of two
	F8E4M3FNUZ                  // "F8_E4M3FNUZ": E4M3 with bias 8, one NaN, no negative zero
	F8E5M2FNUZ                  // "F8_E5M2FNUZ": E5M2 with bias 16, one NaN, no negative zero
	F4                          // "F4": OCP MXFP4 E2M1, two elements a byte
	F6E2M3                      // "F6_E2M3": OCP MXFP6 E2M3, four elements in three bytes
	F6E3M2                      // "F6_E3M2": OCP MXFP6 E3M2, four elements in three bytes

	numDTypes = int(F6E3M2) + 1
)

var dtypeNames = [numDTypes]string{
	BOOL: "BOOL", U8: "U8", I8: "I8", I16: "I16", U16: "U16", I32: "I32", U32: "U32",
	I64: "I64", U64: "U64", F16: "F16", BF16: "BF16", F32: "F32", F64: "F64", C64: "C64",
	F8E4M3: "F8_E4M3", F8E5M2: "F8_E5M2", F8E8M0: "F8_E8M0",
	F8E4M3FNUZ: "F8_E4M3FNUZ", F8E5M2FNUZ: "F8_E5M2FNUZ",
	F4: "F4", F6E2M3: "F6_E2M3", F6E3M2: "F6_E3M2",
}

var dtypeBits = [numDTypes]uint8{
	BOOL: 8, U8: 8, I8: 8, I16: 16, U16: 16, I32: 32, U32: 32, I64: 64, U64: 64,
	F16: 16, BF16: 16, F32: 32, F64: 64, C64: 64,
	F8E4M3: 8, F8E5M2: 8, F8E8M0: 8, F8E4M3FNUZ: 8, F8E5M2FNUZ: 8,
	F4: 4, F6E2M3: 6, F6E3M2: 6,
}

// dtypeRank is the reference writer's order of dtypes in the data buffer:
// a smaller rank is written first (U64 first, BOOL last).
var dtypeRank = [numDTypes]uint8{
	U64: 0, I64: 1, F64: 2, C64: 3, F32: 4, U32: 5, I32: 6, BF16: 7, F16: 8, U16: 9,
	I16: 10, F8E5M2FNUZ: 11, F8E4M3FNUZ: 12, F8E8M0: 13, F8E4M3: 14, F8E5M2: 15,
	I8: 16, U8: 17, F6E3M2: 18, F6E2M3: 19, F4: 20, BOOL: 21,
}

// AllDTypes returns every valid DType, in declaration order.
func AllDTypes() []DType {
	all := make([]DType, 0, numDTypes-1)
	for d := BOOL; int(d) < numDTypes; d++ {
		all = append(all, d)
	}
	return all
}

// ParseDType returns the DType that a file names name, such as "F8_E4M3".
// Names are exact and case-sensitive, as in the reference implementation:
// "f32" and "F8E4M3" are errors. The error wraps [ErrInvalidHeader].
func ParseDType(name string) (DType, error) {
	if d := lookupDType(name); d != 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%w: unknown dtype %q", ErrInvalidHeader, name)
}

// lookupDType returns the DType named name, or 0. A switch compiles to a
// length-then-content search, faster than a map for so few names.
func lookupDType(name string) DType {
	switch name {
	case "BOOL":
		return BOOL
	case "U8":
		return U8
	case "I8":
		return I8
	case "I16":
		return I16
	case "U16":
		return U16
	case "I32":
		return I32
	case "U32":
		return U32
	case "I64":
		return I64
	case "U64":
		return U64
	case "F16":
		return F16
	case "BF16":
		return BF16
	case "F32":
		return F32
	case "F64":
		return F64
	case "C64":
		return C64
	case "F8_E4M3":
		return F8E4M3
	case "F8_E5M2":
		return F8E5M2
	case "F8_E8M0":
		return F8E8M0
	case "F8_E4M3FNUZ":
		return F8E4M3FNUZ
	case "F8_E5M2FNUZ":
		return F8E5M2FNUZ
	case "F4":
		return F4
	case "F6_E2M3":
		return F6E2M3
	case "F6_E3M2":
		return F6E3M2
	}
	return 0
}

// Valid reports whether d is one of the 22 dtypes of the format.
func (d DType) Valid() bool { return d != 0 && int(d) < numDTypes }

// String returns the name a file uses for d ("F8_E4M3" for F8E4M3), or
// "DType(N)" for an invalid value.
func (d DType) String() string {
	if d.Valid() {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// BitSize returns the size of one element in bits: 4, 6, 8, 16, 32 or 64.
// It returns 0 for an invalid DType.
func (d DType) BitSize() int {
	if d.Valid() {
		return int(dtypeBits[d])
	}
	return 0
}

// IsFloat reports whether d holds floating-point values (every F* and BF16
// dtype, F8E8M0 included). C64 is complex, not float.
func (d DType) IsFloat() bool {
	switch d {
	case F16, BF16, F32, F64, F8E4M3, F8E5M2, F8E8M0, F8E4M3FNUZ, F8E5M2FNUZ, F4, F6E2M3, F6E3M2:
		return true
	}
	return false
}

// IsInteger reports whether d is a signed or unsigned integer dtype.
func (d DType) IsInteger() bool {
	switch d {
	case U8, I8, I16, U16, I32, U32, I64, U64:
		return true
	}
	return false
}

// MarshalText implements [encoding.TextMarshaler] with the file's spelling,
// so a DType inside a JSON document reads as it does in a header.
func (d DType) MarshalText() ([]byte, error) {
	if !d.Valid() {
		return nil, fmt.Errorf("safetensors: cannot marshal invalid %v", d)
	}
	return []byte(dtypeNames[d]), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with the same rules as
// [ParseDType].
func (d *DType) UnmarshalText(text []byte) error {
	v, err := ParseDType(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
