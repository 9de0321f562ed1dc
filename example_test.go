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

type Stats struct {
	Done, Failed uint64
}

// One process creates the segment, another opens it by name; here both ends
// run in one process for the example's sake.
func Example() {
	name := fmt.Sprintf("ipcarc-test-example-%d", os.Getpid())
	a, err := ipcarc.New(name, Stats{}, ipcarc.WithMode(0o600))
	if err != nil {
		fmt.Println(err)
		return
	}
	b, err := ipcarc.Open[Stats](name) // in another process, usually
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
	_, err = ipcarc.Open[Stats](name)
	fmt.Println(errors.Is(err, ipcarc.ErrNotExist))
	// Output:
	// done: 1 handles: 2
	// true
}

// Wait sleeps until another process (or goroutine) writes.
func ExampleArc_Wait() {
	name := fmt.Sprintf("ipcarc-test-example-wait-%d", os.Getpid())
	a, err := ipcarc.New(name, Stats{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	v := a.Version()
	go func() {
		time.Sleep(10 * time.Millisecond)
		a.Update(func(s *Stats) error { s.Failed++; return nil })
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nv, err := a.Wait(ctx, v)
	s, _ := a.Load()
	fmt.Println(err, nv == v+1, s.Failed)
	// Output: <nil> true 1
}

// A process that died holding the lock hands it on poisoned; the next holder
// repairs the value and clears the poison.
func ExampleGuard_ClearPoison() {
	name := fmt.Sprintf("ipcarc-test-example-poison-%d", os.Getpid())
	a, err := ipcarc.New(name, Stats{})
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
	fmt.Println(errors.Is(err, ipcarc.ErrOwnerDead), errors.Is(err, ipcarc.ErrPoisoned))
	*g.Get() = Stats{} // repair: here, start over
	g.ClearPoison()
	g.Unlock()
	_, err = a.Load()
	fmt.Println(err)
	// Output:
	// true true
	// <nil>
}
