package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestObjectStoreURLs: s3:// URLs (a real S3 protocol server, gofakes3, on
// loopback, reached through the AWS SDK with credentials from the
// environment) and file:// URLs work wherever a MODEL is taken.
func TestObjectStoreURLs(t *testing.T) {
	dir := shardedFixture(t)
	backend := s3mem.New()
	var gets atomic.Int64
	inner := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			gets.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	if err := backend.CreateBucket("models"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"model.safetensors", "sharded/model.safetensors.index.json", "sharded/model-00001-of-00002.safetensors", "sharded/model-00002-of-00002.safetensors"} {
		b := readFileT(t, filepath.Join(dir, filepath.FromSlash(name)))
		if _, err := backend.PutObject("models", name, map[string]string{}, bytes.NewReader(b), int64(len(b)), nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "SECRETTEST")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	q := "?region=us-east-1&use_path_style=true&endpoint=" + url.QueryEscape(srv.URL)

	const single = "a F32 [2] ; b I64 [1] ; c U8 [3] ; "
	const sharded = "a F32 [2] model-00001-of-00002.safetensors; c U8 [3] model-00002-of-00002.safetensors; b I64 [1] model-00002-of-00002.safetensors; "
	for _, tc := range []struct{ arg, want string }{
		{"s3://models/model.safetensors" + q, single},
		{"s3://models/sharded/model.safetensors.index.json" + q, sharded},
		{"s3://models/sharded/" + q, sharded},
		{"file://" + filepath.ToSlash(filepath.Join(dir, "sharded")) + "/model.safetensors.index.json", sharded},
	} {
		if got, _ := inspected(t, tc.arg); got != tc.want {
			t.Errorf("inspect %s:\n got %s\nwant %s", tc.arg, got, tc.want)
		}
	}
	// Copying out of the store gives the tensors of the local files.
	out := filepath.Join(t.TempDir(), "merged.safetensors")
	gets.Store(0)
	mustRun(t, 0, "merge", "s3://models/sharded/model.safetensors.index.json"+q, out)
	if stdout, _ := mustRun(t, 0, "diff", "--no-metadata", filepath.Join(dir, "model.safetensors"), out); stdout != "equal: 3 tensors\n" {
		t.Errorf("diff: %s", stdout)
	}
	if n := gets.Load(); n != 3 {
		// The index, and each shard's first 100,000 bytes, which hold
		// these small shards whole.
		t.Errorf("merge from S3: %d GETs, want 3", n)
	}
	if _, stderr, code := cli(t, "inspect", "s3://models/missing.safetensors"+q); code != 1 || !strings.Contains(stderr, "missing.safetensors") {
		t.Errorf("a missing key: exit code %d, stderr %q", code, stderr)
	}
}

func readFileT(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
