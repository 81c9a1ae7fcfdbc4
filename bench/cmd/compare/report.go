package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/safetensors-go/safetensors/bench/internal/peers"
)

func printHeader(n int) {
	fmt.Println("# Comparison of Go safetensors libraries")
	fmt.Println()
	fmt.Printf("Machine: %s, %d logical CPUs, %s RAM, Linux %s; %s %s/%s.\n",
		cpuModel(), runtime.NumCPU(), memTotal(), kernel(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("Medians of %d samples per row, taken in rounds across the rows of each operation, each round starting with the next row; files in the page cache.\n", n)
	fmt.Println("Time ratios: ÷ ref is the row's median over its reference row's median (1.00 = as fast as the machine does it without a library;")
	fmt.Println("lower is better); ÷ best peer is the row's median over the fastest peer's median for the operation.")
	fmt.Println("Before each sample the garbage is collected, so rows that allocate reuse memory already touched (a program's steady state);")
	fmt.Println("[new memory] marks rows whose destinations are fresh memory (all free memory is given back to the system before each of their samples),")
	fmt.Println("so their time includes the first touch of that memory. \"allocated per run\" is the Go heap allocated by one run of the row.")
	fmt.Println()
	fmt.Println("Libraries:")
	fmt.Printf("- ours: %s (this checkout)\n", peers.Ours)
	fmt.Printf("- nlpodyssey: %s %s\n", peers.NLPOdyssey, peers.Version(peers.NLPOdyssey))
	fmt.Printf("- maruel: %s %s\n", peers.Maruel, peers.Version(peers.Maruel))
	fmt.Printf("- ollama: %s %s, package x/imagegen/safetensors (its exported safetensors reader)\n", peers.Ollama, peers.Version(peers.Ollama))
	for mod, why := range peers.Missing {
		fmt.Printf("- not run: %s: %s\n", mod, why)
	}
	fmt.Println()
}

func printOp(title string, rows []*row) {
	byID := map[string]*row{}
	var best *row
	for _, r := range rows {
		byID[r.id] = r
		if r.lib != "ref" && r.lib != "ours" && r.err == nil && len(r.times) > 0 && (best == nil || r.median() < best.median()) {
			best = r
		}
	}
	fmt.Printf("## %s\n\n", title)
	fmt.Println("| library | what | median | GiB/s | ÷ ref | ÷ best peer | allocated per run |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		what := r.what
		if r.fresh {
			what += " [new memory]"
		}
		if r.err != nil {
			fmt.Printf("| %s | %s | error: %s | | | | |\n", r.lib, what, peers.Short(r.err.Error(), 120))
			continue
		}
		m := r.median()
		rate := ""
		if r.bytes > 0 && m > 0 {
			rate = fmt.Sprintf("%.2f", float64(r.bytes)/m.Seconds()/(1<<30))
		}
		vsRef := ""
		if ref := byID[r.vs]; ref != nil && ref.err == nil && ref.median() > 0 {
			vsRef = fmtRatio(ratio(m, ref.median()))
		} else if r.lib == "ref" && r.vs == "" {
			vsRef = "ref"
		}
		vsPeer := ""
		if best != nil && r.lib != "ref" {
			vsPeer = fmtRatio(ratio(m, best.median()))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.lib, what, dur(m), rate, vsRef, vsPeer, size(r.alloc))
	}
	fmt.Println()
}

// size formats a byte count for the allocation column.
func size(b uint64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// fmtRatio formats a ratio with two decimals, or three significant
// digits when it is small.
func fmtRatio(x float64) string {
	if x < 0.1 {
		return fmt.Sprintf("%.3g", x)
	}
	return fmt.Sprintf("%.2f", x)
}

// dur formats d with three significant digits.
func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.3g s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3g µs", float64(d)/float64(time.Microsecond))
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f GiB", float64(si.Totalram)*float64(si.Unit)/(1<<30))
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// printCosts derives, from reference rows of this run, what the machine
// charges for the things that decide the targets: the first touch of new
// memory, a page fault on a mapped file, a system call.
func printCosts(all []*row) {
	rows := map[string]*row{}
	for _, r := range all {
		if r.err == nil && len(r.times) > 0 {
			rows[r.id] = r
		}
	}
	type cost struct{ what, from, value string }
	var costs []cost
	if a, b := rows[refPreadNew], rows[refPread]; a != nil && b != nil {
		per := (a.median() - b.median()).Seconds() / (float64(a.bytes) / (1 << 30))
		costs = append(costs, cost{"first touch of new memory, per GiB", "pread into new buffers minus pread into pre-touched ones", fmt.Sprintf("%.2f s", per)})
	}
	if r := rows[refMapTouch]; r != nil {
		costs = append(costs, cost{"mapping a cached file and faulting in every page, per GiB", "mmap, touch every page, munmap", dur(r.median())})
	}
	const runs = 16384
	if r := rows["cols/ref/map-gather"]; r != nil {
		costs = append(costs, cost{"one page fault of a mapped, cached file (one per 64 KiB row: nothing around it is mapped yet)", "mmap, copy 256 bytes from each of 16384 rows", dur(r.median() / runs)})
	}
	if r := rows["cols/ref/pread-runs"]; r != nil {
		costs = append(costs, cost{"one pread of 256 bytes", "16384 preads of 256 bytes", dur(r.median() / runs)})
	}
	if r := rows[refCopyCols]; r != nil {
		costs = append(costs, cost{"one copy() of 256 bytes, 64 KiB away from the last, in memory", "16384 copies between pre-touched buffers", dur(r.median() / runs)})
	}
	if r := rows[refOpen]; r != nil {
		if m := rows["open/ref/map-header"]; m != nil {
			costs = append(costs, cost{"reading the 18 KB header through a new mapping instead of with pread", "the two open references", dur(m.median() - r.median())})
		}
	}
	if len(costs) == 0 {
		return
	}
	fmt.Println("## What this machine charges, derived from the reference rows above")
	fmt.Println()
	fmt.Println("| cost | derived from | value |")
	fmt.Println("|---|---|---:|")
	for _, c := range costs {
		fmt.Printf("| %s | %s | %s |\n", c.what, c.from, c.value)
	}
	fmt.Println()
}
