//go:build linux && cgo

package ipcarc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ipcarc/ipcarc"
)

// Jobs is the example's shared value: plain data only.
type Jobs struct {
	Done, Failed uint64
}

// One process creates the segment, another opens it by name; here both ends
// run in one process for the example's sake.
func Example() {
	name := fmt.Sprintf("ipcarc-test-example-%d", os.Getpid())
	a, err := ipcarc.New(name, Jobs{}, ipcarc.WithMode(0o600))
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := ipcarc.Open[Jobs](name) // in another process, usually
	if err != nil {
		fmt.Println(err)
		return
	}
	g, err := b.Lock()
	if err != nil {
		fmt.Println(err)
		return
	}
	g.Get().Done++ // in place, in shared memory
	g.Unlock()

	s, _ := a.Load()
	n, _ := a.RefCount()
	fmt.Println("done:", s.Done, "handles:", n)
	b.Close()
	a.Close() // the last Close removes /dev/shm/NAME
	_, err = ipcarc.Open[Jobs](name)
	fmt.Println(errors.Is(err, ipcarc.ErrNotExist))
	// Output:
	// done: 1 handles: 2
	// true
}

// Wait sleeps until another process (or goroutine) writes.
func ExampleHandle_Wait() {
	name := fmt.Sprintf("ipcarc-test-example-wait-%d", os.Getpid())
	a, err := ipcarc.New(name, Jobs{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	v, _ := a.Version()
	go func() {
		time.Sleep(10 * time.Millisecond)
		a.Update(func(s *Jobs) error { s.Failed++; return nil })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nv, err := a.Wait(ctx, v)
	s, _ := a.Load()
	fmt.Println(err, nv.After(v), s.Failed)
	// Output: <nil> true 1
}

// A process that died holding the lock leaves the value poisoned: Lock
// refuses it (holding nothing), and Recover repairs it in place.
func ExampleArc_Recover() {
	name := fmt.Sprintf("ipcarc-test-example-poison-%d", os.Getpid())
	a, err := ipcarc.New(name, Jobs{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Lock() // and the goroutine ends, holding it: its thread dies
	}()
	<-done
	g, err := a.Lock()
	fmt.Println(g == nil, errors.Is(err, ipcarc.ErrOwnerDead), errors.Is(err, ipcarc.ErrPoisoned))
	err = a.Recover(func(j *Jobs) error {
		*j = Jobs{} // repair: here, start over
		return nil
	})
	fmt.Println(err)
	_, err = a.Load()
	fmt.Println(err)
	// Output:
	// true true true
	// <nil>
	// <nil>
}

// Of any number of processes starting at once, exactly one creates the
// segment; the others open it.
func ExampleOpenOrNew() {
	name := fmt.Sprintf("ipcarc-test-example-oon-%d", os.Getpid())
	a, created, err := ipcarc.OpenOrNew(name, Jobs{Done: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	b, created2, err := ipcarc.OpenOrNew(name, Jobs{Done: 99}) // another process, usually
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	v, _ := b.Load()
	fmt.Println(created, created2, v.Done)
	// Output: true false 1
}

// Update changes the value in place under the lock; an error from the
// function is returned (its changes stay), a panic poisons the value.
func ExampleArc_Update() {
	name := fmt.Sprintf("ipcarc-test-example-update-%d", os.Getpid())
	a, err := ipcarc.New(name, Jobs{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	for i := 0; i < 3; i++ {
		if err := a.Update(func(j *Jobs) error { j.Done++; return nil }); err != nil {
			fmt.Println(err)
		}
	}
	v, _ := a.Load()
	ver, _ := a.Version()
	fmt.Println(v.Done, ver)
	// Output: 3 3
}

// List and Inspect read segments by name without attaching; GCName reaps a
// segment's dead holders and removes it when none is left alive.
func ExampleList() {
	name := fmt.Sprintf("ipcarc-test-example-list-%d", os.Getpid())
	a, err := ipcarc.New(name, Jobs{}, ipcarc.WithLifetime(ipcarc.UntilRemoved))
	if err != nil {
		fmt.Println(err)
		return
	}
	segs, _ := ipcarc.List()
	for _, s := range segs {
		if s.Name == name {
			fmt.Println(s.Name == name, s.LiveHolders, s.Lifetime)
		}
	}
	a.Close() // the count is zero, but the segment is kept
	r, err := ipcarc.GCName(name)
	fmt.Println(err, r.Removed, r.Kept)
	fmt.Println(ipcarc.Remove(name))
	// Output:
	// true 1 until-removed
	// <nil> false true
	// <nil>
}
