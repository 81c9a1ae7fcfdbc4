//go:build unix

package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignals builds the program and stops it with SIGINT, then SIGTERM,
// while it copies a tensor from a server that holds back the data: each
// time it exits with code 130, says "interrupted", and leaves no output or
// temporary file.
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	bin := buildProgram(t, dir)
	data := make([]byte, 4<<20)
	file := buildFile(nil, spec{"w", "U8", []int{len(data)}, data})

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		reached := make(chan struct{}, 1)
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rng := r.Header.Get("Range")
			if strings.HasPrefix(rng, "bytes=0-") {
				http.ServeContent(w, r, "m.safetensors", time.Time{}, bytes.NewReader(file))
				return
			}
			// The tensor's bytes: hold them back until the test is done.
			select {
			case reached <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		out := filepath.Join(dir, "out-"+sig.String()+".safetensors")
		cmd := exec.Command(bin, "merge", srv.URL+"/m.safetensors", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-reached:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: the program never asked for the tensor's bytes; stderr %q", sig, stderr.String())
		}
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: the program did not stop", sig)
		}
		close(release)
		srv.Close()
		if code := cmd.ProcessState.ExitCode(); code != 130 || stderr.String() != "safetensors: interrupted\n" {
			t.Errorf("%v: exit code %d, stderr %q; want 130 and one line", sig, code, stderr.String())
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "safetensors" {
				t.Errorf("%v: %s left in the output folder", sig, e.Name())
			}
		}
	}
}

// buildProgram builds the command into dir and returns the binary's path;
// it skips the test under -short, or where there is no go command.
func buildProgram(t *testing.T, dir string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the program with")
	}
	bin := filepath.Join(dir, "safetensors")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
