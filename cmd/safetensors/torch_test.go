package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The PyTorch converter's fixtures, made with a real torch.save, and what
// that same script computed of each tensor (pytorch/testdata).
const torchTestdata = "../../pytorch/testdata"

type torchExpected struct {
	Removed map[string]string `json:"removed"`
	Tensors map[string]struct {
		DType  string `json:"dtype"`
		Shape  []int  `json:"shape"`
		SHA256 string `json:"sha256"`
	} `json:"tensors"`
}

// TestConvertTorch converts torch.save checkpoints, zip and legacy, and
// compares every tensor of the output with the sha256 that torch gave for
// its contiguous bytes; tied weights are written once and recorded.
func TestConvertTorch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(torchTestdata, "expected.json"))
	if err != nil {
		t.Skipf("no fixtures: %v", err)
	}
	var all map[string]torchExpected
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"state_dict.pt", "state_dict_legacy.pt", "nested_state_dict.pt", "torch2_v3.pt"} {
		t.Run(name, func(t *testing.T) {
			want := all[name]
			out := filepath.Join(dir, name+".safetensors")
			stdout, stderr := mustRun(t, 0, "convert-torch", filepath.Join(torchTestdata, name), out)
			if stderr != "" {
				t.Errorf("stderr: %q", stderr)
			}
			if !strings.HasPrefix(stdout, "converted ") || !strings.Contains(stdout, "verified bit for bit") {
				t.Errorf("summary:\n%s", stdout)
			}
			got, meta := readRaw(t, out)
			if meta["format"] != "pt" {
				t.Errorf("metadata %v", meta)
			}
			for removed, kept := range want.Removed {
				if meta[removed] != kept {
					t.Errorf("metadata[%q] = %q, want %q", removed, meta[removed], kept)
				}
				if !strings.Contains(stdout, removed+" -> "+kept) {
					t.Errorf("summary lacks %s -> %s:\n%s", removed, kept, stdout)
				}
			}
			n := 0
			for tname, w := range want.Tensors {
				if _, ok := want.Removed[tname]; ok {
					continue
				}
				n++
				g, ok := got[tname]
				if !ok {
					t.Errorf("%s: missing", tname)
					continue
				}
				sum := sha256.Sum256(g.data)
				if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || hex.EncodeToString(sum[:]) != w.SHA256 {
					t.Errorf("%s: %s %v %x, want %s %v %s", tname, g.DType, g.Shape, sum, w.DType, w.Shape, w.SHA256)
				}
			}
			if len(got) != n {
				t.Errorf("%d tensors, want %d", len(got), n)
			}
		})
	}
}

// TestConvertTorchRefuses: a checkpoint whose pickle calls os.system is
// refused with the global's name, nothing is written, and the marker file
// the payload would create does not appear.
func TestConvertTorchRefuses(t *testing.T) {
	in := filepath.Join(torchTestdata, "malicious_os_system.pt")
	if _, err := os.Stat(in); err != nil {
		t.Skip("no fixture")
	}
	// The payload runs "touch" on this file (pytorch/testdata's script).
	const marker = "/tmp/safetensors-go-pytorch-fixture-pwned"
	if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.safetensors")
	_, stderr, code := cli(t, "convert-torch", in, out)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the marker %s exists: the payload ran (%v)", marker, err)
	}
	if code != 1 || !strings.Contains(stderr, `forbidden global "os.system"`) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit code %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("OUT was written")
	}
	if _, _, code := cli(t, "convert-torch", in); code != 2 {
		t.Errorf("one argument: exit code %d, want 2", code)
	}
}

// TestConvertTorchHintsNameFlags: a checkpoint with entries that are not
// tensors fails, and the error tells the user the flag that leaves them
// out, not the Go option behind it; with the flag, it converts.
func TestConvertTorchHintsNameFlags(t *testing.T) {
	in := filepath.Join(torchTestdata, "with_extras.pt")
	out := filepath.Join(t.TempDir(), "out.safetensors")
	_, stderr, code := cli(t, "convert-torch", in, out)
	if code != 1 || !strings.Contains(stderr, "--skip-non-tensors leaves them out") || strings.Contains(stderr, "Options.") {
		t.Errorf("exit code %d, stderr %q", code, stderr)
	}
	stdout, _ := mustRun(t, 0, "convert-torch", "--skip-non-tensors", in, out)
	if !strings.Contains(stdout, "left out, not tensors:") {
		t.Errorf("stdout %q", stdout)
	}
}

// TestConvertTorchSharded converts a sharded .bin checkpoint given by its
// index into a folder: a safetensors shard per .bin shard and
// transformers' index, which the other commands then read; a second run
// needs --force.
func TestConvertTorchSharded(t *testing.T) {
	in := filepath.Join(torchTestdata, "sharded", "pytorch_model.bin.index.json")
	out := filepath.Join(t.TempDir(), "converted")
	stdout, _ := mustRun(t, 0, "convert-torch", in, out)
	index := filepath.Join(out, "model.safetensors.index.json")
	if !strings.Contains(stdout, "2 shards and the index "+index+"\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	for _, name := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	// The set reads back: every tensor is listed, in one of the shards.
	got, _ := inspected(t, out)
	if strings.Count(got, ";") != 7 {
		t.Errorf("inspect of the converted set: %s", got)
	}
	mustRun(t, 0, "verify", index)
	if _, stderr, code := cli(t, "convert-torch", in, out); code != 1 || !strings.Contains(stderr, "exists (use --force") {
		t.Errorf("second conversion without --force: exit code %d, stderr %q", code, stderr)
	}
	mustRun(t, 0, "convert-torch", "-f", in, out)
}
