package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// TestParseIndexWordEnds pins where a keyword of the index grammar ends. As
// in Python, "None0" or "None_" is one name, not None followed by something:
// any identifier character (a letter, a digit, '_', '.' as in np.newaxis, or
// a byte of a non-ASCII letter) continues the word, and the whole name is
// refused at offset 0. A byte just outside those ranges ends the word, so
// None is read and the next byte is refused at offset 4.
func TestParseIndexWordEnds(t *testing.T) {
	inWord := []byte{'0', '9', 'a', 'z', 'A', 'Z', '_', '.', 0x80, 0xff}
	outside := []byte{'/', '@', '[', '`', '{', 0x7f, '-', '+'}
	for _, c := range inWord {
		s := "None" + string([]byte{c})
		_, err := ParseIndex(s)
		want := "at offset 0: unexpected " + strconv.Quote(s) + ": " + wantItem
		if !errors.Is(err, ErrInvalidSlice) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseIndex(%q) = %v, want it refused as one word: %s", s, err, want)
		}
	}
	for _, c := range outside {
		s := "None" + string([]byte{c})
		_, err := ParseIndex(s)
		want := "at offset 4: unexpected " + strconv.Quote(string([]byte{c})) + " after an index"
		if !errors.Is(err, ErrInvalidSlice) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseIndex(%q) = %v, want None and then: %s", s, err, want)
		}
	}
}

// TestParseIndexLongWordQuoted: an error names at most the first 12 bytes
// of the word it refuses, wherever the word starts.
func TestParseIndexLongWordQuoted(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"abcdefghijklmnopq", `at offset 0: unexpected "abcdefghijkl": `},
		{"1, abcdefghijklmnopq", `at offset 3: unexpected "abcdefghijkl": `},
		{"1, abcdefghijkl", `at offset 3: unexpected "abcdefghijkl": `},
		{"1, abcdefghijk", `at offset 3: unexpected "abcdefghijk": `},
		{"1, x", `at offset 3: unexpected "x": `},
	} {
		_, err := ParseIndex(c.s)
		if !errors.Is(err, ErrInvalidSlice) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseIndex(%q) = %v, want %s", c.s, err, c.want)
		}
	}
}

// TestParseIndexIntegerEdges: integers just past uint64 saturate like any
// other integer beyond int (a wrapped value would select a real position),
// and an underscore must be followed by a digit, the error pointing just
// past it.
func TestParseIndexIntegerEdges(t *testing.T) {
	for _, c := range []struct {
		s    string
		want Index
	}{
		{"18446744073709551615", At(math.MaxInt)},  // 2^64-1
		{"18446744073709551616", At(math.MaxInt)},  // 2^64: wraps to 0 in uint64
		{"18446744073709551619", At(math.MaxInt)},  // 2^64+3
		{"-18446744073709551616", At(math.MinInt)}, // -(2^64)
		{"184467440737095516160", At(math.MaxInt)},
		{"9223372036854775807", At(math.MaxInt)},
		{"-9223372036854775808", At(math.MinInt)},
		{"1_8", At(18)},
	} {
		got, err := ParseIndex(c.s)
		if err != nil || len(got) != 1 || got[0] != c.want {
			t.Errorf("ParseIndex(%q) = %v, %v; want [%v]", c.s, got, err, c.want)
		}
	}
	for _, c := range []struct{ s, want string }{
		{"1_", "at offset 2: an underscore in a number must be followed by a digit"},
		{"12_x", "at offset 3: an underscore in a number must be followed by a digit"},
		{"1__2", "at offset 2: an underscore in a number must be followed by a digit"},
	} {
		_, err := ParseIndex(c.s)
		if !errors.Is(err, ErrInvalidSlice) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseIndex(%q) = %v, want %s", c.s, err, c.want)
		}
	}
}

// TestGetSliceLargestAddressable: the largest tensor GetSlice takes is
// 2^60-1 bytes, whose last bit, 2^63-9, still fits an int64 bit offset;
// TestGetSliceTooLargeToAddressInBits refuses 2^60. The slice of its last
// byte is planned without reading anything.
func TestGetSliceLargestAddressable(t *testing.T) {
	if math.MaxInt < 1<<60 {
		t.Skip("a dimension of 2^60-1 does not fit in an int here")
	}
	const n = 1<<60 - 1
	hdr := fmt.Sprintf(`{"big":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, n, n)
	head := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	f, err := NewReader(bytes.NewReader(head), int64(len(head))+n)
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.GetSlice("big")
	if err != nil {
		t.Fatalf("GetSlice of %d bytes: %v", int64(n), err)
	}
	v, err := s.View(At(-1))
	if err != nil || v.Offset() != n-1 || v.Size() != 1 {
		t.Errorf("View(At(-1)) = offset %d, size %d, %v; want %d, 1", v.Offset(), v.Size(), err, int64(n-1))
	}
}
