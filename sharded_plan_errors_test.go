package safetensors

import (
	"errors"
	"math"
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
