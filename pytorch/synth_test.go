package pytorch

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/safetensors-go/safetensors"
)

// synthTensor is a tensor for synthetic checkpoints: float32 unless
// storage names another storage class.
type synthTensor struct {
	name          string
	shape, stride []int32
	numel         int // of its storage
	offset        int32
	storage       string // "FloatStorage" when empty
	esize         int    // element size of storage, 4 when 0
	key           string // storage key; the tensor's index when empty
}

func ft(name string, shape, stride []int32, numel int) synthTensor {
	return synthTensor{name: name, shape: shape, stride: stride, numel: numel}
}

// synthCheckpoint writes a zip checkpoint as torch.save would (protocol 2
// pickle, stored records), with storages of deterministic bytes.
func synthCheckpoint(tensors []synthTensor) []byte { return synthCheckpointOrder(tensors, "") }

// synthCheckpointOrder adds a byteorder record unless byteorder is "".
func synthCheckpointOrder(tensors []synthTensor, byteorder string) []byte {
	var p bytes.Buffer
	str := func(s string) {
		p.WriteByte('X')
		binary.Write(&p, binary.LittleEndian, uint32(len(s)))
		p.WriteString(s)
	}
	num := func(v int32) { p.WriteByte('J'); binary.Write(&p, binary.LittleEndian, v) }
	tuple := func(v []int32) {
		p.WriteByte('(')
		for _, x := range v {
			num(x)
		}
		p.WriteByte('t')
	}
	p.WriteString("\x80\x02ccollections\nOrderedDict\n)R(")
	for i, t := range tensors {
		str(t.name)
		p.WriteString("ctorch._utils\n_rebuild_tensor_v2\n((")
		str("storage")
		storage := t.storage
		if storage == "" {
			storage = "FloatStorage"
		}
		p.WriteString("ctorch\n" + storage + "\n")
		key := t.key
		if key == "" {
			key = strconv.Itoa(i)
		}
		str(key)
		str("cpu")
		num(int32(t.numel))
		p.WriteString("tQ")
		num(t.offset)
		tuple(t.shape)
		tuple(t.stride)
		p.WriteString("\x89ccollections\nOrderedDict\n)RtR")
	}
	p.WriteString("u.")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: zip.Store})
		w.Write(data)
	}
	add("data.pkl", p.Bytes())
	if byteorder != "" {
		add("byteorder", []byte(byteorder))
	}
	written := map[string]bool{}
	for i, t := range tensors {
		key := t.key
		if key == "" {
			key = strconv.Itoa(i)
		}
		if written[key] {
			continue
		}
		written[key] = true
		es := t.esize
		if es == 0 {
			es = 4
		}
		data := make([]byte, es*t.numel)
		for j := range data {
			data[j] = byte(j*7 + i)
		}
		add("data/"+key, data)
	}
	add("version", []byte("3\n"))
	zw.Close()
	return buf.Bytes()
}

// benchCheckpoint writes a 64 MiB checkpoint of 64 contiguous 1024x256
// tensors into b's temporary directory.
func benchCheckpoint(b *testing.B) string {
	var ts []synthTensor
	for i := 0; i < 64; i++ {
		ts = append(ts, synthTensor{name: "layer." + strconv.Itoa(i), shape: []int32{1024, 256}, stride: []int32{256, 1}, numel: 1 << 18})
	}
	path := filepath.Join(b.TempDir(), "model.bin")
	if err := os.WriteFile(path, synthCheckpoint(ts), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

func TestSynthCheckpoint(t *testing.T) {
	b := synthCheckpoint([]synthTensor{
		ft("a", []int32{2, 3}, []int32{3, 1}, 6),
		ft("t", []int32{3, 2}, []int32{1, 3}, 6),
	})
	c, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := c.ReadTensor("a")
	tr, _ := c.ReadTensor("t")
	// t is the transpose of storage 1 (bytes j*7+1): element (i, j) is
	// storage element j*3+i.
	for i := 0; i < 3; i++ {
		for j := 0; j < 2; j++ {
			k := j*3 + i
			want := []byte{byte(4*k*7 + 1), byte((4*k+1)*7 + 1), byte((4*k+2)*7 + 1), byte((4*k+3)*7 + 1)}
			if got := tr.Data()[4*(i*2+j) : 4*(i*2+j)+4]; !bytes.Equal(got, want) {
				t.Errorf("t[%d,%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	if len(a.Data()) != 24 || a.Data()[5] != 5*7 {
		t.Errorf("a = %v", a.Data())
	}
}

// TestConcurrentReads reads every tensor from many goroutines at once.
func TestConcurrentReads(t *testing.T) {
	c, err := Open("testdata/state_dict.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string][]byte{}
	for _, info := range c.Tensors() {
		tensor, err := c.ReadTensor(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		want[info.Name] = tensor.Data()
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name, w := range want {
				tensor, err := c.ReadTensor(name)
				if err != nil || !bytes.Equal(tensor.Data(), w) {
					t.Errorf("%s: %v", name, err)
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkConvert converts a 64 MiB checkpoint (without and with
// verification); BenchmarkCopyFile copies the same file, the baseline.
func BenchmarkConvert(b *testing.B) {
	src := benchCheckpoint(b)
	dst := filepath.Join(b.TempDir(), "out.safetensors")
	for _, verify := range []bool{false, true} {
		name := "noverify"
		if verify {
			name = "verify"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(64 << 20)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := (Options{SkipVerify: !verify}).Convert(context.Background(), src, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCopyFile copies the checkpoint to a new file and syncs it:
// "buffered" through a 1 MiB buffer in user space (what any converter must
// at least do), "kernel" with io.Copy, which Linux turns into
// copy_file_range (no bytes enter the process at all).
func BenchmarkCopyFile(b *testing.B) {
	src := benchCheckpoint(b)
	dst := filepath.Join(b.TempDir(), "copy.bin")
	for _, mode := range []string{"buffered", "kernel"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(64 << 20)
			b.ReportAllocs()
			buf := make([]byte, 1<<20)
			for b.Loop() {
				in, _ := os.Open(src)
				out, _ := os.Create(dst)
				var err error
				if mode == "buffered" {
					_, err = io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, buf)
				} else {
					_, err = io.Copy(out, in)
				}
				if err != nil {
					b.Fatal(err)
				}
				out.Sync()
				out.Close()
				in.Close()
			}
		})
	}
}

// BenchmarkWriteTensor reads a 4 MiB tensor, contiguous and transposed.
func BenchmarkWriteTensor(b *testing.B) {
	data := synthCheckpoint([]synthTensor{
		ft("c", []int32{1024, 1024}, []int32{1024, 1}, 1<<20),
		ft("t", []int32{1024, 1024}, []int32{1, 1024}, 1<<20),
	})
	c, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"c", "t"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(4 << 20)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.WriteTensor(io.Discard, name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTensorNamedStateDict: only a dict under "state_dict" is unwrapped.
func TestTensorNamedStateDict(t *testing.T) {
	b := synthCheckpoint([]synthTensor{ft("state_dict", []int32{2}, []int32{1}, 2), ft("w", []int32{1}, []int32{1}, 1)})
	c, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Unwrapped() || len(c.Tensors()) != 2 || c.Tensors()[0].Name != "state_dict" {
		t.Errorf("unwrapped %v, tensors %+v", c.Unwrapped(), c.Tensors())
	}
}

// TestGatherRandomViews checks the gather against the definition of a
// strided view, on random shapes, strides (permuted, stepped, expanded,
// overlapping, with size-1 dimensions of any stride) and offsets, for
// element sizes 1 to 8, in both byte orders.
func TestGatherRandomViews(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	rereading := 0 // views that read some storage element more than once
	types := []struct {
		storage  string
		es, unit int
	}{{"ByteStorage", 1, 1}, {"HalfStorage", 2, 2}, {"FloatStorage", 4, 4}, {"DoubleStorage", 8, 8}, {"ComplexFloatStorage", 8, 4}}
	for iter := 0; iter < 400; iter++ {
		ty := types[r.Intn(len(types))]
		rank := r.Intn(5)
		shape := make([]int32, rank)
		for i := range shape {
			shape[i] = int32(r.Intn(5) + 1)
			if r.Intn(12) == 0 {
				shape[i] = 0
			}
		}
		// Strides: a random permutation of a packed layout, sometimes
		// stepped, with size-1 dimensions given any stride.
		perm := r.Perm(rank)
		stride := make([]int32, rank)
		acc := int32(1)
		for _, d := range perm {
			step := int32(1 + r.Intn(2))
			stride[d] = acc * step
			acc *= max(shape[d], 1) * step
		}
		for i := range shape {
			if shape[i] == 1 && r.Intn(2) == 0 {
				stride[i] = int32(r.Intn(50))
			}
			// Expanded dimensions (stride 0) and overlapping windows
			// (as_strided) read storage elements more than once.
			switch r.Intn(8) {
			case 0:
				stride[i] = 0
			case 1:
				stride[i] = int32(r.Intn(3))
			}
		}
		offset := int32(r.Intn(4))
		maxIdx := offset
		for i := range shape {
			if shape[i] > 0 {
				maxIdx += (shape[i] - 1) * stride[i]
			}
		}
		numel := int(maxIdx) + 1 + r.Intn(3)
		st := synthTensor{name: "x", shape: shape, stride: stride, numel: numel, offset: offset, storage: ty.storage, esize: ty.es}
		total := 1
		for _, d := range shape {
			total *= int(d)
		}
		if total > int(maxIdx-offset)+1 {
			rereading++
		}
		for _, order := range []string{"", "big"} {
			b := synthCheckpointOrder([]synthTensor{st}, order)
			c, err := NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatalf("%+v: %v", st, err)
			}
			got, err := c.ReadTensor("x")
			if err != nil {
				t.Fatalf("%+v: %v", st, err)
			}
			// The definition: element (i0, i1, ...) is storage element
			// offset + sum(ik * stride[k]); storage byte j is byte(j*7).
			var want []byte
			idx := make([]int32, rank)
			total := 1
			for _, d := range shape {
				total *= int(d)
			}
			for n := 0; n < total; n++ {
				pos := int(offset)
				for k := range idx {
					pos += int(idx[k] * stride[k])
				}
				elem := make([]byte, ty.es)
				for j := range elem {
					elem[j] = byte((pos*ty.es + j) * 7)
				}
				if order == "big" {
					for u := 0; u < ty.es; u += ty.unit {
						slices.Reverse(elem[u : u+ty.unit])
					}
				}
				want = append(want, elem...)
				for k := rank - 1; k >= 0; k-- {
					idx[k]++
					if idx[k] < shape[k] {
						break
					}
					idx[k] = 0
				}
			}
			if !bytes.Equal(got.Data(), want) {
				t.Fatalf("%s %+v (byteorder %q):\n got %v\nwant %v", ty.storage, st, order, got.Data(), want)
			}
		}
	}
	if rereading < 20 {
		t.Errorf("only %d of the views read an element twice", rereading)
	}
}

// TestSharedStorageViews: views of one storage are each written in full,
// whether disjoint (q, k, v split from a fused tensor that is not saved),
// inside a saved tensor, or overlapping; only exact aliases (the same
// storage, offset, shape and strides) are left out, and recorded.
func TestSharedStorageViews(t *testing.T) {
	view := func(name string, off int32, n int32) synthTensor {
		return synthTensor{name: name, shape: []int32{n}, stride: []int32{1}, numel: 12, offset: off, key: "s"}
	}
	convert := func(opts Options, ts ...synthTensor) (*Result, map[string]string, error) {
		path := filepath.Join(t.TempDir(), "in.pt")
		dst := filepath.Join(t.TempDir(), "out.safetensors")
		os.WriteFile(path, synthCheckpoint(ts), 0o644)
		res, err := opts.Convert(context.Background(), path, dst)
		if err != nil {
			return nil, nil, err
		}
		f, err := safetensors.Open(dst)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, st := range ts {
			if _, gone := res.Removed[st.name]; gone {
				continue
			}
			// Storage byte j is byte(j*7) (see synthCheckpoint).
			want := make([]byte, 4*st.shape[0])
			for j := range want {
				want[j] = byte((int(st.offset)*4 + j) * 7)
			}
			got, err := f.GetTensor(st.name)
			if err != nil || !bytes.Equal(got.Data(), want) {
				t.Errorf("%s: %v %v, want %v", st.name, got.Data(), err, want)
			}
		}
		return res, f.Metadata(), nil
	}
	res, _, err := convert(Options{}, view("q", 0, 4), view("k", 4, 4), view("v", 8, 4))
	if err != nil || res.Tensors != 3 || len(res.Removed) != 0 || res.Bytes != 48 || res.InputBytes != 48 {
		t.Errorf("disjoint views: %+v, %v", res, err)
	}
	res, _, err = convert(Options{}, view("fused", 0, 12), view("q", 0, 4), view("k", 4, 4))
	if err != nil || res.Tensors != 3 || len(res.Removed) != 0 || res.Bytes != 80 {
		t.Errorf("views of a complete tensor: %+v, %v", res, err)
	}
	res, _, err = convert(Options{}, view("a", 0, 8), view("b", 4, 8))
	if err != nil || res.Tensors != 2 || len(res.Removed) != 0 || res.Bytes != 64 {
		t.Errorf("overlapping partial views: %+v, %v", res, err)
	}
	res, meta, err := convert(Options{}, view("y", 4, 4), view("x", 4, 4), view("z", 4, 3))
	if err != nil || res.Tensors != 2 || len(res.Removed) != 1 || res.Removed["y"] != "x" || meta["y"] != "x" || len(meta) != 2 {
		t.Errorf("exact aliases: %+v, %v, %v", res, meta, err)
	}
	res, meta, err = convert(Options{DiscardNames: []string{"x"}}, view("y", 4, 4), view("x", 4, 4))
	if err != nil || res.Removed["x"] != "y" || meta["x"] != "y" || len(res.Removed) != 1 {
		t.Errorf("exact aliases, x discarded: %+v, %v, %v", res, meta, err)
	}
}
