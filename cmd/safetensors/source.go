package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/safetensors-go/safetensors"
)

// model is what the commands read: one safetensors file or a sharded set,
// with every tensor located in its file.
type model struct {
	name     string       // as given on the command line
	files    []*modelFile // the files, in the order of their names; one for a single file
	sharded  bool         // the input was an index or a folder
	tensors  []tensorRef  // every tensor: file by file, each file's in buffer order
	byName   map[string]int
	metadata map[string]string // the file's metadata
	close    func() error
}

// modelFile is one file of a model.
type modelFile struct {
	name string // the path or URL; for a shard, its name as the index lists it
	f    *safetensors.File
}

// tensorRef is one tensor of a model: its header entry and its file.
type tensorRef struct {
	safetensors.TensorInfo
	file *modelFile
}

// openModel opens a MODEL argument.
func (a *app) openModel(arg string) (*model, error) {
	if isURL(arg) {
		return nil, inFile(arg, errors.New("reading over http(s) needs the remote package (issue 6), not merged yet"))
	}
	st, err := os.Stat(arg)
	if err != nil {
		return nil, err
	}
	if st.IsDir() || strings.HasSuffix(arg, ".json") {
		return nil, inFile(arg, errors.New("sharded sets need the shards package (issue 6), not merged yet"))
	}
	f, err := safetensors.Open(arg)
	if err != nil {
		return nil, err
	}
	return singleFile(arg, f), nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// singleFile is the model of one open file.
func singleFile(name string, f *safetensors.File) *model {
	mf := &modelFile{name: name, f: f}
	m := &model{name: name, files: []*modelFile{mf}, metadata: f.Metadata(), close: f.Close}
	m.addFile(mf)
	return m
}

// addFile appends a file's tensors to the model.
func (m *model) addFile(mf *modelFile) {
	if m.byName == nil {
		m.byName = make(map[string]int)
	}
	for _, ti := range mf.f.Infos() {
		m.byName[ti.Name] = len(m.tensors)
		m.tensors = append(m.tensors, tensorRef{TensorInfo: ti, file: mf})
	}
}

// Close closes every file of the model.
func (m *model) Close() error { return m.close() }

// tensor returns the named tensor's entry.
func (m *model) tensor(name string) (tensorRef, bool) {
	i, ok := m.byName[name]
	if !ok {
		return tensorRef{}, false
	}
	return m.tensors[i], true
}

// fileMetadata returns the metadata to write into a file made from the
// model, and warnings about it.
func (m *model) fileMetadata() (map[string]string, []string) { return m.metadata, nil }

// dataSize returns the total size of the tensors' bytes.
func (m *model) dataSize() int64 {
	var n int64
	for _, t := range m.tensors {
		n += t.Size()
	}
	return n
}

// fileSize returns the total size of the model's files.
func (m *model) fileSize() int64 {
	var n int64
	for _, mf := range m.files {
		n += mf.f.Size()
	}
	return n
}

// headerSize returns the total size of the model's headers.
func (m *model) headerSize() int64 {
	var n int64
	for _, mf := range m.files {
		n += mf.f.HeaderSize()
	}
	return n
}

// withModel opens arg, runs fn, and closes the model, returning fn's
// error wrapped with the model's name when it has none.
func (a *app) withModel(arg string, fn func(m *model) error) error {
	m, err := a.openModel(arg)
	if err != nil {
		return inFile(arg, err)
	}
	err = fn(m)
	if cerr := m.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing: %w", cerr)
	}
	return inFile(arg, err)
}
