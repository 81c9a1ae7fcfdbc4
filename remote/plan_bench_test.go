package remote_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// tpWeights returns the float32 weights of a transformer of the given
// layers and hidden size, and how each is split: along dim 0 in
// column-parallel layers (qkv, up), dim 1 for the weights of row-parallel
// ones (out, down), not at all (-1) otherwise.
func tpWeights(layers, hidden int) (map[string]safetensors.Tensor, func(string) int) {
	out := map[string]safetensors.Tensor{}
	add := func(name string, shape ...int) {
		n := 4
		for _, d := range shape {
			n *= d
		}
		t, err := safetensors.NewTensor(safetensors.F32, shape, pattern(n, byte(len(out))))
		if err != nil {
			panic(err)
		}
		out[name] = t
	}
	h := hidden
	for l := range layers {
		p := fmt.Sprintf("layers.%d.", l)
		add(p+"ln.weight", h)
		add(p+"attn.qkv.weight", 3*h, h)
		add(p+"attn.qkv.bias", 3*h)
		add(p+"attn.out.weight", h, h)
		add(p+"attn.out.bias", h)
		add(p+"mlp.up.weight", 4*h, h)
		add(p+"mlp.up.bias", 4*h)
		add(p+"mlp.down.weight", h, 4*h)
	}
	dim := func(name string) int {
		switch {
		case strings.Contains(name, ".qkv."), strings.Contains(name, ".up."):
			return 0
		case strings.HasSuffix(name, ".out.weight"), strings.HasSuffix(name, ".down.weight"):
			return 1
		}
		return -1
	}
	return out, dim
}

// pacedWriter sends at most rate bytes a second since start, however
// small its writes (a multipart response writes a part header and a run
// at a time).
type pacedWriter struct {
	http.ResponseWriter
	rate  float64
	start time.Time
	sent  int64
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 64<<10)
		p.sent += int64(k)
		if d := time.Until(p.start.Add(time.Duration(float64(p.sent) / p.rate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		w, err := p.ResponseWriter.Write(b[:k])
		n += w
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// rangeGET fetches the ranges (a Range header's value) with one plain
// request and reads the whole body.
func rangeGET(b *testing.B, url, rng string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", rng)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		b.Fatalf("status %s for %.100s", resp.Status, rng)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTensorParallel measures what rank 3 of 8 reads over a loopback
// server that adds a delay to every request, as a network's round trip
// would (and, on one link, at most 100 MB/s per connection): a column
// block and a row block of a 2048x2048 F32 weight, and the
// rank's whole share of a sharded model (ReadSlices), each next to one
// plain request for the bytes it covers (from its first byte to its last:
// per shard, concurrently, for the whole share), and the column block next
// to the whole weight, to one multipart/byteranges request of its runs,
// and to one request per row. Compare ns/op within one delay; requests and
// fetched-B are per operation.
//
//	go test -run '^$' -bench TensorParallel -benchtime 10x -count 1 ./remote
func BenchmarkTensorParallel(b *testing.B) {
	const n, ranks, rank = 2048, 8, 3
	weight := make([]byte, n*n*4)
	for i := range weight {
		weight[i] = byte(i * 7)
	}
	wdata, off := buildFile(nil, tensor{"w", "F32", []int{n, n}, weight})
	w0 := off["w"][0]
	const row = n * 4
	lo, hi := rank*n/ranks, (rank+1)*n/ranks

	full, dim := tpWeights(2, 1024)
	dir := b.TempDir()
	if _, err := safetensors.SaveSharded(dir, full, safetensors.ShardOptions{MaxShardSize: 32 << 20}); err != nil {
		b.Fatal(err)
	}
	files := map[string]file{"/w.safetensors": {data: wdata, etag: `"w"`}}
	local, err := safetensors.OpenModel(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	sel := func(info safetensors.TensorInfo) ([]safetensors.Index, bool) {
		d := dim(info.Name)
		if d < 0 {
			return nil, true
		}
		x, _ := safetensors.SplitIndex(info.Shape, d, rank, ranks)
		return x, true
	}
	// The bytes the share covers in each shard, first to last.
	covering := map[string][2]int64{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		files["/m/"+e.Name()] = file{data: data, etag: `"` + e.Name() + `"`}
		if !strings.HasSuffix(e.Name(), ".safetensors") {
			continue
		}
		f, _ := local.Shard(e.Name())
		first, last := int64(-1), int64(0)
		for _, ti := range f.Infos() {
			x, _ := sel(ti)
			s, _ := f.GetSlice(ti.Name)
			v, _ := s.View(x...)
			for o, l := range v.Runs() {
				at := f.DataOffset() + ti.DataOffsets[0] + o
				if first < 0 || at < first {
					first = at
				}
				last = max(last, at+l)
			}
		}
		covering[e.Name()] = [2]int64{first, last}
	}

	for _, link := range []struct {
		name  string
		delay time.Duration
		rate  float64 // bytes a second per connection; 0 for loopback's
	}{
		{"5ms", 5 * time.Millisecond, 0},
		{"20ms", 20 * time.Millisecond, 0},
		{"20ms+100MBps", 20 * time.Millisecond, 100e6},
	} {
		s := newServer(b, files)
		s.setHook(func(_ int, w http.ResponseWriter, r *http.Request, f file) bool {
			time.Sleep(link.delay)
			if link.rate > 0 {
				w = &pacedWriter{ResponseWriter: w, rate: link.rate, start: time.Now()}
			}
			if f.data == nil {
				http.NotFound(w, r)
			} else {
				serveFile(w, r, f)
			}
			return true
		})
		wURL := s.URL + "/w.safetensors"
		measure := func(name string, op func(b *testing.B)) {
			b.Run(link.name+"/"+name, func(b *testing.B) {
				n0 := s.count()
				var bytes0 int64
				for _, l := range s.since(0) {
					bytes0 += l.bytes
				}
				for b.Loop() {
					op(b)
				}
				log := s.since(n0)
				b.ReportMetric(float64(len(log))/float64(b.N), "requests")
				b.ReportMetric(float64(totalBytes(log))/float64(b.N), "fetched-B")
			})
		}
		open := func(b *testing.B, o *remote.Options) *safetensors.Slice {
			f, err := remote.Open(context.Background(), wURL, o)
			if err != nil {
				b.Fatal(err)
			}
			sl, err := f.GetSlice("w")
			if err != nil {
				b.Fatal(err)
			}
			return sl
		}
		col := []safetensors.Index{safetensors.Full(), safetensors.Range(lo, hi)}
		rowBlock := []safetensors.Index{safetensors.Range(lo, hi)}
		get := func(sl *safetensors.Slice, x []safetensors.Index) func(b *testing.B) {
			return func(b *testing.B) {
				if _, err := sl.Get(x...); err != nil {
					b.Fatal(err)
				}
			}
		}
		planned := open(b, nil)
		perRow := open(b, &remote.Options{MergeGap: -1})

		measure("whole weight, one request", func(b *testing.B) { rangeGET(b, wURL, rangeOf(w0, w0+n*row)) })
		measure("column block, planned", get(planned, col))
		measure("column block, one request for the covering bytes", func(b *testing.B) {
			rangeGET(b, wURL, rangeOf(w0+int64(lo)*4, w0+(n-1)*row+int64(hi)*4))
		})
		measure("column block, one multipart request of its runs", func(b *testing.B) {
			var rng strings.Builder
			rng.WriteString("bytes=")
			for i := range int64(n) {
				if i > 0 {
					rng.WriteString(",")
				}
				a := w0 + i*row + int64(lo)*4
				fmt.Fprintf(&rng, "%d-%d", a, a+int64(hi-lo)*4-1)
			}
			rangeGET(b, wURL, rng.String())
		})
		measure("column block, one request per row (MergeGap -1)", get(perRow, col))
		measure("row block, planned", get(planned, rowBlock))
		measure("row block, one request for the covering bytes", func(b *testing.B) {
			rangeGET(b, wURL, rangeOf(w0+int64(lo)*row, w0+int64(hi)*row))
		})

		m, err := remote.OpenModel(context.Background(), s.URL+"/m/"+safetensors.IndexName, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Verify(); err != nil {
			b.Fatal(err)
		}
		measure("rank share, planned (ReadSlices)", func(b *testing.B) {
			if _, err := m.ReadSlices(context.Background(), sel, nil); err != nil {
				b.Fatal(err)
			}
		})
		measure("rank share, one request per shard for the covering bytes", func(b *testing.B) {
			var wg sync.WaitGroup
			for name, c := range covering {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rangeGET(b, s.URL+"/m/"+name, rangeOf(c[0], c[1]))
				}()
			}
			wg.Wait()
		})
		m.Close()
	}
}

// BenchmarkMergeGap measures where merging runs stops paying: a column of
// 1 KiB runs, one per row of 32 rows, the rows a gap apart, read with the
// runs merged (MergeGap above the gap) and with a request per run
// (MergeGap -1), over a loopback server that waits 5 ms or 20 ms before
// each response and sends 100 MB/s per connection. The file's data are
// zeros, served without being held in memory. Compare the merged and
// unmerged ns/op of each gap.
//
//	go test -run '^$' -bench MergeGap -benchtime 3x -count 1 ./remote
func BenchmarkMergeGap(b *testing.B) {
	const rows, run = 32, 1 << 10
	for _, delay := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond} {
		for _, gap := range []int64{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
			cols := (gap + run) / 4
			size := rows * cols * 4
			hdr := fmt.Sprintf(`{"w":{"dtype":"F32","shape":[%d,%d],"data_offsets":[0,%d]}}`, rows, cols, size)
			for len(hdr)%8 != 0 {
				hdr += " "
			}
			head := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
			s := newServer(b, map[string]file{"/w.safetensors": {data: head, etag: `"w"`, size: int64(len(head)) + size}})
			s.setHook(func(_ int, w http.ResponseWriter, r *http.Request, f file) bool {
				time.Sleep(delay)
				serveFile(&pacedWriter{ResponseWriter: w, rate: 100e6, start: time.Now()}, r, f)
				return true
			})
			for _, merge := range []int64{2 * gap, -1} {
				name := fmt.Sprintf("%v/gap %d KiB/merged", delay, gap>>10)
				if merge < 0 {
					name = fmt.Sprintf("%v/gap %d KiB/a request per run", delay, gap>>10)
				}
				b.Run(name, func(b *testing.B) {
					f, err := remote.Open(context.Background(), s.URL+"/w.safetensors", &remote.Options{MergeGap: merge, PrefixSize: int64(len(head))})
					if err != nil {
						b.Fatal(err)
					}
					sl, _ := f.GetSlice("w")
					n0 := s.count()
					for b.Loop() {
						if _, err := sl.Get(safetensors.Full(), safetensors.Range(0, run/4)); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(len(s.since(n0)))/float64(b.N), "requests")
				})
			}
		}
	}
}
