package safetensors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/safetensors-go/safetensors/internal/shardname"
)

// Defaults of [CopyOptions].
const (
	// DefaultCopyConcurrency is how many files [Copy] writes at once: 1.
	// Each file already has DefaultCopyReadAhead reads in flight, and an
	// object store's upload its own parts; a second file at once doubles
	// the memory (measured: cp of 1 GiB to an S3 stand-in peaked at 115 MiB
	// of heap with 1 file at a time, 240 MiB with 2) for little gain on
	// large files. Raise it for models of many small files.
	DefaultCopyConcurrency = 1
	// DefaultCopyReadAhead is how many chunks [Copy] reads ahead of the
	// writing, per file: 4, so that each file keeps 4 range reads in flight.
	DefaultCopyReadAhead = 4
	// DefaultCopyChunkSize is the size of [Copy]'s reads: 4 MiB.
	DefaultCopyChunkSize = 4 << 20
)

// CopyOptions adjusts [Copy]. The zero value copies every tensor as it is,
// keeping the source's files: one file for a single file, the same shards
// (renamed PREFIX-NNNNN-of-NNNNN.safetensors) for a sharded model.
type CopyOptions struct {
	// DType, if set, is the dtype the floating-point tensors are converted
	// to, with [Convert]'s exact rounding; integer, BOOL and C64 tensors
	// are copied as they are. It must be a floating-point dtype.
	DType DType
	// MaxShardSize, if positive, re-shards: the tensors, in the source's
	// order, are split by [PlanShards] into files of at most that many
	// bytes of data (after conversion).
	MaxShardSize int64
	// File, if set, is the name of the one file every tensor goes into,
	// with no index; it excludes MaxShardSize. Only that file is replaced
	// at the destination.
	File string
	// Prefix names the files as in [ShardOptions]: PREFIX.safetensors,
	// or PREFIX-00001-of-00003.safetensors and the index. Empty means
	// "model".
	Prefix string
	// Select, if set, says which tensors to copy, by name.
	Select func(name string) bool
	// Metadata, if not nil, is every written file's "__metadata__". Nil
	// keeps the source's: each file gets the metadata of the first source
	// file it takes tensors from.
	Metadata map[string]string
	// Concurrency is how many files are written at once. Default
	// DefaultCopyConcurrency.
	Concurrency int
	// ReadAhead is how many chunks each file being written reads ahead.
	// Default DefaultCopyReadAhead.
	ReadAhead int
	// ChunkSize is the largest single read. Default DefaultCopyChunkSize.
	// Copy's own memory is Concurrency × ReadAhead × ChunkSize (16 MiB by
	// default), plus what the destination buffers.
	ChunkSize int64
	// Progress, if set, is called as bytes of tensor data are written,
	// with the bytes of the source's tensors copied so far and the total
	// to copy. Calls are serialized and done only grows.
	Progress func(done, total int64)
	// Verify, if set, is called with the name of each source file (one of
	// [Model.Files]) whose tensors a destination file holds, before that
	// file is committed; an error abandons the copy, and nothing is left
	// at the destination. It is how a caller checks the source's bytes
	// (the Hub's SHA-256, for example) before they become visible.
	Verify func(ctx context.Context, file string) error
}

// CopyResult describes what [Copy] wrote.
type CopyResult struct {
	// Plan lists the files written, with their tensors and data sizes.
	Plan *ShardPlan
	// Written is the bytes written: every file's, headers and index
	// included.
	Written int64
	// Files is the number of files written, index included.
	Files int
}

// Copy writes the tensors of src to dst, streaming: each file's header is
// written first, then its tensors' bytes flow from src's reads (range
// reads, for a remote model) to dst's writer a chunk at a time, converted
// on the way if asked, with several chunks read ahead (and, with
// [CopyOptions.Concurrency], several files written at once). Tensors
// copied as they are that follow each other in their source file are read
// together, a chunk at a time. No tensor is held in memory whole: memory
// is bounded by the options (see [CopyOptions.ChunkSize]), whatever the
// model's size.
//
// The files appear at dst as a set, as [SaveShardedTo] describes: a
// failure (a read, a conversion, [CopyOptions.Verify], ctx canceled) leaves
// what dst held before readable and intact. The files of a single-file copy
// replace one file, atomically.
//
//	m, err := safetensors.OpenModel("model")
//	...
//	res, err := safetensors.Copy(ctx, m, safetensors.DirDestination("copy"), safetensors.CopyOptions{DType: safetensors.BF16})
func Copy(ctx context.Context, src *Model, dst Destination, opts CopyOptions) (*CopyResult, error) {
	if opts.DType != 0 && !opts.DType.IsFloat() {
		return nil, fmt.Errorf("safetensors: copy: %v is not a floating-point dtype", opts.DType)
	}
	if opts.File != "" && opts.MaxShardSize > 0 {
		return nil, errors.New("safetensors: copy: a single file and a maximum shard size exclude each other")
	}
	sopts := ShardOptions{MaxShardSize: opts.MaxShardSize, Prefix: opts.Prefix}
	if err := sopts.check(); err != nil {
		return nil, err
	}
	// The tensors to copy, file by file in the source's data order.
	type source struct {
		file string
		f    *File
		info TensorInfo
	}
	var (
		infos   []TensorInfo
		srcs    = map[string]source{}
		groups  [][]string // the source's grouping: tensors per source file
		fileMD  = map[string]map[string]string{}
		perFile = map[string]int{}
	)
	for _, name := range src.Files() {
		f, err := src.Shard(name)
		if err != nil {
			return nil, fmt.Errorf("safetensors: copy: %s: %w", name, err)
		}
		fileMD[name] = f.Metadata()
		var group []string
		for _, ti := range f.Infos() {
			if opts.Select != nil && !opts.Select(ti.Name) {
				continue
			}
			srcs[ti.Name] = source{file: name, f: f, info: ti}
			out := TensorInfo{Name: ti.Name, DType: ti.DType, Shape: ti.Shape}
			if opts.DType != 0 && ti.DType.IsFloat() {
				out.DType = opts.DType
			}
			infos = append(infos, out)
			group = append(group, ti.Name)
		}
		if len(group) > 0 {
			perFile[name] = len(groups)
			groups = append(groups, group)
		}
	}
	if len(infos) == 0 {
		return nil, fmt.Errorf("safetensors: copy: no tensor to copy: %w", ErrTensorNotFound)
	}
	// The plan: one file, the source's grouping, or PlanShards's.
	var plan *ShardPlan
	var err error
	switch {
	case opts.File != "":
		plan, err = PlanShards(infos, ShardOptions{MaxShardSize: 1 << 62, Prefix: sopts.Prefix})
		if err == nil {
			plan.Files[0].Name = opts.File
		}
	case opts.MaxShardSize > 0:
		plan, err = PlanShards(infos, sopts)
	case len(groups) == 1:
		plan, err = PlanShards(infos, ShardOptions{MaxShardSize: 1 << 62, Prefix: sopts.Prefix})
	default:
		// Keep the source's files: plan each source file on its own (one
		// shard each), and number them as one set.
		plan = &ShardPlan{IndexName: sopts.prefix() + ".safetensors.index.json"}
		at := 0
		for i, g := range groups {
			sub, perr := PlanShards(infos[at:at+len(g)], ShardOptions{MaxShardSize: 1 << 62, Prefix: sopts.Prefix})
			if perr != nil {
				return nil, perr
			}
			at += len(g)
			f := sub.Files[0]
			f.Name = shardname.Format(sopts.prefix(), i, len(groups))
			plan.Files = append(plan.Files, f)
			plan.TotalSize += sub.TotalSize
			plan.TotalParameters += sub.TotalParameters
		}
	}
	if err != nil {
		return nil, err
	}
	byName := make(map[string]TensorInfo, len(infos))
	var total int64
	for _, ti := range infos {
		byName[ti.Name] = ti
		total += srcs[ti.Name].info.Size()
	}
	// Each file's declared tensors, metadata and source files; headers are
	// validated before anything is written.
	declared := make([][]TensorInfo, len(plan.Files))
	metas := make([]map[string]string, len(plan.Files))
	sources := make([][]string, len(plan.Files))
	for i, f := range plan.Files {
		seen := map[string]bool{}
		for _, name := range f.Tensors {
			declared[i] = append(declared[i], byName[name])
			if s := srcs[name].file; !seen[s] {
				seen[s] = true
				sources[i] = append(sources[i], s)
			}
		}
		metas[i] = opts.Metadata
		if metas[i] == nil {
			metas[i] = fileMD[sources[i][0]]
		}
		if _, err := NewWriter(io.Discard, declared[i], metas[i]); err != nil {
			return nil, fmt.Errorf("safetensors: copy: %s: %w", f.Name, err)
		}
	}
	o := opts.withDefaults()
	c := &copier{
		opts:     o,
		total:    total,
		progress: opts.Progress,
		sourceOf: func(name string) (*File, TensorInfo) { s := srcs[name]; return s.f, s.info },
		bufs:     make(chan []byte, o.Concurrency*o.ReadAhead),
	}
	set := &fileSet{dst: dst, plan: plan, single: opts.File != "", concurrency: c.opts.Concurrency}
	if opts.Verify != nil {
		set.beforeCommit = func(ctx context.Context, i int) error {
			for _, s := range sources[i] {
				if err := opts.Verify(ctx, s); err != nil {
					return fmt.Errorf("verifying the source %s: %w", s, err)
				}
			}
			return nil
		}
	}
	err = set.save(ctx, func(ctx context.Context, i int, w io.Writer) error {
		tw, err := NewWriter(w, declared[i], metas[i])
		if err != nil {
			return err
		}
		if err := c.writeTensors(ctx, tw); err != nil {
			return err
		}
		return tw.Close()
	})
	if err != nil {
		return nil, err
	}
	n := len(plan.Files)
	if plan.Sharded() && opts.File == "" {
		n++
	}
	return &CopyResult{Plan: plan, Written: set.written, Files: n}, nil
}

func (o CopyOptions) withDefaults() CopyOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultCopyConcurrency
	}
	if o.ReadAhead <= 0 {
		o.ReadAhead = DefaultCopyReadAhead
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultCopyChunkSize
	}
	return o
}

// copier streams tensors from their source files into Writers.
type copier struct {
	opts     CopyOptions
	sourceOf func(name string) (*File, TensorInfo)
	// bufs holds the chunk buffers not in use; allocated counts those made,
	// at most cap(bufs).
	bufs      chan []byte
	mu        sync.Mutex
	allocated int
	done      int64
	total     int64
	progress  func(done, total int64)
}

// chunk is one read: n bytes of a source file's data buffer at off,
// holding the whole or part of one tensor to convert (name, from, to), or
// of one or more tensors to copy as they are (from == to). name is the
// first tensor the chunk holds, for messages.
type chunk struct {
	f        *File
	name     string
	off, n   int64
	from, to DType
	buf      []byte
	err      error
	ready    chan struct{}
}

// buffer returns a free chunk buffer, making one while fewer than the
// budget exist, else waiting for one.
func (c *copier) buffer(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.bufs:
		return b, nil
	default:
	}
	c.mu.Lock()
	if c.allocated < cap(c.bufs) {
		c.allocated++
		c.mu.Unlock()
		return make([]byte, c.opts.ChunkSize), nil
	}
	c.mu.Unlock()
	select {
	case b := <-c.bufs:
		return b, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// writeTensors writes every tensor of tw, in its order, from the sources:
// a goroutine reads chunks ahead (each read on its own goroutine, so that
// ReadAhead reads are in flight), and this one writes them in order.
func (c *copier) writeTensors(ctx context.Context, tw *Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *chunk, c.opts.ReadAhead)
	var wg sync.WaitGroup
	go func() {
		defer close(queue)
		// send starts reading a chunk and queues it; false when canceled.
		send := func(ch *chunk) bool {
			buf, err := c.buffer(ctx)
			if err != nil {
				return false
			}
			ch.buf, ch.ready = buf, make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(ch.ready)
				n, err := dataReader{ch.f}.ReadAt(ch.buf[:ch.n], ch.off)
				switch {
				case int64(n) == ch.n:
					err = nil // a reader may say io.EOF with the last bytes
				case err == nil || err == io.EOF:
					err = io.ErrUnexpectedEOF
				}
				if err != nil {
					ch.err = fmt.Errorf("reading tensor %q: %w", ch.name, err)
				}
			}()
			select {
			case queue <- ch:
				return true
			case <-ctx.Done():
				<-ch.ready
				c.bufs <- ch.buf
				return false
			}
		}
		// Tensors copied as they are, one after the other in their source
		// file, are read together, up to ChunkSize at a time: a run of
		// small tensors costs one read, not one each.
		var run *chunk
		for _, ti := range tw.Infos() {
			f, si := c.sourceOf(ti.Name)
			start, end := si.DataOffsets[0], si.DataOffsets[1]
			if ti.DType == si.DType {
				for start < end {
					if run != nil && (run.f != f || run.off+run.n != start || run.n == c.opts.ChunkSize) {
						if !send(run) {
							return
						}
						run = nil
					}
					if run == nil {
						run = &chunk{f: f, name: ti.Name, off: start, from: si.DType, to: si.DType}
					}
					k := min(c.opts.ChunkSize-run.n, end-start)
					run.n += k
					start += k
				}
				continue
			}
			if run != nil {
				if !send(run) {
					return
				}
				run = nil
			}
			unit := int64(si.DType.BitSize()) // the bytes of 8 elements
			step := max(unit, c.opts.ChunkSize/unit*unit)
			for off := start; off < end; off += step {
				if !send(&chunk{f: f, name: ti.Name, off: off, n: min(step, end-off), from: si.DType, to: ti.DType}) {
					return
				}
			}
		}
		if run != nil {
			send(run)
		}
	}()
	defer func() {
		cancel()
		for ch := range queue { // drain, returning buffers
			<-ch.ready
			c.bufs <- ch.buf
		}
		wg.Wait()
	}()
	for ch := range queue {
		select {
		case <-ch.ready:
		case <-ctx.Done():
			<-ch.ready
			c.bufs <- ch.buf
			return context.Cause(ctx)
		}
		err := ch.err
		if err == nil {
			err = c.write(tw, ch)
		}
		c.bufs <- ch.buf
		if err != nil {
			return err
		}
		c.advance(ch.n)
	}
	return context.Cause(ctx)
}

// write writes a chunk that has arrived, converted if need be.
func (c *copier) write(tw *Writer, ch *chunk) error {
	data := ch.buf[:ch.n]
	if ch.to != ch.from {
		elems := int(ch.n * 8 / int64(ch.from.BitSize()))
		t, err := NewTensor(ch.from, []int{elems}, data)
		if err == nil {
			t, err = Convert(t, ch.to)
		}
		if err != nil {
			return fmt.Errorf("converting tensor %q to %v: %w", ch.name, ch.to, err)
		}
		data = t.Data()
	}
	_, err := tw.Write(data)
	return err
}

func (c *copier) advance(n int64) {
	if c.progress == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done += n
	c.progress(c.done, c.total)
}
