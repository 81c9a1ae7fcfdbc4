package safetensors_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/safetensors-go/safetensors"
)

// Read a whole sharded model into memory with concurrent reads, reporting
// progress.
func ExampleModel_ReadAll() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	tensors := map[string]safetensors.Tensor{}
	for i, n := range []int{1000, 3000, 2000} {
		t, _ := safetensors.NewTensor(safetensors.U8, []int{n}, make([]byte, n))
		tensors[fmt.Sprintf("layer%d.weight", i)] = t
	}
	// Three shards of at most 3,000 bytes of data, and an index.
	if _, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: 3000}); err != nil {
		panic(err)
	}

	m, err := safetensors.OpenModel(filepath.Join(dir, safetensors.IndexName))
	if err != nil {
		panic(err)
	}
	defer m.Close()
	var last int64
	all, err := m.ReadAll(context.Background(), &safetensors.ReadAllOptions{
		Progress: func(done, total int64) {
			if done == total {
				last = done
			}
		},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(m.Files()), "files,", len(all), "tensors,", last, "bytes")
	fmt.Println(all["layer1.weight"].Shape())
	// Output:
	// 3 files, 3 tensors, 6000 bytes
	// [3000]
}
