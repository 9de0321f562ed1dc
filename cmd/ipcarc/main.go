// Command ipcarc lists, inspects, garbage-collects and removes the ipcarc
// shared-memory segments in /dev/shm. Run `ipcarc help` for usage and exit
// codes, `ipcarc help COMMAND` (or `ipcarc COMMAND --help`) for a command's.
//
// The command tree is built with cobra (root.go, one file per subcommand);
// run is the whole program, in process, so the tests call it directly.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/ipcarc/ipcarc"
)

// Exit codes, documented in the root help (root.go).
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitRefused = 3
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run runs the command line args (without the program name) and returns the
// exit code. Each call builds a fresh command tree, so it can be called many
// times in one process.
func run(args []string, stdout, stderr io.Writer) int {
	return execute(newRootCmd(), compatArgs(args), stdout, stderr)
}

// compatArgs keeps the spellings the command accepted before cobra: -help
// (pflag would read it as -h -e -l -p) anywhere before "--", and -V,
// -version or --version in the first place for `version`. The hidden
// subcommands (completion requests, the owner-side child) get their words
// untouched.
func compatArgs(args []string) []string {
	if len(args) == 0 || strings.HasPrefix(args[0], "__") {
		return args
	}
	out := append([]string(nil), args...)
	switch out[0] {
	case "-V", "-version", "--version":
		out[0] = "version"
	}
	for i, a := range out {
		if a == "--" {
			break
		}
		if a == "-help" {
			out[i] = "--help"
		}
	}
	return out
}

// codeError ends a command with an exit code; what it had to say is already
// on stderr.
type codeError int

func (e codeError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// exit turns a subcommand's exit code into what its RunE returns.
func exit(code int) error {
	if code == exitOK {
		return nil
	}
	return codeError(code)
}

// usageError is a usage error of one command, reported on one line.
type usageError struct {
	cmd string // "ls", "top"; "" for the command as a whole
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, a ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

// printUsage reports a usage error on one line and returns exitUsage.
func printUsage(stderr io.Writer, cmd, msg string) int {
	msg = oneLine(msg)
	if cmd == "" {
		fmt.Fprintf(stderr, "ipcarc: %s; run 'ipcarc help'\n", msg)
	} else {
		fmt.Fprintf(stderr, "ipcarc: %s: %s; run 'ipcarc %s --help'\n", cmd, msg, cmd)
	}
	return exitUsage
}

// oneLine is a message on one line: cobra's suggestions ("\n\nDid you mean
// this?\n\tgc\n") become "; did you mean: gc".
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Replace(s, "\n\nDid you mean this?\n\t", "; did you mean: ", 1)
	s = strings.ReplaceAll(s, "\n\t", ", ")
	return strings.ReplaceAll(s, "\n", " ")
}

// errLine is err's message on one line.
func errLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// fail prints err on one line and returns its exit code.
func fail(stderr io.Writer, err error, hint string) int {
	msg := errLine(err)
	if hint != "" {
		msg += "; " + hint
	}
	fmt.Fprintln(stderr, msg)
	return exitCode(err)
}

func exitCode(err error) int {
	var ce *codeErr
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, ipcarc.ErrInvalidName):
		return exitUsage
	case errors.Is(err, ipcarc.ErrNotExist), errors.Is(err, ipcarc.ErrBusy), errors.Is(err, ipcarc.ErrInUse):
		return exitRefused
	}
	return exitError
}

// worse keeps the exit code that matters most when several segments fail:
// an error outranks a refusal, a usage error both.
func worse(a, b int) int {
	rank := map[int]int{exitOK: 0, exitRefused: 1, exitError: 2, exitUsage: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func isPattern(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// match reports whether name matches one of the glob patterns (all when none).
func match(name string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(strings.TrimPrefix(p, "/"), name); ok {
			return true
		}
	}
	return false
}

func checkPatterns(cmd string, patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return usagef(cmd, "bad pattern %q: %v", p, err)
		}
	}
	return nil
}
