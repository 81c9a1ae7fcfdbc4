package hub

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// writeCache lays out a repository's cache folder as huggingface_hub does:
// blobs named by ETag, snapshots/<commit>/<path> linking to them (or, with
// copies, holding the bytes as huggingface_hub does where symbolic links
// cannot be made), refs/<revision> holding a commit without a newline.
func writeCache(t testing.TB, repoDir string, copies bool, refs map[string]string, snapshots map[string]map[string][]byte) {
	t.Helper()
	for ref, commit := range refs {
		p := filepath.Join(repoDir, "refs", filepath.FromSlash(ref))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(commit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for commit, files := range snapshots {
		for file, b := range files {
			p := filepath.Join(repoDir, "snapshots", commit, filepath.FromSlash(file))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if copies {
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			etag := sha256Hex(b)
			blob := filepath.Join(repoDir, "blobs", etag)
			os.MkdirAll(filepath.Dir(blob), 0o755)
			if err := os.WriteFile(blob, b, 0o644); err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(filepath.Dir(p), blob)
			if err := os.Symlink(rel, p); err != nil {
				t.Skipf("no symbolic links here: %v", err)
			}
		}
	}
}

// unreachable returns the URL of a server that is closed: any request to
// it fails, which proves that a test that passes made none.
func unreachable(t *testing.T) string {
	s := httptest.NewServer(nil)
	u := s.URL
	s.Close()
	return u
}

func TestCacheOfHuggingfaceHub(t *testing.T) {
	for _, copies := range []bool{false, true} {
		name := "symlinks"
		if copies {
			name = "copies"
		}
		t.Run(name, func(t *testing.T) {
			cache := t.TempDir()
			cA, cB, cS := commitOf("A"), commitOf("B"), commitOf("S")
			fileA, fileB := makeFile(t, 1, 10), makeFile(t, 2, 10)
			sharded := shardedFiles(t, 50)
			writeCache(t, filepath.Join(cache, "models--org--m"), copies,
				map[string]string{"main": cB, "v1": cA, "refs/pr/3": cA, "sharded": cS},
				map[string]map[string][]byte{
					cA: {"model.safetensors": fileA, "sub/x.safetensors": fileB},
					cB: {"model.safetensors": fileB, "config.json": []byte("{}")},
					cS: sharded,
				})
			writeCache(t, filepath.Join(cache, "datasets--org--d"), copies, map[string]string{"main": cA},
				map[string]map[string][]byte{cA: {"train.safetensors": fileA}})
			cfg := &Config{Endpoint: unreachable(t), CacheDir: cache}
			ctx := context.Background()
			for _, c := range []struct {
				name   string
				tensor string
				want   []byte
			}{
				{"hf://org/m", "a", dataOf(t, fileB, "a")},
				{"hf://org/m@main/model.safetensors", "a", dataOf(t, fileB, "a")},
				{"hf://org/m@v1", "a", dataOf(t, fileA, "a")},
				{"hf://org/m@refs/pr/3", "a", dataOf(t, fileA, "a")},
				{"hf://org/m@" + cA, "a", dataOf(t, fileA, "a")},
				{"hf://org/m@" + cA + "/sub/x.safetensors", "b", dataOf(t, fileB, "b")},
				{"hf://org/m@sharded", "y", dataOf(t, sharded["model-00002-of-00002.safetensors"], "y")},
				{"hf://org/m@" + cS + "/model.safetensors.index.json", "x", dataOf(t, sharded["model-00001-of-00002.safetensors"], "x")},
				{"hf://datasets/org/d/train.safetensors", "a", dataOf(t, fileA, "a")},
			} {
				m, err := OpenModel(ctx, c.name, &Options{Config: cfg})
				if err != nil {
					t.Errorf("%s: %v", c.name, err)
					continue
				}
				if got := tensorBytes(t, m, c.tensor); !bytes.Equal(got, c.want) {
					t.Errorf("%s: %s = %v, want %v", c.name, c.tensor, got, c.want)
				}
				m.Close()
			}
			f, err := Open(ctx, "hf://org/m@v1", &Options{Config: cfg})
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			// Downloads of what is there, offline or at a commit, need no network.
			off := *cfg
			off.Offline = true
			for _, name := range []string{"hf://org/m@sharded", "hf://org/m@" + cA + "/sub/x.safetensors", "hf://org/m/config.json"} {
				if _, err := Download(ctx, name, &Options{Config: &off}); err != nil {
					t.Errorf("Download(%s) offline: %v", name, err)
				}
			}
			// What is not there needs the network: here unreachable.
			if _, err := OpenModel(ctx, "hf://org/m@v2", &Options{Config: cfg, Retries: -1}); err == nil || errors.Is(err, fs.ErrNotExist) {
				t.Errorf("an uncached revision online, with the Hub unreachable: %v", err)
			}
			if _, err := OpenModel(ctx, "hf://org/m@v1/config.json", &Options{Config: &off}); !errors.Is(err, ErrNotCached) {
				t.Errorf("a file absent from the snapshot, offline: %v", err)
			}
		})
	}
}

// Where symbolic links cannot be made, Download moves a new blob into the
// snapshot, as huggingface_hub does, and the cache still reads.
func TestDownloadWithoutSymlinks(t *testing.T) {
	symlink = func(string, string) error { return &os.LinkError{Op: "symlink", Err: errors.New("not permitted")} }
	t.Cleanup(func() { symlink = os.Symlink })
	f := newFakeHub(t)
	files := shardedFiles(t, 9)
	commit := commitOf("c")
	f.addRepo("org/m", commit, files)
	cfg := f.config("")
	if _, err := Download(context.Background(), "hf://org/m", &Options{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(cfg.CacheDir, "models--org--m")
	for file, b := range files {
		p := filepath.Join(repo, "snapshots", commit, file)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v, %v; want a regular file", file, fi, err)
			continue
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, b) {
			t.Errorf("%s: wrong content", file)
		}
	}
	off := *cfg
	off.Offline = true
	m, err := OpenModel(context.Background(), "hf://org/m", &Options{Config: &off})
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorBytes(t, m, "y"); !bytes.Equal(got, dataOf(t, files["model-00002-of-00002.safetensors"], "y")) {
		t.Error("y differs")
	}
	m.Close()
}

// The lock holds between processes: a helper process takes it, and this
// one waits until the helper lets it go.
func TestLockAcrossProcesses(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" && runtime.GOOS != "windows" && runtime.GOOS != "freebsd" {
		t.Skip("file locks between processes are for unix and windows")
	}
	if p := os.Getenv("HUB_TEST_LOCK_HOLDER"); p != "" {
		unlock, err := lockFile(context.Background(), p)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
		unlock()
		os.Exit(0)
	}
	p := filepath.Join(t.TempDir(), "blob.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "HUB_TEST_LOCK_HOLDER="+p)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, p); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("locking while another process holds the lock: %v", err)
	}
	stdin.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	unlock, err := lockFile(ctx2, p)
	if err != nil {
		t.Fatalf("locking after the other process let go: %v", err)
	}
	unlock()
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper: %v", err)
	}
}
