package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strconv"
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

// fast retries for tests: no test waits long, none waits forever.
func fast() *remote.Options {
	return &remote.Options{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Retries: 3, StallTimeout: 5 * time.Second}
}

// standardFile: a small header, then tensors placed around the 100,000-byte
// prefix: "a" inside it, "b" across its end, "c" and "d" after it.
func standardFile() ([]byte, map[string][2]int64) {
	return buildFile(map[string]string{"format": "pt"},
		u8("a", 1, 1000),
		u8("b", 2, 120_000),
		u8("c", 3, 8, 8192),
		u8("d", 4, 300_000),
	)
}

func TestHeaderCostsOneRequest(t *testing.T) {
	data, off := standardFile()
	require.Less(t, off["a"][1], int64(100_000))
	require.Less(t, off["b"][0], int64(100_000))
	require.Greater(t, off["b"][1], int64(100_000))
	s, url := serveOne(t, data)

	f, err := remote.Open(context.Background(), url, fast())
	require.NoError(t, err)
	defer f.Close()
	log := s.since(0)
	require.Len(t, log, 1, "the header fits in the first 100,000 bytes")
	assert.Equal(t, "bytes=0-99999", log[0].rng)
	assert.Equal(t, http.StatusPartialContent, log[0].status)
	assert.Equal(t, int64(100_000), log[0].bytes)
	assert.Equal(t, []string{"a", "b", "c", "d"}, f.Keys())
	assert.Equal(t, map[string]string{"format": "pt"}, f.Metadata())
	assert.Equal(t, int64(len(data)), f.Size())
}

func TestTensorCostsItsBytes(t *testing.T) {
	data, off := standardFile()
	s, url := serveOne(t, data)
	f, err := remote.Open(context.Background(), url, fast())
	require.NoError(t, err)
	defer f.Close()

	// "a" lies in the prefix: no request.
	n := s.count()
	a, err := f.GetTensor("a")
	require.NoError(t, err)
	assert.Equal(t, data[off["a"][0]:off["a"][1]], a.Data())
	assert.Empty(t, s.since(n))

	// "d" lies after it: one request for exactly its bytes.
	n = s.count()
	d, err := f.GetTensor("d")
	require.NoError(t, err)
	assert.Equal(t, data[off["d"][0]:off["d"][1]], d.Data())
	log := s.since(n)
	require.Len(t, log, 1)
	assert.Equal(t, rangeOf(off["d"][0], off["d"][1]), log[0].rng)
	assert.Equal(t, int64(300_000), log[0].bytes)
	assert.Equal(t, `"v1"`, log[0].ifRange, "the strong ETag guards every later request")

	// "b" straddles the prefix's end: only the part after it is fetched.
	n = s.count()
	b, err := f.GetTensor("b")
	require.NoError(t, err)
	assert.Equal(t, data[off["b"][0]:off["b"][1]], b.Data())
	log = s.since(n)
	require.Len(t, log, 1)
	assert.Equal(t, rangeOf(100_000, off["b"][1]), log[0].rng)
	assert.Equal(t, off["b"][1]-100_000, log[0].bytes)
}

func TestLargeHeaderCostsTwoRequests(t *testing.T) {
	meta := map[string]string{"big": strings.Repeat("x", 250_000)}
	data, off := buildFile(meta, u8("w", 5, 4096))
	s, url := serveOne(t, data)
	f, err := remote.Open(context.Background(), url, fast())
	require.NoError(t, err)
	defer f.Close()
	headerEnd := f.DataOffset() // 8 + N
	require.Greater(t, headerEnd, int64(200_000))
	log := s.since(0)
	require.Len(t, log, 2)
	assert.Equal(t, []string{"bytes=0-99999", rangeOf(100_000, headerEnd)}, ranges(log),
		"the second request asks for the rest of the header only")
	assert.Equal(t, headerEnd, totalBytes(log), "no byte fetched twice, none beyond the header")
	assert.Equal(t, meta, f.Metadata())

	w, err := f.GetTensor("w")
	require.NoError(t, err)
	assert.Equal(t, data[off["w"][0]:], w.Data())
	assert.Equal(t, 3, s.count())
}

func TestSliceCostsTheRangesItCovers(t *testing.T) {
	data, off := standardFile()
	s, url := serveOne(t, data)
	f, err := remote.Open(context.Background(), url, fast())
	require.NoError(t, err)
	defer f.Close()
	sl, err := f.GetSlice("c") // U8 [8, 8192], after the prefix
	require.NoError(t, err)
	c0 := off["c"][0]

	// c[2:5, 100:116]: three runs of 16 bytes, 8192 apart, closer than
	// the default MergeGap: one request from the first to the last.
	n := s.count()
	part, err := sl.Get(safetensors.Range(2, 5), safetensors.Range(100, 116))
	require.NoError(t, err)
	var want []byte
	for row := int64(2); row < 5; row++ {
		want = append(want, data[c0+row*8192+100:c0+row*8192+116]...)
	}
	assert.Equal(t, want, part.Data())
	log := s.since(n)
	assert.Equal(t, []string{rangeOf(c0+2*8192+100, c0+4*8192+116)}, ranges(log))
	assert.Equal(t, int64(2*8192+16), totalBytes(log))

	// With a MergeGap below 8192 - 16, one request per run, of its bytes.
	o := fast()
	o.MergeGap = 8192 - 16 - 1
	f2, err := remote.Open(context.Background(), url, o)
	require.NoError(t, err)
	defer f2.Close()
	sl2, err := f2.GetSlice("c")
	require.NoError(t, err)
	n = s.count()
	part, err = sl2.Get(safetensors.Range(2, 5), safetensors.Range(100, 116))
	require.NoError(t, err)
	assert.Equal(t, want, part.Data())
	log = s.since(n)
	var wantRanges []string
	for row := int64(2); row < 5; row++ {
		wantRanges = append(wantRanges, rangeOf(c0+row*8192+100, c0+row*8192+116))
	}
	assert.ElementsMatch(t, wantRanges, ranges(log), "requests in flight at once, in any order")
	assert.Equal(t, int64(48), totalBytes(log))

	// c[6:8]: two whole rows, one contiguous range.
	n = s.count()
	rows, err := sl.Get(safetensors.Range(6, 8))
	require.NoError(t, err)
	assert.Equal(t, data[c0+6*8192:c0+8*8192], rows.Data())
	log = s.since(n)
	assert.Equal(t, []string{rangeOf(c0+6*8192, c0+8*8192)}, ranges(log))
	assert.Equal(t, int64(2*8192), totalBytes(log))
}

func TestLargeReadsAreParallelChunks(t *testing.T) {
	data, off := standardFile()
	s, url := serveOne(t, data)
	opts := fast()
	opts.ChunkSize = 64 << 10
	opts.Parallelism = 3
	f, err := remote.Open(context.Background(), url, opts)
	require.NoError(t, err)
	defer f.Close()

	// Hold every chunk request until a second one is in flight, so that a
	// sequential reader would stall here (and fail after 5 s).
	var inFlight, most atomic.Int32
	both := make(chan struct{})
	var once sync.Once
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		k := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if k <= m || most.CompareAndSwap(m, k) {
				break
			}
		}
		if k >= 2 {
			once.Do(func() { close(both) })
		}
		select {
		case <-both:
		case <-time.After(5 * time.Second):
		}
		return false
	})
	n := s.count()
	d, err := f.GetTensor("d") // 300,000 bytes: 5 chunks
	require.NoError(t, err)
	assert.Equal(t, data[off["d"][0]:off["d"][1]], d.Data())
	log := s.since(n)
	require.Len(t, log, 5)
	covered := map[string]bool{}
	for _, l := range log {
		covered[l.rng] = true
	}
	for k := int64(0); k < 5; k++ {
		lo := off["d"][0] + k*(64<<10)
		hi := min(lo+64<<10, off["d"][1])
		assert.True(t, covered[rangeOf(lo, hi)], "chunk %d", k)
	}
	assert.Equal(t, int64(300_000), totalBytes(log))
	assert.GreaterOrEqual(t, most.Load(), int32(2), "chunks are fetched in parallel")
	assert.LessOrEqual(t, most.Load(), int32(3), "at most Parallelism at once")
}

func TestTransientStatusesAreRetried(t *testing.T) {
	for _, code := range []int{500, 502, 503, 504, 429, 408} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			data, off := standardFile()
			s, url := serveOne(t, data)
			f, err := remote.Open(context.Background(), url, fast())
			require.NoError(t, err)
			defer f.Close()
			start := s.count()
			s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
				if n < start+2 {
					w.Header().Set("Retry-After", "0")
					http.Error(w, "try again", code)
					return true
				}
				return false
			})
			d, err := f.GetTensor("d")
			require.NoError(t, err)
			assert.Equal(t, data[off["d"][0]:off["d"][1]], d.Data())
			want := rangeOf(off["d"][0], off["d"][1])
			assert.Equal(t, []string{want, want, want}, ranges(s.since(start)))
		})
	}
}

func TestRetriesAreBounded(t *testing.T) {
	data, _ := standardFile()
	s, url := serveOne(t, data)
	opts := fast()
	opts.Retries = 2
	f, err := remote.Open(context.Background(), url, opts)
	require.NoError(t, err)
	start := s.count()
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		http.Error(w, "down", http.StatusInternalServerError)
		return true
	})
	_, err = f.GetTensor("d")
	require.Error(t, err)
	var se *remote.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.StatusCode)
	assert.Contains(t, err.Error(), "giving up after 3 attempts")
	assert.Len(t, s.since(start), 3)

	// No retries at all.
	opts.Retries = -1
	_, err = remote.NewReaderAt(context.Background(), url, opts)
	require.Error(t, err)
	assert.Equal(t, start+4, s.count())
}

func TestClientErrorsFailFast(t *testing.T) {
	cases := []struct {
		code int
		is   error
		text string
	}{
		{404, fs.ErrNotExist, "404 Not Found"},
		{410, fs.ErrNotExist, "410 Gone"},
		{401, fs.ErrPermission, "Authorization"},
		{403, fs.ErrPermission, "Authorization"},
		{400, nil, "400 Bad Request"},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.code), func(t *testing.T) {
			s, url := serveOne(t, []byte("unused"))
			s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
				http.Error(w, "no", c.code)
				return true
			})
			_, err := remote.Open(context.Background(), url, fast())
			require.Error(t, err)
			var se *remote.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, c.code, se.StatusCode)
			if c.is != nil {
				assert.ErrorIs(t, err, c.is)
			}
			assert.Contains(t, err.Error(), c.text)
			assert.Equal(t, 1, s.count(), "4xx is not retried")
		})
	}
}

func TestHeadersAndAuth(t *testing.T) {
	data, _ := standardFile()
	s, url := serveOne(t, data)
	opts := fast()
	opts.Header = http.Header{"Authorization": {"Bearer hf_secret"}}
	f, err := remote.Open(context.Background(), url+"?download=true&token=secret2", opts)
	require.NoError(t, err)
	_, err = f.GetTensor("d")
	require.NoError(t, err)
	for _, l := range s.requests() {
		assert.Equal(t, "Bearer hf_secret", l.auth)
		assert.Equal(t, "download=true&token=secret2", l.query)
	}
	// Errors name the URL without its query, which may hold credentials.
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		http.Error(w, "gone", http.StatusNotFound)
		return true
	})
	_, err = f.GetTensor("c")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/model.safetensors")
	assert.NotContains(t, err.Error(), "secret")
}

// cut answers a request with the headers of the whole range and only the
// first half of its body, then drops the connection: with a reset (RST)
// when reset is set, else a plain close.
func cut(t *testing.T, w http.ResponseWriter, r *http.Request, fl file, reset bool) {
	var first, last int64
	_, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last)
	require.NoError(t, err)
	conn, buf, err := http.NewResponseController(w).Hijack()
	require.NoError(t, err)
	defer conn.Close()
	body := fl.data[first : last+1]
	fmt.Fprintf(buf, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\nETag: %s\r\nLast-Modified: %s\r\n\r\n",
		first, last, len(fl.data), len(body), fl.etag, fl.modtime.UTC().Format(http.TimeFormat))
	buf.Write(body[:len(body)/2])
	buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		tc.SetLinger(0) // close with RST
	}
}

func TestCutBodiesResume(t *testing.T) {
	for _, reset := range []bool{true, false} {
		t.Run(fmt.Sprint("reset=", reset), func(t *testing.T) {
			data, off := standardFile()
			s, url := serveOne(t, data)
			f, err := remote.Open(context.Background(), url, fast())
			require.NoError(t, err)
			start := s.count()
			s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
				if n == start {
					cut(t, w, r, fl, reset)
					return true
				}
				return false
			})
			d, err := f.GetTensor("d")
			require.NoError(t, err)
			assert.Equal(t, data[off["d"][0]:off["d"][1]], d.Data())
			log := s.since(start)
			require.Len(t, log, 2)
			assert.Equal(t, rangeOf(off["d"][0], off["d"][1]), log[0].rng)
			// The retry asks only for the missing bytes: after the half that
			// was sent, or, after a reset, after what arrived before it
			// (a reset may discard bytes the client had not read yet).
			half := int64(300_000 / 2)
			if !reset {
				assert.Equal(t, rangeOf(off["d"][0]+half, off["d"][1]), log[1].rng)
			} else {
				var from, to int64
				_, err := fmt.Sscanf(log[1].rng, "bytes=%d-%d", &from, &to)
				require.NoError(t, err)
				assert.Equal(t, off["d"][1]-1, to)
				assert.LessOrEqual(t, from, off["d"][0]+half)
				assert.Equal(t, off["d"][1]-from, log[1].bytes)
			}
		})
	}
}

func TestCutFirstRequest(t *testing.T) {
	data, _ := standardFile()
	s, url := serveOne(t, data)
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		if n == 0 {
			cut(t, w, r, fl, true)
			return true
		}
		return false
	})
	f, err := remote.Open(context.Background(), url, fast())
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c", "d"}, f.Keys())
	assert.Equal(t, []string{"bytes=0-99999", "bytes=0-99999"}, ranges(s.requests()))
}

func TestStalledResponseIsRetried(t *testing.T) {
	data, off := standardFile()
	s, url := serveOne(t, data)
	opts := fast()
	opts.StallTimeout = 200 * time.Millisecond
	f, err := remote.Open(context.Background(), url, opts)
	require.NoError(t, err)
	start := s.count()
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		if n != start {
			return false
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off["d"][0], off["d"][1]-1, len(fl.data)))
		w.Header().Set("Content-Length", "300000")
		setValidators(w, fl)
		w.WriteHeader(http.StatusPartialContent)
		w.Write(fl.data[off["d"][0] : off["d"][0]+1000])
		http.NewResponseController(w).Flush()
		select { // then nothing, until the client gives up
		case <-r.Context().Done():
		case <-time.After(120 * time.Second):
		}
		return true
	})
	began := time.Now()
	d, err := f.GetTensor("d")
	require.NoError(t, err)
	assert.Equal(t, data[off["d"][0]:off["d"][1]], d.Data())
	// Far less than the server's two minutes: the stall was noticed (a
	// generous bound, for a loaded machine).
	assert.Less(t, time.Since(began), 60*time.Second)
	assert.Equal(t, []string{rangeOf(off["d"][0], off["d"][1]), rangeOf(off["d"][0]+1000, off["d"][1])}, ranges(s.since(start)))
}

func TestContextCancels(t *testing.T) {
	data, _ := standardFile()
	s, url := serveOne(t, data)
	ctx, cancel := context.WithCancel(context.Background())
	f, err := remote.Open(ctx, url, fast())
	require.NoError(t, err)
	release := make(chan struct{})
	defer close(release)
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = f.GetTensor("d")
	assert.ErrorIs(t, err, context.Canceled)

	// A server that keeps failing: the wait between retries ends with ctx.
	s2, url2 := serveOne(t, data)
	s2.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	began := time.Now()
	_, err = remote.Open(ctx2, url2, &remote.Options{Backoff: time.Hour, MaxBackoff: time.Hour})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(began), 60*time.Second, "the hour-long backoff ended with the context")
	assert.Equal(t, 1, s2.count())
}

func TestChangedFile(t *testing.T) {
	data, off := standardFile()
	changed := bytes.Clone(data)
	for i := off["c"][0]; i < off["d"][1]; i++ {
		changed[i] ^= 0xff
	}
	grown := append(bytes.Clone(data), 0)
	t1, t2 := time.Unix(1700000000, 0), time.Unix(1700000600, 0)
	cases := map[string]struct {
		before, after file
		ignoreIfRange bool
	}{
		"new ETag":                           {file{data, `"v1"`, t1, 0}, file{changed, `"v2"`, t1, 0}, false},
		"new ETag, server ignores If-Range":  {file{data, `"v1"`, t1, 0}, file{changed, `"v2"`, t1, 0}, true},
		"weak ETag":                          {file{data, `W/"v1"`, time.Time{}, 0}, file{changed, `W/"v2"`, time.Time{}, 0}, false},
		"new Last-Modified, no ETag":         {file{data, "", t1, 0}, file{changed, "", t2, 0}, false},
		"Last-Modified, ignores If-Range":    {file{data, "", t1, 0}, file{changed, "", t2, 0}, true},
		"new size, no validators at all":     {file{data, "", time.Time{}, 0}, file{grown, "", time.Time{}, 0}, false},
		"new size, same ETag (a broken CDN)": {file{data, `"v1"`, t1, 0}, file{grown, `"v1"`, t1, 0}, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, map[string]file{"/m.safetensors": c.before})
			f, err := remote.Open(context.Background(), s.URL+"/m.safetensors", fast())
			require.NoError(t, err)
			s.setFile("/m.safetensors", c.after)
			if c.ignoreIfRange {
				s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
					r.Header.Del("If-Range")
					serveFile(w, r, fl)
					return true
				})
			}
			start := s.count()
			tensor, err := f.GetTensor("d")
			require.Error(t, err, "got %d bytes", len(tensor.Data()))
			assert.ErrorIs(t, err, remote.ErrChanged)
			assert.Contains(t, err.Error(), "changed")
			log := s.since(start)
			assert.Len(t, log, 1, "not retried")
		})
	}
}

func TestChangedFileBodyIsNotRead(t *testing.T) {
	// A changed file answered with 200 and the whole new file: the client
	// stops reading at once.
	big := bigFile(1 << 30)
	s := newServer(t, map[string]file{"/m.safetensors": big})
	f, err := remote.Open(context.Background(), s.URL+"/m.safetensors", fast())
	require.NoError(t, err)
	big.etag = `"v2"`
	s.setFile("/m.safetensors", big)
	start := s.count()
	tr, err := f.TensorReader("w")
	require.NoError(t, err)
	_, err = tr.ReadAt(make([]byte, 1<<20), 1<<29) // 1 MiB from the middle
	assert.ErrorIs(t, err, remote.ErrChanged)
	log := s.since(start)
	require.Len(t, log, 1)
	assert.Equal(t, http.StatusOK, log[0].status)
	assert.Less(t, totalBytes(log), int64(256<<20), "the body of 1 GiB was not downloaded")
}

// bigFile is a file of one U8 tensor "w" of n zero bytes, with a strong
// ETag, that costs no memory.
func bigFile(n int64) file {
	h := fmt.Sprintf(`{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, n, n)
	for len(h)%8 != 0 {
		h += " "
	}
	data := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	data = append(data, h...)
	return file{data: data, etag: `"v1"`, size: int64(len(data)) + n}
}

// noRanges serves every request with the whole file and status 200,
// with a Content-Length unless chunked is set.
func noRanges(chunked bool) func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
	return func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		rs, size := fl.content()
		if !chunked {
			w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		}
		w.WriteHeader(http.StatusOK)
		io.Copy(w, rs)
		return true
	}
}

func TestServerWithoutRanges(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			s := newServer(t, map[string]file{"/m.safetensors": bigFile(1 << 30)})
			s.setHook(noRanges(chunked))
			_, err := remote.Open(context.Background(), s.URL+"/m.safetensors", fast())
			assert.ErrorIs(t, err, remote.ErrRangeNotSupported)
			log := s.since(0)
			require.Len(t, log, 1, "not retried")
			assert.Less(t, log[0].bytes, int64(256<<20), "the body of 1 GiB was not downloaded")
		})
	}

	// A file no larger than the prefix asked for is all there is to read:
	// it is accepted whole, and no other request is made.
	small, off := buildFile(nil, u8("x", 9, 5000))
	s, url := serveOne(t, small)
	s.setHook(noRanges(false))
	f, err := remote.Open(context.Background(), url, fast())
	require.NoError(t, err)
	x, err := f.GetTensor("x")
	require.NoError(t, err)
	assert.Equal(t, small[off["x"][0]:], x.Data())
	assert.Equal(t, 1, s.count())
}

func TestServerDropsRangesLater(t *testing.T) {
	// The first answer was partial, a later one is the whole file without
	// If-Range in play (no validators): refused, unread.
	data, _ := standardFile()
	s := newServer(t, map[string]file{"/m.safetensors": {data: data}})
	f, err := remote.Open(context.Background(), s.URL+"/m.safetensors", fast())
	require.NoError(t, err)
	s.setHook(noRanges(false))
	_, err = f.GetTensor("d")
	assert.ErrorIs(t, err, remote.ErrRangeNotSupported)
}

func TestInvalidResponses(t *testing.T) {
	data, off := standardFile()
	d0, d1 := off["c"][0], off["c"][1] // "c" is followed by "d": a shifted range stays in the file
	cases := map[string]func(w http.ResponseWriter, fl file){
		"shifted Content-Range": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", d0+1, d1, len(fl.data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0+1 : d1+1])
		},
		"shorter Content-Range": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", d0, d1-2, len(fl.data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0 : d1-1])
		},
		"no Content-Range": func(w http.ResponseWriter, fl file) {
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0:d1])
		},
		"garbled Content-Range": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes=%d-%d/%d", d0, d1-1, len(fl.data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0:d1])
		},
		"multipart": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Type", "multipart/byteranges; boundary=x")
			w.WriteHeader(http.StatusPartialContent)
			w.Write([]byte("--x\r\n\r\n--x--\r\n"))
		},
		"gzip": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", d0, d1-1, len(fl.data)))
			w.Header().Set("Content-Encoding", "gzip")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0:d1])
		},
		"longer body, no Content-Length": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", d0, d1-1, len(fl.data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0:d1])
			w.Write([]byte("more"))
		},
		"wrong Content-Length": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", d0, d1-1, len(fl.data)))
			w.Header().Set("Content-Length", strconv.FormatInt(d1-d0+4, 10))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0 : d1+4])
		},
		"size not stated": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/*", d0, d1-1))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[d0:d1])
		},
		"416 for a range inside the file": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(fl.data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			s, url := serveOne(t, data)
			f, err := remote.Open(context.Background(), url, fast())
			require.NoError(t, err)
			start := s.count()
			s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
				setValidators(w, fl)
				answer(w, fl)
				return true
			})
			_, err = f.GetTensor("c")
			require.Error(t, err)
			assert.ErrorIs(t, err, remote.ErrInvalidResponse)
			assert.Len(t, s.since(start), 1, "not retried")
		})
	}
}

func TestInvalidFirstResponses(t *testing.T) {
	data, _ := standardFile()
	cases := map[string]func(w http.ResponseWriter, fl file){
		"wrong start": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 8-99999/%d", len(fl.data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[8:100_000])
		},
		"unknown size": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", "bytes 0-99999/*")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(fl.data[:100_000])
		},
		"416 for a file that is not empty": func(w http.ResponseWriter, fl file) {
			w.Header().Set("Content-Range", "bytes */5")
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		},
	}
	for name, answer := range cases {
		t.Run(name, func(t *testing.T) {
			s, url := serveOne(t, data)
			s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
				answer(w, fl)
				return true
			})
			_, err := remote.Open(context.Background(), url, fast())
			assert.ErrorIs(t, err, remote.ErrInvalidResponse)
			assert.Equal(t, 1, s.count())
		})
	}
}

func TestBadFilesOverHTTP(t *testing.T) {
	cases := map[string]struct {
		data []byte
		want error
	}{
		"empty":          {nil, safetensors.ErrHeaderTooSmall},
		"short":          {[]byte{1, 2, 3}, safetensors.ErrHeaderTooSmall},
		"header too big": {append([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, make([]byte, 100)...), safetensors.ErrHeaderTooLarge},
		"bad JSON":       {append([]byte{4, 0, 0, 0, 0, 0, 0, 0}, "{x}}"...), safetensors.ErrInvalidHeader},
		"trailing bytes": {append(stFileOf(u8("x", 1, 10)), 0), safetensors.ErrIncompleteBuffer},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s, url := serveOne(t, c.data)
			_, err := remote.Open(context.Background(), url, fast())
			assert.ErrorIs(t, err, c.want)
			assert.Equal(t, 1, s.count())
		})
	}
}

func TestReaderAt(t *testing.T) {
	data, _ := standardFile()
	s, url := serveOne(t, data)
	r, err := remote.NewReaderAt(context.Background(), url, fast())
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), r.Size())
	assert.Equal(t, url, r.URL())

	size := int64(len(data))
	buf := make([]byte, 100)
	n, err := r.ReadAt(buf, size-40)
	assert.Equal(t, 40, n)
	assert.Equal(t, io.EOF, err, "a read past the end is short, with io.EOF")
	assert.Equal(t, data[size-40:], buf[:40])
	n, err = r.ReadAt(buf, size)
	assert.Equal(t, 0, n)
	assert.Equal(t, io.EOF, err)
	n, err = r.ReadAt(buf[:0], 5)
	assert.Equal(t, 0, n)
	assert.NoError(t, err)
	_, err = r.ReadAt(buf, -1)
	assert.Error(t, err)
	assert.Equal(t, int64(2), r.Requests())
	assert.Equal(t, 2, s.count())

	// Many concurrent readers of random ranges get the right bytes.
	opts := fast()
	opts.ChunkSize = 10_000
	r, err = remote.NewReaderAt(context.Background(), url, opts)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := uint64(g + 1)
			for range 10 {
				x = x*6364136223846793005 + 1442695040888963407
				off := int64(x>>33) % size
				n := int64(x>>13)%50_000 + 1
				p := make([]byte, min(n, size-off))
				_, err := r.ReadAt(p, off)
				if assert.NoError(t, err) {
					assert.True(t, bytes.Equal(data[off:off+int64(len(p))], p))
				}
			}
		}()
	}
	wg.Wait()
}

func TestUnreachableServer(t *testing.T) {
	// A port nobody listens on: connection refused, retried, then an error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	opts := fast()
	opts.Retries = 1
	_, err = remote.Open(context.Background(), "http://"+addr+"/m.safetensors", opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "giving up after 2 attempts")
}

// Check that the hijacking helper really cuts: a plain client sees a short
// body.
func TestCutHelper(t *testing.T) {
	data, _ := standardFile()
	s, url := serveOne(t, data)
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		cut(t, w, r, fl, false)
		return true
	})
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=0-999")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(bufio.NewReader(resp.Body))
	assert.Len(t, b, 500)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_ = errors.New
}

// stFileOf builds a file of the given tensors, without metadata.
func stFileOf(tensors ...tensor) []byte {
	b, _ := buildFile(nil, tensors...)
	return b
}

func TestRedirects(t *testing.T) {
	// The Hugging Face Hub answers .../resolve/main/FILE with a redirect to
	// its CDN; the range and validators must survive it.
	data, off := standardFile()
	s := newServer(t, map[string]file{"/blob/abc": {data: data, etag: `"abc"`}})
	s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
		if r.URL.Path == "/resolve/main/model.safetensors" {
			http.Redirect(w, r, "/blob/abc", http.StatusFound)
			return true
		}
		return false
	})
	f, err := remote.Open(context.Background(), s.URL+"/resolve/main/model.safetensors", fast())
	require.NoError(t, err)
	d, err := f.GetTensor("d")
	require.NoError(t, err)
	assert.Equal(t, data[off["d"][0]:off["d"][1]], d.Data())
	log := s.since(0)
	require.Len(t, log, 4, "two ranges, each redirected once")
	assert.Equal(t, []string{"/resolve/main/model.safetensors", "/blob/abc", "/resolve/main/model.safetensors", "/blob/abc"}, paths(log))
	assert.Equal(t, "bytes=0-99999", log[1].rng)
	assert.Equal(t, rangeOf(off["d"][0], off["d"][1]), log[3].rng)
	assert.Equal(t, `"abc"`, log[3].ifRange)
	assert.Equal(t, http.StatusPartialContent, log[3].status)
}
