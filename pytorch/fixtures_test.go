package pytorch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// expectedFile is one entry of testdata/expected.json, written by
// scripts/gen_torch_fixtures.py from what torch itself loads from each file
// and from the rule for exact aliases run on the real torch tensors.
type expectedFile struct {
	Format     string                    `json:"format"`
	ByteOrder  string                    `json:"byteorder"`
	Unwrapped  bool                      `json:"unwrapped"`
	Tensors    map[string]expectedTensor `json:"tensors"`
	NonTensors map[string]string         `json:"non_tensors"`
	Removed    map[string]string         `json:"removed"`
	Bytes      int64                     `json:"bytes"`
	InputBytes int64                     `json:"input_bytes"`
	Error      string                    `json:"error"`
	Global     string                    `json:"global"`
	Malicious  bool                      `json:"malicious"`
}

type expectedTensor struct {
	DType      string `json:"dtype"`
	TorchDType string `json:"torch_dtype"`
	Shape      []int  `json:"shape"`
	Stride     []int  `json:"stride"`
	Offset     int64  `json:"offset"`
	Contiguous bool   `json:"contiguous"`
	SHA256     string `json:"sha256"`
}

func loadExpected(t *testing.T) map[string]expectedFile {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]expectedFile
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) < 20 {
		t.Fatalf("expected.json has %d fixtures", len(m))
	}
	return m
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var errorSentinels = map[string]error{
	"forbidden":   ErrForbiddenGlobal,
	"byteorder":   ErrByteOrder,
	"missing":     ErrMissingStorage,
	"dtype":       ErrUnsupportedDType,
	"verify":      ErrVerify,
	"unsupported": ErrUnsupported,
}

// openErrors are the expected errors that Open itself reports; the others
// come from reading or converting.
var openErrors = map[string]bool{"forbidden": true, "byteorder": true, "missing": true}

func TestFixtures(t *testing.T) {
	for name, want := range loadExpected(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			dst := filepath.Join(t.TempDir(), "out.safetensors")
			c, err := Open(path)
			if openErrors[want.Error] {
				if !errors.Is(err, errorSentinels[want.Error]) {
					t.Fatalf("Open: %v, want %v", err, errorSentinels[want.Error])
				}
				if want.Global != "" {
					var fg *ForbiddenGlobalError
					if !errors.As(err, &fg) || fg.Module+"."+fg.Name != want.Global {
						t.Fatalf("Open: %v, want the forbidden global %s", err, want.Global)
					}
				}
				if _, err := Convert(context.Background(), path, dst); !errors.Is(err, errorSentinels[want.Error]) {
					t.Fatalf("Convert: %v", err)
				}
				if _, err := os.Stat(dst); !os.IsNotExist(err) {
					t.Fatalf("failed Convert left %s: %v", dst, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			checkCheckpoint(t, c, want)

			opts := Options{SkipNonTensors: true}
			res, err := opts.Convert(context.Background(), path, dst)
			if want.Error != "" {
				if !errors.Is(err, errorSentinels[want.Error]) {
					t.Fatalf("Convert: %v, want %v", err, errorSentinels[want.Error])
				}
				if _, err := os.Stat(dst); !os.IsNotExist(err) {
					t.Fatalf("failed Convert left %s", dst)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkConverted(t, res, dst, want)
			if len(want.NonTensors) > 0 {
				if _, err := Convert(context.Background(), path, dst+"2"); !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Convert with non-tensors: %v, want ErrUnsupported", err)
				}
			}
		})
	}
}

func checkCheckpoint(t *testing.T, c *Checkpoint, want expectedFile) {
	t.Helper()
	if c.Format().String() != want.Format || c.ByteOrder() != want.ByteOrder || c.Unwrapped() != want.Unwrapped {
		t.Errorf("format %v, byte order %s, unwrapped %v; want %s, %s, %v", c.Format(), c.ByteOrder(), c.Unwrapped(), want.Format, want.ByteOrder, want.Unwrapped)
	}
	got := map[string]string{}
	for _, nt := range c.NonTensors() {
		got[nt.Name] = nt.Type
	}
	if !maps.Equal(got, want.NonTensors) && !(len(got) == 0 && len(want.NonTensors) == 0) {
		t.Errorf("non-tensors %v, want %v", got, want.NonTensors)
	}
	infos := c.Tensors()
	if len(infos) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(infos), len(want.Tensors))
	}
	for _, info := range infos {
		w, ok := want.Tensors[info.Name]
		if !ok {
			t.Fatalf("unexpected tensor %q", info.Name)
		}
		dt := ""
		if info.DType != 0 {
			dt = info.DType.String()
		}
		if dt != w.DType || info.TorchDType != w.TorchDType || !slices.Equal(info.Shape, w.Shape) ||
			!slices.Equal(info.Stride, w.Stride) || info.StorageOffset != w.Offset || info.Contiguous != w.Contiguous {
			t.Errorf("%s: %+v, want %+v", info.Name, info, w)
		}
		if w.SHA256 == "" {
			if _, err := c.ReadTensor(info.Name); !errors.Is(err, ErrUnsupportedDType) && !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: ReadTensor of an unsupported tensor: %v", info.Name, err)
			}
			continue
		}
		tensor, err := c.ReadTensor(info.Name)
		if err != nil {
			t.Fatalf("%s: %v", info.Name, err)
		}
		if got := sha(tensor.Data()); got != w.SHA256 {
			t.Errorf("%s: sha256 %s, want %s (torch's t.contiguous() bytes)", info.Name, got, w.SHA256)
		}
		if tensor.DType().String() != w.DType || !slices.Equal(tensor.Shape(), w.Shape) {
			t.Errorf("%s: tensor %v%v", info.Name, tensor.DType(), tensor.Shape())
		}
		var buf bytes.Buffer
		n, err := c.WriteTensor(&buf, info.Name)
		if err != nil || n != int64(buf.Len()) || sha(buf.Bytes()) != w.SHA256 {
			t.Errorf("%s: WriteTensor wrote %d bytes (%v), sha256 %s", info.Name, n, err, sha(buf.Bytes()))
		}
	}
}

func checkConverted(t *testing.T, res *Result, dst string, want expectedFile) {
	t.Helper()
	removed := want.Removed
	if removed == nil {
		removed = map[string]string{}
	}
	if !maps.Equal(res.Removed, removed) {
		t.Errorf("removed %v, want %v (the exact aliases)", res.Removed, removed)
	}
	if res.Bytes != want.Bytes || res.InputBytes != want.InputBytes || !res.Verified {
		t.Errorf("result %+v, want %d bytes from %d input bytes", res, want.Bytes, want.InputBytes)
	}
	f, err := safetensors.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := map[string]string{"format": "pt"}
	maps.Copy(meta, removed)
	if !maps.Equal(f.Metadata(), meta) {
		t.Errorf("metadata %v, want %v", f.Metadata(), meta)
	}
	var names []string
	for name, w := range want.Tensors {
		if _, gone := removed[name]; !gone {
			names = append(names, name)
			tensor, err := f.GetTensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if sha(tensor.Data()) != w.SHA256 || tensor.DType().String() != w.DType || !slices.Equal(tensor.Shape(), w.Shape) {
				t.Errorf("%s in the output: %v%v sha256 %s, want %s%v %s", name, tensor.DType(), tensor.Shape(), sha(tensor.Data()), w.DType, w.Shape, w.SHA256)
			}
		}
	}
	sort.Strings(names)
	if !slices.Equal(f.Keys(), names) {
		t.Errorf("output keys %v, want %v", f.Keys(), names)
	}
	if res.Tensors != len(names) {
		t.Errorf("Result.Tensors %d, want %d", res.Tensors, len(names))
	}
}
