package main

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcarc/ipcarc"
	"github.com/spf13/cobra"
)

func newInspectCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "inspect [--json] NAME",
		Short: "show a segment's header, holder table and lock counters (since creation)",
		Long: `Shows every header field of the segment NAME, its file's owner and mode, its
lock counters since creation and its holder table. Takes no lock and attaches
to nothing. --json prints one JSON object: the fields of ipcarc.SegmentInfo.
`,
		Args:              operands("inspect", 1, 1, "takes exactly one NAME"),
		ValidArgsFunction: completeSegments(true),
		RunE: func(c *cobra.Command, names []string) error {
			stdout, stderr := c.OutOrStdout(), c.ErrOrStderr()
			s, err := ipcarc.Inspect(names[0])
			if err != nil {
				return exit(fail(stderr, err, ""))
			}
			if asJSON {
				return exit(writeJSON(stdout, stderr, s))
			}
			writeInspect(stdout, s)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON object")
	return c
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// lockedText is inspect's "locked" line: yes, no, "owner died", or "-" for a
// corrupt segment.
func lockedText(s ipcarc.SegmentInfo) string {
	switch {
	case s.Corrupt:
		return "-"
	case s.LockOwnerDied:
		return "owner died (the next locker recovers it)"
	}
	return yes(s.Locked)
}

func writeInspect(stdout io.Writer, s ipcarc.SegmentInfo) {
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"name", s.Name}, {"owner", fmt.Sprintf("%s (uid %d)", dash(s.Owner), s.OwnerUID)},
		{"mode", s.Mode.String() + " (" + permText(s.Mode.String()) + ")"}, {"state", s.State.String()}, {"corrupt", yes(s.Corrupt)}, {"reason", dash(s.Reason)},
		{"refcount", strconv.FormatInt(s.RefCount, 10)},
		{"live_holders", strconv.Itoa(s.LiveHolders)}, {"dead_holders", strconv.Itoa(s.DeadHolders)},
		{"max_holders", strconv.Itoa(s.MaxHolders)}, {"lifetime", lifetimeText(s.Lifetime.String())},
		{"locked", lockedText(s)}, {"lock_owner_tid", strconv.Itoa(s.LockOwnerTID)},
		{"table_lock_owner_tid", strconv.Itoa(s.TableLockOwnerTID)}, {"waiters", strconv.Itoa(s.Waiters)},
		{"poisoned", yes(s.Poisoned)}, {"version", strconv.FormatUint(s.Version, 10)},
		{"total_size", strconv.FormatUint(s.TotalSize, 10)},
		{"shape", s.Shape.String()}, {"capacity", strconv.FormatUint(s.Capacity, 10)}, {"len", strconv.FormatUint(s.Len, 10)},
		{"value_size", strconv.FormatUint(s.ValueSize, 10)},
		{"value_align", strconv.FormatUint(uint64(s.ValueAlign), 10)}, {"type_tag", s.TypeTag.String()},
		{"creator_pid", strconv.Itoa(s.CreatorPID)}, {"created", createdText(s.Created)},
	} {
		fmt.Fprintf(w, "%s:\t%s\n", kv[0], kv[1])
	}
	w.Flush()
	writeCounters(stdout, s.Counters)
	if len(s.Holders) > 0 {
		fmt.Fprintln(stdout)
		w = tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(w, "SLOT\tPID\tSTART_TIME\tHANDLES\tALIVE")
		for _, h := range s.Holders {
			fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\n", h.Slot, h.PID, h.StartTime, h.Handles, yes(h.Alive))
		}
		w.Flush()
	}
}

// writeCounters writes the "counters:" block of inspect: every field of
// ipcarc.Counters under its JSON name, times also in words.
func writeCounters(stdout io.Writer, c ipcarc.Counters) {
	fmt.Fprintln(stdout, "counters:")
	w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		val := fmt.Sprint(v.Field(i).Interface())
		if strings.HasSuffix(name, "_ns") && v.Field(i).CanUint() && v.Field(i).Uint() > 0 {
			val += " (" + durText(time.Duration(v.Field(i).Uint())) + ")"
		}
		fmt.Fprintf(w, "  %s:\t%s\n", name, val)
	}
	if est := c.HoldEstimate(); est > 0 {
		fmt.Fprintf(w, "  hold_estimate:\t%s (all acquisitions, from the timed holds)\n", durText(est))
	}
	w.Flush()
}
