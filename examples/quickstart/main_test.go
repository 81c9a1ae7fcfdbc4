package main

import (
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var out strings.Builder
	if err := run(&out); err != nil {
		t.Fatal(err)
	}
	// The values are the ones the example writes; BF16 holds all of them
	// exactly, and the order is the reference writer's (I64 and F32 before
	// BF16, then by name).
	want := []string{
		"  step             I64  []      [1000]",
		"  layers.0.bias    F32  [3]     [0.1 0.2 0.3]",
		"  layers.0.weight  F32  [3 3]   [1 0 0 0 ...]",
		"  embed.weight     BF16 [4 3]   [0.5 -1 2 0.25 ...]",
		"metadata: map[format:pt note:written by examples/quickstart]",
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "model.safetensors: ") {
		t.Fatalf("output:\n%s", out.String())
	}
	for i, w := range want {
		if lines[i+1] != w {
			t.Errorf("line %d:\n got %q\nwant %q", i+1, lines[i+1], w)
		}
	}
}
