package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

// These tests pin the writer's output byte for byte against the reference
// layout worked out by hand, every limit it checks at its boundary, and the
// streaming Writer's rules (order, lengths, stickiness, buffering).

func wlTensor(t *testing.T, d DType, shape []int, data []byte) Tensor {
	t.Helper()
	tt, err := NewTensor(d, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// wlPadded is the prefix and the header text padded with spaces to a
// multiple of 8, as the reference writes it.
func wlPadded(js string) []byte {
	for len(js)%8 != 0 {
		js += " "
	}
	b := make([]byte, 8, 8+len(js))
	binary.LittleEndian.PutUint64(b, uint64(len(js)))
	return append(b, js...)
}

func TestLayoutExactBytes(t *testing.T) {
	tensors := map[string]Tensor{
		"b":  wlTensor(t, U8, []int{2}, []byte{1, 2}),
		"a":  wlTensor(t, U8, []int{1}, []byte{3}),
		"f":  wlTensor(t, F32, []int{1}, []byte{4, 5, 6, 7}),
		"z":  wlTensor(t, U64, []int{}, []byte{8, 9, 10, 11, 12, 13, 14, 15}),
		"e":  wlTensor(t, BOOL, []int{0, 3}, nil),
		"i8": wlTensor(t, I8, []int{1, 1}, []byte{16}),
	}
	meta := map[string]string{"z": "last", "a": "first", "m": `q"\`}
	// By dtype rank (U64, F32, I8, U8, BOOL), then by name; metadata keys sorted.
	want := wlPadded(`{"__metadata__":{"a":"first","m":"q\"\\","z":"last"},` +
		`"z":{"dtype":"U64","shape":[],"data_offsets":[0,8]},` +
		`"f":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},` +
		`"i8":{"dtype":"I8","shape":[1,1],"data_offsets":[12,13]},` +
		`"a":{"dtype":"U8","shape":[1],"data_offsets":[13,14]},` +
		`"b":{"dtype":"U8","shape":[2],"data_offsets":[14,16]},` +
		`"e":{"dtype":"BOOL","shape":[0,3],"data_offsets":[16,16]}}`)
	want = append(want, 8, 9, 10, 11, 12, 13, 14, 15, 4, 5, 6, 7, 16, 3, 1, 2)
	var b bytes.Buffer
	if err := Save(&b, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("Save wrote\n%q\nwant\n%q", b.Bytes(), want)
	}
	// No metadata: no entry; empty metadata: an empty object.
	one := map[string]Tensor{"a": wlTensor(t, U8, []int{1}, []byte{3})}
	for _, c := range []struct {
		meta map[string]string
		js   string
	}{
		{nil, `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`},
		{map[string]string{}, `{"__metadata__":{},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`},
	} {
		b.Reset()
		if err := Save(&b, one, c.meta); err != nil {
			t.Fatal(err)
		}
		if want := append(wlPadded(c.js), 3); !bytes.Equal(b.Bytes(), want) {
			t.Errorf("metadata %v: wrote %q, want %q", c.meta, b.Bytes(), want)
		}
	}
	// Metadata alone, no tensors.
	b.Reset()
	if err := Save(&b, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if want := wlPadded(`{"__metadata__":{"k":"v"}}`); !bytes.Equal(b.Bytes(), want) {
		t.Errorf("metadata alone: %q, want %q", b.Bytes(), want)
	}
}

func TestLayoutPaddingBoundary(t *testing.T) {
	// Names of every length from 1 to 16 cover every remainder modulo 8;
	// when the JSON is a multiple of 8 long, no space is added.
	for n := 1; n <= 16; n++ {
		name := strings.Repeat("n", n)
		js := fmt.Sprintf(`{%q:{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, name)
		var b bytes.Buffer
		if err := Save(&b, map[string]Tensor{name: wlTensor(t, U8, []int{0}, nil)}, nil); err != nil {
			t.Fatal(err)
		}
		want := wlPadded(js)
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("name of %d bytes: %q, want %q", n, b.Bytes(), want)
		}
		if pad := len(want) - 8 - len(js); pad < 0 || pad > 7 || (len(js)%8 == 0) != (pad == 0) {
			t.Errorf("padding %d for %d bytes of JSON", pad, len(js))
		}
	}
}

func TestLayoutEscapes(t *testing.T) {
	// serde_json's escapes: \" \\ \b \f \n \r \t, other controls as
	// lowercase \u00xx; space, DEL, '/', and non-ASCII as they are.
	name := "\x00\x01\x1f \x7f/é\u2028\"\\\b\f\n\r\t\x0b\x1a~"
	want := `"\u0000\u0001\u001f ` + "\x7f/é\u2028" + `\"\\\b\f\n\r\t\u000b\u001a~"`
	var b bytes.Buffer
	if err := Save(&b, map[string]Tensor{name: wlTensor(t, U8, []int{0}, nil)}, map[string]string{name: name}); err != nil {
		t.Fatal(err)
	}
	js := `{"__metadata__":{` + want + `:` + want + `},` + want + `:{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`
	if got := b.Bytes(); !bytes.Equal(got, wlPadded(js)) {
		t.Fatalf("wrote %q\nwant %q", got, wlPadded(js))
	}
	// And it reads back as the same name.
	f, err := Load(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if k := f.Keys(); len(k) != 1 || k[0] != name || f.Metadata()[name] != name {
		t.Errorf("read back %q, %q", k, f.Metadata())
	}
}

func TestLayoutRefusesBeforeWriting(t *testing.T) {
	u8 := wlTensor(t, U8, []int{1}, []byte{1})
	for _, c := range []struct {
		name     string
		tensors  map[string]Tensor
		meta     map[string]string
		sentinel error
		tensor   string
		msg      string
	}{
		{"reserved name", map[string]Tensor{"__metadata__": u8}, nil, ErrInvalidHeader, "__metadata__", "the name is reserved"},
		{"bad name", map[string]Tensor{"a\xff": u8}, nil, ErrInvalidHeader, "a\xff", "the name is not valid UTF-8"},
		{"bad metadata key", map[string]Tensor{"a": u8}, map[string]string{"k\xff": "v"}, ErrInvalidHeader, "", `metadata key "k\xff" is not valid UTF-8`},
		{"bad metadata value", map[string]Tensor{"a": u8}, map[string]string{"k": "v\xff"}, ErrInvalidHeader, "", `metadata value of key "k" is not valid UTF-8`},
		{"invalid dtype", map[string]Tensor{"a": {dtype: 0, shape: []int{1}, data: []byte{1}}}, nil, ErrInvalidTensorInfo, "a", "invalid dtype"},
		{"negative dimension", map[string]Tensor{"a": {dtype: U8, shape: []int{2, -1}, data: nil}}, nil, ErrInvalidTensorInfo, "a", "negative dimension -1 at axis 1 of shape [2 -1]"},
		{"short data", map[string]Tensor{"a": {dtype: U8, shape: []int{2}, data: []byte{1}}}, nil, ErrInvalidTensorInfo, "a", "U8[2] needs 2 bytes, data has 1"},
		{"long data", map[string]Tensor{"a": {dtype: U8, shape: []int{2}, data: []byte{1, 2, 3}}}, nil, ErrInvalidTensorInfo, "a", "U8[2] needs 2 bytes, data has 3"},
		{"misaligned", map[string]Tensor{"a": {dtype: F4, shape: []int{3}, data: []byte{1, 2}}}, nil, ErrMisalignedSlice, "a", "3 elements of F4"},
		{"count overflow", map[string]Tensor{"a": {dtype: U8, shape: []int{1 << 32, 1 << 32}}}, nil, ErrOverflow, "a", "element count"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Save(&b, c.tensors, c.meta)
			if !errors.Is(err, c.sentinel) {
				t.Fatalf("error %v, want %v", err, c.sentinel)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Offset != -1 || fe.HasTensor != (c.tensor != "") || fe.Tensor != c.tensor || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("error %#v, want tensor %q and %q", fe, c.tensor, c.msg)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes", b.Len())
			}
		})
	}
	// A dimension of 0 is no error.
	var b bytes.Buffer
	if err := Save(&b, map[string]Tensor{"a": {dtype: U8, shape: []int{0, 5}}}, nil); err != nil {
		t.Errorf("zero dimension: %v", err)
	}
}

func TestLayoutHeaderLimit(t *testing.T) {
	tensors := map[string]Tensor{
		"a": wlTensor(t, U8, []int{1}, []byte{1}),
		"b": wlTensor(t, U8, []int{1}, []byte{2}),
	}
	meta := map[string]string{"k": strings.Repeat("v", 200), "l": "w"}
	var full bytes.Buffer
	if err := Save(&full, tensors, meta); err != nil {
		t.Fatal(err)
	}
	n := int64(binary.LittleEndian.Uint64(full.Bytes()))
	// Exactly the limit: the same bytes.
	var b bytes.Buffer
	if err := (Options{MaxHeaderSize: n}).Save(&b, tensors, meta); err != nil || !bytes.Equal(b.Bytes(), full.Bytes()) {
		t.Fatalf("at the limit: %v", err)
	}
	// Under it, at every size down to 1: refused, nothing written.
	for limit := n - 1; limit >= 1; limit-- {
		b.Reset()
		err := (Options{MaxHeaderSize: limit}).Save(&b, tensors, meta)
		var fe *FormatError
		if !errors.Is(err, ErrHeaderTooLarge) || !errors.As(err, &fe) || fe.Offset != -1 || !strings.Contains(fe.Msg, fmt.Sprintf("over the limit of %d", limit)) {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if b.Len() != 0 {
			t.Fatalf("limit %d: wrote %d bytes", limit, b.Len())
		}
	}
	// The same for the Writer, which is given the same limit.
	if _, err := (Options{MaxHeaderSize: n}).NewWriter(io.Discard, []TensorInfo{{Name: "a", DType: U8, Shape: []int{1}}, {Name: "b", DType: U8, Shape: []int{1}}}, meta); err != nil {
		t.Errorf("Writer at the limit: %v", err)
	}
	if _, err := (Options{MaxHeaderSize: n - 1}).NewWriter(io.Discard, []TensorInfo{{Name: "a", DType: U8, Shape: []int{1}}, {Name: "b", DType: U8, Shape: []int{1}}}, meta); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("Writer over the limit: %v", err)
	}
	// A header just over a limit that falls inside the padding.
	one := map[string]Tensor{"a": wlTensor(t, U8, []int{1}, []byte{1})}
	js := `{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`
	padded := int64(len(wlPadded(js)) - 8)
	if padded == int64(len(js)) {
		t.Fatal("the JSON needs padding for this case")
	}
	if err := (Options{MaxHeaderSize: int64(len(js))}).Save(io.Discard, one, nil); !errors.Is(err, ErrHeaderTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("needs at least %d bytes", padded)) {
		t.Errorf("limit inside the padding: %v", err)
	}
}

func TestLayoutOffsetsAtIntLimit(t *testing.T) {
	if math.MaxInt != math.MaxInt64 {
		t.Skip("64-bit int only")
	}
	// Four U8 tensors of 2^61-1 bytes (the largest whose bit count fits)
	// and one of 3 end exactly at MaxInt64: declared, not written.
	var infos []TensorInfo
	for _, n := range []string{"a", "b", "c", "d"} {
		infos = append(infos, TensorInfo{Name: n, DType: U8, Shape: []int{1<<61 - 1}})
	}
	tw, err := NewWriter(io.Discard, append(infos, TensorInfo{Name: "e", DType: U8, Shape: []int{3}}), nil)
	if err != nil {
		t.Fatalf("data buffer of MaxInt64 bytes: %v", err)
	}
	if got := tw.Infos()[4].DataOffsets; got != [2]int64{math.MaxInt64 - 3, math.MaxInt64} {
		t.Errorf("offsets %v", got)
	}
	if tw.Size() != int64(8)+tw.HeaderSize()+math.MaxInt64 && tw.Size() >= 0 {
		t.Errorf("Size %d", tw.Size())
	}
	_, err = NewWriter(io.Discard, append(infos, TensorInfo{Name: "e", DType: U8, Shape: []int{4}}), nil)
	var fe *FormatError
	if !errors.Is(err, ErrOverflow) || !errors.As(err, &fe) || fe.Tensor != "e" || !strings.Contains(fe.Msg, "the data buffer would be larger than 9223372036854775807 bytes") {
		t.Errorf("one byte more: %v", err)
	}
}

// wlRecorder records the length of each Write.
type wlRecorder struct {
	bytes.Buffer
	writes []int
}

func (r *wlRecorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, len(p))
	return r.Buffer.Write(p)
}

func TestLayoutBuffering(t *testing.T) {
	// A tensor of 64 KiB or more goes straight to the destination; a
	// smaller one waits in the buffer until Flush.
	for _, c := range []struct {
		size   int
		direct bool
	}{{64<<10 - 1, false}, {64 << 10, true}, {1, false}} {
		var r wlRecorder
		tw, err := NewWriter(&r, []TensorInfo{{Name: "a", DType: U8, Shape: []int{c.size}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.writes) != 1 || r.writes[0] != int(8+tw.HeaderSize()) {
			t.Fatalf("NewWriter wrote %v, want the header at once", r.writes)
		}
		if err := tw.WriteTensor("a", wlTensor(t, U8, []int{c.size}, make([]byte, c.size))); err != nil {
			t.Fatal(err)
		}
		if got := len(r.writes) == 2; got != c.direct {
			t.Errorf("%d bytes: writes %v; direct: %v", c.size, r.writes, c.direct)
		}
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
		if len(r.writes) != 2 || r.writes[1] != c.size {
			t.Errorf("%d bytes after Flush: writes %v", c.size, r.writes)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if len(r.writes) != 2 || int64(r.Len()) != tw.Size() {
			t.Errorf("%d bytes after Close: writes %v, %d bytes, Size %d", c.size, r.writes, r.Len(), tw.Size())
		}
	}
	// Small writes gather up to the buffer's 256 KiB, then go out.
	var r wlRecorder
	const n = 300 << 10
	tw, err := NewWriter(&r, []TensorInfo{{Name: "a", DType: U8, Shape: []int{n}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1000)
	for written := 0; written < n; written += len(chunk) {
		if _, err := tw.Write(chunk[:min(len(chunk), n-written)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 8+int(tw.HeaderSize())+n {
		t.Fatalf("%d bytes written", r.Len())
	}
	for _, w := range r.writes[1:] {
		if w > 256<<10 {
			t.Errorf("a write of %d bytes, over the 256 KiB buffer", w)
		}
	}
	if len(r.writes) > 3 {
		t.Errorf("writes %v: small writes were not gathered", r.writes)
	}
}

// wlShort writes one byte less than asked, without an error.
type wlShort struct{}

func (wlShort) Write(p []byte) (int, error) { return len(p) - 1, nil }

var errWLDisk = errors.New("disk full")

type wlFailing struct{ after int }

func (f *wlFailing) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errWLDisk
	}
	f.after--
	return len(p), nil
}

func TestLayoutWriterErrors(t *testing.T) {
	infos := []TensorInfo{
		{Name: "a", DType: F32, Shape: []int{2}}, // [0, 8)
		{Name: "e", DType: U8, Shape: []int{0}},  // empty
		{Name: "b", DType: U8, Shape: []int{3}},  // [8, 11)
	}
	newTW := func(w io.Writer) *Writer {
		tw, err := NewWriter(w, infos, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tw
	}
	a := wlTensor(t, F32, []int{2}, make([]byte, 8))
	bt := wlTensor(t, U8, []int{3}, []byte{1, 2, 3})

	// Out of order: b before a, then a again after it.
	tw := newTW(io.Discard)
	if err := tw.WriteTensor("b", bt); !errors.Is(err, ErrWriteOutOfOrder) || !strings.Contains(err.Error(), `its bytes start at 8, but 0 bytes of data are written; "a" comes first`) {
		t.Errorf("b first: %v", err)
	}
	tw = newTW(io.Discard)
	if err := tw.WriteTensor("e", wlTensor(t, U8, []int{0}, nil)); err != nil {
		t.Errorf("empty tensor first: %v", err)
	}
	if err := tw.WriteTensor("a", a); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteTensor("a", a); !errors.Is(err, ErrWriteOutOfOrder) || !strings.Contains(err.Error(), "its bytes [0, 8) are already written (8 bytes of data written)") {
		t.Errorf("a twice: %v", err)
	}
	// Sticky: the same error again, even for the right tensor.
	if err := tw.WriteTensor("b", bt); !errors.Is(err, ErrWriteOutOfOrder) {
		t.Errorf("after an error: %v", err)
	}
	if _, err := tw.Write([]byte{1}); !errors.Is(err, ErrWriteOutOfOrder) {
		t.Errorf("Write after an error: %v", err)
	}
	if err := tw.Flush(); !errors.Is(err, ErrWriteOutOfOrder) {
		t.Errorf("Flush after an error: %v", err)
	}

	// Declared otherwise, unknown.
	for _, c := range []struct {
		name string
		t    Tensor
		want error
	}{
		{"a", wlTensor(t, I32, []int{2}, make([]byte, 8)), ErrInvalidTensorInfo},
		{"a", wlTensor(t, F32, []int{1, 2}, make([]byte, 8)), ErrInvalidTensorInfo},
		{"a", wlTensor(t, F32, []int{1}, make([]byte, 4)), ErrInvalidTensorInfo},
		{"x", a, ErrTensorNotFound},
	} {
		tw := newTW(io.Discard)
		if err := tw.WriteTensor(c.name, c.t); !errors.Is(err, c.want) {
			t.Errorf("%s %v: %v, want %v", c.name, c.t, err, c.want)
		}
	}

	// Write: exactly the data buffer, then one byte more.
	var out bytes.Buffer
	tw = newTW(&out)
	if n, err := tw.Write(make([]byte, 11)); n != 11 || err != nil || tw.Written() != 11 {
		t.Errorf("Write of the whole buffer: %d, %v", n, err)
	}
	if err := tw.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	tw = newTW(io.Discard)
	if n, err := tw.Write(make([]byte, 12)); n != 11 || !errors.Is(err, ErrWriteTooLong) || !strings.Contains(err.Error(), "the data buffer holds 11 bytes") {
		t.Errorf("Write past the end: %d, %v", n, err)
	}
	// ReadFrom: exactly, or more.
	tw = newTW(io.Discard)
	if n, err := tw.ReadFrom(bytes.NewReader(make([]byte, 11))); n != 11 || err != nil {
		t.Errorf("ReadFrom of the whole buffer: %d, %v", n, err)
	}
	tw = newTW(io.Discard)
	if n, err := tw.ReadFrom(bytes.NewReader(make([]byte, 10))); n != 10 || err != nil || tw.Written() != 10 {
		t.Errorf("ReadFrom of less: %d, %v", n, err)
	}
	if err := tw.Close(); !errors.Is(err, ErrIncompleteBuffer) || !strings.Contains(err.Error(), `tensor "b"`) || !strings.Contains(err.Error(), "closed after 10 of the 11 bytes of the data buffer; the tensor misses 1 of its 3 bytes") {
		t.Errorf("Close short: %v", err)
	}
	tw = newTW(io.Discard)
	if n, err := tw.ReadFrom(bytes.NewReader(make([]byte, 12))); n != 11 || !errors.Is(err, ErrWriteTooLong) {
		t.Errorf("ReadFrom of more: %d, %v", n, err)
	}
	// CopyTensor: exactly, more, less.
	tw = newTW(io.Discard)
	if n, err := tw.CopyTensor("a", bytes.NewReader(make([]byte, 8))); n != 8 || err != nil {
		t.Errorf("CopyTensor exact: %d, %v", n, err)
	}
	if n, err := tw.CopyTensor("b", io.MultiReader(bytes.NewReader([]byte{1, 2}), bytes.NewReader([]byte{3}))); n != 3 || err != nil {
		t.Errorf("CopyTensor in two reads: %d, %v", n, err)
	}
	if err := tw.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	tw = newTW(io.Discard)
	if n, err := tw.CopyTensor("a", bytes.NewReader(make([]byte, 9))); n != 8 || !errors.Is(err, ErrWriteTooLong) || !strings.Contains(err.Error(), "the reader holds more than its 8 bytes") {
		t.Errorf("CopyTensor more: %d, %v", n, err)
	}
	tw = newTW(io.Discard)
	if n, err := tw.CopyTensor("a", bytes.NewReader(make([]byte, 7))); n != 7 || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "the reader ended after 7 of its 8 bytes") {
		t.Errorf("CopyTensor less: %d, %v", n, err)
	}
	tw = newTW(io.Discard)
	if n, err := tw.CopyTensor("a", &wlEOFReader{data: make([]byte, 8)}); n != 8 || err != nil {
		t.Errorf("CopyTensor with data and EOF together: %d, %v", n, err)
	}

	// Close: twice gives the same; then everything is ErrWriteAfterClose.
	tw = newTW(io.Discard)
	tw.WriteTensor("a", a)
	err1 := tw.Close()
	if !errors.Is(err1, ErrIncompleteBuffer) || !strings.Contains(err1.Error(), "closed after 8 of the 11 bytes of the data buffer; the tensor misses 3 of its 3 bytes") {
		t.Errorf("Close: %v", err1)
	}
	if err2 := tw.Close(); err2 != err1 {
		t.Errorf("second Close: %v", err2)
	}
	if err := tw.WriteTensor("b", bt); !errors.Is(err, ErrWriteAfterClose) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := tw.ReadFrom(bytes.NewReader(nil)); !errors.Is(err, ErrWriteAfterClose) {
		t.Errorf("ReadFrom after Close: %v", err)
	}
	if _, err := tw.CopyTensor("b", bytes.NewReader(nil)); !errors.Is(err, ErrWriteAfterClose) {
		t.Errorf("CopyTensor after Close: %v", err)
	}
	tw = newTW(io.Discard)
	if err := tw.Close(); !errors.Is(err, ErrIncompleteBuffer) || !strings.Contains(err.Error(), `tensor "a"`) || !strings.Contains(err.Error(), "the tensor misses 8 of its 8 bytes") {
		t.Errorf("Close of nothing: %v", err)
	}

	// The destination's errors, as given; a short write is io.ErrShortWrite.
	if _, err := NewWriter(&wlFailing{}, infos, nil); !errors.Is(err, errWLDisk) {
		t.Errorf("header write fails: %v", err)
	}
	tw, err := NewWriter(&wlFailing{after: 1}, infos, nil)
	if err != nil {
		t.Fatal(err)
	}
	tw.WriteTensor("a", a)
	tw.WriteTensor("b", bt)
	if err := tw.Close(); !errors.Is(err, errWLDisk) {
		t.Errorf("data write fails: %v", err)
	}
	if err := Save(wlShort{}, map[string]Tensor{"b": bt}, nil); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("short write: %v", err)
	}
	if err := Save(&wlFailing{}, map[string]Tensor{"b": bt}, nil); !errors.Is(err, errWLDisk) {
		t.Errorf("Save, header write fails: %v", err)
	}
	big := wlTensor(t, U8, []int{100 << 10}, make([]byte, 100<<10))
	if err := Save(&wlFailing{after: 1}, map[string]Tensor{"b": big}, nil); !errors.Is(err, errWLDisk) {
		t.Errorf("Save, data write fails: %v", err)
	}
}

// wlEOFReader returns all its data with io.EOF in one Read.
type wlEOFReader struct{ data []byte }

func (r *wlEOFReader) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// wlStalled returns (0, nil) stalls times, then its data.
type wlStalled struct {
	stalls int
	data   []byte
}

func (r *wlStalled) Read(p []byte) (int, error) {
	if r.stalls > 0 {
		r.stalls--
		return 0, nil
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// wlLiar claims more bytes than the buffer it was given.
type wlLiar struct{ n int }

func (r wlLiar) Read(p []byte) (int, error) { return len(p) + r.n, nil }

func TestLayoutReaderContracts(t *testing.T) {
	infos := []TensorInfo{{Name: "a", DType: U8, Shape: []int{4}}}
	// 99 empty reads in a row are tolerated; 100 are no progress.
	tw, _ := NewWriter(io.Discard, infos, nil)
	if n, err := tw.CopyTensor("a", &wlStalled{stalls: 99, data: []byte{1, 2, 3, 4}}); n != 4 || err != nil {
		t.Errorf("99 stalls: %d, %v", n, err)
	}
	tw, _ = NewWriter(io.Discard, infos, nil)
	if _, err := tw.CopyTensor("a", &wlStalled{stalls: 100, data: []byte{1, 2, 3, 4}}); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("100 stalls: %v", err)
	}
	// The probe for more bytes after the tensor also gives up after 100.
	tw, _ = NewWriter(io.Discard, infos, nil)
	if _, err := tw.CopyTensor("a", io.MultiReader(bytes.NewReader([]byte{1, 2, 3, 4}), &wlStalled{stalls: 100})); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("probe stalls: %v", err)
	}
	tw, _ = NewWriter(io.Discard, infos, nil)
	if _, err := tw.CopyTensor("a", io.MultiReader(bytes.NewReader([]byte{1, 2, 3, 4}), &wlStalled{stalls: 99})); err != nil {
		t.Errorf("probe, 99 stalls then EOF: %v", err)
	}
	// A reader that claims more than the buffer or a negative count.
	for _, liar := range []wlLiar{{1}, {-100000000}} {
		tw, _ = NewWriter(io.Discard, infos, nil)
		if _, err := tw.CopyTensor("a", liar); err == nil || !strings.Contains(err.Error(), "reader returned") {
			t.Errorf("reader returning %d more: %v", liar.n, err)
		}
	}
}
