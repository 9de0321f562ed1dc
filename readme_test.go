//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// README's quickstart compiles as written and does what it says: its Go
// block, saved as a program in a module of its own (the library replaced by
// this checkout), run as "create" in one process and "worker" in another,
// prints "done: 1", and leaves nothing in /dev/shm.
func TestREADMEQuickstart(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = goFromEnv()
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src := quickstartBlock(t, string(readme))
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module quickstart\n\ngo 1.26\n\nrequire github.com/ipcarc/ipcarc v0.0.0\n\nreplace github.com/ipcarc/ipcarc => " + root + "\n"
	sum, _ := os.ReadFile("go.sum")
	for f, b := range map[string][]byte{"main.go": []byte(src), "go.mod": []byte(gomod), "go.sum": sum} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "quickstart")
	build := exec.Command(gotool, "build", "-mod=mod", "-o", exe, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the README's quickstart does not build: %v\n%s\n%s", err, out, src)
	}
	seg := "/dev/shm/quickstart-jobs"
	if _, err := os.Stat(seg); err == nil {
		t.Skip("a quickstart segment already exists (someone is running the quickstart): not touching it")
	}
	t.Cleanup(func() { os.Remove(seg) })

	create := exec.Command(exe, "create")
	out, err := create.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	create.Stderr = os.Stderr
	if err := create.Start(); err != nil {
		t.Fatal(err)
	}
	defer create.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "created") {
		t.Fatalf("create said %q, want \"created ...\"", lines.Text())
	}
	worker, err := exec.Command(exe, "worker").CombinedOutput()
	if err != nil || !strings.Contains(string(worker), "worker: one job done") {
		t.Fatalf("worker: %v: %s", err, worker)
	}
	// Read to EOF first, then Wait (Wait closes the pipe: reading after it
	// could lose the last line).
	last := make(chan string, 1)
	go func() {
		var l string
		for lines.Scan() {
			l = lines.Text()
		}
		last <- l
	}()
	select {
	case l := <-last:
		if err := create.Wait(); err != nil || l != "done: 1" {
			t.Fatalf("create ended %v, last line %q; want \"done: 1\"", err, l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("create did not end after the worker's write")
	}
	if _, err := os.Stat(seg); err == nil {
		t.Fatal("the quickstart left /dev/shm/quickstart-jobs behind")
	}
}

// quickstartBlock is the first ```go block after "## Quickstart".
func quickstartBlock(t *testing.T, readme string) string {
	t.Helper()
	i := strings.Index(readme, "\n## Quickstart")
	if i < 0 {
		t.Fatal("README has no Quickstart section")
	}
	rest := readme[i:]
	j := strings.Index(rest, "```go\n")
	if j < 0 {
		t.Fatal("README's Quickstart has no Go block")
	}
	rest = rest[j+len("```go\n"):]
	k := strings.Index(rest, "\n```")
	if k < 0 {
		t.Fatal("README's Quickstart Go block is not closed")
	}
	return rest[:k+1]
}

// README is read in ten minutes: at most 250 lines, with a table of contents
// whose links name its sections.
func TestREADMEShort(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if n := strings.Count(s, "\n"); n > 250 {
		t.Errorf("README.md has %d lines, want at most 250", n)
	}
	if !strings.Contains(s, "## Contents") {
		t.Fatal("README.md has no Contents")
	}
	for _, h := range []string{"Install", "Quickstart", "Semantics", "Languages", "Trust model", "Performance"} {
		if !strings.Contains(s, "\n## "+h) || !strings.Contains(s, "(#"+strings.ToLower(strings.ReplaceAll(h, " ", "-"))+")") {
			t.Errorf("README.md: section %q missing or not in the contents", h)
		}
	}
}
