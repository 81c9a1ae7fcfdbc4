package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/safetensors-go/safetensors"
	"github.com/spf13/cobra"
)

type diffOptions struct {
	atol, rtol float64
	asJSON     bool
	noMetadata bool
}

func (a *app) diffCommand() *cobra.Command {
	var opt diffOptions
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two models: names, dtypes, shapes, values and metadata",
		Long: `diff compares two models and lists the tensors only in A, only in B, with a
different dtype or shape, and with different values (how many elements differ,
the largest absolute difference |a-b| and the largest relative difference
|a-b|/|b|, and the first element that differs), then the metadata keys that
differ.

Values are compared as numbers, decoded from any dtype: 0 equals -0, a NaN
equals a NaN, and with --atol and --rtol two values are equal when
|a-b| <= atol + rtol*|b|, as numpy.isclose has it (both 0 by default: exact).
Tensors of different dtypes but the same shape are compared by value too, so
that "diff model.safetensors model-bf16.safetensors" shows what a conversion
lost. Tensors are read chunk by chunk: memory use does not grow with their size.

Exit code: 0 when the models are equal, 1 when they differ, 2 on an error
(an unreadable or invalid file, a usage error), as diff(1) and cmp(1) do.`,
		Example: `  safetensors diff model.safetensors model-bf16.safetensors
  safetensors diff --rtol 1e-3 --json a.safetensors b.safetensors`,
		Args: exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if opt.atol < 0 || opt.rtol < 0 || math.IsNaN(opt.atol) || math.IsNaN(opt.rtol) {
				return usagef("--atol and --rtol must be at least 0")
			}
			report, err := a.diff(args[0], args[1], opt)
			if err != nil {
				return &commandError{err: err, code: 2}
			}
			if opt.asJSON {
				err = writeJSON(a.stdout, report)
			} else {
				err = writeDiff(a.stdout, args[0], args[1], report)
			}
			if err != nil {
				return &commandError{err: err, code: 2}
			}
			if !report.Equal {
				return silentExit{1}
			}
			return nil
		}),
	}
	cmd.Flags().Float64Var(&opt.atol, "atol", 0, "absolute tolerance")
	cmd.Flags().Float64Var(&opt.rtol, "rtol", 0, "relative tolerance")
	cmd.Flags().BoolVar(&opt.asJSON, "json", false, "print the report as JSON")
	cmd.Flags().BoolVar(&opt.noMetadata, "no-metadata", false, "do not compare the metadata")
	return cmd
}

// diffReport is what diff finds; --json prints it as it is.
type diffReport struct {
	Equal    bool           `json:"equal"`
	Compared int            `json:"compared"` // tensors in both
	OnlyInA  []diffTensor   `json:"only_in_a"`
	OnlyInB  []diffTensor   `json:"only_in_b"`
	DType    []diffMismatch `json:"dtype"`
	Shape    []diffMismatch `json:"shape"`
	Values   []diffValues   `json:"values"`
	Metadata []diffMetadata `json:"metadata"`
}

type diffTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	Shape []int  `json:"shape"`
}

type diffMismatch struct {
	Name string `json:"name"`
	A    string `json:"a"`
	B    string `json:"b"`
}

type diffValues struct {
	Name      string    `json:"name"`
	Elements  int64     `json:"elements"`
	Different int64     `json:"different"`
	NaN       int64     `json:"nan_mismatches"` // a NaN against a number
	MaxAbs    jsonFloat `json:"max_abs_diff"`
	MaxRel    jsonFloat `json:"max_rel_diff"`
	First     []int     `json:"first_index"`
	FirstA    jsonFloat `json:"first_a"`
	FirstB    jsonFloat `json:"first_b"`
}

type diffMetadata struct {
	Key string  `json:"key"`
	A   *string `json:"a"` // null: not in A
	B   *string `json:"b"`
}

func (a *app) diff(argA, argB string, opt diffOptions) (*diffReport, error) {
	ma, err := a.openModel(argA)
	if err != nil {
		return nil, inFile(argA, err)
	}
	defer ma.Close()
	mb, err := a.openModel(argB)
	if err != nil {
		return nil, inFile(argB, err)
	}
	defer mb.Close()

	r := &diffReport{
		OnlyInA: []diffTensor{}, OnlyInB: []diffTensor{},
		DType: []diffMismatch{}, Shape: []diffMismatch{},
		Values: []diffValues{}, Metadata: []diffMetadata{},
	}
	type pair struct{ a, b tensorRef }
	var pairs []pair
	var total int64
	for _, ta := range ma.tensors {
		tb, ok := mb.tensor(ta.Name)
		if !ok {
			r.OnlyInA = append(r.OnlyInA, diffTensor{ta.Name, ta.DType.String(), nonNil(ta.Shape)})
			continue
		}
		r.Compared++
		if ta.DType != tb.DType {
			r.DType = append(r.DType, diffMismatch{ta.Name, ta.DType.String(), tb.DType.String()})
		}
		if !slices.Equal(ta.Shape, tb.Shape) {
			r.Shape = append(r.Shape, diffMismatch{ta.Name, formatShape(ta.Shape), formatShape(tb.Shape)})
			continue
		}
		pairs = append(pairs, pair{ta, tb})
		total += ta.Size() + tb.Size()
	}
	for _, tb := range mb.tensors {
		if _, ok := ma.tensor(tb.Name); !ok {
			r.OnlyInB = append(r.OnlyInB, diffTensor{tb.Name, tb.DType.String(), nonNil(tb.Shape)})
		}
	}
	slices.SortFunc(r.OnlyInA, func(x, y diffTensor) int { return cmpString(x.Name, y.Name) })
	slices.SortFunc(r.OnlyInB, func(x, y diffTensor) int { return cmpString(x.Name, y.Name) })

	bar := a.newProgress("comparing", total)
	defer bar.done()
	for _, p := range pairs {
		v, err := compareValues(p.a, p.b, opt, bar)
		if err != nil {
			return nil, err
		}
		if v.Different > 0 {
			r.Values = append(r.Values, v)
		}
	}
	bar.done()

	if !opt.noMetadata {
		r.Metadata = diffMeta(ma.metadata, mb.metadata)
	}
	r.Equal = len(r.OnlyInA)+len(r.OnlyInB)+len(r.DType)+len(r.Shape)+len(r.Values)+len(r.Metadata) == 0
	return r, nil
}

func nonNil(shape []int) []int { return append([]int{}, shape...) }

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareValues compares two tensors of the same shape element by element,
// chunk by chunk. Chunks whose bytes are equal are not decoded.
func compareValues(ta, tb tensorRef, opt diffOptions, bar *progress) (diffValues, error) {
	v := diffValues{Name: ta.Name, Elements: int64(ta.NumElements())}
	ra, err := newChunkReader(ta, bar)
	if err != nil {
		return v, inFile(ta.file.name, err)
	}
	rb, err := newChunkReader(tb, bar)
	if err != nil {
		return v, inFile(tb.file.name, err)
	}
	sameDType := ta.DType == tb.DType
	exact := sameDType && (ta.DType.IsInteger() || ta.DType == safetensors.BOOL)
	var bufA, bufB []float64
	for {
		first, ca, err := ra.chunk()
		if err == io.EOF {
			break
		}
		if err != nil {
			return v, inFile(ta.file.name, err)
		}
		_, cb, err := rb.chunk()
		if err != nil {
			return v, inFile(tb.file.name, err)
		}
		if sameDType && bytes.Equal(ca.Data(), cb.Data()) {
			continue
		}
		if bufA, err = safetensors.AppendFloat64(bufA[:0], numeric(ca)); err != nil {
			return v, inFile(ta.file.name, fmt.Errorf("tensor %q: %w", ta.Name, err))
		}
		if bufB, err = safetensors.AppendFloat64(bufB[:0], numeric(cb)); err != nil {
			return v, inFile(tb.file.name, fmt.Errorf("tensor %q: %w", tb.Name, err))
		}
		size := ta.DType.BitSize() / 8
		da, db := ca.Data(), cb.Data()
		for i, x := range bufA {
			y := bufB[i]
			var differ bool
			if exact {
				// Integers of 64 bits beyond 2^53 are not exact in float64:
				// compare their bytes.
				differ = !bytes.Equal(da[i*size:(i+1)*size], db[i*size:(i+1)*size])
			} else {
				differ = !closeEnough(x, y, opt)
			}
			if !differ {
				continue
			}
			if v.Different == 0 {
				v.First = unravel(first, i, ta)
				v.FirstA, v.FirstB = jsonFloat(x), jsonFloat(y)
			}
			v.Different++
			if math.IsNaN(x) || math.IsNaN(y) {
				v.NaN++
				continue
			}
			d := math.Abs(x - y)
			if exact && size == 8 {
				d = intDistance(ta.DType, da[i*8:], db[i*8:])
			}
			if d > float64(v.MaxAbs) {
				v.MaxAbs = jsonFloat(d)
			}
			rel := math.Inf(1)
			if y != 0 {
				rel = d / math.Abs(y)
			}
			if rel > float64(v.MaxRel) {
				v.MaxRel = jsonFloat(rel)
			}
		}
	}
	return v, nil
}

// intDistance returns |a-b| for the I64 or U64 values at the start of a and
// b, computed without the float64 rounding of the values themselves, which
// loses differences beyond 2^53.
func intDistance(d safetensors.DType, a, b []byte) float64 {
	x, y := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(b)
	if d == safetensors.I64 && (int64(x) < 0) != (int64(y) < 0) {
		return math.Abs(float64(int64(x)) - float64(int64(y)))
	}
	if d == safetensors.I64 {
		x, y = uint64(int64(x)-math.MinInt64), uint64(int64(y)-math.MinInt64) // same order, no overflow
	}
	if x >= y {
		return float64(x - y)
	}
	return float64(y - x)
}

// closeEnough is numpy.isclose with equal_nan: a == b, both NaN, or
// |a-b| <= atol + rtol*|b|.
func closeEnough(a, b float64, opt diffOptions) bool {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return true
	}
	if math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false
	}
	return math.Abs(a-b) <= opt.atol+opt.rtol*math.Abs(b)
}

// unravel turns the index of value i of a chunk whose first element is first
// into the element's position in the tensor's shape; for C64, whose values
// come in pairs, the complex element's position.
func unravel(first, i int, t tensorRef) []int {
	flat := first + i
	if t.DType == safetensors.C64 {
		flat = first + i/2
	}
	pos := make([]int, len(t.Shape))
	for k := len(t.Shape) - 1; k >= 0; k-- {
		if d := t.Shape[k]; d > 0 {
			pos[k] = flat % d
			flat /= d
		}
	}
	return pos
}

// diffMeta lists the metadata keys whose values differ, sorted.
func diffMeta(a, b map[string]string) []diffMetadata {
	out := []diffMetadata{}
	keys := sortedKeys(a)
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		va, inA := a[k]
		vb, inB := b[k]
		if inA && inB && va == vb {
			continue
		}
		d := diffMetadata{Key: k}
		if inA {
			d.A = &va
		}
		if inB {
			d.B = &vb
		}
		out = append(out, d)
	}
	return out
}

func writeDiff(w io.Writer, nameA, nameB string, r *diffReport) error {
	var b bytes.Buffer
	for _, t := range r.OnlyInA {
		fmt.Fprintf(&b, "only in A: %s (%s %s)\n", printableName(t.Name), t.DType, formatShape(t.Shape))
	}
	for _, t := range r.OnlyInB {
		fmt.Fprintf(&b, "only in B: %s (%s %s)\n", printableName(t.Name), t.DType, formatShape(t.Shape))
	}
	for _, m := range r.DType {
		fmt.Fprintf(&b, "dtype: %s: %s in A, %s in B\n", printableName(m.Name), m.A, m.B)
	}
	for _, m := range r.Shape {
		fmt.Fprintf(&b, "shape: %s: %s in A, %s in B\n", printableName(m.Name), m.A, m.B)
	}
	for _, v := range r.Values {
		fmt.Fprintf(&b, "values: %s: %s of %s %s differ", printableName(v.Name), formatCount(v.Different),
			formatCount(v.Elements), plural(int(v.Elements), "element", "elements"))
		if v.NaN < v.Different {
			fmt.Fprintf(&b, ", max abs diff %s, max rel diff %s", formatFloat(float64(v.MaxAbs)), formatFloat(float64(v.MaxRel)))
		}
		if v.NaN > 0 {
			fmt.Fprintf(&b, ", %s NaN against a number", formatCount(v.NaN))
		}
		fmt.Fprintf(&b, " (first at %s: %s in A, %s in B)\n", formatShape(v.First), formatFloat(float64(v.FirstA)), formatFloat(float64(v.FirstB)))
	}
	for _, m := range r.Metadata {
		switch {
		case m.B == nil:
			fmt.Fprintf(&b, "metadata: %s: only in A\n", printableName(m.Key))
		case m.A == nil:
			fmt.Fprintf(&b, "metadata: %s: only in B\n", printableName(m.Key))
		default:
			fmt.Fprintf(&b, "metadata: %s: %s in A, %s in B\n", printableName(m.Key), shortQuote(*m.A), shortQuote(*m.B))
		}
	}
	if r.Equal {
		fmt.Fprintf(&b, "equal: %s %s\n", formatCount(int64(r.Compared)), plural(r.Compared, "tensor", "tensors"))
	} else {
		var parts []string
		add := func(n int, what string) {
			if n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", n, what))
			}
		}
		add(len(r.OnlyInA), "only in A")
		add(len(r.OnlyInB), "only in B")
		add(len(r.DType), "with another dtype")
		add(len(r.Shape), "with another shape")
		add(len(r.Values), "with other values")
		add(len(r.Metadata), "metadata "+plural(len(r.Metadata), "key", "keys"))
		fmt.Fprintf(&b, "different (A is %s, B is %s): %s\n", printableName(nameA), printableName(nameB), strings.Join(parts, ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// shortQuote quotes a metadata value, cut to 60 characters.
func shortQuote(s string) string {
	if r := []rune(s); len(r) > 60 {
		return strconv.Quote(string(r[:57])) + "..."
	}
	return strconv.Quote(s)
}
