package safetensors_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// benchModelSizes are the tensor sizes of a model shaped like a 7B one,
// scaled down: per layer four square projections, three wider MLP ones and
// two small norms, plus an embedding of its own size.
func benchModelSizes(layers, width int) []int {
	sizes := []int{width * 8 * width} // embedding
	for range layers {
		sizes = append(sizes, width*width, width*width, width*width, width*width,
			width*3*width, width*3*width, width*3*width, width, width)
	}
	return sizes
}

// BenchmarkModelReadAll reads every tensor of a 256 MiB file in the page
// cache (F32-sized tensors shaped as a 7B model's, 8 layers) in several
// ways; divide each row's speed by pread_fresh's, one read of the whole
// data buffer into new memory, which pays the same first touch of fresh
// pages that any loader allocating its destination pays, or compare the
// _into rows, which reuse one pre-touched buffer, with pread_touched.
func BenchmarkModelReadAll(b *testing.B) {
	if testing.Short() {
		b.Skip("256 MiB benchmark")
	}
	sizes := benchModelSizes(8, 512)
	want := randomTensors(9, sizes...)
	path := filepath.Join(b.TempDir(), "model.safetensors")
	if err := safetensors.SaveFile(path, want, nil); err != nil {
		b.Fatal(err)
	}
	want = nil
	f, err := safetensors.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	total := f.Size() - f.DataOffset()
	m := safetensors.NewFileModel(f, "model.safetensors")
	osf, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer osf.Close()
	touched := make([]byte, total)
	for i := range touched {
		touched[i] = 1
	}
	ctx := context.Background()

	b.Run("pread_touched", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			if _, err := osf.ReadAt(touched, f.DataOffset()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pread_fresh", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			if _, err := osf.ReadAt(make([]byte, total), f.DataOffset()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("serial_ReadInto_touched", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			for name, info := range f.All() {
				if _, err := f.ReadInto(name, touched[info.DataOffsets[0]:]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	r, err := safetensors.NewReader(osf, f.Size())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial_GetTensor", func(b *testing.B) {
		// NewReader over the *os.File: one pread into a new buffer per tensor.
		b.SetBytes(total)
		for b.Loop() {
			for name := range r.All() {
				if _, err := r.GetTensor(name); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	for _, c := range []int{1, 2, 4, 16} {
		b.Run(fmt.Sprintf("ReadAllInto_touched_c%d", c), func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				_, err := m.ReadAllInto(ctx, func(_ string, info safetensors.TensorInfo) ([]byte, error) {
					return touched[info.DataOffsets[0]:info.DataOffsets[1]], nil
				}, &safetensors.ReadAllOptions{Concurrency: c})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, c := range []int{1, 2, 4, 16} {
		b.Run(fmt.Sprintf("ReadAll_c%d", c), func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				if _, err := m.ReadAll(ctx, &safetensors.ReadAllOptions{Concurrency: c}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkModelReadAllHTTP reads a 58 MiB model (16 layers of 256-wide
// F32-sized tensors, 145 tensors) through the remote package from a
// loopback server that waits 5 ms before answering each request, as a
// nearby object store or CDN would: serially with GetTensor (one request
// per tensor, or more for those larger than remote's chunks), and with
// ReadAll at several concurrencies and chunk sizes. The 100MBps rows
// also pace each response at 100 MB/s, as one connection to an object
// store runs, which loopback does not.
func BenchmarkModelReadAllHTTP(b *testing.B) {
	sizes := benchModelSizes(16, 256)
	for i := range sizes {
		sizes[i] *= 4
	}
	want := randomTensors(10, sizes...)
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, want, nil); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	for _, rate := range []int64{0, 100e6} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(5 * time.Millisecond)
			if rate > 0 {
				w = &pacedWriter{ResponseWriter: w, rate: rate, start: time.Now()}
			}
			http.ServeContent(w, r, "model.safetensors", time.Time{}, bytes.NewReader(data))
		}))
		ctx := context.Background()
		m, err := remote.OpenModel(ctx, srv.URL+"/model.safetensors", nil)
		if err != nil {
			b.Fatal(err)
		}
		f, _ := m.Shard("model.safetensors")
		total := f.Size() - f.DataOffset()
		prefix := "5ms"
		if rate > 0 {
			prefix = "5ms_100MBps"
		}
		b.Run(prefix+"_serial_GetTensor", func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				for _, name := range m.Keys() {
					if _, err := m.GetTensor(name); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run(prefix+"_ReadAll_default", func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				if _, err := m.ReadAll(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Unthrottled, chunk sizes at several concurrencies; throttled,
		// concurrency with chunks small enough (2 MiB, 29 of them) that
		// the model has more chunks than readers.
		cs, chunks := []int{1, 4, 8, 32}, []int{1 << 20, 8 << 20}
		if rate > 0 {
			cs, chunks = []int{1, 4, 8, 16, 32}, []int{2 << 20}
		}
		for _, c := range cs {
			for _, chunk := range chunks {
				b.Run(fmt.Sprintf("%s_ReadAll_c%d_chunk%dMiB", prefix, c, chunk>>20), func(b *testing.B) {
					b.SetBytes(total)
					for b.Loop() {
						if _, err := m.ReadAll(ctx, &safetensors.ReadAllOptions{Concurrency: c, ChunkSize: chunk}); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
		m.Close()
		srv.Close()
	}
}

// pacedWriter writes a response no faster than rate bytes per second.
type pacedWriter struct {
	http.ResponseWriter
	rate  int64
	start time.Time
	n     int64
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		n, err := w.ResponseWriter.Write(p[:k])
		written += n
		w.n += int64(n)
		if err != nil {
			return written, err
		}
		p = p[k:]
		if due := w.start.Add(time.Duration(w.n * int64(time.Second) / w.rate)); time.Until(due) > 0 {
			time.Sleep(time.Until(due))
		}
	}
	return written, nil
}
