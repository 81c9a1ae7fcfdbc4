//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"
)

// hashedFile writes a file of size bytes of data with a correct
// sshs_model_hash, for verify --hash, a command with a progress bar.
func hashedFile(t *testing.T, size int) string {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	plain := buildFile(nil, spec{"big", "U8", []int{size}, data})
	n := binary.LittleEndian.Uint64(plain)
	sum := sha256.Sum256(plain[8+n:])
	b := buildFile(map[string]string{"sshs_model_hash": hex.EncodeToString(sum[:])}, spec{"big", "U8", []int{size}, data})
	return writeFile(t, t.TempDir(), "big.safetensors", b)
}

// runOnTerminal runs the program in-process with stderr on a pseudo
// terminal, and returns what the terminal received.
func runOnTerminal(t *testing.T, args ...string) (stdout, terminal string, code int) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO once tty is closed
		got <- string(b)
	}()
	var out bytes.Buffer
	code = run(args, &out, tty)
	tty.Close()
	return out.String(), <-got, code
}

// TestProgressOnTerminal proves the terminal path: with stderr on a
// pseudo-terminal, a long operation draws a progress bar with its
// description, the bytes and the speed, and erases it before exiting; with
// --quiet, or with stderr on a pipe or a file, nothing but the results is
// written.
func TestProgressOnTerminal(t *testing.T) {
	p := hashedFile(t, 3<<20)

	stdout, terminal, code := runOnTerminal(t, "verify", "--hash", p)
	if code != 0 || !strings.Contains(stdout, "sshs_model_hash matches") {
		t.Fatalf("exit code %d, stdout %q", code, stdout)
	}
	// The description, the bar, the bytes done of the total, the speed,
	// and the time elapsed and left.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`hashing +100% +█+ +\(3\.0/3\.0 MiB, [0-9.]+ [KMG]?i?B/s\)`),
		regexp.MustCompile(`hashing +0% +░+ +\( ?0 B/3\.0 MiB\) \[0s:0s\]`),
	} {
		if !want.MatchString(terminal) {
			t.Errorf("the terminal did not get %v:\n%q", want, terminal)
		}
	}
	// Erased at the end: the last thing written clears the line.
	if !strings.HasSuffix(terminal, "\x1b[2K\r") {
		t.Errorf("the bar is not erased at the end:\n%q", terminal[max(0, len(terminal)-80):])
	}

	_, terminal, code = runOnTerminal(t, "verify", "--hash", "--quiet", p)
	if code != 0 || terminal != "" {
		t.Errorf("--quiet: exit code %d, the terminal got %q", code, terminal)
	}

	// A pipe, as in "safetensors verify --hash m 2>&1 | cat".
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var out bytes.Buffer
	code = run([]string{"verify", "--hash", p}, &out, w)
	w.Close()
	if piped := <-got; code != 0 || len(piped) != 0 {
		t.Errorf("pipe: exit code %d, stderr got %q", code, piped)
	}

	// A regular file, as in "2>log".
	logf, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	code = run([]string{"verify", "--hash", p}, &out, logf)
	if st, _ := logf.Stat(); code != 0 || st.Size() != 0 {
		t.Errorf("file: exit code %d, %d bytes on stderr", code, st.Size())
	}
}

// TestProgressCommands: the other long commands draw their bars on a
// terminal too, convert-torch one per phase.
func TestProgressCommands(t *testing.T) {
	p := hashedFile(t, 1<<20)
	out := filepath.Join(t.TempDir(), "out.safetensors")
	floats := writeFile(t, t.TempDir(), "f.safetensors", buildFile(nil, spec{"w", "F32", []int{1 << 18}, make([]byte, 1<<20)}))
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"convert", "--dtype", "bf16", p, out}, []string{"converting"}},
		{[]string{"stats", p}, []string{"reading"}},
		{[]string{"verify", "--values", floats}, []string{"scanning"}},
		{[]string{"diff", p, out}, []string{"comparing"}},
		{[]string{"extract", "-f", p, out, "big"}, []string{"extracting"}},
		{[]string{"convert-torch", "-f", filepath.Join(torchTestdata, "state_dict.pt"), out}, []string{"writing", "verifying"}},
	} {
		_, terminal, _ := runOnTerminal(t, tc.args...)
		for _, w := range tc.want {
			if !strings.Contains(terminal, w) || !strings.Contains(terminal, "100%") {
				t.Errorf("%v: the terminal did not get %q at 100%%:\n%q", tc.args, w, terminal)
			}
		}
		if !strings.HasSuffix(terminal, "\x1b[2K\r") {
			t.Errorf("%v: the bar is not erased at the end", tc.args)
		}
	}
}
