package hub

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

// tensorBytes returns the bytes of a tensor of a model, failing the test
// on error.
func tensorBytes(t *testing.T, m *safetensors.Model, name string) []byte {
	t.Helper()
	x, err := m.GetTensor(name)
	if err != nil {
		t.Fatalf("GetTensor(%q): %v", name, err)
	}
	return bytes.Clone(x.Data())
}

// dataOf returns the bytes of a tensor in a file's bytes, read with Load.
func dataOf(t *testing.T, file []byte, name string) []byte {
	t.Helper()
	f, err := safetensors.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	x, err := f.GetTensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x.Data()
}

func TestOpenModelOnlineReadsHeadersThenTensorsOnDemand(t *testing.T) {
	f := newFakeHub(t)
	const big = 300_000 // larger than the 100,000 bytes of the first request
	file := makeFile(t, 0, big)
	commit := commitOf("c1")
	f.addRepo("org/model", commit, map[string][]byte{"model.safetensors": file})
	f.repos["org/model"].private = true
	ctx := context.Background()
	cfg := f.config(testToken)

	m, err := OpenModel(ctx, "hf://org/model", &Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Opening: one HEAD to the Hub, one range request for the first
	// remote.DefaultPrefixSize bytes to the storage host.
	hub, stor := f.requests("hub"), f.requests("storage")
	if len(hub) != 1 || hub[0].method != "HEAD" || hub[0].path != "/org/model/resolve/main/model.safetensors" {
		t.Fatalf("Hub requests on open: %+v", hub)
	}
	if len(stor) != 1 || stor[0].method != "GET" || stor[0].rng != "bytes=0-99999" {
		t.Fatalf("storage requests on open: %+v", stor)
	}
	if got := f.storageBytes(); got != remote.DefaultPrefixSize {
		t.Errorf("open fetched %d bytes, want %d (the prefix only)", got, remote.DefaultPrefixSize)
	}
	if got := m.Keys(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("Keys = %v", got)
	}
	// "a" lies in the prefix: no request.
	if got, want := tensorBytes(t, m, "a"), dataOf(t, file, "a"); !bytes.Equal(got, want) {
		t.Errorf("a = %v, want %v", got, want)
	}
	if n := len(f.requests("storage")); n != 1 {
		t.Errorf("reading a tensor in the prefix made %d storage requests, want 1 in all", n)
	}
	// "b" ends the file: what the prefix lacks is fetched, nothing more.
	if got, want := tensorBytes(t, m, "b"), dataOf(t, file, "b"); !bytes.Equal(got, want) {
		t.Error("b differs from the file's")
	}
	if got := f.storageBytes(); got != int64(len(file)) {
		t.Errorf("open and reading b fetched %d bytes in all, want the file's %d", got, len(file))
	}
	if n := len(f.requests("hub")); n != 1 {
		t.Errorf("the Hub got %d requests, want 1", n)
	}
	f.checkTokens(t, testToken)
	for _, r := range f.requests("storage") {
		if !strings.Contains(r.rawURI, "X-Amz-Signature="+signature) {
			t.Errorf("storage request without the signed query: %s", r.rawURI)
		}
	}
	// Nothing was written to the cache.
	if _, err := Download(ctx, "hf://org/model", &Options{Config: &Config{Endpoint: cfg.Endpoint, CacheDir: cfg.CacheDir, Token: testToken, Offline: true}}); !errors.Is(err, ErrNotCached) {
		t.Errorf("after an online open, the cache has the model: %v", err)
	}
}

func TestOpenModelOnlineSharded(t *testing.T) {
	f := newFakeHub(t)
	c1, c2 := commitOf("c1"), commitOf("c2")
	files := shardedFiles(t, 1)
	f.addRepo("org/sharded", c1, files)
	ctx := context.Background()
	m, err := OpenModel(ctx, "hf://org/sharded", &Options{Config: f.config(testToken)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// HEAD model.safetensors (404), HEAD the index, GET the index; no shard.
	hub := f.requests("hub")
	want := []string{"HEAD /org/sharded/resolve/main/model.safetensors", "HEAD /org/sharded/resolve/main/model.safetensors.index.json",
		"GET /org/sharded/resolve/" + c1 + "/model.safetensors.index.json"}
	if len(hub) != len(want) {
		t.Fatalf("Hub requests on open: %+v", hub)
	}
	for i, r := range hub {
		if r.method+" "+r.path != want[i] {
			t.Errorf("Hub request %d = %s %s, want %s", i, r.method, r.path, want[i])
		}
	}
	if n := len(f.requests("storage")); n != 0 {
		t.Errorf("opening an index made %d storage requests", n)
	}
	if got := m.Keys(); len(got) != 2 || !m.Sharded() {
		t.Errorf("Keys = %v, Sharded = %v", got, m.Sharded())
	}
	// The branch moves to another commit whose shards differ: the shards
	// still come from the commit the index came from.
	f.addCommit("org/sharded", "main", c2, shardedFiles(t, 100))
	f.reset()
	if got, want := tensorBytes(t, m, "y"), dataOf(t, files["model-00002-of-00002.safetensors"], "y"); !bytes.Equal(got, want) {
		t.Errorf("y = %v, want %v (the first commit's)", got, want)
	}
	hub = f.requests("hub")
	if len(hub) != 1 || hub[0].path != "/org/sharded/resolve/"+c1+"/model-00002-of-00002.safetensors" {
		t.Errorf("opening a shard: Hub requests %+v, want one HEAD at commit %s", hub, c1)
	}
	if n := len(f.requests("storage")); n != 1 {
		t.Errorf("opening a small shard made %d storage requests, want 1", n)
	}
	if got, want := tensorBytes(t, m, "x"), dataOf(t, files["model-00001-of-00002.safetensors"], "x"); !bytes.Equal(got, want) {
		t.Errorf("x = %v, want %v (the first commit's)", got, want)
	}
	f.checkTokens(t, testToken)
}

func TestOpenOneFileAndPaths(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 2, 10)
	f.addRepo("org/m", commitOf("c"), map[string][]byte{"sub/dir/w.safetensors": file, "model.safetensors": makeFile(t, 3, 10)})
	opts := &Options{Config: f.config("")}
	ctx := context.Background()
	st, err := Open(ctx, "hf://org/m/sub/dir/w.safetensors", opts)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := st.GetTensor("a")
	if !bytes.Equal(x.Data(), dataOf(t, file, "a")) {
		t.Error("wrong tensor from a file in a subfolder")
	}
	st.Close()
	st, err = Open(ctx, "hf://org/m", opts)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := Open(ctx, "hf://org/m/model.safetensors.index.json", opts); err == nil || !strings.Contains(err.Error(), "OpenModel") {
		t.Errorf("Open of an index: %v", err)
	}
	f.checkTokens(t, "")
}

// A file that the Hub serves itself (not LFS) in a private repository:
// the range requests go to the Hub's origin, with the token.
func TestOpenModelServedByTheHub(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 1, 1000)
	c := commitOf("c")
	r := f.addRepo("org/small", c, map[string][]byte{"model.safetensors": file})
	r.private = true
	r.lfs = func(string) bool { return false }
	m, err := OpenModel(context.Background(), "hf://org/small", &Options{Config: f.config(testToken)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := tensorBytes(t, m, "b"); !bytes.Equal(got, dataOf(t, file, "b")) {
		t.Error("b differs")
	}
	hub := f.requests("hub")
	if len(hub) != 2 || hub[1].method != "GET" || hub[1].path != "/org/small/resolve/"+c+"/model.safetensors" {
		t.Errorf("Hub requests: %+v (want a HEAD, then a range GET at the commit)", hub)
	}
	f.checkTokens(t, testToken)
}

func TestOpenModelHubErrors(t *testing.T) {
	f := newFakeHub(t)
	f.addRepo("org/gated", commitOf("g"), map[string][]byte{"model.safetensors": makeFile(t, 0, 4)}).gated = true
	f.addRepo("org/m", commitOf("m"), map[string][]byte{"model.safetensors": makeFile(t, 0, 4)})
	f.addRepo("org/private", commitOf("p"), map[string][]byte{"model.safetensors": makeFile(t, 0, 4)}).private = true
	ctx := context.Background()
	for _, c := range []struct {
		name, token string
		is          []error
		says        []string
	}{
		{"hf://org/gated", "", []error{ErrGatedRepo, fs.ErrPermission}, []string{"gated", "accept its conditions at " + f.hub.URL + "/org/gated", "no token was sent", "401"}},
		{"hf://org/gated", "hf_other", []error{ErrGatedRepo, fs.ErrPermission}, []string{"gated", "403"}},
		{"hf://org/private", "", []error{ErrRepoNotFound, fs.ErrPermission}, []string{"not found", "HF_TOKEN", "private"}},
		{"hf://org/private", "hf_bad", []error{ErrRepoNotFound, fs.ErrPermission}, []string{"token sent has no access"}},
		{"hf://org/nothing", "", []error{ErrRepoNotFound, fs.ErrNotExist}, []string{"repository org/nothing not found"}},
		{"hf://org/m@v9", "", []error{ErrRevisionNotFound, fs.ErrNotExist}, []string{`no revision "v9"`}},
		{"hf://org/m/nope.safetensors", "", []error{ErrEntryNotFound, fs.ErrNotExist}, []string{`no file "nope.safetensors"`}},
	} {
		_, err := OpenModel(ctx, c.name, &Options{Config: f.config(c.token)})
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, target := range c.is {
			if !errors.Is(err, target) {
				t.Errorf("%s: %v does not wrap %v", c.name, err, target)
			}
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", c.name, err, s)
			}
		}
		var se *StatusError
		if !errors.As(err, &se) {
			t.Errorf("%s: not a *StatusError: %T", c.name, err)
		}
	}
}

// A signed URL never appears in an error: the storage host refuses an
// expired one, or cannot be reached at all.
func TestErrorsHideSignedURLs(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 0, 10)
	f.addRepo("org/m", commitOf("c"), map[string][]byte{"model.safetensors": file})
	f.badSig[sha256Hex(file)] = true
	ctx := context.Background()
	_, err1 := OpenModel(ctx, "hf://org/m", &Options{Config: f.config(testToken), Remote: &remote.Options{Retries: -1}})
	_, err2 := Download(ctx, "hf://org/m", &Options{Config: f.config(testToken), Retries: -1})
	f.storage.Close() // now nothing answers there
	_, err3 := OpenModel(ctx, "hf://org/m", &Options{Config: f.config(testToken), Remote: &remote.Options{Retries: -1}})
	_, err4 := Download(ctx, "hf://org/m", &Options{Config: f.config(testToken), Retries: -1})
	for i, err := range []error{err1, err2, err3, err4} {
		if err == nil {
			t.Errorf("case %d: no error", i+1)
			continue
		}
		if strings.Contains(err.Error(), signature) || strings.Contains(err.Error(), "X-Amz") || strings.Contains(err.Error(), testToken) {
			t.Errorf("case %d: the error shows a secret: %v", i+1, err)
		}
		if !strings.Contains(err.Error(), "localhost") {
			t.Errorf("case %d: the error does not name the storage host: %v", i+1, err)
		}
	}
	if !errors.Is(err1, fs.ErrPermission) || !errors.Is(err2, fs.ErrPermission) {
		t.Errorf("a 403 from storage should wrap fs.ErrPermission: %v / %v", err1, err2)
	}
}

func TestRenamedRepositoryKeepsTheTokenOnTheHub(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 5, 10)
	f.addRepo("new/name", commitOf("c"), map[string][]byte{"model.safetensors": file})
	f.repos["new/name"].private = true
	f.renamed["old/name"] = "new/name"
	m, err := OpenModel(context.Background(), "hf://old/name", &Options{Config: f.config(testToken)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := tensorBytes(t, m, "a"); !bytes.Equal(got, dataOf(t, file, "a")) {
		t.Error("wrong data")
	}
	hub := f.requests("hub")
	if len(hub) != 2 || hub[0].path != "/old/name/resolve/main/model.safetensors" || hub[1].path != "/new/name/resolve/main/model.safetensors" {
		t.Errorf("Hub requests: %+v", hub)
	}
	f.checkTokens(t, testToken)
}

func TestRevisionWithSlash(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 7, 10)
	c := commitOf("pr")
	f.addRepo("org/m", commitOf("main"), map[string][]byte{"model.safetensors": makeFile(t, 0, 10)})
	f.addCommit("org/m", "refs/pr/1", c, map[string][]byte{"model.safetensors": file})
	for _, name := range []string{"hf://org/m@refs/pr/1", "hf://org/m@refs%2Fpr%2F1/model.safetensors"} {
		f.reset()
		cfg := f.config("")
		p, err := Download(context.Background(), name, &Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		hub := f.requests("hub")
		if len(hub) == 0 || hub[0].rawURI != "/org/m/resolve/refs%2Fpr%2F1/model.safetensors" {
			t.Errorf("%s: first Hub request %+v, want the revision escaped as %%2F", name, hub)
		}
		if b, err := readSmall(cfg.CacheDir+"/models--org--m/refs/refs/pr/1", 100); err != nil || string(b) != c {
			t.Errorf("%s: refs/refs/pr/1 = %q, %v; want %s", name, b, err, c)
		}
		if !strings.HasSuffix(p, "/snapshots/"+c+"/model.safetensors") {
			t.Errorf("%s: path %s", name, p)
		}
	}
}

func TestHostileMetadataIsRefused(t *testing.T) {
	f := newFakeHub(t)
	f.addRepo("org/m", commitOf("c"), map[string][]byte{"model.safetensors": makeFile(t, 0, 10)})
	for _, h := range []map[string]string{
		{"X-Repo-Commit": "../../../../tmp/x"},
		{"X-Repo-Commit": ""},
		{"X-Linked-Etag": `"../../escape"`},
		{"X-Linked-Size": "-5"},
		{"X-Linked-Size": "many"},
		{"Location": "file:///etc/passwd"},
	} {
		f.mu.Lock()
		f.override = map[string][]string{}
		for k, v := range h {
			f.override[k] = []string{v}
		}
		f.mu.Unlock()
		cfg := f.config("")
		_, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg})
		if !errors.Is(err, ErrMetadata) {
			t.Errorf("%v: %v, want ErrMetadata", h, err)
		}
	}
}

func TestHostileIndexes(t *testing.T) {
	f := newFakeHub(t)
	files := shardedFiles(t, 0)
	f.addRepo("org/big", commitOf("b"), files)
	f.addRepo("org/escape", commitOf("e"), map[string][]byte{
		"model.safetensors.index.json": []byte(`{"weight_map":{"x":"../../../etc/passwd"}}`),
	})
	ctx := context.Background()
	// An index larger than the limit is refused before it is fetched.
	_, err := OpenModel(ctx, "hf://org/big", &Options{Config: f.config(""), Remote: &remote.Options{MaxHeaderSize: 20}})
	if !errors.Is(err, safetensors.ErrInvalidIndex) {
		t.Errorf("an index over the limit: %v", err)
	}
	for _, r := range f.requests("hub") {
		if r.method == "GET" {
			t.Errorf("the index over the limit was fetched: %+v", r)
		}
	}
	// Shard names that leave the repository are refused, opening and downloading.
	cfg := f.config("")
	if _, err := OpenModel(ctx, "hf://org/escape", &Options{Config: cfg}); !errors.Is(err, safetensors.ErrInvalidIndex) {
		t.Errorf("OpenModel of an index naming ../../../etc/passwd: %v", err)
	}
	if _, err := Download(ctx, "hf://org/escape", &Options{Config: cfg}); !errors.Is(err, safetensors.ErrInvalidIndex) {
		t.Errorf("Download of an index naming ../../../etc/passwd: %v", err)
	}
}
