package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

var versionCmd = &command{
	name: "version", synopsis: "[--json]", summary: "print the version",
	about: `Prints the version of this build of ipcarc, from the build information the Go
toolchain records in it: the module version ("(devel)" when built from a
checkout without version control information), the version control revision
and commit time when present (and "modified" when the tree had uncommitted
changes), and the Go version. ipcarc --version does the same.
`,
	setup: func(fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, `print a JSON object: version, revision, time, modified, go_version`)
		return func(operands []string, stdout, stderr io.Writer) int {
			if len(operands) > 0 {
				return cmdUsage(stderr, "version", "takes no operands")
			}
			v := buildVersion()
			if *asJSON {
				return writeJSON(stdout, stderr, v)
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
			return exitOK
		}
	},
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
