package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests damage where a zip checkpoint's storage records say their
// bytes are, claim a storage of exactly the file's size, and close
// checkpoints.
//
// A zip record is found twice: the central directory at the archive's end
// gives each record's local header offset (and its sizes, which the reader
// uses); the local header there (30 bytes: signature "PK\x03\x04", ...,
// name length at byte 26, extra field length at byte 28, both 2 bytes
// little-endian) is followed by the name, the extra field, then the data.
// So the data starts at header offset + 30 + name length + extra length,
// whatever the central directory says; archive/zip's DataOffset computes
// exactly that.

// zrecLocalHeader returns the offset of the local header of record name in
// the zip archive b, written by archive/zip with no extra field.
func zrecLocalHeader(t *testing.T, b []byte, name string) int {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name != name {
			continue
		}
		d, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		h := int(d) - 30 - len(name)
		if string(b[h:h+4]) != "PK\x03\x04" || string(b[h+30:h+30+len(name)]) != name || binary.LittleEndian.Uint16(b[h+28:]) != 0 {
			t.Fatalf("no local header of %q at %d", name, h)
		}
		return h
	}
	t.Fatalf("no record %q", name)
	return 0
}

// TestZipStorageRecordEnd: a storage record's bytes may end exactly at the
// file's end, not one byte past it. The record's local header is given an
// extra field length that moves its data there (the central directory's
// sizes are unchanged).
func TestZipStorageRecordEnd(t *testing.T) {
	for _, c := range []struct {
		numel int   // float32 elements of the storage "0"
		end   int64 // where its data would end, from the file's end
		ok    bool
	}{
		{2, 0, true},
		{2, 1, false},
		{0, 0, true}, // the 0 bytes start at the file's end
		{0, 1, false},
	} {
		shape := []int32{int32(c.numel)}
		b := synthCheckpoint([]synthTensor{{name: "w", shape: shape, stride: []int32{1}, numel: c.numel}})
		h := zrecLocalHeader(t, b, "archive/data/0")
		// The data now starts at h + 30 + 14 + extra; it should end at
		// len(b) + c.end.
		extra := len(b) + int(c.end) - 4*c.numel - (h + 30 + 14)
		binary.LittleEndian.PutUint16(b[h+28:], uint16(extra))
		ck, err := clOpen(b, Options{})
		name := fmt.Sprintf("%d bytes ending %d past the file's end", 4*c.numel, c.end)
		if !c.ok {
			if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), `storage record "archive/data/0" runs past the end of the file`) {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if info, err := ck.Info("w"); err != nil || info.StorageSize != int64(4*c.numel) {
			t.Errorf("%s: %+v, %v", name, info, err)
		}
	}
}

// zrecWindow is an io.ReaderAt over a checkpoint of size bytes that starts
// base bytes into b, and that answers reads at negative offsets from the
// bytes before it (as a window into a larger file might) instead of
// refusing them.
type zrecWindow struct {
	b    []byte
	base int64
	size int64
}

func (r zrecWindow) ReadAt(p []byte, off int64) (int, error) {
	if r.base+off < 0 {
		return 0, errors.New("before the buffer")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.base+off:r.base+r.size])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestZipStorageRecordBeforeStart: a storage record whose local header the
// central directory places before the file's first byte. A reader that
// refuses negative offsets (bytes.Reader, os.File) makes the record
// corrupt; one that answers them cannot make the record start before the
// checkpoint: at byte 0 it is inside, at byte -1 it is refused.
//
// The archive is written as if 64 bytes preceded it (zip.Writer.SetOffset),
// so that every offset it records is 64 more than the record's place and
// archive/zip subtracts 64 again from each (its base offset is -64). The
// central directory entry of the empty storage record "archive/data/0"
// (signature "PK\x01\x02", local header offset at byte 42, name at byte 46)
// is then made to say 64-44-d: its local header is read at -(44+d), where
// the window finds a copy of it; 30+14 bytes of header and name later, its
// data starts at -d.
func TestZipStorageRecordBeforeStart(t *testing.T) {
	const name = "archive/data/0"
	src := synthCheckpoint([]synthTensor{{name: "e", shape: []int32{0}, stride: []int32{1}}})
	zr, err := zip.NewReader(bytes.NewReader(src), int64(len(src)))
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	zw.SetOffset(64)
	for _, f := range zr.File {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(w, rc)
		rc.Close()
	}
	zw.Close()
	arch := z.Bytes()
	if _, err := clOpen(arch, Options{}); err != nil {
		t.Fatalf("the archive as written: %v", err)
	}
	h := zrecLocalHeader(t, arch, name)
	cd := -1
	for i := 0; ; i++ {
		j := bytes.Index(arch[i:], []byte("PK\x01\x02"))
		if j < 0 {
			break
		}
		i += j
		if string(arch[i+46:i+46+len(name)]) == name {
			cd = i
			break
		}
	}
	if cd < 0 || binary.LittleEndian.Uint32(arch[cd+42:]) != uint32(64+h) {
		t.Fatalf("no central directory entry of %q pointing at %d+64", name, h)
	}
	for _, d := range []int{0, 1} {
		b := bytes.Clone(arch)
		binary.LittleEndian.PutUint32(b[cd+42:], uint32(64-44-d))
		before := make([]byte, 64)
		copy(before[64-44-d:], arch[h:h+44])
		r := zrecWindow{b: append(before, b...), base: 64, size: int64(len(b))}
		_, err := NewReader(r, r.size)
		if d == 0 && err != nil {
			t.Errorf("an empty record at byte 0: %v", err)
		}
		if d == 1 && (!errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), `storage record "archive/data/0" runs past the end of the file`)) {
			t.Errorf("an empty record at byte -1: %v", err)
		}
		if _, err := clOpen(b, Options{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `storage record "archive/data/0": `) {
			t.Errorf("a local header at %d through a bytes.Reader: %v", -44-d, err)
		}
	}
}

// TestZipStorageOfFileSize: a storage may claim at most as many bytes as
// the file holds. One of exactly the file's size passes that test and is
// then compared with its record; one byte more is refused at once.
func TestZipStorageOfFileSize(t *testing.T) {
	// A ByteStorage (1-byte elements) of 1 element, its numel a BININT
	// ("J", 4 bytes) after the location "cpu": replacing it keeps every
	// record's size, so the file's size too.
	b := synthCheckpoint([]synthTensor{{name: "w", shape: []int32{1}, stride: []int32{1}, numel: 1, storage: "ByteStorage", esize: 1}})
	pkl := zrecDataPkl(t, b)
	numel := []byte("cpuJ\x01\x00\x00\x00")
	if bytes.Count(pkl, numel) != 1 {
		t.Fatalf("no numel in %q", pkl)
	}
	for _, extra := range []int{0, 1} {
		n := len(b) + extra
		p := bytes.Replace(pkl, numel, append([]byte("cpuJ"), byte(n), byte(n>>8), byte(n>>16), byte(n>>24)), 1)
		bad := clRezip(t, b, p)
		if len(bad) != len(b) {
			t.Fatalf("the rewritten file is %d bytes, not %d", len(bad), len(b))
		}
		_, err := clOpen(bad, Options{})
		want := fmt.Sprintf(`storage record "archive/data/0" holds 1 bytes, the pickle says %d`, n)
		if extra > 0 {
			want = fmt.Sprintf(`storage "0" of %d elements cannot fit in a %d-byte file`, n, len(b))
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
			t.Errorf("a storage of the file's size + %d: %v, want %q", extra, err, want)
		}
	}
}

// zrecDataPkl returns the data.pkl record of a zip checkpoint.
func zrecDataPkl(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data.pkl") {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			p, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatal("no data.pkl")
	return nil
}

// TestCheckpointClose: Close closes the file of a Checkpoint from Open,
// once; it does nothing, without error, for one from NewReader.
func TestCheckpointClose(t *testing.T) {
	b := clCheckpoint()
	c, err := clOpen(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.Close(); err != nil {
			t.Errorf("Close of a NewReader checkpoint: %v", err)
		}
	}
	if _, err := c.ReadTensor("w"); err != nil {
		t.Errorf("ReadTensor after Close of a NewReader checkpoint: %v", err)
	}

	path := filepath.Join(t.TempDir(), "w.pt")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadTensor("w"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.Close(); err != nil {
			t.Errorf("Close %d: %v", i+1, err)
		}
	}
	if _, err := c.ReadTensor("w"); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("ReadTensor after Close: %v, want the file closed", err)
	}
}
