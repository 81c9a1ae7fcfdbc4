package safetensors

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// These tests watch the sizes of the Write calls that the streaming Writer
// makes, against its two constants: writes of at least directWrite bytes go
// straight to the destination, smaller ones gather in a buffer of
// bufferSize bytes (or the whole file, when it is smaller); and they check
// ReadFrom's limit and stickiness once data has been written.

// callSizes records the length of each Write it receives, and the bytes.
type callSizes struct {
	bytes.Buffer
	calls []int
}

func (c *callSizes) Write(p []byte) (int, error) {
	c.calls = append(c.calls, len(p))
	return c.Buffer.Write(p)
}

func newSizesWriter(t *testing.T, total int) (*Writer, *callSizes) {
	t.Helper()
	var dst callSizes
	tw, err := NewWriter(&dst, []TensorInfo{{Name: "a", DType: U8, Shape: []int{total}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dst.calls) != 1 || int64(dst.calls[0]) != 8+tw.HeaderSize() {
		t.Fatalf("NewWriter made the calls %v, want the header in one", dst.calls)
	}
	return tw, &dst
}

func writeAll(t *testing.T, tw *Writer, chunks ...int) {
	t.Helper()
	for _, n := range chunks {
		if m, err := tw.Write(make([]byte, n)); err != nil || m != n {
			t.Fatalf("Write(%d bytes): %d, %v", n, m, err)
		}
	}
}

func wantCalls(t *testing.T, dst *callSizes, want ...int) {
	t.Helper()
	got := dst.calls[1:] // after the header
	if len(got) != len(want) {
		t.Fatalf("calls after the header %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("calls after the header %v, want %v", got, want)
		}
	}
}

// TestWriterFillsBufferExactly writes small chunks that fill the buffer to
// its last byte: they stay buffered (no call yet), and go out as one call of
// bufferSize bytes when the next byte comes.
func TestWriterFillsBufferExactly(t *testing.T) {
	const total = bufferSize + 10000 // so that the buffer is bufferSize bytes
	chunk := directWrite - 1         // the largest that is buffered
	tw, dst := newSizesWriter(t, total)
	var chunks []int
	for left := bufferSize; left > 0; left -= chunk {
		chunks = append(chunks, min(chunk, left))
	}
	writeAll(t, tw, chunks...)
	wantCalls(t, dst) // the buffer is full, not yet written
	writeAll(t, tw, 1)
	wantCalls(t, dst, bufferSize)
	writeAll(t, tw, total-bufferSize-1)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, dst, bufferSize, total-bufferSize)
	if int64(dst.Len()) != tw.Size() {
		t.Fatalf("%d bytes written, want %d", dst.Len(), tw.Size())
	}
}

// TestWriterDirectThreshold writes one chunk of directWrite bytes (passed
// through as it is, after the buffered bytes) and one of directWrite-1
// (buffered until Close).
func TestWriterDirectThreshold(t *testing.T) {
	tw, dst := newSizesWriter(t, 3+directWrite+directWrite-1)
	writeAll(t, tw, 3, directWrite)
	wantCalls(t, dst, 3, directWrite)
	writeAll(t, tw, directWrite-1)
	wantCalls(t, dst, 3, directWrite)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, dst, 3, directWrite, directWrite-1)
}

// TestWriterGathersFromTheFirstByte writes a small file a byte at a time:
// the buffer holds the whole file, so the data goes out in one call at
// Flush, however small the header that went first.
func TestWriterGathersFromTheFirstByte(t *testing.T) {
	const total = 1000
	tw, dst := newSizesWriter(t, total)
	for range total {
		writeAll(t, tw, 1)
	}
	wantCalls(t, dst)
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, dst, total)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, dst, total)
}

// TestWriterReadFromAfterWrite reads into a Writer that already holds some
// data: ReadFrom takes only the rest of the data buffer, refuses a reader
// with one byte more, and its error sticks.
func TestWriterReadFromAfterWrite(t *testing.T) {
	const total, first = 100, 40
	tw, dst := newSizesWriter(t, total)
	writeAll(t, tw, first)
	src := bytes.NewReader(bytes.Repeat([]byte{7}, total-first+1))
	n, err := tw.ReadFrom(src)
	if n != total-first || !errors.Is(err, ErrWriteTooLong) {
		t.Fatalf("ReadFrom of %d bytes into the last %d: %d, %v; want %d, ErrWriteTooLong", total-first+1, total-first, n, err, total-first)
	}
	if tw.Written() != total {
		t.Fatalf("Written %d, want %d", tw.Written(), total)
	}
	if ferr := tw.Flush(); !errors.Is(ferr, ErrWriteTooLong) {
		t.Fatalf("Flush after the error: %v, want it again", ferr)
	}
	if cerr := tw.Close(); !errors.Is(cerr, ErrWriteTooLong) {
		t.Fatalf("Close after the error: %v, want it again", cerr)
	}
	if got := dst.Len() - int(8+tw.HeaderSize()); got > total {
		t.Fatalf("%d bytes of data reached the destination, over the %d declared", got, total)
	}
}

// TestWriterReadFromErrorSticks: a reader's error ends the Writer, as every
// Writer error does.
func TestWriterReadFromErrorSticks(t *testing.T) {
	errRead := errors.New("read failed")
	tw, _ := newSizesWriter(t, 100)
	writeAll(t, tw, 10)
	n, err := tw.ReadFrom(io.MultiReader(bytes.NewReader(make([]byte, 5)), &failingReader{err: errRead}))
	if n != 5 || !errors.Is(err, errRead) {
		t.Fatalf("ReadFrom: %d, %v; want 5, the reader's error", n, err)
	}
	if m, werr := tw.Write(make([]byte, 1)); m != 0 || !errors.Is(werr, errRead) {
		t.Fatalf("Write after the error: %d, %v; want 0, the reader's error", m, werr)
	}
	if cerr := tw.Close(); !errors.Is(cerr, errRead) {
		t.Fatalf("Close after the error: %v, want the reader's error", cerr)
	}
}

type failingReader struct{ err error }

func (r *failingReader) Read([]byte) (int, error) { return 0, r.err }
