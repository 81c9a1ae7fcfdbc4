package blob_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/safetensors-go/safetensors/blob"
	"gocloud.dev/blob/s3blob"
)

// BenchmarkUpload uploads a 128 MiB object through NewBucketWriter to a
// loopback S3 stand-in that discards the bytes, adding 5 ms to each
// request and reading each body at 100 MB/s (one connection to an object
// store), for part sizes and concurrencies around the defaults. It
// reports alloc-MiB, the bytes allocated per upload.
//
//	go test -run '^$' -bench BenchmarkUpload -benchtime 2x ./blob
func BenchmarkUpload(b *testing.B) {
	const size = 128 << 20
	var ids atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
		start := time.Now()
		var n int64
		buf := make([]byte, 64<<10)
		for {
			k, err := r.Body.Read(buf)
			n += int64(k)
			time.Sleep(time.Until(start.Add(time.Duration(float64(n) / 100e6 * float64(time.Second)))))
			if err != nil {
				break
			}
		}
		q := r.URL.Query()
		key := strings.TrimPrefix(r.URL.Path, "/bench/")
		w.Header().Set("Content-Type", "application/xml")
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			fmt.Fprintf(w, `<InitiateMultipartUploadResult><Bucket>bench</Bucket><Key>%s</Key><UploadId>u%d</UploadId></InitiateMultipartUploadResult>`, key, ids.Add(1))
		case r.Method == http.MethodPost && q.Has("uploadId"):
			fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>bench</Bucket><Key>%s</Key><ETag>"x-1"</ETag></CompleteMultipartUploadResult>`, key)
		case r.Method == http.MethodPut:
			w.Header().Set("ETag", `"x"`)
		default:
			w.WriteHeader(http.StatusNotImplemented)
		}
	}))
	defer srv.Close()
	client := s3.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	bk, err := s3blob.OpenBucket(context.Background(), client, "bench", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	chunk := make([]byte, 4<<20)
	for _, part := range []int{5 << 20, 8 << 20, 16 << 20} {
		for _, conc := range []int{2, 4, 8} {
			b.Run(fmt.Sprintf("part%dMiB_c%d", part>>20, conc), func(b *testing.B) {
				b.SetBytes(size)
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				for b.Loop() {
					w, err := blob.NewBucketWriter(context.Background(), bk, "x.safetensors", &blob.WriteOptions{PartSize: part, Concurrency: conc})
					if err != nil {
						b.Fatal(err)
					}
					for n := 0; n < size; n += len(chunk) {
						if _, err := w.Write(chunk); err != nil {
							b.Fatal(err)
						}
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
				runtime.ReadMemStats(&ms1)
				b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MiB")
			})
		}
	}
}
