package blob_test

import (
	"bytes"
	"context"
	"fmt"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
	"gocloud.dev/blob/memblob"
)

// Open a model from an object store by URL. Credentials come from the
// SDK's usual places (here the AWS environment, profiles or instance role).
func ExampleOpenModel() {
	ctx := context.Background()
	m, err := blob.OpenModel(ctx, "s3://my-bucket/llama/model.safetensors.index.json?region=us-east-1", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	tensors, err := m.ReadAll(ctx, nil) // every tensor, 16 range reads in flight
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(tensors))
}

// Read from a bucket opened in code: here an in-memory one.
func ExampleOpenBucketFile() {
	ctx := context.Background()
	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()

	t, _ := safetensors.NewTensor(safetensors.F32, []int{2}, []byte{0, 0, 128, 63, 0, 0, 0, 64})
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, map[string]safetensors.Tensor{"w": t}, nil); err != nil {
		panic(err)
	}
	if err := bucket.WriteAll(ctx, "models/tiny.safetensors", buf.Bytes(), nil); err != nil {
		panic(err)
	}

	f, err := blob.OpenBucketFile(ctx, bucket, "models/tiny.safetensors", nil)
	if err != nil {
		panic(err)
	}
	w, err := f.GetTensor("w")
	if err != nil {
		panic(err)
	}
	v, _ := safetensors.ToFloat32(w)
	fmt.Println(f.Keys(), v)
	// Output: [w] [1 2]
}
