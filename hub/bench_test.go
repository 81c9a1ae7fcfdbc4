package hub

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
)

// layers1000 returns a file of 1,000 small tensors named as a 7B model's
// layers are: a header of about 75 KB, as in the core package's
// BenchmarkOpen1000.
func layers1000(b *testing.B) []byte {
	tensors := map[string]safetensors.Tensor{}
	parts := []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm", "rotary"}
	for i := range 100 {
		for _, p := range parts {
			x, err := safetensors.NewTensor(safetensors.BF16, []int{4, 4}, make([]byte, 32))
			if err != nil {
				b.Fatal(err)
			}
			tensors[fmt.Sprintf("model.layers.%d.%s.weight", i, p)] = x
		}
	}
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkOpenCached compares opening a model from the cache by its Hub
// name with safetensors.Open of the same file's path in the snapshot.
func BenchmarkOpenCached(b *testing.B) {
	for _, size := range []string{"1000tensors", "2tensors"} {
		var file []byte
		if size == "2tensors" {
			file = makeFile(b, 0, 1000)
		} else {
			file = layers1000(b)
		}
		cache := b.TempDir()
		commit := commitOf("bench")
		repo := filepath.Join(cache, "models--org--m")
		writeCache(b, repo, false, map[string]string{"main": commit}, map[string]map[string][]byte{commit: {"model.safetensors": file}})
		path := snapshotPath(repo, commit, "model.safetensors")
		opts := &Options{Config: &Config{Endpoint: DefaultEndpoint, CacheDir: cache}}
		ctx := context.Background()
		b.Run(size+"/safetensors.Open", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f, err := safetensors.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
		b.Run(size+"/hub.Open", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f, err := Open(ctx, "hf://org/m", opts)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
		b.Run(size+"/hub.OpenModel", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m, err := OpenModel(ctx, "hf://org/m", opts)
				if err != nil {
					b.Fatal(err)
				}
				m.Close()
			}
		})
	}
}

// BenchmarkOpenCachedRatio measures the same as BenchmarkOpenCached, but
// interleaved: rounds of 50 opens by name and 50 opens of the snapshot's
// path, alternating, so that the load of a shared machine weighs on both
// alike. It reports the median of the rounds' ratios (by name / by path):
// hub.Open against safetensors.Open, and hub.OpenModel against
// safetensors.OpenModel.
func BenchmarkOpenCachedRatio(b *testing.B) {
	for _, size := range []string{"1000tensors", "2tensors"} {
		var file []byte
		if size == "2tensors" {
			file = makeFile(b, 0, 1000)
		} else {
			file = layers1000(b)
		}
		cache := b.TempDir()
		commit := commitOf("bench")
		repo := filepath.Join(cache, "models--org--m")
		writeCache(b, repo, false, map[string]string{"main": commit}, map[string]map[string][]byte{commit: {"model.safetensors": file}})
		path := snapshotPath(repo, commit, "model.safetensors")
		opts := &Options{Config: &Config{Endpoint: DefaultEndpoint, CacheDir: cache}}
		ctx := context.Background()
		check := func(c interface{ Close() error }, err error) {
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		pairs := []struct {
			name           string
			byName, byPath func()
		}{
			{"Open", func() { check(Open(ctx, "hf://org/m", opts)) }, func() { check(safetensors.Open(path)) }},
			{"OpenModel", func() { check(OpenModel(ctx, "hf://org/m", opts)) }, func() { check(safetensors.OpenModel(path)) }},
		}
		for _, p := range pairs {
			b.Run(size+"/"+p.name, func(b *testing.B) {
				timeIt := func(f func()) time.Duration {
					start := time.Now()
					for range 50 {
						f()
					}
					return time.Since(start)
				}
				var ratios []float64
				for b.Loop() {
					h, o := timeIt(p.byName), timeIt(p.byPath)
					ratios = append(ratios, float64(h)/float64(o))
				}
				slices.Sort(ratios)
				b.ReportMetric(ratios[len(ratios)/2], "name/path")
			})
		}
	}
}
