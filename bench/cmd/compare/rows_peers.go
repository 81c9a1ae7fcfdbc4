package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	maruel "github.com/maruel/safetensors"
	nlp "github.com/nlpodyssey/safetensors"
	ollama "github.com/ollama/ollama/x/imagegen/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
	"github.com/safetensors-go/safetensors/bench/internal/peers"
)

// Each peer's rows are what a user of its API writes for each operation.
// None of the peers can slice: for the blocks, the peers that hand out
// views of a mapping get the whole tensor's view and copy the block out of
// it (user code over the view); ollama, whose tensors are readers, reads
// the whole tensor and copies the block ("full read + copy").

func nlpRows(e *env) []*row {
	const lib = "nlpodyssey"
	matrix := func(f *peers.NLPFile) ([]byte, error) {
		t, ok := f.Tensor(gen.MatrixName)
		if !ok {
			return nil, errors.New("no matrix tensor")
		}
		return t.Data(), nil
	}
	views := make(map[string]nlp.TensorView, len(e.tensors))
	for i, b := range e.tensors {
		v, err := nlp.NewTensorView(nlp.F32, []uint64{gen.ModelRows, gen.ModelCols}, b)
		if err != nil {
			panic(err)
		}
		views[gen.ModelName(i)] = v
	}
	return []*row{
		{
			id: "open/" + lib, op: "open", lib: lib, iters: 100,
			what: "mmap, Deserialize, munmap",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					f, err := peers.OpenNLP(e.model)
					if err != nil {
						return err
					}
					return f.Close()
				}, nil, nil
			},
		},
		{
			id: "all/" + lib, op: "all", lib: lib, bytes: gen.ModelData, vs: refMapTouch,
			what: "mmap, Deserialize, Tensor (views), touch",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					f, err := peers.OpenNLP(e.model)
					if err != nil {
						return err
					}
					defer f.Close()
					var sum uint64
					for _, name := range f.Names() {
						t, ok := f.Tensor(name)
						if !ok {
							return fmt.Errorf("no tensor %q", name)
						}
						sum += touch(t.Data())
					}
					return e.checkTouch(sum)
				}, nil, nil
			},
		},
		e.viewBlockRow("rows", lib, func() ([]byte, func() error, error) {
			f, err := peers.OpenNLP(e.matrix)
			if err != nil {
				return nil, nil, err
			}
			b, err := matrix(f)
			return b, f.Close, err
		}),
		e.viewBlockRow("cols", lib, func() ([]byte, func() error, error) {
			f, err := peers.OpenNLP(e.matrix)
			if err != nil {
				return nil, nil, err
			}
			b, err := matrix(f)
			return b, f.Close, err
		}),
		{
			id: "save/" + lib, op: "save", lib: lib, bytes: gen.ModelData, vs: refWrite32K,
			what: "SerializeToWriter(*os.File)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error { return nlp.SerializeToWriter(views, map[string]string{"format": "pt"}, f) })
			},
		},
	}
}

func maruelRows(e *env) []*row {
	const lib = "maruel"
	matrix := func() ([]byte, func() error, error) {
		var m maruel.Mapped
		if err := m.Open(e.matrix); err != nil {
			return nil, nil, err
		}
		for _, t := range m.Tensors {
			if t.Name == gen.MatrixName {
				return t.Data, m.Close, nil
			}
		}
		m.Close()
		return nil, nil, errors.New("no matrix tensor")
	}
	file := &maruel.File{Metadata: map[string]string{"format": "pt"}}
	for i, b := range e.tensors {
		file.Tensors = append(file.Tensors, maruel.Tensor{Name: gen.ModelName(i), DType: maruel.F32, Shape: []uint64{gen.ModelRows, gen.ModelCols}, Data: b})
	}
	return []*row{
		{
			id: "open/" + lib, op: "open", lib: lib, iters: 100,
			what: "Mapped.Open, Close",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					var m maruel.Mapped
					if err := m.Open(e.model); err != nil {
						return err
					}
					return m.Close()
				}, nil, nil
			},
		},
		{
			id: "all/" + lib, op: "all", lib: lib, bytes: gen.ModelData, vs: refMapTouch,
			what: "Mapped.Open, Tensors (views), touch",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					var m maruel.Mapped
					if err := m.Open(e.model); err != nil {
						return err
					}
					defer m.Close()
					var sum uint64
					for _, t := range m.Tensors {
						sum += touch(t.Data)
					}
					return e.checkTouch(sum)
				}, nil, nil
			},
		},
		e.viewBlockRow("rows", lib, matrix),
		e.viewBlockRow("cols", lib, matrix),
		{
			id: "save/" + lib, op: "save", lib: lib, bytes: gen.ModelData, vs: refWrite32K,
			what: "File.Serialize(*os.File)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error { return file.Serialize(f) })
			},
		},
	}
}

func ollamaRows(e *env) []*row {
	const lib = "ollama"
	readAll := func(buf func(i int, size int64) []byte) error {
		x, err := ollama.OpenForExtraction(e.model)
		if err != nil {
			return err
		}
		defer x.Close()
		var sum uint64
		for i, name := range x.ListTensors() {
			td, err := x.GetTensor(name)
			if err != nil {
				return err
			}
			b := buf(i, td.Size)
			if _, err := io.ReadFull(td.Reader(), b); err != nil {
				return err
			}
			sum += touch(b)
		}
		return e.checkTouch(sum)
	}
	// matrix opens the matrix file and gets its tensor's reader.
	matrix := func() (io.Reader, int64, func() error, error) {
		x, err := ollama.OpenForExtraction(e.matrix)
		if err != nil {
			return nil, 0, nil, err
		}
		td, err := x.GetTensor(gen.MatrixName)
		if err != nil {
			x.Close()
			return nil, 0, nil, err
		}
		return td.Reader(), td.Size, x.Close, nil
	}
	return []*row{
		{
			id: "open/" + lib, op: "open", lib: lib, iters: 100,
			what: "x/imagegen/safetensors.OpenForExtraction, Close",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					x, err := ollama.OpenForExtraction(e.model)
					if err != nil {
						return err
					}
					return x.Close()
				}, nil, nil
			},
		},
		{
			id: "all/" + lib + "/new", op: "all", lib: lib, bytes: gen.ModelData, vs: refPreadNew, fresh: true,
			what: "OpenForExtraction, GetTensor, io.ReadFull(Reader()) into a new buffer",
			prepare: func() (func() error, func() error, error) {
				return func() error { return readAll(func(_ int, n int64) []byte { return make([]byte, n) }) }, nil, nil
			},
		},
		{
			id: "all/" + lib + "/pretouched", op: "all", lib: lib, bytes: gen.ModelData, vs: refPread,
			what: "the same into a pre-touched buffer",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					return readAll(func(i int, n int64) []byte { return e.dst[int64(i)*n : int64(i+1)*n] })
				}, nil, nil
			},
		},
		e.fullReadBlockRow("rows", lib, matrix),
		e.fullReadBlockRow("cols", lib, matrix),
		{
			id: "save/" + lib, op: "save", lib: lib, bytes: gen.ModelData, vs: refWrite32K,
			what: "NewTensorDataFromBytes, BuildPackedSafetensorsReader, io.Copy(*os.File)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error {
					tds := make([]*ollama.TensorData, len(e.tensors))
					for i, b := range e.tensors {
						tds[i] = ollama.NewTensorDataFromBytes(gen.ModelName(i), "F32", []int32{gen.ModelRows, gen.ModelCols}, b)
					}
					_, err := io.Copy(f, ollama.BuildPackedSafetensorsReader(tds))
					return err
				})
			},
		},
	}
}

// block returns the reference id, the byte count and the checker of a
// block operation ("rows" or "cols"), and copies that block out of a whole
// tensor's bytes into dst.
func (e *env) block(op string) (vs string, n int, copyBlock func(dst, tensor []byte), check func([]byte) func() error) {
	if op == "rows" {
		return refCopyRows, len(e.rowBlock), func(dst, t []byte) { copy(dst, t[rowStart*rowBytes:rowStop*rowBytes]) }, e.checkRows
	}
	return refCopyCols, len(e.colBlock), gatherCols, e.checkCols
}

// viewBlockRow is the block row of a peer that hands out a view of the
// whole tensor: open the file (untimed, as for our rows: opening is a row
// of its own), then, timed, get the view and copy the block out of it into
// a pre-touched buffer.
func (e *env) viewBlockRow(op, lib string, open func() (view []byte, close func() error, err error)) *row {
	vs, n, copyBlock, check := e.block(op)
	dst := e.dst[:n]
	return &row{
		id: op + "/" + lib, op: op, lib: lib, bytes: int64(n), vs: vs,
		what: "view of the whole tensor, copy() of the block out of it (user code)",
		prepare: func() (func() error, func() error, error) {
			view, closeFile, err := open()
			if err != nil {
				return nil, nil, err
			}
			return func() error { copyBlock(dst, view); return nil }, func() error {
				closeFile()
				return check(dst)()
			}, nil
		},
	}
}

// fullReadBlockRow is the block row of a peer that can only read a whole
// tensor: open the file (untimed), then, timed, read the whole tensor into
// a pre-touched buffer and copy the block out of it.
func (e *env) fullReadBlockRow(op, lib string, open func() (r io.Reader, size int64, close func() error, err error)) *row {
	vs, n, copyBlock, check := e.block(op)
	var dst []byte // pre-touched, made at the first sample: e.dst holds the whole tensor here
	return &row{
		id: op + "/" + lib, op: op, lib: lib, bytes: int64(n), vs: vs,
		what: "full read + copy: io.ReadFull of the whole tensor (1 GiB) into a pre-touched buffer, copy() of the block",
		prepare: func() (func() error, func() error, error) {
			if dst == nil {
				dst = make([]byte, n)
				for i := 0; i < n; i += pageSize {
					dst[i] = 1
				}
			}
			r, size, closeFile, err := open()
			if err != nil {
				return nil, nil, err
			}
			return func() error {
					b := e.dst[:size]
					if _, err := io.ReadFull(r, b); err != nil {
						return err
					}
					copyBlock(dst, b)
					return nil
				}, func() error {
					closeFile()
					return check(dst)()
				}, nil
		},
	}
}
