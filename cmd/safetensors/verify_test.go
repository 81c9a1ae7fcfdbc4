package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestVerifyReal verifies every real file: the valid ones pass, the
// malformed ones fail with the reference's error class in their verdict.
func TestVerifyReal(t *testing.T) {
	for _, rf := range realFiles(t) {
		t.Run(rf.label, func(t *testing.T) {
			stdout, stderr, code := cli(t, "verify", rf.path)
			if stderr != "" {
				t.Errorf("stderr: %q", stderr)
			}
			if rf.want.Error == "" {
				want := "OK    " + rf.path + ": " + formatCount(int64(len(rf.want.Order))) + " tensor"
				if code != 0 || !strings.HasPrefix(stdout, want) || strings.Count(stdout, "\n") != 1 {
					t.Errorf("exit code %d, stdout %q; want 0 and %q...", code, stdout, want)
				}
				return
			}
			want := "FAIL  " + rf.path + ": " + errorWords[rf.want.Error]
			if code != 1 || !strings.HasPrefix(stdout, want) || strings.Count(stdout, "\n") != 1 {
				t.Errorf("exit code %d, stdout %q; want 1 and %q...", code, stdout, want)
			}
		})
	}
}

// TestVerifyMany checks several files at once: a verdict each, a summary,
// and exit code 1 if any fails.
func TestVerifyMany(t *testing.T) {
	dir := t.TempDir()
	goodBytes := buildFile(nil, spec{"a", "F32", []int{1}, f32(1)})
	good := writeFile(t, dir, "good.safetensors", goodBytes)
	trailing := writeFile(t, dir, "trailing.safetensors", append(buildFile(nil, spec{"a", "F32", []int{1}, f32(1)}), 0))
	stdout, _, code := cli(t, "verify", good, trailing, dir+"/missing.safetensors")
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 1 || len(lines) != 4 {
		t.Fatalf("exit code %d, stdout:\n%s", code, stdout)
	}
	for i, want := range []string{
		"OK    " + good + ": 1 tensor, " + strconv.Itoa(len(goodBytes)) + " B",
		"FAIL  " + trailing + ": incomplete buffer",
		"FAIL  " + dir + "/missing.safetensors: no such file or directory",
		"1 of 3 models passed",
	} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d: %q, want %q...", i, lines[i], want)
		}
	}
	if _, _, code := cli(t, "verify", good, good); code != 0 {
		t.Errorf("two good files: exit code %d", code)
	}
}

// TestVerifyRules makes one file per rule of the format, by hand, and checks
// that verify fails each with the rule's name in the verdict.
func TestVerifyRules(t *testing.T) {
	dir := t.TempDir()
	header := func(h string, data []byte) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
		return append(append(b, h...), data...)
	}
	for _, tc := range []struct {
		name string
		file []byte
		rule string
	}{
		{"short", []byte{1, 2, 3}, "header too small"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 100_000_001), "header too large"},
		{"past the end", binary.LittleEndian.AppendUint64(nil, 64), "invalid header length"},
		{"not UTF-8", header("{\"\xff\":1}", nil), "invalid header"},
		{"not JSON", header("{,}", nil), "invalid header"},
		{"unknown dtype", header(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), "invalid header"},
		{"duplicate", header(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), "invalid header"},
		{"hole", header(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, make([]byte, 2)), "invalid offset"},
		{"wrong size", header(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), "invalid tensor info"},
		{"overflow", header(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4)), "overflow"},
		{"misaligned", header(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, make([]byte, 2)), "misaligned slice"},
		{"truncated", header(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, make([]byte, 3)), "incomplete buffer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(tc.name, " ", "_"), tc.file)
			stdout, _, code := cli(t, "verify", p)
			if want := "FAIL  " + p + ": " + tc.rule; code != 1 || !strings.HasPrefix(stdout, want) {
				t.Errorf("exit code %d, stdout %q; want 1 and %q...", code, stdout, want)
			}
		})
	}
}

// TestVerifyHash checks sshs_model_hash: the sha256 of the bytes after the
// header, computed here with crypto/sha256 over the file's own bytes.
func TestVerifyHash(t *testing.T) {
	dir := t.TempDir()
	tensors := []spec{
		{"b", "F32", []int{3}, f32(1, 2, 3)},
		{"a", "I64", []int{2}, i64(-1, 7)},
	}
	// The hash covers the data, not the header, so a file made without it
	// gives the hash to put in the metadata.
	plain := buildFile(nil, tensors...)
	n := binary.LittleEndian.Uint64(plain)
	sum := sha256.Sum256(plain[8+n:])
	hash := hex.EncodeToString(sum[:])

	good := writeFile(t, dir, "good.safetensors", buildFile(map[string]string{"sshs_model_hash": hash}, tensors...))
	stdout, _, code := cli(t, "verify", "--hash", good)
	if code != 0 || !strings.Contains(stdout, "sshs_model_hash matches") {
		t.Errorf("exit code %d, stdout %q", code, stdout)
	}
	upper := writeFile(t, dir, "upper.safetensors", buildFile(map[string]string{"sshs_model_hash": strings.ToUpper(hash)}, tensors...))
	if stdout, _, code := cli(t, "verify", "--hash", upper); code != 0 {
		t.Errorf("upper-case hash: exit code %d, stdout %q", code, stdout)
	}

	flipped := bytes.Clone(plain[8+n:])
	flipped[0] ^= 1
	other := sha256.Sum256(flipped)
	bad := writeFile(t, dir, "bad.safetensors", buildFile(map[string]string{"sshs_model_hash": hex.EncodeToString(other[:])}, tensors...))
	stdout, _, code = cli(t, "verify", "--hash", bad)
	if want := "sshs_model_hash mismatch: the metadata says " + hex.EncodeToString(other[:]) + ", the data hashes to " + hash; code != 1 || !strings.HasPrefix(stdout, "FAIL") || !strings.Contains(stdout, want) {
		t.Errorf("exit code %d, stdout %q; want 1 and %q", code, stdout, want)
	}

	none := writeFile(t, dir, "none.safetensors", plain)
	if stdout, _, code := cli(t, "verify", "--hash", none); code != 0 || !strings.Contains(stdout, "no sshs_model_hash") {
		t.Errorf("no hash: exit code %d, stdout %q", code, stdout)
	}
	// Without --hash, a wrong hash is not looked at.
	if stdout, _, code := cli(t, "verify", bad); code != 0 || strings.Contains(stdout, "sshs") {
		t.Errorf("without --hash: exit code %d, stdout %q", code, stdout)
	}
}

// TestVerifyHashAIToolkit: this real LoRA's sshs_model_hash is the sha256 of
// no bytes (its writer hashed an empty buffer); verify says so. The hash
// of its data, e5a65ec2..., was computed with Python's hashlib.
func TestVerifyHashAIToolkit(t *testing.T) {
	p := sharedFile(t, "lora/aitoolkit_flux_lora_f16.safetensors")
	stdout, _, code := cli(t, "verify", "--hash", p)
	if code != 1 ||
		!strings.Contains(stdout, "the data hashes to e5a65ec2e1d81ae27f9a538676fa302799a043fd57b6a355587c7c0e9f69eb9a") ||
		!strings.Contains(stdout, "hashed an empty buffer") {
		t.Errorf("exit code %d, stdout %q", code, stdout)
	}
}

// TestVerifyValues makes tensors with NaN and infinities in several dtypes,
// by their codes, and checks that --values lists exactly those tensors.
func TestVerifyValues(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.safetensors", buildFile(nil,
		spec{"clean", "F32", []int{2}, f32(1, -1)},
		// F16 NaN 0x7e00, +Inf 0x7c00, -Inf 0xfc00.
		spec{"f16", "F16", []int{4}, u16s(0x7e00, 0x7c00, 0xfc00, 0xfc00)},
		// BF16 +Inf 0x7f80.
		spec{"bf16", "BF16", []int{2}, u16s(0x7f80, 0x3f80)},
		// F8_E4M3 has no infinity; 0xff is its negative NaN.
		spec{"f8", "F8_E4M3", []int{2}, []byte{0x38, 0xff}},
		// 1e300 is a finite F64, though beyond float32.
		spec{"f64", "F64", []int{1}, f64s(1e300)},
		// The imaginary part of the second C64 is NaN.
		spec{"c64", "C64", []int{2}, f32(1, 2, 3, float32(math.NaN()))},
		// Integers hold no NaN: not read.
		spec{"ints", "I32", []int{1}, []byte{0xff, 0xff, 0xc0, 0x7f}},
	))
	stdout, _, code := cli(t, "verify", "--values", bad)
	want := "FAIL  " + bad + ": 7 tensors, " + strconv.Itoa(int(fileSize(t, bad))) + " B; 4 tensors with NaN or infinite values\n" +
		"      tensor \"f16\": 1 NaN, 1 +Inf, 2 -Inf of 4 values\n" +
		"      tensor \"bf16\": 1 +Inf of 2 values\n" +
		"      tensor \"f8\": 1 NaN of 2 values\n" +
		"      tensor \"c64\": 1 NaN of 4 values\n"
	if code != 1 || stdout != want {
		t.Errorf("exit code %d, stdout\n%s\nwant\n%s", code, stdout, want)
	}

	good := writeFile(t, dir, "good.safetensors", buildFile(nil, spec{"clean", "F32", []int{2}, f32(1, -1)}))
	if stdout, _, code := cli(t, "verify", "--values", good); code != 0 || !strings.HasSuffix(stdout, "; no NaN or infinite values\n") {
		t.Errorf("exit code %d, stdout %q", code, stdout)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
