package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// file lays out a safetensors file from its header JSON (data_offsets
// written by hand) and a data buffer of the right length.
func file(header string, dataLen int) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

// serve starts a loopback server of dir with net/http's file server, which
// answers range requests, and counts the requests and their
// Authorization headers.
func serve(t *testing.T, dir string) (url string, requests *atomic.Int32, auth *atomic.Value) {
	requests, auth = new(atomic.Int32), new(atomic.Value)
	fs := http.FileServer(http.Dir(dir))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		auth.Store(r.Header.Get("Authorization"))
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s.URL, requests, auth
}

func TestRunSingleFile(t *testing.T) {
	dir := t.TempDir()
	// weight F32 [2,3] (24 bytes), bias F32 [3] (12), step I64 [] (8).
	f := file(`{"__metadata__":{"format":"pt"},`+
		`"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},`+
		`"weight":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]},`+
		`"bias":{"dtype":"F32","shape":[3],"data_offsets":[32,44]}}`, 44)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), f, 0o644))
	url, requests, auth := serve(t, dir)

	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, url+"/model.safetensors", "hf_token"))
	// Columns: tabwriter pads each cell to its column's widest plus 2.
	want := "" +
		"bias    F32  [3]\n" +
		"step    I64  []\n" +
		"weight  F32  [2 3]\n" +
		"3 tensors, 10 parameters, 44 bytes, in 1 file\n"
	assert.Equal(t, want, out.String())
	assert.Equal(t, int32(1), requests.Load(), "one range request for the whole header, no tensor data")
	assert.Equal(t, "Bearer hf_token", auth.Load())

	// The folder URL finds model.safetensors.
	out.Reset()
	require.NoError(t, run(context.Background(), &out, url+"/", ""))
	assert.Equal(t, want, out.String())
}

func TestRunSharded(t *testing.T) {
	dir := t.TempDir()
	one := file(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[4,2],"data_offsets":[0,16]}}`, 16)
	two := file(`{"__metadata__":{"format":"pt"},"b":{"dtype":"U8","shape":[5],"data_offsets":[0,5]}}`, 5)
	index := `{
  "metadata": {
    "total_size": 21
  },
  "weight_map": {
    "a": "model-00001-of-00002.safetensors",
    "b": "model-00002-of-00002.safetensors"
  }
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model-00001-of-00002.safetensors"), one, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model-00002-of-00002.safetensors"), two, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(index), 0o644))
	url, requests, auth := serve(t, dir)

	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, url+"/model.safetensors.index.json", ""))
	want := "" +
		"a  BF16  [4 2]\n" +
		"b  U8    [5]\n" +
		"2 tensors, 13 parameters, 21 bytes, in 2 files\n"
	assert.Equal(t, want, out.String())
	assert.Equal(t, int32(3), requests.Load(), "the index, then one request per shard header")
	assert.Equal(t, "", auth.Load(), "no token, no Authorization")
}

func TestRunErrors(t *testing.T) {
	url, _, _ := serve(t, t.TempDir())
	var out bytes.Buffer
	err := run(context.Background(), &out, url+"/missing.safetensors", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "404 Not Found")
	assert.Empty(t, out.String())

	// Nobody listens on port 1: connection refused, retried until the
	// context gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = run(ctx, &out, "http://127.0.0.1:1/x.safetensors", "")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "refused")
}
