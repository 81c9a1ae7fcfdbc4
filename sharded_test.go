package safetensors_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// st is a tensor to put in a hand-built test file: U8 elements, so that the
// bytes are the values.
type st struct {
	name  string
	shape []int
	data  []byte
}

// u8s is a U8 tensor of shape [len(vals)].
func u8s(name string, vals ...byte) st { return st{name, []int{len(vals)}, vals} }

// stFile builds a safetensors file by hand, tensors in the given order in
// the buffer, with "__metadata__" when meta is not nil.
func stFile(meta map[string]string, tensors ...st) []byte {
	var h strings.Builder
	h.WriteString("{")
	if meta != nil {
		h.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteString(",")
			}
			fmt.Fprintf(&h, "%s:%s", strconv.Quote(k), strconv.Quote(meta[k]))
		}
		h.WriteString("}")
	}
	var data []byte
	for i, t := range tensors {
		if i > 0 || meta != nil {
			h.WriteString(",")
		}
		shape := make([]string, len(t.shape))
		for k, d := range t.shape {
			shape[k] = strconv.Itoa(d)
		}
		fmt.Fprintf(&h, `%s:{"dtype":"U8","shape":[%s],"data_offsets":[%d,%d]}`,
			strconv.Quote(t.name), strings.Join(shape, ","), len(data), len(data)+len(t.data))
		data = append(data, t.data...)
	}
	h.WriteString("}")
	return build(h.String(), data)
}

// indexJSON writes an index mapping each tensor to its file.
func indexJSON(metadata string, weights ...[2]string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  \"metadata\": %s,\n  \"weight_map\": {", metadata)
	for i, w := range weights {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n    %s: %s", strconv.Quote(w[0]), strconv.Quote(w[1]))
	}
	b.WriteString("\n  }\n}\n")
	return []byte(b.String())
}

const (
	shard1 = "model-00001-of-00002.safetensors"
	shard2 = "model-00002-of-00002.safetensors"
)

// twoShards writes a small sharded model into a new folder: shard 1 holds
// "b" then "a" (buffer order), shard 2 holds "c".
func twoShards(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pt := map[string]string{"format": "pt"}
	require.NoError(t, os.WriteFile(filepath.Join(dir, shard1), stFile(pt, u8s("b", 4, 5, 6), u8s("a", 1, 2)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, shard2), stFile(pt, st{"c", []int{2, 2}, []byte{7, 8, 9, 10}}), 0o644))
	index := indexJSON(`{"total_size": 9}`, [2]string{"a", shard1}, [2]string{"b", shard1}, [2]string{"c", shard2})
	require.NoError(t, os.WriteFile(filepath.Join(dir, safetensors.IndexName), index, 0o644))
	return dir
}

func TestModelSharded(t *testing.T) {
	dir := twoShards(t)
	for _, path := range []string{dir, filepath.Join(dir, safetensors.IndexName)} {
		m, err := safetensors.OpenModel(path)
		require.NoError(t, err)
		assert.True(t, m.Sharded())
		assert.Equal(t, []string{"a", "b", "c"}, m.Keys())
		assert.Equal(t, 3, m.Len())
		assert.Equal(t, map[string]string{"total_size": "9"}, m.Metadata())
		assert.Equal(t, []string{shard1, shard2}, m.Files())
		file, ok := m.FileOf("c")
		assert.True(t, ok)
		assert.Equal(t, shard2, file)
		_, ok = m.FileOf("d")
		assert.False(t, ok)

		for name, want := range map[string][]byte{"a": {1, 2}, "b": {4, 5, 6}, "c": {7, 8, 9, 10}} {
			tensor, err := m.GetTensor(name)
			require.NoError(t, err)
			assert.Equal(t, want, tensor.Data(), name)
		}
		tensor, _ := m.GetTensor("c")
		assert.Equal(t, []int{2, 2}, tensor.Shape())
		info, err := m.Info("a")
		require.NoError(t, err)
		assert.Equal(t, [2]int64{3, 5}, info.DataOffsets, "offsets within shard 1, after b")

		sl, err := m.GetSlice("c")
		require.NoError(t, err)
		part, err := sl.Get(safetensors.Full(), safetensors.At(1))
		require.NoError(t, err)
		assert.Equal(t, []byte{8, 10}, part.Data(), "c[:, 1] of [[7 8] [9 10]]")
		_, err = m.GetSlice("zz")
		assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)
		_, err = m.GetTensor("zz")
		assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)
		_, err = m.Info("zz")
		assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)

		var order []string
		for info, err := range m.All() {
			require.NoError(t, err)
			order = append(order, info.Name)
		}
		assert.Equal(t, []string{"b", "a", "c"}, order, "shard by shard, in buffer order")

		f, err := m.Shard(shard1)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"format": "pt"}, f.Metadata())
		_, err = m.Shard("nope.safetensors")
		assert.Error(t, err)
		require.NoError(t, m.Verify())

		require.NoError(t, m.Close())
		require.NoError(t, m.Close(), "Close is idempotent")
		_, err = m.GetTensor("a")
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		_, err = m.GetTensor("zz")
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		_, err = m.Info("a")
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		_, err = m.GetSlice("c")
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		_, err = sl.Get()
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		_, err = m.Shard(shard2)
		assert.ErrorIs(t, err, safetensors.ErrClosed)
		assert.ErrorIs(t, m.Verify(), safetensors.ErrClosed)
		for _, err := range m.All() {
			assert.ErrorIs(t, err, safetensors.ErrClosed)
		}
		_, err = f.GetTensor("a")
		assert.ErrorIs(t, err, safetensors.ErrClosed, "the Model closed its shard")
		assert.Equal(t, []string{"a", "b", "c"}, m.Keys(), "the index stays readable")
	}
}

// opener wraps OpenModel's way of opening shards with a count of calls.
type opener struct {
	dir   string
	calls sync.Map // name -> *atomic.Int32
	fail  atomic.Int32
}

func (o *opener) open(name string) (*safetensors.File, error) {
	n, _ := o.calls.LoadOrStore(name, new(atomic.Int32))
	n.(*atomic.Int32).Add(1)
	if o.fail.Add(-1) >= 0 {
		return nil, errors.New("injected failure")
	}
	return safetensors.Open(filepath.Join(o.dir, name))
}

func (o *opener) count(name string) int {
	n, ok := o.calls.Load(name)
	if !ok {
		return 0
	}
	return int(n.(*atomic.Int32).Load())
}

func TestModelOpensShardsLazilyOnce(t *testing.T) {
	dir := twoShards(t)
	index, err := os.ReadFile(filepath.Join(dir, safetensors.IndexName))
	require.NoError(t, err)
	o := &opener{dir: dir}
	m, err := safetensors.NewModel(index, o.open)
	require.NoError(t, err)
	defer m.Close()
	m.Keys()
	m.Metadata()
	m.Files()
	m.FileOf("a")
	assert.Zero(t, o.count(shard1)+o.count(shard2), "the index alone answers these")

	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, name := range []string{"a", "b"} {
				tensor, err := m.GetTensor(name)
				assert.NoError(t, err)
				assert.NotEmpty(t, tensor.Data())
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, o.count(shard1), "concurrent first uses open a shard once")
	assert.Equal(t, 0, o.count(shard2), "shard 2 is not needed for a and b")
	_, err = m.GetTensor("c")
	require.NoError(t, err)
	assert.Equal(t, 1, o.count(shard2))
}

func TestModelRetriesAFailedShardOpen(t *testing.T) {
	dir := twoShards(t)
	index, _ := os.ReadFile(filepath.Join(dir, safetensors.IndexName))
	o := &opener{dir: dir}
	o.fail.Store(1)
	m, err := safetensors.NewModel(index, o.open)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.GetTensor("c")
	require.Error(t, err)
	assert.Contains(t, err.Error(), shard2)
	assert.Contains(t, err.Error(), "injected failure")
	tensor, err := m.GetTensor("c")
	require.NoError(t, err, "a failed open is tried again")
	assert.Equal(t, []byte{7, 8, 9, 10}, tensor.Data())
	assert.Equal(t, 2, o.count(shard2))
}

func TestModelCloseRacesReads(t *testing.T) {
	dir := twoShards(t)
	m, err := safetensors.OpenModel(dir)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				for _, name := range []string{"a", "b", "c"} {
					if _, err := m.Info(name); err != nil {
						assert.ErrorIs(t, err, safetensors.ErrClosed)
					}
				}
			}
		}()
	}
	require.NoError(t, m.Close())
	wg.Wait()
}

func TestModelSingleFile(t *testing.T) {
	dir := t.TempDir()
	file := stFile(map[string]string{"format": "pt"}, u8s("y", 3), u8s("x", 1, 2))
	cases := map[string]string{
		"model.safetensors in a folder": safetensors.SingleFileName,
		"the only .safetensors file":    "weights.safetensors",
	}
	for name, fileName := range cases {
		t.Run(name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			require.NoError(t, os.Mkdir(sub, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(sub, fileName), file, 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(sub, "config.json"), []byte("{}"), 0o644))
			for _, path := range []string{sub, filepath.Join(sub, fileName)} {
				m, err := safetensors.OpenModel(path)
				require.NoError(t, err)
				assert.False(t, m.Sharded())
				assert.Equal(t, []string{"x", "y"}, m.Keys())
				assert.Equal(t, []string{fileName}, m.Files())
				assert.Equal(t, map[string]string{"format": "pt"}, m.Metadata())
				tensor, err := m.GetTensor("x")
				require.NoError(t, err)
				assert.Equal(t, []byte{1, 2}, tensor.Data())
				var order []string
				for info, err := range m.All() {
					require.NoError(t, err)
					order = append(order, info.Name)
				}
				assert.Equal(t, []string{"y", "x"}, order)
				require.NoError(t, m.Verify())
				require.NoError(t, m.Close())
				_, err = m.GetTensor("x")
				assert.ErrorIs(t, err, safetensors.ErrClosed)
			}
		})
	}
}

func TestModelPrefersTheSingleFile(t *testing.T) {
	// transformers looks for model.safetensors before the index.
	dir := twoShards(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, safetensors.SingleFileName), stFile(nil, u8s("only", 1)), 0o644))
	m, err := safetensors.OpenModel(dir)
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, []string{"only"}, m.Keys())
}

func TestModelOtherIndexName(t *testing.T) {
	dir := twoShards(t)
	other := filepath.Join(dir, "diffusion_pytorch_model.safetensors.index.json")
	require.NoError(t, os.Rename(filepath.Join(dir, safetensors.IndexName), other))
	m, err := safetensors.OpenModel(dir)
	require.NoError(t, err)
	defer m.Close()
	assert.True(t, m.Sharded())
	assert.Equal(t, []string{"a", "b", "c"}, m.Keys())
}

func TestModelFolderErrors(t *testing.T) {
	empty := t.TempDir()
	_, err := safetensors.OpenModel(empty)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "no model.safetensors")

	_, err = safetensors.OpenModel(filepath.Join(empty, "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist)

	two := t.TempDir()
	for _, n := range []string{"a.safetensors", "b.safetensors"} {
		require.NoError(t, os.WriteFile(filepath.Join(two, n), stFile(nil), 0o644))
	}
	_, err = safetensors.OpenModel(two)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 .safetensors files and no index")

	twoIndexes := t.TempDir()
	for _, n := range []string{"a.safetensors.index.json", "b.safetensors.index.json"} {
		require.NoError(t, os.WriteFile(filepath.Join(twoIndexes, n), indexJSON("{}"), 0o644))
	}
	_, err = safetensors.OpenModel(twoIndexes)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2 index files")
}

func TestModelRealIndex(t *testing.T) {
	index, err := os.ReadFile("testdata/real/index/phi-tiny-moe.model.safetensors.index.json")
	require.NoError(t, err)
	var opened []string
	m, err := safetensors.NewModel(index, func(name string) (*safetensors.File, error) {
		opened = append(opened, name)
		return nil, fs.ErrNotExist
	})
	require.NoError(t, err)
	// Counted independently: grep -c 'safetensors"' on the file gives 1957.
	assert.Equal(t, 1957, m.Len())
	assert.Equal(t, []string{shard1, shard2}, m.Files())
	assert.Equal(t, map[string]string{"total_size": "7510440576"}, m.Metadata())
	assert.True(t, slices.IsSorted(m.Keys()))
	file, ok := m.FileOf("lm_head.weight")
	assert.True(t, ok)
	assert.Equal(t, shard2, file)
	file, _ = m.FileOf("model.embed_tokens.weight")
	assert.Equal(t, shard1, file)
	assert.Empty(t, opened)

	_, err = m.GetTensor("lm_head.weight")
	assert.ErrorIs(t, err, fs.ErrNotExist, "the shards are not in the corpus")
	assert.Contains(t, err.Error(), shard2)
	require.NoError(t, m.Close())
}

func TestIndexErrors(t *testing.T) {
	cases := map[string]string{
		"not JSON":             `{"weight_map": {`,
		"not an object":        `[]`,
		"no weight_map":        `{"metadata": {"total_size": 1}}`,
		"weight_map not obj":   `{"weight_map": ["a"]}`,
		"weight_map null":      `{"weight_map": null}`,
		"file not a string":    `{"weight_map": {"a": 1}}`,
		"tensor listed twice":  `{"weight_map": {"a": "x.safetensors", "a": "y.safetensors"}}`,
		"duplicate top key":    `{"weight_map": {}, "weight_map": {}}`,
		"duplicate meta key":   `{"metadata": {"k": 1, "k": 2}, "weight_map": {}}`,
		"metadata not object":  `{"metadata": [1], "weight_map": {}}`,
		"trailing bytes":       `{"weight_map": {}} x`,
		"trailing comma":       `{"weight_map": {"a": "x.safetensors",}}`,
		"parent folder":        `{"weight_map": {"a": "../x.safetensors"}}`,
		"parent inside":        `{"weight_map": {"a": "sub/../../x.safetensors"}}`,
		"absolute path":        `{"weight_map": {"a": "/etc/x.safetensors"}}`,
		"backslash":            `{"weight_map": {"a": "..\\x.safetensors"}}`,
		"drive letter":         `{"weight_map": {"a": "C:x.safetensors"}}`,
		"empty file name":      `{"weight_map": {"a": ""}}`,
		"dot":                  `{"weight_map": {"a": "."}}`,
		"dot slash":            `{"weight_map": {"a": "./x.safetensors"}}`,
		"trailing slash":       `{"weight_map": {"a": "x/"}}`,
		"lone surrogate":       `{"weight_map": {"\ud800": "x.safetensors"}}`,
		"not UTF-8":            "{\"weight_map\": {\"\xff\": \"x.safetensors\"}}",
		"nesting in metadata":  `{"metadata": {"k": ` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}, "weight_map": {}}`,
		"empty":                ``,
		"number in weight_map": `{"weight_map": {"a": "x.safetensors", "b": 2}}`,
	}
	for name, index := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := safetensors.NewModel([]byte(index), func(string) (*safetensors.File, error) {
				t.Fatal("no shard may be opened")
				return nil, nil
			})
			require.Error(t, err)
			assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
			assert.NotErrorIs(t, err, safetensors.ErrInvalidHeader)
		})
	}
}

func TestIndexAccepted(t *testing.T) {
	cases := map[string]struct {
		index string
		meta  map[string]string
		files []string
	}{
		"no metadata":      {`{"weight_map": {"a": "x.safetensors"}}`, nil, []string{"x.safetensors"}},
		"null metadata":    {`{"metadata": null, "weight_map": {}}`, nil, []string{}},
		"other keys":       {`{"format": "x", "weight_map": {}, "extra": [1, {"a": 2}]}`, nil, []string{}},
		"metadata kinds":   {`{"metadata": {"s": "v\n", "n": 1.5e3, "b": true, "o": {"x": [1]}}, "weight_map": {}}`, map[string]string{"s": "v\n", "n": "1.5e3", "b": "true", "o": `{"x": [1]}`}, []string{}},
		"subfolder":        {`{"weight_map": {"a": "sub/x.safetensors", "b": "y.safetensors"}}`, nil, []string{"sub/x.safetensors", "y.safetensors"}},
		"escaped names":    {`{"weight_map": {"\u00e9\"": "x.safetensors"}}`, nil, []string{"x.safetensors"}},
		"whitespace, CRLF": {"\r\n {\r\n\"weight_map\" :\t{ } }\r\n", nil, []string{}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := safetensors.NewModel([]byte(c.index), nil)
			require.NoError(t, err)
			assert.Equal(t, c.meta, m.Metadata())
			assert.Equal(t, c.files, m.Files())
		})
	}
}

func TestIndexErrorSaysWhere(t *testing.T) {
	_, err := safetensors.NewModel([]byte(`{"weight_map": {"a": 1}}`), nil)
	var fe *safetensors.FormatError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, int64(21), fe.Offset, "the offset of the 1, counted in the index")
}

// shardCase writes the two-shard model, then lets the test break it.
func shardCase(t *testing.T, index []byte, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, safetensors.IndexName), index, 0o644))
	return dir
}

func TestModelShardErrors(t *testing.T) {
	good1 := stFile(nil, u8s("a", 1), u8s("b", 2))
	good2 := stFile(nil, u8s("c", 3))
	stdIndex := indexJSON("{}", [2]string{"a", shard1}, [2]string{"b", shard1}, [2]string{"c", shard2})

	t.Run("missing shard file", func(t *testing.T) {
		dir := shardCase(t, stdIndex, map[string][]byte{shard1: good1})
		_, err := safetensors.OpenModel(dir)
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), shard2)
	})
	t.Run("traversal refused before any file access", func(t *testing.T) {
		outside := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(outside, "x.safetensors"), good2, 0o644))
		index := indexJSON("{}", [2]string{"c", "../" + filepath.Base(outside) + "/x.safetensors"})
		dir := shardCase(t, index, nil)
		_, err := safetensors.OpenModel(dir)
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.Contains(t, err.Error(), "not a relative path inside")
	})
	t.Run("listed tensor missing from its shard", func(t *testing.T) {
		dir := shardCase(t, stdIndex, map[string][]byte{shard1: stFile(nil, u8s("a", 1)), shard2: good2})
		m, err := safetensors.OpenModel(dir)
		require.NoError(t, err, "checked when the shard is opened")
		defer m.Close()
		_, err = m.GetTensor("a")
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex, "any use of the shard fails")
		assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)
		assert.Contains(t, err.Error(), `tensor "b"`)
		assert.Contains(t, err.Error(), shard1)
		_, err = m.GetTensor("c")
		assert.NoError(t, err, "the other shard is fine")
		err = m.Verify()
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
	})
	t.Run("tensor in a shard but not in the index", func(t *testing.T) {
		dir := shardCase(t, stdIndex, map[string][]byte{shard1: good1, shard2: stFile(nil, u8s("c", 3), u8s("extra", 4))})
		m, err := safetensors.OpenModel(dir)
		require.NoError(t, err)
		defer m.Close()
		_, err = m.GetTensor("c")
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.Contains(t, err.Error(), `"extra", which the index does not list`)
		assert.NotErrorIs(t, err, safetensors.ErrTensorNotFound)
	})
	t.Run("tensor in two shards", func(t *testing.T) {
		dir := shardCase(t, stdIndex, map[string][]byte{shard1: good1, shard2: stFile(nil, u8s("a", 9), u8s("c", 3))})
		m, err := safetensors.OpenModel(dir)
		require.NoError(t, err)
		defer m.Close()
		err = m.Verify()
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.Contains(t, err.Error(), `tensor "a" is in two shards, "`+shard2+`" and "`+shard1+`"`)
		_, err = m.GetTensor("a")
		assert.NoError(t, err, "shard 1 agrees with the index")
		_, err = m.GetTensor("c")
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex, "shard 2 holds a tensor the index puts elsewhere")
	})
	t.Run("tensor in the wrong shard", func(t *testing.T) {
		index := indexJSON("{}", [2]string{"a", shard1}, [2]string{"b", shard2}, [2]string{"c", shard2})
		dir := shardCase(t, index, map[string][]byte{shard1: good1, shard2: good2})
		m, err := safetensors.OpenModel(dir)
		require.NoError(t, err)
		defer m.Close()
		err = m.Verify()
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.Contains(t, err.Error(), `tensor "b" is in shard "`+shard1+`", but the index puts it in shard "`+shard2+`"`)
	})
	t.Run("corrupt shard", func(t *testing.T) {
		bad := good2[:len(good2)-1]
		dir := shardCase(t, stdIndex, map[string][]byte{shard1: good1, shard2: bad})
		m, err := safetensors.OpenModel(dir)
		require.NoError(t, err)
		defer m.Close()
		_, err = m.GetTensor("c")
		assert.ErrorIs(t, err, safetensors.ErrIncompleteBuffer)
		assert.Contains(t, err.Error(), shard2)
		err = m.Verify()
		assert.ErrorIs(t, err, safetensors.ErrIncompleteBuffer)
		assert.NotContains(t, err.Error(), shard1)
	})
	t.Run("shard is a folder", func(t *testing.T) {
		dir := shardCase(t, stdIndex, map[string][]byte{shard1: good1})
		require.NoError(t, os.Mkdir(filepath.Join(dir, shard2), 0o755))
		_, err := safetensors.OpenModel(dir)
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.ErrorIs(t, err, safetensors.ErrNotRegular)
	})
	t.Run("index too large", func(t *testing.T) {
		dir := shardCase(t, stdIndex, map[string][]byte{shard1: good1, shard2: good2})
		_, err := safetensors.Options{MaxHeaderSize: 20}.OpenModel(dir)
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.Contains(t, err.Error(), "larger than the limit")
	})
	t.Run("subfolder and symlink allowed", func(t *testing.T) {
		index := indexJSON("{}", [2]string{"a", "sub/one.safetensors"}, [2]string{"b", "sub/one.safetensors"}, [2]string{"c", "link.safetensors"})
		dir := shardCase(t, index, map[string][]byte{"sub/one.safetensors": good1, "blobs/two": good2})
		if err := os.Symlink(filepath.Join("blobs", "two"), filepath.Join(dir, "link.safetensors")); err != nil {
			t.Skip("no symbolic links here:", err)
		}
		m, err := safetensors.OpenModel(filepath.Join(dir, safetensors.IndexName))
		require.NoError(t, err)
		defer m.Close()
		require.NoError(t, m.Verify())
		tensor, err := m.GetTensor("c")
		require.NoError(t, err)
		assert.Equal(t, []byte{3}, tensor.Data())
	})
}

// Which tensors a sharded model has, and where, costs only its index; a
// tensor's shard is opened (mapped) when the tensor is first asked for.
func ExampleOpenModel() {
	dir, err := os.MkdirTemp("", "model")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	pt := map[string]string{"format": "pt"}
	os.WriteFile(filepath.Join(dir, shard1), stFile(pt, u8s("embed", 1, 2, 3)), 0o644)
	os.WriteFile(filepath.Join(dir, shard2), stFile(pt, u8s("head", 4, 5)), 0o644)
	os.WriteFile(filepath.Join(dir, safetensors.IndexName),
		indexJSON(`{"total_size": 5}`, [2]string{"embed", shard1}, [2]string{"head", shard2}), 0o644)

	m, err := safetensors.OpenModel(dir) // or the index's path
	if err != nil {
		panic(err)
	}
	defer m.Close()
	fmt.Println(m.Keys(), m.Metadata())
	file, _ := m.FileOf("head")
	t, err := m.GetTensor("head")
	if err != nil {
		panic(err)
	}
	fmt.Println(file, t.DType(), t.Shape(), t.Data())
	// Output:
	// [embed head] map[total_size:5]
	// model-00002-of-00002.safetensors U8 [2] [4 5]
}

// BenchmarkModelGetTensor compares GetTensor through a sharded Model with
// GetTensor on the shard's File itself: the Model's cost is a map lookup
// and an atomic load.
//
//	go test -run '^$' -bench ModelGetTensor -count 1 .
func BenchmarkModelGetTensor(b *testing.B) {
	dir := b.TempDir()
	tensors := map[string][]byte{}
	var list []st
	for i := range 64 {
		name := fmt.Sprintf("t%02d", i)
		list = append(list, u8s(name, byte(i), 1, 2, 3))
		tensors[name] = list[i].data
	}
	var weights [][2]string
	for name := range tensors {
		weights = append(weights, [2]string{name, shard1})
	}
	if err := os.WriteFile(filepath.Join(dir, shard1), stFile(nil, list...), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, safetensors.IndexName), indexJSON("{}", weights...), 0o644); err != nil {
		b.Fatal(err)
	}
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	f, err := m.Shard(shard1)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("File", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := f.GetTensor("t42"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Model", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.GetTensor("t42"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzNewModel feeds arbitrary bytes to the index parser: it must never
// panic, and an index it accepts must survive a round trip through
// ShardIndex.WriteTo with the same weight map.
func FuzzNewModel(f *testing.F) {
	real, err := os.ReadFile("testdata/real/index/phi-tiny-moe.model.safetensors.index.json")
	require.NoError(f, err)
	f.Add(real[:2000])
	f.Add(indexJSON(`{"total_size": 9}`, [2]string{"a", shard1}, [2]string{"b", shard2}))
	f.Add([]byte(`{"weight_map": {"\u00e9\"": "x.safetensors"}, "metadata": {"k": [1, {"a": null}]}}`))
	f.Add([]byte(`{"weight_map": {"a": "../x"}}`))
	f.Fuzz(func(t *testing.T, index []byte) {
		m, err := safetensors.NewModel(index, nil)
		if err != nil {
			if !errors.Is(err, safetensors.ErrInvalidIndex) {
				t.Fatalf("error does not wrap ErrInvalidIndex: %v", err)
			}
			return
		}
		keys := m.Keys()
		if !slices.IsSorted(keys) || len(keys) != m.Len() {
			t.Fatalf("keys not sorted or wrong count")
		}
		x := &safetensors.ShardIndex{WeightMap: map[string]string{}}
		for _, k := range keys {
			file, ok := m.FileOf(k)
			if !ok || !slices.Contains(m.Files(), file) {
				t.Fatalf("tensor %q: file %q not among the files", k, file)
			}
			x.WeightMap[k] = file
		}
		var b strings.Builder
		if _, err := x.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		m2, err := safetensors.NewModel([]byte(b.String()), nil)
		if err != nil {
			t.Fatalf("re-encoded index refused: %v\n%s", err, b.String())
		}
		for _, k := range keys {
			f1, _ := m.FileOf(k)
			f2, _ := m2.FileOf(k)
			if f1 != f2 {
				t.Fatalf("tensor %q: %q became %q", k, f1, f2)
			}
		}
	})
}
