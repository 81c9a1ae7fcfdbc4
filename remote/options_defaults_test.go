package remote_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/safetensors-go/safetensors/remote"
)

// TestReadHintsFollowOptions: the plan that remote gives the reader of
// slices uses the documented defaults for zero (or negative) ChunkSize and
// Parallelism, and the caller's values otherwise, the smallest positive ones
// included.
func TestReadHintsFollowOptions(t *testing.T) {
	s := vsServe(t, func(n int, w http.ResponseWriter, r *http.Request) { vsRange(w, r) })
	for _, c := range []struct {
		chunk, wantChunk int64
		parallelism      int
		wantPar          int
	}{
		{0, remote.DefaultChunkSize, 0, remote.DefaultParallelism},
		{-5, remote.DefaultChunkSize, -1, remote.DefaultParallelism},
		{1, 1, 1, 1},
		{64 << 10, 64 << 10, 3, 3},
		{remote.DefaultChunkSize * 2, remote.DefaultChunkSize * 2, remote.DefaultParallelism + 5, remote.DefaultParallelism + 5},
	} {
		o := vsOpts(-1)
		o.ChunkSize, o.Parallelism = c.chunk, c.parallelism
		r, err := remote.NewReaderAt(context.Background(), s.URL, o)
		if err != nil {
			t.Fatal(err)
		}
		h := r.ReadHints()
		if h.MaxRead != c.wantChunk || h.Concurrency != c.wantPar {
			t.Errorf("ChunkSize %d, Parallelism %d: hints MaxRead %d, Concurrency %d; want %d, %d",
				c.chunk, c.parallelism, h.MaxRead, h.Concurrency, c.wantChunk, c.wantPar)
		}
	}
}
