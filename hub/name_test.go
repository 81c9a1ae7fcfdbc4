package hub

import (
	"errors"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Name
	}{
		{"hf://ORG/NAME", Name{Type: TypeModel, Repo: "ORG/NAME"}},
		{"hf://ORG/NAME/", Name{Type: TypeModel, Repo: "ORG/NAME"}},
		{"hf://meta-llama/Llama-3.2-1B", Name{Type: TypeModel, Repo: "meta-llama/Llama-3.2-1B"}},
		{"hf://o/n/sub/dir/model.safetensors", Name{Type: TypeModel, Repo: "o/n", Path: "sub/dir/model.safetensors"}},
		{"hf://o/n@v1.0", Name{Type: TypeModel, Repo: "o/n", Revision: "v1.0"}},
		{"hf://o/n@dev/model.safetensors", Name{Type: TypeModel, Repo: "o/n", Revision: "dev", Path: "model.safetensors"}},
		{"hf://o/n@0123456789abcdef0123456789abcdef01234567/a/b.json", Name{Type: TypeModel, Repo: "o/n", Revision: "0123456789abcdef0123456789abcdef01234567", Path: "a/b.json"}},
		// Revisions with "/": escaped, or the Hub's special refs as they are.
		{"hf://o/n@refs%2Fpr%2F1/model.safetensors", Name{Type: TypeModel, Repo: "o/n", Revision: "refs/pr/1", Path: "model.safetensors"}},
		{"hf://o/n@refs/pr/12/model.safetensors", Name{Type: TypeModel, Repo: "o/n", Revision: "refs/pr/12", Path: "model.safetensors"}},
		{"hf://o/n@refs/pr/12", Name{Type: TypeModel, Repo: "o/n", Revision: "refs/pr/12"}},
		{"hf://o/n@refs/convert/parquet/x", Name{Type: TypeModel, Repo: "o/n", Revision: "refs/convert/parquet", Path: "x"}},
		{"hf://o/n@feature%2Fx", Name{Type: TypeModel, Repo: "o/n", Revision: "feature/x"}},
		// An "@" past ORG/NAME belongs to a file name.
		{"hf://o/n/dir/file@2.safetensors", Name{Type: TypeModel, Repo: "o/n", Path: "dir/file@2.safetensors"}},
		// Type prefixes.
		{"hf://models/o/n", Name{Type: TypeModel, Repo: "o/n"}},
		{"hf://datasets/o/n@main/train.safetensors", Name{Type: TypeDataset, Repo: "o/n", Revision: "main", Path: "train.safetensors"}},
		{"hf://spaces/o/n/x.safetensors", Name{Type: TypeSpace, Repo: "o/n", Path: "x.safetensors"}},
		{"hf://A_b.c-9/x_Y.z", Name{Type: TypeModel, Repo: "A_b.c-9/x_Y.z"}},
	} {
		got, err := ParseName(c.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseName(%q) = %+v, want %+v", c.in, got, c.want)
		}
		// String gives a name that parses back to the same.
		again, err := ParseName(got.String())
		if err != nil || again != got {
			t.Errorf("ParseName(%q.String() = %q) = %+v, %v", c.in, got.String(), again, err)
		}
	}
}

func TestParseNameErrors(t *testing.T) {
	for _, c := range []struct{ in, part string }{
		{"ORG/NAME", "starts with hf://"},
		{"https://huggingface.co/o/n", "starts with hf://"},
		{"hf://", "nothing after"},
		{"hf://gpt2", "must be ORG/NAME"},
		{"hf://gpt2@main", "must be ORG/NAME"},
		{"hf:///", "no repository"},
		{"hf://o/n@", "empty revision"},
		{"hf://o/n@/model.safetensors", "empty revision"},
		{"hf://o@v1/x", "before \"@\" must be ORG/NAME"},
		{"hf://model/o/n", "plural"},
		{"hf://dataset/o/n", "plural"},
		{"hf://datasets", "no repository after"},
		{"hf://buckets/o/n", "not buckets"},
		{"hf://o--x/n", `repository "o--x/n"`},
		{"hf://o/n..x", `repository "o/n..x"`},
		{"hf://o/-n", `repository "o/-n"`},
		{"hf://o/n.git", `repository "o/n.git"`},
		{"hf://o/n é", `repository "o/n é"`},
		{"hf://o/" + strings.Repeat("x", 97), "96"},
		{"hf://o/n/a//b", `path "a//b"`},
		{"hf://o/n/../x", `path "../x"`},
		{"hf://o/n/a/./x", `path "a/./x"`},
		{"hf://o/n/a\\b", `path "a\\b"`},
		{"hf://o/n@..%2F..%2Fx/f", `revision "../../x"`},
		{"hf://o/n@.hidden/f", `revision ".hidden"`},
		{"hf://o/n@a%5Cb/f", `revision "a\\b"`},
		{"hf://o/n@a%0Ab", "control characters"},
	} {
		_, err := ParseName(c.in)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseName(%q) = %v, want ErrInvalidName", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.part) {
			t.Errorf("ParseName(%q) = %q, want it to mention %q", c.in, err, c.part)
		}
	}
}

func TestQuote(t *testing.T) {
	// Python: urllib.parse.quote("refs/pr/1", safe="") and quote("a b/c+d@é").
	if got := quote("refs/pr/1", ""); got != "refs%2Fpr%2F1" {
		t.Errorf("quote revision = %q", got)
	}
	if got := quote("a b/c+d@é~", "/"); got != "a%20b/c%2Bd%40%C3%A9~" {
		t.Errorf("quote path = %q", got)
	}
	if got := unquote("a%2Fb%zz%4"); got != "a/b%zz%4" {
		t.Errorf("unquote = %q", got)
	}
}
