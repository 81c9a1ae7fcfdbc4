package safetensors

import (
	"errors"
	"strings"
	"testing"
)

// beFile is a file with U8 tensors "a" = [1] and "b" = [2].
func beFile(t *testing.T) *File {
	t.Helper()
	a, _ := FromValues([]int{1}, []uint8{1})
	b, _ := FromValues([]int{1}, []uint8{2})
	return brFile(t, map[string]Tensor{"a": a, "b": b}, nil)
}

type BeInner struct {
	B []uint8
}

type beHidden struct {
	B []uint8
}

// TestUnmarshalEmbedded: embedded structs add no prefix, as in
// encoding/json: through a pointer (allocated when nil) and through an
// unexported struct type, whose exported fields are promoted. An embedded
// pointer to an unexported type is skipped, as encoding/json skips it: it
// cannot be allocated.
func TestUnmarshalEmbedded(t *testing.T) {
	var p struct {
		A []uint8
		*BeInner
	}
	if err := Unmarshal(beFile(t), &p); err != nil {
		t.Fatalf("embedded pointer: %v", err)
	}
	if p.BeInner == nil || len(p.B) != 1 || p.B[0] != 2 || len(p.A) != 1 || p.A[0] != 1 {
		t.Errorf("embedded pointer: %+v", p)
	}
	var h struct {
		A []uint8
		beHidden
	}
	if err := Unmarshal(beFile(t), &h); err != nil {
		t.Fatalf("embedded unexported struct: %v", err)
	}
	if len(h.B) != 1 || h.B[0] != 2 {
		t.Errorf("embedded unexported struct: %+v", h)
	}
	var s struct {
		A []uint8
		*beHidden
	}
	missing, unexpected, err := UnmarshalOptions{NonStrict: true}.Unmarshal(beFile(t), &s)
	if err != nil || s.beHidden != nil || len(missing) != 0 || len(unexpected) != 1 || unexpected[0] != "b" {
		t.Errorf("embedded pointer to an unexported struct: %v, %v, %v, %+v", missing, unexpected, err, s)
	}
}

// TestBindErrorUnwrap: a BindError is ErrTensorNotFound only when tensors
// are missing, and is each of its field errors.
func TestBindErrorUnwrap(t *testing.T) {
	field := errors.New("field error")
	if e := (&BindError{Fields: []error{field}}); errors.Is(e, ErrTensorNotFound) || !errors.Is(e, field) {
		t.Errorf("field errors only: Is(ErrTensorNotFound) = %v, Is(field) = %v", errors.Is(e, ErrTensorNotFound), errors.Is(e, field))
	}
	if e := (&BindError{Missing: []string{"x"}}); !errors.Is(e, ErrTensorNotFound) {
		t.Error("a missing tensor: not ErrTensorNotFound")
	}
}

// TestBindShapeOptionPlaces: shape and dtype options are for tensor fields,
// a slice of tensors included (each element gets them); on a slice of
// structs they are an error naming the field.
func TestBindShapeOptionPlaces(t *testing.T) {
	var ok struct {
		Ws []Tensor `safetensors:"w,shape=1"`
	}
	if _, _, err := (UnmarshalOptions{NonStrict: true}).Unmarshal(beFile(t), &ok); err != nil {
		t.Errorf("shape on []Tensor: %v", err)
	}
	var bad struct {
		Layers []BeInner `safetensors:"layers,shape=1"`
	}
	_, _, err := (UnmarshalOptions{NonStrict: true}).Unmarshal(beFile(t), &bad)
	if err == nil || !strings.Contains(err.Error(), "field Layers: shape and dtype options apply to tensor fields") {
		t.Errorf("shape on a slice of structs: %v", err)
	}
}
