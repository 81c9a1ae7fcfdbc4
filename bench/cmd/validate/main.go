// Command validate runs the validation matrix: crafted safetensors files
// (holes, overlaps, hostile header lengths, overflowing shapes, valid
// corners of the format...) read by every Go library the benchmark
// compares, each file by each library in a child process of its own, with
// an address-space limit and a timeout. It prints a Markdown table of what
// each did: OK, an error, a panic, a crash (a fatal out-of-memory, a
// signal) or a timeout, and whether that was right.
//
// Usage:
//
//	go run ./cmd/validate [-libs ours,nlpodyssey,...] [-timeout 30s] [-v]
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/safetensors-go/safetensors/bench/internal/matrix"
	"github.com/safetensors-go/safetensors/bench/internal/peers"
)

func main() {
	matrix.ChildMain()
	var names []string
	for _, l := range peers.Libs {
		names = append(names, l.Name)
	}
	libsFlag := flag.String("libs", strings.Join(names, ","), "libraries to run, comma-separated")
	timeout := flag.Duration("timeout", 30*time.Second, "time limit of each child process")
	verbose := flag.Bool("v", false, "print every error and panic message after the table")
	flag.Parse()

	var libs []peers.Lib
	for _, n := range strings.Split(*libsFlag, ",") {
		l, ok := peers.LibByName(strings.TrimSpace(n))
		if !ok {
			fmt.Fprintf(os.Stderr, "validate: unknown library %q (have %s)\n", n, strings.Join(names, ", "))
			os.Exit(2)
		}
		libs = append(libs, l)
	}
	dir, err := os.MkdirTemp("", "safetensors-matrix-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	paths, err := matrix.Write(dir)
	if err != nil {
		fail(err)
	}

	results := make([][]matrix.Result, len(matrix.Cases))
	for i := range matrix.Cases {
		results[i] = make([]matrix.Result, len(libs))
		for j, l := range libs {
			results[i][j] = matrix.Run(l.Name, paths[i], *timeout)
		}
	}
	print(libs, results, *timeout)
	if *verbose {
		printMessages(libs, results)
	}
	// Exit with 1 when our library got a case wrong, so that scripts notice.
	for i, c := range matrix.Cases {
		for j, l := range libs {
			if strings.HasPrefix(l.Name, "ours") && !oursRight(c, results[i][j]) {
				os.Exit(1)
			}
		}
	}
}

// oursRight is stricter than Result.Right: our library must also name the
// right sentinel.
func oursRight(c matrix.Case, r matrix.Result) bool {
	return r.Right(c) && r.Sentinel == c.WantName()
}

func print(libs []peers.Lib, results [][]matrix.Result, timeout time.Duration) {
	fmt.Printf("Validation matrix: each file read by each library in its own process (RLIMIT_AS %d GiB, timeout %v).\n", matrix.ChildMemory>>30, timeout)
	fmt.Printf("A cell is what the library did: OK (tensors read), the error (for ours, the sentinel it wraps), panic, crash or timeout;\n")
	fmt.Printf("✓ marks the right outcome (read a valid file; refuse an invalid one with an error), ✗ a wrong one.\n\n")
	fmt.Print("| file | expected |")
	for _, l := range libs {
		fmt.Printf(" %s |", l.Name)
	}
	fmt.Print("\n|---|---|")
	for range libs {
		fmt.Print("---|")
	}
	fmt.Println()
	wrong := make([]int, len(libs))
	for i, c := range matrix.Cases {
		want := "OK"
		if !c.Valid() {
			want = c.WantName()
		}
		if c.Note != "" {
			want += " (*)"
		}
		fmt.Printf("| %s | %s |", c.Name, want)
		for j, l := range libs {
			r := results[i][j]
			mark := "✓"
			right := r.Right(c)
			if strings.HasPrefix(l.Name, "ours") {
				right = oursRight(c, r)
			}
			if !right {
				mark = "✗"
				wrong[j]++
			}
			fmt.Printf(" %s %s |", mark, r.Short())
		}
		fmt.Println()
	}
	fmt.Print("| **wrong** | |")
	for j := range libs {
		fmt.Printf(" **%d of %d** |", wrong[j], len(matrix.Cases))
	}
	fmt.Println()
	fmt.Println()
	fmt.Println("Files:")
	for _, c := range matrix.Cases {
		fmt.Printf("- %s: %s.", c.Name, c.What)
		if c.Note != "" {
			fmt.Printf(" (*) %s.", c.Note)
		}
		fmt.Println()
	}
	fmt.Println()
	fmt.Println("Libraries:")
	for _, l := range libs {
		mod := peers.Ours
		switch {
		case strings.HasPrefix(l.Name, "nlpodyssey"):
			mod = peers.NLPOdyssey
		case strings.HasPrefix(l.Name, "maruel"):
			mod = peers.Maruel
		case strings.HasPrefix(l.Name, "ollama"):
			mod = peers.Ollama
		}
		fmt.Printf("- %s: %s %s: %s\n", l.Name, mod, peers.Version(mod), l.Calls)
	}
	for mod, why := range peers.Missing {
		fmt.Printf("- not run: %s: %s\n", mod, why)
	}
}

func printMessages(libs []peers.Lib, results [][]matrix.Result) {
	fmt.Println()
	fmt.Println("Messages:")
	for i, c := range matrix.Cases {
		for j, l := range libs {
			if r := results[i][j]; r.Msg != "" {
				fmt.Printf("- %s / %s: %s: %s\n", c.Name, l.Name, r.Kind, peers.Short(r.Msg, 200))
			}
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "validate:", err)
	os.Exit(2)
}
