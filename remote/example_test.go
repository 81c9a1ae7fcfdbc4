package remote_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// A model saved in shards and served by a file server is read back over
// HTTP: the index, then each shard's header, then only the bytes of the
// tensors asked for.
func ExampleOpenModel() {
	dir, err := os.MkdirTemp("", "remote-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	weight, _ := safetensors.FromFloat32(safetensors.F32, []int{2, 2}, []float32{1, 2, 3, 4})
	bias, _ := safetensors.FromFloat32(safetensors.F32, []int{2}, []float32{0.5, -0.5})
	if _, err := safetensors.SaveSharded(dir, map[string]safetensors.Tensor{"weight": weight, "bias": bias},
		safetensors.ShardOptions{MaxShardSize: 16}); err != nil {
		panic(err)
	}
	server := httptest.NewServer(http.FileServer(http.Dir(dir))) // answers range requests
	defer server.Close()

	m, err := remote.OpenModel(context.Background(), server.URL+"/model.safetensors.index.json", nil)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	fmt.Println(m.Files())
	for _, name := range m.Keys() {
		t, err := m.GetTensor(name)
		if err != nil {
			panic(err)
		}
		values, _ := safetensors.ToFloat32(t)
		fmt.Println(name, t.DType(), t.Shape(), values)
	}
	// Output:
	// [model-00001-of-00002.safetensors model-00002-of-00002.safetensors]
	// bias F32 [2] [0.5 -0.5]
	// weight F32 [2 2] [1 2 3 4]
}
