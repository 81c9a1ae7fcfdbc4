package safetensors

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// These tests pin how a sharded model's index is judged: its grammar, with
// FormatError's offset (a byte offset in the index), its shard names, and
// the agreement of each shard's header with the index.

// siShard returns a File holding one U8 tensor of one byte per name.
func siShard(t *testing.T, names ...string) *File {
	t.Helper()
	m := map[string]Tensor{}
	for _, n := range names {
		tt, err := NewTensor(U8, []int{1}, []byte{byte(len(n))})
		if err != nil {
			t.Fatal(err)
		}
		m[n] = tt
	}
	var b bytes.Buffer
	if err := Save(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Load(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestIndexGrammarAndOffsets(t *testing.T) {
	for _, c := range []struct {
		name, index string
		marker      string // offset: index of marker (+delta); "" means -1
		delta       int
		msg         string
	}{
		{"not UTF-8", "{\"weight_map\":{\"a\xff\":\"s\"}}", "", 0, "not valid UTF-8"},
		{"no weight_map", `{"metadata":{}}`, "", 0, `the index has no "weight_map"`},
		{"empty object", `{}`, "", 0, `no "weight_map"`},
		{"not an object", ` []`, "[", 0, `expected '{', found an array`},
		{"trailing", `{"weight_map":{}} x`, "x", 0, "unexpected 'x' after the index object"},
		{"duplicate key", `{"weight_map":{},"weight_map":{}}`, `"weight_map":{}}`, 0, `duplicate key "weight_map"`},
		{"key not a string", `{1:2}`, "1", 0, "expected a string"},
		{"no colon", `{"weight_map" {}}`, "{}", 0, "expected ':'"},
		{"no comma", `{"weight_map":{} "x":1}`, `"x"`, 0, `expected ',' or '}'`},
		{"bad unknown value", `{"weight_map":{},"x":[1,}`, ",}", 1, "expected a value"},
		{"metadata not an object", `{"metadata":[],"weight_map":{}}`, "[", 0, `"metadata" must be an object or null, not an array`},
		{"metadata duplicate key", `{"metadata":{"k":1,"k":2},"weight_map":{}}`, `"k":2`, 0, `duplicate metadata key "k"`},
		{"metadata bad key", `{"metadata":{k:1},"weight_map":{}}`, "k:", 0, "expected a string"},
		{"metadata no colon", `{"metadata":{"k" 1},"weight_map":{}}`, "1}", 0, "expected ':'"},
		{"metadata bad value", `{"metadata":{"k":x},"weight_map":{}}`, "x}", 0, "expected a value"},
		{"metadata bad string", `{"metadata":{"k":"\q"},"weight_map":{}}`, `\q`, 0, "invalid escape"},
		{"metadata no comma", `{"metadata":{"k":1 "j":2},"weight_map":{}}`, `"j"`, 0, `expected ',' or '}'`},
		{"weight_map not an object", `{"weight_map":[]}`, "[", 0, `"weight_map" must be an object, not an array`},
		{"weight_map twice the tensor", `{"weight_map":{"a":"s","a":"s"}}`, `"a":"s"}`, 0, `tensor "a" is listed twice in the weight_map`},
		{"weight_map file not a string", `{"weight_map":{"a":1}}`, "1}", 0, `the weight_map entry of tensor "a" must be a file name, not a number`},
		{"weight_map bad key", `{"weight_map":{a:"s"}}`, "a:", 0, "expected a string"},
		{"weight_map no colon", `{"weight_map":{"a" "s"}}`, ` "s"`, 1, "expected ':'"},
		{"weight_map bad file", `{"weight_map":{"a":"s`, "", 0, "unterminated string"},
		{"weight_map no comma", `{"weight_map":{"a":"s" "b":"s"}}`, `"b"`, 0, `expected ',' or '}'`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewModel([]byte(c.index), func(string) (*File, error) { return nil, errors.New("no shard") })
			if !errors.Is(err, ErrInvalidIndex) {
				t.Fatalf("error %v", err)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is no FormatError", err)
			}
			want := int64(-1)
			switch {
			case c.marker != "":
				want = int64(strings.Index(c.index, c.marker) + c.delta)
			case c.msg == "unterminated string":
				want = int64(len(c.index))
			}
			if fe.Offset != want {
				t.Errorf("Offset %d, want %d (%v)", fe.Offset, want, err)
			}
			if !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("message %q does not say %q", fe.Msg, c.msg)
			}
			if errors.Is(err, ErrInvalidHeader) {
				t.Errorf("an index error wraps ErrInvalidHeader: %v", err)
			}
		})
	}
}

func TestIndexMetadataAndNames(t *testing.T) {
	index := " \n{\"x\": {\"y\": [1, {}]}, \"metadata\": {\"total_size\": 3, \"s\": \"a\\nb\", \"l\": [1, 2], \"n\": null, \"b\": true, \"o\": {}}, " +
		"\"weight_map\": {\"w2\": \"b.safetensors\", \"w1\": \"a.safetensors\", \"w3\": \"dir/a.safetensors\", \"w0\": \"a.safetensors\"}}\n "
	m, err := NewModel([]byte(index), func(name string) (*File, error) {
		switch name {
		case "a.safetensors":
			return siShard(t, "w0", "w1"), nil
		case "b.safetensors":
			return siShard(t, "w2"), nil
		case "dir/a.safetensors":
			return siShard(t, "w3"), nil
		}
		return nil, fmt.Errorf("no shard %s", name)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"total_size": "3", "s": "a\nb", "l": "[1, 2]", "n": "null", "b": "true", "o": "{}"}
	if got := m.Metadata(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metadata %q, want %q", got, want)
	}
	if got := fmt.Sprint(m.Keys()); got != "[w0 w1 w2 w3]" {
		t.Errorf("keys %s", got)
	}
	if got := fmt.Sprint(m.Files()); got != "[a.safetensors b.safetensors dir/a.safetensors]" {
		t.Errorf("files %s", got)
	}
	for name, file := range map[string]string{"w0": "a.safetensors", "w1": "a.safetensors", "w2": "b.safetensors", "w3": "dir/a.safetensors"} {
		if got, ok := m.FileOf(name); !ok || got != file {
			t.Errorf("FileOf(%s) = %s, %v", name, got, ok)
		}
		tt, err := m.GetTensor(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tt.Data()[0] != byte(len(name)) {
			t.Errorf("%s: bytes %v", name, tt.Data())
		}
	}
	if err := m.Verify(); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetTensor("w0"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	if _, err := m.GetTensor("nope"); !errors.Is(err, ErrClosed) {
		t.Errorf("unknown name after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// A metadata of null is none; an empty weight_map is a model of nothing.
	m, err = NewModel([]byte(`{"metadata":null,"weight_map":{}}`), nil)
	if err != nil || m.Metadata() != nil || m.Len() != 0 {
		t.Errorf("null metadata, empty map: %v, %v, %d", err, m.Metadata(), m.Len())
	}
	m, err = NewModel([]byte(`{"metadata":{},"weight_map":{}}`), nil)
	if err != nil || m.Metadata() == nil || len(m.Metadata()) != 0 {
		t.Errorf("empty metadata: %v, %v", err, m.Metadata())
	}
}

func TestIndexShardNames(t *testing.T) {
	for _, name := range []string{"../x.safetensors", "/x.safetensors", "a/../../x", "a\\b.safetensors", "c:x.safetensors", ".", "", "a//b", "./a"} {
		index := fmt.Sprintf(`{"weight_map":{"w":%q}}`, name)
		if _, err := NewModel([]byte(index), nil); !errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), "is not a relative path inside the index's folder") {
			t.Errorf("shard name %q: %v", name, err)
		}
	}
	for _, name := range []string{"a.safetensors", "sub/dir/a.safetensors", "..a", "a..b"} {
		index := fmt.Sprintf(`{"weight_map":{"w":%q}}`, name)
		if _, err := NewModel([]byte(index), nil); err != nil {
			t.Errorf("shard name %q: %v", name, err)
		}
	}
}

func TestIndexAgreesWithShards(t *testing.T) {
	index := []byte(`{"weight_map":{"a":"s1","b":"s1","c":"s2"}}`)
	for _, c := range []struct {
		name   string
		shards map[string][]string
		get    string
		also   error
		msg    string
	}{
		{"unlisted tensor", map[string][]string{"s1": {"a", "b", "x"}}, "a", nil, `shard "s1" holds tensor "x", which the index does not list`},
		{"tensor of the other shard", map[string][]string{"s1": {"a", "b", "c"}}, "a", nil, `tensor "c" is in shard "s1", but the index puts it in shard "s2"`},
		{"missing tensor", map[string][]string{"s1": {"a"}}, "a", ErrTensorNotFound, `the index puts tensor "b" in shard "s1", which does not hold it`},
		{"missing other", map[string][]string{"s1": {"b"}}, "b", ErrTensorNotFound, `the index puts tensor "a" in shard "s1", which does not hold it`},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := NewModel(index, func(name string) (*File, error) { return siShard(t, c.shards[name]...), nil })
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.GetTensor(c.get)
			if !errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v, want %q", err, c.msg)
			}
			if c.also != nil && !errors.Is(err, c.also) {
				t.Errorf("error %v does not wrap %v", err, c.also)
			}
			if c.also == nil && errors.Is(err, ErrTensorNotFound) {
				t.Errorf("error %v wraps ErrTensorNotFound", err)
			}
		})
	}
	// A tensor in both shards: once the other is open, both are named.
	m, err := NewModel(index, func(name string) (*File, error) {
		if name == "s2" {
			return siShard(t, "c", "a"), nil
		}
		return siShard(t, "a", "b"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetTensor("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetTensor("c"); !errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), `tensor "a" is in two shards, "s2" and "s1", but the index puts it in shard "s1"`) {
		t.Errorf("tensor in two shards: %v", err)
	}
	// An unknown name is ErrTensorNotFound, before Close.
	if _, err := m.GetTensor("zz"); !errors.Is(err, ErrTensorNotFound) {
		t.Errorf("unknown name: %v", err)
	}
}

// TestIndexFileSizeLimit: OpenModel reads an index of at most
// MaxHeaderSize bytes.
func TestIndexFileSizeLimit(t *testing.T) {
	dir := t.TempDir()
	f := siShard(t, "a")
	var b bytes.Buffer
	if err := Save(&b, map[string]Tensor{"a": siMust(f.GetTensor("a"))}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s.safetensors"), b.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
	index := `{"weight_map":{"a":"s.safetensors"}}`
	path := filepath.Join(dir, IndexName)
	if err := os.WriteFile(path, []byte(index), 0o666); err != nil {
		t.Fatal(err)
	}
	m, err := Options{MaxHeaderSize: int64(len(index))}.OpenModel(path)
	if err != nil {
		t.Fatalf("index of exactly the limit: %v", err)
	}
	m.Close()
	_, err = Options{MaxHeaderSize: int64(len(index) - 1)}.OpenModel(path)
	if !errors.Is(err, ErrInvalidIndex) || !strings.Contains(err.Error(), fmt.Sprintf("the index is larger than the limit of %d bytes", len(index)-1)) {
		t.Errorf("index one byte over: %v", err)
	}
	m, err = Options{MaxHeaderSize: -1}.OpenModel(path)
	if err != nil {
		t.Fatalf("no limit: %v", err)
	}
	m.Close()
}

func siMust(t Tensor, err error) Tensor {
	if err != nil {
		panic(err)
	}
	return t
}

// TestIndexFileControlCharacter: past the first ReadStep bytes, an index
// is read in steps, and a step holding a control character that JSON
// allows nowhere ends the read, at that byte's offset; tab, newline and
// carriage return are whitespace.
func TestIndexFileControlCharacter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, IndexName)
	head := `{"weight_map":{}}`
	pad := strings.Repeat(" ", ReadStep+1000)
	ok := head + pad + "\t\n\r " + pad[:100]
	if err := os.WriteFile(path, []byte(ok), 0o666); err != nil {
		t.Fatal(err)
	}
	m, err := Options{MaxHeaderSize: -1}.OpenModel(path)
	if err != nil {
		t.Fatalf("whitespace past ReadStep: %v", err)
	}
	m.Close()
	bad := head + pad + "\t\n\r\x1f" + pad[:100]
	if err := os.WriteFile(path, []byte(bad), 0o666); err != nil {
		t.Fatal(err)
	}
	_, err = Options{MaxHeaderSize: -1}.OpenModel(path)
	var fe *FormatError
	if !errors.Is(err, ErrInvalidIndex) || !errors.As(err, &fe) || fe.Offset != int64(strings.Index(bad, "\x1f")) || !strings.Contains(fe.Msg, "the control character 0x1f") {
		t.Errorf("control character past ReadStep: %v", err)
	}
}
