package main

import (
	"errors"
	"io"
	"io/fs"
	"strings"

	"github.com/ipcarc/ipcarc"
	"github.com/spf13/cobra"
)

// codeList documents the "code" of a gc or rm result that failed.
const codeList = "not_found, busy, untrusted, corrupt, incompatible, invalid_name, permission, changed_under_us or error"

// errorCode is the machine-readable kind of a gc or rm failure, beside the
// message: what a script should branch on.
func errorCode(err error) string {
	var ce *codeErr
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce) && ce.kind != "":
		return ce.kind // the owner-side child's, or its death
	case errors.Is(err, ipcarc.ErrNotExist):
		return "not_found"
	case errors.Is(err, ipcarc.ErrBusy), errors.Is(err, ipcarc.ErrInUse):
		return "busy"
	case errors.Is(err, ipcarc.ErrUntrusted):
		return "untrusted"
	case errors.Is(err, ipcarc.ErrCorrupt):
		return "corrupt"
	case errors.Is(err, ipcarc.ErrIncompatible):
		return "incompatible"
	case errors.Is(err, ipcarc.ErrInvalidName):
		return "invalid_name"
	case errors.Is(err, fs.ErrPermission):
		return "permission"
	}
	return "error"
}

func newRmCmd() *cobra.Command {
	var force, asJSON bool
	c := &cobra.Command{
		Use: "rm [--force] [--json] NAME|PATTERN...",
		Short: "remove segments; each is refused while it has live holders, is corrupt, or is not an ipcarc segment at all " +
			"(another magic, empty, too short) unless --force",
		Long: `Removes each named segment, and each segment that ls lists under a PATTERN.
Processes attached keep sharing the value; new opens no longer find it. A
segment with live holders, one whose creator is still initialising it, a
corrupt one, and a file that is not an ipcarc segment at all (another magic,
empty, too short) are refused unless --force. As root, a segment owned by
another user is removed by a child process running as that user. Prints
nothing for what it removed and one line on stderr for each name it could
not remove; the exit code is the worst of them. A name that starts with "-"
follows "--": ipcarc rm -- -x. --json prints a JSON array of {"name",
"removed", "error", "code"}; code is one of
` + wrap(codeList+".", "", 79),
		Args:              operands("rm", 1, -1, "takes one or more NAMEs or PATTERNs"),
		ValidArgsFunction: completeSegments(false),
		RunE: func(c *cobra.Command, targets []string) error {
			if err := checkPatterns("rm", targets); err != nil {
				return err
			}
			stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
			code, results := remove(targets, force, stderr)
			if asJSON {
				code = worse(code, writeJSON(stdout, stderr, results))
			}
			return exit(code)
		},
	}
	c.Flags().BoolVar(&force, "force", false, "remove segments with live holders, being created, or corrupt, and files that are not segments")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the results")
	return c
}

// rmJSON is one element of `rm --json`.
type rmJSON struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
	Code    string `json:"code,omitempty"`
}

// remove removes the targets in order, a name as given and a pattern's
// matches among the segments List finds, each at most once. Each failure is
// one line on stderr; code is the worst exit code.
func remove(targets []string, force bool, stderr io.Writer) (code int, results []rmJSON) {
	results = []rmJSON{}
	done := map[string]bool{}
	var listed []ipcarc.SegmentInfo
	one := func(name string, matched bool) {
		done[strings.TrimPrefix(name, "/")] = true
		hint, err := removeName(name, force)
		if matched && errors.Is(err, ipcarc.ErrNotExist) { // removed meanwhile
			return
		}
		res := rmJSON{Name: name, Removed: err == nil}
		if err != nil {
			code = worse(code, fail(stderr, err, hint))
			res.Error, res.Code = errLine(err), errorCode(err)
		}
		results = append(results, res)
	}
	for _, t := range targets {
		if !isPattern(t) {
			one(t, false)
			continue
		}
		if listed == nil {
			all, err := ipcarc.List()
			if err != nil {
				return worse(code, fail(stderr, err, "")), results
			}
			listed = all
		}
		for _, s := range listed {
			if !done[s.Name] && match(s.Name, []string{t}) {
				one(s.Name, true)
			}
		}
	}
	return code, results
}
