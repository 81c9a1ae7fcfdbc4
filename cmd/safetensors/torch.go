package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/safetensors-go/safetensors"
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

It does what safetensors' convert.py does, without losing a tensor: a
top-level "state_dict" is unwrapped; names that are exact aliases of one
tensor (same storage, offset, dtype, shape and strides: tied weights) are
written once, the others recorded in the metadata; every other view of a
shared storage (a transpose, a row or column block, a stepped slice) is
written as its own contiguous tensor, with the values torch's contiguous()
gives; the metadata says {"format": "pt"}; and OUT is read back and compared
with IN, bit for bit, before it is put in place (--no-verify skips that).

IN may be a sharded checkpoint's index, pytorch_model.bin.index.json: OUT is
then a folder, which gets one safetensors shard per .bin shard
(pytorch_model-00001-of-00002.bin becomes model-00001-of-00002.safetensors)
and model.safetensors.index.json, as convert.py's convert_multi writes them.

Every file is written under a temporary name and renamed when verified, an
index last, so that OUT holds the new conversion or what it held before. An
existing OUT is replaced only with --force; an interrupt (Ctrl-C, SIGTERM)
stops the conversion and removes its temporary files.`,
		Example: `  safetensors convert-torch pytorch_model.bin model.safetensors
  safetensors convert-torch pytorch_model.bin.index.json converted/`,
		Args: exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			outs := []string{args[1]}
			if isJSONFile(args[0]) {
				outs = []string{filepath.Join(args[1], safetensors.IndexName), filepath.Join(args[1], safetensors.SingleFileName)}
			}
			if err := a.checkOverwrite(outs...); err != nil {
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
	cmd.Flags().Int64Var(&opt.MaxOutputSize, "max-output-size", 0, "most tensor data the conversion may write, in `BYTES` (0: four times the checkpoint plus 1 MiB; negative: no limit)")
	a.forceFlag(cmd)
	return cmd
}

// torchSummary prints what the conversion did.
func torchSummary(w io.Writer, in, out string, res *pytorch.Result) {
	fmt.Fprintf(w, "converted %s -> %s\n", printable(in), printable(out))
	if res.Index != "" {
		fmt.Fprintf(w, "  %s shards and the index %s\n", formatCount(int64(len(res.Files))), printable(res.Index))
	}
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
		fmt.Fprintln(w, "  aliases of one tensor written once (the others recorded in the metadata):")
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

// isJSONFile reports whether path is a regular file whose first byte but
// white space is "{": a JSON index rather than a checkpoint, as the pytorch
// package tells them apart.
func isJSONFile(path string) bool {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [512]byte
	n, _ := io.ReadFull(f, b[:])
	trimmed := bytes.TrimLeft(b[:n], " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}
