//go:build linux && cgo

package ipcarc

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
)

func init() {
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
		t.Skip("no C compiler")
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
