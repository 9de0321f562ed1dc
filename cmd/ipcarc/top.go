package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// top reads every segment (or the named and matching ones) once per
// interval, without attaching and without taking any lock (ipcarc.List and
// ipcarc.Inspect), and shows what each segment's lock did between the last
// two readings (ipcarc.SegmentInfo.Rates).

const minTopInterval = 10 * time.Millisecond

const topAbout = `A live view of the segments' locks: all, or the named ones and those matching a
PATTERN, read every D (default 1s) without taking any lock, most contended
first. On a terminal it redraws the screen, otherwise it prints one table
after another; it exits 0 on SIGINT or SIGTERM. --once reads twice, D apart,
prints once and exits.

Columns, per segment, over the last interval: LOCK/S lock acquisitions per
second; CONT% the share that found the lock held; WAIT their mean wait;
MAX-WAIT the longest wait since creation; HOLD the mean hold (one hold in 64
is timed) and HELD% the estimated share of the interval the lock was held;
DEATHS owners that died holding the lock, since creation; WAITERS threads
asleep on the segment; LIVE and DEAD holders; OWNER the thread holding the
lock now and HELD-FOR how long top has seen it hold it ("?": first seen at
this reading, "-": free). inspect shows the counters since creation.

--json prints a JSON array per refresh, one a line (with --once, a single
array): objects with name, the rates (interval_ns, locks_per_sec,
contended_fraction, mean_wait_ns, max_wait_ns, mean_hold_ns, held_fraction,
...), contended_per_sec, counters, waiters, live_holders, dead_holders,
locked, lock_owner_tid, lock_owner_died, lock_owner_pid, state and
held_for_ns (0 when free, null when the owner was
first seen at this reading).
`

func newTopCmd() *cobra.Command {
	var once, asJSON bool
	var interval time.Duration
	c := &cobra.Command{
		Use: "top [--once] [--json] [--interval D] [NAME|PATTERN...]",
		Short: "live view of the segments' locks (all, or the named and matching ones), refreshed every D " +
			"(default 1s), most contended first",
		Long:              topAbout,
		ValidArgsFunction: completeSegments(false),
		RunE: func(c *cobra.Command, targets []string) error {
			if interval < minTopInterval {
				return usagef("top", "--interval %v: must be at least %v", interval, minTopInterval)
			}
			if err := checkPatterns("top", targets); err != nil {
				return err
			}
			return exit(runTop(targets, once, asJSON, interval, c.OutOrStdout(), c.ErrOrStderr()))
		},
	}
	c.Flags().BoolVar(&once, "once", false, "read twice, D apart, print once and exit")
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array per refresh, one a line")
	c.Flags().DurationVar(&interval, "interval", time.Second, "refresh every `D` (a Go duration: 500ms, 2s; at least 10ms)")
	c.RegisterFlagCompletionFunc("interval", cobra.FixedCompletions([]string{"100ms", "500ms", "1s", "2s", "5s"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func runTop(targets []string, once, asJSON bool, interval time.Duration, stdout, stderr io.Writer) int {
	t := &topper{seen: map[string]*segTrack{}}
	for _, a := range targets {
		if isPattern(a) {
			t.patterns = append(t.patterns, a)
		} else {
			t.names = append(t.names, a)
		}
	}
	isTerm, _ := terminal(stdout)
	redraw := isTerm && !asJSON && !once

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)

	// The first reading only gives the next one something to compare with;
	// a named segment that cannot be read there is an error at once.
	segs, errs, err := t.read()
	if err != nil {
		return fail(stderr, err, "")
	}
	if len(errs) > 0 {
		code := exitOK
		for _, e := range errs {
			code = worse(code, fail(stderr, e, ""))
		}
		return code
	}
	t.frame(segs)

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-sig:
			return exitOK
		case <-tick.C:
		}
		segs, errs, err := t.read()
		if err != nil {
			return fail(stderr, err, "")
		}
		rows := t.frame(segs)
		var out bytes.Buffer
		switch {
		case asJSON && once:
			b, _ := json.MarshalIndent(rows, "", "  ")
			out.Write(b)
			out.WriteByte('\n')
		case asJSON:
			b, _ := json.Marshal(rows)
			out.Write(b)
			out.WriteByte('\n')
		case once:
			writeTopTable(&out, rows, 0)
		default:
			// Live: a header, then the table; on a terminal the screen is
			// cleared first and the table cut to its height.
			height := 0
			if redraw {
				out.WriteString("\x1b[H\x1b[2J")
				_, height = terminal(stdout)
			}
			fmt.Fprintf(&out, "ipcarc top  %s  %d segment(s)  every %v", time.Now().Format("15:04:05"), len(rows), interval)
			if redraw {
				out.WriteString("  (Ctrl-C quits)")
			}
			out.WriteString("\n\n")
			if height > 0 {
				height -= 3 // the header, the blank line and the column names
			}
			if len(rows) == 0 {
				out.WriteString("(no segments to show)\n")
			}
			writeTopTable(&out, rows, height)
			if !redraw {
				out.WriteByte('\n')
			}
		}
		if _, err := stdout.Write(out.Bytes()); err != nil {
			return fail(stderr, fmt.Errorf("ipcarc: top: %w", err), "")
		}
		if once {
			// A named segment gone since the first reading: the others are
			// shown, the missing one reported.
			code := exitOK
			for _, e := range errs {
				code = worse(code, fail(stderr, e, ""))
			}
			return code
		}
	}
}
