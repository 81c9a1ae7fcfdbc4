package pytorch

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/safetensors-go/safetensors"
)

// viewAliases are the exact aliases of testdata/views.pt, as its state dict
// was built (scripts/gen_torch_fixtures.py): the same view object or the
// same elements in the same layout under two names. Every other entry is a
// view of its own, some sharing a storage and overlapping others.
var viewAliases = map[string]string{
	"alias_b":       "alias_a",       // b = a
	"tied.1.weight": "tied.0.weight", // a module's tied weights
	"rows_again":    "rows",          // base[2:4] twice
	"row0":          "flat_prefix",   // base[0] is base.view(-1)[:5]
}

// TestTorchViews converts checkpoints that torch saved with every kind of
// view of shared storages (transpose, row block, column block, stepped,
// permuted, expanded, scalar, empty, a view of a view) and compares every
// tensor, bit for bit, with torch's own t.contiguous() values, written by
// the fixture script in views_expected.safetensors. Only the exact aliases
// are left out, and the metadata records those and nothing else.
func TestTorchViews(t *testing.T) {
	want, err := safetensors.Open("testdata/views_expected.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if want.Len() != 21 {
		t.Fatalf("views_expected.safetensors holds %d tensors", want.Len())
	}
	for _, name := range []string{"views.pt", "views_legacy.pt"} {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out.safetensors")
			res, err := Convert(context.Background(), filepath.Join("testdata", name), dst)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(res.Removed, viewAliases) || !res.Verified || res.Tensors != want.Len()-len(viewAliases) {
				t.Errorf("removed %v, %d tensors, verified %v; want %v", res.Removed, res.Tensors, res.Verified, viewAliases)
			}
			got, err := safetensors.Open(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			meta := map[string]string{"format": "pt"}
			maps.Copy(meta, viewAliases)
			if !maps.Equal(got.Metadata(), meta) {
				t.Errorf("metadata %v, want %v", got.Metadata(), meta)
			}
			var kept []string
			var bytesWritten int64
			for _, n := range want.Keys() {
				w, err := want.GetTensor(n)
				if err != nil {
					t.Fatal(err)
				}
				if k, ok := viewAliases[n]; ok {
					// torch's values confirm the alias: the same tensor.
					kw, _ := want.GetTensor(k)
					if !bytes.Equal(w.Data(), kw.Data()) || !slices.Equal(w.Shape(), kw.Shape()) {
						t.Errorf("%s is not the same as %s in torch", n, k)
					}
					continue
				}
				kept = append(kept, n)
				bytesWritten += int64(len(w.Data()))
				g, err := got.GetTensor(n)
				if err != nil {
					t.Errorf("%s: %v", n, err)
					continue
				}
				if g.DType() != w.DType() || !slices.Equal(g.Shape(), w.Shape()) || !bytes.Equal(g.Data(), w.Data()) {
					t.Errorf("%s: %v%v %x, torch gives %v%v %x", n, g.DType(), g.Shape(), g.Data(), w.DType(), w.Shape(), w.Data())
				}
			}
			if !slices.Equal(got.Keys(), kept) || res.Bytes != bytesWritten {
				t.Errorf("output keys %v (%d bytes), want %v (%d bytes)", got.Keys(), res.Bytes, kept, bytesWritten)
			}
		})
	}
	// DiscardNames chooses among exact aliases only.
	res, err := Options{DiscardNames: []string{"rows", "t"}}.Convert(context.Background(), "testdata/views.pt", filepath.Join(t.TempDir(), "d.safetensors"))
	if err != nil || res.Removed["rows"] != "rows_again" || len(res.Removed) != len(viewAliases) {
		t.Errorf("DiscardNames: %v, %v", res.Removed, err)
	}
	if _, gone := res.Removed["t"]; gone {
		t.Error("DiscardNames dropped a view that is not an alias")
	}
}

// TestExpandLimit: an expanded view repeats its storage, so a tiny file
// can describe a huge tensor. Convert refuses to write more than
// MaxOutputSize before writing anything, and ReadTensor refuses to
// allocate it.
func TestExpandLimit(t *testing.T) {
	// One float32 expanded to 2^31 x 2^31 elements (16 EiB).
	b := synthCheckpoint([]synthTensor{{name: "e", shape: []int32{1 << 30, 1 << 30}, stride: []int32{0, 0}, numel: 1}})
	c, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadTensor("e"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ReadTensor: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "e.pt")
	writeFile(t, src, b)
	dst := filepath.Join(dir, "e.safetensors")
	if _, err := Convert(context.Background(), src, dst); !errors.Is(err, ErrVerify) {
		t.Errorf("Convert: %v", err)
	}
	// A limit the output fits in: 4x3 float32 from 4 bytes.
	b = synthCheckpoint([]synthTensor{{name: "e", shape: []int32{4, 3}, stride: []int32{0, 0}, numel: 1}})
	writeFile(t, src, b)
	if _, err := (Options{MaxOutputSize: 47}).Convert(context.Background(), src, dst); !errors.Is(err, ErrVerify) {
		t.Errorf("Convert over MaxOutputSize: %v", err)
	}
	res, err := Options{MaxOutputSize: 48}.Convert(context.Background(), src, dst)
	if err != nil || res.Bytes != 48 {
		t.Fatalf("Convert within MaxOutputSize: %+v, %v", res, err)
	}
	leftovers(t, dir, "e.pt", "e.safetensors")
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// leftovers checks that dir holds exactly the named entries: no temporary
// file, backup or partial output besides them.
func leftovers(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestLongOutputName: temporary and backup names stay within the usual
// 255-byte limit for an output name near it, cut at a rune boundary.
func TestLongOutputName(t *testing.T) {
	dir := t.TempDir()
	name := "x" + strings.Repeat("é", 115) + ".safetensors" // 243 bytes; byte 128 is inside a rune
	dst := filepath.Join(dir, name)
	for range 2 { // the second time over the first
		if _, err := Convert(context.Background(), "testdata/state_dict.pt", dst); err != nil {
			t.Fatal(err)
		}
	}
	leftovers(t, dir, name)
	if _, err := backup(dst); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !utf8.ValidString(e.Name()) || len(e.Name()) > 255 {
			t.Errorf("name %q", e.Name())
		}
	}
}
