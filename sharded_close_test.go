package safetensors

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModelCloseReturnsTheFirstError: when closing several shards fails,
// Model.Close returns the error of the first shard (in the order of their
// names), as it documents, not a later one.
func TestModelCloseReturnsTheFirstError(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a-00001-of-00002.safetensors", "a-00002-of-00002.safetensors"}
	for i, n := range names {
		x, _ := FromValues([]int{1}, []uint8{uint8(i)})
		if err := SaveFile(filepath.Join(dir, n), map[string]Tensor{string(rune('x' + i)): x}, nil); err != nil {
			t.Fatal(err)
		}
	}
	index := `{"metadata":{},"weight_map":{"x":"` + names[0] + `","y":"` + names[1] + `"}}`
	if err := os.WriteFile(filepath.Join(dir, IndexName), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := OpenModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"x", "y"} {
		if _, err := m.GetTensor(n); err != nil {
			t.Fatal(err)
		}
	}
	// Close each shard's file descriptor underneath its File, so that
	// closing the File fails.
	for _, s := range m.shards {
		f := s.f.Load()
		if f == nil || f.kind != mapped || f.osf == nil {
			t.Skip("shards are not mapped files here")
		}
		f.osf.Close()
	}
	err = m.Close()
	var pe *fs.PathError
	if !errors.As(err, &pe) || !strings.HasSuffix(pe.Path, names[0]) {
		t.Errorf("Close = %v, want the error of closing %s", err, names[0])
	}
}
