package main

import (
	"io"
	"os"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

// Ids of the copy rows that the targets name.
const (
	refCopyRange  = "copy/ref/copy-file-range"
	refCopyPread  = "copy/ref/pread-write"
	oursCopySave  = "copy/ours/save"
	oursCopyStrm  = "copy/ours/stream"
	copyChunkSize = 256 << 10 // the Writer's buffer
)

// copyRows copy the model file, opened as a mapped File, to a file (over a
// cached file of the same size, as the save rows do): the physical
// references (the kernel's copy_file_range of the whole file; pread and
// write through a reused buffer of the Writer's size), the obvious code
// (Open, GetTensor, Save), and the streaming path that used to be the only
// fast one (NewWriter, CopyTensor of TensorReader).
func copyRows(e *env) []*row {
	size := int64(len(e.modelHead)) + gen.ModelData
	return []*row{
		{
			id: refCopyRange, op: "copy", lib: "ref", bytes: gen.ModelData,
			what: "os.Open, io.Copy(*os.File, *os.File) (copy_file_range of the whole file)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error {
					in, err := os.Open(e.model)
					if err != nil {
						return err
					}
					defer in.Close()
					_, err = io.Copy(f, in)
					return err
				})
			},
		},
		{
			id: refCopyPread, op: "copy", lib: "ref", bytes: gen.ModelData, vs: refCopyRange,
			what: "os.Open, pread and write through a reused 256 KiB buffer",
			prepare: func() (func() error, func() error, error) {
				buf := make([]byte, copyChunkSize)
				return e.saveRun(func(f *os.File) error {
					in, err := os.Open(e.model)
					if err != nil {
						return err
					}
					defer in.Close()
					for off := int64(0); off < size; {
						n, err := in.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
						if err != nil && err != io.EOF {
							return err
						}
						if _, err := f.Write(buf[:n]); err != nil {
							return err
						}
						off += int64(n)
					}
					return nil
				})
			},
		},
		{
			id: oursCopySave, op: "copy", lib: "ours", bytes: gen.ModelData, vs: refCopyRange,
			what: "Open, GetTensor (views) each, Save(*os.File)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error { return saveViews(e.model, f) })
			},
		},
		{
			id: "copy/ours/save-writer", op: "copy", lib: "ours", bytes: gen.ModelData, vs: refCopyPread,
			what: "Open, GetTensor (views) each, Save(an io.Writer that is not an *os.File)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error { return saveViews(e.model, struct{ io.Writer }{f}) })
			},
		},
		{
			id: "copy/ours/writetensor", op: "copy", lib: "ours", bytes: gen.ModelData, vs: refCopyRange,
			what: "Open, NewWriter(*os.File, Infos), WriteTensor(GetTensor) each, Close",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(w *os.File) error {
					f, err := safetensors.Open(e.model)
					if err != nil {
						return err
					}
					defer f.Close()
					tw, err := safetensors.NewWriter(w, f.Infos(), f.Metadata())
					if err != nil {
						return err
					}
					for _, ti := range tw.Infos() {
						t, err := f.GetTensor(ti.Name)
						if err != nil {
							return err
						}
						if err := tw.WriteTensor(ti.Name, t); err != nil {
							return err
						}
					}
					return tw.Close()
				})
			},
		},
		{
			id: oursCopyStrm, op: "copy", lib: "ours", bytes: gen.ModelData, vs: refCopyPread,
			what: "Open, NewWriter(*os.File, Infos), CopyTensor(TensorReader) each, Close (the streaming path)",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(w *os.File) error {
					f, err := safetensors.Open(e.model)
					if err != nil {
						return err
					}
					defer f.Close()
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
	}
}

// saveViews is the obvious code: open the model, get every tensor, save
// them all.
func saveViews(model string, w io.Writer) error {
	f, err := safetensors.Open(model)
	if err != nil {
		return err
	}
	defer f.Close()
	tensors := make(map[string]safetensors.Tensor, f.Len())
	for _, name := range f.Keys() {
		if tensors[name], err = f.GetTensor(name); err != nil {
			return err
		}
	}
	return safetensors.Save(w, tensors, f.Metadata())
}
