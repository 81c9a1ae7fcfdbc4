package safetensors

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// The conversion benchmarks work on 64 Mi elements: 256 MiB of float32
// output for the decoders (from 128 MiB of BF16 or F16, 64 MiB of F8), and
// 128 MiB of BF16 output from 256 MiB of float32 for the encoder. b.SetBytes
// is the output size, and the copy sub-benchmarks copy the same output
// sizes, so the ratio of MB/s figures is the conversion's speed relative to
// copy(). Each top-level benchmark runs its copy baselines between the
// conversions, so that with -count N every round has its own baseline on a
// machine whose load changes.
//
// BenchmarkConvert writes into a destination that earlier iterations
// touched (AppendFloat32 / AppendEncoded into a reused buffer).
// BenchmarkConvertFresh allocates the result each time, as ToFloat32 and
// Convert do, and its copy baseline is make plus copy: on this machine the
// first touch of fresh memory dominates those figures.
//
//	go test -run '^$' -bench 'Convert' -benchtime 5x -count 3 .
const benchElems = 64 << 20

var benchInput = sync.OnceValue(func() map[DType]Tensor {
	rng := rand.New(rand.NewPCG(7, 8))
	vals := make([]float32, benchElems)
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * 0.05) // weights-like magnitudes
	}
	in := map[DType]Tensor{}
	for _, d := range []DType{F32, BF16, F16, F8E4M3} {
		t, err := FromFloat32(d, []int{benchElems}, vals)
		if err != nil {
			panic(err)
		}
		in[d] = t
	}
	return in
})

var benchSink any

func benchCopy(b *testing.B, size int, fresh bool) {
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]byte, size)
	copy(dst, src)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if fresh {
			dst = make([]byte, size)
		}
		copy(dst, src)
	}
	benchSink = dst
}

func BenchmarkConvert(b *testing.B) {
	b.Run("copy-256MiB", func(b *testing.B) { benchCopy(b, 4*benchElems, false) })
	for _, d := range []DType{BF16, F16, F8E4M3} {
		b.Run(d.String()+"->F32", func(b *testing.B) {
			t := benchInput()[d]
			buf, err := AppendFloat32(nil, t)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(4 * benchElems)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendFloat32(buf[:0], t)
			}
		})
	}
	b.Run("copy-128MiB", func(b *testing.B) { benchCopy(b, 2*benchElems, false) })
	b.Run("F32->BF16", func(b *testing.B) {
		vals, err := ToFloat32(benchInput()[F32])
		if err != nil {
			b.Fatal(err)
		}
		buf, _ := AppendEncoded(nil, BF16, vals)
		b.SetBytes(2 * benchElems)
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = AppendEncoded(buf[:0], BF16, vals)
		}
	})
}

func BenchmarkConvertFresh(b *testing.B) {
	b.Run("copy-256MiB", func(b *testing.B) { benchCopy(b, 4*benchElems, true) })
	for _, d := range []DType{BF16, F16, F8E4M3} {
		b.Run(d.String()+"->F32", func(b *testing.B) {
			t := benchInput()[d]
			b.SetBytes(4 * benchElems)
			b.ReportAllocs()
			for b.Loop() {
				v, err := ToFloat32(t)
				if err != nil {
					b.Fatal(err)
				}
				benchSink = v
			}
		})
	}
	b.Run("copy-128MiB", func(b *testing.B) { benchCopy(b, 2*benchElems, true) })
	b.Run("F32->BF16", func(b *testing.B) {
		t := benchInput()[F32]
		b.SetBytes(2 * benchElems)
		b.ReportAllocs()
		for b.Loop() {
			out, err := Convert(t, BF16)
			if err != nil {
				b.Fatal(err)
			}
			benchSink = out
		}
	})
}

// BenchmarkConvertRatio measures each conversion against copy() of its
// output size in the same iteration, alternating the two, and reports
// their ratio as the metric "x-copy" (conversion speed / copy speed: 1
// means as fast as copy). Interleaving keeps both under the same machine
// load, which on a shared machine changes faster than a benchmark run.
// Destinations are reused, as in BenchmarkConvert.
//
//	go test -run '^$' -bench 'ConvertRatio' -benchtime 10x -count 1 .
func BenchmarkConvertRatio(b *testing.B) {
	type conv struct {
		name    string
		outSize int
		run     func()
	}
	in := benchInput()
	f32buf := make([]float32, 0, benchElems)
	vals, _ := ToFloat32(in[F32])
	bfbuf := make([]byte, 0, 2*benchElems)
	var convs []conv
	for _, d := range []DType{BF16, F16, F8E4M3} {
		t := in[d]
		convs = append(convs, conv{d.String() + "->F32", 4 * benchElems, func() { f32buf, _ = AppendFloat32(f32buf[:0], t) }})
	}
	convs = append(convs, conv{"F32->BF16", 2 * benchElems, func() { bfbuf, _ = AppendEncoded(bfbuf[:0], BF16, vals) }})
	for _, c := range convs {
		b.Run(c.name, func(b *testing.B) {
			src := make([]byte, c.outSize)
			dst := make([]byte, c.outSize)
			copy(dst, src)
			c.run() // touch the destination once
			var copyTime, convTime time.Duration
			b.SetBytes(int64(c.outSize))
			for b.Loop() {
				start := time.Now()
				copy(dst, src)
				copyTime += time.Since(start)
				start = time.Now()
				c.run()
				convTime += time.Since(start)
			}
			b.ReportMetric(float64(copyTime)/float64(convTime), "x-copy")
		})
	}
}

// Smaller, cache-resident runs of every decoder and encoder, for spotting
// a slow kernel without the memory system in the way.
func BenchmarkKernels(b *testing.B) {
	const n = 1 << 14
	vals := make([]float32, n)
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range vals {
		vals[i] = float32(rng.NormFloat64() * 2)
	}
	out := make([]float32, n)
	for _, d := range []DType{BF16, F16, F8E4M3, F8E5M2, F8E8M0, F4, F6E2M3, F6E3M2, I8, I32, F64} {
		var t Tensor
		var err error
		if d == F8E8M0 {
			abs := make([]float32, n)
			for i, v := range vals {
				abs[i] = float32(math.Abs(float64(v)))
			}
			t, err = FromFloat32(d, []int{n}, abs)
		} else {
			t, err = FromFloat32(d, []int{n}, vals)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Run("decode/"+d.String(), func(b *testing.B) {
			b.SetBytes(4 * n)
			for b.Loop() {
				out, _ = AppendFloat32(out[:0], t)
			}
		})
		if d == F8E8M0 {
			continue
		}
		encTensor := make([]byte, 0, 8*n)
		b.Run("encode/"+d.String(), func(b *testing.B) {
			b.SetBytes(4 * n)
			for b.Loop() {
				encTensor, _ = AppendEncoded(encTensor[:0], d, vals)
			}
		})
	}
}
