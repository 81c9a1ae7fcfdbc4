// Package hub opens and downloads safetensors models of the Hugging Face
// Hub, and reads them from the local cache that huggingface_hub and every
// Python tool share, by names such as
//
//	hf://meta-llama/Llama-3.2-1B
//	hf://ORG/NAME@v1.0/sub/folder/model.safetensors
//
// (see [Name]). [OpenModel] opens a model from the cache when it is there,
// memory-mapped as [safetensors.Open] maps a file, and otherwise over the
// network without downloading it: it reads the headers, then each tensor
// when asked, with range requests (see the remote package). [Open] does
// the same for one file, and [Download] puts a model into the cache, in
// huggingface_hub's layout, so that Python tools find it there too.
//
//	m, err := hub.OpenModel(ctx, "hf://ORG/NAME", nil)
//	if err != nil { ... }
//	defer m.Close()
//	t, err := m.GetTensor("model.embed_tokens.weight")
//
// # Configuration
//
// [ConfigFromEnv] reads the environment as huggingface_hub does:
// HF_ENDPOINT (the Hub, https://huggingface.co by default), HF_HOME
// (~/.cache/huggingface, or $XDG_CACHE_HOME/huggingface), HF_HUB_CACHE
// (the cache, $HF_HOME/hub), HF_TOKEN (else the token file,
// HF_TOKEN_PATH or $HF_HOME/token, that `hf auth login` writes) and
// HF_HUB_OFFLINE (1, true, yes or on: never use the network). A caller
// can set [Options.Config] instead.
//
// # Security
//
// The token goes, as "Authorization: Bearer", to the Hub's origin (the
// scheme, host and port of the endpoint) and nowhere else: not to the
// storage host that the Hub redirects downloads to, whose signed URLs
// need none, nor along any redirect that leaves the Hub's origin. Error
// messages show URLs without their query string, where signed URLs carry
// their credentials.
//
// Names, and what the Hub answers, are checked before they become paths
// in the cache: no ".." or empty segment in a file's path or a revision,
// commits of 40 hexadecimal digits, ETags that are plain file names. A
// downloaded file is checked against its size and, for LFS files, against
// the SHA-256 that its ETag is, before it enters the cache.
//
// Reading the cache trusts it as huggingface_hub does: a blob is not
// hashed again when opened (safetensors.Open still validates its header).
package hub
