package safetensors_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// header1000 returns a file of 1,000 small F32 tensors with names like a
// 7B model's, as the reference writer lays it out.
func header1000() []byte {
	var sb strings.Builder
	sb.WriteString(`{"__metadata__":{"format":"pt"}`)
	off := 0
	for i := range 1000 {
		name := fmt.Sprintf("model.layers.%d.self_attn.%s_proj.weight", i/8, []string{"q", "k", "v", "o", "gate", "up", "down", "norm"}[i%8])
		fmt.Fprintf(&sb, `,"%s":{"dtype":"F32","shape":[4,4],"data_offsets":[%d,%d]}`, name, off, off+64)
		off += 64
	}
	sb.WriteString("}")
	for sb.Len()%8 != 0 {
		sb.WriteByte(' ')
	}
	return build(sb.String(), make([]byte, off))
}

// BenchmarkOpen1000 measures open plus full validation of a header of
// 1,000 tensors (about 75 KB) through each backend.
func BenchmarkOpen1000(b *testing.B) {
	file := header1000()
	path := filepath.Join(b.TempDir(), "h.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			if _, err := safetensors.Load(file); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("NewReader", func(b *testing.B) {
		b.ReportAllocs()
		osf, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer osf.Close()
		for b.Loop() {
			if _, err := safetensors.NewReader(osf, int64(len(file))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := safetensors.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// BenchmarkParseHeader compares our scanner with encoding/json reading the
// same 1,000-tensor header, which does less: no duplicate, surrogate, depth
// or offset checks.
func BenchmarkParseHeader(b *testing.B) {
	file := header1000()
	n := int(file[0]) | int(file[1])<<8 | int(file[2])<<16
	hdr := file[8 : 8+n]
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(hdr)))
		for b.Loop() {
			if _, err := safetensors.Load(file); err != nil {
				b.Fatal(err)
			}
		}
	})
	type entry struct {
		DType       string    `json:"dtype"`
		Shape       []uint64  `json:"shape"`
		DataOffsets [2]uint64 `json:"data_offsets"`
	}
	b.Run("encoding_json_Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(hdr)))
		for b.Loop() {
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(hdr, &raw); err != nil {
				b.Fatal(err)
			}
			for k, v := range raw {
				if k == "__metadata__" {
					var m map[string]string
					if err := json.Unmarshal(v, &m); err != nil {
						b.Fatal(err)
					}
					continue
				}
				var e entry
				if err := json.Unmarshal(v, &e); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("encoding_json_Token", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(hdr)))
		for b.Loop() {
			dec := json.NewDecoder(strings.NewReader(string(hdr)))
			dec.UseNumber()
			for {
				if _, err := dec.Token(); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkGetTensor measures looking up a tensor and making its Tensor.
func BenchmarkGetTensor(b *testing.B) {
	file := header1000()
	path := filepath.Join(b.TempDir(), "h.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		b.Fatal(err)
	}
	name := "model.layers.60.self_attn.q_proj.weight"
	mapped, err := safetensors.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer mapped.Close()
	loaded, _ := safetensors.Load(file)
	osf, _ := os.Open(path)
	defer osf.Close()
	reader, _ := safetensors.NewReader(osf, int64(len(file)))
	for backend, f := range map[string]*safetensors.File{"Open": mapped, "Load": loaded, "NewReader": reader} {
		b.Run(backend, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.GetTensor(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bigFile is a 1 GiB file of 201 F32 tensors (200 of 5 MiB and one of the
// remainder), made once per process in a temporary folder.
var bigFile = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "safetensors-bench-")
	if err != nil {
		return "", err
	}
	const total = 1 << 30
	const each = 5 << 20
	var sb strings.Builder
	sb.WriteString("{")
	off := 0
	for i := 0; off < total; i++ {
		n := min(each, total-off)
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"layer.%03d.weight":{"dtype":"F32","shape":[%d],"data_offsets":[%d,%d]}`, i, n/4, off, off+n)
		off += n
	}
	sb.WriteString("}")
	for sb.Len()%8 != 0 {
		sb.WriteByte(' ')
	}
	path := filepath.Join(dir, "big.safetensors")
	osf, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer osf.Close()
	if _, err := osf.Write(build(sb.String(), nil)); err != nil {
		return "", err
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for range total / len(chunk) {
		if _, err := osf.Write(chunk); err != nil {
			return "", err
		}
	}
	return path, osf.Close()
})

func TestMain(m *testing.M) {
	code := m.Run()
	if path, err := bigFile(); err == nil && path != "" && strings.Contains(path, "safetensors-bench-") {
		os.RemoveAll(filepath.Dir(path))
	}
	os.Exit(code)
}

// BenchmarkReadAll reads every tensor of a 1 GiB file, 201 tensors, through
// each backend, next to copy() of the same number of bytes between
// pre-touched buffers in the same run. The file is in the page cache.
//
//   - Open_view: GetTensor (a view) and touch one byte per 4 KiB page,
//     which is what makes the kernel map every page; nothing is copied.
//   - Open_ReadInto, Load_ReadInto, NewReader_ReadInto: the tensor's bytes
//     copied into one reused, pre-touched 1 GiB buffer.
//   - NewReader_GetTensor: each tensor read into a fresh buffer, which pays
//     the first touch of new memory.
func BenchmarkReadAll(b *testing.B) {
	if testing.Short() {
		b.Skip("1 GiB benchmark")
	}
	path, err := bigFile()
	if err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	size := st.Size()
	dst := make([]byte, 1<<30)
	for i := range dst {
		dst[i] = 1
	}
	var sink byte
	b.Run("copy", func(b *testing.B) {
		src := make([]byte, 1<<30)
		for i := range src {
			src[i] = 2
		}
		b.SetBytes(1 << 30)
		for b.Loop() {
			copy(dst, src)
		}
	})
	each := func(b *testing.B, open func() *safetensors.File, read func(f *safetensors.File, name string, off int)) {
		b.SetBytes(1 << 30)
		b.ReportAllocs()
		for b.Loop() {
			f := open()
			off := 0
			for name, info := range f.All() {
				read(f, name, off)
				off += int(info.Size())
			}
			f.Close()
		}
	}
	openMapped := func() *safetensors.File {
		f, err := safetensors.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	readInto := func(f *safetensors.File, name string, off int) {
		if _, err := f.ReadInto(name, dst[off:]); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Open_view", func(b *testing.B) {
		each(b, openMapped, func(f *safetensors.File, name string, _ int) {
			t, err := f.GetTensor(name)
			if err != nil {
				b.Fatal(err)
			}
			data := t.Data()
			for i := 0; i < len(data); i += 4096 {
				sink += data[i]
			}
		})
	})
	b.Run("Open_ReadInto", func(b *testing.B) { each(b, openMapped, readInto) })
	whole, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Load_ReadInto", func(b *testing.B) {
		each(b, func() *safetensors.File {
			f, err := safetensors.Load(whole)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}, readInto)
	})
	whole = nil
	osf, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer osf.Close()
	openReader := func() *safetensors.File {
		f, err := safetensors.NewReader(osf, size)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	b.Run("NewReader_ReadInto", func(b *testing.B) { each(b, openReader, readInto) })
	b.Run("NewReader_GetTensor", func(b *testing.B) {
		each(b, openReader, func(f *safetensors.File, name string, _ int) {
			t, err := f.GetTensor(name)
			if err != nil {
				b.Fatal(err)
			}
			sink += t.Data()[0]
		})
	})
	b.Run("pread_baseline", func(b *testing.B) {
		// One positional read of the whole data buffer: the page-cache speed.
		b.SetBytes(1 << 30)
		for b.Loop() {
			if _, err := osf.ReadAt(dst, size-(1<<30)); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = sink
}
