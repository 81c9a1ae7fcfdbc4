package pytorch

import (
	"bytes"
	"context"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// marker is the file every malicious fixture's payload creates when Python
// runs it (scripts/gen_torch_fixtures.py checks that torch.load does).
const marker = "/tmp/safetensors-go-pytorch-fixture-pwned"

// TestMaliciousNothingRuns opens and converts every malicious fixture and
// shows that each is refused with an error naming its global, and that the
// payload's marker file does not appear.
func TestMaliciousNothingRuns(t *testing.T) {
	if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for name, want := range loadExpected(t) {
		if !want.Malicious {
			continue
		}
		n++
		path := filepath.Join("testdata", name)
		_, err := Open(path)
		var fg *ForbiddenGlobalError
		if !errors.As(err, &fg) || !errors.Is(err, ErrForbiddenGlobal) {
			t.Fatalf("%s: Open: %v", name, err)
		}
		if got := fg.Module + "." + fg.Name; got != want.Global || !strings.Contains(err.Error(), strconv.Quote(want.Global)) {
			t.Errorf("%s: error %q names %s, want %s", name, err, got, want.Global)
		}
		dst := filepath.Join(t.TempDir(), "out.safetensors")
		if _, err := (Options{SkipNonTensors: true}).Convert(context.Background(), path, dst); !errors.Is(err, ErrForbiddenGlobal) {
			t.Errorf("%s: Convert: %v", name, err)
		}
	}
	if n < 10 {
		t.Fatalf("only %d malicious fixtures", n)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the marker %s exists: a payload ran (%v)", marker, err)
	}
}

// TestRefusedBeforeCall shows that a forbidden global stops unpickling at
// its own opcode: what follows (here a REDUCE that would call it, then
// garbage) is never reached.
func TestRefusedBeforeCall(t *testing.T) {
	p := []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R\xff\xff")
	_, err := unpickle(p)
	var fg *ForbiddenGlobalError
	if !errors.As(err, &fg) || fg.Offset != 2 {
		t.Fatalf("%v, want a ForbiddenGlobalError at byte 2 (the GLOBAL)", err)
	}
	// REDUCE on a value that is not an allowed global is an error too.
	for _, p := range []string{
		"\x80\x02X\x02\x00\x00\x00osX\x02\x00\x00\x00ls\x85R.", // a string
		"\x80\x02]X\x02\x00\x00\x00ls\x85R.",                   // a list
		"\x80\x02ctorch\nfloat32\n)R.",                         // a dtype
		"\x80\x02ctorch\nFloatStorage\n)R.",                    // a storage type
	} {
		if _, err := unpickle([]byte(p)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: %v, want ErrCorrupt", p, err)
		}
	}
}

// TestForbiddenGlobals checks the allow-list at its edges: torch's own
// functions outside it are refused like any other.
func TestForbiddenGlobals(t *testing.T) {
	for _, g := range [][2]string{
		{"os", "system"}, {"posix", "system"}, {"nt", "system"}, {"builtins", "eval"}, {"builtins", "exec"},
		{"builtins", "getattr"}, {"__builtin__", "eval"}, {"builtins", "list"}, {"builtins", "dict"},
		{"copyreg", "_reconstructor"}, {"copy_reg", "_reconstructor"}, {"subprocess", "Popen"},
		{"torch", "load"}, {"torch.serialization", "load"}, {"torch.storage", "_load_from_bytes"},
		{"torch._utils", "_rebuild_qtensor"}, {"torch._utils", "_rebuild_sparse_tensor"},
		{"torch._utils", "_rebuild_device_tensor_from_numpy"}, {"torch._tensor", "_rebuild_from_type_v2"},
		{"torch", "Tensor"}, {"torch", "tensor"}, {"torch", "FloatStorage "}, {"torch ", "FloatStorage"},
		{"collections", "OrderedDict\x00"}, {"numpy.core.multiarray", "_reconstruct"}, {"torch", ""},
		{"torch._utils", "_rebuild_tensor_v4"}, {"torch.nn.modules.linear", "Linear"},
	} {
		p := "\x80\x02c" + g[0] + "\n" + g[1] + "\n."
		_, err := unpickle([]byte(p))
		var fg *ForbiddenGlobalError
		if !errors.As(err, &fg) || fg.Module != g[0] || fg.Name != g[1] {
			t.Errorf("%s.%s: %v", g[0], g[1], err)
		}
	}
	for _, g := range [][2]string{
		{"collections", "OrderedDict"}, {"torch._utils", "_rebuild_tensor_v2"}, {"torch", "BFloat16Storage"},
		{"torch.storage", "UntypedStorage"}, {"torch", "float8_e4m3fn"}, {"torch", "Size"},
	} {
		if _, err := unpickle([]byte("\x80\x02c" + g[0] + "\n" + g[1] + "\n.")); err != nil {
			t.Errorf("%s.%s refused: %v", g[0], g[1], err)
		}
	}
}

// TestNoDangerousImports checks the package's own source: it cannot start
// processes, load code, make system calls or touch memory unsafely.
func TestNoDangerousImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatal(files, err)
	}
	forbidden := map[string]bool{"os/exec": true, "plugin": true, "syscall": true, "unsafe": true,
		"reflect": true, "golang.org/x/sys/unix": true, "golang.org/x/sys/windows": true}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); forbidden[path] {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}

// unpickle runs a pickle with no persistent ids allowed.
func unpickle(p []byte) (any, error) {
	u := newUnpickler(bytes.NewReader(p), int64(len(p)), 0)
	return u.load()
}
