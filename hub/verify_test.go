package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestVerifierHashesReads: a file read whole, in chunks that arrive out of
// order, verifies with no more bytes fetched; a file read in part
// verifies by reading the rest; a corrupted blob fails with ErrChecksum,
// read whole or not; a sharded model verifies shard by shard.
func TestVerifierHashesReads(t *testing.T) {
	f := newFakeHub(t)
	const big = 300_000
	file := makeFile(t, 3, big)
	f.addRepo("org/model", commitOf("c1"), map[string][]byte{"model.safetensors": file})
	f.addRepo("org/sharded", commitOf("c2"), shardedFiles(t, 5))
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		corrupt bool
		whole   bool
	}{{"whole", false, true}, {"part", false, false}, {"corrupt whole", true, true}, {"corrupt part", true, false}} {
		f.mu.Lock()
		f.corrupt = tc.corrupt
		f.mu.Unlock()
		m, v, err := OpenModelVerified(ctx, "hf://org/model", &Options{Config: f.config("")})
		if err != nil {
			t.Fatal(err)
		}
		sh, err := m.Shard("model.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		before := f.storageBytes()
		if tc.whole {
			// The tensor "b" in chunks, read concurrently, last first.
			r, err := sh.TensorReader("b")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for off := int64(big - big%7000); off >= 0; off -= 7000 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, min(7000, big-off))
					if _, err := r.ReadAt(buf, off); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if _, err := m.GetTensor("a"); err != nil {
				t.Fatal(err)
			}
		}
		read := f.storageBytes() - before
		err = v.Verify(ctx, "model.safetensors")
		extra := f.storageBytes() - before - read
		if tc.corrupt != errors.Is(err, ErrChecksum) {
			t.Errorf("%s: Verify: %v", tc.name, err)
		}
		if tc.whole && extra != 0 {
			t.Errorf("%s: Verify fetched %d more bytes after the whole file was read", tc.name, extra)
		}
		// The first 100,000 bytes came with the header, and are kept.
		if !tc.whole && extra < big-100_000 {
			t.Errorf("%s: Verify fetched %d bytes, less than the unread part of the tensor", tc.name, extra)
		}
		if err2 := v.Verify(ctx, "model.safetensors"); (err2 == nil) != (err == nil) {
			t.Errorf("%s: a second Verify says %v, the first %v", tc.name, err2, err)
		}
		m.Close()
	}

	f.mu.Lock()
	f.corrupt = false
	f.mu.Unlock()
	m, v, err := OpenModelVerified(ctx, "hf://org/sharded", &Options{Config: f.config("")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, name := range m.Files() {
		if err := v.Verify(ctx, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := v.Verify(ctx, "other.safetensors"); err == nil {
		t.Error("Verify of a file not in the model passed")
	}
}

// TestVerifierCache: offline, a model in the cache verifies by hashing
// its blobs, and a blob changed on disk fails with ErrChecksum.
func TestVerifierCache(t *testing.T) {
	f := newFakeHub(t)
	f.addRepo("org/sharded", commitOf("c2"), shardedFiles(t, 7))
	ctx := context.Background()
	cfg := f.config("")
	if _, err := Download(ctx, "hf://org/sharded", &Options{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	cfg.Offline = true
	m, v, err := OpenModelVerified(ctx, "hf://org/sharded", &Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	files := m.Files()
	if err := v.Verify(ctx, files[0]); err != nil {
		t.Error(err)
	}
	blob := filepath.Join(cfg.CacheDir, "models--org--sharded", "blobs", sha256Hex(shardedFiles(t, 7)[files[1]]))
	b, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(blob, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(ctx, files[1]); !errors.Is(err, ErrChecksum) {
		t.Errorf("a changed blob: %v", err)
	}
}
