package safetensors

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/x448/float16"
)

// UnmarshalOptions adjusts [Unmarshal]. The zero value is strict, as
// load_model is by default.
type UnmarshalOptions struct {
	// NonStrict makes missing and unexpected tensors not an error: fields
	// whose tensor the file lacks are left as they are, and tensors that no
	// field names are skipped. Unmarshal still returns their names.
	// Problems with a field's tensor (a shape that differs from the tag, a
	// value that the field's type cannot hold) are errors either way.
	NonStrict bool
}

// Unmarshal fills the struct that v points to with the tensors of f, like
// load_model(model, filename) in Python. [Marshal] is the reverse.
//
// # Which fields bind
//
// Exported fields of these types bind to one tensor each:
//
//   - []T for every Go element type of [Element]: []float32, []float64,
//     []float16.Float16, []BFloat16, []int8 ... []uint64, []bool,
//     []complex64. Unmarshal converts the tensor to T with [Convert]
//     (so a BF16 tensor fills a []float32, rounding where T is narrower),
//     and copies: the slice never aliases the file.
//   - [Tensor]: the tensor as it is in the file, any dtype, no conversion.
//     From a File of [Open] or [Load] it is a view that lives as long as
//     the file's memory (see [File.GetTensor]).
//
// These group other fields:
//
//   - a struct, or a pointer to one (allocated by Unmarshal when nil): its
//     fields' names are prefixed with the field's name and a dot, so a
//     field tagged "attn" holding a field tagged "q_proj.weight" binds
//     "attn.q_proj.weight". An embedded struct without a tag adds no
//     prefix, as in encoding/json.
//   - a slice of any of the above (structs, pointers to structs, []T,
//     Tensor): element i is named with the field's name, a dot and i, as
//     PyTorch names the modules of a ModuleList: "layers.0.attn...",
//     "layers.1.attn..." When the slice is empty, Unmarshal sizes it by the
//     consecutive indexes 0, 1, 2, ... that the file has; when it already
//     has elements, it expects exactly that many.
//
// Fields of other types (a config int, a string) are ignored, unless tagged,
// which is an error. A field tagged "-" is ignored whatever its type.
//
// # Names
//
// The tag `safetensors:"name"` gives a field's name relative to its
// prefix; it may contain dots ("q_proj.weight"). Without a tag (or with an
// empty name, as in `safetensors:",shape=4x4"`) the name is the field's
// name in snake_case, the usual spelling of PyTorch attributes: QProj ->
// q_proj, LMHead -> lm_head, EmbedTokens -> embed_tokens, Fc1 -> fc1,
// Weight -> weight. An upper-case letter starts a new word when it follows
// a lower-case letter or a digit, or when it is followed by a lower-case
// letter; use a tag where that does not give the file's name (Conv2D gives
// conv2_d).
//
// # Tag options
//
// After the name, comma-separated options:
//
//   - shape=AxBxC: the tensor's shape. Unmarshal checks it (a mismatch is an
//     error naming the field and the tensor) and Marshal writes it (without
//     it, a []T is written 1-D). One dimension may be -1: Unmarshal accepts
//     any size there, Marshal computes it from the slice's length, as
//     reshape(-1) does.
//   - dtype=NAME: the dtype Marshal writes ("BF16", "F8_E4M3", any name of
//     [ParseDType]), converting with [Convert]; without it, the dtype of
//     the field's type (or the Tensor's own). Unmarshal reads any dtype.
//
// # Errors
//
// Unmarshal is strict: a tensor that a field names but f lacks (missing), or a
// tensor of f that no field names (unexpected), makes it fail with a
// [*BindError] listing them all, as well as every field whose tensor could
// not be bound. It loads everything it can before reporting, so on error v
// may be partly filled.
//
// A missing tensor whose name f's metadata maps to another tensor of f is
// loaded from that one: that is how save_model and [Marshal] record a
// weight written once for two tied fields. The two fields then share one
// slice, as the tied weights did.
//
// v must be a non-nil pointer to a struct; anything else is an error, as
// are tags that cannot be parsed or that are on fields of unsupported
// types. Unmarshal reads f concurrently safely, but v must not be used by
// others while it is filled.
func Unmarshal(f *File, v any) error {
	_, _, err := UnmarshalOptions{}.Unmarshal(f, v)
	return err
}

// Unmarshal is [Unmarshal] with these options. It also returns the names of
// the missing and unexpected tensors, sorted, as load_model(strict=False)
// does: with NonStrict they are not an error.
func (o UnmarshalOptions) Unmarshal(f *File, v any) (missing, unexpected []string, err error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("safetensors: Unmarshal needs a non-nil pointer to a struct, not %T", v)
	}
	w := &bindWalker{file: f, prefixes: map[string]bool{}}
	for _, ti := range f.h.tensors {
		for i := range len(ti.Name) {
			if ti.Name[i] == '.' {
				w.prefixes[ti.Name[:i+1]] = true
			}
		}
	}
	if err := w.walkStruct(rv.Elem(), "", rv.Elem().Type().Name()); err != nil {
		return nil, nil, err
	}
	if err := w.checkNames(); err != nil {
		return nil, nil, err
	}
	be := &BindError{}
	used := make(map[string]bool, len(w.leaves))
	loaded := map[string]reflect.Value{} // tensor name -> the field that holds it
	var absent []*bindLeaf               // missing, unless tied to a tensor of the file
	for _, l := range w.leaves {
		if _, ok := f.h.index[l.name]; !ok {
			absent = append(absent, l)
			continue
		}
		used[l.name] = true
		if err := l.load(f, l.name); err != nil {
			be.Fields = append(be.Fields, err)
			continue
		}
		loaded[l.name] = l.v
	}
	meta := f.h.metadata
	for _, l := range absent {
		src, ok := meta[l.name]
		if _, exists := f.h.index[src]; !ok || !exists {
			missing = append(missing, l.name)
			continue
		}
		used[src] = true
		if other, ok := loaded[src]; ok && other.Type() == l.v.Type() && l.shapeOK(f.h.tensors[f.h.index[src]].Shape) {
			l.v.Set(other) // share, as the tied weights did
			continue
		}
		if err := l.load(f, src); err != nil {
			be.Fields = append(be.Fields, err)
		}
	}
	for _, ti := range f.h.tensors {
		if !used[ti.Name] {
			unexpected = append(unexpected, ti.Name)
		}
	}
	slices.Sort(missing)
	slices.Sort(unexpected)
	if !o.NonStrict {
		be.Missing, be.Unexpected = missing, unexpected
	}
	if len(be.Missing) > 0 || len(be.Unexpected) > 0 || len(be.Fields) > 0 {
		return missing, unexpected, be
	}
	return missing, unexpected, nil
}

// Marshal returns the tensors that the struct v (or pointer to struct)
// holds, named by the rules of [Unmarshal], and the metadata to save with them,
// like save_model in Python: the result is ready for [Save] or
// [SaveFile].
//
// The tensors of []T fields alias the slices on little-endian machines (see
// [FromValues]): nothing is copied, so the struct must not change until the
// tensors are saved. Fields with a dtype option are converted into new
// memory. Nil pointers to structs are skipped; a nil or empty []T is an
// empty tensor (shape [0], or the tag's shape if it has a zero); a zero
// Tensor is an error.
//
// Tied weights, two fields holding the same slice (the same first element
// and length) or the same Tensor bytes, with the same dtype and shape, are
// written once, as save_model does: under the name that sorts first, and
// the metadata maps each dropped name to the kept one (save_model's
// _remove_duplicate_names and its metadata[dropped] = kept). [Unmarshal]
// reads that back into tied fields. The metadata is nil when nothing was
// dropped. Two fields naming the same tensor, or a shape option that does
// not fit a slice's length, are errors.
func Marshal(v any) (map[string]Tensor, map[string]string, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, nil, fmt.Errorf("safetensors: Marshal needs a struct or a pointer to one, not %T", v)
	}
	w := &bindWalker{}
	if err := w.walkStruct(rv, "", rv.Type().Name()); err != nil {
		return nil, nil, err
	}
	if err := w.checkNames(); err != nil {
		return nil, nil, err
	}
	type identity struct {
		ptr   uintptr
		n     int
		typ   reflect.Type
		dtype DType // the tensor's
		to    DType // the dtype option's
		shape string
	}
	groups := map[identity][]*bindLeaf{}
	var order []identity
	tensors := make(map[string]Tensor, len(w.leaves))
	for _, l := range w.leaves {
		t, err := l.tensor()
		if err != nil {
			return nil, nil, err
		}
		tensors[l.name] = t
		if len(t.data) == 0 {
			continue // empty tensors share nothing
		}
		// The memory the field refers to: a slice's backing array, or a
		// Tensor's bytes.
		mem := l.v
		if l.v.Type() == tensorRType {
			mem = reflect.ValueOf(t.data)
		}
		id := identity{mem.Pointer(), mem.Len(), l.v.Type(), t.dtype, l.dtype, fmt.Sprint(t.shape)}
		if _, seen := groups[id]; !seen {
			order = append(order, id)
		}
		groups[id] = append(groups[id], l)
	}
	var meta map[string]string
	for _, id := range order {
		g := groups[id]
		if len(g) < 2 {
			continue
		}
		names := make([]string, len(g))
		for i, l := range g {
			names[i] = l.name
		}
		slices.Sort(names)
		if meta == nil {
			meta = map[string]string{}
		}
		for _, dropped := range names[1:] {
			delete(tensors, dropped)
			meta[dropped] = names[0]
		}
	}
	// Convert after deduplication, so tied fields are converted once.
	for _, l := range w.leaves {
		t, ok := tensors[l.name]
		if !ok || l.dtype == 0 || l.dtype == t.dtype {
			continue
		}
		c, err := Convert(t, l.dtype)
		if err != nil {
			return nil, nil, l.marshalErr(err)
		}
		tensors[l.name] = c
	}
	return tensors, meta, nil
}

// BindError is the error of [Unmarshal] when tensors and fields do not
// match: the tensors that fields name but the file lacks (Missing), the
// tensors of the file that no field names (Unexpected), both sorted and
// both empty with NonStrict, and the fields whose tensor could not be
// bound (Fields: a shape that differs from the tag, a value the field's
// type cannot hold, each naming the Go field and the tensor). errors.Is
// finds [ErrTensorNotFound] in it when Missing is not empty, and the
// sentinels of the field errors.
type BindError struct {
	Missing    []string
	Unexpected []string
	Fields     []error
}

func (e *BindError) Error() string {
	var parts []string
	quote := func(names []string) string {
		q := make([]string, len(names))
		for i, n := range names {
			q[i] = strconv.Quote(n)
		}
		return strings.Join(q, ", ")
	}
	if len(e.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("%d missing: %s", len(e.Missing), quote(e.Missing)))
	}
	if len(e.Unexpected) > 0 {
		parts = append(parts, fmt.Sprintf("%d unexpected: %s", len(e.Unexpected), quote(e.Unexpected)))
	}
	for _, f := range e.Fields {
		parts = append(parts, f.Error())
	}
	return "safetensors: binding tensors to the struct: " + strings.Join(parts, "; ")
}

// Unwrap returns the field errors, and ErrTensorNotFound when tensors are
// missing.
func (e *BindError) Unwrap() []error {
	errs := slices.Clone(e.Fields)
	if len(e.Missing) > 0 {
		errs = append(errs, ErrTensorNotFound)
	}
	return errs
}

// bindLeaf is one field (or slice element) bound to one tensor.
type bindLeaf struct {
	v     reflect.Value // settable: a []T or a Tensor
	name  string        // the tensor's full name
	path  string        // the Go field, for messages: Layers[3].Attn.QProj
	shape []int         // from the tag; nil when none; may hold one -1
	dtype DType         // from the tag, for Marshal; 0 when none
}

// bindWalker collects the leaves of a struct.
type bindWalker struct {
	file     *File           // nil for Marshal
	prefixes map[string]bool // every "a.b." that starts a name of file
	leaves   []*bindLeaf
}

var tensorRType = reflect.TypeFor[Tensor]()

// leafTypes holds, for each []T field type, how to load it from a tensor and
// how to make a tensor of it.
var leafTypes = map[reflect.Type]leafOps{}

type leafOps struct {
	load   func(field reflect.Value, t Tensor) error              // field is addressable
	tensor func(field reflect.Value, shape []int) (Tensor, error) // a tensor over the slice
}

func registerLeaf[T Element]() {
	leafTypes[reflect.TypeFor[[]T]()] = leafOps{
		load: func(field reflect.Value, t Tensor) error { return fillBound(field.Addr().Interface().(*[]T), t) },
		tensor: func(field reflect.Value, shape []int) (Tensor, error) {
			return FromValues(shape, field.Interface().([]T))
		},
	}
}

func init() {
	registerLeaf[bool]()
	registerLeaf[uint8]()
	registerLeaf[int8]()
	registerLeaf[uint16]()
	registerLeaf[int16]()
	registerLeaf[uint32]()
	registerLeaf[int32]()
	registerLeaf[uint64]()
	registerLeaf[int64]()
	registerLeaf[float32]()
	registerLeaf[float64]()
	registerLeaf[complex64]()
	registerLeaf[float16.Float16]()
	registerLeaf[BFloat16]()
}

// bindKind classifies a field type.
type bindKind int

const (
	bindNone     bindKind = iota // not bindable
	bindLeafKind                 // []T or Tensor
	bindStruct                   // struct
	bindPtr                      // *struct
	bindSlice                    // slice of leaves, structs or pointers to structs
)

func classifyBind(t reflect.Type) bindKind {
	switch {
	case t == tensorRType:
		return bindLeafKind
	case leafTypes[t].load != nil:
		return bindLeafKind
	case t.Kind() == reflect.Struct:
		return bindStruct
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Elem() != tensorRType:
		return bindPtr
	case t.Kind() == reflect.Slice:
		if k := classifyBind(t.Elem()); k != bindNone && k != bindSlice {
			return bindSlice
		}
	}
	return bindNone
}

// walkStruct adds the leaves of struct v, whose tensors' names start with
// prefix and whose Go path is path.
func (w *bindWalker) walkStruct(v reflect.Value, prefix, path string) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("safetensors")
		if tag == "-" {
			continue
		}
		fpath := sf.Name
		if path != "" {
			fpath = path + "." + sf.Name
		}
		k := classifyBind(sf.Type)
		if sf.Anonymous && !hasTag && (k == bindStruct || k == bindPtr) {
			if !sf.IsExported() && k == bindPtr {
				continue // cannot allocate through an unexported embedded pointer
			}
			fv := v.Field(i)
			if k == bindPtr {
				if fv.IsNil() {
					if w.file == nil {
						continue
					}
					fv.Set(reflect.New(sf.Type.Elem()))
				}
				fv = fv.Elem()
			}
			if err := w.walkStruct(fv, prefix, fpath); err != nil {
				return err
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		name, opts, err := parseBindTag(tag)
		if err != nil {
			return fmt.Errorf("safetensors: field %s: %w", fpath, err)
		}
		if k == bindNone {
			if hasTag {
				return fmt.Errorf("safetensors: field %s: type %v cannot hold tensors", fpath, sf.Type)
			}
			continue
		}
		if (opts.shape != nil || opts.dtype != 0) && k != bindLeafKind && !(k == bindSlice && classifyBind(sf.Type.Elem()) == bindLeafKind) {
			return fmt.Errorf("safetensors: field %s: shape and dtype options apply to tensor fields, not %v", fpath, sf.Type)
		}
		if name == "" {
			name = snakeCase(sf.Name)
		}
		if err := w.walkValue(v.Field(i), k, prefix+name, fpath, opts); err != nil {
			return err
		}
	}
	return nil
}

// walkValue adds the leaves of v, of kind k, named name.
func (w *bindWalker) walkValue(v reflect.Value, k bindKind, name, path string, opts bindTagOptions) error {
	switch k {
	case bindLeafKind:
		w.leaves = append(w.leaves, &bindLeaf{v: v, name: name, path: path, shape: opts.shape, dtype: opts.dtype})
	case bindStruct:
		return w.walkStruct(v, name+".", path)
	case bindPtr:
		if v.IsNil() {
			if w.file == nil {
				return nil // Marshal: nothing to write
			}
			v.Set(reflect.New(v.Type().Elem()))
		}
		return w.walkStruct(v.Elem(), name+".", path)
	case bindSlice:
		ek := classifyBind(v.Type().Elem())
		if v.Len() == 0 && w.file != nil {
			n := 0
			for w.hasIndex(name, n, ek) {
				n++
			}
			v.Set(reflect.MakeSlice(v.Type(), n, n))
		}
		for i := range v.Len() {
			if err := w.walkValue(v.Index(i), ek, name+"."+strconv.Itoa(i), path+"["+strconv.Itoa(i)+"]", opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasIndex reports whether the file has element i of the slice named name:
// a tensor "name.i" for a slice of leaves, tensors "name.i.*" for a slice of
// structs.
func (w *bindWalker) hasIndex(name string, i int, ek bindKind) bool {
	elem := name + "." + strconv.Itoa(i)
	if ek == bindLeafKind {
		_, ok := w.file.h.index[elem]
		if !ok {
			_, ok = w.file.h.index[w.file.h.metadata[elem]] // a tied element
			ok = ok && w.file.h.metadata[elem] != ""
		}
		return ok
	}
	return w.prefixes[elem+"."]
}

// checkNames refuses two fields that name the same tensor.
func (w *bindWalker) checkNames() error {
	seen := make(map[string]*bindLeaf, len(w.leaves))
	for _, l := range w.leaves {
		if other, ok := seen[l.name]; ok {
			return fmt.Errorf("safetensors: fields %s and %s both name tensor %q", other.path, l.path, l.name)
		}
		seen[l.name] = l
	}
	return nil
}

// fieldErr wraps err with the field and the tensor it concerns.
func (l *bindLeaf) fieldErr(tensor string, err error) error {
	return fmt.Errorf("field %s (tensor %q): %w", l.path, tensor, err)
}

// marshalErr is fieldErr for Marshal's errors, which stand alone.
func (l *bindLeaf) marshalErr(err error) error {
	return fmt.Errorf("safetensors: %w", l.fieldErr(l.name, err))
}

// shapeOK reports whether shape matches the tag's shape, if any.
func (l *bindLeaf) shapeOK(shape []int) bool {
	if l.shape == nil {
		return true
	}
	if len(shape) != len(l.shape) {
		return false
	}
	for i, d := range l.shape {
		if d != -1 && d != shape[i] {
			return false
		}
	}
	return true
}

// load fills the leaf from the file's tensor src.
func (l *bindLeaf) load(f *File, src string) error {
	t, err := f.GetTensor(src)
	if err != nil {
		return l.fieldErr(src, err)
	}
	if !l.shapeOK(t.shape) {
		return l.fieldErr(src, fmt.Errorf("%w: shape %v, the tag wants %s", ErrInvalidTensorInfo, t.shape, tagShapeString(l.shape)))
	}
	if l.v.Type() == tensorRType {
		l.v.Set(reflect.ValueOf(t))
		return nil
	}
	err = leafTypes[l.v.Type()].load(l.v, t)
	if err != nil {
		return l.fieldErr(src, err)
	}
	return nil
}

// fillBound sets *p to t's elements converted to T, in memory that does
// not alias t: the existing slice when it has the right length, else a new
// one.
func fillBound[T Element](p *[]T, t Tensor) error {
	switch p := any(p).(type) {
	case *[]float32: // decode straight into the slice
		return appendInto(p, t, AppendFloat32)
	case *[]float64:
		return appendInto(p, t, AppendFloat64)
	}
	owned := false
	if d := DTypeOf[T](); t.dtype != d {
		c, err := Convert(t, d)
		if err != nil {
			return err
		}
		t, owned = c, true
	}
	v, err := Values[T](t)
	if err != nil {
		return err
	}
	if len(*p) == len(v) {
		copy(*p, v)
		return nil
	}
	if owned || !IsView[T](t) {
		*p = v // already a copy
		return nil
	}
	*p = slices.Clone(v)
	return nil
}

// appendInto decodes t into *p with an Append function, reusing *p when it
// has the right length.
func appendInto[N float32 | float64](p *[]N, t Tensor, appendFn func([]N, Tensor) ([]N, error)) error {
	dst := *p
	if len(dst) != t.NumElements() {
		dst = nil
	}
	dst, err := appendFn(dst[:0], t)
	if err != nil {
		return err
	}
	*p = dst
	return nil
}

// tensor builds the leaf's tensor for Marshal (before any dtype option).
func (l *bindLeaf) tensor() (Tensor, error) {
	if t, ok := l.v.Interface().(Tensor); ok {
		if !t.dtype.Valid() {
			return Tensor{}, l.marshalErr(fmt.Errorf("%w: zero Tensor", ErrInvalidTensorInfo))
		}
		if !l.shapeOK(t.shape) {
			return Tensor{}, l.marshalErr(fmt.Errorf("%w: shape %v, the tag wants %s", ErrInvalidTensorInfo, t.shape, tagShapeString(l.shape)))
		}
		return t, nil
	}
	n := l.v.Len()
	shape := []int{n}
	if l.shape != nil {
		var err error
		if shape, err = resolveTagShape(l.shape, n); err != nil {
			return Tensor{}, l.marshalErr(err)
		}
	}
	t, err := leafTypes[l.v.Type()].tensor(l.v, shape)
	if err != nil {
		return Tensor{}, l.marshalErr(err)
	}
	return t, nil
}

// resolveTagShape turns a tag's shape into the shape of n elements, computing
// a -1 dimension.
func resolveTagShape(spec []int, n int) ([]int, error) {
	shape := slices.Clone(spec)
	known, wild := 1, -1
	for i, d := range spec {
		if d == -1 {
			wild = i
			continue
		}
		known *= d
	}
	if wild >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("%w: %d values do not fill shape %s", ErrInvalidTensorInfo, n, tagShapeString(spec))
		}
		shape[wild] = n / known
		return shape, nil
	}
	if known != n {
		return nil, fmt.Errorf("%w: %d values, the tag's shape %s holds %d", ErrInvalidTensorInfo, n, tagShapeString(spec), known)
	}
	return shape, nil
}

func tagShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

type bindTagOptions struct {
	shape []int
	dtype DType
}

// parseBindTag splits a safetensors tag into the name and its options.
func parseBindTag(tag string) (string, bindTagOptions, error) {
	var opts bindTagOptions
	name, rest, _ := strings.Cut(tag, ",")
	for rest != "" {
		var opt string
		opt, rest, _ = strings.Cut(rest, ",")
		key, val, ok := strings.Cut(opt, "=")
		switch {
		case ok && key == "shape":
			if opts.shape != nil {
				return "", opts, fmt.Errorf("tag %q: shape given twice", tag)
			}
			opts.shape = []int{}
			wild := false
			for _, s := range strings.Split(val, "x") {
				d, err := strconv.Atoi(s)
				if err != nil || d < -1 || d == -1 && wild {
					return "", opts, fmt.Errorf("tag %q: shape %q: want dimensions like 4096x4096, at most one -1", tag, val)
				}
				wild = wild || d == -1
				opts.shape = append(opts.shape, d)
			}
		case ok && key == "dtype":
			d, err := ParseDType(val)
			if err != nil {
				return "", opts, fmt.Errorf("tag %q: unknown dtype %q", tag, val)
			}
			opts.dtype = d
		default:
			return "", opts, fmt.Errorf("tag %q: unknown option %q (want shape=AxB or dtype=NAME)", tag, opt)
		}
	}
	return name, opts, nil
}

// snakeCase turns a Go field name into PyTorch's attribute style: QProj ->
// q_proj, LMHead -> lm_head, Fc1 -> fc1.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

var _ error = (*BindError)(nil)
