package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcarc/ipcarc"
	"github.com/spf13/cobra"
)

func newLsCmd() *cobra.Command {
	var asJSON, noHead bool
	c := &cobra.Command{
		Use:   "ls [--json] [--no-headings] [PATTERN...]",
		Short: "list segments (all, or names matching a glob PATTERN) with their owner and permissions",
		Long: `Lists the ipcarc segments in /dev/shm: all, or those whose names match one of
the glob PATTERNs. Columns: NAME; OWNER, the file's owner (user name, or uid
when no user has it); MODE, its permissions (as lsipc's PERMS column shows
them); STATE (init, ready, dead or unknown); SHAPE ("value", or
"[]LEN/CAP x SIZE B" for a slice: its length and capacity in elements and the
size of one); REFCOUNT, the handles of live holders; LIVE and DEAD holders;
SIZE in bytes; LIFETIME (last-close or until-removed);
LOCK (free, or the owner's thread id); CREATED; NOTE (corrupt and why,
poisoned, a held holder table lock). Takes no lock and attaches to nothing.
--json prints a JSON array, [] when none: the fields of ipcarc.SegmentInfo,
with the file's owner_uid, owner and mode ("0600").
`,
		ValidArgsFunction: completeSegments(false),
		RunE: func(c *cobra.Command, patterns []string) error {
			if err := checkPatterns("ls", patterns); err != nil {
				return err
			}
			return exit(runLs(patterns, asJSON, noHead, c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of the segments")
	c.Flags().BoolVar(&noHead, "no-headings", false, "print no column headings (also --noheadings)")
	c.Flags().BoolVar(&noHead, "noheadings", false, "lsipc's spelling of --no-headings")
	c.Flags().MarkHidden("noheadings")
	return c
}

func runLs(patterns []string, asJSON, noHead bool, stdout, stderr io.Writer) int {
	all, err := ipcarc.List()
	if err != nil {
		return fail(stderr, err, "")
	}
	segs := []ipcarc.SegmentInfo{}
	for _, s := range all {
		if match(s.Name, patterns) {
			segs = append(segs, s)
		}
	}
	if asJSON {
		return writeJSON(stdout, stderr, segs)
	}
	if len(segs) == 0 {
		return exitOK
	}
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	if !noHead {
		fmt.Fprintln(w, "NAME\tOWNER\tMODE\tSTATE\tSHAPE\tREFCOUNT\tLIVE\tDEAD\tSIZE\tLIFETIME\tLOCK\tCREATED\tNOTE")
	}
	for _, s := range segs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", s.Name, dash(s.Owner), permText(s.Mode.String()),
			s.State, shapeText(s), s.RefCount, s.LiveHolders, s.DeadHolders, s.TotalSize, lifetimeText(s.Lifetime.String()),
			lockText(s), createdText(s.Created), note(s))
	}
	w.Flush()
	return exitOK
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(stderr, err, "")
	}
	return exitOK
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// permText shows a mode given in octal ("0600") as ls -l and lsipc's PERMS
// column do ("rw-------"), with setuid, setgid and sticky as s/S and t/T.
func permText(mode string) string {
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil {
		return "-"
	}
	b := []byte("rwxrwxrwx")
	for i := range b {
		if m&(1<<(8-i)) == 0 {
			b[i] = '-'
		}
	}
	for _, sp := range []struct {
		bit uint64
		i   int
		c   byte
	}{{0o4000, 2, 's'}, {0o2000, 5, 's'}, {0o1000, 8, 't'}} {
		if m&sp.bit != 0 {
			if b[sp.i] == 'x' {
				b[sp.i] = sp.c
			} else {
				b[sp.i] = sp.c - 'a' + 'A'
			}
		}
	}
	return string(b)
}

func lifetimeText(l string) string { return dash(l) }

func lockText(s ipcarc.SegmentInfo) string {
	switch {
	case s.Corrupt:
		return "-" // no lock state can be trusted in a segment that fails validation
	case s.LockOwnerDied:
		return "owner died (tid " + strconv.Itoa(s.LockOwnerTID) + ")"
	case !s.Locked:
		return "free"
	}
	return "tid " + strconv.Itoa(s.LockOwnerTID)
}

func createdText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

func note(s ipcarc.SegmentInfo) string {
	var parts []string
	if s.Corrupt {
		parts = append(parts, "corrupt: "+s.Reason)
	} else if s.Reason != "" {
		parts = append(parts, s.Reason)
	}
	if s.Poisoned && !s.Corrupt {
		parts = append(parts, "poisoned")
	}
	if s.LockOwnerDied && !s.Corrupt {
		parts = append(parts, "lock abandoned: its owner (tid "+strconv.Itoa(s.LockOwnerTID)+") died holding it; the next locker recovers it")
	}
	if s.TableLockOwnerTID != 0 {
		parts = append(parts, "table lock held by tid "+strconv.Itoa(s.TableLockOwnerTID))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, "; ")
}

// shapeText is ls's SHAPE column: "value", or "[]LEN/CAP x SIZE B" for a
// slice (its length and capacity in elements, and an element's size).
func shapeText(s ipcarc.SegmentInfo) string {
	if s.Corrupt && s.State == ipcarc.StateUnknown {
		return "-"
	}
	if s.Shape == ipcarc.ShapeSlice {
		return fmt.Sprintf("[]%d/%d x %d B", s.Len, s.Capacity, s.ValueSize)
	}
	return s.Shape.String()
}
