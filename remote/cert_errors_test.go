package remote_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/safetensors-go/safetensors/remote"
)

// ceTransport fails every request with err and counts the attempts.
type ceTransport struct {
	err   error
	calls atomic.Int64
}

func (t *ceTransport) RoundTrip(*http.Request) (*http.Response, error) {
	t.calls.Add(1)
	return nil, t.err
}

// TestCertificateErrorsAreNotRetried: a certificate the client refuses
// stays refused, so each kind fails at the first attempt, whether it comes
// wrapped in a *tls.CertificateVerificationError (as crypto/tls returns it)
// or bare (as a custom RoundTripper may).
func TestCertificateErrorsAreNotRetried(t *testing.T) {
	cert := &x509.Certificate{}
	bare := []error{
		x509.UnknownAuthorityError{Cert: cert},
		x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired},
		x509.HostnameError{Certificate: cert, Host: "example.test"},
		tls.RecordHeaderError{Msg: "not TLS"},
	}
	var all []error
	for _, e := range bare[:3] {
		all = append(all, e, &tls.CertificateVerificationError{Err: e})
	}
	all = append(all, bare[3])
	for _, e := range all {
		tr := &ceTransport{err: e}
		o := vsOpts(3)
		o.Client = &http.Client{Transport: tr}
		_, err := remote.NewReaderAt(context.Background(), "https://example.test/f", o)
		if !errors.Is(err, e) || strings.Contains(err.Error(), "giving up") || tr.calls.Load() != 1 {
			t.Errorf("%T: %v after %d attempts, want the error after 1", e, err, tr.calls.Load())
		}
	}
	// A transient error is retried: the test above would pass for a
	// reader that never retries anything.
	tr := &ceTransport{err: errors.New("connection reset by peer")}
	o := vsOpts(3)
	o.Client = &http.Client{Transport: tr}
	if _, err := remote.NewReaderAt(context.Background(), "https://example.test/f", o); err == nil || tr.calls.Load() != 4 {
		t.Errorf("a transient error: %v after %d attempts, want 4 (Retries 3)", err, tr.calls.Load())
	}
}
