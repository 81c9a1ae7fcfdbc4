package remote_test

// A hostile server: sizes it only claims, validators it drops, redirects
// that lead elsewhere or nowhere, responses that are not HTTP.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allocated returns the bytes allocated on the heap while f runs, by any
// goroutine (the test server's included): an upper bound of how much the
// heap grew at its peak.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// claimingServer serves a file of a claimed size: head, then zeros, but
// answers any range that starts past served bytes with 404, as a server
// that lied about the size would fail to deliver.
func claimingServer(t *testing.T, head []byte, size, served int64) (*server, string) {
	s := newServer(t, map[string]file{"/model.safetensors": {data: head, etag: `"v1"`, size: size}})
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		var first int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &first); err == nil && first >= served {
			http.NotFound(w, r)
			return true
		}
		return false
	})
	return s, s.URL + "/model.safetensors"
}

// A server claims a 32 TiB file holding one tensor of almost that size:
// opening costs one request, and reading the tensor fails when the bytes
// stop coming, having allocated a small multiple of what came, not 32 TiB.
func TestClaimedSizeIsNotAllocated(t *testing.T) {
	const claimed = int64(32) << 40
	header := func(n int64) string {
		return fmt.Sprintf(`{"t":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, n, n)
	}
	tensor := claimed - 8 - int64(len(header(claimed))) // the same number of digits
	hdr := header(tensor)
	require.Equal(t, claimed, 8+int64(len(hdr))+tensor)
	head := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	s, url := claimingServer(t, head, claimed, 24<<20)

	f, err := remote.Open(context.Background(), url, fast())
	require.NoError(t, err)
	assert.Equal(t, 1, s.count(), "opening costs one request")
	n := allocated(func() { _, err = f.GetTensor("t") })
	require.Error(t, err)
	var se *remote.StatusError
	require.ErrorAs(t, err, &se, "the server stopped delivering: 404 past what it has")
	assert.Equal(t, http.StatusNotFound, se.StatusCode)
	assert.Less(t, n, uint64(200<<20), "allocated %d bytes for 24 MiB served", n)

	m, err := remote.OpenModel(context.Background(), url, fast())
	require.NoError(t, err)
	defer m.Close()
	n = allocated(func() { _, err = m.GetTensor("t") })
	require.Error(t, err)
	assert.Less(t, n, uint64(200<<20), "Model.GetTensor allocated %d bytes for 24 MiB served", n)
}

// With no header limit, a prefix of 2^62 and a claimed size of 2^63-1:
// an error, not a panic, and no allocation of the claimed header.
func TestClaimedHeaderSizeOverHTTP(t *testing.T) {
	head := binary.LittleEndian.AppendUint64(nil, 1<<62)
	_, url := claimingServer(t, head, 1<<63-1, 64<<20)
	opts := fast()
	opts.MaxHeaderSize = -1
	var err error
	n := allocated(func() { _, err = remote.Open(context.Background(), url, opts) })
	assert.ErrorIs(t, err, safetensors.ErrInvalidHeader)
	assert.Less(t, n, uint64(100<<20), "allocated %d bytes", n)
}

// The first response carries validators; later ones that drop them and
// serve other bytes are a changed file, not a mix of two versions.
func TestDroppedValidatorsAreAChange(t *testing.T) {
	data, off := standardFile()
	changed := append([]byte(nil), data...)
	for i := off["c"][0]; i < off["d"][1]; i++ {
		changed[i] ^= 0xff
	}
	t1 := time.Unix(1700000000, 0)
	cases := map[string]struct{ before, after file }{
		"ETag dropped":                  {file{data: data, etag: `"v1"`}, file{data: changed}},
		"ETag dropped, same modtime":    {file{data: data, etag: `"v1"`, modtime: t1}, file{data: changed, modtime: t1}},
		"Last-Modified dropped":         {file{data: data, modtime: t1}, file{data: changed}},
		"ETag appears where none was":   {file{data: data}, file{data: changed, etag: `"v2"`}},
		"Last-Modified dropped, weak":   {file{data: data, etag: `W/"v1"`, modtime: t1}, file{data: changed, etag: `W/"v1"`}},
		"strong ETag kept, date moved":  {file{data: data, etag: `"v1"`, modtime: t1}, file{data: changed, etag: `"v1"`, modtime: t1.Add(time.Hour)}},
		"nothing dropped, ETag changed": {file{data: data, etag: `"v1"`, modtime: t1}, file{data: changed, etag: `"v2"`, modtime: t1}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, map[string]file{"/m.safetensors": c.before})
			f, err := remote.Open(context.Background(), s.URL+"/m.safetensors", fast())
			require.NoError(t, err)
			s.setFile("/m.safetensors", c.after)
			// The server no longer honours If-Range: it serves the new
			// bytes as a range, with whatever validators it now has.
			s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
				r.Header.Del("If-Range")
				serveFile(w, r, fl)
				return true
			})
			tensor, err := f.GetTensor("d")
			require.Error(t, err, "got %d bytes", len(tensor.Data()))
			assert.ErrorIs(t, err, remote.ErrChanged)
		})
	}
}

// headerLog records, per server, the caller's headers each request
// carried.
type headerLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *headerLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Custom"))
}

func (l *headerLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// Options.Header, Authorization included, goes to the origin it was given
// for and to no other: not another port of the same host, not another
// host, not another scheme, whatever redirects lead there.
func TestHeadersStayWithTheirOrigin(t *testing.T) {
	data, _ := standardFile()
	var elsewhere headerLog
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.add(r)
		serveFile(w, r, file{data: data, etag: `"v1"`})
	}))
	defer other.Close()
	_, otherPort, err := net.SplitHostPort(other.Listener.Addr().String())
	require.NoError(t, err)

	targets := map[string]string{
		"another port": other.URL + "/blob", // the same host name, 127.0.0.1
		"another host": "http://localhost:" + otherPort + "/blob",
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			elsewhere.mu.Lock()
			elsewhere.seen = nil
			elsewhere.mu.Unlock()
			var origin headerLog
			first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				origin.add(r)
				switch r.URL.Path {
				case "/resolve":
					http.Redirect(w, r, "/hop", http.StatusFound) // same origin
				case "/hop":
					http.Redirect(w, r, target, http.StatusTemporaryRedirect)
				}
			}))
			defer first.Close()
			opts := fast()
			opts.Header = http.Header{"Authorization": {"Bearer hf_secret"}, "X-Custom": {"private"}}
			f, err := remote.Open(context.Background(), first.URL+"/resolve", opts)
			if name == "another host" && err != nil && strings.Contains(err.Error(), "localhost") {
				t.Skip("localhost does not resolve here:", err)
			}
			require.NoError(t, err)
			_, err = f.GetTensor("d")
			require.NoError(t, err)
			for _, h := range origin.get() {
				assert.Equal(t, "Bearer hf_secret|private", h, "the origin gets the caller's headers, same-origin redirects included")
			}
			require.NotEmpty(t, elsewhere.get())
			for _, h := range elsewhere.get() {
				assert.Equal(t, "|", h, "another origin gets none of the caller's headers")
			}
		})
	}
}

// Redirects that cannot be followed fail at once, without retries.
func TestBadRedirectsFailAtOnce(t *testing.T) {
	cases := map[string]func(w http.ResponseWriter, r *http.Request){
		"loop": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		},
		"not http": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "file:///etc/passwd")
			w.WriteHeader(http.StatusFound)
		},
		"unparsable Location": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://[::1")
			w.WriteHeader(http.StatusMovedPermanently)
		},
	}
	for name, handler := range cases {
		t.Run(name, func(t *testing.T) {
			var requests atomic.Int64
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				handler(w, r)
			}))
			defer s.Close()
			_, err := remote.Open(context.Background(), s.URL+"/m.safetensors", fast())
			assert.ErrorIs(t, err, remote.ErrInvalidResponse)
			assert.NotContains(t, err.Error(), "giving up", "not retried")
			if name == "loop" {
				assert.Equal(t, int64(11), requests.Load(), "the first request and 10 redirects")
			} else {
				assert.Equal(t, int64(1), requests.Load())
			}
		})
	}
	t.Run("no Location", func(t *testing.T) {
		var requests atomic.Int64
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.WriteHeader(http.StatusFound)
		}))
		defer s.Close()
		_, err := remote.Open(context.Background(), s.URL+"/m.safetensors", fast())
		require.Error(t, err)
		assert.Equal(t, int64(1), requests.Load())
	})
}

// A server that does not speak HTTP fails at once: no retry can fix it.
func TestMalformedResponseFailsAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for { // read the request head
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\nnot http at all\r\n\r\n")
			}()
		}
	}()
	_, err = remote.Open(context.Background(), "http://"+ln.Addr().String()+"/m.safetensors", fast())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "giving up")
	assert.Equal(t, int64(1), conns.Load(), "one connection, no retry")
}
