package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/safetensors-go/safetensors/pytorch"
	"github.com/spf13/cobra"
)

func (a *app) convertTorchCommand() *cobra.Command {
	var opt pytorch.Options
	cmd := &cobra.Command{
		Use:   "convert-torch IN OUT",
		Short: "Convert a PyTorch checkpoint (.bin, .pt, .pth) to safetensors, without running it",
		Long: `convert-torch converts the PyTorch checkpoint IN (pytorch_model.bin, .pt,
.pth: torch.save's zip or legacy format) to the safetensors file OUT, without
Python and without running anything from IN: its pickle is read by a
restricted unpickler that refuses every global but torch's state-dict types
(an "os.system" in a malicious file is an error naming it, never a call).

It does what safetensors' convert.py does: a top-level "state_dict" is
unwrapped, tied weights are written once (the names left out are recorded in
the metadata), views are made contiguous, the metadata says
{"format": "pt"}, and OUT is read back and compared with IN, bit for bit,
before it is put in place (--no-verify skips that). OUT is written under a
temporary name and renamed when verified.`,
		Example: `  safetensors convert-torch pytorch_model.bin model.safetensors`,
		Args:    exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := a.checkOverwrite(args[1]); err != nil {
				return err
			}
			// One bar per phase: writing, then reading back.
			var bar *progress
			phase := pytorch.Phase(0)
			opt.Progress = func(p pytorch.Progress) {
				if p.Phase != phase {
					bar.done()
					phase = p.Phase
					desc := "writing"
					if phase == pytorch.PhaseVerify {
						desc = "verifying"
					}
					bar = a.newProgress(desc, p.Total)
				}
				bar.setTo(p.Done)
			}
			res, err := opt.Convert(a.ctx, args[0], args[1])
			bar.done()
			if err != nil {
				return err
			}
			torchSummary(a.stdout, args[0], args[1], res)
			return nil
		}),
	}
	cmd.Flags().BoolVar(&opt.SkipNonTensors, "skip-non-tensors", false, "leave out state dict entries that are not tensors instead of failing")
	cmd.Flags().StringArrayVar(&opt.DiscardNames, "discard", nil, "a tied weight `NAME` to drop in preference to the others sharing its storage (repeatable)")
	cmd.Flags().BoolVar(&opt.SkipVerify, "no-verify", false, "do not read OUT back to compare it with IN")
	cmd.Flags().Int64Var(&opt.MaxPickleSize, "max-pickle-size", 0, "largest pickle accepted, in `BYTES` (0: 64 MiB; negative: no limit)")
	a.forceFlag(cmd)
	return cmd
}

// torchSummary prints what the conversion did.
func torchSummary(w io.Writer, in, out string, res *pytorch.Result) {
	fmt.Fprintf(w, "converted %s -> %s\n", printable(in), printable(out))
	fmt.Fprintf(w, "  checkpoint: %s format, %s-endian storages", res.Format, res.ByteOrder)
	if res.Unwrapped {
		fmt.Fprint(w, `, tensors under "state_dict"`)
	}
	fmt.Fprintln(w)
	verified := "verified bit for bit"
	if !res.Verified {
		verified = "not verified"
	}
	fmt.Fprintf(w, "  %s %s, %s of tensor data (checkpoint storages: %s), %s\n",
		formatCount(int64(res.Tensors)), plural(res.Tensors, "tensor", "tensors"),
		formatBytes(res.Bytes), formatBytes(res.InputBytes), verified)
	if len(res.Removed) > 0 {
		fmt.Fprintln(w, "  tied weights written once (the others recorded in the metadata):")
		names := make([]string, 0, len(res.Removed))
		for name := range res.Removed {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Fprintf(w, "    %s -> %s\n", printableName(name), printableName(res.Removed[name]))
		}
	}
	if len(res.Skipped) > 0 {
		parts := make([]string, len(res.Skipped))
		for i, s := range res.Skipped {
			parts[i] = fmt.Sprintf("%s (%s)", printableName(s.Name), s.Type)
		}
		fmt.Fprintf(w, "  left out, not tensors: %s\n", strings.Join(parts, ", "))
	}
}
