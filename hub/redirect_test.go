package hub

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
)

// namedHosts returns a client that reaches the fake Hub as http://hub.test
// and its storage host as http://cdn.hub.test, a subdomain: Go's client
// forwards Authorization along a redirect to a subdomain, so only the hub
// package's own rule keeps the token from the storage host there.
func namedHosts(f *fakeHub) *http.Client {
	hubAddr := strings.TrimPrefix(f.hub.URL, "http://")
	storAddr := strings.TrimPrefix(f.storage.URL, "http://")
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		switch addr {
		case "hub.test:80":
			addr = hubAddr
		case "cdn.hub.test:80":
			addr = storAddr
		}
		return d.DialContext(ctx, network, addr)
	}}}
}

func TestTokenNeverFollowsARedirectToASubdomain(t *testing.T) {
	f := newFakeHub(t)
	f.storURL = "http://cdn.hub.test"
	f.redirectGET = true
	file := makeFile(t, 4, 2000)
	files := shardedFiles(t, 20)
	files["single/model.safetensors"] = file
	r := f.addRepo("org/m", commitOf("c"), files)
	r.private = true
	r.lfs = func(string) bool { return false } // the Hub answers HEAD itself, and redirects GET
	client := namedHosts(f)

	// The control: Go's client alone forwards the token to the subdomain.
	req, _ := http.NewRequest(http.MethodGet, "http://hub.test/org/m/resolve/main/single/model.safetensors", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st := f.requests("storage"); len(st) != 1 || st[0].auth == "" {
		t.Fatalf("the control did not reach the storage host with the token: %+v", st)
	}
	f.reset()

	cfg := &Config{Endpoint: "http://hub.test", CacheDir: t.TempDir(), Token: testToken}
	opts := &Options{Config: cfg, Client: client}
	ctx := context.Background()
	m, err := OpenModel(ctx, "hf://org/m/single/model.safetensors", opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorBytes(t, m, "b"); !bytes.Equal(got, dataOf(t, file, "b")) {
		t.Error("b differs")
	}
	m.Close()
	m, err = OpenModel(ctx, "hf://org/m", opts) // an index fetched with GET, then shards
	if err != nil {
		t.Fatal(err)
	}
	if got := tensorBytes(t, m, "y"); !bytes.Equal(got, dataOf(t, files["model-00002-of-00002.safetensors"], "y")) {
		t.Error("y differs")
	}
	m.Close()
	if _, err := Download(ctx, "hf://org/m", opts); err != nil {
		t.Fatal(err)
	}
	if len(f.requests("storage")) == 0 {
		t.Fatal("nothing reached the storage host: the test proves nothing")
	}
	f.checkTokens(t, testToken)
}
