package safetensors

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// These tests pin the shard plan at its size boundaries (huggingface_hub's
// split_state_dict_into_shards_factory, worked by hand), the index's bytes
// for every kind of character (json.dumps with ensure_ascii), and which
// files count as stale shards.

func spInfos(sizes ...int) []TensorInfo {
	var out []TensorInfo
	for i, n := range sizes {
		out = append(out, TensorInfo{Name: fmt.Sprintf("t%d", i), DType: U8, Shape: []int{n}})
	}
	return out
}

func spFiles(p *ShardPlan) string {
	var parts []string
	for _, f := range p.Files {
		parts = append(parts, fmt.Sprintf("%s%v=%d", f.Name, f.Tensors, f.Size))
	}
	return strings.Join(parts, " ")
}

func TestPlanShardsBoundaries(t *testing.T) {
	for _, c := range []struct {
		sizes []int
		max   int64
		want  string
	}{
		// Exactly the limit fits; one byte more starts a new shard.
		{[]int{4, 6}, 10, "model.safetensors[t0 t1]=10"},
		{[]int{4, 7}, 10, "model-00001-of-00002.safetensors[t0]=4 model-00002-of-00002.safetensors[t1]=7"},
		// A tensor of exactly the limit is placed as any other; one over it
		// gets a shard of its own, where it comes, and the current shard goes on.
		{[]int{10, 1}, 10, "model-00001-of-00002.safetensors[t0]=10 model-00002-of-00002.safetensors[t1]=1"},
		{[]int{2, 11, 3}, 10, "model-00001-of-00002.safetensors[t1]=11 model-00002-of-00002.safetensors[t0 t2]=5"},
		{[]int{11}, 10, "model.safetensors[t0]=11"},
		// Nothing: one empty file.
		{nil, 10, "model.safetensors[]=0"},
		{[]int{0, 0}, 1, "model.safetensors[t0 t1]=0"},
	} {
		p, err := PlanShards(spInfos(c.sizes...), ShardOptions{MaxShardSize: c.max})
		if err != nil {
			t.Fatal(err)
		}
		if got := spFiles(p); got != c.want {
			t.Errorf("sizes %v, max %d:\n got %s\nwant %s", c.sizes, c.max, got, c.want)
		}
		total := int64(0)
		for _, n := range c.sizes {
			total += int64(n)
		}
		if p.TotalSize != total || p.TotalParameters != total {
			t.Errorf("sizes %v: totals %d, %d", c.sizes, p.TotalSize, p.TotalParameters)
		}
		if p.Sharded() != (len(p.Files) > 1) {
			t.Errorf("Sharded() = %v with %d files", p.Sharded(), len(p.Files))
		}
	}
	// Zero and negative MaxShardSize mean the default.
	for _, max := range []int64{0, -1} {
		p, err := PlanShards(spInfos(DefaultMaxShardSize/2, DefaultMaxShardSize/2), ShardOptions{MaxShardSize: max})
		if err != nil || len(p.Files) != 1 {
			t.Errorf("MaxShardSize %d: %v, %v", max, err, spFiles(p))
		}
		p, err = PlanShards(spInfos(DefaultMaxShardSize/2, DefaultMaxShardSize/2+1), ShardOptions{MaxShardSize: max})
		if err != nil || len(p.Files) != 2 {
			t.Errorf("MaxShardSize %d, over: %v, %v", max, err, spFiles(p))
		}
	}
	// Parameters count elements, sizes bytes.
	p, err := PlanShards([]TensorInfo{{Name: "a", DType: F32, Shape: []int{2, 3}}}, ShardOptions{})
	if err != nil || p.TotalSize != 24 || p.TotalParameters != 6 {
		t.Errorf("F32[2 3]: %v, %d, %d", err, p.TotalSize, p.TotalParameters)
	}
	if x := p.Index(); x.Metadata["total_size"] != 24 || x.Metadata["total_parameters"] != 6 || x.WeightMap["a"] != "model.safetensors" {
		t.Errorf("index %+v", x)
	}
	// Prefixes.
	for _, prefix := range []string{".", "..", "a/b", `a\b`, "a:b", "a\xff"} {
		if _, err := PlanShards(spInfos(1), ShardOptions{Prefix: prefix}); err == nil || !strings.Contains(err.Error(), "is not a plain file name") {
			t.Errorf("prefix %q: %v", prefix, err)
		}
	}
	p, err = PlanShards(spInfos(1, 1), ShardOptions{Prefix: "w", MaxShardSize: 1})
	if err != nil || spFiles(p) != "w-00001-of-00002.safetensors[t0]=1 w-00002-of-00002.safetensors[t1]=1" || p.IndexName != "w.safetensors.index.json" {
		t.Errorf("prefix w: %v, %s, %s", err, spFiles(p), p.IndexName)
	}
	// Negative dimensions, bad names, duplicates.
	for _, infos := range [][]TensorInfo{
		{{Name: "a", DType: U8, Shape: []int{-1}}},
		{{Name: "a", DType: U8, Shape: []int{1}}, {Name: "a", DType: U8, Shape: []int{1}}},
		{{Name: "__metadata__", DType: U8, Shape: []int{1}}},
		{{Name: "a\xff", DType: U8, Shape: []int{1}}},
		{{Name: "a", DType: 0, Shape: []int{1}}},
	} {
		if _, err := PlanShards(infos, ShardOptions{}); err == nil {
			t.Errorf("%v: no error", infos)
		}
	}
	if _, err := PlanShards([]TensorInfo{{Name: "a", DType: U8, Shape: []int{0}}}, ShardOptions{}); err != nil {
		t.Errorf("zero dimension: %v", err)
	}
}

func TestShardIndexEscapes(t *testing.T) {
	x := &ShardIndex{
		Metadata:  map[string]int64{"total_size": -5, "b\n": 1},
		WeightMap: map[string]string{" ~\x7f\x1f\"\\/\n\r\t\b\f\x0b": "é\uffff\U00010000\U0010ffff"},
	}
	var b bytes.Buffer
	if _, err := x.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"metadata\": {\n    \"b\\n\": 1,\n    \"total_size\": -5\n  },\n  \"weight_map\": {\n" +
		`    " ~\u007f\u001f\"\\/\n\r\t\b\f\u000b": "\u00e9\uffff\ud800\udc00\udbff\udfff"` + "\n  }\n}\n"
	if b.String() != want {
		t.Errorf("index\n%s\nwant\n%s", b.String(), want)
	}
	for _, bad := range []*ShardIndex{
		{WeightMap: map[string]string{"a\xff": "s"}},
		{WeightMap: map[string]string{"a": "s\xff"}},
		{Metadata: map[string]int64{"k\xff": 1}},
	} {
		if _, err := bad.WriteTo(&b); err == nil || !strings.Contains(err.Error(), "is not valid UTF-8") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestSaveShardedStaleNames(t *testing.T) {
	dir := t.TempDir()
	stale := []string{"model-00009-of-00009.safetensors", "model-123456-of-123456.safetensors", "model.safetensors"}
	kept := []string{"model-0009-of-00009.safetensors", "model-00009-of-0009.safetensors", "model-0000a-of-00009.safetensors",
		"other-00001-of-00002.safetensors", "model-00001-of-00002.safetensorsx", "model-00001-to-00002.safetensors", "model_00001-of-00002.safetensors"}
	for _, n := range append(slices.Clone(stale), kept...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "model-00008-of-00009.safetensors"), 0o777); err != nil {
		t.Fatal(err)
	}
	tensors := map[string]Tensor{
		"a": wlTensor(t, U8, []int{2}, []byte{1, 2}),
		"b": wlTensor(t, U8, []int{2}, []byte{3, 4}),
	}
	p, err := SaveSharded(dir, tensors, ShardOptions{MaxShardSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Files) != 2 {
		t.Fatalf("plan %s", spFiles(p))
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("stale %s is still there: %v", n, err)
		}
	}
	for _, n := range append(kept, "model-00008-of-00009.safetensors", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", IndexName) {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s is gone: %v", n, err)
		}
	}
	// Saved again as one file, the index of the sharded set is stale.
	if _, err := SaveSharded(dir, tensors, ShardOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{IndexName, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("after a single-file save, %s is still there", n)
		}
	}
	m, err := OpenModel(filepath.Join(dir, SingleFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got, err := m.GetTensor("b"); err != nil || !bytes.Equal(got.Data(), []byte{3, 4}) {
		t.Errorf("read back: %v, %v", got, err)
	}
}
