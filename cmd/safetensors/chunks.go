package main

import (
	"fmt"
	"io"

	"github.com/safetensors-go/safetensors"
)

// chunkElems is how many elements a tensor is read at a time when it is
// streamed: a multiple of 8, so that chunks of F4 (2 per byte) and F6 (4 per
// 3 bytes) fill whole bytes. 1M elements is 4 MiB of F32, 8 MiB of F64.
const chunkElems = 1 << 20

// chunkBytes returns the size of n elements of dtype d, n a multiple of 8
// when d is F4 or F6.
func chunkBytes(d safetensors.DType, n int) int { return n * d.BitSize() / 8 }

// chunkReader reads a tensor chunk by chunk, without holding more than one
// chunk.
type chunkReader struct {
	t    tensorRef
	r    *io.SectionReader
	n    int // the tensor's element count
	next int // the index of the next chunk's first element
	buf  []byte
	bar  *progress
}

func newChunkReader(t tensorRef, bar *progress) (*chunkReader, error) {
	r, err := t.file.f.TensorReader(t.Name)
	if err != nil {
		return nil, err
	}
	return &chunkReader{t: t, r: r, n: t.NumElements(), bar: bar}, nil
}

// chunk returns the next chunk as a one-dimensional tensor, and the index of
// its first element; io.EOF after the last one. The tensor's bytes are only
// valid until the next call.
func (c *chunkReader) chunk() (int, safetensors.Tensor, error) {
	if c.next >= c.n {
		return 0, safetensors.Tensor{}, io.EOF
	}
	if err := c.bar.err(); err != nil {
		return 0, safetensors.Tensor{}, err
	}
	first := c.next
	m := min(chunkElems, c.n-first)
	size := chunkBytes(c.t.DType, m)
	if cap(c.buf) < size {
		c.buf = make([]byte, size)
	}
	b := c.buf[:size]
	if n, err := c.r.ReadAt(b, int64(chunkBytes(c.t.DType, first))); n < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, safetensors.Tensor{}, fmt.Errorf("tensor %q: %w", c.t.Name, err)
	}
	c.bar.add(int64(size))
	c.next += m
	t, err := safetensors.NewTensor(c.t.DType, []int{m}, b)
	if err != nil {
		return 0, safetensors.Tensor{}, fmt.Errorf("tensor %q: %w", c.t.Name, err)
	}
	return first, t, nil
}

// numeric returns a chunk in a form that decodes to float: a C64 chunk as
// the F32 pairs it is made of (real, imaginary), any other as it is.
func numeric(t safetensors.Tensor) safetensors.Tensor {
	if t.DType() != safetensors.C64 {
		return t
	}
	r, err := safetensors.NewTensor(safetensors.F32, []int{2 * t.NumElements()}, t.Data())
	if err != nil {
		panic(err) // unreachable: the same bytes, as twice as many F32
	}
	return r
}

// elements returns how many values numeric gives for n elements of d.
func elements(d safetensors.DType, n int) int {
	if d == safetensors.C64 {
		return 2 * n
	}
	return n
}
