package fetch

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mem is a Source over bytes that records its reads and how many were in
// flight at once.
type mem struct {
	data     []byte
	mu       sync.Mutex
	reads    [][2]int64 // offset, length
	inflight atomic.Int32
	peak     atomic.Int32
	delay    time.Duration
}

func (m *mem) ReadAt(ctx context.Context, p []byte, off int64) error {
	n := m.inflight.Add(1)
	defer m.inflight.Add(-1)
	for {
		old := m.peak.Load()
		if n <= old || m.peak.CompareAndSwap(old, n) {
			break
		}
	}
	m.mu.Lock()
	m.reads = append(m.reads, [2]int64{off, int64(len(p))})
	m.mu.Unlock()
	if m.delay > 0 {
		select {
		case <-time.After(m.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	copy(p, m.data[off:])
	return nil
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestMerge(t *testing.T) {
	buf := make([]byte, 100)
	capped := buf[0:10:10]
	runs := []Run{
		{Src: 0, Off: 0, Dst: buf[0:10]},
		{Src: 0, Off: 10, Dst: buf[10:30]}, // adjacent in source and memory: merged
		{Src: 0, Off: 40, Dst: buf[30:40]}, // a gap in the source
		{Src: 1, Off: 50, Dst: buf[40:50]}, // another source
		{Src: 1, Off: 60, Dst: buf[60:70]}, // a gap in memory
		{Src: 1, Off: 70, Dst: buf[70:70]}, // empty: dropped
		{Src: 1, Off: 70, Dst: buf[70:80]}, // adjacent to the one before the empty one
	}
	got := Merge(runs)
	want := [][3]int{{0, 0, 30}, {0, 40, 10}, {1, 50, 10}, {1, 60, 20}}
	if len(got) != len(want) {
		t.Fatalf("Merge gave %d runs, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Src != w[0] || got[i].Off != int64(w[1]) || len(got[i].Dst) != w[2] {
			t.Errorf("run %d: source %d offset %d length %d, want %v", i, got[i].Src, got[i].Off, len(got[i].Dst), w)
		}
	}
	// A destination whose capacity ends where it does cannot grow into
	// its neighbour, even though the neighbour follows it in memory.
	if got := Merge([]Run{{Off: 0, Dst: capped}, {Off: 10, Dst: buf[10:20]}}); len(got) != 2 {
		t.Errorf("Merge joined a capped destination with its neighbour: %d runs", len(got))
	}
	// Two separate allocations never merge.
	a, b := make([]byte, 8), make([]byte, 8)
	if got := Merge([]Run{{Off: 0, Dst: a}, {Off: 8, Dst: b}}); len(got) != 2 {
		t.Errorf("Merge joined two allocations: %d runs", len(got))
	}
}

func TestDo(t *testing.T) {
	src := &mem{data: pattern(1 << 20), delay: 5 * time.Millisecond}
	dst := make([]byte, 1<<20)
	// Tensors laid out as in the file, plus one read twice elsewhere.
	other := make([]byte, 5000)
	runs := []Run{
		{Off: 0, Dst: dst[:300_000]},
		{Off: 300_000, Dst: dst[300_000 : 1<<20]},
		{Off: 123, Dst: other},
	}
	var calls []int64
	err := Do(context.Background(), []Source{src}, runs, Options{
		Concurrency: 3, ChunkSize: 64 << 10,
		Progress: func(done int64) { calls = append(calls, done) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst, src.data) || !bytes.Equal(other, src.data[123:5123]) {
		t.Fatal("wrong bytes")
	}
	// 1 MiB merged into one run, then 16 chunks of 64 KiB; plus one.
	if len(src.reads) != 17 {
		t.Errorf("%d reads, want 17", len(src.reads))
	}
	for _, r := range src.reads {
		if r[1] > 64<<10 {
			t.Errorf("a read of %d bytes, more than the chunk size", r[1])
		}
	}
	if p := src.peak.Load(); p > 3 || p < 2 {
		t.Errorf("%d reads in flight at once, want 2 or 3 (at most Concurrency)", p)
	}
	if len(calls) != 17 || calls[len(calls)-1] != 1<<20+5000 {
		t.Errorf("progress calls %v: want 17 ending at %d", calls, 1<<20+5000)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] <= calls[i-1] {
			t.Errorf("progress went from %d to %d", calls[i-1], calls[i])
		}
	}
}

func TestDoError(t *testing.T) {
	boom := errors.New("boom")
	var reads atomic.Int32
	src := SourceFunc(func(ctx context.Context, p []byte, off int64) error {
		reads.Add(1)
		if off == 5*1024 {
			return boom
		}
		return nil
	})
	dst := make([]byte, 100*1024)
	err := Do(context.Background(), []Source{src}, []Run{{Dst: dst}}, Options{Concurrency: 1, ChunkSize: 1024})
	var fe *Error
	if !errors.Is(err, boom) || !errors.As(err, &fe) || fe.Off != 5*1024 || fe.Len != 1024 {
		t.Fatalf("err = %v, want boom at offset 5120 of 1024 bytes", err)
	}
	if n := reads.Load(); n != 6 {
		t.Errorf("%d reads after a failure at the 6th of 100, one at a time", n)
	}
	if err := Do(context.Background(), []Source{src}, []Run{{Src: 1, Dst: dst}}, Options{}); err == nil {
		t.Error("a run of a source that does not exist was accepted")
	}
}

func TestDoCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var reads atomic.Int32
	src := SourceFunc(func(c context.Context, p []byte, off int64) error {
		if reads.Add(1) == 3 {
			cancel()
		}
		<-c.Done() // a source that honours ctx returns at once
		return c.Err()
	})
	dst := make([]byte, 1<<20)
	done := make(chan error)
	go func() { done <- Do(ctx, []Source{src}, []Run{{Dst: dst}}, Options{Concurrency: 4, ChunkSize: 1024}) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		var fe *Error
		if errors.As(err, &fe) {
			t.Errorf("cancellation reported as a read error: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Do did not return after cancellation")
	}
	if n := reads.Load(); n > 4 {
		t.Errorf("%d reads started for 1024 chunks with 4 workers, after cancelling at the 3rd", n)
	}
	// Canceled before it starts: nothing is read.
	reads.Store(0)
	if err := Do(ctx, []Source{src}, []Run{{Dst: dst}}, Options{}); !errors.Is(err, context.Canceled) || reads.Load() != 0 {
		t.Errorf("on a canceled context: err = %v after %d reads", err, reads.Load())
	}
}
