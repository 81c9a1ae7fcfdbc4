package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

const testdata = "../../pytorch/testdata/"

func runCmd(t *testing.T, tty bool, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr, tty)
	return code, stdout.String(), stderr.String()
}

func TestConvert(t *testing.T) {
	out := filepath.Join(t.TempDir(), "model.safetensors")
	code, stdout, stderr := runCmd(t, false, testdata+"state_dict.pt", out)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"converted " + testdata + "state_dict.pt -> " + out,
		"zip format, little-endian storages",
		"20 tensors, 374 B of tensor data (checkpoint storages: 518 B), verified bit for bit",
		"    lm_head.weight -> embed.weight\n    shared.part -> shared.full\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	f, err := safetensors.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Len() != 20 || f.Metadata()["lm_head.weight"] != "embed.weight" {
		t.Errorf("output: %d tensors, metadata %v", f.Len(), f.Metadata())
	}

	// OUT exists: refused without -f, replaced with it.
	if code, _, stderr := runCmd(t, false, testdata+"state_dict_legacy.pt", out); code != 1 || !strings.Contains(stderr, "use -f") {
		t.Errorf("existing OUT: exit %d, %q", code, stderr)
	}
	code, stdout, _ = runCmd(t, false, "-f", testdata+"state_dict_legacy.pt", out)
	if code != 0 || !strings.Contains(stdout, "legacy format") {
		t.Errorf("-f: exit %d, %q", code, stdout)
	}
}

func TestProgressBar(t *testing.T) {
	dir := t.TempDir()
	// On a terminal: a bar for each phase on stderr, the summary on stdout.
	code, stdout, stderr := runCmd(t, true, testdata+"state_dict.pt", filepath.Join(dir, "a.safetensors"))
	if code != 0 || !strings.Contains(stdout, "20 tensors") {
		t.Fatalf("exit %d, %q", code, stdout)
	}
	for _, want := range []string{"writing", "verifying", "100%"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %q", want, stderr)
		}
	}
	// Quiet on a terminal: nothing at all.
	code, stdout, stderr = runCmd(t, true, "--quiet", testdata+"state_dict.pt", filepath.Join(dir, "b.safetensors"))
	if code != 0 || stdout != "" || stderr != "" {
		t.Errorf("quiet: exit %d, %q, %q", code, stdout, stderr)
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	code, stdout, _ := runCmd(t, false, "--discard", "embed.weight", "--no-verify", testdata+"state_dict.pt", filepath.Join(dir, "a.safetensors"))
	if code != 0 || !strings.Contains(stdout, "embed.weight -> lm_head.weight") || !strings.Contains(stdout, "not verified") {
		t.Errorf("--discard/--no-verify: exit %d, %q", code, stdout)
	}
	code, _, stderr := runCmd(t, false, testdata+"with_extras.pt", filepath.Join(dir, "b.safetensors"))
	if code != 1 || !strings.Contains(stderr, `entry "epoch" is not a tensor but a Python int`) {
		t.Errorf("non-tensors: exit %d, %q", code, stderr)
	}
	code, stdout, _ = runCmd(t, false, "--skip-non-tensors", testdata+"with_extras.pt", filepath.Join(dir, "b.safetensors"))
	if code != 0 || !strings.Contains(stdout, "left out, not tensors: epoch (int), note (str), history (list)") {
		t.Errorf("--skip-non-tensors: exit %d, %q", code, stdout)
	}
	code, stdout, _ = runCmd(t, false, testdata+"nested_state_dict.pt", filepath.Join(dir, "c.safetensors"))
	if code != 0 || !strings.Contains(stdout, `tensors under "state_dict"`) {
		t.Errorf("nested: exit %d, %q", code, stdout)
	}
	code, _, stderr = runCmd(t, false, "--max-pickle-size", "100", testdata+"state_dict.pt", filepath.Join(dir, "d.safetensors"))
	if code != 1 || !strings.Contains(stderr, "pickle too large") {
		t.Errorf("--max-pickle-size: exit %d, %q", code, stderr)
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x.safetensors")
	code, stdout, stderr := runCmd(t, true, testdata+"malicious_os_system.pt", out)
	if code != 1 || stdout != "" || !strings.Contains(stderr, `forbidden global "os.system"`) {
		t.Errorf("malicious: exit %d, %q, %q", code, stdout, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("OUT created for a malicious checkpoint")
	}
	for _, args := range [][]string{{}, {"one"}, {"a", "b", "c"}, {"--bogus", "a", "b"}} {
		if code, _, stderr := runCmd(t, false, args...); code != 2 || !strings.Contains(stderr, "usage:") {
			t.Errorf("%q: exit %d, %q", args, code, stderr)
		}
	}
	if code, _, stderr := runCmd(t, false, "-h"); code != 0 || !strings.Contains(stderr, "-skip-non-tensors") {
		t.Errorf("-h: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCmd(t, false, filepath.Join(dir, "missing.bin"), out); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing input: exit %d, %q", code, stderr)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 497772464: "474.7 MiB", 1 << 40: "1.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
