package safetensors_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// viewsFile writes a file of tensors large and small (8 MiB in all, so that
// faulting it in is thousands of pages), opens it, and returns the File, its
// views, its bytes and the address of its mapping.
func viewsFile(t *testing.T) (*safetensors.File, map[string]safetensors.Tensor, []byte, uintptr) {
	t.Helper()
	tensors := map[string]safetensors.Tensor{}
	sizes := []int{3 << 20, 2 << 20, 1<<20 + 12, 300 << 10, 65536, 4000, 100, 7, 0}
	for i, n := range sizes {
		b := make([]byte, n)
		for k := range b {
			b[k] = byte(k*31 + i*7 + k>>12)
		}
		tt, err := safetensors.NewTensor(safetensors.U8, []int{n}, b)
		require.NoError(t, err)
		tensors[fmt.Sprintf("t%d", i)] = tt
	}
	for i := range 40 { // many small tensors: they are gathered into the buffer
		tt, err := safetensors.NewTensor(safetensors.F32, []int{i + 1}, bytes.Repeat([]byte{byte(i), 1, 2, 3}, i+1))
		require.NoError(t, err)
		tensors[fmt.Sprintf("s%02d", i)] = tt
	}
	path := filepath.Join(t.TempDir(), "src.safetensors")
	meta := map[string]string{"format": "pt"}
	require.NoError(t, safetensors.SaveFile(path, tensors, meta))
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	views := map[string]safetensors.Tensor{}
	var addr uintptr
	for _, name := range f.Keys() {
		v, err := f.GetTensor(name)
		require.NoError(t, err)
		views[name] = v
		if len(v.Data()) > 0 {
			addr = uintptr(unsafe.Pointer(unsafe.SliceData(v.Data())))
		}
	}
	return f, views, want, addr
}

// TestSaveOfViewsLeavesMappingAlone saves views of a mapped file in every
// way the package offers and checks, in /proc/self/smaps, that none of them
// faulted in the mapping's pages, and that each wrote the same bytes as the
// source (which the same writer made). The last step touches the views and
// sees the count grow, which shows that the count can see faults.
func TestSaveOfViewsLeavesMappingAlone(t *testing.T) {
	f, views, want, addr := viewsFile(t)
	before := safetensors.MappedKiB(t, addr)
	require.Less(t, before, 64, "opening mapped %d KiB of the data", before)
	dir := t.TempDir()
	meta := f.Metadata()

	saves := []struct {
		name string
		save func() ([]byte, error)
	}{
		{"Save to memory", func() ([]byte, error) {
			var buf bytes.Buffer
			err := safetensors.Save(&buf, views, meta)
			return buf.Bytes(), err
		}},
		{"Save to a file", func() ([]byte, error) {
			path := filepath.Join(dir, "save.safetensors")
			out, err := os.Create(path)
			if err != nil {
				return nil, err
			}
			if err := safetensors.Save(out, views, meta); err != nil {
				out.Close()
				return nil, err
			}
			if err := out.Close(); err != nil {
				return nil, err
			}
			return os.ReadFile(path)
		}},
		{"Save to a file opened for appending", func() ([]byte, error) {
			path := filepath.Join(dir, "append.safetensors")
			out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return nil, err
			}
			if err := safetensors.Save(out, views, meta); err != nil {
				out.Close()
				return nil, err
			}
			if err := out.Close(); err != nil {
				return nil, err
			}
			return os.ReadFile(path)
		}},
		{"SaveFile", func() ([]byte, error) {
			path := filepath.Join(dir, "savefile.safetensors")
			if err := safetensors.SaveFile(path, views, meta); err != nil {
				return nil, err
			}
			return os.ReadFile(path)
		}},
		{"Writer.WriteTensor", func() ([]byte, error) {
			var buf bytes.Buffer
			tw, err := safetensors.NewWriter(&buf, f.Infos(), meta)
			if err != nil {
				return nil, err
			}
			for _, ti := range tw.Infos() {
				if err := tw.WriteTensor(ti.Name, views[ti.Name]); err != nil {
					return nil, err
				}
			}
			err = tw.Close()
			return buf.Bytes(), err
		}},
		{"SaveSharded", func() ([]byte, error) {
			sdir := filepath.Join(dir, "sharded")
			if _, err := safetensors.SaveSharded(sdir, views, safetensors.ShardOptions{Metadata: meta}); err != nil {
				return nil, err
			}
			return os.ReadFile(filepath.Join(sdir, "model.safetensors"))
		}},
	}
	for _, s := range saves {
		got, err := s.save()
		require.NoError(t, err, s.name)
		assert.True(t, bytes.Equal(got, want), "%s wrote other bytes than the source", s.name)
		assert.Equal(t, before, safetensors.MappedKiB(t, addr), "%s faulted in the mapping", s.name)
	}

	for _, v := range views {
		for i := 0; i < len(v.Data()); i += 4096 {
			touchSink += v.Data()[i]
		}
	}
	assert.Greater(t, safetensors.MappedKiB(t, addr), before+4096, "touching the views faults in their pages")
}

// touchSink keeps the reads of the touch loop from being optimized away.
var touchSink byte

// TestSaveOfViewsOfClosedFile: a view whose File is closed has no bytes to
// give; saving it is an error, not a crash.
func TestSaveOfViewsOfClosedFile(t *testing.T) {
	f, views, _, _ := viewsFile(t)
	require.NoError(t, f.Close())
	err := safetensors.Save(&bytes.Buffer{}, map[string]safetensors.Tensor{"t0": views["t0"]}, nil)
	assert.ErrorIs(t, err, safetensors.ErrClosed)
	err = safetensors.Save(&bytes.Buffer{}, map[string]safetensors.Tensor{"s00": views["s00"]}, nil)
	assert.ErrorIs(t, err, safetensors.ErrClosed)
}

// TestOpenPopulate: Options.Populate maps every page of the file before
// Open returns, and the views read the file's bytes; without it, Open maps
// none of the data.
func TestOpenPopulate(t *testing.T) {
	_, views, want, addr := viewsFile(t)
	assert.Less(t, safetensors.MappedKiB(t, addr), 64, "Open without Populate")
	path := filepath.Join(t.TempDir(), "copy.safetensors")
	require.NoError(t, os.WriteFile(path, want, 0o644))
	p, err := safetensors.Options{Populate: true}.Open(path)
	require.NoError(t, err)
	defer p.Close()
	for _, name := range p.Keys() {
		v, err := p.GetTensor(name)
		require.NoError(t, err)
		assert.Equal(t, views[name].Data(), v.Data(), name)
		if len(v.Data()) > 0 {
			addr = uintptr(unsafe.Pointer(unsafe.SliceData(v.Data())))
		}
	}
	assert.GreaterOrEqual(t, safetensors.MappedKiB(t, addr), len(want)/1024, "every page of the file mapped")
}

// TestSliceOfMappedFile reads selections of a mapped file whose pages are
// not mapped (they are read from the file, and stay unmapped), and of the
// same file populated up front (they are copied from the mapping), and
// checks every result against the same selection of the file's bytes in
// memory (Load, which copies from memory).
func TestSliceOfMappedFile(t *testing.T) {
	const rows, cols = 512, 1024 // F32: 2 MiB, rows of 4 KiB
	data := make([]byte, rows*cols*4)
	for i := range data {
		data[i] = byte(i*7 + i>>10)
	}
	w, err := safetensors.NewTensor(safetensors.F32, []int{rows, cols}, data)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, safetensors.SaveFile(path, map[string]safetensors.Tensor{"w": w}, nil))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	mem, err := safetensors.Load(raw)
	require.NoError(t, err)
	selections := [][]safetensors.Index{
		{safetensors.Range(100, 300)},
		{safetensors.Full(), safetensors.Range(10, 20)},
		{safetensors.RangeStep(3, 500, 7), safetensors.Full().WithStep(-1)},
		{safetensors.At(511), safetensors.Range(0, 1)},
		{safetensors.Range(5, 5)},
	}
	for _, populate := range []bool{false, true} {
		f, err := safetensors.Options{Populate: populate}.Open(path)
		require.NoError(t, err)
		defer f.Close()
		whole, err := f.GetTensor("w")
		require.NoError(t, err)
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(whole.Data())))
		before := safetensors.MappedKiB(t, addr)
		for _, sel := range selections {
			want, err := mem.GetSlice("w")
			require.NoError(t, err)
			wt, err := want.Get(sel...)
			require.NoError(t, err)
			s, err := f.GetSlice("w")
			require.NoError(t, err)
			got, err := s.Get(sel...)
			require.NoError(t, err)
			assert.Equal(t, wt.Shape(), got.Shape(), "%v populate=%v", sel, populate)
			assert.True(t, bytes.Equal(wt.Data(), got.Data()), "%v populate=%v", sel, populate)
		}
		if !populate {
			assert.Equal(t, before, safetensors.MappedKiB(t, addr), "selections of a mapping not yet touched fault nothing in")
		} else {
			assert.GreaterOrEqual(t, before, len(raw)/1024)
		}
	}
}
