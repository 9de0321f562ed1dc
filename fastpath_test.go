//go:build linux && cgo

package ipcarc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Wide is written all-equal by every writer: a reader that sees two different
// fields has seen a torn write.
type Wide struct{ F [64]uint64 }

func init() {
	// wide-writer NAME DURATION: Store and Update alternately, all fields equal.
	childRoles["wide-writer"] = func(args []string) error {
		a, err := Open[Wide](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		d, _ := time.ParseDuration(args[1])
		end := time.Now().Add(d)
		n := 0
		for i := uint64(os.Getpid()) << 32; time.Now().Before(end); i++ {
			if i%2 == 0 {
				var w Wide
				for j := range w.F {
					w.F[j] = i
				}
				err = a.Store(w)
			} else {
				err = a.Update(func(w *Wide) error {
					for j := range w.F {
						w.F[j] = i
					}
					return nil
				})
			}
			if err != nil {
				return err
			}
			n++
		}
		fmt.Printf("writes=%d\n", n)
		return nil
	}
	// wide-reader NAME DURATION: Load and check every field is equal.
	childRoles["wide-reader"] = func(args []string) error {
		a, err := Open[Wide](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		d, _ := time.ParseDuration(args[1])
		end := time.Now().Add(d)
		reads, torn := 0, 0
		for time.Now().Before(end) {
			w, err := a.Load()
			if err != nil {
				return err
			}
			for _, f := range w.F[1:] {
				if f != w.F[0] {
					torn++
					break
				}
			}
			reads++
		}
		fmt.Printf("reads=%d torn=%d\n", reads, torn)
		return nil
	}
	// wide-die NAME: lock, half-write, say so, wait to be killed.
	childRoles["wide-die"] = func(args []string) error {
		a, err := Open[Wide](args[0])
		if err != nil {
			return err
		}
		g, err := a.Lock()
		if err != nil {
			return err
		}
		for j := 0; j < 32; j++ {
			g.Get().F[j] = 99
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour)
		return nil
	}
	// waiter NAME GOROUTINES: each goroutine waits for a change of version.
	childRoles["waiter"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		n, _ := strconv.Atoi(args[1])
		v := verOf(a)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		ready := make(chan struct{}, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				ready <- struct{}{}
				nv, err := a.Wait(ctx, v)
				if err == nil && nv == v {
					err = fmt.Errorf("Wait returned the old version %d", nv)
				}
				errs <- err
			}()
		}
		for i := 0; i < n; i++ {
			<-ready
		}
		// Wait for the goroutines to reach the futex (one sleeper for the
		// attachment, the others with it); a Store before that is still
		// seen (the version check precedes the sleep).
		asleep := func() bool {
			k, _ := waitHubWaiters(a.s)
			return k == n && futexSleepers(os.Getpid()) >= 1
		}
		for end := time.Now().Add(10 * time.Second); !asleep(); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				return errors.New("the waiters did not reach the futex within 10s")
			}
		}
		fmt.Printf("waiting %d\n", v)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		v2, _ := a.Load()
		fmt.Printf("woke n=%d\n", v2.N)
		return nil
	}
	// update-panic NAME: Update whose fn panics; the panic is recovered.
	childRoles["update-panic"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Printf("recovered %v\n", r)
				}
			}()
			a.Update(func(c *Counter) error {
				c.N = 13
				panic("boom")
			})
		}()
		return nil
	}
}

// Ensure that no reader ever sees a torn value while two writer processes
// write, and that readers make progress while writers run.
func TestLoadNeverTorn(t *testing.T) {
	name := testName(t)
	mustNew(t, name, Wide{})
	const d = "2s"
	var kids []*child
	for i := 0; i < 2; i++ {
		kids = append(kids, startChild(t, "wide-writer", name, d))
	}
	var readers []*child
	for i := 0; i < 2; i++ {
		readers = append(readers, startChild(t, "wide-reader", name, d))
	}
	for _, w := range kids {
		l := w.expect("writes=")
		if n, _ := strconv.Atoi(strings.TrimPrefix(l, "writes=")); n == 0 {
			t.Errorf("writer made no progress: %s", l)
		}
		w.wait()
	}
	for _, r := range readers {
		l := r.expect("reads=")
		var reads, torn int
		fmt.Sscanf(l, "reads=%d torn=%d", &reads, &torn)
		if torn != 0 {
			t.Errorf("reader saw %d torn values in %d reads", torn, reads)
		}
		if reads < 1000 {
			t.Errorf("reader made little progress while writers ran: %s", l)
		}
		r.wait()
	}
}

// Ensure that a writer killed inside its critical section (sequence word left
// odd) does not hang Load: it falls back to the lock and reports the poison,
// and that neither Load nor Store takes the owner-death news: the next Lock
// gets ErrOwnerDead (doc.go: "Load, LoadInto, LoadContext, Store and Wait
// never take that news; they see ErrPoisoned").
func TestLoadAfterWriterDied(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Wide{})
	c := startChild(t, "wide-die", name)
	c.expect("locked")
	c.kill()
	within(t, 10*time.Second, "Load after writer death", func() {
		w, err := a.Load()
		if errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) {
			t.Errorf("Load = %v, want ErrPoisoned only", err)
		}
		if w.F[0] != 99 || w.F[63] != 0 {
			t.Errorf("Load did not return the half-written value: %d ... %d", w.F[0], w.F[63])
		}
		var dst Wide
		if err := a.LoadInto(&dst); errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) {
			t.Errorf("LoadInto = %v, want ErrPoisoned only", err)
		}
		if err := a.Store(Wide{}); errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) {
			t.Errorf("Store on a poisoned value = %v, want ErrPoisoned only", err)
		}
		g, err := a.Lock()
		if !errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) || g != nil {
			t.Errorf("first Lock after the death and the reads = %v, %v; want nil, ErrOwnerDead", g, err)
		}
		mustRecover(t, a)
		if err := a.Store(Wide{}); err != nil {
			t.Errorf("Store after Recover = %v", err)
		}
	})
}

// Ensure that LockContext gives up soon after cancellation while another
// process holds the lock, leaves the holder alone, and releases its thread.
func TestLockContextCancel(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	c := startChild(t, "hold", name)
	c.expect("locked")

	threads := pprof.Lookup("threadcreate")
	before := threads.Count()
	const rounds = 20
	for i := 0; i < rounds; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		res := make(chan error, 1)
		go func() {
			g, err := a.LockContext(ctx)
			if g != nil {
				g.Unlock()
			}
			res <- err
		}()
		waitSleeping(t, os.Getpid()) // inside LockContext, asleep on the held mutex
		start := time.Now()
		cancel()
		select {
		case err := <-res:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("LockContext = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("LockContext returned %v after cancel", d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("LockContext did not return after cancel")
		}
	}
	// A goroutine that ends with its thread still locked takes the thread
	// with it; had LockContext leaked the pin, each round would have cost one.
	if grown := threads.Count() - before; grown >= rounds/2 {
		t.Fatalf("%d threads created over %d cancelled LockContexts: threads are not released", grown, rounds)
	}
	if _, err := a.TryLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("holder lost the lock: TryLock = %v", err)
	}
	c.kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, err := a.LockContext(ctx)
	if !errors.Is(err, ErrOwnerDead) || g != nil {
		t.Fatalf("LockContext after holder died = %v, %v; want nil, ErrOwnerDead", g, err)
	}
	mustRecover(t, a)
}

// Ensure that a panic inside Update poisons the value, releases the lock and
// propagates.
func TestUpdatePanicPoisons(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	c := startChild(t, "update-panic", name)
	c.expect("recovered boom")
	c.wait()
	within(t, 5*time.Second, "Lock after a panicking Update", func() {
		g, err := a.Lock()
		if errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) || g != nil {
			t.Errorf("Lock = %v, %v; want nil, ErrPoisoned (and not owner death)", g, err)
		}
		if v, _ := a.Load(); v.N != 13 {
			t.Errorf("value = %d, want the 13 written before the panic", v.N)
		}
		mustRecover(t, a)
	})
	if err := a.Update(func(c *Counter) error { c.N++; return nil }); err != nil {
		t.Fatal(err)
	}
	want := errors.New("mine")
	if err := a.Update(func(c *Counter) error { return want }); !errors.Is(err, want) {
		t.Fatalf("Update error = %v, want it wrapped", err)
	}
	if v, _ := a.Load(); v.N != 14 {
		t.Fatalf("N = %d, want 14", v.N)
	}
}

// Ensure that writes refused because the value is poisoned change nothing:
// not the value, not the version, and no waiter wakes.
func TestRefusedWritesKeepVersion(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{N: 1})
	c := startChild(t, "hold", name)
	c.expect("locked")
	c.kill()
	v := verOf(a)
	if _, err := a.Lock(); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock = %v, want ErrOwnerDead", err)
	}
	// A refused Lock wrote nothing: the version stays (recovery already
	// made seq even when it took the lock).
	v = verOf(a)
	woke := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := a.Wait(ctx, v)
		woke <- err
	}()
	if err := a.Store(Counter{N: 2}); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("Store = %v, want ErrPoisoned", err)
	}
	if err := a.Update(func(c *Counter) error { c.N = 3; return nil }); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("Update = %v, want ErrPoisoned", err)
	}
	if verOf(a) != v {
		t.Fatalf("version moved from %d to %d on refused writes", v, verOf(a))
	}
	if err := <-woke; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want no wake-up (DeadlineExceeded)", err)
	}
	if got, _ := a.Load(); got.N != 4242 {
		t.Fatalf("value = %d, want the dead holder's 4242", got.N)
	}
}
