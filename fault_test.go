package safetensors_test

import (
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
