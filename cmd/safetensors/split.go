package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safetensors-go/safetensors"
	"github.com/spf13/cobra"
)

func (a *app) splitCommand() *cobra.Command {
	maxSize := "5GB"
	cmd := &cobra.Command{
		Use:   "split [--max-shard-size SIZE] IN OUTDIR",
		Short: "Split a model into a transformers-style sharded set",
		Long: `split writes the tensors of the model IN (a file, a sharded set, or the URL
of either) into the folder OUTDIR as a sharded set that transformers and
huggingface_hub read: model-00001-of-0000N.safetensors, ..., and
model.safetensors.index.json, whose bytes are what transformers writes.
OUTDIR is created if needed.

Tensors are assigned to shards in name order, with huggingface_hub's rule:
a shard takes tensors until the next one would bring its data past SIZE,
and a tensor larger than SIZE gets a shard of its own. When everything fits
in one shard, OUTDIR gets one file, model.safetensors, and no index, as
transformers does. SIZE is read as transformers reads it: 5GB is
5,000,000,000 bytes, 2GiB is 2^31, a final lowercase b means bits.

Each shard carries IN's metadata ({"format": "pt"} when IN has none). Tensors
are streamed from IN; every shard is written under a temporary name, and the
index last, so that OUTDIR holds a complete set or its previous content.
Shards of an earlier split that the new index does not name are removed. A
set already in OUTDIR is replaced only with --force.`,
		Example: `  safetensors split --max-shard-size 2GB model.safetensors sharded/
  safetensors merge sharded/ model.safetensors`,
		Args: exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			size, err := parseSize(maxSize)
			if err != nil {
				return usagef("--max-shard-size: %v", err)
			}
			out := args[1]
			if err := a.checkOverwrite(filepath.Join(out, safetensors.IndexName), filepath.Join(out, safetensors.SingleFileName)); err != nil {
				return err
			}
			return a.withModel(args[0], func(m *model) error {
				return a.split(m, out, size)
			})
		}),
	}
	cmd.Flags().StringVar(&maxSize, "max-shard-size", maxSize, "the most tensor data per shard: `SIZE` such as 5GB, 500MB, 2GiB")
	a.forceFlag(cmd)
	return cmd
}

func (a *app) split(m *model, dir string, maxSize int64) (err error) {
	infos := make([]safetensors.TensorInfo, len(m.tensors))
	for i, t := range m.tensors {
		infos[i] = safetensors.TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	slices.SortFunc(infos, func(x, y safetensors.TensorInfo) int { return strings.Compare(x.Name, y.Name) })
	metadata, warnings := m.fileMetadata()
	a.warn(warnings...)
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return outFile(dir, err)
	}
	if statErr != nil {
		// A folder made here is removed again if nothing ends up in it.
		defer func() {
			if err != nil {
				os.Remove(dir)
			}
		}()
	}
	bar := a.newProgress("splitting", m.dataSize())
	plan, serr := safetensors.SaveShardedFunc(dir, infos, safetensors.ShardOptions{MaxShardSize: maxSize, Metadata: metadata},
		func(w *safetensors.Writer, name string) error {
			if err := a.ctx.Err(); err != nil {
				return err
			}
			t, _ := m.tensor(name)
			r, err := t.file.f.TensorReader(name)
			if err == nil {
				_, err = w.CopyTensor(name, bar.reader(r))
			}
			return inFile(t.file.name, err)
		})
	bar.done()
	if serr != nil {
		return outFile(dir, serr)
	}
	for _, sf := range plan.Files {
		p := filepath.Join(dir, sf.Name)
		st, err := os.Stat(p)
		if err != nil {
			return outFile(p, err)
		}
		a.wrote(p, len(sf.Tensors), st.Size())
	}
	if plan.Sharded() {
		fmt.Fprintf(a.stdout, "%s: %s shards, total_size %s, total_parameters %s\n",
			printable(filepath.Join(dir, plan.IndexName)), formatCount(int64(len(plan.Files))),
			formatCount(plan.TotalSize), formatCount(plan.TotalParameters))
	}
	return nil
}
