package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The team's corpus of real files, and the copies of the freely licensed ones
// kept in the repository, with what an independent Python reader found in
// them (scripts/expected_real.py).
const (
	sharedReal   = "../../../shared/testdata/real"
	repoReal     = "../../testdata/real"
	expectedJSON = "../../testdata/real_expected.json"
)

// realRoots are the two places real files are found.
var realRoots = []struct{ name, dir string }{{"shared", sharedReal}, {"repo", repoReal}}

// cli runs the program in-process and returns its output and exit code.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// mustRun runs the program and fails the test unless it exits with want.
func mustRun(t *testing.T, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := cli(t, args...)
	if code != want {
		t.Fatalf("safetensors %s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// expectedFile is one entry of real_expected.json.
type expectedFile struct {
	FileSHA256 string              `json:"file_sha256"`
	HeaderSize int64               `json:"header_size"`
	Metadata   map[string]string   `json:"metadata"`
	Order      []string            `json:"order"`
	Tensors    map[string]expected `json:"tensors"`
	Error      string              `json:"error"`
}

type expected struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
	SHA256      string   `json:"sha256"`
}

// realFile is a real file found on disk, with its expectations.
type realFile struct {
	label string // "shared/" or "repo/", then rel: the test's name
	rel   string // the path in the corpus: "torch/burn_mnist.safetensors"
	path  string
	want  expectedFile
}

// realFiles returns every file of real_expected.json found in the shared
// corpus and in the repository's copies (each copy is a case of its own).
// It skips the test when neither exists.
func realFiles(t *testing.T) []realFile {
	t.Helper()
	raw, err := os.ReadFile(expectedJSON)
	if err != nil {
		t.Skipf("no expectations: %v", err)
	}
	var all map[string]expectedFile
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var out []realFile
	for _, root := range realRoots {
		for _, rel := range sortedKeys(all) {
			p := filepath.Join(root.dir, rel)
			if _, err := os.Stat(p); err == nil {
				out = append(out, realFile{label: root.name + "/" + rel, rel: rel, path: p, want: all[rel]})
			}
		}
	}
	if len(out) == 0 {
		t.Skip("no real files")
	}
	return out
}

// sharedFile returns the path of a file of the shared corpus, skipping the
// test when the corpus is absent.
func sharedFile(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(sharedReal, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s: not available", rel)
	}
	return p
}

// realPath returns a real file from the shared corpus or, failing that, the
// repository's copy.
func realPath(t *testing.T, rel string) string {
	t.Helper()
	for _, root := range []string{sharedReal, repoReal} {
		p := filepath.Join(root, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("%s: not available", rel)
	return ""
}

// spec is a tensor for buildFile: its header entry and its bytes.
type spec struct {
	name, dtype string
	shape       []int
	data        []byte
}

// buildFile makes the bytes of a safetensors file by hand, independently of
// the library: the tensors' data in the order given, the header padded with
// spaces to a multiple of 8. metadata may be nil.
func buildFile(metadata map[string]string, tensors ...spec) []byte {
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	if metadata != nil {
		m, _ := json.Marshal(metadata)
		h.WriteString(`"__metadata__":`)
		h.Write(m)
		first = false
	}
	var off int
	var data []byte
	for _, s := range tensors {
		if !first {
			h.WriteByte(',')
		}
		first = false
		name, _ := json.Marshal(s.name)
		shape, _ := json.Marshal(s.shape)
		if s.shape == nil {
			shape = []byte("[]")
		}
		h.Write(name)
		h.WriteString(`:{"dtype":"` + s.dtype + `","shape":` + string(shape) +
			`,"data_offsets":[` + strconv.Itoa(off) + `,` + strconv.Itoa(off+len(s.data)) + `]}`)
		off += len(s.data)
		data = append(data, s.data...)
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(h.Len()))
	out = append(out, h.Bytes()...)
	return append(out, data...)
}

// writeFile writes bytes to a new file in dir and returns its path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// f32 returns the little-endian bytes of float32 values.
func f32(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// i64 returns the little-endian bytes of int64 values.
func i64(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// rawTensor is a tensor read from a file by hand, without the library.
type rawTensor struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
	data        []byte
}

// readRaw reads a safetensors file with encoding/json and encoding/binary
// only: its tensors with their bytes, and its metadata.
func readRaw(t *testing.T, path string) (map[string]rawTensor, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var meta map[string]string
	tensors := map[string]rawTensor{}
	for k, v := range header {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var rt rawTensor
		if err := json.Unmarshal(v, &rt); err != nil {
			t.Fatal(err)
		}
		rt.data = b[8+int64(n)+rt.DataOffsets[0] : 8+int64(n)+rt.DataOffsets[1]]
		tensors[k] = rt
	}
	return tensors, meta
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string // a substring of stdout
		stderr string // a substring of stderr
	}{
		{args: nil, code: 0, stdout: "Available Commands:"},
		{args: []string{"--help"}, code: 0, stdout: "inspect"},
		{args: []string{"help", "inspect"}, code: 0, stdout: `"data_offsets": [begin, end]`},
		{args: []string{"inspect", "--help"}, code: 0, stdout: "--json"},
		{args: []string{"completion", "bash"}, code: 0, stdout: "bash completion"},
		{args: []string{"completion", "zsh"}, code: 0, stdout: "compdef"},
		{args: []string{"completion", "fish"}, code: 0, stdout: "complete -c safetensors"},
		// What the shells' scripts ask: dtypes for --dtype, commands by prefix.
		{args: []string{"__complete", "convert", "--dtype", ""}, code: 0, stdout: "bf16\nf32\nf64\nf8_e4m3\n"},
		{args: []string{"__complete", "insp"}, code: 0, stdout: "inspect\tList the tensors"},
		{args: []string{"bogus"}, code: 2, stderr: `unknown command "bogus"`},
		{args: []string{"inspct"}, code: 2, stderr: "Did you mean this?"},
		{args: []string{"inspect"}, code: 2, stderr: "Run 'safetensors inspect --help' for usage."},
		{args: []string{"inspect", "a", "b"}, code: 2, stderr: "accepts 1 arg(s), received 2"},
		{args: []string{"inspect", "--nope", "x"}, code: 2, stderr: "unknown flag: --nope"},
		{args: []string{"--nope"}, code: 2, stderr: "unknown flag: --nope"},
		{args: []string{"verify"}, code: 2, stderr: "requires at least 1 arg(s)"},
		{args: []string{"meta"}, code: 2, stderr: "accepts 1 arg(s), received 0"},
		{args: []string{"convert", "a", "b"}, code: 2, stderr: "required flag(s) \"dtype\" not set\nRun 'safetensors convert --help' for usage."},
		{args: []string{"convert", "--dtype", "q8", "a", "b"}, code: 2, stderr: `--dtype: unknown dtype "q8"`},
		{args: []string{"help", "convert"}, code: 0, stdout: "streams"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			stdout, stderr, code := cli(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr)
			}
			if tc.code == 2 && !strings.HasPrefix(stderr, "safetensors: ") {
				t.Errorf("usage error does not start with the program's name:\n%s", stderr)
			}
			if tc.code == 0 && stderr != "" && tc.args[0] != "__complete" { // it logs its directive
				t.Errorf("stderr on success:\n%s", stderr)
			}
		})
	}
}

// TestErrorLine checks the shape of a runtime error: one line on stderr that
// names the program, the file, the rule and the tensor, and exit code 1.
func TestErrorLine(t *testing.T) {
	dir := t.TempDir()
	good := buildFile(nil, spec{"a", "F32", []int{2}, f32(1, 2)}, spec{"b", "F32", []int{1}, f32(3)})
	// Make b overlap a: its data_offsets [8,12] become [4,8], leaving 4 bytes
	// at the end.
	bad := bytes.Replace(good, []byte(`"data_offsets":[8,12]`), []byte(`"data_offsets":[4,8] `), 1)
	if bytes.Equal(bad, good) {
		t.Fatal("the header was not patched")
	}
	p := writeFile(t, dir, "overlap.safetensors", bad)
	for _, cmd := range []string{"inspect", "meta"} {
		stdout, stderr, code := cli(t, cmd, p)
		if code != 1 {
			t.Errorf("%s: exit code %d, want 1", cmd, code)
		}
		if stdout != "" {
			t.Errorf("%s: stdout %q, want nothing", cmd, stdout)
		}
		want := "safetensors: " + p + `: invalid offset: tensor "b": `
		if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: stderr\n%q\nwant one line starting with\n%q", cmd, stderr, want)
		}
	}

	_, stderr, code := cli(t, "inspect", filepath.Join(dir, "missing.safetensors"))
	if code != 1 || stderr != "safetensors: "+filepath.Join(dir, "missing.safetensors")+": no such file or directory\n" {
		t.Errorf("missing file: exit code %d, stderr %q", code, stderr)
	}
}

// TestInterrupt runs long commands with a cancelled context, as an interrupt
// leaves it: they stop with exit code 130, say so in one line, and leave no
// output or temporary file behind.
func TestInterrupt(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.safetensors", buildFile(map[string]string{"sshs_model_hash": "00"},
		spec{"w", "F32", []int{4}, f32(1, 2, 3, 4)}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, args := range [][]string{
		{"convert", "--dtype", "bf16", in, filepath.Join(dir, "out.safetensors")},
		{"extract", in, filepath.Join(dir, "out.safetensors"), "w"},
		{"merge", in, filepath.Join(dir, "out.safetensors")},
		{"split", in, filepath.Join(dir, "outdir")},
		{"convert-torch", filepath.Join(torchTestdata, "state_dict.pt"), filepath.Join(dir, "out.safetensors")},
		{"verify", "--hash", in},
		{"verify", "--values", in},
		{"stats", in},
		{"diff", in, in},
	} {
		var out, errb bytes.Buffer
		code := runContext(ctx, args, &out, &errb)
		if code != 130 || errb.String() != "safetensors: interrupted\n" {
			t.Errorf("%v: exit code %d, stderr %q", args, code, errb.String())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d files in the folder, want only the input", len(entries))
	}
}
