package safetensors

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
)

// hinted is a reader that plans its reads as its hints say.
type hinted struct {
	io.ReaderAt
	h ReadHints
}

func (r hinted) ReadHints() ReadHints { return r.h }

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
			f, err := NewReader(hinted{bytes.NewReader(data), h}, int64(len(data)))
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
