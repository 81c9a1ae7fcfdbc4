package safetensors_test

import (
	"encoding/binary"
	"fmt"
	"log"
	"math"

	"github.com/safetensors-go/safetensors"
)

// matrixFile returns a safetensors file, assembled by hand, holding one F32
// tensor "w" of shape [3, 4] whose elements are 0, 1, 2, ..., 11.
func matrixFile() []byte {
	hdr := `{"w":{"dtype":"F32","shape":[3,4],"data_offsets":[0,48]}}`
	for len(hdr)%8 != 0 {
		hdr += " " // the reference writer pads the header to a multiple of 8
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	for i := range 12 {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(i)))
	}
	return b
}

func ExampleFile_GetSlice() {
	f, err := safetensors.Load(matrixFile()) // or Open(path), NewReader(r, size)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	s, err := f.GetSlice("w") // reads nothing yet
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.DType(), s.Shape())

	// w[1:3, ::-1]: rows 1 and 2, columns reversed.
	t, err := s.Get(safetensors.Range(1, 3), safetensors.Full().WithStep(-1))
	if err != nil {
		log.Fatal(err)
	}
	v, _ := safetensors.Values[float32](t)
	fmt.Println(t.Shape(), v)

	// w[-1]: the last row; w[:, 2]: the third column.
	row, _ := s.Get(safetensors.At(-1))
	col, _ := s.Get(safetensors.Full(), safetensors.At(2))
	r, _ := safetensors.Values[float32](row)
	c, _ := safetensors.Values[float32](col)
	fmt.Println(r, c)

	// Out of range, as NumPy would say.
	_, err = s.Get(safetensors.At(3))
	fmt.Println(err)
	// Output:
	// F32 [3 4]
	// [2 4] [7 6 5 4 11 10 9 8]
	// [8 9 10 11] [2 6 10]
	// safetensors: invalid slice: tensor "w": index [3] on shape [3 4]: index 3 is out of bounds for axis 0 with size 3
}

func ExampleParseIndex() {
	f, _ := safetensors.Load(matrixFile())
	s, _ := f.GetSlice("w")
	for _, expr := range []string{"..., ::2", "-2:, 1", "None, 0, 1:3", "::-2, -1:"} {
		index, err := safetensors.ParseIndex(expr)
		if err != nil {
			log.Fatal(err)
		}
		t, _ := s.Get(index...)
		v, _ := safetensors.Values[float32](t)
		fmt.Printf("w[%s] = %v %v\n", expr, t.Shape(), v)
	}
	_, err := safetensors.ParseIndex("1, [2, 3]")
	fmt.Println(err)
	// Output:
	// w[..., ::2] = [3 2] [0 2 4 6 8 10]
	// w[-2:, 1] = [2] [5 9]
	// w[None, 0, 1:3] = [1 2] [1 2]
	// w[::-2, -1:] = [2 1] [11 3]
	// safetensors: invalid slice: ParseIndex("1, [2, 3]"): at offset 3: unexpected "[": advanced (list) indexing is not supported, only basic indexing
}

func ExampleView_Runs() {
	f, _ := safetensors.Load(matrixFile())
	s, _ := f.GetSlice("w")
	// w[:, 1:3]: a block of columns is one run of 8 bytes per row.
	v, err := s.View(safetensors.Full(), safetensors.Range(1, 3))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("shape", v.Shape(), "strides", v.Strides(), "offset", v.Offset(), "size", v.Size())
	for off, n := range v.Runs() {
		fmt.Println("run at byte", off, "of", n, "bytes")
	}
	// Copy the runs into a buffer of our own, straight from the tensor's bytes.
	whole, _ := f.GetTensor("w")
	dst := make([]byte, 0, v.Size())
	for off, n := range v.Runs() {
		dst = append(dst, whole.Data()[off:off+n]...)
	}
	fmt.Println(len(dst), "bytes copied")
	// Output:
	// shape [3 2] strides [16 4] offset 4 size 24
	// run at byte 4 of 8 bytes
	// run at byte 20 of 8 bytes
	// run at byte 36 of 8 bytes
	// 24 bytes copied
}

func ExampleView_Index() {
	f, _ := safetensors.Load(matrixFile())
	s, _ := f.GetSlice("w")
	// w[::-1][1:, 2]: views of views compose without reading anything.
	v, _ := s.View(safetensors.Full().WithStep(-1))
	w, _ := v.Index(safetensors.RangeFrom(1), safetensors.At(2))
	fmt.Println(w.Shape(), w.Strides(), w.Offset())
	t, _ := w.Get()
	x, _ := safetensors.Values[float32](t)
	fmt.Println(x)
	// Output:
	// [2] [-16] 24
	// [6 2]
}

func ExampleSlice_ReadInto() {
	f, _ := safetensors.Load(matrixFile())
	s, _ := f.GetSlice("w")
	// One buffer, reused for every row: no allocation, no fresh pages.
	buf := make([]byte, 16)
	for i := range 3 {
		t, err := s.ReadInto(buf, safetensors.At(i))
		if err != nil {
			log.Fatal(err)
		}
		v, _ := safetensors.Values[float32](t)
		fmt.Println(v)
	}
	// Output:
	// [0 1 2 3]
	// [4 5 6 7]
	// [8 9 10 11]
}
