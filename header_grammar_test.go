package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
)

// These tests pin how the header parser judges every position of the
// header's grammar and every limit: the sentinel, the tensor named, and the
// byte offset that FormatError promises (the header starts at byte 8 of the
// file, so an offset is 8 plus the index in the header text).

// hgFile returns a file whose header is hdr (as given) followed by data zero
// bytes.
func hgFile(hdr string, data int) []byte {
	b := make([]byte, 8, 8+len(hdr)+data)
	binary.LittleEndian.PutUint64(b, uint64(len(hdr)))
	b = append(b, hdr...)
	return append(b, make([]byte, data)...)
}

// hgEntry is the header of one zero-sized U8 tensor "t" with an extra
// member (when extra is not empty) appended to its entry.
func hgEntry(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0]` + extra + `}}`
}

// hgCheck asserts that err is a *FormatError wrapping sentinel with the
// given offset (-2: do not check the offset), and that its message holds msg.
func hgCheck(t *testing.T, err, sentinel error, offset int64, msg string) *FormatError {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %v, want %v", err, sentinel)
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is no *FormatError", err, err)
	}
	if offset != -2 && fe.Offset != offset {
		t.Errorf("Offset = %d, want %d (%v)", fe.Offset, offset, err)
	}
	if !strings.Contains(fe.Msg, msg) {
		t.Errorf("message %q does not hold %q", fe.Msg, msg)
	}
	return fe
}

// at is the file offset of the first occurrence of marker in hdr, plus delta.
func at(hdr, marker string, delta int) int64 {
	i := strings.Index(hdr, marker)
	if i < 0 {
		panic("marker " + marker + " not in " + hdr)
	}
	return int64(8 + i + delta)
}

func TestHeaderPrefixLimits(t *testing.T) {
	// Fewer than 8 bytes: too small, at no offset.
	for n := range 8 {
		_, err := Load(make([]byte, n))
		hgCheck(t, err, ErrHeaderTooSmall, -1, "fewer than the 8")
	}
	// Exactly 8 bytes with a zero length: the prefix is fine, the empty
	// header is not JSON (expected '{' at byte 8).
	_, err := Load(make([]byte, 8))
	hgCheck(t, err, ErrInvalidHeader, 8, "the end of the header")

	hdr := hgEntry("")
	// A header of exactly the limit is accepted; one byte over is refused
	// at offset 0 with both numbers in the message.
	if _, err := (Options{MaxHeaderSize: int64(len(hdr))}).Load(hgFile(hdr, 0)); err != nil {
		t.Fatalf("header of exactly MaxHeaderSize: %v", err)
	}
	_, err = (Options{MaxHeaderSize: int64(len(hdr) - 1)}).Load(hgFile(hdr, 0))
	hgCheck(t, err, ErrHeaderTooLarge, 0, fmt.Sprintf("header length %d is over the limit of %d", len(hdr), len(hdr)-1))

	// A header length of exactly the file's remaining bytes is accepted;
	// one more runs past the end.
	f := hgFile(hdr, 0)
	binary.LittleEndian.PutUint64(f, uint64(len(hdr)+1))
	_, err = Load(append(f, ' ')) // now the header is hdr+" ", which is valid
	if err != nil {
		t.Fatalf("header length equal to the rest of the file: %v", err)
	}
	_, err = Load(f)
	hgCheck(t, err, ErrInvalidHeaderLength, 0, fmt.Sprintf("header length %d runs past the end of the %d-byte file", len(hdr)+1, len(f)))

	// Lengths just under 1 TiB are printed; from 1 TiB on, the prefix is
	// said to be no length at all.
	for _, c := range []struct {
		n        uint64
		max      int64
		sentinel error
		msg      string
	}{
		{1<<40 - 1, 0, ErrHeaderTooLarge, "header length 1099511627775 is over the limit of 100000000 bytes"},
		{1 << 40, 0, ErrHeaderTooLarge, "no plausible header length"},
		{1<<40 - 1, -1, ErrInvalidHeaderLength, "header length 1099511627775 runs past the end"},
		{1 << 40, -1, ErrInvalidHeaderLength, "no plausible header length"},
	} {
		b := make([]byte, 64)
		binary.LittleEndian.PutUint64(b, c.n)
		_, err := (Options{MaxHeaderSize: c.max}).Load(b)
		hgCheck(t, err, c.sentinel, 0, c.msg)
	}
}

func TestHeaderInvalidUTF8Offset(t *testing.T) {
	// The offset is that of the first invalid byte, counted in bytes past
	// valid multi-byte characters.
	hdr := `{"é€😀` + "\xff" + `":{}}`
	_, err := Load(hgFile(hdr, 0))
	hgCheck(t, err, ErrInvalidHeader, at(hdr, "\xff", 0), "not valid UTF-8")
}

// TestHeaderGrammar walks the grammar: each case is a header, the
// sentinel (nil: valid), the offset (by a marker in the header) and a part
// of the message.
func TestHeaderGrammar(t *testing.T) {
	type tc struct {
		name     string
		hdr      string
		sentinel error
		marker   string // offset: 8 + index of marker + delta; "" with sentinel: end of header
		delta    int
		msg      string
	}
	end := "\x00end"
	cases := []tc{
		// Space of every kind, everywhere.
		{"spaces", " \t\r\n{ \t\r\n\"t\" \t\r\n: \t\r\n{ \"dtype\" : \"U8\" , \"shape\" : [ 0 ] , \"data_offsets\" : [ 0 , 0 ] } \t\r\n} \t\r\n", nil, "", 0, ""},
		{"trailing text", hgEntry("") + " x", ErrInvalidHeader, " x", 1, "unexpected 'x' after the header object"},
		{"trailing object", hgEntry("") + "{}", ErrInvalidHeader, "}}{", 2, "unexpected an object after"},
		{"not an object", `[]`, ErrInvalidHeader, "[", 0, `expected '{', found an array`},
		{"empty object", `{}`, nil, "", 0, ""},
		{"key not a string", `{1:{}}`, ErrInvalidHeader, "1", 0, "expected a string, found a number"},
		{"no colon", `{"t" 1}`, ErrInvalidHeader, "1", 0, "expected ':' after an object key, found a number"},
		{"no comma", `{"t":{"dtype":"U8" "shape":[0]}}`, ErrInvalidHeader, `"shape`, 0, `expected ',' or '}', found a string`},
		{"end after key", `{"t"`, ErrInvalidHeader, end, 0, "found the end of the header"},
		{"end after colon", `{"t":`, ErrInvalidHeader, end, 0, "must be an object, not the end of the header"},
		{"end after member", hgEntry("")[:len(hgEntry(""))-1], ErrInvalidHeader, end, 0, `expected ',' or '}', found the end`},
		{"end after comma", `{"t":{"dtype":"U8",`, ErrInvalidHeader, end, 0, "expected a string, found the end"},
		// Duplicates, at the second key.
		{"duplicate tensor", `{"t":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"t":{}}`, ErrInvalidHeader, `"t":{}`, 0, `duplicate tensor name "t"`},
		{"duplicate metadata", `{"__metadata__":null,"__metadata__":null}`, ErrInvalidHeader, `"__metadata__":null}`, 0, `duplicate key "__metadata__"`},
		{"duplicate metadata key", `{"__metadata__":{"k":"a","k":"b"}}`, ErrInvalidHeader, `"k":"b"`, 0, `duplicate __metadata__ key "k"`},
		{"duplicate dtype", `{"t":{"dtype":"U8","dtype":"U8"}}`, ErrInvalidHeader, `"dtype":"U8"}`, 0, `duplicate field "dtype" in the entry of tensor "t"`},
		{"duplicate shape", `{"t":{"shape":[0],"shape":[0]}}`, ErrInvalidHeader, `"shape":[0]}`, 0, `duplicate field "shape"`},
		{"duplicate offsets", `{"t":{"data_offsets":[0,0],"data_offsets":[0,0]}}`, ErrInvalidHeader, `"data_offsets":[0,0]}`, 0, `duplicate field "data_offsets"`},
		{"duplicate unknown field", hgEntry(`"x":1,"x":1`), ErrInvalidHeader, `"x":1}`, 0, `duplicate field "x" in the entry of tensor "t"`},
		{"two unknown fields", hgEntry(`"x":1,"y":1`), nil, "", 0, ""},
		{"duplicate key in unknown object", hgEntry(`"x":{"a":1,"b":2,"a":3}`), ErrInvalidHeader, `"a":3`, 0, `duplicate key "a"`},
		// Metadata.
		{"metadata null", `{"__metadata__":null}`, nil, "", 0, ""},
		{"metadata string", `{"__metadata__":"x"}`, ErrInvalidHeader, `"x"`, 0, "must be an object of strings or null, not a string"},
		{"metadata number value", `{"__metadata__":{"k":1}}`, ErrInvalidHeader, `1}`, 0, `__metadata__ value of "k" must be a string, not a number`},
		{"metadata unterminated", `{"__metadata__":{"k":"v`, ErrInvalidHeader, end, 0, "unterminated string"},
		// Entries.
		{"entry not object", `{"t":[]}`, ErrInvalidHeader, "[", 0, `entry of tensor "t" must be an object, not an array`},
		{"no dtype", `{"t":{"shape":[0],"data_offsets":[0,0]}}`, ErrInvalidHeader, `{"shape`, 0, `entry of tensor "t" has no "dtype" field`},
		{"no shape", `{"t":{"dtype":"U8","data_offsets":[0,0]}}`, ErrInvalidHeader, `{"dtype`, 0, `has no "shape" field`},
		{"no offsets", `{"t":{"dtype":"U8","shape":[0]}}`, ErrInvalidHeader, `{"dtype`, 0, `has no "data_offsets" field`},
		{"dtype number", `{"t":{"dtype":7}}`, ErrInvalidHeader, "7", 0, "dtype must be a string, not a number"},
		{"dtype unknown", `{"t":{"dtype":"U9"}}`, ErrInvalidHeader, `"U9"`, 0, `unknown dtype "U9" of tensor "t"`},
		{"dtype unterminated", `{"t":{"dtype":"U8`, ErrInvalidHeader, end, 0, "unterminated string"},
		{"shape not array", `{"t":{"shape":0}}`, ErrInvalidHeader, "0", 0, `shape of tensor "t" must be an array, not a number`},
		{"shape element", `{"t":{"shape":[1,"2"]}}`, ErrInvalidHeader, `"2"`, 0, "shape must hold non-negative integers, found a string"},
		{"shape no comma", `{"t":{"shape":[1 2]}}`, ErrInvalidHeader, "2]", 0, `expected ',' or ']', found a number`},
		{"shape ends", `{"t":{"shape":[1`, ErrInvalidHeader, end, 0, `expected ',' or ']', found the end of the header`},
		{"shape ends after comma", `{"t":{"shape":[1,`, ErrInvalidHeader, end, 0, "shape must hold non-negative integers, found the end"},
		{"offsets not array", `{"t":{"data_offsets":{}}}`, ErrInvalidHeader, "{}", 0, `data_offsets of tensor "t" must be an array, not an object`},
		{"offsets empty", `{"t":{"data_offsets":[ ]}}`, ErrInvalidHeader, "]", 0, "must have 2 elements, not 0"},
		{"offsets one", `{"t":{"data_offsets":[0]}}`, ErrInvalidHeader, "]", 0, `expected ',' in data_offsets of tensor "t", found ']'`},
		{"offsets one comma", `{"t":{"data_offsets":[0, ]}}`, ErrInvalidHeader, "]", 0, "must have 2 elements, not 1"},
		{"offsets three", `{"t":{"data_offsets":[0,0,0]}}`, ErrInvalidHeader, ",0]", 0, "must have exactly 2 elements"},
		{"offsets no comma", `{"t":{"data_offsets":[0 0]}}`, ErrInvalidHeader, " 0]", 1, "expected ',' in data_offsets"},
		{"offsets end", `{"t":{"data_offsets":[0,0`, ErrInvalidHeader, end, 0, "must have exactly 2 elements"},
		{"offsets string", `{"t":{"data_offsets":[0,"0"]}}`, ErrInvalidHeader, `"0"`, 0, "data_offsets must hold non-negative integers, found a string"},
		// Numbers in shape and data_offsets: digits only, within 64 bits.
		{"negative", `{"t":{"shape":[-1]}}`, ErrInvalidHeader, "-1", 0, "shape must hold non-negative integers, found a negative number"},
		{"leading zero", `{"t":{"shape":[01]}}`, ErrInvalidHeader, "01", 0, "number with a leading zero in shape"},
		{"fraction", `{"t":{"shape":[1.0]}}`, ErrInvalidHeader, "1.0", 0, "shape must hold integers, found a number with a fraction or exponent"},
		{"exponent", `{"t":{"data_offsets":[1e3,0]}}`, ErrInvalidHeader, "1e3", 0, "data_offsets must hold integers"},
		{"Exponent", `{"t":{"data_offsets":[1E3,0]}}`, ErrInvalidHeader, "1E3", 0, "data_offsets must hold integers"},
		{"2^64", `{"t":{"data_offsets":[0,18446744073709551616]}}`, ErrInvalidHeader, "18446", 0, "number in data_offsets does not fit in 64 bits"},
		{"10*2^64/10", `{"t":{"shape":[18446744073709551620]}}`, ErrInvalidHeader, "18446", 0, "number in shape does not fit in 64 bits"},
		{"2^64-1", `{"t":{"dtype":"U8","shape":[0],"data_offsets":[0,18446744073709551615]}}`, ErrInvalidTensorInfo, "", 0, "data_offsets [0, 18446744073709551615] hold 18446744073709551615 bytes, but U8[0] needs 0"},
		{"digits 0 and 9", `{"t":{"dtype":"U8","shape":[90,0,9],"data_offsets":[0,1]}}`, ErrInvalidTensorInfo, "", 0, "U8[90 0 9] needs 0"},
		{"digit then slash", `{"t":{"shape":[9/]}}`, ErrInvalidHeader, "/", 0, `expected ',' or ']', found '/'`},
		{"digit then colon", `{"t":{"shape":[0:]}}`, ErrInvalidHeader, "0:]", 1, `expected ',' or ']', found ':'`},
		// What describe calls each kind of value.
		{"describe null", `{"t":null}`, ErrInvalidHeader, "null", 0, "must be an object, not null"},
		{"describe true", `{"t":true}`, ErrInvalidHeader, "true", 0, "must be an object, not a boolean"},
		{"describe false", `{"t":false}`, ErrInvalidHeader, "false", 0, "must be an object, not a boolean"},
		{"describe minus", `{"t":-}`, ErrInvalidHeader, "-", 0, "must be an object, not a number"},
		{"describe zero", `{"t":0}`, ErrInvalidHeader, "0", 0, "must be an object, not a number"},
		{"describe nine", `{"t":9}`, ErrInvalidHeader, "9", 0, "must be an object, not a number"},
		{"describe slash", `{"t":/}`, ErrInvalidHeader, "/", 0, `must be an object, not '/'`},
		{"describe colon", `{"t"::}`, ErrInvalidHeader, "::", 1, `must be an object, not ':'`},
		{"describe rune", `{"t":é}`, ErrInvalidHeader, "é", 0, `must be an object, not 'é'`},
		{"describe nul", `{"t":nul}`, ErrInvalidHeader, "nul", 0, `must be an object, not 'n'`},
		// Strings.
		{"control char", "{\"t\x1f\":{}}", ErrInvalidHeader, "\x1f", 0, "control character 0x1f inside a string"},
		{"control char after escape", "{\"t\\n\x01\":{}}", ErrInvalidHeader, "\x01", 0, "control character 0x01 inside a string"},
		{"space is no control char", hgEntry(`"x y":1`), nil, "", 0, ""},
		{"unterminated key", `{"t`, ErrInvalidHeader, end, 0, "unterminated string"},
		{"unterminated escaped key", `{"t\n`, ErrInvalidHeader, end, 0, "unterminated string"},
		{"ends in escape", `{"t\`, ErrInvalidHeader, end, 0, "unterminated string"},
		{"ends after escape", `{"t\n\`, ErrInvalidHeader, end, 0, "unterminated string"},
		{"bad escape", `{"t\x":{}}`, ErrInvalidHeader, `\x`, 0, `invalid escape "\\x"`},
		{"short \\u", `{"t\u12`, ErrInvalidHeader, `\u`, 0, `invalid \u escape`},
		{"\\u at the end", `{"t\u1234`, ErrInvalidHeader, end, 0, "unterminated string"},
		{"\\u digit g", `{"t\u00g0":{}}`, ErrInvalidHeader, `\u`, 0, `invalid \u escape`},
		{"\\u digit G", `{"t\u00G0":{}}`, ErrInvalidHeader, `\u`, 0, `invalid \u escape`},
		{"\\u digit @", `{"t\u00@0":{}}`, ErrInvalidHeader, `\u`, 0, `invalid \u escape`},
		{"\\u digit backquote", "{\"t\\u00`0\":{}}", ErrInvalidHeader, `\u`, 0, `invalid \u escape`},
		{"\\u digit colon", `{"t\u00:0":{}}`, ErrInvalidHeader, `\u`, 0, `invalid \u escape`},
		{"\\u digit slash", `{"t\u00/0":{}}`, ErrInvalidHeader, `\u`, 0, `invalid \u escape`},
		{"lone high surrogate", `{"\ud83d":{}}`, ErrInvalidHeader, `\ud83d`, 0, `lone surrogate in a \u escape`},
		{"high then text", `{"\ud83dxxxxxx":{}}`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		{"high then other escape", `{"\ud83d\n0000":{}}`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		{"high then high", `{"\ud83d\ud83d":{}}`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		{"lone low surrogate", `{"\udc00\udc00":{}}`, ErrInvalidHeader, `\udc00`, 0, "lone surrogate"},
		{"high then bad hex", `{"\ud83d\udzzz":{}}`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		{"pair at the end", `{"\ud83d\ude00`, ErrInvalidHeader, end, 0, "unterminated string"},
		{"high at the end", `{"\ud83d`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		{"high then backslash at the end", `{"\ud83d\`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		{"high then \\u at the end", `{"\ud83d\u`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		{"high then short low", `{"\ud83d\ude0":{}}`, ErrInvalidHeader, `\ud83d`, 0, "lone surrogate"},
		// Nesting, in a field the parser skips: the entry is at depth 2.
		{"depth 127", hgEntry(`"x":` + strings.Repeat("[", 125) + strings.Repeat("]", 125)), nil, "", 0, ""},
		{"depth 128", hgEntry(`"x":` + strings.Repeat("[", 126) + strings.Repeat("]", 126)), ErrInvalidHeader, strings.Repeat("[", 126), 125, "nesting deeper than 127 levels"},
		{"depth 128 object", hgEntry(`"x":` + strings.Repeat("[", 125) + "{}" + strings.Repeat("]", 125)), ErrInvalidHeader, "{}", 0, "nesting deeper than 127 levels"},
		{"siblings do not nest", hgEntry(`"x":[` + strings.Repeat("[],", 200) + `{},[1,[2]]]`), nil, "", 0, ""},
		// Values of unknown fields: every JSON value is checked and skipped.
		{"skip values", hgEntry(`"x":["s\"\\\/\b\f\n\r\t\u00e9\u00E9",{"a":[1,{}],"b":{}},[],-0,0.5,-12.5e+3,1E-3,7e9,true,false,null]`), nil, "", 0, ""},
		{"skip bad value", hgEntry(`"x":[1,x]`), ErrInvalidHeader, "x]", 0, "expected a value, found 'x'"},
		{"skip unterminated", hgEntry(`"x":"a`)[:len(hgEntry(`"x":"a`))-2], ErrInvalidHeader, end, 0, "unterminated string"},
		{"skip array end", `{"t":{"x":[1`, ErrInvalidHeader, end, 0, `expected ',' or ']', found the end`},
		{"skip array comma", `{"t":{"x":[1 2]}}`, ErrInvalidHeader, "2]", 0, `expected ',' or ']'`},
		{"skip object bad", `{"t":{"x":{"a" 1}}}`, ErrInvalidHeader, "1}", 0, "expected ':'"},
		{"skip object value", `{"t":{"x":{"a":x}}}`, ErrInvalidHeader, "x}", 0, "expected a value"},
		{"skip array value", `{"t":{"x":[[x]]}}`, ErrInvalidHeader, "x]", 0, "expected a value"},
		{"number minus only", hgEntry(`"x":-`), ErrInvalidHeader, "-}", 0, "invalid number"},
		{"number minus letter", hgEntry(`"x":-a`), ErrInvalidHeader, "-a", 0, "invalid number"},
		{"number leading zero", hgEntry(`"x":00`), ErrInvalidHeader, "00", 0, "number with a leading zero"},
		{"number negative leading zero", hgEntry(`"x":-01`), ErrInvalidHeader, "-01", 0, "number with a leading zero"},
		{"number zero then digits", hgEntry(`"x":[10,100]`), nil, "", 0, ""},
		{"number dot", hgEntry(`"x":1.`), ErrInvalidHeader, "1.", 0, "no digits after '.'"},
		{"number dot e", hgEntry(`"x":1.e5`), ErrInvalidHeader, "1.e5", 0, "no digits after '.'"},
		{"number exponent", hgEntry(`"x":1e`), ErrInvalidHeader, "1e", 0, "no digits in the exponent"},
		{"number Exponent sign", hgEntry(`"x":1E+`), ErrInvalidHeader, "1E+", 0, "no digits in the exponent"},
		{"number exponent minus", hgEntry(`"x":1e-`), ErrInvalidHeader, "1e-", 0, "no digits in the exponent"},
		{"number exponent both signs", hgEntry(`"x":1e+-1`), ErrInvalidHeader, "1e+-1", 0, "no digits in the exponent"},
		{"number then slash", hgEntry(`"x":9/`), ErrInvalidHeader, "/", 0, "expected ',' or '}', found '/'"},
		{"number then colon", hgEntry(`"x":10:`), ErrInvalidHeader, "0:", 1, "expected ',' or '}', found ':'"},
		{"fraction then colon", hgEntry(`"x":1.0:`), ErrInvalidHeader, "0:", 1, "expected ',' or '}', found ':'"},
		{"exponent then slash", hgEntry(`"x":1e9/`), ErrInvalidHeader, "/", 0, "expected ',' or '}', found '/'"},
		{"number at the end", `{"t":{"x":-10.5e-09`, ErrInvalidHeader, end, 0, "expected ',' or '}', found the end"},
		{"number then letter", hgEntry(`"x":1a`), ErrInvalidHeader, "a}", 0, "expected ',' or '}', found 'a'"},
		{"true prefix", hgEntry(`"x":tru`), ErrInvalidHeader, "tru", 0, "expected a value, found 't'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Load(hgFile(c.hdr, 0))
			if c.sentinel == nil {
				if err != nil {
					t.Fatalf("%q: %v", c.hdr, err)
				}
				f.Close()
				return
			}
			var off int64 = -1
			switch {
			case c.marker == end:
				off = int64(8 + len(c.hdr))
			case c.marker != "":
				off = at(c.hdr, c.marker, c.delta)
			}
			hgCheck(t, err, c.sentinel, off, c.msg)
		})
	}
}

// TestHeaderDecodedNames checks what each escape decodes to.
func TestHeaderDecodedNames(t *testing.T) {
	for _, c := range []struct{ json, name string }{
		{`"a\"b"`, `a"b`},
		{`"\\"`, `\`},
		{`"\/"`, `/`},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t"},
		{`"x\u0041\u004a\u004A\u0061\u007a\u00e9"`, "xAJJazé"},
		{`"\u0030\u0039\u00AF\u00af"`, "09\u00af\u00af"},
		{`"\ud83d\ude00"`, "😀"},
		{`"\udbff\udfff"`, "\U0010ffff"},
		{`"\ud800\udc00"`, "\U00010000"},
		{`"\uffff\u0000"`, "\uffff\x00"},
		{`"pre\tpost"`, "pre\tpost"},
	} {
		hdr := `{` + c.json + `:{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`
		f, err := Load(hgFile(hdr, 0))
		if err != nil {
			t.Errorf("%s: %v", c.json, err)
			continue
		}
		if keys := f.Keys(); len(keys) != 1 || keys[0] != c.name {
			t.Errorf("%s: names %q, want %q", c.json, keys, c.name)
		}
		f.Close()
	}
	// Metadata keys and values decode alike.
	hdr := `{"__metadata__":{"k\u00e9":"v\n","plain":"x"}}`
	f, err := Load(hgFile(hdr, 0))
	if err != nil {
		t.Fatal(err)
	}
	if m := f.Metadata(); len(m) != 2 || m["ké"] != "v\n" || m["plain"] != "x" {
		t.Errorf("metadata %q", m)
	}
	// null metadata is no metadata.
	f, err = Load(hgFile(`{"__metadata__":null}`, 0))
	if err != nil {
		t.Fatal(err)
	}
	if m := f.Metadata(); m != nil {
		t.Errorf("null metadata read as %q", m)
	}
}

// TestHeaderManyUnknownKeys checks duplicate detection in a skipped object
// past the number of keys at which the parser switches to a set.
func TestHeaderManyUnknownKeys(t *testing.T) {
	for n := 14; n <= 20; n++ {
		var keys []string
		for i := range n {
			keys = append(keys, fmt.Sprintf(`"k%d":%d`, i, i))
		}
		ok := hgEntry(`"x":{` + strings.Join(keys, ",") + `}`)
		if f, err := Load(hgFile(ok, 0)); err != nil {
			t.Errorf("%d distinct keys: %v", n, err)
		} else {
			f.Close()
		}
		for _, dup := range []int{0, n - 1} {
			k := fmt.Sprintf(`"k%d":"dup"`, dup)
			hdr := hgEntry(`"x":{` + strings.Join(keys, ",") + "," + k + `}`)
			_, err := Load(hgFile(hdr, 0))
			hgCheck(t, err, ErrInvalidHeader, at(hdr, k, 0), fmt.Sprintf(`duplicate key "k%d"`, dup))
		}
	}
}

// hgTensors builds a header from entries "name:dtype:shape:begin:end"
// (shape as JSON), in the order given.
func hgTensors(entries ...string) string {
	var parts []string
	for _, e := range entries {
		f := strings.Split(e, ":")
		parts = append(parts, fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":[%s,%s]}`, f[0], f[1], f[2], f[3], f[4]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestHeaderOffsetsRules(t *testing.T) {
	cases := []struct {
		name     string
		hdr      string
		data     int
		sentinel error
		tensor   string
		msg      string
	}{
		{"buffer order differs from JSON order", hgTensors("c:U8:[2]:3:5", "b:U8:[0]:3:3", "a:U8:[3]:0:3", "z:U8:[0]:0:0", "y:U8:[0]:0:0"), 5, nil, "", ""},
		{"hole", hgTensors("a:U8:[2]:0:2", "b:U8:[2]:3:5"), 5, ErrInvalidOffset, "b", "data_offsets [3, 5] leave a hole after the previous tensor, which ends at 2"},
		{"hole at start", hgTensors("a:U8:[2]:1:3"), 3, ErrInvalidOffset, "a", "data_offsets [1, 3] leave a hole after the previous tensor, which ends at 0"},
		{"overlap", hgTensors("a:U8:[2]:0:2", "b:U8:[2]:1:3"), 3, ErrInvalidOffset, "b", "data_offsets [1, 3] overlap the previous tensor, which ends at 2"},
		{"end before begin", hgTensors("a:U8:[2]:0:2", "b:U8:[2]:2:1"), 2, ErrInvalidOffset, "b", "data_offsets [2, 1] end before they begin"},
		{"empty tensor last", hgTensors("a:U8:[2]:0:2", "b:U8:[0]:2:2"), 2, nil, "", ""},
		{"size mismatch", hgTensors("a:F32:[2]:0:4"), 4, ErrInvalidTensorInfo, "a", "data_offsets [0, 4] hold 4 bytes, but F32[2] needs 8"},
		{"size too small by one", hgTensors("a:F32:[2]:0:9"), 9, ErrInvalidTensorInfo, "a", "hold 9 bytes, but F32[2] needs 8"},
		{"size mismatch after another", hgTensors("a:U8:[2]:0:2", "b:F32:[2]:2:6"), 6, ErrInvalidTensorInfo, "b", "data_offsets [2, 6] hold 4 bytes, but F32[2] needs 8"},
		{"dimension over int", hgTensors("a:U8:[9223372036854775808]:0:0"), 0, ErrOverflow, "a", "a dimension of the shape does not fit in an int"},
		{"dimension of MaxInt64", hgTensors("a:U8:[9223372036854775807]:0:8"), 8, ErrOverflow, "a", "bit size of U8[9223372036854775807] overflows"},
		{"element count overflow", hgTensors("a:U8:[4294967296,4294967296]:0:0"), 0, ErrOverflow, "a", "element count of shape [4294967296 4294967296] overflows"},
		{"bit size overflow", hgTensors("a:F64:[4611686018427387904]:0:0"), 0, ErrOverflow, "a", "bit size of F64[4611686018427387904] overflows"},
		{"misaligned", hgTensors("a:F4:[3]:0:2"), 2, ErrMisalignedSlice, "a", "3 elements of F4 fill 12 bits, not whole bytes"},
		{"trailing bytes", hgTensors("a:U8:[2]:0:2"), 5, ErrIncompleteBuffer, "", "the tensors end 2 bytes into the data buffer, but the file has 3 more bytes after them"},
		{"truncated", hgTensors("a:U8:[4]:0:4"), 3, ErrIncompleteBuffer, "", "the tensors end 4 bytes into the data buffer, past the end of the file (3 bytes of data)"},
		{"no tensors, data", `{}`, 1, ErrIncompleteBuffer, "", "but the file has 1 more bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Load(hgFile(c.hdr, c.data))
			if c.sentinel == nil {
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				// The tensors keep the JSON order; each has its offsets.
				infos := f.Infos()
				for _, e := range strings.Split(strings.Trim(c.hdr, "{}"), "},") {
					name := e[1 : strings.Index(e[1:], `"`)+1]
					ti, err := f.Info(name)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(e, fmt.Sprintf("[%d,%d]", ti.DataOffsets[0], ti.DataOffsets[1])) {
						t.Errorf("%s: offsets %v, entry %s", name, ti.DataOffsets, e)
					}
				}
				if len(infos) != strings.Count(c.hdr, "dtype") {
					t.Errorf("%d infos", len(infos))
				}
				return
			}
			fe := hgCheck(t, err, c.sentinel, -1, c.msg)
			if fe.HasTensor != (c.tensor != "") || fe.Tensor != c.tensor {
				t.Errorf("tensor %q (%v), want %q", fe.Tensor, fe.HasTensor, c.tensor)
			}
			if strings.HasPrefix(fe.Msg, "safetensors:") {
				t.Errorf("message repeats the sentinel: %q", fe.Msg)
			}
		})
	}
}

// hgClaimed opens a header through NewReader with a claimed file size, so
// that offsets near the int64 limit can be tried without the bytes.
func hgClaimed(hdr string, size int64) (*File, error) {
	return NewReader(bytes.NewReader(hgFile(hdr, 0)), size)
}

func TestHeaderOffsetsAtInt64Limit(t *testing.T) {
	if math.MaxInt != math.MaxInt64 {
		t.Skip("64-bit int only")
	}
	// The largest U8 tensor has 2^61-1 elements (its size in bits must fit
	// in 64 bits); four of them end at 2^63-4.
	const big = "2305843009213693951"
	four := []string{
		"a:U8:[" + big + "]:0:2305843009213693951",
		"b:U8:[" + big + "]:2305843009213693951:4611686018427387902",
		"c:U8:[" + big + "]:4611686018427387902:6917529027641081853",
		"d:U8:[" + big + "]:6917529027641081853:9223372036854775804",
	}
	// A last tensor ending at exactly MaxInt64: the offsets fit; no file
	// can hold the data after its header.
	hdr := hgTensors(append(four, "e:U8:[3]:9223372036854775804:9223372036854775807")...)
	_, err := hgClaimed(hdr, math.MaxInt64)
	hgCheck(t, err, ErrIncompleteBuffer, -1, "the tensors end 9223372036854775807 bytes into the data buffer, past the end of the file")

	// Ending one byte further, at 2^63: the offset does not fit.
	hdr = hgTensors(append(four, "e:U8:[4]:9223372036854775804:9223372036854775808")...)
	_, err = hgClaimed(hdr, math.MaxInt64)
	fe := hgCheck(t, err, ErrOverflow, -1, "data offset 9223372036854775808 does not fit in an int")
	if fe.Tensor != "e" {
		t.Errorf("tensor %q, want e", fe.Tensor)
	}

	// A file whose claimed size holds the tensor exactly is accepted.
	hdr = hgTensors(four[0])
	f, err := hgClaimed(hdr, int64(8+len(hdr))+2305843009213693951)
	if err != nil {
		t.Fatal(err)
	}
	if ti, _ := f.Info("a"); ti.Size() != 2305843009213693951 || ti.NumElements() != 2305843009213693951 {
		t.Errorf("info %+v", ti)
	}
}

// TestHeaderParseMemoryIsLinear: parsing a header allocates a small
// multiple of its length, whatever it holds (here: 1 MiB of metadata).
func TestHeaderParseMemoryIsLinear(t *testing.T) {
	hdr := `{"__metadata__":{"k":"` + strings.Repeat("x", 1<<20) + `"}}`
	file := hgFile(hdr, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := Load(file)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Metadata()["k"]; len(got) != 1<<20 {
		t.Fatalf("metadata value of %d bytes", len(got))
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 32<<20 {
		t.Errorf("parsing a 1 MiB header allocated %d bytes", n)
	}
}
