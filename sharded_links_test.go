package safetensors_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// TestOpenModelFolderLinks: a model folder whose model file is a symbolic
// link to a file outside the folder opens with Options.FollowSymlinks, and
// is refused without it, for a single file and for an index alike.
func TestOpenModelFolderLinks(t *testing.T) {
	for _, name := range []string{safetensors.SingleFileName, safetensors.IndexName} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			outside := filepath.Join(root, "elsewhere")
			dir := filepath.Join(root, "model")
			for _, d := range []string{outside, dir} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			target := filepath.Join(outside, "real.safetensors")
			data := stFile(nil, u8s("w", 7, 8))
			if err := os.WriteFile(filepath.Join(dir, shard1), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if name == safetensors.IndexName {
				target = filepath.Join(outside, "real.json")
				data = indexJSON("{}", [2]string{"w", shard1})
			}
			if err := os.WriteFile(target, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Skip("no symbolic links here:", err)
			}
			m, err := safetensors.Options{FollowSymlinks: true}.OpenModel(dir)
			if err != nil {
				t.Fatalf("FollowSymlinks: %v", err)
			}
			tensor, err := m.GetTensor("w")
			if err != nil || string(tensor.Data()) != "\x07\x08" {
				t.Errorf("FollowSymlinks: GetTensor = %v, %v", tensor.Data(), err)
			}
			m.Close()
			if _, err := safetensors.OpenModel(dir); !errors.Is(err, fs.ErrPermission) {
				t.Errorf("without FollowSymlinks: %v, want a permission error", err)
			}
		})
	}
}

// TestOpenModelRelativeFolder: a model folder given by a relative path
// opens, links inside it included.
func TestOpenModelRelativeFolder(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "one"), stFile(nil, u8s("w", 9)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("blobs", "one"), filepath.Join(dir, safetensors.SingleFileName)); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	t.Chdir(root)
	m, err := safetensors.OpenModel("model")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tensor, err := m.GetTensor("w")
	if err != nil || string(tensor.Data()) != "\x09" {
		t.Errorf("GetTensor = %v, %v", tensor.Data(), err)
	}
}
