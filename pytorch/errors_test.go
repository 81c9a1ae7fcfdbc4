package pytorch

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openBytes opens a checkpoint held in memory and reads every tensor.
func openBytes(b []byte) error {
	c, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return err
	}
	for _, info := range c.Tensors() {
		if _, err := c.ReadTensor(info.Name); err != nil && !errors.Is(err, ErrUnsupportedDType) {
			return err
		}
	}
	return nil
}

func TestTruncatedZip(t *testing.T) {
	b := readFixture(t, "state_dict.pt")
	for n := 4; n < len(b); n += 97 {
		if err := openBytes(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: %v, want ErrTruncated", n, len(b), err)
		}
	}
	if err := openBytes(b[:len(b)-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("one byte short: %v", err)
	}
}

func TestTruncatedLegacy(t *testing.T) {
	b := readFixture(t, "state_dict_legacy.pt")
	const magicLen = 15 // \x80\x02\x8a\x0a + 10 bytes + STOP
	for n := magicLen + 1; n < len(b); n += 7 {
		if err := openBytes(b[:n]); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: %v, want ErrTruncated", n, len(b), err)
		}
	}
	if err := openBytes(b[:len(b)-1]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("one byte short: %v", err)
	}
	if err := openBytes(b); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptStorage flips a byte inside a storage record: the zip CRC-32
// catches it when a whole record is read.
func TestCorruptStorage(t *testing.T) {
	b := readFixture(t, "state_dict.pt")
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info("f32")
	if err != nil {
		t.Fatal(err)
	}
	var off int64 = -1
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data/"+info.StorageKey) {
			off, _ = f.DataOffset()
		}
	}
	if off < 0 {
		t.Fatal("no record for f32")
	}
	bad := bytes.Clone(b)
	bad[off+3] ^= 0x40
	c, err = NewReader(bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadTensor("f32"); !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadTensor of a damaged record: %v, want ErrCorrupt", err)
	}
	path := filepath.Join(t.TempDir(), "bad.pt")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out.safetensors")
	if _, err := Convert(context.Background(), path, dst); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Convert: %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatal("output left behind")
	}
}

// TestCorruptRecords damages a zip checkpoint's records one way at a time.
func TestCorruptRecords(t *testing.T) {
	good := readFixture(t, "state_dict.pt")
	zr, err := zip.NewReader(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	rebuild := func(edit func(name string, data []byte) (string, []byte, zipMethod)) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			var data bytes.Buffer
			data.ReadFrom(rc)
			rc.Close()
			name, d, method := edit(f.Name, data.Bytes())
			if name == "" {
				continue
			}
			w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: uint16(method)})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(d)
		}
		zw.Close()
		return buf.Bytes()
	}
	keep := func(name string, d []byte) (string, []byte, zipMethod) { return name, d, zipMethod(zip.Store) }
	if err := openBytes(rebuild(keep)); err != nil {
		t.Fatalf("a faithful copy: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(name string, d []byte) (string, []byte, zipMethod)
		want error
	}{
		{"storage one byte short", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "/data/0") {
				d = d[:len(d)-1]
			}
			return n, d, zipMethod(zip.Store)
		}, ErrCorrupt},
		{"storage compressed", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.Contains(n, "/data/") {
				return n, d, zipMethod(zip.Deflate)
			}
			return n, d, zipMethod(zip.Store)
		}, ErrUnsupported},
		{"data.pkl compressed is fine", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "data.pkl") {
				return n, d, zipMethod(zip.Deflate)
			}
			return n, d, zipMethod(zip.Store)
		}, nil},
		{"data.pkl cut short", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "data.pkl") {
				d = d[:len(d)/2]
			}
			return n, d, zipMethod(zip.Store)
		}, ErrCorrupt},
		{"no data.pkl", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "data.pkl") {
				return "", nil, 0
			}
			return n, d, zipMethod(zip.Store)
		}, ErrNotCheckpoint},
		{"TorchScript", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "data.pkl") {
				return strings.Replace(n, "data.pkl", "constants.pkl", 1), d, zipMethod(zip.Store)
			}
			return n, d, zipMethod(zip.Store)
		}, ErrNotCheckpoint},
		{"two data.pkl", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "/version") {
				return "other/data.pkl", d, zipMethod(zip.Store)
			}
			return n, d, zipMethod(zip.Store)
		}, ErrCorrupt},
		{"duplicate record", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "/version") {
				return strings.Replace(n, "version", "data/0", 1), d, zipMethod(zip.Store)
			}
			return n, d, zipMethod(zip.Store)
		}, ErrCorrupt},
		{"byteorder BIG", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "/version") {
				return strings.Replace(n, "version", "byteorder", 1), []byte("BIG"), zipMethod(zip.Store)
			}
			return n, d, zipMethod(zip.Store)
		}, ErrByteOrder},
		{"byteorder with newline", func(n string, d []byte) (string, []byte, zipMethod) {
			if strings.HasSuffix(n, "/version") {
				return strings.Replace(n, "version", "byteorder", 1), []byte("little\n"), zipMethod(zip.Store)
			}
			return n, d, zipMethod(zip.Store)
		}, ErrByteOrder},
	} {
		err := openBytes(rebuild(c.edit))
		if (c.want == nil && err != nil) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

type zipMethod uint16

func TestNotCheckpoint(t *testing.T) {
	st := []byte("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}x")
	var tar [1024]byte
	copy(tar[257:], "ustar")
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotCheckpoint},
		{"text", []byte("hello, world\n"), ErrNotCheckpoint},
		{"safetensors", st, ErrNotCheckpoint},
		{"a pickle of an int", []byte("\x80\x02K\x05."), ErrNotCheckpoint},
		{"a pickle of a dict", []byte("\x80\x02}."), ErrNotCheckpoint},
		{"magic, then nothing", []byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."), ErrTruncated},
		{"magic, bad version", []byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02K\x05."), ErrCorrupt},
		{"tar", tar[:], ErrUnsupported},
		{"empty zip", []byte("PK\x05\x06" + strings.Repeat("\x00", 18)), ErrNotCheckpoint},
		{"zip signature only", []byte("PK\x03\x04"), ErrTruncated},
	} {
		if err := openBytes(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Open wraps errors in *fs.PathError naming the file.
	path := filepath.Join(t.TempDir(), "x.bin")
	os.WriteFile(path, []byte("nope"), 0o644)
	_, err := Open(path)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path || !errors.Is(err, ErrNotCheckpoint) {
		t.Errorf("Open: %v", err)
	}
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotCheckpoint) {
		t.Errorf("Open of a directory: %v", err)
	}
}

func TestTensorNotFound(t *testing.T) {
	c, err := Open("testdata/state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ReadTensor("nope"); !errors.Is(err, safetensors.ErrTensorNotFound) {
		t.Error(err)
	}
	if _, err := c.Info("nope"); !errors.Is(err, safetensors.ErrTensorNotFound) {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Error(err)
	}
	if err := c.Close(); err != nil {
		t.Error("second Close:", err)
	}
}

func TestConvertOptions(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// DiscardNames turns the choice of tied name around; the view
	// shared.part is written, not dropped. dst's directory is created.
	res, err := Options{DiscardNames: []string{"embed.weight"}}.Convert(ctx, "testdata/state_dict.pt", filepath.Join(dir, "new", "dir", "a.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed["embed.weight"] != "lm_head.weight" || len(res.Removed) != 1 {
		t.Errorf("removed %v", res.Removed)
	}
	// Non-tensors: an error by default, skipped on request.
	if _, err := Convert(ctx, "testdata/with_extras.pt", filepath.Join(dir, "b.safetensors")); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "epoch") {
		t.Errorf("non-tensors: %v", err)
	}
	res, err = Options{SkipNonTensors: true}.Convert(ctx, "testdata/with_extras.pt", filepath.Join(dir, "b.safetensors"))
	if err != nil || len(res.Skipped) != 3 || res.Tensors != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	// Progress: monotonic, ending at the total, in both phases.
	var last [3]int64
	var calls int
	res, err = Options{Progress: func(p Progress) {
		calls++
		if p.Done < last[p.Phase] || p.Done > p.Total || p.Total != 382 {
			t.Errorf("progress %+v after %d", p, last[p.Phase])
		}
		last[p.Phase] = p.Done
	}}.Convert(ctx, "testdata/state_dict.pt", filepath.Join(dir, "c.safetensors"))
	if err != nil || last[PhaseWrite] != res.Bytes || last[PhaseVerify] != res.Bytes || calls < 2*res.Tensors {
		t.Errorf("progress ended at %v after %d calls, want %d: %v", last, calls, res.Bytes, err)
	}
	// SkipVerify still writes the same bytes.
	res2, err := Options{SkipVerify: true}.Convert(ctx, "testdata/state_dict.pt", filepath.Join(dir, "d.safetensors"))
	if err != nil || res2.Verified {
		t.Fatal(res2, err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "c.safetensors"))
	d, _ := os.ReadFile(filepath.Join(dir, "d.safetensors"))
	if !bytes.Equal(a, d) || len(a) == 0 {
		t.Error("SkipVerify changed the output")
	}
	// A canceled context stops the conversion and leaves nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Convert(cctx, "testdata/state_dict.pt", filepath.Join(dir, "e.safetensors")); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") || e.Name() == "e.safetensors" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	// The zip, legacy and big-endian checkpoints of one state dict convert
	// to identical files.
	for _, name := range []string{"state_dict_legacy.pt", "big_endian.pt"} {
		out := filepath.Join(dir, name+".safetensors")
		if _, err := Convert(ctx, filepath.Join("testdata", name), out); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(out); !bytes.Equal(a, b) {
			t.Errorf("%s converts differently from state_dict.pt", name)
		}
	}
}
