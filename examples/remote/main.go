// Command remote prints the tensors of a safetensors model on an HTTP(S)
// server: their names, dtypes and shapes, read from the headers with range
// requests, without downloading any tensor.
//
// Usage:
//
//	go run ./examples/remote URL
//
// URL is a .safetensors file, a sharded model's index
// (model.safetensors.index.json), or a folder ending in "/". For example:
//
//	go run ./examples/remote https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors
//
// If HF_TOKEN is set, it is sent as "Authorization: Bearer $HF_TOKEN", for
// gated or private models on the Hugging Face Hub.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"text/tabwriter"

	"github.com/safetensors-go/safetensors/remote"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: remote URL (a .safetensors file, a model.safetensors.index.json, or a folder ending in /)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Args[1], os.Getenv("HF_TOKEN")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run prints the tensors of the model at url to w, one per line, sorted by
// name, then a summary line.
func run(ctx context.Context, w io.Writer, url, token string) error {
	opts := &remote.Options{}
	if token != "" {
		opts.Header = http.Header{"Authorization": {"Bearer " + token}}
	}
	m, err := remote.OpenModel(ctx, url, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	var params, bytes int64
	for _, name := range m.Keys() {
		info, err := m.Info(name) // opens the tensor's shard (its header) on first use
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\n", name, info.DType, info.Shape)
		params += int64(info.NumElements())
		bytes += info.Size()
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	files := "1 file"
	if n := len(m.Files()); n != 1 {
		files = fmt.Sprintf("%d files", n)
	}
	_, err = fmt.Fprintf(w, "%d tensors, %d parameters, %d bytes, in %s\n", m.Len(), params, bytes, files)
	return err
}
