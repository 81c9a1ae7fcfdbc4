package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/safetensors-go/safetensors/bench/internal/peers"
)

// The environment variables that make a process a child of the matrix:
// ChildEnv names the library, FileEnv the file to read.
const (
	ChildEnv = "SAFETENSORS_BENCH_MATRIX_LIB"
	FileEnv  = "SAFETENSORS_BENCH_MATRIX_FILE"
)

// ChildMemory is the address-space limit (RLIMIT_AS) of a child: a reader
// that allocates what a hostile header claims fails inside it rather than
// taking memory from the machine.
const ChildMemory = 4 << 30

// Outcome kinds.
const (
	OK      = "OK"
	Error   = "error"
	Panic   = "panic"
	Crash   = "crash"
	Timeout = "timeout"
)

// Result is what one library did with one file.
type Result struct {
	Kind     string // OK, Error, Panic, Crash or Timeout
	Msg      string // the error or panic message, the crash's reason
	Sentinel string // for an error: the names of our sentinels it wraps
	Tensors  int    // for OK: how many tensors were read
}

// Right reports whether r is what a correct reader does with c: read a
// valid file, refuse an invalid one with an error (any error, for a peer).
func (r Result) Right(c Case) bool {
	if c.Valid() {
		return r.Kind == OK
	}
	return r.Kind == Error
}

// Short is r in a few words, for a table cell.
func (r Result) Short() string {
	switch r.Kind {
	case OK:
		return fmt.Sprintf("OK (%d)", r.Tensors)
	case Error:
		if r.Sentinel != "" {
			return r.Sentinel
		}
		return "error"
	case Crash:
		return "crash: " + r.Msg
	}
	return r.Kind
}

// ChildMain runs the child's part when the process was started as a child
// of the matrix (see Run), and exits; otherwise it returns at once. Call it
// first thing in main or TestMain.
func ChildMain() {
	name := os.Getenv(ChildEnv)
	if name == "" {
		return
	}
	lim := syscall.Rlimit{Cur: ChildMemory, Max: ChildMemory}
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "setrlimit:", err)
		os.Exit(3)
	}
	lib, ok := peers.LibByName(name)
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown library", name)
		os.Exit(3)
	}
	r := childRead(lib, os.Getenv(FileEnv))
	json.NewEncoder(os.Stdout).Encode(r)
	os.Exit(0)
}

// childRead reads every tensor of path, touching each byte, and turns a
// panic into a Result.
func childRead(lib Lib, path string) (r Result) {
	defer func() {
		if p := recover(); p != nil {
			r = Result{Kind: Panic, Msg: fmt.Sprint(p)}
		}
	}()
	n := 0
	var sum byte
	err := lib.ReadAll(path, func(name string, data []byte) {
		n++
		for _, b := range data {
			sum += b
		}
	})
	if err != nil {
		return Result{Kind: Error, Msg: err.Error(), Sentinel: SentinelName(err)}
	}
	Sink += sum
	return Result{Kind: OK, Tensors: n}
}

// Sink receives the sum of the bytes a child read, so that the compiler
// cannot drop the reads.
var Sink byte

// Lib is peers.Lib, for short.
type Lib = peers.Lib

// Run reads path with the named library in a child process (this same
// executable, which must call ChildMain first thing), and classifies what
// happened. The child is killed after timeout.
func Run(lib, path string, timeout time.Duration) Result {
	exe, err := os.Executable()
	if err != nil {
		return Result{Kind: Crash, Msg: "cannot find own executable: " + err.Error()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), ChildEnv+"="+lib, FileEnv+"="+path, "GOTRACEBACK=single")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		return Result{Kind: Timeout, Msg: fmt.Sprintf("killed after %v", timeout)}
	}
	if err == nil {
		var r Result
		if jerr := json.Unmarshal(stdout.Bytes(), &r); jerr != nil {
			return Result{Kind: Crash, Msg: "unreadable child output: " + peers.Short(stdout.String(), 80)}
		}
		return r
	}
	return classify(err, stderr.String())
}

// classify names how a child died: a Go panic it did not recover (in
// another goroutine), a fatal runtime error (out of memory), or a signal.
func classify(err error, stderr string) Result {
	first := func(prefix string) string {
		for _, line := range strings.Split(stderr, "\n") {
			if strings.HasPrefix(line, prefix) {
				return strings.TrimPrefix(line, prefix)
			}
		}
		return ""
	}
	if m := first("fatal error: "); m != "" {
		if strings.Contains(m, "out of memory") {
			return Result{Kind: Crash, Msg: "out of memory"}
		}
		return Result{Kind: Crash, Msg: "fatal error: " + m}
	}
	if m := first("panic: "); m != "" {
		return Result{Kind: Panic, Msg: m}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return Result{Kind: Crash, Msg: "signal " + ws.Signal().String()}
		}
	}
	return Result{Kind: Crash, Msg: err.Error() + ": " + peers.Short(stderr, 100)}
}
