package safetensors

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// The conversion benchmarks work on 64 Mi elements: 256 MiB of float32
// output for the decoders (from 128 MiB of BF16 or F16, 64 MiB of F8), and
// 128 MiB of BF16 output from 256 MiB of float32 for the encoder. b.SetBytes
// is the output size, and BenchmarkCopy copies the same output sizes, so the
// ratio of MB/s figures in one run is the conversion's speed relative to
// copy(). "reused" writes into a buffer that earlier iterations touched;
// "fresh" allocates the result each time, as ToFloat32 does, and pays for
// the first touch of new memory (compare with BenchmarkCopy's fresh case,
// make plus copy).
//
//	go test -run '^$' -bench 'Copy|Decode|Encode' -benchtime 5x -count 1 .
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

func BenchmarkCopy(b *testing.B) {
	for _, size := range []int{4 * benchElems, 2 * benchElems} {
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(i)
		}
		name := fmt.Sprintf("%dMiB", size>>20)
		b.Run(name+"/reused", func(b *testing.B) {
			dst := make([]byte, size)
			copy(dst, src)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, src)
			}
		})
		b.Run(name+"/fresh", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				dst := make([]byte, size)
				copy(dst, src)
				benchSink = dst
			}
		})
	}
}

var benchSink any

func BenchmarkDecode(b *testing.B) {
	for _, d := range []DType{BF16, F16, F8E4M3} {
		b.Run(d.String()+"->F32/reused", func(b *testing.B) {
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
		b.Run(d.String()+"->F32/fresh", func(b *testing.B) {
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
}

func BenchmarkEncode(b *testing.B) {
	b.Run("F32->BF16/reused", func(b *testing.B) {
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
	b.Run("F32->BF16/fresh", func(b *testing.B) {
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
