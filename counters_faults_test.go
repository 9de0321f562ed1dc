//go:build linux && cgo && ipcarc_faults

package ipcarc

import (
	"fmt"
	"io"
	"os"
	"testing"
)

func init() {
	// count-then-die NAME POINT: Open, Lock/Unlock 100 times, say "counted";
	// at EOF on stdin arm POINT (unless "none") and leave: a claim point is
	// reached by a second Open, the others by Close. Killed at POINT.
	childRoles["count-then-die"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		for i := 0; i < 100; i++ {
			g, err := a.Lock()
			if err != nil {
				return err
			}
			if err := g.Unlock(); err != nil {
				return err
			}
		}
		fmt.Println("counted")
		io.Copy(io.Discard, os.Stdin)
		point := args[1]
		if point != "none" {
			faultArm(point)
		}
		if len(point) > 6 && point[:6] == "claim-" {
			b, err := Open[Counter](args[0])
			if err != nil {
				return err
			}
			b.Close()
		}
		return a.Close()
	}
}

// LAYOUT.md: "counts never go down". A holder killed at every store of
// close, release and free_slot, and a dead holder reaped by a process killed
// at every store of the reap: no counter read by Info ever decreases, and
// after the dust settles the total is exact.
func TestFaultCountersNeverGoDown(t *testing.T) {
	points := []string{"close-locked", "close", "table-unlink", "table-free-state", "table-free-push",
		"release-unregistered", "release-freed", "claim-pop", "claim-used", "claim-live", "claim-listed"}
	for _, p := range points {
		t.Run(p, func(t *testing.T) {
			name := testName(t)
			a := mustNew(t, name, Counter{})
			read := func() Counters {
				i, err := a.Info()
				if err != nil {
					t.Fatal(err)
				}
				return i.Counters
			}
			// A holder locks 100 times, then is killed at p on its way out
			// (or, for the claim points, on its way into a second Open).
			w, in := startChildStdin(t, "count-then-die", name, p)
			w.expect("counted")
			before := read()
			if before.Acquisitions != 100 {
				t.Fatalf("acquisitions after the worker's 100 = %d", before.Acquisitions)
			}
			in.Close()
			for range w.lines {
			}
			if !killed(w) {
				t.Fatalf("worker not killed at %s: %v", p, w.err)
			}
			mid := read()
			// A fresh process reaps and takes a slot (perhaps the dead one's).
			v, vin := startChildStdin(t, "count-then-die", name, "none")
			v.expect("counted")
			after := read()
			vin.Close()
			v.wait()
			if _, err := a.Reap(); err != nil {
				t.Fatal(err)
			}
			end := read()
			for i, c := range []Counters{before, mid, after, end} {
				if i > 0 {
					noneDown(t, []Counters{before, mid, after, end}[i-1], c)
				}
			}
			if end.Acquisitions != 200 {
				t.Fatalf("acquisitions at the end = %d, want exactly 200 (100 of the killed holder, 100 of the next)", end.Acquisitions)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func init() {
	// hold-until-eof NAME: Open, Lock, set N = 8, say "locked"; at EOF on
	// stdin Unlock and Close.
	childRoles["hold-until-eof"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		g, err := a.Lock()
		if err != nil {
			return err
		}
		g.Get().N = 8
		fmt.Println("locked")
		io.Copy(io.Discard, os.Stdin)
		if err := g.Unlock(); err != nil {
			return err
		}
		return a.Close()
	}
	// read-die NAME: Open, arm load-locked, say "armed", Load (which another
	// process's held lock sends to the locked fallback, where this process
	// is killed holding the lock for a read).
	childRoles["read-die"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		faultArm("load-locked")
		fmt.Println("armed")
		_, err = a.Load()
		return err
	}
}

// README (Semantics, owner death): "A death while holding the lock only to
// read (Load's locked fallback) ... changes nothing and does not poison; it
// is counted in Counters.OwnerDeaths."
func TestFaultDeathInsideLockedReadDoesNotPoison(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{N: 7})
	h, hin := startChildStdin(t, "hold-until-eof", name)
	h.expect("locked")
	r := startL2(t, "read-die", name)
	r.expect("armed")
	// The reader spins, falls back and sleeps on the lock; let it get there.
	waitSleeping(t, r.cmd.Process.Pid)
	hin.Close() // the holder unlocks: the reader takes the lock and dies
	h.wait()
	for range r.lines {
	}
	if !killed(r) {
		t.Fatalf("reader not killed inside the locked read: %v", r.err)
	}
	g, err := a.Lock()
	if err != nil {
		t.Fatalf("Lock after a reader died holding the lock = %v, want no error (nothing was written)", err)
	}
	if g.Get().N != 8 {
		t.Fatalf("value %d, want the holder's 8", g.Get().N)
	}
	g.Unlock()
	info, _ := a.Info()
	if info.Poisoned || info.Counters.OwnerDeaths != 1 {
		t.Fatalf("poisoned %v owner deaths %d; want false 1", info.Poisoned, info.Counters.OwnerDeaths)
	}
}

// noneDown fails if any counter of now is below prev (the largest wait is a
// maximum: it cannot go down either).
func noneDown(t *testing.T, prev, now Counters) {
	t.Helper()
	p, n := counterFields(prev), counterFields(now)
	for k, v := range p {
		if n[k] < v {
			t.Fatalf("counter %s went down: %d -> %d", k, v, n[k])
		}
	}
}
