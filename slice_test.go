package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// sliceCase is one line of testdata/slices/cases.json, written by
// scripts/gen_numpy_slices.py from what NumPy makes of arr[X] (or arr[X][Y]).
type sliceCase struct {
	T       string  `json:"t"`
	X       string  `json:"x"`
	Y       *string `json:"y"`
	Shape   []int   `json:"shape"`
	SHA256  string  `json:"sha256"`
	Strides []int64 `json:"strides"`
	Offset  *int64  `json:"offset"`
	Error   string  `json:"error"`
}

const slicesFixture = "testdata/slices/fixtures.safetensors"

func loadSliceCases(t *testing.T) []sliceCase {
	t.Helper()
	b, err := os.ReadFile("testdata/slices/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []sliceCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 1000 {
		t.Fatalf("only %d cases", len(cases))
	}
	return cases
}

// countingReaderAt counts the ReadAt calls and bytes that go through it.
type countingReaderAt struct {
	r     io.ReaderAt
	calls atomic.Int64
	bytes atomic.Int64
	mu    sync.Mutex
	spans [][2]int64 // offset, length of each call, when record is set
	rec   bool
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.calls.Add(1)
	c.bytes.Add(int64(len(p)))
	if c.rec {
		c.mu.Lock()
		c.spans = append(c.spans, [2]int64{off, int64(len(p))})
		c.mu.Unlock()
	}
	return c.r.ReadAt(p, off)
}

func (c *countingReaderAt) reset() {
	c.calls.Store(0)
	c.bytes.Store(0)
	c.mu.Lock()
	c.spans = nil
	c.mu.Unlock()
}

type sliceBackend struct {
	name string
	f    *File
}

// openAllBackends opens the same bytes with Open (from a temporary copy),
// NewReader over an *os.File, NewReader over a bytes.Reader, Load, and Load
// of a copy at an odd address.
func openAllBackends(t testing.TB, data []byte) []sliceBackend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fo, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	osf, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := NewReader(osf, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	fl, err := Load(data)
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes at an odd address: no element is aligned, so every
	// copy takes the byte-wise path.
	odd := make([]byte, len(data)+1)[1:]
	copy(odd, data)
	fu, err := Load(odd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		fo.Close()
		fr.Close()
		osf.Close()
		fb.Close()
		fl.Close()
		fu.Close()
	})
	return []sliceBackend{{"Open", fo}, {"NewReader/os.File", fr}, {"NewReader/bytes.Reader", fb}, {"Load", fl}, {"Load/unaligned", fu}}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestSliceNumPyConformance runs every expression NumPy evaluated through
// ParseIndex and Get (and ReadInto, and the runs of the View) on every
// sliceBackend, and compares the shape, the bytes' SHA-256 and, for NumPy's
// views, the strides and offset.
func TestSliceNumPyConformance(t *testing.T) {
	data, err := os.ReadFile(slicesFixture)
	if err != nil {
		t.Fatal(err)
	}
	cases := loadSliceCases(t)
	for _, be := range openAllBackends(t, data) {
		t.Run(be.name, func(t *testing.T) {
			var ok, failed, geometry int
			for _, c := range cases {
				name := c.T + "[" + c.X + "]"
				if c.Y != nil {
					name += "[" + *c.Y + "]"
				}
				if checkSliceCase(t, be.f, c, name) {
					if c.Error != "" {
						failed++
					} else {
						ok++
					}
					if c.Strides != nil {
						geometry++
					}
				}
			}
			t.Logf("%d results and %d errors as NumPy's (%d with strides and offset)", ok, failed, geometry)
		})
	}
}

func checkSliceCase(t *testing.T, f *File, c sliceCase, name string) bool {
	t.Helper()
	s, err := f.GetSlice(c.T)
	if err != nil {
		t.Errorf("%s: GetSlice: %v", name, err)
		return false
	}
	x, err := ParseIndex(c.X)
	if err != nil {
		t.Errorf("%s: ParseIndex(%q): %v", name, c.X, err)
		return false
	}
	// The text of the parsed index reads back to the same index.
	if again, err := ParseIndex(formatIndex(x)); err != nil || !slices.Equal(again, x) {
		t.Errorf("%s: ParseIndex(%q) = %v, %v; want %v", name, formatIndex(x), again, err, x)
	}
	v, err := s.View(x...)
	if err == nil && c.Y != nil {
		var y []Index
		y, err = ParseIndex(*c.Y)
		if err != nil {
			t.Errorf("%s: ParseIndex(%q): %v", name, *c.Y, err)
			return false
		}
		v, err = v.Index(y...)
	}
	if c.Error != "" {
		if !errors.Is(err, ErrInvalidSlice) {
			t.Errorf("%s: got %v, want an error wrapping ErrInvalidSlice (NumPy: %s)", name, err, c.Error)
			return false
		}
		if c.Y == nil {
			if _, err := s.Get(x...); !errors.Is(err, ErrInvalidSlice) {
				t.Errorf("%s: Get: got %v, want an error wrapping ErrInvalidSlice (NumPy: %s)", name, err, c.Error)
				return false
			}
		}
		return true
	}
	if err != nil {
		t.Errorf("%s: %v; NumPy gives shape %v", name, err, c.Shape)
		return false
	}
	var got Tensor
	if c.Y == nil {
		got, err = s.Get(x...)
	} else {
		got, err = v.Get()
	}
	if err != nil {
		t.Errorf("%s: Get: %v", name, err)
		return false
	}
	good := true
	if !slices.Equal(got.Shape(), c.Shape) || !slices.Equal(v.Shape(), c.Shape) {
		t.Errorf("%s: shape %v (view %v), NumPy %v", name, got.Shape(), v.Shape(), c.Shape)
		good = false
	}
	if got.DType() != s.DType() {
		t.Errorf("%s: dtype %v, want %v", name, got.DType(), s.DType())
		good = false
	}
	if h := sha(got.Data()); h != c.SHA256 {
		t.Errorf("%s: sha256 %s, NumPy %s (%d bytes)", name, h, c.SHA256, len(got.Data()))
		good = false
	}
	if int64(len(got.Data())) != v.Size() {
		t.Errorf("%s: %d bytes, Size says %d", name, len(got.Data()), v.Size())
		good = false
	}
	// ReadInto a dirty buffer larger than needed gives the same bytes and
	// leaves the rest alone.
	buf := bytes.Repeat([]byte{0xA5}, int(v.Size())+3)
	into, err := v.ReadInto(buf)
	if err != nil || sha(into.Data()) != c.SHA256 || !bytes.Equal(buf[v.Size():], []byte{0xA5, 0xA5, 0xA5}) {
		t.Errorf("%s: ReadInto: %v, sha256 %s", name, err, sha(into.Data()))
		good = false
	}
	// The runs, concatenated, are the bytes.
	whole, err := f.GetTensor(c.T)
	if err != nil {
		t.Fatal(err)
	}
	var cat []byte
	for off, n := range v.Runs() {
		cat = append(cat, whole.Data()[off:off+n]...)
	}
	if sha(cat) != c.SHA256 {
		t.Errorf("%s: runs concatenated: sha256 %s, NumPy %s", name, sha(cat), c.SHA256)
		good = false
	}
	if c.Strides != nil {
		// NumPy's geometry. The stride of a dimension of size 1 is
		// arbitrary in both, so only the others are compared.
		st := v.Strides()
		for i, want := range c.Strides {
			if c.Shape[i] > 1 && st[i] != want {
				t.Errorf("%s: strides %v, NumPy %v", name, st, c.Strides)
				good = false
				break
			}
		}
		if v.Offset() != *c.Offset {
			t.Errorf("%s: offset %d, NumPy %d", name, v.Offset(), *c.Offset)
			good = false
		}
	}
	return good
}

// TestSliceNumPyRanksAndDTypes checks that the fixture covers what the
// conformance test claims to: ranks 0 to 4, the dtypes, empty tensors.
func TestSliceNumPyFixtureCoverage(t *testing.T) {
	f, err := Open(slicesFixture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ranks := map[int]bool{}
	dtypes := map[DType]bool{}
	empty := false
	for _, ti := range f.Infos() {
		ranks[len(ti.Shape)] = true
		dtypes[ti.DType] = true
		empty = empty || ti.Size() == 0
	}
	for r := 0; r <= 4; r++ {
		if !ranks[r] {
			t.Errorf("no tensor of rank %d", r)
		}
	}
	for _, d := range []DType{U8, I8, I16, U16, F16, BF16, I32, F32, F64, I64, U64, C64, BOOL} {
		if !dtypes[d] {
			t.Errorf("no %v tensor", d)
		}
	}
	if !empty {
		t.Error("no empty tensor")
	}
	perTensor := map[string]int{}
	for _, c := range loadSliceCases(t) {
		perTensor[c.T]++
	}
	for _, k := range f.Keys() {
		info, _ := f.Info(k)
		want := 100
		if len(info.Shape) == 0 {
			want = 50 // a scalar takes fewer distinct indices
		}
		if perTensor[k] < want {
			t.Errorf("tensor %s has only %d cases", k, perTensor[k])
		}
	}
}

func TestIndexConstructorsAreParseIndex(t *testing.T) {
	for _, tc := range []struct {
		text string
		want Index
	}{
		{"3", At(3)},
		{"-1", At(-1)},
		{"+2", At(2)},
		{"- 2", At(-2)},
		{"1_000", At(1000)},
		{"00", At(0)},
		{"-0", At(0)},
		{"9223372036854775807", At(math.MaxInt)},
		{"-9223372036854775808", At(math.MinInt)},
		{"100000000000000000000", At(math.MaxInt)},
		{"-100000000000000000000", At(math.MinInt)},
		{"1:5", Range(1, 5)},
		{"1:5:2", RangeStep(1, 5, 2)},
		{"5:1:-1", RangeStep(5, 1, -1)},
		{":", Full()},
		{"::", Full()},
		{"None:None", Full()},
		{"None:None:None", Full()},
		{" : ", Full()},
		{"::-1", Full().WithStep(-1)},
		{"::2", Full().WithStep(2)},
		{"::0", Full().WithStep(0)},
		{"3:", RangeFrom(3)},
		{"3::-2", RangeFrom(3).WithStep(-2)},
		{":-3", RangeTo(-3)},
		{":2:-1", RangeTo(2).WithStep(-1)},
		{"None:4", RangeTo(4)},
		{"1:None:3", RangeFrom(1).WithStep(3)},
		{"...", Ellipsis()},
		{"Ellipsis", Ellipsis()},
		{"None", NewAxis()},
		{"np.newaxis", NewAxis()},
	} {
		got, err := ParseIndex(tc.text)
		if err != nil || len(got) != 1 || got[0] != tc.want {
			t.Errorf("ParseIndex(%q) = %v, %v; want [%v]", tc.text, got, err, tc.want)
		}
	}
	got, err := ParseIndex(" 0, ..., -3:, ::-2 ,")
	want := []Index{At(0), Ellipsis(), RangeFrom(-3), Full().WithStep(-2)}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %v, %v; want %v", got, err, want)
	}
	for _, empty := range []string{"", "  ", "\t"} {
		if got, err := ParseIndex(empty); err != nil || got == nil || len(got) != 0 {
			t.Errorf("ParseIndex(%q) = %#v, %v; want an empty, non-nil index", empty, got, err)
		}
	}
}

func TestIndexString(t *testing.T) {
	for _, tc := range []struct {
		x    Index
		want string
	}{
		{At(-3), "-3"},
		{Range(1, 5), "1:5"},
		{RangeStep(1, 5, -2), "1:5:-2"},
		{Full(), ":"},
		{Full().WithStep(-1), "::-1"},
		{RangeFrom(2), "2:"},
		{RangeTo(-2).WithStep(3), ":-2:3"},
		{Ellipsis(), "..."},
		{NewAxis(), "None"},
	} {
		if got := tc.x.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.x, got, tc.want)
		}
	}
	if s := At(1).WithStep(2).String(); !strings.Contains(s, "invalid") {
		t.Errorf("invalid index prints as %q", s)
	}
}

func TestParseIndexSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		text, msg string
	}{
		{"x", `at offset 0: unexpected "x"`},
		{"1, x", `at offset 3: unexpected "x"`},
		{"1 2", `unexpected "2" after an index`},
		{"1,,2", `at offset 2: unexpected ",": empty index`},
		{",", `at offset 0: unexpected ","`},
		{"1:2:3:4", "at most three parts"},
		{"01", "leading zeros"},
		{"-01", "leading zeros"},
		{"1__0", "underscore"},
		{"1_", "underscore"},
		{"_1", `unexpected "_1"`},
		{"1.5", "only decimal integers"},
		{"0x10", "only decimal integers"},
		{"1e3", "only decimal integers"},
		{"-", "after a sign"},
		{"- :", "after a sign"},
		{"+-1", "after a sign"},
		{"[0, 1]", "advanced (list) indexing"},
		{"True", `unexpected "True"`},
		{"none", `unexpected "none"`},
		{"Nonesuch", `unexpected "Nonesuch"`},
		{"....", `unexpected "." after an index`},
		{"..", `at offset 0: unexpected ".."`},
		{"(1, 2)", `unexpected "("`},
		{"1:2, 3 4", `at offset 7: unexpected "4"`},
		{"None:x", `unexpected "x"`},
		{"np.newaxis:3", `unexpected ":" after an index`},
	} {
		_, err := ParseIndex(tc.text)
		if !errors.Is(err, ErrInvalidSlice) {
			t.Errorf("ParseIndex(%q): got %v, want an error wrapping ErrInvalidSlice", tc.text, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), fmt.Sprintf("ParseIndex(%q)", tc.text)) {
			t.Errorf("ParseIndex(%q): error %q does not say %q", tc.text, err, tc.msg)
		}
	}
}

// buildFile assembles a safetensors file by hand: the length prefix, the
// compact JSON header padded with spaces to a multiple of 8, the data.
func buildFile(t testing.TB, tensors ...rawTensor) []byte {
	t.Helper()
	var hdr strings.Builder
	hdr.WriteString("{")
	var data []byte
	for i, rt := range tensors {
		if i > 0 {
			hdr.WriteString(",")
		}
		shape, _ := json.Marshal(rt.shape)
		fmt.Fprintf(&hdr, `%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, rt.name, rt.dtype, shape, len(data), len(data)+len(rt.data))
		data = append(data, rt.data...)
	}
	hdr.WriteString("}")
	h := hdr.String()
	h += strings.Repeat(" ", (8-len(h)%8)%8)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(out, h...)
	return append(out, data...)
}

type rawTensor struct {
	name, dtype string
	shape       []int
	data        []byte
}

// iota16 returns n little-endian uint16 values 0, 1, 2, ...: element k of a
// tensor made of them is the number k, which makes expected selections easy
// to write by hand.
func iota16(n int) []byte {
	b := make([]byte, 2*n)
	for i := range n {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(i))
	}
	return b
}

func u16s(b []byte) []int {
	out := make([]int, len(b)/2)
	for i := range out {
		out[i] = int(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return out
}

func TestSliceErrors(t *testing.T) {
	data := buildFile(t,
		rawTensor{"m", "U16", []int{3, 4}, iota16(12)},
		rawTensor{"s", "U16", []int{}, iota16(1)},
		rawTensor{"e", "U16", []int{0, 4}, nil},
	)
	for _, be := range openAllBackends(t, data) {
		t.Run(be.name, func(t *testing.T) {
			f := be.f
			if _, err := f.GetSlice("nope"); !errors.Is(err, ErrTensorNotFound) {
				t.Errorf("GetSlice(nope): %v", err)
			}
			m, err := f.GetSlice("m")
			if err != nil {
				t.Fatal(err)
			}
			s, _ := f.GetSlice("s")
			e, _ := f.GetSlice("e")
			for _, tc := range []struct {
				sl    *Slice
				index []Index
				msg   string
			}{
				{m, []Index{At(3)}, "index 3 is out of bounds for axis 0 with size 3"},
				{m, []Index{At(-4)}, "index -4 is out of bounds for axis 0 with size 3"},
				{m, []Index{Full(), At(4)}, "index 4 is out of bounds for axis 1 with size 4"},
				{m, []Index{Ellipsis(), At(-5)}, "index -5 is out of bounds for axis 1 with size 4"},
				{m, []Index{At(math.MaxInt)}, "out of bounds"},
				{m, []Index{At(math.MinInt)}, "out of bounds"},
				{m, []Index{RangeStep(0, 3, 0)}, "slice step cannot be zero"},
				{m, []Index{Full(), Full().WithStep(0)}, "slice step cannot be zero"},
				{m, []Index{At(0), At(0), At(0)}, "too many indices: the view is 2-dimensional, but 3 were indexed"},
				{m, []Index{Full(), Full(), Full()}, "too many indices"},
				{m, []Index{NewAxis(), At(0), At(0), At(0)}, "too many indices"},
				{m, []Index{Ellipsis(), Ellipsis()}, "only have a single ellipsis"},
				{m, []Index{Ellipsis(), At(0), Ellipsis()}, "only have a single ellipsis"},
				{m, []Index{At(0).WithStep(2)}, "WithStep applies only to ranges"},
				{m, []Index{Ellipsis().WithStep(2)}, "WithStep applies only to ranges"},
				{m, []Index{NewAxis().WithStep(2)}, "WithStep applies only to ranges"},
				{s, []Index{At(0)}, "too many indices: the view is 0-dimensional, but 1 were indexed"},
				{s, []Index{Full()}, "too many indices"},
				{e, []Index{At(0)}, "index 0 is out of bounds for axis 0 with size 0"},
				{e, []Index{Full(), At(-5)}, "out of bounds for axis 1 with size 4"},
			} {
				_, err := tc.sl.Get(tc.index...)
				if !errors.Is(err, ErrInvalidSlice) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s[%s]: got %v, want ErrInvalidSlice saying %q", tc.sl.Name(), formatIndex(tc.index), err, tc.msg)
				}
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Tensor != tc.sl.Name() {
					t.Errorf("%s[%s]: %v is not a FormatError naming the tensor", tc.sl.Name(), formatIndex(tc.index), err)
				}
				if _, err := tc.sl.View(tc.index...); !errors.Is(err, ErrInvalidSlice) {
					t.Errorf("View: %v", err)
				}
				if _, err := tc.sl.ReadInto(make([]byte, 100), tc.index...); !errors.Is(err, ErrInvalidSlice) {
					t.Errorf("ReadInto: %v", err)
				}
			}
			// Indexing a view obeys the same rules, against the view's shape.
			v, err := m.View(At(1))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Index(At(0), At(0)); !errors.Is(err, ErrInvalidSlice) {
				t.Errorf("view of rank 1 indexed twice: %v", err)
			}
			if _, err := v.Index(At(4)); !errors.Is(err, ErrInvalidSlice) {
				t.Errorf("view index out of range: %v", err)
			}
			// The zero View is refused, not a panic.
			if _, err := (View{}).Get(); !errors.Is(err, ErrInvalidSlice) {
				t.Errorf("zero View Get: %v", err)
			}
			if _, err := (View{}).Index(At(0)); !errors.Is(err, ErrInvalidSlice) {
				t.Errorf("zero View Index: %v", err)
			}
			// A destination too small.
			if _, err := m.ReadInto(make([]byte, 7), At(0)); err == nil || !strings.Contains(err.Error(), "smaller than the selection's 8 bytes") {
				t.Errorf("ReadInto small: %v", err)
			}
		})
	}
}

// TestSliceHandCases checks selections whose results are written out by
// hand, on a U16 tensor whose element k holds k.
func TestSliceHandCases(t *testing.T) {
	data := buildFile(t,
		rawTensor{"m", "U16", []int{3, 4}, iota16(12)},
		rawTensor{"c", "U16", []int{2, 3, 4}, iota16(24)},
		rawTensor{"s", "U16", []int{}, []byte{7, 0}},
	)
	for _, be := range openAllBackends(t, data) {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				index string
				shape []int
				want  []int
			}{
				{"m", "", []int{3, 4}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
				{"m", "1", []int{4}, []int{4, 5, 6, 7}},
				{"m", "-1", []int{4}, []int{8, 9, 10, 11}},
				{"m", ":, 1", []int{3}, []int{1, 5, 9}},
				{"m", "..., -1", []int{3}, []int{3, 7, 11}},
				{"m", "1, 2", []int{}, []int{6}},
				{"m", "::-1", []int{3, 4}, []int{8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3}},
				{"m", ":, ::-1", []int{3, 4}, []int{3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8}},
				{"m", "::-2, 1::2", []int{2, 2}, []int{9, 11, 1, 3}},
				{"m", "1:100, -100:2", []int{2, 2}, []int{4, 5, 8, 9}},
				{"m", "2:0:-1, 3:0:-2", []int{2, 2}, []int{11, 9, 7, 5}},
				{"m", "5:, :", []int{0, 4}, []int{}},
				{"m", "None", []int{1, 3, 4}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
				{"m", ":, None, 2", []int{3, 1}, []int{2, 6, 10}},
				{"m", "..., None", []int{3, 4, 1}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
				{"c", "1, ..., 2", []int{3}, []int{14, 18, 22}},
				{"c", ":, 1:, 1:3", []int{2, 2, 2}, []int{5, 6, 9, 10, 17, 18, 21, 22}},
				{"c", "..., ::3", []int{2, 3, 2}, []int{0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23}},
				{"s", "", []int{}, []int{7}},
				{"s", "...", []int{}, []int{7}},
				{"s", "None", []int{1}, []int{7}},
				{"s", "None, ..., None", []int{1, 1}, []int{7}},
			} {
				s, err := be.f.GetSlice(tc.name)
				if err != nil {
					t.Fatal(err)
				}
				x, err := ParseIndex(tc.index)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Get(x...)
				if err != nil {
					t.Errorf("%s[%s]: %v", tc.name, tc.index, err)
					continue
				}
				if !slices.Equal(got.Shape(), tc.shape) || !slices.Equal(u16s(got.Data()), tc.want) {
					t.Errorf("%s[%s] = %v %v, want %v %v", tc.name, tc.index, got.Shape(), u16s(got.Data()), tc.shape, tc.want)
				}
			}
		})
	}
}

// TestSliceRuns checks the coalescing into runs: offsets and lengths
// written by hand for a U16 [3, 4, 5] tensor (row of 10 bytes, plane of 40).
func TestSliceRuns(t *testing.T) {
	f, err := Load(buildFile(t, rawTensor{"c", "U16", []int{3, 4, 5}, iota16(60)}))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.GetSlice("c")
	for _, tc := range []struct {
		index      string
		runs       [][2]int64
		contiguous bool
	}{
		{"", [][2]int64{{0, 120}}, true},
		{"1:3", [][2]int64{{40, 80}}, true},
		{"1, 1:3", [][2]int64{{50, 20}}, true},
		{":, 1:3", [][2]int64{{10, 20}, {50, 20}, {90, 20}}, false},
		{":, :, 1:3", nil, false}, // 12 runs of 4 bytes, checked below
		{"::-1", [][2]int64{{80, 40}, {40, 40}, {0, 40}}, false},
		{"2, 3, 4", [][2]int64{{118, 2}}, true},
		{"None, 1, None, :2, None", [][2]int64{{40, 20}}, true},
		{"1, ::2, 4", [][2]int64{{48, 2}, {68, 2}}, false},
		{"1:1", nil, true},
		{"1, 1, ::-1", [][2]int64{{58, 2}, {56, 2}, {54, 2}, {52, 2}, {50, 2}}, false},
	} {
		x, _ := ParseIndex(tc.index)
		v, err := s.View(x...)
		if err != nil {
			t.Fatal(err)
		}
		var runs [][2]int64
		for off, n := range v.Runs() {
			runs = append(runs, [2]int64{off, n})
		}
		if tc.index == ":, :, 1:3" {
			if len(runs) != 12 || runs[0] != [2]int64{2, 4} || runs[1] != [2]int64{12, 4} || runs[11] != [2]int64{112, 4} {
				t.Errorf("[%s] runs %v", tc.index, runs)
			}
		} else if !slices.Equal(runs, tc.runs) {
			t.Errorf("[%s] runs %v, want %v", tc.index, runs, tc.runs)
		}
		if v.Contiguous() != tc.contiguous {
			t.Errorf("[%s] Contiguous() = %v", tc.index, v.Contiguous())
		}
		// Stopping the iteration early stops it.
		n := 0
		for range v.Runs() {
			n++
			break
		}
		if n > 1 {
			t.Errorf("[%s] iteration did not stop", tc.index)
		}
	}
}

// TestViewGeometry checks shape, strides and offsets written by hand, and
// that views of views compose.
func TestViewGeometry(t *testing.T) {
	f, err := Load(buildFile(t, rawTensor{"c", "U16", []int{3, 4, 5}, iota16(60)}))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.GetSlice("c")
	if s.Name() != "c" || s.DType() != U16 || !slices.Equal(s.Shape(), []int{3, 4, 5}) {
		t.Fatalf("slice %q %v %v", s.Name(), s.DType(), s.Shape())
	}
	v, _ := s.View()
	if !slices.Equal(v.Strides(), []int64{40, 10, 2}) || v.Offset() != 0 || !slices.Equal(v.BitStrides(), []int64{320, 80, 16}) {
		t.Errorf("full view strides %v offset %d", v.Strides(), v.Offset())
	}
	v, _ = s.View(RangeFrom(1), Full().WithStep(-2), At(3))
	if !slices.Equal(v.Shape(), []int{2, 2}) || !slices.Equal(v.Strides(), []int64{40, -20}) || v.Offset() != 40+30+6 || v.BitOffset() != 8*76 {
		t.Errorf("view %v strides %v offset %d", v.Shape(), v.Strides(), v.Offset())
	}
	if v.Rank() != 2 || v.NumElements() != 4 || v.Size() != 8 || v.DType() != U16 {
		t.Errorf("rank %d, %d elements, %d bytes, %v", v.Rank(), v.NumElements(), v.Size(), v.DType())
	}
	// v[::-1, 1] == c[2:0:-1, 3 - 2, 3] = elements (2,1,3), (1,1,3)
	w, err := v.Index(Full().WithStep(-1), At(1))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := w.Get()
	if want := []int{2*20 + 1*5 + 3, 1*20 + 1*5 + 3}; !slices.Equal(u16s(got.Data()), want) {
		t.Errorf("view of view = %v, want %v", u16s(got.Data()), want)
	}
	one, _ := s.View(RangeStep(2, 0, -1), At(1), At(3))
	if !slices.Equal(w.Shape(), one.Shape()) || !slices.Equal(w.Strides(), one.Strides()) || w.Offset() != one.Offset() {
		t.Errorf("composed %v %v %d, direct %v %v %d", w.Shape(), w.Strides(), w.Offset(), one.Shape(), one.Strides(), one.Offset())
	}
	// Narrowing leaves the first view unchanged.
	if !slices.Equal(v.Shape(), []int{2, 2}) {
		t.Errorf("v changed to %v", v.Shape())
	}
	// An empty view: offset 0, no runs, no bytes.
	e, _ := s.View(Range(2, 2))
	if e.Offset() != 0 || e.Size() != 0 || e.NumElements() != 0 || !slices.Equal(e.Shape(), []int{0, 4, 5}) {
		t.Errorf("empty view %v offset %d size %d", e.Shape(), e.Offset(), e.Size())
	}
	et, err := e.Get()
	if err != nil || len(et.Data()) != 0 || !slices.Equal(et.Shape(), []int{0, 4, 5}) {
		t.Errorf("empty Get: %v %v", et, err)
	}
	// NewAxis dimensions have stride 0 and do not change the bytes.
	n, _ := s.View(At(0), NewAxis(), At(0))
	if !slices.Equal(n.Shape(), []int{1, 5}) || n.Strides()[0] != 0 {
		t.Errorf("newaxis view %v %v", n.Shape(), n.Strides())
	}
	// Shapes handed out are copies.
	sh := v.Shape()
	sh[0] = 99
	st := v.Strides()
	st[0] = 99
	if v.Shape()[0] != 2 || v.Strides()[0] != 40 {
		t.Error("View.Shape or Strides exposes internal state")
	}
	ss := s.Shape()
	ss[0] = 99
	if s.Shape()[0] != 3 {
		t.Error("Slice.Shape exposes internal state")
	}
	// A scalar result has an empty, non-nil shape.
	sc, _ := s.Get(At(1), At(2), At(3))
	if sc.Shape() == nil || sc.Rank() != 0 || u16s(sc.Data())[0] != 20+10+3 {
		t.Errorf("scalar %v %v", sc.Shape(), sc.Data())
	}
}

// packBits packs 4-bit or 6-bit codes with convert_test.go's packCodes,
// the independent reference for the sub-byte layout.
func packBits(bitsPer int, codes []int) []byte {
	d := map[int]DType{4: F4, 6: F6E2M3}[bitsPer]
	u := make([]uint32, len(codes))
	for i, c := range codes {
		u[i] = uint32(c)
	}
	return packCodes(d, u)
}

func TestSliceSubByte(t *testing.T) {
	// F4 [4, 6]: rows of 24 bits = 3 bytes; code of (i, j) is (6i+j) % 16.
	var f4 []int
	for i := range 24 {
		f4 = append(f4, i%16)
	}
	// F6 [3, 8]: rows of 48 bits = 6 bytes; code of (i, j) is 8i+j + 10.
	var f6 []int
	for i := range 24 {
		f6 = append(f6, i+10)
	}
	data := buildFile(t,
		rawTensor{"f4", "F4", []int{4, 6}, packBits(4, f4)},
		rawTensor{"f6", "F6_E2M3", []int{3, 8}, packBits(6, f6)},
		rawTensor{"g6", "F6_E3M2", []int{2, 2, 4}, packBits(6, f6[:16])},
	)
	sel := func(codes []int, cols int, rows []int, c0, c1 int) []int {
		var out []int
		for _, r := range rows {
			out = append(out, codes[r*cols+c0:r*cols+c1]...)
		}
		return out
	}
	for _, be := range openAllBackends(t, data) {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range []struct {
				name, index string
				shape       []int
				want        []byte // nil: ErrMisalignedSlice
			}{
				{"f4", "", []int{4, 6}, packBits(4, f4)},
				{"f4", "1:3", []int{2, 6}, packBits(4, sel(f4, 6, []int{1, 2}, 0, 6))},
				{"f4", "::2", []int{2, 6}, packBits(4, sel(f4, 6, []int{0, 2}, 0, 6))},
				{"f4", "::-1", []int{4, 6}, packBits(4, sel(f4, 6, []int{3, 2, 1, 0}, 0, 6))},
				{"f4", ":, 2:4", []int{4, 2}, packBits(4, sel(f4, 6, []int{0, 1, 2, 3}, 2, 4))},
				{"f4", "1:, 4:", []int{3, 2}, packBits(4, sel(f4, 6, []int{1, 2, 3}, 4, 6))},
				{"f4", ":, :4", []int{4, 4}, packBits(4, sel(f4, 6, []int{0, 1, 2, 3}, 0, 4))},
				{"f4", "2, :2", []int{2}, packBits(4, sel(f4, 6, []int{2}, 0, 2))},
				{"f4", "0:0", []int{0, 6}, []byte{}},
				{"f4", "1", []int{6}, packBits(4, sel(f4, 6, []int{1}, 0, 6))}, // a row is 24 bits: 3 bytes
				{"f4", "-4", []int{6}, packBits(4, sel(f4, 6, []int{0}, 0, 6))},
				{"f4", ":, 1:3", nil, nil},  // starts at bit 4
				{"f4", ":, :3", nil, nil},   // 12-bit runs
				{"f4", ":, ::2", nil, nil},  // single elements
				{"f4", ":, ::-1", nil, nil}, // reversed elements
				{"f4", "1, 3", nil, nil},    // one element
				{"f6", "", []int{3, 8}, packBits(6, f6)},
				{"f6", "1", []int{8}, packBits(6, sel(f6, 8, []int{1}, 0, 8))},
				{"f6", ":, 4:", []int{3, 4}, packBits(6, sel(f6, 8, []int{0, 1, 2}, 4, 8))},
				{"f6", "::-2, :4", []int{2, 4}, packBits(6, sel(f6, 8, []int{2, 0}, 0, 4))},
				{"f6", ":, 1:5", nil, nil},
				{"f6", ":, :2", nil, nil},
				{"g6", ":, 1", []int{2, 4}, packBits(6, sel(f6[:16], 4, []int{1, 3}, 0, 4))},
				{"g6", "..., 0", nil, nil},
			} {
				s, err := be.f.GetSlice(tc.name)
				if err != nil {
					t.Fatal(err)
				}
				x, err := ParseIndex(tc.index)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Get(x...)
				if tc.want == nil {
					if !errors.Is(err, ErrMisalignedSlice) {
						t.Errorf("%s[%s]: got %v, want ErrMisalignedSlice", tc.name, tc.index, err)
					}
					if _, err := s.View(x...); !errors.Is(err, ErrMisalignedSlice) {
						t.Errorf("%s[%s]: View: got %v, want ErrMisalignedSlice", tc.name, tc.index, err)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s[%s]: %v", tc.name, tc.index, err)
					continue
				}
				if !slices.Equal(got.Shape(), tc.shape) || !bytes.Equal(got.Data(), tc.want) {
					t.Errorf("%s[%s] = %v %x, want %v %x", tc.name, tc.index, got.Shape(), got.Data(), tc.shape, tc.want)
				}
				if _, err := NewTensor(got.DType(), got.Shape(), got.Data()); err != nil {
					t.Errorf("%s[%s]: result is not a valid tensor: %v", tc.name, tc.index, err)
				}
			}
			// Views of F4: an aligned view narrowed to a misaligned one fails,
			// and one narrowed to an aligned one works.
			s, _ := be.f.GetSlice("f4")
			v, err := s.View(Full(), Range(2, 6))
			if err != nil {
				t.Fatal(err)
			}
			if v.Offset() != -1 || v.Strides() != nil || v.BitOffset() != 8 || !slices.Equal(v.BitStrides(), []int64{24, 4}) {
				t.Errorf("F4 view offset %d strides %v bits %d %v", v.Offset(), v.Strides(), v.BitOffset(), v.BitStrides())
			}
			if _, err := v.Index(Full(), Range(1, 3)); !errors.Is(err, ErrMisalignedSlice) {
				t.Errorf("misaligned view of view: %v", err)
			}
			w, err := v.Index(Range(1, 3), Range(2, 4))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := w.Get()
			if want := packBits(4, sel(f4, 6, []int{1, 2}, 4, 6)); !bytes.Equal(got.Data(), want) {
				t.Errorf("F4 view of view = %x, want %x", got.Data(), want)
			}
		})
	}
}

// TestNewReaderReadsOnlyTheSelection counts ReadAt calls and bytes.
func TestNewReaderReadsOnlyTheSelection(t *testing.T) {
	const rows, cols = 64, 4096 // F32 rows of 16 KiB: gaps between column runs are > 4 KiB
	data := make([]byte, rows*cols*4)
	for i := range rows * cols {
		binary.LittleEndian.PutUint32(data[4*i:], uint32(i))
	}
	const nRows, nCols = 32, 256 // rows of 1 KiB: gaps < 4 KiB, merged
	small := make([]byte, nRows*nCols*4)
	for i := range nRows * nCols {
		binary.LittleEndian.PutUint32(small[4*i:], uint32(i))
	}
	file := buildFile(t, rawTensor{"w", "F32", []int{rows, cols}, data}, rawTensor{"n", "F32", []int{nRows, nCols}, small})
	cr := &countingReaderAt{r: bytes.NewReader(file), rec: true}
	f, err := NewReader(cr, int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	mem, _ := Load(file)
	w, _ := f.GetSlice("w")
	n, _ := f.GetSlice("n")
	wm, _ := mem.GetSlice("w")
	nm, _ := mem.GetSlice("n")
	dataStart := f.DataOffset()
	nStart := dataStart + int64(len(data))

	check := func(s, sm *Slice, index string) (calls, nbytes int64, spans [][2]int64) {
		t.Helper()
		x, _ := ParseIndex(index)
		cr.reset()
		got, err := s.Get(x...)
		if err != nil {
			t.Fatal(err)
		}
		calls, nbytes = cr.calls.Load(), cr.bytes.Load()
		cr.mu.Lock()
		spans = slices.Clone(cr.spans)
		cr.mu.Unlock()
		// Many reads are issued concurrently: compare them in file order.
		slices.SortFunc(spans, func(a, b [2]int64) int { return int(a[0] - b[0]) })
		want, _ := sm.Get(x...)
		if !bytes.Equal(got.Data(), want.Data()) {
			t.Errorf("%s[%s]: NewReader and Load differ", s.Name(), index)
		}
		return
	}
	// A block of rows: exactly its bytes, in one call.
	calls, nb, spans := check(w, wm, "10:20, :")
	if calls != 1 || nb != 10*cols*4 || spans[0][0] != dataStart+10*cols*4 {
		t.Errorf("row block: %d calls, %d bytes, spans %v", calls, nb, spans)
	}
	// A block of columns with rows far apart: one call per row, of the
	// run only.
	calls, nb, spans = check(w, wm, ":, 100:164")
	if calls != rows || nb != rows*64*4 {
		t.Errorf("column block: %d calls, %d bytes", calls, nb)
	}
	for i, sp := range spans {
		if sp != [2]int64{dataStart + int64(i*cols*4+400), 256} {
			t.Errorf("column block: call %d read %v", i, sp)
			break
		}
	}
	// Rows and columns with a step: only the selected rows' spans.
	calls, nb, _ = check(w, wm, "::2, ::2")
	if calls != rows/2 || nb > rows/2*cols*4 {
		t.Errorf("strided: %d calls, %d bytes", calls, nb)
	}
	// Reversed rows of columns: still one call per row.
	calls, nb, _ = check(w, wm, "::-1, 5:9")
	if calls != rows || nb != rows*16 {
		t.Errorf("reversed column block: %d calls, %d bytes", calls, nb)
	}
	// One element.
	calls, nb, _ = check(w, wm, "7, 9")
	if calls != 1 || nb != 4 {
		t.Errorf("one element: %d calls, %d bytes", calls, nb)
	}
	// An empty selection reads nothing.
	calls, _, _ = check(w, wm, "3:3")
	if calls != 0 {
		t.Errorf("empty: %d calls", calls)
	}
	// Column blocks of a narrow matrix: runs 1 KiB apart are read together,
	// never beyond the first and last covered bytes.
	calls, nb, spans = check(n, nm, ":, 10:20")
	first, last := nStart+40, nStart+int64((nRows-1)*nCols*4+80)
	if calls != 1 || nb != last-first || spans[0][0] != first {
		t.Errorf("narrow column block: %d calls, %d bytes, spans %v; want 1 call of [%d, %d)", calls, nb, spans, first, last)
	}
	// Reversed: the same span, read once.
	calls, nb, spans = check(n, nm, "::-1, 10:20")
	if calls != 1 || nb != last-first || spans[0][0] != first {
		t.Errorf("reversed narrow column block: %d calls, %d bytes, spans %v", calls, nb, spans)
	}
	// Rows 5 apart (5 KiB, more than 4 KiB): one call per row.
	calls, nb, _ = check(n, nm, "::5, 1:3")
	if calls != (nRows+4)/5 || nb != int64((nRows+4)/5*8) {
		t.Errorf("far rows: %d calls, %d bytes", calls, nb)
	}
	// The whole tensor: one call.
	calls, nb, _ = check(w, wm, "")
	if calls != 1 || nb != int64(len(data)) {
		t.Errorf("whole: %d calls, %d bytes", calls, nb)
	}
}

// TestReadBlocksAreBounded checks that merged reads are split into blocks
// of at most maxReadBlock bytes: a strided selection over a 2 MiB tensor
// whose runs are close never reads it in one piece.
func TestReadBlocksAreBounded(t *testing.T) {
	const n = 1 << 19 // U32 elements: 2 MiB
	data := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(data[4*i:], uint32(i)*2654435761)
	}
	file := buildFile(t, rawTensor{"v", "U32", []int{512, 1024}, data})
	cr := &countingReaderAt{r: bytes.NewReader(file), rec: true}
	f, _ := NewReader(cr, int64(len(file)))
	mem, _ := Load(file)
	for _, index := range []string{"::2", "::-3, ::5", ":, 1:1000", "::-1, ::-1"} {
		x, _ := ParseIndex(index)
		s, _ := f.GetSlice("v")
		cr.reset()
		got, err := s.Get(x...)
		if err != nil {
			t.Fatal(err)
		}
		sm, _ := mem.GetSlice("v")
		want, _ := sm.Get(x...)
		if !bytes.Equal(got.Data(), want.Data()) {
			t.Errorf("[%s]: NewReader and Load differ", index)
		}
		for _, sp := range cr.spans {
			if sp[1] > maxReadBlock {
				t.Errorf("[%s]: read of %d bytes", index, sp[1])
			}
		}
		if cr.bytes.Load() > int64(len(data)) {
			t.Errorf("[%s]: read %d bytes of a %d-byte tensor", index, cr.bytes.Load(), len(data))
		}
	}
}

// failingReaderAt fails every read that touches [failAt, ∞) of the file.
type failingReaderAt struct {
	r      io.ReaderAt
	failAt int64
	err    error
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.failAt {
		return 0, f.err
	}
	return f.r.ReadAt(p, off)
}

// TestSliceReadErrors checks that a failing read, in one goroutine or in
// one of several reading concurrently, is returned and not lost.
func TestSliceReadErrors(t *testing.T) {
	const rows, cols = 512, 2048 // F32 rows of 8 KiB: column blocks take one read per row
	data := make([]byte, rows*cols*4)
	file := buildFile(t, rawTensor{"w", "F32", []int{rows, cols}, data})
	boom := errors.New("boom")
	dataStart := int64(len(file) - len(data))
	for _, failRow := range []int{0, 1, 200, rows - 1} {
		f, err := NewReader(failingReaderAt{bytes.NewReader(file), dataStart + int64(failRow*cols*4), boom}, int64(len(file)))
		if err != nil {
			t.Fatal(err)
		}
		s, _ := f.GetSlice("w")
		for _, index := range []string{":, 7:9", "::-1, 100", "", "::3, ::2"} {
			x, _ := ParseIndex(index)
			_, err := s.Get(x...)
			if index == "::3, ::2" && failRow == rows-1 {
				// The last row selected is 510, whose read ends before row 511.
				if err != nil {
					t.Errorf("row %d fails, [%s]: got %v", failRow, index, err)
				}
				continue
			}
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), `tensor "w"`) {
				t.Errorf("row %d fails, [%s]: got %v", failRow, index, err)
			}
		}
		// Rows before the failing one read fine.
		if failRow > 0 {
			if _, err := s.Get(RangeTo(failRow), Range(7, 9)); err != nil {
				t.Errorf("rows before %d: %v", failRow, err)
			}
		}
	}
	// A truncated reader: the data ends early.
	f, err := NewReader(bytes.NewReader(file[:len(file)-100]), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.GetSlice("w")
	if _, err := s.Get(Full(), At(-1)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
}

func TestSliceClosed(t *testing.T) {
	data := buildFile(t, rawTensor{"m", "U16", []int{3, 4}, iota16(12)})
	for _, be := range openAllBackends(t, data) {
		t.Run(be.name, func(t *testing.T) {
			s, err := be.f.GetSlice("m")
			if err != nil {
				t.Fatal(err)
			}
			v, _ := s.View(At(1))
			e, _ := s.View(Range(0, 0))
			be.f.Close()
			if _, err := s.Get(); !errors.Is(err, ErrClosed) {
				t.Errorf("Get after Close: %v", err)
			}
			if _, err := v.Get(); !errors.Is(err, ErrClosed) {
				t.Errorf("View.Get after Close: %v", err)
			}
			if _, err := e.Get(); !errors.Is(err, ErrClosed) {
				t.Errorf("empty View.Get after Close: %v", err)
			}
			if _, err := s.ReadInto(make([]byte, 24)); !errors.Is(err, ErrClosed) {
				t.Errorf("ReadInto after Close: %v", err)
			}
			if _, err := be.f.GetSlice("m"); !errors.Is(err, ErrClosed) {
				t.Errorf("GetSlice after Close: %v", err)
			}
			// Views need no data: they still work.
			if _, err := s.View(At(2)); err != nil {
				t.Errorf("View after Close: %v", err)
			}
		})
	}
}

// TestSliceConcurrent reads slices from many goroutines while the File is
// closed under them: every Get either succeeds with the right bytes or
// returns ErrClosed (run with -race).
func TestSliceConcurrent(t *testing.T) {
	data := buildFile(t, rawTensor{"m", "U16", []int{64, 64}, iota16(4096)})
	for _, be := range openAllBackends(t, data) {
		t.Run(be.name, func(t *testing.T) {
			s, _ := be.f.GetSlice("m")
			want := []int{3*64 + 60, 3*64 + 62, 7*64 + 60, 7*64 + 62}
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						got, err := s.Get(RangeStep(3, 8, 4), RangeFrom(-4).WithStep(2))
						if errors.Is(err, ErrClosed) {
							return
						}
						if err != nil || !slices.Equal(u16s(got.Data()), want) {
							t.Errorf("goroutine %d: %v %v", g, u16s(got.Data()), err)
							return
						}
						if i == 200 && g == 0 {
							be.f.Close()
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}

func TestGetSliceTooLargeToAddressInBits(t *testing.T) {
	// A File whose header claims a tensor of 2^60 bytes, read through a
	// ReaderAt that only has the header: GetSlice refuses it before any read.
	if math.MaxInt < 1<<60 {
		t.Skip("a dimension of 2^60 does not fit in an int here")
	}
	hdr := `{"big":{"dtype":"U8","shape":[1152921504606846976],"data_offsets":[0,1152921504606846976]}}`
	prefix := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	head := append(prefix, hdr...)
	size := int64(len(head)) + 1<<60
	f, err := NewReader(bytes.NewReader(head), size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetSlice("big"); !errors.Is(err, ErrOverflow) {
		t.Errorf("GetSlice: %v", err)
	}
}

func TestEmptyTensorWithHugeDims(t *testing.T) {
	// A 0 anywhere makes the tensor empty whatever the other dimensions;
	// strides that would overflow must not matter.
	huge := math.MaxInt >> 2
	f, err := Load(buildFile(t, rawTensor{"e", "F64", []int{0, huge, huge}, nil}))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.GetSlice("e")
	for _, index := range []string{"", ":, 5, 7", "..., -1", "::-1, ::3, 1:"} {
		x, _ := ParseIndex(index)
		got, err := s.Get(x...)
		if err != nil || len(got.Data()) != 0 {
			t.Errorf("[%s]: %v %v", index, got, err)
		}
	}
	if _, err := s.Get(At(0)); !errors.Is(err, ErrInvalidSlice) {
		t.Errorf("At(0) on an empty dimension: %v", err)
	}
}

// naiveGather walks the view element by element through its shape, bit
// offset and bit strides: a reference for the coalescing, the gathers and
// the block reads, which it shares no code with.
func naiveGather(v View, data []byte) []byte {
	elem := int64(v.DType().BitSize() / 8)
	shape, strides := v.Shape(), v.BitStrides()
	out := make([]byte, 0, v.Size())
	if v.NumElements() == 0 {
		return out
	}
	idx := make([]int, len(shape))
	for {
		bit := v.BitOffset()
		for k, i := range idx {
			bit += int64(i) * strides[k]
		}
		out = append(out, data[bit/8:bit/8+elem]...)
		k := len(idx) - 1
		for ; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
		if k < 0 {
			return out
		}
	}
}

// TestSliceRandomAgainstNaive applies random indices to tensors large enough
// for the block reads, the 1 MiB cap and the concurrent readers to matter,
// and compares every sliceBackend with naiveGather.
func TestSliceRandomAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	data := buildFile(t,
		rawTensor{"a", "F32", []int{300, 1100}, fill(300 * 1100 * 4)},
		rawTensor{"b", "U16", []int{9, 70, 33, 11}, fill(9 * 70 * 33 * 11 * 2)},
		rawTensor{"c", "U8", []int{5000, 3, 7}, fill(5000 * 3 * 7)},
		rawTensor{"d", "C64", []int{40, 4100}, fill(40 * 4100 * 8)},
		rawTensor{"e", "I64", []int{1 << 17}, fill(8 << 17)},
	)
	mem, _ := Load(data)
	randRange := func(n int) Index {
		bound := func() int { return rng.IntN(2*n+7) - n - 3 }
		steps := []int{1, 1, 1, 2, 3, -1, -1, -2, -5, 17, -64}
		x := Full()
		switch rng.IntN(5) {
		case 0:
			x = Range(bound(), bound())
		case 1:
			x = RangeFrom(bound())
		case 2:
			x = RangeTo(bound())
		case 3:
			return At(rng.IntN(n))
		}
		if rng.IntN(2) == 0 {
			x = x.WithStep(steps[rng.IntN(len(steps))])
		}
		return x
	}
	backends := openAllBackends(t, data)
	for range 60 {
		name := string(rune('a' + rng.IntN(5)))
		s, _ := mem.GetSlice(name)
		var index []Index
		for _, n := range s.Shape() {
			if rng.IntN(4) > 0 {
				index = append(index, randRange(n))
			} else {
				index = append(index, Full())
			}
		}
		index = index[:rng.IntN(len(index)+1)]
		v, err := s.View(index...)
		if err != nil {
			t.Fatalf("%s[%s]: %v", name, formatIndex(index), err)
		}
		whole, _ := mem.GetTensor(name)
		want := naiveGather(v, whole.Data())
		for _, be := range backends {
			bs, _ := be.f.GetSlice(name)
			got, err := bs.Get(index...)
			if err != nil || !bytes.Equal(got.Data(), want) {
				t.Fatalf("%s: %s[%s]: %v, %d bytes differ from the naive %d", be.name, name, formatIndex(index), err, len(got.Data()), len(want))
			}
		}
	}
}

func FuzzParseIndex(f *testing.F) {
	for _, s := range []string{"", "1", "-1", ":", "::-1", "1:5:2", "..., 0", "None, :, ...", "0, ..., -3:, ::-2",
		"1_0", "-9223372036854775808", "99999999999999999999", "::0", "..., ...", "np.newaxis", "Ellipsis, 1:", "1,", "- 3"} {
		f.Add(s, uint8(3), uint8(4), uint8(5))
	}
	f.Fuzz(func(t *testing.T, s string, d0, d1, d2 uint8) {
		index, err := ParseIndex(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSlice) {
				t.Fatalf("ParseIndex(%q): %v does not wrap ErrInvalidSlice", s, err)
			}
			return
		}
		again, err := ParseIndex(formatIndex(index))
		if err != nil || !slices.Equal(again, index) {
			t.Fatalf("ParseIndex(%q) = %v; its text %q parses to %v, %v", s, index, formatIndex(index), again, err)
		}
		shape := []int{int(d0 % 7), int(d1 % 6), int(d2 % 5)}[:int(d0+d1+d2)%4]
		n := 1
		for _, d := range shape {
			n *= d
		}
		dt, elem := "U16", 2
		if d0%2 == 1 {
			dt, elem = "F4", 1 // F4 of an even element count, else U16
			if n%2 != 0 {
				dt, elem = "U16", 2
			}
		}
		size := n * elem
		if dt == "F4" {
			size = n / 2
		}
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(i*7 + 3)
		}
		file, err := Load(buildFile(t, rawTensor{"t", dt, shape, buf}))
		if err != nil {
			t.Fatal(err)
		}
		sl, _ := file.GetSlice("t")
		got, err := sl.Get(index...)
		if err != nil {
			if !errors.Is(err, ErrInvalidSlice) && !errors.Is(err, ErrMisalignedSlice) {
				t.Fatalf("%s[%s]: %v", dt, s, err)
			}
			return
		}
		if _, err := NewTensor(got.DType(), got.Shape(), got.Data()); err != nil {
			t.Fatalf("%s%v[%s]: result %v is not a valid tensor: %v", dt, shape, s, got, err)
		}
		var cat []byte
		v, _ := sl.View(index...)
		whole, _ := file.GetTensor("t")
		for off, n := range v.Runs() {
			cat = append(cat, whole.Data()[off:off+n]...)
		}
		if !bytes.Equal(cat, got.Data()) {
			t.Fatalf("%s[%s]: runs and Get differ", dt, s)
		}
		raw := buildFile(t, rawTensor{"t", dt, shape, buf})
		rf, err := NewReader(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		rs, _ := rf.GetSlice("t")
		if rgot, err := rs.Get(index...); err != nil || !bytes.Equal(rgot.Data(), got.Data()) {
			t.Fatalf("%s[%s]: NewReader gives %v, %v", dt, s, rgot, err)
		}
	})
}
