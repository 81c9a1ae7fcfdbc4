package fetch

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

// pickEvery2 picks every other byte of a span, from arg on.
type pickEvery2 struct{}

func (pickEvery2) Pick(dst, span []byte, arg int64) {
	for i := range dst {
		dst[i] = span[arg+2*int64(i)]
	}
}

// yieldPieces yields ps in order.
func yieldPieces(ps ...Piece) func() (Piece, bool) {
	return func() (Piece, bool) {
		if len(ps) == 0 {
			return Piece{}, false
		}
		p := ps[0]
		ps = ps[1:]
		return p, true
	}
}

func TestReadGroups(t *testing.T) {
	data := pattern(1 << 16)
	a, b, c, d := make([]byte, 100), make([]byte, 100), make([]byte, 50), make([]byte, 3000)
	far := make([]byte, 10)
	ps := []Piece{
		{Off: 1000, Len: 100, Dst: a},                     // [1000, 1100)
		{Off: 1150, Len: 100, Dst: b},                     // 50 bytes after: merged
		{Off: 1300, Len: 100, Dst: c, Pick: pickEvery2{}}, // 50 after: merged, picked
		{Off: 9000, Len: 10, Dst: far},                    // far: its own read
		{Off: 20000, Len: 3000, Dst: d},                   // longer than MaxMerge: in parts of MaxRead
	}
	src := &mem{data: data}
	var done []int64
	err := Read(context.Background(), []Source{src}, []Hints{{Gap: 64, MaxMerge: 1024, MaxRead: 1000}}, yieldPieces(ps...),
		ReadOptions{Concurrency: 1, Progress: func(n int64) { done = append(done, n) }})
	if err != nil {
		t.Fatal(err)
	}
	want := [][2]int64{{1000, 400}, {9000, 10}, {20000, 1000}, {21000, 1000}, {22000, 1000}}
	if !slices.Equal(src.reads, want) {
		t.Errorf("reads %v, want %v", src.reads, want)
	}
	if !bytes.Equal(a, data[1000:1100]) || !bytes.Equal(b, data[1150:1250]) || !bytes.Equal(far, data[9000:9010]) || !bytes.Equal(d, data[20000:23000]) {
		t.Error("wrong bytes")
	}
	for i := range c {
		if c[i] != data[1300+2*i] {
			t.Fatalf("picked byte %d = %d, want %d", i, c[i], data[1300+2*i])
		}
	}
	if !slices.Equal(done, []int64{250, 260, 1260, 2260, 3260}) {
		t.Errorf("progress %v", done)
	}

	// A gap of one byte more than Gap, or a span one byte over MaxMerge,
	// starts a new read; so do a negative Gap and another source.
	for _, c := range []struct {
		name  string
		h     Hints
		ps    []Piece
		srcs  int
		reads int
	}{
		{"gap at the limit", Hints{Gap: 50, MaxMerge: 1 << 10}, []Piece{{Off: 0, Len: 10}, {Off: 60, Len: 10}}, 1, 1},
		{"gap over the limit", Hints{Gap: 49, MaxMerge: 1 << 10}, []Piece{{Off: 0, Len: 10}, {Off: 60, Len: 10}}, 1, 2},
		{"span at the limit", Hints{Gap: 50, MaxMerge: 70}, []Piece{{Off: 0, Len: 10}, {Off: 60, Len: 10}}, 1, 1},
		{"span over the limit", Hints{Gap: 50, MaxMerge: 69}, []Piece{{Off: 0, Len: 10}, {Off: 60, Len: 10}}, 1, 2},
		{"descending", Hints{Gap: 50, MaxMerge: 1 << 10}, []Piece{{Off: 60, Len: 10}, {Off: 0, Len: 10}}, 1, 1},
		{"negative gap", Hints{Gap: -1, MaxMerge: 1 << 10}, []Piece{{Off: 0, Len: 10}, {Off: 10, Len: 10}}, 1, 2},
		{"two sources", Hints{Gap: 50, MaxMerge: 1 << 10}, []Piece{{Off: 0, Len: 10}, {Src: 1, Off: 10, Len: 10}}, 2, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			srcs := make([]Source, c.srcs)
			hints := make([]Hints, c.srcs)
			ms := make([]*mem, c.srcs)
			for i := range srcs {
				ms[i] = &mem{data: data}
				srcs[i], hints[i] = ms[i], c.h
			}
			for i := range c.ps {
				c.ps[i].Dst = make([]byte, c.ps[i].Len)
			}
			if err := Read(context.Background(), srcs, hints, yieldPieces(c.ps...), ReadOptions{Concurrency: 2}); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, m := range ms {
				n += len(m.reads)
			}
			if n != c.reads {
				t.Errorf("%d reads, want %d", n, c.reads)
			}
			for _, p := range c.ps {
				if !bytes.Equal(p.Dst, data[p.Off:p.Off+p.Len]) {
					t.Errorf("piece at %d: wrong bytes", p.Off)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	boom := errors.New("boom")
	src := SourceFunc(func(ctx context.Context, p []byte, off int64) error {
		if off == 2000 {
			return boom
		}
		return nil
	})
	h := []Hints{{Gap: 10, MaxMerge: 100}}
	err := Read(context.Background(), []Source{src}, h, yieldPieces(
		Piece{Off: 0, Len: 10, Dst: make([]byte, 10)},
		Piece{Off: 2000, Len: 10, Dst: make([]byte, 10)},
		Piece{Off: 2015, Len: 10, Dst: make([]byte, 10)},
	), ReadOptions{})
	var fe *Error
	if !errors.Is(err, boom) || !errors.As(err, &fe) || fe.Off != 2000 || fe.Len != 25 {
		t.Errorf("err = %v, want boom for the merged read of 25 bytes at 2000", err)
	}
	for _, bad := range []Piece{
		{Src: 1, Len: 1, Dst: make([]byte, 1)},
		{Off: -1, Len: 1, Dst: make([]byte, 1)},
		{Len: 2, Dst: make([]byte, 1)},
	} {
		if err := Read(context.Background(), []Source{src}, h, yieldPieces(bad), ReadOptions{}); err == nil {
			t.Errorf("piece %+v accepted", bad)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Read(ctx, []Source{src}, h, yieldPieces(Piece{Len: 1, Dst: make([]byte, 1)}), ReadOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("on a canceled context: %v", err)
	}
}
