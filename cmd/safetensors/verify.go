package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/safetensors-go/safetensors"

	"github.com/spf13/cobra"
)

// emptySHA256 is the sha256 of no bytes: the sshs_model_hash of a writer
// that hashed an empty buffer (ai-toolkit has done so).
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

type verifyOptions struct {
	values, hash bool
}

func (a *app) verifyCommand() *cobra.Command {
	var opt verifyOptions
	cmd := &cobra.Command{
		Use:   "verify MODEL...",
		Short: "Check that models follow every rule of the format",
		Long: `verify checks each MODEL against every rule of the safetensors format (the
header's length, UTF-8 and JSON syntax, its schema and dtypes, duplicate names,
offsets that tile the data buffer exactly, sizes that match dtypes and shapes,
overflows, the file's exact length), and prints one verdict per file:

  OK    model.safetensors: 20 tensors, 1.44 MiB
  FAIL  bad.safetensors: invalid offset: tensor "x": ...

--values also reads every tensor and fails a file whose floating tensors hold
NaN or infinite values, listing them under its verdict. --hash checks the
sshs_model_hash that kohya sd-scripts and other LoRA trainers store in the
metadata (the sha256 of the bytes after the header), where present.

The exit code is 0 when every file passes and 1 when any fails.`,
		Example: `  safetensors verify model.safetensors
  safetensors verify --hash --values lora/*.safetensors`,
		Args: minArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			failed := 0
			for _, arg := range args {
				v := a.verify(arg, opt)
				if err := a.ctx.Err(); err != nil {
					return err // interrupted: no verdict
				}
				tag := "OK  "
				if !v.ok {
					tag = "FAIL"
					failed++
				}
				fmt.Fprintf(a.stdout, "%s  %s: %s\n", tag, printable(arg), v.summary)
				for _, d := range v.details {
					fmt.Fprintf(a.stdout, "      %s\n", d)
				}
			}
			if len(args) > 1 {
				fmt.Fprintf(a.stdout, "%d of %d %s passed\n", len(args)-failed, len(args), plural(len(args), "model", "models"))
			}
			if failed > 0 {
				return silentExit{1}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&opt.values, "values", false, "also scan the data for NaN and infinite values")
	cmd.Flags().BoolVar(&opt.hash, "hash", false, "also check sshs_model_hash where the metadata has one")
	return cmd
}

// verdict is verify's finding about one model.
type verdict struct {
	ok      bool
	summary string   // the rest of the verdict's line
	details []string // lines under it
}

// failed is the verdict of an error about the model arg; the verdict's line
// names arg already.
func failed(arg string, err error) verdict {
	return verdict{summary: strings.TrimPrefix(describe(err), arg+": ")}
}

func (a *app) verify(arg string, opt verifyOptions) verdict {
	m, err := a.openModel(arg)
	if err != nil {
		return failed(arg, err)
	}
	defer m.Close()
	var notes []string
	v := verdict{ok: true}
	if opt.hash {
		note, ok, err := a.checkHash(m)
		if err != nil {
			return failed(arg, err)
		}
		notes = append(notes, note)
		v.ok = v.ok && ok
	}
	if opt.values {
		bad, err := a.scanValues(m)
		if err != nil {
			return failed(arg, err)
		}
		if len(bad) > 0 {
			v.ok = false
			notes = append(notes, fmt.Sprintf("%d %s with NaN or infinite values", len(bad), plural(len(bad), "tensor", "tensors")))
			v.details = bad
		} else {
			notes = append(notes, "no NaN or infinite values")
		}
	}
	v.summary = fmt.Sprintf("%s %s, %s", formatCount(int64(len(m.tensors))), plural(len(m.tensors), "tensor", "tensors"), formatBytes(m.fileSize()))
	if m.sharded {
		// Every shard was opened, its header checked against the format's
		// rules and against the index: each gets its line.
		v.summary = fmt.Sprintf("%s %s, %s", formatCount(int64(len(m.files))), plural(len(m.files), "shard", "shards"), v.summary)
		shards := make([]string, len(m.files))
		for i, mf := range m.files {
			n := mf.f.Len()
			shards[i] = fmt.Sprintf("OK    %s: %s %s, %s", printable(mf.name), formatCount(int64(n)), plural(n, "tensor", "tensors"), formatBytes(mf.f.Size()))
		}
		v.details = append(shards, v.details...)
	}
	if len(notes) > 0 {
		v.summary += "; " + strings.Join(notes, "; ")
	}
	return v
}

// checkHash compares each file's sshs_model_hash, where it has one, with the
// sha256 of the bytes after its header, and says how it went; ok is false
// on a mismatch.
func (a *app) checkHash(m *model) (note string, ok bool, err error) {
	var todo []*modelFile
	var total int64
	for _, mf := range m.files {
		if _, ok := mf.f.Metadata()["sshs_model_hash"]; ok {
			todo = append(todo, mf)
			total += mf.f.Size() - mf.f.DataOffset()
		}
	}
	if len(todo) == 0 {
		return "no sshs_model_hash to check", true, nil
	}
	bar := a.newProgress("hashing", total)
	defer bar.done()
	var mismatches []string
	for _, mf := range todo {
		want := strings.ToLower(strings.TrimSpace(mf.f.Metadata()["sshs_model_hash"]))
		got, err := dataSHA256(mf, bar)
		if err != nil {
			return "", false, inFile(mf.name, err)
		}
		if got == want {
			continue
		}
		msg := fmt.Sprintf("sshs_model_hash mismatch: the metadata says %s, the data hashes to %s", want, got)
		if want == emptySHA256 {
			msg += " (the metadata's is the sha256 of no bytes: its writer hashed an empty buffer)"
		}
		if m.sharded {
			msg = mf.name + ": " + msg
		}
		mismatches = append(mismatches, msg)
	}
	if len(mismatches) > 0 {
		return strings.Join(mismatches, "; "), false, nil
	}
	return "sshs_model_hash matches", true, nil
}

// dataSHA256 returns the hex sha256 of a file's data buffer: its tensors'
// bytes in buffer order, which the format requires to be exactly the bytes
// after the header.
func dataSHA256(mf *modelFile, bar *progress) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for _, ti := range mf.f.Infos() {
		r, err := mf.f.TensorReader(ti.Name)
		if err != nil {
			return "", err
		}
		if _, err := io.CopyBuffer(h, bar.reader(r), buf); err != nil {
			return "", fmt.Errorf("tensor %q: %w", ti.Name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// scanValues is --values: it reads every floating-point tensor (and C64)
// and returns one line per tensor holding NaN or infinite values.
func (a *app) scanValues(m *model) ([]string, error) {
	var todo []tensorRef
	var total int64
	for _, t := range m.tensors {
		if t.DType.IsFloat() || t.DType == safetensors.C64 {
			todo = append(todo, t)
			total += t.Size()
		}
	}
	bar := a.newProgress("scanning", total)
	defer bar.done()
	var bad []string
	var d decoded
	for _, t := range todo {
		var s tensorStats
		err := forEachChunk(t, bar, &d, func() {
			countSpecial(&s, d.f32)
			countSpecial(&s, d.f64)
		})
		if err != nil {
			return nil, inFile(t.file.name, err)
		}
		if s.NaN+s.PosInf+s.NegInf == 0 {
			continue
		}
		var parts []string
		for _, c := range []struct {
			n    int64
			what string
		}{{s.NaN, "NaN"}, {s.PosInf, "+Inf"}, {s.NegInf, "-Inf"}} {
			if c.n > 0 {
				parts = append(parts, formatCount(c.n)+" "+c.what)
			}
		}
		line := fmt.Sprintf("tensor %s: %s of %s values", strconv.Quote(t.Name), strings.Join(parts, ", "), formatCount(s.Count))
		if m.sharded {
			line = t.file.name + ": " + line
		}
		bad = append(bad, line)
	}
	return bad, nil
}

// countSpecial counts the NaN and infinite values.
func countSpecial[F float32 | float64](s *tensorStats, vals []F) {
	for _, f := range vals {
		x := float64(f)
		switch {
		case x != x:
			s.NaN++
		case x > math.MaxFloat64:
			s.PosInf++
		case x < -math.MaxFloat64:
			s.NegInf++
		}
	}
	s.Count += int64(len(vals))
}
