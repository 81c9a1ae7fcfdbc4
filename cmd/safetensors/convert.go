package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/safetensors-go/safetensors"
	"github.com/spf13/cobra"
)

func (a *app) convertCommand() *cobra.Command {
	var dtypeName string
	cmd := &cobra.Command{
		Use:   "convert --dtype DTYPE IN OUT",
		Short: "Convert the floating-point tensors of a model to another dtype",
		Long: `convert writes OUT, a copy of the model IN whose floating-point tensors (F64,
F32, F16, BF16, the F8, F6 and F4 kinds) are converted to DTYPE; integer, BOOL
and C64 tensors are copied untouched, and so is the metadata. A sharded IN is
written as one file.

DTYPE is a dtype as the format spells it, in any case (bf16, f16, f32, f64,
f8_e4m3, f8_e5m2, f8_e4m3fnuz, f8_e5m2fnuz, f8_e8m0, f6_e2m3, f6_e3m2, f4), or
PyTorch's name for it (bfloat16, float16, half, float32, float8_e4m3fn, ...).
Values are rounded to nearest, ties to even, with each format's rules for
overflow, NaN and infinity (see the library's FromFloat32); a value that
DTYPE cannot hold at all (a NaN for F4, a negative number for F8_E8M0) is an
error naming the tensor.

The conversion streams: the header is written first, then each tensor is
read, converted and written a chunk at a time, so memory use stays small
whatever the model's size. OUT is written under a temporary name and
renamed when complete: it is never left half-written.`,
		Example: `  safetensors convert --dtype bf16 model.safetensors model-bf16.safetensors
  safetensors convert --dtype f8_e4m3 model.safetensors.index.json model-f8.safetensors`,
		Args: exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			to, err := parseDType(dtypeName)
			if err != nil {
				return usagef("--dtype: %v (one of %s, or a PyTorch name)", err, strings.Join(floatDTypeNames(), ", "))
			}
			if !to.IsFloat() {
				return usagef("--dtype: %v is not a floating-point dtype", to)
			}
			if err := a.checkOverwrite(args[1]); err != nil {
				return err
			}
			return a.withModel(args[0], func(m *model) error {
				return a.convert(m, to, args[1])
			})
		}),
	}
	cmd.Flags().StringVar(&dtypeName, "dtype", "", "the target dtype: bf16, f16, f32, f8_e4m3, ... (required)")
	cmd.MarkFlagRequired("dtype")
	cmd.RegisterFlagCompletionFunc("dtype", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return floatDTypeNames(), cobra.ShellCompDirectiveNoFileComp
	})
	a.forceFlag(cmd)
	return cmd
}

func (a *app) convert(m *model, to safetensors.DType, out string) error {
	infos := make([]safetensors.TensorInfo, len(m.tensors))
	for i, t := range m.tensors {
		infos[i] = safetensors.TensorInfo{Name: t.Name, DType: t.DType, Shape: t.Shape}
		if t.DType.IsFloat() {
			infos[i].DType = to
		}
	}
	metadata, warnings := m.fileMetadata()
	a.warn(warnings...)
	bar := a.newProgress("converting", m.dataSize())
	defer bar.done()
	var bufs convertBuffers
	var size int64
	err := writeOutput(out, func(w io.Writer) error {
		tw, err := safetensors.NewWriter(w, infos, metadata)
		if err != nil {
			return outFile(out, err)
		}
		for _, ti := range tw.Infos() {
			t, _ := m.tensor(ti.Name)
			if err := copyConverted(tw, t, ti.DType, &bufs, bar); err != nil {
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

// copyConverted writes tensor t to tw as dtype to, converting it a chunk at
// a time, or copying its bytes when it keeps its dtype. The chunk buffers are
// reused from tensor to tensor.
func copyConverted(tw *safetensors.Writer, t tensorRef, to safetensors.DType, bufs *convertBuffers, bar *progress) error {
	if t.DType == to {
		r, err := t.file.f.TensorReader(t.Name)
		if err != nil {
			return err
		}
		_, err = tw.CopyTensor(t.Name, bar.reader(r))
		return err
	}
	r, err := newChunkReader(t, bar)
	if err != nil {
		return err
	}
	r.buf = bufs.in
	defer func() { bufs.in = r.buf }()
	for {
		first, c, err := r.chunk()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		// Each value is decoded exactly and rounded once: F64 through
		// float64, every other float dtype through float32, which holds all
		// their values.
		if t.DType == safetensors.F64 {
			bufs.f64, err = safetensors.AppendFloat64(bufs.f64[:0], c)
			if err == nil {
				bufs.out, err = safetensors.AppendEncoded(bufs.out[:0], to, bufs.f64)
			}
		} else {
			bufs.f32, err = safetensors.AppendFloat32(bufs.f32[:0], c)
			if err == nil {
				bufs.out, err = safetensors.AppendEncoded(bufs.out[:0], to, bufs.f32)
			}
		}
		if err != nil {
			return fmt.Errorf("tensor %q, in the elements from %d on: %w", t.Name, first, err)
		}
		if _, err := tw.Write(bufs.out); err != nil {
			return err
		}
	}
}

// convertBuffers are convert's chunk buffers: the bytes read, the values,
// the bytes converted.
type convertBuffers struct {
	in, out []byte
	f32     []float32
	f64     []float64
}
