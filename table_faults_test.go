//go:build linux && cgo && ipcarc_faults

package ipcarc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() {
	// l2-stopper NAME PHASE: open and clone, arm PHASE:stop, say "armed",
	// then close the clone (close-locked) or clone again (clone-locked),
	// stopping itself with the holder table's lock held. Once continued:
	// "done HANDLES"; at EOF on stdin it closes everything: "closed".
	childRoles["l2-stopper"] = func(args []string) error {
		name, phase := args[0], args[1]
		a, err := Open[Counter](name)
		if err != nil {
			return err
		}
		c, err := a.Clone()
		if err != nil {
			return err
		}
		hs := []*Arc[Counter]{a, c}
		faultArm(phase + ":stop")
		fmt.Println("armed")
		switch phase {
		case "close-locked":
			if err := c.Close(); err != nil {
				return err
			}
			hs = hs[:1]
		case "clone-locked":
			d, err := a.Clone()
			if err != nil {
				return err
			}
			hs = append(hs, d)
		default:
			return fmt.Errorf("l2-stopper: phase %q", phase)
		}
		fmt.Printf("done %d\n", len(hs))
		if err := closeAfterStdin(hs); err != nil {
			return err
		}
		fmt.Println("closed")
		return nil
	}

	// l2-kill-at NAME POINT MODE: arm POINT (the process SIGKILLs itself
	// there), then by MODE: "open" Open, Close; "open-clone" Open, Clone,
	// Close, Close; "create" New, Close; "gc" GCName. Says "survived" if it
	// was not killed.
	childRoles["l2-kill-at"] = func(args []string) error {
		name, point, mode := args[0], args[1], args[2]
		faultArm(point)
		var err error
		switch mode {
		case "open", "open-clone", "create":
			var a *Arc[Counter]
			if mode == "create" {
				a, err = New(name, Counter{})
			} else {
				a, err = Open[Counter](name)
			}
			if err != nil {
				return err
			}
			if mode == "open-clone" {
				c, err := a.Clone()
				if err != nil {
					return err
				}
				if err := c.Close(); err != nil {
					return err
				}
			}
			err = a.Close()
		case "gc":
			_, err = GCName(name)
		default:
			return fmt.Errorf("l2-kill-at: mode %q", mode)
		}
		if err != nil && !errors.Is(err, ErrNotExist) {
			return err
		}
		fmt.Println("survived")
		return nil
	}

	// l2-verify NAME: a fresh process after a kill: Open ("open ok" or
	// "open absent"), OpenOrNew ("openornew created=B"), GCName ("gc
	// reaped=R live=L"), then "ready HANDLES ATTACHMENTS"; at EOF on stdin
	// it closes both: "closed". Any other error (ErrCorrupt above all) fails it.
	childRoles["l2-verify"] = func(args []string) error {
		name := args[0]
		var hs []*Arc[Counter]
		a, err := Open[Counter](name)
		switch {
		case err == nil:
			hs = append(hs, a)
			fmt.Println("open ok")
		case errors.Is(err, ErrNotExist):
			fmt.Println("open absent")
		default:
			return err
		}
		b, created, err := OpenOrNew(name, Counter{})
		if err != nil {
			return err
		}
		hs = append(hs, b)
		fmt.Printf("openornew created=%v\n", created)
		in := bufio.NewReader(os.Stdin)
		in.ReadString('\n') // the parent looks at the table first
		r, err := GCName(name)
		if err != nil {
			return err
		}
		if r.Busy || r.Removed || r.LiveHolders < len(hs) {
			return fmt.Errorf("gc with this process attached: %+v", r)
		}
		fmt.Printf("gc reaped=%d live=%d\n", r.ReapedHandles, r.LiveHolders)
		fmt.Printf("ready %d %d\n", len(hs), len(hs))
		io.Copy(io.Discard, in)
		for _, h := range hs {
			if err := h.Close(); err != nil {
				return err
			}
		}
		fmt.Println("closed")
		return nil
	}
}

// ---- 2: a bookkeeper stopped holding the table lock ------------------------

// Ensure that a process stopped while holding the holder table's lock costs
// others only a bounded wait: Open fails with ErrTimeout naming the holder
// table lock; Clone, Reap and Close of existing handles fail with ErrTimeout
// (Close releasing the handle all the same); gc reports the segment busy
// after its 100ms bound; ls and inspect work and name the lock's owner. Once
// the process is continued it finishes, everything works again, and the
// counts are exact.
func TestFaultStoppedBookkeeperBoundedWait(t *testing.T) {
	exe := ipcarcCommand(t)
	const (
		timeout = 300 * time.Millisecond
		bound   = time.Second
	)
	for _, phase := range []string{"close-locked", "clone-locked"} {
		t.Run(phase, func(t *testing.T) {
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			// Two attachments of the test's: a (one handle, whose Close
			// will be the attachment's last) and b (two handles, b2's Close
			// will not be).
			a, err := New(name, Counter{}, WithOpenTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			b, err := Open[Counter](name, WithOpenTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			b2, err := b.Clone()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b2.Close() })

			s, stdin := startChildStdin(t, "l2-stopper", name, phase)
			t.Cleanup(func() { s.cmd.Process.Signal(syscall.SIGCONT) })
			s.expect("armed")
			pid := s.cmd.Process.Pid
			waitStopped(t, pid)
			owner := mustInspect(t, name).TableLockOwnerTID
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", pid, owner)); owner == 0 || err != nil {
				t.Fatalf("table lock owner %d, want a thread of the stopped process %d (%v)", owner, pid, err)
			}

			timed := func(what string, min time.Duration, f func() error) error {
				t.Helper()
				start := time.Now()
				err := f()
				if took := time.Since(start); took < min || took >= bound {
					t.Errorf("%s took %v, want between %v and %v", what, took, min, bound)
				}
				return err
			}
			isTableTimeout := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "holder table lock") {
					t.Errorf("%s with the table lock held by a stopped process = %v; want ErrTimeout naming the holder table lock", what, err)
				}
			}
			err = timed("Open", timeout, func() error {
				c, err := Open[Counter](name, WithOpenTimeout(timeout))
				if err == nil {
					c.Close()
				}
				return err
			})
			isTableTimeout("Open", err)
			err = timed("OpenOrNew", timeout, func() error {
				c, _, err := OpenOrNew(name, Counter{}, WithOpenTimeout(timeout))
				if err == nil {
					c.Close()
				}
				return err
			})
			isTableTimeout("OpenOrNew", err)
			err = timed("Clone", timeout, func() error {
				c, err := a.Clone()
				if err == nil {
					c.Close()
				}
				return err
			})
			isTableTimeout("Clone", err)
			err = timed("Reap", timeout, func() error { _, err := b.Reap(); return err })
			isTableTimeout("Reap", err)
			err = timed("Close (not the attachment's last)", timeout, b2.Close)
			isTableTimeout("Close (not the attachment's last)", err)
			if err := b2.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close = %v, want ErrClosed", err)
			}
			err = timed("Close (the attachment's last)", timeout, a.Close)
			isTableTimeout("Close (the attachment's last)", err)
			if err := a.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close = %v, want ErrClosed", err)
			}
			// a's attachment is gone: its slot reads dead until a reap,
			// and its 1 handle no longer counts (RefCount: live holders).
			if i := mustInspect(t, name); i.DeadHolders != 1 || i.LiveHolders != 2 || i.RefCount != 4 {
				t.Errorf("after a's timed-out Close: %d dead holders, %d live, refcount %d; want 1 dead "+
					"(a's), 2 live, refcount 4 (holders %+v)", i.DeadHolders, i.LiveHolders, i.RefCount, i.Holders)
			}
			var res GCResult
			err = timed("GCName", gcLockBound, func() (err error) { res, err = GCName(name); return err })
			if err != nil || !res.Busy || res.Removed || res.ReapedHandles != 0 {
				t.Errorf("GCName = %+v, %v; want busy, nothing done", res, err)
			}
			var r cliRun
			timed("ipcarc gc", gcLockBound, func() error { r = runCLI(t, exe, "gc", name); return nil })
			if l := parseGC(t, r.stdout)[name]; !strings.HasPrefix(l.result, "busy") {
				t.Errorf("ipcarc gc: %+v, want busy\n%s", l, r.stdout)
			}
			timed("ipcarc ls", 0, func() error {
				s, ok := findSeg(lsJSON(t, exe, myPattern()), name)
				if !ok || s.TableLockOwnerTID != owner {
					t.Errorf("ipcarc ls: %+v (listed %v); want table lock owner %d", s, ok, owner)
				}
				return nil
			})
			timed("ipcarc inspect", 0, func() error {
				r := mustCLI(t, exe, 0, "inspect", name, "--json")
				if !strings.Contains(r.stdout, fmt.Sprintf(`"table_lock_owner_tid": %d`, owner)) {
					t.Errorf("ipcarc inspect --json does not name table lock owner %d:\n%s", owner, r.stdout)
				}
				return nil
			})
			if st := procState(pid); st != 'T' {
				t.Fatalf("the stopped bookkeeper is in state %q, want still stopped", st)
			}

			// Continued, it finishes its call, and the table is usable again.
			s.cmd.Process.Signal(syscall.SIGCONT)
			held, _ := strconv.Atoi(strings.TrimPrefix(s.expect("done "), "done "))
			c, err := Open[Counter](name, WithOpenTimeout(timeout))
			if err != nil {
				t.Fatalf("Open after the bookkeeper went on: %v", err)
			}
			defer c.Close()
			c2, err := c.Clone()
			if err != nil {
				t.Fatalf("Clone after the bookkeeper went on: %v", err)
			}
			if err := c2.Close(); err != nil {
				t.Fatal(err)
			}
			// c's Open may have reaped a's dead slot already; the reap
			// takes back whatever is left.
			if _, err := b.Reap(); err != nil {
				t.Fatalf("Reap after the bookkeeper went on: %v", err)
			}
			if p := tableProblem(t, name); p != "" {
				t.Errorf("holder table after the bookkeeper went on: %s", p)
			}
			info := mustInspect(t, name)
			if info.TableLockOwnerTID != 0 || info.Corrupt || info.DeadHolders != 0 || info.LiveHolders != 3 ||
				info.RefCount != liveSum(info) {
				t.Fatalf("after the reap: %+v; want the table free, 3 live holders, refcount = live handles", info)
			}
			// The true handles: b (b2 was released), the stopper's, c.
			if want := int64(1 + held + 1); info.RefCount != want {
				t.Errorf("after the reap: refcount %d = the live slots' handles %+v; but the live handles are %d "+
					"(b: 1 after b2's timed-out Close, the stopper: %d, c: 1)", info.RefCount, info.Holders, want, held)
				// b's next table operation mends its slot's count.
				b3, err := b.Clone()
				if err != nil {
					t.Fatal(err)
				}
				if err := b3.Close(); err != nil {
					t.Fatal(err)
				}
				checkCounts(t, name, want, 3)
			}

			stdin.Close()
			s.expect("closed")
			s.wait()
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if shmExists(name) {
				t.Fatal("segment left after the last Close")
			}
		})
	}
}

// ---- 3: a kill at every store of the bookkeeping protocols --------------

// Ensure that a process killed at any fault point of create, open, clone,
// close, reap and gc (with another live holder present, or as the only
// holder, or reaping the only, dead, holder) leaves a table that fresh
// processes Open, OpenOrNew, gc and Close without ErrCorrupt or a timeout;
// that after a reap the count is exactly the live holders' handles; and that
// nothing is left once the live holders have closed. (TestFaultKillAtEveryPhase
// checks the value; this one the counts.)
func TestFaultKillAtEveryBookkeepingStore(t *testing.T) {
	// setup: "live" the test holds 2 handles (the other live holder);
	// "live+dead" also a killed holder for gc to reap; "dead" only a killed
	// holder, which created the segment; "none" no segment.
	type tc struct{ point, mode, setup string }
	var cases []tc
	add := func(mode, setup string, points ...string) {
		for _, p := range points {
			cases = append(cases, tc{p, mode, setup})
		}
	}
	add("open", "live", "open-locked", "claim-pop", "claim-live", "claim-used", "claim-listed",
		"close-locked", "close", "table-unlink", "table-free-state", "table-free-push", "release-freed")
	add("open-clone", "live", "clone-locked", "clone", "handles", "close-locked", "close")
	add("create", "none", "create-excl", "create-init", "create-ready", "claim-pop", "claim-live",
		"claim-used", "claim-listed", "close-locked", "close", "table-unlink", "table-free-state",
		"table-free-push", "release-freed", "close-unlink")
	add("gc", "live+dead", "gc-locked", "table-unlink", "table-free-state", "table-free-push")
	add("gc", "dead", "gc-locked", "table-unlink", "table-free-state", "table-free-push", "close-unlink")
	// An Open that finds only a dead holder reaps it and ends the segment.
	add("open", "dead", "open-locked", "table-unlink", "table-free-state", "table-free-push", "close-unlink")

	for _, c := range cases {
		t.Run(c.point+"/"+c.mode+"/"+c.setup, func(t *testing.T) {
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			var l, l2 *Arc[Counter]
			var wantHandles int64
			wantLive := 0
			if strings.HasPrefix(c.setup, "live") {
				var err error
				if l, err = New(name, Counter{}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				if l2, err = l.Clone(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l2.Close() })
				wantHandles, wantLive = 2, 1
			}
			if c.setup == "live+dead" || c.setup == "dead" {
				mode := []string{"0"}
				if c.setup == "dead" {
					mode = append(mode, "create")
				}
				d := startChild(t, "attach", append([]string{name}, mode...)...)
				d.expect("attached")
				d.kill()
			}

			k := startL2(t, "l2-kill-at", name, c.point, c.mode)
			var said []string
			for line := range k.lines {
				said = append(said, line)
			}
			if !killed(k) {
				t.Fatalf("child not killed at %s: %v, said %q", c.point, k.err, said)
			}

			v, stdin := startChildStdin(t, "l2-verify", name)
			open := v.expect("open ")
			if l != nil && open != "open ok" {
				t.Fatalf("Open with a live holder present: %q", open)
			}
			created := v.expect("openornew ")
			if l != nil && created != "openornew created=false" {
				t.Fatalf("OpenOrNew with a live holder present: %q", created)
			}
			// The table was mended by whoever took its lock first after
			// the kill, before gc's full reap: every derived field already
			// agrees with the slots.
			if p := tableProblem(t, name); p != "" {
				t.Fatalf("holder table after %s and %s: %s", open, created, p)
			}
			io.WriteString(stdin, "gc\n")
			t.Logf("%s; %s; %s", open, created, v.expect("gc "))
			var n, atts int
			if _, err := fmt.Sscanf(v.expect("ready "), "ready %d %d", &n, &atts); err != nil {
				t.Fatal(err)
			}
			checkCounts(t, name, wantHandles+int64(n), wantLive+atts)
			if l != nil {
				// A reap of the test's own finds nothing more to take.
				if r, err := l.Reap(); err != nil || r != 0 {
					t.Fatalf("Reap after the verifier's gc = %d, %v; want 0", r, err)
				}
				checkCounts(t, name, wantHandles+int64(n), wantLive+atts)
			}

			stdin.Close()
			v.expect("closed")
			v.wait()
			if l != nil {
				checkCounts(t, name, 2, 1)
				if err := l2.Close(); err != nil {
					t.Fatal(err)
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if shmExists(name) {
				t.Fatal("segment left after every live holder closed")
			}
		})
	}
}
