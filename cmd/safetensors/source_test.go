package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// countingServer serves dir over HTTP, with ranges (http.FileServer), and
// records each request: its path, Range header, Authorization header and
// how many body bytes were sent. A request is recorded when it arrives and
// its bytes are counted before they are written, so that once the client
// has a response the record has it too, whenever the handler returns.
type countingServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*servedRequest
}

type servedRequest struct {
	path, rng, auth, custom string
	sent                    int64
}

type countingWriter struct {
	http.ResponseWriter
	s   *countingServer
	req *servedRequest
}

func (w *countingWriter) Write(b []byte) (int, error) {
	w.s.mu.Lock()
	w.req.sent += int64(len(b))
	w.s.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

func newCountingServer(t *testing.T, dir string) *countingServer {
	s := &countingServer{}
	fsrv := http.FileServer(http.Dir(dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &servedRequest{r.URL.Path, r.Header.Get("Range"), r.Header.Get("Authorization"), r.Header.Get("X-Custom"), 0}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		fsrv.ServeHTTP(&countingWriter{ResponseWriter: w, s: s, req: req}, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// take returns the requests served since the last call, as they stand.
func (s *countingServer) take() []servedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]servedRequest, len(s.reqs))
	for i, r := range s.reqs {
		out[i] = *r
	}
	s.reqs = nil
	return out
}

func (r servedRequest) String() string {
	return fmt.Sprintf("%s [%s] %d bytes", r.path, r.rng, r.sent)
}

// shardedFixture writes, by hand, a model of three tensors, and a sharded
// set of the same tensors in dir/sharded: the index as transformers writes
// it and two shards.
func shardedFixture(t *testing.T) (dir string) {
	dir = t.TempDir()
	a := spec{"a", "F32", []int{2}, f32(1, 2)}
	b := spec{"b", "I64", []int{1}, i64(7)}
	c := spec{"c", "U8", []int{3}, []byte{4, 5, 6}}
	writeFile(t, dir, "model.safetensors", buildFile(map[string]string{"format": "pt"}, a, b, c))
	sd := filepath.Join(dir, "sharded")
	if err := os.Mkdir(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, sd, "model-00001-of-00002.safetensors", buildFile(map[string]string{"format": "pt"}, a))
	writeFile(t, sd, "model-00002-of-00002.safetensors", buildFile(map[string]string{"format": "pt"}, c, b))
	writeFile(t, sd, "model.safetensors.index.json", []byte(`{
  "metadata": {
    "total_size": 19
  },
  "weight_map": {
    "a": "model-00001-of-00002.safetensors",
    "b": "model-00002-of-00002.safetensors",
    "c": "model-00002-of-00002.safetensors"
  }
}
`))
	return dir
}

// inspected runs inspect --json on arg and returns the tensors' names,
// dtypes and shapes, and the metadata.
func inspected(t *testing.T, args ...string) (string, map[string]string) {
	t.Helper()
	stdout, _ := mustRun(t, 0, append([]string{"inspect", "--json"}, args...)...)
	var out struct {
		Metadata map[string]string
		Tensors  []struct {
			Name, DType string
			Shape       []int
			File        string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stdout)
	}
	var b strings.Builder
	for _, ti := range out.Tensors {
		fmt.Fprintf(&b, "%s %s %v %s; ", ti.Name, ti.DType, ti.Shape, ti.File)
	}
	return b.String(), out.Metadata
}

// TestModelArguments: every way of naming a model, on disk and over HTTP,
// gives the same tensors.
func TestModelArguments(t *testing.T) {
	dir := shardedFixture(t)
	srv := newCountingServer(t, dir)
	const single = "a F32 [2] ; b I64 [1] ; c U8 [3] ; "
	const sharded = "a F32 [2] model-00001-of-00002.safetensors; c U8 [3] model-00002-of-00002.safetensors; b I64 [1] model-00002-of-00002.safetensors; "
	for _, tc := range []struct {
		arg, want string
		requests  int // over HTTP: the index, and one per file's header
	}{
		{filepath.Join(dir, "model.safetensors"), single, 0},
		{dir, single, 0}, // a folder with model.safetensors
		{filepath.Join(dir, "sharded"), sharded, 0},
		{filepath.Join(dir, "sharded", "model.safetensors.index.json"), sharded, 0},
		{srv.URL + "/model.safetensors", single, 1},
		{srv.URL + "/", single, 1},
		{srv.URL + "/sharded/model.safetensors.index.json", sharded, 3},
		{srv.URL + "/sharded/", sharded, 4}, // model.safetensors is tried first: 404
	} {
		got, md := inspected(t, tc.arg)
		if got != tc.want {
			t.Errorf("inspect %s:\n got %s\nwant %s", tc.arg, got, tc.want)
		}
		wantMD := map[string]string{"format": "pt"}
		if strings.Contains(tc.want, "model-0000") {
			wantMD = map[string]string{"total_size": "19"} // the index's
		}
		if fmt.Sprint(md) != fmt.Sprint(wantMD) {
			t.Errorf("inspect %s: metadata %v, want %v", tc.arg, md, wantMD)
		}
		if reqs := srv.take(); len(reqs) != tc.requests {
			t.Errorf("inspect %s: %d requests, want %d: %v", tc.arg, len(reqs), tc.requests, reqs)
		} else {
			for _, r := range reqs {
				if strings.HasSuffix(r.path, ".safetensors") && r.rng != "bytes=0-99999" {
					t.Errorf("inspect %s: %v, want the first 100,000 bytes only", tc.arg, r)
				}
			}
		}
	}
}

// TestURLRequests: a header larger than the first request's 100,000 bytes
// costs a second request; extract of one tensor fetches about its bytes;
// --header reaches the server.
func TestURLRequests(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	var tensors []spec
	for i := range 2000 { // a header of about 120 KB
		tensors = append(tensors, spec{fmt.Sprintf("layer.%04d.with.a.long.name.to.make.the.header.large", i), "U8", []int{1}, []byte{byte(i)}})
	}
	tensors = append(tensors, spec{"zbig", "U8", []int{len(big)}, big})
	writeFile(t, dir, "m.safetensors", buildFile(nil, tensors...))
	srv := newCountingServer(t, dir)
	url := srv.URL + "/m.safetensors"

	mustRun(t, 0, "inspect", "-H", "X-Custom: yes", "--header", "Authorization: Bearer tok", url)
	reqs := srv.take()
	if len(reqs) != 2 || reqs[0].rng != "bytes=0-99999" || !strings.HasPrefix(reqs[1].rng, "bytes=100000-") {
		t.Fatalf("inspect of a 120 KB header: %v, want 2 requests, the second for the rest of the header", reqs)
	}
	for _, r := range reqs {
		if r.custom != "yes" || r.auth != "Bearer tok" {
			t.Errorf("%v: headers X-Custom %q, Authorization %q: --header did not reach the server", r, r.custom, r.auth)
		}
	}

	out := filepath.Join(dir, "out.safetensors")
	mustRun(t, 0, "extract", url, out, "zbig")
	var fetched int64
	for _, r := range srv.take() {
		fetched += r.sent
	}
	// The header (about 120 KB, twice: this run opens the file again) and
	// the tensor's 1 MiB: far less than the file's other bytes would add.
	if fetched < int64(len(big)) || fetched > int64(len(big))+300_000 {
		t.Errorf("extract of one 1 MiB tensor fetched %d bytes", fetched)
	}
	got, _ := readRaw(t, out)
	if !bytes.Equal(got["zbig"].data, big) {
		t.Error("extract over HTTP: the tensor's bytes differ")
	}

	for _, bad := range []string{"NoColon", ": empty name", "Bad Name: x"} {
		if _, stderr, code := cli(t, "inspect", "-H", bad, url); code != 2 || !strings.Contains(stderr, "--header") {
			t.Errorf("-H %q: exit code %d, stderr %q; want a usage error", bad, code, stderr)
		}
	}
}

// TestSplitMerge: split writes transformers' names and index, the set reads
// back with every tensor (locally and over HTTP), and merge gives back the
// tensors of the input.
func TestSplitMerge(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.safetensors", buildFile(map[string]string{"k": "v"},
		spec{"a", "F32", []int{4}, f32(1, 2, 3, 4)},  // 16 bytes
		spec{"b", "F32", []int{2}, f32(5, 6)},        // 8
		spec{"c", "U8", []int{20}, make([]byte, 20)}, // 20: over the maximum, a shard of its own
		spec{"d", "I64", []int{1}, i64(-1)},          // 8
	))
	out := filepath.Join(dir, "sharded")
	stdout, _ := mustRun(t, 0, "split", "--max-shard-size", "16", in, out)
	// huggingface_hub's split_state_dict_into_shards_factory in name order:
	// a fills a shard (16); b would tip it over, so [a] is closed and b
	// starts the next; c, larger than 16, is put in a shard of its own at
	// once, before the open one; d joins b (8 + 8 is not over 16). So
	// [a], [c], [b, d].
	want := []string{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("split wrote %v, want %v\nstdout:\n%s", names, want, stdout)
	}
	if !strings.Contains(stdout, "model.safetensors.index.json: 3 shards, total_size 52, total_parameters 27\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	var index struct {
		Metadata  map[string]int64
		WeightMap map[string]string `json:"weight_map"`
	}
	b, _ := os.ReadFile(filepath.Join(out, "model.safetensors.index.json"))
	if err := json.Unmarshal(b, &index); err != nil || index.Metadata["total_size"] != 52 || len(index.WeightMap) != 4 ||
		index.WeightMap["c"] != "model-00002-of-00003.safetensors" || index.WeightMap["d"] != "model-00003-of-00003.safetensors" {
		t.Errorf("index %s: %v", b, err)
	}
	local, _ := inspected(t, out)
	srv := newCountingServer(t, dir)
	remote, _ := inspected(t, srv.URL+"/sharded/model.safetensors.index.json")
	if local != remote || strings.Count(local, ";") != 4 {
		t.Errorf("inspect of the set: locally %s, over HTTP %s", local, remote)
	}
	merged := filepath.Join(dir, "merged.safetensors")
	mustRun(t, 0, "merge", out, merged)
	if stdout, _ := mustRun(t, 0, "diff", in, merged); stdout != "equal: 4 tensors\n" {
		t.Errorf("diff of the input and the merged set: %s", stdout)
	}
	// Split again over the set: refused without --force, done with it; the
	// shards of the old set are removed.
	if _, stderr, code := cli(t, "split", in, out); code != 1 || !strings.Contains(stderr, "exists (use --force") {
		t.Errorf("split over an existing set: exit code %d, stderr %q", code, stderr)
	}
	mustRun(t, 0, "split", "--force", in, out)
	entries, _ = os.ReadDir(out)
	if len(entries) != 1 || entries[0].Name() != "model.safetensors" {
		t.Errorf("split into one shard over a set of three left %v", entries)
	}
}

// TestVersion: --version prints the build's version.
func TestVersion(t *testing.T) {
	stdout, _ := mustRun(t, 0, "--version")
	if !strings.HasPrefix(stdout, "safetensors ") || !strings.Contains(stdout, "built with go") {
		t.Errorf("--version: %q", stdout)
	}
}
