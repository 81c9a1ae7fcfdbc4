package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{formatCount(0), "0"},
		{formatCount(999), "999"},
		{formatCount(1000), "1,000"},
		{formatCount(1234567), "1,234,567"},
		{formatCount(-1234567), "-1,234,567"},
		{formatBytes(0), "0 B"},
		{formatBytes(1023), "1023 B"},
		{formatBytes(1024), "1.00 KiB"},
		{formatBytes(1536), "1.50 KiB"},
		{formatBytes(40000), "39.1 KiB"}, // 39.0625
		{formatBytes(1509296), "1.44 MiB"},
		{formatBytes(5 << 30), "5.00 GiB"},
		{formatBytes(1000 << 20), "1000 MiB"},
		{formatParams(999), "999"},
		{formatParams(376940), "377K"},
		{formatParams(6_738_415_616), "6.74B"},
		{formatSize(1), "1 byte"},
		{formatSize(16), "16 bytes"},
		{formatSize(2048), "2,048 bytes (2.00 KiB)"},
		{formatShape(nil), "[]"},
		{formatShape([]int{0, 4}), "[0, 4]"},
		{formatFloat(math.NaN()), "nan"},
		{formatFloat(math.Inf(-1)), "-inf"},
		{formatFloat(0.1234567), "0.123457"},
		{printable("ok\tfine\n"), "ok\tfine\n"},
		{printable("a\x1b[1mb\u0085"), `a\x1b[1mb\u0085`},
		{printableName("tab\tname"), `"tab\tname"`},
		{printable("txt.\u202eexe"), `txt.\u202eexe`},
		{printable("a\u2066b\u2069\u200f\u061c\u2028"), `a\u2066b\u2069\u200f\u061c\u2028`},
		{printableName("w\u202a"), `"w\u202a"`},
		{printable("héllo 日本"), "héllo 日本"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	b, err := json.Marshal([]jsonFloat{1.5, jsonFloat(math.NaN()), jsonFloat(math.Inf(1)), jsonFloat(math.Inf(-1)), 1e-7})
	if err != nil || string(b) != `[1.5,"nan","inf","-inf",1e-7]` {
		t.Errorf("jsonFloat: %s, %v", b, err)
	}
}

// TestDescribe checks that an error reads as one line naming the file once,
// without the library's repeated prefixes.
func TestDescribe(t *testing.T) {
	format := &safetensors.FormatError{Err: safetensors.ErrInvalidOffset, Tensor: "x", HasTensor: true, Offset: -1, Msg: "a hole"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "open", Path: "m.safetensors", Err: format}, `m.safetensors: invalid offset: tensor "x": a hole`},
		{inFile("m.safetensors", &fs.PathError{Op: "open", Path: "m.safetensors", Err: format}), `m.safetensors: invalid offset: tensor "x": a hole`},
		{inFile("set.json", inFile("shard-1.safetensors", format)), `set.json: shard-1.safetensors: invalid offset: tensor "x": a hole`},
		{inFile("out.safetensors", &fs.PathError{Op: "write", Path: "/tmp/x", Err: errors.New("no space left on device")}), "out.safetensors: write /tmp/x: no space left on device"},
		{fmt.Errorf("safetensors: tensor %q: %w", "y", safetensors.ErrClosed), `tensor "y": file is closed`},
		{errors.New("two\nlines"), "two lines"},
	} {
		if got := describe(tc.err); got != tc.want {
			t.Errorf("describe:\n%q\nwant\n%q", got, tc.want)
		}
	}
}

// TestNoRawControlCharacters runs every command that prints names or
// metadata on a file whose names and values hold terminal escapes and
// bidirectional overrides: none reaches stdout or stderr raw.
func TestNoRawControlCharacters(t *testing.T) {
	dir := t.TempDir()
	evil := "w\u202eexe.txt\x1b[2J\u2066\u0085"
	p := writeFile(t, dir, "evil.safetensors", buildFile(map[string]string{"k\u202e": "v\x1b]0;title\x07\u2067"},
		spec{evil, "F32", []int{2}, f32(1, 2)}, spec{"ok", "F32", []int{1}, f32(3)}))
	q := writeFile(t, dir, "other.safetensors", buildFile(map[string]string{"k\u202e": "other\u202d"},
		spec{evil, "F32", []int{2}, f32(1, 5)}))
	raw := func(s string) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return isControl(r) && r != '\r' })
	}
	for _, args := range [][]string{
		{"inspect", p}, {"inspect", "--json", p}, {"meta", p}, {"meta", "--raw", p}, {"meta", "--json", p},
		{"verify", "--values", p}, {"stats", p}, {"diff", p, q}, {"diff", "--json", p, q},
		{"extract", p, filepath.Join(dir, "out.safetensors"), "nothing-matches"},
		{"extract", p, filepath.Join(dir, "out.safetensors"), "w\u202e*[5]"},
	} {
		stdout, stderr, _ := cli(t, args...)
		if raw(stdout) || raw(stderr) {
			t.Errorf("%v printed a raw control character:\nstdout %q\nstderr %q", args[0], stdout, stderr)
		}
		if args[0] == "inspect" && !strings.Contains(stdout, `\u202e`) {
			t.Errorf("%v: the name is not shown escaped:\n%s", args, stdout)
		}
		if args[0] == "inspect" && args[1] == "--json" {
			// The escapes are JSON's: a reader gets the names back.
			var out struct{ Tensors []struct{ Name string } }
			if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Tensors) != 2 || out.Tensors[0].Name != evil {
				t.Errorf("inspect --json does not decode to the names: %v, %+v", err, out)
			}
		}
	}
}
