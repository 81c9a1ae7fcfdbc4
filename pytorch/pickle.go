package pytorch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// This file is a restricted Python unpickler: a stack machine over pickle
// opcodes (protocols 0 to 5) that builds inert Go values only.
//
// Safety argument, in short:
//   - A global (GLOBAL, STACK_GLOBAL, INST) is resolved by resolveGlobal,
//     which only looks its module and name up in a fixed table of torch
//     state-dict types. Anything else is an immediate *ForbiddenGlobalError:
//     the opcode fails, unpickling stops, and REDUCE is never reached.
//   - The values the table hands out are descriptors (*pyGlobal). Calling one
//     (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ) goes through call, a switch over
//     a closed set of kinds, each of which checks its arguments and builds a
//     Go value (a dict, a tuple, a tensor descriptor). Calling anything else,
//     a string or a list, is an error, as in Python.
//   - Nothing here imports os/exec, plugin, syscall or unsafe; no Python and
//     no user code exists to run. BUILD only accepts dicts and ignores their
//     attribute state.
//   - Every length in the stream is checked against the bytes the pickle may
//     still take (a real count: a record already read, or the rest of the
//     file) before anything is allocated for it; every created object counts
//     against maxPickleObjects; malformed input is an error, never a panic.

// maxPickleObjects bounds the number of values (containers, strings,
// numbers, memo entries, marks) one pickle may create, which bounds the
// memory unpickling takes whatever the input: about 100 bytes an object, so
// a few hundred MiB at most. A state dict takes about 15 per tensor.
const maxPickleObjects = 1 << 22

// maxLine bounds the text arguments of protocol-0 opcodes (GLOBAL's module
// and name, INT, FLOAT...). Python has no limit; real ones are short.
const maxLine = 1 << 16

// maxKeyDepth and maxKeySize bound dict keys: the nesting of tuples, and
// the size of a key (a string, bytes, or the encoding built for a tuple).
const (
	maxKeyDepth = 32
	maxKeySize  = 1 << 12
)

// Values built by the unpickler. Python None is nil, bool is bool, int is
// int64 or *big.Int, float is float64, str is string (valid UTF-8).
type (
	pyTuple []any
	pyBytes string // bytes and bytearray: immutable here
	pyList  struct{ items []any }
	pySet   struct{ items []any } // set and frozenset; items are not deduplicated
	pyDict  struct {
		keys, vals []any
		index      map[any]int // hash key -> position in keys
		ordered    bool        // made by collections.OrderedDict
	}
)

func newDict(ordered bool) *pyDict { return &pyDict{ordered: ordered} }

// set stores v under k with Python's semantics: an existing key keeps its
// position and takes the new value.
func (d *pyDict) set(k, v any) error {
	hk, err := hashKey(k, 0)
	if err != nil {
		return err
	}
	if d.index == nil {
		d.index = make(map[any]int)
	}
	if i, ok := d.index[hk]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[hk] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// get returns the value under the string key k.
func (d *pyDict) get(k string) (any, bool) {
	if d.index == nil {
		return nil, false
	}
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Hash keys: comparable Go values that are equal exactly when Python would
// find the dict keys equal (1 == 1.0 == True; str and bytes differ).
type (
	keyNone  struct{}
	keyBytes string
	keyBig   string
	keyTuple string
)

func hashKey(k any, depth int) (any, error) {
	switch k := k.(type) {
	case nil:
		return keyNone{}, nil
	case bool:
		if k {
			return int64(1), nil
		}
		return int64(0), nil
	case int64:
		return k, nil
	case string:
		// Go hashes a string in full on every lookup, where Python caches
		// the hash; a long key reused through the memo in every SETITEM
		// would cost its length each time. Real keys are short.
		if len(k) > maxKeySize {
			return nil, errorf(ErrUnsupported, "a dict key of %d bytes (the limit is %d)", len(k), maxKeySize)
		}
		return k, nil
	case float64:
		if k == math.Trunc(k) && k >= -(1<<63) && k < 1<<63 {
			return int64(k), nil
		}
		return k, nil
	case *big.Int:
		if k.IsInt64() {
			return k.Int64(), nil
		}
		if k.BitLen() > 8*maxKeySize {
			return nil, errorf(ErrUnsupported, "a %d-bit int as a dict key", k.BitLen())
		}
		return keyBig(k.Text(16)), nil // linear time, unlike base 10
	case pyBytes:
		if len(k) > maxKeySize {
			return nil, errorf(ErrUnsupported, "a dict key of %d bytes (the limit is %d)", len(k), maxKeySize)
		}
		return keyBytes(k), nil
	case pyTuple:
		if depth >= maxKeyDepth {
			return nil, errorf(ErrUnsupported, "dict key nested more than %d tuples deep", maxKeyDepth)
		}
		// The encoding nests the elements' encodings, so a tuple sharing
		// sub-tuples (through the memo) could double in size at every
		// level: it is capped.
		b := []byte{'('}
		for _, e := range k {
			h, err := hashKey(e, depth+1)
			if err != nil {
				return nil, err
			}
			s := fmt.Sprintf("%T:%v", h, h)
			b = strconv.AppendInt(b, int64(len(s)), 10)
			b = append(b, ':')
			b = append(b, s...)
			if len(b) > maxKeySize {
				return nil, errorf(ErrUnsupported, "a tuple dict key larger than %d bytes", maxKeySize)
			}
		}
		return keyTuple(b), nil
	case *pyGlobal, *storageRef, *tensorRef:
		return k, nil // identity, like Python's default hash
	}
	return nil, errorf(ErrCorrupt, "unhashable dict key of type %s", pyTypeName(k))
}

// short returns a short, bounded description of an unpickled value for
// error messages. Values can share parts through the memo, so printing them
// whole (with %v) could take time and memory exponential in their size.
func short(v any) string {
	return shortDepth(v, 2)
}

func shortDepth(v any, depth int) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(v, 10)
	case *big.Int:
		return fmt.Sprintf("a %d-bit int", v.BitLen())
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		if len(v) > 64 {
			return strconv.Quote(v[:64]) + "..."
		}
		return strconv.Quote(v)
	case pyTuple:
		if depth == 0 {
			return fmt.Sprintf("a %d-tuple", len(v))
		}
		b := []byte{'('}
		for i, e := range v {
			if i == 4 {
				b = append(b, ", ..."...)
				break
			}
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, shortDepth(e, depth-1)...)
		}
		return string(append(b, ')'))
	}
	return pyTypeName(v)
}

// dims formats a shape or stride, eliding the middle of a long one.
func dims(d []int64) string {
	if len(d) > 16 {
		return fmt.Sprintf("%v...%v (%d dimensions)", d[:8], d[len(d)-8:], len(d))
	}
	return fmt.Sprint(d)
}

// pyTypeName returns the Python type name of a value, for messages.
func pyTypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case pyBytes:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pySet:
		return "set"
	case *pyDict:
		if v.ordered {
			return "OrderedDict"
		}
		return "dict"
	case *pyGlobal:
		return v.module + "." + v.name
	case *storageRef:
		return "Storage"
	case *tensorRef:
		return "Tensor"
	}
	return fmt.Sprintf("%T", v)
}

// errPickleEOF is returned when the pickle ends before STOP. Callers turn it
// into ErrTruncated or ErrCorrupt depending on where the pickle came from.
var errPickleEOF = errors.New("pickle ends before its STOP opcode")

// unpickler runs one pickle. It is used once.
type unpickler struct {
	r      *bufio.Reader
	left   int64 // bytes the pickle may still take
	capped bool  // left was cut to the size limit: running out means too large
	off    int64 // bytes consumed so far
	opOff  int64 // offset of the opcode being run

	stack   []any
	marks   []int // stack heights at each MARK
	memo    map[uint32]any
	objects int
	size    int64 // the bytes the pickle may take, as at the start
	made    int64 // bytes built by calls (_codecs.encode), at most size

	// persistentLoad resolves BINPERSID/PERSID ids into storages.
	persistentLoad func(pid any) (any, error)
}

// newUnpickler reads a pickle from r, of which at most avail bytes exist,
// and at most max may be used (max <= 0: no limit but avail).
func newUnpickler(r io.Reader, avail, max int64) *unpickler {
	u := &unpickler{r: bufio.NewReaderSize(r, 64<<10), left: avail}
	if max > 0 && avail > max {
		u.left, u.capped = max, true
	}
	u.size = u.left
	return u
}

func (u *unpickler) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: pickle byte %d: %s", ErrCorrupt, u.opOff, fmt.Sprintf(format, args...))
}

func (u *unpickler) short() error {
	if u.capped {
		return errorf(ErrTooLarge, "pickle exceeds the %d-byte limit (Options.MaxPickleSize)", u.off+u.left)
	}
	return errPickleEOF
}

// count charges n new objects against the limit.
func (u *unpickler) count(n int) error {
	u.objects += n
	if u.objects > maxPickleObjects {
		return errorf(ErrTooLarge, "pickle builds more than %d objects", maxPickleObjects)
	}
	return nil
}

func (u *unpickler) readByte() (byte, error) {
	if u.left < 1 {
		return 0, u.short()
	}
	b, err := u.r.ReadByte()
	if err != nil {
		return 0, u.readErr(err)
	}
	u.left--
	u.off++
	return b, nil
}

func (u *unpickler) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errPickleEOF
	}
	return err
}

// take reads exactly n bytes into a new slice; n was checked against the
// bytes left first, so the allocation is bounded by real input.
func (u *unpickler) take(n int64) ([]byte, error) {
	if n < 0 || n > u.left {
		return nil, u.short()
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(u.r, b); err != nil {
		return nil, u.readErr(err)
	}
	u.left -= n
	u.off += n
	return b, nil
}

// fixed reads n <= 8 bytes into a small array.
func (u *unpickler) fixed(n int) ([8]byte, error) {
	var a [8]byte
	if int64(n) > u.left {
		return a, u.short()
	}
	if _, err := io.ReadFull(u.r, a[:n]); err != nil {
		return a, u.readErr(err)
	}
	u.left -= int64(n)
	u.off += int64(n)
	return a, nil
}

// line reads a newline-terminated argument and returns it without the newline.
func (u *unpickler) line() (string, error) {
	var b []byte
	for {
		c, err := u.readByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return string(b), nil
		}
		if len(b) >= maxLine {
			return "", u.corrupt("text argument longer than %d bytes", maxLine)
		}
		b = append(b, c)
	}
}

func (u *unpickler) push(v any) error {
	u.stack = append(u.stack, v)
	return u.count(1)
}

// fence is the lowest stack index the current mark lets ops pop.
func (u *unpickler) fence() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.fence() {
		return nil, u.corrupt("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.fence() {
		return nil, u.corrupt("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the items above the last mark, removing them and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.corrupt("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	clear(u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) str(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", u.corrupt("string is not valid UTF-8")
	}
	return string(b), nil
}

// length reads a little-endian unsigned length of n bytes.
func (u *unpickler) length(n int) (int64, error) {
	a, err := u.fixed(n)
	if err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(a[:])
	if v > math.MaxInt64 {
		return 0, u.short()
	}
	return int64(v), nil
}

// load runs the pickle to its STOP opcode and returns the value it built.
func (u *unpickler) load() (any, error) {
	u.memo = make(map[uint32]any)
	for {
		u.opOff = u.off
		op, err := u.readByte()
		if err != nil {
			return nil, err
		}
		if op == '.' { // STOP
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
	}
}

func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		p, err := u.readByte()
		if err != nil {
			return err
		}
		if p > 5 {
			return u.corrupt("unsupported pickle protocol %d", p)
		}
		return nil
	case 0x95: // FRAME: a length hint; the opcodes inside are read as usual
		_, err := u.fixed(8)
		return err
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
		return u.count(1)
	case '0': // POP
		if len(u.stack) == u.fence() && len(u.marks) > 0 {
			_, err := u.popMark() // Python pops the mark when the stack above it is empty
			return err
		}
		_, err := u.pop()
		return err
	case '1': // POP_MARK
		_, err := u.popMark()
		return err
	case '2': // DUP
		v, err := u.top()
		if err != nil {
			return err
		}
		return u.push(v)

	case 'N':
		return u.push(nil)
	case 0x88:
		return u.push(true)
	case 0x89:
		return u.push(false)
	case 'I': // INT: decimal text; "01"/"00" are True/False in protocol 0
		s, err := u.line()
		if err != nil {
			return err
		}
		switch s {
		case "00":
			return u.push(false)
		case "01":
			return u.push(true)
		}
		return u.pushDecimal(s)
	case 'L': // LONG: decimal text with an optional L suffix
		s, err := u.line()
		if err != nil {
			return err
		}
		if len(s) > 0 && s[len(s)-1] == 'L' {
			s = s[:len(s)-1]
		}
		return u.pushDecimal(s)
	case 'J': // BININT
		a, err := u.fixed(4)
		if err != nil {
			return err
		}
		return u.push(int64(int32(binary.LittleEndian.Uint32(a[:]))))
	case 'K': // BININT1
		b, err := u.readByte()
		if err != nil {
			return err
		}
		return u.push(int64(b))
	case 'M': // BININT2
		a, err := u.fixed(2)
		if err != nil {
			return err
		}
		return u.push(int64(binary.LittleEndian.Uint16(a[:])))
	case 0x8a, 0x8b: // LONG1, LONG4: two's complement little-endian
		var n int64
		if op == 0x8a {
			b, err := u.readByte()
			if err != nil {
				return err
			}
			n = int64(b)
		} else {
			a, err := u.fixed(4)
			if err != nil {
				return err
			}
			n = int64(int32(binary.LittleEndian.Uint32(a[:])))
			if n < 0 {
				return u.corrupt("LONG4 with negative byte count")
			}
		}
		b, err := u.take(n)
		if err != nil {
			return err
		}
		return u.push(decodeLong(b))
	case 'F': // FLOAT: text
		s, err := u.line()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return u.corrupt("bad FLOAT %q", s)
		}
		return u.push(f)
	case 'G': // BINFLOAT: big-endian float64
		a, err := u.fixed(8)
		if err != nil {
			return err
		}
		return u.push(math.Float64frombits(binary.BigEndian.Uint64(a[:])))

	case 'S': // STRING: quoted text (Python 2 str, decoded as torch.load does)
		s, err := u.line()
		if err != nil {
			return err
		}
		if len(s) < 2 || s[0] != s[len(s)-1] || (s[0] != '\'' && s[0] != '"') {
			return u.corrupt("STRING argument is not quoted")
		}
		v, err := unquotePy2(s[1 : len(s)-1])
		if err != nil {
			return u.corrupt("bad STRING argument: %v", err)
		}
		str, err := u.str([]byte(v))
		if err != nil {
			return err
		}
		return u.push(str)
	case 'V': // UNICODE: raw-unicode-escape text
		s, err := u.line()
		if err != nil {
			return err
		}
		v, err := rawUnicodeEscape(s)
		if err != nil {
			return u.corrupt("bad UNICODE argument: %v", err)
		}
		return u.push(v)
	case 'T', 'X', 'U', 0x8c, 0x8d: // BINSTRING, BINUNICODE, SHORT_BINSTRING, SHORT_BINUNICODE, BINUNICODE8
		n, err := u.sizeArg(op)
		if err != nil {
			return err
		}
		b, err := u.take(n)
		if err != nil {
			return err
		}
		s, err := u.str(b)
		if err != nil {
			return err
		}
		return u.push(s)
	case 'B', 'C', 0x8e, 0x96: // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
		n, err := u.sizeArg(op)
		if err != nil {
			return err
		}
		b, err := u.take(n)
		if err != nil {
			return err
		}
		return u.push(pyBytes(b))
	case 0x98: // READONLY_BUFFER: a no-op on our immutable bytes
		v, err := u.top()
		if err != nil {
			return err
		}
		if _, ok := v.(pyBytes); !ok {
			return u.corrupt("READONLY_BUFFER on a %s", pyTypeName(v))
		}
		return nil

	case ')':
		return u.push(pyTuple{})
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op - 0x84)
		if len(u.stack)-u.fence() < n {
			return u.corrupt("stack underflow")
		}
		t := append(pyTuple(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		return u.push(t)
	case 't': // TUPLE
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(pyTuple(items))
	case ']':
		return u.push(&pyList{})
	case 'l': // LIST
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&pyList{items: items})
	case 'a': // APPEND
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo([]any{v})
	case 'e': // APPENDS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items)
	case '}':
		return u.push(newDict(false))
	case 'd': // DICT
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := newDict(false)
		if err := u.setItems(d, items); err != nil {
			return err
		}
		return u.push(d)
	case 's': // SETITEM
		v, err := u.pop()
		if err != nil {
			return err
		}
		k, err := u.pop()
		if err != nil {
			return err
		}
		return u.setItemsOnTop([]any{k, v})
	case 'u': // SETITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.setItemsOnTop(items)
	case 0x8f: // EMPTY_SET
		return u.push(&pySet{})
	case 0x90: // ADDITEMS
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		s, ok := t.(*pySet)
		if !ok {
			return u.corrupt("ADDITEMS on a %s", pyTypeName(t))
		}
		s.items = append(s.items, items...)
		return nil
	case 0x91: // FROZENSET
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.push(&pySet{items: items})

	case 'p', 'q', 'r': // PUT (decimal text), BINPUT (1 byte), LONG_BINPUT (4 bytes)
		i, err := u.memoIndex(op, "PUT")
		if err != nil {
			return err
		}
		return u.put(i)
	case 0x94: // MEMOIZE
		if uint64(len(u.memo)) >= math.MaxUint32 {
			return u.corrupt("memo full")
		}
		return u.put(uint32(len(u.memo)))
	case 'g', 'h', 'j': // GET (decimal text), BINGET (1 byte), LONG_BINGET (4 bytes)
		i, err := u.memoIndex(op, "GET")
		if err != nil {
			return err
		}
		return u.get(i)

	case 'c': // GLOBAL: module and name as text lines
		module, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		g, err := u.global(module, name)
		if err != nil {
			return err
		}
		return u.push(g)
	case 0x93: // STACK_GLOBAL: module and name from the stack
		name, err := u.pop()
		if err != nil {
			return err
		}
		module, err := u.pop()
		if err != nil {
			return err
		}
		ms, ok1 := module.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return u.corrupt("STACK_GLOBAL needs two strings, got %s and %s", pyTypeName(module), pyTypeName(name))
		}
		g, err := u.global(ms, ns)
		if err != nil {
			return err
		}
		return u.push(g)
	case 'i': // INST: class from text lines, arguments above the mark
		module, err := u.line()
		if err != nil {
			return err
		}
		name, err := u.line()
		if err != nil {
			return err
		}
		g, err := u.global(module, name)
		if err != nil {
			return err
		}
		args, err := u.popMark()
		if err != nil {
			return err
		}
		return u.callPush(g, pyTuple(args))
	case 'o': // OBJ: class and arguments above the mark
		items, err := u.popMark()
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return u.corrupt("OBJ without a class")
		}
		return u.callPush(items[0], pyTuple(items[1:]))
	case 'R', 0x81: // REDUCE, NEWOBJ: callable and argument tuple
		a, err := u.pop()
		if err != nil {
			return err
		}
		f, err := u.pop()
		if err != nil {
			return err
		}
		args, ok := a.(pyTuple)
		if !ok {
			return u.corrupt("call arguments are a %s, not a tuple", pyTypeName(a))
		}
		return u.callPush(f, args)
	case 0x92: // NEWOBJ_EX: class, argument tuple, keyword dict
		kw, err := u.pop()
		if err != nil {
			return err
		}
		a, err := u.pop()
		if err != nil {
			return err
		}
		f, err := u.pop()
		if err != nil {
			return err
		}
		args, ok := a.(pyTuple)
		if !ok {
			return u.corrupt("NEWOBJ_EX arguments are a %s, not a tuple", pyTypeName(a))
		}
		if d, ok := kw.(*pyDict); !ok || len(d.keys) != 0 {
			return u.corrupt("NEWOBJ_EX with keyword arguments")
		}
		return u.callPush(f, args)
	case 'b': // BUILD: set state on the object below
		state, err := u.pop()
		if err != nil {
			return err
		}
		obj, err := u.top()
		if err != nil {
			return err
		}
		return u.build(obj, state)

	case 'Q': // BINPERSID
		pid, err := u.pop()
		if err != nil {
			return err
		}
		return u.persistent(pid)
	case 'P': // PERSID: text id
		s, err := u.line()
		if err != nil {
			return err
		}
		return u.persistent(s)

	case 0x82, 0x83, 0x84:
		return u.corrupt("extension-registry opcode 0x%02x is not supported", op)
	case 0x97:
		return u.corrupt("out-of-band buffers (NEXT_BUFFER) are not supported")
	}
	return u.corrupt("unknown opcode 0x%02x", op)
}

// memoIndex reads the memo index of a PUT or GET opcode in its three
// encodings: a decimal text line (PUT, GET), one byte (BINPUT, BINGET) or a
// little-endian uint32 (LONG_BINPUT, LONG_BINGET). what names the opcode in
// errors.
func (u *unpickler) memoIndex(op byte, what string) (uint32, error) {
	switch op {
	case 'p', 'g':
		s, err := u.line()
		if err != nil {
			return 0, err
		}
		i, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return 0, u.corrupt("bad %s index %q", what, s)
		}
		return uint32(i), nil
	case 'q', 'h':
		b, err := u.readByte()
		return uint32(b), err
	}
	a, err := u.fixed(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(a[:]), nil
}

// sizeArg reads the length argument of a string or bytes opcode.
func (u *unpickler) sizeArg(op byte) (int64, error) {
	switch op {
	case 'U', 'C', 0x8c: // one byte
		b, err := u.readByte()
		return int64(b), err
	case 'T': // signed 4 bytes
		a, err := u.fixed(4)
		if err != nil {
			return 0, err
		}
		n := int64(int32(binary.LittleEndian.Uint32(a[:])))
		if n < 0 {
			return 0, u.corrupt("negative string length")
		}
		return n, nil
	case 'X', 'B': // unsigned 4 bytes
		return u.length(4)
	}
	return u.length(8) // BINUNICODE8, BINBYTES8, BYTEARRAY8
}

func (u *unpickler) pushDecimal(s string) error {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return u.push(i)
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return u.corrupt("bad integer %q", s)
	}
	return u.push(b)
}

// decodeLong decodes a two's complement little-endian integer, as
// pickle.decode_long does; an empty byte string is 0.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift // sign-extend
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if v.IsInt64() {
		return v.Int64()
	}
	return v
}

func (u *unpickler) put(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	if _, ok := u.memo[i]; !ok {
		if err := u.count(1); err != nil {
			return err
		}
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) get(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return u.corrupt("memo key %d was never stored", i)
	}
	return u.push(v)
}

func (u *unpickler) appendTo(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	l, ok := t.(*pyList)
	if !ok {
		return u.corrupt("APPEND to a %s", pyTypeName(t))
	}
	l.items = append(l.items, items...)
	return nil
}

func (u *unpickler) setItemsOnTop(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	d, ok := t.(*pyDict)
	if !ok {
		return u.corrupt("SETITEM on a %s", pyTypeName(t))
	}
	return u.setItems(d, items)
}

func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return u.corrupt("odd number of items for a dict")
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return fmt.Errorf("pickle byte %d: %w", u.opOff, err)
		}
	}
	return nil
}

// build handles BUILD. Only dicts accept state (an OrderedDict state dict
// carries its _metadata attribute this way); the state is checked to be a
// dict or a (dict, dict) pair and then dropped, since no attribute of a
// state dict matters to its tensors.
func (u *unpickler) build(obj, state any) error {
	if _, ok := obj.(*pyDict); !ok {
		return errorf(ErrUnsupported, "pickle byte %d: BUILD on a %s", u.opOff, pyTypeName(obj))
	}
	if t, ok := state.(pyTuple); ok && len(t) == 2 {
		state = t[0]
		if _, ok := t[1].(*pyDict); !ok && t[1] != nil {
			return u.corrupt("BUILD slot state is a %s", pyTypeName(t[1]))
		}
	}
	if _, ok := state.(*pyDict); !ok && state != nil {
		return u.corrupt("BUILD state is a %s", pyTypeName(state))
	}
	return nil
}

func (u *unpickler) persistent(pid any) error {
	if u.persistentLoad == nil {
		return u.corrupt("persistent id in a pickle that may not have any")
	}
	v, err := u.persistentLoad(pid)
	if err != nil {
		return fmt.Errorf("pickle byte %d: %w", u.opOff, err)
	}
	return u.push(v)
}

// global resolves a global through the allow-list.
func (u *unpickler) global(module, name string) (*pyGlobal, error) {
	g := lookupGlobal(module, name)
	if g == nil {
		return nil, &ForbiddenGlobalError{Module: module, Name: name, Offset: u.opOff}
	}
	return g, nil
}

func (u *unpickler) callPush(f any, args pyTuple) error {
	v, err := call(f, args)
	if err != nil {
		return fmt.Errorf("pickle byte %d: %w", u.opOff, err)
	}
	// A call can turn a string reused through the memo into new bytes each
	// time: the bytes built this way may not exceed the pickle's own size.
	if b, ok := v.(pyBytes); ok {
		u.made += int64(len(b))
		if u.made > u.size {
			return errorf(ErrTooLarge, "pickle byte %d: the pickle builds more bytes than it holds", u.opOff)
		}
	}
	return u.push(v)
}

// unquotePy2 undoes the escapes of a protocol-0 STRING argument, as
// Python's codecs.escape_decode does: \\ \' \" \a \b \f \n \r \t \v,
// octal \ooo, hex \xhh, a backslash-newline is dropped, and any other
// backslash is kept as it is.
func unquotePy2(s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		if i >= len(s) {
			return "", errors.New("trailing backslash")
		}
		switch c = s[i]; c {
		case '\n':
		case 'a':
			b = append(b, '\a')
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
		case 'v':
			b = append(b, '\v')
		case '\\', '\'', '"':
			b = append(b, c)
		case 'x':
			if i+2 >= len(s) {
				return "", errors.New("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", err
			}
			b = append(b, byte(v))
			i += 2
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for k := 0; k < 2 && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '7'; k++ {
				i++
				v = v*8 + int(s[i]-'0')
			}
			b = append(b, byte(v))
		default:
			b = append(b, '\\', c)
		}
	}
	return string(b), nil
}

// rawUnicodeEscape decodes Python's raw-unicode-escape codec: \uXXXX and
// \UXXXXXXXX escapes, every other byte a Latin-1 code point.
func rawUnicodeEscape(s string) (string, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(s) {
				return "", errors.New("short \\u escape")
			}
			v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
			if err != nil {
				return "", err
			}
			r := rune(v)
			if !utf8.ValidRune(r) {
				return "", fmt.Errorf("invalid code point U+%X", v)
			}
			b = utf8.AppendRune(b, r)
			i += 1 + n
			continue
		}
		b = utf8.AppendRune(b, rune(c))
	}
	return string(b), nil
}
