package blob_test

import (
	"context"
	"fmt"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
	"gocloud.dev/blob/memblob"
)

// Copy a model into a bucket, converted to BF16 and re-sharded, then read
// it back. Any *safetensors.Model is a source: safetensors.OpenModel,
// remote.OpenModel, hub.OpenModelVerified, blob.OpenModel.
func ExampleNewDestination() {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()

	// A source model: two F32 tensors, saved into the bucket as one file.
	a, _ := safetensors.FromFloat32(safetensors.F32, []int{2, 2}, []float32{1, 2, 3, 4})
	b, _ := safetensors.FromFloat32(safetensors.F32, []int{3}, []float32{0.5, 0.25, 0.125})
	if _, err := safetensors.SaveShardedTo(ctx, blob.NewDestination(bucket, "src/", nil),
		map[string]safetensors.Tensor{"a": a, "b": b}, safetensors.ShardOptions{}); err != nil {
		panic(err)
	}
	src, err := blob.OpenBucketModel(ctx, bucket, "src/", nil)
	if err != nil {
		panic(err)
	}
	defer src.Close()

	res, err := safetensors.Copy(ctx, src, blob.NewDestination(bucket, "bf16/", nil),
		safetensors.CopyOptions{DType: safetensors.BF16, MaxShardSize: 8})
	if err != nil {
		panic(err)
	}
	for _, f := range res.Plan.Files {
		fmt.Println(f.Name, f.Tensors, f.Size)
	}
	m, err := blob.OpenBucketModel(ctx, bucket, "bf16/", nil)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	t, _ := m.GetTensor("b")
	v, _ := safetensors.ToFloat32(t)
	fmt.Println(t.DType(), v)
	// Output:
	// model-00001-of-00002.safetensors [a] 8
	// model-00002-of-00002.safetensors [b] 6
	// BF16 [0.5 0.25 0.125]
}
