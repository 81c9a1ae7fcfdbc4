package main

import (
	"os"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

// oursSliceRows are our library's block rows: File.GetSlice, then
// Slice.ReadInto a pre-touched buffer or Slice.Get (new memory), through
// each backend. The file is opened before the timed part, as for the
// peers: opening is a row of its own.
func oursSliceRows(e *env) []*row {
	var rows []*row
	for _, op := range []string{"rows", "cols"} {
		vs, n, _, check := e.block(op)
		index := []safetensors.Index{safetensors.Range(rowStart, rowStop)}
		if op == "cols" {
			index = []safetensors.Index{safetensors.Full(), safetensors.Range(colStart, colStop)}
		}
		for _, b := range []struct {
			name, what string
			open       func() (*safetensors.File, func() error, error)
		}{
			{"", "Open", func() (*safetensors.File, func() error, error) {
				f, err := safetensors.Open(e.matrix)
				if err != nil {
					return nil, nil, err
				}
				return f, f.Close, nil
			}},
			{"/reader", "NewReader(*os.File)", func() (*safetensors.File, func() error, error) {
				osf, err := os.Open(e.matrix)
				if err != nil {
					return nil, nil, err
				}
				f, err := safetensors.NewReader(osf, int64(len(e.matrixFile)))
				if err != nil {
					osf.Close()
					return nil, nil, err
				}
				return f, func() error { f.Close(); return osf.Close() }, nil
			}},
			{"/warm", "Open, every page of the tensor touched beforehand (untimed)", func() (*safetensors.File, func() error, error) {
				f, err := safetensors.Open(e.matrix)
				if err != nil {
					return nil, nil, err
				}
				t, err := f.GetTensor(gen.MatrixName)
				if err != nil {
					f.Close()
					return nil, nil, err
				}
				sink += touch(t.Data())
				return f, f.Close, nil
			}},
			{"/populate", "Options{Populate: true}.Open (untimed)", func() (*safetensors.File, func() error, error) {
				f, err := safetensors.Options{Populate: true}.Open(e.matrix)
				if err != nil {
					return nil, nil, err
				}
				return f, f.Close, nil
			}},
			{"/load", "Load (the file's bytes already in memory)", func() (*safetensors.File, func() error, error) {
				f, err := safetensors.Load(e.matrixFile)
				if err != nil {
					return nil, nil, err
				}
				return f, f.Close, nil
			}},
		} {
			dst := e.dst[:n]
			rows = append(rows, &row{
				id: op + "/ours/readinto" + b.name, op: op, lib: "ours", bytes: int64(n), vs: vs,
				what: b.what + ", GetSlice, Slice.ReadInto a pre-touched buffer",
				prepare: func() (func() error, func() error, error) {
					f, closeFile, err := b.open()
					if err != nil {
						return nil, nil, err
					}
					return func() error {
							s, err := f.GetSlice(gen.MatrixName)
							if err != nil {
								return err
							}
							_, err = s.ReadInto(dst, index...)
							return err
						}, func() error {
							closeFile()
							return check(dst)()
						}, nil
				},
			})
			if b.name != "" {
				continue
			}
			var got []byte
			rows = append(rows, &row{
				id: op + "/ours/get" + b.name, op: op, lib: "ours", bytes: int64(n), vs: vs, fresh: true,
				what: b.what + ", GetSlice, Slice.Get",
				prepare: func() (func() error, func() error, error) {
					f, closeFile, err := b.open()
					if err != nil {
						return nil, nil, err
					}
					return func() error {
							s, err := f.GetSlice(gen.MatrixName)
							if err != nil {
								return err
							}
							t, err := s.Get(index...)
							got = t.Data()
							return err
						}, func() error {
							closeFile()
							defer func() { got = nil }()
							return check(got)()
						}, nil
				},
			})
		}
	}
	return rows
}
