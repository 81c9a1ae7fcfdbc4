package pytorch

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error of this package about a checkpoint's content
// wraps one of them (or, for a tensor name that is not in a checkpoint,
// [safetensors.ErrTensorNotFound]; for a sharded checkpoint's index that is
// malformed or disagrees with its shards, [safetensors.ErrInvalidIndex]),
// so that callers can test with [errors.Is]; errors of the file system and
// of ctx are passed on. Errors from [Open] and [Options.Convert] are also
// wrapped in an [*fs.PathError] naming the file.
var (
	// ErrNotCheckpoint: the input is neither a torch.save zip checkpoint (a
	// zip archive with a data.pkl record) nor a legacy one (a pickle of
	// torch's magic number). A TorchScript archive (torch.jit.save) is
	// refused with this error too: it holds code, not a state dict.
	ErrNotCheckpoint = errors.New("pytorch: not a torch.save checkpoint")

	// ErrForbiddenGlobal: the pickle names a Python global (a function or a
	// class, such as os.system) that is not on the allow-list of state-dict
	// types. The error is a [*ForbiddenGlobalError] naming it. Unpickling
	// stops at that opcode: nothing is looked up, built or called.
	ErrForbiddenGlobal = errors.New("pytorch: forbidden global")

	// ErrCorrupt: the file is damaged or was not written by torch.save: a
	// broken zip directory, a checksum mismatch, a malformed pickle, a storage
	// record whose size differs from what the pickle says, a tensor view that
	// runs past its storage.
	ErrCorrupt = errors.New("pytorch: corrupt checkpoint")

	// ErrTruncated: the file ends early (an interrupted download or copy): a
	// zip archive without its central directory, or a legacy checkpoint whose
	// pickles or storages run past the end.
	ErrTruncated = errors.New("pytorch: truncated checkpoint")

	// ErrMissingStorage: the pickle refers to a storage that the file does
	// not hold (no data/<key> record in a zip checkpoint, no entry in a
	// legacy checkpoint's storage list).
	ErrMissingStorage = errors.New("pytorch: missing storage")

	// ErrByteOrder: the zip checkpoint's byteorder record is neither "little"
	// nor "big". Both of those are read correctly: big-endian storages are
	// byte-swapped element by element.
	ErrByteOrder = errors.New("pytorch: unknown byte order")

	// ErrUnsupportedDType: a tensor's torch dtype has no safetensors
	// equivalent (complex128, complex32, the quantized qint8/quint8/qint32/
	// quint4x2/quint2x4, the bits and sub-byte integer types,
	// float4_e2m1fn_x2).
	ErrUnsupportedDType = errors.New("pytorch: dtype not supported by safetensors")

	// ErrUnsupported: a valid checkpoint that this package cannot express as
	// safetensors: a state dict entry that is not a tensor (when not
	// skipped), a non-string key, a tensor with torch's conj or neg bit set,
	// a compressed storage record, a pre-0.4 tar checkpoint, a top level
	// that is not a dict; or, for [Checkpoint.ReadTensor], a tensor larger
	// than [Options.MaxOutputSize] allows.
	ErrUnsupported = errors.New("pytorch: unsupported checkpoint content")

	// ErrSharedStorage was returned when several tensors shared one storage
	// in overlapping ranges and none covered all of it, as safetensors'
	// convert.py refuses them.
	//
	// Deprecated: every view is now written as a tensor of its own, so no
	// function of this package returns it.
	ErrSharedStorage = errors.New("pytorch: tensors share storage and none covers it")

	// ErrVerify: a conversion check failed: the output would hold more
	// tensor data than [Options.MaxOutputSize] allows, or the written file,
	// read back, differs from the checkpoint. The output file is not
	// created.
	ErrVerify = errors.New("pytorch: conversion check failed")

	// ErrTooLarge: the pickle is larger than [Options.MaxPickleSize], or
	// builds more objects than the unpickler's limit (see the package
	// documentation's Limits).
	ErrTooLarge = errors.New("pytorch: pickle too large")
)

// ForbiddenGlobalError reports a pickle that names a global outside the
// allow-list. It unwraps to [ErrForbiddenGlobal]. Nothing named by it was
// imported, looked up or called: the unpickler stopped at the opcode.
type ForbiddenGlobalError struct {
	Module string // the global's module, as the pickle spells it: "os"
	Name   string // the global's name: "system"
	Offset int64  // byte offset of the GLOBAL, STACK_GLOBAL or INST opcode in its pickle
}

// Error names the global, quoted as module.name, and where it was found.
func (e *ForbiddenGlobalError) Error() string {
	name := e.Module + "." + e.Name
	if len(name) > 200 {
		name = name[:200] + "..."
	}
	return "pytorch: forbidden global " + strconv.Quote(name) +
		" at pickle byte " + strconv.FormatInt(e.Offset, 10) +
		" (only torch state-dict types are allowed; nothing was run)"
}

// Unwrap returns [ErrForbiddenGlobal].
func (e *ForbiddenGlobalError) Unwrap() error { return ErrForbiddenGlobal }

// errorf wraps a sentinel with a message.
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
