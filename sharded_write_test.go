package safetensors_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// planCase is one case of testdata/sharded/plans.json, computed by
// testdata/sharded/gen.py with huggingface_hub's algorithm.
type planCase struct {
	Limit     int64        `json:"limit"`
	Tensors   [][3]any     `json:"tensors"` // name, size, storage id or null
	TotalSize int64        `json:"total_size"`
	Files     [][2]any     `json:"files"` // file name, tensor names
	files     []shardFiles // Files, typed
}

type shardFiles struct {
	name    string
	tensors []string
}

func loadPlans(t *testing.T) map[string]planCase {
	t.Helper()
	b, err := os.ReadFile("testdata/sharded/plans.json")
	require.NoError(t, err)
	var cases map[string]planCase
	require.NoError(t, json.Unmarshal(b, &cases))
	for name, c := range cases {
		for _, f := range c.Files {
			var names []string
			for _, n := range f[1].([]any) {
				names = append(names, n.(string))
			}
			c.files = append(c.files, shardFiles{f[0].(string), names})
		}
		cases[name] = c
	}
	return cases
}

func (c planCase) shared() bool {
	for _, t := range c.Tensors {
		if t[2] != nil {
			return true
		}
	}
	return false
}

func planFiles(p *safetensors.ShardPlan) []shardFiles {
	var out []shardFiles
	for _, f := range p.Files {
		out = append(out, shardFiles{f.Name, f.Tensors})
	}
	return out
}

func TestPlanShardsLikeHuggingfaceHub(t *testing.T) {
	for name, c := range loadPlans(t) {
		if c.shared() {
			continue // storage sharing needs tensors: see TestSaveShardedSharedStorage
		}
		t.Run(name, func(t *testing.T) {
			var infos []safetensors.TensorInfo
			var params int64
			for _, tt := range c.Tensors {
				size := int(tt[1].(float64))
				infos = append(infos, safetensors.TensorInfo{Name: tt[0].(string), DType: safetensors.U8, Shape: []int{size}})
				params += int64(size)
			}
			p, err := safetensors.PlanShards(infos, safetensors.ShardOptions{MaxShardSize: c.Limit})
			require.NoError(t, err)
			assert.Equal(t, c.files, planFiles(p))
			assert.Equal(t, c.TotalSize, p.TotalSize)
			assert.Equal(t, params, p.TotalParameters, "U8: one parameter a byte")
			assert.Equal(t, len(c.files) > 1, p.Sharded())
			assert.Equal(t, "model.safetensors.index.json", p.IndexName)
			for i, f := range p.Files {
				var size int64
				for _, n := range f.Tensors {
					for _, tt := range c.Tensors {
						if tt[0] == n {
							size += int64(tt[1].(float64))
						}
					}
				}
				assert.Equal(t, size, f.Size, "file %d", i)
			}
		})
	}
}

func TestPlanShardsSizesFromDTypeAndShape(t *testing.T) {
	infos := []safetensors.TensorInfo{
		{Name: "w", DType: safetensors.F32, Shape: []int{10, 10}}, // 400 bytes, 100 parameters
		{Name: "b", DType: safetensors.BF16, Shape: []int{100}},   // 200 bytes
		{Name: "s", DType: safetensors.I64, Shape: []int{}},       // 8 bytes, a scalar
		{Name: "q", DType: safetensors.F4, Shape: []int{2, 8}},    // 8 bytes, 16 parameters
	}
	p, err := safetensors.PlanShards(infos, safetensors.ShardOptions{MaxShardSize: 500, Prefix: "diffusion_pytorch_model"})
	require.NoError(t, err)
	assert.Equal(t, []shardFiles{
		{"diffusion_pytorch_model-00001-of-00002.safetensors", []string{"w"}},
		{"diffusion_pytorch_model-00002-of-00002.safetensors", []string{"b", "s", "q"}},
	}, planFiles(p))
	assert.Equal(t, int64(616), p.TotalSize)
	assert.Equal(t, int64(217), p.TotalParameters)
	assert.Equal(t, []int64{400, 216}, []int64{p.Files[0].Size, p.Files[1].Size})
	assert.Equal(t, "diffusion_pytorch_model.safetensors.index.json", p.IndexName)

	x := p.Index()
	assert.Equal(t, map[string]int64{"total_size": 616, "total_parameters": 217}, x.Metadata)
	assert.Equal(t, map[string]string{
		"w": "diffusion_pytorch_model-00001-of-00002.safetensors",
		"b": "diffusion_pytorch_model-00002-of-00002.safetensors",
		"s": "diffusion_pytorch_model-00002-of-00002.safetensors",
		"q": "diffusion_pytorch_model-00002-of-00002.safetensors",
	}, x.WeightMap)

	// Defaults: 5 GB shards, "model".
	p, err = safetensors.PlanShards(infos, safetensors.ShardOptions{})
	require.NoError(t, err)
	assert.Equal(t, []shardFiles{{"model.safetensors", []string{"w", "b", "s", "q"}}}, planFiles(p))
	assert.Equal(t, int64(5_000_000_000), int64(safetensors.DefaultMaxShardSize))

	// No tensors: one empty file, not none.
	p, err = safetensors.PlanShards(nil, safetensors.ShardOptions{})
	require.NoError(t, err)
	assert.Equal(t, []shardFiles{{"model.safetensors", nil}}, planFiles(p))
}

func TestPlanShardsErrors(t *testing.T) {
	f32 := func(name string, shape ...int) safetensors.TensorInfo {
		return safetensors.TensorInfo{Name: name, DType: safetensors.F32, Shape: shape}
	}
	cases := map[string]struct {
		infos []safetensors.TensorInfo
		opts  safetensors.ShardOptions
		is    error
	}{
		"duplicate name":     {[]safetensors.TensorInfo{f32("a", 1), f32("a", 2)}, safetensors.ShardOptions{}, safetensors.ErrInvalidHeader},
		"reserved name":      {[]safetensors.TensorInfo{f32("__metadata__", 1)}, safetensors.ShardOptions{}, safetensors.ErrInvalidHeader},
		"not UTF-8":          {[]safetensors.TensorInfo{f32("\xff", 1)}, safetensors.ShardOptions{}, safetensors.ErrInvalidHeader},
		"invalid dtype":      {[]safetensors.TensorInfo{{Name: "a", Shape: []int{1}}}, safetensors.ShardOptions{}, safetensors.ErrInvalidTensorInfo},
		"negative dimension": {[]safetensors.TensorInfo{f32("a", 2, -1)}, safetensors.ShardOptions{}, safetensors.ErrInvalidTensorInfo},
		"overflow":           {[]safetensors.TensorInfo{f32("a", 1<<40, 1<<40)}, safetensors.ShardOptions{}, safetensors.ErrOverflow},
		"misaligned F4":      {[]safetensors.TensorInfo{{Name: "a", DType: safetensors.F4, Shape: []int{3}}}, safetensors.ShardOptions{}, safetensors.ErrMisalignedSlice},
		"prefix with slash":  {nil, safetensors.ShardOptions{Prefix: "a/b"}, nil},
		"prefix parent":      {nil, safetensors.ShardOptions{Prefix: ".."}, nil},
		"prefix backslash":   {nil, safetensors.ShardOptions{Prefix: `a\b`}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := safetensors.PlanShards(c.infos, c.opts)
			require.Error(t, err)
			if c.is != nil {
				assert.ErrorIs(t, err, c.is)
			}
		})
	}
}

// parseIndexFile reads an index with encoding/json, independently of the
// package's own parser.
func parseIndexFile(t *testing.T, path string) ([]byte, *safetensors.ShardIndex) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var x struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	require.NoError(t, json.Unmarshal(raw, &x))
	return raw, &safetensors.ShardIndex{Metadata: x.Metadata, WeightMap: x.WeightMap}
}

func TestShardIndexBytesLikeTransformers(t *testing.T) {
	for _, path := range []string{
		// Written by transformers' save_pretrained for a real model.
		"testdata/real/index/phi-tiny-moe.model.safetensors.index.json",
		// Written by Python's json.dumps as save_pretrained calls it, for
		// names that need every kind of escape (testdata/sharded/gen.py).
		"testdata/sharded/index_tricky.json",
	} {
		t.Run(path, func(t *testing.T) {
			want, x := parseIndexFile(t, path)
			var got bytes.Buffer
			n, err := x.WriteTo(&got)
			require.NoError(t, err)
			assert.Equal(t, int64(len(want)), n)
			if !assert.True(t, bytes.Equal(want, got.Bytes())) {
				assert.Equal(t, string(want), got.String()) // a readable diff
			}
		})
	}
}

func TestShardIndexEmptyAndInvalid(t *testing.T) {
	var b bytes.Buffer
	_, err := (&safetensors.ShardIndex{}).WriteTo(&b)
	require.NoError(t, err)
	// json.dumps({"metadata": {}, "weight_map": {}}, indent=2, sort_keys=True) + "\n"
	assert.Equal(t, "{\n  \"metadata\": {},\n  \"weight_map\": {}\n}\n", b.String())

	_, err = (&safetensors.ShardIndex{WeightMap: map[string]string{"\xff": "x"}}).WriteTo(&b)
	assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
}

func TestShardIndexReadsBack(t *testing.T) {
	_, x := parseIndexFile(t, "testdata/sharded/index_tricky.json")
	var b bytes.Buffer
	_, err := x.WriteTo(&b)
	require.NoError(t, err)
	m, err := safetensors.NewModel(b.Bytes(), nil)
	require.NoError(t, err)
	assert.Equal(t, len(x.WeightMap), m.Len())
	for name, file := range x.WeightMap {
		got, ok := m.FileOf(name)
		assert.True(t, ok, "%q", name)
		assert.Equal(t, file, got)
	}
	assert.Equal(t, map[string]string{"total_parameters": "123456789", "total_size": "7510440576"}, m.Metadata())
	assert.True(t, strings.HasSuffix(b.String(), "}\n"))
}

// someTensors makes n tensors of various dtypes and sizes, with distinct
// bytes, named layers.K.KIND.
func someTensors(t *testing.T, n int) map[string]safetensors.Tensor {
	t.Helper()
	out := map[string]safetensors.Tensor{}
	kinds := []struct {
		name  string
		dtype safetensors.DType
		shape []int
	}{
		{"weight", safetensors.F32, []int{16, 8}}, // 512 bytes
		{"bias", safetensors.BF16, []int{16}},     // 32 bytes
		{"scale", safetensors.F64, []int{}},       // 8 bytes
		{"codes", safetensors.F4, []int{4, 6}},    // 12 bytes
	}
	for k := range n {
		kind := kinds[k%len(kinds)]
		size := kind.dtype.BitSize() / 8
		elems := 1
		for _, d := range kind.shape {
			elems *= d
		}
		size = elems * kind.dtype.BitSize() / 8
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(k*31 + i)
		}
		tensor, err := safetensors.NewTensor(kind.dtype, kind.shape, data)
		require.NoError(t, err)
		out[fmt.Sprintf("layers.%d.%s", k/len(kinds), kind.name)] = tensor
	}
	return out
}

var shardName = regexp.MustCompile(`^model-(\d{5})-of-(\d{5})\.safetensors$`)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestSaveShardedRoundTrip(t *testing.T) {
	tensors := someTensors(t, 24) // 6 x (512+32+8+12) = 3384 bytes
	dir := filepath.Join(t.TempDir(), "new", "folder")
	plan, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: 1000})
	require.NoError(t, err)
	require.True(t, plan.Sharded())
	assert.Equal(t, int64(3384), plan.TotalSize)
	assert.Equal(t, int64(6*(128+16+1+24)), plan.TotalParameters)

	// The files: every shard, named as transformers names them, and the index.
	var want []string
	for i, f := range plan.Files {
		m := shardName.FindStringSubmatch(f.Name)
		require.NotNil(t, m, f.Name)
		assert.Equal(t, fmt.Sprintf("%05d", i+1), m[1])
		assert.Equal(t, fmt.Sprintf("%05d", len(plan.Files)), m[2])
		assert.LessOrEqual(t, f.Size, int64(1000))
		want = append(want, f.Name)
	}
	want = append(want, "model.safetensors.index.json")
	slices.Sort(want)
	assert.Equal(t, want, dirNames(t, dir), "no temporary file left behind")

	// The split follows sorted names: every shard's tensors come after the
	// previous shard's.
	var order []string
	for _, f := range plan.Files {
		order = append(order, f.Tensors...)
	}
	assert.True(t, slices.IsSorted(order))

	// The index is the plan's, as ShardIndex writes it.
	var idx bytes.Buffer
	_, err = plan.Index().WriteTo(&idx)
	require.NoError(t, err)
	onDisk, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	require.NoError(t, err)
	assert.Equal(t, idx.String(), string(onDisk))

	m, err := safetensors.OpenModel(dir)
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Verify())
	assert.Equal(t, slices.Sorted(maps.Keys(tensors)), m.Keys())
	assert.Equal(t, map[string]string{"total_size": "3384", "total_parameters": strconv.FormatInt(plan.TotalParameters, 10)}, m.Metadata())
	for name, tensor := range tensors {
		got, err := m.GetTensor(name)
		require.NoError(t, err)
		assert.Equal(t, tensor.DType(), got.DType(), name)
		assert.Equal(t, tensor.Shape(), got.Shape(), name)
		assert.Equal(t, tensor.Data(), got.Data(), name)
	}
	for _, f := range plan.Files {
		shard, err := m.Shard(f.Name)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"format": "pt"}, shard.Metadata())
		assert.Equal(t, len(f.Tensors), shard.Len())
	}
}

func TestSaveShardedSingleFile(t *testing.T) {
	tensors := someTensors(t, 4)
	dir := t.TempDir()
	plan, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{Metadata: map[string]string{"format": "mlx"}})
	require.NoError(t, err)
	assert.False(t, plan.Sharded())
	assert.Equal(t, []string{"model.safetensors"}, dirNames(t, dir), "one file, no index, as transformers")
	f, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, map[string]string{"format": "mlx"}, f.Metadata())
	assert.Equal(t, 4, f.Len())
}

func TestSaveShardedSharedStorage(t *testing.T) {
	for name, c := range loadPlans(t) {
		if !c.shared() {
			continue
		}
		t.Run(name, func(t *testing.T) {
			tensors := map[string]safetensors.Tensor{}
			storage := map[string][]byte{}
			for i, tt := range c.Tensors {
				n := int(tt[1].(float64))
				data := bytes.Repeat([]byte{byte(i + 1)}, n)
				if id, ok := tt[2].(string); ok {
					if s, seen := storage[id]; seen {
						data = s // the very same bytes: shared storage
					}
					storage[id] = data
				}
				tensor, err := safetensors.NewTensor(safetensors.U8, []int{n}, data)
				require.NoError(t, err)
				tensors[tt[0].(string)] = tensor
			}
			dir := t.TempDir()
			plan, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: c.Limit})
			require.NoError(t, err)
			assert.Equal(t, c.files, planFiles(plan), "huggingface_hub's assignment")
			assert.Equal(t, c.TotalSize, plan.TotalSize, "shared storage counted once")
			m, err := safetensors.OpenModel(dir)
			require.NoError(t, err)
			defer m.Close()
			require.NoError(t, m.Verify())
			for name, tensor := range tensors {
				got, err := m.GetTensor(name)
				require.NoError(t, err)
				assert.Equal(t, tensor.Data(), got.Data(), "each tensor is in its shard in full")
			}
		})
	}
}

func TestSaveShardedRemovesStaleFiles(t *testing.T) {
	dir := t.TempDir()
	keep := []string{"config.json", "other-00001-of-00005.safetensors", "model-1-of-2.safetensors", "model-00001-of-00003.safetensors.bak"}
	for _, n := range keep {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644))
	}
	tensors := someTensors(t, 24)
	p3, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: 1300})
	require.NoError(t, err)
	p2, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: 2000})
	require.NoError(t, err)
	require.Greater(t, len(p3.Files), len(p2.Files))
	want := append(slices.Clone(keep), "model.safetensors.index.json")
	for _, f := range p2.Files {
		want = append(want, f.Name)
	}
	slices.Sort(want)
	assert.Equal(t, want, dirNames(t, dir), "the shards of the first save are gone, nothing else")

	// A single-file save removes the index and the shards...
	_, err = safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{})
	require.NoError(t, err)
	want = append(slices.Clone(keep), "model.safetensors")
	slices.Sort(want)
	assert.Equal(t, want, dirNames(t, dir))

	// ...and a sharded one removes model.safetensors, which OpenModel would
	// otherwise prefer to the index.
	_, err = safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: 2000})
	require.NoError(t, err)
	assert.NotContains(t, dirNames(t, dir), "model.safetensors")
	m, err := safetensors.OpenModel(dir)
	require.NoError(t, err)
	assert.True(t, m.Sharded())
	m.Close()

	// Another prefix leaves model's files alone.
	_, err = safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{Prefix: "other", MaxShardSize: 2000})
	require.NoError(t, err)
	assert.Contains(t, dirNames(t, dir), "model.safetensors.index.json")
	assert.NotContains(t, dirNames(t, dir), "other-00001-of-00005.safetensors", "a stale shard of prefix other")
}

func TestSaveShardedRefusesBeforeWriting(t *testing.T) {
	good := someTensors(t, 8)
	bad, err := safetensors.NewTensor(safetensors.U8, []int{3}, []byte{1, 2, 3})
	require.NoError(t, err)
	cases := map[string]struct {
		tensors map[string]safetensors.Tensor
		o       safetensors.Options
		opts    safetensors.ShardOptions
		is      error
	}{
		"reserved name":     {map[string]safetensors.Tensor{"__metadata__": bad}, safetensors.Options{}, safetensors.ShardOptions{}, safetensors.ErrInvalidHeader},
		"name not UTF-8":    {map[string]safetensors.Tensor{"\xff": bad}, safetensors.Options{}, safetensors.ShardOptions{}, safetensors.ErrInvalidHeader},
		"header too large":  {good, safetensors.Options{MaxHeaderSize: 100}, safetensors.ShardOptions{MaxShardSize: 600}, safetensors.ErrHeaderTooLarge},
		"metadata not UTF8": {good, safetensors.Options{}, safetensors.ShardOptions{MaxShardSize: 600, Metadata: map[string]string{"k": "\xff"}}, safetensors.ErrInvalidHeader},
		"bad prefix":        {good, safetensors.Options{}, safetensors.ShardOptions{Prefix: "../x"}, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := c.o.SaveSharded(dir, c.tensors, c.opts)
			require.Error(t, err)
			if c.is != nil {
				assert.ErrorIs(t, err, c.is)
			}
			assert.Empty(t, dirNames(t, dir), "nothing written")
			_, err = c.o.SaveShardedFunc(dir, infosOf(c.tensors), c.opts, func(w *safetensors.Writer, name string) error {
				t.Fatal("no tensor may be written")
				return nil
			})
			require.Error(t, err)
			assert.Empty(t, dirNames(t, dir), "nothing written")
		})
	}
}

func TestSaveShardedLengthMismatch(t *testing.T) {
	// A Tensor built by hand cannot have the wrong length (NewTensor checks);
	// the zero Tensor is the one way to pass an invalid one.
	_, err := safetensors.SaveSharded(t.TempDir(), map[string]safetensors.Tensor{"z": {}}, safetensors.ShardOptions{})
	assert.ErrorIs(t, err, safetensors.ErrInvalidTensorInfo)
}

func infosOf(tensors map[string]safetensors.Tensor) []safetensors.TensorInfo {
	var out []safetensors.TensorInfo
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		out = append(out, safetensors.TensorInfo{Name: name, DType: tensors[name].DType(), Shape: tensors[name].Shape()})
	}
	return out
}

func TestSaveShardedFuncReshardsAModel(t *testing.T) {
	tensors := someTensors(t, 24)
	src := t.TempDir()
	_, err := safetensors.SaveSharded(src, tensors, safetensors.ShardOptions{MaxShardSize: 1000})
	require.NoError(t, err)
	m, err := safetensors.OpenModel(src)
	require.NoError(t, err)
	defer m.Close()

	var infos []safetensors.TensorInfo
	for info, err := range m.All() {
		require.NoError(t, err)
		infos = append(infos, info)
	}
	dst := t.TempDir()
	var calls []string
	plan, err := safetensors.SaveShardedFunc(dst, infos, safetensors.ShardOptions{MaxShardSize: 1500, Prefix: "resharded"},
		func(w *safetensors.Writer, name string) error {
			calls = append(calls, name)
			tensor, err := m.GetTensor(name) // a view of the source's mapping
			if err != nil {
				return err
			}
			return w.WriteTensor(name, tensor)
		})
	require.NoError(t, err)
	assert.Len(t, calls, 24, "one call per tensor")
	// The same split as PlanShards gives for the same order.
	want, err := safetensors.PlanShards(infos, safetensors.ShardOptions{MaxShardSize: 1500, Prefix: "resharded"})
	require.NoError(t, err)
	assert.Equal(t, want, plan)

	m2, err := safetensors.OpenModel(filepath.Join(dst, "resharded.safetensors.index.json"))
	require.NoError(t, err)
	defer m2.Close()
	require.NoError(t, m2.Verify())
	assert.Equal(t, len(plan.Files), len(m2.Files()))
	for name, tensor := range tensors {
		got, err := m2.GetTensor(name)
		require.NoError(t, err)
		assert.Equal(t, tensor.Data(), got.Data(), name)
	}
}

func TestSaveShardedFuncFailures(t *testing.T) {
	tensors := someTensors(t, 8)
	infos := infosOf(tensors)
	opts := safetensors.ShardOptions{MaxShardSize: 600}
	plan, err := safetensors.PlanShards(infos, opts)
	require.NoError(t, err)
	require.True(t, plan.Sharded())
	second := plan.Files[1].Tensors[0]

	t.Run("write error", func(t *testing.T) {
		dir := t.TempDir()
		boom := errors.New("boom")
		_, err := safetensors.SaveShardedFunc(dir, infos, opts, func(w *safetensors.Writer, name string) error {
			if name == second {
				return boom
			}
			return w.WriteTensor(name, tensors[name])
		})
		assert.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), second)
		assert.Empty(t, dirNames(t, dir), "no shard is written unless all are")
	})
	t.Run("short write", func(t *testing.T) {
		dir := t.TempDir()
		_, err := safetensors.SaveShardedFunc(dir, infos, opts, func(w *safetensors.Writer, name string) error {
			if name == second {
				_, err := w.Write(tensors[name].Data()[:1])
				return err
			}
			return w.WriteTensor(name, tensors[name])
		})
		assert.ErrorIs(t, err, safetensors.ErrIncompleteBuffer)
		assert.Empty(t, dirNames(t, dir))
	})
	t.Run("wrong tensor", func(t *testing.T) {
		dir := t.TempDir()
		_, err := safetensors.SaveShardedFunc(dir, infos, opts, func(w *safetensors.Writer, name string) error {
			other := plan.Files[0].Tensors[len(plan.Files[0].Tensors)-1]
			return w.WriteTensor(other, tensors[other])
		})
		assert.Error(t, err)
		assert.Empty(t, dirNames(t, dir))
	})
}

// A model is saved in shards of at most 16 bytes of data, then opened as
// one: transformers' layout, which transformers reads back as is.
func ExampleSaveSharded() {
	dir, err := os.MkdirTemp("", "sharded")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	weight, _ := safetensors.FromFloat32(safetensors.F32, []int{2, 2}, []float32{1, 2, 3, 4}) // 16 bytes
	bias, _ := safetensors.FromFloat32(safetensors.F32, []int{2}, []float32{0.5, -0.5})       // 8 bytes
	plan, err := safetensors.SaveSharded(dir, map[string]safetensors.Tensor{"weight": weight, "bias": bias},
		safetensors.ShardOptions{MaxShardSize: 16})
	if err != nil {
		panic(err)
	}
	for _, f := range plan.Files {
		fmt.Println(f.Name, f.Tensors)
	}
	index, _ := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	fmt.Print(string(index))

	m, err := safetensors.OpenModel(dir)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	w, _ := m.GetTensor("weight")
	values, _ := safetensors.Values[float32](w)
	fmt.Println(m.Keys(), values)
	// Output:
	// model-00001-of-00002.safetensors [bias]
	// model-00002-of-00002.safetensors [weight]
	// {
	//   "metadata": {
	//     "total_parameters": 6,
	//     "total_size": 24
	//   },
	//   "weight_map": {
	//     "bias": "model-00001-of-00002.safetensors",
	//     "weight": "model-00002-of-00002.safetensors"
	//   }
	// }
	// [bias weight] [1 2 3 4]
}
