package safetensors_test

import (
	"encoding/binary"
	"fmt"
	"log"
	"maps"
	"slices"

	"github.com/safetensors-go/safetensors"
)

func ExampleToFloat32() {
	// A BF16 tensor, as most checkpoints store weights.
	t, err := safetensors.FromFloat32(safetensors.BF16, []int{2, 2}, []float32{1, 3.14159265, -0.001, 65504})
	if err != nil {
		log.Fatal(err)
	}
	vals, err := safetensors.ToFloat32(t)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(vals)
	// Output: [1 3.140625 -0.0009994507 65536]
}

func ExampleFromFloat32() {
	// F8_E4M3 (E4M3FN) holds ±448 at most and has no infinity: like
	// PyTorch, a value that rounds past 448 becomes NaN (0x7F).
	in := []float32{0.1, 1, 448, 460, 1000, -2}
	t, err := safetensors.FromFloat32(safetensors.F8E4M3, []int{len(in)}, in)
	if err != nil {
		log.Fatal(err)
	}
	out, _ := safetensors.ToFloat32(t)
	fmt.Printf("% x\n%v\n", t.Data(), out)
	// Output:
	// 1d 38 7e 7e 7f c0
	// [0.1015625 1 448 448 NaN -2]
}

func ExampleFromFloat32_f4() {
	// F4 (MXFP4 E2M1) packs two values a byte, the first in the low
	// nibble; it saturates at ±6 and rounds ties to even (2.5 -> 2).
	t, err := safetensors.FromFloat32(safetensors.F4, []int{4}, []float32{0.5, 2.5, 100, -1})
	if err != nil {
		log.Fatal(err)
	}
	out, _ := safetensors.ToFloat32(t)
	fmt.Printf("% x %v\n", t.Data(), out)
	// Output: 41 a7 [0.5 2 6 -1]
}

func ExampleConvert() {
	// Convert every F32 tensor of a model to BF16, leaving the others.
	tensors := map[string]safetensors.Tensor{}
	tensors["weight"], _ = safetensors.FromFloat32(safetensors.F32, []int{3}, []float32{1.1, 2.2, 3.3})
	tensors["step"], _ = safetensors.FromInt64(safetensors.I64, []int{1}, []int64{1000})
	for name, t := range tensors {
		if t.DType() != safetensors.F32 {
			continue
		}
		bf, err := safetensors.Convert(t, safetensors.BF16)
		if err != nil {
			log.Fatal(err)
		}
		tensors[name] = bf
	}
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		v, _ := safetensors.ToFloat32(tensors[name])
		fmt.Println(name, tensors[name].DType(), v)
	}
	// Output:
	// step I64 [1000]
	// weight BF16 [1.1015625 2.203125 3.296875]
}

func ExampleAppendFloat32() {
	// Decode many tensors through one reused buffer.
	var buf []float32
	for _, code := range []byte{0x38, 0x40, 0x48} { // F8_E4M3 codes for 1, 2, 4
		t, _ := safetensors.NewTensor(safetensors.F8E4M3, []int{2}, []byte{code, code | 0x80})
		var err error
		buf, err = safetensors.AppendFloat32(buf[:0], t)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(buf)
	}
	// Output:
	// [1 -1]
	// [2 -2]
	// [4 -4]
}

// convAttention, convLayer and convModel describe a model the way its checkpoint names it.
type convAttention struct {
	QProj []float32 `safetensors:"q_proj.weight,shape=2x2"`
}

type convLayer struct {
	Attn convAttention `safetensors:"self_attn"`
	Norm []float32     `safetensors:"input_layernorm.weight"`
}

type convModel struct {
	Embed  []float32   `safetensors:"embed_tokens.weight,shape=3x2"`
	Layers []convLayer // "layers.0.", "layers.1.", ...
	LMHead []float32   `safetensors:"lm_head.weight,shape=3x2"`
}

func ExampleMarshal() {
	embed := []float32{1, 2, 3, 4, 5, 6}
	m := convModel{
		Embed:  embed,
		LMHead: embed, // tied: the same slice
		Layers: []convLayer{{Attn: convAttention{QProj: []float32{1, 0, 0, 1}}, Norm: []float32{1, 1}}},
	}
	tensors, metadata, err := safetensors.Marshal(&m)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		fmt.Println(name, tensors[name].DType(), tensors[name].Shape())
	}
	fmt.Println(metadata) // the tied weight written once, as save_model does
	// Output:
	// embed_tokens.weight F32 [3 2]
	// layers.0.input_layernorm.weight F32 [2]
	// layers.0.self_attn.q_proj.weight F32 [2 2]
	// map[lm_head.weight:embed_tokens.weight]
}

func ExampleUnmarshal() {
	// A checkpoint with BF16 weights and an extra tensor the struct does not
	// describe.
	f, err := safetensors.Load(convFile(map[string]safetensors.Tensor{
		"embed_tokens.weight":              convBF16([]int{3, 2}, 1, 2, 3, 4, 5, 6),
		"lm_head.weight":                   convBF16([]int{3, 2}, 6, 5, 4, 3, 2, 1),
		"layers.0.self_attn.q_proj.weight": convBF16([]int{2, 2}, 1, 0, 0, 1),
		"layers.0.input_layernorm.weight":  convBF16([]int{2}, 0.5, 0.5),
		"layers.1.self_attn.q_proj.weight": convBF16([]int{2, 2}, 2, 0, 0, 2),
		"layers.1.input_layernorm.weight":  convBF16([]int{2}, 0.25, 0.25),
		"rotary_emb.inv_freq":              convBF16([]int{1}, 1),
	}))
	if err != nil {
		log.Fatal(err)
	}
	var m convModel
	err = safetensors.Unmarshal(f, &m)
	fmt.Println(err)

	// Like load_model(strict=False): load what matches, list the rest.
	_, unexpected, err := safetensors.UnmarshalOptions{NonStrict: true}.Unmarshal(f, &m)
	fmt.Println(len(m.Layers), m.Layers[1].Attn.QProj, m.LMHead, unexpected, err)
	// Output:
	// safetensors: binding tensors to the struct: 1 unexpected: "rotary_emb.inv_freq"
	// 2 [2 0 0 2] [6 5 4 3 2 1] [rotary_emb.inv_freq] <nil>
}

func convBF16(shape []int, vals ...float32) safetensors.Tensor {
	t, err := safetensors.FromFloat32(safetensors.BF16, shape, vals)
	if err != nil {
		log.Fatal(err)
	}
	return t
}

// convFile lays out a safetensors file by hand: the header's length as 8
// little-endian bytes, the JSON header, then the tensors' bytes.
func convFile(tensors map[string]safetensors.Tensor) []byte {
	header := []byte("{")
	var data []byte
	for i, name := range slices.Sorted(maps.Keys(tensors)) {
		t := tensors[name]
		if i > 0 {
			header = append(header, ',')
		}
		header = fmt.Appendf(header, `%q:{"dtype":%q,"shape":[`, name, t.DType().String())
		for j, d := range t.Shape() {
			if j > 0 {
				header = append(header, ',')
			}
			header = fmt.Append(header, d)
		}
		header = fmt.Appendf(header, `],"data_offsets":[%d,%d]}`, len(data), len(data)+len(t.Data()))
		data = append(data, t.Data()...)
	}
	header = append(header, '}')
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(file, header...), data...)
}
