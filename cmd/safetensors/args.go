package main

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/safetensors-go/safetensors"
)

// parseSize reads a shard size as transformers' convert_file_size_to_int
// does: an integer followed by GiB, MiB or KiB (powers of 1024) or by GB, MB
// or KB (powers of 1000), units case-insensitive, except that a lowercase
// final "b" means bits, as in "5Gb" = 625,000,000 bytes. A bare integer is
// a number of bytes. White space around the number is allowed; fractions
// and other units are not.
func parseSize(s string) (int64, error) {
	bad := func() (int64, error) {
		return 0, fmt.Errorf("invalid size %q: use an integer followed by a unit, like 5GB, 500MB or 2GiB", s)
	}
	upper := strings.ToUpper(s)
	type unit struct {
		suffix string
		mult   int64
		bits   bool // a lowercase "b" means bits
	}
	for _, u := range []unit{
		{"GIB", 1 << 30, false}, {"MIB", 1 << 20, false}, {"KIB", 1 << 10, false},
		{"GB", 1e9, true}, {"MB", 1e6, true}, {"KB", 1e3, true},
	} {
		if !strings.HasSuffix(upper, u.suffix) {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s[:len(s)-len(u.suffix)]), 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64/u.mult {
			return bad()
		}
		size := n * u.mult
		if u.bits && strings.HasSuffix(s, "b") {
			size /= 8
		}
		return size, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return bad()
	}
	return n, nil
}

// parseDType reads a --dtype value: a dtype as the format spells it, in any
// case (bf16, F8_E4M3), or one of PyTorch's names (bfloat16, float16, half,
// float32, float, float64, double, float8_e4m3fn, float8_e5m2,
// float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0fnu).
func parseDType(s string) (safetensors.DType, error) {
	torch := map[string]safetensors.DType{
		"bfloat16": safetensors.BF16, "float16": safetensors.F16, "half": safetensors.F16,
		"float32": safetensors.F32, "float": safetensors.F32, "float64": safetensors.F64, "double": safetensors.F64,
		"float8_e4m3fn": safetensors.F8E4M3, "float8_e5m2": safetensors.F8E5M2,
		"float8_e4m3fnuz": safetensors.F8E4M3FNUZ, "float8_e5m2fnuz": safetensors.F8E5M2FNUZ,
		"float8_e8m0fnu": safetensors.F8E8M0,
	}
	name := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "torch.")
	if d, ok := torch[name]; ok {
		return d, nil
	}
	for _, d := range safetensors.AllDTypes() {
		if strings.EqualFold(d.String(), name) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown dtype %q", s)
}

// floatDTypeNames lists the floating dtypes, for help and completion.
func floatDTypeNames() []string {
	var out []string
	for _, d := range safetensors.AllDTypes() {
		if d.IsFloat() {
			out = append(out, strings.ToLower(d.String()))
		}
	}
	return out
}

// selection is one NAME[EXPR] argument of extract: a glob pattern for
// names and an optional index expression.
type selection struct {
	arg     string
	pattern string
	expr    string // the index expression as written, without brackets
	index   []safetensors.Index
	sliced  bool
	matched bool
}

// parseSelection splits an extract argument. An argument that is the exact
// name of a tensor selects that tensor whole, whatever characters it holds.
// Otherwise a final "[...]" whose content parses as an index expression
// (ParseIndex's NumPy syntax: "0", ":10", "::2, -1", "...") slices the
// tensors that the rest matches, and anything else is a glob pattern as a
// whole, where "[...]" is a character class. So "w[12]" is tensor "w",
// index 12, while "w[1-2]" matches "w1" and "w2".
func parseSelection(arg string, isName func(string) bool) (selection, error) {
	sel := selection{arg: arg, pattern: arg}
	if isName(arg) {
		return sel, nil
	}
	if strings.HasSuffix(arg, "]") {
		if open := strings.LastIndexByte(arg, '['); open >= 0 {
			expr := arg[open+1 : len(arg)-1]
			if index, err := safetensors.ParseIndex(expr); err == nil {
				sel.pattern, sel.expr, sel.index, sel.sliced = arg[:open], expr, index, true
			}
		}
	}
	if _, err := path.Match(sel.pattern, ""); err != nil {
		return sel, fmt.Errorf("bad pattern %q: %v", sel.pattern, err)
	}
	return sel, nil
}

// matches reports whether the selection's pattern matches name.
func (s *selection) matches(name string) bool {
	if s.pattern == name {
		return true
	}
	ok, _ := path.Match(s.pattern, name)
	return ok
}
