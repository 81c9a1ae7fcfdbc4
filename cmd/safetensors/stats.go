package main

import (
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/safetensors-go/safetensors"
	"github.com/spf13/cobra"
)

type statsOptions struct {
	bins   int
	asJSON bool
}

func (a *app) statsCommand() *cobra.Command {
	var opt statsOptions
	cmd := &cobra.Command{
		Use:   "stats MODEL [PATTERN...]",
		Short: "Summarize the values of tensors: min, max, mean, std, NaN/Inf, histogram",
		Long: `stats reads the tensors of a model (all of them, or those whose names match
one of the glob PATTERNs, as path.Match has them: "*" stops at "/", not at
".") and prints, per tensor: the minimum, maximum, mean and standard deviation
of its finite values (the population std, as numpy.std), how many values are
NaN and infinite, and a histogram of the finite values drawn with Unicode
blocks, from the minimum (left) to the maximum (right).

Every numeric dtype is decoded exactly (F8, F6 and F4 included); integers and
BOOL count as numbers, C64 as its real and imaginary parts. Tensors are read
chunk by chunk; the histogram needs a second read of tensors of more than 1M
elements. With --json it prints a list of objects with these fields, the
histogram as "hist_min", "hist_max" and "hist_counts"; NaN and infinite
statistics as the strings "nan", "inf", "-inf".`,
		Example: `  safetensors stats model.safetensors
  safetensors stats model.safetensors 'model.layers.0.*'`,
		Args: minArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if opt.bins < 1 || opt.bins > 1000 {
				return usagef("--bins must be between 1 and 1000")
			}
			return a.withModel(args[0], func(m *model) error {
				tensors, err := selectTensors(m, args[1:])
				if err != nil {
					return err
				}
				stats, err := a.computeStats(tensors, opt.bins)
				if err != nil {
					return err
				}
				if opt.asJSON {
					return writeJSON(a.stdout, stats)
				}
				return writeStats(a.stdout, stats)
			})
		}),
	}
	cmd.Flags().IntVar(&opt.bins, "bins", 24, "histogram bins")
	cmd.Flags().BoolVar(&opt.asJSON, "json", false, "print JSON")
	return cmd
}

// selectTensors returns the tensors whose names match one of the patterns,
// in the model's order; all of them without patterns. A pattern that
// matches nothing is an error.
func selectTensors(m *model, patterns []string) ([]tensorRef, error) {
	if len(patterns) == 0 {
		return m.tensors, nil
	}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, usagef("bad pattern %q: %v", p, err)
		}
	}
	var out []tensorRef
	matched := make([]bool, len(patterns))
	for _, t := range m.tensors {
		hit := false
		for i, p := range patterns {
			if ok, _ := path.Match(p, t.Name); ok || p == t.Name {
				matched[i], hit = true, true
			}
		}
		if hit {
			out = append(out, t)
		}
	}
	for i, ok := range matched {
		if !ok {
			return nil, fmt.Errorf("no tensor matches %q", patterns[i])
		}
	}
	return out, nil
}

// tensorStats is what stats prints for one tensor.
type tensorStats struct {
	Name       string    `json:"name"`
	DType      string    `json:"dtype"`
	Shape      []int     `json:"shape"`
	Count      int64     `json:"count"` // values: elements, twice that for C64
	Finite     int64     `json:"finite"`
	Min        jsonFloat `json:"min"`
	Max        jsonFloat `json:"max"`
	Mean       jsonFloat `json:"mean"`
	Std        jsonFloat `json:"std"`
	NaN        int64     `json:"nan"`
	PosInf     int64     `json:"pos_inf"`
	NegInf     int64     `json:"neg_inf"`
	HistMin    jsonFloat `json:"hist_min"`
	HistMax    jsonFloat `json:"hist_max"`
	HistCounts []int64   `json:"hist_counts"`

	// The running mean and sum of squared deviations from it, both divided
	// by scale (squared for m2).
	mean, m2, scale float64
}

// addValues merges a chunk's values into s: counts of NaN and infinities,
// and, over the finite values, min, max, and the mean and sum of squared
// deviations with Chan et al.'s pairwise update, which is stable for any
// count. The mean and deviations are kept divided by s.scale, a power of two
// at least the largest magnitude seen, so that values near the largest
// float64 neither overflow a sum nor a square.
func addValues[F float32 | float64](s *tensorStats, vals []F) {
	var n int64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, f := range vals {
		x := float64(f)
		switch {
		case x != x:
			s.NaN++
		case x > math.MaxFloat64:
			s.PosInf++
		case x < -math.MaxFloat64:
			s.NegInf++
		default:
			n++
			lo = min(lo, x)
			hi = max(hi, x)
		}
	}
	s.Count += int64(len(vals))
	if n == 0 {
		return
	}
	scale := max(s.scale, powerOfTwoAbove(max(-lo, hi)))
	if s.scale != scale && s.Finite > 0 {
		r := s.scale / scale // exact: both are powers of two
		s.mean *= r
		s.m2 *= r * r
	}
	s.scale = scale
	var sum float64
	for _, f := range vals {
		if x := float64(f); !math.IsNaN(x) && !math.IsInf(x, 0) {
			sum += x / scale
		}
	}
	mean := sum / float64(n)
	var m2 float64
	for _, f := range vals {
		if x := float64(f); !math.IsNaN(x) && !math.IsInf(x, 0) {
			d := x/scale - mean
			m2 += d * d
		}
	}
	if s.Finite == 0 {
		s.Min, s.Max, s.mean, s.m2, s.Finite = jsonFloat(lo), jsonFloat(hi), mean, m2, n
		return
	}
	total := s.Finite + n
	delta := mean - s.mean
	s.mean += delta * float64(n) / float64(total)
	s.m2 += m2 + delta*delta*float64(s.Finite)*float64(n)/float64(total)
	s.Finite = total
	s.Min = jsonFloat(min(float64(s.Min), lo))
	s.Max = jsonFloat(max(float64(s.Max), hi))
}

// powerOfTwoAbove returns the smallest power of two above x >= 0 (1 for 0).
func powerOfTwoAbove(x float64) float64 {
	if x == 0 {
		return 1
	}
	_, exp := math.Frexp(x) // x < 2^exp
	return math.Ldexp(1, exp)
}

// finish sets Mean and Std from the scaled sums.
func (s *tensorStats) finish() {
	s.Mean = jsonFloat(s.mean * s.scale)
	s.Std = jsonFloat(math.Sqrt(s.m2/float64(s.Finite)) * s.scale)
}

// binValues adds the finite values to the histogram, binned as
// numpy.histogram(values, bins, range=(min, max)) bins them: the edges are
// lo + k*(hi-lo)/bins, each bin holds [edge k, edge k+1) and the last one
// its right edge too. When lo == hi, the range is lo-0.5 to hi+0.5.
func binValues[F float32 | float64](s *tensorStats, vals []F) {
	lo, hi := float64(s.HistMin), float64(s.HistMax)
	scale := 1.0
	if math.IsInf(hi-lo, 0) {
		// The range overflows float64 (F64 values near ±1.8e308): bin
		// halves, which orders them the same.
		scale = 0.5
		lo, hi = lo*scale, hi*scale
	}
	bins := len(s.HistCounts)
	step := (hi - lo) / float64(bins)
	edge := func(k int) float64 {
		if k == bins {
			return hi
		}
		return float64(k)*step + lo
	}
	for _, f := range vals {
		x := float64(f)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		x *= scale
		i := bins - 1
		if q := (x - lo) / step; q < float64(bins) {
			i = max(int(q), 0)
		}
		// The division may be off by one ulp at an edge: the edges decide.
		if x < edge(i) && i > 0 {
			i--
		} else if i < bins-1 && x >= edge(i+1) {
			i++
		}
		s.HistCounts[i]++
	}
}

// decoded holds one chunk's values as float32 or float64.
type decoded struct {
	f32 []float32
	f64 []float64
}

// decodeChunk decodes a chunk into d: as float32 when every value of the
// dtype is exactly a float32, as float64 otherwise (F64, 32- and 64-bit
// integers).
func decodeChunk(d *decoded, t safetensors.Tensor) error {
	t = numeric(t)
	var err error
	switch t.DType() {
	case safetensors.F64, safetensors.I32, safetensors.U32, safetensors.I64, safetensors.U64:
		d.f32 = d.f32[:0]
		d.f64, err = safetensors.AppendFloat64(d.f64[:0], t)
	default:
		d.f64 = d.f64[:0]
		d.f32, err = safetensors.AppendFloat32(d.f32[:0], t)
	}
	return err
}

func (a *app) computeStats(tensors []tensorRef, bins int) ([]*tensorStats, error) {
	var total int64
	for _, t := range tensors {
		total += t.Size()
		if t.NumElements() > chunkElems {
			total += t.Size() // the histogram's second read
		}
	}
	bar := a.newProgress("reading", total)
	defer bar.done()
	out := make([]*tensorStats, 0, len(tensors))
	var d decoded
	for _, t := range tensors {
		s := &tensorStats{Name: t.Name, DType: t.DType.String(), Shape: nonNil(t.Shape), HistCounts: make([]int64, bins)}
		err := forEachChunk(t, bar, &d, func() {
			addValues(s, d.f32)
			addValues(s, d.f64)
		})
		if err != nil {
			return nil, inFile(t.file.name, err)
		}
		if s.Finite > 0 {
			s.finish()
			s.HistMin, s.HistMax = s.Min, s.Max
			if s.Min == s.Max {
				s.HistMin, s.HistMax = s.Min-0.5, s.Max+0.5
			}
			bin := func() {
				binValues(s, d.f32)
				binValues(s, d.f64)
			}
			if t.NumElements() <= chunkElems {
				bin() // the one chunk is still in d
			} else if err := forEachChunk(t, bar, &d, bin); err != nil {
				return nil, inFile(t.file.name, err)
			}
		} else {
			nan := jsonFloat(math.NaN())
			s.Min, s.Max, s.Mean, s.Std = nan, nan, nan, nan
			s.HistMin, s.HistMax, s.HistCounts = nan, nan, []int64{}
		}
		out = append(out, s)
	}
	return out, nil
}

// forEachChunk reads a tensor chunk by chunk, decodes each into d and calls
// fn.
func forEachChunk(t tensorRef, bar *progress, d *decoded, fn func()) error {
	r, err := newChunkReader(t, bar)
	if err != nil {
		return err
	}
	for {
		_, c, err := r.chunk()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := decodeChunk(d, c); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		fn()
	}
}

// sparkline draws counts as a row of Unicode blocks, the highest count as a
// full block; an empty bin is a space, a bin with any count at least "▁".
func sparkline(counts []int64) string {
	blocks := []rune("▁▂▃▄▅▆▇█")
	var top int64
	for _, c := range counts {
		top = max(top, c)
	}
	var b strings.Builder
	for _, c := range counts {
		if c == 0 {
			b.WriteByte(' ')
			continue
		}
		i := int(float64(c) / float64(top) * float64(len(blocks)-1))
		b.WriteRune(blocks[min(i, len(blocks)-1)])
	}
	return b.String()
}

func writeStats(w io.Writer, stats []*tensorStats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tDTYPE\tSHAPE\tMIN\tMAX\tMEAN\tSTD\tNAN\tINF\tHISTOGRAM")
	for _, s := range stats {
		if s.Finite == 0 && s.Count == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t0\t0\t\n", printableName(s.Name), s.DType, formatShape(s.Shape))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t▕%s▏\n", printableName(s.Name), s.DType, formatShape(s.Shape),
			formatFloat(float64(s.Min)), formatFloat(float64(s.Max)), formatFloat(float64(s.Mean)), formatFloat(float64(s.Std)),
			formatCount(s.NaN), formatCount(s.PosInf+s.NegInf), sparkline(s.HistCounts))
	}
	return tw.Flush()
}
