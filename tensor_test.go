package safetensors_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"
	"unsafe"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/x448/float16"
)

// The file's spelling of each dtype and its size, from the format's table.
var dtypeTable = []struct {
	d    safetensors.DType
	name string
	bits int
}{
	{safetensors.BOOL, "BOOL", 8}, {safetensors.U8, "U8", 8}, {safetensors.I8, "I8", 8},
	{safetensors.I16, "I16", 16}, {safetensors.U16, "U16", 16}, {safetensors.I32, "I32", 32},
	{safetensors.U32, "U32", 32}, {safetensors.I64, "I64", 64}, {safetensors.U64, "U64", 64},
	{safetensors.F16, "F16", 16}, {safetensors.BF16, "BF16", 16}, {safetensors.F32, "F32", 32},
	{safetensors.F64, "F64", 64}, {safetensors.C64, "C64", 64},
	{safetensors.F8E4M3, "F8_E4M3", 8}, {safetensors.F8E5M2, "F8_E5M2", 8}, {safetensors.F8E8M0, "F8_E8M0", 8},
	{safetensors.F8E4M3FNUZ, "F8_E4M3FNUZ", 8}, {safetensors.F8E5M2FNUZ, "F8_E5M2FNUZ", 8},
	{safetensors.F4, "F4", 4}, {safetensors.F6E2M3, "F6_E2M3", 6}, {safetensors.F6E3M2, "F6_E3M2", 6},
}

func TestDTypes(t *testing.T) {
	require.Len(t, dtypeTable, 22)
	assert.Len(t, safetensors.AllDTypes(), 22)
	seen := map[safetensors.DType]bool{}
	for _, c := range dtypeTable {
		assert.False(t, seen[c.d], "%s has a value of its own", c.name)
		seen[c.d] = true
		assert.True(t, c.d.Valid())
		assert.Equal(t, c.name, c.d.String())
		assert.Equal(t, c.bits, c.d.BitSize(), c.name)
		got, err := safetensors.ParseDType(c.name)
		require.NoError(t, err)
		assert.Equal(t, c.d, got)
		assert.Contains(t, safetensors.AllDTypes(), c.d)
	}
	var zero safetensors.DType
	assert.False(t, zero.Valid(), "the zero value is not a dtype")
	assert.Equal(t, 0, zero.BitSize())
	assert.Equal(t, "DType(0)", zero.String())
	for _, bad := range []string{"", "f32", "F8E4M3", "float32", "F32 ", "BOOL\x00", "F6E2M3", "bf16"} {
		_, err := safetensors.ParseDType(bad)
		assert.ErrorIs(t, err, safetensors.ErrInvalidHeader, "%q", bad)
	}
}

func TestDTypeKinds(t *testing.T) {
	floats := map[string]bool{"F16": true, "BF16": true, "F32": true, "F64": true, "F8_E4M3": true, "F8_E5M2": true,
		"F8_E8M0": true, "F8_E4M3FNUZ": true, "F8_E5M2FNUZ": true, "F4": true, "F6_E2M3": true, "F6_E3M2": true}
	ints := map[string]bool{"U8": true, "I8": true, "I16": true, "U16": true, "I32": true, "U32": true, "I64": true, "U64": true}
	for _, c := range dtypeTable {
		assert.Equal(t, floats[c.name], c.d.IsFloat(), c.name)
		assert.Equal(t, ints[c.name], c.d.IsInteger(), c.name)
	}
}

func TestDTypeJSON(t *testing.T) {
	b, err := json.Marshal(map[string]safetensors.DType{"x": safetensors.F8E5M2FNUZ})
	require.NoError(t, err)
	assert.JSONEq(t, `{"x":"F8_E5M2FNUZ"}`, string(b))
	var back map[string]safetensors.DType
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, safetensors.F8E5M2FNUZ, back["x"])
	assert.Error(t, json.Unmarshal([]byte(`{"x":"f16"}`), &back))
	_, err = json.Marshal(safetensors.DType(0))
	assert.Error(t, err)
}

func TestNewTensor(t *testing.T) {
	shape := []int{2, 3}
	data := make([]byte, 24)
	tensor, err := safetensors.NewTensor(safetensors.F32, shape, data)
	require.NoError(t, err)
	shape[0] = 99
	assert.Equal(t, []int{2, 3}, tensor.Shape(), "NewTensor copies the shape")
	tensor.Shape()[1] = 42
	assert.Equal(t, []int{2, 3}, tensor.Shape(), "Shape returns a copy")
	assert.Equal(t, 2, tensor.Rank())
	assert.Equal(t, 3, tensor.Dim(1))
	assert.Equal(t, 6, tensor.NumElements())
	data[0] = 7
	assert.Equal(t, byte(7), tensor.Data()[0], "NewTensor aliases data")
	assert.Equal(t, "F32[2 3] (24 bytes)", tensor.String())

	scalar, err := safetensors.NewTensor(safetensors.F64, nil, make([]byte, 8))
	require.NoError(t, err)
	assert.Equal(t, []int{}, scalar.Shape())
	assert.Equal(t, 1, scalar.NumElements())

	for _, c := range []struct {
		name  string
		dtype safetensors.DType
		shape []int
		n     int
		want  error
	}{
		{"short data", safetensors.F32, []int{2}, 7, safetensors.ErrInvalidTensorInfo},
		{"long data", safetensors.U8, []int{2}, 3, safetensors.ErrInvalidTensorInfo},
		{"negative dimension", safetensors.U8, []int{-1}, 0, safetensors.ErrInvalidTensorInfo},
		{"invalid dtype", safetensors.DType(0), []int{1}, 1, safetensors.ErrInvalidTensorInfo},
		{"F4 odd count", safetensors.F4, []int{3}, 2, safetensors.ErrMisalignedSlice},
		{"F6 two elements", safetensors.F6E3M2, []int{2}, 2, safetensors.ErrMisalignedSlice},
		{"element count overflow", safetensors.U8, []int{1 << 32, 1 << 32}, 0, safetensors.ErrOverflow},
		{"bit count overflow", safetensors.F64, []int{1 << 61}, 0, safetensors.ErrOverflow},
	} {
		_, err := safetensors.NewTensor(c.dtype, c.shape, make([]byte, c.n))
		assert.ErrorIs(t, err, c.want, c.name)
	}
	f4, err := safetensors.NewTensor(safetensors.F4, []int{2, 3}, make([]byte, 3))
	require.NoError(t, err)
	assert.Equal(t, 6, f4.NumElements())
}

func TestValuesView(t *testing.T) {
	data := aligned(16)
	binary.LittleEndian.PutUint32(data[0:], math.Float32bits(1.5))
	binary.LittleEndian.PutUint32(data[4:], math.Float32bits(-2))
	binary.LittleEndian.PutUint32(data[8:], math.Float32bits(float32(math.Inf(1))))
	binary.LittleEndian.PutUint32(data[12:], math.Float32bits(3e-41)) // subnormal
	tensor, err := safetensors.NewTensor(safetensors.F32, []int{4}, data)
	require.NoError(t, err)
	v, err := safetensors.Values[float32](tensor)
	require.NoError(t, err)
	assert.Equal(t, []float32{1.5, -2, float32(math.Inf(1)), 3e-41}, v)
	if !viewsEnabled() {
		assert.False(t, safetensors.IsView[float32](tensor))
		return
	}
	assert.True(t, safetensors.IsView[float32](tensor))
	v[0] = 4
	assert.Equal(t, math.Float32bits(4), binary.LittleEndian.Uint32(data), "a view shares the bytes")

	_, err = safetensors.Values[float64](tensor)
	assert.ErrorIs(t, err, safetensors.ErrInvalidTensorInfo, "T must match the dtype")
	_, err = safetensors.Values[int32](tensor)
	assert.ErrorIs(t, err, safetensors.ErrInvalidTensorInfo)
	assert.False(t, safetensors.IsView[int32](tensor))
}

func TestValuesUnalignedCopies(t *testing.T) {
	data := misaligned(16, 8)
	binary.LittleEndian.PutUint64(data, math.Float64bits(math.Pi))
	binary.LittleEndian.PutUint64(data[8:], math.Float64bits(math.Copysign(0, -1)))
	tensor, err := safetensors.NewTensor(safetensors.F64, []int{2}, data)
	require.NoError(t, err)
	assert.False(t, safetensors.IsView[float64](tensor))
	v, err := safetensors.Values[float64](tensor)
	require.NoError(t, err)
	assert.Equal(t, math.Pi, v[0])
	assert.True(t, math.Signbit(v[1]))
	v[0] = 1
	assert.Equal(t, math.Float64bits(math.Pi), binary.LittleEndian.Uint64(data), "a copy does not write back")
}

// TestValuesEveryType checks each Go element type against bytes written
// with encoding/binary, at an aligned and at an odd address.
func TestValuesEveryType(t *testing.T) {
	for _, odd := range []int{0, 1} {
		check := func(dtype safetensors.DType, raw []byte, test func(tensor safetensors.Tensor)) {
			data := aligned(len(raw))
			if odd == 1 {
				data = misaligned(len(raw), 2)
			}
			copy(data, raw)
			tensor, err := safetensors.NewTensor(dtype, []int{len(raw) * 8 / dtype.BitSize()}, data)
			require.NoError(t, err)
			test(tensor)
		}
		le := binary.LittleEndian
		check(safetensors.U8, []byte{0, 255}, func(x safetensors.Tensor) {
			assert.Equal(t, []uint8{0, 255}, must(safetensors.Values[uint8](x)))
		})
		check(safetensors.I8, []byte{0x80, 0x7f}, func(x safetensors.Tensor) {
			assert.Equal(t, []int8{-128, 127}, must(safetensors.Values[int8](x)))
		})
		check(safetensors.I16, le.AppendUint16(le.AppendUint16(nil, 0x8000), 0x1234), func(x safetensors.Tensor) {
			assert.Equal(t, []int16{-32768, 0x1234}, must(safetensors.Values[int16](x)))
		})
		check(safetensors.U16, le.AppendUint16(nil, 0xfedc), func(x safetensors.Tensor) {
			assert.Equal(t, []uint16{0xfedc}, must(safetensors.Values[uint16](x)))
		})
		check(safetensors.I32, le.AppendUint32(nil, 0xffffffff), func(x safetensors.Tensor) {
			assert.Equal(t, []int32{-1}, must(safetensors.Values[int32](x)))
		})
		check(safetensors.U32, le.AppendUint32(nil, 0x89abcdef), func(x safetensors.Tensor) {
			assert.Equal(t, []uint32{0x89abcdef}, must(safetensors.Values[uint32](x)))
		})
		check(safetensors.I64, le.AppendUint64(nil, 1<<63), func(x safetensors.Tensor) {
			assert.Equal(t, []int64{math.MinInt64}, must(safetensors.Values[int64](x)))
		})
		check(safetensors.U64, le.AppendUint64(nil, 1<<64-1), func(x safetensors.Tensor) {
			assert.Equal(t, []uint64{math.MaxUint64}, must(safetensors.Values[uint64](x)))
		})
		check(safetensors.F16, le.AppendUint16(le.AppendUint16(nil, 0x3c00), 0xc000), func(x safetensors.Tensor) {
			v := must(safetensors.Values[float16.Float16](x))
			assert.Equal(t, []float32{1, -2}, []float32{v[0].Float32(), v[1].Float32()})
		})
		check(safetensors.BF16, le.AppendUint16(nil, 0x3fc0), func(x safetensors.Tensor) {
			v := must(safetensors.Values[safetensors.BFloat16](x))
			assert.Equal(t, float32(1.5), v[0].Float32())
			assert.Equal(t, uint16(0x3fc0), v[0].Bits())
		})
		check(safetensors.C64, le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1)), math.Float32bits(-3)), func(x safetensors.Tensor) {
			assert.Equal(t, []complex64{complex(1, -3)}, must(safetensors.Values[complex64](x)))
		})
		check(safetensors.BOOL, []byte{0, 1, 1}, func(x safetensors.Tensor) {
			assert.Equal(t, []bool{false, true, true}, must(safetensors.Values[bool](x)))
			assert.Equal(t, viewsEnabled(), safetensors.IsView[bool](x), "0/1 bytes can be viewed as bools")
		})
	}
}

// aligned returns n bytes at an address aligned for any element type.
func aligned(n int) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(make([]uint64, n/8+1)))), n)
}

// misaligned returns n bytes at an address that is not a multiple of
// align. Stack buffers may have any alignment, so it is computed.
func misaligned(n, align int) []byte {
	buf := aligned(n + 8)
	return buf[1 : 1+n] // buf is 8-aligned, so buf[1] is misaligned for any align > 1
}

// viewsEnabled reports whether this build makes views at all (not with the
// purego tag, nor on big-endian machines): a U8 tensor is always aligned.
func viewsEnabled() bool {
	u8, _ := safetensors.NewTensor(safetensors.U8, []int{1}, []byte{0})
	return safetensors.IsView[uint8](u8)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestValuesBoolNormalizes: BOOL bytes other than 0 and 1 are valid in a
// file, but a Go bool holding 2 is undefined behaviour, so such tensors are
// copied into real bools.
func TestValuesBoolNormalizes(t *testing.T) {
	data := []byte{0, 2, 255, 1}
	tensor, err := safetensors.NewTensor(safetensors.BOOL, []int{4}, data)
	require.NoError(t, err)
	assert.False(t, safetensors.IsView[bool](tensor))
	v, err := safetensors.Values[bool](tensor)
	require.NoError(t, err)
	assert.Equal(t, []bool{false, true, true, true}, v)
}

// TestValuesRealUnaligned reads the 2022 NumPy files, whose data starts at
// odd offsets, through a mapping: the values must still be right (copies).
func TestValuesRealUnaligned(t *testing.T) {
	f, err := safetensors.Open("testdata/real/official-numpy-2022/overall.safetensors")
	require.NoError(t, err)
	defer f.Close()
	raw, err := os.ReadFile("testdata/real/official-numpy-2022/overall.safetensors")
	require.NoError(t, err)
	for name, info := range f.All() {
		tensor, err := f.GetTensor(name)
		require.NoError(t, err)
		start := f.DataOffset() + info.DataOffsets[0]
		bytes := raw[start : start+info.Size()]
		switch info.DType {
		case safetensors.F32:
			v := must(safetensors.Values[float32](tensor))
			assert.Equal(t, math.Float32frombits(binary.LittleEndian.Uint32(bytes)), v[0])
			assert.Equal(t, viewsEnabled() && start%4 == 0, safetensors.IsView[float32](tensor), "view exactly when aligned")
		case safetensors.F64:
			v := must(safetensors.Values[float64](tensor))
			assert.Equal(t, math.Float64frombits(binary.LittleEndian.Uint64(bytes)), v[0])
			assert.Equal(t, viewsEnabled() && start%8 == 0, safetensors.IsView[float64](tensor))
		case safetensors.I32:
			v := must(safetensors.Values[int32](tensor))
			assert.Equal(t, int32(binary.LittleEndian.Uint32(bytes)), v[0])
		}
	}
	assert.Equal(t, 9, f.Len())
}
