//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func init() {
	// wait-store NAME N: Store Counter{N} once and exit.
	childRoles["wait-store"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		n, _ := strconv.ParseUint(args[1], 10, 64)
		if err := a.Store(Counter{N: n}); err != nil {
			return err
		}
		os.Stdout.WriteString("stored\n")
		return nil
	}
	// wait-fan NAME K: K goroutines Wait, each with its own ctx; commands on
	// stdin: "cancel" cancels the next waiter and reports how it returned,
	// "stats" prints this process's hub counters. When every waiter has
	// returned it prints "woke all".
	childRoles["wait-fan"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		k, _ := strconv.Atoi(args[1])
		v := verOf(a)
		type result struct {
			i   int
			v   Version
			err error
		}
		results := make(chan result, k)
		cancels := make([]context.CancelFunc, k)
		for i := 0; i < k; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			cancels[i] = cancel
			go func() {
				nv, err := a.Wait(ctx, v)
				results <- result{i, nv, err}
			}()
		}
		for end := time.Now().Add(10 * time.Second); ; {
			if n, _ := waitHubWaiters(a.s); n == k {
				break
			}
			if time.Now().After(end) {
				return errors.New("waiters did not register")
			}
			time.Sleep(time.Millisecond)
		}
		fmt.Printf("waiting %d\n", v)
		cmds := make(chan string)
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				cmds <- sc.Text()
			}
			close(cmds)
		}()
		next, returned := 0, 0
		for returned < k {
			select {
			case cmd, ok := <-cmds:
				if !ok {
					return errors.New("stdin closed")
				}
				switch cmd {
				case "cancel":
					cancels[next]()
					r := <-results
					returned++
					fmt.Printf("cancelled i=%d err=%v\n", r.i, r.err)
					next++
				case "stats":
					n, _ := waitHubWaiters(a.s)
					fmt.Printf("stats cret=%d wake=%d waiting=%d\n", waitHubCReturns.Load(), waitHubWakeups.Load(), n)
				}
			case r := <-results:
				returned++
				if r.err != nil || r.v == v {
					return fmt.Errorf("waiter %d: Wait = %d, %v", r.i, r.v, r.err)
				}
			}
		}
		n, _ := a.Load()
		fmt.Printf("woke all n=%d\n", n.N)
		for _, c := range cancels {
			c()
		}
		return nil
	}
}

// procThreads is this process's thread count from /proc/self/status.
func procThreads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}

// waitFor polls cond every millisecond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// Ensure that 10,000 goroutines can Wait on one segment with a bounded number
// of threads, and that a write in another process wakes all of them.
func TestWaitTenThousandGoroutines(t *testing.T) {
	const n = 10000
	name := testName(t)
	a := mustNew(t, name, Counter{})
	v := verOf(a)
	before := procThreads(t)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var bad atomic.Int64
	var firstBad atomic.Value
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer wg.Done()
			nv, err := a.Wait(ctx, v)
			if err != nil || nv != v+1 {
				if bad.Add(1) == 1 {
					firstBad.Store(fmt.Sprintf("Wait = %d, %v; want %d", nv, err, v+1))
				}
			}
		}()
	}
	waitFor(t, 30*time.Second, "10,000 waiters registered", func() bool {
		k, _ := waitHubWaiters(a.s)
		return k == n
	})
	// One sleeper in C for the whole attachment.
	waitFor(t, 5*time.Second, "hub asleep", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 1 })
	time.Sleep(100 * time.Millisecond)
	during := procThreads(t)
	t.Logf("threads: %d before, %d with %d goroutines waiting (+%d)", before, during, n, during-before)
	if during-before >= 50 {
		t.Fatalf("threads grew from %d to %d with %d waiters: waiting is not bounded", before, during, n)
	}
	if w := atomic.LoadUint32(&a.hdr.Waiters); w != 1 {
		t.Fatalf("header waiters = %d, want 1 (one sleeper per attachment)", w)
	}

	start := time.Now()
	c := startChild(t, "wait-store", name, "1")
	c.expect("stored")
	c.wait()
	within(t, 5*time.Second, "10,000 waiters waking", wg.Wait)
	t.Logf("all %d waiters returned %v after the child's Store began", n, time.Since(start))
	if k := bad.Load(); k != 0 {
		t.Fatalf("%d waiters returned wrongly; first: %v", k, firstBad.Load())
	}
}

// Ensure that cancelling a Wait wakes no other waiter, in this process or in
// another one, and that a later Store still wakes all of them.
func TestWaitCancelWakesNoOne(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	v := verOf(a)

	var stdin io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "wait-fan", name, "3")
	t.Cleanup(func() { stdin.Close() })
	c.expect("waiting")
	send := func(cmd string) {
		t.Helper()
		if _, err := io.WriteString(stdin, cmd+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	childStats := func() (cret, wake, waiting int64) {
		t.Helper()
		send("stats")
		l := c.expect("stats ")
		if _, err := fmt.Sscanf(l, "stats cret=%d wake=%d waiting=%d", &cret, &wake, &waiting); err != nil {
			t.Fatalf("child said %q: %v", l, err)
		}
		return
	}

	const k = 3
	type result struct {
		v   Version
		err error
	}
	results := make([]chan result, k)
	cancels := make([]context.CancelFunc, k)
	for i := range k {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cancels[i] = cancel
		results[i] = make(chan result, 1)
		go func() {
			nv, err := a.Wait(ctx, v)
			results[i] <- result{nv, err}
		}()
	}
	waitFor(t, 10*time.Second, "local waiters registered", func() bool {
		n, _ := waitHubWaiters(a.s)
		return n == k
	})
	// Both attachments' sleepers in C.
	waitFor(t, 10*time.Second, "two sleepers", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 2 })
	// From the count's increment into the futex itself, in both processes.
	waitSleeping(t, os.Getpid())
	waitSleeping(t, c.cmd.Process.Pid)

	// quiet checks that nothing woke: no C return in either process, no
	// local waiter returned, both sleepers still asleep.
	quiet := func(step string, localCret, childCret int64, localLeft, childLeft int) {
		t.Helper()
		time.Sleep(200 * time.Millisecond)
		if now := waitHubCReturns.Load(); now != localCret {
			t.Errorf("%s: this process's sleeper returned from C %d times", step, now-localCret)
		}
		cret, wake, waiting := childStats()
		t.Logf("%s: child cret=%d wake=%d waiting=%d", step, cret, wake, waiting)
		if cret != childCret {
			t.Errorf("%s: the child's sleeper returned from C %d times", step, cret-childCret)
		}
		if waiting != int64(childLeft) {
			t.Errorf("%s: child has %d waiters, want %d", step, waiting, childLeft)
		}
		if n, _ := waitHubWaiters(a.s); n != localLeft {
			t.Errorf("%s: %d local waiters, want %d", step, n, localLeft)
		}
		for i := k - localLeft; i < k; i++ {
			select {
			case r := <-results[i]:
				t.Errorf("%s: local waiter %d returned %d, %v", step, i, r.v, r.err)
			default:
			}
		}
		if w := atomic.LoadUint32(&a.hdr.Waiters); w != 2 {
			t.Errorf("%s: header waiters = %d, want 2", step, w)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	localCret := waitHubCReturns.Load()
	childCret, _, _ := childStats()

	// Cancel one waiter here.
	start := time.Now()
	cancels[0]()
	select {
	case r := <-results[0]:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled Wait = %d, %v", r.v, r.err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("cancelled Wait took %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled Wait did not return")
	}
	quiet("after a local cancel", localCret, childCret, k-1, 3)

	// Cancel one waiter in the child.
	send("cancel")
	if l := c.expect("cancelled i=0 err="); !strings.HasSuffix(l, "context canceled") {
		t.Fatalf("child's cancelled Wait: %q, want an error ending in context canceled", l)
	}
	quiet("after a cancel in the child", localCret, childCret, k-1, 2)

	// A Store wakes everyone left.
	if err := a.Store(Counter{N: 7}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < k; i++ {
		select {
		case r := <-results[i]:
			if r.err != nil || r.v != v+1 {
				t.Fatalf("waiter %d: Wait = %d, %v; want %d", i, r.v, r.err, v+1)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("waiter %d not woken by Store", i)
		}
	}
	c.expect("woke all n=7")
	stdin.Close()
	c.wait()
}

// Ensure that LoadContext gives up with ctx's error while another process is
// stopped inside its critical section, and that once that process is killed
// it returns the value it left with ErrOwnerDead.
func TestLoadContextStoppedWriter(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{N: 1})
	if got, err := a.LoadContext(context.Background()); err != nil || got.N != 1 {
		t.Fatalf("LoadContext without a writer = %d, %v", got.N, err)
	}
	c := startChild(t, "hold", name)
	c.expect("locked")
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}

	within(t, 5*time.Second, "LoadContext with a deadline", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		got, err := a.LoadContext(ctx)
		d := time.Since(start)
		t.Logf("LoadContext returned after %v: %v", d, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("LoadContext = %d, %v; want DeadlineExceeded", got.N, err)
		}
		if got != (Counter{}) {
			t.Errorf("LoadContext returned %d with its error, want the zero value", got.N)
		}
		if d < 90*time.Millisecond || d > 200*time.Millisecond {
			t.Errorf("LoadContext returned after %v, want about 100ms", d)
		}
	})
	within(t, 5*time.Second, "LoadContext cancelled", func() {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		start := time.Now()
		if _, err := a.LoadContext(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("LoadContext = %v, want Canceled", err)
		}
		if d := time.Since(start); d > 130*time.Millisecond {
			t.Errorf("LoadContext returned %v after start, cancelled at 30ms", d)
		}
		if _, err := a.LoadContext(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("LoadContext on a done ctx = %v, want Canceled", err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	c.kill()
	within(t, 10*time.Second, "LoadContext after the holder died", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		got, err := a.LoadContext(ctx)
		if errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) {
			t.Errorf("LoadContext = %v, want ErrPoisoned only (the death is news for the next Lock)", err)
		}
		if got.N != 4242 {
			t.Errorf("LoadContext value = %d, want the dead holder's 4242", got.N)
		}
		if _, err := a.LoadContext(ctx); errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) {
			t.Errorf("second LoadContext = %v, want ErrPoisoned only", err)
		}
	})
	if _, err := a.Lock(); !errors.Is(err, ErrOwnerDead) {
		t.Errorf("first Lock after the death and the reads = %v, want ErrOwnerDead", err)
	}
	mustRecover(t, a)
	b, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, err := b.LoadContext(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("LoadContext on a closed handle = %v, want ErrClosed", err)
	}
}

// Ensure that Close stops the attachment's sleeper (so that the last close
// does not unmap under it), keeps it while a clone's waiters need it, and
// that Wait works again afterwards.
func TestWaitHubStopsOnClose(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	b, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	v := verOf(b)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { _, err := b.Wait(ctx, v); res <- err }()
	waitFor(t, 5*time.Second, "sleeper", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 1 })

	c, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // b's waiter keeps the sleeper
	if _, running := waitHubWaiters(a.s); !running || atomic.LoadUint32(&a.hdr.Waiters) != 1 {
		t.Fatal("closing a clone stopped the sleeper of another clone's waiter")
	}
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v", err)
	}
	// Nobody waits; the sleeper stays in C until a change or a Close.
	if _, running := waitHubWaiters(a.s); !running {
		t.Fatal("sleeper gone after a cancel: something woke it")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, running := waitHubWaiters(a.s); running || atomic.LoadUint32(&a.hdr.Waiters) != 0 {
		t.Fatal("Close left the sleeper running")
	}
	// Waiting again starts a new sleeper, and a change ends it.
	go func() { _, err := a.Wait(context.Background(), v); res <- err }()
	waitFor(t, 5*time.Second, "new sleeper", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 1 })
	if err := a.Store(Counter{N: 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "sleeper exit after the change", func() bool {
		_, running := waitHubWaiters(a.s)
		return !running && atomic.LoadUint32(&a.hdr.Waiters) == 0
	})
}

// Ensure that a Wait that cannot give up (no Done channel) sleeps in C for
// every waiter of its attachment: cancelling another waiter does not wake it,
// closing a clone does not stop it, and its wake-up reaches everyone.
func TestWaitBackgroundLeader(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	b, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	v := verOf(a)
	type result struct {
		v   Version
		err error
	}
	lead := make(chan result, 1)
	go func() { nv, err := a.Wait(context.Background(), v); lead <- result{nv, err} }()
	waitFor(t, 5*time.Second, "leader asleep", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 1 })
	const k = 3
	results := make(chan result, k)
	cancels := make([]context.CancelFunc, k)
	for i := range k {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancels[i] = cancel
		go func() { nv, err := a.Wait(ctx, v); results <- result{nv, err} }()
	}
	waitFor(t, 5*time.Second, "waiters registered", func() bool { n, _ := waitHubWaiters(a.s); return n == k+1 })
	cret := waitHubCReturns.Load()
	cancels[0]()
	if r := <-results; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled Wait = %d, %v", r.v, r.err)
	}
	if err := b.Close(); err != nil { // not the last handle: the sleeper stays
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if now := waitHubCReturns.Load(); now != cret {
		t.Fatalf("the sleeper returned from C %d times after a cancel and a clone's Close", now-cret)
	}
	if w := atomic.LoadUint32(&a.hdr.Waiters); w != 1 {
		t.Fatalf("header waiters = %d, want the one sleeper", w)
	}
	select {
	case r := <-lead:
		t.Fatalf("leader returned %d, %v without a change", r.v, r.err)
	default:
	}
	if err := a.Store(Counter{N: 1}); err != nil {
		t.Fatal(err)
	}
	within(t, 5*time.Second, "wake-up", func() {
		if r := <-lead; r.err != nil || r.v != v+1 {
			t.Errorf("leader Wait = %d, %v; want %d", r.v, r.err, v+1)
		}
		for i := 1; i < k; i++ {
			if r := <-results; r.err != nil || r.v != v+1 {
				t.Errorf("Wait = %d, %v; want %d", r.v, r.err, v+1)
			}
		}
	})
	waitFor(t, 5*time.Second, "hub end", func() bool {
		_, running := waitHubWaiters(a.s)
		return !running && atomic.LoadUint32(&a.hdr.Waiters) == 0
	})
}

// Ensure that a leader that finds the version already moved steps down and
// hands the sleeping over to a hub goroutine when others wait (white box: the
// window is too narrow to hit from Wait).
func TestWaitLeaderHandOff(t *testing.T) {
	a := mustNew(t, testName(t), Counter{})
	old := uint32(verOf(a))
	if err := a.Store(Counter{N: 1}); err != nil {
		t.Fatal(err)
	}
	_, h := waitJoin(a.s, &a.hdr.Seq, true)
	if h == nil {
		t.Fatal("waitJoin did not make the caller the leader")
	}
	g, h2 := waitJoin(a.s, &a.hdr.Seq, true)
	if h2 != nil {
		t.Fatal("a second leader for one attachment")
	}
	now, rc := h.lead(old)
	if rc != 0 || now != old+1 {
		t.Fatalf("lead = %d, %d; want %d, 0", now, rc, old+1)
	}
	waitFor(t, 5*time.Second, "hub goroutine asleep", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 1 })
	if n, running := waitHubWaiters(a.s); !running || n != 1 {
		t.Fatalf("after the hand-off: %d waiters, running %v; want 1, true", n, running)
	}
	if err := a.Store(Counter{N: 2}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the hub goroutine did not fan the change out")
	}
	waitFor(t, 5*time.Second, "hub end", func() bool {
		_, running := waitHubWaiters(a.s)
		return !running && atomic.LoadUint32(&a.hdr.Waiters) == 0
	})
}

// BenchmarkWaitFanout measures one wake-up round: 1000 goroutines of this
// process wait, a Store here wakes them, timed until all have returned.
func BenchmarkWaitFanout(b *testing.B) {
	const n = 1000
	a, err := New(testName(b), Counter{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		v := verOf(a)
		var wg sync.WaitGroup
		var bad atomic.Int64
		wg.Add(n)
		for range n {
			go func() {
				defer wg.Done()
				if nv, err := a.Wait(ctx, v); err != nil || nv == v {
					bad.Add(1)
				}
			}()
		}
		for {
			k, _ := waitHubWaiters(a.s)
			if k == n && atomic.LoadUint32(&a.hdr.Waiters) == 1 {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		b.StartTimer()
		if err := a.Store(Counter{N: uint64(i)}); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		if bad.Load() != 0 {
			b.Fatalf("%d waiters returned wrongly", bad.Load())
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/round")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/waiter")
	b.ReportMetric(0, "ns/op")
}

// waitUnderLock locks a on a goroutine of its own, calls Wait there, unlocks,
// and sends what Wait returned (or the Lock error).
func waitUnderLock(a *Arc[Counter], ctx context.Context) <-chan error {
	res := make(chan error, 1)
	go func() {
		g, err := a.Lock()
		if err != nil {
			res <- err
			return
		}
		_, err = a.Wait(ctx, verOf(a))
		g.Unlock()
		res <- err
	}()
	return res
}

// Ensure that Wait from the goroutine that holds the value's lock does not
// sleep for a write that nobody can make (every writer needs that lock). With
// no other waiter, Wait(context.Background()) returns ErrDeadlock (the hub's
// leader sleeps in C on the holder's thread, and C refuses); but
//   - when another goroutine of the process already waits (so a hub exists),
//     the lock holder becomes a channel waiter and blocked for ever, and
//   - with a ctx that can be cancelled, it blocked until the ctx was done (both fixed: ErrDeadlock at once).
func TestAdv2WaitWhileHoldingLock(t *testing.T) {
	// rescue ends a Wait stuck under the lock: a version change that no
	// writer could make, seen by the hub's sleeper.
	rescue := func(a *Arc[Counter]) {
		atomic.AddUint32(&a.hdr.Seq, 2)
		a.s.wakeAll()
	}
	t.Run("alone-background", func(t *testing.T) {
		// The reference behaviour: ErrDeadlock at once.
		a := mustNew(t, testName(t), Counter{})
		res := waitUnderLock(a, context.Background())
		select {
		case err := <-res:
			if !errors.Is(err, ErrDeadlock) {
				t.Fatalf("Wait under the lock = %v, want ErrDeadlock", err)
			}
		case <-time.After(5 * time.Second):
			rescue(a)
			t.Fatal("Wait under the lock did not return")
		}
	})
	t.Run("another-waiter", func(t *testing.T) {
		a := mustNew(t, testName(t), Counter{})
		b, err := a.Clone()
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		v := verOf(a)
		other := make(chan error, 1)
		go func() { _, err := b.Wait(context.Background(), v); other <- err }()
		waitFor(t, 5*time.Second, "other waiter asleep", func() bool { return atomic.LoadUint32(&a.hdr.Waiters) == 1 })

		res := waitUnderLock(a, context.Background())
		select {
		case err := <-res:
			if !errors.Is(err, ErrDeadlock) {
				t.Errorf("Wait under the lock = %v, want ErrDeadlock", err)
			}
			a.Store(Counter{N: 1}) // end the other waiter
		case <-time.After(5 * time.Second):
			rescue(a)
			<-res
			t.Errorf("Wait(context.Background()) by the lock holder, while another goroutine waits, did not return in 5s (it never would)")
		}
		if err := <-other; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancellable-ctx", func(t *testing.T) {
		a := mustNew(t, testName(t), Counter{})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		res := waitUnderLock(a, ctx)
		select {
		case err := <-res:
			if !errors.Is(err, ErrDeadlock) || time.Since(start) > time.Second {
				t.Fatalf("Wait(ctx with a 2s timeout) under the lock = %v after %v, want ErrDeadlock at once", err, time.Since(start).Round(time.Millisecond))
			}
		case <-time.After(10 * time.Second):
			rescue(a)
			t.Fatal("Wait under the lock did not return")
		}
	})
}

// Ensure that a handle dropped without Close after a Wait that gave up is
// still released by the garbage-collection safety net (README, Lifetime: "A
// dropped handle ... gives its reference back when the garbage collector
// finds it"). The hub goroutine stays asleep in C with nobody waiting and
// kept the waiter's Arc reachable (waitLeave's keep) until the next write
// or Close: the handle, the hub goroutine and its OS thread leaked. (Fixed:
// the hub holds no handle, and the safety net stops it before closing.)
func TestAdv2DroppedHandleAfterCancelledWait(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	func() {
		c, err := a.Clone()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := c.Wait(ctx, verOf(c)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v", err)
		}
		// c is dropped here, without Close.
	}()
	released := func() bool {
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			runtime.GC()
			if n, _ := a.RefCount(); n == 1 {
				return true
			}
		}
		return false
	}
	if !released() {
		_, hub := waitHubWaiters(a.s)
		n, _ := a.RefCount()
		// Let the hub go (a write ends it), so the test leaves nothing behind.
		a.Store(Counter{N: 1})
		released()
		t.Fatalf("refcount %d 3s after dropping a clone whose Wait timed out, want 1 (hub goroutine still running: %v)", n, hub)
	}
}

// Ensure that a Store in one process wakes every waiter in several others.
func TestWaitWakesAllProcesses(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	var kids []*child
	for i := 0; i < 3; i++ {
		kids = append(kids, startChild(t, "waiter", name, "4"))
	}
	for _, k := range kids {
		k.expect("waiting")
	}
	before := verOf(a)
	if err := a.Store(Counter{N: 5}); err != nil {
		t.Fatal(err)
	}
	if verOf(a) == before {
		t.Fatal("Store did not change the version")
	}
	for _, k := range kids {
		k.expect("woke n=5")
		k.wait()
	}
}

// Ensure that Wait without a change does not return a result, and returns the
// context's error promptly when cancelled.
func TestWaitNoChangeAndCancel(t *testing.T) {
	a := mustNew(t, testName(t), Counter{})
	v := verOf(a)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if nv, err := a.Wait(ctx, v); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with no change = %d, %v; want DeadlineExceeded", nv, err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() { _, err := a.Wait(ctx2, v); res <- err }()
	// In: registered with the hub, whose sleeper is in the futex (the one
	// left from the Wait above, or a new one).
	waitFor(t, 10*time.Second, "the waiter registered and asleep", func() bool {
		n, _ := waitHubWaiters(a.s)
		return n == 1 && futexSleepers(os.Getpid()) >= 1
	})
	start := time.Now()
	cancel2()
	select {
	case err := <-res:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait = %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("cancelled Wait took %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled Wait did not return")
	}
	// A version that already differs returns at once.
	a.Store(Counter{N: 1})
	if nv, err := a.Wait(context.Background(), v); err != nil || nv == v {
		t.Fatalf("Wait on an old version = %d, %v", nv, err)
	}
}

// Ensure that a process killed while waiting does not leave the waiter count
// raised for ever: reaping its slot takes its share back. The count is of
// sleepers in C: one per attachment, however many goroutines wait through it.
func TestKilledWaiterReaped(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	c := startChild(t, "waiter", name, "3")
	c.expect("waiting")
	for end := time.Now().Add(10 * time.Second); atomic.LoadUint32(&a.hdr.Waiters) != 1; {
		if time.Now().After(end) {
			t.Fatalf("waiters = %d, want 1: the child's sleeper for its 3 goroutines", atomic.LoadUint32(&a.hdr.Waiters))
		}
		time.Sleep(time.Millisecond)
	}
	// Its 3 goroutines must not each sleep in C: the child said "waiting"
	// once all 3 were registered and its sleeper was in the futex.
	if w := atomic.LoadUint32(&a.hdr.Waiters); w != 1 {
		t.Fatalf("waiters = %d, want 1 sleeper for the child's 3 goroutines", w)
	}
	c.kill()
	if w := atomic.LoadUint32(&a.hdr.Waiters); w != 1 {
		t.Fatalf("waiters = %d right after the kill, want still 1", w)
	}
	if n, err := a.Reap(); err != nil || n != 1 {
		t.Fatalf("Reap = %d, %v; want 1", n, err)
	}
	if w := atomic.LoadUint32(&a.hdr.Waiters); w != 0 {
		t.Fatalf("waiters = %d after reaping the dead waiter, want 0", w)
	}
}
