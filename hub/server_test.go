package hub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
)

// fakeHub is a loopback stand-in of the Hub: the Hub itself on 127.0.0.1
// answers HEAD and GET on /[TYPEs/]ORG/NAME/resolve/REV/PATH as the Hub
// does (302 to the storage host for LFS files, with X-Repo-Commit,
// X-Linked-Etag and X-Linked-Size; 200 for the others; X-Error-Code on
// errors), and a storage host on localhost (another origin) serves the
// LFS blobs with ranges, only with the right signature in the query.
type fakeHub struct {
	t       *testing.T
	hub     *httptest.Server
	storage *httptest.Server
	storURL string // the storage host's URL, named localhost

	mu       sync.Mutex
	repos    map[string]*fakeRepo // "ORG/NAME" or "datasets/ORG/NAME"
	blobs    map[string][]byte    // sha256 -> content
	renamed  map[string]string    // old repo id -> new
	log      []request
	bytes    int64 // body bytes the storage host sent
	cutAfter int64 // if > 0, the storage host's next response is cut after this many bytes
	corrupt  bool  // the storage host flips a byte of what it serves
	delay    time.Duration
	stall    time.Duration   // if > 0, the storage host's next response stops this long after its headers
	badSig   map[string]bool // sha256 whose signed URL the storage host refuses (expired)
	override http.Header     // headers set on every Hub answer (hostile metadata)
	// redirectGET makes the Hub answer GET requests for files that are not
	// LFS with a redirect to the storage host (HEAD still answers 200).
	redirectGET bool
}

type fakeRepo struct {
	commits  map[string]map[string][]byte // commit -> path -> content
	branches map[string]string            // branch or tag -> commit
	private  bool                         // needs the token
	gated    bool                         // needs the token, and an accepted gate
	lfs      func(path string) bool
}

type request struct {
	host, method, path, rawURI, auth, rng string
}

const (
	testToken = "hf_secret_token"
	signature = "SIGNATURE-SECRET"
)

func newFakeHub(t *testing.T) *fakeHub {
	f := &fakeHub{t: t, repos: map[string]*fakeRepo{}, blobs: map[string][]byte{}, renamed: map[string]string{}, badSig: map[string]bool{}}
	f.hub = httptest.NewServer(http.HandlerFunc(f.serveHub))
	f.storage = httptest.NewServer(http.HandlerFunc(f.serveStorage))
	f.storURL = strings.Replace(f.storage.URL, "127.0.0.1", "localhost", 1)
	t.Cleanup(func() { f.hub.Close(); f.storage.Close() })
	return f
}

// commitOf returns a commit hash for a label.
func commitOf(label string) string {
	s := sha1.Sum([]byte(label))
	return hex.EncodeToString(s[:])
}

// addRepo adds a repository whose branch main (and the given extra refs)
// points at one commit holding files; .safetensors files are LFS.
func (f *fakeHub) addRepo(id, commit string, files map[string][]byte) *fakeRepo {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &fakeRepo{commits: map[string]map[string][]byte{commit: files}, branches: map[string]string{"main": commit},
		lfs: func(p string) bool { return strings.HasSuffix(p, ".safetensors") }}
	f.repos[id] = r
	for _, b := range files {
		s := sha256.Sum256(b)
		f.blobs[hex.EncodeToString(s[:])] = b
	}
	return r
}

// addCommit adds a commit to a repository and points branch at it.
func (f *fakeHub) addCommit(id, branch, commit string, files map[string][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.repos[id]
	r.commits[commit] = files
	r.branches[branch] = commit
	for _, b := range files {
		s := sha256.Sum256(b)
		f.blobs[hex.EncodeToString(s[:])] = b
	}
}

func (f *fakeHub) record(host string, r *http.Request) {
	f.mu.Lock()
	f.log = append(f.log, request{host: host, method: r.Method, path: r.URL.Path, rawURI: r.RequestURI, auth: r.Header.Get("Authorization"), rng: r.Header.Get("Range")})
	f.mu.Unlock()
}

// requests returns the requests one host received.
func (f *fakeHub) requests(host string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, r := range f.log {
		if r.host == host {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeHub) storageBytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}

func (f *fakeHub) reset() {
	f.mu.Lock()
	f.log, f.bytes = nil, 0
	f.mu.Unlock()
}

func gitSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

func (f *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	f.record("hub", r)
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	prefix := ""
	if len(parts) > 0 && (parts[0] == "datasets" || parts[0] == "spaces") {
		prefix, parts = parts[0]+"/", parts[1:]
	}
	if len(parts) < 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	id := prefix + parts[0] + "/" + parts[1]
	rev, err := url.PathUnescape(parts[3])
	if err != nil {
		http.Error(w, "bad revision", http.StatusBadRequest)
		return
	}
	file, err := url.PathUnescape(strings.Join(parts[4:], "/"))
	if err != nil {
		http.Error(w, "bad path", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	if to, ok := f.renamed[id]; ok {
		f.mu.Unlock()
		w.Header().Set("Location", "/"+to+"/resolve/"+parts[3]+"/"+strings.Join(parts[4:], "/"))
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	repo := f.repos[id]
	f.mu.Unlock()
	auth := r.Header.Get("Authorization")
	errCode := func(status int, code string) {
		w.Header().Set("X-Error-Code", code)
		w.Header().Set("X-Error-Message", code+" (from the fake Hub)")
		w.WriteHeader(status)
	}
	switch {
	case repo == nil:
		errCode(http.StatusNotFound, "RepoNotFound")
		return
	case repo.gated && auth == "":
		errCode(http.StatusUnauthorized, "GatedRepo")
		return
	case repo.gated && auth != "Bearer "+testToken:
		errCode(http.StatusForbidden, "GatedRepo")
		return
	case repo.private && auth != "Bearer "+testToken:
		errCode(http.StatusUnauthorized, "RepoNotFound")
		return
	}
	f.mu.Lock()
	commit, ok := repo.branches[rev]
	if !ok {
		if _, isCommit := repo.commits[rev]; isCommit {
			commit = rev
		}
	}
	files := repo.commits[commit]
	content, exists := files[file]
	f.mu.Unlock()
	if commit == "" {
		errCode(http.StatusNotFound, "RevisionNotFound")
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if !exists {
		errCode(http.StatusNotFound, "EntryNotFound")
		return
	}
	if repo.lfs(file) {
		sum := sha256.Sum256(content)
		sha := hex.EncodeToString(sum[:])
		w.Header().Set("X-Linked-Etag", `"`+sha+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(content)))
		w.Header().Set("ETag", `"`+gitSHA1([]byte("pointer "+sha))+`"`)
		w.Header().Set("Location", f.storURL+"/blob/"+sha+"?X-Amz-Signature="+signature+"&Expires=1")
		f.mu.Lock()
		for k, v := range f.override {
			w.Header()[k] = v
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitSHA1(content)+`"`)
	f.mu.Lock()
	redirect := f.redirectGET
	f.mu.Unlock()
	if redirect && r.Method == http.MethodGet {
		w.Header().Set("Location", f.storURL+"/blob/"+sha256Hex(content)+"?X-Amz-Signature="+signature)
		w.WriteHeader(http.StatusFound)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(content))
}

// countingWriter counts the body bytes a handler writes.
type countingWriter struct {
	http.ResponseWriter
	f *fakeHub
}

// Write counts p before writing it: once the client has the bytes, the
// count has them too, whenever the handler returns.
func (c countingWriter) Write(p []byte) (int, error) {
	c.f.mu.Lock()
	c.f.bytes += int64(len(p))
	c.f.mu.Unlock()
	return c.ResponseWriter.Write(p)
}

func (f *fakeHub) serveStorage(w http.ResponseWriter, r *http.Request) {
	f.record("storage", r)
	sha, ok := strings.CutPrefix(r.URL.Path, "/blob/")
	f.mu.Lock()
	content, found := f.blobs[sha]
	bad := f.badSig[sha]
	cut := f.cutAfter
	f.cutAfter = 0
	stall := f.stall
	f.stall = 0
	corrupt, delay := f.corrupt, f.delay
	f.mu.Unlock()
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("X-Amz-Signature") != signature || bad {
		http.Error(w, "<Error>Request has expired</Error>", http.StatusForbidden)
		return
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if corrupt {
		content = bytes.Clone(content)
		content[len(content)/2] ^= 0xff
	}
	w.Header().Set("ETag", `"`+sha+`"`)
	cw := countingWriter{w, f}
	if stall > 0 {
		w.Header().Set("Content-Length", strconv.Itoa(len(content)))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-time.After(stall):
		case <-r.Context().Done():
		}
		panic(http.ErrAbortHandler)
	}
	if cut > 0 {
		// Announce the whole answer, send part of it, and drop the
		// connection, as a network failure would.
		start := int64(0)
		if rg := r.Header.Get("Range"); rg != "" {
			fmt.Sscanf(rg, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(content)-1, len(content)))
			w.Header().Set("Content-Length", strconv.Itoa(len(content)-int(start)))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(content)))
			w.WriteHeader(http.StatusOK)
		}
		cw.Write(content[start : start+cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(cw, r, "", time.Time{}, bytes.NewReader(content))
}

// config returns a configuration for the fake Hub, with a fresh cache.
func (f *fakeHub) config(token string) *Config {
	return &Config{Endpoint: f.hub.URL, CacheDir: f.t.TempDir(), Token: token}
}

// checkNoTokenToStorage fails the test if the storage host ever saw the
// token, and checks that the Hub saw it on every request when one is set.
func (f *fakeHub) checkTokens(t *testing.T, token string) {
	t.Helper()
	for _, r := range f.requests("storage") {
		if r.auth != "" {
			t.Errorf("the storage host received Authorization %q on %s %s", r.auth, r.method, r.path)
		}
	}
	for _, r := range f.requests("hub") {
		want := ""
		if token != "" {
			want = "Bearer " + token
		}
		if r.auth != want {
			t.Errorf("the Hub received Authorization %q on %s %s, want %q", r.auth, r.method, r.path, want)
		}
	}
}

// makeFile returns a safetensors file with a small tensor "a" (F32 [4] =
// 1, 2, 3, 4 plus seed) and a large one "b" of n bytes (U8), last in the
// file.
func makeFile(t testing.TB, seed float32, n int) []byte {
	t.Helper()
	a, err := safetensors.FromFloat32(safetensors.F32, []int{4}, []float32{1 + seed, 2 + seed, 3 + seed, 4 + seed})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + int(seed))
	}
	b, err := safetensors.NewTensor(safetensors.U8, []int{n}, data)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, map[string]safetensors.Tensor{"a": a, "b": b}, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makeShard returns a safetensors file with one F32 [2] tensor.
func makeShard(t testing.TB, name string, v float32) []byte {
	t.Helper()
	x, err := safetensors.FromFloat32(safetensors.F32, []int{2}, []float32{v, v + 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := safetensors.Save(&buf, map[string]safetensors.Tensor{name: x}, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// shardedFiles returns an index and two shards, with values offset by v.
func shardedFiles(t testing.TB, v float32) map[string][]byte {
	index := `{"metadata":{"total_size":16},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}}`
	return map[string][]byte{
		"model.safetensors.index.json":     []byte(index),
		"model-00001-of-00002.safetensors": makeShard(t, "x", v),
		"model-00002-of-00002.safetensors": makeShard(t, "y", v+10),
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
