package safetensors_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyFixture is a model of F32, BF16, F16 and I64 tensors with varied
// values (negative, fractional, large), saved sharded into dir.
func copyFixture(t *testing.T, dir string, seed float64, maxShard int64) map[string]safetensors.Tensor {
	t.Helper()
	tensors := map[string]safetensors.Tensor{}
	mk := func(name string, d safetensors.DType, shape []int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(seed+float64(i)*0.37) * math.Pow(10, float64(i%7)-3))
		}
		if d == safetensors.I64 {
			for i := range v {
				v[i] = float32(int(v[i]))
			}
		}
		tt, err := safetensors.FromFloat32(d, shape, v)
		require.NoError(t, err)
		tensors[name] = tt
	}
	mk("embed.weight", safetensors.F32, []int{37, 11})
	mk("layers.0.attn.weight", safetensors.F32, []int{16, 16})
	mk("layers.0.norm", safetensors.BF16, []int{16})
	mk("layers.1.attn.weight", safetensors.F16, []int{9, 13})
	mk("layers.1.steps", safetensors.I64, []int{5})
	mk("lm_head.weight", safetensors.F32, []int{3, 37})
	mk("scalar", safetensors.F32, []int{})
	mk("empty", safetensors.F32, []int{0, 4})
	_, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: maxShard})
	require.NoError(t, err)
	return tensors
}

// readModel reads every tensor of the model at path, with its file.
func readModel(t *testing.T, path string) (map[string][]byte, map[string]safetensors.DType, map[string]string) {
	t.Helper()
	m, err := safetensors.OpenModel(path)
	require.NoError(t, err)
	defer m.Close()
	data, dtypes, files := map[string][]byte{}, map[string]safetensors.DType{}, map[string]string{}
	for _, name := range m.Keys() {
		tt, err := m.GetTensor(name)
		require.NoError(t, err)
		data[name] = bytes.Clone(tt.Data())
		dtypes[name] = tt.DType()
		files[name], _ = m.FileOf(name)
	}
	return data, dtypes, files
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestCopyConvertsReshardsSelects copies a sharded model into a folder
// with conversion to BF16, re-sharding and a selection, in chunks smaller
// than the tensors (and not a multiple of their element size): every
// tensor is what Convert makes of the whole source tensor, in the shards
// PlanShards assigns.
func TestCopyConvertsReshardsSelects(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	tensors := copyFixture(t, src, 1, 1500)
	m, err := safetensors.OpenModel(src)
	require.NoError(t, err)
	defer m.Close()
	require.True(t, m.Sharded())

	dst := filepath.Join(t.TempDir(), "dst")
	var calls int
	var last, total int64
	res, err := safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), safetensors.CopyOptions{
		DType:        safetensors.BF16,
		MaxShardSize: 700,
		Select:       func(name string) bool { return name != "lm_head.weight" },
		ChunkSize:    100, // 25 F32 elements: cut into steps of 8 elements
		ReadAhead:    3,
		Progress: func(done, tot int64) {
			calls++
			assert.GreaterOrEqual(t, done, last)
			last, total = done, tot
		},
	})
	require.NoError(t, err)
	var want int64
	for name, tt := range tensors {
		if name != "lm_head.weight" {
			want += int64(len(tt.Data()))
		}
	}
	assert.Equal(t, want, total, "progress total: the source bytes of the selected tensors")
	assert.Equal(t, want, last)
	assert.Greater(t, calls, len(tensors), "progress is reported chunk by chunk")

	data, dtypes, files := readModel(t, dst)
	require.Len(t, data, len(tensors)-1)
	for name, tt := range tensors {
		if name == "lm_head.weight" {
			continue
		}
		wantT := tt
		if tt.DType().IsFloat() {
			wantT, err = safetensors.Convert(tt, safetensors.BF16)
			require.NoError(t, err)
		}
		assert.Equal(t, wantT.DType(), dtypes[name], name)
		assert.Equal(t, wantT.Data(), data[name], name)
	}
	assert.Equal(t, safetensors.I64, dtypes["layers.1.steps"])

	// The files are PlanShards's plan of the converted tensors, in the
	// source's order.
	var infos []safetensors.TensorInfo
	for info, err := range m.All() {
		require.NoError(t, err)
		if info.Name == "lm_head.weight" {
			continue
		}
		d := info.DType
		if d.IsFloat() {
			d = safetensors.BF16
		}
		infos = append(infos, safetensors.TensorInfo{Name: info.Name, DType: d, Shape: info.Shape})
	}
	plan, err := safetensors.PlanShards(infos, safetensors.ShardOptions{MaxShardSize: 700})
	require.NoError(t, err)
	require.Greater(t, len(plan.Files), 1)
	for _, f := range plan.Files {
		for _, name := range f.Tensors {
			assert.Equal(t, f.Name, files[name], name)
		}
	}
	assert.Equal(t, len(plan.Files)+1, res.Files)
	var size int64
	for _, n := range listDir(t, dst) {
		fi, err := os.Stat(filepath.Join(dst, n))
		require.NoError(t, err)
		size += fi.Size()
	}
	assert.Equal(t, size, res.Written, "written: every file, index included")
	assert.Len(t, listDir(t, dst), len(plan.Files)+1, "the shards and the index, nothing else")
}

// TestCopyKeepsTheSourceFiles: without options, a sharded model keeps its
// shards, byte for byte (the source was written by this package's writer,
// in the reference layout), and a single file stays one file.
func TestCopyKeepsTheSourceFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	copyFixture(t, src, 2, 1500)
	m, err := safetensors.OpenModel(src)
	require.NoError(t, err)
	defer m.Close()
	dst := filepath.Join(t.TempDir(), "dst")
	_, err = safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), safetensors.CopyOptions{ChunkSize: 64})
	require.NoError(t, err)
	assert.Equal(t, listDir(t, src), listDir(t, dst))
	for _, n := range listDir(t, src) {
		a, err := os.ReadFile(filepath.Join(src, n))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dst, n))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(a, b), "%s differs", n)
	}

	one := filepath.Join(t.TempDir(), "one")
	_, err = safetensors.Copy(context.Background(), m, safetensors.DirDestination(one), safetensors.CopyOptions{File: "all.safetensors"})
	require.NoError(t, err)
	assert.Equal(t, []string{"all.safetensors"}, listDir(t, one))
	a, _, _ := readModel(t, src)
	b, _, _ := readModel(t, filepath.Join(one, "all.safetensors"))
	assert.Equal(t, a, b)
}

// failingDest makes one operation of a Destination fail.
type failingDest struct {
	safetensors.Destination
	failCreate string // Create of this name fails on Commit
	failCopy   bool
}

type failingFile struct {
	safetensors.PendingFile
	fail bool
}

func (f failingFile) Commit() error {
	if f.fail {
		f.PendingFile.Abort()
		return errors.New("injected commit failure")
	}
	return f.PendingFile.Commit()
}

func (d failingDest) Create(ctx context.Context, name string) (safetensors.PendingFile, error) {
	pf, err := d.Destination.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return failingFile{pf, d.failCreate != "" && strings.Contains(name, d.failCreate)}, nil
}

func (d failingDest) Copy(ctx context.Context, from, to string) error {
	if d.failCopy {
		return errors.New("injected copy failure")
	}
	return d.Destination.Copy(ctx, from, to)
}

// TestCopyFailureKeepsThePreviousSet: a copy into a folder that holds a
// set with the same file names fails at each step before its index is
// committed; each time, the folder holds the previous set, readable and
// unchanged, and nothing else. A copy that succeeds replaces it, leaving
// no hidden file behind.
func TestCopyFailureKeepsThePreviousSet(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	copyFixture(t, src, 3, 1500)
	m, err := safetensors.OpenModel(src)
	require.NoError(t, err)
	defer m.Close()
	dst := filepath.Join(t.TempDir(), "dst")
	copyFixture(t, dst, 4, 1500) // the previous set: the same names, other values
	before := map[string][]byte{}
	for _, n := range listDir(t, dst) {
		before[n], err = os.ReadFile(filepath.Join(dst, n))
		require.NoError(t, err)
	}
	intact := func(what string) {
		t.Helper()
		assert.ElementsMatch(t, slices.Collect(maps.Keys(before)), listDir(t, dst), "%s: the folder's files", what)
		for n, b := range before {
			got, err := os.ReadFile(filepath.Join(dst, n))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(b, got), "%s: %s changed", what, n)
		}
	}
	files := m.Files()
	for _, tc := range []struct {
		name string
		dst  safetensors.Destination
		opts safetensors.CopyOptions
	}{
		{"verify refuses the last source file", safetensors.DirDestination(dst), safetensors.CopyOptions{Verify: func(_ context.Context, f string) error {
			if f == files[len(files)-1] {
				return errors.New("bad checksum")
			}
			return nil
		}}},
		{"a shard's commit fails", failingDest{Destination: safetensors.DirDestination(dst), failCreate: "-00002-of-"}, safetensors.CopyOptions{Concurrency: 1}},
		{"the index's commit fails", failingDest{Destination: safetensors.DirDestination(dst), failCreate: "index.json"}, safetensors.CopyOptions{}},
		{"conversion fails", safetensors.DirDestination(dst), safetensors.CopyOptions{DType: safetensors.F8E8M0}}, // refuses negative values
	} {
		_, err := safetensors.Copy(context.Background(), m, tc.dst, tc.opts)
		assert.Error(t, err, tc.name)
		intact(tc.name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = safetensors.Copy(ctx, m, safetensors.DirDestination(dst), safetensors.CopyOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	intact("canceled")

	// A failure after the index: the new set is readable.
	_, err = safetensors.Copy(context.Background(), m, failingDest{Destination: safetensors.DirDestination(dst), failCopy: true}, safetensors.CopyOptions{})
	assert.Error(t, err)
	got, _, _ := readModel(t, dst)
	want, _, _ := readModel(t, src)
	assert.Equal(t, want, got, "after a failure past the index, the new set")
	hidden := 0
	for _, n := range listDir(t, dst) {
		if strings.HasPrefix(n, ".") {
			hidden++
		}
	}
	assert.Greater(t, hidden, 0, "the new set is under hidden names, which the index names")

	// The next copy finishes the job: no hidden file is left.
	_, err = safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), safetensors.CopyOptions{})
	require.NoError(t, err)
	assert.Equal(t, listDir(t, src), listDir(t, dst), "no hidden file left")
	got, _, _ = readModel(t, dst)
	assert.Equal(t, want, got)
}

// TestCopySwitchesLayouts: a sharded set replaces a single file (which
// readers would prefer to the index, so it goes), and a single file
// replaces a sharded set (index and shards go); files of other prefixes
// stay.
func TestCopySwitchesLayouts(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	copyFixture(t, src, 5, 1500)
	m, err := safetensors.OpenModel(src)
	require.NoError(t, err)
	defer m.Close()
	want, _, _ := readModel(t, src)

	dst := t.TempDir()
	copyFixture(t, dst, 6, 1<<30) // model.safetensors
	require.NoError(t, os.WriteFile(filepath.Join(dst, "other.txt"), []byte("x"), 0o666))
	_, err = safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), safetensors.CopyOptions{})
	require.NoError(t, err)
	got, _, _ := readModel(t, dst)
	assert.Equal(t, want, got)
	assert.NotContains(t, listDir(t, dst), "model.safetensors")
	assert.Contains(t, listDir(t, dst), "other.txt")

	_, err = safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), safetensors.CopyOptions{MaxShardSize: 1 << 30})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"model.safetensors", "other.txt"}, listDir(t, dst))
	got, _, _ = readModel(t, dst)
	assert.Equal(t, want, got)
}

// TestSaveShardedToMatchesSaveSharded: the same tensors give the same
// files, byte for byte, through a Destination as through SaveSharded.
func TestSaveShardedToMatchesSaveSharded(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	tensors := copyFixture(t, a, 7, 900)
	_, err := safetensors.SaveShardedTo(context.Background(), safetensors.DirDestination(b), tensors, safetensors.ShardOptions{MaxShardSize: 900})
	require.NoError(t, err)
	require.Equal(t, listDir(t, a), listDir(t, b))
	for _, n := range listDir(t, a) {
		x, _ := os.ReadFile(filepath.Join(a, n))
		y, _ := os.ReadFile(filepath.Join(b, n))
		assert.True(t, bytes.Equal(x, y), n)
	}
}

func TestCopyRefusesBadOptions(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	copyFixture(t, src, 8, 1500)
	m, err := safetensors.OpenModel(src)
	require.NoError(t, err)
	defer m.Close()
	dst := t.TempDir()
	for i, o := range []safetensors.CopyOptions{
		{DType: safetensors.I32},
		{File: "x.safetensors", MaxShardSize: 10},
		{Prefix: "a/b"},
		{Select: func(string) bool { return false }},
	} {
		_, err := safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), o)
		assert.Error(t, err, fmt.Sprint(i))
	}
	assert.Empty(t, listDir(t, dst))
}

// TestCopyShortSource: a source whose reader ends before the size it
// claims (a server's truncated file) fails the copy with
// io.ErrUnexpectedEOF, and nothing is written.
func TestCopyShortSource(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, dir, 9, 1<<30)
	data, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	f, err := safetensors.NewReader(bytes.NewReader(data[:len(data)-10]), int64(len(data)))
	require.NoError(t, err)
	m := safetensors.NewFileModel(f, "model.safetensors")
	defer m.Close()
	dst := filepath.Join(t.TempDir(), "dst")
	_, err = safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), safetensors.CopyOptions{ChunkSize: 64})
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	entries, _ := os.ReadDir(dst)
	assert.Empty(t, entries)
}

// countingReaderAt counts the ReadAt calls made through it.
type countingReaderAt struct {
	r     io.ReaderAt
	calls atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	return c.r.ReadAt(p, off)
}

// TestCopyReadsRunsTogether: tensors copied as they are, adjacent in the
// source file and in the same order in the copy (as this package's writer
// lays them out both times), are read together: a file whose data is
// smaller than a chunk costs one read, and in chunks of 100 bytes the
// reads are the data's size over 100, rounded up.
func TestCopyReadsRunsTogether(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, dir, 10, 1<<30)
	data, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	for _, tc := range []struct {
		chunk int64
		want  func(dataSize int64) int64
	}{
		{0, func(int64) int64 { return 1 }},
		{100, func(n int64) int64 { return (n + 99) / 100 }},
	} {
		cr := &countingReaderAt{r: bytes.NewReader(data)}
		f, err := safetensors.NewReader(cr, int64(len(data)))
		require.NoError(t, err)
		dataSize := f.Size() - f.DataOffset()
		m := safetensors.NewFileModel(f, "model.safetensors")
		cr.calls.Store(0)
		dst := filepath.Join(t.TempDir(), "dst")
		_, err = safetensors.Copy(context.Background(), m, safetensors.DirDestination(dst), safetensors.CopyOptions{ChunkSize: tc.chunk})
		require.NoError(t, err)
		assert.Equal(t, tc.want(dataSize), cr.calls.Load(), "chunk size %d, %d bytes of data", tc.chunk, dataSize)
		got, err := os.ReadFile(filepath.Join(dst, "model.safetensors"))
		require.NoError(t, err)
		assert.True(t, bytes.Equal(data, got), "the copy is the file, byte for byte")
		m.Close()
	}
}

// cancelAfterCommit cancels a context as soon as a file is committed, as
// an interrupt arriving just then would.
type cancelAfterCommit struct {
	safetensors.Destination
	cancel context.CancelFunc
}

type cancelingFile struct {
	safetensors.PendingFile
	cancel context.CancelFunc
}

func (f cancelingFile) Commit() error {
	err := f.PendingFile.Commit()
	f.cancel()
	return err
}

func (d cancelAfterCommit) Create(ctx context.Context, name string) (safetensors.PendingFile, error) {
	pf, err := d.Destination.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return cancelingFile{pf, d.cancel}, nil
}

// TestCopyCanceledAfterCommit: a context canceled just after the one file
// of a copy was committed (replacing the file that was there) leaves the
// new file in place: it is never removed once it replaced the old one.
func TestCopyCanceledAfterCommit(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	copyFixture(t, src, 11, 1<<30)
	m, err := safetensors.OpenModel(src)
	require.NoError(t, err)
	defer m.Close()
	want, _, _ := readModel(t, src)
	for _, file := range []string{"", "one.safetensors"} {
		dst := t.TempDir()
		copyFixture(t, dst, 12, 1<<30) // the file replaced: model.safetensors
		if file != "" {
			require.NoError(t, os.Rename(filepath.Join(dst, "model.safetensors"), filepath.Join(dst, file)))
		}
		ctx, cancel := context.WithCancel(context.Background())
		_, _ = safetensors.Copy(ctx, m, cancelAfterCommit{safetensors.DirDestination(dst), cancel}, safetensors.CopyOptions{File: file})
		cancel()
		got, _, _ := readModel(t, filepath.Join(dst, cmpOr(file, "model.safetensors")))
		assert.Equal(t, want, got, "file %q: the new file is in place", file)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
