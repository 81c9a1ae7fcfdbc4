package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
)

// formatOrder is the reference writer's dtype order, typed in by hand from the reference's list
// ("Writing") by hand, so that the tests do not take it from dtypeRank.
var formatOrder = []string{"U64", "I64", "F64", "C64", "F32", "U32", "I32", "BF16", "F16", "U16",
	"I16", "F8_E5M2FNUZ", "F8_E4M3FNUZ", "F8_E8M0", "F8_E4M3", "F8_E5M2", "I8", "U8", "F6_E3M2",
	"F6_E2M3", "F4", "BOOL"}

// formatBits is the format's table of element sizes, also by hand.
var formatBits = map[string]int{"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
	"F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
	"I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64, "F4": 4,
	"F6_E2M3": 6, "F6_E3M2": 6}

func mustTensor(t testing.TB, d DType, shape []int, data []byte) Tensor {
	t.Helper()
	x, err := NewTensor(d, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func saveBytes(t testing.TB, tensors map[string]Tensor, metadata map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Save(&buf, tensors, metadata); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// file builds the expected bytes of a file from its JSON header text,
// padded by the format's rule (spaces to a multiple of 8), and its data.
func file(json string, data ...[]byte) []byte {
	for len(json)%8 != 0 {
		json += " "
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(json)))
	out = append(out, json...)
	for _, d := range data {
		out = append(out, d...)
	}
	return out
}

// seq returns n bytes that differ from those of another seq(n, k').
func seq(n, k int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + k*13 + 1)
	}
	return b
}

func TestSaveNoTensors(t *testing.T) {
	got := saveBytes(t, nil, nil)
	want := []byte("\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The same bytes as the reference writer's save_file({}), copied from a real file.
	real, err := os.ReadFile("testdata/writer/aitoolkit_empty_header.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, real) {
		t.Fatalf("got %q, the reference wrote %q", got, real)
	}
	if got := saveBytes(t, map[string]Tensor{}, nil); !bytes.Equal(got, want) {
		t.Fatalf("empty map: got %q, want %q", got, want)
	}
}

func TestSaveMetadataOnly(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta map[string]string
		want []byte
	}{
		// 32 bytes: a multiple of 8, no padding.
		{"one key", map[string]string{"key": "value"},
			[]byte("\x20\x00\x00\x00\x00\x00\x00\x00" + `{"__metadata__":{"key":"value"}}`)},
		// 19 bytes, padded with 5 spaces to 24.
		{"empty map", map[string]string{},
			[]byte("\x18\x00\x00\x00\x00\x00\x00\x00" + `{"__metadata__":{}}` + "     ")},
		// Keys sorted bytewise; 56 bytes.
		{"sorted keys", map[string]string{"b": "2", "a": "1", "B": "3", "é": "4"},
			[]byte("\x38\x00\x00\x00\x00\x00\x00\x00" + `{"__metadata__":{"B":"3","a":"1","b":"2","é":"4"}}` + "     ")}, // é is 2 bytes: 51 + 5
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := saveBytes(t, nil, tc.meta); !bytes.Equal(got, tc.want) {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestSaveLayout(t *testing.T) {
	tensors := map[string]Tensor{
		"b": mustTensor(t, F32, []int{2}, seq(8, 1)),
		"a": mustTensor(t, U8, []int{3}, seq(3, 2)),
		"c": mustTensor(t, F32, nil, seq(4, 3)), // scalar
		"z": mustTensor(t, I64, []int{0}, nil),  // empty, and first by dtype
		"e": mustTensor(t, BOOL, []int{2, 0}, []byte{}),
		"w": mustTensor(t, U64, []int{1, 1}, seq(8, 4)),
	}
	// By hand: U64 < I64 < F32 < U8 < BOOL, then names.
	want := file(`{"w":{"dtype":"U64","shape":[1,1],"data_offsets":[0,8]},`+
		`"z":{"dtype":"I64","shape":[0],"data_offsets":[8,8]},`+
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},`+
		`"c":{"dtype":"F32","shape":[],"data_offsets":[16,20]},`+
		`"a":{"dtype":"U8","shape":[3],"data_offsets":[20,23]},`+
		`"e":{"dtype":"BOOL","shape":[2,0],"data_offsets":[23,23]}}`,
		seq(8, 4), seq(8, 1), seq(4, 3), seq(3, 2))
	got := saveBytes(t, tensors, nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	// With metadata it comes first.
	want = file(`{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, seq(8, 1))
	got = saveBytes(t, map[string]Tensor{"b": tensors["b"]}, map[string]string{"format": "pt"})
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestSaveEveryDType(t *testing.T) {
	tensors := map[string]Tensor{}
	var wantJSON strings.Builder
	var wantData [][]byte
	wantJSON.WriteString("{")
	off := 0
	for k, name := range formatOrder {
		d, err := ParseDType(name)
		if err != nil {
			t.Fatal(err)
		}
		// 4 elements fill whole bytes for every dtype: 2 bytes of F4, 3 of F6.
		n := 4 * formatBits[name] / 8
		data := seq(n, k)
		tname := fmt.Sprintf("t%02d", 21-k) // names in reverse: the order must come from the dtype
		tensors[tname] = mustTensor(t, d, []int{2, 2}, data)
		if k > 0 {
			wantJSON.WriteString(",")
		}
		fmt.Fprintf(&wantJSON, `"%s":{"dtype":"%s","shape":[2,2],"data_offsets":[%d,%d]}`, tname, name, off, off+n)
		off += n
		wantData = append(wantData, data)
	}
	wantJSON.WriteString("}")
	got := saveBytes(t, tensors, nil)
	want := file(wantJSON.String(), wantData...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	f, err := Load(got)
	if err != nil {
		t.Fatal(err)
	}
	for name, x := range tensors {
		y, err := f.GetTensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if y.DType() != x.DType() || !bytes.Equal(y.Data(), x.Data()) || !slices.Equal(y.Shape(), x.Shape()) {
			t.Errorf("%s: read back %v, saved %v", name, y, x)
		}
	}
}

func TestSaveSubByteDTypes(t *testing.T) {
	for _, tc := range []struct {
		d     DType
		shape []int
		size  int // bytes, or -1 for ErrMisalignedSlice
	}{
		{F4, []int{2}, 1}, {F4, []int{3}, -1}, {F4, []int{1}, -1}, {F4, []int{}, -1}, {F4, []int{0}, 0},
		{F4, []int{3, 2}, 3}, {F4, []int{5, 3}, -1},
		{F6E2M3, []int{4}, 3}, {F6E2M3, []int{2}, -1}, {F6E2M3, []int{1}, -1}, {F6E2M3, []int{2, 2}, 3},
		{F6E3M2, []int{8}, 6}, {F6E3M2, []int{6}, -1}, {F6E3M2, []int{0, 3}, 0},
	} {
		name := fmt.Sprintf("%v%v", tc.d, tc.shape)
		t.Run(name, func(t *testing.T) {
			n := max(tc.size, 0)
			// A literal, since NewTensor refuses what Save must refuse too.
			x := Tensor{dtype: tc.d, shape: tc.shape, data: seq(n, 1)}
			var w countWriter
			err := Save(&w, map[string]Tensor{"x": x}, nil)
			if tc.size < 0 {
				if !errors.Is(err, ErrMisalignedSlice) {
					t.Fatalf("got %v, want ErrMisalignedSlice", err)
				}
				if w.n != 0 {
					t.Fatalf("%d bytes written for an invalid tensor", w.n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			shape, _ := json.Marshal(tc.shape)
			want := file(fmt.Sprintf(`{"x":{"dtype":"%v","shape":%s,"data_offsets":[0,%d]}}`, tc.d, shape, n), x.data)
			if got := saveBytes(t, map[string]Tensor{"x": x}, nil); !bytes.Equal(got, want) {
				t.Fatalf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// TestSaveEscapes checks each escape of the reference writer (serde_json's), with the expected JSON
// written by hand.
func TestSaveEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"`, `"\""`},
		{`\`, `"\\"`},
		{"\n", `"\n"`},
		{"\r", `"\r"`},
		{"\t", `"\t"`},
		{"\b", `"\b"`},
		{"\f", `"\f"`},
		{"\x00", `"\u0000"`},
		{"\x01", `"\u0001"`},
		{"\x0b", `"\u000b"`}, // vertical tab: no short form in JSON
		{"\x1a", `"\u001a"`}, // lowercase hex
		{"\x1f", `"\u001f"`},
		{" ", `" "`},
		{"\x7f", "\"\x7f\""},                 // DEL raw
		{"/", `"/"`},                         // slash raw
		{"\u2028\u2029", "\"\u2028\u2029\""}, // line and paragraph separators raw
		{"é中😀", `"é中😀"`},                     // non-ASCII raw
		{"a\"b\\c\nd\x00e", `"a\"b\\c\nd\u0000e"`},
		{"", `""`},
	} {
		name := tc.in
		want := file(`{`+tc.want+`:{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7})
		got := saveBytes(t, map[string]Tensor{name: mustTensor(t, U8, []int{1}, []byte{7})}, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("name %q: got %q, want %q", tc.in, got, want)
		}
		want = file(`{"__metadata__":{` + tc.want + `:` + tc.want + `}}`)
		got = saveBytes(t, nil, map[string]string{tc.in: tc.in})
		if !bytes.Equal(got, want) {
			t.Errorf("metadata %q: got %q, want %q", tc.in, got, want)
		}
		// An independent decoder reads back the same string.
		var m map[string]map[string]string
		if err := json.Unmarshal(got[8:], &m); err != nil {
			t.Errorf("metadata %q: encoding/json: %v", tc.in, err)
		} else if v, ok := m["__metadata__"][tc.in]; !ok || v != tc.in {
			t.Errorf("metadata %q: encoding/json decoded %q", tc.in, m)
		}
	}
}

// TestAppendJSONStringAllBytes checks the escape of every byte value
// against serde_json's escaping rule, and that encoding/json decodes it back.
func TestAppendJSONStringAllBytes(t *testing.T) {
	short := map[byte]string{'"': `\"`, '\\': `\\`, '\n': `\n`, '\r': `\r`, '\t': `\t`, '\b': `\b`, '\f': `\f`}
	for c := 0; c < 0x80; c++ {
		s := string(rune(c))
		want, ok := short[byte(c)]
		switch {
		case ok:
		case c < 0x20:
			want = fmt.Sprintf(`\u%04x`, c)
		default:
			want = s
		}
		got := string(appendJSONString(nil, s))
		if got != `"`+want+`"` {
			t.Errorf("byte %#02x: got %s, want %q", c, got, `"`+want+`"`)
		}
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil || back != s {
			t.Errorf("byte %#02x: encoding/json reads %q, %v", c, back, err)
		}
	}
}

func TestSaveNonASCIINamesOrder(t *testing.T) {
	names := []string{"😀", "中", "é", "a", "Z", "\u2028", "ab", ""}
	tensors := map[string]Tensor{}
	for i, n := range names {
		tensors[n] = mustTensor(t, I8, []int{1}, []byte{byte(i)})
	}
	got := saveBytes(t, tensors, nil)
	// Bytewise: "" < "Z" (5a) < "a" (61) < "ab" < "é" (c3 a9) < "\u2028" (e2 80 a8) < "中" (e4 b8 ad) < "😀" (f0 9f 98 80).
	want := []string{"", "Z", "a", "ab", "é", "\u2028", "中", "😀"}
	if keys := headerKeys(t, got); !slices.Equal(keys, want) {
		t.Fatalf("header order %q, want %q", keys, want)
	}
}

// headerKeys returns the top-level keys of a file's header in their order,
// read with encoding/json.
func headerKeys(t testing.TB, file []byte) []string {
	t.Helper()
	n := binary.LittleEndian.Uint64(file)
	dec := json.NewDecoder(bytes.NewReader(file[8 : 8+n]))
	var keys []string
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("header does not start with an object: %v %v", tok, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// countWriter counts what is written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// failWriter accepts limit bytes, then fails with err.
type failWriter struct {
	w     io.Writer
	limit int64
	err   error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if int64(len(p)) <= w.limit {
		w.limit -= int64(len(p))
		return w.w.Write(p)
	}
	n, _ := w.w.Write(p[:w.limit])
	w.limit = 0
	return n, w.err
}

func TestSaveInvalid(t *testing.T) {
	good := mustTensor(t, F32, []int{2}, seq(8, 1))
	huge := strings.Repeat("x", 200)
	for _, tc := range []struct {
		name    string
		opts    Options
		tensors map[string]Tensor
		meta    map[string]string
		want    error
	}{
		{"reserved name", Options{}, map[string]Tensor{"a": good, "__metadata__": good}, nil, ErrInvalidHeader},
		{"name not UTF-8", Options{}, map[string]Tensor{"a\xff": good}, nil, ErrInvalidHeader},
		{"name with a lone surrogate's bytes", Options{}, map[string]Tensor{"\xed\xa0\x80": good}, nil, ErrInvalidHeader},
		{"metadata key not UTF-8", Options{}, map[string]Tensor{"a": good}, map[string]string{"k\xc3": "v"}, ErrInvalidHeader},
		{"metadata value not UTF-8", Options{}, map[string]Tensor{"a": good}, map[string]string{"k": "\x80"}, ErrInvalidHeader},
		{"zero Tensor", Options{}, map[string]Tensor{"a": good, "b": {}}, nil, ErrInvalidTensorInfo},
		{"invalid dtype", Options{}, map[string]Tensor{"a": good, "b": {dtype: DType(99), shape: []int{1}, data: []byte{1}}, "c": good}, nil, ErrInvalidTensorInfo},
		{"data too short", Options{}, map[string]Tensor{"b": {dtype: F32, shape: []int{2}, data: make([]byte, 7)}}, nil, ErrInvalidTensorInfo},
		{"data too long", Options{}, map[string]Tensor{"b": {dtype: U8, shape: []int{}, data: make([]byte, 2)}}, nil, ErrInvalidTensorInfo},
		{"negative dimension", Options{}, map[string]Tensor{"b": {dtype: U8, shape: []int{-1}, data: nil}}, nil, ErrInvalidTensorInfo},
		{"element count overflows", Options{}, map[string]Tensor{"b": {dtype: U8, shape: []int{maxInt, maxInt, maxInt}, data: nil}}, nil, ErrOverflow},
		{"byte size overflows", Options{}, map[string]Tensor{"b": {dtype: F64, shape: []int{maxInt / 2}, data: nil}}, nil, ErrOverflow},
		{"F4 odd count", Options{}, map[string]Tensor{"b": {dtype: F4, shape: []int{3}, data: make([]byte, 2)}}, nil, ErrMisalignedSlice},
		{"header over the limit", Options{MaxHeaderSize: 64}, map[string]Tensor{"a": good}, map[string]string{"k": huge}, ErrHeaderTooLarge},
		{"tensors over the limit", Options{MaxHeaderSize: 64}, map[string]Tensor{huge: good}, nil, ErrHeaderTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w countWriter
			err := tc.opts.Save(&w, tc.tensors, tc.meta)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if w.n != 0 {
				t.Fatalf("%d bytes written despite the error", w.n)
			}
		})
	}
}

func TestSaveHeaderLimit(t *testing.T) {
	tensors := map[string]Tensor{"a": mustTensor(t, U8, []int{1}, []byte{1})}
	full := saveBytes(t, tensors, nil)
	n := int64(binary.LittleEndian.Uint64(full))
	var buf bytes.Buffer
	if err := (Options{MaxHeaderSize: n}).Save(&buf, tensors, nil); err != nil {
		t.Fatalf("header of exactly the limit refused: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), full) {
		t.Fatal("output differs with a limit")
	}
	// The limit applies to the padded length.
	if err := (Options{MaxHeaderSize: n - 1}).Save(io.Discard, tensors, nil); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("limit-1: got %v, want ErrHeaderTooLarge", err)
	}
	if err := (Options{MaxHeaderSize: -1}).Save(io.Discard, tensors, map[string]string{"k": strings.Repeat("v", 1000)}); err != nil {
		t.Fatalf("no limit: %v", err)
	}
	// The default limit is the reader's: a header that Open would refuse is refused.
	big := map[string]string{"k": strings.Repeat("v", DefaultMaxHeaderSize)}
	if err := Save(io.Discard, nil, big); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("default limit: got %v, want ErrHeaderTooLarge", err)
	}
	// And exactly the default limit is accepted: 25 bytes of JSON around the value.
	ok := map[string]string{"k": strings.Repeat("v", DefaultMaxHeaderSize-len(`{"__metadata__":{"k":""}}`))}
	var cw countWriter
	if err := Save(&cw, nil, ok); err != nil {
		t.Fatalf("header of exactly DefaultMaxHeaderSize: %v", err)
	}
	if cw.n != 8+DefaultMaxHeaderSize {
		t.Fatalf("wrote %d bytes, want %d", cw.n, 8+DefaultMaxHeaderSize)
	}
}

func TestSaveWriterErrors(t *testing.T) {
	tensors := map[string]Tensor{
		"big":   mustTensor(t, U8, []int{1 << 20}, make([]byte, 1<<20)),
		"small": mustTensor(t, U8, []int{100}, make([]byte, 100)),
	}
	full := saveBytes(t, tensors, nil)
	for _, limit := range []int64{0, 7, 100, int64(len(full)) - 101, int64(len(full)) - 1} {
		var buf bytes.Buffer
		err := Save(&failWriter{w: &buf, limit: limit, err: syscall.ENOSPC}, tensors, nil)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("limit %d: got %v, want ENOSPC", limit, err)
		}
		if !bytes.Equal(buf.Bytes(), full[:buf.Len()]) {
			t.Errorf("limit %d: the bytes written before the error are wrong", limit)
		}
	}
	// A short write without an error is io.ErrShortWrite.
	err := Save(shortWriter{}, tensors, nil)
	if !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("got %v, want io.ErrShortWrite", err)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// TestSaveCoalesces checks that small tensors cost few writes and large
// ones are passed through without a copy.
func TestSaveCoalesces(t *testing.T) {
	tensors := map[string]Tensor{}
	for i := range 1000 {
		tensors[fmt.Sprintf("t%04d", i)] = mustTensor(t, F32, []int{16}, seq(64, i))
	}
	bigData := make([]byte, 1<<20)
	tensors["zz_big"] = mustTensor(t, F64, []int{1 << 17}, bigData)
	rec := &recordWriter{}
	if err := Save(rec, tensors, nil); err != nil {
		t.Fatal(err)
	}
	// 1000*64 bytes + a header of about 60 KiB fit in one buffer of 256 KiB: the big tensor
	// (F64, first) goes directly, the header and the small ones in a write or two.
	if len(rec.writes) > 4 {
		t.Errorf("%d writes, want at most 4", len(rec.writes))
	}
	direct := false
	for _, p := range rec.writes {
		if len(p) == len(bigData) && &p[0] == &bigData[0] {
			direct = true
		}
	}
	if !direct {
		t.Error("the 1 MiB tensor was not passed to Write as it is")
	}
}

type recordWriter struct{ writes [][]byte }

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, p)
	return len(p), nil
}

// TestSaveReferenceLayout re-saves the files of testdata/writer, written by
// the reference writer or by an independent Python encoder, and expects
// their exact bytes.
func TestSaveReferenceLayout(t *testing.T) {
	files, err := filepath.Glob("testdata/writer/*.safetensors")
	if err != nil || len(files) < 3 {
		t.Fatalf("fixtures missing: %v %v", files, err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := resave(t, orig); !bytes.Equal(got, orig) {
				t.Fatalf("re-saved file differs from the original:\n got %q\nwant %q", head(got), head(orig))
			}
		})
	}
}

// resave loads a file and saves its tensors and metadata again.
func resave(t testing.TB, orig []byte) []byte {
	t.Helper()
	f, err := Load(orig)
	if err != nil {
		t.Fatal(err)
	}
	tensors := map[string]Tensor{}
	for _, name := range f.Keys() {
		if tensors[name], err = f.GetTensor(name); err != nil {
			t.Fatal(err)
		}
	}
	return saveBytes(t, tensors, f.Metadata())
}

func head(b []byte) []byte {
	if n := binary.LittleEndian.Uint64(b); n < uint64(len(b)) {
		return b[:8+n]
	}
	return b
}

// TestSaveRealFiles re-saves every real file of ../shared/testdata/real.
// Those that have the current reference writer's layout, as the file itself
// shows (header padded to 8, entries and data in dtype-then-name order,
// metadata keys sorted, which holds for 0 or 1 key), must come out
// byte-identical; the others (unpadded, alphabetical, insertion or hash
// order, unsorted metadata) must read back to the same tensors and
// metadata.
func TestSaveRealFiles(t *testing.T) {
	root := filepath.Join("..", "shared", "testdata", "real")
	if _, err := os.Stat(root); err != nil {
		t.Skip("no ../shared/testdata/real")
	}
	var paths []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".safetensors") {
			paths = append(paths, path)
		}
		return nil
	})
	golden, other := 0, 0
	for _, path := range paths {
		rel, _ := filepath.Rel(root, path)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Load(orig)
		if err != nil {
			if !strings.HasPrefix(rel, "malformed") {
				t.Errorf("%s: %v", rel, err)
			}
			continue
		}
		t.Run(rel, func(t *testing.T) {
			got := resave(t, orig)
			if referenceLayout(t, orig, f) {
				golden++
				t.Log("reference layout: must be byte-identical")
				if !bytes.Equal(got, orig) {
					t.Fatalf("not byte-identical:\n got %q\nwant %q", head(got), head(orig))
				}
				return
			}
			other++
			t.Log("another layout: must read back equal")
			g, err := Load(got)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(g.Metadata(), f.Metadata()) || (g.Metadata() == nil) != (f.Metadata() == nil) {
				t.Errorf("metadata %v, want %v", g.Metadata(), f.Metadata())
			}
			if !slices.Equal(g.Keys(), f.Keys()) {
				t.Fatalf("keys %q, want %q", g.Keys(), f.Keys())
			}
			for _, name := range f.Keys() {
				x, _ := f.GetTensor(name)
				y, err := g.GetTensor(name)
				if err != nil || x.DType() != y.DType() || !slices.Equal(x.Shape(), y.Shape()) || !bytes.Equal(x.Data(), y.Data()) {
					t.Errorf("%s: %v, want %v (%v)", name, y, x, err)
				}
			}
			if binary.LittleEndian.Uint64(got)%8 != 0 {
				t.Error("re-saved header is not padded to 8")
			}
		})
	}
	t.Logf("%d files byte-identical, %d re-saved to the canonical layout", golden, other)
	if golden < 20 {
		t.Errorf("only %d files qualified for the byte-identical test; SOURCES.md lists more", golden)
	}
}

// referenceLayout tells from the file alone whether the current reference
// writer could have written it: N a multiple of 8 with only spaces after
// the JSON, header entries listed in buffer order, buffer order by
// formatOrder then name, and metadata keys in sorted order.
func referenceLayout(t *testing.T, orig []byte, f *File) bool {
	n := f.HeaderSize()
	if n%8 != 0 {
		return false
	}
	hdr := orig[8 : 8+n]
	trimmed := bytes.TrimRight(hdr, " ")
	if len(trimmed) == 0 || trimmed[len(trimmed)-1] != '}' || len(hdr)-len(trimmed) >= 8 {
		return false
	}
	keys := headerKeys(t, orig)
	if len(keys) > 0 && keys[0] == "__metadata__" {
		keys = keys[1:]
		var m struct {
			M json.RawMessage `json:"__metadata__"`
		}
		if err := json.Unmarshal(hdr, &m); err != nil {
			t.Fatal(err)
		}
		if string(m.M) == "null" {
			return false // the reference writes no "__metadata__" rather than null
		}
		mkeys := headerKeys(t, append(binary.LittleEndian.AppendUint64(nil, uint64(len(m.M))), m.M...))
		if !slices.IsSorted(mkeys) {
			return false
		}
	}
	infos := f.Infos() // buffer order
	if len(infos) != len(keys) {
		return false
	}
	for i := range infos {
		if infos[i].Name != keys[i] {
			return false
		}
		if i > 0 {
			a, b := infos[i-1], infos[i]
			ra, rb := slices.Index(formatOrder, a.DType.String()), slices.Index(formatOrder, b.DType.String())
			if ra > rb || (ra == rb && a.Name > b.Name) {
				return false
			}
		}
	}
	return true
}

// TestSaveViewsOfOpen saves tensors that are views of a mapped file, and
// tensors read through NewReader, and gets the original bytes back.
func TestSaveViewsOfOpen(t *testing.T) {
	path := "testdata/writer/reference_layout.safetensors"
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	osf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	r, err := NewReader(osf, int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []*File{f, r} {
		tensors := map[string]Tensor{}
		for name := range src.All() {
			if tensors[name], err = src.GetTensor(name); err != nil {
				t.Fatal(err)
			}
		}
		if got := saveBytes(t, tensors, src.Metadata()); !bytes.Equal(got, orig) {
			t.Fatal("re-saved views differ from the file")
		}
	}
}

// randomName returns a name from an alphabet that needs escapes and
// multi-byte UTF-8.
func randomName(r *rand.Rand) string {
	alphabet := []string{"a", "b", "Z", "0", ".", "_", "/", "\"", "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "中", "😀", "\u2028"}
	n := r.IntN(6)
	var sb strings.Builder
	for range n {
		sb.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

func randomTensor(r *rand.Rand) Tensor {
	all := AllDTypes()
	for {
		d := all[r.IntN(len(all))]
		shape := make([]int, r.IntN(4))
		for i := range shape {
			shape[i] = r.IntN(5) // zeros included
		}
		n, err := byteSize(d, shape)
		if err != nil {
			continue // F4/F6 counts that do not fill whole bytes
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		return Tensor{dtype: d, shape: shape, data: data}
	}
}

// TestSaveProperty: random maps of tensors survive Save -> Load bit for
// bit, Save is deterministic, the header decodes with encoding/json to the
// same names, metadata and offsets, in the reference writer's dtype order.
func TestSaveProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	iters := 300
	if testing.Short() {
		iters = 50
	}
	for it := range iters {
		tensors := map[string]Tensor{}
		for range r.IntN(12) {
			name := randomName(r)
			if name == metadataKey {
				continue
			}
			tensors[name] = randomTensor(r)
		}
		var meta map[string]string
		if r.IntN(3) > 0 {
			meta = map[string]string{}
			for range r.IntN(4) {
				meta[randomName(r)] = randomName(r)
			}
		}
		a := saveBytes(t, tensors, meta)
		if b := saveBytes(t, tensors, meta); !bytes.Equal(a, b) {
			t.Fatalf("iteration %d: two saves differ", it)
		}
		f, err := Load(a)
		if err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		if f.Len() != len(tensors) || (f.Metadata() == nil) != (meta == nil) || !maps.Equal(f.Metadata(), meta) {
			t.Fatalf("iteration %d: read back %d tensors, metadata %q; saved %d, %q", it, f.Len(), f.Metadata(), len(tensors), meta)
		}
		for name, x := range tensors {
			y, err := f.GetTensor(name)
			if err != nil || y.DType() != x.DType() || !slices.Equal(y.Shape(), x.Shape()) || !bytes.Equal(y.Data(), x.Data()) {
				t.Fatalf("iteration %d: %q read back as %v, saved %v (%v)", it, name, y, x, err)
			}
		}
		checkWithEncodingJSON(t, a, tensors, meta)
		// Saving what was read gives the same bytes again.
		if c := resave(t, a); !bytes.Equal(a, c) {
			t.Fatalf("iteration %d: re-save differs", it)
		}
	}
}

// checkWithEncodingJSON decodes a saved file's header with encoding/json and
// checks it against what was saved, without the package's parser.
func checkWithEncodingJSON(t *testing.T, file []byte, tensors map[string]Tensor, meta map[string]string) {
	t.Helper()
	n := binary.LittleEndian.Uint64(file)
	if n%8 != 0 {
		t.Fatalf("N = %d is not a multiple of 8", n)
	}
	hdr := file[8 : 8+n]
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		t.Fatalf("encoding/json: %v in %q", err, hdr)
	}
	keys := headerKeys(t, file)
	if meta != nil {
		if keys[0] != "__metadata__" {
			t.Fatalf("first key %q", keys[0])
		}
		keys = keys[1:]
		var m map[string]string
		if err := json.Unmarshal(raw["__metadata__"], &m); err != nil || !maps.Equal(m, meta) {
			t.Fatalf("metadata decodes to %q, %v; want %q", m, err, meta)
		}
	}
	if len(keys) != len(tensors) {
		t.Fatalf("%d keys, %d tensors", len(keys), len(tensors))
	}
	var off int64
	for i, k := range keys {
		x, ok := tensors[k]
		if !ok {
			t.Fatalf("key %q was not saved", k)
		}
		var e struct {
			DType       string   `json:"dtype"`
			Shape       []int    `json:"shape"`
			DataOffsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw[k], &e); err != nil {
			t.Fatal(err)
		}
		if e.DType != x.DType().String() || !slices.Equal(e.Shape, x.Shape()) || e.DataOffsets != [2]int64{off, off + int64(len(x.Data()))} {
			t.Fatalf("entry %q = %+v, saved %v at %d", k, e, x, off)
		}
		if !bytes.Equal(file[8+int64(n)+off:8+int64(n)+e.DataOffsets[1]], x.Data()) {
			t.Fatalf("data of %q differs", k)
		}
		off = e.DataOffsets[1]
		if i > 0 {
			p := tensors[keys[i-1]]
			ra, rb := slices.Index(formatOrder, p.DType().String()), slices.Index(formatOrder, x.DType().String())
			if ra > rb || (ra == rb && keys[i-1] >= k) {
				t.Fatalf("%q (%v) before %q (%v): not the reference writer's order", keys[i-1], p.DType(), k, x.DType())
			}
		}
	}
	if int64(len(file)) != 8+int64(n)+off {
		t.Fatalf("file has %d bytes, header says %d", len(file), 8+int64(n)+off)
	}
}

// ---- the streaming Writer ----

// streamFixture returns tensors of several dtypes and sizes, some empty,
// some larger than the Writer's buffer, and what Save makes of them.
func streamFixture(t testing.TB) (map[string]Tensor, map[string]string, []byte) {
	tensors := map[string]Tensor{
		"w.big":    mustTensor(t, F32, []int{100, 1000}, seq(400000, 1)),
		"w.mid":    mustTensor(t, F32, []int{70000}, seq(280000, 2)),
		"b.small":  mustTensor(t, F16, []int{3}, seq(6, 3)),
		"a.empty":  mustTensor(t, F16, []int{0, 4}, nil),
		"c.scalar": mustTensor(t, I64, nil, seq(8, 4)),
		"d.u8":     mustTensor(t, U8, []int{5}, seq(5, 5)),
		"z.empty":  mustTensor(t, BOOL, []int{0}, nil),
		"e.f4":     mustTensor(t, F4, []int{4}, seq(2, 6)),
	}
	meta := map[string]string{"format": "pt"}
	return tensors, meta, saveBytes(t, tensors, meta)
}

func declare(tensors map[string]Tensor) []TensorInfo {
	var infos []TensorInfo
	for name, x := range tensors {
		infos = append(infos, TensorInfo{Name: name, DType: x.DType(), Shape: x.Shape(), DataOffsets: [2]int64{-5, 99}})
	}
	return infos
}

func TestWriterMatchesSave(t *testing.T) {
	tensors, meta, want := streamFixture(t)
	dataOf := func(tw *Writer) []byte {
		var d []byte
		for _, ti := range tw.Infos() {
			d = append(d, tensors[ti.Name].Data()...)
		}
		return d
	}
	for _, tc := range []struct {
		name  string
		write func(t *testing.T, tw *Writer)
	}{
		{"WriteTensor", func(t *testing.T, tw *Writer) {
			for _, ti := range tw.Infos() {
				if err := tw.WriteTensor(ti.Name, tensors[ti.Name]); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"CopyTensor", func(t *testing.T, tw *Writer) {
			for _, ti := range tw.Infos() {
				n, err := tw.CopyTensor(ti.Name, bytes.NewReader(tensors[ti.Name].Data()))
				if err != nil || n != ti.Size() {
					t.Fatal(n, err)
				}
			}
		}},
		{"CopyTensor one byte at a time", func(t *testing.T, tw *Writer) {
			for _, ti := range tw.Infos() {
				if _, err := tw.CopyTensor(ti.Name, iotest.OneByteReader(bytes.NewReader(tensors[ti.Name].Data()))); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"CopyTensor data with EOF", func(t *testing.T, tw *Writer) {
			for _, ti := range tw.Infos() {
				if _, err := tw.CopyTensor(ti.Name, iotest.DataErrReader(bytes.NewReader(tensors[ti.Name].Data()))); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"Write in random chunks", func(t *testing.T, tw *Writer) {
			data := dataOf(tw)
			r := rand.New(rand.NewPCG(3, 4))
			for len(data) > 0 {
				n := min(len(data), r.IntN(100000))
				if k, err := tw.Write(data[:n]); err != nil || k != n {
					t.Fatal(k, err)
				}
				data = data[n:]
			}
		}},
		{"io.Copy", func(t *testing.T, tw *Writer) {
			n, err := io.Copy(tw, iotest.HalfReader(bytes.NewReader(dataOf(tw))))
			if err != nil || n != tw.Size()-8-tw.HeaderSize() {
				t.Fatal(n, err)
			}
		}},
		{"mixed", func(t *testing.T, tw *Writer) {
			for i, ti := range tw.Infos() {
				var err error
				switch x := tensors[ti.Name]; i % 3 {
				case 0:
					err = tw.WriteTensor(ti.Name, x)
				case 1:
					_, err = tw.Write(x.Data())
				case 2:
					_, err = tw.ReadFrom(bytes.NewReader(x.Data()))
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := tw.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw, err := NewWriter(&buf, declare(tensors), meta)
			if err != nil {
				t.Fatal(err)
			}
			// The header is written at once.
			if int64(buf.Len()) != 8+tw.HeaderSize() || !bytes.Equal(buf.Bytes(), want[:buf.Len()]) {
				t.Fatalf("NewWriter wrote %d bytes, want the %d of the header", buf.Len(), 8+tw.HeaderSize())
			}
			if tw.Size() != int64(len(want)) {
				t.Fatalf("Size %d, want %d", tw.Size(), len(want))
			}
			tc.write(t, tw)
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatal("streamed bytes differ from Save's")
			}
		})
	}
}

func TestWriterInfos(t *testing.T) {
	tensors, _, want := streamFixture(t)
	tw, err := NewWriter(io.Discard, declare(tensors), nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load(want)
	if err != nil {
		t.Fatal(err)
	}
	got, exp := tw.Infos(), f.Infos()
	if len(got) != len(exp) {
		t.Fatalf("%d infos, want %d", len(got), len(exp))
	}
	for i := range got {
		if got[i].Name != exp[i].Name || got[i].DType != exp[i].DType || !slices.Equal(got[i].Shape, exp[i].Shape) || got[i].DataOffsets != exp[i].DataOffsets {
			t.Errorf("info %d = %+v, want %+v", i, got[i], exp[i])
		}
	}
	// Shapes were copied: changing the declared ones changes nothing.
	decl := []TensorInfo{{Name: "x", DType: U8, Shape: []int{2}}}
	tw, err = NewWriter(io.Discard, decl, nil)
	if err != nil {
		t.Fatal(err)
	}
	decl[0].Shape[0] = 3
	if s := tw.Infos()[0].Shape; s[0] != 2 {
		t.Fatalf("shape %v changed with the caller's slice", s)
	}
}

func TestWriterErrors(t *testing.T) {
	tensors, _, _ := streamFixture(t)
	newW := func(t *testing.T) (*Writer, *bytes.Buffer) {
		var buf bytes.Buffer
		tw, err := NewWriter(&buf, declare(tensors), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tw, &buf
	}
	total := func(tw *Writer) int64 { return tw.Size() - 8 - tw.HeaderSize() }

	t.Run("Write too long", func(t *testing.T) {
		tw, buf := newW(t)
		n, err := tw.Write(make([]byte, total(tw)+10))
		if !errors.Is(err, ErrWriteTooLong) || int64(n) != total(tw) {
			t.Fatalf("got %d, %v; want %d, ErrWriteTooLong", n, err, total(tw))
		}
		if _, err2 := tw.Write([]byte{1}); !errors.Is(err2, ErrWriteTooLong) {
			t.Fatalf("not sticky: %v", err2)
		}
		if err := tw.Close(); !errors.Is(err, ErrWriteTooLong) {
			t.Fatalf("Close: %v", err)
		}
		if int64(buf.Len()) != tw.Size() {
			t.Fatalf("%d bytes out, want %d", buf.Len(), tw.Size())
		}
	})
	t.Run("Write one byte too many", func(t *testing.T) {
		tw, _ := newW(t)
		if _, err := tw.Write(make([]byte, total(tw))); err != nil {
			t.Fatal(err)
		}
		if n, err := tw.Write([]byte{1}); n != 0 || !errors.Is(err, ErrWriteTooLong) {
			t.Fatalf("got %d, %v", n, err)
		}
	})
	t.Run("ReadFrom too long", func(t *testing.T) {
		tw, _ := newW(t)
		n, err := tw.ReadFrom(bytes.NewReader(make([]byte, total(tw)+1)))
		if !errors.Is(err, ErrWriteTooLong) || n != total(tw) {
			t.Fatalf("got %d, %v", n, err)
		}
	})
	t.Run("CopyTensor too long", func(t *testing.T) {
		tw, _ := newW(t)
		first := tw.Infos()[0]
		_, err := tw.CopyTensor(first.Name, bytes.NewReader(make([]byte, first.Size()+1)))
		if !errors.Is(err, ErrWriteTooLong) {
			t.Fatalf("got %v", err)
		}
		if err := tw.Close(); !errors.Is(err, ErrWriteTooLong) {
			t.Fatalf("Close: %v", err)
		}
	})
	t.Run("CopyTensor too short", func(t *testing.T) {
		tw, _ := newW(t)
		first := tw.Infos()[0]
		n, err := tw.CopyTensor(first.Name, bytes.NewReader(make([]byte, first.Size()-1)))
		if !errors.Is(err, io.ErrUnexpectedEOF) || n != first.Size()-1 {
			t.Fatalf("got %d, %v", n, err)
		}
	})
	t.Run("CopyTensor reader error", func(t *testing.T) {
		tw, _ := newW(t)
		first := tw.Infos()[0]
		boom := errors.New("boom")
		_, err := tw.CopyTensor(first.Name, iotest.ErrReader(boom))
		if !errors.Is(err, boom) {
			t.Fatalf("got %v", err)
		}
		if err := tw.WriteTensor(first.Name, tensors[first.Name]); !errors.Is(err, boom) {
			t.Fatalf("not sticky: %v", err)
		}
	})
	t.Run("out of order", func(t *testing.T) {
		tw, buf := newW(t)
		infos := tw.Infos()
		var second TensorInfo
		for _, ti := range infos[1:] {
			if ti.Size() > 0 {
				second = ti
				break
			}
		}
		before := buf.Len()
		err := tw.WriteTensor(second.Name, tensors[second.Name])
		if !errors.Is(err, ErrWriteOutOfOrder) || !strings.Contains(err.Error(), infos[0].Name) {
			t.Fatalf("got %v", err)
		}
		if buf.Len() != before {
			t.Fatal("bytes written for a refused tensor")
		}
		if err := tw.WriteTensor(infos[0].Name, tensors[infos[0].Name]); !errors.Is(err, ErrWriteOutOfOrder) {
			t.Fatalf("not sticky: %v", err)
		}
	})
	t.Run("written twice", func(t *testing.T) {
		tw, _ := newW(t)
		first := tw.Infos()[0]
		if err := tw.WriteTensor(first.Name, tensors[first.Name]); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.CopyTensor(first.Name, bytes.NewReader(tensors[first.Name].Data())); !errors.Is(err, ErrWriteOutOfOrder) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("not declared", func(t *testing.T) {
		tw, _ := newW(t)
		if err := tw.WriteTensor("nope", tensors["d.u8"]); !errors.Is(err, ErrTensorNotFound) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrong dtype or shape", func(t *testing.T) {
		for _, x := range []Tensor{
			mustTensor(t, I32, []int{100, 1000}, seq(400000, 1)),
			mustTensor(t, F32, []int{1000, 100}, seq(400000, 1)),
			mustTensor(t, F32, []int{100000}, seq(400000, 1)),
			{},
		} {
			tw, err := NewWriter(io.Discard, []TensorInfo{{Name: "w.big", DType: F32, Shape: []int{100, 1000}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := tw.WriteTensor("w.big", x); !errors.Is(err, ErrInvalidTensorInfo) {
				t.Fatalf("%v: got %v", x, err)
			}
		}
	})
	t.Run("empty tensors at any time", func(t *testing.T) {
		tw, _ := newW(t)
		infos := tw.Infos()
		for i := len(infos) - 1; i >= 0; i-- { // empties first, out of order
			if infos[i].Size() == 0 {
				if err := tw.WriteTensor(infos[i].Name, tensors[infos[i].Name]); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, ti := range infos {
			if ti.Size() > 0 {
				if err := tw.WriteTensor(ti.Name, tensors[ti.Name]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := tw.CopyTensor("a.empty", strings.NewReader("")); err != nil {
			t.Fatal(err)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Close incomplete", func(t *testing.T) {
		tw, buf := newW(t)
		infos := tw.Infos()
		if err := tw.WriteTensor(infos[0].Name, tensors[infos[0].Name]); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(tensors[infos[1].Name].Data()[:10]); err != nil {
			t.Fatal(err)
		}
		err := tw.Close()
		var fe *FormatError
		if !errors.Is(err, ErrIncompleteBuffer) || !errors.As(err, &fe) || fe.Tensor != infos[1].Name {
			t.Fatalf("got %v, want ErrIncompleteBuffer about %q", err, infos[1].Name)
		}
		// A reader gives the same verdict on what was written.
		if _, err := Load(buf.Bytes()); !errors.Is(err, ErrIncompleteBuffer) {
			t.Fatalf("Load of the truncated output: %v", err)
		}
		if err2 := tw.Close(); err2 != err {
			t.Fatalf("second Close %v, want %v", err2, err)
		}
	})
	t.Run("after Close", func(t *testing.T) {
		var c closeWriter
		tw, err := NewWriter(&c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if c.closed {
			t.Fatal("Close closed the underlying writer")
		}
		if err := tw.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := tw.Write(nil); !errors.Is(err, ErrWriteAfterClose) {
			t.Fatalf("Write: %v", err)
		}
		if err := tw.WriteTensor("x", Tensor{}); !errors.Is(err, ErrWriteAfterClose) {
			t.Fatalf("WriteTensor: %v", err)
		}
		if _, err := tw.CopyTensor("x", nil); !errors.Is(err, ErrWriteAfterClose) {
			t.Fatalf("CopyTensor: %v", err)
		}
		if _, err := tw.ReadFrom(nil); !errors.Is(err, ErrWriteAfterClose) {
			t.Fatalf("ReadFrom: %v", err)
		}
		if err := tw.Flush(); !errors.Is(err, ErrWriteAfterClose) {
			t.Fatalf("Flush: %v", err)
		}
		if c.Len() != 16 {
			t.Fatalf("wrote %q", c.Bytes())
		}
	})
	t.Run("destination fails", func(t *testing.T) {
		_, _, want := streamFixture(t)
		for _, limit := range []int64{0, 100, int64(len(want)) - 300000, int64(len(want)) - 1} {
			var buf bytes.Buffer
			fw := &failWriter{w: &buf, limit: limit, err: syscall.ENOSPC}
			tw, err := NewWriter(fw, declare(tensors), map[string]string{"format": "pt"})
			if err != nil {
				if !errors.Is(err, syscall.ENOSPC) || tw != nil {
					t.Fatalf("limit %d: NewWriter: %v", limit, err)
				}
				continue
			}
			for _, ti := range tw.Infos() {
				if err = tw.WriteTensor(ti.Name, tensors[ti.Name]); err != nil {
					break
				}
			}
			if cerr := tw.Close(); !errors.Is(cerr, syscall.ENOSPC) {
				t.Fatalf("limit %d: Close: %v (write: %v)", limit, cerr, err)
			}
			if !bytes.Equal(buf.Bytes(), want[:buf.Len()]) {
				t.Fatalf("limit %d: wrong bytes before the failure", limit)
			}
		}
	})
}

type closeWriter struct {
	bytes.Buffer
	closed bool
}

func (c *closeWriter) Close() error { c.closed = true; return nil }

func TestNewWriterInvalid(t *testing.T) {
	u8 := func(name string, shape ...int) TensorInfo { return TensorInfo{Name: name, DType: U8, Shape: shape} }
	for _, tc := range []struct {
		name  string
		infos []TensorInfo
		meta  map[string]string
		want  error
	}{
		{"duplicate", []TensorInfo{u8("a", 1), u8("b", 2), u8("a", 1)}, nil, ErrInvalidHeader},
		{"reserved", []TensorInfo{u8("__metadata__", 1)}, nil, ErrInvalidHeader},
		{"not UTF-8", []TensorInfo{u8("\xc0\x80", 1)}, nil, ErrInvalidHeader},
		{"metadata not UTF-8", []TensorInfo{u8("a", 1)}, map[string]string{"\xff": ""}, ErrInvalidHeader},
		{"no dtype", []TensorInfo{{Name: "a", Shape: []int{1}}}, nil, ErrInvalidTensorInfo},
		{"dtype out of range", []TensorInfo{u8("a", 1), {Name: "b", DType: 200, Shape: []int{1}}, u8("c", 1)}, nil, ErrInvalidTensorInfo},
		{"negative", []TensorInfo{u8("a", 2, -1)}, nil, ErrInvalidTensorInfo},
		{"overflow", []TensorInfo{u8("a", maxInt, maxInt)}, nil, ErrOverflow},
		{"total overflow", []TensorInfo{u8("a", maxInt/2+1), u8("b", maxInt/2+1)}, nil, ErrOverflow},
		{"F6 misaligned", []TensorInfo{{Name: "a", DType: F6E2M3, Shape: []int{3}}}, nil, ErrMisalignedSlice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w countWriter
			tw, err := NewWriter(&w, tc.infos, tc.meta)
			if !errors.Is(err, tc.want) || tw != nil {
				t.Fatalf("got %v, %v; want %v", tw, err, tc.want)
			}
			if w.n != 0 {
				t.Fatalf("%d bytes written", w.n)
			}
		})
	}
	if _, err := (Options{MaxHeaderSize: 8}).NewWriter(io.Discard, []TensorInfo{u8("a", 1)}, nil); !errors.Is(err, ErrHeaderTooLarge) {
		t.Fatalf("limit: %v", err)
	}
}

// TestWriterCopiesFile copies a file tensor by tensor through TensorReader
// and CopyTensor, as a program that cannot hold the file in memory would.
func TestWriterCopiesFile(t *testing.T) {
	path := "testdata/writer/burn_key_remap_chained.safetensors"
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	osf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	f, err := NewReader(osf, int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw, err := NewWriter(&buf, f.Infos(), f.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range tw.Infos() {
		r, err := f.TensorReader(ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tw.CopyTensor(ti.Name, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), orig) {
		t.Fatal("copy differs from the reference writer's file")
	}
}

// patternReader yields n bytes by copying from a fixed chunk.
type patternReader struct {
	chunk []byte
	n     int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	k := 0
	for k < len(p) {
		k += copy(p[k:], r.chunk)
	}
	r.n -= int64(k)
	return k, nil
}

// headWriter counts bytes and keeps the first max of them.
type headWriter struct {
	head []byte
	max  int
	n    int64
	peak uint64 // largest HeapInuse seen while writing
	tick int64
}

func (w *headWriter) Write(p []byte) (int, error) {
	if k := w.max - len(w.head); k > 0 {
		w.head = append(w.head, p[:min(k, len(p))]...)
	}
	w.n += int64(len(p))
	if w.n-w.tick >= 1<<30 {
		w.tick = w.n
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.peak = max(w.peak, ms.HeapInuse)
	}
	return len(p), nil
}

// TestWriterLargeStream writes 8 GiB through a Writer into a counting
// writer: the memory in use stays small, whatever the size.
func TestWriterLargeStream(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 8 GiB (a few seconds)")
	}
	if strconv.IntSize < 64 {
		t.Skip("8 GiB tensors need 64-bit ints")
	}
	gib := 1 << 30 // a variable, so that 2*gib compiles where int has 32 bits (the test is skipped there)
	infos := []TensorInfo{
		{Name: "a", DType: F32, Shape: []int{gib / 4, 3}}, // 3 GiB, through ReadFrom
		{Name: "b", DType: BF16, Shape: []int{gib}},       // 2 GiB, through Write in chunks
		{Name: "c", DType: U8, Shape: []int{2, gib}},      // 2 GiB, through CopyTensor
		{Name: "d", DType: F4, Shape: []int{2 * gib}},     // 1 GiB, through Write in small chunks
		{Name: "e", DType: BOOL, Shape: []int{1, 0, 7}},   // empty
		{Name: "f", DType: F8E4M3, Shape: []int{1000003}}, // odd size, through CopyTensor
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	w := &headWriter{max: 4096}
	tw, err := NewWriter(w, infos, map[string]string{"what": "8 GiB"})
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 31)
	}
	for _, ti := range tw.Infos() {
		switch ti.Name {
		case "a":
			if _, err := tw.ReadFrom(io.LimitReader(&patternReader{chunk: chunk, n: ti.Size()}, ti.Size())); err != nil {
				t.Fatal(err)
			}
		case "b", "d":
			step := len(chunk)
			if ti.Name == "d" {
				step = 4000 // smaller than the buffer: gathered
			}
			for left := ti.Size(); left > 0; {
				n := min(int64(step), left)
				if _, err := tw.Write(chunk[:n]); err != nil {
					t.Fatal(err)
				}
				left -= n
			}
		case "c", "f":
			if _, err := tw.CopyTensor(ti.Name, &patternReader{chunk: chunk, n: ti.Size()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if w.n != tw.Size() || w.n < 8*int64(gib) {
		t.Fatalf("wrote %d bytes, want %d", w.n, tw.Size())
	}
	// The header that went out is valid for a file of that size.
	n := binary.LittleEndian.Uint64(w.head)
	h, err := parseHeader(w.head[8:8+n], w.n)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.tensors) != len(infos) || h.metadata["what"] != "8 GiB" {
		t.Fatalf("header: %+v", h)
	}
	const limit = 64 << 20
	peak := max(w.peak, after.HeapInuse)
	t.Logf("%d bytes written; HeapInuse %d KiB before, %d KiB peak; Sys grew by %d KiB",
		w.n, before.HeapInuse>>10, peak>>10, (after.Sys-before.Sys)>>10)
	if peak > before.HeapInuse+limit {
		t.Errorf("HeapInuse rose from %d to %d bytes while writing", before.HeapInuse, peak)
	}
	if after.Sys > before.Sys+limit {
		t.Errorf("Sys rose from %d to %d bytes while writing", before.Sys, after.Sys)
	}
}

// ---- SaveFile ----

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveFile(t *testing.T) {
	tensors, meta, want := streamFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := SaveFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("SaveFile wrote other bytes than Save")
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
		t.Fatalf("directory holds %q", names)
	}
	// Replacing it.
	small := map[string]Tensor{"x": mustTensor(t, U8, []int{1}, []byte{9})}
	if err := SaveFile(path, small, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, saveBytes(t, small, nil)) {
		t.Fatal("replaced file has wrong bytes")
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
		t.Fatalf("directory holds %q", names)
	}
}

func TestSaveFileRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := SaveFile("m.safetensors", nil, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "m.safetensors")); !bytes.Equal(got, saveBytes(t, nil, map[string]string{"a": "b"})) {
		t.Fatal("wrong bytes")
	}
	if err := SaveFile("", nil, nil); err == nil {
		t.Fatal("empty path accepted")
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"m.safetensors"}) {
		t.Fatalf("directory holds %q", names)
	}
}

// TestSaveFileLongName saves under a name of 250 bytes, which a temporary
// name of "." + name + ".tmp-NNNNNNNNNN" would push past 255.
func TestSaveFileLongName(t *testing.T) {
	dir := t.TempDir()
	name := strings.Repeat("é", 120) + ".safetensors" // 252 bytes
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Skipf("the file system refuses the name itself: %v", err)
	}
	if err := SaveFile(path, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{name}) {
		t.Fatalf("directory holds %q", names)
	}
}

func TestSaveFilePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no unix permissions")
	}
	dir := t.TempDir()
	// A new file gets what os.Create gives.
	ref, err := os.Create(filepath.Join(dir, "ref"))
	if err != nil {
		t.Fatal(err)
	}
	ref.Close()
	refInfo, _ := os.Stat(ref.Name())
	path := filepath.Join(dir, "new.safetensors")
	if err := SaveFile(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode() != refInfo.Mode() {
		t.Fatalf("new file mode %v, os.Create gives %v", fi.Mode(), refInfo.Mode())
	}
	// An existing file keeps its mode.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(path, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after replacing, want 0640", fi.Mode())
	}
}

func TestSaveFileSymlink(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symlinks need privileges")
	}
	dir := t.TempDir()
	target := filepath.Join(dir, "blob")
	old := saveBytes(t, nil, nil)
	if err := os.WriteFile(target, old, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "model.safetensors")
	if err := os.Symlink("blob", link); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(link, nil, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, old) {
		t.Fatal("the link's target was modified")
	}
	fi, err := os.Lstat(link)
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("the link was not replaced by a file: %v %v", fi, err)
	}
}

// TestSaveFileKeepsMappedViews: a process that has the old file mapped
// keeps reading the old bytes after SaveFile replaces it.
func TestSaveFileKeepsMappedViews(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows refuses to replace a mapped file")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	oldData := seq(1<<20, 7)
	if err := SaveFile(path, map[string]Tensor{"w": mustTensor(t, F32, []int{1 << 18}, oldData)}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	view, err := f.GetTensor("w")
	if err != nil {
		t.Fatal(err)
	}
	newData := seq(1<<20, 8)
	if err := SaveFile(path, map[string]Tensor{"w": mustTensor(t, F32, []int{1 << 18}, newData), "v": mustTensor(t, U8, []int{3}, seq(3, 1))}, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(view.Data(), oldData) {
		t.Fatal("the view of the old file changed")
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	x, err := g.GetTensor("w")
	if err != nil || !bytes.Equal(x.Data(), newData) {
		t.Fatalf("the new file does not hold the new bytes: %v", err)
	}
}

// faultFile wraps a file and fails one of its operations.
type faultFile struct {
	saveFile
	failWriteAfter int64 // -1: never
	failSync       bool
	failClose      bool
	failChmod      bool
	err            error
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.failWriteAfter >= 0 && int64(len(p)) > f.failWriteAfter {
		n, _ := f.saveFile.Write(p[:f.failWriteAfter])
		f.failWriteAfter = 0
		return n, f.err
	}
	if f.failWriteAfter >= 0 {
		f.failWriteAfter -= int64(len(p))
	}
	return f.saveFile.Write(p)
}

func (f *faultFile) Sync() error {
	if f.failSync {
		return f.err
	}
	return f.saveFile.Sync()
}

func (f *faultFile) Close() error {
	err := f.saveFile.Close()
	if f.failClose {
		return f.err
	}
	return err
}

func (f *faultFile) Chmod(m fs.FileMode) error {
	if f.failChmod {
		return f.err
	}
	return f.saveFile.Chmod(m)
}

// withSaveFS replaces saveFS for the test.
func withSaveFS(t *testing.T, change func()) {
	saved := saveFS
	t.Cleanup(func() { saveFS = saved })
	change()
}

func TestSaveFileFailures(t *testing.T) {
	tensors, meta, _ := streamFixture(t)
	injected := fmt.Errorf("injected: %w", syscall.ENOSPC)
	wrap := func(ff faultFile) func() {
		return func() {
			create := saveFS.create
			saveFS.create = func(name string) (saveFile, error) {
				f, err := create(name)
				if err != nil {
					return nil, err
				}
				ff := ff
				ff.saveFile, ff.err = f, injected
				return &ff, nil
			}
		}
	}
	for _, tc := range []struct {
		name   string
		change func()
	}{
		{"create", func() {
			saveFS.create = func(string) (saveFile, error) { return nil, injected }
		}},
		{"write at the start", wrap(faultFile{failWriteAfter: 0})},
		{"write in the header", wrap(faultFile{failWriteAfter: 50})},
		{"write in the data", wrap(faultFile{failWriteAfter: 500000})},
		{"sync", wrap(faultFile{failWriteAfter: -1, failSync: true})},
		{"close", wrap(faultFile{failWriteAfter: -1, failClose: true})},
		{"chmod", wrap(faultFile{failWriteAfter: -1, failChmod: true})},
		{"rename", func() {
			saveFS.rename = func(string, string) error { return injected }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "model.safetensors")
			old := saveBytes(t, map[string]Tensor{"old": mustTensor(t, U8, []int{2}, []byte{1, 2})}, nil)
			if err := os.WriteFile(path, old, 0o644); err != nil {
				t.Fatal(err)
			}
			withSaveFS(t, tc.change)
			err := SaveFile(path, tensors, meta)
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("got %v, want an error wrapping ENOSPC", err)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != path {
				t.Fatalf("got %v, want a *fs.PathError for %s", err, path)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, old) {
				t.Fatal("the old file was modified")
			}
			if names := listDir(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
				t.Fatalf("directory holds %q", names)
			}
		})
	}
	t.Run("sync dir", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		withSaveFS(t, func() { saveFS.syncDir = func(string) error { return injected } })
		err := SaveFile(path, tensors, meta)
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("got %v", err)
		}
		// The rename happened: the new file is complete and in place, with no temporary left.
		if got, _ := os.ReadFile(path); !bytes.Equal(got, saveBytes(t, tensors, meta)) {
			t.Fatal("the new file is not in place")
		}
		if names := listDir(t, dir); !slices.Equal(names, []string{"model.safetensors"}) {
			t.Fatalf("directory holds %q", names)
		}
	})
	t.Run("temporary name taken", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		tries := 0
		withSaveFS(t, func() {
			create := saveFS.create
			saveFS.create = func(name string) (saveFile, error) {
				if tries++; tries <= 3 {
					return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
				}
				return create(name)
			}
		})
		if err := SaveFile(path, tensors, meta); err != nil {
			t.Fatal(err)
		}
		if tries != 4 {
			t.Fatalf("%d tries", tries)
		}
	})
	t.Run("invalid input creates nothing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "model.safetensors")
		withSaveFS(t, func() {
			saveFS.create = func(string) (saveFile, error) { t.Fatal("a file was created"); return nil, nil }
		})
		err := SaveFile(path, map[string]Tensor{"__metadata__": tensors["d.u8"]}, nil)
		var pe *fs.PathError
		if !errors.Is(err, ErrInvalidHeader) || !errors.As(err, &pe) || pe.Op != "save" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		err := SaveFile(filepath.Join(t.TempDir(), "no", "such", "m.safetensors"), tensors, meta)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("target is a directory", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sub")
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := SaveFile(path, tensors, meta); err == nil {
			t.Fatal("replaced a directory")
		}
		if names := listDir(t, dir); !slices.Equal(names, []string{"sub"}) {
			t.Fatalf("directory holds %q", names)
		}
	})
}

// FuzzSave builds tensors and declarations from arbitrary bytes (invalid
// dtypes, negative and huge dimensions, wrong data lengths, names that are
// not UTF-8 included): Save and NewWriter must return an error or a file
// that Load reads back to the same tensors, never panic, and never write
// anything when they fail.
func FuzzSave(f *testing.F) {
	f.Add([]byte{12, 2, 3, 4, 1, 'a', 0})
	f.Add([]byte{21, 1, 3, 1, 'x', 0, 20, 1, 4, 2, 'y', 'z', 1})
	f.Add([]byte{200, 1, 1, 1, 'b', 0})
	f.Add([]byte{1, 2, 0xff, 0x7f, 2, 0xc3, 0x28, 1})
	f.Add([]byte{1, 0, 12, '_', '_', 'm', 'e', 't', 'a', 'd', 'a', 't', 'a', '_', '_', 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			c := in[0]
			in = in[1:]
			return c
		}
		tensors := map[string]Tensor{}
		var infos []TensorInfo
		for len(in) > 0 && len(tensors) < 16 {
			d := DType(next())
			shape := make([]int, next()%4)
			for i := range shape {
				shape[i] = int(int8(next())) // negative dimensions included
				if shape[i] > 100 {
					shape[i] = 1 << (shape[i] - 64) // and huge ones
				}
			}
			name := string(in[:min(int(next()%8), len(in))])
			in = in[len(name):]
			size := 0
			if n, err := byteSize(d, shape); err == nil && n <= 1<<16 {
				size = n
			}
			if next()%5 == 4 {
				size++ // a wrong length
			}
			tensors[name] = Tensor{dtype: d, shape: shape, data: seq(size, len(tensors))}
			infos = append(infos, TensorInfo{Name: name, DType: d, Shape: shape})
		}
		var meta map[string]string
		if len(tensors)%2 == 1 {
			meta = map[string]string{string(in): "v", "k": string(in)}
		}

		var cw countWriter
		if err := Save(&cw, tensors, meta); err != nil {
			if cw.n != 0 {
				t.Fatalf("Save failed (%v) after writing %d bytes", err, cw.n)
			}
		} else {
			file := saveBytes(t, tensors, meta)
			g, err := Load(file)
			if err != nil {
				t.Fatalf("Load of Save's output: %v", err)
			}
			for name, x := range tensors {
				y, err := g.GetTensor(name)
				if err != nil || y.DType() != x.DType() || !slices.Equal(y.Shape(), x.Shape()) || !bytes.Equal(y.Data(), x.Data()) {
					t.Fatalf("%q: %v, saved %v (%v)", name, y, x, err)
				}
			}
		}

		cw = countWriter{}
		tw, err := NewWriter(&cw, infos, meta)
		if err != nil {
			if cw.n != 0 || tw != nil {
				t.Fatalf("NewWriter failed (%v) after writing %d bytes", err, cw.n)
			}
			return
		}
		if cw.n != 8+tw.HeaderSize() {
			t.Fatalf("NewWriter wrote %d bytes, header is %d", cw.n, 8+tw.HeaderSize())
		}
		if err := tw.Close(); tw.Size() > cw.n && !errors.Is(err, ErrIncompleteBuffer) {
			t.Fatalf("Close with nothing written: %v", err)
		}
	})
}
