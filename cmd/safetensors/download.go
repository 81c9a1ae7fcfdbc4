package main

import (
	"fmt"

	"github.com/safetensors-go/safetensors/hub"
	"github.com/spf13/cobra"
)

func (a *app) downloadCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "download hf://ORG/NAME[@REV][/PATH]",
		Short: "Download a model of the Hugging Face Hub into the local cache",
		Long: `download puts a model of the Hugging Face Hub into the local cache that
huggingface_hub and every Python tool share (HF_HUB_CACHE, by default
~/.cache/huggingface/hub), in their layout, and prints the local path of what
it downloaded: the model's single file, or its index with every shard beside
it. Any command then opens the same hf:// name from the cache, offline too.

hf://ORG/NAME is the repository's model: model.safetensors, else
model.safetensors.index.json and its shards. hf://ORG/NAME/PATH is one file
(or an index and its shards), @REV a branch, tag or commit (main by default).

Each file is fetched into blobs/<etag>.incomplete, resumed there after an
interruption, checked against its SHA-256 (the LFS ETag of every weights
file) and only then moved into place; a file already cached is not fetched
again. Two downloads of the same file, by two processes, fetch it once.

The environment is read as huggingface_hub reads it: HF_TOKEN (or the token
file that "hf auth login" writes) is sent to the Hub only, never to the
storage host its downloads redirect to; HF_ENDPOINT, HF_HOME, HF_HUB_CACHE,
HF_HUB_OFFLINE.`,
		Example: `  safetensors download hf://openai-community/gpt2
  safetensors download hf://ORG/NAME@v1.0/model.safetensors.index.json`,
		Args: exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if !hub.IsName(args[0]) {
				return usagef("%q is not a Hub name: want hf://ORG/NAME[@REV][/PATH]", args[0])
			}
			var bar *progress
			var total int64
			opts := &hub.Options{Progress: func(p hub.Progress) {
				if p.TotalSize != total {
					// The total grows once the index names the shards.
					bar.done()
					total = p.TotalSize
					bar = a.newProgress("downloading", total)
				}
				bar.setTo(p.TotalDone)
			}}
			path, err := hub.Download(a.ctx, args[0], opts)
			bar.done()
			if err != nil {
				return inFile(args[0], err)
			}
			fmt.Fprintln(a.stdout, printable(path))
			return nil
		}),
	}
	return cmd
}
