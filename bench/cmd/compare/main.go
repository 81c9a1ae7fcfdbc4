// Command compare runs the same operations on the same generated files
// through our safetensors library and every Go peer that builds here, plus
// physical references (copy between pre-touched buffers, pread, mapping and
// touching every page, a write through a 32 KiB buffer), in one process
// run, and prints a Markdown table of medians and ratios, the targets of
// the comparison with whether each is met, and the peak memory of each
// library in a child process.
//
// Usage:
//
//	go run ./cmd/compare [-n 3] [-dir DIR] [-ops open,all,rows,cols,save,copy,mem,anchors]
//
// It writes two files of 1 GiB into DIR (a new temporary directory by
// default, removed at the end) and needs about 4 GiB of memory.
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"time"

	"github.com/safetensors-go/safetensors/bench/internal/gen"
)

// A row is one way of doing one operation: a physical reference, our
// library or a peer. Each sample calls prepare (untimed), then run iters
// times (timed), then the done function that prepare returned (untimed).
type row struct {
	id      string // unique, "op/lib/what", for targets and ratios
	op      string // the operation: a key of ops
	lib     string // "ref", "ours" or a peer's short name
	what    string // what is measured: the calls, in a few words
	vs      string // id of the reference row this one is compared with
	bytes   int64  // bytes handled per run, for the throughput column
	iters   int    // runs per sample; 0 means 1
	fresh   bool   // its destinations are new memory (first-touch cost included)
	prepare func() (run func() error, done func() error, err error)

	times []time.Duration // one per sample: per run
	alloc uint64          // heap bytes allocated per run, in the last sample
	err   error
}

// ops are the operations, in the order of the table.
var ops = []struct{ key, title string }{
	{"open", "open + validate the header (1 GiB file, 201 tensors)"},
	{"all", "get every tensor, every page touched (1 GiB, 201 tensors)"},
	{"rows", "row block: rows 4096:8192 of a 16384x16384 F32 tensor (256 MiB)"},
	{"cols", "column block: columns 4096:4160 of every row of the same tensor (4 MiB)"},
	{"save", "save 1 GiB (201 tensors from pre-touched memory), over a cached file of the same size (the fsync rows: to a new file)"},
	{"copy", "copy the 1 GiB file (201 tensors) through the library from a mapped File, over a cached file of the same size"},
}

// env is what the rows share: the generated files and pre-touched memory.
type env struct {
	dir    string
	model  string // path of the model file: 201 F32 tensors, about 1 GiB
	matrix string // path of the matrix file: one 16384x16384 F32 tensor

	// Both files hold the same words at the same data offsets (see
	// gen.Word), and the model's data is 160 KiB shorter: one buffer in
	// memory, read from the matrix file (so pre-touched), holds both.
	modelHead  []byte   // the model file's prefix and header
	matrixHead []byte   // the matrix file's prefix and header
	matrixFile []byte   // the whole matrix file, in memory
	matrixData []byte   // the matrix file's data buffer, in memory
	modelData  []byte   // the model file's data buffer: a prefix of matrixData
	tensors    [][]byte // the model's tensors, in modelData
	dst        []byte   // a pre-touched destination of 1 GiB
	touchSum   uint64   // touch() summed over the model's tensors

	rowBlock, colBlock []byte // the expected bytes of the two blocks
}

const pageSize = 4096

// touch reads one byte of every page of b and returns their sum, so that
// every page of a view is faulted in and none of the reads can be dropped.
func touch(b []byte) (s uint64) {
	for i := 0; i < len(b); i += pageSize {
		s += uint64(b[i])
	}
	return s
}

// The blocks of the matrix that the slicing rows read.
const (
	rowStart, rowStop = 4096, 8192
	colStart, colStop = 4096, 4160
	rowBytes          = gen.MatrixSide * 4
	colRun            = (colStop - colStart) * 4
)

func main() {
	childMain()
	n := flag.Int("n", 3, "samples per row; the table shows their median")
	dirFlag := flag.String("dir", "", "directory for the generated files (default: a new temporary directory, removed at the end)")
	opsFlag := flag.String("ops", "open,all,rows,cols,save,copy,mem,anchors", "operations to run, comma-separated")
	match := flag.String("match", "", "run only the rows whose id (\"op/lib/what\") matches this regular expression; the targets need the reference rows too")
	flag.Parse()
	matchRE, err := regexp.Compile(*match)
	check(err)
	want := map[string]bool{}
	for _, o := range strings.Split(*opsFlag, ",") {
		want[strings.TrimSpace(o)] = true
	}

	dir := *dirFlag
	if dir == "" {
		d, err := os.MkdirTemp("", "safetensors-compare-")
		check(err)
		defer os.RemoveAll(d)
		dir = d
	}
	start := time.Now()
	e, err := setup(dir)
	check(err)
	fmt.Fprintf(os.Stderr, "compare: files written and read into memory in %v\n", time.Since(start).Round(time.Millisecond))

	var rows []*row
	for _, add := range rowSets {
		rows = append(rows, add(e)...)
	}
	printHeader(*n)
	for _, op := range ops {
		if !want[op.key] {
			continue
		}
		var these []*row
		for _, r := range rows {
			if r.op == op.key && matchRE.MatchString(r.id) {
				these = append(these, r)
			}
		}
		measure(these, *n)
		printOp(op.title, these)
	}
	printCosts(rows)
	if want["anchors"] {
		runAnchors(e, rows, *n)
	}
	var mem map[string]memResult
	if want["mem"] {
		mem = printMemory(e)
	}
	printTargets(rows, mem)
	fmt.Fprintf(os.Stderr, "compare: done in %v\n", time.Since(start).Round(time.Second))
}

// rowSets are the functions that make the rows, one per library and
// operation family; each returns its rows for the given files. Within an
// operation, rows appear in this order.
var rowSets = []func(e *env) []*row{
	refRows,
	oursRows,
	populateRows,
	oursSliceRows,
	oursSaveRows,
	copyRows,
	anchorRows,
	nlpRows,
	maruelRows,
	ollamaRows,
}

func setup(dir string) (*env, error) {
	e := &env{dir: dir, model: filepath.Join(dir, "model.safetensors"), matrix: filepath.Join(dir, "matrix.safetensors")}
	// Files left by an earlier run with -dir are reused when their size is
	// right; their contents are checked below.
	if !sized(e.model, 8+len(gen.ModelHeader())+gen.ModelData) {
		if err := gen.WriteModel(e.model); err != nil {
			return nil, err
		}
	}
	if !sized(e.matrix, 8+len(gen.MatrixHeader())+gen.MatrixData) {
		if err := gen.WriteMatrix(e.matrix); err != nil {
			return nil, err
		}
	}
	e.modelHead = binary.LittleEndian.AppendUint64(nil, uint64(len(gen.ModelHeader())))
	e.modelHead = append(e.modelHead, gen.ModelHeader()...)
	e.matrixHead = binary.LittleEndian.AppendUint64(nil, uint64(len(gen.MatrixHeader())))
	e.matrixHead = append(e.matrixHead, gen.MatrixHeader()...)
	// Reading the matrix file puts it in the page cache, and its bytes in
	// memory that is touched: the source of copy() and of saving. The model
	// file is read through a small buffer, for the page cache.
	file, err := os.ReadFile(e.matrix)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(file, e.matrixHead) || len(file) != len(e.matrixHead)+gen.MatrixData {
		return nil, errors.New("the matrix file has the wrong header or size")
	}
	e.matrixFile = file
	e.matrixFile = file
	e.matrixData = file[len(e.matrixHead):]
	e.modelData = e.matrixData[:gen.ModelData]
	mf, err := os.Open(e.model)
	if err != nil {
		return nil, err
	}
	head := make([]byte, len(e.modelHead))
	_, err = io.ReadFull(mf, head)
	if err == nil && !bytes.Equal(head, e.modelHead) {
		err = errors.New("the model file has the wrong header")
	}
	if err == nil {
		// The model's data must be the matrix's first bytes: compare them,
		// which also reads the model file into the page cache.
		buf := make([]byte, 4<<20)
		for off := 0; off < gen.ModelData && err == nil; off += len(buf) {
			n := min(len(buf), gen.ModelData-off)
			if _, err = io.ReadFull(mf, buf[:n]); err == nil && !bytes.Equal(buf[:n], e.modelData[off:off+n]) {
				err = fmt.Errorf("the model file's data differs from the matrix file's at %d", off)
			}
		}
	}
	mf.Close()
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(e.matrixData)/4; i += 1021 {
		if binary.LittleEndian.Uint32(e.matrixData[4*i:]) != gen.Word(i) {
			return nil, fmt.Errorf("the generated matrix file has the wrong word at element %d", i)
		}
	}
	for i := range gen.ModelTensors {
		t := e.modelData[i*gen.ModelTensor : (i+1)*gen.ModelTensor]
		e.tensors = append(e.tensors, t)
		e.touchSum += touch(t)
	}
	e.dst = make([]byte, 1<<30)
	for i := 0; i < len(e.dst); i += pageSize {
		e.dst[i] = 1
	}
	e.rowBlock = e.matrixData[rowStart*rowBytes : rowStop*rowBytes]
	e.colBlock = make([]byte, 0, gen.MatrixSide*colRun)
	for r := range gen.MatrixSide {
		e.colBlock = append(e.colBlock, e.matrixData[r*rowBytes+colStart*4:r*rowBytes+colStop*4]...)
	}
	return e, nil
}

func sized(path string, size int) bool {
	st, err := os.Stat(path)
	return err == nil && st.Size() == int64(size)
}

// measure takes n samples of every row, in rounds (sample 1 of every row,
// then sample 2...), so that a burst of load from elsewhere on the machine
// spreads over the rows instead of hitting one; each round starts with
// another row.
func measure(rows []*row, n int) {
	for _, r := range rows {
		if r.iters > 1 && r.err == nil { // warm up the fast rows once
			r.err = sample(r, nil)
		}
	}
	for k := range n {
		// Each round starts one row further on, so that no row always
		// follows the same one.
		for j := range rows {
			if r := rows[(j+k)%len(rows)]; r.err == nil {
				r.err = sample(r, &r.times)
			}
		}
	}
}

func sample(r *row, times *[]time.Duration) error {
	// Collect the garbage of earlier samples, so that a row that allocates
	// reuses memory already touched, as a program in its steady state
	// does (and as testing.B measures). Rows that are about fresh memory
	// first give all free memory back to the system, so that their new
	// memory is really new.
	runtime.GC()
	if r.fresh {
		debug.FreeOSMemory()
	}
	run, done, err := r.prepare()
	if err != nil {
		return err
	}
	iters := max(r.iters, 1)
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocs)
	before := allocs[0].Value.Uint64()
	t0 := time.Now()
	for range iters {
		if err = run(); err != nil {
			break
		}
	}
	d := time.Since(t0) / time.Duration(iters)
	metrics.Read(allocs)
	r.alloc = (allocs[0].Value.Uint64() - before) / uint64(iters)
	if done != nil {
		if derr := done(); err == nil {
			err = derr
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", r.id, err)
	}
	if times != nil {
		*times = append(*times, d)
	}
	return nil
}

func (r *row) median() time.Duration {
	if len(r.times) == 0 {
		return 0
	}
	t := slices.Clone(r.times)
	slices.Sort(t)
	if len(t)%2 == 1 {
		return t[len(t)/2]
	}
	return (t[len(t)/2-1] + t[len(t)/2]) / 2
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}
