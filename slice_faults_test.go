//go:build linux && cgo && ipcarc_faults

package ipcarc

import (
	"errors"
	"fmt"
	"testing"
)

func init() {
	// slice-fault-worker NAME PHASE: arm PHASE, then change the slice's
	// length by Store, StoreAt and SetLen (every element equal to the new
	// length), saying "stored K" after each call that returned.
	childRoles["slice-fault-worker"] = func(args []string) error {
		faultArm(args[1])
		s, err := OpenSlice[uint64](args[0])
		if err != nil {
			return err
		}
		fmt.Println("attached")
		for k, n := range []int{5, 2, 8} {
			v := make([]uint64, n)
			for i := range v {
				v[i] = uint64(n)
			}
			if err := s.Store(v); err != nil {
				return err
			}
			fmt.Printf("stored %d\n", k)
		}
		if err := s.StoreAt(0, 8); err != nil {
			return err
		}
		g, err := s.Lock()
		if err != nil {
			return err
		}
		g.SetLen(3)
		for i := range g.Get() {
			g.Get()[i] = 3
		}
		if err := g.Unlock(); err != nil {
			return err
		}
		fmt.Println("done")
		return s.Close()
	}
}

// A process killed at each point of a slice's store (after the copy, after
// the length word, inside StoreAt, right after SetLen inside a lock) leaves
// the next reader a consistent slice or ErrPoisoned, never a length beyond
// the capacity; Recover repairs and everything works on.
func TestFaultSliceStore(t *testing.T) {
	for _, phase := range []string{"slice-store-copy", "slice-store-len", "slice-set", "slice-set-len"} {
		t.Run(phase, func(t *testing.T) {
			name := testName(t)
			s, err := NewSlice(name, []uint64{1}, 8)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c := startChild(t, "slice-fault-worker", name, phase)
			for range c.lines {
			}
			<-c.done
			if c.err == nil {
				t.Fatalf("the child was not killed at %s", phase)
			}
			v, err := s.Load()
			if !errors.Is(err, ErrPoisoned) {
				t.Fatalf("Load after a death at %s: %v %v", phase, v, err)
			}
			if len(v) > s.Cap() || s.Len() > s.Cap() {
				t.Fatalf("length %d beyond the capacity", len(v))
			}
			if _, err := s.Lock(); !errors.Is(err, ErrPoisoned) || !errors.Is(err, ErrOwnerDead) {
				t.Fatalf("Lock: %v", err)
			}
			if err := s.Recover(func(v []uint64) ([]uint64, error) {
				for i := range v {
					v[i] = uint64(len(v))
				}
				return v, nil
			}); err != nil {
				t.Fatal(err)
			}
			v, err = s.Load()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range v {
				if x != uint64(len(v)) {
					t.Fatalf("after Recover: %v", v)
				}
			}
			if err := s.Store([]uint64{4, 4, 4, 4}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
