// Package safetensors reads and writes the safetensors format: an 8-byte
// little-endian header length N, N bytes of JSON describing each tensor's
// dtype, shape and data offsets (and an optional "__metadata__" map of
// strings), then the tensors' bytes, packed, little-endian, row-major.
//
// # Reading
//
// A [File] is made in one of three ways. All three validate the whole header
// before returning, and read no tensor data until asked:
//
//   - [Open] maps a file into memory: [File.GetTensor] returns views of the
//     mapping, copying nothing and allocating nothing.
//   - [NewReader] reads through any [io.ReaderAt] with positional reads: the
//     header with two reads, each tensor with one. Nothing is mapped.
//   - [Load] parses a file already in memory: views alias that memory.
//
// [File.Keys], [File.Metadata], [File.Info] and [File.All] describe the
// tensors without touching their data. [Values] gives a tensor's elements as
// a typed Go slice, without copying when the bytes allow it.
//
// [File.GetSlice] reads part of a tensor with NumPy's basic indexing
// ([ParseIndex] reads "0, ..., -3:, ::-2"), through strided views that copy
// nothing until [Slice.Get] materializes them, reading only the covered bytes.
//
// [Model.ReadAll] and [File.ReadAll] read every tensor of a model, from any
// source, with many chunked reads in flight and a progress callback;
// [Model.ReadAllInto] reads into memory the caller provides.
//
// # Values
//
// [ToFloat32] and [ToFloat64] decode any dtype (F16, BF16, the F8, F6 and F4
// formats, integers) exactly; [FromFloat32], [FromFloat64] and [Convert]
// encode with round-to-nearest-even and each format's saturation rules.
// [Unmarshal] and [Marshal] bind tensors to the fields of a struct, as
// Python's load_model and save_model do.
//
// # Writing
//
// [Save] writes a map of tensors in exactly the reference writer's layout
// (dtype then name order, compact JSON, padded header), with metadata keys
// sorted so equal input gives equal bytes. [SaveFile] replaces a file
// atomically, and [NewWriter] streams checkpoints larger than memory.
// [Copy] streams a whole model into a [Destination] (a folder, or with the
// blob package an object store's prefix), converting and re-sharding on
// the way; the files appear there as a set, whole or not at all.
//
// # Errors
//
// Every violation of the format's rules returns an error wrapping one of the
// sentinels ([ErrInvalidHeader], [ErrInvalidOffset], ...), which mirror the
// reference implementation's error kinds, usually inside a [*FormatError]
// that names the tensor and the byte offset concerned. Test for them with
// [errors.Is].
//
// # Security
//
// This package is meant to read files from untrusted sources. What it
// guarantees, for any input:
//
//   - Open, NewReader and Load check every rule of the reference
//     implementation before returning, in its order: at least 8 bytes; a
//     header length within the limit, then within the file; a UTF-8 header;
//     JSON of the schema (known dtypes, non-negative integers, two offsets,
//     string metadata); offsets contiguous from 0 with each tensor exactly
//     as long as its dtype and shape need, sizes checked for overflow; the
//     data ending exactly at the end of the file. Also some the reference
//     skips: duplicate keys anywhere in the header, lone UTF-16 surrogates,
//     dimensions or offsets that do not fit in an int. A File that opens has
//     tensors that exactly tile its data buffer.
//   - No input makes them panic, loop, or allocate more than O(N) memory for
//     a header of N bytes, N being at most [Options.MaxHeaderSize]
//     (100,000,000 by default), and never more than the input's real size:
//     the header length is checked against the file's size before anything
//     is allocated, and no allocation is sized by a number from the JSON.
//     Parsing takes time linear in N. JSON nesting is limited to 127 levels.
//   - Reading a tensor from a validated File cannot go out of bounds. The
//     size given to NewReader may be a claim (a server's): a File of
//     NewReader allocates at most [ReadStep] bytes before any arrive, and
//     reads larger headers, tensors and selections in steps, each into a
//     buffer at most twice what has arrived; a reader shorter than its size
//     gives [io.ErrUnexpectedEOF], not a short tensor.
//   - Only regular files are read: [Open], [OpenModel] and the index reader
//     refuse named pipes, devices and sockets ([ErrNotRegular]) without
//     blocking on them. OpenModel follows symbolic links only inside the
//     model's folder, or into the repository's blobs in the Hugging Face
//     cache, unless [Options.FollowSymlinks] says otherwise.
//   - [SaveFile] replaces a file atomically, and [SaveSharded] replaces a
//     checkpoint as a set: a failure leaves the previous one intact.
//
// The repository's SECURITY.md lists these promises and their limits, and
// says how to report a problem.
//
// What it cannot guarantee: views from [Open] are memory shared with the
// file. If another process truncates the file while it is mapped, touching
// the lost pages raises SIGBUS, which crashes a Go program unless the
// goroutine has set [runtime/debug.SetPanicOnFault]. The package's own
// copying paths either read with pread instead of the mapping
// ([File.ReadInto], [File.TensorReader], long runs of slices) or run under
// SetPanicOnFault ([Values] copies, conversions, short runs of slices), and
// return an error wrapping [ErrFault] rather than crash. [Save] of mapped
// tensors hands their memory to the writer's Write, where a lost page
// surfaces as an I/O error from the kernel (EFAULT) for files and sockets;
// an in-memory io.Writer would read the memory itself. The mapping is
// read-only: writing into a view's bytes crashes the program. Views must
// not be used after [File.Close], which unmaps them. Replace files you have
// mapped by renaming a new file over them, never by rewriting them in place.
//
// # Concurrency
//
// A File's methods are safe for concurrent use by many goroutines. Tensors
// are values; the bytes they share are not synchronized, so goroutines that
// write to the same bytes must coordinate.
//
// The format is specified at https://github.com/huggingface/safetensors.
package safetensors
