package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ipcarc/ipcarc"
)

// top reads every segment (or the named and matching ones) once per
// interval, without attaching and without taking any lock (ipcarc.List and
// ipcarc.Inspect), and shows what each segment's lock did between the last
// two readings (ipcarc.SegmentInfo.Rates).

const minTopInterval = 10 * time.Millisecond

// topRow is one segment in one refresh; its JSON is what `top --json` prints.
type topRow struct {
	Name string `json:"name"`
	// The rates between the previous reading and this one (zero, with
	// interval_ns 0 and first_reading set, when there is no previous one).
	ipcarc.Rates
	ContendedPerSec float64         `json:"contended_per_sec"`
	Counters        ipcarc.Counters `json:"counters"` // totals since creation, as of this reading
	Waiters         int             `json:"waiters"`
	LiveHolders     int             `json:"live_holders"`
	DeadHolders     int             `json:"dead_holders"`
	Locked          bool            `json:"locked"`
	LockOwnerTID    int             `json:"lock_owner_tid"`
	LockOwnerDied   bool            `json:"lock_owner_died"` // held by a thread that died holding it
	// LockOwnerPID is the process of that thread, from /proc/TID/status
	// (0 when it cannot be told: another pid namespace, or gone).
	LockOwnerPID int `json:"lock_owner_pid"`
	// HeldForNs is how long the current owner tid has been seen holding the
	// lock at every reading since it was first seen (it may have released
	// and retaken it in between): 0 when the lock is free, null when the
	// owner was first seen at this reading.
	HeldForNs    *int64 `json:"held_for_ns"`
	State        string `json:"state"`
	Corrupt      bool   `json:"corrupt,omitempty"`
	FirstReading bool   `json:"first_reading,omitempty"`
	Note         string `json:"note,omitempty"`
}

// segTrack is what top remembers of a segment between readings.
type segTrack struct {
	prev       ipcarc.SegmentInfo
	owner      int       // lock owner tid at the last reading, 0 when free
	ownerSince time.Time // the first reading of a run that saw owner
}

type topper struct {
	names, patterns []string
	seen            map[string]*segTrack
}

// sameSegment reports whether two readings under one name are of the same
// segment (not one removed and created again in between).
func sameSegment(a, b ipcarc.SegmentInfo) bool {
	return a.CreatorPID == b.CreatorPID && a.Created.Equal(b.Created)
}

// read takes one reading of the segments top shows. errs are the named
// segments that could not be read; err is fatal (/dev/shm unreadable).
func (t *topper) read() (segs []ipcarc.SegmentInfo, errs []error, err error) {
	have := map[string]bool{}
	for _, n := range t.names {
		s, err := ipcarc.Inspect(n)
		if err != nil {
			var e *ipcarc.Error
			if errors.As(err, &e) {
				e.Op = "top"
			}
			errs = append(errs, err)
			continue
		}
		if !have[s.Name] {
			have[s.Name] = true
			segs = append(segs, s)
		}
	}
	if len(t.names) == 0 || len(t.patterns) > 0 {
		all, err := ipcarc.List()
		if err != nil {
			return nil, nil, err
		}
		for _, s := range all {
			if !have[s.Name] && match(s.Name, t.patterns) {
				have[s.Name] = true
				segs = append(segs, s)
			}
		}
	}
	return segs, errs, nil
}

// frame turns a reading into rows, sorted by contention, and remembers it
// for the next.
func (t *topper) frame(segs []ipcarc.SegmentInfo) []topRow {
	rows := make([]topRow, 0, len(segs))
	next := make(map[string]*segTrack, len(segs))
	for _, s := range segs {
		r := topRow{
			Name: s.Name, Counters: s.Counters, Waiters: s.Waiters,
			LiveHolders: s.LiveHolders, DeadHolders: s.DeadHolders,
			Locked: s.Locked, LockOwnerTID: s.LockOwnerTID, LockOwnerDied: s.LockOwnerDied, State: s.State, Corrupt: s.Corrupt,
		}
		if s.Locked && !s.LockOwnerDied {
			r.LockOwnerPID = processOf(s.LockOwnerTID)
		}
		tr := t.seen[s.Name]
		if tr == nil || !sameSegment(tr.prev, s) {
			tr = &segTrack{}
			r.FirstReading = true
			r.Rates = ipcarc.Rates{MaxWait: time.Duration(s.Counters.WaitMaxNs), PoisonedNow: s.Poisoned}
		} else if !s.Corrupt { // a corrupt header's counters mean nothing
			r.Rates = s.Rates(tr.prev)
			r.ContendedPerSec = r.ContendedFrac * r.LocksPerSec
		}
		switch {
		case s.LockOwnerTID == 0:
			var zero int64
			r.HeldForNs = &zero
			tr.owner = 0
		case tr.owner == s.LockOwnerTID:
			d := int64(s.At.Sub(tr.ownerSince))
			r.HeldForNs = &d
		default:
			tr.owner, tr.ownerSince = s.LockOwnerTID, s.At
		}
		tr.prev = s
		next[s.Name] = tr
		r.Note = topNote(s, r)
		rows = append(rows, r)
	}
	t.seen = next
	slices.SortFunc(rows, func(a, b topRow) int {
		if c := cmp.Compare(b.ContendedPerSec, a.ContendedPerSec); c != 0 {
			return c
		}
		if c := cmp.Compare(b.LocksPerSec, a.LocksPerSec); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return rows
}

func topNote(s ipcarc.SegmentInfo, r topRow) string {
	var parts []string
	if r.FirstReading {
		parts = append(parts, "first reading: rates from the next")
	}
	if r.CountersWentOff {
		parts = append(parts, "counters went back")
	}
	if n := note(s); n != "-" {
		parts = append(parts, n)
	}
	return strings.Join(parts, "; ")
}

var topCmd = &command{
	name: "top", synopsis: "[--once] [--json] [--interval D] [NAME|PATTERN...]", summary: "live view of the segments' locks",
	operands: "segments",
	about: `A live view of the segments' locks: all, or the named ones and those matching a
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
locked, lock_owner_tid and held_for_ns (0 when free, null when the owner was
first seen at this reading).
`,
	setup: setupTop,
}

func setupTop(fs *flag.FlagSet) runFunc {
	once := fs.Bool("once", false, "read twice, D apart, print once and exit")
	asJSON := fs.Bool("json", false, "print a JSON array per refresh, one a line")
	interval := fs.Duration("interval", time.Second, "refresh every `D` (a Go duration: 500ms, 2s; at least 10ms)")
	return func(targets []string, stdout, stderr io.Writer) int {
		return runTop(targets, *once, *asJSON, *interval, stdout, stderr)
	}
}

func runTop(targets []string, once, asJSON bool, interval time.Duration, stdout, stderr io.Writer) int {
	if interval < minTopInterval {
		return cmdUsage(stderr, "top", fmt.Sprintf("--interval %v: must be at least %v", interval, minTopInterval))
	}
	if err := checkPatterns(targets); err != nil {
		return cmdUsage(stderr, "top", err.Error())
	}
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

// writeTopTable writes rows as a table, at most maxRows of them when
// maxRows > 0 (the last line then says how many were left out).
func writeTopTable(out io.Writer, rows []topRow, maxRows int) {
	if len(rows) == 0 {
		return
	}
	shown := rows
	if maxRows > 0 && len(rows) > maxRows {
		shown = rows[:max(maxRows-1, 0)]
	}
	w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tLOCK/S\tCONT%\tWAIT\tMAX-WAIT\tHOLD\tHELD%\tDEATHS\tWAITERS\tLIVE\tDEAD\tOWNER\tHELD-FOR\tNOTE")
	for _, r := range shown {
		lockS, cont, wait, hold, held := "-", "-", "-", "-", "-"
		if !r.FirstReading && !r.Corrupt {
			lockS = rateText(r.LocksPerSec)
			cont = fmt.Sprintf("%.1f%%", 100*r.ContendedFrac)
			if r.MeanWait > 0 {
				wait = durText(r.MeanWait)
			}
			if r.MeanHold > 0 {
				hold = durText(r.MeanHold)
				held = fmt.Sprintf("%.1f%%", 100*r.HeldFrac)
			}
		}
		maxWait := "-"
		if r.MaxWait > 0 {
			maxWait = durText(r.MaxWait)
		}
		owner, heldFor := "-", "-"
		if r.Locked {
			owner = "tid " + strconv.Itoa(r.LockOwnerTID)
			if r.LockOwnerPID != 0 {
				owner = "pid " + strconv.Itoa(r.LockOwnerPID) + " " + owner
			}
			if r.LockOwnerDied {
				owner = "died (" + owner + ")"
			}
			heldFor = "?"
			if r.HeldForNs != nil {
				heldFor = durText(time.Duration(*r.HeldForNs))
			}
		}
		nt := r.Note
		if nt == "" {
			nt = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
			r.Name, lockS, cont, wait, maxWait, hold, held, r.Counters.OwnerDeaths,
			r.Waiters, r.LiveHolders, r.DeadHolders, owner, heldFor, nt)
	}
	w.Flush()
	if len(shown) < len(rows) {
		fmt.Fprintf(out, "... and %d more (the least contended)\n", len(rows)-len(shown))
	}
}

// rateText formats a per-second rate: whole numbers, one decimal below 10.
func rateText(r float64) string {
	switch {
	case r == 0:
		return "0"
	case r < 10:
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return strconv.FormatFloat(r, 'f', 0, 64)
}

// durText formats a duration with three significant figures or so.
func durText(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/1e3, 'f', 1, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
	return d.Round(time.Second).String()
}

// processOf is the process (thread group) of a thread id, as /proc shows it
// in this pid namespace; 0 when unknown.
func processOf(tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Tgid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
