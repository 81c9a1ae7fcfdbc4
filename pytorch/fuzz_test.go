package pytorch

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/safetensors-go/safetensors"
)

var sentinels = []error{ErrNotCheckpoint, ErrForbiddenGlobal, ErrCorrupt, ErrTruncated, ErrMissingStorage,
	ErrByteOrder, ErrUnsupportedDType, ErrUnsupported, ErrVerify, ErrTooLarge}

func wrapsSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzNewReader opens arbitrary bytes as a checkpoint and reads every
// tensor: no panic, no hang, and every error wraps one of the sentinels.
func FuzzNewReader(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.pt")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !wrapsSentinel(err) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		for _, info := range c.Tensors() {
			tensor, err := c.ReadTensor(info.Name)
			if err != nil {
				if !wrapsSentinel(err) {
					t.Fatalf("%s: error wraps no sentinel: %v", info.Name, err)
				}
				continue
			}
			if int64(len(tensor.Data())) != info.Size || info.Size > c.maxTensor {
				t.Fatalf("%s: %d bytes, info %+v", info.Name, len(tensor.Data()), info)
			}
		}
	})
}

// FuzzUnpickle runs arbitrary bytes through the unpickler: no panic, and
// every error is one of the unpickler's kinds.
func FuzzUnpickle(f *testing.F) {
	for _, p := range protocolPickles {
		f.Add([]byte(p))
	}
	f.Add([]byte("\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00aK\x01u}b."))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := unpickle(b)
		if err != nil && !errors.Is(err, errPickleEOF) && !wrapsSentinel(err) && !errors.Is(err, safetensors.ErrTensorNotFound) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
