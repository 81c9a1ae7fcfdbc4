// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length N, N bytes of JSON describing each tensor's
// dtype, shape and data offsets (and an optional "__metadata__" map of
// strings), then the tensors' bytes, packed, little-endian, row-major.
//
// A [File] is opened in one of three ways, all of which validate the whole
// header before returning and read no tensor data until asked:
//
//   - [Open] maps a file into memory: [File.GetTensor] returns views of the
//     mapping, copying nothing.
//   - [NewReader] reads through any [io.ReaderAt] with positional reads: the
//     header with two reads, each tensor with one.
//   - [Load] parses a file already in memory: views alias that memory.
//
// The format is specified at https://github.com/huggingface/safetensors.
package safetensors
