package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/safetensors-go/safetensors"
	"github.com/safetensors-go/safetensors/blob"
	"github.com/safetensors-go/safetensors/hub"
	"github.com/safetensors-go/safetensors/remote"
	"github.com/spf13/cobra"
)

func (a *app) cpCommand() *cobra.Command {
	var (
		dtypeName string
		maxSize   string
		selects   []string
	)
	cmd := &cobra.Command{
		Use:   "cp [--dtype DTYPE] [--max-shard-size SIZE] [--select PATTERN]... SRC DST",
		Short: "Copy a model from anywhere to a folder, a file or an object store",
		Long: `cp copies the model SRC to DST without a copy on local disk: tensors stream
from SRC's reads (range requests, for a URL, an object store or the Hub) to
DST's writer (uploads in parts, for an object store), several at once.

SRC is any MODEL: a file, a folder, an index, an http(s) URL, an object-store
URL (s3://, gs://, azblob://, file://) or a Hub name (hf://ORG/NAME[@REV]).
DST is
  - an object-store prefix, ending in "/" (s3://bucket/models/x/): the model's
    files go under it, as in a folder;
  - an object-store URL of a file (s3://bucket/x.safetensors): one file;
  - a local path ending in .safetensors: one file;
  - any other local path: a folder, created if needed.
A folder or prefix gets a single-file SRC as model.safetensors, and a sharded
SRC as the same shards, named model-00001-of-0000N.safetensors, with
model.safetensors.index.json.

The bytes are checked on the way: each file of a Hub model against the
SHA-256 the Hub gives for it (its LFS ETag), before anything of it becomes
visible at DST; and at the end, DST's headers and sizes against what was
written. A file appears at DST only once complete, and a sharded set only
once every file is in place, its index last: an interrupted or failed copy
leaves what DST held before intact. Replacing a model already at DST needs
--force.

--dtype converts the floating-point tensors on the way (see convert),
--max-shard-size re-shards (see split; the tensors keep SRC's order), and
--select, repeatable, copies only the tensors whose names match a glob
pattern (see extract). A summary (files, bytes, seconds, MB/s) goes to
stderr, after a progress bar on a terminal.

Memory stays bounded whatever the model's size: one file is written at a
time, with 4 reads of 4 MiB ahead, and an object store's upload has 4 parts
of 8 MiB in flight; cp sets the Go runtime's soft memory limit to 100 MiB
unless GOMEMLIMIT is set.`,
		Example: `  safetensors cp hf://org/model s3://bucket/models/model/
  safetensors cp s3://bucket/models/model/ ./model/
  safetensors cp --dtype bf16 --max-shard-size 2GB ./model/ s3://bucket/models/model-bf16/`,
		Args: exactArgs(2),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			var opts safetensors.CopyOptions
			if dtypeName != "" {
				to, err := parseDType(dtypeName)
				if err != nil {
					return usagef("--dtype: %v (one of %s, or a PyTorch name)", err, strings.Join(floatDTypeNames(), ", "))
				}
				if !to.IsFloat() {
					return usagef("--dtype: %v is not a floating-point dtype", to)
				}
				opts.DType = to
			}
			if cmd.Flags().Changed("max-shard-size") {
				size, err := parseSize(maxSize)
				if err != nil {
					return usagef("--max-shard-size: %v", err)
				}
				opts.MaxShardSize = size
			}
			sels := make([]*selection, len(selects))
			for i, s := range selects {
				if _, err := path.Match(s, ""); err != nil {
					return usagef("--select: bad pattern %q: %v", s, err)
				}
				sels[i] = &selection{arg: s, pattern: s}
			}
			if len(sels) > 0 {
				opts.Select = func(name string) bool {
					hit := false
					for _, s := range sels {
						if s.matches(name) {
							s.matched, hit = true, true
						}
					}
					return hit
				}
			}
			return a.cp(args[0], args[1], opts, sels)
		}),
	}
	cmd.Flags().StringVar(&dtypeName, "dtype", "", "convert floating-point tensors to `DTYPE`: bf16, f16, f32, f8_e4m3, ...")
	cmd.RegisterFlagCompletionFunc("dtype", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return floatDTypeNames(), cobra.ShellCompDirectiveNoFileComp
	})
	cmd.Flags().StringVar(&maxSize, "max-shard-size", "", "re-shard into files of at most `SIZE` of tensor data, such as 5GB, 500MB, 2GiB")
	cmd.Flags().StringArrayVar(&selects, "select", nil, "copy only the tensors whose names match the glob `PATTERN` (repeatable)")
	a.forceFlag(cmd)
	return cmd
}

// cpMemoryLimit is the soft memory limit cp sets for the Go runtime,
// unless GOMEMLIMIT is set.
const cpMemoryLimit = 100 << 20

// cpDest is where cp writes: a destination, and the one file's name when
// DST names a file.
type cpDest struct {
	dst    safetensors.Destination
	file   string
	reopen func(ctx context.Context) (*safetensors.Model, error) // opens what was written
}

// parseDest resolves DST by its form.
func (a *app) parseDest(arg string) (*cpDest, error) {
	switch {
	case hub.IsName(arg), isURL(arg):
		return nil, usagef("DST %s: cp writes to a local path or an object store (s3://, gs://, azblob://, file://), not to %s", printable(arg), strings.SplitN(arg, ":", 2)[0])
	case blob.Supports(arg):
		u, err := url.Parse(arg)
		if err != nil {
			return nil, usagef("DST: %v", err)
		}
		prefix, file := *u, ""
		if !strings.HasSuffix(u.Path, "/") {
			dir, base := path.Split(u.Path)
			prefix.Path, prefix.RawPath, file = dir, "", base
		}
		dst, err := blob.OpenDestination(a.ctx, prefix.String(), nil)
		if err != nil {
			return nil, err
		}
		return &cpDest{dst: dst, file: file, reopen: func(ctx context.Context) (*safetensors.Model, error) { return blob.OpenModel(ctx, arg, nil) }}, nil
	}
	if strings.HasSuffix(arg, ".safetensors") {
		if fi, err := os.Stat(arg); err != nil || !fi.IsDir() {
			return &cpDest{dst: safetensors.DirDestination(filepath.Dir(arg)), file: filepath.Base(arg),
				reopen: func(context.Context) (*safetensors.Model, error) { return safetensors.OpenModel(arg) }}, nil
		}
	}
	return &cpDest{dst: safetensors.DirDestination(arg), reopen: func(context.Context) (*safetensors.Model, error) { return safetensors.OpenModel(arg) }}, nil
}

// openSource opens SRC as openModel does, with a verifier of the Hub's
// checksums for hf:// names.
func (a *app) openSource(arg string) (*safetensors.Model, func(ctx context.Context, file string) error, error) {
	switch {
	case hub.IsName(arg):
		m, v, err := hub.OpenModelVerified(a.ctx, arg, nil)
		if err != nil {
			return nil, nil, err
		}
		return m, v.Verify, nil
	case blob.Supports(arg):
		m, err := blob.OpenModel(a.ctx, arg, nil)
		return m, nil, err
	case isURL(arg):
		opts, err := a.remoteOptions()
		if err != nil {
			return nil, nil, err
		}
		m, err := remote.OpenModel(a.ctx, arg, opts)
		return m, nil, err
	default:
		m, err := safetensors.OpenModel(arg)
		return m, nil, err
	}
}

func (a *app) cp(srcArg, dstArg string, opts safetensors.CopyOptions, sels []*selection) error {
	dest, err := a.parseDest(dstArg)
	if err != nil {
		return err
	}
	if !a.force {
		present, err := dest.dst.List(a.ctx)
		if err != nil {
			return outFile(dstArg, err)
		}
		for _, n := range present {
			if n == dest.file || dest.file == "" && (n == safetensors.SingleFileName || n == safetensors.IndexName) {
				return outFile(dstArg, fmt.Errorf("holds %s already (use --force to replace it)", printable(n)))
			}
		}
	}
	src, verify, err := a.openSource(srcArg)
	if err != nil {
		return inFile(srcArg, err)
	}
	defer src.Close()
	if opts.Select != nil {
		// Every pattern must match, before anything is written.
		for _, name := range src.Keys() {
			opts.Select(name)
		}
		for _, s := range sels {
			if !s.matched {
				return usagef("--select: no tensor matches %q", s.pattern)
			}
		}
	}
	opts.File = dest.file
	opts.Verify = verify
	var bar *progress
	opts.Progress = func(done, total int64) {
		if bar == nil {
			bar = a.newProgress("copying", total)
		}
		bar.setTo(done)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The copy's buffers are bounded (about 80 MiB for an object
		// store); a soft limit makes the garbage collector keep the heap
		// near them rather than let it grow to twice as much.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(cpMemoryLimit))
	}
	start := time.Now()
	res, err := safetensors.Copy(a.ctx, src, dest.dst, opts)
	bar.done()
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if err := a.checkCopy(dest, res); err != nil {
		return outFile(dstArg, fmt.Errorf("the copy does not read back as written: %w", err))
	}
	if !a.quiet {
		secs := max(elapsed.Seconds(), 1e-3)
		fmt.Fprintf(a.stderr, "copied %d %s, %s, in %.1f s (%.1f MB/s) to %s\n", res.Files, plural(res.Files, "file", "files"),
			formatSize(res.Written), elapsed.Seconds(), float64(res.Written)/1e6/secs, printable(dstArg))
	}
	return nil
}

// checkCopy opens what was written and compares its headers with the
// plan: the same files, and in them the same tensors with the dtypes,
// shapes and sizes that were declared.
func (a *app) checkCopy(dest *cpDest, res *safetensors.CopyResult) error {
	m, err := dest.reopen(a.ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	var want []string
	for _, f := range res.Plan.Files {
		want = append(want, f.Name)
	}
	if dest.file != "" {
		want = []string{dest.file}
	}
	slices.Sort(want)
	if got := m.Files(); !slices.Equal(got, want) {
		return fmt.Errorf("files %q, want %q", got, want)
	}
	var count int
	for _, f := range res.Plan.Files {
		name := want[0]
		if dest.file == "" {
			name = f.Name
		}
		sh, err := m.Shard(name)
		if err != nil {
			return err
		}
		for _, t := range f.Tensors {
			if _, err := sh.Info(t); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		var size int64
		for _, ti := range sh.Infos() {
			size += ti.Size()
		}
		if size != f.Size || sh.Len() != len(f.Tensors) {
			return fmt.Errorf("%s: %d tensors of %d bytes, want %d of %d", name, sh.Len(), size, len(f.Tensors), f.Size)
		}
		count += sh.Len()
	}
	if count != m.Len() {
		return fmt.Errorf("%d tensors, want %d", m.Len(), count)
	}
	return nil
}
