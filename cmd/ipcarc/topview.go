package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcarc/ipcarc"
)

// topRow is one segment in one refresh; its JSON is what `top --json`
// prints. Every field is spelled out here (no embedded library type), so a
// change in the library cannot rename the command's JSON.
type topRow struct {
	Name string `json:"name"`
	// The rates between the previous reading and this one (zero, with
	// interval_ns 0 and first_reading set, when there is no previous one);
	// see ipcarc.Rates.
	IntervalNs          int64   `json:"interval_ns"`
	LocksPerSec         float64 `json:"locks_per_sec"`
	ContendedFraction   float64 `json:"contended_fraction"`
	SleptFraction       float64 `json:"slept_fraction"`
	MeanWaitNs          int64   `json:"mean_wait_ns"`
	MaxWaitNs           int64   `json:"max_wait_ns"` // since creation
	MeanHoldNs          int64   `json:"mean_hold_ns"`
	HeldFraction        float64 `json:"held_fraction"`
	OwnerDeathsInterval uint64  `json:"owner_deaths_interval"` // a count, in the interval
	LoadRetriesPerSec   float64 `json:"load_retries_per_sec"`
	LoadFallbacksPerSec float64 `json:"load_fallbacks_per_sec"`
	StoresPerSec        float64 `json:"stores_per_sec"`
	UpdatesPerSec       float64 `json:"updates_per_sec"`
	WakeupsPerSec       float64 `json:"wakeups_per_sec"`
	ReapedInterval      uint64  `json:"reaped_interval"` // a count, in the interval
	PoisonedNow         bool    `json:"poisoned_now"`
	CountersWentBack    bool    `json:"counters_went_back,omitempty"`

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
	HeldForNs *int64 `json:"held_for_ns"`
	State     string `json:"state"`
	// Shape is "value" or "slice"; for a slice, Len and Capacity in elements.
	Shape        string `json:"shape"`
	Len          uint64 `json:"len"`
	Capacity     uint64 `json:"capacity"`
	Corrupt      bool   `json:"corrupt,omitempty"`
	FirstReading bool   `json:"first_reading,omitempty"`
	Note         string `json:"note,omitempty"`
}

// setRates copies the library's rates into the row's own fields.
func (r *topRow) setRates(x ipcarc.Rates) {
	r.IntervalNs, r.LocksPerSec, r.ContendedFraction, r.SleptFraction = int64(x.Interval), x.LocksPerSec, x.ContendedFraction, x.SleptFraction
	r.MeanWaitNs, r.MaxWaitNs, r.MeanHoldNs, r.HeldFraction = int64(x.MeanWait), int64(x.MaxWait), int64(x.MeanHold), x.HeldFraction
	r.OwnerDeathsInterval, r.LoadRetriesPerSec, r.LoadFallbacksPerSec = x.OwnerDeathsInterval, x.LoadRetriesPerSec, x.LoadFallbacksPerSec
	r.StoresPerSec, r.UpdatesPerSec, r.WakeupsPerSec = x.StoresPerSec, x.UpdatesPerSec, x.WakeupsPerSec
	r.ReapedInterval, r.PoisonedNow, r.CountersWentBack = x.ReapedInterval, x.PoisonedNow, x.CountersWentBack
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
			Locked: s.Locked, LockOwnerTID: s.LockOwnerTID, LockOwnerDied: s.LockOwnerDied, State: s.State.String(), Corrupt: s.Corrupt,
			Shape: s.Shape.String(), Len: s.Len, Capacity: s.Capacity,
		}
		if s.Locked && !s.LockOwnerDied {
			r.LockOwnerPID = processOf(s.LockOwnerTID)
		}
		tr := t.seen[s.Name]
		if tr == nil || !sameSegment(tr.prev, s) {
			tr = &segTrack{}
			r.FirstReading = true
			r.setRates(ipcarc.Rates{MaxWait: time.Duration(s.Counters.WaitMaxNs), PoisonedNow: s.Poisoned})
		} else if !s.Corrupt { // a corrupt header's counters mean nothing
			r.setRates(s.Rates(tr.prev))
			r.ContendedPerSec = r.ContendedFraction * r.LocksPerSec
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
	if r.CountersWentBack {
		parts = append(parts, "counters went back")
	}
	if s.Shape == ipcarc.ShapeSlice {
		parts = append(parts, shapeText(s))
	}
	if n := note(s); n != "-" {
		parts = append(parts, n)
	}
	return strings.Join(parts, "; ")
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
			cont = fmt.Sprintf("%.1f%%", 100*r.ContendedFraction)
			if r.MeanWaitNs > 0 {
				wait = durText(time.Duration(r.MeanWaitNs))
			}
			if r.MeanHoldNs > 0 {
				hold = durText(time.Duration(r.MeanHoldNs))
				held = fmt.Sprintf("%.1f%%", 100*r.HeldFraction)
			}
		}
		maxWait := "-"
		if r.MaxWaitNs > 0 {
			maxWait = durText(time.Duration(r.MaxWaitNs))
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
