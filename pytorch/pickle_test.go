package pytorch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// plain turns unpickled values into comparable Go values.
func plain(v any) any {
	switch v := v.(type) {
	case pyTuple:
		out := []any{"tuple"}
		for _, e := range v {
			out = append(out, plain(e))
		}
		return out
	case *pyList:
		out := []any{"list"}
		for _, e := range v.items {
			out = append(out, plain(e))
		}
		return out
	case *pyDict:
		out := []any{"dict"}
		for i, k := range v.keys {
			out = append(out, plain(k), plain(v.vals[i]))
		}
		return out
	case *big.Int:
		return v.String()
	}
	return v
}

// Pickles of {'a': [1, -2, 2.5, None, True, False, 'xé', b'y', (1, 2),
// 2**70, -300, 70000], 'b': {'c': -5}} in every protocol, from Python's
// pickle.dumps (protocols 0-2 write b'y' as _codecs.encode('y', 'latin1')).
var protocolPickles = []string{
	"(dp0\nVa\np1\n(lp2\nI1\naI-2\naF2.5\naNaI01\naI00\naVx\xe9\np3\nac_codecs\nencode\np4\n(Vy\np5\nVlatin1\np6\ntp7\nRp8\na(I1\nI2\ntp9\naL1180591620717411303424L\naI-300\naI70000\nasVb\np10\n(dp11\nVc\np12\nI-5\nss.",
	"}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x04\x00\x00\x00\x00\x00\x00NI01\nI00\nX\x03\x00\x00\x00x\xc3\xa9q\x03c_codecs\nencode\nq\x04(X\x01\x00\x00\x00yq\x05X\x06\x00\x00\x00latin1q\x06tq\x07Rq\x08(K\x01K\x02tq\tL1180591620717411303424L\nJ\xd4\xfe\xff\xffJp\x11\x01\x00eX\x01\x00\x00\x00bq\n}q\x0bX\x01\x00\x00\x00cq\x0cJ\xfb\xff\xff\xffsu.",
	"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x04\x00\x00\x00\x00\x00\x00N\x88\x89X\x03\x00\x00\x00x\xc3\xa9q\x03c_codecs\nencode\nq\x04X\x01\x00\x00\x00yq\x05X\x06\x00\x00\x00latin1q\x06\x86q\x07Rq\x08K\x01K\x02\x86q\t\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@J\xd4\xfe\xff\xffJp\x11\x01\x00eX\x01\x00\x00\x00bq\n}q\x0bX\x01\x00\x00\x00cq\x0cJ\xfb\xff\xff\xffsu.",
	"\x80\x03}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffG@\x04\x00\x00\x00\x00\x00\x00N\x88\x89X\x03\x00\x00\x00x\xc3\xa9q\x03C\x01yq\x04K\x01K\x02\x86q\x05\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@J\xd4\xfe\xff\xffJp\x11\x01\x00eX\x01\x00\x00\x00bq\x06}q\x07X\x01\x00\x00\x00cq\x08J\xfb\xff\xff\xffsu.",
	"\x80\x04\x95U\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01J\xfe\xff\xff\xffG@\x04\x00\x00\x00\x00\x00\x00N\x88\x89\x8c\x03x\xc3\xa9\x94C\x01y\x94K\x01K\x02\x86\x94\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@J\xd4\xfe\xff\xffJp\x11\x01\x00e\x8c\x01b\x94}\x94\x8c\x01c\x94J\xfb\xff\xff\xffsu.",
	"\x80\x05\x95U\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01J\xfe\xff\xff\xffG@\x04\x00\x00\x00\x00\x00\x00N\x88\x89\x8c\x03x\xc3\xa9\x94C\x01y\x94K\x01K\x02\x86\x94\x8a\t\x00\x00\x00\x00\x00\x00\x00\x00@J\xd4\xfe\xff\xffJp\x11\x01\x00e\x8c\x01b\x94}\x94\x8c\x01c\x94J\xfb\xff\xff\xffsu.",
}

func TestUnpickleProtocols(t *testing.T) {
	want := []any{"dict",
		"a", []any{"list", int64(1), int64(-2), 2.5, nil, true, false, "xé", pyBytes("y"),
			[]any{"tuple", int64(1), int64(2)}, "1180591620717411303424", int64(-300), int64(70000)},
		"b", []any{"dict", "c", int64(-5)},
	}
	for proto, p := range protocolPickles {
		v, err := unpickle([]byte(p))
		if err != nil {
			t.Fatalf("protocol %d: %v", proto, err)
		}
		if got := plain(v); !reflect.DeepEqual(got, want) {
			t.Errorf("protocol %d:\n got %#v\nwant %#v", proto, got, want)
		}
	}
}

func TestUnpickleSets(t *testing.T) {
	// frozenset([1]) and set([1]) (protocol 4), bytearray(b'ab') (protocol 5), from Python.
	for p, want := range map[string]int{
		"\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00(K\x01\x91\x94.":     1,
		"\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00\x8f\x94(K\x01\x90.": 1,
	} {
		v, err := unpickle([]byte(p))
		if s, ok := v.(*pySet); err != nil || !ok || len(s.items) != want {
			t.Errorf("%q: %#v, %v", p, v, err)
		}
	}
	v, err := unpickle([]byte("\x80\x05\x95\r\x00\x00\x00\x00\x00\x00\x00\x96\x02\x00\x00\x00\x00\x00\x00\x00ab\x94."))
	if v != pyBytes("ab") || err != nil {
		t.Errorf("bytearray: %#v, %v", v, err)
	}
}

func TestDecodeLong(t *testing.T) {
	// Values of Python's pickle.decode_long.
	for _, c := range []struct {
		in   string
		want string
	}{
		{"", "0"}, {"\xff", "-1"}, {"\x7f", "127"}, {"\x80", "-128"}, {"\xff\x00", "255"},
		{"\x00\x80", "-32768"}, {"\x01\x02\x03\x04\x05\x06\x07\x08", "578437695752307201"},
		{"\xff\xff\xff\xff\xff\xff\xff\x7f", "9223372036854775807"},
		{"\x00\x00\x00\x00\x00\x00\x00\x80", "-9223372036854775808"},
		{"\x00\x00\x00\x00\x00\x00\x00\x00\x01", "18446744073709551616"},
		{"\xff\xff\xff\xff\xff\xff\xff\xff\xff", "-1"},
		{"\xff\xff\xff\xff\xff\xff\xff\x7f\x00", "9223372036854775807"},
		{"l\xfc\x9cF\xf9 j\xa8P\x19", "119547037146038801333356"}, // torch's MAGIC_NUMBER
	} {
		var got string
		switch v := decodeLong([]byte(c.in)).(type) {
		case int64:
			got = big.NewInt(v).String()
		case *big.Int:
			got = v.String()
		}
		if got != c.want {
			t.Errorf("decodeLong(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestDictSemantics(t *testing.T) {
	// {1: 'a', True: 'b', 1.0: 'c', 'x': 1} in Python is {1: 'c', 'x': 1}:
	// equal keys keep the first key and position and take the last value.
	p := "}(K\x01X\x01\x00\x00\x00a\x88X\x01\x00\x00\x00bG?\xf0\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00cX\x01\x00\x00\x00xK\x01u."
	v, err := unpickle([]byte(p))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plain(v), []any{"dict", int64(1), "c", "x", int64(1)}; !reflect.DeepEqual(got, want) {
		t.Errorf("%#v, want %#v", got, want)
	}
	// Tuples of hashables are keys; their equality is by value.
	p = "}(K\x01K\x02\x86K\x07K\x01K\x02\x86K\x08u."
	v, err = unpickle([]byte(p))
	if got, want := plain(v), []any{"dict", []any{"tuple", int64(1), int64(2)}, int64(8)}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("%#v, %v", got, err)
	}
}

func le64(v uint64) string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return string(b[:])
}

// TestHostileInputs feeds malformed and hostile pickles, among them inputs
// that crash github.com/nlpodyssey/gopickle v0.3.0 (an index-out-of-range
// on opcode 0xff, LONG1 of length 0, odd SETITEMS, an unhashable key; a
// makeslice panic on FRAME 2^62; a fatal out-of-memory on BINBYTES8 2^40).
// Each must give an error of the right kind, or Python's value, quickly.
func TestHostileInputs(t *testing.T) {
	for _, c := range []struct {
		name, p string
		want    error
	}{
		{"opcode 0xff", "\x80\x02\xff.", ErrCorrupt},
		{"unknown opcode", "\x80\x02Z.", ErrCorrupt},
		{"protocol 6", "\x80\x06N.", ErrCorrupt},
		{"odd SETITEMS", "}(K\x01u.", ErrCorrupt},
		{"odd DICT", "(K\x01d.", ErrCorrupt},
		{"list as key", "}(]K\x01u.", ErrCorrupt},
		{"dict as key", "}}K\x01s.", ErrCorrupt},
		{"FRAME 2^62 then nothing", "\x80\x04\x95" + le64(1<<62) + ".", ErrCorrupt},
		{"BINBYTES8 2^40", "\x80\x04\x8e" + le64(1<<40) + ".", errPickleEOF},
		{"BINBYTES8 2^63", "\x80\x04\x8e" + le64(1<<63) + ".", errPickleEOF},
		{"BINUNICODE8 2^64-1", "\x80\x04\x8d" + le64(1<<64-1) + ".", errPickleEOF},
		{"BINUNICODE 4G", "X\xff\xff\xff\xff.", errPickleEOF},
		{"BINSTRING negative", "T\xff\xff\xff\xff.", ErrCorrupt},
		{"LONG4 negative", "\x8b\xff\xff\xff\xff.", ErrCorrupt},
		{"LONG4 2G", "\x8b\xff\xff\xff\x7f.", errPickleEOF},
		{"REDUCE on empty stack", "\x80\x02R.", ErrCorrupt},
		{"STOP on empty stack", ".", ErrCorrupt},
		{"empty", "", errPickleEOF},
		{"no STOP", "K\x01", errPickleEOF},
		{"POP_MARK without MARK", "1.", ErrCorrupt},
		{"TUPLE without MARK", "K\x01t.", ErrCorrupt},
		{"TUPLE3 short", "(K\x01K\x02\x87.", ErrCorrupt},
		{"pop across a MARK", "K\x01(R.", ErrCorrupt},
		{"BINGET unset", "h\x05.", ErrCorrupt},
		{"LONG_BINGET unset", "j\xff\xff\xff\xff.", ErrCorrupt},
		{"PUT on empty stack", "q\x00.", ErrCorrupt},
		{"bad UTF-8", "X\x01\x00\x00\x00\xff.", ErrCorrupt},
		{"surrogate in UTF-8", "X\x03\x00\x00\x00\xed\xa0\x80.", ErrCorrupt},
		{"EXT1", "\x82\x01.", ErrCorrupt},
		{"NEXT_BUFFER", "\x97.", ErrCorrupt},
		{"APPEND to a dict", "}K\x01a.", ErrCorrupt},
		{"SETITEM on a list", "]K\x01K\x02s.", ErrCorrupt},
		{"ADDITEMS on a list", "](K\x01\x90.", ErrCorrupt},
		{"BUILD on a list", "]}b.", ErrUnsupported},
		{"BUILD with a list state", "}]b.", ErrCorrupt},
		{"READONLY_BUFFER on an int", "K\x01\x98.", ErrCorrupt},
		{"persistent id without loader", "K\x01Q.", ErrCorrupt},
		{"STACK_GLOBAL of ints", "K\x01K\x02\x93.", ErrCorrupt},
		{"OBJ without class", "(o.", ErrCorrupt},
		{"NEWOBJ with a list", "\x80\x02ccollections\nOrderedDict\n]\x81.", ErrCorrupt},
		{"NEWOBJ_EX with kwargs", "\x80\x04ccollections\nOrderedDict\n)}(K\x01K\x01u\x92.", ErrCorrupt},
		{"OrderedDict with args", "\x80\x02ccollections\nOrderedDict\n]\x85R.", ErrUnsupported},
		{"rebuild without storage", "\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00)))\x89NtR.", ErrCorrupt},
		{"Parameter of an int", "\x80\x02ctorch._utils\n_rebuild_parameter\nK\x01\x88N\x87R.", ErrCorrupt},
		{"bad INT", "I12x\n.", ErrCorrupt},
		{"bad FLOAT", "Fnope\n.", ErrCorrupt},
		{"unquoted STRING", "Sabc\n.", ErrCorrupt},
		{"long line", "c" + strings.Repeat("a", maxLine+1) + "\n", ErrCorrupt},
		{"deep tuple key", "}(" + "K\x01" + strings.Repeat("\x85", maxKeyDepth+1) + "K\x01u.", ErrUnsupported},
	} {
		v, err := unpickle([]byte(c.p))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %#v, %v; want %v", c.name, v, err, c.want)
		}
	}
	// Python's decode_long(b'') is 0, so LONG1 of length 0 is valid.
	if v, err := unpickle([]byte("\x80\x02\x8a\x00.")); v != int64(0) || err != nil {
		t.Errorf("LONG1 of 0 bytes: %#v, %v", v, err)
	}
	// bytes are hashable dict keys.
	if v, err := unpickle([]byte("\x80\x03ccollections\nOrderedDict\n)R(C\x01aK\x01u.")); err != nil || len(v.(*pyDict).keys) != 1 {
		t.Errorf("bytes key: %#v, %v", v, err)
	}
}

func TestUnpickleLimits(t *testing.T) {
	// The object limit: a flood of pushes (each popped again, so only the
	// count grows).
	p := bytes.Repeat([]byte(")0"), maxPickleObjects+1)
	if _, err := unpickle(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("object flood: %v", err)
	}
	// The size limit: a valid pickle longer than max.
	good := []byte(protocolPickles[2])
	u := newUnpickler(bytes.NewReader(good), int64(len(good)), 20)
	if _, err := u.load(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("size limit: %v", err)
	}
	u = newUnpickler(bytes.NewReader(good), int64(len(good)), int64(len(good)))
	if _, err := u.load(); err != nil {
		t.Errorf("a pickle exactly at the limit: %v", err)
	}
}

func TestUnquotePy2(t *testing.T) {
	// Expected values from Python's codecs.escape_decode.
	for in, want := range map[string]string{
		`a\'b`:            `a'b`,
		`\x41\101\7\0`:    "AA\x07\x00",
		`q\zw`:            `q\zw`,
		`\\n`:             `\n`,
		`tab\tnl\n\a\v\f`: "tab\tnl\n\a\v\f",
	} {
		if got, err := unquotePy2(in); got != want || err != nil {
			t.Errorf("unquotePy2(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`\`, `\x4`, `\xzz`} {
		if _, err := unquotePy2(in); err == nil {
			t.Errorf("unquotePy2(%q) accepted", in)
		}
	}
	if v, err := unpickle([]byte("S'it\\'s'\n.")); v != "it's" || err != nil {
		t.Errorf("STRING: %#v, %v", v, err)
	}
}

// dagTuple returns a pickle fragment building t = (1,), then n times
// t = (t, t) through the memo: n levels, 2^n leaves, about 6n bytes.
func dagTuple(n int) string {
	p := "K\x01\x85q\x000"
	for i := 0; i < n; i++ {
		p += "h\x00h\x00\x86q\x000"
	}
	return p + "h\x00"
}

// TestSharedStructureBounds: values that share parts through the memo are
// tiny in the pickle and exponential when walked; hashing them as dict keys
// and describing them in errors must stay bounded.
func TestSharedStructureBounds(t *testing.T) {
	start := time.Now()
	_, err := unpickle([]byte("}" + dagTuple(30) + "K\x01s."))
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("a 2^30-leaf tuple key: %v", err)
	}
	v, err := unpickle([]byte(dagTuple(60) + "."))
	if err != nil {
		t.Fatal(err)
	}
	if s := short(v); len(s) > 200 {
		t.Errorf("short of a 2^60-leaf tuple is %d bytes", len(s))
	}
	// Integers as dict keys: up to 4 KiB, hashed in linear time; beyond,
	// refused.
	big := "\x8b" + le64(1 << 20)[:4] + strings.Repeat("\x5a", 1<<20)
	if _, err := unpickle([]byte("}" + big + "K\x01s.")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("1 MiB int key: %v", err)
	}
	big = "\x8b" + le64(4000)[:4] + strings.Repeat("\x5a", 4000)
	if _, err := unpickle([]byte("}" + big + "K\x01s.")); err != nil {
		t.Errorf("4000-byte int key: %v", err)
	}
	if d := time.Since(start); d > 60*time.Second { // quadratic work would take hours: a generous bound for a shared machine
		t.Errorf("took %v", d)
	}
}

// TestRepeatedLongKey: one long string reused through the memo as the key
// of many SETITEMs would be hashed in full every time; keys are capped.
func TestRepeatedLongKey(t *testing.T) {
	long := "X" + le64(1 << 20)[:4] + strings.Repeat("k", 1<<20) + "q\x000"
	p := long + "}" + strings.Repeat("h\x00K\x01s", 100000) + "."
	start := time.Now()
	if _, err := unpickle([]byte(p)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("%v", err)
	}
	ok := "X" + le64(maxKeySize)[:4] + strings.Repeat("k", maxKeySize) + "q\x000"
	if v, err := unpickle([]byte(ok + "}" + strings.Repeat("h\x00K\x01s", 100000) + ".")); err != nil || len(v.(*pyDict).keys) != 1 {
		t.Errorf("a key at the limit: %v", err)
	}
	if d := time.Since(start); d > 60*time.Second { // quadratic work would take hours: a generous bound for a shared machine
		t.Errorf("took %v", d)
	}
	e := &ForbiddenGlobalError{Module: strings.Repeat("m", 1<<20), Name: "x"}
	if n := len(e.Error()); n > 400 {
		t.Errorf("error message of %d bytes", n)
	}
}

// TestRepeatedCalls: calls whose cost grows with an argument reused through
// the memo are bounded: _codecs.encode by the pickle's size, tensor
// rebuilds by the rank limit.
func TestRepeatedCalls(t *testing.T) {
	s := "X" + le64(1 << 20)[:4] + strings.Repeat("a", 1<<20) + "q\x000"
	enc := "c_codecs\nencode\nq\x01X\x06\x00\x00\x00latin1q\x02"
	p := s + enc + strings.Repeat("h\x01h\x00h\x02\x86R0", 10000) + "N."
	start := time.Now()
	if _, err := unpickle([]byte(p)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("repeated encode: %v", err)
	}
	if d := time.Since(start); d > 60*time.Second { // quadratic work would take hours: a generous bound for a shared machine
		t.Errorf("took %v", d)
	}
	if _, err := intTuple(pyTuple(make([]any, maxRank+1)), "size"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("rank %d: %v", maxRank+1, err)
	}
}
