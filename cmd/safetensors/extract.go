package main

import (
	"fmt"
	"io"

	"github.com/safetensors-go/safetensors"
	"github.com/spf13/cobra"
)

func (a *app) extractCommand() *cobra.Command {
	var noMetadata bool
	cmd := &cobra.Command{
		Use:   "extract IN OUT NAME[EXPR]...",
		Short: "Copy chosen tensors, or slices of them, into a new file",
		Long: `extract writes OUT with the tensors of IN that the NAME arguments choose.

NAME is a tensor's name or a glob pattern as path.Match has them ("*" matches
any run of characters but "/", "?" one character, "[a-z]" a class), matched
against whole names: 'model.layers.0.*' chooses every tensor of layer 0. A
pattern that matches nothing is an error.

A NAME may end with an index expression in brackets, in NumPy's basic-indexing
syntax (the library's ParseIndex): 'embed.weight[:1000]' keeps the first 1000
rows, 'w[0]' drops the first dimension, 'w[..., ::2]' every other column,
'w[-1]' the last row. The tensor keeps its name and gets the selection's
shape. An argument that is exactly the name of a tensor is never read as a
slice; a final [...] that is not an index expression ('w[0-3]') is a glob
character class. Quote the arguments for the shell.

OUT keeps IN's metadata (--no-metadata drops it) and is written atomically.`,
		Example: `  safetensors extract model.safetensors head.safetensors 'lm_head.*'
  safetensors extract model.safetensors emb.safetensors 'model.embed_tokens.weight[:1000]'`,
		Args: minArgs(3),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := a.checkOverwrite(args[1]); err != nil {
				return err
			}
			return a.withModel(args[0], func(m *model) error {
				return a.extract(m, args[1], args[2:], noMetadata)
			})
		}),
	}
	cmd.Flags().BoolVar(&noMetadata, "no-metadata", false, "do not copy the metadata")
	a.forceFlag(cmd)
	return cmd
}

// extracted is a tensor chosen by extract: whole, or a view of it.
type extracted struct {
	t    tensorRef
	sel  *selection
	view safetensors.View // when sel.sliced
}

func (a *app) extract(m *model, out string, args []string, noMetadata bool) error {
	sels := make([]*selection, len(args))
	for i, arg := range args {
		sel, err := parseSelection(arg, func(name string) bool { _, ok := m.byName[name]; return ok })
		if err != nil {
			return usagef("%v", err)
		}
		sels[i] = &sel
	}
	var chosen []extracted
	var infos []safetensors.TensorInfo
	var total int64
	for _, t := range m.tensors {
		var hit *selection
		for _, sel := range sels {
			if !sel.matches(t.Name) {
				continue
			}
			sel.matched = true
			if hit != nil && (hit.sliced || sel.sliced) && hit.expr != sel.expr {
				return fmt.Errorf("tensor %q is chosen twice, by %q and %q", t.Name, hit.arg, sel.arg)
			}
			hit = sel
		}
		if hit == nil {
			continue
		}
		e := extracted{t: t, sel: hit}
		info := safetensors.TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape}
		size := t.Size()
		if hit.sliced {
			s, err := t.file.f.GetSlice(t.Name)
			if err != nil {
				return inFile(t.file.name, err)
			}
			if e.view, err = s.View(hit.index...); err != nil {
				return inFile(t.file.name, err) // names the tensor and the index
			}
			info.Shape, size = e.view.Shape(), e.view.Size()
		}
		chosen = append(chosen, e)
		infos = append(infos, info)
		total += size
	}
	for _, sel := range sels {
		if !sel.matched {
			return fmt.Errorf("no tensor matches %q", sel.pattern)
		}
	}
	metadata, warnings := m.fileMetadata()
	if noMetadata {
		metadata, warnings = nil, nil
	}
	a.warn(warnings...)
	byName := make(map[string]extracted, len(chosen))
	for _, e := range chosen {
		byName[e.t.Name] = e
	}
	bar := a.newProgress("extracting", total)
	defer bar.done()
	var size int64
	err := writeOutput(out, func(w io.Writer) error {
		tw, err := safetensors.NewWriter(w, infos, metadata)
		if err != nil {
			return outFile(out, err)
		}
		for _, ti := range tw.Infos() {
			e := byName[ti.Name]
			if err := writeExtracted(tw, e, bar); err != nil {
				return inFile(e.t.file.name, err)
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

func writeExtracted(tw *safetensors.Writer, e extracted, bar *progress) error {
	if !e.sel.sliced {
		r, err := e.t.file.f.TensorReader(e.t.Name)
		if err != nil {
			return err
		}
		_, err = tw.CopyTensor(e.t.Name, bar.reader(r))
		return err
	}
	t, err := e.view.Get()
	if err != nil {
		return err
	}
	bar.add(int64(len(t.Data())))
	return tw.WriteTensor(e.t.Name, t)
}
