package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/safetensors-go/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
	"github.com/safetensors-go/safetensors/bench/internal/peers"
)

// The anchors: the same 1 GiB of weights through the reference
// implementation (the safetensors Rust crate, through its Python binding:
// Debian packages the binding, python3-safetensors, but not the crate as a
// Rust library) and through torch.load of the same weights saved as
// pytorch_model.bin, beside ours and the physical references, in one run.
// The Python rows run in a Python process of their own (anchors.py), which
// times each call inside Python, so that starting Python and importing
// torch are not counted.

//go:embed anchors.py
var anchorsPy []byte

// python is the interpreter of the anchors: Debian's, which has Debian's
// python3-torch.
const python = "/usr/bin/python3"

// bindingPath returns where the reference's Python binding was unpacked by
// setup-anchors.sh (bench/.deps/python), or the value of
// SAFETENSORS_PYTHONPATH; "" if neither exists, and then the binding must be
// importable as installed.
func bindingPath() string {
	if p := os.Getenv("SAFETENSORS_PYTHONPATH"); p != "" {
		return p
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", ".deps", "python")
	if _, err := os.Stat(filepath.Join(p, "safetensors")); err != nil {
		return ""
	}
	return p
}

// anchorTables are the tables of the anchors: for each, the rows by id (a
// Go row's id, or "py:" and the Python row's id), the reference crate's row
// and torch's row of the table.
var anchorTables = []struct {
	title, ref, torch string
	rows              []string
}{
	{
		title: "anchors: open and validate the header (1 GiB file, 201 tensors)",
		ref:   "py:open/reference",
		rows:  []string{refOpen, oursOpen, "py:open/reference"},
	},
	{
		title: "anchors: load, as a user first writes it (what the reference's 76.6x over torch.load measured: lazy loaders touch nothing)",
		ref:   "py:lazy/reference", torch: "py:lazy/torch",
		rows: []string{refOpen, "lazy/ours/views", "py:lazy/reference", "py:lazy/torch"},
	},
	{
		title: "anchors: load every tensor, every page touched (1 GiB, 201 tensors)",
		ref:   "py:load/reference", torch: "py:load/torch",
		rows: []string{refMapTouch, refPreadNew, oursAllViews, oursAllPopulate, "all/ours/reader",
			"py:load/reference", "py:load/reference-pread", "py:load/torch"},
	},
	{
		title: "anchors: save 1 GiB of tensors in memory to a new file (created, or truncated, each time)",
		ref:   "py:save/reference", torch: "py:save/torch",
		rows: []string{"anchor-save/ref/write32k", "anchor-save/ours/save", "py:save/reference", "py:save/torch"},
	},
}

// anchorRows are the Go rows that only the anchors use.
func anchorRows(e *env) []*row {
	tensors := map[string]safetensors.Tensor{}
	for i, b := range e.tensors {
		t, err := safetensors.NewTensor(safetensors.F32, []int{gen.ModelRows, gen.ModelCols}, b)
		if err != nil {
			panic(err)
		}
		tensors[gen.ModelName(i)] = t
	}
	out := filepath.Join(e.dir, "anchor.out")
	newFile := func(write func(f *os.File) error) func() (func() error, func() error, error) {
		return func() (func() error, func() error, error) {
			return func() error { return createWith(out, write) }, func() error { return e.checkSaved(out) }, nil
		}
	}
	return []*row{
		{
			id: "lazy/ours/views", op: "anchors", lib: "ours",
			what: "Open, GetTensor (views) each, nothing touched",
			prepare: func() (func() error, func() error, error) {
				return func() error {
					f, err := safetensors.Open(e.model)
					if err != nil {
						return err
					}
					defer f.Close()
					n := 0
					for _, name := range f.Keys() {
						if _, err := f.GetTensor(name); err != nil {
							return err
						}
						n++
					}
					if n != gen.ModelTensors {
						return fmt.Errorf("%d tensors", n)
					}
					return nil
				}, nil, nil
			},
		},
		{
			id: "anchor-save/ref/write32k", op: "anchors", lib: "ref", bytes: gen.ModelData,
			what:    "create, write the header and every tensor through a reused 32 KiB buffer, close",
			prepare: newFile(e.write32K),
		},
		{
			id: "anchor-save/ours/save", op: "anchors", lib: "ours", bytes: gen.ModelData, vs: "anchor-save/ref/write32k",
			what: "create, Save(*os.File), close",
			prepare: newFile(func(f *os.File) error {
				return safetensors.Save(f, tensors, map[string]string{"format": "pt"})
			}),
		},
	}
}

// pyResult is one Python row's line of anchors.py's output.
type pyResult struct {
	ID    string
	What  string
	Times []float64
	Error *string
}

// runAnchors measures the Go rows the anchor tables name (fresh copies, so
// that the other tables' samples are not mixed in), then the Python rows,
// and prints the tables.
func runAnchors(e *env, all []*row, n int) {
	byID := map[string]*row{}
	for _, r := range all {
		byID[r.id] = r
	}
	var goRows []*row
	seen := map[string]*row{}
	for _, t := range anchorTables {
		for _, id := range t.rows {
			if strings.HasPrefix(id, "py:") || seen[id] != nil {
				continue
			}
			r, ok := byID[id]
			if !ok {
				continue
			}
			c := *r
			c.times, c.err = nil, nil
			seen[id] = &c
			goRows = append(goRows, &c)
		}
	}
	fmt.Fprintf(os.Stderr, "compare: anchors: %d Go rows\n", len(goRows))
	measure(goRows, n)
	py := pythonRows(e, n)
	for _, t := range anchorTables {
		rows := map[string]*row{}
		for id, r := range seen {
			rows[id] = r
		}
		for id, r := range py {
			rows[id] = r
		}
		printAnchorTable(t.title, t.rows, t.ref, t.torch, rows)
	}
}

// pythonRows runs anchors.py: prepare (pytorch_model.bin from the model),
// then run; a failure becomes every Python row's error.
func pythonRows(e *env, n int) map[string]*row {
	out := map[string]*row{}
	fail := func(err error) map[string]*row {
		for _, t := range anchorTables {
			for _, id := range t.rows {
				if strings.HasPrefix(id, "py:") {
					out[id] = &row{id: id, lib: pyLib(id), what: strings.TrimPrefix(id, "py:"), err: err}
				}
			}
		}
		return out
	}
	script := filepath.Join(e.dir, "anchors.py")
	if err := os.WriteFile(script, anchorsPy, 0o644); err != nil {
		return fail(err)
	}
	bin := filepath.Join(e.dir, "pytorch_model.bin")
	cmd := func(args ...string) *exec.Cmd {
		c := exec.Command(python, append([]string{script}, args...)...)
		c.Env = os.Environ()
		if p := bindingPath(); p != "" {
			c.Env = append(c.Env, "PYTHONPATH="+p)
		}
		c.Stderr = os.Stderr
		return c
	}
	if _, err := os.Stat(python); err != nil {
		return fail(fmt.Errorf("no %s here", python))
	}
	if st, err := os.Stat(bin); err != nil || st.Size() < gen.ModelData {
		start := time.Now()
		if err := cmd("prepare", e.model, bin).Run(); err != nil {
			return fail(fmt.Errorf("torch.save of the model as pytorch_model.bin failed (is Debian's python3-torch installed?): %w", err))
		}
		fmt.Fprintf(os.Stderr, "compare: anchors: pytorch_model.bin written in %v\n", time.Since(start).Round(time.Millisecond))
	}
	var stdout bytes.Buffer
	c := cmd("run", e.model, bin, filepath.Join(e.dir, "anchor-py.out"), fmt.Sprint(n), fmt.Sprint(e.touchSum))
	c.Stdout = &stdout
	if err := c.Run(); err != nil {
		return fail(fmt.Errorf("anchors.py: %w", err))
	}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var res pyResult
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			return fail(fmt.Errorf("anchors.py printed %q: %w", sc.Text(), err))
		}
		id := "py:" + res.ID
		r := &row{id: id, lib: pyLib(id), what: res.What, bytes: gen.ModelData}
		if res.Error != nil {
			r.err = fmt.Errorf("%s", *res.Error)
		}
		for _, s := range res.Times {
			r.times = append(r.times, time.Duration(s*float64(time.Second)))
		}
		out[id] = r
	}
	os.Remove(filepath.Join(e.dir, "anchor-py.out"))
	return out
}

func pyLib(id string) string {
	if strings.Contains(id, "torch") {
		return "torch"
	}
	return "reference"
}

// anchorVs is the physical reference of each anchor row whose reference
// is a row of another operation: the Python rows, and ours that only the
// anchors have.
var anchorVs = map[string]string{
	"lazy/ours/views":         refOpen,
	oursOpen:                  refOpen,
	"py:open/reference":       refOpen,
	"py:lazy/reference":       refOpen,
	"py:lazy/torch":           refPreadNew,
	"py:load/reference":       refMapTouch,
	"py:load/reference-pread": refPreadNew,
	"py:load/torch":           refPreadNew,
	"py:save/reference":       "anchor-save/ref/write32k",
	"py:save/torch":           "anchor-save/ref/write32k",
}

func printAnchorTable(title string, ids []string, ref, torch string, rows map[string]*row) {
	fmt.Printf("## %s\n\n", title)
	fmt.Println("| library | what | median | ÷ physical ref | ÷ reference (the Rust crate, through its Python binding) | torch ÷ this |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	med := func(id string) time.Duration {
		if r := rows[id]; r != nil && r.err == nil {
			return r.median()
		}
		return 0
	}
	for _, id := range ids {
		r := rows[id]
		if r == nil {
			fmt.Printf("| | %s | not in this build | | | |\n", id)
			continue
		}
		what := r.what
		if r.fresh {
			what += " [new memory]"
		}
		if r.err != nil {
			fmt.Printf("| %s | %s | not run: %s | | | |\n", r.lib, what, peers.Short(r.err.Error(), 200))
			continue
		}
		m := r.median()
		vs := r.vs
		if v, ok := anchorVs[id]; ok {
			vs = v
		}
		cols := [3]string{}
		switch {
		case r.lib == "ref" && (vs == "" || !slicesContains(ids, vs)):
			cols[0] = "ref"
		case med(vs) > 0:
			cols[0] = fmtRatio(ratio(m, med(vs)))
		}
		if b := med(ref); b > 0 && m > 0 {
			cols[1] = fmtRatio(ratio(m, b))
		}
		if b := med(torch); torch != "" && b > 0 && m > 0 {
			cols[2] = fmtRatio(ratio(b, m))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.lib, what, dur(m), cols[0], cols[1], cols[2])
	}
	fmt.Println()
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
