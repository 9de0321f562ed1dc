package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// The completion scripts are made from the commands table: every command,
// its visible flags (with their usage as the description) and what its
// operands are. Segment names come from `ipcarc ls --no-headings`, run by the
// command as typed (so that ./ipcarc completes with its own build).

var shells = []string{"bash", "zsh", "fish"}

var completionCmd = &command{
	name: "completion", synopsis: "bash|zsh|fish", summary: "print a shell completion script", operands: "shells",
	about: `Prints a completion script for the shell: commands, their flags, and segment
names (from ipcarc ls) where a command takes them.
  bash:  source <(ipcarc completion bash)
         or save it as ~/.local/share/bash-completion/completions/ipcarc
  zsh:   source <(ipcarc completion zsh)    (after compinit)
         or save it as _ipcarc in a directory of $fpath
  fish:  ipcarc completion fish | source
         or save it as ~/.config/fish/completions/ipcarc.fish
`,
	setup: func(fs *flag.FlagSet) runFunc {
		return func(operands []string, stdout, stderr io.Writer) int {
			if len(operands) != 1 {
				return cmdUsage(stderr, "completion", "takes one shell: bash, zsh or fish")
			}
			var script string
			switch operands[0] {
			case "bash":
				script = bashCompletion()
			case "zsh":
				script = zshCompletion()
			case "fish":
				script = fishCompletion()
			default:
				return cmdUsage(stderr, "completion", fmt.Sprintf("unknown shell %q: bash, zsh or fish", operands[0]))
			}
			fmt.Fprint(stdout, script)
			return exitOK
		}
	},
}

// compFlag is one flag as the completion scripts offer it.
type compFlag struct {
	name, usage string
	value       bool // takes a value: nothing to complete after it
}

func completionFlags(c *command) []compFlag {
	fs, _ := c.flagSet()
	var out []compFlag
	for _, f := range visibleFlags(fs) {
		_, usage := flag.UnquoteUsage(f)
		b, isBool := f.Value.(interface{ IsBoolFlag() bool })
		out = append(out, compFlag{name: f.Name, usage: usage, value: !isBool || !b.IsBoolFlag()})
	}
	return append(out, compFlag{name: "help", usage: "print this command's help"})
}

func commandNames() []string {
	var n []string
	for _, c := range commands {
		n = append(n, c.name)
	}
	return n
}

// sq quotes s for any of the three shells, in single quotes.
func sq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func bashCompletion() string {
	var b strings.Builder
	b.WriteString(`# bash completion for ipcarc
#   source <(ipcarc completion bash)
# or save as ~/.local/share/bash-completion/completions/ipcarc

_ipcarc_segments() {
	"${COMP_WORDS[0]}" ls --no-headings 2>/dev/null | while read -r name _; do
		printf '%s\n' "$name"
	done
}

_ipcarc() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev= cmd= flags= words= i
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $cmd in
`)
	fmt.Fprintf(&b, "\t'') flags='--help --version'; words=%s ;;\n", sq(strings.Join(commandNames(), " ")))
	for _, c := range commands {
		var fl, valued []string
		for _, f := range completionFlags(c) {
			fl = append(fl, "--"+f.name)
			if f.value {
				valued = append(valued, "--"+f.name)
			}
		}
		fmt.Fprintf(&b, "\t%s)\n", c.name)
		if len(valued) > 0 {
			fmt.Fprintf(&b, "\t\tcase $prev in %s) return ;; esac\n", strings.Join(valued, "|"))
		}
		fmt.Fprintf(&b, "\t\tflags=%s\n", sq(strings.Join(fl, " ")))
		switch c.operands {
		case "segments":
			b.WriteString("\t\twords=@segments\n")
		case "shells":
			fmt.Fprintf(&b, "\t\twords=%s\n", sq(strings.Join(shells, " ")))
		case "commands":
			fmt.Fprintf(&b, "\t\twords=%s\n", sq(strings.Join(commandNames(), " ")))
		}
		b.WriteString("\t\t;;\n")
	}
	b.WriteString(`	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		words=$flags
	elif [[ $words == @segments ]]; then
		words=$(_ipcarc_segments)
	fi
	COMPREPLY=()
	local w
	while IFS= read -r w; do
		COMPREPLY+=("$w")
	done < <(compgen -W "$words" -- "$cur")
}

complete -F _ipcarc ipcarc
`)
	return b.String()
}

func zshCompletion() string {
	var b strings.Builder
	b.WriteString(`#compdef ipcarc
# zsh completion for ipcarc
#   source <(ipcarc completion zsh)    (after compinit)
# or save as _ipcarc in a directory of $fpath

_ipcarc() {
	local cmd= i
	for (( i = 2; i < CURRENT; i++ )); do
		if [[ ${words[i]} != -* ]]; then
			cmd=${words[i]}
			break
		fi
	done
	local -a cmds flags segs
	cmds=(
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "\t\t%s\n", sq(c.name+":"+strings.ReplaceAll(c.summary, ":", `\:`)))
	}
	b.WriteString("\t)\n\tcase $cmd in\n")
	b.WriteString("\t'') flags=('--help:print help' '--version:print the version') ;;\n")
	for _, c := range commands {
		var fl, valued []string
		for _, f := range completionFlags(c) {
			fl = append(fl, sq("--"+f.name+":"+strings.ReplaceAll(f.usage, ":", `\:`)))
			if f.value {
				valued = append(valued, "--"+f.name)
			}
		}
		fmt.Fprintf(&b, "\t%s)\n", c.name)
		if len(valued) > 0 {
			fmt.Fprintf(&b, "\t\tcase ${words[CURRENT-1]} in %s) return 0 ;; esac\n", strings.Join(valued, "|"))
		}
		fmt.Fprintf(&b, "\t\tflags=(%s)\n\t\t;;\n", strings.Join(fl, " "))
	}
	b.WriteString(`	*) return 1 ;;
	esac
	if [[ $PREFIX == -* ]]; then
		_describe -t flags 'flag' flags
		return
	fi
	case $cmd in
	''|help)
		_describe -t commands 'ipcarc command' cmds
		;;
`)
	var segCmds []string
	for _, c := range commands {
		if c.operands == "segments" {
			segCmds = append(segCmds, c.name)
		}
	}
	fmt.Fprintf(&b, "\t%s)\n", strings.Join(segCmds, "|"))
	b.WriteString(`		segs=(${${(f)"$(${words[1]} ls --no-headings 2>/dev/null)"}%% *})
		compadd -a segs
		;;
`)
	fmt.Fprintf(&b, "\tcompletion)\n\t\tcompadd %s\n\t\t;;\n", strings.Join(shells, " "))
	b.WriteString(`	esac
}

if [[ ${funcstack[1]} == _ipcarc ]]; then
	_ipcarc "$@" # autoloaded from $fpath
else
	compdef _ipcarc ipcarc
fi
`)
	return b.String()
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString(`# fish completion for ipcarc
#   ipcarc completion fish | source
# or save as ~/.config/fish/completions/ipcarc.fish

function __ipcarc_segments
    set -l cmd (commandline -opc)[1]
    $cmd ls --no-headings 2>/dev/null | string replace -r ' .*' ''
end

complete -c ipcarc -f
complete -c ipcarc -n __fish_use_subcommand -l help -s h -d 'print help'
complete -c ipcarc -n __fish_use_subcommand -l version -d 'print the version'
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "complete -c ipcarc -n __fish_use_subcommand -a %s -d %s\n", c.name, sq(c.summary))
	}
	for _, c := range commands {
		cond := sq("__fish_seen_subcommand_from " + c.name)
		for _, f := range completionFlags(c) {
			x, short := "", ""
			if f.value {
				x = " -x"
			}
			if f.name == "help" {
				short = " -s h"
			}
			fmt.Fprintf(&b, "complete -c ipcarc -n %s -l %s%s%s -d %s\n", cond, f.name, short, x, sq(f.usage))
		}
		switch c.operands {
		case "segments":
			fmt.Fprintf(&b, "complete -c ipcarc -n %s -a '(__ipcarc_segments)'\n", cond)
		case "shells":
			fmt.Fprintf(&b, "complete -c ipcarc -n %s -a %s\n", cond, sq(strings.Join(shells, " ")))
		case "commands":
			fmt.Fprintf(&b, "complete -c ipcarc -n %s -a %s\n", cond, sq(strings.Join(commandNames(), " ")))
		}
	}
	return b.String()
}
