//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests with real C and Rust processes on the same segment as Go: the peers in
// examples/cpeer (a user of the installed libipcarc) and examples/rustpeer (a
// user of the ipcarc crate), built once per test binary. They share the value
// type Counter under the tag peerTag (see examples/cpeer/cpeer.c).
// crosslang_test.go has the tests that set the three languages against each
// other.

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

// Both peers are built under build/ (git-ignored), never in the source tree:
//
//   - the C peer is a user of the installed library: `make lib install` into
//     a private prefix, then examples/cpeer/cpeer.c compiled with
//     `pkg-config --cflags --libs ipcarc`, as its comment documents. The
//     result is kept in build/peers/c-HASH, HASH naming every input, so an
//     unchanged tree reuses it and concurrent test runs never share a
//     half-built directory (each builds privately and renames into place).
//   - the Rust peer is a user of the ipcarc crate (rust/ipcarc), built by
//     cargo into build/cargo, whose lock serialises concurrent builds and
//     whose incremental state is reused from run to run.

// cPeerInputs are the files the C peer's build reads (the Makefile's CSRC,
// its headers, the library's make fragment and templates, the peer).
func cPeerInputs() []string {
	in := append([]string{}, cSources...)
	return append(in, "ipcarc.h", "cshm.h", "cshm_internal.h", "Makefile", "mk/lib.mk",
		"mk/ipcarc.map", "mk/ipcarc.pc.in", filepath.Join("examples", "cpeer", "cpeer.c"))
}

func buildCPeer() (string, error) {
	for _, tool := range []string{"make", "pkg-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", errSkip(fmt.Sprintf("%s is not on PATH, so libipcarc cannot be installed and used by the C peer: %v (%s)", tool, err, toolInstall(tool)))
		}
	}
	repo, err := filepath.Abs(".")
	if err != nil {
		return "", err
	}
	peers := filepath.Join(repo, "build", "peers")
	final, err := inputsDir(peers, "c", cPeerInputs())
	if err != nil {
		return "", err
	}
	exe := filepath.Join(final, "cpeer")
	if _, err := os.Stat(exe); err == nil {
		return exe, nil
	}
	if err := os.MkdirAll(peers, 0o755); err != nil {
		return "", err
	}
	pruneOldPeerBuilds(peers, final)
	dir, err := os.MkdirTemp(peers, "tmp-c-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir) // gone after the rename, unless the build failed
	prefix := filepath.Join(dir, "prefix")
	// make's own variables from an enclosing `make test` (jobserver, flags)
	// are not for this make.
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "GNUMAKEFLAGS":
			continue
		}
		env = append(env, kv)
	}
	run := func(name string, args ...string) (string, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir = repo
		cmd.Env = append(env, "PKG_CONFIG_PATH="+filepath.Join(prefix, "lib", "pkgconfig"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%v: %v\n%s%s", cmd.Args, err, out.String(), errb.String())
		}
		return out.String(), nil
	}
	if _, err := run("make", "--no-print-directory", "-s", "lib", "install",
		"LIB_BUILD="+filepath.Join(dir, "build"), "PREFIX="+prefix); err != nil {
		return "", err
	}
	flags, err := run("pkg-config", "--cflags", "--libs", "ipcarc")
	if err != nil {
		return "", err
	}
	// The prefix moves with the rename: the loader finds the library
	// relative to the executable.
	args := append([]string{"-O2", "-Wall", "-Werror", filepath.Join("examples", "cpeer", "cpeer.c")},
		strings.Fields(flags)...)
	args = append(args, "-Wl,-rpath,$ORIGIN/prefix/lib", "-o", filepath.Join(dir, "cpeer"))
	if _, err := run("cc", args...); err != nil {
		return "", err
	}
	os.RemoveAll(filepath.Join(dir, "build")) // objects: only the prefix and cpeer are kept
	if err := os.Rename(dir, final); err != nil {
		// Another test process renamed its identical build first: use it.
		if _, serr := os.Stat(exe); serr == nil {
			return exe, nil
		}
		return "", err
	}
	return exe, nil
}

// pruneOldPeerBuilds removes C peer builds of other inputs (and abandoned
// temporary directories) untouched for an hour: a concurrent test run of
// another tree state may still be using a younger one.
func pruneOldPeerBuilds(dir, keep string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if p == keep || !(strings.HasPrefix(e.Name(), "c-") || strings.HasPrefix(e.Name(), "tmp-c-")) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.RemoveAll(p)
		}
	}
}

func buildRustPeer() (string, error) {
	repo, err := filepath.Abs(".")
	if err != nil {
		return "", err
	}
	target := filepath.Join(repo, "build", "cargo")
	cmd := exec.Command("cargo", "build", "--release", "--offline", "--locked", "--quiet",
		"--manifest-path", filepath.Join(repo, "examples", "rustpeer", "Cargo.toml"))
	// Explicit, so the binary is where we look even when the environment
	// sets another target dir.
	cmd.Env = append(os.Environ(), "CARGO_TARGET_DIR="+target)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %v\n%s", cmd.Args, err, msg)
	}
	return filepath.Join(target, "release", "rustpeer"), nil
}

// errSkip is a build that cannot happen on this machine: the tests that need
// it skip, saying why.
type errSkip string

func (e errSkip) Error() string { return string(e) }

func (b *peerBuild) get(t *testing.T, tool, lang string, build func() (string, error)) peer {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s is not on PATH, so the %s peer cannot be built: %v (%s)", tool, lang, err, toolInstall(tool))
	}
	b.once.Do(func() { b.path, b.err = build() })
	var skip errSkip
	if errors.As(b.err, &skip) {
		t.Skipf("the %s peer cannot be built: %v", lang, skip)
	}
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
				if g, err := a.Lock(); !errors.Is(err, ErrOwnerDead) || g != nil {
					t.Errorf("Lock = %v, %v; want nil, ErrOwnerDead", g, err)
				}
				if v, _ := a.Load(); v.N != 4242 {
					t.Errorf("value after the peer died = %d, want its 4242", v.N)
				}
			})
			if t.Failed() {
				return
			}
			if l := checker.run(t, "poisoned", name); l != "poisoned=1" {
				t.Fatalf("%s peer after the owner died: %q, want poisoned=1", checker.lang, l)
			}
			if _, err := a.Lock(); !errors.Is(err, ErrPoisoned) {
				t.Errorf("Lock while poisoned = %v, want ErrPoisoned", err)
			}
			mustRecover(t, a)
			if l := checker.run(t, "poisoned", name); l != "poisoned=0" {
				t.Fatalf("%s peer after Recover: %q, want poisoned=0", checker.lang, l)
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
// refused with EPROTOTYPE (Go's ErrTypeMismatch, Rust's Error::TypeMismatch)
// naming the field, and leave
// the segment unharmed: value, reference count and holders unchanged.
func TestPeerTypeMismatchRefused(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{N: 99}, WithTypeTag(peerTag))
	// C names the errno, Rust the crate's Error case (Go's ErrTypeMismatch).
	refused := map[string]string{"c": "refused EPROTOTYPE", "rust": "refused TypeMismatch"}
	cases := []struct{ cmd, want string }{
		{"badsize", "%s value size"},
		{"badtag", "%s type tag"},
		{"read", "n=99"}, // and the right type still attaches
	}
	for _, k := range peerKinds {
		for _, c := range cases {
			t.Run(k.lang+"-"+c.cmd, func(t *testing.T) {
				p := k.get(t)
				want := c.want
				if strings.Contains(want, "%s") {
					want = fmt.Sprintf(want, refused[k.lang])
				}
				if l := p.run(t, c.cmd, name); l != want {
					t.Fatalf("%s peer %s: %q, want %q", p.lang, c.cmd, l, want)
				}
				if v, err := a.Load(); err != nil || v.N != 99 {
					t.Fatalf("Load after the refusal = %d, %v; want 99", v.N, err)
				}
				if rc, _ := a.RefCount(); rc != 1 {
					t.Fatalf("refcount after the refusal = %d, want 1", rc)
				}
				st, err := a.Info()
				if err != nil || len(st.Holders) != 1 || !st.Holders[0].Self {
					t.Fatalf("holders after the refusal = %+v, %v; want only this handle", st.Holders, err)
				}
			})
		}
	}
}

// toolInstall says how to get a tool a test needs on Debian, for its skip.
func toolInstall(tool string) string {
	switch tool {
	case "cargo":
		return "apt-get install cargo, or https://rustup.rs"
	case "python3":
		return "apt-get install python3 python3-venv"
	case "go":
		return "https://go.dev/dl"
	case "pkg-config":
		return "apt-get install pkg-config"
	}
	return "apt-get install gcc"
}

// inputsDir is a build directory under parent named by prefix and a hash of
// the inputs' names and contents: a build from unchanged inputs is reused.
func inputsDir(parent, prefix string, inputs []string) (string, error) {
	h := sha256.New()
	for _, f := range inputs {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	return filepath.Join(parent, fmt.Sprintf("%s-%x", prefix, h.Sum(nil)[:8])), nil
}
