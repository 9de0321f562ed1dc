//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// AtomicCounter is Counter's bytes made of atomics: the peers' struct
// counter (u64 n; u64 spare[7]) seen for lock-free use.
type AtomicCounter struct {
	N     atomic.Uint64
	Spare [7]atomic.Uint64
}

func init() {
	// atomic-add NAME K I [gate]: the Go counterpart of the peers' `atomic`:
	// K times, without the lock, N.Add(1) and (I in 1..7) Spare[I-1].Add(1);
	// then Notify: "done".
	childRoles["atomic-add"] = func(args []string) error {
		k, _ := strconv.Atoi(args[1])
		idx, _ := strconv.Atoi(args[2])
		a, err := Open[AtomicCounter](args[0], WithTypeTag(peerTag))
		if err != nil {
			return err
		}
		v, err := a.Atomic()
		if err != nil {
			return err
		}
		if len(args) > 3 && args[3] == "gate" {
			os.Stdout.WriteString("ready\n")
			bufio.NewReader(os.Stdin).ReadString('\n')
		}
		for i := 0; i < k; i++ {
			v.N.Add(1)
			if idx > 0 {
				v.Spare[idx-1].Add(1)
			}
		}
		if err := a.Notify(); err != nil {
			return err
		}
		if err := a.Close(); err != nil {
			return err
		}
		os.Stdout.WriteString("done\n")
		return nil
	}
	// atomic-hold NAME: lock (as a lock user of the atomic type), write N=4242
	// under the lock, say "locked", sleep until killed.
	childRoles["atomic-hold"] = func(args []string) error {
		a, err := Open[AtomicCounter](args[0], WithTypeTag(peerTag))
		if err != nil {
			return err
		}
		g, err := a.Lock()
		if err != nil {
			return err
		}
		g.Get().Spare[6].Store(4242)
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour)
		return nil
	}
	// notify-wait NAME V: Wait for a version after V: "woke <v>".
	childRoles["notify-wait"] = func(args []string) error {
		a, err := Open[AtomicCounter](args[0], WithTypeTag(peerTag))
		if err != nil {
			return err
		}
		since, _ := strconv.Atoi(args[1])
		os.Stdout.WriteString("waiting\n")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		v, err := a.Wait(ctx, Version(since))
		if err != nil {
			return err
		}
		os.Stdout.WriteString("woke " + strconv.Itoa(int(v)) + "\n")
		return a.Close()
	}
	// notify-loop NAME: add 1 to N and Spare[0] then Notify, until killed.
	childRoles["notify-loop"] = func(args []string) error {
		a, err := Open[AtomicCounter](args[0], WithTypeTag(peerTag))
		if err != nil {
			return err
		}
		v, _ := a.Atomic()
		os.Stdout.WriteString("running\n")
		for {
			v.N.Add(1)
			v.Spare[0].Add(1)
			if err := a.Notify(); err != nil {
				return err
			}
		}
	}
}

// gated starts workers that say "ready" and count after a line on stdin.
type gated struct {
	kids  []*child
	gates []io.WriteCloser
}

func (g *gated) goChild(t *testing.T, role string, args ...string) {
	var gate io.WriteCloser
	g.kids = append(g.kids, startChildCmd(t, func(cmd *exec.Cmd) {
		var err error
		if gate, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, role, args...))
	g.gates = append(g.gates, gate)
}

func (g *gated) peer(t *testing.T, p peer, args ...string) {
	c, gate := p.startStdin(t, true, args...)
	g.kids, g.gates = append(g.kids, c), append(g.gates, gate)
}

func (g *gated) run() {
	for _, c := range g.kids {
		c.expect("ready")
	}
	for _, w := range g.gates {
		io.WriteString(w, "go\n")
	}
	for _, c := range g.kids {
		c.expect("done")
		c.wait()
	}
}

// Ensure that lock-free adds from four processes in three languages (two Go
// children through Atomic, C through __atomic_fetch_add on ipcarc_data, Rust
// through IpcArc::atomic) on one shared atomic.Uint64, and each on its own
// array element, add up exactly: 4 x 1,000,000.
func TestAtomicFourProcessesExact(t *testing.T) {
	cp, rp := bothPeers(t)
	name := testName(t)
	a := mustNew(t, name, AtomicCounter{}, WithTypeTag(peerTag))
	const each = 1000000
	k := strconv.Itoa(each)
	var g gated
	g.goChild(t, "atomic-add", name, k, "1", "gate")
	g.goChild(t, "atomic-add", name, k, "2", "gate")
	g.peer(t, cp, "atomic", name, k, "3", "gate")
	g.peer(t, rp, "atomic", name, k, "4", "gate")
	v0 := verOf(a)
	g.run()
	v, err := a.Atomic()
	if err != nil {
		t.Fatal(err)
	}
	if got := v.N.Load(); got != 4*each {
		t.Fatalf("shared total = %d, want %d", got, 4*each)
	}
	for i := 0; i < 4; i++ {
		if got := v.Spare[i].Load(); got != each {
			t.Fatalf("worker %d's element = %d, want %d", i+1, got, each)
		}
	}
	// Each worker notified once: four new versions, no lock taken.
	if got := verOf(a); got != v0+4 {
		t.Fatalf("version after four Notify = %d, want %d", got, v0+4)
	}
	l, err := a.Load()
	if err != nil || l.N.Load() != 4*each {
		t.Fatalf("Load after the adds = %d, %v", l.N.Load(), err)
	}
}

// Ensure that Atomic refuses a T with one plain field, naming the field
// (ErrUnsupportedType), and hands out the value of a T made of atomics
// (single, array, nested struct).
func TestAtomicTypeCheck(t *testing.T) {
	type mixed struct {
		Hits  atomic.Uint64
		Inner struct {
			OK   atomic.Int32
			Last uint32
		}
	}
	a := mustNew(t, testName(t), mixed{})
	_, err := a.Atomic()
	if !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), ".Inner.Last") || !strings.Contains(err.Error(), a.Name()) {
		t.Fatalf("Atomic on a plain field: %v, want ErrUnsupportedType naming .Inner.Last", err)
	}
	// Still an ordinary shared value for the lock.
	if err := a.Update(func(v *mixed) error { v.Inner.Last = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	// A plain array element is named with its path too.
	if err := checkAtomic(reflect.TypeFor[struct {
		A [2]atomic.Int32
		B [2]int32
	}]()); !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), ".B[]") {
		t.Fatalf("checkAtomic on a plain array: %v", err)
	}

	one := mustNew(t, testName(t)+"-1", atomic.Int64{})
	if v, err := one.Atomic(); err != nil || v.Add(5) != 5 {
		t.Fatalf("Atomic on atomic.Int64: %v", err)
	}
	type nested struct {
		B   atomic.Bool
		U32 [3]atomic.Uint32
		W   [2]struct{ X, Y atomic.Uintptr }
	}
	arr := mustNew(t, testName(t)+"-2", [4]nested{})
	v, err := arr.Atomic()
	if err != nil {
		t.Fatal(err)
	}
	v[3].W[1].Y.Add(9)
	v[0].B.Store(true)
	got, err := arr.Load()
	if err != nil || got[3].W[1].Y.Load() != 9 || !got[0].B.Load() {
		t.Fatalf("Load after lock-free stores: %v", err)
	}
	// Closed: refused.
	if err := arr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := arr.Atomic(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Atomic after Close: %v, want ErrClosed", err)
	}
}

// Ensure that a lock user of an atomic T killed holding the lock does not
// stop lock-free users: adds from another process (C) continue and finish
// while the lock is held by the dead process, and the next locker gets
// ErrOwnerDead, then ErrPoisoned until Recover.
func TestAtomicOwnerDeathLockFreeContinues(t *testing.T) {
	cp := cPeer(t)
	name := testName(t)
	a := mustNew(t, name, AtomicCounter{}, WithTypeTag(peerTag))
	h := startChild(t, "atomic-hold", name)
	h.expect("locked")
	h.kill()
	var g gated
	g.peer(t, cp, "atomic", name, "100000", "1", "gate")
	g.goChild(t, "atomic-add", name, "100000", "2", "gate")
	g.run()
	v, _ := a.Atomic()
	if v.N.Load() != 200000 || v.Spare[0].Load() != 100000 || v.Spare[1].Load() != 100000 {
		t.Fatalf("lock-free totals after the holder's death: %d %d %d", v.N.Load(), v.Spare[0].Load(), v.Spare[1].Load())
	}
	if _, err := a.Lock(); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("next lock: %v, want ErrOwnerDead", err)
	}
	if err := a.Update(func(*AtomicCounter) error { return nil }); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("update on the poisoned value: %v, want ErrPoisoned", err)
	}
	v.N.Add(1) // lock-free users are not stopped by the poison
	mustRecover(t, a)
	if v.N.Load() != 200001 || v.Spare[6].Load() != 4242 {
		t.Fatalf("after recover: N=%d Spare[6]=%d", v.N.Load(), v.Spare[6].Load())
	}
}

// Ensure that Notify wakes a Wait in another process, and moves the version
// by exactly one.
func TestAtomicNotifyWakesWait(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, AtomicCounter{}, WithTypeTag(peerTag))
	v0 := verOf(a)
	w := startChild(t, "notify-wait", name, strconv.Itoa(int(v0)))
	w.expect("waiting")
	// Let it sleep in the futex (a change before it sleeps wakes it too).
	waitSleeping(t, w.cmd.Process.Pid)
	p, _ := a.Atomic()
	p.N.Add(1)
	if err := a.Notify(); err != nil {
		t.Fatal(err)
	}
	if l := w.expect("woke "); l != "woke "+strconv.Itoa(int(v0+1)) {
		t.Fatalf("waiter said %q, want version %d", l, v0+1)
	}
	w.wait()
	a.Close()
	if err := a.Notify(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Notify after Close: %v, want ErrClosed", err)
	}
}

// Ensure that a seqlock Load concurrent with Notify (another process adding
// to N and Spare[0] and notifying in a loop) and with lock-based writers
// (Update writing Spare[1..6] all equal) never returns torn data: the
// lock-written fields are always equal to each other, and the lock-free ones
// never go backwards.
func TestAtomicLoadWithNotifyNotTorn(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, AtomicCounter{}, WithTypeTag(peerTag))
	n := startChild(t, "notify-loop", name)
	n.expect("running")
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		b, err := Open[AtomicCounter](name, WithTypeTag(peerTag))
		if err != nil {
			done <- err
			return
		}
		defer b.Close()
		for i := uint64(1); ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := b.Update(func(v *AtomicCounter) error {
				for j := 1; j < 7; j++ {
					v.Spare[j].Store(i)
				}
				return nil
			})
			if err != nil {
				done <- err
				return
			}
		}
	}()
	var lastN uint64
	deadline := time.Now().Add(time.Second)
	loads := 0
	for time.Now().Before(deadline) {
		v, err := a.Load()
		if err != nil {
			t.Fatal(err)
		}
		for j := 2; j < 7; j++ {
			if v.Spare[j].Load() != v.Spare[1].Load() {
				t.Fatalf("torn Load: Spare[1]=%d Spare[%d]=%d", v.Spare[1].Load(), j, v.Spare[j].Load())
			}
		}
		if v.N.Load() < lastN {
			t.Fatalf("N went backwards: %d after %d", v.N.Load(), lastN)
		}
		lastN = v.N.Load()
		loads++
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.kill()
	if lastN == 0 {
		t.Fatal("the notifier made no progress")
	}
	t.Logf("%d loads, N reached %d", loads, lastN)
}

// WorkerStats is one worker's row of lock-free counters.
type WorkerStats struct{ Requests, Bytes atomic.Uint64 }

func init() {
	// slice-atomic NAME I K: open the Slice[WorkerStats] NAME and add 1
	// request and 10 bytes to row I, K times, without the lock; then Notify.
	childRoles["slice-atomic"] = func(args []string) error {
		s, err := OpenSlice[WorkerStats](args[0])
		if err != nil {
			return err
		}
		defer s.Close()
		i, _ := strconv.Atoi(args[1])
		k, _ := strconv.Atoi(args[2])
		rows, err := s.Atomic()
		if err != nil {
			return err
		}
		for n := 0; n < k; n++ {
			rows[i].Requests.Add(1)
			rows[i].Bytes.Add(10)
		}
		return s.Notify()
	}
}

// Slice.Atomic (doc: "the slice's elements in place, for lock-free use"):
// 4 worker processes count into their own rows and into row 0 at once,
// without the lock: exact totals. A slice of plain elements is refused.
func TestSliceAtomicRows(t *testing.T) {
	name := testName(t)
	s, err := NewSlice(name, make([]WorkerStats, 4), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const k = 200000
	var cs []*child
	for i := 0; i < 4; i++ {
		cs = append(cs, startChild(t, "slice-atomic", name, strconv.Itoa(i), strconv.Itoa(k)))
		cs = append(cs, startChild(t, "slice-atomic", name, "0", strconv.Itoa(k)))
	}
	for _, c := range cs {
		c.wait()
	}
	rows, err := s.Atomic()
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		want := uint64(k)
		if i == 0 {
			want = 5 * k
		}
		if r, b := rows[i].Requests.Load(), rows[i].Bytes.Load(); r != want || b != 10*want {
			t.Errorf("row %d: %d requests, %d bytes; want %d, %d", i, r, b, want, 10*want)
		}
	}
	if v, _ := s.Version(); v != 8 {
		t.Errorf("version after 8 Notify calls = %d, want 8", v)
	}
	plain, err := NewSlice(testName(t), []Counter{{}}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Atomic(); !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), ".N") {
		t.Errorf("Atomic of a slice of plain elements = %v, want ErrUnsupportedType naming the field", err)
	}
}
