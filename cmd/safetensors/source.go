package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
	"github.com/safetensors-go/safetensors/hub"
	"github.com/safetensors-go/safetensors/remote"
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

// openModel opens a MODEL argument: a file, a folder or an index on disk,
// the http(s) URL of a file, a folder or an index, the URL of one in an
// object store (s3://, gs://, azblob://, file://: the blob package, with
// credentials found as each cloud's SDK finds them), or a Hugging Face Hub
// name (hf://ORG/NAME[@REV][/PATH]: from the local cache when it is there,
// else over the network, with HF_TOKEN and the other HF_* variables read as
// huggingface_hub reads them). A sharded set's shards
// are all opened (their headers read), since every command needs their
// tensors' dtypes and shapes; their data is read only as a command asks.
func (a *app) openModel(arg string) (*model, error) {
	var (
		lm  *safetensors.Model
		err error
	)
	switch {
	case hub.IsName(arg):
		lm, err = hub.OpenModel(a.ctx, arg, nil)
	case blob.Supports(arg):
		lm, err = blob.OpenModel(a.ctx, arg, nil)
	case isURL(arg):
		opts, oerr := a.remoteOptions()
		if oerr != nil {
			return nil, oerr
		}
		lm, err = remote.OpenModel(a.ctx, arg, opts)
	default:
		lm, err = safetensors.OpenModel(arg)
	}
	if err != nil {
		return nil, err
	}
	if !lm.Sharded() {
		f, err := lm.Shard(lm.Files()[0])
		if err != nil {
			lm.Close()
			return nil, err
		}
		m := singleFile(arg, f)
		m.close = lm.Close
		return m, nil
	}
	m := &model{name: arg, sharded: true, metadata: lm.Metadata(), close: lm.Close}
	for _, name := range lm.Files() {
		f, err := lm.Shard(name)
		if err != nil {
			lm.Close()
			return nil, inFile(name, err)
		}
		m.files = append(m.files, &modelFile{name: name, f: f})
	}
	// Tensors file by file, in the order of the shards' names (transformers'
	// names sort in shard order), each file's in buffer order.
	slices.SortFunc(m.files, func(x, y *modelFile) int { return strings.Compare(x.name, y.name) })
	for _, mf := range m.files {
		m.addFile(mf)
	}
	return m, nil
}

// remoteOptions are the options of every request over HTTP: the headers of
// --header.
func (a *app) remoteOptions() (*remote.Options, error) {
	h, err := parseHeaders(a.headers)
	if err != nil {
		return nil, err
	}
	return &remote.Options{Header: h}, nil
}

// parseHeaders parses "Name: value" arguments of --header.
func parseHeaders(args []string) (http.Header, error) {
	if len(args) == 0 {
		return nil, nil
	}
	h := make(http.Header, len(args))
	for _, arg := range args {
		name, value, ok := strings.Cut(arg, ":")
		name = strings.TrimSpace(name)
		if !ok || !isToken(name) {
			return nil, usagef("--header %q: want \"Name: value\"", arg)
		}
		value = strings.TrimSpace(value)
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, usagef("--header %q: the value holds characters a header cannot", arg)
		}
		h.Add(name, value)
	}
	return h, nil
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
//
// A single file's metadata is its own. A sharded set's is the union of its
// shards' (transformers' shards all carry {"format": "pt"}): where shards
// disagree on a key, the first shard's value is kept and a warning says so.
// The index's metadata (total_size, total_parameters) describes the set,
// not a file, and is left out.
func (m *model) fileMetadata() (map[string]string, []string) {
	if !m.sharded {
		return m.metadata, nil
	}
	var md map[string]string
	var warnings []string
	from := map[string]string{}
	for _, mf := range m.files {
		fmd := mf.f.Metadata() // a copy: taken once per shard
		for _, k := range sortedKeys(fmd) {
			v := fmd[k]
			if md == nil {
				md = map[string]string{}
			}
			old, seen := md[k]
			if !seen {
				md[k], from[k] = v, mf.name
			} else if old != v {
				warnings = append(warnings, fmt.Sprintf("metadata %s: %s says %s, %s says %s; keeping the first", printableName(k), printable(from[k]), shortQuote(old), printable(mf.name), shortQuote(v)))
			}
		}
	}
	return md, warnings
}

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

// isToken reports whether s is an HTTP header name: one or more of the
// token characters of RFC 9110.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// isURL reports whether a MODEL argument is an http(s) URL.
func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}
