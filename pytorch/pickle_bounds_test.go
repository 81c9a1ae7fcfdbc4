package pytorch

import (
	"bytes"
	"errors"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// These tests hold the unpickler at each of its limits (one under, at, one
// over) and pin the values and error classes of the opcodes at their edges.
// Expected values are Python's (pickle.loads), worked out by hand from the
// pickle format.

func pbLoad(p string) (any, error) {
	u := newUnpickler(strings.NewReader(p), int64(len(p)), 0)
	return u.load()
}

func TestPickleObjectLimitExactly(t *testing.T) {
	// ")0" pushes an empty tuple and pops it: one object each. "N" is one
	// more, and storing it in a new memo slot one more; storing it again in
	// the same slot creates nothing.
	at := strings.Repeat(")0", maxPickleObjects-2) + "Nq\x00q\x00q\x00."
	if v, err := pbLoad(at); err != nil || v != nil {
		t.Fatalf("exactly %d objects: %#v, %v", maxPickleObjects, v, err)
	}
	over := strings.Repeat(")0", maxPickleObjects-1) + "Nq\x00."
	if _, err := pbLoad(over); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "pickle builds more than 4194304 objects") {
		t.Fatalf("%d objects: %v", maxPickleObjects+1, err)
	}
}

func TestPickleLineLimitExactly(t *testing.T) {
	// A STRING argument of exactly maxLine bytes (quotes included).
	at := "S'" + strings.Repeat("a", maxLine-2) + "'\n."
	if v, err := pbLoad(at); err != nil || v != strings.Repeat("a", maxLine-2) {
		t.Fatalf("line of %d bytes: %v", maxLine, err)
	}
	over := "S'" + strings.Repeat("a", maxLine-1) + "'\n."
	if _, err := pbLoad(over); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "pickle byte 0: text argument longer than 65536 bytes") {
		t.Fatalf("line of %d bytes: %v", maxLine+1, err)
	}
}

// pbDict returns a protocol-2 pickle of a dict with the given pickled keys,
// each mapped to its index (BININT1).
func pbDict(keys ...string) string {
	s := "\x80\x02}("
	for i, k := range keys {
		s += k + "K" + string(rune(i))
	}
	return s + "u."
}

func pbLong4(b []byte) string {
	n := len(b)
	return "\x8b" + string([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}) + string(b)
}

func pbBinunicode(s string) string {
	n := len(s)
	return "X" + string([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}) + s
}

func pbBinbytes(s string) string {
	n := len(s)
	return "B" + string([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}) + s
}

func pbFloat(f string) string {
	// BINFLOAT big-endian bits, given as 8 bytes.
	return "G" + f
}

func TestPickleKeyLimits(t *testing.T) {
	keyLen := func(v any) int {
		d, ok := v.(*pyDict)
		if !ok {
			t.Fatalf("%#v is no dict", v)
		}
		return len(d.keys)
	}
	for _, c := range []struct {
		name string
		p    string
		keys int   // number of distinct keys; 0: an error
		err  error // when keys is 0
	}{
		{"str key of maxKeySize", pbDict(pbBinunicode(strings.Repeat("k", maxKeySize))), 1, nil},
		{"str key over", pbDict(pbBinunicode(strings.Repeat("k", maxKeySize+1))), 0, ErrUnsupported},
		{"bytes key of maxKeySize", pbDict(pbBinbytes(strings.Repeat("k", maxKeySize))), 1, nil},
		{"bytes key over", pbDict(pbBinbytes(strings.Repeat("k", maxKeySize+1))), 0, ErrUnsupported},
		// 4097 bytes whose top is 0x00 0x80: a positive int of exactly 32768 bits.
		{"int key of 8*maxKeySize bits", pbDict(pbLong4(append(bytes.Repeat([]byte{0}, maxKeySize-1), 0x80, 0))), 1, nil},
		{"int key over", pbDict(pbLong4(append(bytes.Repeat([]byte{0}, maxKeySize), 1))), 0, ErrUnsupported},
		// Tuples nested maxKeyDepth deep are keys; one more is refused.
		{"tuple key maxKeyDepth deep", pbDict("K\x01" + strings.Repeat("\x85", maxKeyDepth)), 1, nil},
		{"tuple key too deep", pbDict("K\x01" + strings.Repeat("\x85", maxKeyDepth+1)), 0, ErrUnsupported},
		// A flat tuple key whose encoding passes maxKeySize.
		// The encoding of a one-string tuple is "(" + len + ":" + "string:" + s:
		// 4096 bytes for a string of 4083.
		{"tuple key of maxKeySize", pbDict(pbBinunicode(strings.Repeat("k", 4083)) + "\x85"), 1, nil},
		{"tuple key over", pbDict(pbBinunicode(strings.Repeat("k", 4084)) + "\x85"), 0, ErrUnsupported},
		{"long tuple key", pbDict("(" + strings.Repeat(pbBinunicode(strings.Repeat("k", 100)), 50) + "t"), 0, ErrUnsupported},
		{"short tuple key", pbDict("(" + strings.Repeat(pbBinunicode(strings.Repeat("k", 100)), 10) + "t"), 1, nil},
		// Equal numbers are one key: 1 == 1.0 == True; -2**63 == float(-2**63).
		{"1, 1.0, True", pbDict("K\x01", pbFloat("\x3f\xf0\x00\x00\x00\x00\x00\x00"), "\x88"), 1, nil},
		{"0, False, 0.0", pbDict("K\x00", "\x89", pbFloat("\x00\x00\x00\x00\x00\x00\x00\x00")), 1, nil},
		{"-2**63 and its float", pbDict("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80", pbFloat("\xc3\xe0\x00\x00\x00\x00\x00\x00")), 1, nil},
		// float(2**63) is no int64: it stays apart from -2**63.
		{"2.0**63 and -2**63", pbDict(pbFloat("\x43\xe0\x00\x00\x00\x00\x00\x00"), "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"), 2, nil},
		{"1.5 and 1", pbDict(pbFloat("\x3f\xf8\x00\x00\x00\x00\x00\x00"), "K\x01"), 2, nil},
		{"str and bytes", pbDict(pbBinunicode("a"), pbBinbytes("a")), 2, nil},
		{"None twice", pbDict("N", "N"), 1, nil},
		{"big int twice", pbDict(pbLong4([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1}), pbLong4([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1})), 1, nil},
		{"big int and its neighbour", pbDict(pbLong4([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1}), pbLong4([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1})), 2, nil},
		{"tuples of equal numbers", pbDict("K\x01\x85", pbFloat("\x3f\xf0\x00\x00\x00\x00\x00\x00")+"\x85"), 1, nil},
		{"tuples of other numbers", pbDict("K\x01K\x02\x86", "K\x02K\x01\x86"), 2, nil},
		{"list in a tuple key", pbDict("]\x85"), 0, ErrCorrupt},
	} {
		v, err := pbLoad(c.p)
		if c.keys == 0 {
			if !errors.Is(err, c.err) {
				t.Errorf("%s: %#v, %v; want %v", c.name, v, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if n := keyLen(v); n != c.keys {
			t.Errorf("%s: %d keys, want %d", c.name, n, c.keys)
		}
	}
}

func TestPickleOpcodeEdges(t *testing.T) {
	for _, c := range []struct {
		name string
		p    string
		want any // plain(value)
	}{
		{"protocol 5", "\x80\x05N.", nil},
		{"protocol 0 marker", "\x80\x00K\x07.", int64(7)},
		{"TUPLE1", "K\x01\x85.", []any{"tuple", int64(1)}},
		{"TUPLE2", "K\x01K\x02\x86.", []any{"tuple", int64(1), int64(2)}},
		{"TUPLE3", "K\x01K\x02K\x03\x87.", []any{"tuple", int64(1), int64(2), int64(3)}},
		{"TUPLE2 leaves what is below", "K\x09K\x01K\x02\x86\x86.", []any{"tuple", int64(9), []any{"tuple", int64(1), int64(2)}}},
		{"POP of an empty mark pops the mark", "K\x05(0.", int64(5)},
		{"POP under a mark pops the value", "K\x05(K\x060t.", []any{"tuple"}},
		{"DUP", "K\x052\x86.", []any{"tuple", int64(5), int64(5)}},
		{"BININT negative", "J\xff\xff\xff\xff.", int64(-1)},
		{"BININT2", "M\xff\xff.", int64(65535)},
		{"INT 00", "I00\n.", false},
		{"INT 01", "I01\n.", true},
		{"INT big", "I18446744073709551616\n.", "18446744073709551616"},
		{"LONG with L", "L-5L\n.", int64(-5)},
		{"LONG without L", "L7\n.", int64(7)},
		{"LONG empty L", "L12L\n.", int64(12)},
		{"LONG1 of 8 bytes", "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\xff.", int64(-1)},
		{"LONG1 of 9 bytes", "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", "18446744073709551616"},
		{"LONG4 of 2 bytes", "\x8b\x02\x00\x00\x00\x00\x80.", int64(-32768)},
		{"FLOAT", "F2.5\n.", 2.5},
		{"STRING single quotes", "S'a\\nb'\n.", "a\nb"},
		{"STRING double quotes", "S\"a'b\"\n.", "a'b"},
		{"STRING empty", "S''\n.", ""},
		{"STRING octal", "S'\\101\\0612\\7'\n.", "A12\a"},
		{"STRING octal stops at 8", "S'\\18'\n.", "\x018"},
		{"STRING octal 0 follows", "S'\\10'\n.", "\x08"},
		{"STRING octal 7 follows", "S'\\17'\n.", "\x0f"},
		{"STRING octal / follows", "S'\\1/'\n.", "\x01/"},
		{"STRING hex at the end", "S'a\\x41'\n.", "aA"},
		{"UNICODE escape at the end", "V\\u00e9\n.", "é"},
		{"UNICODE long escape at the end", "V\\U0001F600\n.", "😀"},
		{"BINSTRING empty", "T\x00\x00\x00\x00.", ""},
		{"LONG4 empty", "\x8b\x00\x00\x00\x00.", int64(0)},
		{"STRING hex", "S'\\x41\\x4a'\n.", "AJ"},
		{"STRING escapes", "S'\\a\\b\\f\\n\\r\\t\\v\\\\\\'\\\"'\n.", "\a\b\f\n\r\t\v\\'\""},
		{"STRING unknown escape kept", "S'\\q'\n.", "\\q"},
		{"STRING backslash-newline", "S'a\\\nb'\n.", nil}, // the line ends at the first newline: not quoted
		{"UNICODE", "Vx\\u00e9\\U0001F600y\n.", "xé😀y"},
		{"UNICODE latin-1", "V\xe9\n.", "é"},
		{"UNICODE backslash alone", "Va\\b\n.", "a\\b"},
		{"UNICODE backslash at end", "Va\\\n.", "a\\"},
		{"SHORT_BINUNICODE", "\x8c\x02hi.", "hi"},
		{"SHORT_BINSTRING", "U\x02hi.", "hi"},
		{"BINSTRING", "T\x02\x00\x00\x00hi.", "hi"},
		{"BINUNICODE8", "\x8d\x02\x00\x00\x00\x00\x00\x00\x00hi.", "hi"},
		{"SHORT_BINBYTES", "C\x02hi.", pyBytes("hi")},
		{"BINBYTES8", "\x8e\x02\x00\x00\x00\x00\x00\x00\x00hi.", pyBytes("hi")},
		{"READONLY_BUFFER", "C\x02hi\x98.", pyBytes("hi")},
		{"memo text", "K\x05p3\n0g3\n.", int64(5)},
		{"memo long", "K\x05r\x00\x01\x00\x000j\x00\x01\x00\x00.", int64(5)},
		{"memo long, two slots", "K\x05r\x00\x00\x00\x00K\x06r\x01\x00\x00\x000j\x01\x00\x00\x00\x86.", []any{"tuple", int64(5), int64(6)}},
		{"memo short, two slots", "K\x05q\x00K\x06q\x010h\x01\x86.", []any{"tuple", int64(5), int64(6)}},
		{"BINPUT then LONG_BINGET", "K\x05q\x00K\x06q\x010j\x01\x00\x00\x00\x86.", []any{"tuple", int64(5), int64(6)}},
		{"LONG_BINPUT then BINGET", "K\x05r\x00\x00\x00\x00K\x06r\x01\x00\x00\x000h\x01\x86.", []any{"tuple", int64(5), int64(6)}},
		{"memo text, two slots", "K\x05p0\nK\x06p1\n0g1\n\x86.", []any{"tuple", int64(5), int64(6)}},
		{"MEMOIZE", "\x80\x04K\x05\x940h\x00.", int64(5)},
		{"APPENDS", "](K\x01K\x02e.", []any{"list", int64(1), int64(2)}},
		{"LIST", "(K\x01l.", []any{"list", int64(1)}},
		{"DICT", "(K\x01K\x02d.", []any{"dict", int64(1), int64(2)}},
		{"SETITEM", "}K\x01K\x02s.", []any{"dict", int64(1), int64(2)}},
	} {
		v, err := pbLoad(c.p)
		if c.want == nil && c.name != "protocol 5" {
			if err == nil {
				t.Errorf("%s: %#v, want an error", c.name, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got := plain(v)
		if b, ok := v.(*big.Int); ok {
			got = b.String()
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %#v, want %#v", c.name, got, c.want)
		}
	}
}

func TestPickleErrorsAndOffsets(t *testing.T) {
	for _, c := range []struct {
		name, p string
		err     error
		msg     string
	}{
		{"protocol 6", "K\x01\x80\x06.", ErrCorrupt, "pickle byte 2: unsupported pickle protocol 6"},
		{"TUPLE2 of one", "K\x01\x86.", ErrCorrupt, "pickle byte 2: stack underflow"},
		{"TUPLE2 across a mark", "K\x01(K\x02\x86.", ErrCorrupt, "pickle byte 5: stack underflow"},
		{"TUPLE3 of two", "K\x01K\x02\x87.", ErrCorrupt, "stack underflow"},
		{"pop across a mark", "K\x01(K\x020\x85.", ErrCorrupt, "pickle byte 6: stack underflow"},
		{"DUP on empty", "2.", ErrCorrupt, "pickle byte 0: stack underflow"},
		{"POP on empty", "0.", ErrCorrupt, "pickle byte 0: stack underflow"},
		{"STACK_GLOBAL of a str and an int", "\x8c\x01aK\x01\x93.", ErrCorrupt, "STACK_GLOBAL needs two strings, got str and int"},
		{"STACK_GLOBAL of an int and a str", "K\x01\x8c\x01a\x93.", ErrCorrupt, "STACK_GLOBAL needs two strings, got int and str"},
		{"OBJ without a mark", "o.", ErrCorrupt, "pickle byte 0: no MARK on the stack"},
		{"NEWOBJ_EX of two", ")}\x92.", ErrCorrupt, "pickle byte 2: stack underflow"},
		{"BUILD with an empty tuple", "})b.", ErrCorrupt, "BUILD state is a tuple"},
		{"BUILD with a 1-tuple", "}}\x85b.", ErrCorrupt, "BUILD state is a tuple"},
		{"LONG empty", "L\n.", ErrCorrupt, `bad integer ""`},
		{"LONG of an L", "LL\n.", ErrCorrupt, `bad integer ""`},
		{"DUP across a mark", "K\x01(2.", ErrCorrupt, "pickle byte 3: stack underflow"},
		{"no mark", "K\x01t.", ErrCorrupt, "pickle byte 2: no MARK on the stack"},
		{"LONG4 negative", "\x8b\xff\xff\xff\xff.", ErrCorrupt, "LONG4 with negative byte count"},
		{"BINSTRING negative", "T\x00\x00\x00\x80.", ErrCorrupt, "negative string length"},
		{"BINUNICODE over the rest", "X\x05\x00\x00\x00abcd", errPickleEOF, ""},
		{"BINUNICODE of the rest", "X\x02\x00\x00\x00ab", errPickleEOF, ""},
		{"BINUNICODE8 2^63", "\x8d\x00\x00\x00\x00\x00\x00\x00\x80.", errPickleEOF, ""},
		{"STRING one quote", "S'\n.", ErrCorrupt, "STRING argument is not quoted"},
		{"STRING mixed quotes", "S'a\"\n.", ErrCorrupt, "STRING argument is not quoted"},
		{"STRING unquoted", "Sab\n.", ErrCorrupt, "not quoted"},
		{"STRING trailing backslash", "S'a\\'\n.", ErrCorrupt, "trailing backslash"},
		{"STRING short hex", "S'\\x4'\n.", ErrCorrupt, "short \\x escape"},
		{"STRING bad hex", "S'\\xzz'\n.", ErrCorrupt, "bad STRING argument"},
		{"STRING not UTF-8", "S'\\xff'\n.", ErrCorrupt, "not valid UTF-8"},
		{"UNICODE short", "V\\u00e\n.", ErrCorrupt, "short \\u escape"},
		{"UNICODE short U", "V\\U0001F60\n.", ErrCorrupt, "short \\u escape"},
		{"UNICODE bad hex", "V\\u00zz\n.", ErrCorrupt, "bad UNICODE argument"},
		{"UNICODE surrogate", "V\\ud800\n.", ErrCorrupt, "invalid code point U+D800"},
		{"UNICODE past max", "V\\U00110000\n.", ErrCorrupt, "invalid code point U+110000"},
		{"bad memo index", "K\x01pxx\n.", ErrCorrupt, `bad PUT index "xx"`},
		{"bad get index", "g-1\n.", ErrCorrupt, `bad GET index "-1"`},
		{"GET unset", "K\x01q\x01h\x02.", ErrCorrupt, "pickle byte 4: memo key 2 was never stored"},
		{"bad integer", "Ix\n.", ErrCorrupt, `bad integer "x"`},
		{"bad LONG", "L1x\n.", ErrCorrupt, `bad integer "1x"`},
		{"READONLY_BUFFER on a str", "\x8c\x01a\x98.", ErrCorrupt, "READONLY_BUFFER on a str"},
		{"odd DICT", "(K\x01d.", ErrCorrupt, "odd number of items"},
		{"unhashable key", "}]K\x01s.", ErrCorrupt, "pickle byte 4: pytorch: corrupt checkpoint: unhashable dict key of type list"},
		{"BUILD state a list", "}]b.", ErrCorrupt, "BUILD state is a list"},
		{"BUILD slot state a list", "}}]\x86b.", ErrCorrupt, "BUILD slot state is a list"},
		{"forbidden global", "K\x01cos\nsystem\n.", nil, "os.system"},
	} {
		_, err := pbLoad(c.p)
		if c.err == nil {
			var fg *ForbiddenGlobalError
			if !errors.As(err, &fg) || fg.Offset != 2 || fg.Module != "os" || fg.Name != "system" {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v; want %v with %q", c.name, err, c.err, c.msg)
		}
	}
	// BUILD with a (dict, None) and a (dict, dict) state is accepted.
	for _, p := range []string{"}}N\x86b.", "}}}\x86b.", "}Nb.", "}}b."} {
		if _, err := pbLoad(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
}

// TestPickleSizeLimitExactly: a pickle capped at its own length loads; one
// byte less is ErrTooLarge, saying the limit.
func TestPickleSizeLimitExactly(t *testing.T) {
	p := "\x80\x02" + pbBinunicode("hello") + "."
	u := newUnpickler(strings.NewReader(p), int64(len(p)), int64(len(p)))
	if v, err := u.load(); err != nil || v != "hello" {
		t.Fatalf("at the limit: %#v, %v", v, err)
	}
	u = newUnpickler(strings.NewReader(p), int64(len(p)), int64(len(p)-1))
	if _, err := u.load(); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the 12-byte limit") {
		t.Fatalf("one byte under: %v", err)
	}
	// A string running past the cap: the message gives the cap, not what
	// is left of it.
	u = newUnpickler(strings.NewReader(p), int64(len(p)), 9)
	if _, err := u.load(); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the 9-byte limit") {
		t.Fatalf("a string past the cap: %v", err)
	}
	// Without a cap, a pickle cut short is errPickleEOF, not ErrTooLarge.
	u = newUnpickler(strings.NewReader(p[:len(p)-1]), int64(len(p)-1), 0)
	if _, err := u.load(); !errors.Is(err, errPickleEOF) || errors.Is(err, ErrTooLarge) {
		t.Fatalf("cut short: %v", err)
	}
	// Cut short, with a cap of exactly what there is: still errPickleEOF,
	// since the cap did not cut anything.
	u = newUnpickler(strings.NewReader(p[:len(p)-1]), int64(len(p)-1), int64(len(p)-1))
	if _, err := u.load(); !errors.Is(err, errPickleEOF) || errors.Is(err, ErrTooLarge) {
		t.Fatalf("cut short, capped at its size: %v", err)
	}
	// avail below the cap: the cap does not apply.
	u = newUnpickler(strings.NewReader(p), int64(len(p)), int64(len(p)+1))
	if v, err := u.load(); err != nil || v != "hello" {
		t.Fatalf("under the limit: %#v, %v", v, err)
	}
}

// TestPickleMadeBytesLimit: bytes built by _codecs.encode may total the
// pickle's own size, not one byte more. A 60-character string, stored in
// the memo, encoded twice, makes 120 bytes from a 120-byte pickle.
func TestPickleMadeBytesLimit(t *testing.T) {
	build := func(n int) string {
		return "\x80\x02c_codecs\nencode\nq\x01" + pbBinunicode(strings.Repeat("a", n)) + "q\x00" + pbBinunicode("latin1") + "q\x02" +
			strings.Repeat("h\x01h\x00h\x02\x86R0", 2) + "N."
	}
	p := build(60)
	if len(p) != 120 {
		t.Fatalf("the pickle has %d bytes, want 120", len(p))
	}
	if _, err := pbLoad(p); err != nil {
		t.Errorf("120 bytes built from 120: %v", err)
	}
	p = build(61)
	if _, err := pbLoad(p); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the pickle builds more bytes than it holds") {
		t.Errorf("122 bytes built from 121: %v", err)
	}
}

// TestPickleShortDescriptions: values named in error messages are
// described briefly, at most two tuples deep and four elements wide.
func TestPickleShortDescriptions(t *testing.T) {
	long := strings.Repeat("é", 40) // 80 bytes
	for _, c := range []struct{ arg, want string }{
		{"N", "None"},
		{"\x88", "True"},
		{"\x89", "False"},
		{"J\xfb\xff\xff\xff", "-5"},
		{"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01", "a 65-bit int"},
		{"G\x40\x04\x00\x00\x00\x00\x00\x00", "2.5"},
		{pbBinunicode("utf8"), `"utf8"`},
		{pbBinunicode(strings.Repeat("a", 64)), `"` + strings.Repeat("a", 64) + `"`},
		{pbBinunicode(strings.Repeat("a", 65)), `"` + strings.Repeat("a", 64) + `"...`},
		{pbBinunicode(long), strconv.Quote(long[:64]) + "..."},
		{")", "()"},
		{"K\x01K\x02\x86", "(1, 2)"},
		{"(K\x01K\x02K\x03K\x04t", "(1, 2, 3, 4)"},
		{"(K\x01K\x02K\x03K\x04K\x05t", "(1, 2, 3, 4, ...)"},
		{"K\x01\x85\x85", "((1))"},
		{"K\x01\x85\x85\x85", "((a 1-tuple))"},
		{"K\x01K\x02\x86\x85\x85", "((a 2-tuple))"},
		{"]", "list"},
		{"}", "dict"},
		{pbBinbytes("x"), "bytes"},
	} {
		p := "\x80\x02c_codecs\nencode\n" + pbBinunicode("x") + c.arg + "\x86R."
		_, err := pbLoad(p)
		want := "_codecs.encode(str, " + c.want + "): only latin1 is supported"
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", c.arg, err, want)
		}
	}
}
