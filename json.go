package safetensors

// A strict JSON scanner for headers, written for this schema rather than
// taken from encoding/json, because the format's rules need what a general
// decoder does not give:
//
//   - duplicate keys refused at every level (encoding/json keeps the last,
//     with default settings and with GOEXPERIMENT=jsonv2 alike);
//   - lone surrogate escapes refused (encoding/json silently turns them
//     into U+FFFD);
//   - shape and data_offsets as digits only, checked against uint64, without
//     a float64 round trip;
//   - nesting limited to serde_json's 127 levels;
//   - a byte offset in every error, and no allocation per token: names
//     without escapes are substrings of one copy of the header.
//
// BenchmarkParseHeader compares it with encoding/json on the same headers,
// and FuzzHeaderJSON checks it against encoding/json's notion of valid JSON.

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner walks a header held as a string. Offsets in errors are file
// offsets: the header starts at byte 8 of the file.
type scanner struct {
	s     string
	i     int
	depth int
}

func (p *scanner) errAt(i int, format string, args ...any) error {
	return formatErr(ErrInvalidHeader, prefixSize+int64(i), format, args...)
}

func (p *scanner) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the byte at the cursor, or 0 at the end.
func (p *scanner) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// describe names what is at the cursor, for error messages.
func (p *scanner) describe() string {
	if p.i >= len(p.s) {
		return "the end of the header"
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	switch {
	case r == '"':
		return "a string"
	case r == '{':
		return "an object"
	case r == '[':
		return "an array"
	case r == '-' || (r >= '0' && r <= '9'):
		return "a number"
	case strings.HasPrefix(p.s[p.i:], "null"):
		return "null"
	case strings.HasPrefix(p.s[p.i:], "true"), strings.HasPrefix(p.s[p.i:], "false"):
		return "a boolean"
	}
	return fmt.Sprintf("%q", r)
}

// consume advances past c if it is at the cursor.
func (p *scanner) consume(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// literal advances past word if it is at the cursor.
func (p *scanner) literal(word string) bool {
	if strings.HasPrefix(p.s[p.i:], word) {
		p.i += len(word)
		return true
	}
	return false
}

// open enters an object or array whose opening byte c is at the cursor.
func (p *scanner) open(c byte) error {
	if !p.consume(c) {
		return p.errAt(p.i, "expected %q, found %s", c, p.describe())
	}
	p.depth++
	if p.depth > maxJSONDepth {
		return p.errAt(p.i-1, "nesting deeper than %d levels", maxJSONDepth)
	}
	return nil
}

// close leaves an object or array if its closing byte c is at the cursor.
func (p *scanner) close(c byte) bool {
	if p.consume(c) {
		p.depth--
		return true
	}
	return false
}

// colon reads the ':' after an object key and the space around it.
func (p *scanner) colon() error {
	p.skipSpace()
	if !p.consume(':') {
		return p.errAt(p.i, "expected ':' after an object key, found %s", p.describe())
	}
	p.skipSpace()
	return nil
}

// next reads what follows a member or element: ',' (more to come: true) or
// the closing byte c (false, and the container is left).
func (p *scanner) next(c byte) (bool, error) {
	p.skipSpace()
	if p.consume(',') {
		return true, nil
	}
	if p.close(c) {
		return false, nil
	}
	return false, p.errAt(p.i, "expected ',' or %q, found %s", c, p.describe())
}

// str reads a string at the cursor. Without escapes it is a substring of
// the header, which costs no allocation.
func (p *scanner) str() (string, error) {
	if p.peek() != '"' {
		return "", p.errAt(p.i, "expected a string, found %s", p.describe())
	}
	start := p.i + 1
	for j := start; j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			p.i = j + 1
			return p.s[start:j], nil
		case c == '\\':
			return p.strEscaped(start, j)
		case c < 0x20:
			return "", p.errAt(j, "control character %#02x inside a string", c)
		}
	}
	return "", p.errAt(len(p.s), "unterminated string")
}

// strEscaped finishes a string that starts at start and has its first
// escape at j.
func (p *scanner) strEscaped(start, j int) (string, error) {
	b := make([]byte, 0, j-start+16)
	b = append(b, p.s[start:j]...)
	for j < len(p.s) {
		c := p.s[j]
		switch {
		case c == '"':
			p.i = j + 1
			return string(b), nil
		case c < 0x20:
			return "", p.errAt(j, "control character %#02x inside a string", c)
		case c != '\\':
			b = append(b, c)
			j++
			continue
		}
		if j+1 >= len(p.s) {
			break
		}
		esc := p.s[j+1]
		j += 2
		switch esc {
		case '"', '\\', '/':
			b = append(b, esc)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(p.s, j)
			if !ok {
				return "", p.errAt(j-2, "invalid \\u escape")
			}
			j += 4
			if utf16.IsSurrogate(r) {
				var r2 rune = -1
				if r < 0xdc00 && j+6 <= len(p.s) && p.s[j] == '\\' && p.s[j+1] == 'u' {
					r2, _ = hex4(p.s, j+2)
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", p.errAt(j-6, "lone surrogate in a \\u escape")
				}
				j += 6
			}
			b = utf8.AppendRune(b, r)
		default:
			return "", p.errAt(j-2, "invalid escape %q", "\\"+string(esc))
		}
	}
	return "", p.errAt(len(p.s), "unterminated string")
}

// hex4 reads four hex digits at s[i:].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// uint reads a non-negative integer that fits in 64 bits, the only numbers
// that shape and data_offsets may hold (the reference reads them as usize:
// no sign, fraction or exponent).
func (p *scanner) uint(field string) (uint64, error) {
	start := p.i
	if p.peek() == '-' {
		return 0, p.errAt(start, "%s must hold non-negative integers, found a negative number", field)
	}
	var v uint64
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		d := uint64(p.s[p.i] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, p.errAt(start, "number in %s does not fit in 64 bits", field)
		}
		v = v*10 + d
		p.i++
	}
	switch {
	case p.i == start:
		return 0, p.errAt(start, "%s must hold non-negative integers, found %s", field, p.describe())
	case p.s[start] == '0' && p.i-start > 1:
		return 0, p.errAt(start, "number with a leading zero in %s", field)
	case p.peek() == '.' || p.peek() == 'e' || p.peek() == 'E':
		return 0, p.errAt(start, "%s must hold integers, found a number with a fraction or exponent", field)
	}
	return v, nil
}

// skipValue checks the syntax of any JSON value at the cursor and moves
// past it, refusing duplicate keys in its objects and nesting past the limit.
func (p *scanner) skipValue() error {
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{':
		return p.skipObject()
	case c == '[':
		if err := p.open('['); err != nil {
			return err
		}
		p.skipSpace()
		if p.close(']') {
			return nil
		}
		for {
			p.skipSpace()
			if err := p.skipValue(); err != nil {
				return err
			}
			if more, err := p.next(']'); err != nil || !more {
				return err
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"), p.literal("false"), p.literal("null"):
		return nil
	}
	return p.errAt(p.i, "expected a value, found %s", p.describe())
}

func (p *scanner) skipObject() error {
	var keys []string
	var set map[string]struct{}
	return p.object(func(k string, at int) error {
		dup := false
		if set != nil {
			_, dup = set[k]
			set[k] = struct{}{}
		} else {
			dup = slices.Contains(keys, k)
			if keys = append(keys, k); len(keys) > 16 {
				set = make(map[string]struct{}, 2*len(keys))
				for _, o := range keys {
					set[o] = struct{}{}
				}
			}
		}
		if dup {
			return p.errAt(at, "duplicate key %q", k)
		}
		return p.skipValue()
	})
}

// object reads an object whose '{' is at the cursor, calling member for
// each key with the cursor at the key's value (after the colon) and the
// key's offset; member must move past the value. Duplicate keys are
// member's to refuse.
func (p *scanner) object(member func(key string, keyAt int) error) error {
	if err := p.open('{'); err != nil {
		return err
	}
	p.skipSpace()
	if p.close('}') {
		return nil
	}
	for {
		p.skipSpace()
		keyAt := p.i
		key, err := p.str()
		if err != nil {
			return err
		}
		if err := p.colon(); err != nil {
			return err
		}
		if err := member(key, keyAt); err != nil {
			return err
		}
		if more, err := p.next('}'); err != nil || !more {
			return err
		}
	}
}

// number checks the grammar of a JSON number at the cursor and moves past
// it.
func (p *scanner) number() error {
	start := p.i
	p.consume('-')
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	switch n := digits(); {
	case n == 0:
		return p.errAt(start, "invalid number")
	case n > 1 && p.s[p.i-n] == '0':
		return p.errAt(start, "number with a leading zero")
	}
	if p.consume('.') && digits() == 0 {
		return p.errAt(start, "invalid number: no digits after '.'")
	}
	if p.consume('e') || p.consume('E') {
		if !p.consume('+') {
			p.consume('-')
		}
		if digits() == 0 {
			return p.errAt(start, "invalid number: no digits in the exponent")
		}
	}
	return nil
}
