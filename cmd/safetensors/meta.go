package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func (a *app) metaCommand() *cobra.Command {
	var asJSON, raw bool
	cmd := &cobra.Command{
		Use:   "meta MODEL",
		Short: "Print the metadata of a model",
		Long: `meta prints the "__metadata__" map of a model, one key per line in sorted
order. Values that hold JSON inside the string (kohya sd-scripts' LoRAs have
ss_tag_frequency, ss_dataset_dirs, ss_bucket_info, ...) are decoded and shown
as indented JSON, as the Stable Diffusion web UI does; other values are shown
as they are. "no metadata" is printed for a model without any. A sharded
set's metadata is its index's ("total_size", "total_parameters", ...);
"inspect --json" shows each shard's own.

With --json it prints one JSON object, keys sorted: the decoded values as JSON
objects and arrays, the others as strings; null when there is no metadata.
--raw keeps every value a string.`,
		Example: `  safetensors meta lora.safetensors
  safetensors meta --json lora.safetensors | jq '.ss_tag_frequency'`,
		Args: exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return a.withModel(args[0], func(m *model) error {
				if asJSON {
					return writeMetaJSON(a.stdout, m.metadata, !raw)
				}
				return writeMeta(a.stdout, m.metadata, !raw)
			})
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().BoolVar(&raw, "raw", false, "do not decode JSON inside values")
	return cmd
}

// embeddedJSON returns the value decoded as JSON when it is a JSON object or
// array inside a string (after leading and trailing white space), and nil
// otherwise. Like the Stable Diffusion web UI, which decodes values starting
// with "{", it leaves numbers and other scalars as strings; it decodes arrays
// too.
func embeddedJSON(v string) json.RawMessage {
	s := strings.TrimSpace(v)
	if s == "" || (s[0] != '{' && s[0] != '[') || !json.Valid([]byte(s)) {
		return nil
	}
	return json.RawMessage(s)
}

func writeMeta(w io.Writer, md map[string]string, decode bool) error {
	if md == nil {
		_, err := fmt.Fprintln(w, "no metadata")
		return err
	}
	keys := sortedKeys(md)
	var b bytes.Buffer
	for _, k := range keys {
		v := md[k]
		b.WriteString(printable(k))
		b.WriteString(":")
		if raw := embeddedJSON(v); decode && raw != nil {
			b.WriteByte(' ')
			var ind bytes.Buffer
			if err := json.Indent(&ind, raw, "", "  "); err != nil {
				return err // unreachable: raw is valid JSON
			}
			b.Write(ind.Bytes())
			b.WriteByte('\n')
			continue
		}
		if v != "" {
			b.WriteByte(' ')
			b.WriteString(printable(v))
		}
		b.WriteByte('\n')
	}
	_, err := w.Write(b.Bytes())
	return err
}

// printable returns s with the characters isControl reports escaped as Go
// quotes them (\x1b, \u0085, \u202e), so that a name or value from a file
// cannot move the cursor, recolour the terminal or reorder what it shows.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isControl reports whether r would act on a terminal rather than show as a
// character: the C0 and C1 controls but newline and tab, DEL, the line and
// paragraph separators, and the bidirectional formatting characters, which
// can make a name display as another (the "Trojan Source" trick).
func isControl(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f || r == 0x2028 || r == 0x2029:
		return true
	case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return true
	}
	return false
}

func writeMetaJSON(w io.Writer, md map[string]string, decode bool) error {
	if md == nil {
		return writeJSON(w, nil)
	}
	out := make(map[string]any, len(md))
	for k, v := range md {
		if raw := embeddedJSON(v); decode && raw != nil {
			out[k] = raw
		} else {
			out[k] = v
		}
	}
	return writeJSON(w, out)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
