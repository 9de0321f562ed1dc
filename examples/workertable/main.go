// Command workertable is a supervisor and its workers sharing one table:
// an ipcarc.Slice[WorkerStatus] with one row per worker. The supervisor
// creates the table, starts the workers (this same program, with -worker),
// and prints the table whenever it changes; each worker updates only its own
// row, under the slice's lock. While it runs, `ipcarc top` and `ipcarc
// inspect NAME` show the segment.
//
//	go run ./examples/workertable -workers 4 -rounds 20
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/ipcarc/ipcarc"
)

// WorkerStatus is one row: plain data only (no pointers, no strings).
type WorkerStatus struct {
	PID       int32
	State     uint32 // stateIdle, stateWorking, stateDone
	Done      uint64 // units of work finished
	UpdatedNs int64  // when the row last changed (Unix ns)
}

const (
	stateIdle = iota
	stateWorking
	stateDone
)

var stateNames = [...]string{"idle", "working", "done"}

func main() {
	workers := flag.Int("workers", 4, "number of worker processes (rows)")
	rounds := flag.Int("rounds", 20, "units of work per worker")
	name := flag.String("name", fmt.Sprintf("workertable-%d", os.Getpid()), "segment name")
	worker := flag.Int("worker", -1, "internal: run as worker number N")
	linger := flag.Duration("linger", 0, "keep the table open this long after the workers finish (to look at it with `ipcarc top`)")
	flag.Parse()
	log.SetFlags(0)
	if *worker >= 0 {
		if err := runWorker(*name, *worker, *rounds); err != nil {
			log.Fatalf("worker %d: %v", *worker, err)
		}
		return
	}
	if err := supervise(*name, *workers, *rounds, *linger); err != nil {
		log.Fatal(err)
	}
}

func supervise(name string, workers, rounds int, linger time.Duration) error {
	if workers < 1 {
		return fmt.Errorf("-workers must be at least 1")
	}
	table, err := ipcarc.NewSlice(name, make([]WorkerStatus, workers), workers,
		ipcarc.WithTypeTag("ipcarc.example.workerstatus.v1"))
	if err != nil {
		return err
	}
	defer table.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var cmds []*exec.Cmd
	for i := 0; i < workers; i++ {
		cmd := exec.Command(exe, "-name", name, "-worker", strconv.Itoa(i), "-rounds", strconv.Itoa(rounds))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	exited := make(chan error, 1)
	go func() {
		var first error
		for _, c := range cmds {
			if err := c.Wait(); err != nil && first == nil {
				first = err
			}
		}
		exited <- first
	}()
	v, _ := table.Version()
	buf := make([]WorkerStatus, 0, workers)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		nv, _ := table.Wait(ctx, v)
		cancel()
		if nv != v {
			v = nv
			if buf, err = table.AppendTo(buf[:0]); err != nil {
				return err
			}
			if allDone(buf) {
				break
			}
		}
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("a worker failed: %w", err)
			}
			if buf, err = table.AppendTo(buf[:0]); err != nil {
				return err
			}
			if !allDone(buf) {
				return fmt.Errorf("workers exited without finishing: %v", buf)
			}
			printTable(buf)
			time.Sleep(linger)
			return nil
		default:
		}
	}
	if err := <-exited; err != nil {
		return fmt.Errorf("a worker failed: %w", err)
	}
	printTable(buf)
	time.Sleep(linger)
	return nil
}

func allDone(rows []WorkerStatus) bool {
	for _, r := range rows {
		if r.State != stateDone {
			return false
		}
	}
	return true
}

func printTable(rows []WorkerStatus) {
	fmt.Printf("%-6s %-8s %-8s %s\n", "WORKER", "PID", "STATE", "DONE")
	for i, r := range rows {
		fmt.Printf("%-6d %-8d %-8s %d\n", i, r.PID, stateNames[r.State%3], r.Done)
	}
}

func runWorker(name string, me, rounds int) error {
	table, err := ipcarc.OpenSlice[WorkerStatus](name, ipcarc.WithTypeTag("ipcarc.example.workerstatus.v1"))
	if err != nil {
		return err
	}
	defer table.Close()
	set := func(state uint32, done uint64) error {
		return table.Update(func(rows []WorkerStatus) ([]WorkerStatus, error) {
			if me >= len(rows) {
				return rows, fmt.Errorf("no row %d in a table of %d", me, len(rows))
			}
			rows[me] = WorkerStatus{PID: int32(os.Getpid()), State: state, Done: done, UpdatedNs: time.Now().UnixNano()}
			return rows, nil
		})
	}
	for i := 1; i <= rounds; i++ {
		time.Sleep(time.Millisecond) // a unit of work
		if err := set(stateWorking, uint64(i)); err != nil {
			return err
		}
	}
	return set(stateDone, uint64(rounds))
}
