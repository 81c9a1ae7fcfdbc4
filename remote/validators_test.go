package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors/remote"
)

// These tests pin every check a ReaderAt makes of a response, through the
// public API, over loopback servers that answer as scripted: the first
// request (bytes 0 to PrefixSize-1) and every later range request.

// vsFile is the file the scripted servers serve: 100 bytes, byte i = i.
var vsFile = func() []byte {
	b := make([]byte, 100)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// vsServer answers each request with answer(n, r, w), where n counts the
// requests from 0, and records each request's headers.
type vsServer struct {
	*httptest.Server
	mu  sync.Mutex
	got []http.Header
}

func vsServe(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *vsServer {
	t.Helper()
	s := &vsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.got)
		s.got = append(s.got, r.Header.Clone())
		s.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *vsServer) requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slicesClone(s.got)
}

func slicesClone(h []http.Header) []http.Header { return append([]http.Header(nil), h...) }

// vsRange serves the part of vsFile that the request's Range asks for, as
// a correct 206 with the given extra headers.
func vsRange(w http.ResponseWriter, r *http.Request, extra ...string) {
	var first, last int
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last); err != nil {
		http.Error(w, "bad range", http.StatusBadRequest)
		return
	}
	last = min(last, len(vsFile)-1)
	for i := 0; i+1 < len(extra); i += 2 {
		w.Header().Set(extra[i], extra[i+1])
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(vsFile)))
	w.Header().Set("Content-Length", strconv.Itoa(last-first+1))
	w.WriteHeader(http.StatusPartialContent)
	w.Write(vsFile[first : last+1])
}

// vsOpts are options for quick tests: a 10-byte prefix, no retries unless
// set, tiny waits.
func vsOpts(retries int) *remote.Options {
	return &remote.Options{PrefixSize: 10, Retries: retries, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
}

// vsFirst answers the first request with status, headers and body.
func vsAnswer(w http.ResponseWriter, status int, body string, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// chunked sends body without a Content-Length.
func chunked(w http.ResponseWriter, status int, body string, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	w.WriteHeader(status)
	w.(http.Flusher).Flush()
	io.WriteString(w, body)
}

func TestFirstResponseValidators(t *testing.T) {
	prefix := string(vsFile[:10])
	cases := []struct {
		name   string
		answer func(w http.ResponseWriter)
		err    error // nil: accepted
		size   int64
		msg    string
	}{
		{"exact range", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix, "Content-Range", "bytes 0-9/100")
		}, nil, 100, ""},
		{"wrong start, right end", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix[:9], "Content-Range", "bytes 1-9/100")
		}, remote.ErrInvalidResponse, 0, `Content-Range "bytes 1-9/100" does not answer a request for bytes 0-9`},
		{"right start, short end", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix[:9], "Content-Range", "bytes 0-8/100")
		}, remote.ErrInvalidResponse, 0, "does not answer"},
		{"right start, long end", func(w http.ResponseWriter) {
			vsAnswer(w, 206, string(vsFile[:11]), "Content-Range", "bytes 0-10/100")
		}, remote.ErrInvalidResponse, 0, "does not answer"},
		{"unknown size", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix, "Content-Range", "bytes 0-9/*")
		}, remote.ErrInvalidResponse, 0, "of a file of known size"},
		{"unknown size, one byte", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix[:1], "Content-Range", "bytes 0-0/*")
		}, remote.ErrInvalidResponse, 0, `Content-Range "bytes 0-0/*" does not answer`},
		{"Content-Length 0", func(w http.ResponseWriter) {
			w.Header().Set("Content-Range", "bytes 0-9/100")
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(206)
		}, remote.ErrInvalidResponse, 0, "Content-Length 0 for a range of 10 bytes"},
		{"no Content-Range", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix)
		}, remote.ErrInvalidResponse, 0, "does not answer"},
		{"file smaller than the prefix", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix[:5], "Content-Range", "bytes 0-4/5")
		}, nil, 5, ""},
		{"file of exactly the prefix", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix, "Content-Range", "bytes 0-9/10")
		}, nil, 10, ""},
		{"file smaller, range past its end", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix[:5], "Content-Range", "bytes 0-5/5")
		}, remote.ErrInvalidResponse, 0, "does not answer"},
		{"Content-Length differs", func(w http.ResponseWriter) {
			w.Header().Set("Content-Range", "bytes 0-9/100")
			w.Header().Set("Content-Length", "9")
			w.WriteHeader(206)
			io.WriteString(w, prefix[:9])
		}, remote.ErrInvalidResponse, 0, "Content-Length 9 for a range of 10 bytes"},
		{"chunked, exact", func(w http.ResponseWriter) {
			chunked(w, 206, prefix, "Content-Range", "bytes 0-9/100")
		}, nil, 100, ""},
		{"chunked, one byte more", func(w http.ResponseWriter) {
			chunked(w, 206, prefix+"x", "Content-Range", "bytes 0-9/100")
		}, remote.ErrInvalidResponse, 0, "the response body is longer than the range"},
		{"encoded", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix, "Content-Range", "bytes 0-9/100", "Content-Encoding", "gzip")
		}, remote.ErrInvalidResponse, 0, `Content-Encoding "gzip"`},
		{"identity encoding", func(w http.ResponseWriter) {
			vsAnswer(w, 206, prefix, "Content-Range", "bytes 0-9/100", "Content-Encoding", "identity")
		}, nil, 100, ""},
		{"whole file of the prefix size", func(w http.ResponseWriter) {
			vsAnswer(w, 200, prefix)
		}, nil, 10, ""},
		{"whole small file", func(w http.ResponseWriter) {
			vsAnswer(w, 200, prefix[:3])
		}, nil, 3, ""},
		{"whole file, one byte more", func(w http.ResponseWriter) {
			vsAnswer(w, 200, prefix+"x")
		}, remote.ErrRangeNotSupported, 0, "asked for bytes 0-9, the server sent the whole file of 11 bytes"},
		{"whole file chunked, of the prefix size", func(w http.ResponseWriter) {
			chunked(w, 200, prefix)
		}, nil, 10, ""},
		{"whole file chunked, one byte more", func(w http.ResponseWriter) {
			chunked(w, 200, prefix+"x")
		}, remote.ErrRangeNotSupported, 0, "asked for bytes 0-9, the server sent the whole file, of more bytes"},
		{"whole file encoded", func(w http.ResponseWriter) {
			vsAnswer(w, 200, prefix, "Content-Encoding", "br")
		}, remote.ErrInvalidResponse, 0, `Content-Encoding "br"`},
		{"empty file", func(w http.ResponseWriter) {
			vsAnswer(w, 416, "", "Content-Range", "bytes */0")
		}, nil, 0, ""},
		{"416 of a non-empty file", func(w http.ResponseWriter) {
			vsAnswer(w, 416, "", "Content-Range", "bytes */5")
		}, remote.ErrInvalidResponse, 0, `status 416 Requested Range Not Satisfiable with Content-Range "bytes */5" for bytes 0-9`},
		{"416 with a range", func(w http.ResponseWriter) {
			vsAnswer(w, 416, "", "Content-Range", "bytes 0-0/0")
		}, remote.ErrInvalidResponse, 0, "status 416"},
		{"416 without Content-Range", func(w http.ResponseWriter) {
			vsAnswer(w, 416, "")
		}, remote.ErrInvalidResponse, 0, "status 416"},
		{"404", func(w http.ResponseWriter) { vsAnswer(w, 404, "") }, fs.ErrNotExist, 0, ""},
		{"410", func(w http.ResponseWriter) { vsAnswer(w, 410, "") }, fs.ErrNotExist, 0, ""},
		{"401", func(w http.ResponseWriter) { vsAnswer(w, 401, "") }, fs.ErrPermission, 0, "authentication needed or refused"},
		{"403", func(w http.ResponseWriter) { vsAnswer(w, 403, "") }, fs.ErrPermission, 0, "authentication needed or refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { c.answer(w) })
			r, err := remote.NewReaderAt(context.Background(), s.URL+"/f?sig=secret", vsOpts(-1))
			if c.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if r.Size() != c.size {
					t.Errorf("Size %d, want %d", r.Size(), c.size)
				}
				return
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not say %q", err, c.msg)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the query", err)
			}
			if want := "remote: GET " + s.URL + "/f (bytes=0-9): "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			var se *remote.StatusError
			if errors.As(err, &se) && se.URL != s.URL+"/f" {
				t.Errorf("StatusError.URL %q", se.URL)
			}
			if len(s.requests()) != 1 {
				t.Errorf("%d requests, want 1 (not retried)", len(s.requests()))
			}
		})
	}
}

// TestOtherStatusesAreNotSentinels: a 400 is a StatusError that wraps
// neither fs sentinel, and is not retried.
func TestOtherStatusesAreNotSentinels(t *testing.T) {
	for _, code := range []int{400, 402, 405, 407, 409, 499} {
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsAnswer(w, code, "") })
		_, err := remote.NewReaderAt(context.Background(), s.URL, vsOpts(3))
		var se *remote.StatusError
		if !errors.As(err, &se) || se.StatusCode != code {
			t.Fatalf("%d: error %v", code, err)
		}
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "authentication") {
			t.Errorf("%d: %v", code, err)
		}
		if n := len(s.requests()); n != 1 {
			t.Errorf("%d: %d requests, want 1", code, n)
		}
	}
}

// TestTransientStatusesRetryBounded: 408, 429 and 5xx are retried exactly
// Retries times; the error says how many attempts.
func TestTransientStatusesRetryBounded(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503, 599} {
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsAnswer(w, code, "") })
		o := vsOpts(2)
		o.Backoff = 1 // one nanosecond: the jitter's range is then empty
		_, err := remote.NewReaderAt(context.Background(), s.URL, o)
		var se *remote.StatusError
		if !errors.As(err, &se) || se.StatusCode != code {
			t.Fatalf("%d: error %v", code, err)
		}
		if !strings.Contains(err.Error(), "giving up after 3 attempts") {
			t.Errorf("%d: %v", code, err)
		}
		if n := len(s.requests()); n != 3 {
			t.Errorf("%d: %d requests, want 3", code, n)
		}
	}
	// Retries: 0 means the default of 5; negative means none.
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsAnswer(w, 503, "") })
	o := vsOpts(0)
	if _, err := remote.NewReaderAt(context.Background(), s.URL, o); err == nil || len(s.requests()) != remote.DefaultRetries+1 {
		t.Errorf("default retries: %d requests, error %v", len(s.requests()), err)
	}
	// A transient failure then a success: accepted.
	s = vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			vsAnswer(w, 500, "")
			return
		}
		vsRange(w, r)
	})
	if r, err := remote.NewReaderAt(context.Background(), s.URL, vsOpts(2)); err != nil || r.Size() != 100 {
		t.Fatalf("retried success: %v", err)
	}
}

// TestRetryAfterIsHonoured: the wait a 503 or 429 asks for, in seconds or as a date,
// is honoured (at least that long), and capped by MaxBackoff.
func TestRetryAfterIsHonoured(t *testing.T) {
	then := func(n int, v string) func(int, http.ResponseWriter, *http.Request) {
		return func(k int, w http.ResponseWriter, r *http.Request) {
			if k == 0 {
				vsAnswer(w, n, "", "Retry-After", v)
				return
			}
			vsRange(w, r)
		}
	}
	t.Parallel() // these tests wait, by design: let them wait together
	for _, c := range []struct {
		name  string
		code  int
		value func() string
		min   time.Duration
	}{
		{"seconds", 503, func() string { return "1" }, 900 * time.Millisecond},
		{"seconds 429", 429, func() string { return "1" }, 900 * time.Millisecond},
		// An HTTP date has whole seconds: 3 s from now is at least 2 s away.
		{"date", 503, func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }, 1900 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var times []time.Time
			h := then(c.code, c.value())
			s := vsServe(t, func(k int, w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
				h(k, w, r)
			})
			o := vsOpts(1)
			o.MaxBackoff = 10 * time.Second
			if _, err := remote.NewReaderAt(context.Background(), s.URL, o); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(times) != 2 {
				t.Fatalf("%d requests", len(times))
			}
			if d := times[1].Sub(times[0]); d < c.min {
				t.Errorf("retried after %v; the server asked for %s", d, c.value())
			}
		})
	}
	// A Retry-After far away is capped by MaxBackoff; one that is no number
	// and no date, negative, or in the past is ignored: each succeeds well
	// within the guard.
	for _, v := range []string{"3600", "99999999999", "-5", "soon", time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)} {
		s := vsServe(t, then(503, v))
		o := vsOpts(1)
		o.MaxBackoff = 20 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := remote.NewReaderAt(ctx, s.URL, o)
		cancel()
		if err != nil {
			t.Errorf("Retry-After %q with MaxBackoff 20ms: %v", v, err)
		}
	}
}

// TestRetryWaitIsCancelled: a context cancelled while waiting to retry
// ends the wait with the context's error and the failure that caused it.
func TestRetryWaitIsCancelled(t *testing.T) {
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsAnswer(w, 503, "", "Retry-After", "3600") })
	o := vsOpts(3)
	o.MaxBackoff = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := remote.NewReaderAt(ctx, s.URL, o)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "while waiting to retry after") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("error %v", err)
	}
}

// vsOpen returns a ReaderAt over a server whose first response is a
// correct 206 with the given validators, and whose later responses are
// later(w, r).
func vsOpen(t *testing.T, validators []string, later func(w http.ResponseWriter, r *http.Request)) (*remote.ReaderAt, *vsServer) {
	t.Helper()
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			vsRange(w, r, validators...)
			return
		}
		later(w, r)
	})
	r, err := remote.NewReaderAt(context.Background(), s.URL, vsOpts(-1))
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

func TestRangeResponseValidators(t *testing.T) {
	const off, n = 20, 10 // bytes 20-29, past the 10-byte prefix
	body := string(vsFile[off : off+n])
	cases := []struct {
		name       string
		validators []string
		later      func(w http.ResponseWriter, r *http.Request)
		err        error
		msg        string
	}{
		{"exact", nil, func(w http.ResponseWriter, r *http.Request) { vsRange(w, r) }, nil, ""},
		{"wrong start, right end", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body[1:], "Content-Range", "bytes 21-29/100")
		}, remote.ErrInvalidResponse, `Content-Range "bytes 21-29/100" for a request of bytes 20-29`},
		{"right start, wrong end", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body[:9], "Content-Range", "bytes 20-28/100")
		}, remote.ErrInvalidResponse, "for a request of bytes 20-29"},
		{"both wrong", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes 30-39/100")
		}, remote.ErrInvalidResponse, "for a request of bytes 20-29"},
		{"unknown size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes 20-29/*")
		}, remote.ErrInvalidResponse, "for a request of bytes 20-29"},
		{"no Content-Range", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body)
		}, remote.ErrInvalidResponse, `Content-Range ""`},
		{"other size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes 20-29/101")
		}, remote.ErrChanged, "its size was 100 bytes, it is now 101"},
		{"Content-Length differs", nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 20-29/100")
			w.Header().Set("Content-Length", "11")
			w.WriteHeader(206)
			io.WriteString(w, body+"x")
		}, remote.ErrInvalidResponse, "Content-Length 11 for a range of 10 bytes"},
		{"chunked, exact", nil, func(w http.ResponseWriter, r *http.Request) {
			chunked(w, 206, body, "Content-Range", "bytes 20-29/100")
		}, nil, ""},
		{"chunked, longer", nil, func(w http.ResponseWriter, r *http.Request) {
			chunked(w, 206, body+"x", "Content-Range", "bytes 20-29/100")
		}, remote.ErrInvalidResponse, "longer than the range"},
		{"encoded", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes 20-29/100", "Content-Encoding", "gzip")
		}, remote.ErrInvalidResponse, `Content-Encoding "gzip"`},
		{"412", []string{"ETag", `"v1"`}, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 412, "")
		}, remote.ErrChanged, "status 412"},
		{"206 of no range, other size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes */0")
		}, remote.ErrChanged, "its size was 100 bytes, it is now 0"},
		{"206 of no range, same size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes */100")
		}, remote.ErrInvalidResponse, "for a request of bytes 20-29"},
		{"size 0", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes 20-29/0")
		}, remote.ErrInvalidResponse, `Content-Range "bytes 20-29/0" for a request of bytes 20-29`},
		{"size of the last byte", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, body, "Content-Range", "bytes 20-29/29")
		}, remote.ErrInvalidResponse, `Content-Range "bytes 20-29/29" for a request of bytes 20-29`},
		{"Content-Length 0", nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 20-29/100")
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(206)
		}, remote.ErrInvalidResponse, "Content-Length 0 for a range of 10 bytes"},
		{"416 of no size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 416, "", "Content-Range", "bytes */*")
		}, remote.ErrInvalidResponse, "for a range inside the file"},
		{"416, other size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 416, "", "Content-Range", "bytes */50")
		}, remote.ErrChanged, "its size was 100 bytes, it is now 50"},
		{"416, same size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 416, "", "Content-Range", "bytes */100")
		}, remote.ErrInvalidResponse, "status 416 Requested Range Not Satisfiable for a range inside the file"},
		{"416, no Content-Range", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 416, "")
		}, remote.ErrInvalidResponse, "for a range inside the file"},
		{"404", nil, func(w http.ResponseWriter, r *http.Request) { vsAnswer(w, 404, "") }, fs.ErrNotExist, "404"},
		{"whole file, no validators", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 200, string(vsFile))
		}, remote.ErrRangeNotSupported, "the server answered a range request with the whole file"},
		{"whole file, other size", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 200, string(vsFile[:99]))
		}, remote.ErrChanged, "its size was 100 bytes, the server now sends 99"},
		{"whole file, empty", nil, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 200, "", "Content-Length", "0")
		}, remote.ErrChanged, "its size was 100 bytes, the server now sends 0"},
		{"whole file, chunked", nil, func(w http.ResponseWriter, r *http.Request) {
			chunked(w, 200, string(vsFile))
		}, remote.ErrRangeNotSupported, "with the whole file"},
		{"whole file after If-Range", []string{"ETag", `"v1"`}, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 200, string(vsFile), "ETag", `"v1"`)
		}, remote.ErrChanged, `conditional on "v1" with the whole file`},
		{"whole file, new ETag", []string{"ETag", `"v1"`}, func(w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 200, string(vsFile), "ETag", `"v2"`)
		}, remote.ErrChanged, `its ETag was "v1", it is now "v2"`},
		{"ETag kept", []string{"ETag", `"v1"`}, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r, "ETag", `"v1"`)
		}, nil, ""},
		{"ETag changed", []string{"ETag", `"v1"`}, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r, "ETag", `"v2"`)
		}, remote.ErrChanged, `its ETag was "v1", it is now "v2"`},
		{"ETag dropped", []string{"ETag", `"v1"`}, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r)
		}, remote.ErrChanged, `the first response had ETag "v1", this one has none`},
		{"ETag added", nil, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r, "ETag", `"v1"`)
		}, remote.ErrChanged, `the first response had no ETag, this one has "v1"`},
		{"Last-Modified kept", []string{"Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT"}, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r, "Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		}, nil, ""},
		{"Last-Modified changed", []string{"Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT"}, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r, "Last-Modified", "Tue, 03 Jan 2006 15:04:05 GMT")
		}, remote.ErrChanged, "its Last-Modified was Mon, 02 Jan 2006 15:04:05 GMT, it is now Tue"},
		{"Last-Modified dropped", []string{"Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT"}, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r)
		}, remote.ErrChanged, "the first response had Last-Modified"},
		{"Last-Modified added", nil, func(w http.ResponseWriter, r *http.Request) {
			vsRange(w, r, "Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		}, remote.ErrChanged, "the first response had no Last-Modified"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, s := vsOpen(t, c.validators, c.later)
			buf := make([]byte, n)
			got, err := r.ReadAt(buf, off)
			if c.err == nil {
				if err != nil || got != n || !bytes.Equal(buf, vsFile[off:off+n]) {
					t.Fatalf("ReadAt: %d, %v, %v", got, err, buf)
				}
				return
			}
			if got != 0 || !errors.Is(err, c.err) {
				t.Fatalf("ReadAt: %d, %v; want %v", got, err, c.err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not say %q", err, c.msg)
			}
			if !strings.Contains(err.Error(), "(bytes=20-29)") {
				t.Errorf("error %q does not name the range asked for", err)
			}
			if len(s.requests()) != 2 {
				t.Errorf("%d requests, want 2 (not retried)", len(s.requests()))
			}
		})
	}
}

// TestIfRangeCarriesTheStrongValidator: a strong ETag is sent as If-Range; without one,
// Last-Modified is; a weak ETag disables If-Range altogether.
func TestIfRangeCarriesTheStrongValidator(t *testing.T) {
	const lm = "Mon, 02 Jan 2006 15:04:05 GMT"
	for _, c := range []struct {
		validators []string
		want       string
	}{
		{[]string{"ETag", `"v1"`}, `"v1"`},
		{[]string{"ETag", `"v1"`, "Last-Modified", lm}, `"v1"`},
		{[]string{"Last-Modified", lm}, lm},
		{[]string{"ETag", `W/"v1"`, "Last-Modified", lm}, ""},
		{[]string{"ETag", `W/"v1"`}, ""},
		{[]string{"ETag", `W`}, "W"},
		{[]string{"ETag", `W/`}, ""},
		{[]string{"ETag", `w/"v1"`}, `w/"v1"`},
		{nil, ""},
	} {
		r, s := vsOpen(t, c.validators, func(w http.ResponseWriter, r *http.Request) { vsRange(w, r, c.validators...) })
		if _, err := r.ReadAt(make([]byte, 5), 50); err != nil {
			t.Fatal(err)
		}
		reqs := s.requests()
		if _, sent := reqs[0]["If-Range"]; sent {
			t.Errorf("first request carried If-Range")
		}
		if got := reqs[1].Get("If-Range"); got != c.want {
			t.Errorf("validators %q: If-Range %q, want %q", c.validators, got, c.want)
		}
		if _, sent := reqs[1]["If-Range"]; sent != (c.want != "") {
			t.Errorf("validators %q: If-Range sent: %v", c.validators, sent)
		}
		if reqs[1].Get("Accept-Encoding") != "identity" || reqs[1].Get("Range") != "bytes=50-54" {
			t.Errorf("request headers %v", reqs[1])
		}
	}
}

// TestReadAtEdges: offsets and lengths at every edge of the file and of
// the kept prefix.
func TestReadAtEdges(t *testing.T) {
	r, s := vsOpen(t, nil, func(w http.ResponseWriter, r *http.Request) { vsRange(w, r) })
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil || !strings.Contains(err.Error(), "negative offset -1") {
		t.Errorf("negative offset: %v", err)
	}
	if n, err := r.ReadAt(nil, 5); n != 0 || err != nil {
		t.Errorf("empty read: %d, %v", n, err)
	}
	if n, err := r.ReadAt(make([]byte, 1), 100); n != 0 || err != io.EOF {
		t.Errorf("read at the size: %d, %v", n, err)
	}
	if n, err := r.ReadAt(make([]byte, 0), 100); n != 0 || err != nil {
		t.Errorf("empty read at the size: %d, %v", n, err)
	}
	// Inside the prefix: no request.
	buf := make([]byte, 10)
	if n, err := r.ReadAt(buf, 0); n != 10 || err != nil || !bytes.Equal(buf, vsFile[:10]) {
		t.Errorf("prefix read: %d, %v, %v", n, err, buf)
	}
	if len(s.requests()) != 1 {
		t.Errorf("a read inside the prefix sent a request")
	}
	// Across the prefix's end: only the rest is asked for.
	buf = make([]byte, 6)
	if n, err := r.ReadAt(buf, 7); n != 6 || err != nil || !bytes.Equal(buf, vsFile[7:13]) {
		t.Errorf("read across the prefix: %d, %v, %v", n, err, buf)
	}
	if got := s.requests()[1].Get("Range"); got != "bytes=10-12" {
		t.Errorf("range %q, want bytes=10-12", got)
	}
	// The last byte; a read past the end is short with io.EOF.
	buf = make([]byte, 1)
	if n, err := r.ReadAt(buf, 99); n != 1 || err != nil || buf[0] != 99 {
		t.Errorf("last byte: %d, %v, %v", n, err, buf)
	}
	buf = make([]byte, 5)
	if n, err := r.ReadAt(buf, 98); n != 2 || err != io.EOF || buf[0] != 98 || buf[1] != 99 {
		t.Errorf("read past the end: %d, %v, %v", n, err, buf)
	}
	if got := s.requests()[len(s.requests())-1].Get("Range"); got != "bytes=98-99" {
		t.Errorf("range %q, want bytes=98-99", got)
	}
}

// TestSmallFileInPrefix: a file shorter than the prefix is read from the
// first response alone.
func TestSmallFileInPrefix(t *testing.T) {
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		vsAnswer(w, 206, string(vsFile[:4]), "Content-Range", "bytes 0-3/4")
	})
	r, err := remote.NewReaderAt(context.Background(), s.URL, vsOpts(-1))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := r.ReadAt(buf, 0); n != 4 || err != io.EOF || !bytes.Equal(buf[:4], vsFile[:4]) {
		t.Errorf("%d, %v, %v", n, err, buf)
	}
	if len(s.requests()) != 1 {
		t.Errorf("%d requests", len(s.requests()))
	}
}

// TestReadSplitsIntoChunkSizePieces: reads are split in ChunkSize pieces, exactly: a read of one
// chunk is one request, of one byte more two.
func TestReadSplitsIntoChunkSizePieces(t *testing.T) {
	for _, c := range []struct {
		n      int
		ranges []string
	}{
		{8, []string{"bytes=20-27"}},
		{9, []string{"bytes=20-27", "bytes=28-28"}},
		{16, []string{"bytes=20-27", "bytes=28-35"}},
		{17, []string{"bytes=20-27", "bytes=28-35", "bytes=36-36"}},
	} {
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsRange(w, r) })
		o := vsOpts(-1)
		o.ChunkSize = 8
		o.Parallelism = 1 // one goroutine: the ranges come in order
		r, err := remote.NewReaderAt(context.Background(), s.URL, o)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, c.n)
		if n, err := r.ReadAt(buf, 20); n != c.n || err != nil || !bytes.Equal(buf, vsFile[20:20+c.n]) {
			t.Fatalf("%d bytes: %d, %v", c.n, n, err)
		}
		var got []string
		for _, h := range s.requests()[1:] {
			got = append(got, h.Get("Range"))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.ranges) {
			t.Errorf("%d bytes: ranges %q, want %q", c.n, got, c.ranges)
		}
		if r.Requests() != int64(1+len(c.ranges)) {
			t.Errorf("Requests() = %d", r.Requests())
		}
	}
	// Parallelism 0 is the default, not none.
	s0 := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsRange(w, r) })
	o0 := vsOpts(-1)
	o0.ChunkSize = 8
	r0, err := remote.NewReaderAt(context.Background(), s0.URL, o0)
	if err != nil {
		t.Fatal(err)
	}
	buf0 := make([]byte, 40)
	if n, err := r0.ReadAt(buf0, 20); n != 40 || err != nil || !bytes.Equal(buf0, vsFile[20:60]) {
		t.Errorf("Parallelism 0: %d, %v", n, err)
	}
	if r0.Requests() != 6 {
		t.Errorf("Parallelism 0: %d requests, want 6", r0.Requests())
	}
	// In parallel, a failing chunk fails the read.
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Range"), "bytes=36-") {
			vsAnswer(w, 404, "")
			return
		}
		vsRange(w, r)
	})
	o := vsOpts(-1)
	o.ChunkSize = 8
	o.Parallelism = 3
	r, err := remote.NewReaderAt(context.Background(), s.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.ReadAt(make([]byte, 40), 20); n != 0 || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failing chunk: %d, %v", n, err)
	}
}

// TestCutBodyResumesAtTheCut: a body cut short is retried for the missing
// bytes only.
func TestCutBodyResumesAtTheCut(t *testing.T) {
	r, s := vsOpen(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == "bytes=20-39" {
			w.Header().Set("Content-Range", "bytes 20-39/100")
			w.Header().Set("Content-Length", "20")
			w.WriteHeader(206)
			w.Write(vsFile[20:27])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		vsRange(w, r)
	})
	// vsOpen's options have no retries: this read fails, saying why.
	buf := make([]byte, 20)
	if _, err := r.ReadAt(buf, 20); err == nil || !strings.Contains(err.Error(), "the response ended after 7 of 20 bytes") {
		t.Fatalf("cut body without retries: %v", err)
	}
	s2 := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") == "bytes=20-39" {
			w.Header().Set("Content-Range", "bytes 20-39/100")
			w.Header().Set("Content-Length", "20")
			w.WriteHeader(206)
			w.Write(vsFile[20:27])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		vsRange(w, r)
	})
	r2, err := remote.NewReaderAt(context.Background(), s2.URL, vsOpts(2))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r2.ReadAt(buf, 20); n != 20 || err != nil || !bytes.Equal(buf, vsFile[20:40]) {
		t.Fatalf("cut body with retries: %d, %v", n, err)
	}
	reqs := s2.requests()
	if len(reqs) != 3 || reqs[2].Get("Range") != "bytes=27-39" {
		t.Errorf("ranges %v", reqs)
	}
	_ = s
	// A first response cut short is retried too.
	s3 := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			w.Header().Set("Content-Range", "bytes 0-9/100")
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(206)
			w.Write(vsFile[:3])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		vsRange(w, r)
	})
	if _, err := remote.NewReaderAt(context.Background(), s3.URL, vsOpts(-1)); err == nil || !strings.Contains(err.Error(), "the response ended after 3 of 10 bytes") {
		t.Errorf("cut first response: %v", err)
	}
	if _, err := remote.NewReaderAt(context.Background(), s3.URL, vsOpts(1)); err != nil {
		t.Errorf("cut first response, retried: %v", err)
	}
	// A whole-file answer cut short is retried.
	s4 := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(200)
		if n == 0 {
			w.Write(vsFile[:4])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		w.Write(vsFile[:10])
	})
	if _, err := remote.NewReaderAt(context.Background(), s4.URL, vsOpts(-1)); err == nil || errors.Is(err, remote.ErrRangeNotSupported) {
		t.Errorf("cut whole file: %v", err)
	}
	if r, err := remote.NewReaderAt(context.Background(), s4.URL, vsOpts(1)); err != nil || r.Size() != 10 {
		t.Errorf("cut whole file, retried: %v", err)
	}
}

// TestDefaultPrefixSizeIsAsked: with PrefixSize 0 the first request asks for
// DefaultPrefixSize bytes.
func TestDefaultPrefixSizeIsAsked(t *testing.T) {
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsRange(w, r) })
	if _, err := remote.NewReaderAt(context.Background(), s.URL, &remote.Options{Retries: -1}); err != nil {
		t.Fatal(err)
	}
	if got, want := s.requests()[0].Get("Range"), fmt.Sprintf("bytes=0-%d", remote.DefaultPrefixSize-1); got != want {
		t.Errorf("Range %q, want %q", got, want)
	}
}

// TestContentRangeMustBeExact: a 206 whose Content-Range is not exactly
// "bytes FIRST-LAST/SIZE" in digits is refused.
func TestContentRangeMustBeExact(t *testing.T) {
	for _, cr := range []string{
		"bytes 0-9", "bytes=0-9/100", "0-9/100", "bytes 0-9/", "bytes 0-9/x", "bytes 0-9/-100", "bytes 0-9/+100",
		"bytes 09/100", "bytes -9/100", "bytes 0-/100", "bytes +0-9/100", "bytes 0-+9/100", "bytes 0-9 /100",
		"bytes 9-0/100", "bytes 0-9/9", "bytes */100", "bytes 0-9/99999999999999999999", "Bytes 0-9/100",
	} {
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, string(vsFile[:10]), "Content-Range", cr)
		})
		if _, err := remote.NewReaderAt(context.Background(), s.URL, vsOpts(-1)); !errors.Is(err, remote.ErrInvalidResponse) {
			t.Errorf("Content-Range %q: %v", cr, err)
		}
	}
}

// TestRedirectHops: followed up to 10 hops; an 11th, a missing Location or a
// non-http one fails at once.
func TestRedirectHops(t *testing.T) {
	var target string
	hops := func(k int) *vsServer {
		return vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
			i, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
			if i < k {
				http.Redirect(w, r, fmt.Sprintf("/%d", i+1), http.StatusFound)
				return
			}
			vsRange(w, r)
		})
	}
	s := hops(10)
	if _, err := remote.NewReaderAt(context.Background(), s.URL+"/0", vsOpts(-1)); err != nil {
		t.Errorf("10 redirects: %v", err)
	}
	s = hops(11)
	if _, err := remote.NewReaderAt(context.Background(), s.URL+"/0", vsOpts(3)); !errors.Is(err, remote.ErrInvalidResponse) || !strings.Contains(err.Error(), "more than 10 redirects") {
		t.Errorf("11 redirects: %v", err)
	}
	if n := len(s.requests()); n != 11 {
		t.Errorf("11 redirects: %d requests, want 11 (no retry)", n)
	}
	for _, loc := range []string{"", "ftp://example.com/x", "http://"} {
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if loc != "" {
				w.Header().Set("Location", loc)
			}
			w.WriteHeader(http.StatusMovedPermanently)
		})
		if _, err := remote.NewReaderAt(context.Background(), s.URL, vsOpts(3)); !errors.Is(err, remote.ErrInvalidResponse) {
			t.Errorf("Location %q: %v", loc, err)
		}
	}
	_ = target
	// Every redirect status is followed.
	for _, code := range []int{301, 302, 303, 307, 308} {
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/a" {
				http.Redirect(w, r, "/b", code)
				return
			}
			vsRange(w, r)
		})
		if _, err := remote.NewReaderAt(context.Background(), s.URL+"/a", vsOpts(-1)); err != nil {
			t.Errorf("%d: %v", code, err)
		}
	}
}

// TestBackoffWaits: without Retry-After, a retry waits at least half the
// backoff, which doubles after each attempt; Backoff 0 means the default.
func TestBackoffWaits(t *testing.T) {
	t.Parallel()
	times := func(o *remote.Options, fails int) []time.Time {
		var mu sync.Mutex
		var at []time.Time
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			if n < fails {
				vsAnswer(w, 503, "")
				return
			}
			vsRange(w, r)
		})
		if _, err := remote.NewReaderAt(context.Background(), s.URL, o); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return at
	}
	at := times(&remote.Options{PrefixSize: 10, Retries: 2, Backoff: 300 * time.Millisecond, MaxBackoff: 10 * time.Second}, 2)
	if len(at) != 3 {
		t.Fatalf("%d requests", len(at))
	}
	if d := at[1].Sub(at[0]); d < 150*time.Millisecond {
		t.Errorf("first retry after %v, under half the 300ms backoff", d)
	}
	if d := at[2].Sub(at[1]); d < 300*time.Millisecond {
		t.Errorf("second retry after %v, under half the doubled backoff of 600ms", d)
	}
	at = times(&remote.Options{PrefixSize: 10, Retries: 1}, 1)
	if d := at[1].Sub(at[0]); d < remote.DefaultBackoff/2 {
		t.Errorf("with the default backoff, retried after %v", d)
	}
}

// TestMaxBackoffDefault: MaxBackoff 0 means the default of 10 s, which a
// Retry-After of 1 s is under.
func TestMaxBackoffDefault(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var at []time.Time
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		if n == 0 {
			vsAnswer(w, 503, "", "Retry-After", "1")
			return
		}
		vsRange(w, r)
	})
	if _, err := remote.NewReaderAt(context.Background(), s.URL, &remote.Options{PrefixSize: 10, Retries: 1, Backoff: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if d := at[1].Sub(at[0]); d < 900*time.Millisecond {
		t.Errorf("retried after %v; the server asked for 1s", d)
	}
}

// TestIndexRequestIsWhole: the index of a sharded model is fetched without
// a Range or If-Range header.
func TestIndexRequestIsWhole(t *testing.T) {
	index := `{"weight_map":{}}`
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		vsAnswer(w, 200, index, "Content-Type", "application/json")
	})
	m, err := remote.OpenModel(context.Background(), s.URL+"/model.safetensors.index.json", vsOpts(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	for _, h := range []string{"Range", "If-Range"} {
		if v, sent := reqs[0][h]; sent {
			t.Errorf("the index request carried %s: %q", h, v)
		}
	}
}

// TestCredentialsStayOutOfErrors: a URL's password, query and fragment are
// not in error messages; its user name is.
func TestCredentialsStayOutOfErrors(t *testing.T) {
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsAnswer(w, 404, "") })
	u := strings.Replace(s.URL, "http://", "http://alice:hunter2@", 1) + "/f?token=abc#frag"
	_, err := remote.NewReaderAt(context.Background(), u, vsOpts(-1))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v", err)
	}
	msg := err.Error()
	for _, secret := range []string{"hunter2", "token", "abc", "frag"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q shows %q", msg, secret)
		}
	}
	if want := "remote: GET " + strings.Replace(s.URL, "http://", "http://alice@", 1) + "/f (bytes=0-9): "; !strings.HasPrefix(msg, want) {
		t.Errorf("error %q does not start with %q", msg, want)
	}
}

// TestStallTimeoutCountsSilence: a body that keeps arriving, however
// slowly, is not a stall; a server that sends no headers at all is one, and
// the retry succeeds.
func TestStallTimeoutCountsSilence(t *testing.T) {
	t.Parallel()
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			vsRange(w, r)
			return
		}
		w.Header().Set("Content-Range", "bytes 20-29/100")
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(206)
		for i := 20; i < 30; i++ { // one byte every 60ms: 600ms in all
			w.Write(vsFile[i : i+1])
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
	})
	o := vsOpts(-1)
	o.StallTimeout = 300 * time.Millisecond
	r, err := remote.NewReaderAt(context.Background(), s.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := r.ReadAt(buf, 20); n != 10 || err != nil || !bytes.Equal(buf, vsFile[20:30]) {
		t.Errorf("a slow, steady body: %d, %v", n, err)
	}

	release := make(chan struct{})
	defer close(release)
	s2 := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			select { // no headers, until the client gives up
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		vsRange(w, r)
	})
	if _, err := remote.NewReaderAt(context.Background(), s2.URL, o); err == nil || !strings.Contains(err.Error(), "no response for 300ms") {
		t.Errorf("silent server, no retries: %v", err)
	}
	o.Retries = 1
	s3 := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		vsRange(w, r)
	})
	if r, err := remote.NewReaderAt(context.Background(), s3.URL, o); err != nil || r.Size() != 100 {
		t.Errorf("silent server, one retry: %v", err)
	}
	// A body that stops: the error says it stalled.
	s4 := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			vsRange(w, r)
			return
		}
		w.Header().Set("Content-Range", "bytes 20-29/100")
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(206)
		w.Write(vsFile[20:23])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	o.Retries = -1
	r4, err := remote.NewReaderAt(context.Background(), s4.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r4.ReadAt(buf, 20); err == nil || !strings.Contains(err.Error(), "the response stalled: no data for 300ms") {
		t.Errorf("a body that stops: %v", err)
	}
}

// TestContextEndsAReadMidBody: a context that ends while a body is being
// read ends the read with the context's error, not a retry's.
func TestContextEndsAReadMidBody(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			vsRange(w, r)
			return
		}
		w.Header().Set("Content-Range", "bytes 20-29/100")
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(206)
		w.Write(vsFile[20:23])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := remote.NewReaderAt(ctx, s.URL, vsOpts(3))
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = r.ReadAt(make([]byte, 10), 20)
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "retry") || strings.Contains(err.Error(), "giving up") {
		t.Errorf("cancelled mid-body: %v", err)
	}
	if n := len(s.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestSameHostOtherNameIsAnotherOrigin: a redirect to the same server under
// another host name (localhost for 127.0.0.1, the same port) is another
// origin: the caller's headers stay behind.
func TestSameHostOtherNameIsAnotherOrigin(t *testing.T) {
	var mu sync.Mutex
	auth := map[string]string{}
	var port string
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth[r.Host+r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "http://localhost:"+port+"/b", http.StatusFound)
			return
		}
		vsRange(w, r)
	})
	_, port, _ = strings.Cut(strings.TrimPrefix(s.URL, "http://"), ":")
	o := vsOpts(-1)
	o.Header = http.Header{"Authorization": {"Bearer secret"}}
	_, err := remote.NewReaderAt(context.Background(), s.URL+"/a", o)
	if err != nil && strings.Contains(err.Error(), "localhost") {
		t.Skip("localhost does not reach the test server here:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := auth["127.0.0.1:"+port+"/a"]; got != "Bearer secret" {
		t.Errorf("the origin got Authorization %q", got)
	}
	if got, ok := auth["localhost:"+port+"/b"]; !ok || got != "" {
		t.Errorf("localhost got Authorization %q (%v)", got, ok)
	}
}

// vsRawServer accepts connections, counts them, writes reply (after the
// request head when readHead is set, else at once) and closes each after a
// moment.
func vsRawServer(t *testing.T, reply string, readHead bool) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if readHead {
					br := bufio.NewReader(c)
					for {
						line, err := br.ReadString('\n')
						if err != nil || line == "\r\n" {
							break
						}
					}
				}
				io.WriteString(c, reply)
				c.SetReadDeadline(time.Now().Add(time.Second))
				io.Copy(io.Discard, c) // until the client closes, or a second
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// TestPermanentNetErrorsAreNotRetried: TLS spoken to a server that does not
// speak it (an HTTP server, or something else), and a response whose header
// lines are not HTTP's, fail at once, on one connection.
func TestPermanentNetErrorsAreNotRetried(t *testing.T) {
	plain := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { vsRange(w, r) }))
	var conns atomic.Int64
	plain.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	plain.Start()
	defer plain.Close()
	o := vsOpts(3)
	_, err := remote.NewReaderAt(context.Background(), strings.Replace(plain.URL, "http://", "https://", 1), o)
	if !errors.Is(err, http.ErrSchemeMismatch) || strings.Contains(err.Error(), "giving up") || conns.Load() != 1 {
		t.Errorf("TLS to an HTTP server: %v, %d connections", err, conns.Load())
	}
	addr, n := vsRawServer(t, "SSH-2.0-OpenSSH_9.6\r\n", false)
	_, err = remote.NewReaderAt(context.Background(), "https://"+addr+"/f", o)
	var rh tls.RecordHeaderError
	if !errors.As(err, &rh) || strings.Contains(err.Error(), "giving up") || n.Load() != 1 {
		t.Errorf("TLS to a server that is not HTTP: %v, %d connections", err, n.Load())
	}
	addr, n = vsRawServer(t, "HTTP/1.1 206 Partial Content\r\nno colon on this line\r\n\r\n", true)
	_, err = remote.NewReaderAt(context.Background(), "http://"+addr+"/f", o)
	var pe textproto.ProtocolError
	if !errors.As(err, &pe) || strings.Contains(err.Error(), "giving up") || n.Load() != 1 {
		t.Errorf("a malformed header line: %v, %d connections", err, n.Load())
	}
}

// TestOneBytePrefix: with a prefix of one byte, the first answer must be
// "bytes 0-0/SIZE" exactly; a last position that is not a number is not 0.
func TestOneBytePrefix(t *testing.T) {
	for _, c := range []struct {
		cr string
		ok bool
	}{
		{"bytes 0-0/100", true},
		{"bytes 0-/100", false},
		{"bytes 0-x/100", false},
		{"bytes 0-0/", false},
		{"bytes -0/100", false},
	} {
		s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) {
			vsAnswer(w, 206, string(vsFile[:1]), "Content-Range", c.cr)
		})
		o := vsOpts(-1)
		o.PrefixSize = 1
		r, err := remote.NewReaderAt(context.Background(), s.URL, o)
		if c.ok {
			if err != nil || r.Size() != 100 {
				t.Errorf("%q: %v", c.cr, err)
			}
			if got := s.requests()[0].Get("Range"); got != "bytes=0-0" {
				t.Errorf("Range %q", got)
			}
			continue
		}
		if !errors.Is(err, remote.ErrInvalidResponse) {
			t.Errorf("%q: %v", c.cr, err)
		}
	}
}
