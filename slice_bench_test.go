package safetensors

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSlice measures Slice.Get (a fresh destination each time) and
// Slice.ReadInto (one destination, touched before the timer starts) on a
// 1 GiB F32 matrix of 16384 x 16384, through Open and NewReader, against
// copy() of the same number of bytes in the same run: between two touched
// buffers (copy/reused: the source is in the CPU's cache after the first
// time), from the mapped file at a different place each time (copy/cold:
// the source comes from memory), and into a fresh buffer (copy/fresh).
// The Get and ReadInto benchmarks also report x-copy, the ratio to a copy()
// timed in the same iterations (see below). The selections:
//
//	rows:    [8192:8256, :]   64 whole rows, one 4 MiB run
//	cols:    [:, 8192:8256]   64 columns: 16384 runs of 256 bytes
//	strided: [::2, ::2]       every other element of every other row, 256 MiB
//
// The file is written once, with plain writes, in the benchmark's temporary
// directory. Run it with a small count, the machine being shared:
//
//	go test -run '^$' -bench BenchmarkSlice -benchtime=5x -count=1
func BenchmarkSlice(b *testing.B) {
	const n = 16384
	path := filepath.Join(b.TempDir(), "matrix.safetensors")
	writeBenchMatrix(b, path, n)

	fo, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer fo.Close()
	osf, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer osf.Close()
	st, _ := osf.Stat()
	fr, err := NewReader(osf, st.Size())
	if err != nil {
		b.Fatal(err)
	}
	// Touch every page of the mapping once, so that the Open benchmarks
	// measure copying and not the first page faults on the file's pages
	// (the sum goes to a package variable so that the loads stay).
	whole, _ := fo.GetTensor("w")
	var sum byte
	for i := 0; i < len(whole.Data()); i += 4096 {
		sum += whole.Data()[i]
	}
	benchSink = sum

	selections := []struct {
		name  string
		index []Index
	}{
		{"rows", []Index{Range(8192, 8256), Full()}},
		{"cols", []Index{Full(), Range(8192, 8256)}},
		{"strided", []Index{Full().WithStep(2), Full().WithStep(2)}},
	}
	for _, sel := range selections {
		ss, _ := fo.GetSlice("w")
		v, err := ss.View(sel.index...)
		if err != nil {
			b.Fatal(err)
		}
		size := v.Size()
		// The baseline: copy() of as many bytes between two buffers that
		// are already touched, and into a fresh one.
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(i)
		}
		b.Run(fmt.Sprintf("%s/copy/reused", sel.name), func(b *testing.B) {
			dst := make([]byte, size)
			copy(dst, src)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, src)
			}
		})
		b.Run(fmt.Sprintf("%s/copy/cold", sel.name), func(b *testing.B) {
			// From the mapped file, a different place each time, so that the
			// source is not in the CPU's cache, as a scattered selection's
			// source is not.
			dst := make([]byte, size)
			copy(dst, src)
			cold := newColdSource(whole.Data(), size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, cold.next())
			}
		})
		b.Run(fmt.Sprintf("%s/copy/fresh", sel.name), func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				dst := make([]byte, size)
				copy(dst, src)
			}
		})
		for _, be := range []struct {
			name string
			f    *File
		}{{"Open", fo}, {"NewReader", fr}} {
			s, err := be.f.GetSlice("w")
			if err != nil {
				b.Fatal(err)
			}
			// Each iteration also times, off the benchmark's clock, a copy()
			// of as many bytes done the same way (into a fresh buffer, or
			// between two touched buffers) and reports the ratio of the
			// times as x-copy: measured side by side, it holds up on a noisy
			// machine better than a ratio of separate benchmarks. x-copy > 1
			// means faster than copy().
			b.Run(fmt.Sprintf("%s/%s/fresh", sel.name, be.name), func(b *testing.B) {
				var r ratios
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					r.timeCopy(func() { copy(make([]byte, size), src) })
					b.StartTimer()
					r.timeGet(func() {
						if _, err := s.Get(sel.index...); err != nil {
							b.Fatal(err)
						}
					})
				}
				r.report(b)
			})
			b.Run(fmt.Sprintf("%s/%s/reused", sel.name, be.name), func(b *testing.B) {
				dst := make([]byte, size)
				copy(dst, src) // touch it
				cdst := make([]byte, size)
				copy(cdst, src)
				var r ratios
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					r.timeCopy(func() { copy(cdst, src) })
					b.StartTimer()
					r.timeGet(func() {
						if _, err := s.ReadInto(dst, sel.index...); err != nil {
							b.Fatal(err)
						}
					})
				}
				r.report(b)
			})
		}
	}
}

// ratios accumulates the times of the operation under test and of its
// copy() baseline, measured in the same iterations.
type ratios struct{ get, copy time.Duration }

func (r *ratios) timeGet(f func())  { r.get += since(f) }
func (r *ratios) timeCopy(f func()) { r.copy += since(f) }

func since(f func()) time.Duration {
	t := time.Now()
	f()
	return time.Since(t)
}

func (r *ratios) report(b *testing.B) {
	if r.get <= 0 {
		return
	}
	b.ReportMetric(float64(r.copy)/float64(r.get), "x-copy")
}

// coldSource hands out size-byte windows of a large buffer, a different
// place each time, so that they are not in the CPU's cache.
type coldSource struct {
	data []byte
	size int64
	at   int64
}

func newColdSource(data []byte, size int64) *coldSource {
	return &coldSource{data: data, size: size}
}

func (c *coldSource) next() []byte {
	c.at += 7 * c.size
	if c.at+c.size > int64(len(c.data)) {
		c.at %= int64(len(c.data)) - c.size
	}
	return c.data[c.at : c.at+c.size]
}

// writeBenchMatrix writes a safetensors file holding one F32 tensor "w" of
// n x n, with plain file writes: the header by hand, then the rows.
func writeBenchMatrix(b *testing.B, path string, n int) {
	b.Helper()
	size := int64(n) * int64(n) * 4
	hdr := fmt.Sprintf(`{"w":{"dtype":"F32","shape":[%d,%d],"data_offsets":[0,%d]}}`, n, n, size)
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	buf = append(buf, hdr...)
	if _, err := f.Write(buf); err != nil {
		b.Fatal(err)
	}
	row := make([]byte, 4*n)
	for i := range n {
		for j := range n {
			binary.LittleEndian.PutUint32(row[4*j:], uint32(i*n+j))
		}
		if _, err := f.Write(row); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
