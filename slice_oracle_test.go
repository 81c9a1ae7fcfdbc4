package safetensors

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
)

// These tests compare slicing of a 1-D tensor with Python's slice
// semantics, written out here from the language reference (the
// adjustment of bounds in slice.indices), over every combination of small
// bounds, absent bounds and steps, and every integer index in and out of
// range.

// soIndices is Python's slice(start, stop, step).indices(n) and the
// positions it selects; nil start or stop means None.
func soIndices(start, stop *int, step, n int) []int {
	adjust := func(p *int, def int) int {
		if p == nil {
			return def
		}
		i := *p
		if i < 0 {
			i += n
			if i < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
			return i
		}
		if i >= n {
			if step < 0 {
				return n - 1
			}
			return n
		}
		return i
	}
	var s, e int
	if step < 0 {
		s, e = adjust(start, n-1), adjust(stop, -1)
		if stop == nil {
			e = -1
		}
	} else {
		s, e = adjust(start, 0), adjust(stop, n)
	}
	length := 0
	switch {
	case step > 0 && s < e:
		length = (e-s-1)/step + 1
	case step < 0 && e < s:
		length = (s-e-1)/(-step) + 1
	}
	var out []int
	for k := range length {
		out = append(out, s+k*step)
	}
	return out
}

func soTensor(t *testing.T, n int) *File {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i)
	}
	tt, err := NewTensor(U8, []int{n}, data)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Save(&b, map[string]Tensor{"x": tt}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Load(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSliceMatchesPython(t *testing.T) {
	bounds := []*int{nil}
	for i := -8; i <= 8; i++ {
		bounds = append(bounds, &i)
	}
	big, small := math.MaxInt, math.MinInt
	bounds = append(bounds, &big, &small)
	str := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	for n := 0; n <= 6; n++ {
		f := soTensor(t, n)
		s, err := f.GetSlice("x")
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range []int{-3, -2, -1, 1, 2, 3, math.MaxInt, -math.MaxInt, math.MinInt} {
			for _, start := range bounds {
				for _, stop := range bounds {
					var x Index
					switch {
					case start != nil && stop != nil:
						x = Range(*start, *stop)
					case start != nil:
						x = RangeFrom(*start)
					case stop != nil:
						x = RangeTo(*stop)
					default:
						x = Full()
					}
					x = x.WithStep(step)
					want := soIndices(start, stop, max(step, -math.MaxInt), n)
					got, err := s.Get(x)
					if err != nil {
						t.Fatalf("n=%d [%s:%s:%d]: %v", n, str(start), str(stop), step, err)
					}
					if got.Rank() != 1 || got.Dim(0) != len(want) {
						t.Fatalf("n=%d [%s:%s:%d]: shape %v, want [%d]", n, str(start), str(stop), step, got.Shape(), len(want))
					}
					for k, i := range want {
						if got.Data()[k] != byte(i) {
							t.Fatalf("n=%d [%s:%s:%d]: %v, want positions %v", n, str(start), str(stop), step, got.Data(), want)
						}
					}
					// The same index through its text.
					parsed, err := ParseIndex(fmt.Sprintf("%s:%s:%d", str(start), str(stop), step))
					if err != nil {
						t.Fatalf("ParseIndex: %v", err)
					}
					again, err := s.Get(parsed...)
					if err != nil || !bytes.Equal(again.Data(), got.Data()) {
						t.Fatalf("n=%d %q: %v, %v", n, fmt.Sprintf("%s:%s:%d", str(start), str(stop), step), again.Data(), err)
					}
				}
			}
		}
		// A step of 0 is refused.
		if _, err := s.Get(Full().WithStep(0)); !errors.Is(err, ErrInvalidSlice) {
			t.Errorf("step 0: %v", err)
		}
		// Integer indexes: -n to n-1 select; others are out of range.
		for i := -n - 2; i <= n+1; i++ {
			got, err := s.Get(At(i))
			if i < -n || i >= n {
				if !errors.Is(err, ErrInvalidSlice) {
					t.Errorf("n=%d [%d]: %v", n, i, err)
				}
				continue
			}
			want := i
			if want < 0 {
				want += n
			}
			if err != nil || got.Rank() != 0 || got.Data()[0] != byte(want) {
				t.Errorf("n=%d [%d]: %v, %v", n, i, got, err)
			}
		}
	}
}
