package safetensors

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestHiddenNameTruncation checks the names of temporary files beside a
// path: ".BASE.TAG-DIGITS" in the same directory, where BASE is the file's
// name cut to at most 128 bytes (so that the whole name stays within the
// usual 255-byte limit) and never inside a multi-byte character.
func TestHiddenNameTruncation(t *testing.T) {
	ascii := func(n int) string { return strings.Repeat("a", n) }
	cont := strings.Repeat("\x80", 200) // continuation bytes only: no character starts anywhere
	cases := []struct {
		name string
		base string
		kept int // bytes of base in the hidden name
	}{
		{"short", "model.safetensors", 17},
		{"exactly 128 bytes", ascii(128), 128},
		{"129 bytes", ascii(129), 128},
		// "é" is 2 bytes, at 127 and 128: the cut at 128 would split it.
		{"two-byte rune across the cut", ascii(127) + "é" + "xyz", 127},
		// "😀" is 4 bytes, at 126 to 129.
		{"four-byte rune across the cut", ascii(126) + "😀" + "xyz", 126},
		// "é" at 126 and 127 ends right at the cut.
		{"rune ending at the cut", ascii(126) + "é" + "xyz", 128},
		{"no character start", cont, 0},
	}
	dir := filepath.Join("some", "dir")
	for _, c := range cases {
		got := hiddenName(filepath.Join(dir, c.base), "tmp")
		if filepath.Dir(got) != dir {
			t.Errorf("%s: %q is not in %q", c.name, got, dir)
			continue
		}
		name := filepath.Base(got)
		want := "." + c.base[:c.kept] + ".tmp-"
		digits, ok := strings.CutPrefix(name, want)
		if !ok {
			t.Errorf("%s: %q, want %q followed by digits", c.name, name, want)
			continue
		}
		if _, err := strconv.ParseUint(digits, 10, 32); err != nil {
			t.Errorf("%s: %q does not end in a 32-bit number: %v", c.name, name, err)
		}
		if utf8.ValidString(c.base) && !utf8.ValidString(name) {
			t.Errorf("%s: %q is not valid UTF-8", c.name, name)
		}
		if len(name) > 255 {
			t.Errorf("%s: %d bytes", c.name, len(name))
		}
	}
}

// TestSaveFileNameNotUTF8 saves under a long name that is not UTF-8 at all
// (file systems that take any bytes allow it): the temporary name is
// shortened without finding a character boundary, and the save works.
func TestSaveFileNameNotUTF8(t *testing.T) {
	dir := t.TempDir()
	name := strings.Repeat("\x80", 200)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Skipf("the file system refuses the name itself: %v", err)
	}
	if err := SaveFile(path, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	want := wlPadded(`{"__metadata__":{"k":"v"}}`)
	if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
		t.Fatalf("%q, %v; want %q", got, err, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || entries[0].Name() != name {
		t.Fatalf("directory holds %v, %v", entries, err)
	}
}
