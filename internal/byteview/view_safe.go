//go:build purego || !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package byteview

// Enabled reports whether this build makes views at all: false here (purego
// tag or big-endian machine), so every typed access copies.
const Enabled = false

// Cast never makes a view in this build.
func Cast[T Element](b []byte) ([]T, bool) { return nil, false }

// Bytes never makes a view in this build.
func Bytes[T Element](s []T) ([]byte, bool) { return nil, false }
