package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
	gblob "gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

// uploadServer is gofakes3 on loopback behind a handler that records each
// request ("PUT key?partNumber", ...) and can hang up in the middle of
// the body of chosen requests.
type uploadServer struct {
	*httptest.Server
	client *s3.Client
	mu     sync.Mutex
	log    []string
	// cut, if set, says which requests to cut: the handler reads half the
	// body, then closes the connection without an answer.
	cut  func(r *http.Request) bool
	cuts int
}

func newUploadServer(t testing.TB) *uploadServer {
	s := &uploadServer{}
	inner := gofakes3.New(s3mem.New()).Server()
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		what := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/")
		for _, k := range []string{"uploads", "partNumber", "uploadId"} {
			if q.Has(k) {
				what += " " + k
			}
		}
		s.mu.Lock()
		s.log = append(s.log, what)
		cut := s.cut != nil && s.cut(r)
		if cut {
			s.cuts++
		}
		s.mu.Unlock()
		if cut {
			io.CopyN(io.Discard, r.Body, r.ContentLength/2)
			panic(http.ErrAbortHandler) // the connection is closed mid-body
		}
		inner.ServeHTTP(w, r)
	}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Start()
	t.Cleanup(s.Close)
	s.client = s3.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return s
}

func (s *uploadServer) open(t testing.TB, name string) *gblob.Bucket {
	ctx := context.Background()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	b, err := s3blob.OpenBucket(ctx, s.client, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// requests returns the requests logged since the last call.
func (s *uploadServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	s.log = nil
	return l
}

// multipartUploads lists the multipart uploads of the bucket that were
// begun and neither completed nor aborted.
func (s *uploadServer) multipartUploads(t testing.TB, bucket string) []string {
	out, err := s.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// objects returns every object of the bucket, by key.
func objects(t testing.TB, b *gblob.Bucket) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	it := b.List(nil)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := b.ReadAll(ctx, obj.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[obj.Key] = data
	}
}

func count(reqs []string, substr string) int {
	n := 0
	for _, r := range reqs {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

var smallParts = &blob.WriteOptions{PartSize: 5 << 20, Concurrency: 2}

// TestWriterMultipart: an object larger than the part size is uploaded in
// parts, is invisible until Close, and reads back byte for byte.
func TestWriterMultipart(t *testing.T) {
	s := newUploadServer(t)
	b := s.open(t, "models")
	ctx := context.Background()
	// Larger than the transfer manager's threshold for multipart uploads,
	// 16 MiB.
	data := fileBytes(t, randomTensors(1, 12<<20, 6<<20, 1000))
	w, err := blob.NewBucketWriter(ctx, b, "big.safetensors", smallParts)
	if err != nil {
		t.Fatal(err)
	}
	s.requests()
	for p := data; len(p) > 0; {
		n := min(len(p), 1<<20)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if ok, _ := b.Exists(ctx, "big.safetensors"); ok {
		t.Error("the object is visible before Close")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if count(reqs, "POST models/big.safetensors uploads") != 1 || count(reqs, "partNumber") < 3 || count(reqs, "POST models/big.safetensors uploadId") != 1 {
		t.Errorf("want one multipart upload of 3 parts or more, completed; requests: %q", reqs)
	}
	got := objects(t, b)["big.safetensors"]
	if !bytes.Equal(got, data) {
		t.Errorf("the object read back has %d bytes, differing from the %d written", len(got), len(data))
	}
	f, err := blob.OpenBucketFile(ctx, b, "big.safetensors", nil)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 3 {
		t.Errorf("%d tensors", f.Len())
	}
}

// TestWriterAbort: an upload abandoned after some parts (Abort, or its
// context canceled) leaves no object and no multipart upload.
func TestWriterAbort(t *testing.T) {
	s := newUploadServer(t)
	b := s.open(t, "models")
	data := bytes.Repeat([]byte("safetensors!"), 2<<20) // 24 MiB: past the multipart threshold
	for _, how := range []string{"Abort", "cancel"} {
		ctx, cancel := context.WithCancel(context.Background())
		w, err := blob.NewBucketWriter(ctx, b, "x-"+how, smallParts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if how == "Abort" {
			w.Abort()
		} else {
			cancel()
			if err := w.Close(); err == nil {
				t.Error("Close after the context was canceled succeeded")
			}
		}
		cancel()
		reqs := s.requests()
		if count(reqs, "uploads") == 0 || count(reqs, "partNumber") == 0 {
			t.Errorf("%s: no part was uploaded before: %q", how, reqs)
		}
		if ok, _ := b.Exists(context.Background(), "x-"+how); ok {
			t.Errorf("%s: the object exists", how)
		}
		if ups := s.multipartUploads(t, "models"); len(ups) != 0 {
			t.Errorf("%s: multipart uploads left: %q; requests %q", how, ups, reqs)
		}
	}
}

// TestSaveShardedToS3 saves a sharded set under a prefix, reads it back,
// replaces it with a set of other tensors under the same names (which go
// through hidden names), and with a single file: each time the prefix
// holds exactly the new set, and other keys stay.
func TestSaveShardedToS3(t *testing.T) {
	s := newUploadServer(t)
	b := s.open(t, "models")
	ctx := context.Background()
	put(t, b, "org/other.txt", []byte("keep me"))
	dst := blob.NewDestination(b, "org/x/", smallParts)
	for round, maxShard := range []int64{1500, 1500, 1 << 30} {
		tensors := randomTensors(uint64(10+round), 1000, 600, 700, 20)
		plan, err := safetensors.SaveShardedTo(ctx, dst, tensors, safetensors.ShardOptions{MaxShardSize: maxShard})
		if err != nil {
			t.Fatal(err)
		}
		m, err := blob.OpenBucketModel(ctx, b, "org/x/", nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.ReadAll(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkTensors(t, got, tensors)
		m.Close()
		var want []string
		for _, f := range plan.Files {
			want = append(want, "org/x/"+f.Name)
		}
		if plan.Sharded() {
			want = append(want, "org/x/"+plan.IndexName)
		}
		want = append(want, "org/other.txt")
		var keys []string
		for k := range objects(t, b) {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sort.Strings(want)
		if !slices.Equal(keys, want) {
			t.Errorf("round %d: objects %q, want %q", round, keys, want)
		}
	}
}

// TestCutUpload: the server closes the connection in the middle of a part
// of the second shard of a new set, whose names are those of the set
// already under the prefix. The save fails; afterwards there is no new
// object, no multipart upload, and the previous set is byte for byte
// what it was.
func TestCutUpload(t *testing.T) {
	s := newUploadServer(t)
	b := s.open(t, "models")
	ctx := context.Background()
	// Two shards of 17 MiB, past the multipart threshold, and an index.
	old := randomTensors(20, 17<<20, 17<<20, 100)
	if _, err := blob.SaveSharded(ctx, "", nil, safetensors.ShardOptions{}, nil); err == nil {
		t.Error("SaveSharded to an empty URL succeeded")
	}
	if _, err := safetensors.SaveShardedTo(ctx, blob.NewDestination(b, "m/", smallParts), old, safetensors.ShardOptions{MaxShardSize: 18 << 20}); err != nil {
		t.Fatal(err)
	}
	before := objects(t, b)
	if len(before) != 3 {
		t.Fatalf("the previous set has %d objects", len(before))
	}
	s.mu.Lock()
	s.cut = func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "-00002-of-") && r.URL.Query().Get("partNumber") == "2"
	}
	s.mu.Unlock()
	s.requests()
	_, err := safetensors.SaveShardedTo(ctx, blob.NewDestination(b, "m/", smallParts), randomTensors(21, 17<<20, 17<<20, 100), safetensors.ShardOptions{MaxShardSize: 18 << 20})
	if err == nil {
		t.Fatal("the save succeeded despite the cut")
	}
	s.mu.Lock()
	cuts := s.cuts
	s.mu.Unlock()
	if cuts == 0 {
		t.Fatalf("no request was cut: %q", s.requests())
	}
	after := objects(t, b)
	if len(after) != len(before) {
		var keys []string
		for k := range after {
			keys = append(keys, k)
		}
		t.Errorf("objects after the failed save: %q", keys)
	}
	for k, v := range before {
		if !bytes.Equal(after[k], v) {
			t.Errorf("%s changed", k)
		}
	}
	if ups := s.multipartUploads(t, "models"); len(ups) != 0 {
		t.Errorf("multipart uploads left: %q", ups)
	}
	m, err := blob.OpenBucketModel(ctx, b, "m/", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.ReadAll(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTensors(t, got, old)
	m.Close()
}
