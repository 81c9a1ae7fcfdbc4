// Command quickstart writes a small model with safetensors.Save, opens it
// with safetensors.Open (a memory mapping), and prints every tensor's name,
// dtype, shape and first values, and the metadata.
//
//	go run ./examples/quickstart
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/safetensors-go/safetensors"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	dir, err := os.MkdirTemp("", "safetensors-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	// A tiny two-layer model: float32 weights, a bfloat16 embedding, an
	// int64 step counter. FromFloat32 encodes to any float dtype.
	tensors := map[string]safetensors.Tensor{}
	add := func(name string, dtype safetensors.DType, shape []int, values []float32) error {
		t, err := safetensors.FromFloat32(dtype, shape, values)
		if err != nil {
			return err
		}
		tensors[name] = t
		return nil
	}
	if err := add("embed.weight", safetensors.BF16, []int{4, 3}, []float32{0.5, -1, 2, 0.25, 3.5, -0.75, 1, 1, 1, 0, 0, 8}); err != nil {
		return err
	}
	if err := add("layers.0.weight", safetensors.F32, []int{3, 3}, []float32{1, 0, 0, 0, 1, 0, 0, 0, 1}); err != nil {
		return err
	}
	if err := add("layers.0.bias", safetensors.F32, []int{3}, []float32{0.1, 0.2, 0.3}); err != nil {
		return err
	}
	step, err := safetensors.FromValues([]int{}, []int64{1000})
	if err != nil {
		return err
	}
	tensors["step"] = step
	meta := map[string]string{"format": "pt", "note": "written by examples/quickstart"}
	if err := safetensors.SaveFile(path, tensors, meta); err != nil {
		return err
	}

	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d bytes, %d tensors, header of %d bytes\n", filepath.Base(path), st.Size(), f.Len(), f.HeaderSize())
	for name, info := range f.All() { // in the order of the data in the file
		t, err := f.GetTensor(name) // a view of the mapping: nothing copied
		if err != nil {
			return err
		}
		values, err := safetensors.ToFloat32(t) // any numeric dtype, decoded exactly
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-16s %-4v %-7v %v\n", name, info.DType, fmt.Sprint(info.Shape), first(values, 4))
	}
	fmt.Fprintln(out, "metadata:", f.Metadata())
	return nil
}

// first formats the first n values, with an ellipsis when there are more.
func first(v []float32, n int) string {
	if len(v) <= n {
		return fmt.Sprint(v)
	}
	s := fmt.Sprint(v[:n])
	return s[:len(s)-1] + " ...]"
}
