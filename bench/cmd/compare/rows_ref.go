package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

// Ids of the reference rows that other rows are compared with.
const (
	refOpen      = "open/ref/header"
	refMapTouch  = "all/ref/map-touch"
	refPread     = "all/ref/pread"
	refPreadNew  = "all/ref/pread-new"
	refCopyAll   = "all/ref/copy"
	refCopyRows  = "rows/ref/copy"
	refCopyCols  = "cols/ref/copy-gather"
	refWrite32K  = "save/ref/write32k"
	refWriteSync = "save/ref/write32k-fsync"
)

// refRows are the physical references: what the machine does with the
// same bytes without any library.
func refRows(e *env) []*row {
	blockDst := e.dst[:len(e.rowBlock)]
	return []*row{
		{
			id: refOpen, op: "open", lib: "ref", iters: 100,
			what: "open(2), pread of the prefix and of the header, close(2): no parsing",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					f, err := os.Open(e.model)
					if err != nil {
						return err
					}
					defer f.Close()
					var p [8]byte
					if _, err := f.ReadAt(p[:], 0); err != nil {
						return err
					}
					h := make([]byte, binary.LittleEndian.Uint64(p[:]))
					_, err = f.ReadAt(h, 8)
					return err
				}, nil, nil
			},
		},
		{
			id: "open/ref/map-header", op: "open", lib: "ref", iters: 100, vs: refOpen,
			what: "open(2), mmap, read one byte of each page of the header through the mapping, munmap, close(2): no parsing",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					b, unmap, err := mapFile(e.model)
					if err != nil {
						return err
					}
					n := int(binary.LittleEndian.Uint64(b))
					sink += touch(b[8 : 8+n])
					return unmap()
				}, nil, nil
			},
		},
		{
			id: refMapTouch, op: "all", lib: "ref", bytes: gen.ModelData,
			what: "mmap the file, read one byte of every page, munmap",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					b, unmap, err := mapFile(e.model)
					if err != nil {
						return err
					}
					defer unmap()
					return e.checkTouch(touch(b[len(e.modelHead):]))
				}, nil, nil
			},
		},
		{
			id: refPread, op: "all", lib: "ref", bytes: gen.ModelData,
			what: "pread of each tensor into a pre-touched buffer",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					return e.preadTensors(func(i int) []byte { return e.dst[i*gen.ModelTensor : (i+1)*gen.ModelTensor] })
				}, nil, nil
			},
		},
		{
			id: refPreadNew, op: "all", lib: "ref", bytes: gen.ModelData, fresh: true,
			what: "pread of each tensor into a new buffer (make)",
			prepare: func() (func() error, func() error, error) {
				return func() error { return e.preadTensors(func(int) []byte { return make([]byte, gen.ModelTensor) }) }, nil, nil
			},
		},
		{
			id: refCopyAll, op: "all", lib: "ref", bytes: gen.ModelData,
			what: "copy() of the file's data between pre-touched buffers",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					copy(e.dst, e.modelData)
					return e.checkTouch(touch(e.dst[:gen.ModelData]))
				}, nil, nil
			},
		},
		{
			id: refCopyRows, op: "rows", lib: "ref", bytes: int64(len(e.rowBlock)),
			what: "copy() of the block between pre-touched buffers",
			prepare: func() (func() error, func() error, error) {
				return func() error { copy(blockDst, e.rowBlock); return nil }, e.checkRows(blockDst), nil
			},
		},
		{
			id: "rows/ref/pread", op: "rows", lib: "ref", bytes: int64(len(e.rowBlock)), vs: refCopyRows,
			what: "one pread of the block into a pre-touched buffer",
			prepare: func() (func() error, func() error, error) {
				f, err := os.Open(e.matrix)
				if err != nil {
					return nil, nil, err
				}
				off := int64(len(e.matrixHead)) + rowStart*rowBytes
				return func() error {
						_, err := f.ReadAt(blockDst, off)
						return err
					}, func() error {
						f.Close()
						return e.checkRows(blockDst)()
					}, nil
			},
		},
		{
			id: refCopyCols, op: "cols", lib: "ref", bytes: int64(len(e.colBlock)),
			what: "copy() of each row's 256 bytes between pre-touched buffers (16384 copies)",
			prepare: func() (func() error, func() error, error) {
				dst := e.dst[:len(e.colBlock)]
				return func() error { gatherCols(dst, e.matrixData); return nil }, e.checkCols(dst), nil
			},
		},
		{
			id: "cols/ref/copy-contiguous", op: "cols", lib: "ref", bytes: int64(len(e.colBlock)), vs: refCopyCols,
			what: "copy() of 4 MiB in one piece between pre-touched buffers",
			prepare: func() (func() error, func() error, error) {
				dst := e.dst[:len(e.colBlock)]
				return func() error { copy(dst, e.matrixData[:len(dst)]); return nil }, nil, nil
			},
		},
		{
			id: "cols/ref/map-gather", op: "cols", lib: "ref", bytes: int64(len(e.colBlock)), vs: refCopyCols,
			what: "mmap the file, copy() each row's 256 bytes, munmap",
			prepare: func() (func() error, func() error, error) {
				dst := e.dst[:len(e.colBlock)]
				return func() error {
					b, unmap, err := mapFile(e.matrix)
					if err != nil {
						return err
					}
					defer unmap()
					gatherCols(dst, b[len(b)-gen.MatrixData:])
					return nil
				}, e.checkCols(dst), nil
			},
		},
		{
			id: "cols/ref/pread-runs", op: "cols", lib: "ref", bytes: int64(len(e.colBlock)), vs: refCopyCols,
			what: "one pread per row of its 256 bytes (16384 preads)",
			prepare: func() (func() error, func() error, error) {
				f, err := os.Open(e.matrix)
				if err != nil {
					return nil, nil, err
				}
				dst := e.dst[:len(e.colBlock)]
				base := int64(len(e.matrixHead)) + colStart*4
				return func() error {
						for r := range gen.MatrixSide {
							if _, err := f.ReadAt(dst[r*colRun:(r+1)*colRun], base+int64(r)*rowBytes); err != nil {
								return err
							}
						}
						return nil
					}, func() error {
						f.Close()
						return e.checkCols(dst)()
					}, nil
			},
		},
		{
			id: refWrite32K, op: "save", lib: "ref", bytes: gen.ModelData,
			what: "create, write every tensor through a reused 32 KiB buffer, close",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error { return e.write32K(f) }, false)
			},
		},
		{
			id: refWriteSync, op: "save", lib: "ref", bytes: gen.ModelData,
			what: "the same, then fsync before close",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(func(f *os.File) error {
					if err := e.write32K(f); err != nil {
						return err
					}
					return f.Sync()
				}, false)
			},
		},
	}
}

func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}

// gatherCols copies the column block out of the matrix's data into dst:
// columns colStart:colStop of the first len(dst)/colRun rows.
func gatherCols(dst, data []byte) {
	for r := range len(dst) / colRun {
		copy(dst[r*colRun:(r+1)*colRun], data[r*rowBytes+colStart*4:])
	}
}

func (e *env) checkTouch(sum uint64) error {
	if sum != e.touchSum {
		return fmt.Errorf("touched bytes sum to %d, want %d: wrong data", sum, e.touchSum)
	}
	return nil
}

func (e *env) checkRows(b []byte) func() error {
	return func() error { return checkBytes("row block", b, e.rowBlock) }
}

func (e *env) checkCols(b []byte) func() error {
	return func() error { return checkBytes("column block", b, e.colBlock) }
}

func checkBytes(what string, got, want []byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	if string(got) != string(want) {
		return fmt.Errorf("%s: wrong bytes", what)
	}
	return nil
}

// preadTensors reads every tensor of the model file with one pread each
// into buf(i), touching each page of it.
func (e *env) preadTensors(buf func(i int) []byte) error {
	f, err := os.Open(e.model)
	if err != nil {
		return err
	}
	defer f.Close()
	base := int64(len(e.modelHead))
	var sum uint64
	for i := range gen.ModelTensors {
		b := buf(i)
		if _, err := f.ReadAt(b, base+int64(i)*gen.ModelTensor); err != nil {
			return err
		}
		sum += touch(b)
	}
	return e.checkTouch(sum)
}

// write32K writes the model file's prefix, header and tensors to f
// through a reused 32 KiB buffer.
func (e *env) write32K(f *os.File) error {
	buf := make([]byte, 0, 32<<10)
	for _, src := range append([][]byte{e.modelHead}, e.tensors...) {
		for len(src) > 0 {
			n := copy(buf[len(buf):cap(buf)], src)
			buf, src = buf[:len(buf)+n], src[n:]
			if len(buf) == cap(buf) {
				if _, err := f.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	}
	_, err := f.Write(buf)
	return err
}

// saveRun returns the run and done functions of a save row: run creates
// a new file, has write fill it, and closes it; done checks the file (with
// our library, when verify is set) and removes it.
func (e *env) saveRun(write func(f *os.File) error, verify bool) (func() error, func() error, error) {
	path := filepath.Join(e.dir, "out.safetensors")
	return func() error {
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			if err := write(f); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}, func() error {
			defer func() {
				// Remove the file and flush the file system, so that the
				// next sample does not wait on this one's write-back.
				os.Remove(path)
				unix.Sync()
			}()
			if verify {
				return e.checkSaved(path)
			}
			st, err := os.Stat(path)
			if err == nil && st.Size() != int64(len(e.modelHead)+gen.ModelData) {
				err = fmt.Errorf("wrote %d bytes, want %d", st.Size(), len(e.modelHead)+gen.ModelData)
			}
			return err
		}, nil
}
