package safetensors_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/safetensors-go/safetensors"
)

// Load rank 1 of 4 of a tensor-parallel layer: the column-parallel
// weight's block of rows, the row-parallel weight's block of columns, the
// norm whole.
func ExampleModel_ReadSlices() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	tensors := map[string]safetensors.Tensor{}
	for name, shape := range map[string][]int{
		"up.weight":   {64, 16}, // [out, in]: column-parallel
		"down.weight": {16, 64}, // [out, in]: row-parallel
		"norm.weight": {16},
	} {
		n := 4
		for _, d := range shape {
			n *= d
		}
		t, err := safetensors.NewTensor(safetensors.F32, shape, make([]byte, n))
		if err != nil {
			panic(err)
		}
		tensors[name] = t
	}
	if _, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: 4096}); err != nil {
		panic(err)
	}
	m, err := safetensors.OpenModel(dir)
	if err != nil {
		panic(err)
	}
	defer m.Close()

	const rank, ranks = 1, 4
	parts, err := m.ReadSlices(context.Background(), func(info safetensors.TensorInfo) ([]safetensors.Index, bool) {
		dim := -1
		switch {
		case strings.HasPrefix(info.Name, "up."):
			dim = 0 // split the output dimension
		case strings.HasPrefix(info.Name, "down."):
			dim = 1 // split the input dimension
		}
		if dim < 0 {
			return nil, true // the whole tensor
		}
		x, err := safetensors.SplitIndex(info.Shape, dim, rank, ranks)
		return x, err == nil
	}, nil)
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"up.weight", "down.weight", "norm.weight"} {
		fmt.Println(name, parts[name].Shape())
	}
	// Output:
	// up.weight [16 16]
	// down.weight [16 16]
	// norm.weight [16]
}

// The index of one rank's part of an even split.
func ExampleSplitIndex() {
	for rank := range 3 {
		x, _ := safetensors.SplitIndex([]int{10, 8}, 0, rank, 3)
		fmt.Println(x)
	}
	// Output:
	// [0:4]
	// [4:7]
	// [7:10]
}
