package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"
)

// The completion scripts are cobra's: each asks the command as typed
// (`ipcarc __complete WORDS...`, so ./ipcarc completes with its own build)
// for the commands, flags and operands, and segment names come from
// ipcarc.List through the commands' ValidArgsFunction.

var shells = []string{"bash", "zsh", "fish", "powershell"}

func newCompletionCmd() *cobra.Command {
	var noDesc bool
	c := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "print a shell completion script",
		Long: `Prints a completion script for the shell: commands, their flags, and segment
names (from /dev/shm) where a command takes them.
  bash:        source <(ipcarc completion bash)
               or save it as ~/.local/share/bash-completion/completions/ipcarc
               (bash 4.1 or later, with the bash-completion package)
  zsh:         source <(ipcarc completion zsh)    (after compinit)
               or save it as _ipcarc in a directory of $fpath
  fish:        ipcarc completion fish | source
               or save it as ~/.config/fish/completions/ipcarc.fish
  powershell:  ipcarc completion powershell | Out-String | Invoke-Expression
`,
		ValidArgs: shells,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("completion", "takes one shell: bash, zsh, fish or powershell")
			}
			if !slices.Contains(shells, args[0]) {
				return usagef("completion", "unknown shell %q: bash, zsh, fish or powershell", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := genCompletion(c.Root(), args[0], !noDesc, c.OutOrStdout()); err != nil {
				return exit(fail(c.ErrOrStderr(), fmt.Errorf("ipcarc: completion: %w", err), ""))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noDesc, "no-descriptions", false, "complete without the descriptions of commands, flags and segments")
	return c
}

func genCompletion(root *cobra.Command, shell string, desc bool, w io.Writer) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, desc)
	case "zsh":
		if desc {
			return root.GenZshCompletion(w)
		}
		return root.GenZshCompletionNoDesc(w)
	case "fish":
		return root.GenFishCompletion(w, desc)
	}
	if desc {
		return root.GenPowerShellCompletionWithDesc(w)
	}
	return root.GenPowerShellCompletion(w)
}
