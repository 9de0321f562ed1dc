//go:build linux && cgo

package main

import (
	"regexp"
	"strings"
	"testing"
)

// commands are the visible subcommands, and flags every flag one of them
// takes, as the help and the completion must show them.
var (
	commands = []string{"ls", "inspect", "gc", "rm", "top", "completion", "version", "help"}
	flags    = map[string][]string{
		"ls": {"--json", "--no-headings"}, "inspect": {"--json"}, "gc": {"--dry-run", "--json"},
		"rm": {"--force", "--json"}, "top": {"--once", "--json", "--interval"}, "version": {"--json"},
		"completion": {"--no-descriptions"},
	}
)

// Ensure that -h, --help (and -help) on the command and on every subcommand,
// and `help COMMAND`, print its usage on stdout and exit 0; that the main
// help names every subcommand as its own usage line does; and that bad
// arguments are usage errors: exit 2, one line on stderr, nothing on stdout.
func TestHelpAndUsage(t *testing.T) {
	var main string
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		r := mustIPC(t, 0, args...)
		if r.stderr != "" || !strings.Contains(r.stdout, "Exit codes") {
			t.Errorf("ipcarc %q: stdout %q stderr %q; want the usage and exit codes on stdout only", args, r.stdout, r.stderr)
		}
		main = r.stdout
	}
	for _, c := range commands {
		var usage string
		for _, args := range [][]string{{c, "-h"}, {c, "--help"}, {c, "-help"}, {"help", c}} {
			r := mustIPC(t, 0, args...)
			first, _, _ := strings.Cut(r.stdout, "\n")
			if r.stderr != "" || !strings.HasPrefix(first, "Usage: ipcarc "+c) || !strings.Contains(r.stdout, "-h, --help") {
				t.Errorf("ipcarc %q: stdout %q stderr %q; want its usage on stdout", args, r.stdout, r.stderr)
			}
			for _, f := range flags[c] {
				if !regexp.MustCompile(`\n +` + f + `\b`).MatchString(r.stdout) {
					t.Errorf("ipcarc %q does not list %s:\n%s", args, f, r.stdout)
				}
			}
			usage = strings.TrimPrefix(first, "Usage: ")
		}
		if !strings.Contains(main, "\n  "+usage+"\n") {
			t.Errorf("ipcarc help lacks %q (the usage line of ipcarc %s --help):\n%s", usage, c, main)
		}
	}
	if strings.Contains(main, "__") {
		t.Errorf("ipcarc help shows a hidden command:\n%s", main)
	}
	// --help wins over operands and other flags, wherever it stands.
	mustIPC(t, 0, "rm", "--force", "some-name", "--help")
	mustIPC(t, 0, "inspect", "a", "b", "-h")

	for _, args := range [][]string{
		nil, {"frobnicate"}, {"g"}, {"help", "bogus"}, {"help", "ls", "rm"}, {"help", "__as-owner"},
		{"ls", "--bogus"}, {"ls", "[bad"}, {"gc", "--force"}, {"gc", "[bad"}, {"rm", "--dry-run", "x"}, {"rm"},
		{"rm", "-x"}, {"inspect"}, {"inspect", "a", "b"}, {"inspect", "bad/name"},
		{"version", "extra"}, {"--version", "extra"}, {"version", "--bogus"},
		{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"},
		{"top", "--interval"}, {"top", "--interval", "soon"}, {"top", "--interval", "1ms"}, {"top", "--bogus"},
		{"top", "--once", "[bad"},
	} {
		r := ipc(args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("ipcarc %q: exit %d stdout %q stderr %q; want exit 2 and one line on stderr", args, r.code, r.stdout, r.stderr)
		}
	}
	// The owner-side child's words are not flags, and a wrong count is a
	// silent usage error (it is exec'd by the parent, never typed).
	if r := ipc("__as-owner", "--help"); r.code != 2 || r.stdout != "" || r.stderr != "" {
		t.Errorf("ipcarc __as-owner --help: %+v; want exit 2 and no output", r)
	}
}

// Ensure that -V, -version, --version and version print the same.
func TestVersionSpellings(t *testing.T) {
	want := mustIPC(t, 0, "version").stdout
	for _, args := range [][]string{{"-V"}, {"-version"}, {"--version"}} {
		if r := mustIPC(t, 0, args...); r.stdout != want || r.stderr != "" {
			t.Errorf("ipcarc %q = %q, stderr %q; want %q", args, r.stdout, r.stderr, want)
		}
	}
	if !strings.HasPrefix(want, "ipcarc ") {
		t.Errorf("version = %q", want)
	}
}
