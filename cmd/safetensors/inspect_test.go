package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// errorWords maps the reference's error classes of real_expected.json to
// the words of our messages.
var errorWords = map[string]string{
	"HeaderTooSmall":      "header too small",
	"HeaderTooLarge":      "header too large",
	"InvalidHeaderLength": "invalid header length",
	"InvalidHeader":       "invalid header",
	"InvalidOffset":       "invalid offset",
	"TensorInvalidInfo":   "invalid tensor info",
}

// TestInspectJSONReal parses inspect --json of every real file back and
// compares it with the independent Python reading, and the schema with the
// one documented: exactly these keys, tensors in buffer order.
func TestInspectJSONReal(t *testing.T) {
	for _, rf := range realFiles(t) {
		t.Run(rf.label, func(t *testing.T) {
			stdout, stderr, code := cli(t, "inspect", "--json", rf.path)
			if rf.want.Error != "" {
				if code != 1 || !strings.Contains(stderr, errorWords[rf.want.Error]) || !strings.Contains(stderr, rf.path) {
					t.Fatalf("exit code %d, stderr %q; want 1 and %q", code, stderr, errorWords[rf.want.Error])
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr)
			}
			checkInspectSchema(t, []byte(stdout), false)
			var got inspectOutput
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(rf.path)
			if err != nil {
				t.Fatal(err)
			}
			if got.FileSize != st.Size() {
				t.Errorf("file_size %d, the file has %d bytes", got.FileSize, st.Size())
			}
			if got.HeaderSize != rf.want.HeaderSize {
				t.Errorf("header_size %d, want %d", got.HeaderSize, rf.want.HeaderSize)
			}
			if !reflect.DeepEqual(got.Metadata, rf.want.Metadata) {
				t.Errorf("metadata %v, want %v", got.Metadata, rf.want.Metadata)
			}
			var names []string
			for _, tj := range got.Tensors {
				names = append(names, tj.Name)
				w := rf.want.Tensors[tj.Name]
				if tj.DType != w.DType || !slices.Equal(tj.Shape, w.Shape) || tj.DataOffsets != w.DataOffsets {
					t.Errorf("tensor %q: %s %v %v, want %s %v %v", tj.Name, tj.DType, tj.Shape, tj.DataOffsets, w.DType, w.Shape, w.DataOffsets)
				}
			}
			if !slices.Equal(names, rf.want.Order) {
				t.Errorf("tensors in order\n%q\nwant the buffer order\n%q", names, rf.want.Order)
			}
		})
	}
}

// checkInspectSchema checks that inspect's JSON has exactly the documented
// keys, shapes as arrays (never null) and offsets as pairs.
func checkInspectSchema(t *testing.T, b []byte, sharded bool) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	want := []string{"file_size", "header_size", "metadata", "tensors"}
	if sharded {
		want = append(want, "files")
	}
	if got := sortedKeys(top); !sameSet(got, want) {
		t.Errorf("top-level keys %q, want %q", got, want)
	}
	var tensors []map[string]json.RawMessage
	if err := json.Unmarshal(top["tensors"], &tensors); err != nil {
		t.Fatalf("tensors: %v", err)
	}
	tkeys := []string{"name", "dtype", "shape", "data_offsets"}
	if sharded {
		tkeys = append(tkeys, "file")
	}
	for _, tj := range tensors {
		if got := sortedKeys(tj); !sameSet(got, tkeys) {
			t.Errorf("tensor keys %q, want %q", got, tkeys)
		}
		var shape []int
		if s := string(tj["shape"]); s == "null" || json.Unmarshal(tj["shape"], &shape) != nil {
			t.Errorf("shape %s is not an array of integers", s)
		}
		var offs []int64
		if err := json.Unmarshal(tj["data_offsets"], &offs); err != nil || len(offs) != 2 {
			t.Errorf("data_offsets %s is not a pair of integers", tj["data_offsets"])
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestInspectTable checks the table and the totals of a file made by hand,
// whose every number is known: two F32 tensors of 6 and 2 elements, an I64
// scalar, and an empty BF16 tensor, in that order in the buffer.
func TestInspectTable(t *testing.T) {
	b := buildFile(map[string]string{"format": "pt"},
		spec{"w", "F32", []int{2, 3}, f32(1, 2, 3, 4, 5, 6)},
		spec{"bias", "F32", []int{2}, f32(7, 8)},
		spec{"step", "I64", nil, i64(42)},
		spec{"empty", "BF16", []int{0, 4}, nil},
	)
	hlen := int64(binary.LittleEndian.Uint64(b))
	p := writeFile(t, t.TempDir(), "m.safetensors", b)
	stdout, _ := mustRun(t, 0, "inspect", p)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	wantRows := [][]string{
		{"NAME", "DTYPE", "SHAPE", "SIZE", "OFFSETS"},
		{"w", "F32", "[2, 3]", "24 B", "[0, 24]"},
		{"bias", "F32", "[2]", "8 B", "[24, 32]"},
		{"step", "I64", "[]", "8 B", "[32, 40]"},
		{"empty", "BF16", "[0, 4]", "0 B", "[40, 40]"},
	}
	for i, want := range wantRows {
		if got := splitColumns(lines[i]); !slices.Equal(got, want) {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}
	if lines[len(wantRows)] != "" {
		t.Errorf("no blank line after the table: %q", lines[len(wantRows)])
	}
	totals := parseTotals(stdout)
	fileSize := int64(len(b))
	want := map[string]string{
		"tensors":     "4",
		"parameters":  "9", // 6 + 2 + 1 (a scalar) + 0
		"F32":         "32 bytes in 2 tensors",
		"I64":         "8 bytes in 1 tensor",
		"BF16":        "0 bytes in 1 tensor",
		"header size": formatCount(hlen) + " bytes",
		"file size":   formatCount(fileSize) + " bytes",
	}
	if !reflect.DeepEqual(totals, want) {
		t.Errorf("totals\n%v\nwant\n%v\n%s", totals, want, stdout)
	}
	if fileSize != 8+hlen+40 {
		t.Fatalf("test file of %d bytes, expected %d", fileSize, 8+hlen+40)
	}
}

// parseTotals returns the lines after inspect's table as a map from the
// first column to the rest.
func parseTotals(stdout string) map[string]string {
	_, after, _ := strings.Cut(stdout, "\n\n")
	totals := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(after, "\n"), "\n") {
		k, v, _ := strings.Cut(l, "  ")
		totals[k] = strings.TrimSpace(v)
	}
	return totals
}

// splitColumns splits a table row on runs of two or more spaces.
func splitColumns(line string) []string {
	var out []string
	for _, f := range strings.Split(line, "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// TestInspectTableReal checks the totals of a real file against the Python
// reading: the parameter count and the bytes per dtype.
func TestInspectTableReal(t *testing.T) {
	for _, rf := range realFiles(t) {
		if rf.want.Error != "" {
			continue
		}
		t.Run(rf.label, func(t *testing.T) {
			stdout, _ := mustRun(t, 0, "inspect", rf.path)
			var params int64
			perDType := map[string]int64{}
			for _, w := range rf.want.Tensors {
				n := int64(1)
				for _, d := range w.Shape {
					n *= int64(d)
				}
				params += n
				perDType[w.DType] += w.DataOffsets[1] - w.DataOffsets[0]
			}
			totals := parseTotals(stdout)
			if got, _, _ := strings.Cut(totals["parameters"], " "); got != formatCount(params) {
				t.Errorf("parameters %q, want %s", totals["parameters"], formatCount(params))
			}
			for dt, n := range perDType {
				if got, _, _ := strings.Cut(totals[dt], " "); got != formatCount(n) {
					t.Errorf("%s: %q, want %d bytes", dt, totals[dt], n)
				}
			}
			if totals["tensors"] != formatCount(int64(len(rf.want.Order))) {
				t.Errorf("tensors %q, want %d", totals["tensors"], len(rf.want.Order))
			}
			// One row per tensor, after the column titles.
			table, _, _ := strings.Cut(stdout, "\n\n")
			if rows := strings.Count(table, "\n"); rows != len(rf.want.Order) {
				t.Errorf("%d rows, want %d", rows, len(rf.want.Order))
			}
		})
	}
}

// TestInspectControlCharacters checks that a name with a newline or an escape
// sequence cannot break the table or act on the terminal.
func TestInspectControlCharacters(t *testing.T) {
	p := writeFile(t, t.TempDir(), "c.safetensors", buildFile(nil,
		spec{"a\nb\x1b[31m", "U8", []int{1}, []byte{1}}))
	stdout, _ := mustRun(t, 0, "inspect", p)
	if strings.Contains(stdout, "\x1b") || !strings.Contains(stdout, `"a\nb\x1b[31m"`) {
		t.Errorf("the name is not quoted:\n%q", stdout)
	}
	// JSON keeps names exact, one tensor per line.
	p = writeFile(t, t.TempDir(), "d.safetensors", buildFile(nil,
		spec{"a\nb\x1b[31m", "U8", []int{1}, []byte{1}},
		spec{`x,"y`, "U8", []int{1}, []byte{1}},
		spec{"z,", "U8", []int{1}, []byte{1}},
		spec{"<s1>", "U8", []int{1}, []byte{1}},
	))
	stdout, _ = mustRun(t, 0, "inspect", "--json", p)
	var got inspectOutput
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tj := range got.Tensors {
		names = append(names, tj.Name)
	}
	if want := []string{"a\nb\x1b[31m", `x,"y`, "z,", "<s1>"}; !slices.Equal(names, want) {
		t.Errorf("JSON names %q, want %q", names, want)
	}
	if !strings.Contains(stdout, "\n    {\"name\":\"<s1>\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,4]}\n") {
		t.Errorf("not one tensor per line:\n%s", stdout)
	}
}
