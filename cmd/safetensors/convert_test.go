package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/x448/float16"
)

// decodeRaw decodes the float dtypes of the real files to float64, by hand
// (F16 with github.com/x448/float16).
func decodeRaw(t *testing.T, rt rawTensor) []float64 {
	t.Helper()
	var out []float64
	b := rt.data
	switch rt.DType {
	case "F64":
		for i := 0; i < len(b); i += 8 {
			out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b[i:])))
		}
	case "F32":
		for i := 0; i < len(b); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))))
		}
	case "F16":
		for i := 0; i < len(b); i += 2 {
			out = append(out, float64(float16.Frombits(binary.LittleEndian.Uint16(b[i:])).Float32()))
		}
	case "BF16":
		for i := 0; i < len(b); i += 2 {
			out = append(out, float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[i:]))<<16)))
		}
	default:
		t.Fatalf("no float decoding of %s", rt.DType)
	}
	return out
}

// bf16Of rounds x to the nearest bfloat16, ties to even. A value that is
// a float32 is rounded on its bits, with the usual formula (add 0x7fff plus
// the lowest kept bit, drop 16 bits), which is exact for every finite
// float32; others with math/big: a float of 8 significant bits, then the top
// half of its float32. The real files hold no such values below 2^-126,
// where bfloat16 loses precision that big.Float does not model; bf16Of
// reports them.
func bf16Of(x float64) (uint16, bool) {
	if math.IsNaN(x) {
		return 0x7fc0, true
	}
	if f := float32(x); float64(f) == x {
		u := math.Float32bits(f)
		return uint16((u + 0x7fff + (u>>16)&1) >> 16), true
	}
	if math.Abs(x) < 0x1p-126 {
		return 0, false
	}
	f := new(big.Float).SetPrec(8).SetMode(big.ToNearestEven).SetFloat64(x)
	f32, _ := f.Float32()
	return uint16(math.Float32bits(f32) >> 16), true
}

func isFloatName(d string) bool {
	return d == "F64" || d == "F32" || d == "F16" || d == "BF16"
}

// TestConvertReal converts every real file to BF16 and checks each output
// tensor against a rounding done here with math/big: floating tensors hold
// the BF16 nearest to each value, the others their bytes unchanged, and the
// metadata is kept.
func TestConvertReal(t *testing.T) {
	dir := t.TempDir()
	seen := map[string]bool{}
	for _, rf := range realFiles(t) {
		if rf.want.Error != "" || seen[rf.rel] {
			continue // the repository's copies are the shared files again
		}
		seen[rf.rel] = true
		t.Run(rf.label, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(rf.label, "/", "_"))
			mustRun(t, 0, "convert", "--dtype", "bf16", rf.path, out)
			src, _ := readRaw(t, rf.path)
			got, meta := readRaw(t, out)
			if !mapsEqual(meta, rf.want.Metadata) {
				t.Errorf("metadata %v, want %v", meta, rf.want.Metadata)
			}
			if len(got) != len(src) {
				t.Fatalf("%d tensors, want %d", len(got), len(src))
			}
			for name, s := range src {
				g := got[name]
				if !slices.Equal(g.Shape, s.Shape) {
					t.Errorf("%s: shape %v, want %v", name, g.Shape, s.Shape)
				}
				if !isFloatName(s.DType) {
					if g.DType != s.DType || !bytes.Equal(g.data, s.data) {
						t.Errorf("%s: %s tensor changed", name, s.DType)
					}
					continue
				}
				if g.DType != "BF16" {
					t.Errorf("%s: dtype %s, want BF16", name, g.DType)
					continue
				}
				for i, x := range decodeRaw(t, s) {
					want, ok := bf16Of(x)
					if !ok {
						t.Fatalf("%s[%d] = %g is below 2^-126: the test cannot check it", name, i, x)
					}
					gotBits := binary.LittleEndian.Uint16(g.data[2*i:])
					if math.IsNaN(x) && gotBits&0x7fff > 0x7f80 {
						continue
					}
					if gotBits != want {
						t.Errorf("%s[%d] = %g: BF16 %#04x, want %#04x", name, i, x, gotBits, want)
						break
					}
				}
			}
			mustRun(t, 0, "verify", out)
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConvertF16 converts F32 values to F16 and compares each with
// github.com/x448/float16's rounding of it, overflow to infinity and
// subnormals included; a BF16 and an I64 tensor come along.
func TestConvertF16(t *testing.T) {
	vals := []float32{0, 1, -2.5, 0.1, 65504, 65520, 1e6, -1e-7, 6e-8, 3e-5, float32(math.Inf(-1)), 1.0009765625}
	dir := t.TempDir()
	in := writeFile(t, dir, "in.safetensors", buildFile(map[string]string{"format": "pt"},
		spec{"w", "F32", []int{3, 4}, f32(vals...)},
		spec{"b", "BF16", []int{2}, u16s(0x3f80, 0xc040)}, // 1, -3
		spec{"step", "I64", nil, i64(7)},
	))
	out := filepath.Join(dir, "out.safetensors")
	stdout, _ := mustRun(t, 0, "convert", "--dtype", "float16", in, out)
	if want := out + ": 3 tensors, " + formatSize(fileSize(t, out)) + "\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	got, meta := readRaw(t, out)
	if meta["format"] != "pt" || len(meta) != 1 {
		t.Errorf("metadata %v", meta)
	}
	w := got["w"]
	if w.DType != "F16" || !slices.Equal(w.Shape, []int{3, 4}) {
		t.Fatalf("w: %s %v", w.DType, w.Shape)
	}
	for i, v := range vals {
		want := float16.Fromfloat32(v).Bits()
		if g := binary.LittleEndian.Uint16(w.data[2*i:]); g != want {
			t.Errorf("w[%d] = %g: F16 %#04x, want %#04x", i, v, g, want)
		}
	}
	if b := got["b"]; b.DType != "F16" || !bytes.Equal(b.data, u16s(0x3c00, 0xc200)) {
		t.Errorf("b: %s % x", b.DType, b.data)
	}
	if s := got["step"]; s.DType != "I64" || !bytes.Equal(s.data, i64(7)) {
		t.Errorf("step: %s % x", s.DType, s.data)
	}
}

// TestConvertErrors: a value the target cannot hold, or a tensor whose
// element count does not fill whole bytes of F4, fails with the tensor's
// name, and leaves an existing OUT as it was, with no temporary file.
func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	nan := writeFile(t, dir, "nan.safetensors", buildFile(nil, spec{"x", "F32", []int{2}, f32(1, float32(math.NaN()))}))
	odd := writeFile(t, dir, "odd.safetensors", buildFile(nil, spec{"y", "F32", []int{3}, f32(1, 2, 3)}))
	out := writeFile(t, dir, "out.safetensors", []byte("old contents"))
	for _, tc := range []struct {
		in, dtype, stderr string
	}{
		{nan, "f4", `nan.safetensors: tensor "x", in the elements from 0 on: value not representable in dtype: element 1 (NaN) has no F4 encoding`},
		{odd, "f4", `out.safetensors: misaligned slice: tensor "y"`},
		{nan, "i8", "--dtype: I8 is not a floating-point dtype"},
	} {
		_, stderr, code := cli(t, "convert", "--force", "--dtype", tc.dtype, tc.in, out)
		if code == 0 || !strings.Contains(stderr, tc.stderr) || strings.Count(stderr, "\n") > 2 {
			t.Errorf("convert --dtype %s %s: exit code %d, stderr %q; want %q", tc.dtype, tc.in, code, stderr, tc.stderr)
		}
		if b, _ := os.ReadFile(out); string(b) != "old contents" {
			t.Errorf("OUT was changed: %q", b)
		}
	}
	// Without --force, an existing OUT is an error before anything is read.
	_, stderr, code := cli(t, "convert", "--dtype", "bf16", nan, out)
	if want := "out.safetensors: exists (use --force to replace it)"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("convert over an existing file without --force: exit code %d, stderr %q; want 1 and %q", code, stderr, want)
	}
	if b, _ := os.ReadFile(out); string(b) != "old contents" {
		t.Errorf("OUT was changed without --force: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left: %v", names)
	}
}

// TestConvertOverInput converts a file onto itself: the output replaces the
// input atomically, while the input is still being read through its
// mapping.
func TestConvertOverInput(t *testing.T) {
	p := writeFile(t, t.TempDir(), "m.safetensors", buildFile(nil, spec{"w", "F32", []int{2}, f32(1, 3)}))
	mustRun(t, 0, "convert", "-f", "--dtype", "bf16", p, p)
	got, _ := readRaw(t, p)
	if w := got["w"]; w.DType != "BF16" || !bytes.Equal(w.data, u16s(0x3f80, 0x4040)) {
		t.Errorf("w: %s % x", w.DType, w.data)
	}
}

// TestBF16Of checks the test's own rounding formula against math/big on
// random float32 values of the normal range, ties included.
func TestBF16Of(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100_000; i++ {
		u := r.Uint32()
		if i%4 == 0 {
			u = u&^0xffff | 0x8000 // a tie
		}
		f := math.Float32frombits(u)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) || math.Abs(float64(f)) < 0x1p-126 {
			continue
		}
		got, _ := bf16Of(float64(f))
		b, _ := new(big.Float).SetPrec(8).SetMode(big.ToNearestEven).SetFloat64(float64(f)).Float32()
		if want := uint16(math.Float32bits(b) >> 16); got != want {
			t.Fatalf("%g (%#08x): %#04x, math/big gives %#04x", f, u, got, want)
		}
	}
}
