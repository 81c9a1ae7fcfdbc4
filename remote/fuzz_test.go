package remote_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/safetensors-go/safetensors/remote"
)

// roundTrip is an http.RoundTripper made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answer is one response the fuzzer makes.
type answer struct {
	status       int
	contentRange string
	etag         string
	location     string
	body         []byte
	withLength   bool
}

func (a answer) response(r *http.Request) *http.Response {
	status := 100 + (a.status%500+500)%500
	h := http.Header{}
	for k, v := range map[string]string{"Content-Range": a.contentRange, "ETag": a.etag, "Location": a.location} {
		if v != "" {
			h.Set(k, v)
		}
	}
	length := int64(-1)
	if a.withLength {
		length = int64(len(a.body))
	}
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: length, Request: r,
	}
}

// FuzzResponses: whatever a server answers (status, Content-Range, ETag,
// Location, body, Content-Length), to the first request and to the later
// ones, opening and reading a file returns an error or the right number of
// bytes: never a panic, a hang or an allocation of a claimed size.
func FuzzResponses(f *testing.F) {
	data, _ := standardFile()
	data = data[:2000]
	whole := fmt.Sprintf("bytes 0-63/%d", len(data))
	f.Add(206, whole, `"v1"`, "", data[:64], true, 206, "bytes 64-1999/2000", `"v1"`, data[64:], true)
	f.Add(206, "bytes 0-63/35184372088832", `"v1"`, "", data[:64], false, 206, "bytes 64-99/35184372088832", "", data[64:100], false)
	f.Add(200, "", "", "", data, true, 200, "", "", data, true)
	f.Add(416, "bytes */0", "", "", []byte{}, true, 416, "bytes */0", "", []byte{}, true)
	f.Add(302, "", "", "/x", []byte{}, false, 302, "", "", []byte("ftp://x/"), false)
	f.Add(206, "bytes 0-63/64", `W/"w"`, "", data[:64], false, 206, "bytes 0-0/1", "", data[:1], true)
	f.Fuzz(func(t *testing.T, status1 int, cr1, etag1, loc1 string, body1 []byte, len1 bool,
		status2 int, cr2, etag2 string, body2 []byte, len2 bool) {
		first := answer{status1, cr1, etag1, loc1, body1, len1}
		later := answer{status2, cr2, etag2, loc1, body2, len2}
		var requests atomic.Int64
		client := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			if requests.Add(1) == 1 {
				return first.response(r), nil
			}
			return later.response(r), nil
		})}
		opts := &remote.Options{Client: client, PrefixSize: 64, Retries: -1, MaxHeaderSize: 1 << 16}
		file, err := remote.Open(context.Background(), "http://fuzz.test/m.safetensors", opts)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		defer file.Close()
		for name, info := range file.All() {
			tensor, err := file.GetTensor(name)
			if err != nil {
				if errors.Is(err, context.Canceled) {
					t.Fatalf("GetTensor(%q): %v", name, err)
				}
				continue
			}
			if int64(len(tensor.Data())) != info.Size() {
				t.Fatalf("tensor %q: %d bytes, its header says %d", name, len(tensor.Data()), info.Size())
			}
		}
		if n := requests.Load(); n > 1<<12 {
			t.Fatalf("%d requests", n)
		}
	})
}
