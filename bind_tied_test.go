package safetensors

import (
	"errors"
	"testing"
)

// btFile is a file with one F32 tensor "embed" of [1, 2] and metadata that
// maps the missing tensor "head" to it, as save_model records tied weights.
func btFile(t *testing.T) *File {
	t.Helper()
	embed, err := FromFloat32(F32, []int{1, 2}, []float32{1.5, -2})
	if err != nil {
		t.Fatal(err)
	}
	return brFile(t, map[string]Tensor{"embed": embed}, map[string]string{"head": "embed"})
}

// TestUnmarshalTiedWithoutItsSource: a field whose tensor the metadata maps
// to another tensor that no field binds is loaded from that tensor.
func TestUnmarshalTiedWithoutItsSource(t *testing.T) {
	var v struct {
		Head []float32 `safetensors:"head"`
	}
	if err := Unmarshal(btFile(t), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Head) != 2 || v.Head[0] != 1.5 || v.Head[1] != -2 {
		t.Errorf("Head = %v, want [1.5 -2]", v.Head)
	}
}

// TestUnmarshalTiedOfAnotherType: a tied field of another element type
// than its source's field does not share the source's slice: it gets its
// own, converted.
func TestUnmarshalTiedOfAnotherType(t *testing.T) {
	var v struct {
		Embed []float32 `safetensors:"embed"`
		Head  []float64 `safetensors:"head"`
	}
	if err := Unmarshal(btFile(t), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Head) != 2 || v.Head[0] != 1.5 || v.Head[1] != -2 || len(v.Embed) != 2 || v.Embed[0] != 1.5 {
		t.Errorf("Embed = %v, Head = %v, want [1.5 -2] for both", v.Embed, v.Head)
	}
}

// TestUnmarshalTiedOfAnotherShape: a tied field whose shape tag the source
// tensor does not fit is refused, not given the source field's slice.
func TestUnmarshalTiedOfAnotherShape(t *testing.T) {
	var v struct {
		Embed []float32 `safetensors:"embed"`
		Head  []float32 `safetensors:"head,shape=2x1"`
	}
	err := Unmarshal(btFile(t), &v)
	var be *BindError
	if !errors.As(err, &be) || len(be.Fields) != 1 || v.Head != nil {
		t.Errorf("err = %v, Head = %v; want a BindError for Head's shape, Head unset", err, v.Head)
	}
}

// TestBindErrorNamesOnlyWhatHappened: a BindError's message lists missing
// and unexpected tensors only when there are some.
func TestBindErrorNamesOnlyWhatHappened(t *testing.T) {
	for _, c := range []struct {
		e    BindError
		want string
	}{
		{BindError{Missing: []string{"x"}}, `safetensors: binding tensors to the struct: 1 missing: "x"`},
		{BindError{Unexpected: []string{"y", "z"}}, `safetensors: binding tensors to the struct: 2 unexpected: "y", "z"`},
		{BindError{Missing: []string{"x"}, Unexpected: []string{"y"}}, `safetensors: binding tensors to the struct: 1 missing: "x"; 1 unexpected: "y"`},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("Error() = %s, want %s", got, c.want)
		}
	}
}
