package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

// oursSaveRows are our library's save rows: Save to an *os.File, SaveFile
// (atomic: temporary file, fsync, rename) and the streaming Writer, all
// from tensors in pre-touched memory.
func oursSaveRows(e *env) []*row {
	tensors := make(map[string]safetensors.Tensor, len(e.tensors))
	for i, b := range e.tensors {
		t, err := safetensors.NewTensor(safetensors.F32, []int{gen.ModelRows, gen.ModelCols}, b)
		if err != nil {
			panic(err)
		}
		tensors[gen.ModelName(i)] = t
	}
	md := map[string]string{"format": "pt"}
	infos := make([]safetensors.TensorInfo, 0, len(tensors))
	for name, t := range tensors {
		infos = append(infos, safetensors.TensorInfo{Name: name, DType: t.DType(), Shape: t.Shape()})
	}
	return []*row{
		{
			id: oursSave, op: "save", lib: "ours", bytes: gen.ModelData, vs: refWrite32K,
			what: "Save(*os.File)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error { return safetensors.Save(f, tensors, md) })
			},
		},
		{
			id: "save/ours/writer", op: "save", lib: "ours", bytes: gen.ModelData, vs: refWrite32K,
			what: "NewWriter(*os.File), WriteTensor each, Close",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error {
					tw, err := safetensors.NewWriter(f, infos, md)
					if err != nil {
						return err
					}
					for _, ti := range tw.Infos() {
						if err := tw.WriteTensor(ti.Name, tensors[ti.Name]); err != nil {
							return err
						}
					}
					return tw.Close()
				})
			},
		},
		{
			id: "save/ours/savefile", op: "save", lib: "ours", bytes: gen.ModelData, vs: refWriteSync,
			what: "SaveFile (temporary file, fsync, rename, fsync of the directory)",
			prepare: func() (func() error, func() error, error) {
				path := filepath.Join(e.dir, "new.safetensors")
				_, done, err := e.saveRunNew(nil)
				return func() error { return safetensors.SaveFile(path, tensors, md) }, done, err
			},
		},
	}
}

// oursSaveMemJobs are our library's copy jobs of the memory table.
func oursSaveMemJobs() []memJob {
	return []memJob{
		{
			id: "copy/ours/save", lib: "ours", task: "copy", what: "Open, GetTensor (views), Save(*os.File)",
			run: func(model, out string) error {
				f, err := safetensors.Open(model)
				if err != nil {
					return err
				}
				defer f.Close()
				tensors := map[string]safetensors.Tensor{}
				for _, name := range f.Keys() {
					if tensors[name], err = f.GetTensor(name); err != nil {
						return err
					}
				}
				return createWith(out, func(w *os.File) error { return safetensors.Save(w, tensors, f.Metadata()) })
			},
		},
		{
			id: oursStreamMem, lib: "ours", task: "copy", what: "Open, NewWriter(*os.File, Infos), CopyTensor(TensorReader) each, Close",
			run: func(model, out string) error {
				f, err := safetensors.Open(model)
				if err != nil {
					return err
				}
				defer f.Close()
				return createWith(out, func(w *os.File) error {
					tw, err := safetensors.NewWriter(w, f.Infos(), f.Metadata())
					if err != nil {
						return err
					}
					for _, ti := range tw.Infos() {
						r, err := f.TensorReader(ti.Name)
						if err != nil {
							return err
						}
						if _, err := tw.CopyTensor(ti.Name, r); err != nil {
							return err
						}
					}
					return tw.Close()
				})
			},
		},
		{
			id: "stream/ours/writer-8GiB", lib: "ours", task: "stream", what: "NewWriter(io.Discard) of 8 tensors of 1 GiB, CopyTensor from a generated reader each, Close",
			run: func(string, string) error {
				infos := make([]safetensors.TensorInfo, 8)
				for i := range infos {
					infos[i] = safetensors.TensorInfo{Name: gen.ModelName(i), DType: safetensors.U8, Shape: []int{1 << 30}}
				}
				tw, err := safetensors.NewWriter(io.Discard, infos, nil)
				if err != nil {
					return err
				}
				for _, ti := range tw.Infos() {
					if _, err := tw.CopyTensor(ti.Name, io.LimitReader(pattern{}, 1<<30)); err != nil {
						return err
					}
				}
				return tw.Close()
			},
		},
	}
}

// pattern is an endless reader of non-zero bytes.
type pattern struct{}

func (pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i) | 1
	}
	return len(p), nil
}
