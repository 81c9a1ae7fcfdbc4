package main

import (
	"io"

	"github.com/safetensors-go/safetensors"
	"github.com/spf13/cobra"
)

func (a *app) mergeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "merge IN OUT",
		Short: "Merge a sharded set into one file",
		Long: `merge writes every tensor of the sharded set IN (its
model.safetensors.index.json, the folder holding it, or its URL) into the
single file OUT, in the reference writer's layout. The shards' metadata is
merged into OUT's (transformers' shards all carry {"format": "pt"}); when
shards disagree on a key, the first shard's value is kept and a warning says
so. The index's own metadata (total_size, total_parameters) describes the set
and is not copied.

Tensors are streamed from the shards to OUT, which is written under a
temporary name and renamed when complete. A single file as IN is copied in
the canonical layout.`,
		Example: `  safetensors merge model.safetensors.index.json model.safetensors
  safetensors merge ./checkpoint-1000/ merged.safetensors`,
		Args: exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := a.checkOverwrite(args[1]); err != nil {
				return err
			}
			return a.withModel(args[0], func(m *model) error {
				return a.copyModel(m, args[1], "merging")
			})
		}),
	}
	a.forceFlag(cmd)
	return cmd
}

// copyModel streams every tensor of m into the file out.
func (a *app) copyModel(m *model, out, description string) error {
	infos := make([]safetensors.TensorInfo, len(m.tensors))
	for i, t := range m.tensors {
		infos[i] = safetensors.TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	metadata, warnings := m.fileMetadata()
	a.warn(warnings...)
	bar := a.newProgress(description, m.dataSize())
	defer bar.done()
	var size int64
	err := writeOutput(out, func(w io.Writer) error {
		tw, err := safetensors.NewWriter(w, infos, metadata)
		if err != nil {
			return outFile(out, err)
		}
		for _, ti := range tw.Infos() {
			t, _ := m.tensor(ti.Name)
			r, err := t.file.f.TensorReader(t.Name)
			if err == nil {
				_, err = tw.CopyTensor(t.Name, bar.reader(r))
			}
			if err != nil {
				return inFile(t.file.name, err)
			}
		}
		size = tw.Size()
		return outFile(out, tw.Close())
	})
	bar.done() // before the result line, which must not share the bar's line
	if err == nil {
		a.wrote(out, len(infos), size)
	}
	return err
}
