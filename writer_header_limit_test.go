package safetensors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// These tests hold the writer's header limit to its boundaries, with the
// header text written out by hand, and the capacity that the encoder
// reserves for the header to its documented bounds.

// TestHeaderLimitEveryBoundary saves the same header under every limit from
// 1 to its padded size n. At n the file is written as the format lays it
// out; under n it is refused with ErrHeaderTooLarge, and the size the error
// says the header needs is a true lower bound: more than the limit (else it
// would not be over it) and at most n (the header's real size).
func TestHeaderLimitEveryBoundary(t *testing.T) {
	cases := []struct {
		name    string
		tensors map[string]Tensor
		meta    map[string]string
		json    string // the header, written by hand
	}{{
		// Metadata only: 46 bytes of JSON, 2 of padding. The key before
		// the last ends at byte 34 and the last at byte 44, so limits
		// 34 to 43 are first exceeded by the last key, and 44 to 47 only
		// by the whole header.
		name: "metadata",
		meta: map[string]string{"c": "333", "a": "1", "bb": "22"},
		json: `{"__metadata__":{"a":"1","bb":"22","c":"333"}}`,
	}, {
		// Tensors only: U16 ranks before U8 in the reference's order, so
		// "b" comes first. 106 bytes of JSON, 6 of padding.
		name: "tensors",
		tensors: map[string]Tensor{
			"a": wlTensor(t, U8, []int{1}, []byte{9}),
			"b": wlTensor(t, U16, []int{2}, []byte{1, 2, 3, 4}),
		},
		json: `{"b":{"dtype":"U16","shape":[2],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[1],"data_offsets":[4,5]}}`,
	}, {
		// Both: 81 bytes of JSON, 7 of padding.
		name:    "both",
		tensors: map[string]Tensor{"x": wlTensor(t, F32, []int{1, 2}, make([]byte, 8))},
		meta:    map[string]string{"k": "v"},
		json:    `{"__metadata__":{"k":"v"},"x":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := wlPadded(c.json)
			n := int64(len(want) - 8)
			var b bytes.Buffer
			if err := (Options{MaxHeaderSize: n}).Save(&b, c.tensors, c.meta); err != nil {
				t.Fatalf("a header of exactly the limit %d: %v", n, err)
			}
			if !bytes.HasPrefix(b.Bytes(), want) {
				t.Fatalf("header %q, want %q", b.Bytes()[:min(b.Len(), len(want))], want)
			}
			for limit := n - 1; limit >= 1; limit-- {
				b.Reset()
				err := (Options{MaxHeaderSize: limit}).Save(&b, c.tensors, c.meta)
				var fe *FormatError
				if !errors.Is(err, ErrHeaderTooLarge) || !errors.As(err, &fe) || fe.Offset != -1 || fe.HasTensor {
					t.Fatalf("limit %d: %v, want a FormatError of ErrHeaderTooLarge at no offset", limit, err)
				}
				var need, over int64
				if _, serr := fmt.Sscanf(fe.Msg, "the header needs at least %d bytes, over the limit of %d", &need, &over); serr != nil {
					t.Fatalf("limit %d: message %q: %v", limit, fe.Msg, serr)
				}
				if over != limit || need <= limit || need > n {
					t.Fatalf("limit %d: %q; the header needs %d bytes, so the bound must be in (%d, %d]", limit, fe.Msg, n, limit, n)
				}
				if b.Len() != 0 {
					t.Fatalf("limit %d: %d bytes written", limit, b.Len())
				}
			}
		})
	}
}

// TestHeaderEstimateBounds checks the capacity the encoder reserves before
// encoding: enough for the whole header when no string needs an escape and
// every number fits the widths the estimate allows (a dtype name of 11
// bytes, offsets of 11 digits, dimensions of 7), so that the header is built
// without growing; at most the limit plus the prefix and one padding word
// (8 + 8 bytes), so that a header far over the limit is not reserved in
// full; and, under the default limit of 100 MB, nothing near that limit for
// a small header.
func TestHeaderEstimateBounds(t *testing.T) {
	big := []TensorInfo{{Name: "wq", DType: F8E4M3FNUZ, Shape: []int{1234567, 7654321, 1000000},
		DataOffsets: [2]int64{10_000_000_000, 99_999_999_999}}}
	cases := []struct {
		name  string
		infos []TensorInfo
		meta  map[string]string
		json  string // the header, written by hand
	}{{
		// 33 bytes of JSON: 7 of padding, the most there can be.
		name: "metadata",
		meta: map[string]string{"k": "vvvvvvvv"},
		json: `{"__metadata__":{"k":"vvvvvvvv"}}`,
	}, {
		// Every field at the widest the estimate allows; 105 bytes of
		// JSON, 7 of padding.
		name:  "wide tensor",
		infos: big,
		json:  `{"wq":{"dtype":"F8_E4M3FNUZ","shape":[1234567,7654321,1000000],"data_offsets":[10000000000,99999999999]}}`,
	}, {
		name:  "both",
		infos: big,
		meta:  map[string]string{"k": "vvvvvvvv", "l": ""},
		json:  `{"__metadata__":{"k":"vvvvvvvv","l":""},"wq":{"dtype":"F8_E4M3FNUZ","shape":[1234567,7654321,1000000],"data_offsets":[10000000000,99999999999]}}`,
	}}
	for _, c := range cases {
		want := wlPadded(c.json)
		for _, limit := range []int64{-1, DefaultMaxHeaderSize} {
			hdr, err := encodeHeader(c.infos, c.meta, limit)
			if err != nil || !bytes.Equal(hdr, want) {
				t.Fatalf("%s, limit %d: %q, %v; want %q", c.name, limit, hdr, err, want)
			}
			est := headerEstimate(c.infos, c.meta, limit)
			if est < len(want) {
				t.Errorf("%s, limit %d: an estimate of %d bytes for a header of %d", c.name, limit, est, len(want))
			}
			if est > 4096 {
				t.Errorf("%s, limit %d: an estimate of %d bytes for a header of %d", c.name, limit, est, len(want))
			}
		}
		// Under a limit smaller than the header: never more than the
		// limit, the prefix and one word of padding.
		for _, limit := range []int64{1, 16, int64(len(want)) - 17} {
			if est := headerEstimate(c.infos, c.meta, limit); est > int(limit)+16 {
				t.Errorf("%s, limit %d: an estimate of %d bytes", c.name, limit, est)
			}
		}
	}
	// A metadata value of 1000 bytes under a limit of 100: refused, with
	// no more than 116 bytes reserved.
	long := map[string]string{"k": strings.Repeat("v", 1000)}
	if est := headerEstimate(nil, long, 100); est > 116 {
		t.Errorf("an estimate of %d bytes under a limit of 100", est)
	}
	if _, err := encodeHeader(nil, long, 100); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("got %v, want ErrHeaderTooLarge", err)
	}
}

// TestSaveSmallFileAllocatesLittle saves a file of one byte under the
// default header limit of 100 MB. Save needs the header and a buffer of at
// most 256 KiB; reserving the limit would cost 100 MB.
func TestSaveSmallFileAllocatesLittle(t *testing.T) {
	tensors := map[string]Tensor{"a": wlTensor(t, U8, []int{1}, []byte{1})}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := Save(io.Discard, tensors, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Fatalf("saving a file of one byte allocated %d bytes", got)
	}
}
