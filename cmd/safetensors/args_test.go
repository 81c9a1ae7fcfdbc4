package main

import (
	"testing"

	"github.com/safetensors-go/safetensors"
)

// TestParseSize follows transformers' convert_file_size_to_int
// (transformers/utils/hub.py): GiB/MiB/KiB are powers of 1024, GB/MB/KB of
// 1000, and a final lowercase "b" means bits.
func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"5GB", 5_000_000_000},
		{"500MB", 500_000_000},
		{"2GiB", 2 << 30},
		{"10KiB", 10 << 10},
		{"3kb", 375},           // 3000 bits
		{"5Gb", 625_000_000},   // bits
		{"5gB", 5_000_000_000}, // "B" is bytes, whatever the case of the rest
		{"1mib", 1 << 20},
		{" 7 MB", 7_000_000},
		{"123", 123},
	} {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "GB", "1.5GB", "-1GB", "0", "5TB", "5 G", "x5GB", "99999999999999GB"} {
		if got, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, got)
		}
	}
}

func TestParseDType(t *testing.T) {
	for in, want := range map[string]safetensors.DType{
		"bf16": safetensors.BF16, "BF16": safetensors.BF16, "bfloat16": safetensors.BF16, "torch.bfloat16": safetensors.BF16,
		"f16": safetensors.F16, "half": safetensors.F16, "f32": safetensors.F32, "float": safetensors.F32,
		"f8_e4m3": safetensors.F8E4M3, "float8_e4m3fn": safetensors.F8E4M3, "F8_E5M2": safetensors.F8E5M2,
		"f4": safetensors.F4, "f6_e2m3": safetensors.F6E2M3, "i8": safetensors.I8,
	} {
		if got, err := parseDType(in); err != nil || got != want {
			t.Errorf("parseDType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "f8", "float8", "bf 16"} {
		if _, err := parseDType(bad); err == nil {
			t.Errorf("parseDType(%q): no error", bad)
		}
	}
}

func TestParseSelection(t *testing.T) {
	names := map[string]bool{"odd[0]": true}
	isName := func(s string) bool { return names[s] }
	for _, tc := range []struct {
		arg, pattern, expr string
		sliced             bool
	}{
		{"w", "w", "", false},
		{"w[0]", "w", "0", true},
		{"layers.*.weight[:, ::2]", "layers.*.weight", ":, ::2", true},
		{"w[...,-1]", "w", "...,-1", true},
		{"w[1-2]", "w[1-2]", "", false}, // not an index: a character class
		{"odd[0]", "odd[0]", "", false}, // an exact name wins
		{"w[]", "w", "", true},          // x[()]: everything
	} {
		sel, err := parseSelection(tc.arg, isName)
		if err != nil || sel.pattern != tc.pattern || sel.expr != tc.expr || sel.sliced != tc.sliced {
			t.Errorf("parseSelection(%q) = %q %q %v, %v; want %q %q %v", tc.arg, sel.pattern, sel.expr, sel.sliced, err, tc.pattern, tc.expr, tc.sliced)
		}
	}
	if _, err := parseSelection("w[", isName); err == nil {
		t.Error(`parseSelection("w["): no error`)
	}
}
