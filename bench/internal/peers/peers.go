// Package peers holds, for each Go safetensors library that the benchmark
// compares, the code that a user of its API writes to read a file: the
// same few calls that its README and examples show. The comparison
// (cmd/compare) and the validation matrix (cmd/validate) both use it.
package peers

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	maruel "github.com/maruel/safetensors"
	nlp "github.com/nlpodyssey/safetensors"
	ollama "github.com/ollama/ollama/x/imagegen/safetensors"
	"golang.org/x/sys/unix"

	"github.com/safetensors-go/safetensors"
)

// Module paths of the peers, as pinned in go.mod.
const (
	Ours       = "github.com/safetensors-go/safetensors"
	NLPOdyssey = "github.com/nlpodyssey/safetensors"
	Maruel     = "github.com/maruel/safetensors"
	Ollama     = "github.com/ollama/ollama"
	// GoHuggingface is not built: see Missing.
	GoHuggingface = "github.com/gomlx/go-huggingface"
)

// Missing says, for each peer that the benchmark cannot build here, why.
var Missing = map[string]string{
	GoHuggingface: "the module proxy serves only v0.3.1 of github.com/gomlx/go-huggingface, " +
		"which has no models/safetensors package (it came in later commits, whose pseudo-versions " +
		"the proxy answers with 403 Forbidden), so it cannot be built here",
}

// Version returns the version of module path that this binary was built
// with, from its build information ("(devel)" for ours, through replace).
func Version(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	if bi.Main.Path == path {
		return bi.Main.Version
	}
	for _, m := range bi.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return "replaced by " + m.Replace.Path
			}
			return m.Version
		}
	}
	return "?"
}

// Lib is one way of reading a file: a library and the calls used.
type Lib struct {
	Name  string // short name, for table columns
	Calls string // the calls a user makes, for the report
	// ReadAll opens path, validating it as the library does, and passes
	// every tensor's bytes to visit, then closes what it opened. Its
	// error says which stage failed: "open: ..." or "read NAME: ...".
	ReadAll func(path string, visit func(name string, data []byte)) error
}

// Libs are the libraries of the validation matrix, ours first.
var Libs = []Lib{
	{"ours", "safetensors.Open, File.GetTensor", oursOpen},
	{"ours-reader", "safetensors.NewReader(*os.File), File.GetTensor", oursReader},
	{"nlpodyssey", "mmap, safetensors.Deserialize, SafeTensors.Tensor", nlpRead},
	{"maruel", "(*safetensors.Mapped).Open, File.Tensors", maruelRead},
	{"ollama", "x/imagegen/safetensors.OpenForExtraction, GetTensor, io.ReadAll(Reader())", ollamaRead},
}

// LibByName returns the Lib of that name.
func LibByName(name string) (Lib, bool) {
	for _, l := range Libs {
		if l.Name == name {
			return l, true
		}
	}
	return Lib{}, false
}

func oursOpen(path string, visit func(string, []byte)) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	for _, name := range f.Keys() {
		t, err := f.GetTensor(name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		visit(name, t.Data())
	}
	return nil
}

func oursReader(path string, visit func(string, []byte)) error {
	osf, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer osf.Close()
	st, err := osf.Stat()
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	f, err := safetensors.NewReader(osf, st.Size())
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	for _, name := range f.Keys() {
		t, err := f.GetTensor(name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		visit(name, t.Data())
	}
	return nil
}

// Mmap maps the file at path read-only, as a user of a library that
// parses a []byte (nlpodyssey) would, so as not to read the whole file into
// memory. A file of zero bytes gives an empty slice.
func Mmap(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if st.Size() == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}

// NLPFile is a file mapped and parsed with nlpodyssey's Deserialize.
type NLPFile struct {
	nlp.SafeTensors
	unmap func() error
}

// OpenNLP maps path and parses it with nlpodyssey's Deserialize.
func OpenNLP(path string) (*NLPFile, error) {
	b, unmap, err := Mmap(path)
	if err != nil {
		return nil, err
	}
	st, err := nlp.Deserialize(b)
	if err != nil {
		unmap()
		return nil, err
	}
	return &NLPFile{st, unmap}, nil
}

// Close unmaps the file.
func (f *NLPFile) Close() error { return f.unmap() }

func nlpRead(path string, visit func(string, []byte)) error {
	f, err := OpenNLP(path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		t, ok := f.Tensor(name)
		if !ok {
			return fmt.Errorf("read %s: not found", name)
		}
		visit(name, t.Data())
	}
	return nil
}

func maruelRead(path string, visit func(string, []byte)) error {
	var m maruel.Mapped
	if err := m.Open(path); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer m.Close()
	for _, t := range m.Tensors {
		visit(t.Name, t.Data)
	}
	return nil
}

func ollamaRead(path string, visit func(string, []byte)) error {
	x, err := ollama.OpenForExtraction(path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer x.Close()
	for _, name := range x.ListTensors() {
		td, err := x.GetTensor(name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		b, err := io.ReadAll(td.Reader())
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		visit(name, b)
	}
	return nil
}

// Short shortens an error message to its first line and at most n bytes,
// for tables.
func Short(msg string, n int) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > n {
		msg = msg[:n-3] + "..."
	}
	return msg
}
