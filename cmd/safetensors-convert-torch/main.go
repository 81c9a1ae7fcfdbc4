// Command safetensors-convert-torch converts a PyTorch checkpoint
// (pytorch_model.bin, .pt, .pth: torch.save's zip or legacy format) to a
// safetensors file, without Python and without running anything the
// checkpoint contains. It does what Hugging Face's convert.py does: see
// [pytorch.Options.Convert].
//
// Usage:
//
//	safetensors-convert-torch [flags] IN OUT
//
// It shows a progress bar on a terminal, prints a summary on success, and
// exits with status 1 on a conversion error, 2 on a usage error. OUT is not
// overwritten unless -f is given; it is written to a temporary file next to
// it and renamed into place only once verified.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/safetensors-go/safetensors/pytorch"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, tty))
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const usage = `usage: safetensors-convert-torch [flags] IN OUT

Converts the PyTorch checkpoint IN (pytorch_model.bin, .pt, .pth; torch.save's
zip or legacy format) to the safetensors file OUT, without Python and without
running anything from IN: its pickle is read by a restricted unpickler that
refuses every global but torch's state-dict types.

As safetensors' convert.py: a top-level "state_dict" is unwrapped, tied
weights are written once (the others recorded in the metadata), views are
made contiguous, the metadata says {"format": "pt"}, and OUT is read back and
compared with IN before it is put in place.

flags:
`

// run is the command's logic, with its environment passed in: args without
// the program name, the output streams, and whether stderr is a terminal
// (which turns the progress bar on). It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	fs := flag.NewFlagSet("safetensors-convert-torch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		force, quiet, skipNonTensors, noVerify bool
		discard                                stringList
		maxPickle                              int64
	)
	fs.BoolVar(&force, "f", false, "overwrite OUT if it exists")
	fs.BoolVar(&force, "force", false, "same as -f")
	fs.BoolVar(&quiet, "q", false, "print nothing but errors (no progress bar, no summary)")
	fs.BoolVar(&quiet, "quiet", false, "same as -q")
	fs.BoolVar(&skipNonTensors, "skip-non-tensors", false, "leave out state dict entries that are not tensors instead of failing")
	fs.Var(&discard, "discard", "a tied weight `name` to drop in preference to the others sharing its storage (repeatable)")
	fs.BoolVar(&noVerify, "no-verify", false, "do not read OUT back to compare it with IN")
	fs.Int64Var(&maxPickle, "max-pickle-size", 0, "largest pickle accepted, in `bytes` (0: 64 MiB; negative: no limit)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 {
		fmt.Fprintln(stderr, "safetensors-convert-torch: need IN and OUT")
		fs.Usage()
		return 2
	}
	in, out := fs.Arg(0), fs.Arg(1)
	if !force {
		if _, err := os.Lstat(out); err == nil {
			fmt.Fprintf(stderr, "safetensors-convert-torch: %s exists (use -f to overwrite it)\n", out)
			return 1
		}
	}

	opts := pytorch.Options{
		MaxPickleSize:  maxPickle,
		SkipNonTensors: skipNonTensors,
		DiscardNames:   discard,
		SkipVerify:     noVerify,
	}
	var bar *progressbar.ProgressBar
	if tty && !quiet {
		phase := pytorch.Phase(0)
		opts.Progress = func(p pytorch.Progress) {
			if p.Phase != phase {
				if bar != nil {
					bar.Finish()
					fmt.Fprintln(stderr)
				}
				phase = p.Phase
				desc := "writing  "
				if phase == pytorch.PhaseVerify {
					desc = "verifying"
				}
				bar = progressbar.NewOptions64(p.Total,
					progressbar.OptionSetWriter(stderr),
					progressbar.OptionSetDescription(desc),
					progressbar.OptionShowBytes(true),
					progressbar.OptionShowTotalBytes(true),
					progressbar.OptionSetWidth(30),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionSetPredictTime(true),
				)
			}
			bar.Set64(p.Done)
		}
	}
	res, err := opts.Convert(ctx, in, out)
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "safetensors-convert-torch: %v\n", err)
		return 1
	}
	if !quiet {
		summary(stdout, in, out, res)
	}
	return 0
}

// summary prints what the conversion did.
func summary(w io.Writer, in, out string, res *pytorch.Result) {
	fmt.Fprintf(w, "converted %s -> %s\n", in, out)
	fmt.Fprintf(w, "  checkpoint: %s format, %s-endian storages", res.Format, res.ByteOrder)
	if res.Unwrapped {
		fmt.Fprint(w, ", tensors under \"state_dict\"")
	}
	fmt.Fprintln(w)
	verified := "verified bit for bit"
	if !res.Verified {
		verified = "not verified"
	}
	fmt.Fprintf(w, "  %d tensors, %s of tensor data (checkpoint storages: %s), %s\n",
		res.Tensors, humanBytes(res.Bytes), humanBytes(res.InputBytes), verified)
	if len(res.Removed) > 0 {
		fmt.Fprintln(w, "  tied weights written once (the others recorded in the metadata):")
		names := make([]string, 0, len(res.Removed))
		for name := range res.Removed {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(w, "    %s -> %s\n", name, res.Removed[name])
		}
	}
	if len(res.Skipped) > 0 {
		parts := make([]string, len(res.Skipped))
		for i, s := range res.Skipped {
			parts[i] = fmt.Sprintf("%s (%s)", s.Name, s.Type)
		}
		fmt.Fprintf(w, "  left out, not tensors: %s\n", strings.Join(parts, ", "))
	}
}

// humanBytes formats n bytes with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
