package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExtractReal extracts, from every real file, the tensors that a glob
// chooses, and checks the output against the Python reading of the source:
// the names that path.Match gives, each with its dtype, shape and sha256.
func TestExtractReal(t *testing.T) {
	dir := t.TempDir()
	for _, rf := range realFiles(t) {
		if rf.want.Error != "" || len(rf.want.Order) == 0 {
			continue
		}
		t.Run(rf.label, func(t *testing.T) {
			// The first name's part up to its first dot, and whatever follows.
			first := rf.want.Order[0]
			prefix, _, _ := strings.Cut(first, ".")
			pattern := prefix + "*"
			if strings.ContainsAny(prefix, `*?[\`) {
				pattern = first
			}
			var want []string
			for _, name := range rf.want.Order {
				if ok, _ := path.Match(pattern, name); ok || name == pattern {
					want = append(want, name)
				}
			}
			out := filepath.Join(dir, strings.ReplaceAll(rf.label, "/", "_"))
			mustRun(t, 0, "extract", rf.path, out, pattern)
			got, meta := readRaw(t, out)
			if len(got) != len(want) {
				t.Errorf("%d tensors, want %d (%q)", len(got), len(want), want)
			}
			for _, name := range want {
				g, w := got[name], rf.want.Tensors[name]
				sum := sha256.Sum256(g.data)
				if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || hex.EncodeToString(sum[:]) != w.SHA256 {
					t.Errorf("%s: %s %v %x, want %s %v %s", name, g.DType, g.Shape, sum, w.DType, w.Shape, w.SHA256)
				}
			}
			if !mapsEqual(meta, rf.want.Metadata) {
				t.Errorf("metadata %v, want %v", meta, rf.want.Metadata)
			}
		})
	}
}

// TestExtractSlices slices tensors made by hand and compares the result with
// the elements NumPy's basic indexing selects, worked out by hand.
func TestExtractSlices(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.safetensors", buildFile(map[string]string{"format": "pt"},
		// m = arange(12).reshape(3, 4)
		spec{"m", "F32", []int{3, 4}, f32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)},
		spec{"v", "I64", []int{4}, i64(10, 20, 30, 40)},
		spec{"f4", "F4", []int{4}, []byte{0x21, 0x43}},
	))
	for _, tc := range []struct {
		arg   string
		shape []int
		data  []byte
	}{
		{"m[1:, ::2]", []int{2, 2}, f32(4, 6, 8, 10)},
		{"m[-1]", []int{4}, f32(8, 9, 10, 11)},
		{"m[..., 1]", []int{3}, f32(1, 5, 9)},
		{"m[::-1, 0]", []int{3}, f32(8, 4, 0)},
		{"m[None, 0]", []int{1, 4}, f32(0, 1, 2, 3)},
		{"m[5:]", []int{0, 4}, nil}, // clamped: empty
		{"m[:, -2:]", []int{3, 2}, f32(2, 3, 6, 7, 10, 11)},
		{"v[1:3]", []int{2}, i64(20, 30)},
		{"v[::-2]", []int{2}, i64(40, 20)},
		{"f4[2:]", []int{2}, []byte{0x43}}, // whole bytes of F4
		{"m", []int{3, 4}, f32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			out := filepath.Join(dir, "out.safetensors")
			mustRun(t, 0, "extract", "-f", in, out, tc.arg)
			got, meta := readRaw(t, out)
			if len(got) != 1 || meta["format"] != "pt" {
				t.Fatalf("tensors %v, metadata %v", got, meta)
			}
			for name, g := range got {
				if !strings.HasPrefix(tc.arg, name) || !slices.Equal(g.Shape, tc.shape) || !bytes.Equal(g.data, tc.data) {
					t.Errorf("%s %v % x, want %v % x", name, g.Shape, g.data, tc.shape, tc.data)
				}
			}
		})
	}

	// Several arguments; a tensor chosen twice whole is written once.
	out := filepath.Join(dir, "two.safetensors")
	if stdout, _ := mustRun(t, 0, "extract", "--no-metadata", in, out, "m[0]", "v", "[v]", "f4"); stdout != out+": 3 tensors, "+formatSize(fileSize(t, out))+"\n" {
		t.Errorf("stdout %q", stdout)
	}
	got, meta := readRaw(t, out)
	if meta != nil || len(got) != 3 || !bytes.Equal(got["m"].data, f32(0, 1, 2, 3)) || !bytes.Equal(got["v"].data, i64(10, 20, 30, 40)) {
		t.Errorf("got %v, metadata %v", got, meta)
	}
}

func TestExtractErrors(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.safetensors", buildFile(nil,
		spec{"m", "F32", []int{2, 2}, f32(0, 1, 2, 3)},
		spec{"f4", "F4", []int{4}, []byte{0x21, 0x43}},
		spec{"s", "F32", nil, f32(1)},
	))
	out := filepath.Join(dir, "out.safetensors")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"nothing*"}, 1, `no tensor matches "nothing*"`},
		{[]string{"m[0]", "m[1]"}, 1, `tensor "m" is chosen twice, by "m[0]" and "m[1]"`},
		{[]string{"m[2]"}, 1, `in.safetensors: invalid slice: tensor "m"`},
		{[]string{"s[0]"}, 1, "too many indices"},
		{[]string{"f4[1:2]"}, 1, "misaligned slice"},
		{[]string{"m[", "x"}, 2, `bad pattern "m["`},
		{nil, 2, "requires at least 3 arg(s)"},
	} {
		args := append([]string{"extract", in, out}, tc.args...)
		if tc.args == nil {
			args = []string{"extract", in, out}
		}
		_, stderr, code := cli(t, args...)
		if code != tc.code || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%v: exit code %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: OUT was written", tc.args)
		}
	}
}
