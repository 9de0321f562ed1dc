package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [--json]",
		Short: "print the version (also: ipcarc --version)",
		Long: `Prints the version of this build of ipcarc, from the build information the Go
toolchain records in it: the module version ("(devel)" when built from a
checkout without version control information), the version control revision
and commit time when present (and "modified" when the tree had uncommitted
changes), and the Go version. ipcarc --version (or -V) does the same.
`,
		Args:              operands("version", 0, 0, "takes no operands"),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(c *cobra.Command, args []string) error {
			return runVersion(c, args, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, `print a JSON object: version, revision, time, modified, go_version`)
	return c
}

func runVersion(c *cobra.Command, _ []string, asJSON bool) error {
	stdout := c.OutOrStdout()
	v := buildVersion()
	if asJSON {
		return exit(writeJSON(stdout, c.ErrOrStderr(), v))
	}
	fmt.Fprintf(stdout, "ipcarc %s\n", v.Version)
	if v.Revision != "" {
		modified := ""
		if v.Modified {
			modified = " (modified)"
		}
		fmt.Fprintf(stdout, "revision: %s%s\n", v.Revision, modified)
	}
	if v.Time != "" {
		fmt.Fprintf(stdout, "commit time: %s\n", v.Time)
	}
	fmt.Fprintf(stdout, "go: %s\n", v.GoVersion)
	return nil
}

// versionInfo is what `ipcarc version --json` prints.
type versionInfo struct {
	Version   string `json:"version"`            // the main module's, "(devel)" from a checkout
	Revision  string `json:"revision,omitempty"` // vcs.revision
	Time      string `json:"time,omitempty"`     // vcs.time, the commit's time (RFC 3339)
	Modified  bool   `json:"modified"`           // vcs.modified: uncommitted changes
	GoVersion string `json:"go_version"`
}

func buildVersion() versionInfo {
	v := versionInfo{Version: "(unknown)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Version = bi.Main.Version
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if bi.GoVersion != "" {
		v.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}
