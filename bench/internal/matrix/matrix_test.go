package matrix

import (
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	ChildMain() // the matrix re-executes this test binary as its children
	os.Exit(m.Run())
}

// TestOurs runs the matrix for our library, through both of its file
// backends, each case in a child process: every valid file must be read,
// and every invalid one refused with exactly the sentinel of the rule it
// breaks.
func TestOurs(t *testing.T) {
	paths, err := Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, lib := range []string{"ours", "ours-reader"} {
		for i, c := range Cases {
			t.Run(lib+"/"+c.Name, func(t *testing.T) {
				r := Run(lib, paths[i], time.Minute)
				if c.Valid() {
					if r.Kind != OK {
						t.Fatalf("valid file: got %s %q, want OK", r.Kind, r.Msg)
					}
					return
				}
				if r.Kind != Error || r.Sentinel != c.WantName() {
					t.Fatalf("got %s %q wrapping %q, want an error wrapping %s", r.Kind, r.Msg, r.Sentinel, c.WantName())
				}
			})
		}
	}
}

// TestHarnessSeesFailures checks that the harness tells an accepted bad
// file and a crashing child apart from an error, with a peer whose
// behaviour on these files is known from its source at the pinned version:
// ollama's OpenForExtraction checks neither offsets nor the header length,
// and allocates the header length it reads.
func TestHarnessSeesFailures(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		kind string
	}{
		{"hole", OK},
		{"header-1TiB", Crash},
		{"too-small", Error},
	} {
		var c Case
		for _, k := range Cases {
			if k.Name == tc.name {
				c = k
			}
		}
		path := dir + "/" + c.Name
		if err := c.Make(path); err != nil {
			t.Fatal(err)
		}
		if r := Run("ollama", path, time.Minute); r.Kind != tc.kind {
			t.Errorf("%s: got %s %q, want %s", tc.name, r.Kind, r.Msg, tc.kind)
		}
	}
}
