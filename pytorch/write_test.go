package pytorch

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// TestWriterEdges checks the adapter over the library's streaming Writer:
// metadata and escapes pass through, tensors are emitted in the reference's
// buffer order with their own indexes, refusals surface, and emit must
// write exactly the declared size. (The layout itself is tested, against
// real files, by the root package's writer tests.)
func TestWriterEdges(t *testing.T) {
	write := func(tensors []declared, meta map[string]string) (string, error) {
		var b bytes.Buffer
		err := writeSafetensors(&b, tensors, meta, func(i int, w io.Writer) error {
			_, err := w.Write(make([]byte, tensors[i].size))
			return err
		})
		return b.String(), err
	}
	// The format: no tensors and no metadata is "{}" and 6 spaces, N = 8.
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
