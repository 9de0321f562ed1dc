//go:build linux && cgo

package ipcarc

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Tests of layout 2's promises: the holder table has a lock of its own, so
// bookkeeping (Open, OpenOrNew, Clone, Close, Reap, Stats, gc, ls, inspect,
// rm) never waits behind the value's lock; liveness is a robust-futex word, so
// a forked child never keeps its parent's holder alive; counts stay exact
// through storms of opens, clones, closes, gc and kills; and a segment made
// WithLifetime(UntilRemoved) outlives its holders until it is removed.

func init() {
	// l2-holder NAME EXTRA MODE: attach (MODE "open"; "create" makes the
	// segment; "create-until" makes it WithLifetime(UntilRemoved)), take
	// EXTRA clones, say "attached", then at EOF on stdin close every handle
	// and say "closed".
	childRoles["l2-holder"] = func(args []string) error {
		name, mode := args[0], args[2]
		extra, _ := strconv.Atoi(args[1])
		var a *Arc[Counter]
		var err error
		switch mode {
		case "create":
			a, err = New(name, Counter{N: 1})
		case "create-until":
			a, err = New(name, Counter{N: 1}, WithLifetime(UntilRemoved))
		default:
			a, err = Open[Counter](name)
		}
		if err != nil {
			return err
		}
		hs := []*Arc[Counter]{a}
		for i := 0; i < extra; i++ {
			c, err := a.Clone()
			if err != nil {
				return err
			}
			hs = append(hs, c)
		}
		fmt.Println("attached")
		if err := closeAfterStdin(hs); err != nil {
			return err
		}
		fmt.Println("closed")
		return nil
	}

	// l2-bookkeeper NAME: Open, OpenOrNew, Clone, Close of the clone, Reap,
	// Stats, Close, Close, each reported as "OP MICROSECONDS RESULT" (RESULT
	// "error: ..." when the call failed).
	childRoles["l2-bookkeeper"] = func(args []string) error {
		name := args[0]
		step := func(op string, f func() (string, error)) error {
			start := time.Now()
			res, err := f()
			us := time.Since(start).Microseconds()
			if err != nil {
				fmt.Printf("%s %d error: %v\n", op, us, err)
				return err
			}
			fmt.Printf("%s %d %s\n", op, us, res)
			return nil
		}
		var a, b, c *Arc[Counter]
		steps := []struct {
			op string
			f  func() (string, error)
		}{
			{"open", func() (s string, err error) { a, err = Open[Counter](name); return "ok", err }},
			{"openornew", func() (string, error) {
				var created bool
				var err error
				b, created, err = OpenOrNew(name, Counter{})
				return fmt.Sprintf("created=%v", created), err
			}},
			{"clone", func() (s string, err error) { c, err = a.Clone(); return "ok", err }},
			{"close-clone", func() (string, error) { return "ok", c.Close() }},
			{"reap", func() (string, error) { n, err := a.Reap(); return strconv.Itoa(n), err }},
			{"stats", func() (string, error) {
				st, err := a.Info()
				live := 0
				for _, h := range st.Holders {
					if h.Alive {
						live++
					}
				}
				return fmt.Sprintf("locked=%v refcount=%d live=%d", st.Locked, st.RefCount, live), err
			}},
			{"close", func() (string, error) { return "ok", b.Close() }},
			{"close-last", func() (string, error) { return "ok", a.Close() }},
		}
		for _, s := range steps {
			if err := step(s.op, s.f); err != nil {
				return err
			}
		}
		return nil
	}

	// l2-storm NAME SEED DURATION: random Opens, Clones, Closes, Reaps and
	// Stats for DURATION; any error ends it. Then "holding HANDLES
	// ATTACHMENTS OPS", and at EOF on stdin it closes everything: "closed".
	childRoles["l2-storm"] = func(args []string) error {
		name := args[0]
		seed, _ := strconv.ParseInt(args[1], 10, 64)
		d, _ := time.ParseDuration(args[2])
		rng := rand.New(rand.NewSource(seed))
		type handle struct {
			a   *Arc[Counter]
			att int // which attachment (Open) it belongs to
		}
		first, err := Open[Counter](name)
		if err != nil {
			return err
		}
		hs := []handle{{first, 0}}
		atts := 1
		fmt.Println("started")
		ops := 0
		for end := time.Now().Add(d); time.Now().Before(end); ops++ {
			switch r := rng.Intn(100); {
			case r < 35: // clone
				if len(hs) >= 12 {
					continue
				}
				h := hs[rng.Intn(len(hs))]
				c, err := h.a.Clone()
				if err != nil {
					return err
				}
				hs = append(hs, handle{c, h.att})
			case r < 70: // close (never the process's very last handle)
				if len(hs) <= 1 {
					continue
				}
				i := rng.Intn(len(hs))
				if err := hs[i].a.Close(); err != nil {
					return err
				}
				hs = append(hs[:i], hs[i+1:]...)
			case r < 80: // another attachment
				if len(hs) >= 12 {
					continue
				}
				a, err := Open[Counter](name)
				if err != nil {
					return err
				}
				hs = append(hs, handle{a, atts})
				atts++
			case r < 90:
				if _, err := hs[rng.Intn(len(hs))].a.Reap(); err != nil {
					return err
				}
			default:
				if _, err := hs[rng.Intn(len(hs))].a.Info(); err != nil {
					return err
				}
			}
		}
		distinct := map[int]bool{}
		for _, h := range hs {
			distinct[h.att] = true
		}
		fmt.Printf("holding %d %d %d\n", len(hs), len(distinct), ops)
		io.Copy(io.Discard, os.Stdin)
		for i := len(hs) - 1; i >= 0; i-- {
			if err := hs[i].a.Close(); err != nil {
				return err
			}
		}
		fmt.Println("closed")
		return nil
	}

	// l2-gc-loop NAME DURATION: GCName without pause for DURATION; it must
	// never fail nor remove the segment: "gc RUNS BUSY REAPED".
	childRoles["l2-gc-loop"] = func(args []string) error {
		name := args[0]
		d, _ := time.ParseDuration(args[1])
		runs, busy, reaped := 0, 0, 0
		for end := time.Now().Add(d); time.Now().Before(end); runs++ {
			r, err := GCName(name)
			if err != nil {
				return err
			}
			if r.Removed {
				return fmt.Errorf("gc removed the segment while live holders exist: %+v", r)
			}
			if r.Busy {
				busy++
			}
			reaped += r.ReapedHandles
			time.Sleep(time.Millisecond)
		}
		fmt.Printf("gc %d %d %d\n", runs, busy, reaped)
		return nil
	}

	// l2-locker NAME DURATION: hold the value's lock 200ms at a time, with
	// short breaks, for DURATION: "locker ROUNDS".
	childRoles["l2-locker"] = func(args []string) error {
		name := args[0]
		d, _ := time.ParseDuration(args[1])
		a, err := Open[Counter](name)
		if err != nil {
			return err
		}
		rounds := 0
		for end := time.Now().Add(d); time.Now().Before(end); rounds++ {
			g, err := a.Lock()
			if err != nil {
				return err
			}
			if rounds == 0 {
				fmt.Println("locked")
			}
			g.Get().N++
			time.Sleep(200 * time.Millisecond)
			if err := g.Unlock(); err != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := a.Close(); err != nil {
			return err
		}
		fmt.Printf("locker %d\n", rounds)
		return nil
	}

	// l2-new NAME N LIFETIME: create with n=N ("until" for UntilRemoved),
	// close: "closed".
	childRoles["l2-new"] = func(args []string) error {
		n, _ := strconv.ParseUint(args[1], 10, 64)
		lt := LastClose
		if args[2] == "until" {
			lt = UntilRemoved
		}
		a, err := New(args[0], Counter{N: n}, WithLifetime(lt))
		if err != nil {
			return err
		}
		if err := a.Close(); err != nil {
			return err
		}
		fmt.Println("closed")
		return nil
	}

	// l2-read NAME [STORE]: open, "n=N", store STORE when given, close:
	// "closed".
	childRoles["l2-read"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		v, err := a.Load()
		if err != nil {
			return err
		}
		fmt.Printf("n=%d\n", v.N)
		if len(args) > 1 {
			n, _ := strconv.ParseUint(args[1], 10, 64)
			if err := a.Store(Counter{N: n}); err != nil {
				return err
			}
		}
		if err := a.Close(); err != nil {
			return err
		}
		fmt.Println("closed")
		return nil
	}
}

// ---- helpers ---------------------------------------------------------------

// noExitSleep spares a race-built child the race runtime's 1s sleep at exit
// (GORACE atexit_sleep_ms), which would otherwise dominate these tests' time.
func noExitSleep(cmd *exec.Cmd) {
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// startL2 is startChild for children that exit on their own.
func startL2(t *testing.T, role string, args ...string) *child {
	t.Helper()
	return startChildCmd(t, noExitSleep, role, args...)
}

// startChildStdin starts a child with a pipe to its stdin: closing it tells
// the l2 roles that wait for EOF to go on.
func startChildStdin(t *testing.T, role string, args ...string) (*child, io.WriteCloser) {
	t.Helper()
	var stdin io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		noExitSleep(cmd)
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, role, args...)
	return c, stdin
}

// procState returns the state letter of /proc/PID/stat ('R', 'S', 'T', 'Z',
// ...), or 0 when the process is gone.
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// waitStopped waits until the process is in the stopped state.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if procState(pid) == 'T' {
			return
		}
	}
	t.Fatalf("process %d did not stop within 10s (state %q)", pid, procState(pid))
}

// stopChild sends SIGSTOP and waits for the stop; the test's cleanup sends
// SIGCONT (before startChild's own cleanup kills the child).
func stopChild(t *testing.T, c *child) {
	t.Helper()
	pid := c.cmd.Process.Pid
	t.Cleanup(func() { c.cmd.Process.Signal(syscall.SIGCONT) })
	if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, pid)
}

// killed reports whether the child's exit was a SIGKILL.
func killed(c *child) bool {
	<-c.done
	return c.err != nil && strings.Contains(c.err.Error(), "killed")
}

// checkCounts fails unless the segment's count is the sum of its live slots'
// handles and equals want, with live holders and no dead one.
func checkCounts(t *testing.T, name string, want int64, live int) SegmentInfo {
	t.Helper()
	info := mustInspect(t, name)
	if info.Corrupt || info.RefCount != liveSum(info) || info.RefCount != want ||
		info.LiveHolders != live || info.DeadHolders != 0 {
		t.Fatalf("counts: corrupt %v (%s) refcount %d, live slots' handles %d, live holders %d, dead %d; "+
			"want refcount %d = live handles, %d live holders, no dead (holders %+v)",
			info.Corrupt, info.Reason, info.RefCount, liveSum(info), info.LiveHolders, info.DeadHolders,
			want, live, info.Holders)
	}
	return info
}

// expectWithin is child.expect with a shorter wait: a call that blocks
// (rather than failing slowly) fails the test in d, not in 60s.
func expectWithin(t *testing.T, c *child, want string, d time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			t.Fatalf("child exited before saying %q", want)
		}
		if !strings.HasPrefix(l, want) {
			t.Fatalf("child said %q, want %q", l, want)
		}
		return l
	case <-time.After(d):
		t.Fatalf("child did not say %q within %v", want, d)
	}
	return ""
}

// tableProblem reads the segment file and checks every derived field of the
// holder table against the slots, as a rebuild would compute them: the used
// list links every used slot once, in both directions, ending at the tail;
// the free list links every free slot once; used_count and refcount are the
// count and handle sum of the used slots; and the table lock is free. It
// returns what is wrong, or "". Call it only while no bookkeeper is at work.
func tableProblem(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(shmDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < headerSize {
		return fmt.Sprintf("file of %d bytes", len(b))
	}
	var h header
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), headerSize), b)
	n := int(h.MaxHolders)
	if len(b) < headerSize+n*holderSize {
		return fmt.Sprintf("file of %d bytes holds no %d slots", len(b), n)
	}
	slots := make([]holder, n)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&slots[0])), n*holderSize), b[headerSize:])
	if owner := binary.NativeEndian.Uint32(h.TableMutex[:4]) & liveTIDMask; owner != 0 {
		return fmt.Sprintf("table lock held by %d", owner)
	}
	var sum int64
	used := 0
	for i, sl := range slots {
		switch sl.State {
		case slotUsed:
			used++
			sum += int64(sl.Handles)
			if sl.Handles == 0 || sl.Handles > maxHandles {
				return fmt.Sprintf("used slot %d holds %d handles", i, sl.Handles)
			}
		case slotFree:
		default:
			return fmt.Sprintf("slot %d in state %d", i, sl.State)
		}
	}
	if h.RefCount != sum || int(h.UsedCount) != used {
		return fmt.Sprintf("refcount %d, used_count %d; the used slots hold %d handles in %d slots", h.RefCount, h.UsedCount, sum, used)
	}
	seen := make([]bool, n)
	prev, steps := uint32(nilSlot), 0
	for i := h.UsedHead; i != nilSlot; i = slots[i].Next {
		if int(i) >= n || seen[i] || slots[i].State != slotUsed || slots[i].Prev != prev || steps > n {
			return fmt.Sprintf("used list broken at slot %d (from %d)", i, prev)
		}
		seen[i] = true
		prev = i
		steps++
	}
	if prev != h.UsedTail || steps != used {
		return fmt.Sprintf("used list ends at %d after %d slots; tail %d, %d used", prev, steps, h.UsedTail, used)
	}
	steps = 0
	for i := h.FreeHead; i != nilSlot; i = slots[i].Next {
		if int(i) >= n || seen[i] || slots[i].State != slotFree || steps > n {
			return fmt.Sprintf("free list broken at slot %d", i)
		}
		seen[i] = true
		steps++
	}
	if steps != n-used {
		return fmt.Sprintf("free list holds %d slots; %d are free", steps, n-used)
	}
	return ""
}

// timedCLI runs the command and returns the result and how long it took.
func timedCLI(t *testing.T, exe string, want int, args ...string) (cliRun, time.Duration) {
	t.Helper()
	start := time.Now()
	r := mustCLI(t, exe, want, args...)
	return r, time.Since(start)
}

// ---- 1: bookkeeping never waits on the value's lock ----------------------

// Ensure that while a process holds the value's lock and is stopped (so it
// will never unlock), another process can Open, OpenOrNew, Clone, Close,
// Reap and read Stats, each at once, and that the command's gc (which reaps
// a dead holder), ls, inspect and rm (refused) answer at once too.
func TestBookkeepingNeverWaitsOnValueLock(t *testing.T) {
	const bound = time.Second // the default open timeout is 5s
	exe := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{})
	dead1 := startChild(t, "attach", name, "0")
	dead1.expect("attached")
	dead2 := startChild(t, "attach", name, "0")
	dead2.expect("attached")
	h := startChild(t, "hold", name)
	h.expect("locked")
	stopChild(t, h)
	dead1.kill()
	if i := mustInspect(t, name); !i.Locked || i.LockOwnerTID == 0 || i.TableLockOwnerTID != 0 {
		t.Fatalf("before: locked %v owner %d table owner %d; want the value locked, the table free",
			i.Locked, i.LockOwnerTID, i.TableLockOwnerTID)
	}

	b := startL2(t, "l2-bookkeeper", name)
	// test, dead2, H, and B's two attachments: dead1 is reaped by B's Reap.
	want := map[string]string{
		"open": "ok", "openornew": "created=false", "clone": "ok", "close-clone": "ok",
		"reap": "1", "stats": "locked=true refcount=5 live=5", "close": "ok", "close-last": "ok",
	}
	for _, op := range []string{"open", "openornew", "clone", "close-clone", "reap", "stats", "close", "close-last"} {
		l := expectWithin(t, b, op+" ", 10*time.Second)
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("bookkeeper said %q", l)
		}
		us, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bookkeeper said %q", l)
		}
		took := time.Duration(us) * time.Microsecond
		if f[2] != want[op] || took >= bound {
			t.Errorf("%s with the value's lock held by a stopped process: %q after %v; want %q within %v",
				op, f[2], took, want[op], bound)
		}
	}
	b.wait()
	if t.Failed() {
		t.FailNow()
	}

	dead2.kill()
	r, took := timedCLI(t, exe, 0, "gc", name)
	if l := parseGC(t, r.stdout)[name]; l.reaped != 1 || l.live != 2 || took >= bound {
		t.Errorf("ipcarc gc: %+v after %v; want 1 reaped, 2 live, within %v\n%s", l, took, bound, r.stdout)
	}
	r, took = timedCLI(t, exe, 0, "ls", "--json", myPattern())
	var segs []SegmentInfo
	if err := json.Unmarshal([]byte(r.stdout), &segs); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	if s, ok := findSeg(segs, name); !ok || !s.Locked || s.LiveHolders != 2 || s.RefCount != 2 || took >= bound {
		t.Errorf("ipcarc ls: %+v (listed %v) after %v; want locked, 2 live holders, refcount 2, within %v", s, ok, took, bound)
	}
	r, took = timedCLI(t, exe, 0, "inspect", name, "--json")
	var ins SegmentInfo
	if err := json.Unmarshal([]byte(r.stdout), &ins); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	if !ins.Locked || ins.LiveHolders != 2 || ins.DeadHolders != 0 || ins.RefCount != 2 || took >= bound {
		t.Errorf("ipcarc inspect: %+v after %v; want locked, 2 live holders, refcount 2, within %v", ins, took, bound)
	}
	r, took = timedCLI(t, exe, 3, "rm", name) // 3: refused, live holders
	if took >= bound || !strings.Contains(r.stderr, "live holders") {
		t.Errorf("ipcarc rm: %q after %v; want a refusal naming live holders within %v", r.stderr, took, bound)
	}
	if !shmExists(name) {
		t.Fatal("rm without --force removed a segment with live holders")
	}
	if st := procState(h.cmd.Process.Pid); st != 'T' {
		t.Fatalf("the lock holder is in state %q, want still stopped (T)", st)
	}

	// Release H: it dies holding the lock, and the next locker learns it.
	h.cmd.Process.Signal(syscall.SIGCONT)
	h.kill()
	if _, err := a.Lock(); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock after the stopped holder was killed = %v, want ErrOwnerDead", err)
	}
	mustRecover(t, a)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if shmExists(name) {
		t.Fatal("segment left after the last live Close")
	}
}

// ---- 4: counts stay exact through a storm --------------------------------

// Ensure that 16 processes opening, cloning and closing at random, with gc
// running in a loop, the value's lock held for long stretches, and random
// SIGKILLs, leave the count exact: after a reap it is the sum of the live
// slots' handles, which is what the survivors say they hold; every call
// succeeded; and the last Close removes the segment.
func TestCountsInvariantAfterStorm(t *testing.T) {
	const (
		workers = 16
		victims = 6
	)
	dur := 3 * time.Second
	if testing.Short() {
		dur = time.Second // -short: a shorter storm; make test runs 3 s
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("IPCARC_STORM_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (IPCARC_STORM_SEED reproduces the schedule)", seed)
	rng := rand.New(rand.NewSource(seed))
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithMaxHolders(512))

	locker := startL2(t, "l2-locker", name, (dur + time.Second).String())
	locker.expect("locked")
	gc := startL2(t, "l2-gc-loop", name, (dur + time.Second).String())
	kids := make([]*child, workers)
	stdins := make([]io.WriteCloser, workers)
	for i := range kids {
		kids[i], stdins[i] = startChildStdin(t, "l2-storm", name, strconv.FormatInt(rng.Int63(), 10), dur.String())
	}
	for _, c := range kids {
		c.expect("started")
	}

	// Kill some at random moments of their run.
	type kill struct {
		at time.Duration
		i  int
	}
	var kills []kill
	for _, i := range rng.Perm(workers)[:victims] {
		kills = append(kills, kill{time.Duration(rng.Int63n(int64(dur - 500*time.Millisecond))), i})
	}
	sort.Slice(kills, func(i, j int) bool { return kills[i].at < kills[j].at })
	victim := map[int]bool{}
	start := time.Now()
	for _, k := range kills {
		time.Sleep(time.Until(start.Add(k.at)))
		kids[k.i].cmd.Process.Signal(syscall.SIGKILL)
		victim[k.i] = true
	}

	var wantHandles int64 = 1 // the test's own
	wantLive := 1
	for i, c := range kids {
		if victim[i] {
			continue
		}
		l := c.expect("holding ")
		var n, atts, ops int
		if _, err := fmt.Sscanf(l, "holding %d %d %d", &n, &atts, &ops); err != nil {
			t.Fatalf("worker %d said %q", i, l)
		}
		wantHandles += int64(n)
		wantLive += atts
	}
	for i, c := range kids {
		if !victim[i] {
			continue
		}
		for l := range c.lines {
			if strings.HasPrefix(l, "error") {
				t.Errorf("worker %d failed before it was killed: %s", i, l)
			}
		}
		if !killed(c) {
			t.Errorf("worker %d: %v, want killed", i, c.err)
		}
	}
	t.Log(locker.expect("locker "), "; ", gc.expect("gc "))
	locker.wait()
	gc.wait()

	if _, err := a.Reap(); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, name, wantHandles, wantLive)
	if p := tableProblem(t, name); p != "" {
		t.Fatalf("holder table after the storm: %s", p)
	}

	for i := range kids {
		if !victim[i] {
			stdins[i].Close()
		}
	}
	for i, c := range kids {
		if !victim[i] {
			c.expect("closed")
			c.wait()
		}
	}
	checkCounts(t, name, 1, 1)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if shmExists(name) {
		t.Fatal("segment left after the last Close")
	}
}

// ---- 5: WithLifetime(UntilRemoved) --------------------------------------

// Ensure that a segment made WithLifetime(UntilRemoved) stays after its
// creator's last Close, keeps its value for later processes, is shown as
// such by Inspect and `ipcarc ls`, is never removed by gc while healthy (not
// with zero holders, nor after reaping a dead one), and is removed by Remove
// once no live holder is left; while a LastClose segment goes with its last
// Close.
func TestLifetimeUntilRemoved(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	c := startL2(t, "l2-new", name, "7", "until")
	c.expect("closed")
	c.wait()
	if !shmExists(name) {
		t.Fatal("an UntilRemoved segment went with its creator's Close")
	}
	if i := mustInspect(t, name); i.Lifetime.String() != "until-removed" || i.RefCount != 0 || i.LiveHolders != 0 ||
		i.DeadHolders != 0 || i.State.String() != "ready" || i.Corrupt {
		t.Fatalf("Inspect: %+v; want a ready until-removed segment with no holders", i)
	}
	r := mustCLI(t, exe, 0, "ls", "--json", myPattern())
	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	listed := false
	for _, s := range raw {
		if s["name"] == name {
			listed = true
			if s["lifetime"] != "until-removed" {
				t.Errorf("ls --json: lifetime %v, want until-removed", s["lifetime"])
			}
		}
	}
	if !listed {
		t.Fatalf("ls --json does not list %s:\n%s", name, r.stdout)
	}

	gcKeeps := func(reaped int) {
		t.Helper()
		for _, dry := range []bool{true, false} {
			var opts []AdminOption
			if dry {
				opts = append(opts, DryRun())
			}
			res, err := GCName(name, opts...)
			if err != nil || res.Removed || !res.Kept || res.Busy || res.ReapedHandles != reaped || res.LiveHolders != 0 {
				t.Fatalf("GCName(dry run %v) = %+v, %v; want kept, not removed, %d reaped", dry, res, err, reaped)
			}
		}
		if l := parseGC(t, mustCLI(t, exe, 0, "gc", name).stdout)[name]; l.result != "ok: nothing to do" {
			t.Fatalf("ipcarc gc: %+v, want nothing done", l)
		}
		if !shmExists(name) {
			t.Fatal("gc removed an UntilRemoved segment")
		}
	}
	gcKeeps(0)

	// The value outlives every holder.
	c = startL2(t, "l2-read", name, "8")
	c.expect("n=7")
	c.expect("closed")
	c.wait()
	if !shmExists(name) {
		t.Fatal("an UntilRemoved segment went with a reader's Close")
	}
	// A dead holder is reaped, the segment kept.
	d := startChild(t, "attach", name, "2")
	d.expect("attached")
	d.kill()
	gcKeeps(3)
	// Remove refuses while a live holder exists; its last Close keeps it.
	l, stdin := startChildStdin(t, "l2-holder", name, "1", "open")
	l.expect("attached")
	if err := Remove(name); !errors.Is(err, ErrBusy) {
		t.Fatalf("Remove with a live holder = %v, want ErrBusy", err)
	}
	mustCLI(t, exe, 3, "rm", name)
	stdin.Close()
	l.expect("closed")
	l.wait()
	c = startL2(t, "l2-read", name)
	c.expect("n=8")
	c.expect("closed")
	c.wait()
	if i := mustInspect(t, name); i.RefCount != 0 || i.LiveHolders != 0 || i.DeadHolders != 0 {
		t.Fatalf("after every holder closed: %+v; want no count and no holder", i)
	}
	if err := Remove(name); err != nil {
		t.Fatalf("Remove with no live holder = %v", err)
	}
	if shmExists(name) {
		t.Fatal("Remove left the segment")
	}

	// The contrast: LastClose goes with its last Close.
	other := testName(t)
	t.Cleanup(func() { removeSegment(other) })
	c = startL2(t, "l2-new", other, "5", "last")
	c.expect("closed")
	c.wait()
	if shmExists(other) {
		t.Fatal("a LastClose segment stayed after its last Close")
	}
}

// ---- 6: a child forked without exec ---------------------------------------

// buildForkpeer compiles testdata/forkpeer/forkpeer.c with the C layer into
// the test's temporary directory.
func buildForkpeer(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skipf("no C compiler: %v (%s)", err, toolInstall("cc"))
	}
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "forkpeer")
	args := []string{"-O2", "-Wall", "-I" + repo, filepath.Join(repo, "testdata", "forkpeer", "forkpeer.c")}
	for _, f := range cSources {
		args = append(args, filepath.Join(repo, f))
	}
	args = append(args, "-lpthread", "-o", out)
	if msg, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, msg)
	}
	return out
}

// startForkpeer runs forkpeer with a pipe to its stdin: EOF on it ends the
// fork child, which shares (and so holds open) its parent's stdout. The pipe
// is closed at cleanup before startChild's own cleanup waits for that stdout.
func startForkpeer(t *testing.T, exe string, args ...string) (*child, io.WriteCloser) {
	t.Helper()
	var stdin io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path = exe
		cmd.Args = append([]string{exe}, args...)
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "forkpeer "+args[0])
	t.Cleanup(func() { stdin.Close() })
	return c, stdin
}

// Ensure that a child forked without exec from a holder does not keep the
// holder alive: once the parent is killed its slot reads dead although the
// child lives on, and gc reaps its handle; and that the child's calls on the
// inherited handle are refused with ECHILD and change no count.
func TestForkedChildDoesNotKeepHolderAlive(t *testing.T) {
	exe := buildForkpeer(t)

	t.Run("holder", func(t *testing.T) {
		name := testName(t)
		a := mustNew(t, name, Counter{}, WithTypeTag(peerTag))
		c, stdin := startForkpeer(t, exe, "hold", name)
		l := c.expect("attached slot=")
		slot, _ := strconv.Atoi(strings.TrimPrefix(l, "attached slot="))
		parent, kid := c.cmd.Process.Pid, 0
		for i := 0; i < 2; i++ {
			l := c.expect("")
			if s, ok := strings.CutPrefix(l, "child "); ok {
				kid, _ = strconv.Atoi(s)
			} else if !strings.HasPrefix(l, "forked ") {
				t.Fatalf("forkpeer said %q", l)
			}
		}
		if kid <= 0 {
			t.Fatal("forkpeer did not say its child's pid")
		}
		holderOf := func(info SegmentInfo) (SegmentHolder, bool) {
			for _, h := range info.Holders {
				if h.Slot == slot {
					return h, true
				}
			}
			return SegmentHolder{}, false
		}
		if h, ok := holderOf(mustInspect(t, name)); !ok || !h.Alive || h.PID != parent || h.Handles != 1 {
			t.Fatalf("forkpeer's slot %d: %+v (found %v); want alive, pid %d, 1 handle", slot, h, ok, parent)
		}

		syscall.Kill(parent, syscall.SIGKILL)
		deadline := time.Now().Add(5 * time.Second)
		for {
			h, ok := holderOf(mustInspect(t, name))
			if !ok {
				t.Fatalf("forkpeer's slot %d was freed by nobody's reap", slot)
			}
			if !h.Alive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the killed parent's slot still reads alive 5s later (its fork child %d lives)", kid)
			}
			time.Sleep(time.Millisecond)
		}
		if st := procState(kid); st == 0 || st == 'Z' || st == 'X' {
			t.Fatalf("the fork child is in state %q; want it alive while the parent's slot reads dead", st)
		}
		res, err := GCName(name)
		if err != nil || res.ReapedHandles != 1 || res.LiveHolders != 1 || res.Removed || res.Busy {
			t.Fatalf("GCName = %+v, %v; want the parent's 1 handle reaped, 1 live holder", res, err)
		}
		checkCounts(t, name, 1, 1)
		stdin.Close() // the fork child exits, and the pipe with it
		if !killed(c) {
			t.Fatalf("forkpeer: %v, want killed", c.err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if shmExists(name) {
			t.Fatal("segment left after the last Close")
		}
	})

	t.Run("calls", func(t *testing.T) {
		name := testName(t)
		a := mustNew(t, name, Counter{}, WithTypeTag(peerTag))
		c, _ := startForkpeer(t, exe, "clone", name)
		c.expect("attached slot=")
		echild := int(syscall.ECHILD)
		if l, want := c.expect("child "), fmt.Sprintf("child clone=%d reap=%d close=%d", echild, echild, echild); l != want {
			t.Fatalf("forkpeer's fork child said %q, want %q", l, want)
		}
		if l := c.expect("refcount "); l != "refcount 2" {
			t.Fatalf("forkpeer after its child's calls: %q, want refcount 2", l)
		}
		c.expect("closed 0")
		c.wait()
		checkCounts(t, name, 1, 1)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if shmExists(name) {
			t.Fatal("segment left after the last Close")
		}
	})

	// Every call of ipcarc.h that returns a code, on the inherited handle,
	// is ECHILD at once (the child runs under alarm(5)); the value-returning
	// calls answer for a handle without an attachment; the parent's value,
	// version and count are as they were. "held": the parent holds the value
	// lock across the fork, so a child that took it would wait for ever.
	for _, mode := range []string{"calls", "held"} {
		t.Run(mode, func(t *testing.T) {
			name := testName(t)
			a := mustNew(t, name, Counter{N: 77}, WithTypeTag(peerTag))
			if err := a.Store(Counter{N: 77}); err != nil {
				t.Fatal(err)
			}
			v0 := verOf(a)
			c, _ := startForkpeer(t, exe, mode, name)
			c.expect("attached slot=")
			if l, want := c.expect("child values "), "child values data=0 hdr=0 refcount=0 slot=-1 poisoned=0 owner=0 table_owner=0 version=0 alive=0 counters=0"; l != want {
				t.Errorf("fork child's value calls: %q, want %q", l, want)
			}
			l := c.expect("child lock=")
			fields := strings.Fields(strings.TrimPrefix(l, "child "))
			if len(fields) != 13 {
				t.Errorf("fork child said %q: want 13 calls", l)
			}
			for _, f := range fields {
				call, rc, _ := strings.Cut(f, "=")
				if n, err := strconv.Atoi(rc); err != nil || syscall.Errno(n) != syscall.ECHILD {
					t.Errorf("fork child: ipcarc_%s = %s, want ECHILD (%d)", call, rc, int(syscall.ECHILD))
				}
			}
			locked := 0
			if mode == "held" {
				locked = 1
			}
			if l, want := c.expect("parent "), fmt.Sprintf("parent refcount=2 version=%d n=77 locked=%d", v0, locked); l != want {
				t.Errorf("forkpeer after its child's calls: %q, want %q", l, want)
			}
			c.expect("closed 0")
			c.wait()
			if got, err := a.Load(); err != nil || got.N != 77 {
				t.Errorf("Load after the fork child = %+v, %v; want N 77", got, err)
			}
			if v := verOf(a); v != v0 {
				t.Errorf("Version after the fork child = %d, want %d (unchanged)", v, v0)
			}
			checkCounts(t, name, 1, 1)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if shmExists(name) {
				t.Fatal("segment left after the last Close")
			}
		})
	}
}

// TestAdvStaleFreeHeadFullTableEUSERS: LAYOUT.md says no value of a derived
// field makes a segment unusable, and that a claim finding the free list empty
// reaps dead holders first. table_claim counts a rebuild pass as its "first
// try": with free_head naming a USED slot (a stray write) in a table whose
// only other slot belongs to a dead holder, pass 0 rebuilds, pass 1 finds NIL
// and returns EUSERS without ever reaping.
func TestAdvStaleFreeHeadFullTableEUSERS(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithMaxHolders(2))
	c := startChild(t, "adv-hold", name)
	c.expect("ready")
	c.kill()
	a.hdr.FreeHead = 0 // a stray write: names the creator's USED slot
	b, err := Open[Counter](name)
	if err != nil {
		t.Errorf("open with a stale free_head and a dead holder's slot to reap: %v", err)
		return
	}
	b.Close()
}
