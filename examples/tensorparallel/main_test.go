package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{ranks: 4, layers: 2, hidden: 64}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	if !strings.Contains(text, "check: the parts of 4 ranks put back together equal all 20 tensors") {
		t.Errorf("no check line:\n%s", text)
	}
	// Merging costs rank 0 fewer requests than reading run by run.
	var merged, unmerged int
	for _, line := range strings.Split(text, "\n") {
		var n, parts int
		if _, err := fmt.Sscanf(line, "rank 0: 20 tensors, %d bytes of parts; %d requests", &parts, &n); err == nil {
			merged = n
		}
		if _, err := fmt.Sscanf(line, "rank 0 without merging runs: %d requests", &n); err == nil {
			unmerged = n
		}
	}
	if merged == 0 || unmerged <= merged {
		t.Errorf("rank 0: %d requests merged, %d not:\n%s", merged, unmerged, text)
	}
}

func TestRunRefusesBadSplits(t *testing.T) {
	for _, c := range []config{{ranks: 0, layers: 1, hidden: 8}, {ranks: 3, layers: 1, hidden: 8}, {ranks: 2, layers: 0, hidden: 8}} {
		if err := run(context.Background(), &bytes.Buffer{}, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// TestRunURL loads a model from a URL: Llama's names, a split that does
// not divide every dimension, and the check against the whole model read
// over HTTP.
func TestRunURL(t *testing.T) {
	dir := t.TempDir()
	tensors := map[string]safetensors.Tensor{}
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(len(tensors)*1000 + i)
		}
		tt, err := safetensors.FromFloat32(safetensors.BF16, shape, v)
		if err != nil {
			t.Fatal(err)
		}
		tensors[name] = tt
	}
	add("model.embed_tokens.weight", 50, 12)
	add("model.layers.0.self_attn.q_proj.weight", 12, 12)
	add("model.layers.0.self_attn.k_proj.weight", 6, 12)
	add("model.layers.0.self_attn.o_proj.weight", 12, 12)
	add("model.layers.0.mlp.gate_proj.weight", 30, 12)
	add("model.layers.0.mlp.down_proj.weight", 12, 30)
	add("model.norm.weight", 12)
	if _, err := safetensors.SaveSharded(dir, tensors, safetensors.ShardOptions{MaxShardSize: 1500}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{ranks: 4, url: srv.URL + "/"}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "check: the parts of 4 ranks put back together equal all 7 tensors") {
		t.Errorf("no check line:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "rank 3: 7 tensors") {
		t.Errorf("rank 3 did not read every tensor:\n%s", out.String())
	}
}
