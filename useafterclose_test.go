//go:build linux && cgo

package ipcarc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// adv2-after-close NAME WHAT: create NAME, take and release the lock
	// (keeping the guard), Close the only handle (the segment is unmapped
	// and unlinked), then call WHAT on what is left: "version" (Arc.Version),
	// "unlock" (a second Guard.Unlock, documented to return ErrNotOwner) or
	// "recover" (Arc.Recover). It says "survived RESULT" if the call
	// returned.
	childRoles["adv2-after-close"] = func(args []string) error {
		a, err := New(args[0], Counter{N: 7})
		if err != nil {
			return err
		}
		g, err := a.Lock()
		if err != nil {
			return err
		}
		if err := g.Unlock(); err != nil {
			return err
		}
		if err := a.Close(); err != nil {
			return err
		}
		fmt.Println("closed")
		var res string
		switch args[1] {
		case "version":
			res = fmt.Sprint(verOf(a))
		case "unlock":
			res = fmt.Sprint(g.Unlock())
		case "recover":
			res = fmt.Sprint(a.Recover(func(*Counter) error { return nil }))
		}
		fmt.Printf("survived %s\n", res)
		return nil
	}
	// adv2-attacher NAME MS: for MS milliseconds, Open NAME, and when the name
	// still names the file just attached, hold it briefly and look again: a
	// name gone or naming another file means the segment was unlinked while
	// this process was a live holder. Says "violations N attached M".
	childRoles["adv2-attacher"] = func(args []string) error {
		var ms int
		fmt.Sscan(args[1], &ms)
		path := "/dev/shm/" + args[0]
		same := func(fd int) bool {
			var a, b unix.Stat_t
			return unix.Fstat(fd, &a) == nil && unix.Stat(path, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev
		}
		violations, attached := 0, 0
		for end := time.Now().Add(time.Duration(ms) * time.Millisecond); time.Now().Before(end); {
			a, err := Open[Counter](args[0], WithOpenTimeout(time.Millisecond))
			if err != nil {
				continue
			}
			if same(a.s.fd()) { // attached while the name named it
				attached++
				time.Sleep(200 * time.Microsecond)
				if !same(a.s.fd()) {
					violations++
				}
			}
			a.Close()
		}
		fmt.Printf("violations %d attached %d\n", violations, attached)
		return nil
	}
}

// startAdv2Child runs role with its stderr captured, so that a crash's
// message can be shown in the failure.
func startAdv2Child(t *testing.T, role string, args ...string) (*child, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	c := startChildCmd(t, func(cmd *exec.Cmd) { cmd.Stderr = &stderr }, role, args...)
	return c, &stderr
}

// firstLines is the start of a crashed child's stderr.
func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// Ensure that what survives the last Close of a handle does not touch the
// unmapped segment or the freed C handle. README: "After Close, every method
// returns ErrClosed"; Guard.Unlock: "a second Unlock returns ErrNotOwner and
// changes nothing". Version reads a.hdr (unmapped by the last Close) with no
// closed check; Guard.Unlock called C with the freed
// ipcarc_seg, whose hdr pointer the allocator has overwritten.
func TestAdv2UseAfterLastClose(t *testing.T) {
	for _, what := range []string{"version", "unlock", "recover"} {
		t.Run(what, func(t *testing.T) {
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			c, stderr := startAdv2Child(t, "adv2-after-close", name, what)
			c.expect("closed")
			var line string
			var ok bool
			select {
			case line, ok = <-c.lines:
			case <-time.After(30 * time.Second):
				t.Fatal("child hung after the last Close")
			}
			<-c.done
			if !ok {
				t.Fatalf("%s after the last Close crashed the process (%v):\n%s", what, c.err, firstLines(stderr.String(), 4))
			}
			if what != "version" && !strings.Contains(line, "not held") && !strings.Contains(line, "closed") {
				t.Fatalf("%s after Close: %q, want ErrNotOwner or ErrClosed", what, line)
			}
		})
	}
}

// waitUnderLock locks a on a goroutine of its own, calls Wait there, unlocks,
// and sends what Wait returned (or the Lock error).
func waitUnderLock(a *Arc[Counter], ctx context.Context) <-chan error {
	res := make(chan error, 1)
	go func() {
		g, err := a.Lock()
		if err != nil {
			res <- err
			return
		}
		_, err = a.Wait(ctx, verOf(a))
		g.Unlock()
		res <- err
	}()
	return res
}

// Ensure that Wait from the goroutine that holds the value's lock does not
// sleep for a write that nobody can make (every writer needs that lock). With
// no other waiter, Wait(context.Background()) returns ErrDeadlock (the hub's
// leader sleeps in C on the holder's thread, and C refuses); but
//   - when another goroutine of the process already waits (so a hub exists),
//     the lock holder becomes a channel waiter and blocked for ever, and
//   - with a ctx that can be cancelled, it blocked until the ctx was done (both fixed: ErrDeadlock at once).
func TestAdv2WaitWhileHoldingLock(t *testing.T) {
	// rescue ends a Wait stuck under the lock: a version change that no
	// writer could make, seen by the hub's sleeper.
	rescue := func(a *Arc[Counter]) {
		atomic.AddUint32(&a.hdr.Seq, 2)
		a.s.wakeAll()
	}
	t.Run("alone-background", func(t *testing.T) {
		// The reference behaviour: ErrDeadlock at once.
		a := mustNew(t, testName(t), Counter{})
		res := waitUnderLock(a, context.Background())
		select {
		case err := <-res:
			if !errors.Is(err, ErrDeadlock) {
				t.Fatalf("Wait under the lock = %v, want ErrDeadlock", err)
			}
		case <-time.After(5 * time.Second):
			rescue(a)
			t.Fatal("Wait under the lock did not return")
		}
	})
	t.Run("another-waiter", func(t *testing.T) {
		a := mustNew(t, testName(t), Counter{})
		b, err := a.Clone()
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		v := verOf(a)
		other := make(chan error, 1)
		go func() { _, err := b.Wait(context.Background(), v); other <- err }()
		waitFor(t, 5*time.Second, "other waiter asleep", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 1 })

		res := waitUnderLock(a, context.Background())
		select {
		case err := <-res:
			if !errors.Is(err, ErrDeadlock) {
				t.Errorf("Wait under the lock = %v, want ErrDeadlock", err)
			}
			a.Store(Counter{N: 1}) // end the other waiter
		case <-time.After(5 * time.Second):
			rescue(a)
			<-res
			t.Errorf("Wait(context.Background()) by the lock holder, while another goroutine waits, did not return in 5s (it never would)")
		}
		if err := <-other; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancellable-ctx", func(t *testing.T) {
		a := mustNew(t, testName(t), Counter{})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		res := waitUnderLock(a, ctx)
		select {
		case err := <-res:
			if !errors.Is(err, ErrDeadlock) || time.Since(start) > time.Second {
				t.Fatalf("Wait(ctx with a 2s timeout) under the lock = %v after %v, want ErrDeadlock at once", err, time.Since(start).Round(time.Millisecond))
			}
		case <-time.After(10 * time.Second):
			rescue(a)
			t.Fatal("Wait under the lock did not return")
		}
	})
}

// Ensure that a handle dropped without Close after a Wait that gave up is
// still released by the garbage-collection safety net (README, Lifetime: "A
// dropped handle ... gives its reference back when the garbage collector
// finds it"). The hub goroutine stays asleep in C with nobody waiting and
// kept the waiter's Arc reachable (waitLeave's keep) until the next write
// or Close: the handle, the hub goroutine and its OS thread leaked. (Fixed:
// the hub holds no handle, and the safety net stops it before closing.)
func TestAdv2DroppedHandleAfterCancelledWait(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	func() {
		c, err := a.Clone()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Wait(ctx, verOf(c)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v", err)
		}
		// c is dropped here, without Close.
	}()
	released := func() bool {
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			runtime.GC()
			if n, _ := a.RefCount(); n == 1 {
				return true
			}
		}
		return false
	}
	if !released() {
		_, hub := waitHubWaiters(a.s)
		n, _ := a.RefCount()
		// Let the hub go (a write ends it), so the test leaves nothing behind.
		a.Store(Counter{N: 1})
		released()
		t.Fatalf("refcount %d 3s after dropping a clone whose Wait timed out, want 1 (hub goroutine still running: %v)", n, hub)
	}
}

// Ensure that Info (and Stats, and so Expvar) on a handle whose file is
// truncated under its mapping returns ErrCorrupt instead of crashing, for a
// truncation that takes the header page and one that takes the holder
// table. The file is restored afterwards so that Close works.
func TestAdv2InfoTruncated(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithMaxHolders(MaxHolders))
	fd, err := unix.Open("/dev/shm/"+name, unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	img := make([]byte, st.Size)
	if n, err := unix.Pread(fd, img, 0); err != nil || n != len(img) {
		t.Fatal(n, err)
	}
	restore := func() {
		if err := unix.Ftruncate(fd, st.Size); err != nil {
			t.Fatal(err)
		}
		if n, err := unix.Pwrite(fd, img, 0); err != nil || n != len(img) {
			t.Fatal(n, err)
		}
	}
	for _, size := range []int64{0, headerSize} {
		if err := unix.Ftruncate(fd, size); err != nil {
			t.Fatal(err)
		}
		_, err := a.Info()
		_, serr := a.Info()
		evb, _ := json.Marshal(a.Expvar()())
		ev := string(evb)
		restore()
		if !errors.Is(err, ErrCorrupt) || !errors.Is(serr, ErrCorrupt) {
			t.Fatalf("truncated to %d: Info = %v, Stats = %v; want ErrCorrupt", size, err, serr)
		}
		if !strings.Contains(ev, `"error"`) {
			t.Fatalf("truncated to %d: Expvar = %s, want an error", size, ev)
		}
	}
	if _, err := a.Info(); err != nil {
		t.Fatalf("Info after the file was restored: %v", err)
	}
}

// Ensure that Remove without Force() never removes a segment that has a live
// holder. Remove decides from a lock-free Inspect and then calls
// ipcarc_remove with force=1 ("only unlinks"), throwing away the C layer's
// own check of live holders under the table lock: a process that attaches
// between the two has the segment unlinked under it.
func TestAdv2RemoveRacesAttach(t *testing.T) {
	// remove is Remove(name); "c-check" is the suggested fix (ipcarc_remove
	// with force=0, which counts live holders under the table lock), run as
	// a control of the detection: it must see no violation.
	for _, tc := range []struct {
		name   string
		remove func(string) error
	}{
		{"Remove", func(n string) error { return Remove(n) }},
		{"c-check", func(n string) error { return fromErrno("remove", n, cRemove(n, false), 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			const ms = 2000
			c := startChild(t, "adv2-attacher", name, fmt.Sprint(ms))
			removed := 0
			for end := time.Now().Add(ms * time.Millisecond); time.Now().Before(end); {
				if !shmExists(name) {
					a, err := New(name, Counter{}, WithLifetime(UntilRemoved))
					if err == nil {
						a.Close()
					}
				}
				if err := tc.remove(name); err == nil {
					removed++
				} else if !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrWouldBlock) {
					t.Fatal(err)
				}
			}
			l := c.expect("violations")
			c.wait()
			var v, att int
			fmt.Sscanf(l, "violations %d attached %d", &v, &att)
			t.Logf("%d removals; the attacher attached %d times", removed, att)
			if v > 0 {
				t.Fatalf("Remove (without Force) unlinked the segment under a live holder %d times", v)
			}
		})
	}
}
