package safetensors

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
)

// hintedReader is a reader that plans its reads as its hints say.
type hintedReader struct {
	io.ReaderAt
	h ReadHints
}

func (r hintedReader) ReadHints() ReadHints { return r.h }

// TestPlannedSlicesMatchNumPy runs every expression NumPy evaluated on
// readers whose hints make the planner merge runs far apart, cut blocks
// into parts of a few bytes, read steps of a loop together, or never merge:
// the bytes are NumPy's every time.
func TestPlannedSlicesMatchNumPy(t *testing.T) {
	data, err := os.ReadFile(slicesFixture)
	if err != nil {
		t.Fatal(err)
	}
	cases := loadSliceCases(t)
	for _, h := range []ReadHints{
		{MergeGap: 1 << 20, MaxRead: 8 << 20, Concurrency: 4},
		{MergeGap: 64, MaxRead: 48, Concurrency: 3},
		{MergeGap: 1 << 10, MaxRead: 7, Concurrency: 2},
		{MergeGap: -1, MaxRead: 5, Concurrency: 8},
		{MergeGap: 0, MaxRead: 0, Concurrency: 0},
	} {
		t.Run(fmt.Sprintf("gap %d, max %d", h.MergeGap, h.MaxRead), func(t *testing.T) {
			f, err := NewReader(hintedReader{bytes.NewReader(data), h}, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cases {
				name := c.T + "[" + c.X + "]"
				if c.Y != nil {
					name += "[" + *c.Y + "]"
				}
				checkSliceCase(t, f, c, name)
			}
		})
	}
}

// FuzzPlannedSlice reads a random selection of a random 3-D tensor
// through a reader with random hints, and compares the bytes with the
// same selection of the file in memory.
func FuzzPlannedSlice(f *testing.F) {
	f.Add(uint8(7), uint8(5), uint8(9), uint8(2), int16(1), int16(6), int8(2), int16(-1), int16(0), int8(-1), int16(64), int16(48), uint8(3))
	f.Add(uint8(16), uint8(16), uint8(16), uint8(4), int16(0), int16(16), int8(1), int16(3), int16(5), int8(1), int16(4096), int16(1024), uint8(4))
	f.Add(uint8(3), uint8(40), uint8(2), uint8(1), int16(-1), int16(0), int8(-1), int16(0), int16(40), int8(3), int16(-1), int16(5), uint8(1))
	f.Fuzz(func(t *testing.T, d0, d1, d2, elem uint8, a0, b0 int16, s0 int8, a1, b1 int16, s1 int8, gap, maxRead int16, conc uint8) {
		shape := []int{int(d0%24) + 1, int(d1%24) + 1, int(d2%24) + 1}
		dtype := []DType{U8, U16, F32, F64}[elem%4]
		n := shape[0] * shape[1] * shape[2] * dtype.BitSize() / 8
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*131 + i/7)
		}
		file := buildFile(t, rawTensor{"x", dtype.String(), shape, data})
		mem, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		h := ReadHints{MergeGap: int64(gap), MaxRead: int64(maxRead), Concurrency: int(conc % 8)}
		r, err := NewReader(hintedReader{bytes.NewReader(file), h}, int64(len(file)))
		if err != nil {
			t.Fatal(err)
		}
		step := func(s int8) int {
			if s == 0 {
				return 1
			}
			return int(s)
		}
		x := []Index{RangeStep(int(a0), int(b0), step(s0)), RangeStep(int(a1), int(b1), step(s1))}
		ms, _ := mem.GetSlice("x")
		want, werr := ms.Get(x...)
		rs, _ := r.GetSlice("x")
		got, gerr := rs.Get(x...)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%v: in memory %v, through the planner %v", x, werr, gerr)
		}
		if werr == nil && !bytes.Equal(got.Data(), want.Data()) {
			t.Fatalf("%v with hints %+v: the planner's bytes differ", x, h)
		}
	})
}
