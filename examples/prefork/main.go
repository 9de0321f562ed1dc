// Command prefork is a prefork-style server on ipcarc's lock-free fields: a
// supervisor creates one shared value of per-worker counters (every field an
// atomic.Uint64), starts N worker processes (this binary again, in the worker
// role), and each worker counts its requests and bytes into its own element
// through Arc.Atomic, without the lock, calling Notify now and then. The
// supervisor Waits on the value's version, prints progress as the workers
// notify, and prints the totals when every worker has exited.
//
//	go run ./examples/prefork                       # 4 workers, 1000 HTTP requests each
//	go run ./examples/prefork -workers 8 -requests 5000 -mode loop
//
// Modes: http (each worker serves HTTP on 127.0.0.1, port 0, and the
// supervisor sends it exactly -requests GETs over loopback, then closes the
// worker's stdin to stop it) or loop (each worker simulates -requests
// requests in a loop). Request i of a worker answers 64 + i%64 bytes, so the
// totals are known in advance: the supervisor prints what it expects and
// exits 1 when a total differs.
//
// Metrics: the Prometheus collector (the nested module
// github.com/ipcarc/ipcarc/prometheus) exports a segment's lock counters and
// state, read by name without attaching, not the value's fields; and using it
// from here would add the Prometheus client to the root module. A program in
// its own module would expose these totals with the client's CounterFunc:
//
//	prometheus.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
//		Name: "prefork_requests_total", Help: "Requests served by all workers.",
//	}, func() float64 { r, _ := totals(stats, n); return float64(r) }))
//	prometheus.MustRegister(ipcarcprom.NewCollector(ipcarcprom.WithNames(name)))
//
// (the second line: the segment's own metrics, as `ipcarc top` shows them).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipcarc/ipcarc"
)

// MaxWorkers bounds -workers: the shared value is a fixed array.
const MaxWorkers = 64

// WorkerStats is one worker's counters: only its worker adds to them, the
// supervisor reads them, all without the lock.
type WorkerStats struct {
	Requests atomic.Uint64
	Bytes    atomic.Uint64
}

// Stats is the shared value: one element per worker, the first -workers used.
// It becomes an ipcarc.Slice[WorkerStats] of exactly N elements once Slice
// lands; until then a one-value segment holds the largest array (1 KiB).
type Stats [MaxWorkers]WorkerStats

const typeTag = "ipcarc.example.prefork.v1"

// notifyEvery: a worker calls Notify after this many requests (and at its end).
const notifyEvery = 64

// respSize is the size of request i's answer.
func respSize(i uint64) uint64 { return 64 + i%64 }

// expectedBytes is what one worker answers for k requests.
func expectedBytes(k uint64) uint64 {
	var b uint64
	for i := uint64(0); i < k; i++ {
		b += respSize(i)
	}
	return b
}

func main() {
	role := flag.String("role", "supervisor", "supervisor, or worker (started by the supervisor)")
	name := flag.String("name", "", "segment name (default ipcarc-demo-prefork-PID)")
	workers := flag.Int("workers", 4, fmt.Sprintf("worker processes (1 to %d)", MaxWorkers))
	requests := flag.Uint64("requests", 1000, "requests per worker")
	mode := flag.String("mode", "http", "http (loopback listeners driven by the supervisor) or loop")
	index := flag.Int("index", 0, "worker: its element")
	flag.Parse()
	var err error
	switch *role {
	case "supervisor":
		if *name == "" {
			*name = fmt.Sprintf("ipcarc-demo-prefork-%d", os.Getpid())
		}
		err = supervise(*name, *workers, *requests, *mode)
	case "worker":
		err = work(*name, *index, *requests, *mode)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "prefork %s: %v\n", *role, err)
		os.Exit(1)
	}
}

func supervise(name string, n int, k uint64, mode string) error {
	if n < 1 || n > MaxWorkers {
		return fmt.Errorf("-workers %d: want 1 to %d", n, MaxWorkers)
	}
	if mode != "http" && mode != "loop" {
		return fmt.Errorf("-mode %q: want http or loop", mode)
	}
	a, err := ipcarc.New(name, Stats{}, ipcarc.WithTypeTag(typeTag))
	if err != nil {
		return err
	}
	defer a.Close() // the last close: the segment is gone with it
	stats, err := a.Atomic()
	if err != nil {
		return err
	}
	fmt.Printf("prefork: supervisor %d, segment %s, %d workers x %d requests (%s)\n", os.Getpid(), name, n, k, mode)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	v0, err := a.Version()
	if err != nil {
		return err
	}

	// Start the workers; in http mode each says "listening ADDR" first.
	kids := make([]*exec.Cmd, n)
	stdins := make([]io.WriteCloser, n)
	addrs := make([]string, n)
	defer func() { // on an early return: no worker left behind
		for _, c := range kids {
			if c != nil && c.ProcessState == nil {
				c.Process.Kill()
				c.Wait()
			}
		}
	}()
	for i := range kids {
		c := exec.Command(exe, "-role=worker", "-name="+name, "-index="+strconv.Itoa(i),
			"-requests="+strconv.FormatUint(k, 10), "-mode="+mode)
		c.Stderr = os.Stderr
		if stdins[i], err = c.StdinPipe(); err != nil {
			return err
		}
		out, err := c.StdoutPipe()
		if err != nil {
			return err
		}
		if err := c.Start(); err != nil {
			return err
		}
		kids[i] = c
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return fmt.Errorf("worker %d said nothing: %v", i, err)
		}
		if mode == "http" {
			addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
			if !ok {
				return fmt.Errorf("worker %d said %q", i, line)
			}
			addrs[i] = addr
		}
	}

	// Drive the HTTP workers: exactly k requests each, all workers at once,
	// then close each one's stdin, which stops it.
	drive := make(chan error, n)
	for i := range kids {
		go func() {
			var err error
			if mode == "http" {
				err = get(addrs[i], k)
			}
			stdins[i].Close()
			drive <- err
		}()
	}

	// Watch: Wait for the workers' Notify calls and print progress, until
	// every worker has exited.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		v, step, all := v0, uint64(0), uint64(n)*k
		for {
			var err error
			if v, err = a.Wait(ctx, v); err != nil {
				return // cancelled: every worker has exited
			}
			// One line per tenth of the work, however many Notify calls.
			if r, _ := totals(stats, n); r < all && r*10/all > step {
				step = r * 10 / all
				fmt.Printf("progress: %d of %d requests (version %d)\n", r, all, v)
			}
		}
	}()
	var errs []error
	for i := 0; i < n; i++ {
		if err := <-drive; err != nil {
			errs = append(errs, err)
		}
	}
	for i, c := range kids {
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %v", i, err))
		}
	}
	cancel()
	wg.Wait()
	// Every Notify moved the version by one: each worker's one per
	// notifyEvery requests and its last.
	if v, err := a.Version(); err == nil {
		fmt.Printf("notifies: %d\n", v-v0)
	}

	for i := 0; i < n; i++ {
		fmt.Printf("worker %d: requests=%d bytes=%d\n", i, stats[i].Requests.Load(), stats[i].Bytes.Load())
	}
	r, b := totals(stats, n)
	wantR, wantB := uint64(n)*k, uint64(n)*expectedBytes(k)
	fmt.Printf("total: requests=%d bytes=%d (expected requests=%d bytes=%d)\n", r, b, wantR, wantB)
	if r != wantR || b != wantB {
		errs = append(errs, fmt.Errorf("totals differ from the expected ones"))
	}
	return errors.Join(errs...)
}

// totals sums the first n workers' counters, each read lock-free.
func totals(s *Stats, n int) (requests, bytes uint64) {
	for i := 0; i < n; i++ {
		requests += s[i].Requests.Load()
		bytes += s[i].Bytes.Load()
	}
	return requests, bytes
}

// get sends k requests to a worker, reading each answer whole.
func get(addr string, k uint64) error {
	c := &http.Client{Timeout: 30 * time.Second}
	for i := uint64(0); i < k; i++ {
		resp, err := c.Get("http://" + addr + "/?i=" + strconv.FormatUint(i, 10))
		if err != nil {
			return err
		}
		nb, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if uint64(nb) != respSize(i) || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s request %d: status %d, %d bytes, want 200, %d", addr, i, resp.StatusCode, nb, respSize(i))
		}
	}
	return nil
}

func work(name string, idx int, k uint64, mode string) error {
	if idx < 0 || idx >= MaxWorkers {
		return fmt.Errorf("-index %d: want 0 to %d", idx, MaxWorkers-1)
	}
	a, err := ipcarc.Open[Stats](name, ipcarc.WithTypeTag(typeTag))
	if err != nil {
		return err
	}
	defer a.Close()
	stats, err := a.Atomic()
	if err != nil {
		return err
	}
	me := &stats[idx]
	// served counts one answered request: lock-free adds to this worker's
	// element, and a Notify every notifyEvery requests so the supervisor's
	// Wait wakes.
	served := func(size uint64) {
		me.Bytes.Add(size)
		if me.Requests.Add(1)%notifyEvery == 0 {
			a.Notify()
		}
	}
	if mode == "loop" {
		fmt.Println("serving")
		for i := uint64(0); i < k; i++ {
			served(respSize(i))
		}
		io.Copy(io.Discard, os.Stdin) // the supervisor closes stdin: stop
		return a.Notify()
	}
	body := []byte(strings.Repeat("x", 127))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.ParseUint(r.URL.Query().Get("i"), 10, 64)
		if err != nil {
			http.Error(w, "want ?i=N", http.StatusBadRequest)
			return
		}
		size := respSize(i)
		w.Header().Set("Content-Length", strconv.FormatUint(size, 10))
		nw, _ := w.Write(body[:size])
		served(uint64(nw))
	})}
	ln, err := listen()
	if err != nil {
		return err
	}
	fmt.Println("listening " + ln.Addr().String())
	go srv.Serve(ln)
	io.Copy(io.Discard, os.Stdin) // the supervisor closes stdin: stop
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return err
	}
	return a.Notify()
}

// listen is a loopback listener on a port the kernel picks.
func listen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
