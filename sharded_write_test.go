package safetensors_test

import (
	"bytes"
	"encoding/json"
	"os"
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
