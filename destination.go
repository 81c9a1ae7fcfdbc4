package safetensors

// Destinations: where Copy and SaveShardedTo write a model's files, and
// the rules that make a set of files appear whole or not at all, whatever
// the store: a local folder (DirDestination) or an object store's prefix
// (the blob package).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/safetensors-go/safetensors/internal/shardname"
)

// Destination is a place that holds a model's files by name: a folder
// ([DirDestination]), or a prefix of an object store's bucket (the blob
// package's NewDestination). Names are plain file names, without "/".
//
// A Destination needs no rename that is atomic for a set of files: [Copy]
// and [SaveShardedTo] build that on these operations (see SaveShardedTo).
// Its methods may be called concurrently.
type Destination interface {
	// Create begins a file. Nothing is visible under name until the
	// returned file's Commit succeeds, which replaces a file of that name
	// in one step; Abort discards what was written.
	Create(ctx context.Context, name string) (PendingFile, error)
	// ReadFile returns the content of the named file, at most limit bytes
	// (a larger file is an error). A missing file is an error wrapping
	// fs.ErrNotExist.
	ReadFile(ctx context.Context, name string, limit int64) ([]byte, error)
	// List returns the names of the files the destination holds.
	List(ctx context.Context) ([]string, error)
	// Copy makes the file to a copy of the file from, replacing a file of
	// that name in one step: a reader sees either the old file or the new
	// one under to. The file from stays.
	Copy(ctx context.Context, from, to string) error
	// Remove deletes the named file; a missing file is not an error.
	Remove(ctx context.Context, name string) error
}

// PendingFile is a file being written to a [Destination], invisible until
// Commit.
type PendingFile interface {
	io.Writer
	// Commit makes the file visible under its name, whole. After a failed
	// Commit nothing is visible and nothing is left behind.
	Commit() error
	// Abort discards the file: nothing becomes visible, and nothing is
	// left behind (for an object store, the parts of an upload already
	// sent are deleted). It may be called after Commit, and then does
	// nothing.
	Abort()
}

// DirDestination returns the [Destination] of the local folder dir,
// created when the first file is. Files are written as [SaveFile] writes
// them: under a temporary name beside the target, synced, and renamed
// into place on Commit; new files get 0666 less the umask, a file replaced
// keeps its permission bits.
func DirDestination(dir string) Destination { return dirDest(dir) }

type dirDest string

func (d dirDest) path(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\:`) {
		return "", fmt.Errorf("safetensors: %q is not a plain file name", name)
	}
	return filepath.Join(string(d), name), nil
}

func (d dirDest) Create(ctx context.Context, name string) (PendingFile, error) {
	path, err := d.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(string(d), 0o777); err != nil {
		return nil, err
	}
	var f saveFile
	for range 10000 {
		f, err = saveFS.create(hiddenName(path, "tmp"))
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	if fi, err := saveFS.lstat(path); err == nil && fi.Mode().IsRegular() {
		if err := f.Chmod(fi.Mode().Perm()); err != nil {
			f.Close()
			saveFS.remove(f.Name())
			return nil, err
		}
	}
	return &dirFile{f: f, path: path}, nil
}

type dirFile struct {
	f    saveFile
	path string
	done bool
}

func (p *dirFile) Write(b []byte) (int, error) { return p.f.Write(b) }

func (p *dirFile) Commit() error {
	if p.done {
		return fmt.Errorf("safetensors: %s: committed twice", p.path)
	}
	p.done = true
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = saveFS.rename(p.f.Name(), p.path)
	}
	if err != nil {
		saveFS.remove(p.f.Name())
		return &fs.PathError{Op: "save", Path: p.path, Err: err}
	}
	if err := saveFS.syncDir(dirOf(p.path)); err != nil {
		return fmt.Errorf("safetensors: %s is saved, but syncing its directory failed: %w", p.path, err)
	}
	return nil
}

func (p *dirFile) Abort() {
	if p.done {
		return
	}
	p.done = true
	p.f.Close()
	saveFS.remove(p.f.Name())
}

func (d dirDest) ReadFile(ctx context.Context, name string, limit int64) ([]byte, error) {
	path, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, _, err := openRegular(path, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("safetensors: %s is larger than the limit of %d bytes", path, limit)
	}
	return b, nil
}

func (d dirDest) List(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (d dirDest) Copy(ctx context.Context, from, to string) error {
	pf, err := d.path(from)
	if err != nil {
		return err
	}
	pt, err := d.path(to)
	if err != nil {
		return err
	}
	// A hard link under a hidden name, renamed over the target; where links
	// are not supported, a copy of the bytes.
	tmp := hiddenName(pt, "tmp")
	if err := saveFS.link(pf, tmp); err == nil {
		if err := saveFS.rename(tmp, pt); err != nil {
			saveFS.remove(tmp)
			return err
		}
		return saveFS.syncDir(string(d))
	}
	src, _, err := openRegular(pf, false)
	if err != nil {
		return err
	}
	defer src.Close()
	w, err := d.Create(ctx, to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, src); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

func (d dirDest) Remove(ctx context.Context, name string) error {
	path, err := d.path(name)
	if err != nil {
		return err
	}
	if err := saveFS.remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// SaveShardedTo is [SaveSharded] into any [Destination]: the same plan,
// the same files, the index byte for byte as transformers writes it.
//
// The set appears whole or not at all to a reader that opens the
// destination as a folder (model.safetensors first, else the index), and a
// failure at any point leaves the previous set readable and intact:
//
//   - every file is written in full and committed before the index; a file
//     whose name the old index needs is written under a hidden name
//     (.NAME.new-RANDOM) instead of over the old one;
//   - then the index is committed: it is the one step that switches readers
//     from the old set to the new one. When some files were written under
//     hidden names it first names those, then (once each is renamed over
//     its final name, which the old set no longer needs) the final names;
//   - only then are the old files that the new set does not use removed:
//     PREFIX.safetensors or the index, whichever the new set does not use,
//     and shards named PREFIX-NNNNN-of-NNNNN.safetensors.
//
// A failure before the index is committed removes the new files; one
// after it leaves the new set readable.
func SaveShardedTo(ctx context.Context, dst Destination, tensors map[string]Tensor, opts ShardOptions) (*ShardPlan, error) {
	sp, plans, err := (Options{}).planShardedSave(tensors, opts)
	if err != nil {
		return nil, err
	}
	set := fileSet{dst: dst, plan: sp, concurrency: 1}
	err = set.save(ctx, func(ctx context.Context, i int, w io.Writer) error { return plans[i].writeTo(w) })
	if err != nil {
		return nil, err
	}
	return sp, nil
}

// fileSet writes the files of a plan into a destination as a set.
type fileSet struct {
	dst         Destination
	plan        *ShardPlan
	single      bool // plan.Files[0] is one file on its own, not PREFIX.safetensors of a set
	concurrency int  // files written at once
	// beforeCommit, if set, is called before file i is committed; an error
	// abandons the set.
	beforeCommit func(ctx context.Context, i int) error
	// written counts the bytes committed, index included.
	written int64
}

// maxIndexSize is the largest old index read, to learn which files it
// needs: the header limit, which is also the readers' limit of an index.
const maxIndexSize = DefaultMaxHeaderSize

// save writes file i of the plan through write, for every i, then the
// index, by the rules of SaveShardedTo.
func (s *fileSet) save(ctx context.Context, write func(ctx context.Context, i int, w io.Writer) error) error {
	plan := s.plan
	if s.single {
		return s.writeFiles(ctx, []string{plan.Files[0].Name}, write)
	}
	prefix := strings.TrimSuffix(plan.IndexName, ".safetensors.index.json")
	single := prefix + ".safetensors"
	present, err := s.dst.List(ctx)
	if err != nil {
		return fmt.Errorf("safetensors: listing the destination: %w", err)
	}
	has := map[string]bool{}
	for _, n := range present {
		has[n] = true
	}
	// What the old set needs: the files its index names (every shard-like
	// name when the index cannot be read).
	needed := map[string]bool{}
	if has[plan.IndexName] {
		b, err := s.dst.ReadFile(ctx, plan.IndexName, maxIndexSize)
		var x struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err == nil {
			err = json.Unmarshal(b, &x)
		}
		if err != nil {
			for _, n := range present {
				if shardname.Match(n, prefix) {
					needed[n] = true
				}
			}
		}
		for _, f := range x.WeightMap {
			needed[f] = true
		}
	}
	names := make([]string, len(plan.Files))
	staged := false
	for i, f := range plan.Files {
		names[i] = f.Name
		if plan.Sharded() && needed[f.Name] {
			names[i] = "." + f.Name + ".new-" + strconv.FormatUint(uint64(rand.Uint32()), 10)
			staged = true
		}
	}
	if err := s.writeFiles(ctx, names, write); err != nil {
		return err
	}
	if plan.Sharded() {
		if err := s.writeIndex(ctx, plan, names); err != nil {
			s.removeAll(names)
			return err
		}
		// The new set is what readers of the index see; a single file
		// beside it would still be preferred.
		if has[single] {
			if err := s.dst.Remove(ctx, single); err != nil {
				return fmt.Errorf("safetensors: the new set is saved, but the old %s, which readers prefer to the index, could not be removed: %w", single, err)
			}
		}
		if staged {
			// Each file under a hidden name is copied to its final name
			// (which the old set no longer needs), named so in the index,
			// then removed: the index names a complete file at every step.
			final := slices.Clone(names)
			for i, f := range plan.Files {
				if names[i] == f.Name {
					continue
				}
				if err := s.dst.Copy(ctx, names[i], f.Name); err != nil {
					return fmt.Errorf("safetensors: the new set is saved, but copying %s to %s failed (the index names the first): %w", names[i], f.Name, err)
				}
				final[i] = f.Name
				if err := s.writeIndex(ctx, plan, final); err != nil {
					return fmt.Errorf("safetensors: the new set is saved, but its index still names %s: %w", names[i], err)
				}
				if err := s.dst.Remove(ctx, names[i]); err != nil {
					return fmt.Errorf("safetensors: the new set is saved, but removing %s failed: %w", names[i], err)
				}
			}
		}
	}
	// Remove what the previous set had and the new one does not use.
	keep := map[string]bool{plan.IndexName: plan.Sharded()}
	for _, f := range plan.Files {
		keep[f.Name] = true
	}
	var stale []string
	if !plan.Sharded() && has[plan.IndexName] {
		stale = append(stale, plan.IndexName) // first: it is what names the old shards
	}
	for _, n := range slices.Sorted(maps.Keys(needed)) {
		if !keep[n] && has[n] {
			stale = append(stale, n)
		}
	}
	for _, n := range present {
		if !keep[n] && !needed[n] && (shardname.Match(n, prefix) || isStagedName(n, prefix)) {
			stale = append(stale, n)
		}
	}
	for _, n := range stale {
		if err := s.dst.Remove(ctx, n); err != nil {
			return fmt.Errorf("safetensors: the new set is saved, but removing the stale %s failed: %w", n, err)
		}
	}
	return nil
}

// isStagedName reports whether name is a hidden name under which an
// earlier save of the prefix wrote a file (.PREFIX-....safetensors.new-N):
// one that a failure left behind.
func isStagedName(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, "."+prefix)
	if !ok {
		return false
	}
	i := strings.LastIndex(rest, ".safetensors.new-")
	return i >= 0 && strings.Trim(rest[i+len(".safetensors.new-"):], "0123456789") == ""
}

// writeIndex commits the plan's index, naming file i names[i].
func (s *fileSet) writeIndex(ctx context.Context, plan *ShardPlan, names []string) error {
	x := plan.Index()
	for i, f := range plan.Files {
		for _, t := range f.Tensors {
			x.WeightMap[t] = names[i]
		}
	}
	b, err := x.appendJSON(nil)
	if err != nil {
		return err
	}
	pf, err := s.dst.Create(ctx, plan.IndexName)
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", plan.IndexName, err)
	}
	if _, err := pf.Write(b); err != nil {
		pf.Abort()
		return fmt.Errorf("safetensors: %s: %w", plan.IndexName, err)
	}
	if err := pf.Commit(); err != nil {
		return fmt.Errorf("safetensors: %s: %w", plan.IndexName, err)
	}
	s.written += int64(len(b))
	return nil
}

// removeAll removes the named files, which this save committed, after a
// failure.
func (s *fileSet) removeAll(names []string) {
	for _, n := range names {
		s.dst.Remove(context.Background(), n)
	}
}

// byteCounter counts the bytes written through it.
type byteCounter struct {
	w io.Writer
	n int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeFiles writes and commits file i under names[i], up to
// s.concurrency at once. On failure every file is aborted or, if already
// committed, removed, and the first error is returned.
func (s *fileSet) writeFiles(ctx context.Context, names []string, write func(ctx context.Context, i int, w io.Writer) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu        sync.Mutex
		committed []string
		first     error
		wg        sync.WaitGroup
		sem       = make(chan struct{}, max(1, s.concurrency))
	)
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
			cancel(err)
		}
		mu.Unlock()
	}
	launched := 0
	for i, name := range names {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		launched++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pf, err := s.dst.Create(ctx, name)
			if err != nil {
				fail(fmt.Errorf("safetensors: %s: %w", name, err))
				return
			}
			cw := &byteCounter{w: pf}
			err = write(ctx, i, cw)
			if err == nil && s.beforeCommit != nil {
				err = s.beforeCommit(ctx, i)
			}
			if err == nil {
				err = context.Cause(ctx)
			}
			if err != nil {
				pf.Abort()
				fail(fmt.Errorf("safetensors: %s: %w", s.plan.Files[i].Name, err))
				return
			}
			if err := pf.Commit(); err != nil {
				fail(fmt.Errorf("safetensors: %s: %w", s.plan.Files[i].Name, err))
				return
			}
			mu.Lock()
			committed = append(committed, name)
			s.written += cw.n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if first == nil && launched < len(names) {
		first = context.Cause(ctx) // canceled before every file was begun
	}
	// Once every file is committed, nothing is removed, whatever happens
	// to ctx after: a committed file may have replaced an old one (the
	// single file of a set, or the one file of a File copy).
	if first != nil {
		s.removeAll(committed)
		return first
	}
	return nil
}
