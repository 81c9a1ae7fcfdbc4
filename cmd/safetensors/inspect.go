package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/safetensors-go/safetensors"
	"github.com/spf13/cobra"
)

func (a *app) inspectCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "List the tensors of a model with their dtypes, shapes, sizes and offsets",
		Long: `inspect lists the tensors of a model, in the order of their data in the file:
name, dtype, shape, size and data offsets (relative to the start of the data
buffer, as in the header), then the totals: tensor count, parameter count,
bytes per dtype, header size and file size. It reads only the headers.

With --json it prints, for scripts:

  {"file_size": int, "header_size": int, "metadata": {"key": "value", ...} or null,
   "tensors": [{"name": str, "dtype": str, "shape": [int, ...],
                "data_offsets": [begin, end]}, ...]}

with the tensors in the order of their data. For a sharded set, file_size and
header_size are the sums over the shards, metadata is the index's
("total_size", "total_parameters", ...), "files" lists the shards ({"name",
"file_size", "header_size", "metadata": the shard's own}) and each tensor has
a "file": the shard it is in.`,
		Example: `  safetensors inspect model.safetensors
  safetensors inspect --json model.safetensors.index.json | jq '.tensors[].name'`,
		Args: exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return a.withModel(args[0], func(m *model) error {
				if asJSON {
					return writeInspectJSON(a.stdout, inspectJSON(m))
				}
				return writeInspect(a.stdout, m)
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (schema in the help text)")
	return cmd
}

// The --json schema of inspect.
type (
	inspectOutput struct {
		FileSize   int64             `json:"file_size"`
		HeaderSize int64             `json:"header_size"`
		Metadata   map[string]string `json:"metadata"`
		Files      []inspectFile     `json:"files,omitempty"`
		Tensors    []inspectTensor   `json:"tensors"`
	}
	inspectFile struct {
		Name       string            `json:"name"`
		FileSize   int64             `json:"file_size"`
		HeaderSize int64             `json:"header_size"`
		Metadata   map[string]string `json:"metadata"`
	}
	inspectTensor struct {
		Name        string   `json:"name"`
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
		File        string   `json:"file,omitempty"`
	}
)

func inspectJSON(m *model) inspectOutput {
	out := inspectOutput{
		FileSize:   m.fileSize(),
		HeaderSize: m.headerSize(),
		Metadata:   m.metadata,
		Tensors:    make([]inspectTensor, 0, len(m.tensors)),
	}
	if m.sharded {
		out.Files = make([]inspectFile, 0, len(m.files))
		for _, mf := range m.files {
			out.Files = append(out.Files, inspectFile{
				Name:       mf.name,
				FileSize:   mf.f.Size(),
				HeaderSize: mf.f.HeaderSize(),
				Metadata:   mf.f.Metadata(),
			})
		}
	}
	for _, t := range m.tensors {
		it := inspectTensor{
			Name:        t.Name,
			DType:       t.DType.String(),
			Shape:       append([]int{}, t.Shape...),
			DataOffsets: t.DataOffsets,
		}
		if m.sharded {
			it.File = t.file.name
		}
		out.Tensors = append(out.Tensors, it)
	}
	return out
}

// writeInspectJSON writes inspect's JSON indented, but with each file and
// each tensor on one line, so that a model of thousands of tensors reads as
// a list (and greps well).
func writeInspectJSON(w io.Writer, out inspectOutput) error {
	compact := func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v) // cannot fail: strings, numbers, maps of strings
		return strings.TrimSuffix(b.String(), "\n")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"file_size\": %d,\n  \"header_size\": %d,\n  \"metadata\": ", out.FileSize, out.HeaderSize)
	var md bytes.Buffer
	enc := json.NewEncoder(&md)
	enc.SetEscapeHTML(false)
	enc.SetIndent("  ", "  ")
	if err := enc.Encode(out.Metadata); err != nil {
		return err
	}
	b.Write(bytes.TrimSuffix(md.Bytes(), []byte("\n")))
	list := func(key string, n int, item func(i int) string) {
		fmt.Fprintf(&b, ",\n  %q: [", key)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n    ")
			b.WriteString(item(i))
		}
		if n > 0 {
			b.WriteString("\n  ")
		}
		b.WriteByte(']')
	}
	if out.Files != nil {
		list("files", len(out.Files), func(i int) string { return compact(out.Files[i]) })
	}
	list("tensors", len(out.Tensors), func(i int) string { return compact(out.Tensors[i]) })
	b.WriteString("\n}\n")
	_, err := w.Write(escapeJSONControls(b.Bytes()))
	return err
}

// dtypeTotal is what inspect sums per dtype.
type dtypeTotal struct {
	dtype          safetensors.DType
	tensors        int
	params, nbytes int64
}

func writeInspect(w io.Writer, m *model) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if m.sharded {
		fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tSIZE\tOFFSETS\tFILE")
	} else {
		fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tSIZE\tOFFSETS")
	}
	totals := map[safetensors.DType]*dtypeTotal{}
	var params int64
	for _, t := range m.tensors {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t[%d, %d]", printableName(t.Name), t.DType, formatShape(t.Shape),
			formatBytes(t.Size()), t.DataOffsets[0], t.DataOffsets[1])
		if m.sharded {
			fmt.Fprintf(tw, "\t%s", path.Base(t.file.name))
		}
		fmt.Fprintln(tw)
		n := int64(t.NumElements())
		params += n
		dt := totals[t.DType]
		if dt == nil {
			dt = &dtypeTotal{dtype: t.DType}
			totals[t.DType] = dt
		}
		dt.tensors++
		dt.params += n
		dt.nbytes += t.Size()
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if m.sharded {
		fmt.Fprintf(tw, "files\t%d\n", len(m.files))
	}
	fmt.Fprintf(tw, "tensors\t%s\n", formatCount(int64(len(m.tensors))))
	if params < 1000 {
		fmt.Fprintf(tw, "parameters\t%d\n", params)
	} else {
		fmt.Fprintf(tw, "parameters\t%s (%s)\n", formatCount(params), formatParams(params))
	}
	byBytes := make([]*dtypeTotal, 0, len(totals))
	for _, dt := range totals {
		byBytes = append(byBytes, dt)
	}
	slices.SortFunc(byBytes, func(x, y *dtypeTotal) int {
		return cmp.Or(cmp.Compare(y.nbytes, x.nbytes), cmp.Compare(x.dtype.String(), y.dtype.String()))
	})
	for _, dt := range byBytes {
		fmt.Fprintf(tw, "%s\t%s in %s %s\n", dt.dtype, formatSize(dt.nbytes),
			formatCount(int64(dt.tensors)), plural(dt.tensors, "tensor", "tensors"))
	}
	fmt.Fprintf(tw, "header size\t%s\n", formatSize(m.headerSize()))
	fmt.Fprintf(tw, "file size\t%s\n", formatSize(m.fileSize()))
	return tw.Flush()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
