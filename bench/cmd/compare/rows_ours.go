package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

// Ids of our rows that the targets name.
const (
	oursOpen     = "open/ours/open"
	oursAllViews = "all/ours/views"
)

// oursRows are our library's rows of the operations that need only the
// core: opening and reading whole tensors.
func oursRows(e *env) []*row {
	return []*row{
		{
			id: oursOpen, op: "open", lib: "ours", iters: 100,
			what: "Open (mmap), Close",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					f, err := safetensors.Open(e.model)
					if err != nil {
						return err
					}
					return f.Close()
				}, nil, nil
			},
		},
		{
			id: "open/ours/reader", op: "open", lib: "ours", iters: 100,
			what: "os.Open, NewReader, Close",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					osf, err := os.Open(e.model)
					if err != nil {
						return err
					}
					defer osf.Close()
					st, err := osf.Stat()
					if err != nil {
						return err
					}
					f, err := safetensors.NewReader(osf, st.Size())
					if err != nil {
						return err
					}
					return f.Close()
				}, nil, nil
			},
		},
		{
			id: oursAllViews, op: "all", lib: "ours", bytes: gen.ModelData, vs: refMapTouch,
			what: "Open, GetTensor (views of the mapping), touch",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					return e.oursAll(e.model, func(f *safetensors.File, name string, _ int) ([]byte, error) {
						t, err := f.GetTensor(name)
						return t.Data(), err
					})
				}, nil, nil
			},
		},
		{
			id: "all/ours/readinto", op: "all", lib: "ours", bytes: gen.ModelData, vs: refPread,
			what: "Open, ReadInto a pre-touched buffer",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					return e.oursAll(e.model, func(f *safetensors.File, name string, i int) ([]byte, error) {
						t, err := f.ReadInto(name, e.dst[i*gen.ModelTensor:])
						return t.Data(), err
					})
				}, nil, nil
			},
		},
		{
			id: "all/ours/reader", op: "all", lib: "ours", bytes: gen.ModelData, vs: refPreadNew, fresh: true,
			what: "NewReader, GetTensor (new buffers)",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					osf, err := os.Open(e.model)
					if err != nil {
						return err
					}
					defer osf.Close()
					st, err := osf.Stat()
					if err != nil {
						return err
					}
					f, err := safetensors.NewReader(osf, st.Size())
					if err != nil {
						return err
					}
					defer f.Close()
					var sum uint64
					keep := make([]safetensors.Tensor, 0, f.Len())
					for _, name := range f.Keys() {
						t, err := f.GetTensor(name)
						if err != nil {
							return err
						}
						sum += touch(t.Data())
						keep = append(keep, t)
					}
					return e.checkTouch(sum)
				}, nil, nil
			},
		},
	}
}

// oursAll opens path with Open and passes every tensor, in the order of
// Keys (which is the buffer order here), to get, touching what it returns.
func (e *env) oursAll(path string, get func(f *safetensors.File, name string, i int) ([]byte, error)) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var sum uint64
	for i, name := range f.Keys() {
		b, err := get(f, name, i)
		if err != nil {
			return err
		}
		sum += touch(b)
	}
	return e.checkTouch(sum)
}

// checkSaved checks a saved copy of the model file with our library: every
// tensor there, with its dtype, shape and bytes, read into e.dst.
func (e *env) checkSaved(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("saved file: %w", err)
	}
	defer f.Close()
	if f.Len() != gen.ModelTensors {
		return fmt.Errorf("saved file has %d tensors, want %d", f.Len(), gen.ModelTensors)
	}
	for i := range gen.ModelTensors {
		t, err := f.ReadInto(gen.ModelName(i), e.dst)
		if err != nil {
			return fmt.Errorf("saved file: %w", err)
		}
		if s := t.Shape(); t.DType() != safetensors.F32 || len(s) != 2 || s[0] != gen.ModelRows || s[1] != gen.ModelCols {
			return fmt.Errorf("saved file: tensor %s is %v%v", gen.ModelName(i), t.DType(), s)
		}
		if !bytes.Equal(t.Data(), e.tensors[i]) {
			return fmt.Errorf("saved file: tensor %s has the wrong bytes", gen.ModelName(i))
		}
	}
	return nil
}
