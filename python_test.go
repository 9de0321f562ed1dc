//go:build linux && cgo

package ipcarc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests with real Python processes (python/tests/peer.py, a user of the
// ipcarc Python package, with cpeer's subcommands) on the same segment as Go,
// C and Rust. The package is staged once per test binary under build/python
// (its .py files and a _libipcarc.so built by its own build backend), never in
// the source tree; `make python-test` runs the package's own unittest suite.

var pyPeerBuild peerBuild

// pyPeerInputs are the files a staged package is made of.
func pyPeerInputs() ([]string, error) {
	in := append([]string{}, cSources...)
	in = append(in, "ipcarc.h", "cshm.h", "cshm_internal.h", "python/_backend/ipcarc_build.py",
		"python/csrc/pyshim.c")
	py, err := filepath.Glob("python/ipcarc/*.py")
	return append(in, py...), err
}

func buildPyPeer() (string, error) {
	repo, err := filepath.Abs(".")
	if err != nil {
		return "", err
	}
	inputs, err := pyPeerInputs()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(repo, "build", "python")
	final, err := inputsDir(dir, "py", inputs)
	if err != nil {
		return "", err
	}
	launcher := filepath.Join(final, "pypeer")
	if _, err := os.Stat(launcher); err == nil {
		return launcher, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "tmp-py-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // gone after the rename, unless the build failed
	cmd := exec.Command("python3", filepath.Join(repo, "python", "_backend", "ipcarc_build.py"), "stage", tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %v\n%s", cmd.Args, err, out)
	}
	// The launcher finds the package relative to itself, so the rename keeps it valid.
	script := "#!/bin/sh\nd=$(dirname \"$0\")\nIPCARC_PY_PATH=\"$d\" PYTHONDONTWRITEBYTECODE=1 exec python3 " +
		strconv.Quote(filepath.Join(repo, "python", "tests", "peer.py")) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(tmp, "pypeer"), []byte(script), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(launcher); serr == nil {
			return launcher, nil // another test process staged the same inputs first
		}
		return "", err
	}
	return launcher, nil
}

// pyPeer returns the Python peer, or skips saying how to get python3.
func pyPeer(t *testing.T) peer {
	return pyPeerBuild.get(t, "python3", "python", buildPyPeer)
}

// Ensure that a Python process SIGKILLed holding the lock hands Go
// ErrOwnerDead with nothing held and the dead process's write in place, and
// that a Go process killed holding it hands Python OwnerDeadError, reported
// once, with the poison staying until Go recovers.
func TestPythonOwnerDeath(t *testing.T) {
	t.Run("python-dies-go-sees", func(t *testing.T) {
		p := pyPeer(t)
		name := testName(t)
		a := mustNew(t, name, Counter{N: 1}, WithTypeTag(peerTag))
		h := p.start(t, "hold", name)
		h.expect("locked")
		if g, err := a.TryLock(); !errors.Is(err, ErrWouldBlock) || g != nil {
			t.Fatalf("TryLock while Python holds the lock = %v, %v; want ErrWouldBlock", g, err)
		}
		h.kill()
		within(t, 10*time.Second, "Lock after the Python holder died", func() {
			if g, err := a.Lock(); !errors.Is(err, ErrOwnerDead) || g != nil {
				t.Errorf("Lock = %v, %v; want nil, ErrOwnerDead", g, err)
			}
		})
		if v, _ := a.Load(); v.N != 4242 {
			t.Errorf("value after the Python holder died = %d, want its 4242", v.N)
		}
		if l := p.run(t, "lock", name); l != "poisoned n=4242" {
			t.Errorf("Python lock while poisoned: %q, want poisoned n=4242", l)
		}
		mustRecover(t, a)
		if l := p.run(t, "lock", name); l != "ok n=4242" {
			t.Errorf("Python lock after Recover: %q, want ok n=4242", l)
		}
	})
	t.Run("go-dies-python-sees", func(t *testing.T) {
		p := pyPeer(t)
		name := testName(t)
		a := mustNew(t, name, Counter{N: 1}, WithTypeTag(peerTag))
		h := startChild(t, "peer-hold", name)
		h.expect("locked")
		h.kill()
		if l := p.run(t, "lock", name); l != "ownerdied n=4242" {
			t.Fatalf("Python's first lock after Go died: %q, want ownerdied n=4242", l)
		}
		if l := p.run(t, "lock", name); l != "poisoned n=4242" {
			t.Fatalf("Python's second lock: %q, want poisoned n=4242 (the death is reported once)", l)
		}
		if g, err := a.Lock(); !errors.Is(err, ErrPoisoned) || errors.Is(err, ErrOwnerDead) || g != nil {
			t.Fatalf("Go Lock after Python saw the death = %v, %v; want ErrPoisoned only", g, err)
		}
		mustRecover(t, a)
		if l := p.run(t, "poisoned", name); l != "poisoned=0" {
			t.Fatalf("Python after Recover: %q", l)
		}
	})
}

// Ensure that a Python holder SIGKILLed while attached stops counting at once
// and is reaped, and that the segment is unlinked when Go, the last holder,
// closes.
func TestPythonKilledHolderReaped(t *testing.T) {
	p := pyPeer(t)
	name := testName(t)
	a, err := New(name, Counter{}, WithTypeTag(peerTag))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSegment(name) })
	c := p.start(t, "attach", name)
	c.expect("attached")
	if rc, _ := a.RefCount(); rc != 2 {
		t.Fatalf("refcount with Python attached = %d, want 2", rc)
	}
	c.kill()
	if rc, _ := a.RefCount(); rc != 1 {
		t.Fatalf("refcount after Python was killed = %d, want 1", rc)
	}
	if n, err := a.Reap(); err != nil || n != 1 {
		t.Fatalf("Reap = %d, %v; want 1", n, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/dev/shm", name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment after the last close: %v, want gone", err)
	}
}

// Ensure that a Python wait is woken by a Go Store, and a Go Wait by a Python store.
func TestPythonWaitCrossLang(t *testing.T) {
	p := pyPeer(t)
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithTypeTag(peerTag))
	v0 := verOf(a)
	w := p.start(t, "wait", name, strconv.FormatUint(uint64(v0), 10))
	w.expect("waiting")
	time.Sleep(50 * time.Millisecond)
	if err := a.Store(Counter{N: 31}); err != nil {
		t.Fatal(err)
	}
	if l, want := w.expect("v="), fmt.Sprintf("v=%d n=31", v0+1); l != want {
		t.Fatalf("Python wait woke with %q, want %q", l, want)
	}
	w.wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		v, err := a.Wait(ctx, v0+1)
		if err == nil && v != v0+2 {
			err = fmt.Errorf("Wait = %d, want %d", v, v0+2)
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	p.run(t, "store", name, "32")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, _ := a.Load(); v.N != 32 {
		t.Fatalf("value after the Python store = %d, want 32", v.N)
	}
}

// Ensure that Go, C, Rust and Python processes, adding under the lock at the
// same time, lose no increment: the total is exact and every handle returned.
func TestCrossConcurrentIncrementsPython(t *testing.T) {
	cp, rp := bothPeers(t)
	pp := pyPeer(t)
	countTogether(t, 5000, 1, cp, rp, pp, pp)
}

// startChildGate starts a Go peer-incr child with a gate on its stdin.
func startChildGate(t *testing.T, name, k string) (*child, io.WriteCloser) {
	var gate io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		var err error
		if gate, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "peer-incr", name, k, "gate")
	return c, gate
}

// Ensure that `pip install ./python` works offline into a fresh venv, and
// that a script in another folder imports ipcarc (no LD_LIBRARY_PATH) and
// attaches to a segment this Go process created. Everything lands under
// build/ and is removed; nothing is written into the source tree.
func TestPythonVenvInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a venv and installs the package (about 10 s); not with -short")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("python3 is not on PATH, so the Python package cannot be installed: %v (apt-get install python3 python3-venv)", err)
	}
	repo, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "build", "python"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(filepath.Join(repo, "build", "python"), "venv-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	before := gitStatus(t)
	venv := filepath.Join(dir, "venv")
	run := func(wd string, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = wd
		cmd.Env = append(os.Environ(), "PIP_NO_INDEX=1", "PIP_DISABLE_PIP_VERSION_CHECK=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
		return string(out)
	}
	if out, err := exec.Command("python3", "-m", "venv", venv).CombinedOutput(); err != nil {
		// No ensurepip (Debian without python3-venv): a venv without pip, and
		// the outer pip installs into it.
		t.Logf("python3 -m venv: %v\n%s; trying --without-pip", err, out)
		run(dir, "python3", "-m", "venv", "--without-pip", venv)
		run(dir, "python3", "-m", "pip", "--python", filepath.Join(venv, "bin", "python"), "install",
			"--no-index", "--no-build-isolation", filepath.Join(repo, "python"))
	} else {
		run(dir, filepath.Join(venv, "bin", "python"), "-m", "pip", "install", "--no-index",
			filepath.Join(repo, "python"))
	}
	name := testName(t)
	mustNew(t, name, Counter{N: 987}, WithTypeTag(peerTag))
	other := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `import ctypes, sys, ipcarc
class Counter(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint64), ("spare", ctypes.c_uint64 * 7)]
with ipcarc.Arc.open(sys.argv[1], Counter, type_tag="ipcarc.counter.v1") as a:
    with a.lock() as v:
        v.n += 1
    print("n=%d refs=%d lib=%s" % (a.load().n, a.ref_count, ipcarc.__file__))
`
	if err := os.WriteFile(filepath.Join(other, "attach.py"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.TrimSpace(run(other, filepath.Join(venv, "bin", "python"), "attach.py", name))
	if !strings.HasPrefix(out, "n=988 refs=2 lib="+venv) {
		t.Fatalf("the installed package said %q, want n=988 refs=2 from the venv", out)
	}
	if after := gitStatus(t); after != before {
		t.Fatalf("the install wrote into the source tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// Ensure that building the package without the repository's C sources (as
// from an sdist or a copied python/ folder) fails with a message saying so.
func TestPythonBuildWithoutCSources(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("python3 is not on PATH: %v (%s)", err, toolInstall("python3"))
	}
	dir := t.TempDir()
	cmd := exec.Command("python3", "-c", "import sys; sys.path.insert(0, 'python/_backend'); "+
		"import ipcarc_build; ipcarc_build.stage(sys.argv[1])", dir)
	cmd.Env = append(os.Environ(), "IPCARC_C_SRC="+dir, "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cshm.c") || !strings.Contains(string(out), "IPCARC_C_SRC") {
		t.Fatalf("build without C sources: %v\n%s\nwant a failure naming cshm.c and IPCARC_C_SRC", err, out)
	}
}

// gitStatus is the source tree's status (untracked and ignored files included),
// or "" outside a git checkout.
func gitStatus(t *testing.T) string {
	out, err := exec.Command("git", "status", "--porcelain", "--ignored", "--", "python").CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// Ensure that Go (two children through Atomic), C (__atomic_fetch_add on
// ipcarc_data) and Python (two processes through Arc.atomic_add) processes,
// adding without the lock to one shared atomic.Uint64 at the same time, and
// each to its own Spare element, add up exactly; the five Notify calls move
// the version by five.
func TestPythonAtomicCrossLangExact(t *testing.T) {
	cp, pp := cPeer(t), pyPeer(t)
	name := testName(t)
	a := mustNew(t, name, AtomicCounter{}, WithTypeTag(peerTag))
	const each = 50000
	k := strconv.Itoa(each)
	var g gated
	g.goChild(t, "atomic-add", name, k, "1", "gate")
	g.goChild(t, "atomic-add", name, k, "2", "gate")
	g.peer(t, cp, "atomic", name, k, "3", "gate")
	g.peer(t, pp, "atomic", name, k, "4", "gate")
	g.peer(t, pp, "atomic", name, k, "5", "gate")
	v0 := verOf(a)
	g.run()
	v, err := a.Atomic()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := v.N.Load(), uint64(len(g.kids)*each); got != want {
		t.Fatalf("shared total = %d, want %d", got, want)
	}
	for i := 0; i < 7; i++ {
		want := uint64(each)
		if i >= len(g.kids) {
			want = 0
		}
		if got := v.Spare[i].Load(); got != want {
			t.Fatalf("Spare[%d] = %d, want %d", i, got, want)
		}
	}
	if got := verOf(a); got != v0+Version(len(g.kids)) {
		t.Fatalf("version after %d Notify = %d, want %d", len(g.kids), got, v0+Version(len(g.kids)))
	}
	if rc, _ := a.RefCount(); rc != 1 {
		t.Fatalf("refcount after every worker closed = %d, want 1", rc)
	}
}

// Ensure that a Python notify (after a lock-free add, no lock taken) wakes a
// Go Wait in another process, with the new version and the added value.
func TestPythonNotifyWakesGoWait(t *testing.T) {
	pp := pyPeer(t)
	name := testName(t)
	a := mustNew(t, name, AtomicCounter{}, WithTypeTag(peerTag))
	v0 := verOf(a)
	w := startChild(t, "notify-wait", name, strconv.Itoa(int(v0)))
	w.expect("waiting")
	time.Sleep(50 * time.Millisecond) // let it sleep in the futex
	if l := pp.run(t, "notify", name); !strings.Contains(l, "notified") {
		t.Fatalf("Python peer said %q", l)
	}
	if l := w.expect("woke "); l != "woke "+strconv.Itoa(int(v0+1)) {
		t.Fatalf("Go waiter said %q, want version %d", l, v0+1)
	}
	w.wait()
	if p, _ := a.Atomic(); p.N.Load() != 1 {
		t.Fatalf("N after the Python add = %d, want 1", p.N.Load())
	}
}

// Ensure that Go, C, Rust and two Python processes, each adding 1 to every
// element of one Slice[uint64] under its lock at the same time, lose no
// increment: exact per-element totals, every handle returned.
func TestPythonSliceIncrementsCrossLang(t *testing.T) {
	cp, rp := bothPeers(t)
	pp := pyPeer(t)
	name := testName(t)
	const elems, each = 12, 2000
	s, err := NewSlice(name, make([]uint64, elems), 32, WithTypeTag(u64Tag))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); removeSegment(name) })
	k := strconv.Itoa(each)
	var g gated
	g.goChild(t, "peer-sincr", name, k, "gate")
	g.peer(t, cp, "sincr", name, k, "gate")
	g.peer(t, rp, "sincr", name, k, "gate")
	g.peer(t, pp, "sincr", name, k, "gate")
	g.peer(t, pp, "sincr", name, k, "gate")
	g.run()
	v, err := s.Load()
	if err != nil || len(v) != elems {
		t.Fatalf("Load = %v, %v; want %d elements", v, err, elems)
	}
	for i, x := range v {
		if want := uint64(len(g.kids)) * each; x != want {
			t.Fatalf("element %d = %d, want %d", i, x, want)
		}
	}
	if rc, _ := s.RefCount(); rc != 1 {
		t.Fatalf("refcount after every worker closed = %d, want 1", rc)
	}
}

// Ensure that a Python process SIGKILLed holding a slice's lock hands Go's
// next Lock ErrOwnerDead with nothing held and the dead process's write in
// place, that Python then sees the poison, and that Go's Recover repairs it
// for Python too.
func TestPythonSliceOwnerDeath(t *testing.T) {
	p := pyPeer(t)
	name := testName(t)
	s, err := NewSlice(name, []uint64{1, 2, 3}, 4, WithTypeTag(u64Tag))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); removeSegment(name) })
	h := p.start(t, "shold", name)
	h.expect("locked")
	if g, err := s.TryLock(); !errors.Is(err, ErrWouldBlock) || g != nil {
		t.Fatalf("TryLock while Python holds the lock = %v, %v; want ErrWouldBlock", g, err)
	}
	h.kill()
	within(t, 10*time.Second, "Lock after the Python holder died", func() {
		if g, err := s.Lock(); !errors.Is(err, ErrOwnerDead) || g != nil {
			t.Errorf("Lock = %v, %v; want nil, ErrOwnerDead", g, err)
		}
	})
	if v, err := s.LoadAt(0); v != 4242 || !errors.Is(err, ErrPoisoned) {
		t.Errorf("element 0 after the Python holder died = %d, %v; want its 4242, ErrPoisoned", v, err)
	}
	if l := p.run(t, "slock", name); l != "poisoned s0=4242" {
		t.Errorf("Python lock while poisoned: %q, want poisoned s0=4242", l)
	}
	if err := s.Recover(func(v []uint64) ([]uint64, error) {
		v[0] = 1
		return v, nil
	}); err != nil {
		t.Fatal(err)
	}
	if l := p.run(t, "slock", name); l != "ok s0=1" {
		t.Errorf("Python lock after Recover: %q, want ok s0=1", l)
	}
	if g, err := s.Lock(); err != nil {
		t.Fatal(err)
	} else if got := len(g.Get()); got != 3 {
		t.Errorf("length after Recover = %d, want 3", got)
	} else if err := g.Unlock(); err != nil {
		t.Fatal(err)
	}
}
