//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Tests with real C and Rust processes on the same segment as Go: the peers in
// examples/cpeer and examples/rustpeer, built once per test binary. They share
// the value type Counter under the tag peerTag (see examples/cpeer/cpeer.c).

const peerTag = "ipcarc.counter.v1"

func init() {
	// peer-incr NAME K [gate]: the Go counterpart of the peers' `incr`; it
	// opens with the peers' tag (the "incr" role uses Go's default layout tag).
	childRoles["peer-incr"] = func(args []string) error {
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		a, err := Open[Counter](args[0], WithTypeTag(peerTag))
		if err != nil {
			return err
		}
		if len(args) > 2 && args[2] == "gate" {
			os.Stdout.WriteString("ready\n")
			bufio.NewReader(os.Stdin).ReadString('\n')
		}
		if err := lockedIncrements(a, n); err != nil {
			return err
		}
		if err := a.Close(); err != nil {
			return err
		}
		os.Stdout.WriteString("done\n")
		return nil
	}
}

// peer is a built peer program.
type peer struct {
	lang string // "c" or "rust"
	path string
}

// peerBuild builds one peer at most once per test binary: later tests reuse
// the result, or its error.
type peerBuild struct {
	once sync.Once
	path string
	err  error
}

var cPeerBuild, rustPeerBuild peerBuild

// The peers are built inside the repository, in places .gitignore covers and
// `make cpeer` / `make rustpeer` use too: nothing is left in /tmp, and cargo's
// incremental build is reused from run to run.
func buildCPeer() (string, error) {
	dir, err := filepath.Abs(filepath.Join("examples", "cpeer"))
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "cpeer")
	// Build under a private name and rename: a concurrent `go test` or make
	// may be running the previous binary.
	tmp := fmt.Sprintf("%s.tmp-%d", out, os.Getpid())
	args := []string{"-O2", "-Wall", "-I../..", "cpeer.c"}
	for _, f := range cSources {
		args = append(args, "../../"+f)
	}
	cmd := exec.Command("cc", append(args, "-lpthread", "-o", tmp)...)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("%v: %v\n%s", cmd.Args, err, msg)
	}
	return out, os.Rename(tmp, out)
}

func buildRustPeer() (string, error) {
	dir, err := filepath.Abs(filepath.Join("examples", "rustpeer"))
	if err != nil {
		return "", err
	}
	target := filepath.Join(dir, "target")
	cmd := exec.Command("cargo", "build", "--release", "--offline", "--quiet",
		"--manifest-path", filepath.Join(dir, "Cargo.toml"))
	// Explicit, so the binary is where we look even when the environment
	// sets another target dir.
	cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+target)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %v\n%s", cmd.Args, err, msg)
	}
	return filepath.Join(target, "release", "rustpeer"), nil
}

func (b *peerBuild) get(t *testing.T, tool, lang string, build func() (string, error)) peer {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s is not on PATH, so the %s peer cannot be built: %v", tool, lang, err)
	}
	b.once.Do(func() { b.path, b.err = build() })
	if b.err != nil {
		t.Fatalf("building the %s peer: %v", lang, b.err)
	}
	return peer{lang: lang, path: b.path}
}

// cPeer and rustPeer return a built peer, or skip the (sub)test saying which
// tool is missing.
func cPeer(t *testing.T) peer { return cPeerBuild.get(t, "cc", "c", buildCPeer) }

func rustPeer(t *testing.T) peer {
	return rustPeerBuild.get(t, "cargo", "rust", buildRustPeer)
}

// peerKinds are the peers a test runs subtests over: without cargo the C
// subtests still run and only the Rust ones skip, and the reverse.
var peerKinds = []struct {
	lang string
	get  func(*testing.T) peer
}{{"c", cPeer}, {"rust", rustPeer}}

// bothPeers is for tests that need the C and the Rust peer together.
func bothPeers(t *testing.T) (c, rust peer) {
	t.Helper()
	return cPeer(t), rustPeer(t)
}

// start runs the peer with a subcommand as a child (killed and reaped at the
// end of the test, like every child).
func (p peer) start(t *testing.T, args ...string) *child {
	t.Helper()
	c, _ := p.startStdin(t, false, args...)
	return c
}

// startStdin is start with, when withStdin, a pipe to the peer's stdin.
func (p peer) startStdin(t *testing.T, withStdin bool, args ...string) (*child, io.WriteCloser) {
	t.Helper()
	var stdin io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path = p.path
		cmd.Args = append([]string{p.path}, args...)
		if withStdin {
			var err error
			if stdin, err = cmd.StdinPipe(); err != nil {
				t.Fatal(err)
			}
		}
	}, p.lang+"-peer "+args[0])
	return c, stdin
}

// run runs a subcommand that prints one line and exits 0, and returns the line.
func (p peer) run(t *testing.T, args ...string) string {
	t.Helper()
	c := p.start(t, args...)
	l := c.expect("")
	c.wait()
	return l
}

// Ensure that Go, C and Rust processes adding under the lock at the same time
// lose no increment: the final total is exact and every handle is given back.
func TestPeerConcurrentIncrements(t *testing.T) {
	cp, rp := bothPeers(t)
	peers := []peer{cp, rp}
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithTypeTag(peerTag))
	const each = 20000
	k := strconv.Itoa(each)
	// Every worker attaches, says ready and waits at the gate (its stdin):
	// a native peer counts to 20,000 in a few milliseconds, sooner than a
	// race-built Go child even starts, so without the gate they would take
	// turns instead of contending.
	var kids []*child
	var gates []io.WriteCloser
	for i := 0; i < 2; i++ {
		var gate io.WriteCloser
		kids = append(kids, startChildCmd(t, func(cmd *exec.Cmd) {
			var err error
			if gate, err = cmd.StdinPipe(); err != nil {
				t.Fatal(err)
			}
		}, "peer-incr", name, k, "gate"))
		gates = append(gates, gate)
	}
	for _, p := range peers {
		c, gate := p.startStdin(t, true, "incr", name, k, "gate")
		kids = append(kids, c)
		gates = append(gates, gate)
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
	for i := 0; i < each; i++ {
		g, err := a.Lock()
		if err != nil {
			t.Fatal(err)
		}
		g.Get().N++
		if err := g.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range kids {
		c.expect("done")
		c.wait()
	}
	v, err := a.Load()
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(len(kids)+1) * each; v.N != want {
		t.Fatalf("total = %d, want %d", v.N, want)
	}
	if rc, _ := a.RefCount(); rc != 1 {
		t.Fatalf("refcount after every peer closed = %d, want 1", rc)
	}
}

// Ensure that a segment a C or Rust peer creates is opened and read by Go,
// that a Go Store is seen by the peer, and that the segment is gone once the
// peer and then Go have closed.
func TestPeerCreatesGoOpens(t *testing.T) {
	for _, k := range peerKinds {
		t.Run(k.lang, func(t *testing.T) {
			p := k.get(t)
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			c, stdin := p.startStdin(t, true, "create", name, "1234")
			c.expect("created")
			a, err := Open[Counter](name, WithTypeTag(peerTag))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if v, err := a.Load(); err != nil || v.N != 1234 {
				t.Fatalf("Load of the peer's segment = %d, %v; want 1234", v.N, err)
			}
			if rc, _ := a.RefCount(); rc != 2 {
				t.Fatalf("refcount with the peer and Go attached = %d, want 2", rc)
			}
			if err := a.Store(Counter{N: 5678}); err != nil {
				t.Fatal(err)
			}
			io.WriteString(stdin, "close\n")
			c.expect("n=5678")
			c.expect("closed")
			c.wait()
			if !shmExists(name) {
				t.Fatal("segment gone while Go still holds a handle")
			}
			if rc, _ := a.RefCount(); rc != 1 {
				t.Fatalf("refcount after the peer closed = %d, want 1", rc)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if shmExists(name) {
				t.Fatal("segment still exists after the last close")
			}
		})
	}
}

// Ensure that a peer SIGKILLed while holding the lock hands it to Go with
// ErrOwnerDead, and that a peer (the other language, then the same) sees the
// value poisoned until Go clears it, and not after.
func TestPeerOwnerDeath(t *testing.T) {
	for _, pair := range [][2]int{{0, 1}, {1, 0}, {0, 0}, {1, 1}} {
		hk, ck := peerKinds[pair[0]], peerKinds[pair[1]]
		t.Run(hk.lang+"-dies-"+ck.lang+"-checks", func(t *testing.T) {
			holder, checker := hk.get(t), ck.get(t)
			name := testName(t)
			a := mustNew(t, name, Counter{N: 1}, WithTypeTag(peerTag))
			h := holder.start(t, "hold", name)
			h.expect("locked")
			if g, err := a.TryLock(); !errors.Is(err, ErrWouldBlock) {
				if g != nil {
					g.Unlock()
				}
				t.Fatalf("TryLock while the peer holds the lock = %v, want ErrWouldBlock", err)
			}
			h.kill()
			within(t, 10*time.Second, "Lock after the peer died", func() {
				g, err := a.Lock()
				if !errors.Is(err, ErrOwnerDead) {
					t.Errorf("Lock = %v, want ErrOwnerDead", err)
				}
				if g == nil {
					return
				}
				if n := g.Get().N; n != 4242 {
					t.Errorf("value after the peer died = %d, want its 4242", n)
				}
				g.Unlock()
			})
			if t.Failed() {
				return
			}
			if l := checker.run(t, "poisoned", name); l != "poisoned=1" {
				t.Fatalf("%s peer after the owner died: %q, want poisoned=1", checker.lang, l)
			}
			g, err := a.Lock()
			if !errors.Is(err, ErrPoisoned) {
				t.Errorf("Lock while poisoned = %v, want ErrPoisoned", err)
			}
			if g == nil {
				t.Fatal("no guard")
			}
			g.ClearPoison()
			if err := g.Unlock(); err != nil {
				t.Fatal(err)
			}
			if l := checker.run(t, "poisoned", name); l != "poisoned=0" {
				t.Fatalf("%s peer after ClearPoison: %q, want poisoned=0", checker.lang, l)
			}
		})
	}
}

// Ensure that a peer SIGKILLed while attached is reaped: Reap returns its one
// handle and the reference count drops back.
func TestPeerKilledHolderReaped(t *testing.T) {
	for _, k := range peerKinds {
		t.Run(k.lang, func(t *testing.T) {
			p := k.get(t)
			name := testName(t)
			a := mustNew(t, name, Counter{}, WithTypeTag(peerTag))
			c := p.start(t, "attach", name)
			c.expect("attached")
			if rc, _ := a.RefCount(); rc != 2 {
				t.Fatalf("refcount with the peer attached = %d, want 2", rc)
			}
			if n, err := a.Reap(); err != nil || n != 0 {
				t.Fatalf("Reap while the peer lives = %d, %v; want 0", n, err)
			}
			c.kill()
			n, err := a.Reap()
			if err != nil || n != 1 {
				t.Fatalf("Reap after the peer died = %d, %v; want 1", n, err)
			}
			if rc, _ := a.RefCount(); rc != 1 {
				t.Fatalf("refcount after Reap = %d, want 1", rc)
			}
		})
	}
}

// Ensure that peers expecting another value size or another type tag are
// refused with EPROTOTYPE (Go's ErrTypeMismatch) naming the field, and leave
// the segment unharmed: value, reference count and holders unchanged.
func TestPeerTypeMismatchRefused(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{N: 99}, WithTypeTag(peerTag))
	cases := []struct{ cmd, want string }{
		{"badsize", "refused EPROTOTYPE value size"},
		{"badtag", "refused EPROTOTYPE type tag"},
		{"read", "n=99"}, // and the right type still attaches
	}
	for _, k := range peerKinds {
		for _, c := range cases {
			t.Run(k.lang+"-"+c.cmd, func(t *testing.T) {
				p := k.get(t)
				if l := p.run(t, c.cmd, name); l != c.want {
					t.Fatalf("%s peer %s: %q, want %q", p.lang, c.cmd, l, c.want)
				}
				if v, err := a.Load(); err != nil || v.N != 99 {
					t.Fatalf("Load after the refusal = %d, %v; want 99", v.N, err)
				}
				if rc, _ := a.RefCount(); rc != 1 {
					t.Fatalf("refcount after the refusal = %d, want 1", rc)
				}
				st, err := a.Stats()
				if err != nil || len(st.Holders) != 1 || !st.Holders[0].Self {
					t.Fatalf("holders after the refusal = %+v, %v; want only this handle", st.Holders, err)
				}
			})
		}
	}
}
