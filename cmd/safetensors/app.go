package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// app is one run of the program: where output goes and the global flags.
type app struct {
	ctx            context.Context // cancelled by an interrupt
	stdout, stderr io.Writer
	quiet          bool     // --quiet: no progress bars, no warnings
	headers        []string // --header: "Name: value" for every HTTP request
	force          bool     // --force: replace existing outputs
	terminal       bool     // stderr is a terminal: progress bars may be drawn
}

func newApp(stdout, stderr io.Writer) *app {
	a := &app{ctx: context.Background(), stdout: stdout, stderr: stderr}
	if f, ok := stderr.(*os.File); ok {
		a.terminal = term.IsTerminal(int(f.Fd()))
	}
	return a
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "safetensors",
		Short: "Inspect, check, compare and rewrite safetensors files",
		Long: `safetensors inspects, checks, compares and rewrites safetensors files.

Every MODEL argument is a .safetensors file, a sharded set given by its
model.safetensors.index.json or by the folder holding it, an http(s) URL of
either, or a Hugging Face Hub name, hf://ORG/NAME[@REV][/PATH], read from the
local cache when it is there and over the network otherwise (see "help
download" for the HF_* variables).

Exit codes: 0 on success, 1 when a command fails (an unreadable or invalid
file, or verify finding a problem), 2 on a usage error. diff exits 0 when the
models are equal, 1 when they differ and 2 on any error.`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// A root command without Run prints its help for "safetensors"
		// alone, and cobra reports an unknown command with suggestions.
	}
	root.SetVersionTemplate("safetensors {{.Version}}\n")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{err, cmd.CommandPath()}
	})
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "no progress bars or warnings on stderr")
	root.PersistentFlags().StringArrayVarP(&a.headers, "header", "H", nil, "add the header `\"Name: value\"` to every HTTP request (repeatable)")
	root.AddCommand(
		a.inspectCommand(),
		a.metaCommand(),
		a.verifyCommand(),
		a.statsCommand(),
		a.diffCommand(),
		a.convertCommand(),
		a.extractCommand(),
		a.mergeCommand(),
		a.splitCommand(),
		a.convertTorchCommand(),
		a.downloadCommand(),
		a.cpCommand(),
	)
	return root
}

// warn prints warnings on stderr, one line each, unless --quiet.
func (a *app) warn(msgs ...string) {
	if a.quiet {
		return
	}
	for _, m := range msgs {
		fmt.Fprintf(a.stderr, "safetensors: warning: %s\n", m)
	}
}

// usageError is a mistake in the command line: exit code 2. cmd is the
// command's path ("safetensors inspect"), for the hint to its help.
type usageError struct {
	err error
	cmd string
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error; runE fills in the command.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// commandError is an error from a command's body: exit code 1, unless it
// carries another code.
type commandError struct {
	err  error
	code int
}

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// silentExit ends a run with an exit code and no message: the command has
// already reported what went wrong (verify's verdicts, diff's differences).
type silentExit struct{ code int }

func (e silentExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// runE adapts a command body for cobra: its errors are command errors (exit
// code 1), except the usage errors and silent exits it returns on purpose.
func runE(body func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := body(cmd, args)
		var ue *usageError
		if errors.As(err, &ue) {
			if ue.cmd == "" {
				ue.cmd = cmd.CommandPath()
			}
			return err
		}
		var se silentExit
		var ce *commandError
		if err == nil || errors.As(err, &se) || errors.As(err, &ce) {
			return err
		}
		return &commandError{err: err, code: 1}
	}
}

// exactArgs and rangeArgs are cobra's validators returning usage errors.
func exactArgs(n int) cobra.PositionalArgs {
	return usageArgs(cobra.ExactArgs(n))
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return usageArgs(cobra.RangeArgs(lo, hi))
}

func minArgs(n int) cobra.PositionalArgs {
	return usageArgs(cobra.MinimumNArgs(n))
}

func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &usageError{err, cmd.CommandPath()}
		}
		return nil
	}
}

// exitCode prints err, if any, as one line on stderr and returns the exit
// code: 0 for nil, 2 for usage errors (anything cobra itself returns: an
// unknown command, a missing required flag), 1 or the command's own code for
// errors of a command's body.
func (a *app) exitCode(cmd *cobra.Command, err error) int {
	if err == nil {
		return 0
	}
	var se silentExit
	if errors.As(err, &se) {
		return se.code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(a.stderr, "safetensors: interrupted")
		return 130 // 128 + SIGINT, as shells report it
	}
	var ce *commandError
	if errors.As(err, &ce) {
		fmt.Fprintf(a.stderr, "safetensors: %s\n", describe(ce.err))
		return ce.code
	}
	// A usage error: ours, a flag error, or one of cobra's (unknown command,
	// required flag not set).
	path := "safetensors"
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd != "" {
		path = ue.cmd
	} else if cmd != nil {
		path = cmd.CommandPath()
	}
	fmt.Fprintf(a.stderr, "safetensors: %s\n", strings.TrimRight(err.Error(), "\n"))
	fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", path)
	return 2
}

// inputError is an error about one of the command's inputs or outputs: a
// file, an index, a URL.
type inputError struct {
	name   string
	err    error
	output bool // about a file the command writes
}

func (e *inputError) Error() string { return e.name + ": " + e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// inFile wraps err, if not nil, with the name of the file it is about,
// unless it names that file already or is a usage error.
func inFile(name string, err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	var ie *inputError
	if errors.As(err, &ie) && (ie.name == name || ie.output) {
		return err
	}
	return &inputError{name: name, err: err}
}

// outFile wraps err, if not nil, with the name of the output file it is
// about; inFile leaves such errors as they are.
func outFile(name string, err error) error {
	if err == nil {
		return nil
	}
	var ue *usageError
	var ie *inputError
	if errors.As(err, &ue) || (errors.As(err, &ie) && ie.name == name) {
		return err
	}
	return &inputError{name: name, err: err, output: true}
}

// describe renders an error as one line: the file it is about, then what is
// wrong, without the repeated "safetensors: " prefixes of the library's
// wrapped errors. For example:
//
//	model.safetensors: invalid offset: tensor "x": ...
func describe(err error) string {
	var b strings.Builder
	for {
		var name string
		switch e := err.(type) {
		case *inputError:
			name, err = e.name, e.err
		case *fs.PathError:
			if e.Op != "open" && e.Op != "stat" && e.Op != "mmap" && e.Op != "read" {
				name = e.Op + " " + e.Path
			} else {
				name = e.Path
			}
			err = e.Err
		case *commandError:
			err = e.err
			continue
		default:
			b.WriteString(cleanMessage(err.Error()))
			return strings.ReplaceAll(b.String(), "\n", " ")
		}
		// A path error inside an input error about the same file names it
		// once.
		if s := b.String(); !strings.HasSuffix(s, name+": ") {
			b.WriteString(name)
			b.WriteString(": ")
		}
	}
}

// cleanMessage removes the library's "safetensors: " prefixes: the program's
// own prefix says it once.
func cleanMessage(s string) string {
	s = strings.TrimPrefix(s, "safetensors: ")
	s = strings.ReplaceAll(s, ": safetensors: ", ": ")
	return flagNames.Replace(s)
}

// flagNames turns the library's hints about its Go options into the flags
// that set them here.
var flagNames = strings.NewReplacer(
	"Options.SkipNonTensors", "--skip-non-tensors",
	"Options.MaxPickleSize", "--max-pickle-size",
	"Options.MaxOutputSize", "--max-output-size",
	"an Authorization header in Options.Header", `--header "Authorization: Bearer TOKEN"`,
	"Options.Header", "--header",
	"Options.MaxHeaderSize", "the header size limit",
)
