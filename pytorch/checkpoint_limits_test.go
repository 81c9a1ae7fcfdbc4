package pytorch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// These tests hold the checkpoint reader at its limits (the pickle's size,
// a tensor's size, the file's first bytes) and pin what it reports of a
// tensor.

// clCheckpoint is a zip checkpoint of one float32 tensor "w", 2x3, in a
// storage of 8 elements at offset 1 (so it is not the whole storage).
func clCheckpoint() []byte {
	return synthCheckpoint([]synthTensor{{name: "w", shape: []int32{2, 3}, stride: []int32{3, 1}, numel: 8, offset: 1}})
}

func clOpen(b []byte, o Options) (*Checkpoint, error) {
	return o.NewReader(bytes.NewReader(b), int64(len(b)))
}

func TestCheckpointTensorInfo(t *testing.T) {
	c, err := clOpen(clCheckpoint(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info("w")
	if err != nil {
		t.Fatal(err)
	}
	want := TensorInfo{Name: "w", DType: safetensors.F32, TorchDType: "float32", Shape: []int{2, 3}, Stride: []int{3, 1},
		StorageKey: "0", StorageOffset: 1, StorageSize: 32, Size: 24, Contiguous: true}
	if fmt.Sprintf("%+v", info) != fmt.Sprintf("%+v", want) {
		t.Errorf("info\n%+v\nwant\n%+v", info, want)
	}
	// The bytes are the storage's elements 1 to 6: synthCheckpoint fills
	// byte j of storage 0 with j*7.
	tt, err := c.ReadTensor("w")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range tt.Data() {
		if b != byte((i+4)*7) {
			t.Fatalf("byte %d is %d, want %d", i, b, byte((i+4)*7))
		}
	}
	var buf bytes.Buffer
	if n, err := c.WriteTensor(&buf, "w"); n != 24 || err != nil || !bytes.Equal(buf.Bytes(), tt.Data()) {
		t.Errorf("WriteTensor: %d, %v", n, err)
	}
	if _, err := c.Info("nope"); !errors.Is(err, safetensors.ErrTensorNotFound) {
		t.Errorf("Info of an unknown name: %v", err)
	}
	if _, err := c.ReadTensor("nope"); !errors.Is(err, safetensors.ErrTensorNotFound) {
		t.Errorf("ReadTensor of an unknown name: %v", err)
	}
	if _, err := c.WriteTensor(io.Discard, "nope"); !errors.Is(err, safetensors.ErrTensorNotFound) {
		t.Errorf("WriteTensor of an unknown name: %v", err)
	}
}

func TestCheckpointOutputLimit(t *testing.T) {
	b := clCheckpoint()
	c, err := clOpen(b, Options{MaxOutputSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadTensor("w"); err != nil {
		t.Errorf("a tensor of exactly MaxOutputSize: %v", err)
	}
	c, err = clOpen(b, Options{MaxOutputSize: 23})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadTensor("w"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `tensor "w" of 24 bytes ([2 3], stride [3 1], of a 32-byte storage) is larger than the limit of 23 bytes`) {
		t.Errorf("one byte over MaxOutputSize: %v", err)
	}
	// No limit, and the default of four times the file plus 1 MiB.
	for _, o := range []Options{{MaxOutputSize: -1}, {}} {
		c, err := clOpen(b, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadTensor("w"); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	// An expanded view (zero strides) larger than the default limit.
	big := synthCheckpoint([]synthTensor{{name: "e", shape: []int32{1 << 20, 1 << 10}, stride: []int32{0, 0}, numel: 1}})
	c, err = clOpen(big, Options{})
	if err != nil {
		t.Fatal(err)
	}
	limit := 4*int64(len(big)) + 1<<20
	if _, err := c.ReadTensor("e"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), fmt.Sprintf("larger than the limit of %d bytes", limit)) {
		t.Errorf("expanded view over the default limit: %v", err)
	}
}

// clRezip rewrites a zip checkpoint with its data.pkl replaced by p.
func clRezip(t *testing.T, b []byte, p []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f.Name, "/data.pkl") {
			w.Write(p)
			continue
		}
		rc, _ := f.Open()
		io.Copy(w, rc)
		rc.Close()
	}
	zw.Close()
	return out.Bytes()
}

func TestCheckpointPickleSizeLimit(t *testing.T) {
	b := clCheckpoint()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data.pkl") {
			size = int64(f.UncompressedSize64)
		}
	}
	if _, err := clOpen(b, Options{MaxPickleSize: size}); err != nil {
		t.Errorf("a pickle of exactly MaxPickleSize: %v", err)
	}
	if _, err := clOpen(b, Options{MaxPickleSize: size - 1}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("is larger than %d bytes (Options.MaxPickleSize)", size-1)) {
		t.Errorf("one byte over MaxPickleSize: %v", err)
	}
	if _, err := clOpen(b, Options{MaxPickleSize: -1}); err != nil {
		t.Errorf("no pickle limit: %v", err)
	}
}

// clShortReader returns at most n bytes per ReadAt, with no error.
type clShortReader struct {
	b []byte
	n int
}

func (r clShortReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.n)], r.b[off:])
	return n, nil
}

func TestCheckpointFirstBytes(t *testing.T) {
	if _, err := NewReader(bytes.NewReader(nil), -1); err == nil || !strings.Contains(err.Error(), "size cannot be negative") {
		t.Errorf("negative size: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(nil), 0); !errors.Is(err, ErrNotCheckpoint) {
		t.Errorf("empty file: %v", err)
	}
	b := clCheckpoint()
	if _, err := NewReader(clShortReader{b: b, n: 100}, int64(len(b))); err == nil || !strings.Contains(err.Error(), "reading the file's start") {
		t.Errorf("a short first read: %v", err)
	}
	// A file shorter than the 512 bytes looked at is read whole.
	if _, err := NewReader(clShortReader{b: []byte("x"), n: 1}, 1); !errors.Is(err, ErrNotCheckpoint) {
		t.Errorf("one byte: %v", err)
	}
	// A tar header's "ustar" magic at byte 257: refused as torch < 0.4's
	// format, from 262 bytes on.
	tarHead := make([]byte, 262)
	copy(tarHead[257:], "ustar")
	if _, err := NewReader(bytes.NewReader(tarHead), int64(len(tarHead))); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "tar-based") {
		t.Errorf("tar: %v", err)
	}
	if _, err := NewReader(bytes.NewReader(tarHead[:261]), 261); !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), "neither a zip archive nor a pickle") {
		t.Errorf("261 bytes: %v", err)
	}
	// The first byte of a legacy checkpoint's pickle.
	for _, first := range []byte{0x80, 'L', 'I'} {
		_, err := NewReader(bytes.NewReader([]byte{first}), 1)
		if err == nil || !strings.Contains(err.Error(), "magic number pickle") {
			t.Errorf("first byte %q: %v, want the legacy reader's error", first, err)
		}
	}
	for _, first := range []byte{0x7f, 0x81, 'K', 'J', 'M', 'H'} {
		if _, err := NewReader(bytes.NewReader([]byte{first, 0, 0}), 3); !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), "neither a zip archive nor a pickle") {
			t.Errorf("first byte %q: %v", first, err)
		}
	}
}

func TestCheckpointStorageClaims(t *testing.T) {
	// A storage claiming more elements than the file can hold: the
	// pickle's numel (BININT after the location "cpu") made 2^28.
	b := synthCheckpoint([]synthTensor{{name: "w", shape: []int32{2}, stride: []int32{1}, numel: 2}})
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var pkl []byte
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data.pkl") {
			rc, _ := f.Open()
			pkl, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	numel := []byte("cpuJ\x02\x00\x00\x00")
	if bytes.Count(pkl, numel) != 1 {
		t.Fatalf("no numel in %q", pkl)
	}
	pkl = bytes.Replace(pkl, numel, []byte("cpuJ\x00\x00\x00\x10"), 1)
	bad := clRezip(t, b, pkl)
	if _, err := clOpen(bad, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), fmt.Sprintf(`storage "0" of %d elements cannot fit in a %d-byte file`, 1<<28, len(bad))) {
		t.Errorf("storage over the file: %v", err)
	}
}

// TestCheckpointLongShapesInErrors: a shape or stride of more than 16
// dimensions is shown by its first and last 8 in errors; 16 are shown whole.
func TestCheckpointLongShapesInErrors(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{16, "[1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]"},
		{17, "[1 2 3 4 5 6 7 8]...[10 11 12 13 14 15 16 17] (17 dimensions)"},
	} {
		shape := make([]int32, c.n)
		stride := make([]int32, c.n)
		for i := range shape {
			shape[i], stride[i] = 1, int32(i+1)
		}
		b := synthCheckpoint([]synthTensor{{name: "w", shape: shape, stride: stride, numel: 1}})
		ck, err := clOpen(b, Options{MaxOutputSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ck.ReadTensor("w"); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "stride "+c.want+",") {
			t.Errorf("%d dimensions: %v", c.n, err)
		}
	}
}

// clZip builds a zip archive of the given records, stored.
func clZip(t *testing.T, records map[string]string) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, name := range slices.Sorted(maps.Keys(records)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, records[name])
	}
	zw.Close()
	return out.Bytes()
}

func TestCheckpointZipKinds(t *testing.T) {
	for _, c := range []struct {
		records map[string]string
		msg     string
	}{
		{map[string]string{"archive/constants.pkl": "x", "archive/version": "3"}, "a TorchScript archive"},
		{map[string]string{"archive/code/m.py": "x", "archive/version": "3"}, "a TorchScript archive"},
		{map[string]string{"archive/version": "3", "archive/other": "x"}, "a zip archive without a <dir>/data.pkl record"},
		{map[string]string{"constants.pkl": "x"}, "a zip archive without a <dir>/data.pkl record"},
		{map[string]string{"/data.pkl": "x"}, "a zip archive without a <dir>/data.pkl record"},
	} {
		b := clZip(t, c.records)
		if _, err := clOpen(b, Options{}); !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: %v", slices.Sorted(maps.Keys(c.records)), err)
		}
	}
	if _, err := clOpen(clZip(t, map[string]string{"a/data.pkl": "N.", "b/data.pkl": "N."}), Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "zip archive holds 2 data.pkl records") {
		t.Errorf("two data.pkl: %v", err)
	}
}

func TestCheckpointByteOrderRecord(t *testing.T) {
	for _, c := range []struct {
		order string
		msg   string
	}{
		{"little", ""},
		{"big", ""},
		{"middle", `byteorder record is "middle"`},
		{"little          ", `byteorder record is "little          "`}, // 16 bytes: read, then refused
		{"little           ", "byteorder record of 17 bytes"},
	} {
		b := synthCheckpointOrder([]synthTensor{{name: "w", shape: []int32{1}, stride: []int32{1}, numel: 1}}, c.order)
		_, err := clOpen(b, Options{})
		if c.msg == "" {
			if err != nil {
				t.Errorf("%q: %v", c.order, err)
			}
			continue
		}
		if !errors.Is(err, ErrByteOrder) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v", c.order, err)
		}
	}
}

// TestCheckpointPersistentIDs: each field of a storage's persistent id is
// checked.
func TestCheckpointPersistentIDs(t *testing.T) {
	base := synthCheckpoint([]synthTensor{{name: "w", shape: []int32{2}, stride: []int32{1}, numel: 2}})
	str := func(s string) string { return pbBinunicode(s) }
	float := "ctorch\nFloatStorage\n"
	for _, c := range []struct {
		pid string
		err error
		msg string
	}{
		{str("storage") + float + str("0") + str("cpu") + "K\x02", ErrUnsupported, "not a dict of tensors"},
		{str("storage") + "K\x01" + str("0") + str("cpu") + "K\x02", ErrCorrupt, "storage type is a int"},
		{str("storage") + float + "K\x05" + str("cpu") + "K\x02", ErrCorrupt, "storage key is a int of 0 bytes"},
		{str("storage") + float + str(strings.Repeat("k", maxKeySize)) + str("cpu") + "K\x02", ErrMissingStorage, "no record"}, // the key is accepted
		{str("storage") + float + str(strings.Repeat("k", maxKeySize+1)) + str("cpu") + "K\x02", ErrCorrupt, "storage key is a str of 4097 bytes"},
		{str("storage") + float + str("0") + "K\x07" + "K\x02", ErrCorrupt, "storage location is a int"},
		{str("storage") + float + str("0") + str("cpu") + "J\xff\xff\xff\xff", ErrCorrupt, "storage size -1"},
		{str("storage") + float + str("0") + str("cpu") + str("x"), ErrCorrupt, `storage size "x"`},
		{str("storage") + float + str("0") + str("cpu") + "K\x00", ErrCorrupt, `storage record "archive/data/0" holds 8 bytes, the pickle says 0`}, // 0 is a size
		{str("module") + float + str("0") + str("cpu") + "K\x02", ErrUnsupported, `persistent id of type "module"`},
		{str("storage") + float + str("0") + str("cpu"), ErrCorrupt, "storage persistent id has 4 fields, want 5"},
	} {
		p := "\x80\x02(" + c.pid + "tQ."
		_, err := clOpen(clRezip(t, base, []byte(p)), Options{})
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%.100q: %.200v; want %v %q", c.pid, err, c.err, c.msg)
		}
	}
}

// TestCheckpointTensorBeyondMemory: with the output limit off, a tensor
// larger than Go's heap can address is refused with ErrUnsupported, where
// allocating its buffer would panic. An expanded view (zero strides) of a
// one-float storage makes such a tensor out of a tiny file.
func TestCheckpointTensorBeyondMemory(t *testing.T) {
	for _, c := range []struct {
		shape []int32
		bytes int64
	}{
		{[]int32{1 << 23, 1 << 23}, 1 << 48}, // one byte over 2^48-1
		{[]int32{1 << 30, 1 << 30}, 1 << 62},
	} {
		b := synthCheckpoint([]synthTensor{{name: "e", shape: c.shape, stride: make([]int32, len(c.shape)), numel: 1}})
		ck, err := clOpen(b, Options{MaxOutputSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = ck.ReadTensor("e")
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), fmt.Sprintf("of %d bytes", c.bytes)) || !strings.Contains(err.Error(), "WriteTensor streams it") {
			t.Errorf("%v: %v", c.shape, err)
		}
	}
}
