package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
)

// newS3 starts gofakes3 on loopback with a bucket "models", points the AWS
// SDK at it through the environment, and returns the query that s3://
// URLs need, and a count of the multipart parts uploaded.
func newS3(t *testing.T) (q string, backend *s3mem.Backend, parts *atomic.Int64) {
	backend = s3mem.New()
	inner := gofakes3.New(backend).Server()
	parts = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
			parts.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket("models"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRETTEST")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return "?region=us-east-1&use_path_style=true&endpoint=" + url.QueryEscape(srv.URL), backend, parts
}

// cpModel is a sharded model of F32, BF16 and I64 tensors, one of them
// 17 MiB (so that its upload is in parts), as the Hub's files.
func cpModel(t *testing.T) map[string][]byte {
	big := make([]float32, 17<<20/4)
	for i := range big {
		big[i] = float32(math.Sin(float64(i))) * 3
	}
	small := []float32{1.5, -2.25, 3e-3, 65504, -1e-7, 0}
	bf := []byte{0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40} // BF16 1, -2, 3.140625
	return map[string][]byte{
		"model-00001-of-00002.safetensors": buildFile(map[string]string{"format": "pt"},
			spec{"embed.weight", "F32", []int{len(big) / 64, 64}, f32(big...)}),
		"model-00002-of-00002.safetensors": buildFile(map[string]string{"format": "pt"},
			spec{"head.weight", "F32", []int{2, 3}, f32(small...)},
			spec{"norm", "BF16", []int{3}, bf},
			spec{"steps", "I64", []int{2}, i64(7, -9)}),
		"model.safetensors.index.json": []byte(`{"metadata": {"total_size": 17825858}, "weight_map": {
			"embed.weight": "model-00001-of-00002.safetensors", "head.weight": "model-00002-of-00002.safetensors",
			"norm": "model-00002-of-00002.safetensors", "steps": "model-00002-of-00002.safetensors"}}`),
	}
}

// tensorsOf reads every tensor of a model with the library.
func tensorsOf(t *testing.T, m *safetensors.Model) map[string]safetensors.Tensor {
	t.Helper()
	defer m.Close()
	ts, err := m.ReadAll(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func sameTensors(t *testing.T, what string, got, want map[string]safetensors.Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: no tensor %q", what, name)
			continue
		}
		if g.DType() != w.DType() || !slicesEqual(g.Shape(), w.Shape()) || !bytes.Equal(g.Data(), w.Data()) {
			t.Errorf("%s: tensor %q is %v%v (%d bytes), want %v%v", what, name, g.DType(), g.Shape(), len(g.Data()), w.DType(), w.Shape())
		}
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCpHubS3Folder: cp from the Hub stand-in to S3 (the 17 MiB shard in
// parts), from S3 to a folder, and from the folder to S3 with --dtype bf16
// --max-shard-size and --select; each result is compared tensor by tensor
// with the source (converted with the library's Convert for the last).
func TestCpHubS3Folder(t *testing.T) {
	files := cpModel(t)
	newMiniHub(t, files)
	q, _, parts := newS3(t)
	want := map[string]safetensors.Tensor{}
	for name, b := range files {
		if !strings.HasSuffix(name, ".safetensors") {
			continue
		}
		f, err := safetensors.Load(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range f.Keys() {
			want[k], _ = f.GetTensor(k)
		}
	}

	_, stderr := mustRun(t, 0, "cp", "hf://org/model", "s3://models/mirror/"+q)
	if !strings.Contains(stderr, "copied 3 files") || !strings.Contains(stderr, "MB/s") {
		t.Errorf("summary: %q", stderr)
	}
	if parts.Load() < 2 {
		t.Errorf("the 17 MiB shard went up in %d parts", parts.Load())
	}
	m, err := blob.OpenModel(context.Background(), "s3://models/mirror/"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Files(); len(got) != 2 || got[0] != "model-00001-of-00002.safetensors" {
		t.Errorf("the mirror's files: %q", got)
	}
	sameTensors(t, "hub to S3", tensorsOf(t, m), want)

	// Again: the mirror is there, so --force is needed.
	if _, stderr, code := cli(t, "cp", "hf://org/model", "s3://models/mirror/"+q); code != 1 || !strings.Contains(stderr, "--force") {
		t.Errorf("cp over a model: exit code %d, stderr %q", code, stderr)
	}
	mustRun(t, 0, "cp", "--force", "hf://org/model", "s3://models/mirror/"+q)

	dir := filepath.Join(t.TempDir(), "local")
	mustRun(t, 0, "cp", "-q", "s3://models/mirror/"+q, dir)
	lm, err := safetensors.OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, "S3 to a folder", tensorsOf(t, lm), want)

	stdout, stderr := mustRun(t, 0, "cp", "-q", "--dtype", "bf16", "--max-shard-size", "1MB", "--select", "embed.*", "--select", "head.*", "--select", "steps", dir, "s3://models/bf16/"+q)
	if stdout != "" || stderr != "" {
		t.Errorf("-q printed %q %q", stdout, stderr)
	}
	m, err = blob.OpenModel(context.Background(), "s3://models/bf16/"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Files()); n != 2 {
		t.Errorf("re-sharded at 1MB: %d files", n)
	}
	conv := map[string]safetensors.Tensor{}
	for name, tt := range want {
		if name == "norm" {
			continue
		}
		if tt.DType() == safetensors.F32 {
			tt, err = safetensors.Convert(tt, safetensors.BF16)
			if err != nil {
				t.Fatal(err)
			}
		}
		conv[name] = tt
	}
	sameTensors(t, "a folder to S3, converted and re-sharded", tensorsOf(t, m), conv)

	// A file:// prefix (gocloud's fileblob) is an object store too.
	fb := filepath.ToSlash(filepath.Join(t.TempDir(), "fileblob"))
	if err := os.MkdirAll(fb, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, 0, "cp", "-q", dir, "file://"+fb+"/")
	if stdout, _ := mustRun(t, 0, "diff", dir, filepath.FromSlash(fb)); stdout != "equal: 4 tensors\n" {
		t.Errorf("diff with the file:// copy: %q", stdout)
	}

	// One file, from S3 to a local .safetensors path.
	one := filepath.Join(t.TempDir(), "one.safetensors")
	mustRun(t, 0, "cp", "-q", "s3://models/mirror/"+q, one)
	f, err := safetensors.OpenModel(one)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, "S3 to one file", tensorsOf(t, f), want)

	// A pattern that matches nothing is refused before anything is
	// written, even when another one matches.
	none := filepath.Join(t.TempDir(), "none")
	if _, stderr, code := cli(t, "cp", "--select", "embed.*", "--select", "nothing*", dir, none); code != 2 || !strings.Contains(stderr, `"nothing*"`) {
		t.Errorf("cp with a pattern matching nothing: exit code %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(none); err == nil {
		t.Error("cp with a pattern matching nothing wrote its destination")
	}
	for _, args := range [][]string{
		{"cp", "--select", "nothing*", dir, filepath.Join(t.TempDir(), "x")},
		{"cp", "--dtype", "i32", dir, filepath.Join(t.TempDir(), "x")},
		{"cp", dir, "hf://org/other"},
		{"cp", dir, "https://example.com/x/"},
	} {
		if _, stderr, code := cli(t, args...); code == 0 {
			t.Errorf("%q succeeded: %s", args, stderr)
		}
	}
}

// TestCpCorruptHubBlob: the storage host serves one byte changed past the
// header; cp refuses the file on its SHA-256 and writes nothing, neither
// to S3 nor to a folder.
func TestCpCorruptHubBlob(t *testing.T) {
	files := cpModel(t)
	h := newMiniHub(t, files)
	q, backend, _ := newS3(t)
	// A proxy of the storage host that flips the last byte of every range
	// that does not start at 0 (the first holds the header).
	target, _ := url.Parse(h.storage.URL)
	storage := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ModifyResponse: func(resp *http.Response) error {
			if strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes 0-") || resp.StatusCode != http.StatusPartialContent {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if len(b) > 0 {
				b[len(b)-1] ^= 1
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			resp.ContentLength = int64(len(b))
			resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
			return nil
		},
	})
	defer storage.Close()
	hubURL, _ := url.Parse(h.hub.URL)
	front := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(hubURL); r.Out.Host = hubURL.Host },
		ModifyResponse: func(resp *http.Response) error {
			if loc := resp.Header.Get("Location"); loc != "" {
				u, err := url.Parse(loc)
				if err != nil {
					return err
				}
				s, _ := url.Parse(storage.URL)
				u.Scheme, u.Host = s.Scheme, strings.Replace(s.Host, "127.0.0.1", "localhost", 1)
				resp.Header.Set("Location", u.String())
			}
			return nil
		},
	})
	defer front.Close()
	t.Setenv("HF_ENDPOINT", front.URL)

	_, stderr, code := cli(t, "cp", "hf://org/model", "s3://models/mirror/"+q)
	if code != 1 || !strings.Contains(stderr, "SHA-256") {
		t.Errorf("cp of a corrupted blob to S3: exit code %d, stderr %q", code, stderr)
	}
	if objs, err := backend.ListBucket("models", nil, gofakes3.ListBucketPage{}); err != nil || len(objs.Contents) != 0 {
		t.Errorf("objects after the refused copy: %v %v", objs, err)
	}
	dir := filepath.Join(t.TempDir(), "local")
	if _, stderr, code := cli(t, "cp", "hf://org/model", dir); code != 1 || !strings.Contains(stderr, "SHA-256") {
		t.Errorf("cp of a corrupted blob to a folder: exit code %d, stderr %q", code, stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files after the refused copy: %v", entries)
	}
}
