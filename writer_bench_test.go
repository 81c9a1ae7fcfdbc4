package safetensors

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchFile returns n tensors of about total/n bytes each, as views of one
// buffer that holds the file Save makes of them, and that file's bytes: the
// same bytes that the baselines write in one call.
func benchFile(b *testing.B, n, total int) (map[string]Tensor, []byte) {
	b.Helper()
	elems := total / n / 4
	data := make([]byte, n*elems*4)
	for i := 0; i < len(data); i += 4096 {
		data[i] = byte(i >> 12)
	}
	tensors := make(map[string]Tensor, n)
	for i := range n {
		tensors[fmt.Sprintf("model.layers.%d.weight", i)] = Tensor{dtype: F32, shape: []int{elems}, data: data[i*elems*4 : (i+1)*elems*4]}
	}
	var buf bytes.Buffer
	buf.Grow(len(data) + 1<<20)
	if err := Save(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	f, err := Load(buf.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	// Tensors as views of the file's bytes, as Load or Open gives them; data is dropped.
	for name := range tensors {
		if tensors[name], err = f.GetTensor(name); err != nil {
			b.Fatal(err)
		}
	}
	return tensors, buf.Bytes()
}

// BenchmarkSave writes 1 GiB in 200 tensors (and 64 MiB in 16384 tensors
// of 4 KiB) with Save, SaveFile and the Writer, each next to a baseline that
// writes the same bytes in one call: io.Copy to io.Discard, os.WriteFile,
// and for SaveFile the same create-write-fsync-rename-fsync steps done by
// hand (and a plain in-place write plus fsync). Compare the MB/s within each
// group. b.TempDir() is under $TMPDIR: set TMPDIR=/dev/shm to take the disk
// out of the figures.
//
//	go test -run '^$' -bench BenchmarkSave -benchtime 3x -count 1
func BenchmarkSave(b *testing.B) {
	for _, size := range []struct {
		name     string
		n, total int
	}{
		{"1GiB-200", 200, 1 << 30},
		{"64MiB-16384", 16384, 64 << 20},
	} {
		tensors, file := benchFile(b, size.n, size.total)
		meta := map[string]string{"format": "pt"}
		dir := b.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		run := func(name string, f func(b *testing.B)) {
			b.Run(size.name+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(file)))
				b.ReportAllocs()
				for b.Loop() {
					f(b)
				}
			})
		}
		run("Discard/io.Copy", func(b *testing.B) {
			if _, err := io.Copy(io.Discard, bytes.NewReader(file)); err != nil {
				b.Fatal(err)
			}
		})
		run("Discard/Save", func(b *testing.B) {
			if err := Save(io.Discard, tensors, meta); err != nil {
				b.Fatal(err)
			}
		})
		run("File/os.WriteFile", func(b *testing.B) {
			if err := os.WriteFile(path, file, 0o644); err != nil {
				b.Fatal(err)
			}
		})
		run("File/Save", func(b *testing.B) {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := Save(f, tensors, meta); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
		run("File/Writer", func(b *testing.B) {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			infos := make([]TensorInfo, 0, len(tensors))
			for name, t := range tensors {
				infos = append(infos, TensorInfo{Name: name, DType: t.dtype, Shape: t.shape})
			}
			tw, err := NewWriter(f, infos, meta)
			if err != nil {
				b.Fatal(err)
			}
			for _, ti := range tw.Infos() {
				if err := tw.WriteTensor(ti.Name, tensors[ti.Name]); err != nil {
					b.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
		run("Synced/os.WriteFile+Sync", func(b *testing.B) {
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(file); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
		// The same steps as SaveFile, by hand, with the file's bytes in one Write.
		run("Synced/atomic-by-hand", func(b *testing.B) {
			f, err := os.CreateTemp(dir, ".model.safetensors.tmp-*")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Write(file); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			if err := os.Rename(f.Name(), path); err != nil {
				b.Fatal(err)
			}
			d, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Sync(); err != nil {
				b.Fatal(err)
			}
			d.Close()
		})
		run("Synced/SaveFile", func(b *testing.B) {
			if err := SaveFile(path, tensors, meta); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkSavePaired measures Save against os.WriteFile of the same bytes
// (and SaveFile against the same atomic steps by hand) inside each
// iteration, alternating which goes first, so that the noise of a shared
// machine falls on both sides alike. It reports the throughput of each side
// and their ratio (1 = as fast as the baseline).
//
//	go test -run '^$' -bench BenchmarkSavePaired -benchtime 10x -count 1
func BenchmarkSavePaired(b *testing.B) {
	for _, size := range []struct {
		name     string
		n, total int
	}{
		{"1GiB-200", 200, 1 << 30},
		{"64MiB-16384", 16384, 64 << 20},
	} {
		benchPaired(b, size.name, size.n, size.total)
	}
}

func benchPaired(b *testing.B, prefix string, n, total int) {
	tensors, file := benchFile(b, n, total)
	meta := map[string]string{"format": "pt"}
	dir := b.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	check := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	pair := func(name string, base, ours func()) {
		b.Run(prefix+"/"+name, func(b *testing.B) {
			b.ReportAllocs()
			var tBase, tOurs time.Duration
			i := 0
			for b.Loop() {
				first, second := base, ours
				if i%2 == 1 {
					first, second = ours, base
				}
				t0 := time.Now()
				first()
				t1 := time.Now()
				second()
				t2 := time.Now()
				if i%2 == 0 {
					tBase, tOurs = tBase+t1.Sub(t0), tOurs+t2.Sub(t1)
				} else {
					tOurs, tBase = tOurs+t1.Sub(t0), tBase+t2.Sub(t1)
				}
				i++
			}
			mb := float64(len(file)) * float64(i) / 1e6
			b.ReportMetric(mb/tBase.Seconds(), "base-MB/s")
			b.ReportMetric(mb/tOurs.Seconds(), "ours-MB/s")
			b.ReportMetric(tBase.Seconds()/tOurs.Seconds(), "ours/base")
		})
	}
	pair("File",
		func() { check(os.WriteFile(path, file, 0o644)) },
		func() {
			f, err := os.Create(path)
			check(err)
			check(Save(f, tensors, meta))
			check(f.Close())
		})
	pair("Discard",
		func() {
			_, err := io.Copy(io.Discard, bytes.NewReader(file))
			check(err)
		},
		func() { check(Save(io.Discard, tensors, meta)) })
	pair("Synced",
		func() {
			f, err := os.CreateTemp(dir, ".model.safetensors.tmp-*")
			check(err)
			_, err = f.Write(file)
			check(err)
			check(f.Sync())
			check(f.Close())
			check(os.Rename(f.Name(), path))
			d, err := os.Open(dir)
			check(err)
			check(d.Sync())
			check(d.Close())
		},
		func() { check(SaveFile(path, tensors, meta)) })
}
