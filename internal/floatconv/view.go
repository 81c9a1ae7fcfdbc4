package floatconv

import "github.com/safetensors-go/safetensors/internal/byteview"

// asBytes returns the memory of s as little-endian bytes, where the build
// allows views (see package byteview); the wide kernels then move several
// elements per load and store.
func asBytes(s []float32) ([]byte, bool) { return byteview.Bytes(s) }
