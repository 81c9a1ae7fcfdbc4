package pytorch

import (
	"fmt"
	"math"
	"math/big"

	"github.com/safetensors-go/safetensors"
)

// The allow-list: the only Python globals a checkpoint's pickle may name.
// Each resolves to an inert descriptor; see call for what "calling" one does.
//
//	collections.OrderedDict                      an empty ordered dict
//	torch._utils._rebuild_tensor                 a tensor descriptor (torch < 1.0)
//	torch._utils._rebuild_tensor_v2              a tensor descriptor
//	torch._utils._rebuild_tensor_v3              a tensor descriptor (torch >= 2.1, new dtypes)
//	torch._utils._rebuild_parameter              its tensor argument
//	torch._utils._rebuild_parameter_with_state   its tensor argument
//	torch.nn.parameter.Parameter                 its tensor argument
//	torch.Size                                   its tuple argument
//	torch.<X>Storage, torch.cuda.<X>Storage      a storage type (for persistent ids)
//	torch.UntypedStorage, torch.storage.UntypedStorage (and _UntypedStorage)
//	torch.<dtype>                                a dtype (float32, bfloat16, float8_e4m3fn, ...)
//	_codecs.encode                               bytes from a str, as protocols 0-2 write bytes (latin-1 only)

type globalKind uint8

const (
	gOrderedDict globalKind = iota + 1
	gRebuildTensor
	gRebuildTensorV2
	gRebuildTensorV3
	gRebuildParameter
	gRebuildParameterWithState
	gParameter
	gSize
	gStorageType
	gDType
	gCodecsEncode
)

// pyGlobal is an allowed global: a descriptor, never code.
type pyGlobal struct {
	module, name string
	kind         globalKind
	dtype        *torchDType // gStorageType (the storage's dtype) and gDType
	untyped      bool        // gStorageType: UntypedStorage (dtype uint8)
}

// torchDType describes one torch dtype.
type torchDType struct {
	name string            // torch's name: "float32"
	size int64             // bytes per element
	st   safetensors.DType // the safetensors dtype, 0 when there is none
	swap int64             // byte-swap unit for big-endian storages (C64: 4)
}

var torchDTypes = map[string]*torchDType{}

func addDType(name string, size int64, st safetensors.DType) {
	swap := size
	if st == safetensors.C64 {
		swap = 4
	}
	torchDTypes[name] = &torchDType{name: name, size: size, st: st, swap: swap}
}

func init() {
	addDType("float32", 4, safetensors.F32)
	addDType("float64", 8, safetensors.F64)
	addDType("float16", 2, safetensors.F16)
	addDType("bfloat16", 2, safetensors.BF16)
	addDType("int64", 8, safetensors.I64)
	addDType("int32", 4, safetensors.I32)
	addDType("int16", 2, safetensors.I16)
	addDType("int8", 1, safetensors.I8)
	addDType("uint8", 1, safetensors.U8)
	addDType("bool", 1, safetensors.BOOL)
	addDType("complex64", 8, safetensors.C64)
	addDType("uint16", 2, safetensors.U16)
	addDType("uint32", 4, safetensors.U32)
	addDType("uint64", 8, safetensors.U64)
	addDType("float8_e4m3fn", 1, safetensors.F8E4M3)
	addDType("float8_e5m2", 1, safetensors.F8E5M2)
	addDType("float8_e4m3fnuz", 1, safetensors.F8E4M3FNUZ)
	addDType("float8_e5m2fnuz", 1, safetensors.F8E5M2FNUZ)
	addDType("float8_e8m0fnu", 1, safetensors.F8E8M0)
	// torch dtypes that safetensors cannot hold: known, so that their
	// storages can be sized and the error can name them.
	addDType("complex128", 16, 0)
	addDType("complex32", 4, 0)
	addDType("qint8", 1, 0)
	addDType("quint8", 1, 0)
	addDType("qint32", 4, 0)
	addDType("quint4x2", 1, 0)
	addDType("quint2x4", 1, 0)
	addDType("float4_e2m1fn_x2", 1, 0) // two values a byte, counted per byte: not safetensors' F4
	addDType("bits8", 1, 0)
	addDType("bits16", 2, 0)
	addDType("bits1x8", 1, 0)
	addDType("bits2x4", 1, 0)
	addDType("bits4x2", 1, 0)
	for i := 1; i <= 7; i++ {
		addDType(fmt.Sprintf("int%d", i), 1, 0)
		addDType(fmt.Sprintf("uint%d", i), 1, 0)
	}
}

// storageTypes maps torch's legacy typed-storage class names to dtypes.
var storageTypes = map[string]string{
	"DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
	"LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
	"CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
	"BFloat16Storage": "bfloat16", "ComplexDoubleStorage": "complex128",
	"ComplexFloatStorage": "complex64", "QUInt8Storage": "quint8", "QInt8Storage": "qint8",
	"QInt32Storage": "qint32", "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4",
}

type globalName struct{ module, name string }

var allowed = map[globalName]*pyGlobal{}

func allow(module, name string, kind globalKind, dt *torchDType, untyped bool) {
	allowed[globalName{module, name}] = &pyGlobal{module: module, name: name, kind: kind, dtype: dt, untyped: untyped}
}

func init() {
	allow("collections", "OrderedDict", gOrderedDict, nil, false)
	allow("torch._utils", "_rebuild_tensor", gRebuildTensor, nil, false)
	allow("torch._utils", "_rebuild_tensor_v2", gRebuildTensorV2, nil, false)
	allow("torch._utils", "_rebuild_tensor_v3", gRebuildTensorV3, nil, false)
	allow("torch._utils", "_rebuild_parameter", gRebuildParameter, nil, false)
	allow("torch._utils", "_rebuild_parameter_with_state", gRebuildParameterWithState, nil, false)
	allow("torch.nn.parameter", "Parameter", gParameter, nil, false)
	allow("torch", "Size", gSize, nil, false)
	allow("_codecs", "encode", gCodecsEncode, nil, false)
	for name, dt := range storageTypes {
		allow("torch", name, gStorageType, torchDTypes[dt], false)
		allow("torch.cuda", name, gStorageType, torchDTypes[dt], false) // GPU checkpoints of torch < 1.0
	}
	for _, m := range []string{"torch", "torch.storage"} {
		allow(m, "UntypedStorage", gStorageType, torchDTypes["uint8"], true)
		allow(m, "_UntypedStorage", gStorageType, torchDTypes["uint8"], true) // torch 1.12
	}
	for name, dt := range torchDTypes {
		allow("torch", name, gDType, dt, false)
	}
}

// lookupGlobal returns the allowed global module.name, or nil.
func lookupGlobal(module, name string) *pyGlobal { return allowed[globalName{module, name}] }

// call is what REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ do with a callable and
// its arguments. Only allowed globals can be called, and each kind only
// builds a value from its arguments.
func call(f any, args pyTuple) (any, error) {
	g, ok := f.(*pyGlobal)
	if !ok {
		return nil, errorf(ErrCorrupt, "a %s is not callable", pyTypeName(f))
	}
	switch g.kind {
	case gOrderedDict:
		if len(args) != 0 {
			return nil, errorf(ErrUnsupported, "collections.OrderedDict called with %d arguments", len(args))
		}
		return newDict(true), nil
	case gRebuildTensor, gRebuildTensorV2, gRebuildTensorV3:
		return rebuildTensor(g, args)
	case gRebuildParameter, gRebuildParameterWithState, gParameter:
		// _rebuild_parameter(data, requires_grad, backward_hooks[, state]),
		// Parameter(data[, requires_grad]): the tensor is data.
		want := map[globalKind][2]int{gRebuildParameter: {3, 3}, gRebuildParameterWithState: {4, 4}, gParameter: {0, 2}}[g.kind]
		if len(args) < want[0] || len(args) > want[1] || len(args) == 0 {
			return nil, errorf(ErrCorrupt, "%s.%s called with %d arguments", g.module, g.name, len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, errorf(ErrCorrupt, "%s.%s of a %s, not a tensor", g.module, g.name, pyTypeName(args[0]))
		}
		return t, nil
	case gCodecsEncode:
		// _codecs.encode(str, "latin1"): how pickle protocols 0-2 store bytes.
		if len(args) != 2 {
			return nil, errorf(ErrCorrupt, "_codecs.encode called with %d arguments", len(args))
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return nil, errorf(ErrUnsupported, "_codecs.encode(%s, %s): only latin1 is supported", pyTypeName(args[0]), short(args[1]))
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, errorf(ErrCorrupt, "_codecs.encode: %U is not latin-1", r)
			}
			b = append(b, byte(r))
		}
		return pyBytes(b), nil
	case gSize:
		if len(args) != 1 {
			return nil, errorf(ErrCorrupt, "torch.Size called with %d arguments", len(args))
		}
		t, ok := args[0].(pyTuple)
		if !ok {
			return nil, errorf(ErrCorrupt, "torch.Size of a %s", pyTypeName(args[0]))
		}
		return t, nil
	}
	return nil, errorf(ErrCorrupt, "%s.%s is not callable", g.module, g.name)
}

// rebuildTensor checks the arguments of torch's tensor rebuild functions and
// returns a descriptor of the tensor they describe:
//
//	_rebuild_tensor(storage, storage_offset, size, stride)
//	_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
//	_rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
func rebuildTensor(g *pyGlobal, args pyTuple) (*tensorRef, error) {
	min, max := 4, 4
	switch g.kind {
	case gRebuildTensorV2:
		min, max = 6, 7
	case gRebuildTensorV3:
		min, max = 7, 8
	}
	if len(args) < min || len(args) > max {
		return nil, errorf(ErrCorrupt, "%s called with %d arguments", g.name, len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, errorf(ErrCorrupt, "%s of a %s, not a storage", g.name, pyTypeName(args[0]))
	}
	offset, ok := args[1].(int64)
	if !ok || offset < 0 {
		return nil, errorf(ErrCorrupt, "%s: bad storage offset %s", g.name, short(args[1]))
	}
	shape, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(stride) != len(shape) {
		return nil, errorf(ErrCorrupt, "size %s and stride %s differ in length", dims(shape), dims(stride))
	}
	dt := st.dtype
	var metadata any
	switch g.kind {
	case gRebuildTensorV2:
		if len(args) == 7 {
			metadata = args[6]
		}
	case gRebuildTensorV3:
		d, ok := args[6].(*pyGlobal)
		if !ok || d.kind != gDType {
			return nil, errorf(ErrCorrupt, "_rebuild_tensor_v3 dtype is a %s", pyTypeName(args[6]))
		}
		dt = d.dtype
		if len(args) == 8 {
			metadata = args[7]
		}
	}
	if g.kind != gRebuildTensor {
		if _, ok := args[4].(bool); !ok {
			return nil, errorf(ErrCorrupt, "%s: requires_grad is a %s", g.name, pyTypeName(args[4]))
		}
	}
	if err := checkTensorMetadata(metadata); err != nil {
		return nil, err
	}
	t := &tensorRef{storage: st, dtype: dt, offset: offset, shape: shape, stride: stride}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

// checkTensorMetadata accepts the optional metadata dict of torch 2.x
// (today {"conj": bool, "neg": bool}) when no flag is set: a set conj or neg
// bit means the stored values are not the tensor's values.
func checkTensorMetadata(m any) error {
	if m == nil {
		return nil
	}
	d, ok := m.(*pyDict)
	if !ok {
		return errorf(ErrCorrupt, "tensor metadata is a %s, not a dict", pyTypeName(m))
	}
	for i, k := range d.keys {
		if b, ok := d.vals[i].(bool); ok && !b {
			continue
		}
		return errorf(ErrUnsupported, "tensor metadata %s=%s (a conj or neg view: call resolve_conj()/resolve_neg() before saving)", short(k), short(d.vals[i]))
	}
	return nil
}

// maxRank is the most dimensions a tensor may have here. torch has no fixed
// limit but its kernels stop at 25; the bound keeps the work of rebuilding
// a tensor constant when a huge size tuple is reused through the memo.
const maxRank = 64

// intTuple converts a tuple of non-negative Python ints.
func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(pyTuple)
	if !ok {
		if l, ok := v.(*pyList); ok {
			t = l.items
		} else {
			return nil, errorf(ErrCorrupt, "tensor %s is a %s, not a tuple", what, pyTypeName(v))
		}
	}
	if len(t) > maxRank {
		return nil, errorf(ErrUnsupported, "a tensor %s of %d dimensions (the limit is %d)", what, len(t), maxRank)
	}
	out := make([]int64, len(t))
	for i, e := range t {
		n, ok := e.(int64)
		if !ok {
			if _, isBig := e.(*big.Int); isBig {
				return nil, errorf(ErrCorrupt, "tensor %s %s out of range", what, short(e))
			}
			return nil, errorf(ErrCorrupt, "tensor %s holds a %s", what, pyTypeName(e))
		}
		if n < 0 {
			return nil, errorf(ErrCorrupt, "negative tensor %s %d", what, n)
		}
		if n > math.MaxInt {
			return nil, errorf(ErrCorrupt, "tensor %s %d does not fit in an int", what, n)
		}
		out[i] = n
	}
	return out, nil
}
