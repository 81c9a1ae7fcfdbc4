//go:build unix

package safetensors

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// New files get 0666 less the umask; a file replaced keeps its mode.
func TestSaveModesFollowTheUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	tensors := map[string]Tensor{"a": mustTensor(t, U8, []int{100}, make([]byte, 100)), "b": mustTensor(t, U8, []int{100}, make([]byte, 100))}
	mode := func(path string) fs.FileMode {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		return fi.Mode().Perm()
	}
	dir := t.TempDir()
	single := filepath.Join(dir, "one.safetensors")
	require.NoError(t, SaveFile(single, tensors, nil))
	assert.Equal(t, fs.FileMode(0o600), mode(single))
	require.NoError(t, os.Chmod(single, 0o640))
	require.NoError(t, SaveFile(single, tensors, nil))
	assert.Equal(t, fs.FileMode(0o640), mode(single), "the replaced file's mode")

	sharded := filepath.Join(dir, "sharded")
	plan, err := SaveSharded(sharded, tensors, ShardOptions{MaxShardSize: 100})
	require.NoError(t, err)
	files := []string{plan.IndexName}
	for _, f := range plan.Files {
		files = append(files, f.Name)
	}
	for _, f := range files {
		assert.Equal(t, fs.FileMode(0o600), mode(filepath.Join(sharded, f)), f)
		require.NoError(t, os.Chmod(filepath.Join(sharded, f), 0o644))
	}
	_, err = SaveSharded(sharded, tensors, ShardOptions{MaxShardSize: 100})
	require.NoError(t, err)
	for _, f := range files {
		assert.Equal(t, fs.FileMode(0o644), mode(filepath.Join(sharded, f)), f)
	}

	syscall.Umask(0o022)
	other := filepath.Join(dir, "two.safetensors")
	require.NoError(t, SaveFile(other, tensors, nil))
	assert.Equal(t, fs.FileMode(0o644), mode(other))
}
