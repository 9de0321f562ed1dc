//go:build linux && cgo

package ipcarc

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SoakValue: every committed increment adds one to N and one to the
// incrementing worker's Per entry under the lock, so N == sum(Per) whenever
// no one is inside; a worker killed between the two breaks it, and poisoning
// says so.
type SoakValue struct {
	N   uint64
	Per [8]uint64
}

func (v *SoakValue) sum() (s uint64) {
	for _, p := range v.Per {
		s += p
	}
	return s
}

// repair is what a survivor does with a poisoned value.
func (v *SoakValue) repair() { v.N = v.sum() }

func init() {
	// soak-worker NAME ID DURATION SEED: random operations until DURATION
	// has passed; "c" after each committed increment, "r" after each repair.
	childRoles["soak-worker"] = func(args []string) error {
		name := args[0]
		id, _ := strconv.Atoi(args[1])
		d, _ := time.ParseDuration(args[2])
		seed, _ := strconv.ParseInt(args[3], 10, 64)
		rng := rand.New(rand.NewSource(seed))
		a, err := Open[SoakValue](name)
		if err != nil {
			return err
		}
		w, err := Open[Wide](name + "-w")
		if err != nil {
			return err
		}
		var clones []*Arc[SoakValue]
		ops := 0
		out := func(s string) { os.Stdout.WriteString(s + "\n") }
		incr := func(v *SoakValue) { v.N++; v.Per[id]++ }
		for end := time.Now().Add(d); time.Now().Before(end); ops++ {
			switch op := rng.Intn(10); op {
			case 0, 1, 2: // Lock, increment, Unlock
				g, err := a.Lock()
				if errors.Is(err, ErrPoisoned) {
					if err := a.Recover(func(v *SoakValue) error { v.repair(); return nil }); err != nil {
						return err
					}
					out("r")
					g, err = a.Lock()
				}
				if errors.Is(err, ErrPoisoned) {
					continue // poisoned again meanwhile by a killed worker
				} else if err != nil {
					return err
				}
				v := g.Get()
				v.N++
				if rng.Intn(16) == 0 {
					// Work inside the critical section, half-way through the
					// update, so that some kills land here.
					time.Sleep(200 * time.Microsecond)
				}
				v.Per[id]++
				if err := g.Unlock(); err != nil {
					return err
				}
				out("c")
			case 3: // Update
				err := a.Update(func(v *SoakValue) error { incr(v); return nil })
				if err == nil {
					out("c")
				} else if !errors.Is(err, ErrPoisoned) {
					return err
				}
			case 4: // Load: consistent unless poisoned
				v, err := a.Load()
				if err == nil && v.N != v.sum() {
					return fmt.Errorf("Load saw N=%d but sum=%d without poison", v.N, v.sum())
				}
				if err != nil && !errors.Is(err, ErrPoisoned) {
					return err
				}
			case 5: // Store all-equal, Load must never see it torn
				var x Wide
				for i := range x.F {
					x.F[i] = uint64(ops)
				}
				if err := w.Store(x); err != nil && !errors.Is(err, ErrPoisoned) {
					return err
				} else if errors.Is(err, ErrPoisoned) {
					// The killed writer may have left it torn: make it
					// all-equal again before clearing the poison.
					if w.Recover(func(v *Wide) error {
						for i := range v.F {
							v.F[i] = v.F[0]
						}
						return nil
					}) == nil {
						out("r")
					}
				}
				y, err := w.Load()
				if err == nil {
					for _, f := range y.F {
						if f != y.F[0] {
							return errors.New("torn Wide value")
						}
					}
				}
			case 6: // Clone
				if len(clones) < 3 {
					c, err := a.Clone()
					if err != nil {
						return err
					}
					clones = append(clones, c)
				}
			case 7: // Close a clone
				if len(clones) > 0 {
					if err := clones[len(clones)-1].Close(); err != nil {
						return err
					}
					clones = clones[:len(clones)-1]
				}
			case 8: // Wait briefly
				ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
				a.Wait(ctx, verOf(a))
				cancel()
			case 9: // TryLock
				g, err := a.TryLock()
				if g != nil {
					g.Unlock()
				} else if errors.Is(err, ErrPoisoned) {
					if a.Recover(func(v *SoakValue) error { v.repair(); return nil }) == nil {
						out("r")
					}
				}
			}
		}
		for _, c := range clones {
			c.Close()
		}
		w.Close()
		out("ops " + strconv.Itoa(ops))
		return a.Close()
	}
}

// Ensure that 8 processes doing random operations while being killed at
// random keep every invariant: the counter equals the committed updates, the
// reference count equals the live handles after reaping, no process hangs, and
// nothing is left in /dev/shm. IPCARC_SOAK sets the duration (default 10s,
// 1s with -short; `make soak` runs 60s).
func TestSoak(t *testing.T) {
	d := 10 * time.Second
	if testing.Short() {
		d = time.Second // -short keeps a slice of it; make test runs the 10 s
	}
	if s := os.Getenv("IPCARC_SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	name := testName(t)
	a := mustNew(t, name, SoakValue{})
	mustNew(t, name+"-w", Wide{})

	type worker struct {
		c       *child
		commits int
		ops     int
		repairs int
		done    chan struct{}
	}
	var mu sync.Mutex
	var all []*worker
	start := func(id int, left time.Duration) *worker {
		w := &worker{done: make(chan struct{})}
		w.c = startChild(t, "soak-worker", name, strconv.Itoa(id), left.String(), strconv.FormatInt(rand.Int63(), 10))
		go func() {
			defer close(w.done)
			for l := range w.c.lines {
				mu.Lock()
				switch {
				case l == "c":
					w.commits++
				case l == "r":
					w.repairs++
				case strings.HasPrefix(l, "ops "):
					w.ops, _ = strconv.Atoi(l[4:])
				default:
					t.Errorf("worker %d: %s", id, l)
				}
				mu.Unlock()
			}
		}()
		mu.Lock()
		all = append(all, w)
		mu.Unlock()
		return w
	}
	end := time.Now().Add(d)
	current := make([]*worker, 8)
	for i := range current {
		current[i] = start(i, d)
	}
	kills := 0
	for time.Now().Add(500 * time.Millisecond).Before(end) {
		time.Sleep(time.Duration(100+rand.Intn(200)) * time.Millisecond)
		i := rand.Intn(len(current))
		// SIGKILL without child.kill, whose drain of the line channel would
		// race this worker's reader for the last "c" lines and undercount
		// its commits.
		current[i].c.cmd.Process.Signal(syscall.SIGKILL)
		<-current[i].done
		<-current[i].c.done
		kills++
		current[i] = start(i, time.Until(end))
	}
	hung := 0
	for i, w := range current {
		select {
		case <-w.done:
			<-w.c.done
			if w.c.err != nil {
				t.Errorf("worker %d failed: %v", i, w.c.err)
			}
		case <-time.After(30 * time.Second):
			hung++
			t.Errorf("worker %d did not finish 30s after the end", i)
		}
	}
	mu.Lock()
	commits, ops, repairs := 0, 0, 0
	for _, w := range all {
		commits += w.commits
		ops += w.ops
		repairs += w.repairs
	}
	mu.Unlock()

	var v SoakValue
	within(t, 10*time.Second, "final Lock", func() {
		var err error
		v, err = a.Load()
		if errors.Is(err, ErrPoisoned) {
			err = a.Recover(func(sv *SoakValue) error { sv.repair(); v = *sv; return nil })
			repairs++
		}
		if err != nil {
			t.Error(err)
		}
	})
	// Each kill can leave at most one increment that happened but was not
	// reported (killed between the commit and the report, or inside the
	// critical section after both additions).
	if v.N != v.sum() || int(v.N) < commits || int(v.N) > commits+kills {
		t.Errorf("counter N=%d sum=%d, reported commits %d, kills %d", v.N, v.sum(), commits, kills)
	}
	if _, err := a.Reap(); err != nil {
		t.Fatal(err)
	}
	leaks := 0
	if n, _ := a.RefCount(); n != 1 {
		leaks++
		t.Errorf("refcount after reaping = %d, want 1", n)
	}
	a.Close()
	b, err := Open[Wide](name + "-w")
	if err == nil {
		b.Reap()
		b.Close() // with ours from mustNew still open: count 1
	}
	for _, n := range []string{name} {
		if shmExists(n) {
			leaks++
			t.Errorf("%s left in /dev/shm", n)
		}
	}
	t.Logf("soak: %v, ops(finished workers)=%d commits=%d kills=%d recoveries=%d hung=%d leaks=%d", d, ops, commits, kills, repairs, hung, leaks)
	fmt.Printf("soak: %v, ops(finished workers)=%d commits=%d kills=%d recoveries=%d hung=%d leaks=%d\n", d, ops, commits, kills, repairs, hung, leaks)
}
