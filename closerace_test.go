//go:build linux && cgo

package ipcarc

// Closing and unlinking under races: the last Close of an attachment while
// another thread holds the value lock (one close at a time, or all clones at
// once), a closer's unlink racing a new segment under the name, and Remove
// racing an attach. The adv- and adv2- roles and test names keep the names
// of the review rounds that found them.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// adv2-attacher NAME MS: for MS milliseconds, Open NAME, and when the name
	// still names the file just attached, hold it briefly and look again: a
	// name gone or naming another file means the segment was unlinked while
	// this process was a live holder. Says "violations N attached M".
	childRoles["adv2-attacher"] = func(args []string) error {
		var ms int
		fmt.Sscan(args[1], &ms)
		path := "/dev/shm/" + args[0]
		same := func(fd int) bool {
			var a, b unix.Stat_t
			return unix.Fstat(fd, &a) == nil && unix.Stat(path, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev
		}
		violations, attached := 0, 0
		for end := time.Now().Add(time.Duration(ms) * time.Millisecond); time.Now().Before(end); {
			a, err := Open[Counter](args[0], WithOpenTimeout(time.Millisecond))
			if err != nil {
				continue
			}
			if same(a.s.fd()) { // attached while the name named it
				attached++
				time.Sleep(200 * time.Microsecond)
				if !same(a.s.fd()) {
					violations++
				}
			}
			a.Close()
		}
		fmt.Printf("violations %d attached %d\n", violations, attached)
		return nil
	}
	// adv-hold NAME: open NAME, say "ready", and wait to be killed.
	childRoles["adv-hold"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		fmt.Println("ready")
		defer a.Close()
		select {}
	}
	// adv-xclose NAME: goroutine G1 (its own OS thread) locks the value through
	// handle a and then closes a (not the last handle: c is open). Goroutine
	// G2 then closes c, its own handle, the attachment's last: "close ERR".
	// Then G1 unlocks its guard: "unlock ERR" (if it gets that far).
	childRoles["adv-xclose"] = func(args []string) error {
		a, err := New(args[0], Counter{})
		if err != nil {
			return err
		}
		c, err := a.Clone()
		if err != nil {
			return err
		}
		locked, unlock, done := make(chan *Guard[Counter]), make(chan struct{}), make(chan error)
		go func() {
			g, err := a.Lock()
			if err != nil {
				done <- err
				return
			}
			if err := a.Close(); err != nil {
				done <- err
				return
			}
			locked <- g
			<-unlock
			done <- g.Unlock()
		}()
		var g *Guard[Counter]
		select {
		case g = <-locked:
		case err := <-done:
			return err
		}
		_ = g
		err = c.Close() // another goroutine, another thread, its own handle
		fmt.Printf("close %v\n", err)
		if err != nil {
			close(unlock)
			fmt.Printf("unlock %v\n", <-done)
			return nil
		}
		os.Stdout.Sync()
		close(unlock)
		fmt.Printf("unlock %v\n", <-done)
		return nil
	}
}

// TestAdvCloseLastHandleWhileAnotherThreadHoldsLock: ipcarc_close refuses to
// unmap the value's mutex only when the *calling* thread holds it
// (ipcarc_value_lock_mine). A goroutine that holds the lock through one handle
// and another goroutine closing the attachment's last handle (each using its
// own handle, as the Arc doc asks) unmaps a robust mutex that a live thread
// holds: that thread's glibc robust list now points into unmapped memory, the
// C handle is freed under the Guard (Unlock reads freed memory), and no other
// process can take the lock again while the thread lives.
func TestAdvCloseLastHandleWhileAnotherThreadHoldsLock(t *testing.T) {
	name := testName(t)
	defer removeSegment(name)
	var stderr strings.Builder
	c := startChildCmd(t, func(cmd *exec.Cmd) { cmd.Stderr = &stderr }, "adv-xclose", name)
	l := c.expect("close ")
	if l == "close <nil>" {
		// What happens next is undefined; report it.
		var rest []string
		timeout := time.After(10 * time.Second)
	loop:
		for {
			select {
			case s, ok := <-c.lines:
				if !ok {
					break loop
				}
				rest = append(rest, s)
			case <-timeout:
				break loop
			}
		}
		<-c.done
		first, _, _ := strings.Cut(stderr.String(), "\n")
		t.Errorf("the attachment's last Close succeeded while another thread of the process held the value lock (unmapping a held robust mutex); afterwards: %q, exit: %v, stderr: %q", rest, c.err, first)
	}
}

// advCProgram compiles a C program that links the library's C files into dir.
func advCProgram(t *testing.T, src string) string {
	t.Helper()
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler on PATH (" + toolInstall("cc") + ")")
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "prog.c")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	args := []string{"-O1", "-g", "-I", wd, "-o", filepath.Join(dir, "prog"), f}
	for _, s := range cSources {
		args = append(args, filepath.Join(wd, s))
	}
	args = append(args, "-lpthread", "-ldl")
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	return filepath.Join(dir, "prog")
}

// The closer P's shm_unlink is delayed (interposed) to widen the window
// between ipcarc_unlink_if_same's stat() and its shm_unlink(); nothing else
// is changed. Meanwhile R, an OpenOrCreate, finds the dying segment DEAD,
// unlinks it itself (as attach step 3 says), and creates a new segment under
// the name. P's shm_unlink then removes R's new, live segment.
const advUnlinkRaceC = `
#define _GNU_SOURCE
#include "cshm.h"
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t delay_pid;
static int to_r[2], to_p[2], fin[2];

int shm_unlink(const char *n) {
	int (*real)(const char *) = (int (*)(const char *))dlsym(RTLD_NEXT, "shm_unlink");
	if (getpid() == delay_pid) {
		char b = 1;
		write(to_r[1], &b, 1);   /* P is between its stat and its unlink */
		read(to_p[0], &b, 1);    /* until R has made its new segment */
	}
	return real(n);
}

int main(int argc, char **argv) {
	const char *name = argv[1];
	char path[256];
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	uint64_t v[8] = {0};
	ipcarc_spec sp = {.value_size = sizeof v, .value_align = 8, .type_tag = ipcarc_tag("adv"), .mode = 0600,
	                  .open_timeout_ns = 500000000LL};
	pipe(to_r); pipe(to_p); pipe(fin);
	pid_t r = fork();
	if (r == 0) {
		char b;
		read(to_r[0], &b, 1);
		ipcarc_seg *s; int created = 0, field = 0;
		int rc = ipcarc_open_or_create(name, &sp, v, &s, &created, &field);
		printf("R: open_or_create rc=%d created=%d\n", rc, created);
		fflush(stdout);
		write(to_p[1], &b, 1);
		read(fin[0], &b, 1);
		int exists = access(path, F_OK) == 0;
		printf("R: holds a live segment; name exists=%d\n", exists);
		fflush(stdout);
		if (rc == 0) ipcarc_close(s);
		/* Fixed: every unlink happens under the dying segment's table lock,
		 * so R cannot finish P's unlink (nor create) while P is between its
		 * check and its unlink: R's open times out instead, and nothing of
		 * R's can be removed. Only a live segment of R's without its name
		 * is the bug. */
		_exit(rc != 0 || exists ? 0 : 1);
	}
	ipcarc_seg *s;
	int rc = ipcarc_create(name, &sp, v, &s);
	if (rc) { printf("P: create %d\n", rc); return 2; }
	delay_pid = getpid();
	rc = ipcarc_close(s); /* last holder: die, unlink_if_same */
	printf("P: closed rc=%d\n", rc);
	fflush(stdout);
	char b = 1;
	write(fin[1], &b, 1);
	int st;
	waitpid(r, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 3;
}
`

// TestAdvUnlinkIfSameRemovesNewSegment: LAYOUT.md "Die": unlink the name "only
// if it still names the same file ...: a new segment of the same name is never
// removed". ipcarc_unlink_if_same compares with stat() and then calls
// shm_unlink(): a check-then-act race. Two unlinkers of the DEAD segment (the
// closer and an opener that finds it DEAD) plus a creator in between are
// enough: the closer removes the creator's new segment, and later openers
// create a second one (split brain).
func TestAdvUnlinkIfSameRemovesNewSegment(t *testing.T) {
	prog := advCProgram(t, advUnlinkRaceC)
	name := testName(t)
	defer removeSegment(name)
	cmd := exec.Command(prog, name)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("timeout")
	}
	var ee *exec.ExitError
	if err != nil && errors.As(err, &ee) && ee.ExitCode() == 1 {
		t.Errorf("a live segment created under the name was unlinked by the previous segment's closer:\n%s", out)
	} else if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_ = strings.TrimSpace
	_ = runtime.GOOS
}

// TestAdvConcurrentClosesWhileLockHeld: clones of one attachment closed at
// once from several goroutines while another goroutine holds the value lock
// through it. The last-handle check used to run before the table lock, so
// every close saw "not the last" and the attachment was unmapped under the
// held mutex. Now exactly one close is refused with ErrDeadlock, the lock
// stays usable, and that handle closes once the lock is released.
func TestAdvConcurrentClosesWhileLockHeld(t *testing.T) {
	for iter := 0; iter < 20; iter++ {
		name := testName(t)
		a := mustNew(t, name, Counter{})
		hs := []*Arc[Counter]{a}
		for i := 0; i < 7; i++ {
			c, err := a.Clone()
			if err != nil {
				t.Fatal(err)
			}
			hs = append(hs, c)
		}
		locked, release, done := make(chan *Guard[Counter]), make(chan struct{}), make(chan error)
		go func() {
			g, err := a.Lock()
			if err != nil {
				done <- err
				return
			}
			locked <- g
			<-release
			g.Get().N++
			done <- g.Unlock()
		}()
		<-locked
		errs := make(chan error, len(hs))
		var wg sync.WaitGroup
		for _, h := range hs {
			wg.Add(1)
			go func(h *Arc[Counter]) { defer wg.Done(); errs <- h.Close() }(h)
		}
		wg.Wait()
		close(errs)
		refused := 0
		for err := range errs {
			switch {
			case err == nil:
			case errors.Is(err, ErrDeadlock):
				refused++
			default:
				t.Fatalf("iteration %d: Close = %v", iter, err)
			}
		}
		if refused != 1 || !shmExists(name) {
			t.Fatalf("iteration %d: %d closes refused, segment present %v; want exactly 1 and the segment kept", iter, refused, shmExists(name))
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("iteration %d: Unlock after the closes = %v", iter, err)
		}
		var last *Arc[Counter]
		for _, h := range hs {
			if !h.closed.Load() {
				last = h
			}
		}
		if last == nil {
			t.Fatalf("iteration %d: no handle left open", iter)
		}
		if err := last.Close(); err != nil || shmExists(name) {
			t.Fatalf("iteration %d: last Close = %v, segment present %v", iter, err, shmExists(name))
		}
	}
}

// Ensure that Remove without Force() never removes a segment that has a live
// holder. Remove decides from a lock-free Inspect and then calls
// ipcarc_remove with force=1 ("only unlinks"), throwing away the C layer's
// own check of live holders under the table lock: a process that attaches
// between the two has the segment unlinked under it.
func TestAdv2RemoveRacesAttach(t *testing.T) {
	// remove is Remove(name); "c-check" is the suggested fix (ipcarc_remove
	// with force=0, which counts live holders under the table lock), run as
	// a control of the detection: it must see no violation.
	for _, tc := range []struct {
		name   string
		remove func(string) error
	}{
		{"Remove", func(n string) error { return Remove(n) }},
		{"c-check", func(n string) error { return fromErrno("remove", n, cRemove(n, false), 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			const ms = 2000
			c := startChild(t, "adv2-attacher", name, fmt.Sprint(ms))
			removed := 0
			for end := time.Now().Add(ms * time.Millisecond); time.Now().Before(end); {
				if !shmExists(name) {
					a, err := New(name, Counter{}, WithLifetime(UntilRemoved))
					if err == nil {
						a.Close()
					}
				}
				if err := tc.remove(name); err == nil {
					removed++
				} else if !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNotExist) && !errors.Is(err, ErrWouldBlock) {
					t.Fatal(err)
				}
			}
			l := c.expect("violations")
			c.wait()
			var v, att int
			fmt.Sscanf(l, "violations %d attached %d", &v, &att)
			t.Logf("%d removals; the attacher attached %d times", removed, att)
			if v > 0 {
				t.Fatalf("Remove (without Force) unlinked the segment under a live holder %d times", v)
			}
		})
	}
}
