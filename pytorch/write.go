package pytorch

// This file is a small, self-contained safetensors writer: it lays a file
// out exactly as the reference writer does (FORMAT.md, "Writing") and
// streams each tensor's bytes from a callback. It exists because the
// library's own streaming writer was not available when this package was
// written; it can be replaced by it without touching anything else (its
// only callers are in convert.go, through writeSafetensors).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/safetensors-go/safetensors"
)

// declared is one tensor to write: its header entry and its byte size.
type declared struct {
	name  string
	dtype safetensors.DType
	shape []int
	size  int64
}

// writeRank is the reference writer's order of dtypes in the data buffer:
// U64 first, BOOL last (FORMAT.md).
var writeRank = map[safetensors.DType]int{
	safetensors.U64: 0, safetensors.I64: 1, safetensors.F64: 2, safetensors.C64: 3,
	safetensors.F32: 4, safetensors.U32: 5, safetensors.I32: 6, safetensors.BF16: 7,
	safetensors.F16: 8, safetensors.U16: 9, safetensors.I16: 10, safetensors.F8E5M2FNUZ: 11,
	safetensors.F8E4M3FNUZ: 12, safetensors.F8E8M0: 13, safetensors.F8E4M3: 14,
	safetensors.F8E5M2: 15, safetensors.I8: 16, safetensors.U8: 17, safetensors.F6E3M2: 18,
	safetensors.F6E2M3: 19, safetensors.F4: 20, safetensors.BOOL: 21,
}

// bufferOrder returns the indices of tensors in the order of their data:
// by dtype rank, then by name, bytewise.
func bufferOrder(tensors []declared) []int {
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ra, rb := writeRank[tensors[a].dtype], writeRank[tensors[b].dtype]
		if ra != rb {
			return ra - rb
		}
		switch na, nb := tensors[a].name, tensors[b].name; {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
		return 0
	})
	return order
}

// safetensorsHeader returns the 8-byte length prefix and the JSON header,
// padded with spaces to a multiple of 8, for tensors written in order.
func safetensorsHeader(tensors []declared, order []int, metadata map[string]string) ([]byte, error) {
	seen := make(map[string]bool, len(tensors))
	b := []byte{'{'}
	if metadata != nil {
		b = append(b, `"__metadata__":{`...)
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONString(b, k); err != nil {
				return nil, err
			}
			b = append(b, ':')
			if b, err = appendJSONString(b, metadata[k]); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	var off int64
	for n, i := range order {
		t := &tensors[i]
		if t.name == "__metadata__" {
			return nil, errors.New("pytorch: a tensor may not be named __metadata__")
		}
		if seen[t.name] {
			return nil, fmt.Errorf("pytorch: tensor name %q repeated", t.name)
		}
		seen[t.name] = true
		if n > 0 || metadata != nil {
			b = append(b, ',')
		}
		var err error
		if b, err = appendJSONString(b, t.name); err != nil {
			return nil, err
		}
		b = append(b, `:{"dtype":"`...)
		b = append(b, t.dtype.String()...)
		b = append(b, `","shape":[`...)
		for j, d := range t.shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, off, 10)
		b = append(b, ',')
		off += t.size
		b = strconv.AppendInt(b, off, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	out := make([]byte, 8, 8+len(b))
	binary.LittleEndian.PutUint64(out, uint64(len(b)))
	return append(out, b...), nil
}

// appendJSONString appends s as a JSON string with the reference's escapes:
// \" \\ \n \r \t \b \f short, other control characters as \u00xx, and
// everything else (DEL, non-ASCII, /) raw. s must be valid UTF-8.
func appendJSONString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("pytorch: name %q is not valid UTF-8", s)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"'), nil
}

// writeSafetensors writes a safetensors file to w: the header, then each
// tensor's bytes, which emit(i, w) must write for tensors[i], exactly
// tensors[i].size of them. Tensors are emitted in buffer order.
func writeSafetensors(w io.Writer, tensors []declared, metadata map[string]string, emit func(i int, w io.Writer) error) error {
	order := bufferOrder(tensors)
	hdr, err := safetensorsHeader(tensors, order, metadata)
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, i := range order {
		cw := &countWriter{w: w}
		if err := emit(i, cw); err != nil {
			return err
		}
		if cw.n != tensors[i].size {
			return fmt.Errorf("pytorch: tensor %q: wrote %d bytes, declared %d", tensors[i].name, cw.n, tensors[i].size)
		}
	}
	return nil
}
