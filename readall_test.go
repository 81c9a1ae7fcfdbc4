package safetensors_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// randomTensors returns U8 tensors of the given sizes, named t000, t001,
// ..., filled with seeded random bytes.
func randomTensors(seed uint64, sizes ...int) map[string]safetensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	out := map[string]safetensors.Tensor{}
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		t, err := safetensors.NewTensor(safetensors.U8, []int{n}, b)
		if err != nil {
			panic(err)
		}
		out[fmt.Sprintf("t%03d", i)] = t
	}
	return out
}

// checkTensors compares got with want, name by name, byte by byte.
func checkTensors(t *testing.T, got, want map[string]safetensors.Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d tensors, want %d", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("tensor %s missing", name)
			continue
		}
		if g.DType() != w.DType() || fmt.Sprint(g.Shape()) != fmt.Sprint(w.Shape()) || !bytes.Equal(g.Data(), w.Data()) {
			t.Errorf("tensor %s: %v %v and %d bytes differ from what was saved", name, g.DType(), g.Shape(), len(g.Data()))
		}
	}
}

// mixedSizes is a model's worth of tensor sizes: small ones (norms,
// biases), medium ones, one larger than several chunks, and an empty one.
var mixedSizes = []int{0, 7, 300_000, 64, 1 << 20, 9 << 20, 4096, 1, 2<<20 + 5, 100}

func TestReadAllSources(t *testing.T) {
	want := randomTensors(1, mixedSizes...)
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, want, safetensors.ShardOptions{MaxShardSize: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	single := filepath.Join(dir, "single.safetensors")
	if err := safetensors.SaveFile(single, want, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(single)
	if err != nil {
		t.Fatal(err)
	}
	opts := &safetensors.ReadAllOptions{Concurrency: 3, ChunkSize: 1 << 20}
	ctx := context.Background()

	t.Run("sharded", func(t *testing.T) {
		m, err := safetensors.OpenModel(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Files()) < 3 {
			t.Fatalf("%d shards, want several", len(m.Files()))
		}
		got, err := m.ReadAll(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		m.Close()
		// Copies, not views of the mappings: valid after Close.
		checkTensors(t, got, want)
	})
	t.Run("Open", func(t *testing.T) {
		f, err := safetensors.Open(single)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.ReadAll(ctx, opts)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, want)
	})
	t.Run("NewReader", func(t *testing.T) {
		f, err := safetensors.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := safetensors.NewFileModel(f, "x").ReadAll(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, want)
	})
	t.Run("Load", func(t *testing.T) {
		f, err := safetensors.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.ReadAll(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, want)
		for _, g := range got {
			if len(g.Data()) > 0 && &g.Data()[0] == &data[0] {
				t.Error("a tensor aliases the loaded bytes")
			}
		}
	})
}

// countingReader counts ReadAt calls and bytes, and can fail one offset.
type countingReader struct {
	r       io.ReaderAt
	calls   atomic.Int64
	bytes   atomic.Int64
	failAt  int64 // fail a read that covers this file offset, if > 0
	failErr error
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	c.bytes.Add(int64(len(p)))
	if c.failAt > 0 && off <= c.failAt && c.failAt < off+int64(len(p)) {
		return 0, c.failErr
	}
	return c.r.ReadAt(p, off)
}

func TestReadAllProgressAndChunks(t *testing.T) {
	want := randomTensors(2, mixedSizes...)
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, want, nil); err != nil {
		t.Fatal(err)
	}
	cr := &countingReader{r: bytes.NewReader(buf.Bytes())}
	f, err := safetensors.NewReader(cr, int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	headerCalls := cr.calls.Load()
	var total int64
	for _, ti := range f.Infos() {
		total += ti.Size()
	}
	var mu sync.Mutex
	var calls [][2]int64
	chunk := 1 << 20
	got, err := f.ReadAll(context.Background(), &safetensors.ReadAllOptions{
		Concurrency: 4, ChunkSize: chunk,
		Progress: func(done, all int64) {
			mu.Lock()
			calls = append(calls, [2]int64{done, all})
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, want)
	// The whole data buffer is one allocation in file order, so it is read
	// as one run cut into chunks: ceil(total / chunk) reads, no more, and
	// each byte once.
	wantReads := (total + int64(chunk) - 1) / int64(chunk)
	if n := cr.calls.Load() - headerCalls; n != wantReads {
		t.Errorf("%d reads of data, want %d", n, wantReads)
	}
	if n := cr.bytes.Load() - int64(f.DataOffset()); n != total {
		t.Errorf("%d bytes of data read, want %d", n, total)
	}
	if len(calls) != int(wantReads) {
		t.Fatalf("%d progress calls, want %d", len(calls), wantReads)
	}
	for i, c := range calls {
		if c[1] != total || (i > 0 && c[0] <= calls[i-1][0]) {
			t.Errorf("progress call %d: %v (total %d)", i, c, total)
		}
	}
	if last := calls[len(calls)-1]; last[0] != total {
		t.Errorf("last progress %d of %d", last[0], total)
	}
}

func TestReadAllInto(t *testing.T) {
	want := randomTensors(3, mixedSizes...)
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, want, safetensors.ShardOptions{MaxShardSize: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var total int64
	for ti, err := range m.All() {
		if err != nil {
			t.Fatal(err)
		}
		total += ti.Size()
	}
	buf := make([]byte, total+1)
	rest := buf
	var order []string
	skip := "t004" // 1 MiB: its bytes must stay untouched
	got, err := m.ReadAllInto(context.Background(), func(file string, info safetensors.TensorInfo) ([]byte, error) {
		if got, _ := m.FileOf(info.Name); got != file {
			t.Errorf("tensor %s given with file %s, the index says %s", info.Name, file, got)
		}
		order = append(order, info.Name)
		b := rest[:info.Size()]
		rest = rest[len(b):]
		if info.Name == skip {
			for i := range b {
				b[i] = 0xAA
			}
			return nil, nil
		}
		return b, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != len(want) {
		t.Errorf("dst called %d times, for %d tensors", len(order), len(want))
	}
	if _, ok := got[skip]; ok {
		t.Errorf("skipped tensor %s returned", skip)
	}
	delete(want, skip)
	checkTensors(t, got, want)
	off := int64(0)
	for _, name := range order {
		ti, _ := m.Info(name)
		if name == skip {
			if b := buf[off : off+ti.Size()]; bytes.Count(b, []byte{0xAA}) != len(b) {
				t.Error("the skipped tensor's memory was written")
			}
		} else if g := got[name].Data(); len(g) > 0 && &g[0] != &buf[off] {
			t.Errorf("tensor %s is not at its place in the buffer", name)
		}
		off += ti.Size()
	}

	// Errors of dst stop it before anything is read; so does a short dst.
	boom := errors.New("no memory")
	if _, err := m.ReadAllInto(context.Background(), func(string, safetensors.TensorInfo) ([]byte, error) { return nil, boom }, nil); !errors.Is(err, boom) {
		t.Errorf("err = %v, want dst's error", err)
	}
	_, err = m.ReadAllInto(context.Background(), func(_ string, ti safetensors.TensorInfo) ([]byte, error) {
		return make([]byte, ti.Size()/2), nil
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "smaller") {
		t.Errorf("err = %v for destinations too small", err)
	}
}

func TestReadAllErrors(t *testing.T) {
	want := randomTensors(4, mixedSizes...)
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, want, nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	cr := &countingReader{r: bytes.NewReader(buf.Bytes()), failErr: boom}
	f, err := safetensors.NewReader(cr, int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	ti, err := f.Info("t005") // 9 MiB
	if err != nil {
		t.Fatal(err)
	}
	cr.failAt = f.DataOffset() + ti.DataOffsets[0] + 5<<20
	_, err = f.ReadAll(context.Background(), &safetensors.ReadAllOptions{Concurrency: 1, ChunkSize: 1 << 20})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `"t005"`) {
		t.Errorf("err = %v: want the reader's error, naming tensor t005", err)
	}

	f.Close()
	if _, err := f.ReadAll(context.Background(), nil); !errors.Is(err, safetensors.ErrClosed) {
		t.Errorf("closed File: err = %v", err)
	}
	m, err := safetensors.NewModel([]byte(`{"weight_map":{"a":"a.safetensors","b":"b.safetensors"}}`), func(name string) (*safetensors.File, error) {
		return nil, fmt.Errorf("cannot open %s: %w", name, os.ErrNotExist)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ReadAll(context.Background(), nil); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "a.safetensors") || !strings.Contains(err.Error(), "b.safetensors") {
		t.Errorf("shards that fail to open: err = %v", err)
	}
	m.Close()
	if _, err := m.ReadAll(context.Background(), nil); !errors.Is(err, safetensors.ErrClosed) {
		t.Errorf("closed Model: err = %v", err)
	}
}

// blockingReader blocks every read until ctx is canceled, or release.
type blockingReader struct {
	r       io.ReaderAt
	calls   atomic.Int64
	release chan struct{}
}

func (b *blockingReader) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 || off == 8 { // the header
		return b.r.ReadAt(p, off)
	}
	b.calls.Add(1)
	<-b.release
	return b.r.ReadAt(p, off)
}

func TestReadAllCancel(t *testing.T) {
	want := randomTensors(5, 16<<20)
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, want, nil); err != nil {
		t.Fatal(err)
	}
	br := &blockingReader{r: bytes.NewReader(buf.Bytes()), release: make(chan struct{})}
	f, err := safetensors.NewReader(br, int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	why := errors.New("shutting down")
	done := make(chan error, 1)
	go func() {
		_, err := f.ReadAll(ctx, &safetensors.ReadAllOptions{Concurrency: 2, ChunkSize: 1 << 20})
		done <- err
	}()
	// Wait until both workers are in a read, cancel, and let those reads
	// end: ReadAll must return without starting any other of the 16.
	deadline := time.Now().Add(30 * time.Second)
	for br.calls.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel(why)
	select {
	case err := <-done:
		t.Fatalf("ReadAll returned (%v) while reads were still writing into its memory", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(br.release)
	select {
	case err := <-done:
		if !errors.Is(err, why) {
			t.Errorf("err = %v, want the cause of cancellation", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ReadAll did not return after cancellation")
	}
	if n := br.calls.Load(); n != 2 {
		t.Errorf("%d reads started, want the 2 in flight when canceled", n)
	}
}

// TestReadAllHeap checks that ReadAll allocates the tensors' bytes and
// little else: no staging buffers, no copies, from a mapped file and over
// HTTP.
func TestReadAllHeap(t *testing.T) {
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 1<<20 + i*4096 // 40 MiB and some
	}
	want := randomTensors(6, sizes...)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := safetensors.SaveFile(path, want, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, tt := range want {
		total += int64(len(tt.Data()))
	}
	const slack = 4 << 20

	allocated := func(read func() (map[string]safetensors.Tensor, error)) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got, err := read()
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, want)
		return after.TotalAlloc - before.TotalAlloc
	}

	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if a := allocated(func() (map[string]safetensors.Tensor, error) { return f.ReadAll(context.Background(), nil) }); a < uint64(total) || a > uint64(total)+slack {
		t.Errorf("Open: ReadAll of %d bytes allocated %d bytes, want at most %d more", total, a, slack)
	}

	// Over HTTP, the server (in this process too) serves from memory with
	// http.ServeContent, which copies without buffers of its own.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "model.safetensors", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	rf, err := remote.Open(context.Background(), srv.URL+"/model.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := allocated(func() (map[string]safetensors.Tensor, error) { return rf.ReadAll(context.Background(), nil) }); a < uint64(total) || a > uint64(total)+slack {
		t.Errorf("HTTP: ReadAll of %d bytes allocated %d bytes, want at most %d more", total, a, slack)
	}
}

// TestReadAllRequests counts the requests that ReadAll of a sharded model
// makes over HTTP: the index, one per shard for its header (which also
// brings the first 100,000 bytes of the shard), then one per chunk that
// reaches past those bytes.
func TestReadAllRequests(t *testing.T) {
	want := randomTensors(7, mixedSizes...)
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, want, safetensors.ShardOptions{MaxShardSize: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	var requests, bytesSent atomic.Int64
	fsrv := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fsrv.ServeHTTP(&countingWriter{ResponseWriter: w, n: &bytesSent}, r)
	}))
	defer srv.Close()
	m, err := remote.OpenModel(context.Background(), srv.URL+"/"+safetensors.IndexName, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	chunk := int64(1 << 20)
	got, err := m.ReadAll(context.Background(), &safetensors.ReadAllOptions{ChunkSize: int(chunk)})
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, want)

	wantReq := int64(1) // the index
	for _, name := range m.Files() {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sh, err := m.Shard(name)
		if err != nil {
			t.Fatal(err)
		}
		wantReq++ // the first 100,000 bytes
		if sh.DataOffset() > remote.DefaultPrefixSize {
			wantReq++ // the rest of the header
		}
		data := st.Size() - sh.DataOffset()
		for lo := int64(0); lo < data; lo += chunk {
			if sh.DataOffset()+min(lo+chunk, data) > remote.DefaultPrefixSize {
				wantReq++
			}
		}
	}
	if n := requests.Load(); n != wantReq {
		t.Errorf("%d requests, want %d", n, wantReq)
	}
	// Each byte is sent once: the index, and each shard's whole file.
	var wantBytes int64
	for _, name := range append(m.Files(), safetensors.IndexName) {
		st, _ := os.Stat(filepath.Join(dir, name))
		wantBytes += st.Size()
	}
	if n := bytesSent.Load(); n != wantBytes {
		t.Errorf("%d bytes sent, want %d", n, wantBytes)
	}
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

// Write counts p before writing it: once the client has the bytes, the
// count has them too, whenever the handler returns.
func (c *countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}
