// Package gen writes the large files of the comparison benchmark, by hand
// (not with the library under test), so that every library reads the same
// bytes and the expected contents are known independently of any reader.
package gen

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
)

// The model file: ModelTensors tensors named like a checkpoint's layers
// ("layer.000.weight" ...), each F32 of shape [ModelRows, ModelCols], about
// 1 GiB in all.
const (
	ModelTensors = 201
	ModelRows    = 1304
	ModelCols    = 1024
	ModelTensor  = ModelRows * ModelCols * 4 // bytes per tensor
	ModelData    = ModelTensors * ModelTensor
)

// The matrix file: one F32 tensor named MatrixName of shape
// [MatrixSide, MatrixSide], exactly 1 GiB of data.
const (
	MatrixName = "matrix"
	MatrixSide = 16384
	MatrixData = MatrixSide * MatrixSide * 4
)

// ModelName returns the name of the model file's i-th tensor.
func ModelName(i int) string { return fmt.Sprintf("layer.%03d.weight", i) }

// ModelHeader returns the model file's padded JSON header: tensors in
// name order, offsets contiguous from 0, as the reference writer lays out
// tensors of one dtype.
func ModelHeader() []byte {
	var sb strings.Builder
	sb.WriteString(`{"__metadata__":{"format":"pt"}`)
	for i := range ModelTensors {
		fmt.Fprintf(&sb, `,"%s":{"dtype":"F32","shape":[%d,%d],"data_offsets":[%d,%d]}`,
			ModelName(i), ModelRows, ModelCols, i*ModelTensor, (i+1)*ModelTensor)
	}
	sb.WriteByte('}')
	return pad(sb.String())
}

// MatrixHeader returns the matrix file's padded JSON header.
func MatrixHeader() []byte {
	return pad(fmt.Sprintf(`{"%s":{"dtype":"F32","shape":[%d,%d],"data_offsets":[0,%d]}}`,
		MatrixName, MatrixSide, MatrixSide, MatrixData))
}

func pad(s string) []byte {
	for len(s)%8 != 0 {
		s += " "
	}
	return []byte(s)
}

// Word returns the 32-bit word at element index i of the data buffer of
// either file: words are numbered across the whole data buffer, so every
// page of every tensor holds different bytes. In the matrix file, element
// (r, c) is Word(r*MatrixSide + c). Both files hold the same words at the
// same data offsets, so the model's data buffer is the first ModelData
// bytes of the matrix's.
func Word(i int) uint32 { return uint32(i)*2654435761 + 0x9e3779b9 }

// WriteModel writes the model file at path.
func WriteModel(path string) error { return write(path, ModelHeader(), ModelData) }

// WriteMatrix writes the matrix file at path.
func WriteMatrix(path string) error { return write(path, MatrixHeader(), MatrixData) }

func write(path string, header []byte, data int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 8+len(header), 1<<20)
	binary.LittleEndian.PutUint64(buf, uint64(len(header)))
	copy(buf[8:], header)
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	buf = buf[:cap(buf)]
	for off := 0; off < data; off += len(buf) {
		chunk := buf[:min(len(buf), data-off)]
		FillAt(chunk, off)
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// FillAt writes into b the data bytes that the files hold from data
// offset off on; off and len(b) must be multiples of 4.
func FillAt(b []byte, off int) {
	first := off / 4
	for i := range len(b) / 4 {
		binary.LittleEndian.PutUint32(b[4*i:], Word(first+i))
	}
}
