// Command tensorparallel loads a sharded model over HTTP the way the ranks
// of a tensor-parallel inference server do: each rank reads only its part
// of each weight, Megatron-LM style, with one call per rank
// (safetensors.Model.ReadSlices), and the parts put back together are
// checked against the full tensors.
//
//	go run ./examples/tensorparallel
//
// It writes a small sharded transformer to a temporary folder, serves it
// on a loopback HTTP server (so it needs no network), and starts the
// ranks at once. The split, for a linear layer's weight of shape
// [out, in]:
//
//   - column-parallel layers (attention's query, key and value, the MLP's
//     gate and up projections) split the output dimension: each rank reads
//     a block of rows of the weight, and the same part of the bias;
//   - row-parallel layers (attention's output, the MLP's down projection)
//     split the input dimension: each rank reads a block of columns, and
//     the whole bias;
//   - everything else (norms, embeddings) is read whole by every rank.
//
// For each rank it prints the bytes of its parts, the HTTP requests it
// sent and the bytes it received; then the same for rank 0 without merging
// runs (remote.Options.MergeGap < 0), for comparison. Flags set the number
// of ranks, the model's size, and a delay added to every request of the
// loopback server, to play a network's round trip.
//
// With -url, it loads the model at that URL instead (a .safetensors file,
// an index, or a folder ending in "/"; HF_TOKEN is sent to the Hub if set),
// splitting the tensors whose names say they belong to such layers
// (q_proj, k_proj, v_proj, gate_proj, up_proj, o_proj, down_proj, as
// Llama's checkpoints name them, or this example's qkv, up, out, down),
// and checks the parts against the whole model, which it then reads too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/remote"
)

func main() {
	var c config
	flag.IntVar(&c.ranks, "ranks", 4, "tensor-parallel ranks")
	flag.IntVar(&c.layers, "layers", 4, "transformer layers of the model written")
	flag.IntVar(&c.hidden, "hidden", 512, "hidden size of the model written (a multiple of ranks)")
	flag.DurationVar(&c.delay, "delay", 0, "delay added to every request of the loopback server, as a network round trip")
	flag.StringVar(&c.url, "url", "", "load this model instead of writing and serving one")
	flag.Parse()
	c.token = os.Getenv("HF_TOKEN")
	if err := run(context.Background(), os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "tensorparallel:", err)
		os.Exit(1)
	}
}

type config struct {
	ranks, layers, hidden int
	delay                 time.Duration
	url, token            string
}

// splitDim says how a tensor is split across ranks, by its name: along dim
// 0 for column-parallel layers (weight and bias), along dim 1 for the
// weights of row-parallel ones, not at all (-1) otherwise.
func splitDim(name string, ndim int) int {
	column := []string{".qkv.", ".up.", "q_proj.", "k_proj.", "v_proj.", "gate_proj.", "up_proj."}
	row := []string{".out.weight", ".down.weight", "o_proj.weight", "down_proj.weight"}
	for _, s := range column {
		if strings.Contains(name, s) {
			return 0
		}
	}
	for _, s := range row {
		if strings.HasSuffix(name, s) && ndim == 2 {
			return 1
		}
	}
	return -1
}

// shareOf is rank's share of every tensor.
func shareOf(rank, ranks int) safetensors.SliceFunc {
	return func(info safetensors.TensorInfo) ([]safetensors.Index, bool) {
		d := splitDim(info.Name, len(info.Shape))
		if d < 0 || d >= len(info.Shape) {
			return nil, true // the whole tensor
		}
		x, err := safetensors.SplitIndex(info.Shape, d, rank, ranks)
		return x, err == nil // d and rank are in range: SplitIndex cannot fail
	}
}

func run(ctx context.Context, out io.Writer, c config) error {
	if c.ranks < 1 {
		return errors.New("want ranks >= 1")
	}
	url := c.url
	var full map[string]safetensors.Tensor
	if url == "" {
		if c.layers < 1 || c.hidden < c.ranks || c.hidden%c.ranks != 0 {
			return errors.New("want layers >= 1, and a hidden size that is a multiple of ranks")
		}
		var stop func()
		var err error
		full, url, stop, err = serveModel(out, c)
		if err != nil {
			return err
		}
		defer stop()
	}

	parts := make([]map[string]safetensors.Tensor, c.ranks)
	counts := make([]*countingTransport, c.ranks+1) // the last one: rank 0 without merging
	for i := range counts {
		counts[i] = &countingTransport{base: http.DefaultTransport}
	}
	options := func() *remote.Options {
		opts := &remote.Options{}
		if c.token != "" {
			opts.Header = http.Header{"Authorization": {"Bearer " + c.token}}
		}
		return opts
	}
	load := func(k, rank int, gap int64) (map[string]safetensors.Tensor, error) {
		opts := options()
		opts.Client, opts.MergeGap = &http.Client{Transport: counts[k]}, gap
		m, err := remote.OpenModel(ctx, url, opts)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		return m.ReadSlices(ctx, shareOf(rank, c.ranks), nil)
	}
	start := time.Now()
	errs := make([]error, c.ranks)
	var wg sync.WaitGroup
	for r := range c.ranks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[r], errs[r] = load(r, r, 0)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for r := range c.ranks {
		var n int64
		for _, t := range parts[r] {
			n += int64(len(t.Data()))
		}
		fmt.Fprintf(out, "rank %d: %d tensors, %d bytes of parts; %d requests, %d bytes received\n",
			r, len(parts[r]), n, counts[r].requests.Load(), counts[r].bytes.Load())
	}
	fmt.Fprintf(out, "%d ranks loaded at once in %v\n", c.ranks, elapsed.Round(time.Millisecond))

	// Rank 0 again, one request per run, for comparison.
	if _, err := load(c.ranks, 0, -1); err != nil {
		return err
	}
	fmt.Fprintf(out, "rank 0 without merging runs: %d requests, %d bytes received\n",
		counts[c.ranks].requests.Load(), counts[c.ranks].bytes.Load())

	if full == nil {
		// The whole model, to check the parts against.
		m, err := remote.OpenModel(ctx, url, options())
		if err != nil {
			return err
		}
		defer m.Close()
		if full, err = m.ReadAll(ctx, nil); err != nil {
			return err
		}
	}
	for name, t := range full {
		whole, err := join(name, t.Shape(), parts)
		if err != nil {
			return err
		}
		if string(whole) != string(t.Data()) {
			return fmt.Errorf("%s: the ranks' parts put back together differ from the tensor", name)
		}
	}
	fmt.Fprintf(out, "check: the parts of %d ranks put back together equal all %d tensors\n", c.ranks, len(full))
	return nil
}

// serveModel writes a model of c's size to a temporary folder and serves
// it on a loopback server, which waits c.delay before each answer. It
// returns the model's tensors, the URL of its index, and a function that
// stops the server and removes the folder.
func serveModel(out io.Writer, c config) (map[string]safetensors.Tensor, string, func(), error) {
	dir, err := os.MkdirTemp("", "safetensors-tensorparallel-")
	if err != nil {
		return nil, "", nil, err
	}
	full := model(c.layers, c.hidden)
	plan, err := safetensors.SaveSharded(dir, full, safetensors.ShardOptions{MaxShardSize: int64(c.hidden) * int64(c.hidden) * 4 * 8})
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	var size int64
	for _, t := range full {
		size += int64(len(t.Data()))
	}
	fmt.Fprintf(out, "model: %d tensors, %d bytes, in %d shards\n", len(full), size, len(plan.Files))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	files := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(c.delay)
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	stop := func() {
		srv.Close()
		os.RemoveAll(dir)
	}
	return full, "http://" + ln.Addr().String() + "/" + safetensors.IndexName, stop, nil
}

// join puts the ranks' parts of a tensor back together.
func join(name string, shape []int, parts []map[string]safetensors.Tensor) ([]byte, error) {
	d := splitDim(name, len(shape))
	if d >= len(shape) {
		d = -1
	}
	var whole []byte
	switch d {
	case -1:
		// Every rank has the whole tensor; they must agree.
		for _, p := range parts {
			if string(p[name].Data()) != string(parts[0][name].Data()) {
				return nil, fmt.Errorf("%s: ranks read different copies", name)
			}
		}
		whole = parts[0][name].Data()
	case 0:
		for _, p := range parts {
			whole = append(whole, p[name].Data()...)
		}
	case 1:
		rows := shape[0]
		for i := range rows {
			for _, p := range parts {
				b := p[name].Data()
				n := len(b) / max(rows, 1)
				whole = append(whole, b[i*n:(i+1)*n]...)
			}
		}
	}
	return whole, nil
}

// model returns the float32 weights of a transformer of the given layers
// and hidden size, with values that differ everywhere.
func model(layers, hidden int) map[string]safetensors.Tensor {
	out := map[string]safetensors.Tensor{}
	seq := float32(0)
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		values := make([]float32, n)
		for i := range values {
			values[i] = seq
			seq++
		}
		t, err := safetensors.FromFloat32(safetensors.F32, shape, values)
		if err != nil {
			panic(err) // the shapes and values above always fit
		}
		out[name] = t
	}
	h := hidden
	for l := range layers {
		p := fmt.Sprintf("layers.%d.", l)
		add(p+"ln1.weight", h)
		add(p+"attn.qkv.weight", 3*h, h)
		add(p+"attn.qkv.bias", 3*h)
		add(p+"attn.out.weight", h, h)
		add(p+"attn.out.bias", h)
		add(p+"ln2.weight", h)
		add(p+"mlp.up.weight", 4*h, h)
		add(p+"mlp.up.bias", 4*h)
		add(p+"mlp.down.weight", h, 4*h)
		add(p+"mlp.down.bias", h)
	}
	return out
}

// countingTransport counts the requests it sends and the response body
// bytes it receives.
type countingTransport struct {
	base            http.RoundTripper
	requests, bytes atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	resp, err := t.base.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{resp.Body, &t.bytes}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
