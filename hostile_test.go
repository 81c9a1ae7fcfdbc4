package safetensors_test

// Hostile input: sizes that are only claims, files that are not regular,
// symbolic links out of a model's folder, files that are not safetensors.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// liar is an io.ReaderAt over head followed by fill bytes, that fails any
// read reaching past limit: a source that claims more bytes than it has.
type liar struct {
	head  []byte
	fill  byte
	limit int64
}

var errNoMore = errors.New("liar: no more bytes")

func (l liar) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > l.limit {
		return 0, errNoMore
	}
	n := 0
	if off < int64(len(l.head)) {
		n = copy(p, l.head[off:])
	}
	for i := n; i < len(p); i++ {
		p[i] = l.fill
	}
	return len(p), nil
}

// allocated returns the bytes allocated on the heap while f runs, by any
// goroutine: an upper bound of how much the heap grew at its peak.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// claimFile returns the first bytes of a file whose header declares one U8
// tensor of shape, and the size that file would have.
func claimFile(shape ...int64) ([]byte, int64) {
	n := int64(1)
	dims := make([]string, len(shape))
	for i, d := range shape {
		n *= d
		dims[i] = fmt.Sprint(d)
	}
	hdr := fmt.Sprintf(`{"t":{"dtype":"U8","shape":[%s],"data_offsets":[0,%d]}}`, strings.Join(dims, ","), n)
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	return b, int64(len(b)) + n
}

const tib = int64(1) << 40

// A source that claims a 32 TiB tensor, and has 40 MiB: reading the tensor
// fails on the read, having allocated a small multiple of what arrived.
func TestClaimedTensorSizeIsNotAllocated(t *testing.T) {
	head, size := claimFile(32 * tib)
	r := liar{head: head, limit: 40 << 20}
	f, err := safetensors.NewReader(r, size)
	require.NoError(t, err)
	reads := map[string]func() error{
		"GetTensor": func() error { _, err := f.GetTensor("t"); return err },
		"Slice.Get": func() error {
			s, err := f.GetSlice("t")
			require.NoError(t, err)
			_, err = s.Get(safetensors.Full())
			return err
		},
		"strided Slice.Get": func() error {
			s, err := f.GetSlice("t")
			require.NoError(t, err)
			_, err = s.Get(safetensors.RangeStep(1, int(32*tib), 3))
			return err
		},
	}
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(func() { err = read() })
			assert.ErrorIs(t, err, errNoMore)
			assert.Less(t, n, uint64(160<<20), "allocated %d bytes for 40 MiB that arrived", n)
		})
	}
	// The same through a 2-D tensor whose rows are each larger than a step.
	head, size = claimFile(4, 8*tib)
	f, err = safetensors.NewReader(liar{head: head, limit: 40 << 20}, size)
	require.NoError(t, err)
	s, err := f.GetSlice("t")
	require.NoError(t, err)
	n := allocated(func() { _, err = s.Get(safetensors.Full(), safetensors.RangeStep(0, int(8*tib), 2)) })
	assert.ErrorIs(t, err, errNoMore)
	assert.Less(t, n, uint64(160<<20))
}

// Reads larger than a step, which grow their buffer as bytes arrive, give
// the same bytes as the whole file in memory.
func TestGrowingReadsMatchLoad(t *testing.T) {
	rows, cols := 4099, 10007 // 41 MB: more than one step
	data := make([]byte, rows*cols)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	file := stFile(nil, st{"t", []int{rows, cols}, data}, u8s("small", 1, 2, 3))
	loaded, err := safetensors.Load(file)
	require.NoError(t, err)
	reader, err := safetensors.NewReader(bytes.NewReader(file), int64(len(file)))
	require.NoError(t, err)
	got, err := reader.GetTensor("t")
	require.NoError(t, err)
	require.True(t, bytes.Equal(got.Data(), data), "GetTensor through NewReader differs")
	assert.Equal(t, []int{rows, cols}, got.Shape())
	// Over an *os.File the size is real, and the tensor is read at once.
	osf, err := os.Open(writeTemp(t, file))
	require.NoError(t, err)
	defer osf.Close()
	direct, err := safetensors.NewReader(osf, int64(len(file)))
	require.NoError(t, err)
	got, err = direct.GetTensor("t")
	require.NoError(t, err)
	require.True(t, bytes.Equal(got.Data(), data), "GetTensor through NewReader(*os.File) differs")
	for _, sel := range []string{":", "::-1", "1:, ::2", "::-1, 3::-3", ":, 5", "7:4099:2", "..., 1:-1"} {
		idx, err := safetensors.ParseIndex(sel)
		require.NoError(t, err)
		sl, err := loaded.GetSlice("t")
		require.NoError(t, err)
		want, err := sl.Get(idx...)
		require.NoError(t, err)
		sr, err := reader.GetSlice("t")
		require.NoError(t, err)
		have, err := sr.Get(idx...)
		require.NoError(t, err, sel)
		assert.Equal(t, want.Shape(), have.Shape(), sel)
		assert.True(t, bytes.Equal(want.Data(), have.Data()), "selection %q differs from Load's", sel)
	}
}

// A header length that is only a claim, with no limit: the header buffer
// grows with the bytes read, and bytes that cannot be JSON end it at once.
func TestClaimedHeaderSizeIsNotAllocated(t *testing.T) {
	noLimit := safetensors.Options{MaxHeaderSize: -1}
	prefix := binary.LittleEndian.AppendUint64(nil, 1<<62)
	t.Run("zeros", func(t *testing.T) {
		var err error
		n := allocated(func() { _, err = noLimit.NewReader(liar{head: prefix, limit: 1 << 62}, 1<<63-1) })
		assert.ErrorIs(t, err, safetensors.ErrInvalidHeader)
		assert.Less(t, n, uint64(64<<20))
	})
	t.Run("spaces", func(t *testing.T) {
		var err error
		n := allocated(func() { _, err = noLimit.NewReader(liar{head: prefix, fill: ' ', limit: 40 << 20}, 1<<63-1) })
		assert.ErrorIs(t, err, errNoMore)
		assert.Less(t, n, uint64(160<<20))
	})
}

// A sparse 1 TiB file whose prefix claims a header of almost that size,
// opened with no header limit: an error, not an out-of-memory crash.
func TestSparseFileWithHugeHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse.safetensors")
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = f.Write(binary.LittleEndian.AppendUint64(nil, uint64(tib-16)))
	require.NoError(t, err)
	if err := f.Truncate(tib); err != nil {
		f.Close()
		t.Skip("no sparse 1 TiB file here:", err)
	}
	require.NoError(t, f.Close())
	var n uint64
	n = allocated(func() { _, err = safetensors.Options{MaxHeaderSize: -1}.Open(path) })
	assert.ErrorIs(t, err, safetensors.ErrInvalidHeader)
	assert.Less(t, n, uint64(64<<20))
}

// A file that is not safetensors is said to be so, without printing its
// first bytes as a number.
func TestNotSafetensorsLeaksNothing(t *testing.T) {
	path := writeTemp(t, []byte("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"))
	for name, o := range map[string]safetensors.Options{"default": {}, "no limit": {MaxHeaderSize: -1}} {
		_, err := o.Open(path)
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, safetensors.ErrHeaderTooLarge) || errors.Is(err, safetensors.ErrInvalidHeaderLength), "%s: %v", name, err)
		assert.Contains(t, err.Error(), "not a safetensors file", name)
		assert.NotContains(t, err.Error(), "3475222254926655346", name)
		_, err = o.OpenModel(path)
		assert.NotContains(t, err.Error(), "3475222254926655346", name)
	}
	// A real safetensors file whose header is over the limit still says how long it is.
	_, err := safetensors.Options{MaxHeaderSize: 10}.Load(stFile(nil, u8s("a", 1)))
	assert.ErrorIs(t, err, safetensors.ErrHeaderTooLarge)
	assert.Contains(t, err.Error(), "over the limit of 10 bytes")
}

// guard runs f, failing the test if it has not returned after a generous
// time (a hang, not slowness, is what it catches).
func guard(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s has not returned after 30 s", what)
	}
}

// Named pipes are refused, without blocking on them, wherever a path leads:
// to a file, a model's single file, an index or a shard.
func TestNamedPipesAreRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.safetensors")
	mkfifo(t, fifo)
	check := func(t *testing.T, what string, open func() error) {
		t.Helper()
		var err error
		guard(t, what, func() { err = open() })
		assert.ErrorIs(t, err, safetensors.ErrNotRegular, what)
		assert.Contains(t, fmt.Sprint(err), "named pipe", what)
	}
	check(t, "Open", func() error { _, err := safetensors.Open(fifo); return err })
	check(t, "OpenModel of the file", func() error { _, err := safetensors.OpenModel(fifo); return err })

	single := t.TempDir()
	mkfifo(t, filepath.Join(single, safetensors.SingleFileName))
	check(t, "OpenModel of a folder", func() error { _, err := safetensors.OpenModel(single); return err })

	indexDir := t.TempDir()
	mkfifo(t, filepath.Join(indexDir, safetensors.IndexName))
	check(t, "OpenModel of an index", func() error { _, err := safetensors.OpenModel(indexDir); return err })
	check(t, "OpenModel of the index's path", func() error {
		_, err := safetensors.OpenModel(filepath.Join(indexDir, safetensors.IndexName))
		return err
	})

	shardDir := shardCase(t, indexJSON("{}", [2]string{"a", shard1}, [2]string{"b", shard2}),
		map[string][]byte{shard1: stFile(nil, u8s("a", 1))})
	mkfifo(t, filepath.Join(shardDir, shard2))
	check(t, "OpenModel with a shard", func() error { _, err := safetensors.OpenModel(shardDir); return err })
}

// symlink makes a link or skips the test.
func symlink(t *testing.T, target, link string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	if err := os.Symlink(target, link); err != nil {
		t.Skip("no symbolic links here:", err)
	}
}

// Links out of a model's folder are refused unless FollowSymlinks says
// otherwise; links inside it, and the Hugging Face cache's links from a
// snapshot to its repository's blobs, are followed.
func TestModelSymlinks(t *testing.T) {
	good1 := stFile(nil, u8s("a", 1, 2))
	good2 := stFile(nil, u8s("b", 3))
	index := indexJSON("{}", [2]string{"a", shard1}, [2]string{"b", shard2})
	outside := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(outside, good2, 0o644))

	t.Run("shard out of the folder", func(t *testing.T) {
		dir := shardCase(t, index, map[string][]byte{shard1: good1})
		symlink(t, outside, filepath.Join(dir, shard2))
		_, err := safetensors.OpenModel(dir)
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.ErrorIs(t, err, fs.ErrPermission)
		assert.Contains(t, fmt.Sprint(err), "FollowSymlinks")

		m, err := safetensors.Options{FollowSymlinks: true}.OpenModel(dir)
		require.NoError(t, err)
		defer m.Close()
		b, err := m.GetTensor("b")
		require.NoError(t, err)
		assert.Equal(t, []byte{3}, b.Data())
	})
	t.Run("relative link climbing out", func(t *testing.T) {
		dir := shardCase(t, index, map[string][]byte{shard1: good1})
		rel, err := filepath.Rel(dir, outside)
		require.NoError(t, err)
		symlink(t, rel, filepath.Join(dir, shard2))
		_, err = safetensors.OpenModel(filepath.Join(dir, safetensors.IndexName))
		assert.ErrorIs(t, err, fs.ErrPermission)
	})
	t.Run("single file of a folder out of it", func(t *testing.T) {
		dir := t.TempDir()
		symlink(t, outside, filepath.Join(dir, safetensors.SingleFileName))
		_, err := safetensors.OpenModel(dir)
		assert.ErrorIs(t, err, fs.ErrPermission)
		// Named by the caller, the same link is the caller's choice.
		m, err := safetensors.OpenModel(filepath.Join(dir, safetensors.SingleFileName))
		require.NoError(t, err)
		m.Close()
	})
	t.Run("hugging face cache", func(t *testing.T) {
		repo := filepath.Join(t.TempDir(), "models--org--name")
		blobs := map[string][]byte{"h0": index, "h1": good1, "h2": good2}
		for name, b := range blobs {
			require.NoError(t, os.MkdirAll(filepath.Join(repo, "blobs"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(repo, "blobs", name), b, 0o644))
		}
		snap := filepath.Join(repo, "snapshots", "0123abcd")
		symlink(t, "../../blobs/h0", filepath.Join(snap, safetensors.IndexName))
		symlink(t, "../../blobs/h1", filepath.Join(snap, shard1))
		symlink(t, "../../blobs/h2", filepath.Join(snap, shard2))
		for _, path := range []string{snap, filepath.Join(snap, safetensors.IndexName)} {
			m, err := safetensors.OpenModel(path)
			require.NoError(t, err)
			a, err := m.GetTensor("a")
			require.NoError(t, err)
			assert.Equal(t, []byte{1, 2}, a.Data())
			require.NoError(t, m.Verify())
			m.Close()
		}
		// A model in a subfolder of the repository (diffusers' layout), and
		// a single file found in a folder.
		symlink(t, "../../../blobs/h0", filepath.Join(snap, "unet", safetensors.IndexName))
		symlink(t, "../../../blobs/h1", filepath.Join(snap, "unet", shard1))
		symlink(t, "../../../blobs/h2", filepath.Join(snap, "unet", shard2))
		symlink(t, "../../../blobs/h1", filepath.Join(snap, "vae", safetensors.SingleFileName))
		for _, path := range []string{filepath.Join(snap, "unet"), filepath.Join(snap, "vae")} {
			m, err := safetensors.OpenModel(path)
			require.NoError(t, err, path)
			a, err := m.GetTensor("a")
			require.NoError(t, err)
			assert.Equal(t, []byte{1, 2}, a.Data())
			m.Close()
		}
		// A link from the snapshot to another repository's blobs is out.
		other := filepath.Join(filepath.Dir(repo), "models--evil--repo", "blobs", "x")
		require.NoError(t, os.MkdirAll(filepath.Dir(other), 0o755))
		require.NoError(t, os.WriteFile(other, good2, 0o644))
		require.NoError(t, os.Remove(filepath.Join(snap, shard2)))
		symlink(t, "../../../models--evil--repo/blobs/x", filepath.Join(snap, shard2))
		_, err := safetensors.OpenModel(snap)
		assert.ErrorIs(t, err, fs.ErrPermission)
	})
}

// A sparse index file of 1 TiB, opened with no limit: refused early, not
// read whole into memory.
func TestSparseIndex(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, safetensors.IndexName)
	prefix := []byte(`{"weight_map": {"a": "` + shard1 + `"}, "metadata": {"x": "`)
	prefix = append(prefix, bytes.Repeat([]byte("y"), 20<<20)...) // a real first step
	require.NoError(t, os.WriteFile(path, prefix, 0o644))
	if err := os.Truncate(path, tib); err != nil {
		t.Skip("no sparse 1 TiB file here:", err)
	}
	var err error
	n := allocated(func() { _, err = safetensors.Options{MaxHeaderSize: -1}.OpenModel(dir) })
	assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
	assert.Less(t, n, uint64(200<<20))
}
