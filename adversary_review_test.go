//go:build linux && cgo

package ipcarc

// Adversarial review of the security boundaries (root process vs uid 65534,
// a buggy peer of the same user vs another segment). Each TestReview test
// reproduces one weakness with real processes and fails while it exists, or
// checks an attack that held. The attacker is uid 65534 (otherUID).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// review-stopper PATH: the file's owner (uid 65534) marks the holder
	// table mutex of its own segment as held by itself (a live process, so
	// every locker waits its full bound), says "ready", then stops (SIGSTOP)
	// every process of its uid whose command line says "__as-owner": the
	// child that root's `ipcarc gc`/`rm` runs as the file's owner. It says
	// "stopped PID" for each and exits after 15 s or when stdin ends.
	childRoles["review-stopper"] = func(args []string) error {
		mem, err := hostileMap(args[0])
		if err != nil {
			return err
		}
		defer unix.Munmap(mem)
		binary.NativeEndian.PutUint32(mem[tableMutexOff:], uint32(os.Getpid()))
		fmt.Println("ready")
		eof := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(eof) }()
		stopped := map[int]bool{}
		end := time.After(15 * time.Second)
		for {
			select {
			case <-eof:
				return nil
			case <-end:
				return nil
			default:
			}
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				pid, err := strconv.Atoi(e.Name())
				if err != nil || pid == os.Getpid() || stopped[pid] {
					continue
				}
				cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				if err != nil || !bytes.Contains(cl, []byte("__as-owner")) {
					continue
				}
				if syscall.Kill(pid, syscall.SIGSTOP) == nil { // EPERM while it is still root
					stopped[pid] = true
					fmt.Printf("stopped %d\n", pid)
				}
			}
			time.Sleep(500 * time.Microsecond)
		}
	}
}

// reviewCLI runs the command with a bound; timedOut says the bound expired
// (the process was killed).
func reviewCLI(t *testing.T, exe string, bound time.Duration, args ...string) (out string, code int, timedOut bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.WaitDelay = time.Second
	var o bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &o
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		code = ee.ExitCode()
	}
	return o.String(), code, ctx.Err() != nil
}

// Ensure that root's `ipcarc gc NAME` (and `rm NAME`) on a segment another
// user owns always finishes: the command runs the work in a child dropped to
// the file's owner and waits for it with no bound (isolate.go asOwner:
// cmd.Run()). After the drop the child's real, effective and saved uid are
// the owner's, so the owner may signal it: SIGSTOP (or ptrace-free stalling
// of any kind) wedges root's command for ever. Here the owner makes the
// child wait 100 ms on its table lock, a window it uses to stop it.
func TestReviewRootGCOwnerChildStoppedHangs(t *testing.T) {
	needRoot(t)
	exe := ipcarcCommand(t)
	// gc waits 100 ms for the table lock, rm 5 s: each bound is past that.
	ops := []struct {
		op    []string
		bound time.Duration
	}{{[]string{"gc"}, 4 * time.Second}, {[]string{"rm"}, 8 * time.Second}}
	if testing.Short() {
		ops = ops[:1]
	}
	for _, o := range ops {
		op, bound := o.op, o.bound
		t.Run(op[0], func(t *testing.T) {
			name := testName(t)
			foreignSegment(t, name)
			path := filepath.Join(shmDir, name)
			var stdin io.WriteCloser
			c := asNobody(t, &stdin, "review-stopper", path)
			defer stdin.Close()
			c.expect("ready")
			stoppedPIDs := make(chan int, 8)
			go func() {
				for l := range c.lines {
					if p, ok := strings.CutPrefix(l, "stopped "); ok {
						if pid, err := strconv.Atoi(p); err == nil {
							stoppedPIDs <- pid
						}
					}
				}
			}()
			t.Cleanup(func() {
				for {
					select {
					case pid := <-stoppedPIDs:
						syscall.Kill(pid, syscall.SIGKILL)
					default:
						return
					}
				}
			})
			start := time.Now()
			out, code, timedOut := reviewCLI(t, exe, bound, append(op, name)...)
			if timedOut {
				t.Errorf("root's `ipcarc %s %s` did not finish within %v: the owner (uid %d) stopped the __as-owner child and the parent waits for it without a bound (children stopped: %d; output %q)",
					op[0], name, bound, otherUID, len(stoppedPIDs), out)
				return
			}
			t.Logf("`ipcarc %s` finished in %v, exit %d: %s", op[0], time.Since(start).Round(time.Millisecond), code, out)
		})
	}
}

// Ensure that Inspect, List, Remove and GCName read a healthy slice segment
// as healthy: admin_read.go's layoutProblem checks total_size against
// value_off+value_size, which holds only for one value; a slice's area is
// value_size*capacity (cshm.c area_of). Every slice is listed Corrupt, `ipcarc
// rm` refuses it, and gc never collects a slice whose holders all died.
func TestReviewSliceSegmentReadAsCorrupt(t *testing.T) {
	name := testName(t)
	s, err := NewSlice[uint64](name, []uint64{1, 2}, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); removeSegment(name) })
	info, err := Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Corrupt {
		t.Errorf("Inspect of a healthy slice: Corrupt, %q", info.Reason)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Kept until removed, no holders: Remove must remove it.
	s2, err := NewSlice[uint64](name+"-k", []uint64{1}, 4, WithLifetime(UntilRemoved))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSegment(name + "-k") })
	s2.Close()
	if err := Remove(name + "-k"); err != nil {
		t.Errorf("Remove of an unheld slice kept until removed = %v, want nil", err)
	}
}

// Ensure that root's `ipcarc gc` child, dropped to the file's owner, gets
// only what the owner has: isolate.go drops to uid = the file's owner and gid
// = the FILE's group (foreignOwner: st.Gid). A file of uid 65534 whose group
// is 0 (as after `chown nobody FILE` by root, or made through a setgid
// program) makes root run code that the owner steers (the owner writes the
// robust-list pointers the child follows) with gid 0, a group the owner is
// not in. This test watches the child's ids in /proc while it waits on the
// owner's table lock.
func TestReviewOwnerChildTakesFileGroup(t *testing.T) {
	needRoot(t)
	exe := ipcarcCommand(t)
	name := testName(t)
	foreignSegment(t, name)
	path := filepath.Join(shmDir, name)
	if err := os.Chown(path, otherUID, 0); err != nil {
		t.Fatal(err)
	}
	// The owner holds the table lock (a live tid in the futex word): the
	// child waits its 100 ms bound, long enough to be seen.
	mem, err := hostileMap(path)
	if err != nil {
		t.Fatal(err)
	}
	var hold io.WriteCloser
	holder := startChildCmd(t, func(cmd *exec.Cmd) {
		var err error
		if hold, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "hold-until-eof-noop")
	defer hold.Close()
	holder.expect("ready")
	binary.NativeEndian.PutUint32(mem[tableMutexOff:], uint32(holder.cmd.Process.Pid))
	unix.Munmap(mem)

	gids := make(chan string, 1)
	stop := make(chan struct{})
	go func() {
		defer close(gids)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir("/proc")
			for _, e := range ents {
				cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				if err != nil || !bytes.Contains(cl, []byte("__as-owner")) {
					continue
				}
				st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
				if err != nil || !bytes.Contains(st, []byte("\nUid:\t65534\t65534\t65534")) {
					continue
				}
				for _, l := range strings.Split(string(st), "\n") {
					if strings.HasPrefix(l, "Gid:") {
						gids <- l
						return
					}
				}
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	out, _, timedOut := reviewCLI(t, exe, 10*time.Second, "gc", name)
	close(stop)
	if timedOut {
		t.Fatalf("ipcarc gc timed out: %s", out)
	}
	g, ok := <-gids
	if !ok {
		t.Fatalf("no __as-owner child running as uid %d was seen in /proc during its 100 ms wait on the held table lock (gc said %q)", otherUID, out)
	}
	f := strings.Fields(g)
	if len(f) < 4 || f[1] == "0" || f[2] == "0" || f[3] == "0" {
		t.Errorf("the child acting for uid %d ran with %q: the file's group 0 (root), which the owner is not in", otherUID, g)
	}
}

func init() {
	// hold-until-eof-noop: say "ready" and wait for stdin to end (a live
	// process whose pid a test writes into a futex word).
	childRoles["hold-until-eof-noop"] = func([]string) error {
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return nil
	}
}

// ---- attacks that held (kept as regression tests) ----

// Ensure that uid 65534 cannot hard-link root's 0600 segment under a name of
// its own (fs.protected_hardlinks), cannot make root's default Open accept
// its own file by any chmod, and that a symlink or FIFO it plants under a
// name neither makes root's Open follow it nor makes List hang.
func TestReviewNobodyCannotPlantForRoot(t *testing.T) {
	needRoot(t)
	a, nameR := liveSegment(t, 0o600, -1)
	_ = a
	link, sym, fifo, own := testName(t), testName(t), testName(t), testName(t)
	for _, n := range []string{link, sym, fifo, own} {
		t.Cleanup(func() { removeSegment(n) })
	}
	foreignSegment(t, own)
	c := asNobody(t, nil, "review-plant", filepath.Join(shmDir, nameR), link, sym, fifo, filepath.Join(shmDir, own))
	l := c.expect("planted")
	c.wait()
	t.Log(l)
	if shmExists(link) {
		t.Errorf("uid 65534 hard-linked root's segment as %s", link)
	}
	if _, err := Open[Counter](sym); err == nil || !shmExists(sym) {
		t.Errorf("Open of a planted symlink to root's segment = %v, want an error", err)
	}
	if _, err := Open[Counter](own); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Open of uid 65534's own segment (mode changed by it) = %v, want ErrUntrusted", err)
	}
	within(t, 5*time.Second, "List with a FIFO planted", func() {
		if _, err := List(); err != nil {
			t.Error(err)
		}
	})
	if _, err := Open[Counter](fifo); err == nil {
		t.Error("Open of a FIFO succeeded")
	}
}

func init() {
	// review-plant ROOTSEG LINK SYM FIFO OWN: as uid 65534, try to hard-link
	// root's segment, plant a symlink to it and a FIFO, and chmod its own
	// segment 0600 -> 0644 -> 0600 with an ACL-less tmpfs; say what worked.
	childRoles["review-plant"] = func(args []string) error {
		root, link, sym, fifo, own := args[0], args[1], args[2], args[3], args[4]
		var got []string
		if err := os.Link(root, filepath.Join(shmDir, link)); err == nil {
			got = append(got, "link")
		}
		if err := os.Symlink(root, filepath.Join(shmDir, sym)); err == nil {
			got = append(got, "symlink")
		}
		if err := unix.Mkfifo(filepath.Join(shmDir, fifo), 0o600); err == nil {
			got = append(got, "fifo")
		}
		if err := os.Chmod(own, 0o600); err == nil {
			got = append(got, "chmod")
		}
		fmt.Printf("planted %v\n", got)
		return nil
	}
}

func init() {
	// review-lock-two B A: one thread locks B's value, then A's (nested, as
	// a goroutine may), says "ready" and waits to be killed.
	childRoles["review-lock-two"] = func(args []string) error {
		runtime.LockOSThread()
		b, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		a, err := Open[Counter](args[1])
		if err != nil {
			return err
		}
		if _, err := b.Lock(); err != nil {
			return err
		}
		if _, err := a.Lock(); err != nil {
			return err
		}
		fmt.Println("ready")
		select {}
	}
	// review-zero-mutex-next PATH: a buggy peer of the same user zeroes
	// glibc's robust-list link inside the value mutex of the segment at PATH
	// (pthread_mutex_t.__data.__list.__next, 32 bytes in on x86-64).
	childRoles["review-zero-mutex-next"] = func(args []string) error {
		mem, err := hostileMap(args[0])
		if err != nil {
			return err
		}
		defer unix.Munmap(mem)
		binary.NativeEndian.PutUint64(mem[mutexOffset+32:], 0)
		fmt.Println("zeroed")
		return nil
	}
}

func init() {
	// review-flicker PATH SECONDS: as the attacker, create PATH (0600, not a
	// segment) and unlink it again, over and over; say "stolen N" when an
	// unlink finds it gone (someone else removed the attacker's file), then
	// "done".
	childRoles["review-flicker"] = func(args []string) error {
		secs, _ := strconv.Atoi(args[1])
		end := time.Now().Add(time.Duration(secs) * time.Second)
		fmt.Println("ready")
		stolen := 0
		for time.Now().Before(end) {
			fd, err := unix.Open(args[0], unix.O_CREAT|unix.O_EXCL|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
			if err != nil {
				continue
			}
			unix.Write(fd, []byte("not-a-segment"))
			unix.Close(fd)
			if err := unix.Unlink(args[0]); errors.Is(err, unix.ENOENT) {
				stolen++
			}
		}
		fmt.Printf("stolen %d\n", stolen)
		return nil
	}
}

// Ensure that the library's Remove never unlinks a file another user owns,
// "forced or not" (its doc). Remove checks the owner by path (Lstat), then
// reads the file by path, then C opens it by path a third time: a file that
// appears after the Lstat (a missing file passes the check) is judged by the
// C layer's trust rule, which refuses it, and Force then unlinks it unmapped,
// as root. Here uid 65534 creates and removes its own file under the name in
// a loop while root calls Remove(name, Force()).
func TestReviewForcedRemoveUnlinksOthersFile(t *testing.T) {
	needRoot(t)
	name := testName(t)
	path := filepath.Join(shmDir, name)
	t.Cleanup(func() { os.Remove(path) })
	secs := 3
	if testing.Short() {
		secs = 1
	}
	c := asNobody(t, nil, "review-flicker", path, strconv.Itoa(secs))
	c.expect("ready")
	end := time.Now().Add(time.Duration(secs) * time.Second)
	removed := 0
	for time.Now().Before(end) {
		if Remove(name, Force()) == nil {
			removed++
		}
	}
	l := c.expect("stolen")
	c.wait()
	if l != "stolen 0" {
		t.Errorf("root's Remove(name, Force()) returned nil %d times and unlinked uid 65534's own file (%s): Remove's doc says another user's file is refused, forced or not", removed, l)
	}
}
