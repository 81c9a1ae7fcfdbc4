package hub_test

import (
	"context"
	"fmt"
	"log"

	"github.com/safetensors-go/safetensors/hub"
)

// Open a model of the Hub: from the local cache when it is there (no
// request), else over the network, reading headers only until a tensor is
// asked for.
func ExampleOpenModel() {
	ctx := context.Background()
	m, err := hub.OpenModel(ctx, "hf://openai-community/gpt2", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	t, err := m.GetTensor("wte.weight")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.DType(), t.Shape())
}

// Download a model into the cache shared with Python tools, showing
// progress, and print the local path that safetensors.OpenModel opens.
func ExampleDownload() {
	opts := &hub.Options{Progress: func(p hub.Progress) {
		fmt.Printf("\r%s %d/%d bytes (all files: %d/%d)", p.Path, p.Done, p.Size, p.TotalDone, p.TotalSize)
	}}
	path, err := hub.Download(context.Background(), "hf://ORG/NAME@v1.0", opts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("\n" + path)
}

func ExampleParseName() {
	n, err := hub.ParseName("hf://ORG/NAME@refs/pr/1/sub/model.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %q %q\n", n.Type, n.Repo, n.Revision, n.Path)
	// Output: model ORG/NAME "refs/pr/1" "sub/model.safetensors"
}
