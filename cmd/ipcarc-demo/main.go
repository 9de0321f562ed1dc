// Command ipcarc-demo shows ipcarc surviving a crash: four worker processes
// increment one shared counter under the segment's robust mutex; one of them
// is killed with SIGKILL while it holds the lock, half-way through an update.
// The survivors get ErrOwnerDead, repair the value, clear the poison and
// finish; the total is exact and the segment is gone at the end.
package main

import (
	"bufio"
	"errors"
	"fmt"
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
type Tally struct {
	Total     uint64
	PerWorker [workers]uint64
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

	exe, _ := os.Executable()
	var cmds []*exec.Cmd
	var victimOut *bufio.Scanner
	for i := 0; i < workers; i++ {
		cmd := exec.Command(exe, name)
		cmd.Env = append(os.Environ(), "IPCARC_DEMO_WORKER="+strconv.Itoa(i))
		cmd.Stderr = os.Stderr
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

	// The victim says when it is inside the critical section, half-way
	// through an increment.
	if !victimOut.Scan() {
		return errors.New("victim worker exited early")
	}
	fmt.Printf("worker 2: %s\n", victimOut.Text())
	fmt.Println("demo: kill -9 worker 2 while it holds the lock")
	cmds[2].Process.Signal(syscall.SIGKILL)
	cmds[2].Wait()
	// The dead worker never closed its handle. Its slot's byte lock died with
	// it, which is how Reap (and every Open and Close) knows to drop its count.
	rc, _ := arc.RefCount()
	reaped, err := arc.Reap()
	if err != nil {
		return err
	}
	rc2, _ := arc.RefCount()
	fmt.Printf("demo: refcount %d -> %d: Reap removed %d handle(s) of the dead worker\n", rc, rc2, reaped)

	for i, c := range cmds {
		if i == 2 {
			continue
		}
		if err := c.Wait(); err != nil {
			return fmt.Errorf("worker %d: %v", i, err)
		}
	}

	v, err := arc.Load()
	if err != nil && !errors.Is(err, ipcarc.ErrPoisoned) {
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
	if rc, _ := arc.RefCount(); rc != 1 {
		return fmt.Errorf("refcount %d after all workers ended, want 1 (this process)", rc)
	}
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
	for i := 0; i < perWorker; i++ {
		g, err := arc.Lock()
		switch {
		case errors.Is(err, ipcarc.ErrOwnerDead):
			t := g.Get()
			var sum uint64
			for _, n := range t.PerWorker {
				sum += n
			}
			fmt.Printf("worker %d: Lock says %q\n", me, err)
			fmt.Printf("worker %d: the dead owner left total=%d but the workers' sum is %d: repairing, then ClearPoison\n", me, t.Total, sum)
			t.Total = sum
			g.ClearPoison()
		case errors.Is(err, ipcarc.ErrPoisoned):
			// Another survivor is repairing; it clears the poison under the
			// lock, so this cannot be seen once it has. Nothing to do.
		case err != nil:
			return err
		}
		t := g.Get()
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
