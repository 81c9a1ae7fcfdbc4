package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

// TestRows checks the table's structure without the 1 GiB files: row ids
// are unique, every row belongs to an operation, and every comparison
// points at a row of the same operation.
func TestRows(t *testing.T) {
	var e env // no files: rows only capture its (empty) slices
	ids := map[string]*row{}
	opKeys := map[string]bool{}
	for _, op := range ops {
		opKeys[op.key] = true
	}
	opKeys["anchors"] = true // rows that only the anchor tables show
	for _, add := range rowSets {
		for _, r := range add(&e) {
			if ids[r.id] != nil {
				t.Errorf("duplicate row id %q", r.id)
			}
			ids[r.id] = r
			if !opKeys[r.op] {
				t.Errorf("row %q: unknown operation %q", r.id, r.op)
			}
		}
	}
	for id, r := range ids {
		if r.vs == "" {
			continue
		}
		if ref := ids[r.vs]; ref == nil || ref.op != r.op {
			t.Errorf("row %q is compared with %q, which is not a row of the same operation", id, r.vs)
		}
	}
	for _, id := range []string{refOpen, refMapTouch, refPread, refPreadNew, refCopyAll, refCopyRows, refCopyCols, refWrite32K, refWriteSync, oursOpen, oursAllViews, oursRowsInto, oursColsInto, oursSave} {
		if ids[id] == nil {
			t.Errorf("row %q, named by a target or a ratio, does not exist", id)
		}
	}
}

// TestAnchorTables: every row an anchor table names exists, a Go row or a
// row of anchors.py, and every row has a physical reference in the table.
func TestAnchorTables(t *testing.T) {
	var e env
	ids := map[string]*row{}
	for _, add := range rowSets {
		for _, r := range add(&e) {
			ids[r.id] = r
		}
	}
	for _, tb := range anchorTables {
		for _, id := range append([]string{tb.ref, tb.torch}, tb.rows...) {
			if id == "" {
				continue
			}
			if py, ok := strings.CutPrefix(id, "py:"); ok {
				if !bytes.Contains(anchorsPy, []byte(`("`+py+`", `)) {
					t.Errorf("%s: anchors.py has no row %q", tb.title, py)
				}
				if anchorVs[id] == "" {
					t.Errorf("%s: row %q has no physical reference", tb.title, id)
				}
				continue
			}
			r := ids[id]
			if r == nil {
				t.Errorf("%s: no row %q", tb.title, id)
				continue
			}
			if r.lib != "ref" && r.vs == "" && anchorVs[id] == "" {
				t.Errorf("%s: row %q has no physical reference", tb.title, id)
			}
		}
	}
}

func TestGatherCols(t *testing.T) {
	const rows = 256
	data := make([]byte, rows*rowBytes)
	gen.FillAt(data, 0)
	got := make([]byte, rows*colRun)
	gatherCols(got, data)
	// Element (r, c) of the matrix is Word(r*16384 + c), little-endian.
	for r := range rows {
		for c := colStart; c < colStop; c++ {
			off := r*colRun + (c-colStart)*4
			w := uint32(got[off]) | uint32(got[off+1])<<8 | uint32(got[off+2])<<16 | uint32(got[off+3])<<24
			if want := gen.Word(r*gen.MatrixSide + c); w != want {
				t.Fatalf("element (%d, %d) = %#x, want %#x", r, c, w, want)
			}
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
	} {
		r := &row{times: tc.in}
		if got := r.median(); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
