package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func runDiff(t *testing.T, want int, args ...string) diffReport {
	t.Helper()
	stdout, _ := mustRun(t, want, append([]string{"diff", "--json"}, args...)...)
	var r diffReport
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	return r
}

// TestDiffReal: every real file equals itself (its other copy when the
// repository has one).
func TestDiffReal(t *testing.T) {
	for _, rf := range realFiles(t) {
		if rf.want.Error != "" {
			continue
		}
		t.Run(rf.label, func(t *testing.T) {
			// The repository's copy, if there is one, else the file itself.
			other := filepath.Join(repoReal, rf.rel)
			if _, err := os.Stat(other); err != nil {
				other = rf.path
			}
			stdout, _ := mustRun(t, 0, "diff", rf.path, other)
			want := "equal: " + formatCount(int64(len(rf.want.Order))) + " tensor"
			if !strings.HasPrefix(stdout, want) {
				t.Errorf("stdout %q, want %q...", stdout, want)
			}
		})
	}
}

// TestDiff compares two files made by hand with one difference of each
// kind.
func TestDiff(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.safetensors", buildFile(map[string]string{"format": "pt", "a": "1", "same": "x"},
		spec{"same", "F32", []int{2}, f32(1, 2)},
		spec{"gone", "I64", nil, i64(1)},
		spec{"retyped", "F32", []int{3}, f32(1, 0.1, 65504)},
		spec{"reshaped", "F32", []int{2, 2}, f32(1, 2, 3, 4)},
		// Differences: (0,1) 2 vs 2.5, abs 0.5 rel 0.2; (1,0) -4 vs -3,
		// abs 1 rel 1/3; (1,2) 1 vs 0, abs 1, rel inf (b is 0).
		spec{"changed", "F32", []int{2, 3}, f32(1, 2, 3, -4, 5, 1)},
		spec{"signs", "F32", []int{3}, f32(0, float32(math.NaN()), 1)},
		spec{"big", "I64", []int{2}, i64(1<<53, 7)},
	))
	b := writeFile(t, dir, "b.safetensors", buildFile(map[string]string{"format": "np", "b": "2", "same": "x"},
		spec{"same", "F32", []int{2}, f32(1, 2)},
		spec{"new", "U8", []int{1, 2}, []byte{1, 2}},
		// F16: 1.0, 0.0999755859375 (0x2e66, the nearest F16 to 0.1), 65504.
		spec{"retyped", "F16", []int{3}, u16s(0x3c00, 0x2e66, 0x7bff)},
		spec{"reshaped", "F32", []int{4}, f32(1, 2, 3, 4)},
		spec{"changed", "F32", []int{2, 3}, f32(1, 2.5, 3, -3, 5, 0)},
		// -0 equals 0 and NaN equals NaN; 1 against NaN differs.
		spec{"signs", "F32", []int{3}, f32(float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.NaN()))},
		// 2^53+1 is 2^53 in float64: the bytes decide.
		spec{"big", "I64", []int{2}, i64(1<<53+1, 7)},
	))
	r := runDiff(t, 1, a, b)
	str := func(s string) *string { return &s }
	want := diffReport{
		Compared: 6,
		OnlyInA:  []diffTensor{{"gone", "I64", []int{}}},
		OnlyInB:  []diffTensor{{"new", "U8", []int{1, 2}}},
		DType:    []diffMismatch{{"retyped", "F32", "F16"}},
		Shape:    []diffMismatch{{"reshaped", "[2, 2]", "[4]"}},
		Values: []diffValues{
			{Name: "retyped", Elements: 3, Different: 1, MaxAbs: jsonFloat(0.1 - float64(float32(0.0999755859375))), First: []int{1}},
			{Name: "changed", Elements: 6, Different: 3, MaxAbs: 1, MaxRel: jsonFloat(math.Inf(1)), First: []int{0, 1}, FirstA: 2, FirstB: 2.5},
			{Name: "signs", Elements: 3, Different: 1, NaN: 1, First: []int{2}, FirstA: 1, FirstB: jsonFloat(math.NaN())},
			// 2^53 against 2^53+1: a distance of 1, exactly.
			{Name: "big", Elements: 2, Different: 1, MaxAbs: 1, MaxRel: 1.0 / (1 << 53), First: []int{0}, FirstA: 1 << 53, FirstB: 1 << 53},
		},
		Metadata: []diffMetadata{{"a", str("1"), nil}, {"b", nil, str("2")}, {"format", str("pt"), str("np")}},
	}
	// The F32 0.1 against the F16 nearest to it: computed from the two
	// float32 values, as the decoding is exact.
	w := &want.Values[0]
	a32, b16 := float64(float32(0.1)), 0.0999755859375
	w.MaxAbs, w.MaxRel, w.FirstA, w.FirstB = jsonFloat(a32-b16), jsonFloat((a32-b16)/b16), jsonFloat(a32), jsonFloat(b16)
	if !sameReport(r, want) {
		got, _ := json.MarshalIndent(r, "", " ")
		exp, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("report\n%s\nwant\n%s", got, exp)
	}

	// The text report says the same, one line per finding, then a summary.
	stdout, _ := mustRun(t, 1, "diff", a, b)
	for _, line := range []string{
		"only in A: gone (I64 [])",
		"only in B: new (U8 [1, 2])",
		"dtype: retyped: F32 in A, F16 in B",
		"shape: reshaped: [2, 2] in A, [4] in B",
		"values: changed: 3 of 6 elements differ, max abs diff 1, max rel diff inf (first at [0, 1]: 2 in A, 2.5 in B)",
		"values: signs: 1 of 3 elements differ, 1 NaN against a number (first at [2]: 1 in A, nan in B)",
		"values: big: 1 of 2 elements differ, max abs diff 1, max rel diff 1.11022e-16 (first at [0]: 9.0072e+15 in A, 9.0072e+15 in B)",
		`metadata: format: "pt" in A, "np" in B`,
		"metadata: a: only in A",
		"metadata: b: only in B",
		"different (A is " + a + ", B is " + b + "): 1 only in A, 1 only in B, 1 with another dtype, 1 with another shape, 4 with other values, 3 metadata keys",
	} {
		if !strings.Contains(stdout, line+"\n") {
			t.Errorf("no line %q in\n%s", line, stdout)
		}
	}

	// --no-metadata and tolerances.
	r = runDiff(t, 1, "--no-metadata", "--atol", "1", a, b)
	if len(r.Metadata) != 0 {
		t.Errorf("--no-metadata: %v", r.Metadata)
	}
	var names []string
	for _, v := range r.Values {
		names = append(names, v.Name)
	}
	// Within 1: all of "changed" and "retyped"; not NaN against 1, nor the
	// bytes of integers.
	if !reflect.DeepEqual(names, []string{"signs", "big"}) {
		t.Errorf("--atol 1: values differ in %v", names)
	}
}

func sameReport(a, b diffReport) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestDiffChunks finds the one element that differs in the second chunk of
// a large tensor, and reports its position in the shape.
func TestDiffChunks(t *testing.T) {
	const rows, cols = 1025, 1024 // 1M + 1024 elements: two chunks
	va := make([]float32, rows*cols)
	for i := range va {
		va[i] = float32(i % 1000)
	}
	vb := append([]float32{}, va...)
	vb[1024*1024+5] += 0.5 // row 1024, column 5
	dir := t.TempDir()
	a := writeFile(t, dir, "a.safetensors", buildFile(nil, spec{"w", "F32", []int{rows, cols}, f32(va...)}))
	b := writeFile(t, dir, "b.safetensors", buildFile(nil, spec{"w", "F32", []int{rows, cols}, f32(vb...)}))
	r := runDiff(t, 1, a, b)
	if len(r.Values) != 1 || r.Values[0].Different != 1 || !reflect.DeepEqual(r.Values[0].First, []int{1024, 5}) || r.Values[0].MaxAbs != 0.5 {
		t.Errorf("got %+v", r.Values)
	}
	if r := runDiff(t, 0, a, a); !r.Equal || r.Compared != 1 {
		t.Errorf("a against itself: %+v", r)
	}
}

func TestDiffErrors(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.safetensors", buildFile(nil, spec{"w", "F32", []int{1}, f32(1)}))
	bad := writeFile(t, dir, "bad.safetensors", []byte{1, 2})
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{a, filepath.Join(dir, "missing")}, "missing: no such file or directory"},
		{[]string{bad, a}, "bad.safetensors: header too small"},
		{[]string{a}, "accepts 2 arg(s), received 1"},
		{[]string{"--atol", "-1", a, a}, "--atol and --rtol must be at least 0"},
		{[]string{"--rtol", "x", a, a}, "invalid argument"},
	} {
		_, stderr, code := cli(t, append([]string{"diff"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("diff %v: exit code %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.stderr)
		}
	}
}
