//go:build linux && cgo

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// installHint says how to get a shell the syntax check needs.
var installHint = map[string]string{
	"zsh": "apt-get install zsh", "fish": "apt-get install fish",
	"pwsh": "install PowerShell (https://learn.microsoft.com/powershell/scripting/install/install-debian)",
}

// Ensure that `ipcarc completion SHELL` prints cobra's script for each
// shell, that the shell accepts its syntax (bash always; zsh, fish and
// pwsh where installed, else the check skips and says how to install it).
func TestCompletionScripts(t *testing.T) {
	for _, shell := range shells {
		t.Run(shell, func(t *testing.T) {
			r := mustIPC(t, 0, "completion", shell)
			if !strings.Contains(r.stdout, "__complete") || !strings.Contains(r.stdout, "ipcarc") {
				t.Fatalf("the %s script does not ask ipcarc __complete:\n%.300s", shell, r.stdout)
			}
			if nd := mustIPC(t, 0, "completion", "--no-descriptions", shell).stdout; nd == r.stdout && shell != "powershell" {
				t.Errorf("completion --no-descriptions %s prints the same script", shell)
			}
			ext := map[string]string{"bash": "bash", "zsh": "zsh", "fish": "fish", "powershell": "ps1"}[shell]
			script := filepath.Join(t.TempDir(), "ipcarc."+ext)
			if err := os.WriteFile(script, []byte(r.stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			var check *exec.Cmd
			prog := shell
			switch shell {
			case "powershell":
				prog = "pwsh"
				// Parse only: the parser's errors, none expected.
				check = exec.Command(prog, "-NoProfile", "-NonInteractive", "-Command",
					`$e=$null; [void][System.Management.Automation.Language.Parser]::ParseFile($args[0],[ref]$null,[ref]$e); if ($e.Count) { $e; exit 1 }`, script)
			default:
				check = exec.Command(shell, "-n", script)
			}
			if _, err := exec.LookPath(prog); err != nil {
				if shell == "bash" {
					t.Fatal("bash is not installed: its completion script must always be checked")
				}
				t.Skipf("%s is not installed, so the %s script's syntax is not checked (%s)", prog, shell, installHint[prog])
			}
			if out, err := check.CombinedOutput(); err != nil {
				t.Fatalf("%s rejects the script: %v\n%s", prog, err, out)
			}
		})
	}
}

// complete asks the command, in process, what cobra's scripts ask it:
// `ipcarc __completeNoDesc WORDS...`, the last word being completed.
func complete(t *testing.T, words ...string) []string {
	t.Helper()
	r := mustIPC(t, 0, append([]string{"__completeNoDesc"}, words...)...)
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if l != "" && !strings.HasPrefix(l, ":") { // ":4" is the directive
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return got
}

func shmExistsPath(p string) bool { _, err := os.Stat(p); return err == nil }

func sorted(s ...string) []string { slices.Sort(s); return s }

// Ensure that the completion offers the commands (not the hidden ones),
// each command's flags, the shells, and the live segments' names for
// inspect, rm, gc, top and ls.
func TestCompletionDynamic(t *testing.T) {
	base := testName(t)
	s1, s2 := base+"-one", base+"-two"
	newSegment(t, s1)
	newSegment(t, s2)
	for _, c := range []struct {
		words []string
		want  []string
	}{
		{[]string{""}, sorted(commands...)},
		{[]string{"g"}, []string{"gc"}},
		{[]string{"--"}, []string{"--help", "--version"}},
		{[]string{"ls", "--"}, []string{"--help", "--json", "--no-headings"}},
		{[]string{"rm", "--force", "--"}, []string{"--help", "--json"}},
		{[]string{"inspect", base + "-"}, []string{s1, s2}},
		{[]string{"inspect", s1, base + "-"}, nil}, // one NAME only
		{[]string{"rm", "--force", base + "-o"}, []string{s1}},
		{[]string{"rm", s1, base + "-"}, []string{s2}}, // not twice
		{[]string{"gc", "--dry-run", base + "-t"}, []string{s2}},
		{[]string{"top", "--once", base + "-"}, []string{s1, s2}},
		{[]string{"ls", base + "-"}, []string{s1, s2}},
		{[]string{"top", "--interval", ""}, []string{"100ms", "1s", "2s", "500ms", "5s"}},
		{[]string{"completion", ""}, sorted(shells...)},
		{[]string{"help", "v"}, []string{"version"}},
		{[]string{"version", ""}, nil},
	} {
		if got := complete(t, c.words...); !slices.Equal(got, c.want) {
			t.Errorf("completing ipcarc %q: %q, want %q", c.words, got, c.want)
		}
	}
}

// Ensure that the bash script, sourced into bash, completes segment names
// by running the command as typed (the built binary) through __complete.
func TestCompletionBash(t *testing.T) {
	exe := binary(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Fatal("bash is not installed")
	}
	script := filepath.Join(t.TempDir(), "ipcarc.bash")
	if err := os.WriteFile(script, []byte(mustIPC(t, 0, "completion", "bash").stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	base := testName(t)
	s1, s2 := base+"-one", base+"-two"
	newSegment(t, s1)
	newSegment(t, s2)
	// cobra's script needs bash-completion's _get_comp_words_by_ref: the
	// package's own when installed, else the few lines of it the script uses.
	pre := `_get_comp_words_by_ref() { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }`
	if bc := "/usr/share/bash-completion/bash_completion"; shmExistsPath(bc) {
		pre = `source ` + bc
	} else {
		t.Logf("bash-completion is not installed (apt-get install bash-completion): using a stand-in for _get_comp_words_by_ref")
	}
	bash := func(words ...string) []string {
		t.Helper()
		// compopt works only inside a real completion: a no-op here.
		prog := pre + "\ncompopt() { :; }\n" + `source "$0" && COMP_WORDS=("$@") && COMP_CWORD=$(($# - 1)) && COMP_LINE="$*" && COMP_POINT=${#COMP_LINE} &&
__start_ipcarc && printf '%s\n' "${COMPREPLY[@]}"`
		cmd := exec.Command("bash", append([]string{"-c", prog, script, exe}, words...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("completing %q in bash: %v\n%s", words, err, stderr.String())
		}
		got := strings.Fields(string(out))
		slices.Sort(got)
		return got
	}
	if got := bash("inspect", base+"-"); !slices.Equal(got, []string{s1, s2}) {
		t.Errorf("bash completes inspect %s-: %q, want %q", base, got, []string{s1, s2})
	}
	if got := bash("rm", "--force", base+"-o"); !slices.Equal(got, []string{s1}) {
		t.Errorf("bash completes rm --force %s-o: %q, want %q", base, got, []string{s1})
	}
	if got := bash("comp"); !slices.Equal(got, []string{"completion"}) {
		t.Errorf("bash completes comp: %q", got)
	}
}
