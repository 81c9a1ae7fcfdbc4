package pytorch

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/safetensors-go/safetensors"
)

// DefaultMaxPickleSize is the default limit on the size of a checkpoint's
// pickle (the data.pkl record, or a legacy checkpoint's main pickle): 64 MiB,
// about 300,000 tensors' worth.
const DefaultMaxPickleSize = 64 << 20

// Format is the layout of a checkpoint file.
type Format uint8

const (
	// FormatZip is torch.save's format since torch 1.6: a zip archive with
	// the pickle in <dir>/data.pkl and each storage in <dir>/data/<key>.
	FormatZip Format = iota + 1
	// FormatLegacy is the format of torch < 1.6 (and of
	// _use_new_zipfile_serialization=False): consecutive pickles (magic
	// number, protocol version, system info, the object, the storage keys)
	// followed by the raw storages.
	FormatLegacy
)

// String returns "zip" or "legacy".
func (f Format) String() string {
	switch f {
	case FormatZip:
		return "zip"
	case FormatLegacy:
		return "legacy"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// TensorInfo describes one tensor of a checkpoint, as torch would rebuild
// it: a strided view of a storage. Reading it gives the bytes of its
// contiguous form.
type TensorInfo struct {
	Name string
	// DType is the safetensors dtype, or 0 when safetensors has none for
	// TorchDType (see [ErrUnsupportedDType]).
	DType         safetensors.DType
	TorchDType    string // torch's name of the dtype: "float32", "complex128", ...
	Shape         []int  // empty for a scalar
	Stride        []int  // in elements, one per dimension
	StorageKey    string // the storage's key: its record is data/<key> in a zip checkpoint
	StorageOffset int64  // where the tensor starts in its storage, in elements
	StorageSize   int64  // the storage's size in bytes
	Size          int64  // the tensor's size in bytes once contiguous
	Contiguous    bool   // row-major and packed in its storage
}

// NonTensor is a state dict entry whose value is not a tensor.
type NonTensor struct {
	Name string
	Type string // the Python type name: "int", "dict", "list", ...
}

// Checkpoint is an opened PyTorch checkpoint: its pickle has been run
// through the restricted unpickler, every tensor described, and every
// storage found in the file; no tensor data has been read.
//
// Its methods are safe for concurrent use, given an [io.ReaderAt] that is
// (an [os.File] is).
type Checkpoint struct {
	src        source
	mu         sync.Mutex // guards closer
	closer     io.Closer
	format     Format
	unwrapped  bool
	tensors    []*entry
	index      map[string]int
	nonTensors []NonTensor
	maxTensor  int64 // the largest tensor ReadTensor returns
}

type entry struct {
	name string
	t    *tensorRef
}

// Open opens the checkpoint file at path with the default [Options].
func Open(path string) (*Checkpoint, error) { return Options{}.Open(path) }

// NewReader reads a checkpoint of size bytes through r with the default
// [Options].
func NewReader(r io.ReaderAt, size int64) (*Checkpoint, error) {
	return Options{}.NewReader(r, size)
}

// Open opens the checkpoint file at path: it reads the pickle through the
// restricted unpickler, finds every storage, and checks every tensor view
// against its storage. It reads no tensor data. Errors are [*fs.PathError]
// values that wrap this package's sentinels. A path that is not a regular
// file (a FIFO, a device, a folder) is refused with [ErrNotCheckpoint]
// before it is opened, so that nothing blocks. Close the Checkpoint to
// close the file.
func (o Options) Open(path string) (*Checkpoint, error) {
	f, size, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	c, err := o.NewReader(f, size)
	if err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	c.closer = f
	return c, nil
}

// NewReader reads a checkpoint of size bytes through r, with positional
// reads only. The Checkpoint borrows r: Close does not close it.
func (o Options) NewReader(r io.ReaderAt, size int64) (*Checkpoint, error) {
	if size < 0 {
		return nil, errors.New("pytorch: size cannot be negative")
	}
	var head [512]byte
	n, err := r.ReadAt(head[:min(size, int64(len(head)))], 0)
	if int64(n) < min(size, int64(len(head))) {
		return nil, fmt.Errorf("pytorch: reading the file's start: %w", err)
	}
	l := &loader{opts: o, src: source{ra: r, size: size}, recs: map[string]*record{}, refs: map[string]*storageRef{}}
	var top any
	switch h := head[:n]; {
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06")):
		top, err = l.loadZip()
	case len(h) >= 262 && string(h[257:262]) == "ustar":
		return nil, errorf(ErrUnsupported, "a tar-based checkpoint of torch < 0.4 (load and re-save it with torch)")
	case len(h) > 0 && (h[0] == 0x80 || h[0] == 'L' || h[0] == 'I'):
		top, err = l.loadLegacy()
	default:
		return nil, errorf(ErrNotCheckpoint, "neither a zip archive nor a pickle")
	}
	if err != nil {
		return nil, err
	}
	c, err := l.checkpoint(top)
	if err != nil {
		return nil, err
	}
	c.maxTensor = o.maxOutput(size)
	return c, nil
}

// loader holds the state of one Open.
type loader struct {
	opts   Options
	src    source
	format Format
	recs   map[string]*record     // by storage key
	refs   map[string]*storageRef // by storage key, or by view key for legacy views
}

func (l *loader) maxPickle() int64 {
	switch {
	case l.opts.MaxPickleSize == 0:
		return DefaultMaxPickleSize
	case l.opts.MaxPickleSize < 0:
		return 0
	}
	return l.opts.MaxPickleSize
}

// loadZip reads a zip checkpoint's records and runs its pickle.
func (l *loader) loadZip() (any, error) {
	l.format = FormatZip
	zr, err := zip.NewReader(l.src.ra, l.src.size)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) {
			return nil, fmt.Errorf("%w: a zip archive without its central directory (cut short?): %w", ErrTruncated, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	files := make(map[string]*zip.File, len(zr.File))
	var pkls []string
	torchScript := false
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			return nil, errorf(ErrCorrupt, "zip record %q appears twice", f.Name)
		}
		files[f.Name] = f
		dir, base, ok := strings.Cut(f.Name, "/")
		if ok && base == "data.pkl" && dir != "" {
			pkls = append(pkls, dir)
		}
		if ok && (base == "constants.pkl" || strings.HasPrefix(base, "code/")) {
			torchScript = true
		}
	}
	if len(pkls) == 0 {
		if torchScript {
			return nil, errorf(ErrNotCheckpoint, "a TorchScript archive (torch.jit.save), not a torch.save checkpoint")
		}
		return nil, errorf(ErrNotCheckpoint, "a zip archive without a <dir>/data.pkl record")
	}
	if len(pkls) > 1 {
		return nil, errorf(ErrCorrupt, "zip archive holds %d data.pkl records", len(pkls))
	}
	prefix := pkls[0] + "/"

	if f := files[prefix+"byteorder"]; f != nil {
		if f.UncompressedSize64 > 16 {
			return nil, errorf(ErrByteOrder, "byteorder record of %d bytes", f.UncompressedSize64)
		}
		b, err := readSmall(f, 16)
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "little":
		case "big":
			l.src.bigEndian = true
		default:
			return nil, errorf(ErrByteOrder, "byteorder record is %q, not \"little\" or \"big\"", b)
		}
	}

	pf := files[prefix+"data.pkl"]
	max := l.maxPickle()
	if max == 0 {
		max = 1 << 62 // no limit: the bytes are real, decompressed as they come
	}
	data, err := readSmall(pf, max)
	if err != nil {
		return nil, err
	}
	u := newUnpickler(bytes.NewReader(data), int64(len(data)), 0)
	u.persistentLoad = l.persistentLoad
	top, err := u.load()
	if err != nil {
		if errors.Is(err, errPickleEOF) {
			return nil, fmt.Errorf("%w: data.pkl: %w", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("data.pkl: %w", err)
	}

	for _, key := range slices.Sorted(maps.Keys(l.recs)) { // sorted: errors are reproducible
		rec := l.recs[key]
		f := files[prefix+"data/"+key]
		if f == nil {
			return nil, errorf(ErrMissingStorage, "no record %q for storage %q", prefix+"data/"+key, key)
		}
		if f.Method != zip.Store {
			return nil, errorf(ErrUnsupported, "storage record %q is compressed (method %d); torch writes them stored", f.Name, f.Method)
		}
		if f.UncompressedSize64 != uint64(rec.nbytes) || f.CompressedSize64 != f.UncompressedSize64 {
			return nil, errorf(ErrCorrupt, "storage record %q holds %d bytes, the pickle says %d", f.Name, f.UncompressedSize64, rec.nbytes)
		}
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("%w: storage record %q: %w", ErrCorrupt, f.Name, err)
		}
		if off < 0 || off > l.src.size || rec.nbytes > l.src.size-off {
			return nil, errorf(ErrTruncated, "storage record %q runs past the end of the file", f.Name)
		}
		rec.zf, rec.off, rec.found = f, off, true
	}
	return top, nil
}

// readSmall reads a whole zip record of at most max bytes, checking its CRC.
func readSmall(f *zip.File, max int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: record %q: %w", ErrCorrupt, f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, errorf(ErrTruncated, "record %q runs past the end of the file", f.Name)
		}
		return nil, fmt.Errorf("%w: record %q: %w", ErrCorrupt, f.Name, err)
	}
	if int64(len(b)) > max {
		if strings.HasSuffix(f.Name, "data.pkl") {
			return nil, errorf(ErrTooLarge, "record %q is larger than %d bytes (Options.MaxPickleSize)", f.Name, max)
		}
		return nil, errorf(ErrCorrupt, "record %q is longer than %d bytes", f.Name, max)
	}
	return b, nil
}

// legacyMagic is torch's MAGIC_NUMBER, the first pickle of a legacy checkpoint.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// loadLegacy reads a legacy checkpoint: five pickles, then the storages.
func (l *loader) loadLegacy() (any, error) {
	l.format = FormatLegacy
	var pos int64
	next := func(what string, max int64, pl func(any) (any, error)) (any, error) {
		u := newUnpickler(io.NewSectionReader(l.src.ra, pos, l.src.size-pos), l.src.size-pos, max)
		u.persistentLoad = pl
		v, err := u.load()
		if err != nil {
			if errors.Is(err, errPickleEOF) {
				return nil, fmt.Errorf("%w: %s pickle: %w", ErrTruncated, what, err)
			}
			return nil, fmt.Errorf("%s pickle: %w", what, err)
		}
		pos += u.off
		return v, nil
	}
	magic, err := next("magic number", 1024, nil)
	if err != nil {
		if errors.Is(err, ErrForbiddenGlobal) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: the file starts with no torch magic number: %w", ErrNotCheckpoint, err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, errorf(ErrNotCheckpoint, "a pickle of %s, not torch's magic number", pyTypeName(magic))
	}
	version, err := next("protocol version", 1024, nil)
	if err != nil {
		return nil, err
	}
	if v, ok := version.(int64); !ok || v != 1001 {
		return nil, errorf(ErrCorrupt, "legacy protocol version %s, want 1001", short(version))
	}
	if _, err := next("system info", 1<<16, nil); err != nil {
		return nil, err
	}
	top, err := next("main", l.maxPickle(), l.persistentLoad)
	if err != nil {
		return nil, err
	}
	keys, err := next("storage keys", l.maxPickle(), nil)
	if err != nil {
		return nil, err
	}
	list, ok := keys.(*pyList)
	if !ok {
		return nil, errorf(ErrCorrupt, "storage key list is a %s", pyTypeName(keys))
	}
	// Each storage: an 8-byte little-endian element count, then the
	// elements, little-endian whatever machine wrote them.
	seen := make(map[string]bool, len(list.items))
	for _, k := range list.items {
		key, ok := k.(string)
		if !ok {
			return nil, errorf(ErrCorrupt, "storage key is a %s", pyTypeName(k))
		}
		rec := l.recs[key]
		if rec == nil || seen[key] {
			return nil, errorf(ErrCorrupt, "storage list names %q, which the pickle does not use once", key)
		}
		seen[key] = true
		var n [8]byte
		if l.src.size-pos < 8 {
			return nil, errorf(ErrTruncated, "storage %q starts past the end of the file", key)
		}
		if _, err := l.src.ra.ReadAt(n[:], pos); err != nil {
			return nil, fmt.Errorf("pytorch: reading storage %q: %w", key, err)
		}
		count := int64(leUint64(n[:]))
		if count < 0 || count != rec.nbytes/rec.dtype.size {
			return nil, errorf(ErrCorrupt, "storage %q holds %d elements, the pickle says %d", key, count, rec.nbytes/rec.dtype.size)
		}
		pos += 8
		if rec.nbytes > l.src.size-pos {
			return nil, errorf(ErrTruncated, "storage %q runs past the end of the file", key)
		}
		rec.off, rec.found = pos, true
		pos += rec.nbytes
	}
	for _, key := range slices.Sorted(maps.Keys(l.recs)) {
		if !l.recs[key].found {
			return nil, errorf(ErrMissingStorage, "storage %q is not in the checkpoint's storage list", key)
		}
	}
	return top, nil
}

func leUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// asciiStr accepts a str, or a bytes value as Python 2 pickles wrote them.
func asciiStr(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case pyBytes:
		return string(v), true
	}
	return "", false
}

// persistentLoad resolves a storage's persistent id: in zip checkpoints
// ('storage', storage_type, key, location, numel), in legacy ones the same
// with a sixth element, None or a view (view_key, offset, size). As in torch,
// the first id naming a key fixes its dtype and size.
func (l *loader) persistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok {
		return nil, errorf(ErrCorrupt, "persistent id is a %s, not a tuple", pyTypeName(pid))
	}
	want := 5
	if l.format == FormatLegacy {
		want = 6
	}
	if len(t) == 0 {
		return nil, errorf(ErrCorrupt, "empty persistent id")
	}
	if typ, _ := asciiStr(t[0]); typ != "storage" {
		return nil, errorf(ErrUnsupported, "persistent id of type %s (only storages are allowed)", short(t[0]))
	}
	if len(t) != want {
		return nil, errorf(ErrCorrupt, "storage persistent id has %d fields, want %d", len(t), want)
	}
	g, ok := t[1].(*pyGlobal)
	if !ok || g.kind != gStorageType {
		return nil, errorf(ErrCorrupt, "storage type is a %s", pyTypeName(t[1]))
	}
	key, ok := asciiStr(t[2])
	if !ok || len(key) > maxKeySize {
		return nil, errorf(ErrCorrupt, "storage key is a %s of %d bytes", pyTypeName(t[2]), len(key))
	}
	if _, ok := asciiStr(t[3]); !ok {
		return nil, errorf(ErrCorrupt, "storage location is a %s", pyTypeName(t[3]))
	}
	numel, ok := t[4].(int64)
	if !ok || numel < 0 {
		return nil, errorf(ErrCorrupt, "storage size %s", short(t[4]))
	}
	nbytes, ok := mul(numel, g.dtype.size)
	if !ok || nbytes > l.src.size {
		return nil, errorf(ErrCorrupt, "storage %q of %d elements cannot fit in a %d-byte file", key, numel, l.src.size)
	}
	root := l.refs[key]
	if root == nil {
		rec := &record{key: key, nbytes: nbytes, dtype: g.dtype}
		l.recs[key] = rec
		root = &storageRef{rec: rec, nbytes: nbytes, dtype: g.dtype}
		l.refs[key] = root
	}
	if want == 5 || t[5] == nil {
		return root, nil
	}
	view, ok := t[5].(pyTuple)
	if !ok || len(view) != 3 {
		return nil, errorf(ErrCorrupt, "storage view metadata is a %s", pyTypeName(t[5]))
	}
	vkey, ok1 := asciiStr(view[0])
	voff, ok2 := view[1].(int64)
	vsize, ok3 := view[2].(int64)
	if !ok1 || !ok2 || !ok3 || voff < 0 || vsize < 0 || len(vkey) > maxKeySize {
		return nil, errorf(ErrCorrupt, "bad storage view metadata %s", short(view))
	}
	if r := l.refs["\x00view:"+vkey]; r != nil {
		return r, nil
	}
	es := root.dtype.size
	base, ok1 := mul(voff, es)
	n, ok2 := mul(vsize, es)
	if !ok1 || !ok2 || base > root.nbytes || n > root.nbytes-base {
		return nil, errorf(ErrCorrupt, "storage view %q [%d, +%d) runs past storage %q", vkey, voff, vsize, key)
	}
	r := &storageRef{rec: root.rec, base: base, nbytes: n, dtype: root.dtype}
	l.refs["\x00view:"+vkey] = r
	return r, nil
}

// checkpoint builds the Checkpoint from the unpickled top-level object.
func (l *loader) checkpoint(top any) (*Checkpoint, error) {
	d, ok := top.(*pyDict)
	if !ok {
		return nil, errorf(ErrUnsupported, "the checkpoint holds a %s, not a dict of tensors", pyTypeName(top))
	}
	c := &Checkpoint{src: l.src, format: l.format, index: map[string]int{}}
	// convert.py unwraps "state_dict" whatever it holds (and then fails if
	// it is not a dict); here only a dict is unwrapped, so that a tensor
	// named "state_dict" stays a tensor.
	if sd, ok := d.get("state_dict"); ok {
		if inner, ok := sd.(*pyDict); ok {
			d, c.unwrapped = inner, true
		}
	}
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, errorf(ErrUnsupported, "state dict key %s is a %s, not a string", short(k), pyTypeName(k))
		}
		t, ok := d.vals[i].(*tensorRef)
		if !ok {
			c.nonTensors = append(c.nonTensors, NonTensor{Name: name, Type: pyTypeName(d.vals[i])})
			continue
		}
		c.index[name] = len(c.tensors)
		c.tensors = append(c.tensors, &entry{name: name, t: t})
	}
	return c, nil
}

// Close closes the file of a Checkpoint from [Open]; for one from
// [NewReader] it does nothing. It is idempotent.
func (c *Checkpoint) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	return err
}

// Format returns the checkpoint's layout.
func (c *Checkpoint) Format() Format { return c.format }

// ByteOrder returns the byte order of the checkpoint's storages: "little",
// or "big" for a zip checkpoint written on a big-endian machine (whose
// bytes this package swaps when reading).
func (c *Checkpoint) ByteOrder() string {
	if c.src.bigEndian {
		return "big"
	}
	return "little"
}

// Unwrapped reports whether the file's top-level dict had a "state_dict"
// entry holding a dict, whose contents are then the checkpoint's tensors
// (as in safetensors' convert.py; the rest of the file is ignored).
func (c *Checkpoint) Unwrapped() bool { return c.unwrapped }

// Tensors returns every tensor's description, in the state dict's order,
// in a new slice.
func (c *Checkpoint) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(c.tensors))
	for i, e := range c.tensors {
		out[i] = e.info()
	}
	return out
}

// NonTensors returns the state dict entries that are not tensors, in order.
func (c *Checkpoint) NonTensors() []NonTensor { return slices.Clone(c.nonTensors) }

// Info returns the description of the named tensor. The error wraps
// [safetensors.ErrTensorNotFound] when there is none.
func (c *Checkpoint) Info(name string) (TensorInfo, error) {
	e, err := c.lookup(name)
	if err != nil {
		return TensorInfo{}, err
	}
	return e.info(), nil
}

func (c *Checkpoint) lookup(name string) (*entry, error) {
	i, ok := c.index[name]
	if !ok {
		return nil, fmt.Errorf("pytorch: %w: %q", safetensors.ErrTensorNotFound, name)
	}
	return c.tensors[i], nil
}

func (e *entry) info() TensorInfo {
	t := e.t
	shape := make([]int, len(t.shape))
	stride := make([]int, len(t.stride))
	for i := range t.shape {
		shape[i], stride[i] = int(t.shape[i]), int(t.stride[i])
	}
	return TensorInfo{
		Name: e.name, DType: t.dtype.st, TorchDType: t.dtype.name, Shape: shape, Stride: stride,
		StorageKey: t.storage.rec.key, StorageOffset: t.offset, StorageSize: t.storage.nbytes,
		Size: t.nbytes, Contiguous: t.contiguous(),
	}
}

// readable reports an error when the tensor cannot be read as safetensors
// holds it: a dtype safetensors lacks.
func (e *entry) readable() error {
	if t := e.t; t.dtype.st == 0 {
		return errorf(ErrUnsupportedDType, "tensor %q is torch.%s", e.name, t.dtype.name)
	}
	return nil
}

// WriteTensor writes the named tensor's bytes to w as safetensors stores
// them: its contiguous form, row-major, little-endian. It returns the number
// of bytes written. A contiguous tensor is streamed with a 1 MiB buffer; a
// strided or expanded one is gathered from the span of storage it covers,
// read once into memory (at most the storage's size), and written in
// 1 MiB chunks however large it is.
func (c *Checkpoint) WriteTensor(w io.Writer, name string) (int64, error) {
	e, err := c.lookup(name)
	if err != nil {
		return 0, err
	}
	if err := e.readable(); err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	err = c.src.writeTensor(context.Background(), cw, e.t, nil, nil)
	return cw.n, err
}

// ReadTensor returns the named tensor as a [safetensors.Tensor] over a new
// buffer that the caller owns: its contiguous bytes, little-endian, the
// values of torch's t.contiguous(). The buffer's size is the tensor's,
// which is at most the bytes its storage holds in the file, except for an
// expanded view (zero strides), which repeats its storage: tensors larger
// than Options.MaxOutputSize (by default four times the file's size plus
// 1 MiB) are refused with [ErrUnsupported]. So are tensors of more than
// 2^48 bytes (2^32 under WebAssembly) whatever the limit, even a negative
// one: no Go program can allocate that much, and [Checkpoint.WriteTensor]
// streams them instead.
func (c *Checkpoint) ReadTensor(name string) (safetensors.Tensor, error) {
	e, err := c.lookup(name)
	if err != nil {
		return safetensors.Tensor{}, err
	}
	if err := e.readable(); err != nil {
		return safetensors.Tensor{}, err
	}
	if e.t.nbytes > math.MaxInt || e.t.nbytes > maxBuffer {
		return safetensors.Tensor{}, errorf(ErrUnsupported, "tensor %q of %d bytes (%s, stride %s, of a %d-byte storage) is larger than a Go program can allocate; WriteTensor streams it",
			name, e.t.nbytes, dims(e.t.shape), dims(e.t.stride), e.t.storage.nbytes)
	}
	if e.t.nbytes > c.maxTensor {
		return safetensors.Tensor{}, errorf(ErrUnsupported, "tensor %q of %d bytes (%s, stride %s, of a %d-byte storage) is larger than the limit of %d bytes (Options.MaxOutputSize)",
			name, e.t.nbytes, dims(e.t.shape), dims(e.t.stride), e.t.storage.nbytes, c.maxTensor)
	}
	buf := bytes.NewBuffer(make([]byte, 0, e.t.nbytes))
	if err := c.src.writeTensor(context.Background(), buf, e.t, nil, nil); err != nil {
		return safetensors.Tensor{}, err
	}
	info := e.info()
	return safetensors.NewTensor(info.DType, info.Shape, buf.Bytes())
}

// maxBuffer is the size of the largest buffer ReadTensor allocates. make
// panics, instead of failing, beyond the heap's address space: 48 bits on
// 64-bit platforms, 32 under WebAssembly.
var maxBuffer int64 = 1<<48 - 1

func init() {
	if runtime.GOARCH == "wasm" {
		maxBuffer = 1<<32 - 1
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
