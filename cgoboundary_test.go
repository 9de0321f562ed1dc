//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// The cgo boundary: Go memory crosses into C only as a pointer (see the rule
// in cgo_bridge.go). These tests call Load's locked fallback and Store from
// every goroutine stack depth, so that some call lands exactly where the cgo
// wrapper's prologue grows (moves) the stack; a destination or source passed
// as an integer would then be the old, freed stack.

// Deep is big enough that a stale copy cannot pass for a fresh one by luck.
type Deep struct{ W [32]uint64 }

func deepOf(k uint64) Deep {
	var w Deep
	for i := range w.W {
		w.W[i] = k*1000 + uint64(i)
	}
	return w
}

func init() {
	// boundary-writer NAME: for each line K on stdin, Lock, say "locked",
	// hold the lock 300µs, write deepOf(K), Unlock. A Load started after
	// "locked" finds the seqlock odd and falls back to the lock, so it
	// returns exactly deepOf(K).
	childRoles["boundary-writer"] = func(args []string) error {
		a, err := Open[Deep](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			k, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				return err
			}
			g, err := a.Lock()
			if err != nil {
				return err
			}
			fmt.Println("locked")
			time.Sleep(300 * time.Microsecond)
			*g.Get() = deepOf(k)
			if err := g.Unlock(); err != nil {
				return err
			}
		}
		return nil
	}
	// boundary-read NAME: say "w0 N", the first word of NAME's value.
	childRoles["boundary-read"] = func(args []string) error {
		a, err := Open[Deep](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		v, err := a.Load()
		if err != nil {
			return err
		}
		fmt.Printf("w0 %d\n", v.W[0])
		return nil
	}
}

// atDepth calls f from d frames below the caller's frame; its frame is small,
// so the sweep passes every stack doubling at a fine step.
//
//go:noinline
func atDepth(d int, f func()) {
	if d > 0 {
		atDepth(d-1, f)
		return
	}
	f()
}

func boundaryDepths(t *testing.T) int {
	if testing.Short() {
		return 600
	}
	return 3000
}

// startWriter starts a boundary-writer on name and returns the pipe to its stdin.
func startWriter(t *testing.T, name string) (*child, io.WriteCloser) {
	var in io.WriteCloser
	w := startChildCmd(t, func(c *exec.Cmd) {
		var err error
		if in, err = c.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "boundary-writer", name)
	return w, in
}

// Reproducer of the review: a writer process holds the lock 300µs and writes
// a new value; Load, called from every stack depth in a fresh goroutine,
// falls back to the lock and must return the new value. With the destination
// passed as an integer, about 1% of these returned the previous value with a
// nil error (at the depths where the stack doubled).
func TestLoadFallbackFromEveryStackDepth(t *testing.T) {
	name := testName(t)
	a, err := New(name, deepOf(0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	w, in := startWriter(t, name)
	before, _ := a.Info()
	n := boundaryDepths(t)
	stale := 0
	for d := 1; d <= n; d++ {
		fmt.Fprintln(in, d)
		w.expect("locked")
		var got Deep
		var lerr error
		done := make(chan struct{})
		go atDepth(d, func() {
			defer close(done)
			got, lerr = a.Load() // destination on this goroutine's stack
		})
		<-done
		if lerr != nil {
			t.Fatalf("depth %d: Load: %v", d, lerr)
		}
		if got != deepOf(uint64(d)) {
			stale++
			if stale <= 5 {
				t.Errorf("depth %d: Load returned %d..., want %d... (a copy into a moved stack)", d, got.W[0], deepOf(uint64(d)).W[0])
			}
		}
	}
	in.Close()
	w.wait()
	after, _ := a.Info()
	fb := after.Counters.LoadFallbacks - before.Counters.LoadFallbacks
	t.Logf("%d Loads, %d through the lock, %d stale", n, fb, stale)
	if stale > 0 {
		t.Fatalf("%d of %d Loads were stale", stale, n)
	}
	// The test is only worth something if the Loads did take the cgo path.
	if fb < uint64(n)*9/10 {
		t.Fatalf("only %d of %d Loads fell back to the lock: the sweep did not exercise the cgo call", fb, n)
	}
}

// Store from every stack depth: the source is the caller's stack copy of v;
// what C copies into the segment must be v.
func TestStoreFromEveryStackDepth(t *testing.T) {
	name := testName(t)
	a, err := New(name, deepOf(0))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// A second process reads back every store: what it sees is what C wrote.
	b, err := Open[Deep](name)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := boundaryDepths(t)
	for d := 1; d <= n; d++ {
		var serr error
		done := make(chan struct{})
		go atDepth(d, func() {
			defer close(done)
			serr = a.Store(deepOf(uint64(d)))
		})
		<-done
		if serr != nil {
			t.Fatalf("depth %d: Store: %v", d, serr)
		}
		var got Deep
		if err := b.LoadInto(&got); err != nil {
			t.Fatal(err)
		}
		if got != deepOf(uint64(d)) {
			t.Fatalf("depth %d: Store wrote %d..., want %d...", d, got.W[0], deepOf(uint64(d)).W[0])
		}
	}
	// And another process agrees with the last one.
	c := startChild(t, "boundary-read", name)
	l := c.expect("w0 ")
	if want := fmt.Sprintf("w0 %d", deepOf(uint64(n)).W[0]); l != want {
		t.Fatalf("reader process saw %q, want %q", l, want)
	}
	c.wait()
}

// Load, LoadInto and Store allocate nothing, whatever the size of T: the Go
// memory they hand to C stays on the stack (#cgo noescape).
func TestLoadStoreDoNotAllocate(t *testing.T) {
	name := testName(t)
	a, err := New(name, deepOf(1))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var sink Deep
	cases := map[string]func(){
		"Load":      func() { sink, _ = a.Load() },
		"LoadInto":  func() { _ = a.LoadInto(&sink) },
		"Store":     func() { _ = a.Store(deepOf(2)) },
		"StoreFrom": func() { _ = a.StoreFrom(&sink) },
		// The locked fallback itself: a stack destination handed to C.
		"loadLocked": func() {
			var v Deep
			_ = a.loadLocked(&v)
			sink = v
		},
	}
	for what, f := range cases {
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", what, n)
		}
	}
}
