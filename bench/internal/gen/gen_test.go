package gen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

type entry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// TestHeaders decodes the headers with encoding/json, independently of
// the library under test, and checks the layout the benchmark relies on.
func TestHeaders(t *testing.T) {
	var model map[string]json.RawMessage
	h := ModelHeader()
	if len(h)%8 != 0 {
		t.Errorf("model header of %d bytes is not padded to 8", len(h))
	}
	if err := json.Unmarshal(h, &model); err != nil {
		t.Fatal(err)
	}
	if len(model) != ModelTensors+1 {
		t.Fatalf("%d entries, want %d tensors and __metadata__", len(model), ModelTensors)
	}
	for i := range ModelTensors {
		var e entry
		if err := json.Unmarshal(model[ModelName(i)], &e); err != nil {
			t.Fatalf("tensor %d: %v", i, err)
		}
		begin := int64(i) * ModelRows * ModelCols * 4
		if e.DType != "F32" || len(e.Shape) != 2 || e.Shape[0] != ModelRows || e.Shape[1] != ModelCols ||
			e.DataOffsets != [2]int64{begin, begin + ModelRows*ModelCols*4} {
			t.Errorf("tensor %s: %+v", ModelName(i), e)
		}
	}
	if ModelData > 1<<30 || ModelData < 1<<30-1<<20 {
		t.Errorf("model data of %d bytes is not about 1 GiB", ModelData)
	}
	if ModelName(7) != "layer.007.weight" {
		t.Errorf("ModelName(7) = %q", ModelName(7))
	}

	var matrix map[string]entry
	if err := json.Unmarshal(MatrixHeader(), &matrix); err != nil {
		t.Fatal(err)
	}
	if e := matrix[MatrixName]; len(matrix) != 1 || e.DType != "F32" || len(e.Shape) != 2 || e.Shape[0] != 16384 || e.Shape[1] != 16384 || e.DataOffsets != [2]int64{0, 1 << 30} {
		t.Errorf("matrix header: %+v", matrix)
	}
}

// TestWrite writes a file with a data buffer of a few chunks plus a tail,
// and checks every word against Word.
func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	header := []byte(`{}      `)
	const n = 3<<20 + 12
	if err := write(path, header, n); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8+len(header)+n || binary.LittleEndian.Uint64(b) != uint64(len(header)) || !bytes.Equal(b[8:16], header) {
		t.Fatalf("prefix or header wrong, or %d bytes", len(b))
	}
	data := b[16:]
	for i := range n / 4 {
		if got := binary.LittleEndian.Uint32(data[4*i:]); got != Word(i) {
			t.Fatalf("word %d = %#x, want %#x", i, got, Word(i))
		}
	}
	// FillAt from an offset gives the same words.
	part := make([]byte, 64)
	FillAt(part, 1<<20+8)
	if !bytes.Equal(part, data[1<<20+8:1<<20+72]) {
		t.Error("FillAt at an offset differs from the file")
	}
	// Words differ from page to page, so that touching a page reads data
	// that no other page has.
	if Word(0) == Word(1024) || Word(1024) == Word(2048) {
		t.Error("words repeat across pages")
	}
}
