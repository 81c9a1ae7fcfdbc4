package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
	"github.com/safetensors-go/safetensors/remote"
	gblob "gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"
)

// request is what the S3 server saw of one request.
type request struct {
	method, path, rng string
	status            int
	bytes             int64 // body bytes sent
}

// s3Server is gofakes3 on loopback behind a handler that logs requests
// and can refuse them, fail them or cut their bodies short.
type s3Server struct {
	*httptest.Server
	mu   sync.Mutex
	log  []request
	deny map[string]bool // paths answered 403 AccessDenied
	// fail500 answers the next n GETs of a path with 500 InternalError.
	fail500 map[string]int
	// cut sends only half the body of the next n GETs of a path.
	cut map[string]int
	// hold makes GETs of a path past its first 100,000 bytes wait until
	// the client gives up (or two minutes); held counts them.
	hold map[string]bool
	held atomic.Int64
	// active counts handlers that have not logged yet: a client can have
	// its whole response before the handler returns.
	active atomic.Int64
}

func newS3Server(t testing.TB, delay time.Duration) *s3Server {
	faker := gofakes3.New(s3mem.New())
	s := &s3Server{deny: map[string]bool{}, fail500: map[string]int{}, cut: map[string]int{}, hold: map[string]bool{}}
	inner := faker.Server()
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.active.Add(1)
		defer s.active.Add(-1)
		time.Sleep(delay)
		s.mu.Lock()
		deny := s.deny[r.URL.Path]
		fail := r.Method == http.MethodGet && s.fail500[r.URL.Path] > 0
		if fail {
			s.fail500[r.URL.Path]--
		}
		cut := r.Method == http.MethodGet && s.cut[r.URL.Path] > 0
		if cut {
			s.cut[r.URL.Path]--
		}
		hold := r.Method == http.MethodGet && s.hold[r.URL.Path] && r.Header.Get("Range") != "bytes=0-99999"
		s.mu.Unlock()
		if hold {
			s.held.Add(1)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Minute):
			}
		}
		rw := &logWriter{ResponseWriter: w, status: http.StatusOK}
		switch {
		case deny:
			s3Error(rw, http.StatusForbidden, "AccessDenied", "Access Denied")
		case fail:
			s3Error(rw, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		case cut:
			rw.limit = -2 // half of Content-Length
			inner.ServeHTTP(rw, r)
		default:
			inner.ServeHTTP(rw, r)
		}
		s.mu.Lock()
		s.log = append(s.log, request{method: r.Method, path: r.URL.Path, rng: r.Header.Get("Range"), status: rw.status, bytes: rw.n})
		s.mu.Unlock()
		if rw.limit == -1 {
			// Hang up: the client sees a body shorter than announced.
			panic(http.ErrAbortHandler)
		}
	}))
	// gofakes3 writes an error status after a body the test cut short,
	// which the server logs as superfluous.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// logWriter counts the body bytes and status of a response, and can stop
// the body halfway.
type logWriter struct {
	http.ResponseWriter
	status int
	n      int64
	limit  int64 // -2: cut at half of Content-Length (set when headers are written); -1: cut done
	max    int64
	wrote  bool
}

func (w *logWriter) WriteHeader(code int) {
	if w.wrote {
		return // gofakes3 answering an error after a cut body
	}
	w.wrote = true
	w.status = code
	if w.limit == -2 {
		cl, _ := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64)
		w.max = cl / 2
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.limit == -2 || w.limit == -1 {
		if w.n+int64(len(p)) > w.max {
			p = p[:w.max-w.n]
			w.limit = -1
		}
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if w.limit == -1 {
		return n, errors.New("cut")
	}
	return n, err
}

// take returns the requests logged since the last call, GETs only.
func (s *s3Server) take() []request {
	for deadline := time.Now().Add(30 * time.Second); s.active.Load() > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []request
	for _, r := range s.log {
		if r.method == http.MethodGet {
			out = append(out, r)
		}
	}
	s.log = nil
	return out
}

func sent(rs []request) (n int64) {
	for _, r := range rs {
		n += r.bytes
	}
	return n
}

// bucket opens bucket name of the server through gocloud's s3blob driver
// and the AWS SDK v2: static credentials, a region, the server's endpoint,
// path-style addressing. The SDK's own retries are off, so that the
// package's are the ones tested.
func (s *s3Server) bucket(t testing.TB, name string) *gblob.Bucket {
	ctx := context.Background()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	b, err := s3blob.OpenBucket(ctx, client, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// randomTensors returns U8 tensors of the given sizes, named t000, ...,
// filled with seeded random bytes.
func randomTensors(seed uint64, sizes ...int) map[string]safetensors.Tensor {
	r := rand.New(rand.NewPCG(seed, 2))
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

func fileBytes(t testing.TB, tensors map[string]safetensors.Tensor) []byte {
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, tensors, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// shardedFiles saves tensors as a sharded model and returns its files.
func shardedFiles(t *testing.T, tensors map[string]safetensors.Tensor, maxShard int64) map[string][]byte {
	dir := t.TempDir()
	if _, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: maxShard}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func put(t testing.TB, b *gblob.Bucket, key string, data []byte) {
	t.Helper()
	if err := b.WriteAll(context.Background(), key, data, nil); err != nil {
		t.Fatal(err)
	}
}

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
			t.Errorf("tensor %s differs from what was saved", name)
		}
	}
}

// fast are options that retry without waiting long.
var fast = &blob.Options{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

var sizes = []int{10, 3000, 250_000, 64, 1 << 20, 7, 3<<20 + 3}

func TestS3OpenFile(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	want := randomTensors(1, sizes...)
	data := fileBytes(t, want)
	put(t, b, "single/model.safetensors", data)
	s.take()

	ctx := context.Background()
	f, err := blob.OpenBucketFile(ctx, b, "single/model.safetensors", fast)
	if err != nil {
		t.Fatal(err)
	}
	// Opening is one GET of the first 100,000 bytes, which hold the header.
	rs := s.take()
	if len(rs) != 1 || rs[0].rng != "bytes=0-99999" || rs[0].bytes != 100_000 {
		t.Fatalf("opening made %d GETs %v, want one of bytes 0-99999", len(rs), rs)
	}
	if f.DataOffset() >= 100_000 {
		t.Fatalf("header of %d bytes: the test needs one that fits the prefix", f.DataOffset())
	}
	// A tensor past the prefix: one GET of exactly its bytes.
	info, _ := f.Info("t004")
	got, err := f.GetTensor("t004")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data(), want["t004"].Data()) {
		t.Error("t004: wrong bytes")
	}
	rs = s.take()
	lo := f.DataOffset() + info.DataOffsets[0]
	wantRange := fmt.Sprintf("bytes=%d-%d", lo, lo+info.Size()-1)
	if len(rs) != 1 || rs[0].rng != wantRange || rs[0].bytes != info.Size() {
		t.Errorf("GetTensor made GETs %v, want one of %s", rs, wantRange)
	}
	// A tensor inside the prefix: no GET.
	if _, err := f.GetTensor("t000"); err != nil {
		t.Fatal(err)
	}
	if rs := s.take(); len(rs) != 0 {
		t.Errorf("a tensor in the prefix cost GETs %v", rs)
	}
	all, err := f.ReadAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, all, want)
}

func TestS3LargeHeader(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	// 2,000 tensors with long names: a header of about 170 KB.
	tensors := map[string]safetensors.Tensor{}
	for i := range 2000 {
		tt, _ := safetensors.NewTensor(safetensors.U8, []int{2}, []byte{byte(i), byte(i >> 8)})
		tensors[fmt.Sprintf("model.layers.%04d.self_attention.query_key_value.weight", i)] = tt
	}
	data := fileBytes(t, tensors)
	put(t, b, "big-header.safetensors", data)
	s.take()
	f, err := blob.OpenBucketFile(context.Background(), b, "big-header.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.DataOffset() <= 100_000 {
		t.Fatalf("header of %d bytes fits the prefix", f.DataOffset())
	}
	// The prefix, then the rest of the header: each header byte once.
	rs := s.take()
	if len(rs) != 2 || sent(rs) != f.DataOffset() {
		t.Errorf("opening made GETs %v (%d bytes), want 2 of %d bytes in all", rs, sent(rs), f.DataOffset())
	}
	all, err := f.ReadAll(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, all, tensors)
}

func TestS3Sharded(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	want := randomTensors(2, sizes...)
	files := shardedFiles(t, want, 1<<20)
	if len(files) < 4 {
		t.Fatalf("%d files, want an index and several shards", len(files))
	}
	for name, data := range files {
		put(t, b, "org/model/"+name, data)
	}
	s.take()
	ctx := context.Background()
	m, err := blob.OpenBucketModel(ctx, b, "org/model/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The folder: model.safetensors is not there (one GET, 404), the index
	// is (one GET, the whole index).
	rs := s.take()
	if len(rs) != 2 || rs[0].status != http.StatusNotFound || rs[1].bytes != int64(len(files[safetensors.IndexName])) {
		t.Errorf("opening the folder made GETs %v", rs)
	}
	if !m.Sharded() || len(m.Files()) != len(files)-1 {
		t.Fatalf("model of %d files, sharded %v", len(m.Files()), m.Sharded())
	}
	chunk := int64(1 << 20)
	got, err := m.ReadAll(ctx, &safetensors.ReadAllOptions{ChunkSize: int(chunk)})
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, want)
	// One GET per shard for its header (and the first 100,000 bytes), one
	// per chunk that reaches past them; every byte of every shard once.
	rs = s.take()
	wantGets, wantBytes := 0, int64(0)
	for _, name := range m.Files() {
		sh, _ := m.Shard(name)
		wantGets++
		size := int64(len(files[name]))
		wantBytes += size
		data := size - sh.DataOffset()
		for lo := int64(0); lo < data; lo += chunk {
			if sh.DataOffset()+min(lo+chunk, data) > 100_000 {
				wantGets++
			}
		}
	}
	if len(rs) != wantGets || sent(rs) != wantBytes {
		t.Errorf("ReadAll made %d GETs of %d bytes, want %d of %d", len(rs), sent(rs), wantGets, wantBytes)
	}
}

func TestS3Changed(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	want := randomTensors(3, sizes...)
	data := fileBytes(t, want)
	put(t, b, "m.safetensors", data)
	ctx := context.Background()
	f, err := blob.OpenBucketFile(ctx, b, "m.safetensors", fast)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, one byte different in a tensor: a new ETag.
	changed := bytes.Clone(data)
	changed[len(changed)-1] ^= 0xFF
	put(t, b, "m.safetensors", changed)
	s.take()
	_, err = f.GetTensor("t006")
	if !errors.Is(err, remote.ErrChanged) {
		t.Errorf("same size, new content: err = %v, want ErrChanged", err)
	}
	if rs := s.take(); len(rs) != 1 {
		t.Errorf("a changed object was read %d times, want once (no retries)", len(rs))
	}
	_, err = f.ReadAll(ctx, nil)
	if !errors.Is(err, remote.ErrChanged) {
		t.Errorf("ReadAll: err = %v, want ErrChanged", err)
	}
	// Changed in the middle of a whole-file read, after its first chunk.
	put(t, b, "m.safetensors", data)
	f, err = blob.OpenBucketFile(ctx, b, "m.safetensors", fast)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	_, err = f.ReadAll(ctx, &safetensors.ReadAllOptions{Concurrency: 1, ChunkSize: 1 << 20, Progress: func(done, total int64) {
		once.Do(func() { put(t, b, "m.safetensors", changed) })
	}})
	if !errors.Is(err, remote.ErrChanged) {
		t.Errorf("changed during ReadAll: err = %v, want ErrChanged", err)
	}
	// A different size.
	put(t, b, "m.safetensors", append(bytes.Clone(data), 0))
	if _, err := f.GetTensor("t004"); !errors.Is(err, remote.ErrChanged) {
		t.Errorf("new size: err = %v, want ErrChanged", err)
	}
}

func TestS3Errors(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	want := randomTensors(4, sizes...)
	put(t, b, "m.safetensors", fileBytes(t, want))
	put(t, b, "secret.safetensors", fileBytes(t, want))
	ctx := context.Background()
	s.take()

	_, err := blob.OpenBucketFile(ctx, b, "nothing.safetensors", fast)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: err = %v, want fs.ErrNotExist", err)
	}
	_, err = blob.OpenBucketModel(ctx, b, "nothing/model.safetensors.index.json", fast)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing index: err = %v, want fs.ErrNotExist", err)
	}
	if rs := s.take(); len(rs) != 2 {
		t.Errorf("missing keys: %d GETs, want 2 (no retries)", len(rs))
	}

	s.mu.Lock()
	s.deny["/models/secret.safetensors"] = true
	s.mu.Unlock()
	_, err = blob.OpenBucketFile(ctx, b, "secret.safetensors", fast)
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("denied: err = %v, want fs.ErrPermission", err)
	}
	if rs := s.take(); len(rs) != 1 || rs[0].status != http.StatusForbidden {
		t.Errorf("denied: GETs %v, want one answered 403 (no retries)", rs)
	}

	// Transient failures are retried; so are bodies cut short, from the
	// first missing byte.
	f, err := blob.OpenBucketFile(ctx, b, "m.safetensors", fast)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.fail500["/models/m.safetensors"] = 2
	s.mu.Unlock()
	s.take()
	got, err := f.GetTensor("t004")
	if err != nil || !bytes.Equal(got.Data(), want["t004"].Data()) {
		t.Errorf("after two 500s: err = %v", err)
	}
	if rs := s.take(); len(rs) != 3 || rs[0].status != 500 || rs[1].status != 500 || rs[2].status != http.StatusPartialContent {
		t.Errorf("after two 500s: GETs %v", rs)
	}
	s.mu.Lock()
	s.cut["/models/m.safetensors"] = 1
	s.mu.Unlock()
	got, err = f.GetTensor("t006")
	if err != nil || !bytes.Equal(got.Data(), want["t006"].Data()) {
		t.Fatalf("after a cut body: err = %v", err)
	}
	rs := s.take()
	info, _ := f.Info("t006")
	lo, hi := f.DataOffset()+info.DataOffsets[0], f.DataOffset()+info.DataOffsets[1]-1
	// The second GET asks for the bytes the client had not received: from
	// somewhere after the start (the cut was halfway; a hung-up connection
	// may lose what the server wrote last) to the end.
	var from, to int64
	if len(rs) == 2 {
		fmt.Sscanf(rs[1].rng, "bytes=%d-%d", &from, &to)
	}
	if len(rs) != 2 || rs[0].rng != fmt.Sprintf("bytes=%d-%d", lo, hi) ||
		from <= lo || from > lo+rs[0].bytes || to != hi || rs[1].bytes != hi-from+1 {
		t.Errorf("after a cut body: GETs %v, want the rest asked for after the first", rs)
	}
	// Retries run out.
	s.mu.Lock()
	s.fail500["/models/m.safetensors"] = 100
	s.mu.Unlock()
	_, err = f.GetTensor("t004")
	if err == nil || !strings.Contains(err.Error(), "giving up after 6 attempts") {
		t.Errorf("always 500: err = %v", err)
	}
}

// TestS3URL opens through an s3:// URL, as a user would: the endpoint and
// addressing in the query, credentials from the environment, found by the
// AWS SDK.
func TestS3URL(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "urlbucket")
	want := randomTensors(5, sizes...)
	for name, data := range shardedFiles(t, want, 2<<20) {
		put(t, b, "sharded/"+name, data)
	}
	put(t, b, "single/model.safetensors", fileBytes(t, want))
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRETTEST")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	q := "?region=us-east-1&use_path_style=true&endpoint=" + s.URL
	ctx := context.Background()
	for _, key := range []string{"single/model.safetensors", "sharded/" + safetensors.IndexName, "sharded/", "single/"} {
		m, err := blob.OpenModel(ctx, "s3://urlbucket/"+key+q, nil)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		got, err := m.ReadAll(ctx, nil)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		checkTensors(t, got, want)
		m.Close()
	}
	f, err := blob.Open(ctx, "s3://urlbucket/single/model.safetensors"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != len(want) {
		t.Errorf("%d tensors", f.Len())
	}
	if _, err := blob.Open(ctx, "s3://urlbucket/none.safetensors"+q, fast); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key by URL: err = %v", err)
	}
	if _, err := blob.Open(ctx, "model.safetensors", nil); err == nil {
		t.Error("a path without a scheme was accepted")
	}
}

func TestFileBlob(t *testing.T) {
	want := randomTensors(6, sizes...)
	dir := t.TempDir()
	for name, data := range shardedFiles(t, want, 2<<20) {
		if err := os.MkdirAll(filepath.Join(dir, "sharded"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sharded", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	single := filepath.Join(dir, "one.safetensors")
	if err := os.WriteFile(single, fileBytes(t, want), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, u := range []string{"file://" + filepath.ToSlash(single), "file://" + filepath.ToSlash(dir) + "/sharded/", "file://" + filepath.ToSlash(dir) + "/sharded/" + safetensors.IndexName} {
		m, err := blob.OpenModel(ctx, u, nil)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		got, err := m.ReadAll(ctx, nil)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		checkTensors(t, got, want)
		m.Close()
	}
	if _, err := blob.Open(ctx, "file://"+filepath.ToSlash(dir)+"/missing.safetensors", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	// A bucket opened in code.
	bk, err := fileblob.OpenBucket(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	f, err := blob.OpenBucketFile(ctx, bk, "one.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Rewritten in place with another size: ErrChanged.
	if err := os.WriteFile(single, append(fileBytes(t, want), 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetTensor("t004"); !errors.Is(err, remote.ErrChanged) {
		t.Errorf("rewritten file: err = %v, want ErrChanged", err)
	}
}

func TestMemBlob(t *testing.T) {
	want := randomTensors(7, sizes...)
	b := memblob.OpenBucket(nil)
	defer b.Close()
	for name, data := range shardedFiles(t, want, 1<<20) {
		put(t, b, "m/"+name, data)
	}
	data := fileBytes(t, want)
	put(t, b, "one.safetensors", data)
	ctx := context.Background()
	m, err := blob.OpenBucketModel(ctx, b, "m/"+safetensors.IndexName, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var calls int
	got, err := m.ReadAll(ctx, &safetensors.ReadAllOptions{ChunkSize: 256 << 10, Progress: func(done, total int64) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, want)
	if calls < 10 {
		t.Errorf("%d progress calls for 4 MiB in chunks of 256 KiB", calls)
	}
	f, err := blob.OpenBucketFile(ctx, b, "one.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Rewritten with the same size and bytes: a new modification time.
	time.Sleep(2 * time.Millisecond)
	put(t, b, "one.safetensors", data)
	if _, err := f.GetTensor("t004"); !errors.Is(err, remote.ErrChanged) {
		t.Errorf("rewritten object: err = %v, want ErrChanged", err)
	}
	if _, err := blob.OpenBucketFile(ctx, b, "two.safetensors", nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: err = %v", err)
	}
}

// TestReadAllCancelS3 cancels a whole-model read over S3 while its reads
// wait on the server: the blob reader abandons them (the server would hold
// them for two minutes), ReadAll returns the cause, and no other read
// starts.
func TestReadAllCancelS3(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	want := randomTensors(8, 8<<20)
	put(t, b, "m.safetensors", fileBytes(t, want))
	f, err := blob.OpenBucketFile(context.Background(), b, "m.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.take()
	s.mu.Lock()
	s.hold["/models/m.safetensors"] = true
	s.mu.Unlock()
	ctx, cancel := context.WithCancelCause(context.Background())
	why := errors.New("stop")
	done := make(chan error, 1)
	go func() {
		_, err := f.ReadAll(ctx, &safetensors.ReadAllOptions{Concurrency: 2, ChunkSize: 1 << 20})
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); s.held.Load() < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel(why)
	select {
	case err := <-done:
		if !errors.Is(err, why) {
			t.Errorf("err = %v, want the cause", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ReadAll waited for the held reads instead of abandoning them")
	}
	if rs := s.take(); len(rs) != 2 {
		t.Errorf("%d GETs, want the 2 in flight when canceled", len(rs))
	}
}

// TestHostileSize: a store that claims an enormous object, and sends a
// short one, costs no allocation by the claimed size: the prefix buffer is
// bounded by the prefix size, and the short body fails as one.
func TestHostileSize(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	data := fileBytes(t, randomTensors(9, 100))
	put(t, b, "m.safetensors", data)
	// A front that rewrites the size in Content-Range to 2^50 bytes.
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Config.Handler.ServeHTTP(&sizeLiar{ResponseWriter: w}, r)
	}))
	defer front.Close()
	client := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("A", "B", "")}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(front.URL)
		o.UsePathStyle = true
		o.RetryMaxAttempts = 1
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	lb, err := s3blob.OpenBucket(context.Background(), client, "models", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	_, err = blob.OpenBucketFile(context.Background(), lb, "m.safetensors", fast)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

type sizeLiar struct{ http.ResponseWriter }

func (w *sizeLiar) WriteHeader(code int) {
	if cr := w.Header().Get("Content-Range"); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			w.Header().Set("Content-Range", cr[:i+1]+strconv.FormatInt(1<<50, 10))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

var _ io.ReaderAt = (*blob.ReaderAt)(nil)

func TestSupports(t *testing.T) {
	for u, want := range map[string]bool{
		"s3://b/k.safetensors":          true,
		"gs://b/k.safetensors":          true,
		"azblob://c/k.safetensors":      true,
		"file:///tmp/k.safetensors":     true,
		"mem://":                        true,
		"https://host/k.safetensors":    false,
		"model.safetensors":             false,
		"/abs/model.safetensors":        false,
		"C:\\models\\model.safetensors": false,
	} {
		if got := blob.Supports(u); got != want {
			t.Errorf("Supports(%q) = %v, want %v", u, got, want)
		}
	}
}

// TestReadAllHeapS3 checks that a whole-model read over S3 allocates the
// tensors' bytes and little more, in this process that also runs the
// server: no staging buffers or copies of the data in the reader.
func TestReadAllHeapS3(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	sizes := make([]int, 32)
	for i := range sizes {
		sizes[i] = 1<<20 + 4096*i
	}
	want := randomTensors(12, sizes...)
	put(t, b, "m.safetensors", fileBytes(t, want))
	f, err := blob.OpenBucketFile(context.Background(), b, "m.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	total := f.Size() - f.DataOffset()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := f.ReadAll(context.Background(), nil)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, want)
	a := int64(after.TotalAlloc - before.TotalAlloc)
	t.Logf("ReadAll of %d bytes allocated %d bytes", total, a)
	if a < total || a > total+8<<20 {
		t.Errorf("ReadAll of %d bytes allocated %d bytes, want at most 8 MiB more", total, a)
	}
}
