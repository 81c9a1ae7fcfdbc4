package pytorch

import (
	"fmt"
	"io"

	"github.com/safetensors-go/safetensors"
)

// declared is one tensor to write: its header entry and its byte size.
type declared struct {
	name  string
	dtype safetensors.DType
	shape []int
	size  int64
}

// writeSafetensors writes a safetensors file to w with the library's
// streaming [safetensors.Writer], which lays it out exactly as the reference
// writer does: the header, then each tensor's bytes, which emit(i, w) must
// write for tensors[i], exactly tensors[i].size of them. Tensors are emitted
// in buffer order, so that the whole model never needs to be in memory.
func writeSafetensors(w io.Writer, tensors []declared, metadata map[string]string, emit func(i int, w io.Writer) error) error {
	infos := make([]safetensors.TensorInfo, len(tensors))
	index := make(map[string]int, len(tensors))
	for i, t := range tensors {
		infos[i] = safetensors.TensorInfo{Name: t.name, DType: t.dtype, Shape: t.shape}
		index[t.name] = i
	}
	tw, err := safetensors.NewWriter(w, infos, metadata)
	if err != nil {
		return fmt.Errorf("pytorch: %w", err)
	}
	for _, info := range tw.Infos() {
		i := index[info.Name]
		cw := &countWriter{w: tw}
		if err := emit(i, cw); err != nil {
			return err
		}
		if cw.n != tensors[i].size {
			return fmt.Errorf("pytorch: tensor %q: wrote %d bytes, declared %d", tensors[i].name, cw.n, tensors[i].size)
		}
	}
	return tw.Close()
}
