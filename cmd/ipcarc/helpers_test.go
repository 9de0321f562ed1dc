//go:build linux && cgo

package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ipcarc/ipcarc"
)

// -update rewrites the golden JSON files in testdata/ from what the command
// prints now.
var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// counter is the value of the tests' segments (plain data, no pointers).
type counter struct {
	N     uint64
	Spare [7]uint64
}

type result struct {
	stdout, stderr string
	code           int
}

// ipc runs the command in this process, as main would.
func ipc(args ...string) result {
	var o, e bytes.Buffer
	code := run(args, &o, &e)
	return result{o.String(), e.String(), code}
}

// mustIPC runs the command in process and fails unless it exits with want.
func mustIPC(t *testing.T, want int, args ...string) result {
	t.Helper()
	r := ipc(args...)
	if r.code != want {
		t.Fatalf("ipcarc %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// testName is a segment name of this test, under the prefix the project's
// tests share (ipcarc-test-<pid>-), so that a leak is seen.
func testName(t *testing.T) string {
	n := strings.NewReplacer("/", "-", " ", "-", "#", "-").Replace(t.Name())
	return fmt.Sprintf("ipcarc-test-%d-cmd-%s", os.Getpid(), n)
}

// removeAtEnd removes the segment name when the test ends.
func removeAtEnd(t *testing.T, name string) {
	t.Cleanup(func() { os.Remove(filepath.Join("/dev/shm", name)) })
}

// newSegment creates name, held by this process until the test ends.
func newSegment(t *testing.T, name string, opts ...ipcarc.Option) *ipcarc.Arc[counter] {
	t.Helper()
	removeAtEnd(t, name)
	a, err := ipcarc.New(name, counter{N: 1}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// keptSegment creates name with no holder left: it stays until removed.
func keptSegment(t *testing.T, name string) {
	t.Helper()
	removeAtEnd(t, name)
	a, err := ipcarc.New(name, counter{}, ipcarc.WithLifetime(ipcarc.UntilRemoved))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

func shmExists(name string) bool {
	_, err := os.Lstat(filepath.Join("/dev/shm", name))
	return err == nil
}

var built struct {
	once sync.Once
	dir  string
	err  error
}

// binary builds the command once per test binary, for what needs a
// separate process (the shells' completion, the owner-side child).
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "ipcarc-cmd-test-")
		if built.err != nil {
			return
		}
		gotool, err := exec.LookPath("go")
		if err != nil {
			gotool = goFromEnv()
		}
		out, err := exec.Command(gotool, "build", "-o", filepath.Join(built.dir, "ipcarc"), ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return filepath.Join(built.dir, "ipcarc")
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// goFromEnv is the go command when it is not on PATH: $GOROOT/bin/go (the
// go command sets GOROOT for the tests it runs), else plain "go".
func goFromEnv() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "go"
}
