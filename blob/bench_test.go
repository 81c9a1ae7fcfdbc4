package blob_test

import (
	"context"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
)

// BenchmarkS3ReadAll reads a 32 MiB model of 64 tensors from gofakes3 on
// loopback, through s3blob and the AWS SDK, behind a front that adds 5 ms
// to each request: serially with GetTensor, and with Model.ReadAll.
func BenchmarkS3ReadAll(b *testing.B) {
	s := newS3Server(b, 5*time.Millisecond)
	bk := s.bucket(b, "bench")
	sizes := make([]int, 64)
	for i := range sizes {
		sizes[i] = 512 << 10
	}
	put(b, bk, "model.safetensors", fileBytes(b, randomTensors(11, sizes...)))
	ctx := context.Background()
	m, err := blob.OpenBucketModel(ctx, bk, "model.safetensors", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	total := int64(len(sizes) * sizes[0])
	b.Run("serial_GetTensor", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			for _, name := range m.Keys() {
				if _, err := m.GetTensor(name); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("ReadAll_default", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			if _, err := m.ReadAll(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReadAll_c4", func(b *testing.B) {
		b.SetBytes(total)
		for b.Loop() {
			if _, err := m.ReadAll(ctx, &safetensors.ReadAllOptions{Concurrency: 4}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
