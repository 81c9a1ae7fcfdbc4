package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors/blob"
)

// BenchmarkCp copies a 256 MiB model (4 tensors) from a loopback HTTP
// server to an S3 stand-in that keeps only headers, each adding 5 ms to
// every request (and, in the "5ms+100MB/s" group, sending or receiving
// each body at 100 MB/s, as one connection to an object store runs),
// three ways, each in a process of its own (this test
// binary, run again as a helper) so that its peak resident memory can be
// measured:
//
//   - cp: `safetensors cp URL s3://...`, streaming;
//   - get: one plain GET of the file, to io.Discard: the floor for the
//     bytes;
//   - download-upload: one GET into a local file, then one upload of it
//     (blob.NewWriter), as `huggingface-cli download` then `aws s3 cp` do.
//
// Each reports peak-RSS-MiB, the child's maximum resident set size.
//
//	go test -run '^$' -bench BenchmarkCp -benchtime 3x ./cmd/safetensors
func BenchmarkCp(b *testing.B) {
	dir := b.TempDir()
	size := sparseModel(b, filepath.Join(dir, "model.safetensors"), 4, 64<<20)
	for _, pace := range []struct {
		name string
		rate float64 // bytes per second per connection, 0 for none
	}{{"5ms", 0}, {"5ms+100MB/s", 100e6}} {
		const delay = 5 * time.Millisecond
		files := http.FileServer(http.Dir(dir))
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(delay)
			if pace.rate > 0 {
				w = &pacedWriter{ResponseWriter: w, rate: pace.rate, start: time.Now()}
			}
			files.ServeHTTP(w, r)
		}))
		sink := newSinkS3(b, delay)
		sink.rate = pace.rate
		env := append(os.Environ(),
			"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=SECRETTEST",
			"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
			"AWS_EC2_METADATA_DISABLED=true",
			"CP_BENCH_SRC="+src.URL+"/model.safetensors",
			"CP_BENCH_QUERY=?region=us-east-1&use_path_style=true&endpoint="+url.QueryEscape(sink.URL),
			"CP_BENCH_TMP="+filepath.Join(dir, "downloaded.safetensors"))
		for _, mode := range []string{"cp", "get", "download-upload"} {
			b.Run(pace.name+"/"+mode, func(b *testing.B) {
				b.SetBytes(size)
				var peak int64
				for b.Loop() {
					cmd := exec.Command(os.Args[0], "-test.run=^TestCpBenchHelper$")
					cmd.Env = append(env, "CP_BENCH_MODE="+mode)
					out, err := cmd.CombinedOutput()
					if err != nil {
						b.Fatalf("%s: %v\n%s", mode, err, out)
					}
					peak = max(peak, maxRSS(cmd.ProcessState))
				}
				if peak > 0 {
					b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
				}
			})
		}
		src.Close()
		sink.Close()
	}
}

// pacedWriter sends a response at rate bytes per second, as one
// connection to a remote store runs.
type pacedWriter struct {
	http.ResponseWriter
	rate  float64
	start time.Time
	n     int64
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	time.Sleep(time.Until(w.start.Add(time.Duration(float64(w.n) / w.rate * float64(time.Second)))))
	return n, err
}

// pacedReader reads a request's body at rate bytes per second.
type pacedReader struct {
	r     io.Reader
	rate  float64
	start time.Time
	n     int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	time.Sleep(time.Until(p.start.Add(time.Duration(float64(p.n) / p.rate * float64(time.Second)))))
	return n, err
}

// TestCpBenchHelper is BenchmarkCp's child process: it runs one way of
// copying, named by CP_BENCH_MODE, and is skipped otherwise.
func TestCpBenchHelper(t *testing.T) {
	mode := os.Getenv("CP_BENCH_MODE")
	if mode == "" {
		t.Skip("a helper process of BenchmarkCp")
	}
	srcURL, q := os.Getenv("CP_BENCH_SRC"), os.Getenv("CP_BENCH_QUERY")
	switch mode {
	case "cp":
		var errb bytes.Buffer
		if code := run([]string{"cp", "-q", "--force", srcURL, "s3://sink/cp/" + q}, io.Discard, &errb); code != 0 {
			t.Fatalf("cp: exit code %d: %s", code, errb.String())
		}
	case "get":
		resp, err := http.Get(srcURL)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	case "download-upload":
		tmp := os.Getenv("CP_BENCH_TMP")
		resp, err := http.Get(srcURL)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(tmp)
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(tmp)
		defer f.Close()
		_, err = io.Copy(f, resp.Body)
		resp.Body.Close()
		if err == nil {
			_, err = f.Seek(0, io.SeekStart)
		}
		if err != nil {
			t.Fatal(err)
		}
		w, err := blob.NewWriter(context.Background(), "s3://sink/du/model.safetensors"+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, f); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
