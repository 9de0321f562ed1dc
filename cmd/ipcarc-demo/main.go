// Command ipcarc-demo shows ipcarc surviving a crash: four worker processes
// increment one shared counter under the segment's robust mutex; one of them
// is killed with SIGKILL while it holds the lock, half-way through an update.
// The first survivor to lock gets ErrOwnerDead, repairs the value with Recover and
// finish; the total is exact and the segment is gone at the end. Last, the
// segment's lock counters say what the lock went through: how many times it
// was taken, how many lockers had to wait, the one owner death, the poison set
// and cleared.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ipcarc/ipcarc"
)

const workers = 4

// Tally is the shared value. Every committed increment adds one to Total and
// one to the worker's own slot, under the lock, so Total == sum(PerWorker)
// whenever nobody is inside the critical section. A worker killed between
// the two additions breaks that, which is exactly what poisoning warns about.
//
// Waited is each worker's own tally of the times it found the lock taken
// (a TryLock that failed before its Lock), written under the lock: the
// segment's counters are per segment, not per worker.
type Tally struct {
	Total     uint64
	PerWorker [workers]uint64
	Waited    [workers]uint64
	// Refused counts the lock acquisitions that incremented nothing: a Lock
	// refused because the value was poisoned, and the Recover that repaired
	// it (each worker adds its own at its next increment).
	Refused uint64
}

func main() {
	if w := os.Getenv("IPCARC_DEMO_WORKER"); w != "" {
		i, _ := strconv.Atoi(w)
		if err := worker(os.Args[1], i, os.Getenv("IPCARC_DEMO_VICTIM") == "1"); err != nil {
			fmt.Fprintf(os.Stderr, "worker %d: %v\n", i, err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

const perWorker = 20000

func run() error {
	name := fmt.Sprintf("ipcarc-demo-%d", os.Getpid())
	arc, err := ipcarc.New(name, Tally{})
	if err != nil {
		return err
	}
	fmt.Printf("created segment /dev/shm/%s (%d workers will add %d each)\n", name, workers, perWorker)

	// On any failure, stop the workers and close our handle, so that the
	// demo leaves nothing behind in /dev/shm even then.
	var cmds []*exec.Cmd
	closed := false
	defer func() {
		if closed {
			return
		}
		for _, c := range cmds {
			if c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
		arc.Close()
	}()

	exe, _ := os.Executable()
	var victimOut *bufio.Scanner
	var gates []io.Closer
	for i := 0; i < workers; i++ {
		cmd := exec.Command(exe, name)
		cmd.Env = append(os.Environ(), "IPCARC_DEMO_WORKER="+strconv.Itoa(i))
		cmd.Stderr = os.Stderr
		gate, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		gates = append(gates, gate)
		if i == 2 {
			cmd.Env = append(cmd.Env, "IPCARC_DEMO_VICTIM=1")
			out, _ := cmd.StdoutPipe()
			victimOut = bufio.NewScanner(out)
		} else {
			cmd.Stdout = os.Stdout
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	// Start them together, once all have attached (each waits for its
	// stdin to close): a worker that starts late must not find the others
	// finished before the victim dies, with nobody left to repair the value.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if rc, _ := arc.RefCount(); rc == workers+1 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the workers did not all attach within 30s")
		}
	}
	for _, g := range gates {
		g.Close()
	}

	// The victim says when it is inside the critical section, half-way
	// through an increment.
	if !victimOut.Scan() {
		return errors.New("victim worker exited early")
	}
	fmt.Printf("worker 2: %s\n", victimOut.Text())
	fmt.Println("demo: kill -9 worker 2 while it holds the lock")
	cmds[2].Process.Signal(syscall.SIGKILL)
	cmds[2].Wait()
	// The dead worker never closed its handle. The kernel marked its slot's
	// liveness word when it died: RefCount stops counting it at once, and
	// Reap takes its slot back.
	rc, _ := arc.RefCount()
	reaped, err := arc.Reap()
	if err != nil {
		return err
	}
	fmt.Printf("demo: refcount %d (live holders only, at once); Reap took back the dead worker's slot (%d handle)\n", rc, reaped)

	for i, c := range cmds {
		if i == 2 {
			continue
		}
		if err := c.Wait(); err != nil {
			return fmt.Errorf("worker %d: %v", i, err)
		}
	}

	v, err := arc.Load()
	ourLocks := uint64(0)
	if errors.Is(err, ipcarc.ErrPoisoned) {
		// Every survivor had finished before worker 2 died, so nobody
		// repaired the value: do it here, as a survivor would have.
		fmt.Println("demo: the value is still poisoned (no survivor locked after the death): repairing it here")
		ourLocks++
		if err := arc.Recover(func(t *Tally) error {
			t.Total = 0
			for _, n := range t.PerWorker {
				t.Total += n
			}
			return nil
		}); err != nil {
			return err
		}
		v, err = arc.Load()
	}
	if err != nil {
		return err
	}
	var sum uint64
	for _, n := range v.PerWorker {
		sum += n
	}
	want := 3*perWorker + v.PerWorker[2]
	fmt.Printf("final: total=%d, per worker=%v\n", v.Total, v.PerWorker)
	fmt.Printf("       worker 2 committed %d increments before it died; 3×%d + %d = %d\n",
		v.PerWorker[2], perWorker, v.PerWorker[2], want)
	if v.Total != sum || v.Total != want {
		return fmt.Errorf("count is wrong: total %d, sum %d, want %d", v.Total, sum, want)
	}
	fmt.Println("       the count is exact: no committed update was lost, none counted twice")
	// The counters, read before the last handle closes: every worker's
	// counts are in them, the killed one's too (Reap folded them in).
	info, err := ipcarc.Inspect(name)
	if err != nil {
		return err
	}
	if err := explainCounters(name, info.Counters, v, ourLocks); err != nil {
		return err
	}
	if rc, _ := arc.RefCount(); rc != 1 {
		return fmt.Errorf("refcount %d after all workers ended, want 1 (this process)", rc)
	}
	closed = true
	if err := arc.Close(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join("/dev/shm", name)); errors.Is(err, os.ErrNotExist) {
		fmt.Println("closed the last handle: the segment is gone from /dev/shm")
		return nil
	}
	return errors.New("segment still in /dev/shm after the last Close")
}

func worker(name string, me int, victim bool) error {
	arc, err := ipcarc.Open[Tally](name)
	if err != nil {
		return err
	}
	defer arc.Close()
	io.Copy(io.Discard, os.Stdin) // the start gate: closed once all have attached
	refused := uint64(0)
	for i := 0; i < perWorker; {
		g, err := arc.TryLock()
		waited := errors.Is(err, ipcarc.ErrWouldBlock)
		if waited {
			g, err = arc.Lock()
		}
		switch {
		case errors.Is(err, ipcarc.ErrOwnerDead):
			// The lock was refused (and released): this worker is the one
			// told to repair. Recover takes the lock again, poison or not.
			fmt.Printf("worker %d: locking says %q\n", me, err)
			refused += 2 // the refused lock and Recover's
			if err := arc.Recover(func(t *Tally) error {
				var sum uint64
				for _, n := range t.PerWorker {
					sum += n
				}
				fmt.Printf("worker %d: the dead owner left total=%d but the workers' sum is %d: repairing it with Recover\n", me, t.Total, sum)
				t.Total = sum
				return nil
			}); err != nil {
				return err
			}
			continue
		case errors.Is(err, ipcarc.ErrPoisoned):
			// Another survivor was told of the death and is repairing:
			// try again (a refused lock holds nothing).
			refused++
			time.Sleep(100 * time.Microsecond)
			continue
		case err != nil:
			return err
		}
		i++
		t := g.Get()
		if waited {
			t.Waited[me]++
		}
		t.Refused += refused
		refused = 0
		t.Total++
		if victim && i == perWorker/4 {
			// Half-way: Total is bumped, PerWorker not yet.
			fmt.Println("holding the lock, half-way through an increment")
			time.Sleep(time.Hour)
		}
		t.PerWorker[me]++
		if err := g.Unlock(); err != nil {
			return err
		}
		if i == perWorker/2 && !victim {
			fmt.Printf("worker %d: half done\n", me)
		}
	}
	fmt.Printf("worker %d: done\n", me)
	return nil
}

// explainCounters prints the segment's lock counters in words, and checks
// the acquisitions against the Lock calls the workers made.
func explainCounters(name string, c ipcarc.Counters, v Tally, ourLocks uint64) error {
	// One Lock (or TryLock) per increment: 3 workers made all theirs; the
	// victim committed PerWorker[2] and died inside one more. (Loads are
	// not acquisitions, even one that falls back to the lock.)
	want := 3*perWorker + v.PerWorker[2] + 1 + v.Refused + ourLocks
	fmt.Printf("\nlock counters of /dev/shm/%s (since it was created, over every process that attached):\n", name)
	fmt.Printf("  the lock was taken %d times: 3×%d + %d by worker 2 + 1, the one it died in", c.Acquisitions, perWorker, v.PerWorker[2])
	if v.Refused > 0 {
		fmt.Printf(" + %d that found the value poisoned or repaired it (Recover)", v.Refused)
	}
	if ourLocks > 0 {
		fmt.Printf(" + %d to repair the value here", ourLocks)
	}
	fmt.Println()
	if c.Acquisitions != want {
		return fmt.Errorf("the counters say %d acquisitions, but %d Lock calls were made", c.Acquisitions, want)
	}
	pct := 0.0
	if c.Acquisitions > 0 {
		pct = 100 * float64(c.Contended) / float64(c.Acquisitions)
	}
	fmt.Printf("  %d of them (%.1f%%) found the lock held and had to wait; %d of those slept in the kernel\n",
		c.Contended, pct, c.Slept)
	if c.Contended > 0 {
		fmt.Printf("  a wait lasted %v on average, the longest %v\n",
			(time.Duration(c.WaitNs) / time.Duration(c.Contended)).Round(10*time.Nanosecond),
			time.Duration(c.WaitMaxNs).Round(time.Microsecond))
	}
	fmt.Println("  each worker also counted the times it found the lock taken (a TryLock before each Lock):")
	fmt.Print("   ")
	for i, n := range v.Waited {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Printf("%s worker %d waited %s", sep, i, times(n))
		if i == 2 {
			fmt.Print(" (before it was killed)")
		}
	}
	fmt.Println()
	fmt.Println("    (together at least the counters' count: the lock was often free again by the time Lock tried)")
	if est := c.HoldEstimate(); est > 0 {
		fmt.Printf("  the lock was held about %v in all (1 hold in 64 is timed: %d timed)\n", est.Round(100*time.Microsecond), c.HoldSamples)
	}
	fmt.Printf("  owner deaths: %d: worker 2 died holding the lock, and the next Lock recovered it\n", c.OwnerDeaths)
	fmt.Printf("  poison: set %s (it died half-way through an update), cleared %s once the total was repaired\n",
		times(c.Poisoned), times(c.PoisonCleared))
	fmt.Printf("  dead holders reaped: %d (worker 2's handle)\n", c.ReapedHolders)
	if c.OwnerDeaths != 1 || c.Poisoned != 1 || c.PoisonCleared != 1 {
		return fmt.Errorf("counters: owner deaths %d, poisoned %d, poison cleared %d; want 1 each",
			c.OwnerDeaths, c.Poisoned, c.PoisonCleared)
	}
	return nil
}

func times(n uint64) string {
	if n == 1 {
		return "1 time"
	}
	return fmt.Sprintf("%d times", n)
}
