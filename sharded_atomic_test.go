package safetensors

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// oldSet is a sharded checkpoint {a, b} in two shards, saved in a fresh
// folder, and the {c, d} that is saved over it: the same shard names, as
// every save with the default prefix has.
func oldSet(t *testing.T, dir string, size int) (old, next map[string]Tensor) {
	t.Helper()
	tensor := func(seed byte) Tensor {
		data := make([]byte, size)
		for i := range data {
			data[i] = seed + byte(i*7)
		}
		return mustTensor(t, U8, []int{size}, data)
	}
	old = map[string]Tensor{"a": tensor(1), "b": tensor(2)}
	next = map[string]Tensor{"c": tensor(3), "d": tensor(4)}
	plan, err := SaveSharded(dir, old, ShardOptions{MaxShardSize: int64(size)})
	require.NoError(t, err)
	require.Len(t, plan.Files, 2)
	return old, next
}

// checkOldSet asserts that dir holds the old set, whole and readable, and
// nothing else: no new shard, no temporary or kept file.
func checkOldSet(t *testing.T, dir string, old map[string]Tensor) {
	t.Helper()
	m, err := OpenModel(dir)
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, []string{"a", "b"}, m.Keys())
	require.NoError(t, m.Verify())
	for name, want := range old {
		got, err := m.GetTensor(name)
		if assert.NoError(t, err, name) {
			assert.True(t, bytes.Equal(want.Data(), got.Data()), "tensor %s changed", name)
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"}, names)
}

// A sharded save that fails at any step leaves the previous set as it
// was: whether creating, writing or renaming a shard or the index fails,
// and whether or not the folder allows hard links.
func TestSaveShardedFailureKeepsTheOldSet(t *testing.T) {
	injected := fmt.Errorf("injected: %w", syscall.ENOSPC)
	// failOn makes the k-th call (from 0) of the chosen operation fail.
	type step struct {
		name  string
		calls int // how many calls of the operation a successful save makes
		fail  func(k int, count *int)
	}
	steps := []step{
		{"create", 3, func(k int, count *int) {
			create := saveFS.create
			saveFS.create = func(name string) (saveFile, error) {
				if *count++; *count-1 == k {
					return nil, injected
				}
				return create(name)
			}
		}},
		{"write", 3, func(k int, count *int) {
			create := saveFS.create
			saveFS.create = func(name string) (saveFile, error) {
				f, err := create(name)
				if err != nil {
					return nil, err
				}
				if *count++; *count-1 == k {
					return &faultFile{saveFile: f, failWriteAfter: 10, err: injected}, nil
				}
				return f, nil
			}
		}},
		{"rename", 3, func(k int, count *int) {
			rename := saveFS.rename
			saveFS.rename = func(old, new string) error {
				if strings.Contains(old, ".tmp-") {
					if *count++; *count-1 == k {
						return injected
					}
				}
				return rename(old, new)
			}
		}},
		{"rename without links", 3, func(k int, count *int) {
			saveFS.link = func(string, string) error { return syscall.EPERM }
			rename := saveFS.rename
			saveFS.rename = func(old, new string) error {
				if strings.Contains(old, ".tmp-") {
					if *count++; *count-1 == k {
						return injected
					}
				}
				return rename(old, new)
			}
		}},
	}
	for _, s := range steps {
		for k := range s.calls {
			t.Run(fmt.Sprintf("%s %d", s.name, k), func(t *testing.T) {
				dir := t.TempDir()
				old, next := oldSet(t, dir, 100)
				var count int
				withSaveFS(t, func() { s.fail(k, &count) })
				_, err := SaveSharded(dir, next, ShardOptions{MaxShardSize: 100})
				assert.ErrorIs(t, err, syscall.ENOSPC)
				require.Greater(t, count, k, "the failure was not injected")
				// Putting the old files back succeeded: the error does not
				// say otherwise.
				assert.NotContains(t, err.Error(), "putting back")
				checkOldSet(t, dir, old)
			})
		}
	}
	t.Run("SaveShardedFunc", func(t *testing.T) {
		dir := t.TempDir()
		old, next := oldSet(t, dir, 100)
		var infos []TensorInfo
		for _, name := range []string{"c", "d"} {
			infos = append(infos, TensorInfo{Name: name, DType: U8, Shape: []int{100}})
		}
		_, err := SaveShardedFunc(dir, infos, ShardOptions{MaxShardSize: 100}, func(w *Writer, name string) error {
			if name == "d" {
				return injected
			}
			return w.WriteTensor(name, next[name])
		})
		assert.ErrorIs(t, err, syscall.ENOSPC)
		checkOldSet(t, dir, old)
	})
	t.Run("success replaces the set", func(t *testing.T) {
		dir := t.TempDir()
		_, next := oldSet(t, dir, 100)
		_, err := SaveSharded(dir, next, ShardOptions{MaxShardSize: 100})
		require.NoError(t, err)
		m, err := OpenModel(dir)
		require.NoError(t, err)
		defer m.Close()
		assert.Equal(t, []string{"c", "d"}, m.Keys())
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			assert.False(t, strings.HasPrefix(e.Name(), "."), "left behind: %s", e.Name())
		}
	})
}

// On a real full disk (a small tmpfs, where the test may mount one), saving
// a larger set over a sharded checkpoint fails and keeps the old one.
func TestSaveShardedFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	old, _ := oldSet(t, dir, 100<<10) // 200 KiB of a 512 KiB disk
	big := func(seed byte) Tensor {
		return mustTensor(t, U8, []int{200 << 10}, bytes.Repeat([]byte{seed}, 200<<10))
	}
	_, err := SaveSharded(dir, map[string]Tensor{"c": big(3), "d": big(4)}, ShardOptions{MaxShardSize: 200 << 10})
	require.Error(t, err)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	checkOldSet(t, dir, old)
}

// The rename order: no shard that the old index needs is replaced before
// every new file is complete.
func TestSaveShardedRenamesAfterAllWrites(t *testing.T) {
	dir := t.TempDir()
	_, next := oldSet(t, dir, 100)
	var events []string
	withSaveFS(t, func() {
		create, rename := saveFS.create, saveFS.rename
		saveFS.create = func(name string) (saveFile, error) {
			events = append(events, "create")
			return create(name)
		}
		saveFS.rename = func(old, new string) error {
			if strings.Contains(old, ".tmp-") {
				events = append(events, "rename "+filepath.Base(new))
			}
			return rename(old, new)
		}
	})
	_, err := SaveSharded(dir, next, ShardOptions{MaxShardSize: 100})
	require.NoError(t, err)
	want := []string{"create", "create", "create",
		"rename model-00001-of-00002.safetensors", "rename model-00002-of-00002.safetensors", "rename model.safetensors.index.json"}
	assert.Equal(t, want, events)
}
