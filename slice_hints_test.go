package safetensors

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"
)

// shReads records the size of every ReadAt call, and plans as its hints say.
type shReads struct {
	hintedReader
	mu    sync.Mutex
	sizes []int
}

func (r *shReads) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(p))
	r.mu.Unlock()
	return r.hintedReader.ReadAt(p, off)
}

// TestSliceReadsFollowMaxRead: reading a selection through NewReader
// obeys the reader's MaxRead: no ReadAt call asks for more, even for one
// contiguous run of the tensor.
func TestSliceReadsFollowMaxRead(t *testing.T) {
	const n = 4096
	hdr := `{"t":{"dtype":"U8","shape":[4096],"data_offsets":[0,4096]}}`
	file := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	for i := range n {
		file = append(file, byte(i*7))
	}
	r := &shReads{hintedReader: hintedReader{bytes.NewReader(file), ReadHints{MergeGap: 64, MaxRead: 100, Concurrency: 2}}}
	f, err := NewReader(r, int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.GetSlice("t")
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.sizes = nil
	r.mu.Unlock()
	got, err := s.Get(Range(10, 3000))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Data(), file[len(file)-n+10:len(file)-n+3000]) {
		t.Fatal("wrong bytes")
	}
	total := 0
	for _, sz := range r.sizes {
		if sz > 100 {
			t.Errorf("a read of %d bytes; MaxRead is 100", sz)
		}
		total += sz
	}
	if total < 2990 {
		t.Errorf("reads of %d bytes in all, want at least the 2990 selected", total)
	}
}
