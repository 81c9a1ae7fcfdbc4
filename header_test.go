package safetensors_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// u8 is the entry of a U8 tensor of n elements at [b, b+n).
func u8(b, n int) string {
	return fmt.Sprintf(`{"dtype":"U8","shape":[%d],"data_offsets":[%d,%d]}`, n, b, b+n)
}

// withLength builds a file whose prefix claims n header bytes, whatever
// follows.
func withLength(n uint64, rest string) []byte {
	b := binary.LittleEndian.AppendUint64(nil, n)
	return append(b, rest...)
}

// nested returns k nested arrays around 0.
func nested(k int) string { return strings.Repeat("[", k) + "0" + strings.Repeat("]", k) }

type headerCase struct {
	name string
	file []byte
	want error // nil: accepted
}

// headerCases holds one case per read-time rule of the format (the reference's checks, in its order),
// named after the rule, and one per accepted item.
var headerCases = []headerCase{
	// 1. Fewer than 8 bytes.
	{"1_HeaderTooSmall/empty", nil, safetensors.ErrHeaderTooSmall},
	{"1_HeaderTooSmall/7_bytes", []byte{2, 0, 0, 0, 0, 0, 0}, safetensors.ErrHeaderTooSmall},
	// 2. N over the limit, checked before the file's length.
	{"2_HeaderTooLarge/limit_plus_one", withLength(100_000_001, "{}"), safetensors.ErrHeaderTooLarge},
	{"2_HeaderTooLarge/claims_1TiB", withLength(1<<40, "{}"), safetensors.ErrHeaderTooLarge},
	{"2_HeaderTooLarge/max_uint64", withLength(1<<64-1, ""), safetensors.ErrHeaderTooLarge},
	{"2_HeaderTooLarge/limit_itself_is_allowed", withLength(100_000_000, "{}"), safetensors.ErrInvalidHeaderLength},
	// 3. 8 + N past the end.
	{"3_InvalidHeaderLength/one_past", withLength(3, "{}"), safetensors.ErrInvalidHeaderLength},
	{"3_InvalidHeaderLength/no_header_bytes", withLength(1, ""), safetensors.ErrInvalidHeaderLength},
	// 4. Not UTF-8.
	{"4_InvalidHeader_not_UTF8/in_name", build("{\"\xff\":"+u8(0, 1)+"}", []byte{0}), safetensors.ErrInvalidHeader},
	{"4_InvalidHeader_not_UTF8/truncated_sequence", build("{\"\xe2\x82\":"+u8(0, 1)+"}", []byte{0}), safetensors.ErrInvalidHeader},
	{"4_InvalidHeader_not_UTF8/surrogate_encoded", build("{\"\xed\xa0\x80\":"+u8(0, 1)+"}", []byte{0}), safetensors.ErrInvalidHeader},
	// 5. JSON and schema.
	{"5_InvalidHeader_JSON/empty_header", build("", nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/NUL_padding", build("{}\x00\x00", nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/BOM", build("\ufeff{}", nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/trailing_comma_object", build(`{"a":`+u8(0, 1)+`,}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/trailing_comma_array", build(`{"a":{"dtype":"U8","shape":[1,],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/two_values", build(`{}{}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/top_level_array", build(`[]`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/unterminated", build(`{"a":`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/raw_control_char_in_string", build("{\"a\tb\":"+u8(0, 1)+"}", []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/bad_escape", build(`{"a\qb":`+u8(0, 1)+`}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_JSON/single_quotes", build(`{'a':`+u8(0, 1)+`}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/float_in_shape", build(`{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/exponent_in_shape", build(`{"a":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/negative_in_shape", build(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/negative_zero", build(`{"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/leading_zero", build(`{"a":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/over_uint64", build(`{"a":{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/string_in_shape", build(`{"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_number/float_in_offsets", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_offsets/one_element", build(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0]}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_offsets/three_elements", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_offsets/not_an_array", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":{"0":1}}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_dtype/unknown", build(`{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_dtype/wrong_case", build(`{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_dtype/go_spelling", build(`{"a":{"dtype":"F8E4M3","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_dtype/not_a_string", build(`{"a":{"dtype":7,"shape":[1],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_entry/missing_dtype", build(`{"a":{"shape":[1],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_entry/missing_shape", build(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_entry/missing_offsets", build(`{"a":{"dtype":"U8","shape":[1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_entry/not_an_object", build(`{"a":[1]}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_entry/null", build(`{"a":null}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/field_in_entry", build(`{"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/unknown_field_in_entry", build(`{"a":{"x":1,"dtype":"U8","x":2,"shape":[1],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/key_nested_in_unknown_field", build(`{"a":{"x":{"k":1,"k":2},"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/key_deep_in_large_object", build(`{"a":{"x":{`+manyKeys(40)+`,"k7":0},"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/tensor_name", build(`{"a":`+u8(0, 1)+`,"a":`+u8(0, 1)+`}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/tensor_name_spelled_with_escape", build(`{"a":`+u8(0, 1)+`,"\u0061":`+u8(1, 1)+`}`, []byte{0, 0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/metadata", build(`{"__metadata__":{},"__metadata__":{}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_duplicate/metadata_key", build(`{"__metadata__":{"k":"1","k":"2"}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_metadata/number_value", build(`{"__metadata__":{"k":1}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_metadata/object_value", build(`{"__metadata__":{"k":{}}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_metadata/array_value", build(`{"__metadata__":{"k":["v"]}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_metadata/null_value", build(`{"__metadata__":{"k":null}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_metadata/not_an_object", build(`{"__metadata__":"format"}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_metadata/array", build(`{"__metadata__":[]}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_depth/128_levels", build(`{"a":{"x":`+nested(126)+`,"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_surrogate/lone_high", build(`{"\ud800":`+u8(0, 1)+`}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_surrogate/lone_low", build(`{"\udc00":`+u8(0, 1)+`}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_surrogate/high_then_letter", build(`{"\ud800x":`+u8(0, 1)+`}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_surrogate/two_highs", build(`{"\ud800\ud800":`+u8(0, 1)+`}`, []byte{0}), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_surrogate/in_metadata", build(`{"__metadata__":{"k":"\udfff"}}`, nil), safetensors.ErrInvalidHeader},
	{"5_InvalidHeader_surrogate/in_unknown_field", build(`{"a":{"x":"\ud800","dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), safetensors.ErrInvalidHeader},
	// The whole header is parsed before offsets are checked, as the
	// reference deserializes first: a syntax error wins over a bad offset
	// listed earlier.
	{"5_InvalidHeader_before_6/syntax_error_after_bad_offsets", build(`{"a":`+u8(5, 1)+`,"b":}`, []byte{0}), safetensors.ErrInvalidHeader},
	// 6. Offsets and sizes, walked in (begin, end) order.
	{"6_InvalidOffset/hole", build(`{"a":`+u8(0, 2)+`,"b":`+u8(3, 1)+`}`, make([]byte, 4)), safetensors.ErrInvalidOffset},
	{"6_InvalidOffset/not_from_zero", build(`{"a":`+u8(1, 2)+`}`, make([]byte, 3)), safetensors.ErrInvalidOffset},
	{"6_InvalidOffset/overlap", build(`{"a":`+u8(0, 3)+`,"b":`+u8(2, 2)+`}`, make([]byte, 4)), safetensors.ErrInvalidOffset},
	{"6_InvalidOffset/same_range_twice", build(`{"a":`+u8(0, 2)+`,"b":`+u8(0, 2)+`}`, make([]byte, 2)), safetensors.ErrInvalidOffset},
	{"6_InvalidOffset/end_before_begin", build(`{"a":`+u8(0, 2)+`,"b":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}`, make([]byte, 2)), safetensors.ErrInvalidOffset},
	{"6_ValidationOverflow/element_count", build(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil), safetensors.ErrOverflow},
	{"6_ValidationOverflow/bit_count", build(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}}`, nil), safetensors.ErrOverflow},
	{"6_ValidationOverflow/dimension_over_int_with_zero", build(`{"a":{"dtype":"U8","shape":[9223372036854775808,0],"data_offsets":[0,0]}}`, nil), safetensors.ErrOverflow},
	{"6_ValidationOverflow/offset_over_int", build(hugeTensors(8), nil), safetensors.ErrOverflow},
	{"6_MisalignedSlice/F4_odd_count", build(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, make([]byte, 2)), safetensors.ErrMisalignedSlice},
	{"6_MisalignedSlice/F6_two_elements", build(`{"a":{"dtype":"F6_E2M3","shape":[2],"data_offsets":[0,2]}}`, make([]byte, 2)), safetensors.ErrMisalignedSlice},
	{"6_TensorInvalidInfo/too_few_bytes", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), safetensors.ErrInvalidTensorInfo},
	{"6_TensorInvalidInfo/too_many_bytes", build(`{"a":{"dtype":"F16","shape":[],"data_offsets":[0,4]}}`, make([]byte, 4)), safetensors.ErrInvalidTensorInfo},
	{"6_TensorInvalidInfo/F6_four_elements_in_four_bytes", build(`{"a":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,4]}}`, make([]byte, 4)), safetensors.ErrInvalidTensorInfo},
	// 7. The data must end exactly at the end of the file.
	{"7_MetadataIncompleteBuffer/trailing_byte", build(`{"a":`+u8(0, 2)+`}`, make([]byte, 3)), safetensors.ErrIncompleteBuffer},
	{"7_MetadataIncompleteBuffer/truncated", build(`{"a":`+u8(0, 2)+`}`, make([]byte, 1)), safetensors.ErrIncompleteBuffer},
	{"7_MetadataIncompleteBuffer/no_tensors_with_data", build(`{}`, []byte{1}), safetensors.ErrIncompleteBuffer},
	{"7_MetadataIncompleteBuffer/offsets_past_the_end", build(`{"a":{"dtype":"U8","shape":[4294967296],"data_offsets":[0,4294967296]}}`, nil), safetensors.ErrIncompleteBuffer},

	// Accepted, as the reference accepts them.
	{"accepted/no_tensors", build(`{}`, nil), nil},
	{"accepted/reference_empty_file", build("{}      ", nil), nil},
	{"accepted/leading_whitespace", build(" \t\r\n{}", nil), nil},
	{"accepted/whitespace_everywhere", build(" { \"a\" : { \"dtype\" : \"U8\" , \"shape\" : [ 1 ] , \"data_offsets\" : [ 0 , 1 ] } } \n", []byte{0}), nil},
	{"accepted/unknown_fields_in_entry", build(`{"a":{"extra":{"x":[1,-2.5e3,true,false,null,"s"],"y":{}},"dtype":"U8","shape":[1],"data_offsets":[0,1],"z":[]}}`, []byte{0}), nil},
	{"accepted/metadata_null", build(`{"__metadata__":null,"a":`+u8(0, 1)+`}`, []byte{0}), nil},
	{"accepted/metadata_empty", build(`{"__metadata__":{}}`, nil), nil},
	{"accepted/metadata_last", build(`{"a":`+u8(0, 1)+`,"__metadata__":{"format":"pt"}}`, []byte{0}), nil},
	{"accepted/empty_tensor", build(`{"a":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}}`, nil), nil},
	{"accepted/two_empty_tensors_one_offset", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[1,1]},"b":{"dtype":"I64","shape":[5,0],"data_offsets":[1,1]},"c":`+u8(0, 1)+`}`, []byte{0}), nil},
	{"accepted/scalar", build(`{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, make([]byte, 8)), nil},
	{"accepted/empty_name", build(`{"":`+u8(0, 1)+`}`, []byte{0}), nil},
	{"accepted/N_not_multiple_of_8", build(`{"a":`+u8(0, 3)+`}`, []byte{1, 2, 3}), nil},
	{"accepted/any_order_in_JSON", build(`{"b":`+u8(2, 2)+`,"c":`+u8(4, 1)+`,"a":`+u8(0, 2)+`}`, make([]byte, 5)), nil},
	{"accepted/NaN_and_odd_BOOL_bytes", build(`{"b":{"dtype":"BOOL","shape":[2],"data_offsets":[4,6]},"f":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, []byte{0, 0, 0xc0, 0x7f, 2, 255}), nil},
	{"accepted/127_levels", build(`{"a":{"x":`+nested(125)+`,"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), nil},
	{"accepted/surrogate_pair", build(`{"\ud83d\ude00":`+u8(0, 1)+`}`, []byte{0}), nil},
	{"accepted/escaped_field_names", build(`{"a":{"dt\u0079pe":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), nil},
	{"accepted/every_escape", build(`{"\"\\\/\b\f\n\r\t\u00e9":`+u8(0, 1)+`}`, []byte{0}), nil},
	{"accepted/F4_and_F6_whole_bytes", build(`{"a":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]},"b":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[3,6]}}`, make([]byte, 6)), nil},
	{"accepted/every_dtype", everyDTypeFile(), nil},
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	return strings.Join(keys, ",")
}

// hugeTensors declares n U8 tensors of 2^60 bytes each, back to back, so
// that the last offsets pass 2^63 once n is 8.
func hugeTensors(n int) string {
	var parts []string
	for i := range n {
		b := uint64(i) << 60
		parts = append(parts, fmt.Sprintf(`"t%d":{"dtype":"U8","shape":[%d],"data_offsets":[%d,%d]}`, i, uint64(1)<<60, b, b+1<<60))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// everyDTypeFile declares one tensor of each of the 22 dtypes, 8 elements
// each (so that F4 and F6 fill whole bytes).
func everyDTypeFile() []byte {
	var parts []string
	off := 0
	for _, name := range []string{"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F16", "BF16", "F32", "F64", "C64",
		"F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F4", "F6_E2M3", "F6_E3M2"} {
		bits := map[string]int{"BOOL": 8, "U8": 8, "I8": 8, "I16": 16, "U16": 16, "I32": 32, "U32": 32, "I64": 64, "U64": 64,
			"F16": 16, "BF16": 16, "F32": 32, "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}[name]
		if bits == 0 {
			bits = 8
		}
		n := 8 * bits / 8
		parts = append(parts, fmt.Sprintf(`"%s":{"dtype":"%s","shape":[2,4],"data_offsets":[%d,%d]}`, name, name, off, off+n))
		off += n
	}
	return build("{"+strings.Join(parts, ",")+"}", make([]byte, off))
}

func TestHeaderRules(t *testing.T) {
	for _, c := range headerCases {
		t.Run(c.name, func(t *testing.T) {
			f, err := safetensors.Load(c.file)
			if c.want == nil {
				require.NoError(t, err)
				require.NotNil(t, f)
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, c.want, "%v", err)
			for _, other := range referenceErrors {
				if other != c.want {
					assert.NotErrorIs(t, err, other, "an error wraps exactly one sentinel")
				}
			}
		})
	}
}

// TestHeaderRulesAllBackends runs the same cases through NewReader and
// Open, which must agree with Load.
func TestHeaderRulesAllBackends(t *testing.T) {
	for _, c := range headerCases {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, c.file)
			for name, open := range backends(t, path) {
				f, err := open()
				if c.want == nil {
					assert.NoError(t, err, name)
					if f != nil {
						f.Close()
					}
				} else {
					assert.ErrorIs(t, err, c.want, name)
				}
			}
		})
	}
}

func TestHeaderErrorsSayWhere(t *testing.T) {
	_, err := safetensors.Load(build(`{"a":`+u8(0, 2)+`,"weight":`+u8(3, 1)+`}`, make([]byte, 4)))
	var fe *safetensors.FormatError
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, "weight", fe.Tensor)
	assert.Contains(t, err.Error(), `tensor "weight"`)
	assert.Contains(t, err.Error(), "hole")

	_, err = safetensors.Load(build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":}`, []byte{0}))
	require.True(t, errors.As(err, &fe))
	assert.Equal(t, int64(8+len(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":`)), fe.Offset, "the offset of the bad byte in the file")
}

func TestMaxHeaderSizeOption(t *testing.T) {
	file := build(`{"a":`+u8(0, 1)+`}`, []byte{0})
	n := int64(len(file) - 9)
	_, err := safetensors.Options{MaxHeaderSize: n - 1}.Load(file)
	assert.ErrorIs(t, err, safetensors.ErrHeaderTooLarge)
	_, err = safetensors.Options{MaxHeaderSize: n}.Load(file)
	assert.NoError(t, err)
	_, err = safetensors.Options{MaxHeaderSize: -1}.Load(withLength(200_000_000, "{}"))
	assert.ErrorIs(t, err, safetensors.ErrInvalidHeaderLength, "no limit: the file's length decides")
	_, err = safetensors.Options{MaxHeaderSize: n - 1}.NewReader(strings.NewReader(string(file)), int64(len(file)))
	assert.ErrorIs(t, err, safetensors.ErrHeaderTooLarge)
}

func TestMetadataNilVersusEmpty(t *testing.T) {
	f, err := safetensors.Load(build(`{"__metadata__":null}`, nil))
	require.NoError(t, err)
	assert.Nil(t, f.Metadata())
	f, err = safetensors.Load(build(`{}`, nil))
	require.NoError(t, err)
	assert.Nil(t, f.Metadata())
	f, err = safetensors.Load(build(`{"__metadata__":{}}`, nil))
	require.NoError(t, err)
	assert.NotNil(t, f.Metadata())
	assert.Empty(t, f.Metadata())
	f, err = safetensors.Load(build(`{"__metadata__":{"a\nb":"\u00e9\ud83d\ude00"}}`, nil))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a\nb": "é😀"}, f.Metadata())
	f.Metadata()["x"] = "y"
	assert.Len(t, f.Metadata(), 1, "Metadata returns a copy")
}

func TestEscapedNamesAndOrder(t *testing.T) {
	f, err := safetensors.Load(build(`{"b\u0000\"x":`+u8(2, 2)+`,"\u00e9":`+u8(4, 1)+`,"a":`+u8(0, 2)+`,"":{"dtype":"U8","shape":[0],"data_offsets":[5,5]}}`, []byte{1, 2, 3, 4, 5}))
	require.NoError(t, err)
	assert.Equal(t, []string{"", "a", "b\x00\"x", "é"}, f.Keys(), "sorted bytewise")
	var order []string
	for name := range f.All() {
		order = append(order, name)
	}
	assert.Equal(t, []string{"a", "b\x00\"x", "é", ""}, order, "buffer order, ties broken by name")
	tensor, err := f.GetTensor("b\x00\"x")
	require.NoError(t, err)
	assert.Equal(t, []byte{3, 4}, tensor.Data())
	infos := f.Infos()
	require.Len(t, infos, 4)
	assert.Equal(t, [2]int64{4, 5}, infos[2].DataOffsets)
	assert.Equal(t, int64(1), infos[2].Size())
}

func TestAllStopsEarly(t *testing.T) {
	f, err := safetensors.Load(build(`{"a":`+u8(0, 1)+`,"b":`+u8(1, 1)+`,"c":`+u8(2, 1)+`}`, []byte{1, 2, 3}))
	require.NoError(t, err)
	var seen []string
	for name := range f.All() {
		seen = append(seen, name)
		if name == "b" {
			break
		}
	}
	assert.Equal(t, []string{"a", "b"}, seen)
}

func TestOverflowMessageSaysItOnce(t *testing.T) {
	_, err := safetensors.Load(build(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`, nil))
	require.ErrorIs(t, err, safetensors.ErrOverflow)
	assert.Equal(t, 1, strings.Count(err.Error(), "safetensors: "), err.Error())
	assert.Contains(t, err.Error(), `tensor "a"`)
}
