package safetensors

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkLocalPlan reads selections of a 64 MiB F32 matrix (4096 x
// 4096) through NewReader over an *os.File in the page cache: with the
// range planner, the path of View.ReadInto for a File of NewReader, and
// with the block reader it replaced there (still the path of long runs of
// a mapped File), timed in the same iterations. x-blocks is the block
// reader's time over the planner's: above 1, the planner is faster.
//
//	go test -run '^$' -bench LocalPlan -benchtime 100x -count 1 .
func BenchmarkLocalPlan(b *testing.B) {
	const n = 4096
	path := filepath.Join(b.TempDir(), "m.safetensors")
	writeBenchMatrix(b, path, n)
	osf, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer osf.Close()
	st, _ := osf.Stat()
	f, err := NewReader(osf, st.Size())
	if err != nil {
		b.Fatal(err)
	}
	s, _ := f.GetSlice("w")
	base := s.info.DataOffsets[0]
	for _, c := range []struct {
		name string
		x    []Index
	}{
		{"rows [1024:1536]", []Index{Range(1024, 1536)}},
		{"cols [:, 1024:1536]", []Index{Full(), Range(1024, 1536)}},
		{"cols [:, 1024:1040]", []Index{Full(), Range(1024, 1040)}},
		{"strided [::2, ::2]", []Index{RangeStep(0, n, 2), RangeStep(0, n, 2)}},
	} {
		v, _ := s.View(c.x...)
		dst := make([]byte, v.Size())
		b.Run(c.name, func(b *testing.B) {
			var planned, blocks time.Duration
			b.SetBytes(v.Size())
			readPlanned := func() {
				if err := f.readView(dst, base, &v.p); err != nil {
					b.Fatal(err)
				}
			}
			readBlocks := func() {
				if err := f.readBlocks(dst, base, &v.p); err != nil {
					b.Fatal(err)
				}
			}
			// Alternate which goes first, so that neither gains from the
			// other's warming.
			odd := false
			for b.Loop() {
				if odd {
					b.StopTimer()
					blocks += since(readBlocks)
					b.StartTimer()
				}
				planned += since(readPlanned)
				if !odd {
					b.StopTimer()
					blocks += since(readBlocks)
					b.StartTimer()
				}
				odd = !odd
			}
			b.ReportMetric(float64(blocks)/float64(planned), "x-blocks")
		})
	}
}
