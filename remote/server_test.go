package remote_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// served is what the test server knows of one request.
type served struct {
	path    string
	rng     string // the Range header
	ifRange string
	auth    string
	query   string
	status  int   // 0 if the handler wrote nothing through the ResponseWriter (it hijacked the connection)
	bytes   int64 // body bytes the handler managed to write
	done    bool  // the handler returned
}

// file is a file the test server serves.
type file struct {
	data    []byte
	etag    string    // "" for none
	modtime time.Time // zero for no Last-Modified
	// size, when larger than len(data), makes a large file cheaply: data,
	// then zeros up to size bytes.
	size int64
}

// content returns the file's bytes as a ReadSeeker, and its size.
func (f file) content() (io.ReadSeeker, int64) {
	if f.size <= int64(len(f.data)) {
		return bytes.NewReader(f.data), int64(len(f.data))
	}
	return io.NewSectionReader(zeroTail(f.data), 0, f.size), f.size
}

// zeroTail reads as its bytes followed by zeros without end.
type zeroTail []byte

func (z zeroTail) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(z)) {
		n = copy(p, z[off:])
	}
	clear(p[n:])
	return len(p), nil
}

// server is a loopback HTTP server that serves files with Go's own
// http.ServeContent (which implements Range, If-Range and ETag), logs
// every request with the bytes it sent, and lets a test take over any
// request to inject a failure.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]file
	log   []served
	// hook, if set, sees each request first (n counts from 0 across the
	// server); it returns true when it has answered the request itself.
	hook func(n int, w http.ResponseWriter, r *http.Request, f file) bool
}

func newServer(t testing.TB, files map[string]file) *server {
	t.Helper()
	s := &server{files: files}
	s.Server = httptest.NewServer(s) // listens on 127.0.0.1
	t.Cleanup(s.Close)
	return s
}

// serveOne starts a server of one file at /model.safetensors, with a
// strong ETag and a Last-Modified date, and returns its URL.
func serveOne(t testing.TB, data []byte) (*server, string) {
	s := newServer(t, map[string]file{"/model.safetensors": {data: data, etag: `"v1"`, modtime: time.Unix(1700000000, 0)}})
	return s, s.URL + "/model.safetensors"
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.log)
	s.log = append(s.log, served{path: r.URL.Path, rng: r.Header.Get("Range"), ifRange: r.Header.Get("If-Range"),
		auth: r.Header.Get("Authorization"), query: r.URL.RawQuery})
	f, ok := s.files[r.URL.Path]
	hook := s.hook
	s.mu.Unlock()
	cw := &countingWriter{ResponseWriter: w}
	defer func() {
		s.mu.Lock()
		s.log[n].status, s.log[n].bytes, s.log[n].done = cw.status, cw.n, true
		s.mu.Unlock()
	}()
	if hook != nil && hook(n, cw, r, f) {
		return
	}
	if !ok {
		http.NotFound(cw, r)
		return
	}
	serveFile(cw, r, f)
}

func serveFile(w http.ResponseWriter, r *http.Request, f file) {
	if f.etag != "" {
		w.Header().Set("ETag", f.etag)
	}
	rs, _ := f.content()
	http.ServeContent(w, r, "", f.modtime, rs)
}

// setFile replaces a file, as a new upload would.
func (s *server) setFile(path string, f file) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = f
}

func (s *server) setHook(h func(n int, w http.ResponseWriter, r *http.Request, f file) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = h
}

// requests returns a copy of the log.
func (s *server) requests() []served {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]served(nil), s.log...)
}

// since returns the log from request n on, once every handler so far has
// returned (a client may have its answer before the handler logs it).
func (s *server) since(n int) []served {
	deadline := time.Now().Add(20 * time.Second)
	for {
		log := s.requests()
		done := true
		for _, l := range log {
			done = done && l.done
		}
		if done || time.Now().After(deadline) {
			return log[n:]
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// ranges lists the Range headers of log entries.
func ranges(log []served) []string {
	out := make([]string, len(log))
	for i, l := range log {
		out[i] = l.rng
	}
	return out
}

func totalBytes(log []served) int64 {
	var n int64
	for _, l := range log {
		n += l.bytes
	}
	return n
}

// countingWriter counts the body bytes written and keeps the status.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// tensor is a tensor of a hand-built test file.
type tensor struct {
	name  string
	dtype string
	shape []int
	data  []byte
}

// pattern returns n bytes that differ from one position to the next, and
// from one seed to another.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// u8 is a U8 tensor of the given shape filled with pattern bytes.
func u8(name string, seed byte, shape ...int) tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return tensor{name, "U8", shape, pattern(n, seed)}
}

// buildFile lays out a safetensors file by hand: metadata (if any), the
// tensors in the given order, the header padded with spaces to a multiple
// of 8. It returns the file and the file offset of each tensor's data.
func buildFile(meta map[string]string, tensors ...tensor) ([]byte, map[string][2]int64) {
	var h strings.Builder
	h.WriteString("{")
	sep := ""
	if meta != nil {
		h.WriteString(`"__metadata__":{`)
		msep := ""
		for _, k := range sortedKeys(meta) {
			fmt.Fprintf(&h, "%s%s:%s", msep, strconv.Quote(k), strconv.Quote(meta[k]))
			msep = ","
		}
		h.WriteString("}")
		sep = ","
	}
	var data []byte
	offsets := map[string][2]int64{}
	for _, t := range tensors {
		dims := make([]string, len(t.shape))
		for i, d := range t.shape {
			dims[i] = strconv.Itoa(d)
		}
		fmt.Fprintf(&h, `%s%s:{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}`, sep, strconv.Quote(t.name), t.dtype,
			strings.Join(dims, ","), len(data), len(data)+len(t.data))
		sep = ","
		offsets[t.name] = [2]int64{int64(len(data)), int64(len(data) + len(t.data))}
		data = append(data, t.data...)
	}
	h.WriteString("}")
	for h.Len()%8 != 0 {
		h.WriteString(" ")
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(h.Len()))
	out = append(out, h.String()...)
	start := int64(len(out))
	for k, v := range offsets {
		offsets[k] = [2]int64{start + v[0], start + v[1]}
	}
	return append(out, data...), offsets
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// rangeOf is the Range header asking for file bytes [b, e).
func rangeOf(b, e int64) string { return fmt.Sprintf("bytes=%d-%d", b, e-1) }

// setValidators sets the ETag and Last-Modified that the server gives fl,
// for a hook that answers a request itself.
func setValidators(w http.ResponseWriter, fl file) {
	if fl.etag != "" {
		w.Header().Set("ETag", fl.etag)
	}
	if !fl.modtime.IsZero() {
		w.Header().Set("Last-Modified", fl.modtime.UTC().Format(http.TimeFormat))
	}
}
