package pytorch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// copyDir copies the files of testdata/sharded into a new folder.
func copySharded(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("testdata/sharded")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/sharded", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, e.Name()), b)
	}
	return dir
}

// wantShardedIndex is the index of the converted testdata/sharded, written
// by Python's json.dumps(index, indent=2, sort_keys=True) + "\n" as
// transformers writes it: total_size is the new set's data (embed 80, q, k
// and v 32 each; norm 16, proj 48, pos 128), lm_head.weight is left out as
// an alias of embed.weight (recorded in shard 1's metadata).
const wantShardedIndex = "{\n  \"metadata\": {\n    \"total_size\": 368\n  },\n  \"weight_map\": {\n    \"embed.weight\": \"model-00001-of-00002.safetensors\",\n    \"k.weight\": \"model-00001-of-00002.safetensors\",\n    \"norm.weight\": \"model-00002-of-00002.safetensors\",\n    \"pos\": \"model-00002-of-00002.safetensors\",\n    \"proj.weight\": \"model-00002-of-00002.safetensors\",\n    \"q.weight\": \"model-00001-of-00002.safetensors\",\n    \"v.weight\": \"model-00001-of-00002.safetensors\"\n  }\n}\n"

// TestConvertSharded converts a checkpoint torch saved as two .bin shards
// with transformers' index, as convert.py's convert_multi does: each shard
// to model-0000N-of-00002.safetensors, and model.safetensors.index.json.
// Every tensor is compared, bit for bit, with torch's values.
func TestConvertSharded(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "out")
	var files []string
	var last [3]int64
	res, err := Options{Progress: func(p Progress) {
		if p.Total != 368 || p.Done < last[p.Phase] || p.Done > p.Total {
			t.Errorf("progress %+v", p)
		}
		last[p.Phase] = p.Done
		if len(files) == 0 || files[len(files)-1] != p.File {
			files = append(files, p.File)
		}
	}}.Convert(context.Background(), "testdata/sharded/pytorch_model.bin.index.json", dst)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := filepath.Join(dst, "model-00001-of-00002.safetensors"), filepath.Join(dst, "model-00002-of-00002.safetensors")
	index := filepath.Join(dst, "model.safetensors.index.json")
	if !slices.Equal(res.Files, []string{s1, s2}) || res.Index != index || len(res.Shards) != 2 {
		t.Errorf("files %q, index %q, %d shard results", res.Files, res.Index, len(res.Shards))
	}
	if res.Tensors != 7 || res.Bytes != 368 || res.InputBytes != 176+128 || !res.Verified || res.Format != FormatZip ||
		len(res.Removed) != 1 || res.Removed["lm_head.weight"] != "embed.weight" {
		t.Errorf("result %+v", res)
	}
	if !slices.Equal(files, []string{s1, s2, s1, s2}) || last[PhaseWrite] != 368 || last[PhaseVerify] != 368 {
		t.Errorf("progress went through %q, ended at %v", files, last)
	}
	if b, err := os.ReadFile(index); err != nil || string(b) != wantShardedIndex {
		t.Errorf("index:\n%s\nwant:\n%s", b, wantShardedIndex)
	}
	leftovers(t, dst, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json")

	want, err := safetensors.Open("testdata/sharded_expected.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	m, err := safetensors.OpenModel(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	for _, name := range want.Keys() {
		w, _ := want.GetTensor(name)
		if name == "lm_head.weight" {
			continue
		}
		g, err := m.GetTensor(name)
		if err != nil || g.DType() != w.DType() || !slices.Equal(g.Shape(), w.Shape()) || !bytes.Equal(g.Data(), w.Data()) {
			t.Errorf("%s: %v%v %v, torch gives %v%v", name, g.DType(), g.Shape(), err, w.DType(), w.Shape())
		}
	}
	shard1, err := m.Shard("model-00001-of-00002.safetensors")
	if err != nil || shard1.Metadata()["lm_head.weight"] != "embed.weight" || shard1.Metadata()["format"] != "pt" || len(shard1.Metadata()) != 2 {
		t.Errorf("shard 1 metadata %v, %v", shard1.Metadata(), err)
	}
	if m.Len() != 7 {
		t.Errorf("the set holds %d tensors", m.Len())
	}
}

// TestConvertShardedHostile: a hostile or inconsistent index is refused
// before anything is written, with an error wrapping ErrInvalidIndex.
func TestConvertShardedHostile(t *testing.T) {
	shard := synthCheckpoint([]synthTensor{ft("a", []int32{2}, []int32{1}, 2), ft("b", []int32{3}, []int32{1}, 3)})
	cases := []struct {
		name, index, msg string
	}{
		{"parent", `{"weight_map": {"a": "../s.bin", "b": "../s.bin"}}`, "not a relative path"},
		{"absolute", `{"weight_map": {"a": "/tmp/s.bin", "b": "/tmp/s.bin"}}`, "not a relative path"},
		{"backslash", `{"weight_map": {"a": "..\\s.bin", "b": "..\\s.bin"}}`, "not a relative path"},
		{"missing tensor", `{"weight_map": {"a": "s.bin", "b": "s.bin", "c": "s.bin"}}`, "does not hold it"},
		{"unlisted tensor", `{"weight_map": {"a": "s.bin"}}`, "does not list"},
		{"tensor in another shard", `{"weight_map": {"a": "s.bin", "b": "t.bin"}}`, "lists in"},
		{"same output", `{"weight_map": {"a": "s.bin", "b": "s.pt"}}`, "would both be converted"},
		{"safetensors shard", `{"weight_map": {"a": "s.safetensors", "b": "s.safetensors"}}`, "already a safetensors"},
		{"no tensors", `{"metadata": {}, "weight_map": {}}`, "no tensors"},
		{"duplicate", `{"weight_map": {"a": "s.bin", "a": "s.bin", "b": "s.bin"}}`, "twice"},
		{"not an object", `{"weight_map": ["s.bin"]}`, "must be an object"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := t.TempDir()
			for _, n := range []string{"s.bin", "t.bin", "s.pt", "s.safetensors"} {
				writeFile(t, filepath.Join(src, n), shard)
			}
			writeFile(t, filepath.Join(src, "index.json"), []byte(c.index))
			dst := filepath.Join(t.TempDir(), "out")
			_, err := Convert(context.Background(), filepath.Join(src, "index.json"), dst)
			if !errors.Is(err, safetensors.ErrInvalidIndex) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("%v, want ErrInvalidIndex: %s", err, c.msg)
			}
			if _, err := os.Stat(dst); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("dst was created: %v", err)
			}
		})
	}
	// An index larger than MaxIndexSize is refused without being read.
	dir := t.TempDir()
	big := filepath.Join(dir, "big.json")
	writeFile(t, big, []byte(`{"weight_map": {`))
	if err := os.Truncate(big, MaxIndexSize+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(context.Background(), big, filepath.Join(dir, "out")); !errors.Is(err, safetensors.ErrInvalidIndex) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge index: %v", err)
	}
}

// TestConvertShardedAtomic: a conversion that fails or is canceled after
// some shards were written leaves the previous set as it was, and no
// temporary file.
func TestConvertShardedAtomic(t *testing.T) {
	src := copySharded(t)
	dst := filepath.Join(t.TempDir(), "out")
	os.MkdirAll(dst, 0o777)
	old := map[string]string{
		"model-00001-of-00002.safetensors": "old shard 1",
		"model-00002-of-00002.safetensors": "old shard 2",
		"model.safetensors.index.json":     "old index",
	}
	for n, b := range old {
		writeFile(t, filepath.Join(dst, n), []byte(b))
	}
	checkOld := func() {
		t.Helper()
		for n, b := range old {
			if got, err := os.ReadFile(filepath.Join(dst, n)); err != nil || string(got) != b {
				t.Errorf("%s: %q, %v; want %q", n, got, err, b)
			}
		}
		leftovers(t, dst, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json")
	}
	index := filepath.Join(src, "pytorch_model.bin.index.json")

	// Canceled while the second shard is written.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Options{Progress: func(p Progress) {
		if strings.Contains(p.File, "00002") {
			cancel()
		}
	}}.Convert(ctx, index, dst)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	checkOld()

	// A corrupt second shard: the first one was already converted.
	shard2 := filepath.Join(src, "pytorch_model-00002-of-00002.bin")
	good, _ := os.ReadFile(shard2)
	writeFile(t, shard2, good[:len(good)-30])
	if _, err := Convert(context.Background(), index, dst); err == nil {
		t.Error("a truncated shard converted")
	}
	checkOld()
	writeFile(t, shard2, good)

	// A folder where the index goes: the shards, already renamed into
	// place, are put back.
	os.Remove(filepath.Join(dst, "model.safetensors.index.json"))
	os.Mkdir(filepath.Join(dst, "model.safetensors.index.json"), 0o777)
	if _, err := Convert(context.Background(), index, dst); err == nil {
		t.Error("converted over a folder")
	}
	for n, b := range old {
		if !strings.HasSuffix(n, ".json") {
			if got, _ := os.ReadFile(filepath.Join(dst, n)); string(got) != b {
				t.Errorf("%s not restored: %q", n, got)
			}
		}
	}
	leftovers(t, dst, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json")
	os.Remove(filepath.Join(dst, "model.safetensors.index.json"))

	// In place, next to the .bin files: the new set replaces the old.
	if _, err := Convert(context.Background(), index, src); err != nil {
		t.Fatal(err)
	}
	leftovers(t, src, "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json",
		"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json")
	if b, _ := os.ReadFile(filepath.Join(src, "model.safetensors.index.json")); string(b) != wantShardedIndex {
		t.Errorf("index in place: %s", b)
	}
}

// TestShardOutName: convert_multi's rename, Python's os.path.splitext
// included.
func TestShardOutName(t *testing.T) {
	for in, want := range map[string]string{
		"pytorch_model-00001-of-00002.bin": "model-00001-of-00002.safetensors",
		"pytorch_model.bin":                "model.safetensors",
		"sub/pytorch_model-1.bin":          "sub/model-1.safetensors",
		"a.b/c":                            "a.b/c.safetensors",
		".bin":                             ".bin.safetensors",
		"..x.bin":                          "..x.safetensors",
		"x.tar.gz":                         "x.tar.safetensors",
		"pytorch_model_pytorch_model.pt":   "model_model.safetensors",
	} {
		if got := shardOutName(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestConvertShardedStale: once the new set is in place, files of an
// earlier checkpoint that a reader would take for the model (a
// model.safetensors, which OpenModel prefers to the index) or for shards
// of it are removed; nothing else is, and nothing at all when the
// conversion fails.
func TestConvertShardedStale(t *testing.T) {
	dst := t.TempDir()
	stale := []string{"model.safetensors", "model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"}
	others := []string{"notes.txt", "model-1-of-2.safetensors", "other-00001-of-00002.safetensors"}
	for _, n := range append(slices.Clone(stale), others...) {
		writeFile(t, filepath.Join(dst, n), []byte("old "+n))
	}
	// A failure first: nothing is removed.
	if _, err := (Options{MaxOutputSize: 10}).Convert(context.Background(), "testdata/sharded/pytorch_model.bin.index.json", dst); !errors.Is(err, ErrVerify) {
		t.Fatalf("over MaxOutputSize: %v", err)
	}
	leftovers(t, dst, append(slices.Clone(stale), others...)...)

	res, err := Convert(context.Background(), "testdata/sharded/pytorch_model.bin.index.json", dst)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range stale {
		want = append(want, filepath.Join(dst, n))
	}
	slices.Sort(want)
	if !slices.Equal(res.StaleRemoved, want) {
		t.Errorf("StaleRemoved %q, want %q", res.StaleRemoved, want)
	}
	leftovers(t, dst, append(others, "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json")...)
	m, err := safetensors.OpenModel(dst)
	if err != nil || !m.Sharded() || m.Len() != 7 {
		t.Fatalf("OpenModel of the folder: %v", err)
	}
	m.Close()
}
