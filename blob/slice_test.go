package blob_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
)

// TestS3SlicePlans reads a column block and a row block of a U8 matrix of
// 512 rows of 4096 bytes over S3: the column block's runs, 4032 bytes
// apart, are merged into range reads of its rows' span, cut for the 4
// reads in flight down to 1 MiB: 1 + (1 MiB - 64) / 4096 = 256 rows each,
// so two GETs, where a GET per row would take 512.
func TestS3SlicePlans(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	const rows, cols = 512, 4096
	pad, _ := safetensors.NewTensor(safetensors.U8, []int{120_000}, make([]byte, 120_000))
	mat := make([]byte, rows*cols)
	for i := range mat {
		mat[i] = byte(i*31 + i/cols)
	}
	w, _ := safetensors.NewTensor(safetensors.U8, []int{rows, cols}, mat)
	data := fileBytes(t, map[string]safetensors.Tensor{"a_pad": pad, "w": w})
	put(t, b, "m.safetensors", data)
	local, err := safetensors.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	f, err := blob.OpenBucketFile(context.Background(), b, "m.safetensors", fast)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Info("w")
	w0 := f.DataOffset() + info.DataOffsets[0]
	if w0 < 100_000 {
		t.Fatalf("w starts at %d, inside the prefix", w0)
	}
	s.take()
	for _, c := range []struct {
		index string
		want  []string
	}{
		{":, 100:164", []string{
			fmt.Sprintf("bytes=%d-%d", w0+100, w0+255*cols+163),
			fmt.Sprintf("bytes=%d-%d", w0+256*cols+100, w0+511*cols+163),
		}},
		{"10:20, :", []string{fmt.Sprintf("bytes=%d-%d", w0+10*cols, w0+20*cols-1)}},
	} {
		x, _ := safetensors.ParseIndex(c.index)
		sl, _ := f.GetSlice("w")
		got, err := sl.Get(x...)
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := local.GetSlice("w")
		want, _ := ls.Get(x...)
		if !bytes.Equal(got.Data(), want.Data()) {
			t.Errorf("w[%s]: differs from slicing the file in memory", c.index)
		}
		rs := s.take()
		var rngs []string
		var n int64
		for _, r := range rs {
			rngs = append(rngs, r.rng)
			n += r.bytes
		}
		slices.Sort(rngs)
		slices.Sort(c.want)
		if !slices.Equal(rngs, c.want) {
			t.Errorf("w[%s]: GETs %v, want %v", c.index, rngs, c.want)
		}
		var wantBytes int64
		for _, r := range c.want {
			var a, z int64
			fmt.Sscanf(r, "bytes=%d-%d", &a, &z)
			wantBytes += z - a + 1
		}
		if n != wantBytes {
			t.Errorf("w[%s]: %d bytes sent, want %d", c.index, n, wantBytes)
		}
	}
}

// TestS3MergeGap: with Options.MergeGap negative nothing is merged, so the
// same column block costs a range read of 64 bytes per row, 512 in all.
func TestS3MergeGap(t *testing.T) {
	s := newS3Server(t, 0)
	b := s.bucket(t, "models")
	const rows, cols = 512, 4096
	mat := make([]byte, rows*cols)
	for i := range mat {
		mat[i] = byte(i*7 + i/cols)
	}
	w, _ := safetensors.NewTensor(safetensors.U8, []int{rows, cols}, mat)
	// The padding puts w past the prefix that opening the file reads.
	pad, _ := safetensors.NewTensor(safetensors.U8, []int{120_000}, make([]byte, 120_000))
	data := fileBytes(t, map[string]safetensors.Tensor{"a_pad": pad, "w": w})
	put(t, b, "m.safetensors", data)
	o := *fast
	o.MergeGap = -1
	f, err := blob.OpenBucketFile(context.Background(), b, "m.safetensors", &o)
	if err != nil {
		t.Fatal(err)
	}
	s.take()
	sl, _ := f.GetSlice("w")
	got, err := sl.Get(safetensors.Full(), safetensors.Range(100, 164))
	if err != nil {
		t.Fatal(err)
	}
	for r := range rows {
		if !bytes.Equal(got.Data()[r*64:(r+1)*64], mat[r*cols+100:r*cols+164]) {
			t.Fatalf("row %d differs", r)
		}
	}
	rs := s.take()
	if len(rs) != rows {
		t.Errorf("%d range reads, want one per row: %d", len(rs), rows)
	}
	for _, r := range rs {
		if r.bytes != 64 {
			t.Errorf("a range read of %d bytes (%s), want 64", r.bytes, r.rng)
			break
		}
	}
}
