// Package pytorch reads PyTorch checkpoints (pytorch_model.bin, .pt and
// .pth files written by torch.save) without Python and without running
// anything they contain, and converts them to safetensors.
//
// [Convert] does what Hugging Face's convert.py does, in Go, except that it
// never loses a tensor:
//
//	res, err := pytorch.Convert(ctx, "pytorch_model.bin", "model.safetensors")
//
// [Open] gives access to a checkpoint's tensors without converting it:
// [Checkpoint.Tensors] describes them, [Checkpoint.ReadTensor] and
// [Checkpoint.WriteTensor] read one in safetensors' layout (contiguous,
// row-major, little-endian).
//
// # Formats
//
// Both of torch.save's formats are read: the zip format of torch >= 1.6 (a
// zip archive holding <dir>/data.pkl, the pickled object, and one record
// <dir>/data/<key> per storage, plus byteorder, version and other records
// that newer versions add), and the legacy format of older versions and of
// _use_new_zipfile_serialization=False (five consecutive pickles: a magic
// number, a protocol version, system information, the object and the list
// of storage keys, followed by the storages). Storages written on a
// big-endian machine (byteorder "big") are byte-swapped element by element.
// The tar format of torch < 0.4 and TorchScript archives (torch.jit.save)
// are refused.
//
// Tensors built by torch._utils._rebuild_tensor, _rebuild_tensor_v2 (every
// torch version) and _rebuild_tensor_v3 (torch >= 2.1, for dtypes without a
// legacy storage class: float8, uint16/32/64) are understood, as are
// parameters (nn.Parameter). Every dtype that safetensors has is kept:
// float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8,
// bool, complex64, uint16, uint32, uint64 and the float8 types
// (float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz,
// float8_e8m0fnu). Others (complex128, complex32, quantized and bits types)
// are described but not converted: [ErrUnsupportedDType].
//
// # Views and aliases
//
// A checkpoint stores storages, and each tensor as a strided view of one:
// a storage offset, a shape and strides, in elements. Several tensors may
// share a storage: tied weights, or views such as a transpose (t = base.T),
// a block of rows (base[2:4]) or of columns (base[:, 1:3]), a stepped view
// (base[::2, ::3]), a permutation, or an expanded tensor (expand, whose
// zero strides repeat elements). Each is read, and converted, as its own
// contiguous tensor with the values torch gives for t.contiguous(),
// gathered from the storage whatever its strides (torch has no negative
// ones).
//
// Only exact aliases are written once: names whose tensors have the same
// storage, storage offset, dtype, shape and strides, such as tied weights
// or one tensor saved under two names. The first name in sorted order is
// kept (Options.DiscardNames changes the preference), and the others are
// listed in [Result.Removed] and in the output's metadata as name -> kept
// name, as convert.py records them. convert.py goes further: it drops a
// view inside a saved tensor and records it as an alias of that tensor
// (the view's values are then lost, and the metadata says something
// false), and refuses overlapping views that no saved tensor covers. Here
// both are written in full, so the output may be larger than the
// checkpoint; [Options.MaxOutputSize] bounds it.
//
// # Sharded checkpoints
//
// transformers saves large models as several .bin shards with an index,
// pytorch_model.bin.index.json: {"metadata": {"total_size": ...},
// "weight_map": {tensor name: shard file name}}. Given the index as src,
// [Options.Convert] recognises it by its content (JSON, where a checkpoint
// is a zip archive or a pickle) and converts the set into the folder dst,
// as convert.py's convert_multi does:
//
//	res, err := pytorch.Convert(ctx, "pytorch_model.bin.index.json", "out")
//	// out/model-00001-of-00002.safetensors, ..., out/model.safetensors.index.json
//
// In detail:
//
//   - each shard is converted as a single checkpoint is, to the name
//     convert_multi gives it: the extension replaced by .safetensors and
//     "pytorch_model" by "model" (pytorch_model-00001-of-00002.bin becomes
//     model-00001-of-00002.safetensors), in the same relative place;
//   - the new index, dst/model.safetensors.index.json, is written as
//     transformers writes indexes ([safetensors.ShardIndex.WriteTo]); its
//     weight_map names every tensor written (exact aliases left out of a
//     shard are recorded in that shard's metadata, not in the index, so
//     that the set reads back with [safetensors.OpenModel]); its metadata
//     keeps the integer entries of the old one, with total_size (and
//     total_parameters, when the old index has it) computed for the new
//     set. Entries of other kinds are listed in
//     [Result.DroppedIndexMetadata].
//
// The index is checked as [safetensors.NewModel] checks an index (at most
// [MaxIndexSize] bytes, valid JSON, no tensor listed twice, shard names
// that are relative paths inside the index's folder), and each shard must
// hold exactly the tensors the index lists for it; two shards may not map
// to one output name. Errors in the index wrap [safetensors.ErrInvalidIndex]
// and are found before anything is written, as is an output larger than
// [Options.MaxOutputSize] (counted over the whole set).
//
// The set is written atomically as far as a file system allows: every
// shard and the index are written to temporary names, synced, verified
// (each shard against its checkpoint unless Options.SkipVerify is set, then
// the whole set against the index as a reader sees it), and only then renamed into place, the index last.
// A file that is replaced is kept under a second name until every rename
// has succeeded, and put back if one fails, so that a failed or canceled
// conversion leaves the previous set as it was and no temporary file.
// Once the new set is in place, files of an earlier checkpoint in dst that
// a reader would take for part of it, or for the model instead of it, are
// removed, as transformers and [safetensors.SaveSharded] do: a
// model.safetensors (which [safetensors.OpenModel] prefers to an index)
// and model-NNNNN-of-NNNNN.safetensors shards that the new set does not
// have ([Result.StaleRemoved]). No other file is touched.
//
// # Security
//
// A checkpoint's pickle is a program for Python's pickle machine, and
// torch.load(weights_only=False) runs it: a malicious file can run any
// command. This package never runs Python. It reads the pickle with its own
// restricted unpickler, which builds inert Go values only and resolves
// globals through an allow-list of the types a state dict needs:
//
//	collections.OrderedDict
//	torch._utils._rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3
//	torch._utils._rebuild_parameter, _rebuild_parameter_with_state
//	torch.nn.parameter.Parameter, torch.Size
//	torch.<X>Storage and torch.cuda.<X>Storage (FloatStorage, HalfStorage, ...)
//	torch.UntypedStorage, torch.storage.UntypedStorage
//	torch.<dtype> (torch.float32, torch.bfloat16, torch.float8_e4m3fn, ...)
//	_codecs.encode (how pickle protocols 0-2 store bytes; latin-1 only)
//
// Any other global (os.system, builtins.eval, posix.system, subprocess.*,
// torch.load, numpy's reconstructors, a model's classes) stops unpickling
// at the opcode that names it with a [*ForbiddenGlobalError] naming it. The
// allowed globals are descriptors, not code: "calling" one (REDUCE, NEWOBJ,
// INST, OBJ) checks the arguments and builds a dict, a tuple or a tensor
// descriptor. BUILD is accepted on dicts only, and ignored. Persistent ids
// must be torch's storage ids.
//
// Every length read from the file is checked against the bytes that
// actually remain before anything is allocated for it; tensor views are
// checked against their storages, and storages against the records that
// hold them (whose CRC-32 is verified when a whole record is read);
// malformed input returns an error wrapping one of the sentinels below,
// never a panic. Values that share parts through the pickle's memo (a few
// bytes can describe a tuple with 2^60 leaves, or reuse one long string in
// every opcode) never cost more than a bounded amount of work each: keys
// and ranks are capped, and error messages describe such values briefly.
//
// # Limits
//
//   - A pickle may be at most [Options.MaxPickleSize] bytes
//     ([DefaultMaxPickleSize], 64 MiB), and may build at most 4,194,304
//     objects (about 15 per tensor), which bounds the memory unpickling
//     takes to a few hundred MiB whatever the input: [ErrTooLarge].
//   - Tensors may have at most 64 dimensions, and bytes built by
//     _codecs.encode may not exceed the pickle's own size.
//   - Text arguments of protocol-0 opcodes are limited to 64 KiB; dict keys
//     (tensor names among them) and storage keys to 4 KiB, and tuples used
//     as dict keys to 32 levels of nesting.
//   - Storage records must be stored uncompressed, as torch writes them.
//   - A conversion writes at most [Options.MaxOutputSize] bytes of tensor
//     data (by default four times the checkpoint's size plus 1 MiB), and
//     [Checkpoint.ReadTensor] returns no larger tensor: an expanded view
//     of a tiny storage could otherwise describe exabytes.
//   - Memory: a contiguous tensor is streamed through a 1 MiB buffer; a
//     non-contiguous one is gathered from the span of storage it covers,
//     read into memory once (at most its storage's size), and written out
//     through the same buffer.
//
// # Concurrency
//
// A [Checkpoint]'s methods may be called concurrently, given an
// [io.ReaderAt] that allows concurrent reads (an [os.File] does).
package pytorch
