package safetensors_test

import (
	"bytes"
	"os"
	"runtime"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTruncatedWhileMapped truncates a file under an open mapping (SIGBUS
// territory): the package's copying paths must return errors, not crash.
func TestTruncatedWhileMapped(t *testing.T) {
	switch runtime.GOOS {
	case "windows":
		t.Skip("Windows refuses to truncate a mapped file")
	case "js", "wasip1", "plan9":
		t.Skip("no memory mapping: Open reads the file")
	}
	// An F32 tensor at an odd offset (header of 85 bytes), so that Values
	// must copy from the mapping rather than view it; 64 KiB of data, so that
	// it spans pages that truncation removes.
	header := `{"w":{"dtype":"F32","shape":[16384],"data_offsets":[0,65536]}}`
	for (8+len(header))%4 == 0 {
		header += " "
	}
	path := writeTemp(t, build(header, make([]byte, 65536)))
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	defer f.Close()
	tensor, err := f.GetTensor("w")
	require.NoError(t, err)
	require.False(t, safetensors.IsView[float32](tensor), "the test needs the copying path")

	require.NoError(t, os.Truncate(path, 0))

	_, err = safetensors.Values[float32](tensor)
	assert.ErrorIs(t, err, safetensors.ErrFault)
	_, err = safetensors.ToFloat32(tensor)
	assert.ErrorIs(t, err, safetensors.ErrFault)
	_, err = safetensors.ToFloat64(tensor)
	assert.ErrorIs(t, err, safetensors.ErrFault)
	_, err = safetensors.Convert(tensor, safetensors.BF16)
	assert.ErrorIs(t, err, safetensors.ErrFault)
	_, err = f.ReadInto("w", make([]byte, 65536))
	assert.Error(t, err, "pread past the new end of the file")
	r, err := f.TensorReader("w")
	require.NoError(t, err)
	_, err = r.Read(make([]byte, 10))
	assert.Error(t, err)
}

// TestSliceOfTruncatedMapping: a selection of short runs is gathered from
// the mapping; after truncation that must be ErrFault, not SIGBUS.
func TestSliceOfTruncatedMapping(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "js", "wasip1", "plan9":
		t.Skip("needs a mapping that can be truncated")
	}
	path := writeTemp(t, build(`{"w":{"dtype":"F32","shape":[64,1024],"data_offsets":[0,262144]}}      `, make([]byte, 262144)))
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	defer f.Close()
	s, err := f.GetSlice("w")
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, 0))
	_, err = s.Get(safetensors.Full(), safetensors.Range(0, 2))
	assert.ErrorIs(t, err, safetensors.ErrFault)
	_, err = s.Get(safetensors.Range(0, 32))
	assert.Error(t, err, "a long run is read with pread, which fails at the new end of the file")
}

// TestSaveOfTruncatedMapping saves tensors that are views of a mapping
// whose file was truncated: Save must fail with an error, not crash, both
// for small tensors (gathered into Save's buffer) and large ones (handed to
// the writer, here an in-memory one that copies them).
func TestSaveOfTruncatedMapping(t *testing.T) {
	switch runtime.GOOS {
	case "windows", "js", "wasip1", "plan9":
		t.Skip("needs a mapping that can be truncated")
	}
	path := writeTemp(t, build(`{"big":{"dtype":"U8","shape":[262144],"data_offsets":[0,262144]},"small":{"dtype":"U8","shape":[16],"data_offsets":[262144,262160]}}`, make([]byte, 262160)))
	f, err := safetensors.Open(path)
	require.NoError(t, err)
	defer f.Close()
	big, err := f.GetTensor("big")
	require.NoError(t, err)
	small, err := f.GetTensor("small")
	require.NoError(t, err)
	require.NoError(t, os.Truncate(path, 0))
	for name, tensor := range map[string]safetensors.Tensor{"big": big, "small": small} {
		var buf bytes.Buffer
		err := safetensors.Save(&buf, map[string]safetensors.Tensor{name: tensor}, nil)
		assert.ErrorIs(t, err, safetensors.ErrFault, name)
	}
}
