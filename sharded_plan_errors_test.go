package safetensors

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

// TestPlanShardsOverflowError: a tensor whose byte size overflows is
// refused by PlanShards with a FormatError naming it, wrapping
// ErrOverflow, with no file position (Offset -1: nothing was read).
func TestPlanShardsOverflowError(t *testing.T) {
	_, err := PlanShards([]TensorInfo{{Name: "huge", DType: F32, Shape: []int{math.MaxInt, 3}}}, ShardOptions{})
	var fe *FormatError
	if !errors.As(err, &fe) || !errors.Is(err, ErrOverflow) || fe.Tensor != "huge" || !fe.HasTensor || fe.Offset != -1 || strings.Contains(err.Error(), "at byte") {
		t.Errorf("PlanShards = %v (%#v), want an ErrOverflow FormatError for \"huge\" with Offset -1", err, fe)
	}
}

// TestSaveShardedThreeTiedTensors: three tensors over the very same bytes
// go to the shard of the first (in name order), each listed once, and
// count once in the totals; the folder reads back.
func TestSaveShardedThreeTiedTensors(t *testing.T) {
	shared := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	tensors := map[string]Tensor{}
	for _, n := range []string{"a", "b", "c"} {
		tt, err := NewTensor(U8, []int{8}, shared)
		if err != nil {
			t.Fatal(err)
		}
		tensors[n] = tt
	}
	other, _ := NewTensor(U8, []int{8}, []byte{9, 9, 9, 9, 9, 9, 9, 9})
	tensors["d"] = other
	dir := t.TempDir()
	plan, err := SaveSharded(dir, tensors, ShardOptions{MaxShardSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, f := range plan.Files {
		for _, n := range f.Tensors {
			count[n]++
		}
	}
	if len(plan.Files) != 2 || count["a"] != 1 || count["b"] != 1 || count["c"] != 1 || count["d"] != 1 || plan.TotalSize != 16 {
		t.Errorf("plan %+v: listed %v, total %d; want 2 files, each tensor once, 16 bytes", plan.Files, count, plan.TotalSize)
	}
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, n := range []string{"a", "b", "c"} {
		if got, err := m.GetTensor(n); err != nil || !bytes.Equal(got.Data(), shared) {
			t.Errorf("%s: %v, %v", n, got.Data(), err)
		}
	}
}

// TestSaveShardedFuncShortWrite: a write function that writes a tensor
// short fails the save with an ErrIncompleteBuffer FormatError naming the
// tensor, at no file offset, and nothing is put in place.
func TestSaveShardedFuncShortWrite(t *testing.T) {
	dir := t.TempDir()
	infos := []TensorInfo{{Name: "w", DType: U8, Shape: []int{4}}}
	_, err := SaveShardedFunc(dir, infos, ShardOptions{}, func(w *Writer, name string) error {
		_, err := w.Write([]byte{1, 2, 3})
		return err
	})
	var fe *FormatError
	if !errors.As(err, &fe) || !errors.Is(err, ErrIncompleteBuffer) || fe.Tensor != "w" || fe.Offset != -1 || strings.Contains(err.Error(), "at byte") {
		t.Errorf("SaveShardedFunc = %v, want an ErrIncompleteBuffer FormatError for \"w\" with Offset -1", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the folder holds %d entries after the failed save", len(entries))
	}
}
