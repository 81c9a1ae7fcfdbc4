package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// miniHub stands in for the Hugging Face Hub on loopback, as the Hub
// answers downloads: /ORG/NAME/resolve/REV/PATH gives the commit in
// X-Repo-Commit (at main and at that commit) and, for weights (LFS files), a 302 to a storage host (on
// another host name) with X-Linked-Etag (the SHA-256) and X-Linked-Size;
// other files are served directly with their ETag. It records the
// Authorization header each host received.
type miniHub struct {
	hub, storage *httptest.Server
	files        map[string][]byte // path in ORG/NAME at main
	mu           sync.Mutex
	auth         map[string][]string // host -> Authorization headers seen
}

const hubCommit = "0123456789abcdef0123456789abcdef01234567"

func newMiniHub(t *testing.T, files map[string][]byte) *miniHub {
	h := &miniHub{files: files, auth: map[string][]string{}}
	blobs := map[string][]byte{}
	for _, b := range files {
		sum := sha256.Sum256(b)
		blobs[hex.EncodeToString(sum[:])] = b
	}
	h.storage = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.seen("storage", r)
		b, ok := blobs[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	storageURL := strings.Replace(h.storage.URL, "127.0.0.1", "localhost", 1)
	h.hub = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.seen("hub", r)
		path, ok := strings.CutPrefix(r.URL.Path, "/org/model/resolve/main/")
		if !ok {
			path, ok = strings.CutPrefix(r.URL.Path, "/org/model/resolve/"+hubCommit+"/")
		}
		b, exists := files[path]
		if !ok || !exists {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.NotFound(w, r)
			return
		}
		w.Header().Set("X-Repo-Commit", hubCommit)
		sum := sha256.Sum256(b)
		sha := hex.EncodeToString(sum[:])
		if strings.HasSuffix(path, ".safetensors") {
			w.Header().Set("X-Linked-Etag", `"`+sha+`"`)
			w.Header().Set("X-Linked-Size", strconv.Itoa(len(b)))
			w.Header().Set("ETag", `"0000000000000000000000000000000000000000"`)
			w.Header().Set("Location", storageURL+"/"+sha+"?X-Amz-Signature=secret")
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("ETag", `"`+sha[:40]+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(func() { h.hub.Close(); h.storage.Close() })
	cache := t.TempDir()
	t.Setenv("HF_ENDPOINT", h.hub.URL)
	t.Setenv("HF_HOME", cache)
	t.Setenv("HF_HUB_CACHE", filepath.Join(cache, "hub"))
	t.Setenv("HF_TOKEN", "hf_test_token")
	t.Setenv("HF_HUB_OFFLINE", "")
	return h
}

func (h *miniHub) seen(host string, r *http.Request) {
	h.mu.Lock()
	h.auth[host] = append(h.auth[host], r.Header.Get("Authorization"))
	h.mu.Unlock()
}

// TestHubNames: hf:// names work as MODEL arguments, online (headers over
// range requests) and, after download, from the cache with HF_HUB_OFFLINE;
// the token reaches the Hub only.
func TestHubNames(t *testing.T) {
	a := spec{"a", "F32", []int{2}, f32(1, 2)}
	b := spec{"b", "I64", []int{1}, i64(7)}
	h := newMiniHub(t, map[string][]byte{
		"model-00001-of-00002.safetensors": buildFile(map[string]string{"format": "pt"}, a),
		"model-00002-of-00002.safetensors": buildFile(map[string]string{"format": "pt"}, b),
		"model.safetensors.index.json":     []byte(`{"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}`),
	})
	const want = "a F32 [2] model-00001-of-00002.safetensors; b I64 [1] model-00002-of-00002.safetensors; "
	if got, md := inspected(t, "hf://org/model"); got != want || md["total_size"] != "16" {
		t.Errorf("inspect hf://org/model: %s %v", got, md)
	}
	stdout, _ := mustRun(t, 0, "download", "hf://org/model")
	path := strings.TrimSpace(stdout)
	if filepath.Base(path) != "model.safetensors.index.json" || !strings.Contains(path, filepath.Join("models--org--model", "snapshots", hubCommit)) {
		t.Errorf("download printed %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "model-00002-of-00002.safetensors")); err != nil {
		t.Errorf("the second shard is not in the snapshot: %v", err)
	}
	// Offline, from the cache: the same tensors, and no request.
	t.Setenv("HF_HUB_OFFLINE", "1")
	h.mu.Lock()
	before := len(h.auth["hub"]) + len(h.auth["storage"])
	h.mu.Unlock()
	if got, _ := inspected(t, "hf://org/model"); got != want {
		t.Errorf("inspect hf://org/model offline: %s", got)
	}
	mustRun(t, 0, "verify", "hf://org/model")
	h.mu.Lock()
	after := len(h.auth["hub"]) + len(h.auth["storage"])
	h.mu.Unlock()
	if after != before {
		t.Errorf("offline: %d requests", after-before)
	}
	if _, stderr, code := cli(t, "inspect", "hf://org/other"); code != 1 || !strings.Contains(stderr, "hf://org/other") {
		t.Errorf("offline, not cached: exit code %d, stderr %q", code, stderr)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.auth["hub"]) == 0 || len(h.auth["storage"]) == 0 {
		t.Fatalf("requests: %v", h.auth)
	}
	for _, v := range h.auth["hub"] {
		if v != "Bearer hf_test_token" {
			t.Errorf("the Hub got Authorization %q", v)
		}
	}
	for _, v := range h.auth["storage"] {
		if v != "" {
			t.Errorf("the storage host got Authorization %q", v)
		}
	}
}
