package remote_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors/remote"
)

// slowWriter writes at most rate bytes a second, in pieces of 64 KiB, as
// one connection of a slow link would.
type slowWriter struct {
	http.ResponseWriter
	rate float64
}

func (s slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		time.Sleep(time.Duration(float64(k) / s.rate * float64(time.Second)))
		w, err := s.ResponseWriter.Write(p[:k])
		n += w
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// BenchmarkFetch reads a 32 MiB tensor over loopback HTTP: with one plain
// GET of the same bytes as the yardstick, then through a remote File with
// one request, and with the read split into chunks fetched one or four at
// a time; on the raw loopback, and on a simulated slow link (10 ms before
// each response, 100 MB/s per connection). Compare the MB/s of the lines
// of one run.
//
//	go test -run '^$' -bench Fetch -benchtime 10x -count 1 ./remote
func BenchmarkFetch(b *testing.B) {
	const n = 32 << 20
	data, off := buildFile(nil, u8("w", 1, n))
	for _, link := range []struct {
		name string
		slow bool
	}{{"loopback", false}, {"slow link", true}} {
		s, url := serveOne(b, data)
		if link.slow {
			s.setHook(func(_ int, w http.ResponseWriter, r *http.Request, f file) bool {
				time.Sleep(10 * time.Millisecond)
				serveFile(slowWriter{w, 100e6}, r, f)
				return true
			})
		}
		buf := make([]byte, n)
		b.Run(link.name+"/plain GET", func(b *testing.B) {
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Range", rangeOf(off["w"][0], off["w"][1]))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(resp.Body, buf); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
			}
		})
		for _, c := range []struct {
			name        string
			chunk       int64
			parallelism int
		}{
			{"one request", n, 1},
			{"8 MiB chunks, 1 at a time", 8 << 20, 1},
			{"8 MiB chunks, 4 at a time (the defaults)", 0, 0},
		} {
			b.Run(link.name+"/"+c.name, func(b *testing.B) {
				f, err := remote.Open(context.Background(), url, &remote.Options{ChunkSize: c.chunk, Parallelism: c.parallelism})
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(n)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := f.ReadInto("w", buf); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
