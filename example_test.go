package safetensors_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/safetensors-go/safetensors"
)

// exampleFile is a small file made by hand: a 2x2 F32 weight [1 2 3 4],
// an I64 step counter 7, and {"format":"pt"} metadata.
func exampleFile() []byte {
	header := `{"__metadata__":{"format":"pt"},"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},` +
		`"weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}}`
	for len(header)%8 != 0 {
		header += " "
	}
	data := []byte{
		7, 0, 0, 0, 0, 0, 0, 0, // step = 7
		0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, // 1, 2, 3, 4
	}
	return build(header, data)
}

func ExampleOpen() {
	path := filepath.Join(os.TempDir(), "example.safetensors")
	if err := os.WriteFile(path, exampleFile(), 0o644); err != nil {
		panic(err)
	}
	defer os.Remove(path)

	f, err := safetensors.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	t, err := f.GetTensor("weight")
	if err != nil {
		panic(err)
	}
	w, err := safetensors.Values[float32](t)
	if err != nil {
		panic(err)
	}
	fmt.Println(t.DType(), t.Shape(), w)
	// Output: F32 [2 2] [1 2 3 4]
}

func ExampleFile_All() {
	f, err := safetensors.Load(exampleFile())
	if err != nil {
		panic(err)
	}
	for name, info := range f.All() {
		fmt.Println(name, info.DType, info.Shape, info.DataOffsets)
	}
	fmt.Println(f.Metadata())
	// Output:
	// step I64 [] [0 8]
	// weight F32 [2 2] [8 24]
	// map[format:pt]
}

func ExampleNewReader() {
	file := exampleFile()
	path := filepath.Join(os.TempDir(), "example-reader.safetensors")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		panic(err)
	}
	defer os.Remove(path)
	osf, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer osf.Close()

	// Any io.ReaderAt works: an *os.File, a bytes.Reader, an HTTP range reader.
	f, err := safetensors.NewReader(osf, int64(len(file)))
	if err != nil {
		panic(err)
	}
	t, err := f.GetTensor("step")
	if err != nil {
		panic(err)
	}
	step, _ := safetensors.Values[int64](t)
	fmt.Println(step[0], f.Keys())
	// Output: 7 [step weight]
}

func ExampleFormatError() {
	// The same file with the weight's offsets moved one byte on: a hole.
	bad := build(`{"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"weight":{"dtype":"U8","shape":[1],"data_offsets":[9,10]}}`,
		make([]byte, 10))
	_, err := safetensors.Load(bad)
	fmt.Println(errors.Is(err, safetensors.ErrInvalidOffset))
	var fe *safetensors.FormatError
	if errors.As(err, &fe) {
		fmt.Println(fe.Tensor)
	}
	fmt.Println(err)
	// Output:
	// true
	// weight
	// safetensors: invalid offset: tensor "weight": data_offsets [9, 10] leave a hole after the previous tensor, which ends at 8
}
