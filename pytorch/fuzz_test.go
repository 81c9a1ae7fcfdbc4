package pytorch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/safetensors-go/safetensors"
)

var sentinels = []error{ErrNotCheckpoint, ErrForbiddenGlobal, ErrCorrupt, ErrTruncated, ErrMissingStorage,
	ErrByteOrder, ErrUnsupportedDType, ErrUnsupported, ErrVerify, ErrTooLarge}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzNewReader opens arbitrary bytes as a checkpoint and reads every
// tensor: no panic, no hang, and every error wraps one of the sentinels.
func FuzzNewReader(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.pt")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		for _, info := range c.Tensors() {
			tensor, err := c.ReadTensor(info.Name)
			if err != nil {
				if !wrapsSentinel(err) {
					t.Fatalf("%s: error wraps no sentinel: %v", info.Name, err)
				}
				continue
			}
			if int64(len(tensor.Data())) != info.Size || info.Size > c.maxTensor {
				t.Fatalf("%s: %d bytes, info %+v", info.Name, len(tensor.Data()), info)
			}
		}
	})
}

// FuzzUnpickle runs arbitrary bytes through the unpickler: no panic, and
// every error is one of the unpickler's kinds.
func FuzzUnpickle(f *testing.F) {
	for _, p := range protocolPickles {
		f.Add([]byte(p))
	}
	f.Add([]byte("\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00aK\x01u}b."))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := unpickle(b)
		if err != nil && !errors.Is(err, errPickleEOF) && !wrapsSentinel(err) && !errors.Is(err, safetensors.ErrTensorNotFound) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// FuzzConvertIndex converts a sharded checkpoint through arbitrary index
// bytes, next to the two shards of testdata/sharded and a few other files:
// no panic, every error wraps a sentinel or ErrInvalidIndex and leaves
// nothing in the output folder, and a set that is written reads back whole
// and lies inside that folder.
func FuzzConvertIndex(f *testing.F) {
	index, err := os.ReadFile("testdata/sharded/pytorch_model.bin.index.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(index)
	f.Add([]byte(`{"weight_map": {"embed.weight": "pytorch_model-00001-of-00002.bin"}}`))
	f.Add([]byte(`{"metadata": {"total_size": 1, "x": "y"}, "weight_map": {"a": "../s.bin"}}`))
	f.Add([]byte(`{"weight_map": {"a": "sub/pytorch_model.bin", "b": "x.pt"}}`))
	shards := map[string][]byte{}
	for _, n := range []string{"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata/sharded", n))
		if err != nil {
			f.Fatal(err)
		}
		shards[n] = b
	}
	shards["x.pt"] = synthCheckpoint([]synthTensor{ft("b", []int32{2}, []int32{1}, 2)})
	shards["sub/pytorch_model.bin"] = synthCheckpoint([]synthTensor{ft("a", []int32{3}, []int32{1}, 3)})
	f.Fuzz(func(t *testing.T, index []byte) {
		if len(index) == 0 || index[0] != '{' {
			return // not an index: the checkpoint fuzzers cover the rest
		}
		root := t.TempDir()
		src := filepath.Join(root, "src")
		for n, b := range shards {
			os.MkdirAll(filepath.Dir(filepath.Join(src, n)), 0o777)
			writeFile(t, filepath.Join(src, n), b)
		}
		writeFile(t, filepath.Join(src, "index.json"), index)
		dst := filepath.Join(root, "out")
		res, err := Options{SkipNonTensors: true}.Convert(context.Background(), filepath.Join(src, "index.json"), dst)
		if err != nil {
			if !wrapsSentinel(err) && !errors.Is(err, safetensors.ErrInvalidIndex) && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			if entries, _ := os.ReadDir(dst); len(entries) > 0 {
				t.Fatalf("failed conversion left %d entries in the output folder: %v", len(entries), err)
			}
		} else {
			m, err := safetensors.OpenModel(res.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Verify(); err != nil || m.Len() != res.Tensors {
				t.Fatalf("the set: %v, %d tensors, result says %d", err, m.Len(), res.Tensors)
			}
			m.Close()
			for _, p := range append(res.Files, res.Index) {
				if rel, err := filepath.Rel(dst, p); err != nil || !filepath.IsLocal(rel) {
					t.Fatalf("%s is outside the output folder", p)
				}
			}
		}
		// Nothing was written next to the shards.
		if entries, _ := os.ReadDir(src); len(entries) != 5 { // the shards, sub/ and the index
			t.Fatalf("the source folder holds %d entries", len(entries))
		}
	})
}
