package safetensors_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/safetensors-go/safetensors"
)

var updateSeeds = flag.Bool("update-fuzz-seeds", false, "rewrite testdata/fuzz/FuzzOpen from the header cases and small real files")

// fuzzSeeds are the inputs FuzzOpen starts from: every header rule case and
// every real file of at most 64 KiB.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for _, c := range headerCases {
		seeds["case-"+strings.NewReplacer("/", "-").Replace(c.name)] = c.file
	}
	matches, _ := filepath.Glob("testdata/real/*/*.safetensors")
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil && len(b) <= 64<<10 {
			seeds["real-"+strings.TrimSuffix(filepath.Base(m), ".safetensors")] = b
		}
	}
	return seeds
}

// TestFuzzSeedCorpus keeps the committed seed corpus in step with the
// cases; run with -update-fuzz-seeds to rewrite it.
func TestFuzzSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzOpen")
	seeds := fuzzSeeds(t)
	if *updateSeeds {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name := range seeds {
		if _, err := os.Stat(filepath.Join(dir, "seed-"+name)); err != nil {
			t.Errorf("seed %s is not committed: run go test -run TestFuzzSeedCorpus -update-fuzz-seeds", name)
		}
	}
}

var sentinels = []error{
	safetensors.ErrHeaderTooSmall, safetensors.ErrHeaderTooLarge, safetensors.ErrInvalidHeaderLength,
	safetensors.ErrInvalidHeader, safetensors.ErrInvalidOffset, safetensors.ErrInvalidTensorInfo,
	safetensors.ErrOverflow, safetensors.ErrMisalignedSlice, safetensors.ErrIncompleteBuffer,
}

func sentinelOf(err error) error {
	var found error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			if found != nil {
				return fmt.Errorf("wraps both %v and %v", found, s)
			}
			found = s
		}
	}
	return found
}

// FuzzOpen: any input gives a File or an error wrapping exactly one
// sentinel, never a panic; the three backends agree on the verdict, and on
// everything a File that opens reports.
func FuzzOpen(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		loaded, err := safetensors.Load(data)
		reader, rerr := safetensors.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			s := sentinelOf(err)
			if s == nil || !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("error %q wraps no single sentinel (%v)", err, s)
			}
			if !errors.Is(rerr, s) {
				t.Fatalf("Load says %v, NewReader says %v", err, rerr)
			}
			return
		}
		if rerr != nil {
			t.Fatalf("Load accepts, NewReader says %v", rerr)
		}
		path := filepath.Join(dir, "f.safetensors")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mapped, err := safetensors.Open(path)
		if err != nil {
			t.Fatalf("Load accepts, Open says %v", err)
		}
		defer mapped.Close()
		want := describe(t, loaded)
		for name, g := range map[string]*safetensors.File{"NewReader": reader, "Open": mapped} {
			if got := describe(t, g); got != want {
				t.Fatalf("%s differs from Load:\n%s\nvs\n%s", name, got, want)
			}
		}
	})
}

// describe renders everything a File reports, tensor bytes included.
func describe(t *testing.T, f *safetensors.File) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "N=%d meta=%v keys=%q\n", f.HeaderSize(), f.Metadata(), f.Keys())
	var total int64
	for name, info := range f.All() {
		tensor, err := f.GetTensor(name)
		if err != nil {
			t.Fatalf("GetTensor(%q): %v", name, err)
		}
		if int64(len(tensor.Data())) != info.Size() || !slices.Equal(tensor.Shape(), nonNil(info.Shape)) {
			t.Fatalf("tensor %q disagrees with its info", name)
		}
		total += info.Size()
		fmt.Fprintf(&sb, "%q %v %v %v %x\n", name, info.DType, info.Shape, info.DataOffsets, tensor.Data())
	}
	if f.DataOffset()+total != f.Size() {
		t.Fatalf("tensors cover %d bytes of a %d-byte data buffer", total, f.Size()-f.DataOffset())
	}
	return sb.String()
}

// FuzzHeaderJSON checks the header scanner against encoding/json: a header
// that we accept must be valid JSON that encoding/json decodes to the same
// names and metadata, and one that encoding/json finds invalid we refuse.
func FuzzHeaderJSON(f *testing.F) {
	for _, c := range headerCases {
		if len(c.file) >= 8 {
			f.Add(string(c.file[8:]))
		}
	}
	f.Fuzz(func(t *testing.T, header string) {
		file := build(header, nil)
		g, err := safetensors.Load(file)
		valid := json.Valid([]byte(header))
		if err == nil && !valid {
			t.Fatalf("accepted invalid JSON %q", header)
		}
		if !valid && !errors.Is(err, safetensors.ErrInvalidHeader) {
			t.Fatalf("invalid JSON %q gave %v, not ErrInvalidHeader", header, err)
		}
		if err != nil {
			return
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(header), &top); err != nil {
			t.Fatalf("accepted %q, which encoding/json cannot decode as an object: %v", header, err)
		}
		var names []string
		for k, v := range top {
			if k == "__metadata__" {
				var meta map[string]string
				if err := json.Unmarshal(v, &meta); err != nil {
					t.Fatalf("metadata %s: %v", v, err)
				}
				if fmt.Sprint(meta) != fmt.Sprint(g.Metadata()) {
					t.Fatalf("metadata %v, encoding/json says %v", g.Metadata(), meta)
				}
				continue
			}
			names = append(names, k)
		}
		slices.Sort(names)
		if !slices.Equal(names, g.Keys()) && !(len(names) == 0 && len(g.Keys()) == 0) {
			t.Fatalf("names %q, encoding/json says %q", g.Keys(), names)
		}
	})
}
