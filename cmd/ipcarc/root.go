package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ipcarc/ipcarc"
	"github.com/spf13/cobra"
)

// rootAbout is the part of `ipcarc help` after the list of commands.
const rootAbout = `Every command takes -h or --help (prints its usage and exits 0); ls, inspect,
gc, rm, top and version take --json. Flags may come before or after names;
"--" ends flags (ipcarc rm -- -x removes a segment named -x). Quote PATTERNs
(globs: * ? [...]) from the shell.

Files in /dev/shm that are not ipcarc segments are skipped, never changed
(only rm --force NAME removes one). As root, gc and rm handle a segment
owned by another user in a child process running as that user, so that the
file's owner cannot reach root's memory through it; if that process dies of
a signal (its owner changed the file under it), the segment is reported as
changed or corrupted (exit 1) and the others are still handled.
No subcommand ever takes or waits on a segment's value lock. ls, inspect and
top take no lock and attach to nothing; gc waits at most 100ms for a segment's
holder table lock, which library code holds only for a few instructions.
A segment created with WithLifetime(UntilRemoved) shows LIFETIME
until-removed: gc reaps its dead holders but only rm removes it.

Exit codes:
  0  success (also -h, --help and --version)
  1  error: a segment is corrupt or could not be read, removed or collected
  2  usage error: unknown command or flag, missing or invalid name
  3  refused: no such segment, or rm without --force while live holders exist
     (or while its creator is still initialising it)
When several segments fail, the exit code is the worst: 2, then 1, then 3.

Errors are printed on one line on stderr, naming the segment; with --json
they are also in the JSON (gc's and rm's "error" and "code" fields).
`

// helpTemplate is cobra's help for every command: the root's lists the
// commands; a subcommand's is its usage line, its text and its flags.
const helpTemplate = `{{if .HasParent}}Usage: {{.UseLine}}

{{.Long | trimTrailingWhitespaces}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}

Exit codes and the rest: ipcarc help
{{else}}{{rootHelp .}}{{end}}`

func init() {
	cobra.AddTemplateFunc("rootHelp", rootHelp)
}

// rootHelp is `ipcarc help`: each visible command's usage line and summary,
// then rootAbout.
func rootHelp(root *cobra.Command) string {
	var b strings.Builder
	b.WriteString("ipcarc - manage ipcarc shared-memory segments in /dev/shm\n\nUsage:\n")
	for _, c := range root.Commands() {
		if c.Hidden {
			continue
		}
		fmt.Fprintf(&b, "  %s\n%s", c.UseLine(), wrap(c.Short, "      ", 79))
	}
	b.WriteString("  ipcarc --version, -V\n      print the version (as ipcarc version)\n\n")
	b.WriteString(rootAbout)
	return b.String()
}

// newRootCmd builds the command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ipcarc",
		Short: "manage ipcarc shared-memory segments in /dev/shm",
		// Runnable so that `ipcarc` alone is a usage error, not the help;
		// then cobra leaves unknown commands to Args.
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return usagef("", "%s", msg)
		},
		RunE: func(c *cobra.Command, args []string) error {
			if v, _ := c.Flags().GetBool("version"); v {
				return runVersion(c, args, false)
			}
			return usagef("", "no command")
		},
		SilenceErrors:         true,
		SilenceUsage:          true,
		DisableFlagsInUseLine: true,
		CompletionOptions:     cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.Flags().BoolP("version", "V", false, "print the version (as ipcarc version)")
	root.SetHelpTemplate(helpTemplate)
	for _, c := range []*cobra.Command{newLsCmd(), newInspectCmd(), newGCCmd(), newRmCmd(), newTopCmd(),
		newCompletionCmd(), newVersionCmd(), newAsOwnerCmd()} {
		c.DisableFlagsInUseLine = true
		root.AddCommand(c)
	}
	help := newHelpCmd(root)
	help.DisableFlagsInUseLine = true
	root.SetHelpCommand(help)
	return root
}

// execute runs root on args and maps what it returns to an exit code:
// a codeError is the command's own, anything else from cobra (an unknown
// command or flag, a missing flag value, wrong operands) is a usage error.
func execute(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	var ce codeError
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ce):
		return int(ce)
	case errors.As(err, &ue):
		return printUsage(stderr, ue.cmd, ue.msg)
	}
	name := ""
	if cmd != nil && cmd != root {
		name = cmd.Name()
	}
	return printUsage(stderr, name, err.Error())
}

func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "this text, or a command's",
		Long: `Prints the command's usage and exit codes, or with COMMAND that command's
usage (as ipcarc COMMAND --help does).
`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var out []cobra.Completion
			if len(args) == 0 {
				for _, s := range root.Commands() {
					if !s.Hidden && strings.HasPrefix(s.Name(), toComplete) {
						out = append(out, cobra.CompletionWithDesc(s.Name(), s.Short))
					}
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			switch len(args) {
			case 0:
				return root.Help()
			case 1:
				sub, rest, err := root.Find(args)
				if err != nil || sub == root || sub.Hidden || len(rest) > 0 {
					return usagef("", "unknown command %q", args[0])
				}
				sub.InitDefaultHelpFlag()
				return sub.Help()
			}
			return usagef("", "help takes at most one COMMAND")
		},
	}
}

// operands checks a command's operand count: between lo and hi (-1: no
// limit), else the usage error msg.
func operands(name string, lo, hi int, msg string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < lo || hi >= 0 && len(args) > hi {
			return usagef(name, "%s", msg)
		}
		return nil
	}
}

// completeSegments completes segment names from /dev/shm (ipcarc.List),
// each with its state and live holders, leaving out those already typed;
// single stops after one operand.
func completeSegments(single bool) cobra.CompletionFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if single && len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		segs, err := ipcarc.List()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, s := range segs {
			if strings.HasPrefix(s.Name, toComplete) && !slices.Contains(args, s.Name) {
				out = append(out, cobra.CompletionWithDesc(s.Name, fmt.Sprintf("%s, %d live holder(s)", s.State, s.LiveHolders)))
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// wrap fills text into lines of at most width columns, each starting with
// indent.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(text) {
		if line != indent && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += w
	}
	return b.String() + line + "\n"
}
