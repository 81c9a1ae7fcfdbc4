package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/safetensors-go/safetensors"
)

// f32 returns the little-endian bytes of values.
func f32(values ...float32) []byte {
	b := make([]byte, 0, 4*len(values))
	for _, v := range values {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func ExampleSave() {
	weight, err := safetensors.NewTensor(safetensors.F32, []int{2, 3}, f32(1, 2, 3, 4, 5, 6))
	if err != nil {
		log.Fatal(err)
	}
	step, err := safetensors.NewTensor(safetensors.I64, nil, binary.LittleEndian.AppendUint64(nil, 1000))
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	err = safetensors.Save(&buf, map[string]safetensors.Tensor{"weight": weight, "step": step}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}
	file := buf.Bytes()
	n := binary.LittleEndian.Uint64(file)
	fmt.Println(len(file), "bytes; header of", n)
	fmt.Printf("%s|\n", file[8:8+n]) // I64 comes before F32; padded with spaces to a multiple of 8
	// Output:
	// 192 bytes; header of 152
	// {"__metadata__":{"format":"pt"},"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}    |
}

func ExampleSaveFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	bias, err := safetensors.NewTensor(safetensors.F32, []int{3}, f32(0.5, -1, 2))
	if err != nil {
		log.Fatal(err)
	}
	// Written to a temporary file, synced, then renamed over path.
	if err := safetensors.SaveFile(path, map[string]safetensors.Tensor{"bias": bias}, nil); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	t, err := f.GetTensor("bias")
	if err != nil {
		log.Fatal(err)
	}
	v, err := safetensors.Values[float32](t)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Keys(), t.DType(), t.Shape(), v)
	// Output:
	// [bias] F32 [3] [0.5 -1 2]
}

// A Writer streams tensors that are never all in memory at once: declare
// them, then write each one's bytes in the order of Infos.
func ExampleNewWriter() {
	var out bytes.Buffer // a file or a network connection in real use
	tw, err := safetensors.NewWriter(&out, []safetensors.TensorInfo{
		{Name: "embed", DType: safetensors.F32, Shape: []int{2, 2}},
		{Name: "ids", DType: safetensors.U8, Shape: []int{5}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}
	for _, ti := range tw.Infos() {
		fmt.Println(ti.Name, ti.DType, ti.Shape, ti.DataOffsets)
		switch ti.Name {
		case "embed": // from a reader of exactly its bytes
			if _, err := tw.CopyTensor(ti.Name, bytes.NewReader(f32(1, 2, 3, 4))); err != nil {
				log.Fatal(err)
			}
		case "ids": // in chunks of any size
			for _, chunk := range []string{"he", "llo"} {
				if _, err := io.WriteString(tw, chunk); err != nil {
					log.Fatal(err)
				}
			}
		}
	}
	if err := tw.Close(); err != nil { // checks that every declared byte was written
		log.Fatal(err)
	}

	f, err := safetensors.Load(out.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	ids, _ := f.GetTensor("ids")
	fmt.Printf("%d bytes, ids %q\n", out.Len(), ids.Data())
	// Output:
	// embed F32 [2 2] [0 16]
	// ids U8 [5] [16 21]
	// 181 bytes, ids "hello"
}

// Writing fewer or more bytes than declared is an error.
func ExampleWriter_Close() {
	tw, err := safetensors.NewWriter(io.Discard, []safetensors.TensorInfo{
		{Name: "x", DType: safetensors.F32, Shape: []int{4}},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tw.CopyTensor("x", strings.NewReader("only 9 bytes"[:9])); err != nil {
		fmt.Println(err)
	}

	tw, err = safetensors.NewWriter(io.Discard, []safetensors.TensorInfo{
		{Name: "x", DType: safetensors.F32, Shape: []int{4}},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := tw.Write(make([]byte, 10)); err != nil {
		log.Fatal(err)
	}
	fmt.Println(tw.Close())
	// Output:
	// safetensors: tensor "x": the reader ended after 9 of its 16 bytes: unexpected EOF
	// safetensors: incomplete buffer: tensor "x": closed after 10 of the 16 bytes of the data buffer; the tensor misses 6 of its 16 bytes
}

// Copying a file tensor by tensor: the tensors of Open are views of the
// mapping, written out without another copy.
func ExampleNewWriter_copy() {
	src := filepath.Join("testdata", "writer", "burn_key_remap_chained.safetensors")
	f, err := safetensors.Open(src)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	var dst bytes.Buffer
	tw, err := safetensors.NewWriter(&dst, f.Infos(), f.Metadata())
	if err != nil {
		log.Fatal(err)
	}
	for _, ti := range tw.Infos() {
		t, err := f.GetTensor(ti.Name)
		if err != nil {
			log.Fatal(err)
		}
		if err := tw.WriteTensor(ti.Name, t); err != nil {
			log.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		log.Fatal(err)
	}
	orig, err := os.ReadFile(src)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Len(), "tensors; identical to the reference writer's file:", bytes.Equal(dst.Bytes(), orig))
	// Output:
	// 18 tensors; identical to the reference writer's file: true
}
