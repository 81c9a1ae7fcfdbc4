package main

import (
	"fmt"
	"time"
)

// A target of the comparison with the other Go libraries, as a ratio
// measured in the same run. Where the row it needs was not measured, it
// says so.
type target struct {
	name string
	goal string
	// eval returns the measured figure and whether it meets the goal; ""
	// when it could not be measured, with the reason in why.
	eval func(rows map[string]*row, mem map[string]memResult) (measured string, met bool, why string)
}

var targets = []target{
	{
		name: "open + full validation no slower than the fastest peer (any peer, validating or not)",
		goal: "ours ÷ fastest peer ≤ 1.00",
		eval: func(rows map[string]*row, _ map[string]memResult) (string, bool, string) {
			ours, why := median(rows, oursOpen)
			if why != "" {
				return "", false, why
			}
			var best time.Duration
			var bestID string
			for id, r := range rows {
				if r.op == "open" && r.lib != "ref" && r.lib != "ours" && r.err == nil && len(r.times) > 0 && (best == 0 || r.median() < best) {
					best, bestID = r.median(), id
				}
			}
			if best == 0 {
				return "", false, "no peer measured"
			}
			x := ratio(ours, best)
			return fmt.Sprintf("%s (fastest peer: %s)", fmtRatio(x), rows[bestID].lib), x <= 1.00, ""
		},
	},
	timeTarget("all tensors read (views, every page touched) within 1.1x of mapping and touching every page",
		"ours ÷ map+touch ≤ 1.10", oursAllViews, refMapTouch, 1.10),
	timeTarget("all tensors read through views of a mapping populated up front (Options.Populate) within 1.1x of mapping and touching every page",
		"ours ÷ map+touch ≤ 1.10", oursAllPopulate, refMapTouch, 1.10),
	speedTarget("row block at least 0.8 of copy() (pre-touched destination)",
		"copy() time ÷ ours ≥ 0.80", oursRowsInto, refCopyRows, 0.80),
	speedTarget("warm row block (the tensor's pages mapped beforehand) at least 0.8 of copy() (pre-touched destination)",
		"copy() time ÷ ours ≥ 0.80", oursRowsInto+"/warm", refCopyRows, 0.80),
	speedTarget("column block at least 0.5 of copy() (the same 16384 runs of 256 bytes between pre-touched buffers)",
		"copy() time ÷ ours ≥ 0.50", oursColsInto, refCopyCols, 0.50),
	timeTarget("save within 1.1x of a write through a reused 32 KiB buffer",
		"ours ÷ 32 KiB write ≤ 1.10", oursSave, refWrite32K, 1.10),
	timeTarget("copying a mapped file with Open, GetTensor and Save within 1.2x of the streaming path (NewWriter, CopyTensor of TensorReader)",
		"Save ÷ streaming ≤ 1.20", oursCopySave, oursCopyStrm, 1.20),
	{
		name: "copying a mapped file with Open, GetTensor and Save: peak RSS that does not grow with the model (under 64 MiB for the 1 GiB file)",
		goal: "peak RSS < 64 MiB",
		eval: func(_ map[string]*row, mem map[string]memResult) (string, bool, string) {
			if mem == nil {
				return "", false, "memory not measured (-ops without mem)"
			}
			r, ok := mem[oursSaveMem]
			switch {
			case !ok:
				return "", false, "the Save copy's memory row was not measured"
			case r.Err != "":
				return "", false, "error: " + r.Err
			}
			return mib(uint64(r.MaxRSS)), r.MaxRSS < 64<<20, ""
		},
	},
	{
		name: "streaming writer's peak heap under 64 MiB (copying the 1 GiB file)",
		goal: "peak Go heap < 64 MiB",
		eval: func(_ map[string]*row, mem map[string]memResult) (string, bool, string) {
			if mem == nil {
				return "", false, "memory not measured (-ops without mem)"
			}
			r, ok := mem[oursStreamMem]
			if !ok {
				return "", false, "the streaming writer's memory row was not measured"
			}
			if r.Err != "" {
				return "", false, "error: " + r.Err
			}
			return mib(r.PeakHeap), r.PeakHeap < 64<<20, ""
		},
	},
}

// Ids of our rows that the targets name but that other files add; a
// missing row makes its target "not measured".
const (
	oursRowsInto  = "rows/ours/readinto"
	oursColsInto  = "cols/ours/readinto"
	oursSave      = "save/ours/save"
	oursStreamMem = "copy/ours/writer"
	oursSaveMem   = "copy/ours/save"
)

func median(rows map[string]*row, id string) (time.Duration, string) {
	r, ok := rows[id]
	switch {
	case !ok:
		return 0, "row " + id + " not in this build"
	case r.err != nil:
		return 0, "error: " + r.err.Error()
	case len(r.times) == 0:
		return 0, "not run"
	}
	return r.median(), ""
}

// timeTarget is met when the row's time over the reference's is at most
// limit.
func timeTarget(name, goal, id, ref string, limit float64) target {
	return target{name: name, goal: goal, eval: func(rows map[string]*row, _ map[string]memResult) (string, bool, string) {
		a, why := median(rows, id)
		if why != "" {
			return "", false, why
		}
		b, why := median(rows, ref)
		if why != "" {
			return "", false, why
		}
		x := ratio(a, b)
		return fmtRatio(x), x <= limit, ""
	}}
}

// speedTarget is met when the reference's time over the row's (the row's
// speed as a fraction of the reference's) is at least limit.
func speedTarget(name, goal, id, ref string, limit float64) target {
	return target{name: name, goal: goal, eval: func(rows map[string]*row, _ map[string]memResult) (string, bool, string) {
		a, why := median(rows, id)
		if why != "" {
			return "", false, why
		}
		b, why := median(rows, ref)
		if why != "" {
			return "", false, why
		}
		x := ratio(b, a)
		return fmtRatio(x), x >= limit, ""
	}}
}

func printTargets(all []*row, mem map[string]memResult) {
	rows := map[string]*row{}
	for _, r := range all {
		rows[r.id] = r
	}
	fmt.Println("## Targets")
	fmt.Println()
	fmt.Println("| target | goal | measured | met |")
	fmt.Println("|---|---|---:|---|")
	for _, t := range targets {
		got, met, why := t.eval(rows, mem)
		switch {
		case why != "":
			fmt.Printf("| %s | %s | not measured: %s | |\n", t.name, t.goal, why)
		case met:
			fmt.Printf("| %s | %s | %s | yes |\n", t.name, t.goal, got)
		default:
			fmt.Printf("| %s | %s | %s | **no** |\n", t.name, t.goal, got)
		}
	}
	fmt.Println()
}
