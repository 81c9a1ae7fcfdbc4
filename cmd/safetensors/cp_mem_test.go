package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
)

// sinkS3 is an S3 stand-in that keeps only the first MiB of each object
// (enough for its header) and its size: it answers uploads (PutObject and
// the multipart requests), listings, deletes, and range reads within what
// it kept. It counts the body bytes it received and the objects
// completed. It lets a test upload a gigabyte without holding it.
type sinkS3 struct {
	*httptest.Server
	received  atomic.Int64
	completed atomic.Int64
	delay     time.Duration // added to every request
	rate      float64       // if > 0, bodies are read at this many bytes per second
	mu        sync.Mutex
	uploads   int
	objects   map[string]*sinkObject
	parts     map[string]map[int]*sinkObject // by upload id, part number
}

type sinkObject struct {
	head []byte // the first sinkKeep bytes
	size int64
}

const sinkKeep = 1 << 20

// readSink reads a request's body, keeping its first sinkKeep bytes when
// keep is true.
func readSink(r io.Reader, keep bool) (*sinkObject, error) {
	var head []byte
	if keep {
		head = make([]byte, sinkKeep)
		n, err := io.ReadFull(r, head)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return nil, err
		}
		head = head[:n]
	}
	n, err := io.Copy(io.Discard, r)
	return &sinkObject{head: head, size: int64(len(head)) + n}, err
}

func newSinkS3(t testing.TB, delay time.Duration) *sinkS3 {
	s := &sinkS3{delay: delay, objects: map[string]*sinkObject{}, parts: map[string]map[int]*sinkObject{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(s.delay)
		q := r.URL.Query()
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
		key := ""
		if len(parts) == 2 {
			key = parts[1]
		}
		keep := r.Method == http.MethodPut && (!q.Has("partNumber") || q.Get("partNumber") == "1")
		var rd io.Reader = r.Body
		if s.rate > 0 {
			rd = &pacedReader{r: r.Body, rate: s.rate, start: time.Now()}
		}
		body, err := readSink(rd, keep)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		s.received.Add(body.size)
		w.Header().Set("Content-Type", "application/xml")
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case r.Method == http.MethodGet && key == "": // ListObjectsV2
			var b strings.Builder
			n := 0
			for k, o := range s.objects {
				rest, ok := strings.CutPrefix(k, q.Get("prefix"))
				if ok && !strings.Contains(rest, "/") {
					fmt.Fprintf(&b, "<Contents><Key>%s</Key><Size>%d</Size><ETag>\"x\"</ETag><LastModified>2026-01-01T00:00:00.000Z</LastModified></Contents>", k, o.size)
					n++
				}
			}
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>%s</ListBucketResult>`, parts[0], q.Get("prefix"), n, b.String())
		case r.Method == http.MethodPost && q.Has("uploads"):
			s.uploads++
			id := fmt.Sprintf("u%d", s.uploads)
			s.parts[id] = map[int]*sinkObject{}
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, parts[0], key, id)
		case r.Method == http.MethodPut && q.Has("partNumber"):
			var pn int
			fmt.Sscan(q.Get("partNumber"), &pn)
			s.parts[q.Get("uploadId")][pn] = body
			w.Header().Set("ETag", `"`+q.Get("partNumber")+`"`)
		case r.Method == http.MethodPost && q.Has("uploadId"):
			obj := &sinkObject{}
			ps := s.parts[q.Get("uploadId")]
			for i := 1; i <= len(ps); i++ {
				if i == 1 {
					obj.head = ps[i].head
				}
				obj.size += ps[i].size
			}
			delete(s.parts, q.Get("uploadId"))
			s.objects[key] = obj
			s.completed.Add(1)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>"x-1"</ETag></CompleteMultipartUploadResult>`, parts[0], key)
		case r.Method == http.MethodPut:
			s.objects[key] = body
			s.completed.Add(1)
			w.Header().Set("ETag", `"x"`)
		case r.Method == http.MethodDelete:
			delete(s.objects, key)
			w.WriteHeader(http.StatusNoContent)
		case (r.Method == http.MethodGet || r.Method == http.MethodHead) && s.objects[key] != nil:
			o := s.objects[key]
			var from, to int64
			if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &from, &to); err != nil {
				from, to = 0, o.size-1
			}
			to = min(to, o.size-1)
			if to >= int64(len(o.head)) {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>past what the sink keeps</Message></Error>`)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("ETag", `"x"`)
			w.Header().Set("Last-Modified", "Thu, 01 Jan 2026 00:00:00 GMT")
			w.Header().Set("Content-Length", fmt.Sprint(to-from+1))
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, o.size))
			w.WriteHeader(http.StatusPartialContent)
			if r.Method == http.MethodGet {
				w.Write(o.head[from : to+1])
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>`)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// sparseModel writes a safetensors file of n F32 tensors of size bytes
// each, all zeros, as a sparse file: the header, then a hole.
func sparseModel(t testing.TB, path string, n int, size int64) int64 {
	infos := make([]safetensors.TensorInfo, n)
	for i := range infos {
		infos[i] = safetensors.TensorInfo{Name: fmt.Sprintf("layers.%02d.weight", i), DType: safetensors.F32, Shape: []int{int(size / 4)}}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw, err := safetensors.NewWriter(f, infos, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(tw.Size()); err != nil {
		t.Fatal(err)
	}
	return tw.Size()
}

// peakHeap samples the heap's objects (live and not yet swept) every
// millisecond until stop is called, and returns the largest sample.
func peakHeap() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// TestCpPeakHeap copies a 1 GiB model from a local file into an S3
// stand-in, re-sharded into 4 files (so that two uploads run at once), and
// asserts that the heap never held more than 128 MiB.
func TestCpPeakHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("copies a gigabyte")
	}
	src := filepath.Join(t.TempDir(), "big.safetensors")
	size := sparseModel(t, src, 16, 64<<20)
	s3 := newSinkS3(t, 0)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRETTEST")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	q := "?region=us-east-1&use_path_style=true&endpoint=" + url.QueryEscape(s3.URL)

	runtime.GC()
	stop := peakHeap()
	mustRun(t, 0, "cp", "-q", "--max-shard-size", "300MB", src, "s3://sink/big/"+q)
	peak := stop()
	t.Logf("peak heap %.1f MiB copying %.1f MiB", float64(peak)/(1<<20), float64(size)/(1<<20))
	if got := s3.received.Load(); got < size {
		t.Errorf("the store received %d bytes, less than the model's %d", got, size)
	}
	if n := s3.completed.Load(); n != 5 {
		t.Errorf("%d objects completed, want 4 shards and the index", n)
	}
	if peak > 128<<20 {
		t.Errorf("peak heap %.1f MiB, over 128 MiB", float64(peak)/(1<<20))
	}
}
