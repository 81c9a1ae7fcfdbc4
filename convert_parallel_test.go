package safetensors

import (
	"runtime"
	"testing"
)

// TestEncodeInParallelCoversEverything: encoding float32 values to F16 and
// BF16 is split across goroutines from 2*parallelMin values on; every value
// is encoded, the last ones included, for sizes at and just past the split
// and for a size that the workers do not divide (3 workers, one value more
// than three times parallelMin: splitting by n/workers rounded down used to
// leave the last value unencoded, zero).
func TestEncodeInParallelCoversEverything(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{2 * parallelMin, 2*parallelMin + 100, 3*parallelMin + 1} {
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(i%256 - 128) // exact in F16 and BF16
		}
		for _, d := range []DType{F16, BF16} {
			tt, err := FromFloat32(d, []int{n}, vals)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ToFloat32(tt)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range back {
				if v != vals[i] {
					t.Errorf("%v, %d values: element %d = %v, want %v", d, n, i, v, vals[i])
					break
				}
			}
		}
	}
}
