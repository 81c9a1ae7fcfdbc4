package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// formatShape writes a shape as a Python tuple would read, in brackets:
// [2, 3], [] for a scalar.
func formatShape(shape []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteByte(']')
	return b.String()
}

// formatCount writes n with thousands separators: 1,234,567.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatBytes writes a size in bytes with binary units: 512 B, 1.5 KiB,
// 2.00 GiB; three significant digits above 1 KiB.
func formatBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	u := -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return formatSig3(v) + " " + units[u]
}

// formatSize writes an exact byte count, and the rounded one when it
// differs: "16 bytes", "1,509,296 bytes (1.44 MiB)".
func formatSize(n int64) string {
	if n < 1024 {
		return formatCount(n) + plural(int(n), " byte", " bytes")
	}
	return formatCount(n) + " bytes (" + formatBytes(n) + ")"
}

// printableName returns a tensor name as it is, or quoted with Go's escapes
// when it holds control characters (tabs and newlines included), which would
// break a table or act on the terminal.
func printableName(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r == '\n' || r == '\t' || isControl(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// formatParams writes a parameter count briefly: 950, 1.18K, 6.74B.
func formatParams(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10)
	}
	units := []string{"K", "M", "B", "T"}
	v := float64(n)
	u := -1
	for v >= 1000 && u < len(units)-1 {
		v /= 1000
		u++
	}
	return formatSig3(v) + units[u]
}

// formatSig3 writes v (1 <= v < 1024) with three significant digits.
func formatSig3(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// formatFloat writes a statistic compactly: up to 6 significant digits,
// "nan", "inf", "-inf".
func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// jsonFloat is a float64 that encodes NaN and the infinities, which JSON
// lacks, as the strings "nan", "inf" and "-inf", and finite values as
// numbers.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte(strconv.Quote(formatFloat(v))), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		switch s {
		case "nan":
			*f = jsonFloat(math.NaN())
		case "inf":
			*f = jsonFloat(math.Inf(1))
		case "-inf":
			*f = jsonFloat(math.Inf(-1))
		default:
			return fmt.Errorf("not a number: %q", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// writeJSON writes v to w as indented JSON, without escaping <, > and &
// (names like "<s1>" stay readable), followed by a newline.
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	_, err := w.Write(escapeJSONControls(b.Bytes()))
	return err
}

// escapeJSONControls rewrites, in JSON text, the characters that isControl
// reports and encoding/json leaves raw (U+0085 and the other C1 controls,
// the bidirectional formatting characters) as \uXXXX escapes: the same
// strings to a JSON reader, and nothing that acts on a terminal. Such
// characters can only stand inside strings, where the escape is valid.
func escapeJSONControls(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r >= 0x80 && isControl(r) }) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r >= 0x80 && isControl(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}
