//go:build linux && cgo

package ipcarc

// Use after Close: every method of a closed handle returns ErrClosed, and
// what survives the last Close (a guard, the Arc) never touches the
// unmapped segment or the freed C handle.

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func init() {
	// adv2-after-close NAME WHAT: create NAME, take and release the lock
	// (keeping the guard), Close the only handle (the segment is unmapped
	// and unlinked), then call WHAT on what is left: "version" (Arc.Version),
	// "unlock" (a second Guard.Unlock, documented to return ErrNotOwner) or
	// "recover" (Arc.Recover). It says "survived RESULT" if the call
	// returned.
	childRoles["adv2-after-close"] = func(args []string) error {
		a, err := New(args[0], Counter{N: 7})
		if err != nil {
			return err
		}
		g, err := a.Lock()
		if err != nil {
			return err
		}
		if err := g.Unlock(); err != nil {
			return err
		}
		if err := a.Close(); err != nil {
			return err
		}
		fmt.Println("closed")
		var res string
		switch args[1] {
		case "version":
			res = fmt.Sprint(verOf(a))
		case "unlock":
			res = fmt.Sprint(g.Unlock())
		case "recover":
			res = fmt.Sprint(a.Recover(func(*Counter) error { return nil }))
		}
		fmt.Printf("survived %s\n", res)
		return nil
	}
}

// startAdv2Child runs role with its stderr captured, so that a crash's
// message can be shown in the failure.
func startAdv2Child(t *testing.T, role string, args ...string) (*child, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	c := startChildCmd(t, func(cmd *exec.Cmd) { cmd.Stderr = &stderr }, role, args...)
	return c, &stderr
}

// firstLines is the start of a crashed child's stderr.
func firstLines(s string, n int) string {
	l := strings.SplitN(s, "\n", n+1)
	if len(l) > n {
		l = l[:n]
	}
	return strings.Join(l, "\n")
}

// Ensure that what survives the last Close of a handle does not touch the
// unmapped segment or the freed C handle. README: "After Close, every method
// returns ErrClosed"; Guard.Unlock: "a second Unlock returns ErrNotOwner and
// changes nothing". Version reads a.hdr (unmapped by the last Close) with no
// closed check; Guard.Unlock called C with the freed
// ipcarc_seg, whose hdr pointer the allocator has overwritten.
func TestAdv2UseAfterLastClose(t *testing.T) {
	for _, what := range []string{"version", "unlock", "recover"} {
		t.Run(what, func(t *testing.T) {
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			c, stderr := startAdv2Child(t, "adv2-after-close", name, what)
			c.expect("closed")
			var line string
			var ok bool
			select {
			case line, ok = <-c.lines:
			case <-time.After(30 * time.Second):
				t.Fatal("child hung after the last Close")
			}
			<-c.done
			if !ok {
				t.Fatalf("%s after the last Close crashed the process (%v):\n%s", what, c.err, firstLines(stderr.String(), 4))
			}
			if what != "version" && !strings.Contains(line, "not held") && !strings.Contains(line, "closed") {
				t.Fatalf("%s after Close: %q, want ErrNotOwner or ErrClosed", what, line)
			}
		})
	}
}

// Ensure that every method of a closed handle returns ErrClosed.
func TestUseAfterClose(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	b, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"Close":  b.Close(),
		"Store":  b.Store(Counter{}),
		"Update": b.Update(func(*Counter) error { return nil }),
	}
	_, checks["Clone"] = b.Clone()
	_, checks["Lock"] = b.Lock()
	_, checks["TryLock"] = b.TryLock()
	_, checks["Load"] = b.Load()
	_, checks["RefCount"] = b.RefCount()
	_, checks["Reap"] = b.Reap()
	_, checks["Stats"] = b.Info()
	for m, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", m, err)
		}
	}
}
