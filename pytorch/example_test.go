package pytorch_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/pytorch"
)

// Convert a checkpoint made by torch.save: tied weights (exact aliases) are
// written once, every other tensor, views included, in full.
func ExampleConvert() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dst := filepath.Join(dir, "model.safetensors")

	res, err := pytorch.Convert(context.Background(), "testdata/state_dict.pt", dst)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Format, res.Tensors, "tensors,", res.Bytes, "bytes, verified:", res.Verified)
	fmt.Println("lm_head.weight ->", res.Removed["lm_head.weight"])

	f, err := safetensors.Open(dst)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	t, err := f.GetTensor("transposed")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.DType(), t.Shape(), f.Metadata()["format"])
	// Output:
	// zip 21 tensors, 382 bytes, verified: true
	// lm_head.weight -> embed.weight
	// F32 [3 4] pt
}

// A malicious checkpoint is refused; nothing in it runs.
func ExampleOpen_malicious() {
	_, err := pytorch.Open("testdata/malicious_os_system.pt")
	var fg *pytorch.ForbiddenGlobalError
	if errors.As(err, &fg) {
		fmt.Println("refused:", fg.Module+"."+fg.Name)
	}
	// Output:
	// refused: os.system
}

// Describe a checkpoint's tensors without converting it.
func ExampleCheckpoint_Tensors() {
	c, err := pytorch.Open("testdata/nested_state_dict.pt")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("unwrapped state_dict:", c.Unwrapped())
	for _, t := range c.Tensors() {
		fmt.Println(t.Name, t.DType, t.Shape, t.Contiguous)
	}
	// Output:
	// unwrapped state_dict: true
	// layer.weight F32 [2 2] true
	// layer.bias F32 [2] true
}

// Convert a checkpoint saved as .bin shards with transformers' index to a
// sharded safetensors set, read back as one model.
func ExampleConvert_sharded() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	res, err := pytorch.Convert(context.Background(), "testdata/sharded/pytorch_model.bin.index.json", dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range res.Files {
		fmt.Println(filepath.Base(f))
	}
	fmt.Println(filepath.Base(res.Index), res.Tensors, "tensors,", res.Bytes, "bytes")

	m, err := safetensors.OpenModel(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	file, _ := m.FileOf("pos")
	fmt.Println(m.Len(), "tensors; pos is in", file)
	// Output:
	// model-00001-of-00002.safetensors
	// model-00002-of-00002.safetensors
	// model.safetensors.index.json 7 tensors, 368 bytes
	// 7 tensors; pos is in model-00002-of-00002.safetensors
}
