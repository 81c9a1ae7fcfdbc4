package pytorch

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// These tests build legacy checkpoints (the format of torch < 1.6, and of
// torch.save(..., _use_new_zipfile_serialization=False)) byte by byte, and
// damage one part at a time: the storage list, the storages' element
// counts and bytes, the storage views of torch < 0.4, the pickles' bounds.
//
// The layout, as torch/serialization.py's _legacy_save writes it: five
// pickles one after the other (the magic number, the protocol version, the
// system info, the object, the list of storage keys), then for each key of
// the list an 8-byte little-endian element count followed by the storage's
// bytes. The pickles here are protocol 2, as torch writes them: "\x80\x02"
// (PROTO 2) first and "." (STOP) last.

// lgyHead is the three pickles before the object:
//   - torch's MAGIC_NUMBER 0x1950a86a20f9469cfc6c, as LONG1 ("\x8a", a length
//     byte of 10, then the number's bytes little-endian): 15 bytes;
//   - the PROTOCOL_VERSION 1001, as BININT2 ("M", 0x03e9 little-endian): 6 bytes;
//   - the system info, here an empty dict ("}"), which a reader need not
//     look into: 4 bytes.
const lgyHead = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19." + "\x80\x02M\xe9\x03." + "\x80\x02}."

// lgyHeadLen is where the object's pickle starts: 15 + 6 + 4.
const lgyHeadLen = 25

// lgyTensor is a float32 tensor of a legacy checkpoint's state dict.
type lgyTensor struct {
	name          string
	key           string // its storage's key
	numel         int32  // the storage's size in elements (4 bytes each)
	view          string // the persistent id's sixth field as pickle opcodes; "N" (None) when empty
	offset        int32  // in elements
	shape, stride []int32
}

// lgyInt is a pickle BININT: "J" and 4 bytes little-endian, signed.
func lgyInt(v int32) string {
	u := uint32(v)
	return "J" + string([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
}

// lgyLong is a pickle LONG1 of 8 bytes: "\x8a", the length, the value's
// two's complement little-endian.
func lgyLong(v int64) string { return "\x8a\x08" + le64(uint64(v)) }

// lgyView is a storage view's metadata as torch < 0.4 pickled it: the
// TUPLE3 (view key, offset, size), offset and size in elements of the
// storage, each field given as pickle opcodes.
func lgyView(key, off, size string) string { return key + off + size + "\x87" }

// lgyMain is the object's pickle: an OrderedDict of the tensors, each
// rebuilt by torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
// requires_grad, backward_hooks), the storage given by a BINPERSID ("Q")
// of ('storage', torch.FloatStorage, key, 'cpu', numel, view).
func lgyMain(ts ...lgyTensor) string {
	var p strings.Builder
	tuple := func(v []int32) {
		p.WriteString("(")
		for _, x := range v {
			p.WriteString(lgyInt(x))
		}
		p.WriteString("t")
	}
	p.WriteString("\x80\x02ccollections\nOrderedDict\n)R(")
	for _, t := range ts {
		view := t.view
		if view == "" {
			view = "N"
		}
		p.WriteString(pbBinunicode(t.name) + "ctorch._utils\n_rebuild_tensor_v2\n(")
		p.WriteString("(" + pbBinunicode("storage") + "ctorch\nFloatStorage\n" + pbBinunicode(t.key) + pbBinunicode("cpu") + lgyInt(t.numel) + view + "tQ")
		p.WriteString(lgyInt(t.offset))
		tuple(t.shape)
		tuple(t.stride)
		p.WriteString("\x89ccollections\nOrderedDict\n)RtR")
	}
	p.WriteString("u.")
	return p.String()
}

// lgyKeys is the storage key list's pickle: EMPTY_LIST ("]"), then each
// key and APPEND ("a").
func lgyKeys(keys ...string) string {
	p := "\x80\x02]"
	for _, k := range keys {
		p += pbBinunicode(k) + "a"
	}
	return p + "."
}

// lgyStorage is one storage as the file holds it: count, then n float32
// elements whose byte j is j*3+1.
func lgyStorage(count int64, n int) string {
	b := make([]byte, 4*n)
	for j := range b {
		b[j] = byte(j*3 + 1)
	}
	return le64(uint64(count)) + string(b)
}

// lgyOpen opens a legacy checkpoint held in memory.
func lgyOpen(b string, o Options) (*Checkpoint, error) {
	return o.NewReader(strings.NewReader(b), int64(len(b)))
}

// The tensors of most tests: "a", 2 elements of storage "k0" (10
// elements), and "b", the whole of storage "k1" (3 elements).
var (
	lgyA = lgyTensor{name: "a", key: "k0", numel: 10, offset: 1, shape: []int32{2}, stride: []int32{1}}
	lgyB = lgyTensor{name: "b", key: "k1", numel: 3, shape: []int32{3}, stride: []int32{1}}
)

func lgyGood() string {
	return lgyHead + lgyMain(lgyA, lgyB) + lgyKeys("k0", "k1") + lgyStorage(10, 10) + lgyStorage(3, 3)
}

// TestLegacyBuilt: the checkpoints built here are read as torch writes
// them. The first two pickles are those of a file torch wrote.
func TestLegacyBuilt(t *testing.T) {
	if real := readFixture(t, "state_dict_legacy.pt"); !bytes.HasPrefix(real, []byte(lgyHead[:21])) {
		t.Fatalf("the magic number and protocol pickles differ from torch's: %q", real[:21])
	}
	c, err := lgyOpen(lgyGood(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Format() != FormatLegacy {
		t.Errorf("format %v", c.Format())
	}
	// "a" is elements 1 and 2 of k0: bytes 4 to 11, byte j being j*3+1.
	a, err := c.ReadTensor("a")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{13, 16, 19, 22, 25, 28, 31, 34}; !bytes.Equal(a.Data(), want) {
		t.Errorf("a: % x, want % x", a.Data(), want)
	}
	b, err := c.ReadTensor("b")
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 34}; !bytes.Equal(b.Data(), want) {
		t.Errorf("b: % x, want % x", b.Data(), want)
	}
}

// TestLegacyStorageList: each key of the storage list must name a storage
// the object uses, once.
func TestLegacyStorageList(t *testing.T) {
	for _, c := range []struct {
		keys []string
		msg  string
	}{
		{[]string{"zz", "k0", "k1"}, `storage list names "zz", which the pickle does not use once`},
		{[]string{"k0", "k1", "zz"}, `storage list names "zz", which the pickle does not use once`},
		{[]string{"k0", "k0", "k1"}, `storage list names "k0", which the pickle does not use once`},
	} {
		// Each key's storage is there, sized for k0 or k1.
		b := lgyHead + lgyMain(lgyA, lgyB) + lgyKeys(c.keys...)
		for _, k := range c.keys {
			if k == "k1" {
				b += lgyStorage(3, 3)
			} else {
				b += lgyStorage(10, 10)
			}
		}
		if _, err := lgyOpen(b, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want %q", c.keys, err, c.msg)
		}
	}
	// A storage the object uses but the list leaves out.
	b := lgyHead + lgyMain(lgyA, lgyB) + lgyKeys("k0") + lgyStorage(10, 10)
	if _, err := lgyOpen(b, Options{}); !errors.Is(err, ErrMissingStorage) || !strings.Contains(err.Error(), `storage "k1" is not in the checkpoint's storage list`) {
		t.Errorf("k1 left out: %v", err)
	}
}

// TestLegacyStorageCounts: a storage's element count must be the one its
// persistent id gives.
func TestLegacyStorageCounts(t *testing.T) {
	for _, c := range []struct {
		count int64
		msg   string
	}{
		{4, `storage "k1" holds 4 elements, the pickle says 3`},
		{2, `storage "k1" holds 2 elements, the pickle says 3`},
		{0, `storage "k1" holds 0 elements, the pickle says 3`},
		{-1, `storage "k1" holds -1 elements, the pickle says 3`}, // 2^64-1 read as int64
	} {
		// 4 elements follow the count whatever it says, so that a wrong
		// count is all that is wrong.
		b := lgyHead + lgyMain(lgyA, lgyB) + lgyKeys("k0", "k1") + lgyStorage(10, 10) + lgyStorage(c.count, 4)
		if _, err := lgyOpen(b, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("count %d: %v, want %q", c.count, err, c.msg)
		}
	}
}

// TestLegacyStorageEnd: the last storage may end exactly at the file's
// end; one byte less is truncated. That holds for an empty storage too,
// whose 8-byte count is then the file's last bytes.
func TestLegacyStorageEnd(t *testing.T) {
	good := lgyGood()
	if _, err := lgyOpen(good, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := lgyOpen(good[:len(good)-1], Options{}); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), `storage "k1" runs past the end of the file`) {
		t.Errorf("last storage one byte short: %v", err)
	}
	// "e": an empty tensor of an empty storage, last in the list.
	e := lgyTensor{name: "e", key: "k2", numel: 0, shape: []int32{0}, stride: []int32{1}}
	b := lgyHead + lgyMain(lgyA, lgyB, e) + lgyKeys("k0", "k1", "k2") + lgyStorage(10, 10) + lgyStorage(3, 3) + lgyStorage(0, 0)
	c, err := lgyOpen(b, Options{})
	if err != nil {
		t.Fatalf("an empty storage at the end: %v", err)
	}
	if tt, err := c.ReadTensor("e"); err != nil || len(tt.Data()) != 0 {
		t.Errorf("e: %v", err)
	}
	if _, err := lgyOpen(b[:len(b)-1], Options{}); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), `storage "k2" starts past the end of the file`) {
		t.Errorf("an empty storage's count one byte short: %v", err)
	}
}

// lgyBoundedReader serves r's first size bytes and reports any read that
// asks for more: NewReader is told the checkpoint is size bytes long.
type lgyBoundedReader struct {
	t    *testing.T
	b    []byte // longer than size: what follows the checkpoint
	size int64
}

func (r lgyBoundedReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.size {
		r.t.Errorf("read of [%d, %d), past the checkpoint's %d bytes", off, off+int64(len(p)), r.size)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := copy(p, r.b[off:r.size])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestLegacyReadsWithinSize: a legacy checkpoint at the start of a larger
// file, opened with its own size, is read without asking for a byte past
// it, whatever follows.
func TestLegacyReadsWithinSize(t *testing.T) {
	good := lgyGood()
	r := lgyBoundedReader{t: t, b: []byte(good + strings.Repeat("\x80\x02N.", 64)), size: int64(len(good))}
	c, err := NewReader(r, r.size)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := c.ReadTensor(name); err != nil {
			t.Error(err)
		}
	}
}

// TestLegacyPickleLimit: MaxPickleSize bounds the object's pickle. A file
// that holds more pickle than the limit is refused as too large; a file
// that ends inside a pickle before the limit is reached is truncated.
func TestLegacyPickleLimit(t *testing.T) {
	// The object: "\x80\x02}(" (PROTO, EMPTY_DICT, MARK: 4 bytes), the key
	// "note" (BINUNICODE: 1+4+4 bytes), then a BINUNICODE of 1000 bytes
	// whose text starts 4+9+5 = 18 bytes in.
	main := "\x80\x02}(" + pbBinunicode("note") + pbBinunicode(strings.Repeat("n", 1000)) + "u."
	if main[13:18] != "X\xe8\x03\x00\x00" || main[18] != 'n' { // 1000 is 0x3e8
		t.Fatalf("layout: %q", main[:20])
	}
	whole := lgyHead + main + lgyKeys()
	if c, err := lgyOpen(whole, Options{MaxPickleSize: int64(len(main))}); err != nil || len(c.NonTensors()) != 1 {
		t.Fatalf("the object's pickle at exactly MaxPickleSize: %v", err)
	}
	if _, err := lgyOpen(whole, Options{MaxPickleSize: int64(len(main)) - 1}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("the object's pickle one byte over MaxPickleSize: %v", err)
	}
	// Cut 500 bytes into the string: 518 bytes of the object are there.
	cut := whole[:lgyHeadLen+18+500]
	for _, limit := range []int64{518, 519, 600} {
		_, err := lgyOpen(cut, Options{MaxPickleSize: limit})
		if !errors.Is(err, ErrTruncated) || errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "main pickle") {
			t.Errorf("518 bytes of the object, MaxPickleSize %d: %v, want ErrTruncated", limit, err)
		}
	}
	// 518 bytes are more than a limit of 517: too large, though the file
	// is cut short as well.
	if _, err := lgyOpen(cut, Options{MaxPickleSize: 517}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("518 bytes of the object, MaxPickleSize 517: %v, want ErrTooLarge", err)
	}
}

// TestLegacyStorageViews: the sixth field of a legacy persistent id, a
// view (key, offset, size) of the storage in elements, as torch < 0.4
// wrote for tensors sharing part of a storage.
func TestLegacyStorageViews(t *testing.T) {
	str := pbBinunicode
	v1 := str("v1")
	// "w" is the whole of k0 (10 elements, 40 bytes); "v" views it.
	w := lgyTensor{name: "w", key: "k0", numel: 10, shape: []int32{10}, stride: []int32{1}}
	two := []int32{2}
	for _, c := range []struct {
		name  string
		view  string
		shape []int32 // of "v", stride 1, offset 1 unless empty
		msg   string  // "" when accepted
		want  []byte  // v's bytes when accepted and not empty
	}{
		// Elements 4 to 9 of k0; v is their elements 1 and 2, k0's 5 and
		// 6: bytes 20 to 27, byte j being j*3+1.
		{"to the storage's end", lgyView(v1, lgyInt(4), lgyInt(6)), two, "", []byte{61, 64, 67, 70, 73, 76, 79, 82}},
		{"at offset 0", lgyView(v1, lgyInt(0), lgyInt(3)), two, "", []byte{13, 16, 19, 22, 25, 28, 31, 34}},
		{"empty", lgyView(v1, lgyInt(3), lgyInt(0)), []int32{0}, "", nil},
		{"empty, at the storage's end", lgyView(v1, lgyInt(10), lgyInt(0)), []int32{0}, "", nil},
		{"empty, past the storage's end", lgyView(v1, lgyInt(11), lgyInt(0)), []int32{0}, `storage view "v1" [11, +0) runs past storage "k0"`, nil},
		{"one element past the end", lgyView(v1, lgyInt(4), lgyInt(7)), two, `storage view "v1" [4, +7) runs past storage "k0"`, nil},
		{"an offset that overflows", lgyView(v1, lgyLong(1<<62), lgyInt(2)), two, `storage view "v1" [4611686018427387904, +2) runs past storage "k0"`, nil},
		{"a size that overflows", lgyView(v1, lgyInt(0), lgyLong(1<<62)), two, `storage view "v1" [0, +4611686018427387904) runs past storage "k0"`, nil},
		{"a key of the longest size", lgyView(str(strings.Repeat("v", maxKeySize)), lgyInt(0), lgyInt(3)), two, "", []byte{13, 16, 19, 22, 25, 28, 31, 34}},
		{"a key too long", lgyView(str(strings.Repeat("v", maxKeySize+1)), lgyInt(0), lgyInt(3)), two, "bad storage view metadata", nil},
		{"a key that is an int", lgyView("K\x01", lgyInt(0), lgyInt(3)), two, "bad storage view metadata (1, 0, 3)", nil},
		{"an offset that is a str", lgyView(v1, str("0"), lgyInt(3)), two, `bad storage view metadata ("v1", "0", 3)`, nil},
		{"a size that is a str", lgyView(v1, lgyInt(0), str("3")), two, `bad storage view metadata ("v1", 0, "3")`, nil},
		{"a negative offset", lgyView(v1, lgyInt(-1), lgyInt(3)), two, `bad storage view metadata ("v1", -1, 3)`, nil},
		{"a negative size", lgyView(v1, lgyInt(0), lgyInt(-1)), two, `bad storage view metadata ("v1", 0, -1)`, nil},
		{"an int", "K\x05", two, "storage view metadata is a int", nil},
		{"a pair", "(" + v1 + lgyInt(0) + "t", two, "storage view metadata is a tuple", nil},
		{"four fields", "(" + v1 + lgyInt(0) + lgyInt(3) + lgyInt(0) + "t", two, "storage view metadata is a tuple", nil},
	} {
		v := lgyTensor{name: "v", key: "k0", numel: 10, view: c.view, offset: 1, shape: c.shape, stride: []int32{1}}
		if len(c.shape) == 1 && c.shape[0] == 0 {
			v.offset = 0
		}
		b := lgyHead + lgyMain(w, v) + lgyKeys("k0") + lgyStorage(10, 10)
		ck, err := lgyOpen(b, Options{})
		if c.msg != "" {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%s: %.300v, want %q", c.name, err, c.msg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %.300v", c.name, err)
			continue
		}
		tt, err := ck.ReadTensor("v")
		if err != nil || !bytes.Equal(tt.Data(), c.want) {
			t.Errorf("%s: % x, %v; want % x", c.name, tt.Data(), err, c.want)
		}
	}
}
