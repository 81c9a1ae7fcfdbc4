package safetensors

import (
	"bytes"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// These tests pin the binding rules through Marshal and Unmarshal: the
// names fields get, the shape option at its edges (-1, 0, mismatches), the
// sizing of slices by the file's consecutive indexes, and tied elements.

func brNames(t *testing.T, v any) []string {
	t.Helper()
	m, _, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func TestBindFieldNames(t *testing.T) {
	var v struct {
		QProj      []float32
		LMHead     []float32
		Fc1        []float32
		Conv2D     []float32
		HTTPServer []float32
		A1B        []float32
		X          []float32
		XY         []float32
		Layer0Norm []float32
		ÉtéÀ       []float32
		Tagged     []float32 `safetensors:"a.b"`
		Shaped     []float32 `safetensors:",shape=0"`
		Skipped    []float32 `safetensors:"-"`
		Config     int
	}
	want := []string{"a.b", "a1_b", "conv2_d", "fc1", "http_server", "layer0_norm", "lm_head", "q_proj", "shaped", "x", "xy", "été_à"}
	if got := brNames(t, &v); !reflect.DeepEqual(got, want) {
		t.Errorf("names\n got %q\nwant %q", got, want)
	}
}

func brFile(t *testing.T, tensors map[string]Tensor, meta map[string]string) *File {
	t.Helper()
	var b bytes.Buffer
	if err := Save(&b, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Load(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func brF32(t *testing.T, shape []int, vals ...float32) Tensor {
	t.Helper()
	tt, err := FromValues(shape, vals)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func TestBindShapeOption(t *testing.T) {
	f := brFile(t, map[string]Tensor{"w": brF32(t, []int{2, 3}, 1, 2, 3, 4, 5, 6)}, nil)
	for _, c := range []struct {
		v  any
		ok bool
	}{
		{&struct {
			W []float32 `safetensors:",shape=2x3"`
		}{}, true},
		{&struct {
			W []float32 `safetensors:",shape=-1x3"`
		}{}, true},
		{&struct {
			W []float32 `safetensors:",shape=2x-1"`
		}{}, true},
		{&struct {
			W []float32 `safetensors:",shape=3x2"`
		}{}, false},
		{&struct {
			W []float32 `safetensors:",shape=6"`
		}{}, false},
		{&struct {
			W []float32 `safetensors:",shape=2x3x1"`
		}{}, false},
		{&struct {
			W []float32 `safetensors:",shape=-1x2"`
		}{}, false},
		{&struct {
			W Tensor `safetensors:",shape=2x-1"`
		}{}, true},
		{&struct {
			W Tensor `safetensors:",shape=2"`
		}{}, false},
	} {
		err := Unmarshal(f, c.v)
		if c.ok != (err == nil) {
			t.Errorf("%T: %v", c.v, err)
		}
		if !c.ok && (!errors.Is(err, ErrInvalidTensorInfo) || !strings.Contains(err.Error(), `(tensor "w")`) || !strings.Contains(err.Error(), "shape [2 3], the tag wants")) {
			t.Errorf("%T: %v", c.v, err)
		}
	}
	// Bad shape options.
	for _, tag := range []string{"shape=2xx3", "shape=-1x-1", "shape=-2", "shape=a", "shape=2,shape=3", "size=2", "dtype=F99", "shape"} {
		v := reflect.New(reflect.StructOf([]reflect.StructField{{Name: "W", Type: reflect.TypeOf([]float32{}), Tag: reflect.StructTag(`safetensors:"w,` + tag + `"`)}}))
		if _, _, err := Marshal(v.Interface()); err == nil {
			t.Errorf("tag %q: no error", tag)
		}
		if err := Unmarshal(f, v.Interface()); err == nil {
			t.Errorf("tag %q: Unmarshal gave no error", tag)
		}
	}
	// Marshal computes -1 and checks the count.
	for _, c := range []struct {
		tag   string
		n     int
		shape []int
	}{
		{"shape=-1x3", 6, []int{2, 3}},
		{"shape=3x-1", 6, []int{3, 2}},
		{"shape=-1", 5, []int{5}},
		{"shape=0x-1", 0, nil},
		{"shape=2x3", 6, []int{2, 3}},
		{"shape=2x3", 5, nil},
		{"shape=-1x4", 6, nil},
		{"shape=0x4", 0, []int{0, 4}},
		{"shape=-1x0", 0, nil},
	} {
		typ := reflect.StructOf([]reflect.StructField{{Name: "W", Type: reflect.TypeOf([]float32{}), Tag: reflect.StructTag(`safetensors:"w,` + c.tag + `"`)}})
		v := reflect.New(typ)
		v.Elem().Field(0).Set(reflect.ValueOf(make([]float32, c.n)))
		m, _, err := Marshal(v.Interface())
		if c.shape == nil {
			if !errors.Is(err, ErrInvalidTensorInfo) {
				t.Errorf("%s of %d values: %v", c.tag, c.n, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s of %d values: %v", c.tag, c.n, err)
			continue
		}
		if got := m["w"].Shape(); !reflect.DeepEqual(got, c.shape) {
			t.Errorf("%s of %d values: shape %v, want %v", c.tag, c.n, got, c.shape)
		}
	}
}

func TestBindSlicesByIndex(t *testing.T) {
	one := brF32(t, []int{1}, 1)
	type layer struct{ W []float32 }
	// Consecutive indexes from 0 size the slice; a gap ends it, and what is
	// past the gap is unexpected.
	f := brFile(t, map[string]Tensor{"layers.0.w": one, "layers.1.w": one, "layers.3.w": one, "ws.0": one, "ws.1": one}, nil)
	var v struct {
		Layers []layer
		Ws     [][]float32
	}
	missing, unexpected, err := UnmarshalOptions{NonStrict: true}.Unmarshal(f, &v)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Layers) != 2 || len(v.Ws) != 2 || len(missing) != 0 || !reflect.DeepEqual(unexpected, []string{"layers.3.w"}) {
		t.Errorf("layers %d, ws %d, missing %q, unexpected %q", len(v.Layers), len(v.Ws), missing, unexpected)
	}
	err = Unmarshal(f, &v)
	var be *BindError
	if !errors.As(err, &be) || !reflect.DeepEqual(be.Unexpected, []string{"layers.3.w"}) || len(be.Missing) != 0 {
		t.Errorf("strict: %v", err)
	}
	// A slice with elements expects exactly that many.
	w := struct{ Ws [][]float32 }{Ws: make([][]float32, 3)}
	err = Unmarshal(brFile(t, map[string]Tensor{"ws.0": one, "ws.1": one}, nil), &w)
	if !errors.As(err, &be) || !reflect.DeepEqual(be.Missing, []string{"ws.2"}) || !errors.Is(err, ErrTensorNotFound) {
		t.Errorf("a slice of 3 for 2 tensors: %v", err)
	}
	// No index 0: an empty slice.
	var e struct{ Ws [][]float32 }
	if _, unexpected, err := (UnmarshalOptions{NonStrict: true}).Unmarshal(brFile(t, map[string]Tensor{"ws.1": one}, nil), &e); err != nil || len(e.Ws) != 0 || !reflect.DeepEqual(unexpected, []string{"ws.1"}) {
		t.Errorf("no index 0: %d, %q, %v", len(e.Ws), unexpected, err)
	}
	// A tied element counts: its name maps to a tensor of the file.
	tied := brFile(t, map[string]Tensor{"ws.0": one}, map[string]string{"ws.1": "ws.0"})
	var tv struct{ Ws [][]float32 }
	if err := Unmarshal(tied, &tv); err != nil || len(tv.Ws) != 2 || tv.Ws[1][0] != 1 {
		t.Errorf("tied element: %v, %v", tv.Ws, err)
	}
	// Metadata naming a missing tensor is no element.
	broken := brFile(t, map[string]Tensor{"ws.0": one}, map[string]string{"ws.1": "nope", "ws.2": ""})
	var bv struct{ Ws [][]float32 }
	if err := Unmarshal(broken, &bv); err != nil || len(bv.Ws) != 1 {
		t.Errorf("metadata to nothing: %v, %v", bv.Ws, err)
	}
}

func TestBindMarshalTies(t *testing.T) {
	shared := []float32{1, 2}
	v := struct {
		B []float32
		A []float32
		C []float32 `safetensors:",shape=1x2"`
		D []float32
	}{B: shared, A: shared, C: shared, D: shared[:1]}
	m, meta, err := Marshal(&v)
	if err != nil {
		t.Fatal(err)
	}
	// A and B are one tensor (same slice, dtype, shape): kept under "a".
	// C has another shape and D another length: written apart.
	if _, ok := m["b"]; ok || !reflect.DeepEqual(meta, map[string]string{"b": "a"}) {
		t.Errorf("tensors %v, metadata %v", slices.Sorted(maps.Keys(m)), meta)
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no tensor %q", k)
		}
	}
	// Two fields naming one tensor.
	dup := struct {
		A []float32 `safetensors:"x"`
		B []float32 `safetensors:"x"`
	}{}
	if _, _, err := Marshal(&dup); err == nil || !strings.Contains(err.Error(), `both name tensor "x"`) {
		t.Errorf("two fields, one name: %v", err)
	}
	// A zero Tensor.
	var z struct{ T Tensor }
	if _, _, err := Marshal(&z); !errors.Is(err, ErrInvalidTensorInfo) {
		t.Errorf("zero Tensor: %v", err)
	}
}
