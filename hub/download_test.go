package hub

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
)

// checkLink checks that the snapshot entry is a symbolic link to
// ../../blobs/<etag> (one more ".." per subfolder), as huggingface_hub
// makes them, and that the blob holds want.
func checkLink(t *testing.T, repoDir, commit, file, etag string, want []byte) {
	t.Helper()
	p := filepath.Join(repoDir, "snapshots", commit, filepath.FromSlash(file))
	target, err := os.Readlink(p)
	if err != nil {
		t.Errorf("%s: not a symbolic link: %v", file, err)
		return
	}
	wantTarget := strings.Repeat("../", 2+strings.Count(file, "/")) + "blobs/" + etag
	if target != filepath.FromSlash(wantTarget) {
		t.Errorf("%s -> %s, want %s", file, target, wantTarget)
	}
	got, err := os.ReadFile(filepath.Join(repoDir, "blobs", etag))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("blob %s: %d bytes, %v; want the file's %d bytes", etag, len(got), err, len(want))
	}
}

func TestDownloadSingleFileThenOffline(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 0, 5000)
	commit := commitOf("c1")
	f.addRepo("org/m", commit, map[string][]byte{"model.safetensors": file})
	cfg := f.config(testToken)
	var progress []Progress
	p, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg, Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(cfg.CacheDir, "models--org--m")
	if want := filepath.Join(repo, "snapshots", commit, "model.safetensors"); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	checkLink(t, repo, commit, "model.safetensors", sha256Hex(file), file)
	if b, err := os.ReadFile(filepath.Join(repo, "refs", "main")); err != nil || string(b) != commit {
		t.Errorf("refs/main = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.CacheDir, ".locks", "models--org--m", sha256Hex(file)+".lock")); err != nil {
		t.Errorf("no lock file where huggingface_hub puts it: %v", err)
	}
	if got := f.storageBytes(); got != int64(len(file)) {
		t.Errorf("downloaded %d bytes, want %d", got, len(file))
	}
	f.checkTokens(t, testToken)
	last := progress[len(progress)-1]
	if last.Path != "model.safetensors" || last.Done != int64(len(file)) || last.Size != int64(len(file)) || last.TotalDone != last.TotalSize || last.Cached {
		t.Errorf("last progress %+v", last)
	}
	// The path opens as a local file.
	lf, err := safetensors.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	lf.Close()

	// Offline, the name opens from the cache with no request at all.
	f.reset()
	off := *cfg
	off.Offline = true
	m, err := OpenModel(context.Background(), "hf://org/m", &Options{Config: &off})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorBytes(t, m, "b"); !bytes.Equal(got, dataOf(t, file, "b")) {
		t.Error("b differs")
	}
	m.Close()
	// Online too, the cache comes first.
	m, err = OpenModel(context.Background(), "hf://org/m", &Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if p2, err := Download(context.Background(), "hf://org/m@"+commit, &Options{Config: cfg}); err != nil || p2 != p {
		t.Errorf("Download at the cached commit: %s, %v", p2, err)
	}
	if n := len(f.requests("hub")) + len(f.requests("storage")); n != 0 {
		t.Errorf("opening a cached model made %d requests", n)
	}
	// Download again online: one HEAD, nothing downloaded.
	progress = nil
	if _, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg, Progress: func(p Progress) { progress = append(progress, p) }}); err != nil {
		t.Fatal(err)
	}
	if len(f.requests("hub")) != 1 || len(f.requests("storage")) != 0 || len(progress) != 1 || !progress[0].Cached {
		t.Errorf("a second Download: Hub %d, storage %d requests, progress %+v", len(f.requests("hub")), len(f.requests("storage")), progress)
	}
}

func TestDownloadShardedInSubfolder(t *testing.T) {
	f := newFakeHub(t)
	commit := commitOf("s")
	files := map[string][]byte{}
	for k, v := range shardedFiles(t, 3) {
		files["sub/"+k] = v
	}
	f.addRepo("org/sharded", commit, files)
	cfg := f.config("")
	var last Progress
	p, err := Download(context.Background(), "hf://org/sharded/sub/model.safetensors.index.json", &Options{Config: cfg, Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(cfg.CacheDir, "models--org--sharded")
	// The index is not LFS: its blob is named by its git SHA-1, as the Hub's ETag.
	checkLink(t, repo, commit, "sub/model.safetensors.index.json", gitSHA1(files["sub/model.safetensors.index.json"]), files["sub/model.safetensors.index.json"])
	for _, sh := range []string{"sub/model-00001-of-00002.safetensors", "sub/model-00002-of-00002.safetensors"} {
		checkLink(t, repo, commit, sh, sha256Hex(files[sh]), files[sh])
	}
	var total int64
	for _, b := range files {
		total += int64(len(b))
	}
	if last.TotalSize != total || last.TotalDone != total {
		t.Errorf("last progress %+v, want totals %d", last, total)
	}
	m, err := safetensors.OpenModel(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Verify(); err != nil {
		t.Error(err)
	}
	// Offline, the hub name opens it.
	off := *cfg
	off.Offline = true
	hm, err := OpenModel(context.Background(), "hf://org/sharded/sub/model.safetensors.index.json", &Options{Config: &off})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorBytes(t, hm, "y"); !bytes.Equal(got, dataOf(t, files["sub/model-00002-of-00002.safetensors"], "y")) {
		t.Error("y differs")
	}
	hm.Close()
}

func TestDownloadShardedRepoRecordsNoExist(t *testing.T) {
	f := newFakeHub(t)
	commit := commitOf("s")
	f.addRepo("org/sharded", commit, shardedFiles(t, 0))
	cfg := f.config("")
	p, err := Download(context.Background(), "hf://org/sharded", &Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, filepath.Join(commit, "model.safetensors.index.json")) {
		t.Errorf("path %s", p)
	}
	// As huggingface_hub does: the Hub said model.safetensors does not exist.
	if _, err := os.Stat(filepath.Join(cfg.CacheDir, "models--org--sharded", ".no_exist", commit, "model.safetensors")); err != nil {
		t.Errorf("no .no_exist entry: %v", err)
	}
	// Shards cost one HEAD each, then one GET each from the storage host.
	if n := len(f.requests("storage")); n != 2 {
		t.Errorf("%d storage requests, want 2", n)
	}
	f.checkTokens(t, "")
}

func TestDownloadResumesAfterACutConnection(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 0, 200_000)
	commit := commitOf("c")
	f.addRepo("org/m", commit, map[string][]byte{"model.safetensors": file})
	cfg := f.config(testToken)
	const cut = 70_000
	sha := sha256Hex(file)
	blob := filepath.Join(cfg.CacheDir, "models--org--m", "blobs", sha)

	// Without retries, the first attempt fails and leaves what arrived.
	f.cutAfter = cut
	_, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg, Retries: -1})
	if err == nil {
		t.Fatal("a cut connection without retries did not fail")
	}
	if fi, err := os.Stat(blob + ".incomplete"); err != nil || fi.Size() != cut {
		t.Fatalf("incomplete file: %v, %v; want %d bytes", fi, err, cut)
	}
	if _, err := os.Stat(blob); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a blob exists after a failed download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.CacheDir, "models--org--m", "snapshots", commit, "model.safetensors")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a snapshot entry exists after a failed download: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.CacheDir, "models--org--m", "refs", "main")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refs/main written by a failed download: %v", err)
	}
	// The next Download asks for the rest only.
	f.reset()
	if _, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	stor := f.requests("storage")
	if len(stor) != 1 || stor[0].rng != "bytes=70000-" {
		t.Errorf("resuming: storage requests %+v, want one for bytes=70000-", stor)
	}
	if got := f.storageBytes(); got != int64(len(file)-cut) {
		t.Errorf("resuming fetched %d bytes, want %d", got, len(file)-cut)
	}
	checkLink(t, filepath.Join(cfg.CacheDir, "models--org--m"), commit, "model.safetensors", sha, file)
	if _, err := os.Stat(blob + ".incomplete"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the incomplete file stayed: %v", err)
	}

	// With retries, one Download resumes by itself after a cut.
	cfg2 := f.config(testToken)
	f.reset()
	f.cutAfter = cut
	if _, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg2, Backoff: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	stor = f.requests("storage")
	if len(stor) != 2 || stor[0].rng != "" || stor[1].rng != "bytes=70000-" {
		t.Errorf("retrying: storage requests %+v", stor)
	}
	if got := f.storageBytes(); got != int64(len(file)) {
		t.Errorf("retrying fetched %d bytes, want %d", got, len(file))
	}
	checkLink(t, filepath.Join(cfg2.CacheDir, "models--org--m"), commit, "model.safetensors", sha, file)
	f.checkTokens(t, testToken)
}

func TestDownloadRefusesACorruptedBlob(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 0, 3000)
	commit := commitOf("c")
	f.addRepo("org/m", commit, map[string][]byte{"model.safetensors": file})
	f.corrupt = true
	cfg := f.config("")
	_, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
	if !strings.Contains(err.Error(), sha256Hex(file)) {
		t.Errorf("the error does not name the expected SHA-256: %v", err)
	}
	blobs := filepath.Join(cfg.CacheDir, "models--org--m", "blobs")
	entries, _ := os.ReadDir(blobs)
	if len(entries) != 0 {
		t.Errorf("blobs left after a corrupted download: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(cfg.CacheDir, "models--org--m", "snapshots", commit)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a snapshot was made: %v", err)
	}
	// Fixed on the server: the next Download works.
	f.corrupt = false
	if _, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg}); err != nil {
		t.Fatal(err)
	}

	// The branch moves to a new commit, whose download fails: the cache
	// keeps main at the commit it had, and the model opens offline.
	file2 := makeFile(t, 1, 3000)
	c2 := commitOf("c2")
	f.addCommit("org/m", "main", c2, map[string][]byte{"model.safetensors": file2})
	f.corrupt = true
	if _, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("got %v, want ErrChecksum", err)
	}
	refMain := filepath.Join(cfg.CacheDir, "models--org--m", "refs", "main")
	if b, _ := os.ReadFile(refMain); string(b) != commit {
		t.Errorf("refs/main = %q after a failed download, want %s", b, commit)
	}
	off := *cfg
	off.Offline = true
	m, err := OpenModel(context.Background(), "hf://org/m", &Options{Config: &off})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorBytes(t, m, "a"); !bytes.Equal(got, dataOf(t, file, "a")) {
		t.Error("offline after a failed update: not the first commit's data")
	}
	m.Close()
	// Then it succeeds: two snapshots, main at the new one.
	f.corrupt = false
	if _, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(refMain); string(b) != c2 {
		t.Errorf("refs/main = %q, want %s", b, c2)
	}
	repo := filepath.Join(cfg.CacheDir, "models--org--m")
	checkLink(t, repo, commit, "model.safetensors", sha256Hex(file), file)
	checkLink(t, repo, c2, "model.safetensors", sha256Hex(file2), file2)
}

func TestConcurrentDownloadsFetchABlobOnce(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 0, 100_000)
	commit := commitOf("c")
	f.addRepo("org/m", commit, map[string][]byte{"model.safetensors": file})
	f.delay = 100 * time.Millisecond // keep the first download going while the others start
	cfg := f.config("")
	const n = 6
	var wg sync.WaitGroup
	paths, errs := make([]string, n), make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = Download(context.Background(), "hf://org/m", &Options{Config: cfg})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Errorf("download %d: %s, %v", i, paths[i], errs[i])
		}
	}
	if got := len(f.requests("storage")); got != 1 {
		t.Errorf("%d GET requests to the storage host, want 1", got)
	}
	if got := f.storageBytes(); got != int64(len(file)) {
		t.Errorf("fetched %d bytes, want %d once", got, len(file))
	}
	checkLink(t, filepath.Join(cfg.CacheDir, "models--org--m"), commit, "model.safetensors", sha256Hex(file), file)
}

func TestLockExcludesAnotherOpenOfTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x", "a.lock")
	unlock, err := lockFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	// A second lock, through another open file, waits: here until its
	// context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second lock while held: %v", err)
	}
	unlock()
	unlock2, err := lockFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

func TestOfflineNeverTouchesTheNetwork(t *testing.T) {
	f := newFakeHub(t)
	f.addRepo("org/m", commitOf("c"), map[string][]byte{"model.safetensors": makeFile(t, 0, 10)})
	cfg := f.config(testToken)
	cfg.Offline = true
	ctx := context.Background()
	_, err1 := OpenModel(ctx, "hf://org/m", &Options{Config: cfg})
	_, err2 := Open(ctx, "hf://org/m", &Options{Config: cfg})
	_, err3 := Download(ctx, "hf://org/m", &Options{Config: cfg})
	for i, err := range []error{err1, err2, err3} {
		if !errors.Is(err, ErrNotCached) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("case %d: %v, want ErrNotCached and fs.ErrNotExist", i+1, err)
		}
		if err != nil && !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
			t.Errorf("case %d: the error does not say offline mode is on: %v", i+1, err)
		}
	}
	if n := len(f.requests("hub")) + len(f.requests("storage")); n != 0 {
		t.Errorf("offline mode made %d requests", n)
	}
}

func TestDownloadRetriesAStalledResponse(t *testing.T) {
	f := newFakeHub(t)
	file := makeFile(t, 0, 1000)
	f.addRepo("org/m", commitOf("c"), map[string][]byte{"model.safetensors": file})
	f.stall = time.Hour // until the client gives up
	cfg := f.config("")
	// A guard: without the stall timeout, this context ends the test.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Download(ctx, "hf://org/m", &Options{Config: cfg, StallTimeout: 100 * time.Millisecond, Backoff: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests("storage")); n != 2 {
		t.Errorf("%d storage requests, want 2 (the stalled one, then the retry)", n)
	}
	checkLink(t, filepath.Join(cfg.CacheDir, "models--org--m"), commitOf("c"), "model.safetensors", sha256Hex(file), file)
}
