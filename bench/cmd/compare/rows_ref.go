package main

import (
	"encoding/binary"
	"fmt"
	"io"
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
			what: "open, write the header and every tensor through a reused 32 KiB buffer, close",
			prepare: func() (func() error, func() error, error) {
				return e.saveRun(e.write32K)
			},
		},
		{
			id: refWriteSync, op: "save", lib: "ref", bytes: gen.ModelData,
			what: "the same into a new file (create), then fsync before close",
			prepare: func() (func() error, func() error, error) {
				return e.saveRunNew(func(f *os.File) error {
					if err := e.write32K(f); err != nil {
						return err
					}
					return f.Sync()
				})
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

// saveRun returns the run and done functions of a save row that writes
// over an existing file: run opens the output file for writing, without
// truncating it, has write fill it, cuts it where the writing ended, and
// closes it; done checks the file
// with our library and flushes it to disk.
//
// The output file is the size of the model file and stays in the page
// cache between samples, so that every row writes into the same cached
// pages. A new file would need a gigabyte of new page-cache pages, and on
// this kind of virtual machine new pages cost as much as the first touch
// of new memory, or nothing, depending on how long ago the host was told
// they were free (free page reporting): the time would measure the host,
// not the library. Before each sample the file's first and last bytes, and
// a byte every 64 MiB, are overwritten with zeros, so a writer that skips
// any of them leaves a file that fails the check.
func (e *env) saveRun(write func(f *os.File) error) (func() error, func() error, error) {
	path := filepath.Join(e.dir, "out.safetensors")
	size := int64(len(e.modelHead) + gen.ModelData)
	if st, err := os.Stat(path); err != nil || st.Size() != size {
		if err := createWith(path, e.write32K); err != nil {
			return nil, nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	var zero [8]byte
	for off := int64(0); off < size-8; off += 64 << 20 {
		_, err = f.WriteAt(zero[:], off)
	}
	if _, werr := f.WriteAt(zero[:], size-8); err == nil {
		err = werr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	unix.Sync()
	return func() error {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if err := write(f); err != nil {
				f.Close()
				return err
			}
			// Drop what is left of the old file past the end of what was
			// written, as os.Create would have (a file of another layout
			// may be shorter).
			end, err := f.Seek(0, io.SeekCurrent)
			if err == nil {
				err = f.Truncate(end)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		}, func() error {
			defer unix.Sync() // so that the next sample does not wait on this one's write-back
			return e.checkSaved(path)
		}, nil
}

// saveRunNew is saveRun for a row that writes a new file (os.Create), as
// one that syncs it to disk must: done checks the file, removes it and
// flushes the file system.
func (e *env) saveRunNew(write func(f *os.File) error) (func() error, func() error, error) {
	path := filepath.Join(e.dir, "new.safetensors")
	return func() error { return createWith(path, write) }, func() error {
		defer func() {
			os.Remove(path)
			unix.Sync()
		}()
		return e.checkSaved(path)
	}, nil
}
