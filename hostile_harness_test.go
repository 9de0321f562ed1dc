//go:build linux && cgo

package ipcarc

// Hostile peers. A process that can write a segment may spoil that segment,
// but it must never crash, hang or corrupt another process, or another
// segment. These tests write garbage into live segments from another
// process (and, in FuzzLiveSegment, from the same one) and check that every
// API call of every holder returns nil or a typed error, that the ipcarc
// command exits normally, and that a separate canary segment mapped by the
// same processes keeps its bytes.
//
// The known, documented limit (LAYOUT.md, "Trust model"): glibc's robust
// mutexes keep their owner's robust-list links inside the segment (struct
// __pthread_mutex_s in glibc's bits/struct_mutex.h, x86-64: __lock 0,
// __count 4, __owner 8, __nusers 12, __kind 16, __spins 20, __elision 22,
// __list.__prev 24 and __list.__next 32, 40 bytes in all), and glibc's unlock
// follows those links; likewise each slot's robust_next (offset 16 of a slot)
// is an entry of its holder's kernel robust list, which the kernel follows
// when the holder exits. A peer that scribbles on those pointers can corrupt
// any process holding the mutex or the slot, and no library built on robust
// mutexes can defend against it. So the tests here never write bytes 24..39
// of either mutex, nor a slot's robust_next. They write every other byte:
// the mutex word (the first 4 bytes), the kind word (offset 16), the rest of
// each pthread_mutex_t and its padding, and every other header and slot field.
//
// This file: the child roles every hostile test drives, their harness (a
// child started by spawnChild, driven line by line over stdin and stdout),
// the ipcarc command under test, and mapping a segment as a vandal does.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ---- child roles -----------------------------------------------------------

var hostileCanaryHandle *Arc[Counter] // kept by the workers: the canary stays mapped

// hostileCanaryValue is what the canary holds, for the whole test.
func hostileCanaryValue() Counter {
	return Counter{N: 0xC0FFEE, Spare: [7]uint64{0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777}}
}

func init() {
	// hostile-canary NAME: creates the canary segment and holds it until
	// stdin ends.
	childRoles["hostile-canary"] = func(args []string) error {
		a, err := New(args[0], hostileCanaryValue(), WithMaxHolders(256))
		if err != nil {
			return err
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return a.Close()
	}

	// hostile-worker CANARY victim|peer: attaches to the canary (and keeps
	// it mapped for its whole life), then reads commands on stdin:
	//   open ID NAME  attach to NAME: "opened ID SLOT" or "openerr ID ERR"
	//   run ID        run the calls on that handle, one at a time: "beg ID
	//                 CALL" before each call (then it waits for a line on
	//                 stdin), "res ID CALL STATUS DETAIL" after it (DETAIL
	//                 quoted), "done ID ok|hung" at the end
	// A call that hangs ends the case (and the worker is replaced).
	childRoles["hostile-worker"] = func(args []string) error {
		ca, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		hostileCanaryHandle = ca
		calls := hostileVictimCalls
		if args[1] == "peer" {
			calls = hostilePeerCalls
		}
		fmt.Printf("ready %d\n", ca.s.slot())
		handles := map[string]*Arc[Counter]{}
		names := map[string]string{}
		files := map[string]hostileFile{}
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "open":
				a, err := Open[Counter](f[2], WithOpenTimeout(hostileTableWait))
				if err != nil {
					fmt.Printf("openerr %s %q\n", f[1], err.Error())
					continue
				}
				handles[f[1]], names[f[1]], files[f[1]] = a, f[2], hostileFileOf(filepath.Join(shmDir, f[2]))
				fmt.Printf("opened %s %d\n", f[1], a.s.slot())
			case len(f) == 2 && f[0] == "run":
				a, name, file := handles[f[1]], names[f[1]], files[f[1]]
				delete(handles, f[1])
				if a == nil {
					fmt.Printf("done %s ok\n", f[1])
					continue
				}
				end := "ok"
				for _, c := range calls {
					// The vandal writes its garbage again before each call,
					// then says "go": every call meets it fresh (an earlier
					// call's lock or table rebuild may have mended it).
					fmt.Printf("beg %s %s\n", f[1], c.name)
					if !sc.Scan() {
						return nil
					}
					var hdr *header
					if !a.closed.Load() {
						hdr = a.hdr
					}
					o := hostileDo(hdr, c.unbounded, hostileCallBound, func() error { return c.run(a, name) })
					detail := o.detail
					if o.phantom != 0 {
						detail = fmt.Sprintf("[blocked on a lock word naming tid %d (0x%08x): released] %s",
							o.phantom&liveTIDMask, o.phantom, detail)
					}
					fmt.Printf("res %s %s %s %q\n", f[1], c.name, o.status, detail)
					if o.status == "HANG" {
						end = "hung"
						break
					}
					if c.name == "Close" {
						// Informational: did Close let go of the file?
						if fds := hostileFDsOn(file); len(fds) > 0 {
							fmt.Printf("res %s Close-leak NOTE %q\n", f[1],
								fmt.Sprintf("after Close (%s: %v), descriptors %v still open on the segment: an attachment was not released",
									o.status, o.err, fds))
						}
					}
				}
				fmt.Printf("done %s %s\n", f[1], end)
			}
		}
		return nil
	}
}

// ---- child processes the hostile tests drive ------------------------------

// hostileBuf collects a child's stderr (a crash's stack).
type hostileBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *hostileBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// head is the start of a crash report: the signal, and the goroutine that
// faulted (whose stack includes the C call it was in).
func (b *hostileBuf) head(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

func (b *hostileBuf) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// hostileProc is a child (helpers_test.go) driven line by line over its
// stdin, with its stderr kept for the report. Unlike startChild it never
// calls t.Fatal, so that workers on goroutines of their own may use it.
type hostileProc struct {
	*child
	role   string
	stdin  io.WriteCloser
	stderr hostileBuf
}

var (
	errHostileExited  = errors.New("process exited")
	errHostileTimeout = errors.New("no answer")
)

func hostileStart(t *testing.T, setup func(*exec.Cmd), role string, args ...string) (*hostileProc, error) {
	p := &hostileProc{role: role}
	var perr error
	c, err := spawnChild(t, func(cmd *exec.Cmd) {
		cmd.Stderr = &p.stderr
		if setup != nil {
			setup(cmd)
		}
		p.stdin, perr = cmd.StdinPipe()
	}, role, args...)
	if err == nil {
		err = perr
	}
	if err != nil {
		return nil, err
	}
	p.child = c
	t.Cleanup(p.kill)
	return p, nil
}

func (p *hostileProc) say(format string, a ...any) error {
	_, err := fmt.Fprintf(p.stdin, format+"\n", a...)
	return err
}

// next returns the child's next line, errHostileExited when it is gone, or
// errHostileTimeout after d.
func (p *hostileProc) next(d time.Duration) (string, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			return "", errHostileExited
		}
		return l, nil
	case <-t.C:
		return "", errHostileTimeout
	}
}

func (p *hostileProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// dumpAndKill asks a wedged Go child for its goroutines (SIGQUIT), then kills it.
func (p *hostileProc) dumpAndKill() {
	p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	p.kill()
}

func (p *hostileProc) kill() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	go func() {
		for range p.lines {
		}
	}()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// stop ends a worker by closing its stdin, and kills it if it lingers.
func (p *hostileProc) stop() {
	p.stdin.Close()
	go func() {
		for range p.lines {
		}
	}()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

// hostileCLI runs the ipcarc command and returns "" when it exited normally
// with a documented code (0 to 3), or what went wrong.
func hostileCLI(exe string, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	what := "ipcarc " + strings.Join(args, " ")
	tail := func() string {
		s := errb.String()
		if len(s) > 3000 {
			s = s[:3000] + "..."
		}
		return s
	}
	if ctx.Err() != nil {
		return fmt.Sprintf("%s: HANG: still running after 10s (killed)\nstderr:\n%s", what, tail()), -1
	}
	if cmd.ProcessState == nil {
		return fmt.Sprintf("%s: did not run: %v", what, err), -1
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		return fmt.Sprintf("%s: died of signal %v\nstderr:\n%s", what, ws.Signal(), tail()), -1
	case !ws.Exited():
		return fmt.Sprintf("%s: abnormal end %v", what, cmd.ProcessState), -1
	case ws.ExitStatus() > 3:
		return fmt.Sprintf("%s: exit code %d (documented: 0-3)\nstderr:\n%s", what, ws.ExitStatus(), tail()), ws.ExitStatus()
	case hostileGoCrash(errb.String()):
		// A Go program that panics, or dies of a fault the runtime turns
		// into a fatal error, exits with code 2: the code of a usage error.
		return fmt.Sprintf("%s: CRASH (exit code %d from the Go runtime)\nstderr:\n%s", what, ws.ExitStatus(), tail()), -2
	}
	return "", ws.ExitStatus()
}

// hostileGoCrash reports whether a Go program's stderr shows that it died
// of a panic or a fatal runtime error (a fault, a deadlock).
func hostileGoCrash(stderr string) bool {
	for _, p := range []string{"panic: ", "fatal error: ", "unexpected fault address", "[signal "} {
		if strings.HasPrefix(stderr, p) || strings.Contains(stderr, "\n"+p) {
			return true
		}
	}
	return strings.Contains(stderr, "\ngoroutine ") && strings.Contains(stderr, "\n\t/")
}

// hostileSignature is what tells one failure of the command from another:
// its panic or fatal error line, or its first line.
func hostileSignature(msg string) string {
	for _, l := range strings.Split(msg, "\n") {
		for _, p := range []string{"panic: ", "fatal error: ", "unexpected fault address", "[signal "} {
			if strings.HasPrefix(strings.TrimSpace(l), p) {
				return strings.TrimSpace(l)
			}
		}
	}
	first, _, _ := strings.Cut(msg, "\n")
	return first
}

// hostileMap maps a segment file read-write, as a vandal does.
func hostileMap(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}
