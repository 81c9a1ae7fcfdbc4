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
	fmt.Printf("Medians of %d samples per row, taken in rounds across the rows of each operation; files in the page cache.\n", n)
	fmt.Println("Time ratios: ÷ ref is the row's median over its reference row's median (1.00 = as fast as the machine does it without a library;")
	fmt.Println("lower is better); ÷ best peer is the row's median over the fastest peer's median for the operation.")
	fmt.Println("[new memory] marks rows whose destinations are freshly allocated, so their time includes the first touch of that memory.")
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
	fmt.Println("| library | what | median | GiB/s | ÷ ref | ÷ best peer |")
	fmt.Println("|---|---|---:|---:|---:|---:|")
	for _, r := range rows {
		what := r.what
		if r.fresh {
			what += " [new memory]"
		}
		if r.err != nil {
			fmt.Printf("| %s | %s | error: %s | | | |\n", r.lib, what, peers.Short(r.err.Error(), 120))
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
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.lib, what, dur(m), rate, vsRef, vsPeer)
	}
	fmt.Println()
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
