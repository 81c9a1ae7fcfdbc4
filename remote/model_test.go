package remote_test

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	repo   = "/org/model/resolve/main/"
	shard1 = "model-00001-of-00002.safetensors"
	shard2 = "model-00002-of-00002.safetensors"
)

// index writes an index as transformers does, mapping each tensor to a
// file.
func index(weights ...[2]string) []byte {
	var b strings.Builder
	b.WriteString("{\n  \"metadata\": {\n    \"total_size\": 12\n  },\n  \"weight_map\": {")
	for i, w := range weights {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n    %s: %s", strconv.Quote(w[0]), strconv.Quote(w[1]))
	}
	b.WriteString("\n  }\n}\n")
	return []byte(b.String())
}

// shardedRepo serves a two-shard model under repo: shard 1 holds "a" and
// "b", shard 2 holds "c".
func shardedRepo(t *testing.T) (*server, map[string][]byte) {
	pt := map[string]string{"format": "pt"}
	one, _ := buildFile(pt, u8("a", 1, 4), u8("b", 2, 2, 3))
	two, _ := buildFile(pt, u8("c", 3, 2))
	files := map[string]file{
		repo + safetensors.IndexName: {data: index([2]string{"a", shard1}, [2]string{"b", shard1}, [2]string{"c", shard2})},
		repo + shard1:                {data: one, etag: `"s1"`},
		repo + shard2:                {data: two, etag: `"s2"`},
	}
	want := map[string][]byte{"a": pattern(4, 1), "b": pattern(6, 2), "c": pattern(2, 3)}
	return newServer(t, files), want
}

func paths(log []served) []string {
	out := make([]string, len(log))
	for i, l := range log {
		out[i] = l.path
	}
	return out
}

func TestModelOverHTTP(t *testing.T) {
	s, want := shardedRepo(t)
	ctx := context.Background()
	m, err := remote.OpenModel(ctx, s.URL+repo+safetensors.IndexName+"?download=true", fast())
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, []string{repo + safetensors.IndexName}, paths(s.since(0)), "the index alone")
	assert.Equal(t, "", s.since(0)[0].rng, "the index is fetched whole")
	assert.True(t, m.Sharded())
	assert.Equal(t, []string{"a", "b", "c"}, m.Keys())
	assert.Equal(t, []string{shard1, shard2}, m.Files())
	assert.Equal(t, map[string]string{"total_size": "12"}, m.Metadata())

	c, err := m.GetTensor("c")
	require.NoError(t, err)
	assert.Equal(t, want["c"], c.Data())
	log := s.since(1)
	assert.Equal(t, []string{repo + shard2}, paths(log), "shard 2's header, which holds c as well: one request")
	assert.Equal(t, "", log[0].query, "the index URL's query is not carried to the shards")

	b, err := m.GetSlice("b")
	require.NoError(t, err)
	row, err := b.Get(safetensors.At(1))
	require.NoError(t, err)
	assert.Equal(t, want["b"][3:], row.Data())
	require.NoError(t, m.Verify())
	assert.Equal(t, []string{repo + shard1}, paths(s.since(2)), "shard 1 opened once, for b and Verify")
	shard, err := m.Shard(shard1)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"format": "pt"}, shard.Metadata())

	require.NoError(t, m.Close())
	_, err = m.GetTensor("a")
	assert.ErrorIs(t, err, safetensors.ErrClosed)
}

func TestModelFolderURL(t *testing.T) {
	s, want := shardedRepo(t)
	m, err := remote.OpenModel(context.Background(), s.URL+repo, fast())
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, []string{repo + safetensors.SingleFileName, repo + safetensors.IndexName}, paths(s.since(0)),
		"model.safetensors first, as transformers, then the index")
	a, err := m.GetTensor("a")
	require.NoError(t, err)
	assert.Equal(t, want["a"], a.Data())

	// With model.safetensors present, it wins.
	single, _ := buildFile(nil, u8("only", 7, 3))
	s.setFile(repo+safetensors.SingleFileName, file{data: single})
	m2, err := remote.OpenModel(context.Background(), s.URL+repo, fast())
	require.NoError(t, err)
	defer m2.Close()
	assert.False(t, m2.Sharded())
	assert.Equal(t, []string{"only"}, m2.Keys())
	assert.Equal(t, []string{safetensors.SingleFileName}, m2.Files())

	// Neither.
	_, err = remote.OpenModel(context.Background(), s.URL+"/empty/", fast())
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "neither")
}

func TestModelSingleFileURL(t *testing.T) {
	s, want := shardedRepo(t)
	m, err := remote.OpenModel(context.Background(), s.URL+repo+shard1, fast())
	require.NoError(t, err)
	defer m.Close()
	assert.False(t, m.Sharded())
	assert.Equal(t, []string{"a", "b"}, m.Keys())
	assert.Equal(t, []string{shard1}, m.Files())
	a, err := m.GetTensor("a")
	require.NoError(t, err)
	assert.Equal(t, want["a"], a.Data())
	assert.Len(t, s.since(0), 1)
}

func TestModelIndexErrorsOverHTTP(t *testing.T) {
	s, _ := shardedRepo(t)
	ctx := context.Background()

	t.Run("traversal", func(t *testing.T) {
		s.setFile("/org/model/resolve/secret.safetensors", file{data: stFileOf(u8("a", 1, 1))})
		s.setFile(repo+"bad.index.json", file{data: index([2]string{"a", "../secret.safetensors"})})
		start := s.count()
		_, err := remote.OpenModel(ctx, s.URL+repo+"bad.index.json", fast())
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.Equal(t, []string{repo + "bad.index.json"}, paths(s.since(start)), "nothing outside the folder is asked for")
	})
	t.Run("missing shard", func(t *testing.T) {
		s.setFile(repo+"missing.index.json", file{data: index([2]string{"a", "nowhere.safetensors"})})
		m, err := remote.OpenModel(ctx, s.URL+repo+"missing.index.json", fast())
		require.NoError(t, err, "shards are looked for on first use")
		defer m.Close()
		_, err = m.GetTensor("a")
		assert.ErrorIs(t, err, fs.ErrNotExist)
		assert.Contains(t, err.Error(), "nowhere.safetensors")
	})
	t.Run("index disagrees with a shard", func(t *testing.T) {
		s.setFile(repo+"wrong.index.json", file{data: index([2]string{"a", shard1}, [2]string{"c", shard1})})
		m, err := remote.OpenModel(ctx, s.URL+repo+"wrong.index.json", fast())
		require.NoError(t, err)
		defer m.Close()
		_, err = m.GetTensor("a")
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.ErrorIs(t, m.Verify(), safetensors.ErrInvalidIndex)
	})
	t.Run("not an index", func(t *testing.T) {
		s.setFile(repo+"junk.json", file{data: []byte("<html>")})
		_, err := remote.OpenModel(ctx, s.URL+repo+"junk.json", fast())
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
	})
	t.Run("index too large", func(t *testing.T) {
		opts := fast()
		opts.MaxHeaderSize = 10
		_, err := remote.OpenModel(ctx, s.URL+repo+safetensors.IndexName, opts)
		assert.ErrorIs(t, err, safetensors.ErrInvalidIndex)
		assert.Contains(t, err.Error(), "limit of 10")
	})
	t.Run("index not found", func(t *testing.T) {
		_, err := remote.OpenModel(ctx, s.URL+repo+"absent.json", fast())
		assert.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("index retried", func(t *testing.T) {
		start := s.count()
		s.setHook(func(n int, w http.ResponseWriter, r *http.Request, fl file) bool {
			if n == start {
				http.Error(w, "oops", http.StatusBadGateway)
				return true
			}
			return false
		})
		defer s.setHook(nil)
		m, err := remote.OpenModel(ctx, s.URL+repo+safetensors.IndexName, fast())
		require.NoError(t, err)
		m.Close()
		assert.Len(t, s.since(start), 2)
	})
}

func TestModelShardNamesAreEscaped(t *testing.T) {
	odd := "sub dir/a#b?c%2e.safetensors"
	data := stFileOf(u8("x", 1, 2))
	s := newServer(t, map[string]file{
		repo + "odd.index.json": {data: index([2]string{"x", odd})},
		repo + odd:              {data: data},
	})
	m, err := remote.OpenModel(context.Background(), s.URL+repo+"odd.index.json", fast())
	require.NoError(t, err)
	defer m.Close()
	x, err := m.GetTensor("x")
	require.NoError(t, err)
	assert.Equal(t, pattern(2, 1), x.Data())
	assert.Equal(t, repo+odd, s.since(0)[1].path)
}

func TestModelCancelledContext(t *testing.T) {
	s, _ := shardedRepo(t)
	ctx, cancel := context.WithCancel(context.Background())
	m, err := remote.OpenModel(ctx, s.URL+repo+safetensors.IndexName, fast())
	require.NoError(t, err)
	defer m.Close()
	cancel()
	began := time.Now()
	_, err = m.GetTensor("a")
	assert.ErrorIs(t, err, context.Canceled, "shards opened later use the Model's context")
	assert.Less(t, time.Since(began), 60*time.Second) // a hang guard, generous for a loaded machine
}
