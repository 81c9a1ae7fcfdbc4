package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/x448/float16"
)

// handBuiltFile assembles a safetensors file by hand, independently of the
// package's writer: the 8-byte little-endian header length, compact JSON,
// then the tensors' bytes back to back in name order, and loads it.
func handBuiltFile(t *testing.T, tensors map[string]Tensor, meta map[string]string) *File {
	t.Helper()
	var hdr strings.Builder
	hdr.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	if meta != nil {
		sep()
		m, err := json.Marshal(meta)
		if err != nil {
			t.Fatal(err)
		}
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(m)
	}
	var data []byte
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		tt := tensors[name]
		sep()
		q, _ := json.Marshal(name)
		shape, _ := json.Marshal(tt.Shape())
		begin := len(data)
		data = append(data, tt.Data()...)
		hdr.Write(q)
		hdr.WriteString(`:{"dtype":"` + tt.DType().String() + `","shape":` + string(shape) +
			`,"data_offsets":[` + itoaJSON(begin) + `,` + itoaJSON(len(data)) + `]}`)
	}
	hdr.WriteByte('}')
	file := binary.LittleEndian.AppendUint64(nil, uint64(hdr.Len()))
	file = append(file, hdr.String()...)
	file = append(file, data...)
	f, err := Load(file)
	if err != nil {
		t.Fatalf("Load of the hand-built file: %v\n%s", err, hdr.String())
	}
	return f
}

func itoaJSON(n int) string { b, _ := json.Marshal(n); return string(b) }

func f32Tensor(t *testing.T, shape []int, vals ...float32) Tensor {
	t.Helper()
	tt, err := FromFloat32(F32, shape, vals)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func encTensor(t *testing.T, d DType, shape []int, vals ...float32) Tensor {
	t.Helper()
	tt, err := FromFloat32(d, shape, vals)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func seqF32(n int, start float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = start + float32(i)
	}
	return out
}

type bindAttn struct {
	QProj []float32  `safetensors:"q_proj.weight,shape=2x2"`
	KProj []BFloat16 `safetensors:"k_proj.weight"`
}

type bindLayer struct {
	Attn    bindAttn  // default name: attn
	Norm    []float32 `safetensors:"input_layernorm.weight"` // tagged
	Experts []Tensor  `safetensors:"experts"`                // a slice of leaves: experts.0, experts.1
}

type bindModel struct {
	EmbedTokens []float32 `safetensors:"embed_tokens.weight,shape=3x2"`
	Layers      []bindLayer
	LMHead      []float32 `safetensors:"lm_head.weight,shape=3x2"`
	Final       *bindNorm `safetensors:"norm"`
	HiddenSize  int       // not a tensor: ignored
	Ignored     []float32 `safetensors:"-"`
}

type bindNorm struct {
	Weight []float16.Float16
	Eps    float64
}

// bindModelTensors are the tensors of a file for bindModel with two layers, in several dtypes.
func bindModelTensors(t *testing.T) map[string]Tensor {
	return map[string]Tensor{
		"embed_tokens.weight":             f32Tensor(t, []int{3, 2}, seqF32(6, 0)...),
		"lm_head.weight":                  encTensor(t, BF16, []int{3, 2}, seqF32(6, 10)...),
		"norm.weight":                     encTensor(t, F32, []int{2}, 0.5, 1.00048828125), // 1 + 2^-11: a tie in F16, to even 1.0
		"layers.0.attn.q_proj.weight":     encTensor(t, BF16, []int{2, 2}, 1, 2, 3, 4),
		"layers.0.attn.k_proj.weight":     encTensor(t, F32, []int{2}, 1.00390625, 1.01171875), // ties in BF16: to 1.0 and 1.015625
		"layers.0.input_layernorm.weight": encTensor(t, F8E4M3, []int{2}, 0.5, 448),
		"layers.0.experts.0":              encTensor(t, I8, []int{3}, 1, 2, 3),
		"layers.0.experts.1":              encTensor(t, I8, []int{1}, 4),
		"layers.1.attn.q_proj.weight":     encTensor(t, F16, []int{2, 2}, 5, 6, 7, 8),
		"layers.1.attn.k_proj.weight":     encTensor(t, BF16, []int{2}, -1, -2),
		"layers.1.input_layernorm.weight": encTensor(t, F4, []int{2}, 6, -0.5),
	}
}

func TestUnmarshalNestedAndRepeated(t *testing.T) {
	f := handBuiltFile(t, bindModelTensors(t), nil)
	var m bindModel
	m.Ignored = []float32{42}
	if err := Unmarshal(f, &m); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.EmbedTokens, seqF32(6, 0)) || !slices.Equal(m.LMHead, seqF32(6, 10)) {
		t.Errorf("embed %v, lm_head %v", m.EmbedTokens, m.LMHead)
	}
	if len(m.Layers) != 2 {
		t.Fatalf("%d layers, want 2 (sized from the file)", len(m.Layers))
	}
	l0, l1 := m.Layers[0], m.Layers[1]
	if !slices.Equal(l0.Attn.QProj, []float32{1, 2, 3, 4}) || !slices.Equal(l1.Attn.QProj, []float32{5, 6, 7, 8}) {
		t.Errorf("q_proj: %v %v", l0.Attn.QProj, l1.Attn.QProj)
	}
	// F32 -> BF16 field: 1+2^-8 ties to 1.0 (even); 1+3*2^-8 ties to 1+2^-6.
	if got := []uint16{l0.Attn.KProj[0].Bits(), l0.Attn.KProj[1].Bits()}; !slices.Equal(got, []uint16{0x3F80, 0x3F82}) {
		t.Errorf("k_proj BF16 bits %#x, want [0x3f80 0x3f82]", got)
	}
	if l1.Attn.KProj[0].Float32() != -1 || l1.Attn.KProj[1].Float32() != -2 {
		t.Errorf("layers.1 k_proj: %v", l1.Attn.KProj)
	}
	if !slices.Equal(l0.Norm, []float32{0.5, 448}) || !slices.Equal(l1.Norm, []float32{6, -0.5}) {
		t.Errorf("norms (F8_E4M3, F4): %v %v", l0.Norm, l1.Norm)
	}
	if len(l0.Experts) != 2 || l0.Experts[0].DType() != I8 || !slices.Equal(l0.Experts[1].Data(), []byte{4}) || len(l1.Experts) != 0 {
		t.Errorf("experts: %v / %v", l0.Experts, l1.Experts)
	}
	// A Tensor field is the file's tensor itself: a view of its bytes.
	raw, _ := f.GetTensor("layers.0.experts.0")
	if &l0.Experts[0].Data()[0] != &raw.Data()[0] {
		t.Error("Tensor field is not a view of the file")
	}
	// F32 -> F16 field: 1 + 2^-11 ties to 1.0.
	if m.Final == nil || m.Final.Weight[0].Float32() != 0.5 || m.Final.Weight[1].Bits() != 0x3C00 {
		t.Errorf("norm: %+v", m.Final)
	}
	if !slices.Equal(m.Ignored, []float32{42}) {
		t.Error("a field tagged - was touched")
	}
	// []float32 of an F32 tensor is a copy, not a view of the file.
	src, _ := f.GetTensor("embed_tokens.weight")
	if &src.Data()[0] == (*byte)(nil) || &m.EmbedTokens[0] == f32ViewOf(src) {
		t.Error("[]float32 field aliases the file")
	}
}

func f32ViewOf(t Tensor) *float32 {
	v, err := Values[float32](t)
	if err != nil || len(v) == 0 {
		return nil
	}
	return &v[0]
}

func TestUnmarshalMissingAndUnexpected(t *testing.T) {
	tensors := bindModelTensors(t)
	delete(tensors, "layers.1.input_layernorm.weight")
	delete(tensors, "norm.weight")
	tensors["rotary_emb.inv_freq"] = f32Tensor(t, []int{1}, 1)
	tensors["layers.0.mlp.up_proj.weight"] = f32Tensor(t, []int{1}, 1)
	f := handBuiltFile(t, tensors, map[string]string{"format": "pt"})

	var m bindModel
	err := Unmarshal(f, &m)
	var be *BindError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *BindError", err)
	}
	if !slices.Equal(be.Missing, []string{"layers.1.input_layernorm.weight", "norm.weight"}) ||
		!slices.Equal(be.Unexpected, []string{"layers.0.mlp.up_proj.weight", "rotary_emb.inv_freq"}) || len(be.Fields) != 0 {
		t.Errorf("missing %q, unexpected %q, fields %v", be.Missing, be.Unexpected, be.Fields)
	}
	if !errors.Is(err, ErrTensorNotFound) {
		t.Error("BindError with missing tensors does not match ErrTensorNotFound")
	}
	for _, want := range []string{`2 missing: "layers.1.input_layernorm.weight", "norm.weight"`, `2 unexpected: "layers.0.mlp.up_proj.weight", "rotary_emb.inv_freq"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Everything else was loaded all the same.
	if !slices.Equal(m.Layers[1].Attn.QProj, []float32{5, 6, 7, 8}) {
		t.Error("strict failure did not load the rest")
	}

	// Non-strict: the same lists, no error; missing fields untouched.
	var m2 bindModel
	m2.Layers = make([]bindLayer, 2)
	m2.Layers[1].Norm = []float32{-1}
	missing, unexpected, err := UnmarshalOptions{NonStrict: true}.Unmarshal(f, &m2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, be.Missing) || !slices.Equal(unexpected, be.Unexpected) {
		t.Errorf("non-strict: missing %q, unexpected %q", missing, unexpected)
	}
	if !slices.Equal(m2.Layers[1].Norm, []float32{-1}) {
		t.Error("non-strict: a missing field was changed")
	}
	if m2.Final == nil || m2.Final.Weight != nil {
		t.Errorf("non-strict: Final = %+v (allocated, nothing loaded)", m2.Final)
	}

	// A preallocated slice of layers expects that many.
	var m3 bindModel
	m3.Layers = make([]bindLayer, 3)
	_, _, err = UnmarshalOptions{NonStrict: true}.Unmarshal(handBuiltFile(t, bindModelTensors(t), nil), &m3)
	if err != nil {
		t.Fatal(err)
	}
	err = Unmarshal(handBuiltFile(t, bindModelTensors(t), nil), &m3)
	if !errors.As(err, &be) || !slices.Equal(be.Missing, []string{"layers.2.attn.k_proj.weight", "layers.2.attn.q_proj.weight", "layers.2.input_layernorm.weight"}) {
		t.Errorf("3 layers preallocated: %v", err)
	}
}

func TestUnmarshalShapeMismatch(t *testing.T) {
	tensors := bindModelTensors(t)
	tensors["layers.1.attn.q_proj.weight"] = f32Tensor(t, []int{4}, 1, 2, 3, 4) // same count, wrong shape
	tensors["lm_head.weight"] = f32Tensor(t, []int{2, 3}, seqF32(6, 0)...)
	f := handBuiltFile(t, tensors, nil)
	var m bindModel
	err := Unmarshal(f, &m)
	var be *BindError
	if !errors.As(err, &be) || len(be.Fields) != 2 || len(be.Missing)+len(be.Unexpected) != 0 {
		t.Fatalf("err = %v", err)
	}
	if !errors.Is(err, ErrInvalidTensorInfo) {
		t.Error("shape mismatch does not match ErrInvalidTensorInfo")
	}
	msg := err.Error()
	for _, want := range []string{
		`field bindModel.Layers[1].Attn.QProj (tensor "layers.1.attn.q_proj.weight")`, "shape [4], the tag wants [2 2]",
		`field bindModel.LMHead (tensor "lm_head.weight")`, "shape [2 3], the tag wants [3 2]",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	// The other fields were filled.
	if !slices.Equal(m.Layers[0].Attn.QProj, []float32{1, 2, 3, 4}) {
		t.Error("other fields not loaded")
	}
}

func TestUnmarshalConversions(t *testing.T) {
	type ints struct {
		Small []int8    `safetensors:"small"`
		Wide  []float64 `safetensors:"wide"`
		Bools []bool    `safetensors:"bools"`
		C     []complex64
		U     []uint16 `safetensors:"u"`
	}
	big, _ := FromInt64(I64, []int{2}, []int64{1, 1000})
	ok8, _ := FromInt64(I64, []int{2}, []int64{-128, 127})
	f16, _ := FromFloat32(F16, []int{2}, []float32{0.1, 65504})
	bools := codesTensor(t, BOOL, 3, []byte{0, 1, 5})
	c, _ := FromValues([]int{1}, []complex64{1 - 2i})
	u, _ := FromFloat32(F32, []int{2}, []float32{2.5, 3.5}) // to nearest even: 2, 4

	var v ints
	err := Unmarshal(handBuiltFile(t, map[string]Tensor{"small": big, "wide": f16, "bools": bools, "c": c, "u": u}, nil), &v)
	if !errors.Is(err, ErrUnrepresentable) || !strings.Contains(err.Error(), `field ints.Small (tensor "small")`) {
		t.Errorf("I64 1000 into []int8: %v", err)
	}
	if v.Wide[0] != float64(float16.Fromfloat32(0.1).Float32()) || v.Wide[1] != 65504 {
		t.Errorf("F16 into []float64: %v", v.Wide)
	}
	if !slices.Equal(v.Bools, []bool{false, true, true}) || v.C[0] != 1-2i || !slices.Equal(v.U, []uint16{2, 4}) {
		t.Errorf("bools %v, complex %v, uint16 %v", v.Bools, v.C, v.U)
	}
	if err := Unmarshal(handBuiltFile(t, map[string]Tensor{"small": ok8, "wide": f16, "bools": bools, "c": c, "u": u}, nil), &v); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Small, []int8{-128, 127}) {
		t.Errorf("small: %v", v.Small)
	}
	// A field that already has the right length is filled in place.
	before := &v.Wide[0]
	if err := Unmarshal(handBuiltFile(t, map[string]Tensor{"small": ok8, "wide": f16, "bools": bools, "c": c, "u": u}, nil), &v); err != nil {
		t.Fatal(err)
	}
	if &v.Wide[0] != before {
		t.Error("a slice of the right length was reallocated")
	}
}

// TestMarshal checks the output maps directly.
func TestMarshal(t *testing.T) {
	type block struct {
		W []float32 `safetensors:"weight,shape=-1x2"`
	}
	type net struct {
		Embed  []float32 `safetensors:"model.embed_tokens.weight,shape=3x2"`
		LMHead []float32 `safetensors:"lm_head.weight,shape=3x2"` // tied to Embed
		Blocks []block   `safetensors:"blocks"`
		Half   []float32 `safetensors:"half,dtype=BF16"`
		Raw    Tensor    `safetensors:"raw"`
		Opt    *block    `safetensors:"opt"` // nil: skipped
		Ints   []int64
		Empty  []float32
		Scale  []float16.Float16 `safetensors:",shape=1x2"` // default name, with a shape
		Steps  int
	}
	emb := []float32{1, 2, 3, 4, 5, 6}
	raw, _ := FromFloat32(F8E5M2, []int{2}, []float32{1, 2})
	n := net{
		Embed: emb, LMHead: emb,
		Blocks: []block{{W: []float32{1, 2, 3, 4}}, {W: []float32{5, 6}}},
		Half:   []float32{1.00390625, 3}, Raw: raw, Ints: []int64{7, -8},
		Scale: []float16.Float16{float16.Fromfloat32(1), float16.Fromfloat32(2)},
	}
	tensors, meta, err := Marshal(&n)
	if err != nil {
		t.Fatal(err)
	}
	// Of the tied pair, save_model keeps the name that sorts first.
	wantNames := []string{"blocks.0.weight", "blocks.1.weight", "empty", "half", "ints", "lm_head.weight", "raw", "scale"}
	if got := slices.Sorted(maps.Keys(tensors)); !slices.Equal(got, wantNames) {
		t.Fatalf("names %q, want %q", got, wantNames)
	}
	if !maps.Equal(meta, map[string]string{"model.embed_tokens.weight": "lm_head.weight"}) {
		t.Errorf("metadata %v: the dropped tied name should map to the kept one", meta)
	}
	check := func(name string, d DType, shape []int) Tensor {
		t.Helper()
		tt := tensors[name]
		if tt.DType() != d || !slices.Equal(tt.Shape(), shape) {
			t.Errorf("%s: %v%v, want %v%v", name, tt.DType(), tt.Shape(), d, shape)
		}
		return tt
	}
	if e := check("lm_head.weight", F32, []int{3, 2}); !slices.Equal(cvF32(t, e), emb) {
		t.Error("embed values")
	}
	check("blocks.0.weight", F32, []int{2, 2}) // -1 computed from the length
	check("blocks.1.weight", F32, []int{1, 2})
	if h := check("half", BF16, []int{2}); !slices.Equal(h.Data(), []byte{0x80, 0x3F, 0x40, 0x40}) {
		t.Errorf("half: % x (1+2^-8 ties to 1.0 = 0x3f80, 3 = 0x4040)", h.Data())
	}
	if r := check("raw", F8E5M2, []int{2}); &r.Data()[0] != &raw.Data()[0] {
		t.Error("a Tensor field was copied")
	}
	if i := check("ints", I64, []int{2}); !slices.Equal(cvValues[int64](t, i), []int64{7, -8}) {
		t.Error("ints")
	}
	check("empty", F32, []int{0})
	check("scale", F16, []int{1, 2})

	// The same slice under two dtype options is two tensors, not a tie.
	shared := []float32{1, 2}
	two, meta2, err := Marshal(struct {
		A []float32 `safetensors:"a,dtype=BF16"`
		B []float32 `safetensors:"b,dtype=F16"`
		C []float32 `safetensors:"c,dtype=F16"`
	}{shared, shared, shared})
	if err != nil || len(two) != 2 || two["a"].DType() != BF16 || two["b"].DType() != F16 || meta2["c"] != "b" {
		t.Errorf("dtype options and ties: %v %v %v", two, meta2, err)
	}

	// Errors.
	bad := []struct {
		v    any
		want string
	}{
		{struct {
			A []float32 `safetensors:"x"`
			B []float32 `safetensors:"x"`
		}{}, `fields A and B both name tensor "x"`},
		{struct {
			A []float32 `safetensors:"a,shape=2x2"`
		}{A: []float32{1, 2, 3}}, "3 values, the tag's shape [2 2] holds 4"},
		{struct{ T Tensor }{}, "zero Tensor"},
		{struct {
			S string `safetensors:"s"`
		}{}, "type string cannot hold tensors"},
		{struct {
			A []float32 `safetensors:"a,shape=2y2"`
		}{}, "want dimensions like 4096x4096"},
		{struct {
			A []float32 `safetensors:"a,dtype=F17"`
		}{}, `unknown dtype "F17"`},
		{struct {
			A []float32 `safetensors:"a,omitempty"`
		}{}, `unknown option "omitempty"`},
		{struct {
			B block `safetensors:"b,shape=2"`
		}{}, "apply to tensor fields"},
		{struct {
			A []float32 `safetensors:"a,dtype=F4"`
		}{A: []float32{float32(math.NaN()), 0}}, `field A (tensor "a")`},
		{42, "needs a struct"},
	}
	for _, c := range bad {
		_, _, err := Marshal(c.v)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Marshal(%+v): %v, want an error containing %q", c.v, err, c.want)
		}
	}
}

// TestTiedRoundTrip: Marshal writes tied weights once; Unmarshal of the
// result fills both fields with one shared slice, without complaint.
func TestTiedRoundTrip(t *testing.T) {
	emb := seqF32(6, 1)
	in := bindModel{EmbedTokens: emb, LMHead: emb, Final: &bindNorm{Weight: []float16.Float16{float16.Fromfloat32(1)}},
		Layers: []bindLayer{{Attn: bindAttn{QProj: []float32{1, 2, 3, 4}, KProj: []BFloat16{BFloat16FromFloat32(2)}}, Norm: []float32{1}}}}
	tensors, meta, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tensors["lm_head.weight"]; ok || meta["lm_head.weight"] != "embed_tokens.weight" {
		t.Fatalf("tied weights: names %v, metadata %v", slices.Sorted(maps.Keys(tensors)), meta)
	}
	var out bindModel
	if err := Unmarshal(handBuiltFile(t, tensors, meta), &out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.LMHead, emb) || &out.LMHead[0] != &out.EmbedTokens[0] {
		t.Errorf("lm_head %v not tied to embed_tokens", out.LMHead)
	}
	if !slices.Equal(out.Layers[0].Attn.QProj, in.Layers[0].Attn.QProj) || out.Final.Weight[0] != in.Final.Weight[0] ||
		out.Layers[0].Attn.KProj[0] != in.Layers[0].Attn.KProj[0] {
		t.Errorf("round trip: %+v", out)
	}
	// Marshal again: the same maps.
	again, meta2, err := Marshal(&out)
	if err != nil || !maps.Equal(meta, meta2) || len(again) != len(tensors) {
		t.Errorf("second Marshal: %v %v %v", err, meta2, len(again))
	}
	for name, tt := range tensors {
		if !slices.Equal(again[name].Data(), tt.Data()) || !slices.Equal(again[name].Shape(), tt.Shape()) {
			t.Errorf("%s differs after a round trip", name)
		}
	}
	// A metadata entry that names no tensor does not satisfy a missing field.
	delete(tensors, "embed_tokens.weight")
	err = Unmarshal(handBuiltFile(t, tensors, meta), &bindModel{})
	var be *BindError
	if !errors.As(err, &be) || !slices.Contains(be.Missing, "lm_head.weight") || !slices.Contains(be.Missing, "embed_tokens.weight") {
		t.Errorf("tie to a missing tensor: %v", err)
	}
}

func TestUnmarshalArgs(t *testing.T) {
	f := handBuiltFile(t, map[string]Tensor{}, nil)
	var m bindModel
	for _, v := range []any{m, nil, (*bindModel)(nil), new(int)} {
		if err := Unmarshal(f, v); err == nil || !strings.Contains(err.Error(), "non-nil pointer to a struct") {
			t.Errorf("Unmarshal(%T): %v", v, err)
		}
	}
	// An empty file and an empty struct pointer: nothing missing but the
	// fields that always exist.
	err := Unmarshal(f, &m)
	var be *BindError
	if !errors.As(err, &be) || !slices.Equal(be.Missing, []string{"embed_tokens.weight", "lm_head.weight", "norm.weight"}) {
		t.Errorf("empty file: %v", err)
	}
}

func TestEmbeddedAndPointers(t *testing.T) {
	type Base struct {
		Bias []float32
	}
	type linear struct {
		Base   // embedded: no prefix
		Weight []float32
	}
	type net struct {
		Fc1 *linear
		Fc2 linear `safetensors:"fc2"`
	}
	tensors := map[string]Tensor{
		"fc1.bias": f32Tensor(t, []int{1}, 1), "fc1.weight": f32Tensor(t, []int{1}, 2),
		"fc2.bias": f32Tensor(t, []int{1}, 3), "fc2.weight": f32Tensor(t, []int{1}, 4),
	}
	var n net
	if err := Unmarshal(handBuiltFile(t, tensors, nil), &n); err != nil {
		t.Fatal(err)
	}
	if n.Fc1 == nil || n.Fc1.Bias[0] != 1 || n.Fc1.Weight[0] != 2 || n.Fc2.Bias[0] != 3 || n.Fc2.Weight[0] != 4 {
		t.Errorf("%+v %+v", n.Fc1, n.Fc2)
	}
	out, _, err := Marshal(n)
	if err != nil || len(out) != 4 {
		t.Errorf("Marshal: %v, %d tensors", err, len(out))
	}
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"QProj": "q_proj", "LMHead": "lm_head", "EmbedTokens": "embed_tokens", "Fc1": "fc1", "Weight": "weight",
		"QKVProj": "qkv_proj", "MLP": "mlp", "LayerNorm2": "layer_norm2", "Conv2D": "conv2_d", "X": "x",
		"InvFreq": "inv_freq", "A1B": "a1_b",
	} {
		if got := snakeCase(in); got != want {
			t.Errorf("snakeCase(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBindThroughSaveFile goes the way a program would: Marshal, SaveFile,
// Open (a mapping), Unmarshal, and expects the same model back, tied weights
// included.
func TestBindThroughSaveFile(t *testing.T) {
	emb := seqF32(6, 1)
	in := bindModel{EmbedTokens: emb, LMHead: emb, Final: &bindNorm{Weight: []float16.Float16{float16.Fromfloat32(1), float16.Fromfloat32(-2)}},
		Layers: []bindLayer{
			{Attn: bindAttn{QProj: []float32{1, 2, 3, 4}, KProj: []BFloat16{BFloat16FromFloat32(2), BFloat16FromFloat32(0.5)}}, Norm: []float32{1, 2}},
			{Attn: bindAttn{QProj: []float32{5, 6, 7, 8}, KProj: []BFloat16{BFloat16FromFloat32(-1), BFloat16FromFloat32(3)}}, Norm: []float32{3, 4}},
		}}
	tensors, meta, err := Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/model.safetensors"
	if err := SaveFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bindModel
	if err := Unmarshal(f, &out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.EmbedTokens, emb) || &out.LMHead[0] != &out.EmbedTokens[0] {
		t.Errorf("embed %v / lm_head %v: want %v, tied", out.EmbedTokens, out.LMHead, emb)
	}
	if len(out.Layers) != 2 || out.Final == nil || !slices.Equal(out.Final.Weight, in.Final.Weight) {
		t.Fatalf("out: %+v", out)
	}
	for i := range in.Layers {
		a, b := in.Layers[i], out.Layers[i]
		if !slices.Equal(a.Attn.QProj, b.Attn.QProj) || !slices.Equal(a.Attn.KProj, b.Attn.KProj) || !slices.Equal(a.Norm, b.Norm) {
			t.Errorf("layer %d: %+v, want %+v", i, b, a)
		}
	}
}
