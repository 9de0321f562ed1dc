//go:build linux && cgo

package ipcarc

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func init() {
	// try-open NAME: one Open, reporting the outcome.
	childRoles["try-open"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		switch {
		case err == nil:
			os.Stdout.WriteString("opened\n")
			return a.Close()
		case errors.Is(err, ErrTooManyHolders):
			os.Stdout.WriteString("full\n")
			return nil
		}
		return err
	}
}

// checkInvariant: the reference count equals the sum of the slots' handles.
func checkInvariant(t *testing.T, a *Arc[Counter], wantRef int) {
	t.Helper()
	st, err := a.Info()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, h := range st.Holders {
		sum += h.Handles
	}
	if int(st.RefCount) != sum || int(st.RefCount) != wantRef {
		t.Fatalf("refcount %d, sum of slot handles %d, want both %d (holders %+v)", st.RefCount, sum, wantRef, st.Holders)
	}
}

// Ensure that a full holder table refuses the next process with
// ErrTooManyHolders, and that a dead holder's slot is reused after reaping.
func TestHolderTableFull(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithMaxHolders(3))
	var kids []*child
	for i := 0; i < 2; i++ {
		c := startChild(t, "attach", name, "1") // one Open and one Clone each
		c.expect("attached")
		kids = append(kids, c)
	}
	checkInvariant(t, a, 5)
	c := startChild(t, "try-open", name)
	c.expect("full")
	c.wait()
	checkInvariant(t, a, 5)

	kids[0].kill()
	c = startChild(t, "try-open", name) // Open reaps the dead slot first
	c.expect("opened")
	c.wait()
	checkInvariant(t, a, 3)
	if st, _ := a.Info(); st.MaxHolders != 3 || len(st.Holders) != 2 {
		t.Fatalf("stats after reaping: %+v", st)
	}
}

// Ensure that clones share their attachment's slot and count in it.
func TestClonesShareASlot(t *testing.T) {
	a := mustNew(t, testName(t), Counter{})
	var clones []*Arc[Counter]
	for i := 0; i < 4; i++ {
		c, err := a.Clone()
		if err != nil {
			t.Fatal(err)
		}
		clones = append(clones, c)
	}
	checkInvariant(t, a, 5)
	st, _ := a.Info()
	if len(st.Holders) != 1 || !st.Holders[0].Self || st.Holders[0].PID != os.Getpid() {
		t.Fatalf("holders = %+v, want one slot of ours", st.Holders)
	}
	for _, c := range clones {
		c.Close()
	}
	checkInvariant(t, a, 1)
}

// Ensure that an out-of-range holder count is refused before any system call.
func TestMaxHoldersOption(t *testing.T) {
	for _, n := range []int{0, -1, MaxHolders + 1} {
		if _, err := New(testName(t), Counter{}, WithMaxHolders(n)); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("WithMaxHolders(%d) = %v, want ErrInvalidOption", n, err)
		}
	}
}

// Ensure that a handle dropped without Close gives its reference back when
// the garbage collector finds it (the safety net), and that Close stops the
// net so no reference is given back twice.
func TestDroppedHandleReleased(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	func() {
		for i := 0; i < 3; i++ {
			if _, err := a.Clone(); err != nil { // dropped on purpose
				t.Fatal(err)
			}
		}
		c, _ := a.Clone()
		c.Close()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		if n, _ := a.RefCount(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			n, _ := a.RefCount()
			t.Fatalf("refcount %d 10s after dropping 3 clones, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkInvariant(t, a, 1)
}

// Ensure that a zero-size T works (a pure lock and version).
func TestZeroSizeValue(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, struct{}{})
	b, err := Open[struct{}](name)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := verOf(b)
	if err := a.Store(struct{}{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Load(); err != nil || verOf(b) == v {
		t.Fatalf("Load = %v, version %d -> %d", err, v, verOf(b))
	}
}
