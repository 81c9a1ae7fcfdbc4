//go:build unix

package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// TestCpInterrupted builds the program and interrupts a cp into S3
// (gofakes3) while parts of a multipart upload are in flight,
// replacing a model already under the prefix: the program exits with code
// 130, the previous model is intact, and no multipart upload is left.
func TestCpInterrupted(t *testing.T) {
	dir := t.TempDir()
	bin := buildProgram(t, dir)
	// Larger than what the upload can take in while its parts are held
	// (16 MiB, then 5 parts of 8 MiB), so that it cannot complete.
	data := make([]byte, 96<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	src := writeFile(t, dir, "src.safetensors", buildFile(nil, spec{"w", "U8", []int{len(data)}, data}))
	old := buildFile(map[string]string{"format": "pt"}, spec{"old", "F32", []int{2}, f32(1, 2)})

	backend := s3mem.New()
	if err := backend.CreateBucket("models"); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.PutObject("models", "x/model.safetensors", map[string]string{}, bytes.NewReader(old), int64(len(old)), nil); err != nil {
		t.Fatal(err)
	}
	inner := gofakes3.New(backend).Server()
	reached := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pn := r.URL.Query().Get("partNumber"); r.Method == http.MethodPut && pn != "" && pn != "1" {
			select {
			case reached <- struct{}{}:
			default:
			}
			<-release // the parts in flight end once the program is interrupted
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()

	cmd := exec.Command(bin, "cp", "--force", src, "s3://models/x/?region=us-east-1&use_path_style=true&endpoint="+url.QueryEscape(srv.URL))
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=SECRETTEST",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the program never sent a second part; stderr %q", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond) // the interruption lands while the part is in flight
	close(release)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the program did not stop")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d, want 130; stderr %q", code, stderr.String())
	}
	obj, err := backend.GetObject("models", "x/model.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if !bytes.Equal(got, old) {
		t.Errorf("the previous model changed: %d bytes", len(got))
	}
	list, err := backend.ListBucket("models", nil, gofakes3.ListBucketPage{})
	if err != nil || len(list.Contents) != 1 {
		t.Errorf("objects after the interruption: %+v %v", list, err)
	}
	resp, err := http.Get(srv.URL + "/models?uploads")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "<Upload>") {
		t.Errorf("multipart uploads left: %s", body)
	}
	if !strings.Contains(string(body), "ListMultipartUploadsResult") {
		t.Errorf("listing the multipart uploads: %s", body)
	}
}
