//go:build linux

package safetensors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readSyscalls returns how many read system calls (read, pread64, ...) the
// process has made, from /proc/self/io.
func readSyscalls(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no syscr in /proc/self/io")
	return 0
}

// spSave saves data as the U8 tensor "m" of the given shape in a new file
// and returns its path.
func spSave(t *testing.T, shape []int, data []byte) string {
	t.Helper()
	tt, err := NewTensor(U8, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := SaveFile(path, map[string]Tensor{"m": tt}, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestColdSelectionIsOneRead: a column block of a matrix in a file of Open
// whose pages the process has not touched is read from the file, not
// faulted in through the mapping, and runs that lie close together share
// one read: at exactly readGap bytes apart, and with a span of exactly
// maxReadBlock. (The kernel counts the reads of the whole process: the
// test allows twenty beyond the one expected, and the planner's
// alternatives make hundreds.)
func TestColdSelectionIsOneRead(t *testing.T) {
	const run = 16
	for _, c := range []struct {
		name       string
		rows, cols int
	}{
		{"gap of exactly readGap", 200, run + readGap},
		{"span of exactly maxReadBlock", 258, 4080}, // 16 + 257*4080 = 1 MiB
		{"close rows", 200, 1024},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "span of exactly maxReadBlock" && run+(c.rows-1)*c.cols != maxReadBlock {
				t.Fatalf("the case's span is %d, not maxReadBlock", run+(c.rows-1)*c.cols)
			}
			data := make([]byte, c.rows*c.cols)
			for i := range data {
				data[i] = byte(i * 31)
			}
			path := spSave(t, []int{c.rows, c.cols}, data)
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := f.GetSlice("m")
			if err != nil {
				t.Fatal(err)
			}
			before := readSyscalls(t)
			got, err := s.Get(Full(), Range(0, run))
			after := readSyscalls(t)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]byte, 0, c.rows*run)
			for r := range c.rows {
				want = append(want, data[r*c.cols:r*c.cols+run]...)
			}
			if !bytes.Equal(got.Data(), want) {
				t.Fatal("wrong bytes")
			}
			if after == before {
				t.Skip("the selection was copied through the mapping: this system does not say which pages are mapped")
			}
			if after-before > 20 {
				t.Errorf("%d read calls for %d runs in one block", after-before, c.rows)
			}
		})
	}
}

// TestColdSelectionOfTruncatedFile: a file of Open cut short after it was
// opened, read with runs far apart (one read each, spread over several
// goroutines): the read past the new end is an ErrFault, whichever
// goroutine meets it, and the selection is not returned.
func TestColdSelectionOfTruncatedFile(t *testing.T) {
	const rows, cols, run = 96, readGap + 1000, 16
	data := make([]byte, rows*cols)
	for i := range data {
		data[i] = byte(i)
	}
	path := spSave(t, []int{rows, cols}, data)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := f.GetSlice("m")
	if err != nil {
		t.Fatal(err)
	}
	// Keep the header and the first three quarters of the rows.
	if err := os.Truncate(path, f.DataOffset()+int64(rows*3/4*cols)); err != nil {
		t.Fatal(err)
	}
	before := readSyscalls(t)
	got, err := s.Get(Full(), Range(0, run))
	if readSyscalls(t) == before {
		t.Skip("the selection was copied through the mapping: this system does not say which pages are mapped")
	}
	if !errors.Is(err, ErrFault) {
		t.Errorf("Get = %d bytes, %v; want ErrFault", len(got.Data()), err)
	}
}

// TestColdSelectionOuterLoops: a selection of a file of Open, read from the
// file with runs too far apart to share a read and two outer dimensions
// that do not merge into one, gives the selected bytes in order, forwards
// and reversed.
func TestColdSelectionOuterLoops(t *testing.T) {
	const d0, d1, d2 = 4, 5, readGap + 4000
	data := make([]byte, d0*d1*d2)
	for i := range data {
		data[i] = byte(i*7 + i/d2)
	}
	path := spSave(t, []int{d0, d1, d2}, data)
	for _, c := range []struct {
		name   string
		i0, i1 Index
		rows0  []int
		rows1  []int
	}{
		{"forwards", Full(), Range(0, 3), []int{0, 1, 2, 3}, []int{0, 1, 2}},
		{"reversed", RangeStep(3, -5, -2), RangeStep(4, 0, -2), []int{3, 1}, []int{4, 2}},
	} {
		f, err := Open(path) // a new mapping: no page touched yet
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.GetSlice("m")
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(c.i0, c.i1, Range(0, 16))
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for _, a := range c.rows0 {
			for _, b := range c.rows1 {
				at := (a*d1 + b) * d2
				want = append(want, data[at:at+16]...)
			}
		}
		if !bytes.Equal(got.Data(), want) {
			t.Errorf("%s: wrong bytes", c.name)
		}
	}
}
