package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// statsJSON is one tensor of stats --json, read back with plain types.
type statsJSON struct {
	Name       string  `json:"name"`
	DType      string  `json:"dtype"`
	Shape      []int   `json:"shape"`
	Count      int64   `json:"count"`
	Finite     int64   `json:"finite"`
	Min        any     `json:"min"`
	Max        any     `json:"max"`
	Mean       any     `json:"mean"`
	Std        any     `json:"std"`
	NaN        int64   `json:"nan"`
	PosInf     int64   `json:"pos_inf"`
	NegInf     int64   `json:"neg_inf"`
	HistMin    any     `json:"hist_min"`
	HistMax    any     `json:"hist_max"`
	HistCounts []int64 `json:"hist_counts"`
}

type statsExpected struct {
	Count      int64   `json:"count"`
	Finite     int64   `json:"finite"`
	NaN        int64   `json:"nan"`
	PosInf     int64   `json:"pos_inf"`
	NegInf     int64   `json:"neg_inf"`
	Min        float64 `json:"min"`
	Max        float64 `json:"max"`
	Mean       float64 `json:"mean"`
	Std        float64 `json:"std"`
	HistMin    float64 `json:"hist_min"`
	HistMax    float64 `json:"hist_max"`
	HistCounts []int64 `json:"hist_counts"`
}

func runStats(t *testing.T, args ...string) map[string]statsJSON {
	t.Helper()
	stdout, _ := mustRun(t, 0, append([]string{"stats", "--json"}, args...)...)
	var list []statsJSON
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	out := map[string]statsJSON{}
	for _, s := range list {
		out[s.Name] = s
	}
	return out
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "nan":
			return math.NaN()
		case "inf":
			return math.Inf(1)
		case "-inf":
			return math.Inf(-1)
		}
	}
	return math.NaN()
}

// near reports whether got is within a relative 1e-9 of want (absolute
// 1e-12 near zero): the sums are made in another order than NumPy's.
func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Abs(want)+1e-12
}

// TestStatsReal compares stats --json of every real file with NumPy's
// statistics of the same values (testdata/gen_expected_stats.py).
func TestStatsReal(t *testing.T) {
	raw, err := os.ReadFile("testdata/stats_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]map[string]statsExpected
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, root := range realRoots {
		for _, rel := range sortedKeys(all) {
			p := filepath.Join(root.dir, rel)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			found++
			t.Run(root.name+"/"+rel, func(t *testing.T) {
				got := runStats(t, p)
				if len(got) != len(all[rel]) {
					t.Errorf("%d tensors, want %d", len(got), len(all[rel]))
				}
				for name, w := range all[rel] {
					g, ok := got[name]
					if !ok {
						t.Errorf("%s: missing", name)
						continue
					}
					if g.Count != w.Count || g.Finite != w.Finite || g.NaN != w.NaN || g.PosInf != w.PosInf || g.NegInf != w.NegInf {
						t.Errorf("%s: counts %d/%d/%d/%d/%d, want %d/%d/%d/%d/%d", name,
							g.Count, g.Finite, g.NaN, g.PosInf, g.NegInf, w.Count, w.Finite, w.NaN, w.PosInf, w.NegInf)
					}
					if w.Finite == 0 {
						continue
					}
					if num(g.Min) != w.Min || num(g.Max) != w.Max {
						t.Errorf("%s: min %v max %v, want %v %v", name, g.Min, g.Max, w.Min, w.Max)
					}
					if !near(num(g.Mean), w.Mean) || !near(num(g.Std), w.Std) {
						t.Errorf("%s: mean %v std %v, want %v %v", name, g.Mean, g.Std, w.Mean, w.Std)
					}
					if num(g.HistMin) != w.HistMin || num(g.HistMax) != w.HistMax || !slices.Equal(g.HistCounts, w.HistCounts) {
						t.Errorf("%s: histogram %v..%v %v, want %v..%v %v", name, g.HistMin, g.HistMax, g.HistCounts, w.HistMin, w.HistMax, w.HistCounts)
					}
				}
			})
		}
	}
	if found == 0 {
		t.Skip("no real files")
	}
}

// f16bits and friends write raw little-endian codes.
func u16s(v ...uint16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint16(b, x)
	}
	return b
}

func f64s(v ...float64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// TestStatsByHand checks tensors whose statistics are worked out by hand,
// in dtypes the real files lack, and the table.
func TestStatsByHand(t *testing.T) {
	p := writeFile(t, t.TempDir(), "h.safetensors", buildFile(nil,
		// 1, 2, 3, 4: mean 2.5, population std sqrt(1.25); 4 bins of one each.
		spec{"f32", "F32", []int{2, 2}, f32(1, 2, 3, 4)},
		// F16 codes: 1.0 (0x3c00), NaN (0x7e00), +Inf (0x7c00), -Inf (0xfc00), -2.0 (0xc000).
		spec{"f16", "F16", []int{5}, u16s(0x3c00, 0x7e00, 0x7c00, 0xfc00, 0xc000)},
		// BF16 1.0 (0x3f80) and 3.0 (0x4040).
		spec{"bf16", "BF16", []int{2}, u16s(0x3f80, 0x4040)},
		// F8_E4M3: 0x38 is 1.0 (exponent 7 - bias 7), 0x40 is 2.0, 0x7f NaN.
		spec{"f8", "F8_E4M3", []int{3}, []byte{0x38, 0x40, 0x7f}},
		// F4 (E2M1), two per byte, low nibble first: 0x2 = 1.0, 0x9 = -0.5;
		// 0x7 = 6.0, 0x0 = 0.
		spec{"f4", "F4", []int{4}, []byte{0x92, 0x07}},
		// F64 1e300 is finite (not an F32 infinity).
		spec{"f64", "F64", []int{2}, f64s(1e300, -1e300)},
		// C64: 1+2i and NaN+0i, as four F32 values.
		spec{"c64", "C64", []int{2}, f32(1, 2, float32(math.NaN()), 0)},
		// BOOL: any nonzero byte is true.
		spec{"bool", "BOOL", []int{3}, []byte{0, 1, 7}},
		spec{"i64", "I64", []int{2}, i64(-5, 5)},
		spec{"empty", "F32", []int{0}, nil},
	))
	got := runStats(t, "--bins", "4", p)
	for _, w := range []struct {
		name                   string
		count, nan, pinf, ninf int64
		min, max, mean, std    float64
		hist                   []int64
	}{
		{"f32", 4, 0, 0, 0, 1, 4, 2.5, math.Sqrt(1.25), []int64{1, 1, 1, 1}},
		{"f16", 5, 1, 1, 1, -2, 1, -0.5, 1.5, []int64{1, 0, 0, 1}},
		{"bf16", 2, 0, 0, 0, 1, 3, 2, 1, []int64{1, 0, 0, 1}},
		{"f8", 3, 1, 0, 0, 1, 2, 1.5, 0.5, []int64{1, 0, 0, 1}},
		// 1, -0.5, 6, 0: mean 1.625; deviations -0.625 -2.125 4.375 -1.625.
		{"f4", 4, 0, 0, 0, -0.5, 6, 1.625, math.Sqrt((0.390625 + 4.515625 + 19.140625 + 2.640625) / 4), []int64{3, 0, 0, 1}},
		{"f64", 2, 0, 0, 0, -1e300, 1e300, 0, 1e300, []int64{1, 0, 0, 1}},
		{"c64", 4, 1, 0, 0, 0, 2, 1, math.Sqrt(2.0 / 3), []int64{1, 0, 1, 1}},
		{"bool", 3, 0, 0, 0, 0, 1, 2.0 / 3, math.Sqrt(2.0 / 9), []int64{1, 0, 0, 2}},
		{"i64", 2, 0, 0, 0, -5, 5, 0, 5, []int64{1, 0, 0, 1}},
	} {
		g := got[w.name]
		if g.Count != w.count || g.NaN != w.nan || g.PosInf != w.pinf || g.NegInf != w.ninf {
			t.Errorf("%s: counts %d %d %d %d, want %d %d %d %d", w.name, g.Count, g.NaN, g.PosInf, g.NegInf, w.count, w.nan, w.pinf, w.ninf)
		}
		if num(g.Min) != w.min || num(g.Max) != w.max || !near(num(g.Mean), w.mean) || !near(num(g.Std), w.std) {
			t.Errorf("%s: min %v max %v mean %v std %v, want %v %v %v %v", w.name, g.Min, g.Max, g.Mean, g.Std, w.min, w.max, w.mean, w.std)
		}
		if !slices.Equal(g.HistCounts, w.hist) {
			t.Errorf("%s: histogram %v, want %v", w.name, g.HistCounts, w.hist)
		}
	}
	if e := got["empty"]; e.Count != 0 || e.Min != "nan" || len(e.HistCounts) != 0 {
		t.Errorf("empty: %+v", e)
	}

	// The table: one row per tensor, the histogram between ▕ and ▏.
	stdout, _ := mustRun(t, 0, "stats", "--bins", "4", p, "f32", "f1*")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	want := [][]string{
		{"NAME", "DTYPE", "SHAPE", "MIN", "MAX", "MEAN", "STD", "NAN", "INF", "HISTOGRAM"},
		{"f32", "F32", "[2, 2]", "1", "4", "2.5", "1.11803", "0", "0", "▕████▏"},
		{"f16", "F16", "[5]", "-2", "1", "-0.5", "1.5", "1", "2", "▕█  █▏"},
	}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", stdout)
	}
	for i := range want {
		// The histogram may hold spaces: it is the rest of the line.
		hist := want[i][len(want[i])-1]
		if got := splitColumns(strings.TrimSuffix(lines[i], hist)); !slices.Equal(got, want[i][:len(want[i])-1]) || !strings.HasSuffix(lines[i], hist) {
			t.Errorf("row %d: %q, want %q", i, lines[i], want[i])
		}
	}
}

// TestStatsChunks checks a tensor of more than one chunk (0, 1, ...,
// N-1 as F32), whose mean, std and histogram follow from arithmetic:
// mean (N-1)/2, population std sqrt((N^2-1)/12), and value k in bin
// floor(k*bins/(N-1)), the last value in the last bin.
func TestStatsChunks(t *testing.T) {
	const n = chunkElems + 3
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i)
	}
	p := writeFile(t, t.TempDir(), "big.safetensors", buildFile(nil, spec{"ramp", "F32", []int{n}, f32(vals...)}))
	g := runStats(t, p)["ramp"]
	const bins = 24
	hist := make([]int64, bins)
	for k := int64(0); k < n; k++ {
		hist[min(k*bins/(n-1), bins-1)]++
	}
	if g.Count != n || num(g.Min) != 0 || num(g.Max) != n-1 ||
		!near(num(g.Mean), float64(n-1)/2) || !near(num(g.Std), math.Sqrt((float64(n)*n-1)/12)) {
		t.Errorf("got %+v", g)
	}
	if !slices.Equal(g.HistCounts, hist) {
		t.Errorf("histogram %v, want %v", g.HistCounts, hist)
	}
}

func TestStatsErrors(t *testing.T) {
	p := writeFile(t, t.TempDir(), "s.safetensors", buildFile(nil, spec{"a", "F32", []int{1}, f32(1)}))
	if _, stderr, code := cli(t, "stats", p, "nothing*"); code != 1 || !strings.Contains(stderr, `no tensor matches "nothing*"`) {
		t.Errorf("exit code %d, stderr %q", code, stderr)
	}
	if _, stderr, code := cli(t, "stats", p, "[x"); code != 2 || !strings.Contains(stderr, "bad pattern") {
		t.Errorf("exit code %d, stderr %q", code, stderr)
	}
	if _, _, code := cli(t, "stats", "--bins", "0", p); code != 2 {
		t.Errorf("--bins 0: exit code %d", code)
	}
}
