package safetensors

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// Options adjusts how files are read and written. The zero value means the
// defaults, so Options{}.Open(path) is Open(path).
type Options struct {
	// MaxHeaderSize is the largest header accepted when reading, and
	// produced when writing, in bytes. Zero means DefaultMaxHeaderSize
	// (100,000,000, the reference's limit); a negative value means no limit
	// but the file's own size (the header is then read in steps of
	// [ReadStep] bytes, as it arrives, and a step that cannot be JSON ends
	// it).
	MaxHeaderSize int64
	// FollowSymlinks lets [Options.OpenModel] reach the files of a model's
	// folder (the shards an index names, or the file or index it finds in a
	// folder) through symbolic links that lead anywhere. By default a file
	// is opened only if, once every link is resolved, it is inside the
	// model's folder (the folder of the index, or the folder given) or, for
	// the Hugging Face cache's layout, where a folder REPO/snapshots/REV
	// (or a subfolder of it) holds links to ../../blobs/HASH, inside
	// REPO/blobs; a file that leads
	// elsewhere is refused with an error wrapping [fs.ErrPermission] (and
	// [ErrInvalidIndex] for a shard). The index or file named by the path
	// given to OpenModel is opened wherever it leads: the caller chose it.
	FollowSymlinks bool
	// Populate makes [Options.Open] map every page of the file into the
	// process before it returns, for a caller who will touch all of the
	// tensors' bytes through views: one call to the kernel
	// (madvise(MADV_POPULATE_READ), Linux 5.14 and later) instead of a page
	// fault at each first touch, which is faster where faults are dear
	// (BENCHMARKS.md). Where the kernel has no such call, Open touches one
	// byte of each page itself. The pages are the page cache's, shared; the
	// process's resident size grows by the file's size at once. Open then
	// takes as long as reading the file. It has no effect on [Load] and
	// [NewReader], and copies (Save, ReadInto, slices) never need it. A
	// selection ([View.Get]) of a populated File copies from the mapping,
	// whose pages are there, rather than with pread.
	Populate bool
}

func (o Options) maxHeader() int64 {
	if o.MaxHeaderSize == 0 {
		return DefaultMaxHeaderSize
	}
	return o.MaxHeaderSize
}

// File is a parsed safetensors file: its header, validated, and a way to
// reach its data. Create one with [Open], [NewReader] or [Load].
//
// All methods are safe for concurrent use, Close included: a Close that
// races with a read waits for the copying part of it to finish, and the read
// either completes or returns [ErrClosed].
type File struct {
	h    *header
	size int64 // the whole file's size in bytes

	kind backend
	mem  []byte      // the whole file: the mapping (Open) or the caller's bytes (Load); nil once closed
	ra   io.ReaderAt // NewReader's reader; nil otherwise
	// claimed: the size is only what NewReader was told (a server's word),
	// so reads allocate as bytes arrive (readGrowing).
	claimed bool
	osf     *os.File // Open's file, kept for copying reads, which pread does faster than page faults
	// populated: Open mapped every page (Options.Populate), so copying
	// from the mapping costs no faults.
	populated bool
	unmap     func() error

	mu     sync.RWMutex // held for reading while copying out of mem; Close takes it to unmap
	closed atomic.Bool
}

// Open opens the named file by mapping it into memory, and validates its
// header. Tensors from [File.GetTensor] are views of the mapping: nothing is
// copied or read from disk until their bytes are used, and the pages are
// shared with the operating system's cache. Methods that copy bytes out
// ([File.ReadInto], [File.TensorReader], slices, conversions) read them with
// pread instead, which is several times faster than faulting in the mapping's
// pages, and [Save], [SaveFile], [SaveSharded] and [Writer.WriteTensor],
// given views, read their bytes from the file too (see [Save]); so the File
// keeps the file descriptor open until Close.
//
// The mapping is read-only: writing into a view's bytes crashes the program.
// Views die with [File.Close]: using one afterwards crashes too. If another
// process truncates the file while it is mapped, touching the lost pages
// raises SIGBUS; see the package documentation's Security section. On
// systems without memory mapping, Open reads the whole file into memory
// instead, and the views are of that copy.
//
// Only a regular file is read: a named pipe, a device or a socket is
// refused with an error wrapping [ErrNotRegular], without blocking.
//
// Errors are of type [*fs.PathError], wrapping the sentinel of the rule that
// failed.
func Open(path string) (*File, error) { return Options{}.Open(path) }

// Open is [Open] with these options.
func (o Options) Open(path string) (*File, error) { return o.open(path, false) }

// open is Open, refusing a symbolic link as the last element of path when
// nofollow is set (for a path whose links were resolved and checked).
func (o Options) open(path string, nofollow bool) (*File, error) {
	osf, st, err := openRegular(path, nofollow)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			osf.Close()
		}
	}()
	size := st.Size()
	// Check the prefix before mapping, so that a file with a bad prefix costs
	// one small read and no mapping.
	var prefix [prefixSize]byte
	if size >= prefixSize {
		if _, err := osf.ReadAt(prefix[:], 0); err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
	}
	n, err := readPrefix(prefix[:], size, o.maxHeader())
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	// The header is read with pread rather than through the mapping: on
	// machines where page faults are slow, faulting in a large header's pages
	// cost more than parsing it (BENCHMARKS.md).
	hdr, err := readHeader(osf, n)
	if err != nil {
		op := "read"
		if fe := (*FormatError)(nil); errors.As(err, &fe) {
			op = "open"
		}
		return nil, &fs.PathError{Op: op, Path: path, Err: err}
	}
	h, err := parseHeader(hdr, size)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	mem, unmap, err := mapFile(osf, size)
	if err != nil {
		return nil, &fs.PathError{Op: "mmap", Path: path, Err: err}
	}
	if o.Populate {
		if err := populate(mem); err != nil {
			unmap()
			return nil, &fs.PathError{Op: "populate", Path: path, Err: err}
		}
	}
	ok = true
	return &File{h: h, size: size, kind: mapped, mem: mem, osf: osf, unmap: unmap, populated: o.Populate}, nil
}

// Load parses a whole file already in memory. Tensors from [File.GetTensor]
// alias data, which must not be modified while the File is in use. Close
// does nothing to data, and views stay valid after it.
func Load(data []byte) (*File, error) { return Options{}.Load(data) }

// Load is [Load] with these options.
func (o Options) Load(data []byte) (*File, error) { return o.load(data) }

func (o Options) load(data []byte) (*File, error) {
	size := int64(len(data))
	n, err := readPrefix(data, size, o.maxHeader())
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(data[prefixSize:prefixSize+n], size)
	if err != nil {
		return nil, err
	}
	return &File{h: h, size: size, kind: loaded, mem: data}, nil
}

// NewReader reads a file of size bytes through r, with positional reads
// only: it reads the header with two calls to ReadAt (the length, then the
// JSON; a header over [ReadStep] bytes takes a few more) and validates it,
// and reads each tensor's bytes with one ReadAt when asked. Nothing is
// mapped. This is the backend for network filesystems, HTTP range requests
// and any other [io.ReaderAt].
//
// Unless r is a regular *os.File (anything with a Stat method reporting a
// regular file) of at least size bytes, size is taken for a claim that r
// may not honour: nothing larger than [ReadStep] is allocated before its
// bytes arrive (see [File.GetTensor]).
//
// The File borrows r: Close does not close it. r must allow concurrent
// ReadAt calls, as the io.ReaderAt contract says, for the File's methods to
// be safe for concurrent use.
func NewReader(r io.ReaderAt, size int64) (*File, error) { return Options{}.NewReader(r, size) }

// NewReader is [NewReader] with these options.
func (o Options) NewReader(r io.ReaderAt, size int64) (*File, error) {
	if size < 0 {
		return nil, errors.New("safetensors: size cannot be negative")
	}
	var prefix [prefixSize]byte
	if size >= prefixSize {
		if err := readFullAt(r, prefix[:], 0); err != nil {
			return nil, err
		}
	}
	n, err := readPrefix(prefix[:], size, o.maxHeader())
	if err != nil {
		return nil, err
	}
	// n is at most the limit and at most size-8, but size is only what the
	// caller was told (a server's word, for a remote file): readHeader
	// allocates as the bytes arrive.
	hdr, err := readHeader(r, n)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(hdr, size)
	if err != nil {
		return nil, err
	}
	return &File{h: h, size: size, kind: reader, ra: r, claimed: !sizeIsReal(r, size)}, nil
}

// readFullAt fills p from r at off. A short read is io.ErrUnexpectedEOF.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil // io.ReaderAt may return io.EOF with a full read at the end
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("safetensors: reading %d bytes at offset %d: %w", len(p), off, err)
}

// Close releases the File's resources: for a File from [Open] it unmaps the
// file, which invalidates every view it handed out. It is idempotent, and
// every later call on the File returns [ErrClosed].
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Swap(true) {
		return nil
	}
	f.mem = nil
	if f.kind != mapped {
		return nil
	}
	err := f.unmap()
	if cerr := f.osf.Close(); err == nil {
		err = cerr
	}
	return err
}

// Keys returns the names of the tensors, sorted bytewise, in a new slice.
func (f *File) Keys() []string {
	keys := make([]string, len(f.h.tensors))
	for i := range f.h.tensors {
		keys[i] = f.h.tensors[i].Name
	}
	slices.Sort(keys)
	return keys
}

// Len returns the number of tensors.
func (f *File) Len() int { return len(f.h.tensors) }

// Metadata returns a copy of the header's "__metadata__" map, or nil when
// the file has none (no "__metadata__" key, or null).
func (f *File) Metadata() map[string]string { return maps.Clone(f.h.metadata) }

// HeaderSize returns N, the length of the JSON header in bytes.
func (f *File) HeaderSize() int64 { return f.h.size }

// DataOffset returns the file offset where the data buffer starts: 8 + N.
// A tensor's bytes are at DataOffset() + its DataOffsets. Most callers should
// use [File.GetTensor]; this is for those who read the file themselves.
func (f *File) DataOffset() int64 { return prefixSize + f.h.size }

// Size returns the size of the whole file in bytes.
func (f *File) Size() int64 { return f.size }

// Info returns the header entry of the named tensor, without reading its
// data. The error wraps [ErrTensorNotFound] when there is no such tensor.
func (f *File) Info(name string) (TensorInfo, error) {
	i, ok := f.h.index[name]
	if !ok {
		return TensorInfo{}, notFound(name)
	}
	return f.h.tensors[i], nil
}

func notFound(name string) error {
	return &FormatError{Err: ErrTensorNotFound, Tensor: name, HasTensor: true, Offset: -1}
}

// Infos returns every tensor's header entry in the order of their data in
// the file, in a new slice.
func (f *File) Infos() []TensorInfo {
	out := make([]TensorInfo, len(f.h.order))
	for k, i := range f.h.order {
		out[k] = f.h.tensors[i]
	}
	return out
}

// All returns an iterator over the tensors' names and header entries, in
// the order of their data in the file (which is also the order that reads
// them fastest). It reads no data. Example:
//
//	for name, info := range f.All() {
//		fmt.Println(name, info.DType, info.Shape)
//	}
func (f *File) All() iter.Seq2[string, TensorInfo] {
	return func(yield func(string, TensorInfo) bool) {
		for _, i := range f.h.order {
			ti := f.h.tensors[i]
			if !yield(ti.Name, ti) {
				return
			}
		}
	}
}

// GetTensor returns the named tensor.
//
// From a File of [Open] or [Load] it is a view: no bytes are copied, and
// nothing is allocated. From a File of [NewReader] its bytes are read into
// a new buffer that the caller owns, with one ReadAt; except that when the
// size given to NewReader is only a claim (any reader but a regular
// *os.File that long: a server's word, for a remote file), a tensor larger
// than [ReadStep] is read in steps that each at most double what has
// arrived, so that the claim costs no more memory than the bytes that
// really came. The steps cost about one extra copy of the tensor;
// [File.ReadInto] into the caller's own buffer avoids it.
func (f *File) GetTensor(name string) (Tensor, error) {
	i, ok := f.h.index[name]
	if !ok {
		return Tensor{}, notFound(name)
	}
	ti := &f.h.tensors[i]
	if f.kind != reader {
		f.mu.RLock()
		mem := f.mem
		f.mu.RUnlock()
		if mem == nil {
			return Tensor{}, ErrClosed
		}
		start := f.DataOffset() + ti.DataOffsets[0]
		end := f.DataOffset() + ti.DataOffsets[1]
		t := Tensor{dtype: ti.DType, shape: ti.Shape, data: mem[start:end:end]}
		if f.kind == mapped {
			t.src, t.srcOff = f, start
		}
		return t, nil
	}
	if f.closed.Load() {
		return Tensor{}, ErrClosed
	}
	read := func(p []byte, off int64) error { return f.readAt(p, ti.DataOffsets[0]+off) }
	var buf []byte
	var err error
	if f.claimed {
		buf, err = readGrowing(ti.Size(), read)
	} else {
		buf = make([]byte, ti.Size())
		err = read(buf, 0)
	}
	if err != nil {
		return Tensor{}, tensorReadErr(name, err)
	}
	return Tensor{dtype: ti.DType, shape: ti.Shape, data: buf}, nil
}

func tensorReadErr(name string, err error) error {
	return fmt.Errorf("safetensors: tensor %q: %w", name, err)
}

// ReadInto copies the named tensor's bytes into dst, which must be at least
// as long as the tensor (see [TensorInfo.Size]), and returns a Tensor over
// dst. It suits callers who reuse buffers, or own memory the bytes must end
// up in, with any backend.
func (f *File) ReadInto(name string, dst []byte) (Tensor, error) {
	i, ok := f.h.index[name]
	if !ok {
		return Tensor{}, notFound(name)
	}
	ti := &f.h.tensors[i]
	n := ti.Size()
	if int64(len(dst)) < n {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: destination of %d bytes is smaller than its %d bytes", name, len(dst), n)
	}
	dst = dst[:n:n]
	if err := f.readAt(dst, ti.DataOffsets[0]); err != nil {
		return Tensor{}, tensorReadErr(name, err)
	}
	return Tensor{dtype: ti.DType, shape: ti.Shape, data: dst}, nil
}

// TensorReader returns a reader over the named tensor's bytes, for
// streaming them without holding them in memory (for example with
// [io.Copy]). It reads through the File, so it fails with [ErrClosed] once
// the File is closed.
func (f *File) TensorReader(name string) (*io.SectionReader, error) {
	i, ok := f.h.index[name]
	if !ok {
		return nil, notFound(name)
	}
	if f.closed.Load() {
		return nil, ErrClosed
	}
	ti := &f.h.tensors[i]
	return io.NewSectionReader(dataReader{f}, ti.DataOffsets[0], ti.Size()), nil
}

// dataReader is an io.ReaderAt over the data buffer of a File.
type dataReader struct{ f *File }

func (d dataReader) ReadAt(p []byte, off int64) (int, error) {
	if rest := d.f.size - d.f.DataOffset() - off; int64(len(p)) > rest {
		if rest <= 0 {
			return 0, io.EOF
		}
		n, err := d.ReadAt(p[:rest], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	if err := d.f.readAt(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// readAt fills p from the data buffer at off (relative to the data
// buffer), from whichever backend the File has, safely against a concurrent
// Close. The caller has checked the range against the header.
//
// A mapped File reads with pread rather than copying from its mapping:
// copying makes the kernel fault in and map every page, which costs several
// times more than the copy itself (BENCHMARKS.md), while pread copies
// straight from the page cache.
func (f *File) readAt(p []byte, off int64) error {
	switch f.kind {
	case reader:
		if f.closed.Load() {
			return ErrClosed
		}
		return readFullAt(f.ra, p, f.DataOffset()+off)
	case mapped:
		f.mu.RLock()
		defer f.mu.RUnlock()
		if f.mem == nil {
			return ErrClosed
		}
		return preadChunks(f.osf, p, f.DataOffset()+off)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.mem == nil {
		return ErrClosed
	}
	copy(p, f.mem[f.DataOffset()+off:])
	return nil
}

// backend says where a File's bytes come from.
type backend uint8

const (
	loaded backend = iota // Load: the caller's bytes
	mapped                // Open: a memory mapping, plus the file for pread
	reader                // NewReader: an io.ReaderAt
)

// preadChunk is the size of each pread of a mapped File's copying reads:
// reads of a few MiB keep the destination warm in the CPU's caches and were
// about twice as fast as one read of a whole GiB (BENCHMARKS.md).
const preadChunk = 4 << 20

func preadChunks(r io.ReaderAt, p []byte, off int64) error {
	for len(p) > 0 {
		n := min(len(p), preadChunk)
		if err := readFullAt(r, p[:n], off); err != nil {
			return err
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}
