//go:build linux && cgo

package ipcarc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Tests of the ipcarc command against the library: --version, --json of
// every subcommand (compared with the library's own data), rm of several
// names and patterns, ls's owner and mode. Each runs the command as a
// separate process. Help, usage, completion and the JSON's shape (golden
// files) are tested in cmd/ipcarc, in process.

// decodeStrict decodes s into v, refusing fields v does not know, so that
// the test's idea of the JSON stays in step with the command's.
func decodeStrict(t *testing.T, what, s string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, s)
	}
}

// cliVersion is `ipcarc version --json`.
type cliVersion struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Time      string `json:"time"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
}

// goVersionM reads what `go version -m` says of the binary exe: the build
// information the command reports.
func goVersionM(t *testing.T, exe string) cliVersion {
	t.Helper()
	out, err := exec.Command(goTool(), "version", "-m", exe).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var v cliVersion
	for i, l := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(l), "\t")
		switch {
		case i == 0:
			_, v.GoVersion, _ = strings.Cut(l, ": ")
		case len(f) >= 3 && f[0] == "mod":
			v.Version = f[2]
		case len(f) == 2 && f[0] == "build":
			k, val, _ := strings.Cut(f[1], "=")
			switch k {
			case "vcs.revision":
				v.Revision = val
			case "vcs.time":
				v.Time = val
			case "vcs.modified":
				v.Modified = val == "true"
			}
		}
	}
	return v
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return goFromEnv()
}

// buildCommand builds ./cmd/ipcarc with extra go build flags into the test's
// temporary directory.
func buildCommand(t *testing.T, flags ...string) (string, error) {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "ipcarc")
	args := append(append([]string{"build"}, flags...), "-o", exe, "./cmd/ipcarc")
	if out, err := exec.Command(goTool(), args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return exe, nil
}

// Ensure that --version (and `version`, and -V) prints the build information
// as `go version -m` reads it from the binary: "(devel)" without version
// control information, the revision, its time and the modified flag with it.
func TestCLIVersion(t *testing.T) {
	check := func(t *testing.T, exe string) cliVersion {
		t.Helper()
		want := goVersionM(t, exe)
		var got cliVersion
		decodeStrict(t, "version --json", mustCLI(t, exe, 0, "version", "--json").stdout, &got)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("version --json differs from go version -m (-go +ipcarc):\n%s", d)
		}
		var again cliVersion
		decodeStrict(t, "--version --json", mustCLI(t, exe, 0, "--version", "--json").stdout, &again)
		if again != got {
			t.Errorf("--version --json = %+v, version --json = %+v", again, got)
		}
		text := mustCLI(t, exe, 0, "--version").stdout
		for _, args := range [][]string{{"version"}, {"-V"}, {"-version"}} {
			if r := mustCLI(t, exe, 0, args...); r.stdout != text || r.stderr != "" {
				t.Errorf("ipcarc %q: %q, stderr %q; want what --version prints, %q", args, r.stdout, r.stderr, text)
			}
		}
		if !strings.HasPrefix(text, "ipcarc "+want.Version+"\n") || !strings.Contains(text, want.GoVersion) ||
			!strings.Contains(text, want.Revision) || !strings.Contains(text, want.Time) {
			t.Errorf("--version = %q; want the version first, then revision, time and Go version of %+v", text, want)
		}
		if (want.Revision != "") != strings.Contains(text, "revision") || want.Modified != strings.Contains(text, "modified") {
			t.Errorf("--version = %q; says revision or modified where go version -m says %+v", text, want)
		}
		return got
	}
	t.Run("as the tests build it", func(t *testing.T) { check(t, ipcarcCommand(t)) })
	t.Run("no vcs", func(t *testing.T) {
		exe, err := buildCommand(t, "-buildvcs=false")
		if err != nil {
			t.Fatal(err)
		}
		if v := check(t, exe); v.Version != "(devel)" || v.Revision != "" || v.Time != "" {
			t.Errorf("built with -buildvcs=false: %+v; want (devel) and no revision", v)
		}
	})
	t.Run("vcs", func(t *testing.T) {
		exe, err := buildCommand(t, "-buildvcs=true")
		if err != nil {
			t.Skipf("this checkout gives no version control information (%v)", err)
		}
		if v := check(t, exe); v.Revision == "" || v.Time == "" {
			t.Errorf("built with -buildvcs=true: %+v; want a revision and its time", v)
		}
	})
}

// cliGC is one element of `ipcarc gc --json`.
type cliGC struct {
	GCResult
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Ensure that --json of ls, inspect and gc decodes to what the library itself
// says (List, Inspect, GCName), including owner and mode, and that gc --json
// carries each failure as "error" with the exit code of the worst.
func TestCLIJSONMatchesLibrary(t *testing.T) {
	exe := ipcarcCommand(t)
	base := testName(t)
	pattern := base + "-*"
	live, kept, half, absent := base+"-live", base+"-kept", base+"-half", base+"-absent"
	mustNew(t, live, Counter{N: 1}, WithMode(0o640))
	c := startChild(t, "attach", live, "0")
	c.expect("attached")
	c.kill() // a dead holder for gc to reap
	k, err := New(kept, Counter{N: 2}, WithLifetime(UntilRemoved))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSegment(kept) })
	k.Close()
	writeHalfMade(t, half)
	ignoreAt := cmpopts.IgnoreFields(SegmentInfo{}, "At")

	// ls and inspect.
	var ls []SegmentInfo
	decodeStrict(t, "ls --json", mustCLI(t, exe, 0, "ls", "--json", pattern).stdout, &ls)
	all, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var want []SegmentInfo
	for _, s := range all {
		if strings.HasPrefix(s.Name, base+"-") {
			want = append(want, s)
		}
	}
	if len(want) != 3 {
		t.Fatalf("List finds %d of the test's 3 segments: %+v", len(want), want)
	}
	if d := cmp.Diff(want, ls, ignoreAt); d != "" {
		t.Errorf("ls --json differs from List (-List +ls):\n%s", d)
	}
	var none []SegmentInfo
	decodeStrict(t, "ls --json", mustCLI(t, exe, 0, "ls", "--json", absent).stdout, &none)
	if none == nil || len(none) != 0 {
		t.Errorf("ls --json of no segment = %#v, want []", none)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range want {
		var ins SegmentInfo
		decodeStrict(t, "inspect --json", mustCLI(t, exe, 0, "inspect", "--json", s.Name).stdout, &ins)
		lib := mustInspect(t, s.Name)
		if d := cmp.Diff(lib, ins, ignoreAt); d != "" {
			t.Errorf("inspect --json %s differs from Inspect (-Inspect +inspect):\n%s", s.Name, d)
		}
		fi, err := os.Stat(filepath.Join(shmDir, s.Name))
		if err != nil {
			t.Fatal(err)
		}
		if mode := fmt.Sprintf("%04o", fi.Mode().Perm()); ins.Mode.String() != mode || strconv.Itoa(ins.OwnerUID) != me.Uid || ins.Owner != me.Username {
			t.Errorf("inspect --json %s: owner_uid %d owner %q mode %q; the file is %s, %s (uid %s)",
				s.Name, ins.OwnerUID, ins.Owner, ins.Mode, mode, me.Username, me.Uid)
		}
	}
	if s, _ := findSeg(ls, live); s.Mode.String() != "0640" {
		t.Errorf("ls --json: the segment made WithMode(0o640) has mode %q", s.Mode)
	}

	// gc: a dry run is what GCName's dry run says, for the absent name too.
	// The half-made file (state INIT) is not ours to remove: an error in
	// both runs, which outranks the absent name's refusal.
	r := mustCLI(t, exe, 1, "gc", "--dry-run", "--json", absent, pattern)
	var dry []cliGC
	decodeStrict(t, "gc --dry-run --json", r.stdout, &dry)
	if strings.Count(r.stderr, "\n") != 2 || !strings.Contains(r.stderr, absent) || !strings.Contains(r.stderr, half) {
		t.Errorf("gc --dry-run --json stderr %q; want one line naming %s and one naming %s", r.stderr, absent, half)
	}
	var names []string
	for _, g := range dry {
		names = append(names, g.Name)
		res, err := GCName(g.Name, DryRun())
		if d := cmp.Diff(res, g.GCResult, cmpopts.IgnoreFields(GCResult{}, "Err")); d != "" {
			t.Errorf("gc --dry-run --json %s differs from GCName (-GCName +gc):\n%s", g.Name, d)
		}
		if wantErr := ""; err != nil && g.Error != err.Error() || err == nil && g.Error != wantErr {
			t.Errorf("gc --dry-run --json %s: error %q; GCName says %v", g.Name, g.Error, err)
		}
		if wantCode := map[string]string{absent: "not_found", half: "corrupt"}[g.Name]; g.Code != wantCode {
			t.Errorf("gc --dry-run --json %s: code %q, want %q (error %q)", g.Name, g.Code, wantCode, g.Error)
		}
	}
	slices.Sort(names)
	if wantNames := []string{absent, half, kept, live}; !slices.Equal(names, wantNames) {
		t.Fatalf("gc --dry-run --json reports %v, want %v", names, wantNames)
	}
	// A real run does what the dry run said.
	var real []cliGC
	decodeStrict(t, "gc --json", mustCLI(t, exe, 1, "gc", "--json", pattern).stdout, &real)
	ignoreDry := cmpopts.IgnoreFields(GCResult{}, "DryRun", "Err")
	for _, g := range real {
		i := slices.IndexFunc(dry, func(d cliGC) bool { return d.Name == g.Name })
		if i < 0 || g.DryRun || g.Error != dry[i].Error {
			t.Errorf("gc --json: %+v, not in the dry run or failed", g)
			continue
		}
		if d := cmp.Diff(dry[i], g, ignoreDry); d != "" {
			t.Errorf("gc --json %s did not do what the dry run said (-dry +real):\n%s", g.Name, d)
		}
	}
	if len(real) != 3 || !shmExists(half) || !shmExists(kept) {
		t.Errorf("gc --json: %+v; half-made left %v, kept left %v (want both left)", real, shmExists(half), shmExists(kept))
	}
	if l, ok := findSeg(lsJSON(t, exe, pattern), live); !ok || l.DeadHolders != 0 || l.LiveHolders != 1 {
		t.Errorf("after gc --json: %+v; want the dead holder reaped", l)
	}
	var empty []cliGC
	decodeStrict(t, "gc --json", mustCLI(t, exe, 0, "gc", "--json", absent+"*").stdout, &empty)
	if empty == nil || len(empty) != 0 {
		t.Errorf("gc --json of no segment = %#v, want []", empty)
	}
}

// Ensure that ls shows each segment's owner and permissions (as lsipc does)
// and that --no-headings drops only the heading.
func TestCLILsOwnerMode(t *testing.T) {
	exe := ipcarcCommand(t)
	base := testName(t)
	a, b := base+"-a", base+"-b"
	mustNew(t, a, Counter{})
	mustNew(t, b, Counter{}, WithMode(0o640))
	if err := os.Chmod(filepath.Join(shmDir, b), 0o644); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	perms := map[string]string{}
	for _, n := range []string{a, b} {
		fi, err := os.Stat(filepath.Join(shmDir, n))
		if err != nil {
			t.Fatal(err)
		}
		perms[n] = fi.Mode().Perm().String()[1:] // "-rw-------" without the type
	}
	if perms[b] != "rw-r--r--" {
		t.Fatalf("chmod 0644 gave %s", perms[b])
	}
	out := mustCLI(t, exe, 0, "ls", base+"-*").stdout
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !slices.Equal(strings.Fields(lines[0])[:4], []string{"NAME", "OWNER", "MODE", "STATE"}) {
		t.Fatalf("ls: want a heading NAME OWNER MODE STATE ... and two rows:\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if p, ok := perms[f[0]]; !ok || f[1] != me.Username || f[2] != p {
			t.Errorf("ls row %q: want owner %s and mode %s", l, me.Username, p)
		}
	}
	fields := func(lines []string) [][]string {
		var f [][]string
		for _, l := range lines {
			f = append(f, strings.Fields(l))
		}
		return f
	}
	for _, flag := range []string{"--no-headings", "--noheadings"} {
		got := mustCLI(t, exe, 0, "ls", flag, base+"-*").stdout
		if d := cmp.Diff(fields(lines[1:]), fields(strings.Split(strings.TrimSuffix(got, "\n"), "\n"))); d != "" {
			t.Errorf("ls %s: want the rows of ls without the heading (-ls +ls %s):\n%s", flag, flag, d)
		}
	}
	r := mustCLI(t, exe, 0, "inspect", b).stdout
	if !strings.Contains(r, "0644 (rw-r--r--)") || !strings.Contains(r, me.Username+" (uid "+me.Uid+")") {
		t.Errorf("inspect lacks the owner and mode:\n%s", r)
	}

	t.Run("unknown uid", func(t *testing.T) {
		const uid = 3999999
		if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
			t.Skipf("uid %d has a user here", uid)
		}
		if err := os.Chown(filepath.Join(shmDir, b), uid, -1); err != nil {
			t.Skipf("cannot give a file to another uid (%v): needs root", err)
		}
		if s, _ := findSeg(lsJSON(t, exe, base+"-*"), b); s.OwnerUID != uid || s.Owner != strconv.Itoa(uid) {
			t.Errorf("ls --json: owner_uid %d owner %q; want %d for both", s.OwnerUID, s.Owner, uid)
		}
		for _, l := range strings.Split(mustCLI(t, exe, 0, "ls", "--no-headings", base+"-*").stdout, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == b && f[1] != strconv.Itoa(uid) {
				t.Errorf("ls row %q: want owner %d", l, uid)
			}
		}
	})
}

// cliRm is one element of `ipcarc rm --json`.
type cliRm struct {
	Name    string `json:"name"`
	Removed bool   `json:"removed"`
	Error   string `json:"error"`
	Code    string `json:"code"`
}

// Ensure that rm takes several names and patterns: each is removed or
// reported on a line of its own, --json gives every outcome in order, and the
// exit code is the worst (usage, then error, then refused).
func TestCLIRmSeveral(t *testing.T) {
	exe := ipcarcCommand(t)
	base := testName(t)
	kept := func(name string) string {
		a, err := New(name, Counter{}, WithLifetime(UntilRemoved))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeSegment(name) })
		a.Close()
		return name
	}
	k1, k2 := kept(base+"-k1"), kept(base+"-k2")
	p1, p2 := kept(base+"-p1-pat"), kept(base+"-p2-pat")
	live, absent := base+"-live", base+"-absent"
	mustNew(t, live, Counter{}) // this process holds it: refused without --force
	liveErr, absentErr := Remove(live), Remove(absent)
	if !errors.Is(liveErr, ErrBusy) || !errors.Is(absentErr, ErrNotExist) {
		t.Fatalf("Remove: %v, %v; want busy and absent", liveErr, absentErr)
	}

	r := mustCLI(t, exe, 3, "rm", "--json", k1, live, base+"-*-pat", absent, k2)
	var got []cliRm
	decodeStrict(t, "rm --json", r.stdout, &got)
	want := []cliRm{{k1, true, "", ""}, {live, false, liveErr.Error(), "busy"}, {p1, true, "", ""}, {p2, true, "", ""},
		{absent, false, absentErr.Error(), "not_found"}, {k2, true, "", ""}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rm --json (-want +got):\n%s", d)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], live) || !strings.Contains(lines[0], "--force") ||
		!strings.Contains(lines[1], absent) {
		t.Errorf("rm stderr:\n%s\nwant one line for %s (with the --force hint), then one for %s", r.stderr, live, absent)
	}
	for _, n := range []string{k1, k2, p1, p2} {
		if shmExists(n) {
			t.Errorf("rm left %s", n)
		}
	}
	if !shmExists(live) {
		t.Fatal("rm removed a segment with a live holder without --force")
	}

	// Without --json: nothing on stdout; an error outranks a refusal, a
	// usage error both, and the others are still removed.
	corrupt := base + "-corrupt"
	img := segmentImage(t)
	img[8] ^= 0xff // the layout version
	writeImage(t, corrupt, img)
	k3, k4 := kept(base+"-k3"), kept(base+"-k4")
	for _, c := range []struct {
		args  []string
		code  int
		lines int
	}{
		{[]string{"rm", absent, corrupt, k3}, 1, 2},
		{[]string{"rm", "bad/name", absent, k4}, 2, 2},
		{[]string{"rm", base + "-nothing-*"}, 0, 0},
	} {
		r := runCLI(t, exe, c.args...)
		if r.code != c.code || r.stdout != "" || strings.Count(r.stderr, "\n") != c.lines {
			t.Errorf("ipcarc %q: exit %d stdout %q stderr %q; want exit %d and %d lines on stderr",
				c.args, r.code, r.stdout, r.stderr, c.code, c.lines)
		}
	}
	if shmExists(k3) || shmExists(k4) || !shmExists(corrupt) {
		t.Errorf("after rm: k3 left %v, k4 left %v (want both removed), corrupt left %v (want kept)",
			shmExists(k3), shmExists(k4), shmExists(corrupt))
	}
	// --force takes the live one and the corrupt one; a pattern that now
	// matches nothing is no error.
	r = mustCLI(t, exe, 0, "rm", "--force", "--json", live, corrupt, base+"-*-pat")
	got = nil
	decodeStrict(t, "rm --force --json", r.stdout, &got)
	if d := cmp.Diff([]cliRm{{live, true, "", ""}, {corrupt, true, "", ""}}, got); d != "" || r.stderr != "" {
		t.Errorf("rm --force --json (-want +got):\n%s\nstderr %q", d, r.stderr)
	}
}
