//go:build linux && cgo

package ipcarc

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildExample builds ./examples/NAME into a temporary directory.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "./examples/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./examples/%s: %v\n%s", name, err, out)
	}
	return bin
}

// examples/workertable: a supervisor and 3 worker processes on one
// Slice[WorkerStatus]; the final table has every row done.
func TestExampleWorkerTable(t *testing.T) {
	bin := buildExample(t, "workertable")
	name := testName(t)
	out, err := exec.Command(bin, "-name", name, "-workers", "3", "-rounds", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "WORKER") {
		t.Fatalf("output:\n%s", out)
	}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) != 4 || f[2] != "done" || f[3] != "10" {
			t.Fatalf("row %q in:\n%s", l, out)
		}
	}
	if shmExists(name) {
		t.Fatal("the table outlived its processes")
	}
}

// examples/configpub: one publisher Stores JSON documents in a Slice[byte];
// 2 reader processes Wait and Load each, parse it, and stop at the final one.
func TestExampleConfigPub(t *testing.T) {
	bin := buildExample(t, "configpub")
	name := testName(t)
	out, err := exec.Command(bin, "-name", name, "-readers", "2", "-versions", "4").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"published version 4", "reader 0: config version 4", "reader 1: config version 4"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if shmExists(name) {
		t.Fatal("the segment outlived its processes")
	}
}
