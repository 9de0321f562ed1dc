//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Tests run real processes: the test binary re-executes itself with
// IPCARC_CHILD naming a role (as x/sys/unix's TestPassFD does). A child speaks
// to the parent in lines on stdout.

const childEnv = "IPCARC_CHILD"

// cSources is the C layer, as the Makefile's CSRC lists it.
var cSources = []string{"validate.c", "cshm.c", "admin.c", "slice.c", "table.c", "liveness.c", "valuelock.c"}

// Counter is the value most tests share.
type Counter struct {
	N     uint64
	Spare [7]uint64
}

var childRoles = map[string]func(args []string) error{}

// lockedIncrements adds n to a's counter, one Lock/increment/Unlock each; a
// poisoned value is counted on (the children that use this never repair).
func lockedIncrements(a *Arc[Counter], n int) error {
	for i := 0; i < n; i++ {
		g, err := a.Lock()
		if err != nil && !errors.Is(err, ErrPoisoned) {
			return err
		}
		g.Get().N++
		if err := g.Unlock(); err != nil {
			return err
		}
	}
	return nil
}

var nameSeq atomic.Int64

// testName is unique per test process, and prefixed so TestMain can find
// anything a test leaves behind in /dev/shm.
func testName(t testing.TB) string {
	return fmt.Sprintf("%s%d-%d", testPrefix(), os.Getpid(), nameSeq.Add(1))
}

func testPrefix() string { return "ipcarc-test-" }

func init() {
	// Keep the main goroutine on the main thread, so no test goroutine ever
	// runs there: a goroutine that exits holding the lock on the main thread
	// wedges that thread instead of ending it (the runtime cannot end the
	// main thread), and the lock would never be released.
	runtime.LockOSThread()
}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		var args []string
		json.Unmarshal([]byte(os.Getenv(childEnv+"_ARGS")), &args)
		f, ok := childRoles[role]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown child role", role)
			os.Exit(3)
		}
		if err := f(args); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("IPCARC_WRITE_SEEDS") == "1" {
		if err := writeFuzzSeeds(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The runtime opens its poller's epoll and eventfd with the first pipe:
	// open them before counting, so only the tests' own fds count.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fdsBefore := openFDs()
	code := m.Run()
	if code == 0 {
		if left := leftoverSegments(fmt.Sprintf("%s%d-", testPrefix(), os.Getpid())); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: tests left /dev/shm entries: %v\n", left)
			for _, n := range left {
				os.Remove(filepath.Join("/dev/shm", n))
			}
			code = 1
		}
		if after := openFDs(); after > fdsBefore && !profiling() {
			ents, _ := os.ReadDir("/proc/self/fd")
			for _, e := range ents {
				l, _ := os.Readlink("/proc/self/fd/" + e.Name())
				fmt.Fprintln(os.Stderr, "  fd", e.Name(), l)
			}
			fmt.Fprintf(os.Stderr, "FAIL: tests leaked %d file descriptors\n", after-fdsBefore)
			code = 1
		}
	}
	os.Exit(code)
}

// profiling reports whether go test holds a profile or trace file open, which
// the fd check would otherwise count as a leak.
func profiling() bool {
	for _, f := range []string{"test.cpuprofile", "test.memprofile", "test.blockprofile", "test.mutexprofile", "test.trace", "test.coverprofile"} {
		if fl := flag.Lookup(f); fl != nil && fl.Value.String() != "" {
			return true
		}
	}
	return false
}

func leftoverSegments(prefix string) []string {
	ents, _ := os.ReadDir("/dev/shm")
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}

func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func shmExists(name string) bool {
	_, err := os.Lstat(filepath.Join("/dev/shm", strings.TrimPrefix(name, "/")))
	return err == nil
}

// removeSegment is test cleanup for segments a test leaves on purpose.
func removeSegment(name string) { os.Remove(filepath.Join("/dev/shm", name)) }

// child is a running child process with a line reader on its stdout.
type child struct {
	t     testing.TB
	cmd   *exec.Cmd
	lines chan string
	done  chan struct{} // closed when the process has been reaped
	err   error         // its exit status, valid after done
}

func startChild(t testing.TB, role string, args ...string) *child {
	t.Helper()
	return startChildCmd(t, nil, role, args...)
}

func startChildCmd(t testing.TB, setup func(*exec.Cmd), role string, args ...string) *child {
	t.Helper()
	c, err := spawnChild(t, setup, role, args...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// spawnChild starts role like startChildCmd but returns its error instead of
// failing the test, so that goroutines of a test may start children (the
// hostile workers do). setup may replace stderr or take a stdin pipe; a
// child's line may be up to 4 MiB long.
func spawnChild(t testing.TB, setup func(*exec.Cmd), role string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	a, _ := json.Marshal(args)
	// A race-built child sleeps 1 s at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"="+role, childEnv+"_ARGS="+string(a), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	if setup != nil {
		setup(cmd)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{t: t, cmd: cmd, lines: make(chan string, 256), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() { c.kill() })
	return c, nil
}

// expect waits for the child's next line and fails unless it starts with want.
func (c *child) expect(want string) string {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("child %s exited before saying %q", c.cmd.Env[len(c.cmd.Env)-2], want)
		}
		if !strings.HasPrefix(l, want) {
			c.t.Fatalf("child said %q, want %q", l, want)
		}
		return l
	case <-time.After(60 * time.Second):
		c.t.Fatalf("child did not say %q within 60s", want)
	}
	return ""
}

// wait waits for the child to exit and fails on a non-zero exit.
func (c *child) wait() {
	c.t.Helper()
	for range c.lines {
	}
	select {
	case <-c.done:
		if c.err != nil {
			c.t.Fatalf("child failed: %v", c.err)
		}
	case <-time.After(120 * time.Second):
		c.t.Fatal("child did not exit within 120s")
	}
}

// kill sends SIGKILL and reaps the process.
func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Errorf("child %d not reaped 10s after SIGKILL", c.cmd.Process.Pid)
	}
}

func within(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v", what, d)
	}
}

// holderTable views the slots that follow a header, sized by the header's own
// max_holders (tests only: the library never trusts that field after attach).
func holderTable(h *header) []holder {
	return unsafe.Slice((*holder)(unsafe.Add(unsafe.Pointer(h), headerSize)), h.MaxHolders)
}

// closeAfterStdin waits until the parent closes the child's stdin, then
// closes the handles, newest first.
func closeAfterStdin(hs []*Arc[Counter]) error {
	io.Copy(io.Discard, os.Stdin)
	for i := len(hs) - 1; i >= 0; i-- {
		if err := hs[i].Close(); err != nil {
			return err
		}
	}
	return nil
}

// mustRecover clears the poison of a's value with Recover (the value left as
// it is), failing the test on error.
func mustRecover[T any](t testing.TB, a *Arc[T]) {
	t.Helper()
	if err := a.Recover(func(*T) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// verOf is h's Version, for tests that know h is open.
func verOf(h interface{ Version() (Version, error) }) Version {
	v, _ := h.Version()
	return v
}

// goFromEnv is the go command when it is not on PATH: $GOROOT/bin/go (the
// go command sets GOROOT for the tests it runs), else plain "go".
func goFromEnv() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "go"
}

// futexSleepers counts the threads of process pid asleep in the kernel on a
// shared futex: the value lock's robust mutex, or the seq word ipcarc_wait
// sleeps on, both in a shared mapping. Go's own parked threads sleep on
// futexes too, but private ones (FUTEX_PRIVATE_FLAG, 128, in the op): a
// thread counts when its wchan names a futex wait and its current system
// call (/proc/PID/task/TID/syscall) is futex with an op without that flag.
func futexSleepers(pid int) int {
	n := 0
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		w, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/wchan", pid, task.Name()))
		if !strings.Contains(string(w), "futex") {
			continue
		}
		sys, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		f := strings.Fields(string(sys))
		if len(f) > 2 && f[0] == strconv.Itoa(unix.SYS_FUTEX) {
			if op, err := strconv.ParseUint(strings.TrimPrefix(f[2], "0x"), 16, 64); err == nil && op&128 == 0 {
				n++
			}
		}
	}
	return n
}

// waitSleeping waits until some thread of process pid (a child's, or
// os.Getpid() for a goroutine of the test) sleeps on a shared futex: the
// handshake for "the other side is inside Lock or Wait", instead of a sleep.
func waitSleeping(t testing.TB, pid int) {
	t.Helper()
	waitSleepers(t, pid, 1)
}

// waitSleepers waits until at least n threads of process pid sleep on a
// shared futex (futexSleepers).
func waitSleepers(t testing.TB, pid, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if futexSleepers(pid) >= n {
			return
		}
	}
	t.Fatalf("process %d: %d thread(s) asleep on a shared futex after 10s, want %d", pid, futexSleepers(pid), n)
}

// segmentWatch reports accesses to one /dev/shm file through inotify.
type segmentWatch struct {
	t  testing.TB
	fd int
}

// watchSegment watches /dev/shm/name for the events in mask (unix.IN_*),
// from now on; the watch ends with the test. IN_CLOSE_NOWRITE is the
// handshake for "another process has read the segment": the pure-Go readers
// (Inspect, List, ipcarc ls and top) open a segment read-only, read it, and
// close it, once per reading.
func watchSegment(t testing.TB, name string, mask uint32) *segmentWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, filepath.Join("/dev/shm", name), mask); err != nil {
		t.Fatal(err)
	}
	return &segmentWatch{t: t, fd: fd}
}

// wait waits up to d for the next event and fails without one.
func (w *segmentWatch) wait(d time.Duration) {
	w.t.Helper()
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if n, err := unix.Read(w.fd, buf); n >= unix.SizeofInotifyEvent {
			return
		} else if err != nil && err != unix.EAGAIN && err != unix.EINTR {
			w.t.Fatal(err)
		}
		fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
		unix.Poll(fds, int(min(time.Until(deadline), time.Second)/time.Millisecond)+1)
	}
	w.t.Fatalf("no inotify event on the segment within %v", d)
}
