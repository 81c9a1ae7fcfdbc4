package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"time"

	maruel "github.com/maruel/safetensors"
	nlp "github.com/nlpodyssey/safetensors"
	ollama "github.com/ollama/ollama/x/imagegen/safetensors"

	"github.com/safetensors-go/safetensors/bench/internal/peers"
)

// A memJob is one library doing one whole task in a child process of its
// own, whose peak memory is measured: the peak of the Go heap, sampled
// every millisecond inside the child, and the peak resident set size that
// the kernel recorded for the child's address space (VmHWM in
// /proc/self/status; getrusage's ru_maxrss is no use here, as Linux
// charges a child started with vfork the parent's peak). Resident size
// counts the pages of a mapped file that the process touched: they are the
// page cache's, shared, not memory the library allocated.
type memJob struct {
	id   string
	lib  string
	task string // "read" or "copy"
	what string
	run  func(model, out string) error
}

const (
	memEnv   = "SAFETENSORS_BENCH_MEM_JOB"
	modelEnv = "SAFETENSORS_BENCH_MODEL"
	outEnv   = "SAFETENSORS_BENCH_OUT"
)

// memTasks are the tasks of the memory table.
var memTasks = map[string]string{
	"read":   "open the 1 GiB file and get every tensor, touching every page; nothing kept",
	"copy":   "open the 1 GiB file and save all its tensors to a new file through the library",
	"stream": "stream 8 GiB through the writer (to io.Discard), to show its memory does not grow with the size",
}

// memJobs are the jobs of the memory table, one function per library.
var memJobs []func() []memJob

func init() {
	memJobs = []func() []memJob{refMemJobs, oursMemJobs, oursSaveMemJobs, peerMemJobs}
}

func refMemJobs() []memJob {
	return []memJob{{
		id: "copy/ref", lib: "ref", task: "copy", what: "os.Open, os.Create, io.Copy (copy_file_range)",
		run: func(model, out string) error {
			in, err := os.Open(model)
			if err != nil {
				return err
			}
			defer in.Close()
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, in); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}}
}

func oursMemJobs() []memJob {
	return []memJob{
		{
			id: "read/ours/views", lib: "ours", task: "read", what: "Open, GetTensor (views), touch",
			run: func(model, _ string) error {
				return peers.Libs[0].ReadAll(model, func(_ string, b []byte) { sink += touch(b) })
			},
		},
		{
			id: "read/ours/reader", lib: "ours", task: "read", what: "NewReader, GetTensor (new buffers), touch",
			run: func(model, _ string) error {
				return peers.Libs[1].ReadAll(model, func(_ string, b []byte) { sink += touch(b) })
			},
		},
	}
}

func peerMemJobs() []memJob {
	return []memJob{
		{
			id: "read/nlpodyssey", lib: "nlpodyssey", task: "read", what: "mmap, Deserialize, Tensor (views), touch",
			run: func(model, _ string) error {
				l, _ := peers.LibByName("nlpodyssey")
				return l.ReadAll(model, func(_ string, b []byte) { sink += touch(b) })
			},
		},
		{
			id: "read/maruel", lib: "maruel", task: "read", what: "Mapped.Open, Tensors (views), touch",
			run: func(model, _ string) error {
				l, _ := peers.LibByName("maruel")
				return l.ReadAll(model, func(_ string, b []byte) { sink += touch(b) })
			},
		},
		{
			id: "read/ollama", lib: "ollama", task: "read", what: "OpenForExtraction, GetTensor, io.ReadFull into a new buffer, touch",
			run: func(model, _ string) error {
				x, err := ollama.OpenForExtraction(model)
				if err != nil {
					return err
				}
				defer x.Close()
				for _, name := range x.ListTensors() {
					td, err := x.GetTensor(name)
					if err != nil {
						return err
					}
					b := make([]byte, td.Size)
					if _, err := io.ReadFull(td.Reader(), b); err != nil {
						return err
					}
					sink += touch(b)
				}
				return nil
			},
		},
		{
			id: "copy/nlpodyssey", lib: "nlpodyssey", task: "copy", what: "mmap, Deserialize, Tensors (views), SerializeToWriter(*os.File)",
			run: func(model, out string) error {
				in, err := peers.OpenNLP(model)
				if err != nil {
					return err
				}
				defer in.Close()
				views := map[string]nlp.TensorView{}
				for _, t := range in.Tensors() {
					views[t.Name] = t.TensorView
				}
				// SafeTensors offers no way to read the metadata back: restate it.
				return createWith(out, func(f *os.File) error { return nlp.SerializeToWriter(views, map[string]string{"format": "pt"}, f) })
			},
		},
		{
			id: "copy/maruel", lib: "maruel", task: "copy", what: "Mapped.Open, File.Serialize(*os.File)",
			run: func(model, out string) error {
				var m maruel.Mapped
				if err := m.Open(model); err != nil {
					return err
				}
				defer m.Close()
				return createWith(out, func(f *os.File) error { return m.File.Serialize(f) })
			},
		},
		{
			id: "copy/ollama", lib: "ollama", task: "copy", what: "OpenForExtraction, ExtractAll, BuildPackedSafetensorsReader, io.Copy(*os.File)",
			run: func(model, out string) error {
				x, err := ollama.OpenForExtraction(model)
				if err != nil {
					return err
				}
				defer x.Close()
				tds, err := x.ExtractAll()
				if err != nil {
					return err
				}
				return createWith(out, func(f *os.File) error {
					_, err := io.Copy(f, ollama.BuildPackedSafetensorsReader(tds))
					return err
				})
			},
		},
	}
}

// sink receives the touched bytes' sums of the memory jobs, so that the
// compiler cannot drop the reads.
var sink uint64

func createWith(path string, write func(f *os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// memResult is what a child reports, plus the parent's measure of it.
type memResult struct {
	PeakHeap uint64 // bytes
	Allocs   uint64 // bytes allocated in all
	Err      string
	MaxRSS   int64 // bytes: the peak resident set size
	Elapsed  time.Duration
}

// childMain runs a memory job when the process is a child of
// printMemory, and exits; otherwise it returns at once.
func childMain() {
	id := os.Getenv(memEnv)
	if id == "" {
		return
	}
	var job *memJob
	for _, jobs := range memJobs {
		for _, j := range jobs() {
			if j.id == id {
				job = &j
			}
		}
	}
	if job == nil {
		fmt.Fprintln(os.Stderr, "unknown memory job", id)
		os.Exit(3)
	}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/allocs:bytes"}}
	var peak uint64
	read := func() {
		metrics.Read(samples)
		peak = max(peak, samples[0].Value.Uint64())
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				read()
			}
		}
	}()
	err := job.run(os.Getenv(modelEnv), os.Getenv(outEnv))
	close(stop)
	<-stopped
	read()
	r := memResult{PeakHeap: peak, Allocs: samples[1].Value.Uint64(), MaxRSS: vmHWM()}
	if err != nil {
		r.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}

// vmHWM returns the peak resident set size of this process, in bytes, or
// -1 if /proc does not say.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return -1
}

func runMemJob(e *env, j memJob) memResult {
	exe, err := os.Executable()
	if err != nil {
		return memResult{Err: err.Error()}
	}
	out := filepath.Join(e.dir, "mem-out.safetensors")
	defer os.Remove(out)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), memEnv+"="+j.id, modelEnv+"="+e.model, outEnv+"="+out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err = cmd.Run()
	elapsed := time.Since(t0)
	var r memResult
	if err != nil {
		return memResult{Err: fmt.Sprintf("%v: %s", err, peers.Short(stderr.String(), 100))}
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return memResult{Err: "unreadable child output"}
	}
	r.Elapsed = elapsed
	if r.Err == "" && j.task == "copy" {
		if err := e.checkSaved(out); err != nil {
			r.Err = err.Error()
		}
	}
	return r
}

// printMemory runs every memory job in a child and prints the table; it
// returns the results by job id, for the targets.
func printMemory(e *env) map[string]memResult {
	results := map[string]memResult{}
	fmt.Println("## Peak memory, each task in a child process of its own")
	fmt.Println()
	for _, task := range []string{"read", "copy", "stream"} {
		if !hasTask(task) {
			continue
		}
		fmt.Printf("Task %s: %s.\n\n", task, memTasks[task])
		fmt.Println("| library | what | peak Go heap | allocated in all | peak RSS (incl. mapped file pages) | wall time |")
		fmt.Println("|---|---|---:|---:|---:|---:|")
		for _, jobs := range memJobs {
			for _, j := range jobs() {
				if j.task != task {
					continue
				}
				r := runMemJob(e, j)
				results[j.id] = r
				if r.Err != "" {
					fmt.Printf("| %s | %s | error: %s | | | |\n", j.lib, j.what, peers.Short(r.Err, 120))
					continue
				}
				fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", j.lib, j.what, mib(r.PeakHeap), mib(r.Allocs), mib(uint64(r.MaxRSS)), dur(r.Elapsed))
			}
		}
		fmt.Println()
	}
	return results
}

func hasTask(task string) bool {
	for _, jobs := range memJobs {
		for _, j := range jobs() {
			if j.task == task {
				return true
			}
		}
	}
	return false
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
