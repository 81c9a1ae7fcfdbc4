package safetensors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// tpModel returns the F32 weights of a small transformer of the given
// layers and hidden size, with distinct values everywhere.
func tpModel(layers, hidden int) map[string]safetensors.Tensor {
	out := map[string]safetensors.Tensor{}
	seq := uint32(0)
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], seq)
			seq++
		}
		t, err := safetensors.NewTensor(safetensors.F32, shape, b)
		if err != nil {
			panic(err)
		}
		out[name] = t
	}
	h := hidden
	for l := range layers {
		p := fmt.Sprintf("h.%d.", l)
		add(p+"ln.weight", h)
		add(p+"attn.qkv.weight", 3*h, h)
		add(p+"attn.qkv.bias", 3*h)
		add(p+"attn.out.weight", h, h)
		add(p+"attn.out.bias", h)
		add(p+"mlp.up.weight", 4*h, h)
		add(p+"mlp.down.weight", h, 4*h)
	}
	return out
}

// tpDim is how a tensor of tpModel is split: along dim 0 for
// column-parallel layers (qkv, up: weight and bias), along dim 1 for the
// weights of row-parallel ones (out, down), not at all otherwise (-1).
func tpDim(name string) int {
	switch {
	case strings.Contains(name, "qkv."), strings.Contains(name, "up."):
		return 0
	case strings.HasSuffix(name, "out.weight"), strings.HasSuffix(name, "down.weight"):
		return 1
	}
	return -1
}

// tpSlices is rank's SliceFunc of a split in ranks parts.
func tpSlices(t testing.TB, rank, ranks int) safetensors.SliceFunc {
	return func(info safetensors.TensorInfo) ([]safetensors.Index, bool) {
		d := tpDim(info.Name)
		if d < 0 {
			return nil, true
		}
		x, err := safetensors.SplitIndex(info.Shape, d, rank, ranks)
		if err != nil {
			t.Errorf("%s: %v", info.Name, err)
		}
		return x, true
	}
}

// rankRangeLog is a loopback file server that records each request's Range
// header and the body bytes it sent.
type rankRangeLog struct {
	mu     sync.Mutex
	ranges []string
	bytes  int64
	h      http.Handler
}

func (l *rankRangeLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.ranges = append(l.ranges, r.Header.Get("Range"))
	l.mu.Unlock()
	l.h.ServeHTTP(&rankCountWriter{w, l}, r)
}

func (l *rankRangeLog) take() ([]string, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, n := l.ranges, l.bytes
	l.ranges, l.bytes = nil, 0
	return r, n
}

type rankCountWriter struct {
	http.ResponseWriter
	l *rankRangeLog
}

// Write counts the bytes before it writes them: once written, the client
// may have its whole answer before the count.
func (c *rankCountWriter) Write(p []byte) (int, error) {
	c.l.mu.Lock()
	c.l.bytes += int64(len(p))
	c.l.mu.Unlock()
	return c.ResponseWriter.Write(p)
}

// byteSpan is a byte range of a file, [lo, hi).
type byteSpan struct{ lo, hi int64 }

// partSpans returns the runs of bytes (file offsets) of rank's part of
// tensor ti of f, from the geometry of the split, not from a View.
func partSpans(f *safetensors.File, ti safetensors.TensorInfo, rank, ranks int) []byteSpan {
	base := f.DataOffset() + ti.DataOffsets[0]
	d := tpDim(ti.Name)
	if d < 0 {
		return []byteSpan{{base, base + ti.Size()}}
	}
	n := ti.Shape[d]
	a, b := rank*n/ranks, (rank+1)*n/ranks // the sizes divide evenly here
	if len(ti.Shape) == 1 {
		return []byteSpan{{base + int64(a)*4, base + int64(b)*4}}
	}
	rowBytes := int64(ti.Shape[1]) * 4
	if d == 0 {
		return []byteSpan{{base + int64(a)*rowBytes, base + int64(b)*rowBytes}}
	}
	out := make([]byteSpan, ti.Shape[0])
	for r := range out {
		out[r] = byteSpan{base + int64(r)*rowBytes + int64(a)*4, base + int64(r)*rowBytes + int64(b)*4}
	}
	return out
}

// TestReadSlicesOverHTTP loads each rank's share of a sharded model from a
// loopback server and counts the requests and bytes: with the remote
// package's defaults, one request per shard, from the first byte the rank
// needs to the last; without merging, one per run. The parts equal those
// of slicing the files on disk.
func TestReadSlicesOverHTTP(t *testing.T) {
	const ranks = 4
	want := tpModel(4, 128)
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, want, safetensors.ShardOptions{MaxShardSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	local, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if len(local.Files()) < 3 {
		t.Fatalf("%d shards; the test wants several", len(local.Files()))
	}
	log := &rankRangeLog{h: http.FileServer(http.Dir(dir))}
	srv := httptest.NewServer(log)
	defer srv.Close()

	for _, merge := range []bool{true, false} {
		for rank := range ranks {
			t.Run(fmt.Sprintf("merge %v, rank %d", merge, rank), func(t *testing.T) {
				o := &remote.Options{PrefixSize: 8} // no tensor bytes in the kept prefix
				if !merge {
					o.MergeGap = -1
				}
				m, err := remote.OpenModel(context.Background(), srv.URL+"/"+safetensors.IndexName, o)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				if err := m.Verify(); err != nil { // opens every shard
					t.Fatal(err)
				}
				log.take()
				var progress int64
				got, err := m.ReadSlices(context.Background(), tpSlices(t, rank, ranks), &safetensors.ReadAllOptions{
					Progress: func(done, total int64) { progress = total },
				})
				if err != nil {
					t.Fatal(err)
				}
				reqs, sent := log.take()

				// What the rank needs, file by file, from the geometry.
				var wantReqs []string
				var wantBytes, partBytes int64
				for _, name := range local.Files() {
					f, _ := local.Shard(name)
					var runs []byteSpan
					for _, ti := range f.Infos() {
						runs = append(runs, partSpans(f, ti, rank, ranks)...)
					}
					slices.SortFunc(runs, func(a, b byteSpan) int { return int(a.lo - b.lo) })
					for _, r := range runs {
						partBytes += r.hi - r.lo
					}
					if !merge {
						for _, r := range runs {
							wantReqs = append(wantReqs, fmt.Sprintf("bytes=%d-%d", r.lo, r.hi-1))
							wantBytes += r.hi - r.lo
						}
						continue
					}
					// Every gap is under the 1 MiB MergeGap and the byteSpan
					// under the 8 MiB ChunkSize: one request.
					lo, hi := runs[0].lo, runs[len(runs)-1].hi
					for i := 1; i < len(runs); i++ {
						if runs[i].lo-runs[i-1].hi > remote.DefaultMergeGap {
							t.Fatalf("a gap of %d bytes", runs[i].lo-runs[i-1].hi)
						}
					}
					if hi-lo > remote.DefaultChunkSize {
						t.Fatalf("a byteSpan of %d bytes", hi-lo)
					}
					wantReqs = append(wantReqs, fmt.Sprintf("bytes=%d-%d", lo, hi-1))
					wantBytes += hi - lo
				}
				t.Logf("%d requests, %d bytes", len(reqs), sent)
				slices.Sort(reqs)
				slices.Sort(wantReqs)
				if !slices.Equal(reqs, wantReqs) {
					t.Errorf("%d requests %v\nwant %d: %v", len(reqs), reqs, len(wantReqs), wantReqs)
				}
				if sent != wantBytes {
					t.Errorf("%d bytes sent, want %d", sent, wantBytes)
				}
				if progress != partBytes {
					t.Errorf("progress total %d, want the parts' %d bytes", progress, partBytes)
				}
				if len(got) != len(want) {
					t.Errorf("%d tensors, want %d", len(got), len(want))
				}
				for name, g := range got {
					s, err := local.GetSlice(name)
					if err != nil {
						t.Fatal(err)
					}
					x, _ := tpSlices(t, rank, ranks)(safetensors.TensorInfo{Name: name, Shape: s.Shape()})
					w, err := s.Get(x...)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(g.Shape(), w.Shape()) || string(g.Data()) != string(w.Data()) {
						t.Errorf("%s: %v differs from the file's slice %v", name, g.Shape(), w.Shape())
					}
				}
			})
		}
	}
}

// TestReadSlicesPiecesMakeTheWhole checks that the parts of every rank,
// put back together along the split dimension, are the saved tensors, on a
// memory-mapped model.
func TestReadSlicesPiecesMakeTheWhole(t *testing.T) {
	const ranks = 3 // 128 is not a multiple of 3: parts of 43, 43 and 42
	want := tpModel(2, 128)
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, want, safetensors.ShardOptions{MaxShardSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	parts := make([]map[string]safetensors.Tensor, ranks)
	for r := range ranks {
		if parts[r], err = m.ReadSlices(context.Background(), tpSlices(t, r, ranks), nil); err != nil {
			t.Fatal(err)
		}
	}
	for name, w := range want {
		d := tpDim(name)
		var whole []byte
		if d < 0 {
			whole = parts[ranks-1][name].Data()
		} else if d == 0 {
			for r := range ranks {
				whole = append(whole, parts[r][name].Data()...)
			}
		} else {
			// Columns: row by row, each rank's share of the row in turn.
			rows := w.Shape()[0]
			for i := range rows {
				for r := range ranks {
					p := parts[r][name]
					n := len(p.Data()) / rows
					whole = append(whole, p.Data()[i*n:(i+1)*n]...)
				}
			}
		}
		if string(whole) != string(w.Data()) {
			t.Errorf("%s: the parts do not make the tensor", name)
		}
	}
	if s := parts[0]["h.0.mlp.up.weight"].Shape(); !slices.Equal(s, []int{171, 128}) {
		t.Errorf("rank 0 of 3 of 512 rows has shape %v, want [171 128]", s)
	}
}

func TestReadSlicesInto(t *testing.T) {
	want := tpModel(1, 64)
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, want, safetensors.ShardOptions{MaxShardSize: 100 << 10}); err != nil {
		t.Fatal(err)
	}
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	sel := tpSlices(t, 1, 2)
	buf := make([]byte, 1<<20)
	free := buf
	got, err := m.ReadSlicesInto(ctx, sel, func(file string, info safetensors.TensorInfo, v safetensors.View) ([]byte, error) {
		if f, _ := m.FileOf(info.Name); f != file {
			t.Errorf("%s: file %q, FileOf says %q", info.Name, file, f)
		}
		if info.Name == "h.0.ln.weight" {
			return nil, nil // skipped
		}
		b := free[:v.Size()]
		free = free[v.Size():]
		return b, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["h.0.ln.weight"]; ok || len(got) != len(want)-1 {
		t.Errorf("%d tensors; the skipped one present: %v", len(got), ok)
	}
	for name, g := range got {
		s, _ := m.GetSlice(name)
		x, _ := sel(safetensors.TensorInfo{Name: name, Shape: s.Shape()})
		w, _ := s.Get(x...)
		if string(g.Data()) != string(w.Data()) {
			t.Errorf("%s differs", name)
		}
	}
	clear(buf)
	for name, g := range got {
		if slices.ContainsFunc(g.Data(), func(b byte) bool { return b != 0 }) {
			t.Errorf("%s is not in the caller's memory", name)
		}
	}

	// Errors, each before anything is read.
	_, err = m.ReadSlicesInto(ctx, sel, func(string, safetensors.TensorInfo, safetensors.View) ([]byte, error) { return make([]byte, 3), nil }, nil)
	if err == nil || !strings.Contains(err.Error(), "smaller") {
		t.Errorf("a destination too small: %v", err)
	}
	boom := errors.New("boom")
	_, err = m.ReadSlicesInto(ctx, sel, func(string, safetensors.TensorInfo, safetensors.View) ([]byte, error) { return nil, boom }, nil)
	if !errors.Is(err, boom) {
		t.Errorf("dst's error: %v", err)
	}
	_, err = m.ReadSlices(ctx, func(safetensors.TensorInfo) ([]safetensors.Index, bool) {
		return []safetensors.Index{safetensors.At(1000)}, true
	}, nil)
	if !errors.Is(err, safetensors.ErrInvalidSlice) {
		t.Errorf("an index out of range: %v", err)
	}
	if _, err := m.ReadSlices(ctx, nil, nil); err == nil {
		t.Error("a nil SliceFunc was accepted")
	}
	if _, err := m.ReadSlicesInto(ctx, sel, nil, nil); err == nil {
		t.Error("a nil dst was accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.ReadSlices(cctx, sel, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled context: %v", err)
	}
	// Nothing selected: nothing read, an empty map.
	got, err = m.ReadSlices(ctx, func(safetensors.TensorInfo) ([]safetensors.Index, bool) { return nil, false }, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("nothing selected: %d tensors, %v", len(got), err)
	}
}

func TestSplitIndex(t *testing.T) {
	for _, c := range []struct {
		shape            []int
		dim, part, parts int
		want             string // the index, in NumPy's syntax
	}{
		{[]int{10, 4}, 0, 0, 3, "0:4"},
		{[]int{10, 4}, 0, 1, 3, "4:7"},
		{[]int{10, 4}, 0, 2, 3, "7:10"},
		{[]int{10, 4}, 1, 1, 2, ":, 2:4"},
		{[]int{10, 4}, -1, 0, 4, ":, 0:1"},
		{[]int{2, 3, 8}, 2, 3, 4, ":, :, 6:8"},
		{[]int{2}, 0, 2, 3, "2:2"}, // more parts than positions: an empty last part
	} {
		x, err := safetensors.SplitIndex(c.shape, c.dim, c.part, c.parts)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		var s []string
		for _, i := range x {
			s = append(s, i.String())
		}
		if got := strings.Join(s, ", "); got != c.want {
			t.Errorf("SplitIndex(%v, %d, %d, %d) = %s, want %s", c.shape, c.dim, c.part, c.parts, got, c.want)
		}
	}
	for _, c := range [][4]int{{0, 0, 0}, {0, 3, 3}, {0, -1, 3}, {2, 0, 2}, {-3, 0, 2}} {
		if _, err := safetensors.SplitIndex([]int{4, 4}, c[0], c[1], c[2]); !errors.Is(err, safetensors.ErrInvalidSlice) {
			t.Errorf("SplitIndex(dim %d, part %d, parts %d): %v", c[0], c[1], c[2], err)
		}
	}
}

// TestReadSlicesCancelOverHTTP cancels a rank's load while its requests
// wait on the server: the remote reader abandons them, and ReadSlices
// returns the cause.
func TestReadSlicesCancelOverHTTP(t *testing.T) {
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, tpModel(2, 128), safetensors.ShardOptions{MaxShardSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	files := http.FileServer(http.Dir(dir))
	var hold atomic.Bool
	var held atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hold.Load() {
			held.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer close(release)
	m, err := remote.OpenModel(context.Background(), srv.URL+"/"+safetensors.IndexName, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	ctx, cancel := context.WithCancelCause(context.Background())
	why := errors.New("stop")
	done := make(chan error, 1)
	go func() {
		_, err := m.ReadSlices(ctx, tpSlices(t, 0, 2), nil)
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); held.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel(why)
	select {
	case err := <-done:
		if !errors.Is(err, why) {
			t.Errorf("err = %v, want the cause", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ReadSlices waited for the held requests instead of abandoning them")
	}
}
