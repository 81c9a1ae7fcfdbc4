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
//   - column-parallel layers (attention's qkv, the MLP's up projection)
//     split the output dimension: each rank reads a block of rows of the
//     weight, and the same part of the bias;
//   - row-parallel layers (attention's output, the MLP's down projection)
//     split the input dimension: each rank reads a block of columns, and
//     the whole bias;
//   - layer norms are read whole by every rank.
//
// For each rank it prints the bytes of its parts, the HTTP requests it
// sent and the bytes the server sent it; then the same for rank 0 without
// merging runs (remote.Options.MergeGap < 0), for comparison. Flags set the
// number of ranks, the model's size and a delay added to every request,
// to play a network's round trip.
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
	"strconv"
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
	flag.IntVar(&c.layers, "layers", 4, "transformer layers")
	flag.IntVar(&c.hidden, "hidden", 512, "hidden size (a multiple of ranks)")
	flag.DurationVar(&c.delay, "delay", 0, "delay added to every request, as a network round trip")
	flag.Parse()
	if err := run(os.Stdout, c); err != nil {
		fmt.Fprintln(os.Stderr, "tensorparallel:", err)
		os.Exit(1)
	}
}

type config struct {
	ranks, layers, hidden int
	delay                 time.Duration
}

// splitDim says how a tensor is split across ranks: along dim 0 for
// column-parallel layers, along dim 1 for the weights of row-parallel
// ones, not at all (-1) otherwise.
func splitDim(name string) int {
	switch {
	case strings.Contains(name, ".qkv."), strings.Contains(name, ".up."):
		return 0
	case strings.HasSuffix(name, ".out.weight"), strings.HasSuffix(name, ".down.weight"):
		return 1
	}
	return -1
}

// shareOf is rank's share of every tensor.
func shareOf(rank, ranks int) safetensors.SliceFunc {
	return func(info safetensors.TensorInfo) ([]safetensors.Index, bool) {
		d := splitDim(info.Name)
		if d < 0 {
			return nil, true // the whole tensor
		}
		x, err := safetensors.SplitIndex(info.Shape, d, rank, ranks)
		return x, err == nil // SplitIndex fails only on a bad dim or rank, checked below
	}
}

func run(out io.Writer, c config) error {
	if c.ranks < 1 || c.layers < 1 || c.hidden < c.ranks || c.hidden%c.ranks != 0 {
		return errors.New("want ranks >= 1, layers >= 1, and a hidden size that is a multiple of ranks")
	}
	dir, err := os.MkdirTemp("", "safetensors-tensorparallel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	full := model(c.layers, c.hidden)
	plan, err := safetensors.SaveSharded(dir, full, safetensors.ShardOptions{MaxShardSize: int64(c.hidden) * int64(c.hidden) * 4 * 8})
	if err != nil {
		return err
	}
	var size int64
	for _, t := range full {
		size += int64(len(t.Data()))
	}
	fmt.Fprintf(out, "model: %d tensors, %d bytes, in %d shards\n", len(full), size, len(plan.Files))

	// A loopback server of the folder, counting each rank's requests and
	// bytes by the X-Rank header the rank sends.
	counts := make([]counter, c.ranks+1) // the last one: rank 0 without merging
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	files := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(c.delay)
		k, err := strconv.Atoi(r.Header.Get("X-Rank"))
		if err != nil || k < 0 || k >= len(counts) {
			http.Error(w, "no X-Rank", http.StatusBadRequest)
			return
		}
		counts[k].requests.Add(1)
		files.ServeHTTP(&countingWriter{w, &counts[k].bytes}, r)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/" + safetensors.IndexName

	ctx := context.Background()
	parts := make([]map[string]safetensors.Tensor, c.ranks)
	errs := make([]error, c.ranks)
	load := func(k, rank int, gap int64) (map[string]safetensors.Tensor, error) {
		opts := &remote.Options{Header: http.Header{"X-Rank": {strconv.Itoa(k)}}, MergeGap: gap}
		m, err := remote.OpenModel(ctx, url, opts)
		if err != nil {
			return nil, err
		}
		defer m.Close()
		return m.ReadSlices(ctx, shareOf(rank, c.ranks), nil)
	}
	start := time.Now()
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
		fmt.Fprintf(out, "rank %d: %d tensors, %d bytes of parts; %d requests, %d bytes sent\n",
			r, len(parts[r]), n, counts[r].requests.Load(), counts[r].bytes.Load())
	}
	fmt.Fprintf(out, "%d ranks loaded at once in %v\n", c.ranks, elapsed.Round(time.Millisecond))

	// Rank 0 again, one request per run, for comparison.
	if _, err := load(c.ranks, 0, -1); err != nil {
		return err
	}
	fmt.Fprintf(out, "rank 0 without merging runs: %d requests, %d bytes sent\n",
		counts[c.ranks].requests.Load(), counts[c.ranks].bytes.Load())

	// The parts put back together are the full tensors.
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

// join puts the ranks' parts of a tensor back together.
func join(name string, shape []int, parts []map[string]safetensors.Tensor) ([]byte, error) {
	var whole []byte
	switch splitDim(name) {
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
				d := p[name].Data()
				n := len(d) / rows
				whole = append(whole, d[i*n:(i+1)*n]...)
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

// counter counts one rank's requests and the bytes sent to it.
type counter struct {
	requests, bytes atomic.Int64
}

// countingWriter counts the body bytes written, before writing them.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}
