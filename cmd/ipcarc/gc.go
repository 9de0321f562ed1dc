package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/ipcarc/ipcarc"
	"github.com/spf13/cobra"
)

func newGCCmd() *cobra.Command {
	var dryRun, asJSON bool
	c := &cobra.Command{
		Use: "gc [--dry-run] [--json] [NAME|PATTERN...]",
		Short: "reap dead holders' handles; remove segments with no live holder (unless kept until removed); " +
			"report segments whose holder table lock stays held as busy; a file that is not an ipcarc segment is reported, never removed",
		Long: `Reaps the handles of dead holders, even of segments whose value lock is held,
and removes segments with no live holder left (not those created with
WithLifetime(UntilRemoved): only rm removes them). A file that is not an
ipcarc segment (another magic, empty, too short) and a corrupt segment are
reported as errors and never removed; --dry-run decides exactly as a real
run. Waits at most 100ms for a segment's holder table lock: a segment whose
lock stays held (a process stopped in bookkeeping), or whose creator is
still at work, is reported busy and left alone. As root, a segment owned by
another user is collected by a child process running as that user. Without
names, collects every segment (as another user than root: every one of its
own that it may write; the others are reported skipped); a NAME is
collected as given (and reported when absent), a PATTERN selects among the
segments ls would list. Prints a table NAME REAPED LIVE RESULT; --json
prints a JSON array of the results: the fields of ipcarc.GCResult, and for
one that failed "error" (the message) and "code", one of
` + wrap(codeList+".", "", 79),
		ValidArgsFunction: completeSegments(false),
		RunE: func(c *cobra.Command, targets []string) error {
			if err := checkPatterns("gc", targets); err != nil {
				return err
			}
			stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
			results, err := collect(targets, dryRun)
			if err != nil {
				return exit(fail(stderr, err, ""))
			}
			return exit(writeGC(stdout, stderr, results, asJSON))
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "change nothing: say what would be done")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the results")
	return c
}

// collect runs gc on the targets (every segment when there are none).
func collect(targets []string, dryRun bool) ([]ipcarc.GCResult, error) {
	var results []ipcarc.GCResult
	if len(targets) == 0 {
		// ipcarc.GC's sweep, with gcName's isolation of other users' files.
		segs, err := ipcarc.List()
		if err != nil {
			return nil, err
		}
		for _, s := range segs {
			if reason := sweepSkip(s); reason != "" {
				results = append(results, ipcarc.GCResult{Name: s.Name, DryRun: dryRun, Skipped: true, SkipReason: reason,
					LiveHolders: s.LiveHolders, Kept: s.Lifetime == ipcarc.UntilRemoved})
				continue
			}
			r, err := gcName(s.Name, dryRun)
			if errors.Is(err, ipcarc.ErrNotExist) {
				continue
			}
			results = append(results, r)
		}
		return results, nil
	}
	// Names are collected as given (and an absent one is reported);
	// patterns select among the segments List finds.
	var patterns []string
	for _, t := range targets {
		if isPattern(t) {
			patterns = append(patterns, t)
			continue
		}
		r, _ := gcName(t, dryRun)
		results = append(results, r)
	}
	if len(patterns) > 0 {
		segs, err := ipcarc.List()
		if err != nil {
			return nil, err
		}
		for _, s := range segs {
			if !match(s.Name, patterns) {
				continue
			}
			r, err := gcName(s.Name, dryRun)
			if errors.Is(err, ipcarc.ErrNotExist) { // closed by its last holder meanwhile
				continue
			}
			results = append(results, r)
		}
	}
	return results, nil
}

// gcJSON is one element of `gc --json`.
type gcJSON struct {
	ipcarc.GCResult
	Error string `json:"error,omitempty"` // GCResult.Err, as stderr shows it
	Code  string `json:"code,omitempty"`  // GCResult.Err's errorCode
}

// writeGC prints the results (each error on its own line on stderr) and
// returns the worst exit code.
func writeGC(stdout, stderr io.Writer, results []ipcarc.GCResult, asJSON bool) int {
	code := exitOK
	out := []gcJSON{}
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	header := false
	for _, r := range results {
		out = append(out, gcJSON{GCResult: r})
		if r.Err != nil {
			code = worse(code, fail(stderr, r.Err, ""))
			out[len(out)-1].Error = errLine(r.Err)
			out[len(out)-1].Code = errorCode(r.Err)
			continue
		}
		if asJSON {
			continue
		}
		if !header {
			fmt.Fprintln(w, "NAME\tREAPED\tLIVE\tRESULT")
			header = true
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", r.Name, r.ReapedHandles, r.LiveHolders, gcText(r))
	}
	if asJSON {
		return worse(code, writeJSON(stdout, stderr, out))
	}
	w.Flush()
	return code
}

// gcText says in words what gc did to one segment.
func gcText(r ipcarc.GCResult) string {
	would := ""
	if r.DryRun {
		would = "would be "
	}
	switch {
	case r.Skipped && r.SkipReason != "":
		return "skipped: " + r.SkipReason + "; left alone"
	case r.Skipped:
		return "skipped: permission denied (not writable by this user); left alone"
	case r.Busy:
		return "busy: holder table lock held (a process stopped in bookkeeping) or creator at work; left alone"
	case r.Kept && r.ReapedHandles > 0:
		return fmt.Sprintf("%d dead handles %sreaped; kept until removed", r.ReapedHandles, would)
	case r.HalfMade && r.Removed:
		return "half-made (creator died before ready): " + would + "removed"
	case r.HalfMade:
		return "half-made (creator died before ready): left alone"
	case r.Removed && r.ReapedHandles > 0:
		return fmt.Sprintf("%d dead handles %sreaped; no live holder: %sremoved", r.ReapedHandles, would, would)
	case r.Removed:
		return "no live holder: " + would + "removed"
	case r.ReapedHandles > 0:
		return fmt.Sprintf("%d dead handles %sreaped", r.ReapedHandles, would)
	}
	return "ok: nothing to do"
}
