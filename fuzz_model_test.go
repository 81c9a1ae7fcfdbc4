package safetensors_test

import (
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// FuzzModelShards feeds an index and the bytes of two shards through
// NewModel, with an opener that loads the index's first two shard names
// from them: whatever they hold, every call returns a result or an error
// wrapping the sentinel of what is wrong, never a panic; a tensor read is
// the one the index lists, of the size its header says; and a model that
// Verify accepts reads every tensor.
func FuzzModelShards(f *testing.F) {
	s1 := stFile(map[string]string{"format": "pt"}, u8s("a", 1, 2, 3), u8s("b", 4))
	s2 := stFile(nil, u8s("c", 5, 6))
	f.Add(indexJSON(`{"total_size": 6}`, [2]string{"a", shard1}, [2]string{"b", shard1}, [2]string{"c", shard2}), s1, s2)
	f.Add(indexJSON("{}", [2]string{"a", shard1}, [2]string{"c", shard1}), s1, s2)
	f.Add(indexJSON("{}", [2]string{"a", shard1}, [2]string{"b", shard2}, [2]string{"c", shard2}), s1, s2)
	f.Add(indexJSON("{}", [2]string{"a", "x/y.safetensors"}), s1[:20], s2)
	f.Add([]byte(`{"weight_map": {"c": "`+shard1+`"}}`), s2, s1)
	sentinels := []error{safetensors.ErrInvalidIndex, safetensors.ErrHeaderTooSmall, safetensors.ErrHeaderTooLarge,
		safetensors.ErrInvalidHeaderLength, safetensors.ErrInvalidHeader, safetensors.ErrInvalidOffset,
		safetensors.ErrInvalidTensorInfo, safetensors.ErrOverflow, safetensors.ErrMisalignedSlice,
		safetensors.ErrIncompleteBuffer, fs.ErrNotExist}
	wrapsOne := func(err error) bool {
		return slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) })
	}
	f.Fuzz(func(t *testing.T, index, shardA, shardB []byte) {
		var files []string
		m, err := safetensors.NewModel(index, func(name string) (*safetensors.File, error) {
			switch {
			case len(files) > 0 && name == files[0]:
				return safetensors.Load(shardA)
			case len(files) > 1 && name == files[1]:
				return safetensors.Load(shardB)
			}
			return nil, fs.ErrNotExist
		})
		if err != nil {
			if !errors.Is(err, safetensors.ErrInvalidIndex) {
				t.Fatalf("NewModel: %v does not wrap ErrInvalidIndex", err)
			}
			return
		}
		defer m.Close()
		files = m.Files()
		verr := m.Verify()
		if verr != nil && !wrapsOne(verr) {
			t.Fatalf("Verify: %v wraps no sentinel", verr)
		}
		for _, name := range m.Keys() {
			tensor, err := m.GetTensor(name)
			if err != nil {
				if verr == nil {
					t.Fatalf("Verify accepts, GetTensor(%q) says %v", name, err)
				}
				if !wrapsOne(err) {
					t.Fatalf("GetTensor(%q): %v wraps no sentinel", name, err)
				}
				continue
			}
			info, err := m.Info(name)
			if err != nil {
				t.Fatalf("GetTensor(%q) works, Info says %v", name, err)
			}
			if int64(len(tensor.Data())) != info.Size() {
				t.Fatalf("tensor %q: %d bytes, its header says %d", name, len(tensor.Data()), info.Size())
			}
			file, _ := m.FileOf(name)
			shard, err := m.Shard(file)
			if err != nil {
				t.Fatalf("tensor %q read from shard %q, which then fails: %v", name, file, err)
			}
			if _, err := shard.Info(name); err != nil {
				t.Fatalf("tensor %q is not in the shard %q the index names", name, file)
			}
		}
		for info, err := range m.All() {
			if err != nil {
				if verr == nil {
					t.Fatalf("Verify accepts, All says %v", err)
				}
				break
			}
			if file, ok := m.FileOf(info.Name); !ok || file == "" {
				t.Fatalf("All yields %q, which the index does not list", info.Name)
			}
		}
	})
}
