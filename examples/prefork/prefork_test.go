//go:build linux && cgo

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildPrefork builds this command once per test into a temporary directory.
func buildPrefork(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "prefork")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// shmLeft lists /dev/shm entries of this test process.
func shmLeft(t *testing.T, prefix string) []string {
	t.Helper()
	ents, err := os.ReadDir("/dev/shm")
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			left = append(left, e.Name())
		}
	}
	return left
}

// Ensure that the example, run as real processes (a supervisor and N
// workers of the built binary), counts exactly N x K requests and their
// bytes lock-free, in both modes (loopback HTTP and a loop), that every
// worker's Notify moved the version the supervisor Waits on, and that
// nothing is left in /dev/shm once the supervisor exits.
func TestPreforkExactTotals(t *testing.T) {
	exe := buildPrefork(t)
	prefix := fmt.Sprintf("ipcarc-test-%d-", os.Getpid())
	for _, tc := range []struct {
		mode string
		n    int
		k    uint64
	}{{"http", 4, 300}, {"loop", 6, 20000}, {"http", 1, 1}} {
		t.Run(fmt.Sprintf("%s-%dx%d", tc.mode, tc.n, tc.k), func(t *testing.T) {
			name := fmt.Sprintf("%sprefork-%s-%d", prefix, tc.mode, tc.n)
			t.Cleanup(func() { os.Remove("/dev/shm/" + name) })
			out, err := exec.Command(exe, "-name", name, "-mode", tc.mode, "-workers", fmt.Sprint(tc.n),
				"-requests", fmt.Sprint(tc.k)).CombinedOutput()
			if err != nil {
				t.Fatalf("prefork: %v\n%s", err, out)
			}
			r, b := uint64(tc.n)*tc.k, uint64(tc.n)*expectedBytes(tc.k)
			want := fmt.Sprintf("total: requests=%d bytes=%d (expected requests=%d bytes=%d)\n", r, b, r, b)
			if !strings.HasSuffix(string(out), want) {
				t.Fatalf("output does not end with %q:\n%s", want, out)
			}
			for i := 0; i < tc.n; i++ {
				w := fmt.Sprintf("worker %d: requests=%d bytes=%d\n", i, tc.k, expectedBytes(tc.k))
				if !strings.Contains(string(out), w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
			// Each worker notified once per 64 requests and once at its end.
			if w := fmt.Sprintf("notifies: %d\n", uint64(tc.n)*(tc.k/notifyEvery+1)); !strings.Contains(string(out), w) {
				t.Fatalf("output lacks %q:\n%s", w, out)
			}
			if left := shmLeft(t, prefix); len(left) != 0 {
				t.Fatalf("left in /dev/shm: %v", left)
			}
		})
	}
}

// Ensure that bad flags are refused before anything is created, and that a
// worker that fails (here: started on a segment that does not exist) makes
// the supervisor's own run fail with nothing left behind.
func TestPreforkRefusals(t *testing.T) {
	exe := buildPrefork(t)
	prefix := fmt.Sprintf("ipcarc-test-%d-", os.Getpid())
	name := prefix + "prefork-bad"
	for _, args := range [][]string{
		{"-workers", "0"}, {"-workers", "65"}, {"-mode", "udp"}, {"-role", "nobody"},
		{"-role", "worker", "-index", "64"}, {"-role", "worker"},
	} {
		out, err := exec.Command(exe, append([]string{"-name", name}, args...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "prefork ") {
			t.Fatalf("%v: err %v, output %q: want a refusal", args, err, out)
		}
	}
	if left := shmLeft(t, prefix); len(left) != 0 {
		t.Fatalf("left in /dev/shm: %v", left)
	}
}
