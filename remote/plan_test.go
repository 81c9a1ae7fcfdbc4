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

// f32Matrix is a rows x cols F32 tensor whose element (i, j) is i*cols+j, in
// a file with a pad tensor first, so that the matrix lies after the
// prefix the first request keeps.
func f32Matrix(rows, cols int) (data []byte, start int64) {
	w := make([]byte, rows*cols*4)
	for i := range rows * cols {
		binary.LittleEndian.PutUint32(w[4*i:], uint32(i))
	}
	data, off := buildFile(nil, u8("pad", 9, 120_000), tensor{"w", "F32", []int{rows, cols}, w})
	return data, off["w"][0]
}

// rangeSpans parses the Range headers of log into [first, last] pairs.
func rangeSpans(t *testing.T, log []served) [][2]int64 {
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
// and stepped slices of a 1024x1024 F32 weight (rows of 4 KiB, 4 MiB in
// all), split 8 ways, and compares every result with slicing the file in
// memory.
func TestSlicePlans(t *testing.T) {
	const rows, cols = 1024, 1024
	const row = cols * 4
	data, w0 := f32Matrix(rows, cols)
	s, url := serveOne(t, data)
	local, err := safetensors.Load(data)
	require.NoError(t, err)
	ls, err := local.GetSlice("w")
	require.NoError(t, err)

	// blocks returns the spans [first, last] of count blocks of a column
	// block of columns 384:512 (bytes 1536 to 2047 of each row), each of
	// rows consecutive rows.
	blocks := func(count, rowsEach int64) [][2]int64 {
		var out [][2]int64
		for i := range count {
			first, last := i*rowsEach, (i+1)*rowsEach-1
			out = append(out, [2]int64{w0 + first*row + 1536, w0 + last*row + 2047})
		}
		return out
	}
	cases := []struct {
		name  string
		opts  func(*remote.Options)
		index string
		// The requests wanted, as [first, last] byte pairs of the file,
		// in any order.
		want [][2]int64
	}{{
		// Rank 3's rows: one contiguous range, exactly its bytes.
		name: "row block", index: "384:512, :",
		want: [][2]int64{{w0 + 384*row, w0 + 512*row - 1}},
	}, {
		// Rank 3's columns: 512 bytes of each row, 3584 apart, less than
		// the default MergeGap, so the runs are merged; the span of 4 MiB
		// is cut for the 4 requests in flight (Parallelism), into reads
		// of at most 1 MiB (the floor of that cut): 1 + (1 MiB - 512) /
		// 4096 = 256 rows each, four requests.
		name: "column block", index: ":, 384:512",
		want: blocks(4, 256),
	}, {
		// With requests of at most 256 KiB: 1 + (256 KiB - 512) / 4096 =
		// 64 rows each, 16 requests.
		name: "column block in 256 KiB requests", index: ":, 384:512",
		opts: func(o *remote.Options) { o.ChunkSize = 256 << 10 },
		want: blocks(16, 64),
	}, {
		// Reversed rows: the same requests.
		name: "reversed column block", index: "::-1, 384:512",
		want: blocks(4, 256),
	}, {
		// Every other row, every fourth column: a selected row spans 4084
		// bytes (columns 0 to 1020), rows are 8192 apart; 1 + (1 MiB -
		// 4084) / 8192 = 128 selected rows per request, four requests.
		name: "stepped", index: "::2, ::4",
		want: func() [][2]int64 {
			var out [][2]int64
			for i := range int64(4) {
				out = append(out, [2]int64{w0 + 256*i*row, w0 + (256*i+254)*row + 4083})
			}
			return out
		}(),
	}, {
		// Steps whose gaps exceed MergeGap: one request per run.
		name: "stepped, far apart", index: "::128, 5:7",
		opts: func(o *remote.Options) { o.MergeGap = 1000 },
		want: func() [][2]int64 {
			var out [][2]int64
			for r := int64(0); r < rows; r += 128 {
				out = append(out, [2]int64{w0 + r*row + 20, w0 + r*row + 27})
			}
			return out
		}(),
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
			assert.ElementsMatch(t, c.want, rangeSpans(t, log))
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
	got, err := sl.Get(safetensors.Full(), safetensors.Range(384, 512))
	require.NoError(t, err)
	log := s.since(n)
	want, _ := ls.Get(safetensors.Full(), safetensors.Range(384, 512))
	assert.Equal(t, want.Data(), got.Data())
	assert.Len(t, log, rows)
	assert.Equal(t, int64(rows*512), totalBytes(log))
}
