//go:build linux && cgo

package ipcarc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cross-language tests: Go, C and Rust processes on one segment, each through
// its own package: Go through this one, C through the installed libipcarc
// (examples/cpeer, compiled with `pkg-config --cflags --libs ipcarc`), Rust
// through the ipcarc crate (examples/rustpeer). peers_test.go builds the
// peers; `make rust-test` runs the crate's own tests and `make lib-check` the
// library's.

func init() {
	// peer-hold NAME: the Go counterpart of the peers' hold: lock, write
	// 4242, say "locked", and sleep holding the lock until killed.
	childRoles["peer-hold"] = func(args []string) error {
		a, err := Open[Counter](args[0], WithTypeTag(peerTag))
		if err != nil {
			return err
		}
		g, err := a.Lock()
		if err != nil && !errors.Is(err, ErrPoisoned) {
			return err
		}
		g.Get().N = 4242
		os.Stdout.WriteString("locked\n")
		for {
			time.Sleep(time.Hour)
		}
	}
}

// A language taking part: Go itself (in this process, or a child of the test
// binary), or one of the peers.
type crossLang struct {
	name string
	peer func(*testing.T) peer // nil for Go
}

var crossLangs = []crossLang{{"go", nil}, {"c", cPeer}, {"rust", rustPeer}}

// Ensure that Go, the C library user and the Rust crate user, adding under
// the lock at the same time, lose no increment: the final total is exact and
// every handle is given back.
func TestCrossConcurrentIncrements(t *testing.T) {
	cp, rp := bothPeers(t)
	countTogether(t, 20000, 2, cp, rp)
}

// countTogether has goKids Go children, each peer and this process add each
// to one Counter under the lock at once, and checks the exact total and that
// every worker's handle is gone. Every worker attaches, says ready and waits
// at the gate (its stdin): a native peer counts to 20,000 in a few
// milliseconds, sooner than a race-built Go child even starts, so without
// the gate they would take turns instead of contending.
func countTogether(t *testing.T, each int, goKids int, peers ...peer) {
	t.Helper()
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithTypeTag(peerTag))
	k := strconv.Itoa(each)
	var kids []*child
	var gates []io.WriteCloser
	for i := 0; i < goKids; i++ {
		c, gate := startChildGate(t, name, k)
		kids, gates = append(kids, c), append(gates, gate)
	}
	for _, p := range peers {
		c, gate := p.startStdin(t, true, "incr", name, k, "gate")
		kids, gates = append(kids, c), append(gates, gate)
	}
	for _, c := range kids {
		c.expect("ready")
	}
	if rc, _ := a.RefCount(); rc != len(kids)+1 {
		t.Fatalf("refcount with every worker attached = %d, want %d", rc, len(kids)+1)
	}
	for _, g := range gates {
		io.WriteString(g, "go\n")
	}
	if err := lockedIncrements(a, each); err != nil {
		t.Fatal(err)
	}
	for _, c := range kids {
		c.expect("done")
		c.wait()
	}
	v, err := a.Load()
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(kids)+1) * uint64(each); v.N != want {
		t.Fatalf("total = %d, want %d", v.N, want)
	}
	if rc, _ := a.RefCount(); rc != 1 {
		t.Fatalf("refcount after every worker closed = %d, want 1", rc)
	}
}

// Ensure that a process killed holding the lock is seen as owner death by
// the next locker, whatever the two languages: Go, C or Rust holds and is
// SIGKILLed, Go (ErrOwnerDead), C (EOWNERDEAD) or Rust (a PoisonError whose
// guard says owner_died) locks next and finds the dead process's write. The
// death is reported once; the poison stays for everyone until cleared.
func TestCrossOwnerDeath(t *testing.T) {
	for _, holder := range crossLangs {
		for _, locker := range crossLangs {
			t.Run(holder.name+"-dies-"+locker.name+"-sees", func(t *testing.T) {
				var hp, lp peer
				if holder.peer != nil {
					hp = holder.peer(t)
				}
				if locker.peer != nil {
					lp = locker.peer(t)
				}
				name := testName(t)
				a := mustNew(t, name, Counter{N: 1}, WithTypeTag(peerTag))
				var h *child
				if holder.peer == nil {
					h = startChild(t, "peer-hold", name)
				} else {
					h = hp.start(t, "hold", name)
				}
				h.expect("locked")
				h.kill()
				if locker.peer == nil {
					within(t, 10*time.Second, "Lock after the holder died", func() {
						g, err := a.Lock()
						if !errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) || g != nil {
							t.Errorf("Lock = %v, %v; want nil, ErrOwnerDead and ErrPoisoned", g, err)
						}
						if v, _ := a.Load(); v.N != 4242 {
							t.Errorf("value after the %s holder died = %d, want its 4242", holder.name, v.N)
						}
					})
				} else if l := lp.run(t, "lock", name); l != "ownerdied n=4242" {
					t.Fatalf("%s lock after the %s holder died: %q, want \"ownerdied n=4242\"", locker.name, holder.name, l)
				}
				if t.Failed() {
					return
				}
				// Reported once: Go's next Lock sees poison only.
				if _, err := a.Lock(); !errors.Is(err, ErrPoisoned) || errors.Is(err, ErrOwnerDead) {
					t.Errorf("Lock after the death was reported = %v, want ErrPoisoned only", err)
				}
				mustRecover(t, a)
				if n, err := a.Reap(); err != nil || n != 1 {
					t.Errorf("Reap of the dead holder = %d, %v; want 1", n, err)
				}
			})
		}
	}
}

// Ensure that Go and Rust refuse each other's segments opened with a wrong
// type, with the matching error naming the same field (Go: ErrTypeMismatch
// with Field; Rust: Error::TypeMismatch(field)), and that their default tags
// agree for plain numbers without any option: Rust's IpcArc<u64> is Go's
// Arc[uint64].
func TestCrossTypeMismatch(t *testing.T) {
	rp := rustPeer(t)

	t.Run("go-made-rust-opens", func(t *testing.T) {
		name := testName(t)
		a := mustNew(t, name, Counter{N: 99}, WithTypeTag(peerTag))
		for _, c := range []struct{ cmd, want string }{
			{"badsize", "refused TypeMismatch value size"},
			{"badtag", "refused TypeMismatch type tag"},
			{"read", "n=99"},
		} {
			if l := rp.run(t, c.cmd, name); l != c.want {
				t.Errorf("rust %s: %q, want %q", c.cmd, l, c.want)
			}
		}
		if rc, _ := a.RefCount(); rc != 1 {
			t.Errorf("refcount after the refusals = %d, want 1", rc)
		}
	})

	t.Run("rust-made-go-opens", func(t *testing.T) {
		name := testName(t)
		t.Cleanup(func() { removeSegment(name) })
		c, stdin := rp.startStdin(t, true, "create", name, "5")
		c.expect("created")
		mismatch := func(err error, field string) {
			t.Helper()
			var e *Error
			if !errors.Is(err, ErrTypeMismatch) || !errors.As(err, &e) || e.Field.String() != field {
				t.Errorf("open = %v, want ErrTypeMismatch on the %s", err, field)
			}
		}
		_, err := Open[[4]uint64](name, WithTypeTag(peerTag))
		mismatch(err, "value size")
		_, err = Open[Counter](name, WithTypeTag("ipcarc.counter.v2"))
		mismatch(err, "type tag")
		_, err = Open[Counter](name) // Go's layout tag: not the peers' name
		mismatch(err, "type tag")
		b, err := Open[Counter](name, WithTypeTag(peerTag))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := b.Load(); err != nil || v.N != 5 {
			t.Errorf("Load = %d, %v; want 5", v.N, err)
		}
		b.Close()
		io.WriteString(stdin, "close\n")
		c.expect("n=5")
		c.expect("closed")
		c.wait()
	})

	t.Run("default-tags-agree", func(t *testing.T) {
		name := testName(t)
		t.Cleanup(func() { removeSegment(name) })
		c, stdin := rp.startStdin(t, true, "u64", name, "77")
		c.expect("created")
		_, err := Open[int64](name)
		if !errors.Is(err, ErrTypeMismatch) {
			t.Errorf("Open[int64] of Rust's IpcArc<u64> = %v, want ErrTypeMismatch", err)
		}
		b, err := Open[uint64](name) // no WithTypeTag on either side
		if err != nil {
			t.Fatalf("Open[uint64] of Rust's IpcArc<u64>: %v", err)
		}
		if v, err := b.Load(); err != nil || v != 77 {
			t.Errorf("Load = %d, %v; want 77", v, err)
		}
		if err := b.Store(78); err != nil {
			t.Fatal(err)
		}
		b.Close()
		io.WriteString(stdin, "close\n")
		c.expect("v=78")
		c.expect("closed")
		c.wait()
	})
}

// Ensure that a Rust process panicking inside its critical section (a
// closure passed to update) unlocks on the way out, through the guard's
// Drop, and poisons the value as std's Mutex does: Go takes the lock at once
// and sees ErrPoisoned without ErrOwnerDead (no process died holding it), C
// sees the poison, and Go's Recover ends it for everyone.
func TestCrossRustPanicPoisons(t *testing.T) {
	rp, cp := rustPeer(t), cPeer(t)
	name := testName(t)
	a := mustNew(t, name, Counter{N: 1}, WithTypeTag(peerTag))
	var stderr bytes.Buffer
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path = rp.path
		cmd.Args = []string{rp.path, "panic", name}
		cmd.Stderr = &stderr
	}, "rust-peer panic")
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the panicking Rust peer did not exit within 60s")
	}
	var ee *exec.ExitError
	if !errors.As(c.err, &ee) || ee.ExitCode() != 101 {
		t.Fatalf("Rust peer exit: %v, want status 101 (a panic); stderr:\n%s", c.err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "panicking inside update") {
		t.Errorf("Rust peer stderr does not show its panic:\n%s", stderr.String())
	}
	// Free at once (the guard unlocked), and refused (poisoned).
	if g, err := a.TryLock(); g != nil || !errors.Is(err, ErrPoisoned) || errors.Is(err, ErrOwnerDead) {
		t.Errorf("TryLock after the Rust panic = %v, %v; want nil, ErrPoisoned only", g, err)
	}
	if v, _ := a.Load(); v.N != 13 {
		t.Errorf("value = %d, want the 13 the panicking closure wrote", v.N)
	}
	if l := cp.run(t, "poisoned", name); l != "poisoned=1" {
		t.Errorf("C peer after the Rust panic: %q, want poisoned=1", l)
	}
	if rc, _ := a.RefCount(); rc != 1 {
		t.Errorf("refcount after the Rust peer exited = %d, want 1 (its handle dropped while the panic unwound)", rc)
	}
	mustRecover(t, a)
	for _, p := range []peer{cp, rp} {
		if l := p.run(t, "lock", name); l != "ok n=13" {
			t.Errorf("%s lock after Recover: %q, want \"ok n=13\"", p.lang, l)
		}
	}
}
