//go:build linux && cgo

package ipcarc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func init() {
	// admin-churn NAME: attach, then Clone and Close in a loop on a thread of
	// its own (whose tid it prints) until killed. That thread is never the
	// thread-group leader: the parent traces it, and a traced leader's stops
	// would be reported to the parent's exec.Cmd.Wait.
	childRoles["admin-churn"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		errc := make(chan error)
		var churn func()
		churn = func() {
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				go churn() // this goroutine keeps the leader, idle
				select {}
			}
			fmt.Printf("churning %d\n", syscall.Gettid())
			for {
				c, err := a.Clone()
				if err == nil {
					err = c.Close()
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}
		go churn()
		return <-errc
	}
	// admin-noop: exits at once; tells whether a process can be started in
	// a new pid namespace at all.
	childRoles["admin-noop"] = func([]string) error { return nil }
}

// ---- the ipcarc command, built once ----------------------------------------

var cliBuild struct {
	once sync.Once
	exe  []byte
	err  error
}

// ipcarcCommand returns the path of the ipcarc command built from
// ./cmd/ipcarc. It is built once per test binary and kept in memory; each test
// writes its own copy into its t.TempDir, so nothing outlives the test that
// used it (TestMain belongs to the whole package and has no hook for
// removing a shared build directory at the end).
func ipcarcCommand(t *testing.T) string {
	t.Helper()
	cliBuild.once.Do(func() {
		gotool, err := exec.LookPath("go")
		if err != nil {
			gotool = goFromEnv()
		}
		dir, err := os.MkdirTemp("", "ipcarc-cli-")
		if err != nil {
			cliBuild.err = err
			return
		}
		defer os.RemoveAll(dir)
		exe := filepath.Join(dir, "ipcarc")
		out, err := exec.Command(gotool, "build", "-o", exe, "./cmd/ipcarc").CombinedOutput()
		if err != nil {
			cliBuild.err = fmt.Errorf("go build ./cmd/ipcarc: %v\n%s", err, out)
			return
		}
		cliBuild.exe, cliBuild.err = os.ReadFile(exe)
	})
	if cliBuild.err != nil {
		t.Fatal(cliBuild.err)
	}
	exe := filepath.Join(t.TempDir(), "ipcarc")
	if err := os.WriteFile(exe, cliBuild.exe, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

type cliRun struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command and returns its output and exit code.
func runCLI(t *testing.T, exe string, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := cliRun{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("ipcarc %s: %v (stderr %q)", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// mustCLI runs the command and fails unless it exits with want.
func mustCLI(t *testing.T, exe string, want int, args ...string) cliRun {
	t.Helper()
	r := runCLI(t, exe, args...)
	if r.code != want {
		t.Fatalf("ipcarc %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

// lsJSON runs `ipcarc ls --json [patterns]` and parses it.
func lsJSON(t *testing.T, exe string, patterns ...string) []SegmentInfo {
	t.Helper()
	r := mustCLI(t, exe, 0, append([]string{"ls", "--json"}, patterns...)...)
	var segs []SegmentInfo
	if err := json.Unmarshal([]byte(r.stdout), &segs); err != nil {
		t.Fatalf("ls --json: %v\n%s", err, r.stdout)
	}
	return segs
}

func findSeg(segs []SegmentInfo, name string) (SegmentInfo, bool) {
	for _, s := range segs {
		if s.Name == name {
			return s, true
		}
	}
	return SegmentInfo{}, false
}

type gcLine struct {
	reaped, live int
	result       string
}

// parseGC reads the NAME REAPED LIVE RESULT table of `ipcarc gc`.
func parseGC(t *testing.T, out string) map[string]gcLine {
	t.Helper()
	lines := map[string]gcLine{}
	for i, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 4 {
			continue
		}
		reaped, err1 := strconv.Atoi(f[1])
		live, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("gc line %q: not NAME REAPED LIVE RESULT", l)
		}
		lines[f[0]] = gcLine{reaped, live, strings.Join(f[3:], " ")}
	}
	return lines
}

// myPattern matches every segment of this test process and nothing else, so
// that a sweep by the tests never touches other people's segments.
func myPattern() string { return fmt.Sprintf("%s%d-*", testPrefix(), os.Getpid()) }

// ---- segment images -------------------------------------------------------

// segmentImage returns the bytes of a real, idle Counter segment (its mutex
// initialised by the C layer) with an empty holder table and refcount 0, as a
// template for damaged or half-made segments.
func segmentImage(t *testing.T) []byte {
	t.Helper()
	name := testName(t)
	a, err := New(name, Counter{N: 11})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(shmDir, name))
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	h := (*header)(unsafe.Pointer(&b[0]))
	h.RefCount = 0
	for i := range holderTable(h) {
		holderTable(h)[i] = holder{}
	}
	return b
}

// writeImage writes b as /dev/shm/NAME, removed when the test ends.
func writeImage(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(shmDir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSegment(name) })
	return path
}

// writeHalfMade leaves what a creator killed after O_EXCL but before READY
// leaves: a full-size file with its header written and the state still INIT,
// and nobody holding the init lock.
func writeHalfMade(t *testing.T, name string) string {
	t.Helper()
	b := segmentImage(t)
	(*header)(unsafe.Pointer(&b[0])).State = stateInit
	return writeImage(t, name, b)
}

// holdInitLock takes the init lock (byte 0) of a segment file as a live
// creator does, until the test ends.
func holdInitLock(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: initLockOffset, Len: 1}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
}

func mustInspect(t *testing.T, name string) SegmentInfo {
	t.Helper()
	info, err := Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// liveSum adds the handles of the slots whose holder is alive.
func liveSum(info SegmentInfo) int64 {
	var n int64
	for _, h := range info.Holders {
		if h.Alive {
			n += int64(h.Handles)
		}
	}
	return n
}

// ---- Reap and gc of killed holders -----------------------------------------

// Ensure that after a holder with 3 handles is SIGKILLed (not holding the
// lock), Inspect sees its slot dead, RefCount stops counting its handles at
// once (SegmentInfo.RefCount: "the number of handles of live holders: a
// killed holder's handles stop counting as soon as the kernel marks it
// dead, before its slot is reaped"), and Reap takes its slot's 3 handles.
func TestReapRemovesKilledHoldersHandles(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	c := startChild(t, "attach", name, "2")
	c.expect("attached")
	if n, _ := a.RefCount(); n != 4 {
		t.Fatalf("refcount = %d, want 4", n)
	}
	if i := mustInspect(t, name); i.LiveHolders != 2 || i.DeadHolders != 0 {
		t.Fatalf("before kill: live %d dead %d, want 2 0", i.LiveHolders, i.DeadHolders)
	}
	c.kill()
	if i := mustInspect(t, name); i.LiveHolders != 1 || i.DeadHolders != 1 || i.RefCount != 1 {
		t.Fatalf("after kill: live %d dead %d refcount %d, want 1 1 1", i.LiveHolders, i.DeadHolders, i.RefCount)
	}
	if rc, _ := a.RefCount(); rc != 1 {
		t.Fatalf("RefCount after the kill, before any reap = %d, want 1", rc)
	}
	n, err := a.Reap()
	if err != nil || n != 3 {
		t.Fatalf("Reap = %d, %v; want the child's 3 handles", n, err)
	}
	if rc, _ := a.RefCount(); rc != 1 {
		t.Fatalf("refcount after Reap = %d, want 1", rc)
	}
	if n, err := a.Reap(); n != 0 || err != nil {
		t.Fatalf("second Reap = %d, %v; want 0", n, err)
	}
}

// Ensure that `ipcarc gc` (after a dry run that changes nothing) removes
// exactly a SIGKILLed holder's handles and keeps the segment while a live
// holder remains.
func TestCLIGCReapsKilledHolder(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	mustNew(t, name, Counter{})
	c := startChild(t, "attach", name, "2")
	c.expect("attached")
	c.kill()

	dry := parseGC(t, mustCLI(t, exe, 0, "gc", "--dry-run", name).stdout)
	if l := dry[name]; l.reaped != 3 || l.live != 1 || !strings.Contains(l.result, "would be reaped") {
		t.Fatalf("gc --dry-run: %+v, want 3 would be reaped, 1 live", l)
	}
	if i := mustInspect(t, name); i.DeadHolders != 1 || i.RefCount != 1 {
		t.Fatalf("after dry run: dead %d refcount %d, want the dead slot still there (1) and 1 live handle", i.DeadHolders, i.RefCount)
	}

	got := parseGC(t, mustCLI(t, exe, 0, "gc", name).stdout)
	if l := got[name]; l.reaped != 3 || l.live != 1 || l.result != "3 dead handles reaped" {
		t.Fatalf("gc: %+v, want 3 handles reaped, 1 live", l)
	}
	if i := mustInspect(t, name); i.DeadHolders != 0 || i.RefCount != 1 {
		t.Fatalf("after gc: dead %d refcount %d, want 0 1", i.DeadHolders, i.RefCount)
	}
	if !shmExists(name) {
		t.Fatal("gc removed a segment that still has a live holder")
	}
}

// Ensure that when every holder of a segment (its creator included) is
// killed, `ipcarc gc` removes it and `ipcarc ls --json` stops listing it.
func TestCLIGCRemovesSegmentOfKilledHolders(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	owner := startChild(t, "attach", name, "1", "create")
	owner.expect("attached")
	other := startChild(t, "attach", name, "0")
	other.expect("attached")

	s, ok := findSeg(lsJSON(t, exe), name)
	if !ok || s.RefCount != 3 || s.LiveHolders != 2 || s.State.String() != "ready" {
		t.Fatalf("ls --json before kill: %+v (found %v), want refcount 3, 2 live", s, ok)
	}
	owner.kill()
	other.kill()
	s, ok = findSeg(lsJSON(t, exe, myPattern()), name)
	if !ok || s.LiveHolders != 0 || s.DeadHolders != 2 {
		t.Fatalf("ls --json after kill: %+v (found %v), want 0 live 2 dead", s, ok)
	}

	got := parseGC(t, mustCLI(t, exe, 0, "gc", myPattern()).stdout)
	if l := got[name]; l.reaped != 3 || l.live != 0 || !strings.HasSuffix(l.result, "no live holder: removed") {
		t.Fatalf("gc: %+v, want 3 reaped and removed", l)
	}
	if shmExists(name) {
		t.Fatal("segment still in /dev/shm after gc")
	}
	if _, ok := findSeg(lsJSON(t, exe), name); ok {
		t.Fatal("ls --json still lists the removed segment")
	}
}

// Ensure that after a holder of 2 handles is killed, Reap leaves the
// reference count equal to the sum of the live slots' handles, with other
// live holders in several slots.
func TestReapLeavesCountEqualToLiveSlots(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	b, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	victim := startChild(t, "attach", name, "1")
	victim.expect("attached")
	bystander := startChild(t, "attach", name, "0")
	bystander.expect("attached")
	if rc, _ := a.RefCount(); rc != 5 {
		t.Fatalf("refcount = %d, want 5", rc)
	}
	victim.kill()
	n, err := a.Reap()
	if err != nil || n != 2 {
		t.Fatalf("Reap = %d, %v; want 2", n, err)
	}
	info := mustInspect(t, name)
	if info.RefCount != liveSum(info) || info.RefCount != 3 || info.DeadHolders != 0 {
		t.Fatalf("after Reap: refcount %d, live slots hold %d, dead %d; want 3 = 3, 0",
			info.RefCount, liveSum(info), info.DeadHolders)
	}
}

// Ensure that a process SIGKILLed inside Close, after its slot's count went
// down and before the segment's did, loses no count and counts none twice:
// the next locker recounts from the slots, Reap removes exactly what the slot
// still held, and the value is not poisoned (no user critical section was
// interrupted). No fault build is needed: the child's churning thread is
// single-stepped with ptrace until it stands exactly there, then killed.
func TestKillMidCloseKeepsCountExact(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	// Without preemption signals the traced thread is not sent through the
	// scheduler every 10ms, which at single-step speed is nearly always.
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, "GODEBUG=asyncpreemptoff=1")
	}, "admin-churn", name)
	tid, err := strconv.Atoi(strings.TrimPrefix(c.expect("churning "), "churning "))
	if err != nil {
		t.Fatal(err)
	}
	pid := c.cmd.Process.Pid
	h := a.hdr
	word := (*uint32)(unsafe.Pointer(&h.TableMutex[0]))
	slotSum := func() int64 {
		var n int64
		for i := range holderTable(h) {
			if atomic.LoadUint32(&holderTable(h)[i].State) == slotUsed {
				n += int64(atomic.LoadUint32(&holderTable(h)[i].Handles))
			}
		}
		return n
	}
	// Inside Close between the slot's count going down and the refcount's:
	// the thread owns the table lock, and the segment counts one handle more
	// than the slots hold (inside Clone it would be one less).
	insideClose := func() bool {
		return atomic.LoadUint32(word)&futexTIDMask == uint32(tid) &&
			atomic.LoadInt64(&h.RefCount) == slotSum()+1
	}
	var childSlot SegmentHolder
	steps := stepUntil(t, pid, tid, insideClose, func() {
		for _, s := range mustInspect(t, name).Holders {
			if s.PID == pid {
				childSlot = s
			}
		}
	})
	t.Logf("killed the child inside Close after %d single steps", steps)
	c.kill()
	if rc, sum := atomic.LoadInt64(&h.RefCount), slotSum(); rc != sum+1 || childSlot.Handles != 1 {
		t.Fatalf("after the kill: refcount %d, slots %d, child's slot %+v; want the mid-Close state", rc, sum, childSlot)
	}

	n, err := a.Reap()
	if err != nil || n != childSlot.Handles {
		t.Fatalf("Reap = %d, %v; want the %d handle the child's slot still held", n, err, childSlot.Handles)
	}
	info := mustInspect(t, name)
	if info.RefCount != 1 || liveSum(info) != 1 || info.DeadHolders != 0 {
		t.Fatalf("after Reap: refcount %d, live slots %d, dead %d; want 1 1 0", info.RefCount, liveSum(info), info.DeadHolders)
	}
	if info.Poisoned {
		t.Fatal("a death during bookkeeping poisoned the value")
	}
	g, err := a.Lock()
	if err != nil {
		t.Fatalf("Lock after recovery = %v, want no error", err)
	}
	g.Unlock()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if shmExists(name) {
		t.Fatal("the last Close left the segment behind: a count was lost or doubled")
	}
}

// stepUntil traces thread tid of process pid and single-steps it until done
// reports true, calls atStop while it stands there, and SIGKILLs the process
// before it takes another step. It returns the number of steps. Only that
// thread stops (PTRACE_SEIZE and PTRACE_INTERRUPT send no SIGSTOP), so the
// rest of the child's runtime keeps running and cannot deadlock it. Each
// attempt steps a bounded number of times from wherever the thread was
// interrupted, then lets it run free for a moment: a slow runtime path (a
// scheduler trip, a GC) costs one attempt, not the test.
func stepUntil(t *testing.T, pid, tid int, done func() bool, atStop func()) int {
	t.Helper()
	// Every ptrace request must come from the thread that attached.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceSeize(tid); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("ptrace is not permitted here (%v); TestReapLeavesCountEqualToLiveSlots covers the state it leaves", err)
		}
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if killed {
			return
		}
		killed = true
		syscall.Kill(pid, syscall.SIGKILL)
		// A traced thread's exit is reported to its tracer, and its process
		// cannot be reaped by exec.Cmd.Wait until the tracer has seen it.
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil || ws.Exited() || ws.Signaled() {
				return
			}
		}
	}
	defer kill()
	sig := 0 // a signal for the thread, passed on when it next moves
	wait := func() {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
			t.Fatal(err)
		}
		if !ws.Stopped() {
			t.Fatalf("traced thread %d: status %#x, not a stop", tid, ws)
		}
		// Trap stops (our steps) and event stops (our interrupts) are ours;
		// a signal-delivery stop holds a signal the thread must still get.
		if s := ws.StopSignal(); s != unix.SIGTRAP && ws.TrapCause() <= 0 {
			sig = int(s)
		}
	}
	const stepsPerAttempt = 20000
	steps := 0
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if err := unix.PtraceInterrupt(tid); err != nil {
			t.Fatal(err)
		}
		wait()
		for i := 0; i < stepsPerAttempt; i, steps = i+1, steps+1 {
			if done() {
				atStop()
				kill()
				return steps
			}
			if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SINGLESTEP, uintptr(tid), 0, uintptr(sig), 0, 0); e != 0 {
				t.Fatal(e)
			}
			sig = 0
			wait()
		}
		if err := unix.PtraceCont(tid, sig); err != nil {
			t.Fatal(err)
		}
		sig = 0
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("thread %d did not stand inside Close's count update within %d single steps in 60s", tid, steps)
	return 0
}

// Ensure that a holder in another pid namespace (whose recorded pid means
// nothing here) is seen alive by Inspect, Reap and gc while it lives, and is
// reaped, by Reap and by gc, once killed.
func TestHolderInOtherPIDNamespace(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create a pid namespace; running as uid", os.Getuid())
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	probe := exec.Command(exe, "-test.run=^$")
	probe.Env = append(os.Environ(), childEnv+"=admin-noop", childEnv+"_ARGS=[]")
	probe.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := probe.Run(); errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) {
		t.Skipf("cannot start a process in a new pid namespace here: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	newPID := func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	}
	cli := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{})

	for _, via := range []string{"Reap", "gc"} {
		c := startChildCmd(t, newPID, "attach", name, "1")
		c.expect("attached")
		var slot SegmentHolder
		for _, h := range mustInspect(t, name).Holders {
			if h.PID == 1 { // pid 1 of its own namespace
				slot = h
			}
		}
		if !slot.Alive || slot.Handles != 2 {
			t.Fatalf("%s: the namespaced holder's slot = %+v, want alive with 2 handles", via, slot)
		}
		if n, err := a.Reap(); n != 0 || err != nil {
			t.Fatalf("%s: Reap while it lives = %d, %v; want 0", via, n, err)
		}
		if l := parseGC(t, mustCLI(t, cli, 0, "gc", name).stdout)[name]; l.reaped != 0 || l.live != 2 {
			t.Fatalf("%s: gc while it lives: %+v, want nothing reaped, 2 live", via, l)
		}
		if rc, _ := a.RefCount(); rc != 3 {
			t.Fatalf("%s: refcount while it lives = %d, want 3", via, rc)
		}
		c.kill()
		if via == "Reap" {
			if n, err := a.Reap(); n != 2 || err != nil {
				t.Fatalf("Reap after the kill = %d, %v; want 2", n, err)
			}
		} else if l := parseGC(t, mustCLI(t, cli, 0, "gc", name).stdout)[name]; l.reaped != 2 || l.live != 1 {
			t.Fatalf("gc after the kill: %+v, want 2 reaped, 1 live", l)
		}
		if rc, _ := a.RefCount(); rc != 1 {
			t.Fatalf("%s: refcount after the kill = %d, want 1", via, rc)
		}
	}
}

// ---- half-made segments -------------------------------------------------------

// Ensure that a file under the name that is not a ready segment (what an
// older creator on the O_EXCL fallback path left when it died: state INIT)
// is not taken over: no creator of ours names a file before it is ready, so
// it is not ours. OpenOrNew returns ErrCorrupt naming the state and leaves
// the file as it was.
func TestOpenOrNewLeavesNotReady(t *testing.T) {
	name := testName(t)
	path := writeHalfMade(t, name)
	before, _ := os.ReadFile(path)
	if i := mustInspect(t, name); i.State.String() != "init" || !i.Corrupt || !strings.HasPrefix(i.Reason, "state: ") {
		t.Fatalf("Inspect of a half-made segment: state %q corrupt %v reason %q", i.State, i.Corrupt, i.Reason)
	}
	within(t, 10*time.Second, "OpenOrNew over a half-made segment", func() {
		a, _, err := OpenOrNew(name, Counter{N: 5}, WithOpenTimeout(500*time.Millisecond))
		if err == nil {
			a.Close()
			t.Errorf("OpenOrNew over a half-made segment succeeded; want ErrCorrupt")
			return
		}
		var e *Error
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.Field != FieldState {
			t.Errorf("OpenOrNew = %v; want ErrCorrupt naming the state", err)
		}
	})
	if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, before) {
		t.Fatalf("OpenOrNew touched the half-made file: %v", err)
	}
}

// Ensure that `ipcarc gc` leaves a half-made segment (state INIT, nobody
// holding the init lock) alone with an error naming the state, in a dry run
// and a real run alike, and reports one whose creator is alive (holds the
// init lock) as busy and leaves it.
func TestCLIGCHalfMade(t *testing.T) {
	exe := ipcarcCommand(t)
	dead, alive := testName(t), testName(t)
	writeHalfMade(t, dead)
	holdInitLock(t, writeHalfMade(t, alive))

	segs := lsJSON(t, exe, myPattern())
	if s, _ := findSeg(segs, dead); s.State.String() != "init" || !s.Corrupt {
		t.Fatalf("ls: dead creator's segment %+v, want state init, corrupt", s)
	}
	if s, _ := findSeg(segs, alive); s.State.String() != "init" || s.Corrupt || s.Reason != "being created" {
		t.Fatalf("ls: live creator's segment %+v, want state init, being created, not corrupt", s)
	}
	var stderr [2]string
	for i, args := range [][]string{{"gc", "--dry-run", myPattern()}, {"gc", myPattern()}} {
		r := mustCLI(t, exe, 1, args...)
		got := parseGC(t, r.stdout)
		if _, ok := got[dead]; ok || !strings.Contains(r.stderr, dead) || !strings.Contains(r.stderr, "state") {
			t.Fatalf("ipcarc %q: %+v, stderr %q; want an error naming %s and its state", args, got, r.stderr, dead)
		}
		if l := got[alive]; !strings.HasPrefix(l.result, "busy") {
			t.Fatalf("ipcarc %q on the segment being created: %+v, want busy", args, l)
		}
		stderr[i] = r.stderr
	}
	if stderr[0] != stderr[1] {
		t.Errorf("gc --dry-run and gc disagree:\n%s\n%s", stderr[0], stderr[1])
	}
	if !shmExists(dead) || !shmExists(alive) {
		t.Fatalf("after gc: half-made exists %v, being-created exists %v (want both)", shmExists(dead), shmExists(alive))
	}
	if err := Remove(alive); !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove of a segment being created = %v, want ErrInUse", err)
	}
	if r := mustCLI(t, exe, 3, "rm", alive); !strings.Contains(r.stderr, "creator is still initialising") {
		t.Fatalf("rm of a segment being created: %q", r.stderr)
	}
	mustCLI(t, exe, 0, "rm", "--force", dead)
	if shmExists(dead) {
		t.Fatal("rm --force left the half-made segment")
	}
}

// ---- inspect, ls, rm ----------------------------------------------------------

// Ensure that `ipcarc inspect NAME --json` and `ipcarc ls --json` describe a
// segment exactly as its own Stats does, and the text forms name it.
func TestCLIInspectAndLsMatchStats(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{N: 1})
	if err := a.Store(Counter{N: 2}); err != nil {
		t.Fatal(err)
	}
	c := startChild(t, "attach", name, "2")
	c.expect("attached")
	st, err := a.Info()
	if err != nil {
		t.Fatal(err)
	}

	var ins SegmentInfo
	r := mustCLI(t, exe, 0, "inspect", name, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &ins); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, r.stdout)
	}
	ls, ok := findSeg(lsJSON(t, exe), name)
	if !ok {
		t.Fatal("ls --json does not list the segment")
	}
	var want []SegmentHolder
	for _, h := range st.Holders {
		want = append(want, SegmentHolder{Slot: h.Slot, PID: h.PID, StartTime: h.StartTime, Handles: h.Handles, Alive: h.Alive})
	}
	for what, got := range map[string]SegmentInfo{"inspect": ins, "ls": ls} {
		if got.RefCount != st.RefCount || got.RefCount != 4 || !reflect.DeepEqual(got.Holders, want) {
			t.Errorf("%s: refcount %d holders %+v; Stats: refcount %d holders %+v", what, got.RefCount, got.Holders, st.RefCount, want)
		}
		if got.Name != name || got.State.String() != "ready" || got.Corrupt || got.Reason != "" ||
			got.TotalSize != st.TotalSize || got.ValueSize != st.ValueSize || got.ValueAlign != st.ValueAlign ||
			got.TypeTag != st.TypeTag || got.MaxHolders != st.MaxHolders ||
			got.Version != st.Version || got.Version != 1 || got.CreatorPID != os.Getpid() ||
			got.Locked || got.Poisoned || got.LiveHolders != 2 || got.DeadHolders != 0 {
			t.Errorf("%s: %+v does not match Stats %+v", what, got, st)
		}
		if time.Since(got.Created) > time.Minute || time.Since(got.Created) < 0 {
			t.Errorf("%s: created %v, want just now", what, got.Created)
		}
	}
	// The JSON names are the documented ones.
	var raw map[string]any
	json.Unmarshal([]byte(r.stdout), &raw)
	for _, k := range []string{"name", "total_size", "value_size", "value_align", "type_tag", "refcount",
		"max_holders", "live_holders", "dead_holders", "holders", "state", "locked", "lock_owner_tid",
		"poisoned", "version", "creator_pid", "created", "corrupt", "reason"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("inspect --json lacks %q", k)
		}
	}

	if out := mustCLI(t, exe, 0, "inspect", name).stdout; !strings.Contains(out, name) || !strings.Contains(out, "SLOT") {
		t.Errorf("inspect text output lacks the name or the holder table:\n%s", out)
	}
	if out := mustCLI(t, exe, 0, "ls", myPattern()).stdout; !strings.Contains(out, name) {
		t.Errorf("ls text output lacks the segment:\n%s", out)
	}
}

// Ensure that `ipcarc rm NAME` (and Remove) refuse while a live process holds
// the segment, with exit code 3 and one line naming it, and that --force
// removes it.
func TestCLIRmRefusesLiveHolders(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	c := startChild(t, "attach", name, "0", "create")
	c.expect("attached")

	if err := Remove(name); !errors.Is(err, ErrBusy) {
		t.Fatalf("Remove = %v, want ErrBusy", err)
	}
	r := mustCLI(t, exe, 3, "rm", name)
	if strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, name) || !strings.Contains(r.stderr, "live holders") {
		t.Fatalf("rm stderr = %q, want one line naming %s and its live holders", r.stderr, name)
	}
	if !shmExists(name) {
		t.Fatal("rm without --force removed the segment")
	}
	mustCLI(t, exe, 0, "rm", "--force", name)
	if shmExists(name) {
		t.Fatal("rm --force left the segment")
	}
	mustCLI(t, exe, 3, "rm", name)
}

// Ensure that files in /dev/shm that are not ipcarc segments are not listed,
// never touched by gc (by pattern or by name), and refused by inspect and by
// rm --force.
func TestCLISkipsForeignFiles(t *testing.T) {
	exe := ipcarcCommand(t)
	contents := map[string][]byte{
		testName(t): bytes.Repeat([]byte("not an ipcarc segment "), 200),
		testName(t): {},
		testName(t): []byte("ipc"),
	}
	stamps := map[string]time.Time{}
	for name, b := range contents {
		path := filepath.Join(shmDir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(path) })
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		stamps[name] = fi.ModTime()
	}
	time.Sleep(10 * time.Millisecond) // a write would move the mtime

	segs := lsJSON(t, exe)
	all, err := List()
	if err != nil {
		t.Fatal(err)
	}
	mustCLI(t, exe, 0, "gc", myPattern())
	for name, b := range contents {
		if _, ok := findSeg(segs, name); ok {
			t.Errorf("ls --json lists the foreign file %s", name)
		}
		if _, ok := findSeg(all, name); ok {
			t.Errorf("List lists the foreign file %s", name)
		}
		// By name, gc reports it as corrupt, or, for an empty file this
		// young, as possibly a creator's on the O_EXCL path: busy.
		r := runCLI(t, exe, "gc", name)
		busy := r.code == 0 && len(b) == 0 && strings.HasPrefix(parseGC(t, r.stdout)[name].result, "busy")
		if !busy && (r.code != 1 || !strings.Contains(r.stderr, name)) {
			t.Errorf("gc %s: exit %d stdout %q stderr %q, want 1 and an error naming it", name, r.code, r.stdout, r.stderr)
		}
		if r := runCLI(t, exe, "inspect", name); r.code != 1 || !strings.Contains(r.stderr, "not an ipcarc segment") {
			t.Errorf("inspect %s: exit %d stderr %q, want 1, not an ipcarc segment", name, r.code, r.stderr)
		}
		if r := runCLI(t, exe, "rm", name); r.code != 1 || !strings.Contains(r.stderr, "--force removes it") {
			t.Errorf("rm %s: exit %d stderr %q, want 1 (refused) and the --force hint", name, r.code, r.stderr)
		}
		if _, err := Inspect(name); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Inspect %s = %v, want ErrCorrupt", name, err)
		}
		now, err := os.ReadFile(filepath.Join(shmDir, name))
		fi, err2 := os.Stat(filepath.Join(shmDir, name))
		if err != nil || err2 != nil || !bytes.Equal(now, b) || !fi.ModTime().Equal(stamps[name]) {
			t.Errorf("foreign file %s was touched: %v %v", name, err, err2)
		}
		// As the hint says, --force removes it.
		if r := runCLI(t, exe, "rm", "--force", name); r.code != 0 || shmExists(name) {
			t.Errorf("rm --force %s: exit %d stderr %q, exists %v; want it removed", name, r.code, r.stderr, shmExists(name))
		}
	}
}

// Ensure that Inspect and List find damage with the same check as open, in
// the same order, and that gc leaves a segment that fails validation alone.
func TestInspectValidatesLikeC(t *testing.T) {
	img := segmentImage(t)
	cases := []struct {
		name  string
		field string
		f     func(b []byte, h *header) []byte
	}{
		{"short file", "file size", func(b []byte, h *header) []byte { return b[:100] }},
		{"other version", "layout version", func(b []byte, h *header) []byte { h.Version = 99; return b }},
		{"other ABI", "ABI word", func(b []byte, h *header) []byte { h.ABI ^= 1 << 24; return b }},
		{"bad version and ABI", "layout version", func(b []byte, h *header) []byte { h.Version, h.ABI = 7, 7; return b }},
		{"unknown state", "state", func(b []byte, h *header) []byte { h.State = 77; return b }},
		{"half-made", "state", func(b []byte, h *header) []byte { h.State = stateInit; return b }},
		{"holders_off", "layout fields", func(b []byte, h *header) []byte { h.HoldersOff = 64; return b }},
		{"no holders", "layout fields", func(b []byte, h *header) []byte { h.MaxHolders = 0; return b }},
		{"alignment", "layout fields", func(b []byte, h *header) []byte { h.ValueAlign = 3; return b }},
		{"value_off", "layout fields", func(b []byte, h *header) []byte { h.ValueOff += 64; return b }},
		{"total_size", "layout fields", func(b []byte, h *header) []byte { h.TotalSize = 1 << 62; return b }},
		{"file longer", "layout fields", func(b []byte, h *header) []byte { return append(b, make([]byte, 64)...) }},
		{"mutex kind", "mutex kind", func(b []byte, h *header) []byte { h.Mutex[16] ^= 0xff; return b }},
		{"table mutex kind", "mutex kind", func(b []byte, h *header) []byte { h.TableMutex[16] ^= 0xff; return b }},
		{"layout before mutex", "layout fields", func(b []byte, h *header) []byte { h.Mutex[16], h.MaxHolders = 0xee, 5000; return b }},
		{"lifetime", "lifetime", func(b []byte, h *header) []byte { h.Lifetime = 5; return b }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := testName(t)
			b := append([]byte(nil), img...)
			writeImage(t, name, c.f(b, (*header)(unsafe.Pointer(&b[0]))))

			_, openErr := Open[Counter](name, WithOpenTimeout(100*time.Millisecond))
			if openErr == nil || !strings.Contains(openErr.Error(), c.field) {
				t.Fatalf("Open = %v, want an error naming %q (the case is wrong)", openErr, c.field)
			}
			info := mustInspect(t, name)
			if !info.Corrupt || !strings.HasPrefix(info.Reason, c.field+":") {
				t.Fatalf("Inspect: corrupt %v reason %q; Open says %v", info.Corrupt, info.Reason, openErr)
			}
			all, err := List()
			if err != nil {
				t.Fatal(err)
			}
			if l, ok := findSeg(all, name); !ok || !l.Corrupt || l.Reason != info.Reason {
				t.Fatalf("List: %+v (found %v), want it listed as corrupt", l, ok)
			}
			res, err := GCName(name)
			if err == nil || !strings.Contains(err.Error(), c.field) || res.Removed || !shmExists(name) {
				t.Fatalf("GCName = %+v, %v; want an error naming %q and the file left alone", res, err, c.field)
			}
		})
	}
	// A damaged slot is mended, not refused: Inspect reports it without
	// calling the segment corrupt.
	t.Run("slot state", func(t *testing.T) {
		name := testName(t)
		b := append([]byte(nil), img...)
		h := (*header)(unsafe.Pointer(&b[0]))
		holderTable(h)[3].State = 7
		writeImage(t, name, b)
		info := mustInspect(t, name)
		if info.Corrupt || info.Reason != "slot 3 has state 7; the next reap mends it" {
			t.Fatalf("Inspect: corrupt %v reason %q; want a note on slot 3, not corrupt", info.Corrupt, info.Reason)
		}
	})
}

// Ensure that gc never waits on the value's lock: while a live process holds
// it, gc reaps the segment's dead holders at once, and counts the lock's
// holder live; once that holder is gone too, gc reaps it as well, and the
// next locker learns of the owner's death.
func TestGCWhileValueLockHeld(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{})
	dead := startChild(t, "attach", name, "0")
	dead.expect("attached")
	holder := startChild(t, "hold", name)
	holder.expect("locked")
	// Killed only now: the holder's Open would have reaped it.
	dead.kill()
	liveOwner := mustInspect(t, name)
	if !liveOwner.Locked || liveOwner.LockOwnerTID == 0 || liveOwner.LockOwnerDied {
		t.Fatalf("Inspect while the child holds the lock: locked %v owner %d died %v", liveOwner.Locked, liveOwner.LockOwnerTID, liveOwner.LockOwnerDied)
	}

	start := time.Now()
	res, err := GCName(name)
	if took := time.Since(start); err != nil || res.Busy || res.ReapedHandles != 1 || res.LiveHolders != 2 || res.Removed || took > 2*time.Second {
		t.Fatalf("GCName = %+v, %v after %v; want the dead holder reaped, 2 live, at once", res, err, took)
	}
	if l := parseGC(t, mustCLI(t, exe, 0, "gc", name).stdout)[name]; l.live != 2 || l.reaped != 0 {
		t.Fatalf("ipcarc gc: %+v, want 2 live and nothing left to reap", l)
	}
	if rc, _ := a.RefCount(); rc != 2 {
		t.Fatalf("refcount after gc = %d, want 2", rc)
	}
	if i := mustInspect(t, name); !i.Locked || i.LiveHolders != 2 {
		t.Fatalf("gc changed the lock: locked %v live %d", i.Locked, i.LiveHolders)
	}
	holder.kill()
	res, err = GCName(name)
	if err != nil || res.Busy || res.ReapedHandles != 1 || res.LiveHolders != 1 || res.Removed {
		t.Fatalf("GCName after the holder died = %+v, %v; want 1 reaped, 1 live", res, err)
	}
	// SegmentInfo.Locked: "A lock whose owner died holding it (killed) stays
	// held until the next locker recovers it: it shows as Locked with
	// LockOwnerDied set and the dead thread's id, before anyone locks."
	if i := mustInspect(t, name); !i.Locked || !i.LockOwnerDied || i.LockOwnerTID != liveOwner.LockOwnerTID || !i.Poisoned {
		t.Fatalf("after the owner died: locked %v died %v tid %d (was %d) poisoned %v; want an abandoned lock, its dead owner's tid, poisoned",
			i.Locked, i.LockOwnerDied, i.LockOwnerTID, liveOwner.LockOwnerTID, i.Poisoned)
	}
	if i, err := a.Info(); err != nil || !i.LockOwnerDied || i.LockOwnerTID != liveOwner.LockOwnerTID {
		t.Fatalf("Info after the owner died: %+v, %v", i, err)
	}
	want := fmt.Sprintf("owner died (tid %d)", liveOwner.LockOwnerTID)
	if out := mustCLI(t, exe, 0, "ls", name).stdout; !strings.Contains(out, want) {
		t.Fatalf("ipcarc ls after the owner died lacks %q:\n%s", want, out)
	}
	if g, err := a.Lock(); !errors.Is(err, ErrOwnerDead) || g != nil {
		t.Fatalf("Lock after the owner died = %v, %v; want nil, ErrOwnerDead", g, err)
	}
	mustRecover(t, a)
}

// Ensure that the command follows its documented exit codes and prints each
// error on one line naming the segment.
func TestCLIExitCodes(t *testing.T) {
	exe := ipcarcCommand(t)
	absent := testName(t)
	if r := mustCLI(t, exe, 0, "help"); !strings.Contains(r.stdout, "Exit codes") {
		t.Fatalf("help lacks the exit codes:\n%s", r.stdout)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"ls", "--bogus"}, 2},
		{[]string{"ls", "[bad"}, 2},
		{[]string{"inspect"}, 2},
		{[]string{"inspect", "a", "b"}, 2},
		{[]string{"inspect", "bad/name"}, 2},
		{[]string{"rm"}, 2},
		{[]string{"inspect", absent}, 3},
		{[]string{"inspect", absent, "--json"}, 3},
		{[]string{"rm", absent}, 3},
		{[]string{"rm", "--force", absent}, 3},
		{[]string{"gc", absent}, 3},
	} {
		r := runCLI(t, exe, c.args...)
		if r.code != c.code || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("ipcarc %q: exit %d stdout %q stderr %q; want exit %d and one line on stderr",
				c.args, r.code, r.stdout, r.stderr, c.code)
		}
		if c.code == 3 && !strings.Contains(r.stderr, `"`+absent+`"`) {
			t.Errorf("ipcarc %q: %q does not name the segment", c.args, r.stderr)
		}
	}
	if _, err := Inspect(absent); !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Inspect of an absent segment = %v, want ErrNotExist", err)
	}
}
