// Command safetensors inspects, checks, compares and rewrites safetensors
// files: single files, sharded sets (by their model.safetensors.index.json or
// the folder holding it) and files on HTTP(S) servers.
//
// Usage:
//
//	safetensors inspect MODEL        tensors, dtypes, shapes, sizes, offsets, totals (--json)
//	safetensors meta MODEL           the metadata, with JSON values decoded (--json)
//	safetensors verify MODEL...      check every rule of the format (--values, --hash)
//	safetensors stats MODEL [NAME]   min, max, mean, std, NaN/Inf counts, histogram
//	safetensors diff A B             what differs between two models
//	safetensors convert --dtype bf16 IN OUT
//	safetensors extract IN OUT NAME[EXPR]...
//	safetensors merge IN OUT         a sharded set into one file
//	safetensors split --max-shard-size 5GB IN OUTDIR
//	safetensors convert-torch IN OUT a PyTorch checkpoint to safetensors
//
// Run "safetensors help COMMAND" for the details of each.
//
// Exit codes: 0 on success; 1 when a command fails (an unreadable or invalid
// file, verify finding a problem); 2 for a usage error (an unknown command or
// flag, a wrong number of arguments). diff exits 0 when the models are equal,
// 1 when they differ and 2 on any error, as diff(1) and cmp(1) do.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// An interrupt cancels the command, which then removes its temporary
	// files and exits with code 1; a second one kills it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	os.Exit(runContext(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args (without the program name), writing its
// output to stdout and its errors, warnings and progress bars to stderr, and
// returns the exit code. Progress bars are drawn only when stderr is an
// *os.File that is a terminal.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context whose cancellation stops long commands
// between chunks of data.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	quietObjectStores()
	a := newApp(stdout, stderr)
	a.ctx = ctx
	root := a.rootCommand()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return a.exitCode(cmd, err)
}

// quietObjectStores keeps the AWS SDK from printing a debug line on stderr
// for every ranged read whose response carries no checksum, which is every
// one: a range of an object has no checksum to validate. The blob package
// checks each response against the object's ETag, size and modification
// time instead. A value the user set is left alone.
func quietObjectStores() {
	if _, ok := os.LookupEnv("AWS_RESPONSE_CHECKSUM_VALIDATION"); !ok {
		os.Setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
	}
}
