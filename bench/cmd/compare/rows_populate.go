package main

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

const oursAllPopulate = "all/ours/populate"

// populateRows read every tensor as views of a mapping whose pages were
// asked for up front: the kernel's two ways (MAP_POPULATE when mapping,
// madvise(MADV_POPULATE_READ) after), and ours, Options.Populate.
func populateRows(e *env) []*row {
	mapTouch := func(flags int, advise bool) func() error {
		return func() error {
			f, err := os.Open(e.model)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED|flags)
			if err != nil {
				return err
			}
			defer unix.Munmap(b)
			if advise {
				if err := unix.Madvise(b, unix.MADV_POPULATE_READ); err != nil {
					return err
				}
			}
			return e.checkTouch(touch(b[len(e.modelHead):]))
		}
	}
	return []*row{
		{
			id: "all/ref/map-populate", op: "all", lib: "ref", bytes: gen.ModelData, vs: refMapTouch,
			what: "mmap with MAP_POPULATE, read one byte of every page, munmap",
			prepare: func() (func() error, func() error, error) {
				return mapTouch(unix.MAP_POPULATE, false), nil, nil
			},
		},
		{
			id: "all/ref/map-madvise", op: "all", lib: "ref", bytes: gen.ModelData, vs: refMapTouch,
			what: "mmap, madvise(MADV_POPULATE_READ), read one byte of every page, munmap",
			prepare: func() (func() error, func() error, error) {
				return mapTouch(0, true), nil, nil
			},
		},
		{
			id: oursAllPopulate, op: "all", lib: "ours", bytes: gen.ModelData, vs: refMapTouch,
			what: "Options{Populate: true}.Open, GetTensor (views of the mapping), touch",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					f, err := safetensors.Options{Populate: true}.Open(e.model)
					if err != nil {
						return err
					}
					defer f.Close()
					var sum uint64
					for _, name := range f.Keys() {
						t, err := f.GetTensor(name)
						if err != nil {
							return err
						}
						sum += touch(t.Data())
					}
					return e.checkTouch(sum)
				}, nil, nil
			},
		},
	}
}
