package pytorch

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// realDir finds the shared corpus of real safetensors files, beside the
// repository (CI) or two levels up (a worktree).
func realDir(t *testing.T) string {
	for _, d := range []string{"../../shared/testdata/real", "../shared/testdata/real"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
	}
	t.Skip("no shared/testdata/real corpus")
	return ""
}

// TestWriterMatchesReference rewrites files made by the reference writer
// (safetensors' Python/Rust save_file, per SOURCES.md) from their own
// tensors and metadata, and expects the same bytes: the same buffer order,
// the same JSON, the same padding. Only files with at most one metadata key
// qualify, since the reference writes several in hash order.
func TestWriterMatchesReference(t *testing.T) {
	dir := realDir(t)
	files := []string{
		"numpy/tattletale_fixtures_11dtypes.safetensors", "numpy/tattletale_testgen_12dtypes.safetensors",
		"numpy/syoyo_model_f64.safetensors", "torch/tattletale_vandermonde_bf16.safetensors",
		"torch/burn_batch_norm2d.safetensors", "torch/burn_boolean.safetensors", "torch/burn_buffer.safetensors",
		"torch/burn_complex_nested.safetensors", "torch/burn_conv1d.safetensors", "torch/burn_conv2d.safetensors",
		"torch/burn_embedding.safetensors", "torch/burn_integer.safetensors", "torch/burn_key_remap_chained.safetensors",
		"torch/burn_multi_layer.safetensors", "torch/burn_mnist.safetensors", "torch/burn_non_contiguous_indexes.safetensors",
		"torch/ollama_minicpm3_tiny.safetensors", "torch/mlverse_hello.safetensors", "candle/csm_voices.safetensors",
		"candle/jfk-codes.safetensors", "candle/whisper_mel_filters.safetensors", "peft/peft_gpt2_lora.safetensors",
		"diffusers/diffusers_lora_peft_keys.safetensors", "edge/aitoolkit_empty_header.safetensors",
		"edge/aitoolkit_refiner_keymap_f16_scalar.safetensors",
	}
	for _, name := range files {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.Load(want)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var tensors []declared
		var data [][]byte
		for _, info := range f.Infos() {
			tensor, err := f.GetTensor(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			tensors = append(tensors, declared{name: info.Name, dtype: info.DType, shape: info.Shape, size: int64(len(tensor.Data()))})
			data = append(data, tensor.Data())
		}
		var got bytes.Buffer
		err = writeSafetensors(&got, tensors, f.Metadata(), func(i int, w io.Writer) error {
			_, err := w.Write(data[i])
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			n := min(got.Len(), len(want), 400)
			t.Errorf("%s: rewritten bytes differ from the reference writer's\n got %q\nwant %q", name, got.Bytes()[:n], want[:n])
		}
	}
}

func TestWriterEdges(t *testing.T) {
	write := func(tensors []declared, meta map[string]string) (string, error) {
		var b bytes.Buffer
		err := writeSafetensors(&b, tensors, meta, func(i int, w io.Writer) error {
			_, err := w.Write(make([]byte, tensors[i].size))
			return err
		})
		return b.String(), err
	}
	// FORMAT.md: no tensors and no metadata is "{}" and 6 spaces, N = 8.
	if got, err := write(nil, nil); err != nil || got != "\x08\x00\x00\x00\x00\x00\x00\x00{}      " {
		t.Errorf("empty: %q, %v", got, err)
	}
	// Escapes as the reference writes them: short forms, \u00xx lowercase,
	// DEL, non-ASCII, U+2028 and / raw.
	got, err := write(nil, map[string]string{"k": "\"\\\n\r\t\b\f\x01\x1f\x7fé\u2028/"})
	want := `{"__metadata__":{"k":"\"\\\n\r\t\b\f\u0001\u001f` + "\x7fé\u2028/" + `"}}`
	if err != nil || !strings.HasPrefix(got[8:], want) || len(got)%8 != 0 || strings.TrimRight(got[8:], " ") != want {
		t.Errorf("escapes: %q, %v", got, err)
	}
	// Buffer order: dtype rank, then bytewise name; header in the same order.
	got, err = write([]declared{
		{"b", safetensors.BOOL, []int{1}, 1}, {"a", safetensors.F32, []int{}, 4},
		{"B", safetensors.F32, []int{0, 2}, 0}, {"z", safetensors.U64, []int{1}, 8},
	}, map[string]string{"format": "pt"})
	want = `{"__metadata__":{"format":"pt"},"z":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},` +
		`"B":{"dtype":"F32","shape":[0,2],"data_offsets":[8,8]},"a":{"dtype":"F32","shape":[],"data_offsets":[8,12]},` +
		`"b":{"dtype":"BOOL","shape":[1],"data_offsets":[12,13]}}`
	if err != nil || strings.TrimRight(got[8:8+len(want)+7], " ") != want {
		t.Errorf("order: %q, %v", got, err)
	}
	// Refusals.
	for _, bad := range [][]declared{
		{{"__metadata__", safetensors.U8, []int{1}, 1}},
		{{"x", safetensors.U8, []int{1}, 1}, {"x", safetensors.U8, []int{1}, 1}},
		{{"\xff", safetensors.U8, []int{1}, 1}},
	} {
		if _, err := write(bad, nil); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	// emit must write exactly the declared size.
	err = writeSafetensors(io.Discard, []declared{{"x", safetensors.U8, []int{2}, 2}}, nil, func(i int, w io.Writer) error {
		_, err := w.Write([]byte{1})
		return err
	})
	if err == nil {
		t.Error("a short tensor was accepted")
	}
}
