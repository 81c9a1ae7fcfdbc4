package safetensors_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedReal is the team's corpus of real files, beside the repository in
// CI; tests that use it skip when it is absent.
const sharedReal = "../shared/testdata/real"

// expectedFile is one entry of testdata/real_expected.json, written by
// scripts/expected_real.py from its own reading of the bytes.
type expectedFile struct {
	Error      string            `json:"error"`
	HeaderSize int64             `json:"header_size"`
	Metadata   map[string]string `json:"metadata"`
	Order      []string          `json:"order"`
	FileSHA256 string            `json:"file_sha256"`
	Tensors    map[string]struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
		SHA256      string   `json:"sha256"`
	} `json:"tensors"`
}

// referenceErrors maps the reference implementation's error names to ours.
var referenceErrors = map[string]error{
	"HeaderTooSmall":           safetensors.ErrHeaderTooSmall,
	"HeaderTooLarge":           safetensors.ErrHeaderTooLarge,
	"InvalidHeaderLength":      safetensors.ErrInvalidHeaderLength,
	"InvalidHeader":            safetensors.ErrInvalidHeader,
	"InvalidOffset":            safetensors.ErrInvalidOffset,
	"TensorInvalidInfo":        safetensors.ErrInvalidTensorInfo,
	"MetadataIncompleteBuffer": safetensors.ErrIncompleteBuffer,
}

func loadExpected(t *testing.T) map[string]expectedFile {
	t.Helper()
	b, err := os.ReadFile("testdata/real_expected.json")
	require.NoError(t, err)
	var exp map[string]expectedFile
	require.NoError(t, json.Unmarshal(b, &exp))
	return exp
}

// realFiles returns every real .safetensors file available: the copies in
// testdata/real, then those of the shared corpus that are not copied here.
// Keys are paths relative to the corpus root ("torch/x.safetensors").
func realFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, root := range []string{sharedReal, "testdata/real"} {
		matches, _ := filepath.Glob(filepath.Join(root, "*", "*.safetensors"))
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			files[filepath.ToSlash(rel)] = m
		}
	}
	return files
}

// backends opens the same bytes through the three ways of making a File.
func backends(t *testing.T, path string) map[string]func() (*safetensors.File, error) {
	return map[string]func() (*safetensors.File, error){
		"Open": func() (*safetensors.File, error) { return safetensors.Open(path) },
		"NewReader": func() (*safetensors.File, error) {
			osf, err := os.Open(path)
			require.NoError(t, err)
			t.Cleanup(func() { osf.Close() })
			st, err := osf.Stat()
			require.NoError(t, err)
			return safetensors.NewReader(osf, st.Size())
		},
		"Load": func() (*safetensors.File, error) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			return safetensors.Load(b)
		},
	}
}

func TestRealFiles(t *testing.T) {
	exp := loadExpected(t)
	files := realFiles(t)
	if _, err := os.Stat(sharedReal); err != nil {
		t.Logf("%s is absent: testing the %d copies in testdata/real only", sharedReal, len(files))
	}
	require.NotEmpty(t, files)
	for rel, path := range files {
		want, ok := exp[rel]
		require.True(t, ok, "%s has no expectations: run scripts/expected_real.py", rel)
		t.Run(rel, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			if want.FileSHA256 != "" {
				sum := sha256.Sum256(raw)
				require.Equal(t, want.FileSHA256, hex.EncodeToString(sum[:]), "file differs from the one the expectations were made from")
			}
			for name, open := range backends(t, path) {
				t.Run(name, func(t *testing.T) {
					f, err := open()
					if want.Error != "" {
						require.Error(t, err)
						assert.ErrorIs(t, err, referenceErrors[want.Error])
						return
					}
					require.NoError(t, err)
					defer f.Close()
					checkAgainstExpected(t, f, want)
				})
			}
		})
	}
}

func checkAgainstExpected(t *testing.T, f *safetensors.File, want expectedFile) {
	t.Helper()
	assert.Equal(t, want.HeaderSize, f.HeaderSize())
	assert.Equal(t, want.Metadata, f.Metadata())
	if want.Metadata == nil {
		assert.Nil(t, f.Metadata())
	}
	var names []string
	for name := range want.Tensors {
		names = append(names, name)
	}
	slices.Sort(names)
	if names == nil {
		names = []string{}
	}
	assert.Equal(t, names, f.Keys())
	order := []string{}
	for name, info := range f.All() {
		order = append(order, name)
		assert.Equal(t, name, info.Name)
	}
	assert.Equal(t, want.Order, order, "All() must follow the buffer order")
	for name, wt := range want.Tensors {
		info, err := f.Info(name)
		require.NoError(t, err)
		assert.Equal(t, wt.DType, info.DType.String(), name)
		assert.Equal(t, wt.Shape, []int(nonNil(info.Shape)), name)
		assert.Equal(t, wt.DataOffsets, info.DataOffsets, name)
		tensor, err := f.GetTensor(name)
		require.NoError(t, err)
		sum := sha256.Sum256(tensor.Data())
		assert.Equal(t, wt.SHA256, hex.EncodeToString(sum[:]), name)
		assert.Equal(t, wt.DType, tensor.DType().String())
		assert.Equal(t, wt.Shape, tensor.Shape())
	}
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// TestRealFilesCopied checks that every file named in testdata/README.md is
// present, so that a clean clone tests them even without the shared corpus.
func TestRealFilesCopied(t *testing.T) {
	readme, err := os.ReadFile("testdata/README.md")
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(string(readme), "\n") {
		if !strings.HasPrefix(line, "| `real/") {
			continue
		}
		rel := strings.TrimPrefix(strings.SplitN(line, "`", 3)[1], "real/")
		_, err := os.Stat(filepath.Join("testdata/real", rel))
		assert.NoError(t, err, rel)
		n++
	}
	assert.Greater(t, n, 40)
}

func TestOpenErrorsArePathErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.safetensors")
	require.NoError(t, os.WriteFile(path, []byte{1, 2, 3}, 0o644))
	_, err := safetensors.Open(path)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, path, pe.Path)
	assert.ErrorIs(t, err, safetensors.ErrHeaderTooSmall)

	_, err = safetensors.Open(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, fs.ErrNotExist)

	_, err = safetensors.Open(t.TempDir())
	assert.Error(t, err, "a directory is not a safetensors file")
}

func TestZeroLengthFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.safetensors")
	require.NoError(t, os.WriteFile(path, nil, 0o644))
	for name, open := range backends(t, path) {
		_, err := open()
		assert.ErrorIs(t, err, safetensors.ErrHeaderTooSmall, name)
	}
}

// build assembles a file from a header text and data, by hand.
func build(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	n := uint64(len(header))
	for i := range 8 {
		b[i] = byte(n >> (8 * i))
	}
	b = append(b, header...)
	return append(b, data...)
}

func TestClosed(t *testing.T) {
	file := build(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{7, 9})
	path := filepath.Join(t.TempDir(), "a.safetensors")
	require.NoError(t, os.WriteFile(path, file, 0o644))
	for name, open := range backends(t, path) {
		t.Run(name, func(t *testing.T) {
			f, err := open()
			require.NoError(t, err)
			tensor, err := f.GetTensor("a")
			require.NoError(t, err)
			assert.Equal(t, []byte{7, 9}, tensor.Data())
			require.NoError(t, f.Close())
			require.NoError(t, f.Close(), "Close is idempotent")
			_, err = f.GetTensor("a")
			assert.ErrorIs(t, err, safetensors.ErrClosed)
			_, err = f.ReadInto("a", make([]byte, 2))
			assert.ErrorIs(t, err, safetensors.ErrClosed)
			_, err = f.TensorReader("a")
			assert.ErrorIs(t, err, safetensors.ErrClosed)
			// The header stays readable: it was copied out at open.
			assert.Equal(t, []string{"a"}, f.Keys())
		})
	}
}

func TestTensorNotFound(t *testing.T) {
	f, err := safetensors.Load(build(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}`, []byte{1}))
	require.NoError(t, err)
	_, err = f.GetTensor("b")
	assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)
	assert.Contains(t, err.Error(), `"b"`)
	_, err = f.Info("b")
	assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)
	_, err = f.ReadInto("b", nil)
	assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)
	_, err = f.TensorReader("b")
	assert.ErrorIs(t, err, safetensors.ErrTensorNotFound)
}

func TestReadIntoAndTensorReader(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	file := build(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"I16","shape":[3],"data_offsets":[4,10]}}`, data)
	for name, open := range backends(t, writeTemp(t, file)) {
		t.Run(name, func(t *testing.T) {
			f, err := open()
			require.NoError(t, err)
			defer f.Close()
			dst := make([]byte, 8)
			tensor, err := f.ReadInto("b", dst)
			require.NoError(t, err)
			assert.Equal(t, data[4:], tensor.Data())
			assert.Equal(t, &dst[0], &tensor.Data()[0], "ReadInto must fill the caller's buffer")
			_, err = f.ReadInto("b", make([]byte, 5))
			assert.Error(t, err, "a destination smaller than the tensor")

			r, err := f.TensorReader("a")
			require.NoError(t, err)
			var buf bytes.Buffer
			_, err = buf.ReadFrom(r)
			require.NoError(t, err)
			assert.Equal(t, data[:4], buf.Bytes())
		})
	}
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "t.safetensors")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// TestConcurrentReads reads every tensor of a real file from many
// goroutines through each backend, with Close racing at the end; run it
// with -race.
func TestConcurrentReads(t *testing.T) {
	path := "testdata/real/torch/burn_mnist.safetensors"
	want := map[string][]byte{}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	ref, err := safetensors.Load(raw)
	require.NoError(t, err)
	for _, name := range ref.Keys() {
		tensor, _ := ref.GetTensor(name)
		want[name] = bytes.Clone(tensor.Data())
	}
	for name, open := range backends(t, path) {
		t.Run(name, func(t *testing.T) {
			f, err := open()
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i, k := range f.Keys() {
						if (i+g)%3 == 0 {
							tensor, err := f.GetTensor(k)
							if err != nil {
								errs <- err
								return
							}
							if !bytes.Equal(tensor.Data(), want[k]) {
								errs <- fmt.Errorf("%s: wrong bytes", k)
								return
							}
						} else {
							buf := make([]byte, len(want[k]))
							if _, err := f.ReadInto(k, buf); err != nil {
								errs <- err
								return
							}
							if !bytes.Equal(buf, want[k]) {
								errs <- fmt.Errorf("%s: wrong bytes", k)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Close racing with readers: each read either succeeds with the
			// right bytes or reports ErrClosed.
			var wg2 sync.WaitGroup
			for range 4 {
				wg2.Add(1)
				go func() {
					defer wg2.Done()
					for _, k := range f.Keys() {
						buf := make([]byte, len(want[k]))
						_, err := f.ReadInto(k, buf)
						if err != nil && !errors.Is(err, safetensors.ErrClosed) {
							t.Error(err)
						}
						if err == nil && !bytes.Equal(buf, want[k]) {
							t.Errorf("%s: wrong bytes", k)
						}
					}
				}()
			}
			require.NoError(t, f.Close())
			wg2.Wait()
		})
	}
}

// TestMappedSlicePaths checks both ways a mapped File copies a selection,
// pread for long runs and the mapping for short ones, against Load.
func TestMappedSlicePaths(t *testing.T) {
	data := make([]byte, 64*1024*4)
	for i := range data {
		data[i] = byte(i*31 + i>>8)
	}
	file := build(`{"w":{"dtype":"F32","shape":[64,1024],"data_offsets":[0,262144]}}      `, data)
	mapped, err := safetensors.Open(writeTemp(t, file))
	require.NoError(t, err)
	defer mapped.Close()
	loaded, err := safetensors.Load(file)
	require.NoError(t, err)
	for _, expr := range []string{"10:30", "10:30, :", "::-1", ":, 3:9", "::2, ::3", "5", "..., -1", "40:10:-3, 100:"} {
		idx, err := safetensors.ParseIndex(expr)
		require.NoError(t, err)
		var got [2][]byte
		for i, f := range []*safetensors.File{mapped, loaded} {
			s, err := f.GetSlice("w")
			require.NoError(t, err)
			tensor, err := s.Get(idx...)
			require.NoError(t, err, expr)
			got[i] = tensor.Data()
		}
		assert.Equal(t, got[1], got[0], expr)
	}
}

// TestSoak runs 16 goroutines of random GetTensor, GetSlice+Get and
// ReadInto calls on one File per backend for a bounded time, checking
// every result against the bytes read independently. Run it with -race.
func TestSoak(t *testing.T) {
	duration := 2 * time.Second
	if testing.Short() {
		duration = 200 * time.Millisecond
	}
	path := "testdata/real/numpy/tattletale_testgen_12dtypes.safetensors"
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	ref, err := safetensors.Load(bytes.Clone(raw))
	require.NoError(t, err)
	infos := ref.Infos()
	for name, open := range backends(t, path) {
		t.Run(name, func(t *testing.T) {
			f, err := open()
			require.NoError(t, err)
			defer f.Close()
			deadline := time.Now().Add(duration)
			var wg sync.WaitGroup
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), 1))
					for i := 0; time.Now().Before(deadline); i++ {
						info := infos[rng.IntN(len(infos))]
						start := f.DataOffset() + info.DataOffsets[0]
						want := raw[start : start+info.Size()]
						switch i % 3 {
						case 0:
							tensor, err := f.GetTensor(info.Name)
							if err != nil || !bytes.Equal(tensor.Data(), want) {
								t.Errorf("GetTensor(%q): %v", info.Name, err)
								return
							}
						case 1:
							dst := make([]byte, info.Size())
							if _, err := f.ReadInto(info.Name, dst); err != nil || !bytes.Equal(dst, want) {
								t.Errorf("ReadInto(%q): %v", info.Name, err)
								return
							}
						case 2:
							if len(info.Shape) == 0 || info.Shape[0] == 0 {
								continue
							}
							// The first k rows: the first k*rowBytes bytes.
							k := 1 + rng.IntN(info.Shape[0])
							s, err := f.GetSlice(info.Name)
							if err != nil {
								t.Error(err)
								return
							}
							got, err := s.Get(safetensors.Range(0, k))
							rowBytes := int(info.Size()) / info.Shape[0]
							if err != nil || !bytes.Equal(got.Data(), want[:k*rowBytes]) {
								t.Errorf("GetSlice(%q).Get(0:%d): %v", info.Name, k, err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
