package safetensors_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// BenchmarkGetTensorLarge reads one 128 MiB tensor of a file in the page
// cache through NewReader: over the *os.File, whose size is real, GetTensor
// allocates the tensor at once; over a reader that hides the file (its size
// is then a claim, as a server's is), GetTensor grows its buffer as bytes
// arrive (32 MiB, then doubling).
func BenchmarkGetTensorLarge(b *testing.B) {
	const size = 128 << 20
	path := filepath.Join(b.TempDir(), "large.safetensors")
	if err := os.WriteFile(path, stFile(nil, st{"t", []int{size}, make([]byte, size)}), 0o644); err != nil {
		b.Fatal(err)
	}
	osf, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer osf.Close()
	st, _ := osf.Stat()
	f, err := safetensors.NewReader(osf, st.Size())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("GetTensor", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := f.GetTensor("t"); err != nil {
				b.Fatal(err)
			}
		}
	})
	claimed, err := safetensors.NewReader(struct{ io.ReaderAt }{osf}, st.Size())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("GetTensor_claimed", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := claimed.GetTensor("t"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
