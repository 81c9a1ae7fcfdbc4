// Package matrix is the validation matrix: crafted files, each breaking one
// rule of the format (or exercising a valid corner of it), read by every
// library in a child process of its own, so that a panic, a fatal
// out-of-memory or a hang shows as such instead of taking the table down.
package matrix

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/safetensors-go/safetensors"
)

// Case is one crafted file and what a correct reader does with it.
type Case struct {
	Name string // short identifier, also the file's name
	What string // what is wrong with it, or what corner it exercises
	// Want is the sentinel that our library must return, nil when the
	// file is valid and must be read.
	Want error
	// Note says where the reference implementation differs from this
	// project's rule, if it does.
	Note string
	// Make writes the file's bytes to path.
	Make func(path string) error
}

// Valid reports whether a correct reader accepts the file.
func (c Case) Valid() bool { return c.Want == nil }

// file returns prefix + header + data, the header as given (not padded).
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// padded pads header with spaces to a multiple of 8 bytes, as writers do.
func padded(header string) string {
	for len(header)%8 != 0 {
		header += " "
	}
	return header
}

func bytesOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	return b
}

func static(b []byte) func(string) error {
	return func(path string) error { return os.WriteFile(path, b, 0o644) }
}

// Cases are the files of the matrix. Each file's header and data are
// written out here by hand; the expected sentinel of each follows from
// the rule it breaks (the reference's read-time checks, and the table of
// sentinels).
var Cases = []Case{
	{
		Name: "valid-f32", What: "a valid file: two F32 tensors and metadata",
		Make: static(file(padded(`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[3],"data_offsets":[16,28]}}`), bytesOf(28))),
	},
	{
		Name: "empty-header", What: "no tensors: header `{}` padded with 6 spaces, no data",
		Make: static(file(padded(`{}`), nil)),
	},
	{
		Name: "valid-f8", What: "valid: one tensor of each of the five F8 dtypes",
		Make: static(file(padded(`{"e4m3":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]},"e5m2":{"dtype":"F8_E5M2","shape":[4],"data_offsets":[4,8]},"e8m0":{"dtype":"F8_E8M0","shape":[4],"data_offsets":[8,12]},"e4m3fnuz":{"dtype":"F8_E4M3FNUZ","shape":[4],"data_offsets":[12,16]},"e5m2fnuz":{"dtype":"F8_E5M2FNUZ","shape":[2,2],"data_offsets":[16,20]}}`), bytesOf(20))),
	},
	{
		Name: "valid-f4", What: "valid: F4 (4 bits per element) of shape [2,3]: 24 bits, 3 bytes",
		Make: static(file(padded(`{"w":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]}}`), bytesOf(3))),
	},
	{
		Name: "hole", What: "a hole: offsets [0,16] then [20,36], 4 bytes unclaimed",
		Want: safetensors.ErrInvalidOffset,
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[20,36]}}`), bytesOf(36))),
	},
	{
		Name: "overlap", What: "an overlap: offsets [0,16] and [8,24]",
		Want: safetensors.ErrInvalidOffset,
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}`), bytesOf(24))),
	},
	{
		Name: "trailing-bytes", What: "8 bytes after the last tensor's end",
		Want: safetensors.ErrIncompleteBuffer,
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`), bytesOf(24))),
	},
	{
		Name: "duplicate-key", What: "the same tensor name twice, with the same entry",
		Want: safetensors.ErrInvalidHeader,
		Note: "the reference keeps the last entry and accepts the file; the format's text forbids duplicates, and this project refuses them (the README's section How strict, and why)",
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`), bytesOf(16))),
	},
	{
		Name: "header-101MB", What: "a real header of 101,000,000 bytes (one tensor, then spaces), over the 100,000,000 limit",
		Want: safetensors.ErrHeaderTooLarge,
		Make: func(path string) error {
			h := `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`
			h += strings.Repeat(" ", 101_000_000-len(h))
			return os.WriteFile(path, file(h, bytesOf(16)), 0o644)
		},
	},
	{
		Name: "header-1TiB", What: "a declared header length of 1 TiB in a file of 72 bytes",
		Want: safetensors.ErrHeaderTooLarge,
		Make: func(path string) error {
			b := file(padded(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`), bytesOf(16))
			binary.LittleEndian.PutUint64(b, 1<<40)
			return os.WriteFile(path, b, 0o644)
		},
	},
	{
		Name: "size-mismatch", What: "F32 of shape [2,2] (16 bytes) with offsets [0,12]",
		Want: safetensors.ErrInvalidTensorInfo,
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}`), bytesOf(12))),
	},
	{
		Name: "shape-overflow", What: "F32 of shape [2^62, 4]: 2^64 elements wraps to 0 in 64 bits, offsets [0,0]",
		Want: safetensors.ErrOverflow,
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}`), nil)),
	},
	{
		Name: "offset-past-end", What: "F32 of shape [268435456] at [0,1073741824] in a file with 16 bytes of data",
		Want: safetensors.ErrIncompleteBuffer,
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[268435456],"data_offsets":[0,1073741824]}}`), bytesOf(16))),
	},
	{
		Name: "unknown-dtype", What: `dtype "F33"`,
		Want: safetensors.ErrInvalidHeader,
		Make: static(file(padded(`{"a":{"dtype":"F33","shape":[4],"data_offsets":[0,16]}}`), bytesOf(16))),
	},
	{
		Name: "metadata-number", What: `non-string metadata: {"__metadata__":{"epochs":3}}`,
		Want: safetensors.ErrInvalidHeader,
		Make: static(file(padded(`{"__metadata__":{"epochs":3},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`), bytesOf(16))),
	},
	{
		Name: "too-small", What: "a file of 5 bytes",
		Want: safetensors.ErrHeaderTooSmall,
		Make: static([]byte{1, 0, 0, 0, 0}),
	},
	{
		Name: "header-past-end", What: "a declared header length of 4096 in a file of 72 bytes",
		Want: safetensors.ErrInvalidHeaderLength,
		Make: func(path string) error {
			b := file(padded(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`), bytesOf(16))
			binary.LittleEndian.PutUint64(b, 4096)
			return os.WriteFile(path, b, 0o644)
		},
	},
	{
		Name: "end-before-begin", What: "offsets [16,0]",
		Want: safetensors.ErrInvalidOffset,
		Make: static(file(padded(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}}`), bytesOf(16))),
	},
	{
		Name: "f4-misaligned", What: "F4 of shape [3]: 12 bits, not whole bytes",
		Want: safetensors.ErrMisalignedSlice,
		Make: static(file(padded(`{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`), bytesOf(2))),
	},
}

// Sentinels are our library's sentinels with their names, to name the one
// an error wraps.
var Sentinels = []struct {
	Name string
	Err  error
}{
	{"ErrHeaderTooSmall", safetensors.ErrHeaderTooSmall},
	{"ErrHeaderTooLarge", safetensors.ErrHeaderTooLarge},
	{"ErrInvalidHeaderLength", safetensors.ErrInvalidHeaderLength},
	{"ErrInvalidHeader", safetensors.ErrInvalidHeader},
	{"ErrInvalidOffset", safetensors.ErrInvalidOffset},
	{"ErrInvalidTensorInfo", safetensors.ErrInvalidTensorInfo},
	{"ErrOverflow", safetensors.ErrOverflow},
	{"ErrMisalignedSlice", safetensors.ErrMisalignedSlice},
	{"ErrIncompleteBuffer", safetensors.ErrIncompleteBuffer},
	{"ErrTensorNotFound", safetensors.ErrTensorNotFound},
	{"ErrInvalidSlice", safetensors.ErrInvalidSlice},
	{"ErrClosed", safetensors.ErrClosed},
}

// SentinelName names the sentinels that err wraps, joined with "+", or
// returns "" when it wraps none.
func SentinelName(err error) string {
	var names []string
	for _, s := range Sentinels {
		if errors.Is(err, s.Err) {
			names = append(names, s.Name)
		}
	}
	return strings.Join(names, "+")
}

// WantName is the name of c.Want, or "" for a valid file.
func (c Case) WantName() string {
	if c.Want == nil {
		return ""
	}
	return SentinelName(c.Want)
}

// Write writes every case's file into dir and returns their paths, in the
// order of Cases.
func Write(dir string) ([]string, error) {
	paths := make([]string, len(Cases))
	for i, c := range Cases {
		paths[i] = filepath.Join(dir, c.Name+".safetensors")
		if err := c.Make(paths[i]); err != nil {
			return nil, fmt.Errorf("writing case %s: %w", c.Name, err)
		}
	}
	return paths, nil
}
