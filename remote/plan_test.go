package remote_test

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// matrix is a rows x cols F32 tensor whose element (i, j) is i*cols+j, in
// a file with a pad tensor first, so that the matrix lies after the
// prefix the first request keeps.
func matrix(rows, cols int) (data []byte, start int64) {
	w := make([]byte, rows*cols*4)
	for i := range rows * cols {
		binary.LittleEndian.PutUint32(w[4*i:], uint32(i))
	}
	data, off := buildFile(nil, u8("pad", 9, 120_000), tensor{"w", "F32", []int{rows, cols}, w})
	return data, off["w"][0]
}

// spans parses the Range headers of log into [first, last] pairs.
func spans(t *testing.T, log []served) [][2]int64 {
	t.Helper()
	out := make([][2]int64, len(log))
	for i, l := range log {
		a, b, ok := strings.Cut(strings.TrimPrefix(l.rng, "bytes="), "-")
		first, err1 := strconv.ParseInt(a, 10, 64)
		last, err2 := strconv.ParseInt(b, 10, 64)
		require.True(t, ok && err1 == nil && err2 == nil, "Range %q", l.rng)
		out[i] = [2]int64{first, last}
	}
	return out
}

// TestSlicePlans counts the requests and bytes of Megatron-style blocks
// and stepped slices of a 512x512 F32 weight (rows of 2 KiB), split 8
// ways, and compares every result with slicing the file in memory.
func TestSlicePlans(t *testing.T) {
	const rows, cols = 512, 512
	const row = cols * 4
	data, w0 := matrix(rows, cols)
	s, url := serveOne(t, data)
	local, err := safetensors.Load(data)
	require.NoError(t, err)
	ls, err := local.GetSlice("w")
	require.NoError(t, err)

	cases := []struct {
		name  string
		opts  func(*remote.Options)
		index string
		// The requests wanted, as [first, last] byte pairs of the file,
		// in any order.
		want [][2]int64
	}{{
		// Rank 3's rows: one contiguous range, exactly its bytes.
		name: "row block", index: "192:256, :",
		want: [][2]int64{{w0 + 192*row, w0 + 256*row - 1}},
	}, {
		// Rank 3's columns: 256 bytes of each row, 1792 apart, less than
		// the default MergeGap: one request from the first run to the last.
		name: "column block", index: ":, 192:256",
		want: [][2]int64{{w0 + 192*4, w0 + 511*row + 256*4 - 1}},
	}, {
		// The same with requests of at most 256 KiB: each takes as many
		// rows as fit, 1 + (262144-256)/2048 = 128, so four requests.
		name: "column block in 256 KiB requests", index: ":, 192:256",
		opts: func(o *remote.Options) { o.ChunkSize = 256 << 10 },
		want: [][2]int64{
			{w0 + 0*row + 768, w0 + 127*row + 1023},
			{w0 + 128*row + 768, w0 + 255*row + 1023},
			{w0 + 256*row + 768, w0 + 383*row + 1023},
			{w0 + 384*row + 768, w0 + 511*row + 1023},
		},
	}, {
		// Reversed rows: the same one request.
		name: "reversed column block", index: "::-1, 192:256",
		want: [][2]int64{{w0 + 192*4, w0 + 511*row + 256*4 - 1}},
	}, {
		// Every other row, every fourth column: one request over the rows'
		// span, from element (0, 0) to element (510, 508).
		name: "stepped", index: "::2, ::4",
		want: [][2]int64{{w0, w0 + 510*row + 508*4 + 3}},
	}, {
		// Steps whose gaps exceed MergeGap: one request per run.
		name: "stepped, far apart", index: "::128, 5:7",
		opts: func(o *remote.Options) { o.MergeGap = 1000 },
		want: [][2]int64{
			{w0 + 0*row + 20, w0 + 0*row + 27},
			{w0 + 128*row + 20, w0 + 128*row + 27},
			{w0 + 256*row + 20, w0 + 256*row + 27},
			{w0 + 384*row + 20, w0 + 384*row + 27},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := fast()
			if c.opts != nil {
				c.opts(o)
			}
			f, err := remote.Open(context.Background(), url, o)
			require.NoError(t, err)
			defer f.Close()
			sl, err := f.GetSlice("w")
			require.NoError(t, err)
			x, err := safetensors.ParseIndex(c.index)
			require.NoError(t, err)
			n := s.count()
			got, err := sl.Get(x...)
			require.NoError(t, err)
			log := s.since(n)
			want, err := ls.Get(x...)
			require.NoError(t, err)
			assert.Equal(t, want.Shape(), got.Shape())
			assert.Equal(t, want.Data(), got.Data(), "the values of slicing the file in memory")
			assert.ElementsMatch(t, c.want, spans(t, log))
			var bytes int64
			for _, w := range c.want {
				bytes += w[1] - w[0] + 1
			}
			assert.Equal(t, bytes, totalBytes(log), "each requested byte sent once")
		})
	}

	// Without merging, a column block costs a request per row.
	o := fast()
	o.MergeGap = -1
	f, err := remote.Open(context.Background(), url, o)
	require.NoError(t, err)
	defer f.Close()
	sl, err := f.GetSlice("w")
	require.NoError(t, err)
	n := s.count()
	got, err := sl.Get(safetensors.Full(), safetensors.Range(192, 256))
	require.NoError(t, err)
	log := s.since(n)
	want, _ := ls.Get(safetensors.Full(), safetensors.Range(192, 256))
	assert.Equal(t, want.Data(), got.Data())
	assert.Len(t, log, rows)
	assert.Equal(t, int64(rows*256), totalBytes(log))
}
