//go:build linux && cgo

package ipcarc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// Tests of the lock counters (Inspect's view of them after real processes
// contend, die and are reaped) and of `ipcarc top` and `ipcarc inspect`,
// which show them.

func init() {
	// top-contend NAME GOFILE N: attach, say "ready", wait for GOFILE to
	// exist, say "locking", then Lock/increment/Unlock: N times, or (N = 0)
	// until the value's Spare[0] is set. Says "done COUNT" with the Lock
	// calls made.
	childRoles["top-contend"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		n, _ := strconv.Atoi(args[2])
		fmt.Println("ready")
		for {
			if _, err := os.Stat(args[1]); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		fmt.Println("locking")
		count := 0
		for n == 0 || count < n {
			g, err := a.Lock()
			if err != nil {
				return err
			}
			count++
			v := g.Get()
			v.N++
			stop := v.Spare[0] != 0
			if err := g.Unlock(); err != nil {
				return err
			}
			if n == 0 && stop {
				break
			}
		}
		fmt.Printf("done %d\n", count)
		return nil
	}
	// top-lock-stay NAME N: attach, make N locked increments, say "done",
	// and wait to be killed (never closing).
	childRoles["top-lock-stay"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(args[1])
		if err := lockedIncrements(a, n); err != nil {
			return err
		}
		fmt.Println("done")
		time.Sleep(time.Hour)
		return nil
	}
}

// topRow is one object of `ipcarc top --json`.
type topRow struct {
	Name string `json:"name"`
	Rates
	ContendedPerSec float64  `json:"contended_per_sec"`
	Counters        Counters `json:"counters"`
	Waiters         int      `json:"waiters"`
	LiveHolders     int      `json:"live_holders"`
	DeadHolders     int      `json:"dead_holders"`
	Locked          bool     `json:"locked"`
	LockOwnerTID    int      `json:"lock_owner_tid"`
	LockOwnerDied   bool     `json:"lock_owner_died"`
	Shape           string   `json:"shape"`
	Len             uint64   `json:"len"`
	Capacity        uint64   `json:"capacity"`
	LockOwnerPID    int      `json:"lock_owner_pid"`
	HeldForNs       *int64   `json:"held_for_ns"`
	State           string   `json:"state"`
	Corrupt         bool     `json:"corrupt"`
	FirstReading    bool     `json:"first_reading"`
	Note            string   `json:"note"`
}

// decodeTop decodes one JSON array of top rows, refusing fields the test
// does not know (so that the two stay in step).
func decodeTop(t *testing.T, s string) []topRow {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var rows []topRow
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("top --json: %v\n%s", err, s)
	}
	return rows
}

func topJSONOnce(t *testing.T, exe string, args ...string) []topRow {
	t.Helper()
	r := mustCLI(t, exe, 0, append([]string{"top", "--once", "--json"}, args...)...)
	return decodeTop(t, r.stdout)
}

// counterFields lists the fields of c by JSON name.
func counterFields(c Counters) map[string]uint64 {
	v := reflect.ValueOf(c)
	out := map[string]uint64{}
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		out[name] = v.Field(i).Uint()
	}
	return out
}

// between fails unless every counter of got lies between lo's and hi's.
func between(t *testing.T, lo, got, hi Counters) {
	t.Helper()
	l, g, h := counterFields(lo), counterFields(got), counterFields(hi)
	for k := range g {
		if g[k] < l[k] || g[k] > h[k] {
			t.Errorf("counter %s = %d, not between %d (Inspect before) and %d (after)", k, g[k], l[k], h[k])
		}
	}
}

// startContenders starts n top-contend children on a's segment with count
// N each, waits until all are ready, and lets them go while a holds the lock
// (one acquisition of a's), so that each finds it held at its first Lock:
// contention is certain, not left to how the children are scheduled.
func startContenders(t *testing.T, a *Arc[Counter], n, count int) []*child {
	t.Helper()
	gofile := filepath.Join(t.TempDir(), "go")
	var cs []*child
	for i := 0; i < n; i++ {
		cs = append(cs, startChild(t, "top-contend", a.Name(), gofile, strconv.Itoa(count)))
	}
	for _, c := range cs {
		c.expect("ready")
	}
	g, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gofile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.expect("locking")
	}
	for _, c := range cs { // into Lock, past its spinning: asleep on the mutex
		waitSleeping(t, c.cmd.Process.Pid)
	}
	if err := g.Unlock(); err != nil {
		t.Fatal(err)
	}
	return cs
}

// doneCount waits for a contender's "done COUNT" and its exit.
func doneCount(t *testing.T, c *child) uint64 {
	t.Helper()
	l := c.expect("done ")
	n, err := strconv.ParseUint(strings.TrimPrefix(l, "done "), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	c.wait()
	return n
}

func lockN(t *testing.T, a *Arc[Counter], n int) {
	t.Helper()
	if err := lockedIncrements(a, n); err != nil {
		t.Fatal(err)
	}
}

// Ensure that `ipcarc top --once --json` shows what the library reads: while
// two processes contend, its counters lie between an Inspect before and one
// after, and it sees locks and contention; a segment nobody locks shows no
// rate and sorts last; once the contenders are gone, it equals Inspect.
func TestTopJSONMatchesInspect(t *testing.T) {
	exe := ipcarcCommand(t)
	name, idle := testName(t), testName(t)
	a := mustNew(t, name, Counter{})
	mustNew(t, idle, Counter{})
	cs := startContenders(t, a, 2, 0)
	deadline := time.Now().Add(30 * time.Second)
	for mustInspect(t, name).Counters.Contended == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the two contenders never contended")
		}
		time.Sleep(10 * time.Millisecond)
	}

	before := mustInspect(t, name)
	rows := topJSONOnce(t, exe, "--interval", "300ms", idle, name)
	after := mustInspect(t, name)
	if len(rows) != 2 || rows[0].Name != name || rows[1].Name != idle {
		t.Fatalf("top rows %+v; want %s (contended) then %s (idle)", rows, name, idle)
	}
	got := rows[0]
	between(t, before.Counters, got.Counters, after.Counters)
	if got.Interval < 300*time.Millisecond || got.Interval > 10*time.Second {
		t.Errorf("interval %v, want about 300ms", got.Interval)
	}
	if got.LocksPerSec <= 0 || got.ContendedFraction <= 0 || got.ContendedFraction > 1 || got.ContendedPerSec <= 0 || got.MeanWait <= 0 {
		t.Errorf("while two contend: locks/s %v contended %v (%v/s) mean wait %v; want all > 0",
			got.LocksPerSec, got.ContendedFraction, got.ContendedPerSec, got.MeanWait)
	}
	// The acquisitions top counted in its interval happened between the
	// two Inspects.
	if inInterval := uint64(got.LocksPerSec*got.Interval.Seconds() + 0.5); inInterval > after.Counters.Acquisitions-before.Counters.Acquisitions {
		t.Errorf("top counted %d acquisitions in its interval, but only %d happened around it",
			inInterval, after.Counters.Acquisitions-before.Counters.Acquisitions)
	}
	if got.MaxWait != time.Duration(got.Counters.WaitMaxNs) || got.LiveHolders != 3 || got.DeadHolders != 0 || got.State != "ready" || got.FirstReading {
		t.Errorf("top row %+v; want max wait from the counters, 3 live holders, ready", got)
	}
	idleInfo := mustInspect(t, idle)
	want := topRow{
		Name: idle, Rates: Rates{Interval: rows[1].Interval}, Counters: idleInfo.Counters,
		LiveHolders: 1, HeldForNs: new(int64), State: "ready", Shape: "value",
	}
	if d := cmp.Diff(want, rows[1]); d != "" {
		t.Errorf("idle segment's row (-want +got):\n%s", d)
	}

	// Stop the contenders (one acquisition more, ours), then top and Inspect
	// read the same still segment.
	g, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	g.Get().Spare[0] = 1
	g.Unlock()
	made := doneCount(t, cs[0]) + doneCount(t, cs[1]) + 2 // and ours: the gate's and the stop's
	rows = topJSONOnce(t, exe, name, "--interval=200ms")  // flags after the name
	info := mustInspect(t, name)
	if len(rows) != 1 {
		t.Fatalf("top %s: %d rows", name, len(rows))
	}
	wantRates := info.Counters.RatesSince(info.Counters, rows[0].Interval)
	wantRates.PoisonedNow = info.Poisoned
	want = topRow{
		Name: name, Rates: wantRates, Counters: info.Counters, Waiters: info.Waiters,
		LiveHolders: info.LiveHolders, DeadHolders: info.DeadHolders, HeldForNs: new(int64), State: info.State.String(), Shape: info.Shape.String(),
	}
	if d := cmp.Diff(want, rows[0]); d != "" {
		t.Errorf("top of a still segment differs from Inspect (-want +got):\n%s", d)
	}
	if info.Counters.Acquisitions != made || info.LiveHolders != 1 {
		t.Errorf("acquisitions %d, live holders %d; want %d (the Lock calls made), 1", info.Counters.Acquisitions, info.LiveHolders, made)
	}
}

// Ensure that top names the owner of a held lock and times how long it has
// seen it hold it: known when both readings saw it, null ("?") when the owner
// was first seen at the last reading.
func TestTopLockOwnerHeldFor(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	mustNew(t, name, Counter{})
	h := startChild(t, "hold", name)
	h.expect("locked")
	tid := mustInspect(t, name).LockOwnerTID
	row := topJSONOnce(t, exe, "--interval", "200ms", name)[0]
	if !row.Locked || row.LockOwnerTID != tid || row.HeldForNs == nil || *row.HeldForNs < int64(200*time.Millisecond) {
		t.Errorf("held lock: locked %v owner %d held for %v; want tid %d, held >= 200ms", row.Locked, row.LockOwnerTID, row.HeldForNs, tid)
	}
	if row.LockOwnerPID != h.cmd.Process.Pid {
		t.Errorf("held lock: owner pid %d, want the holder's %d", row.LockOwnerPID, h.cmd.Process.Pid)
	}
	r := mustCLI(t, exe, 0, "top", "--once", "--interval", "200ms", name)
	if !regexp.MustCompile(`tid ` + strconv.Itoa(tid) + `\s+\d[\d.]*(ms|s)\s`).MatchString(r.stdout) {
		t.Errorf("top's table does not show tid %d with a hold time:\n%s", tid, r.stdout)
	}
	h.kill()

	// The lock taken between top's two readings: an owner of unknown time.
	name2 := testName(t)
	a := mustNew(t, name2, Counter{})
	// top's first reading opens the file read-only, reads it and closes it:
	// the lock is taken after that close, and long before the second
	// reading 2s later.
	read := watchSegment(t, name2, unix.IN_CLOSE_NOWRITE)
	cmd := exec.Command(exe, "top", "--once", "--json", "--interval", "2s", name2)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read.wait(30 * time.Second)
	g, err := a.Lock() // pins this goroutine to its thread until Unlock
	if err != nil {
		t.Fatal(err)
	}
	ownTID := syscall.Gettid()
	err = cmd.Wait()
	g.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	row = decodeTop(t, out.String())[0]
	if !row.Locked || row.LockOwnerTID != ownTID || row.HeldForNs != nil {
		t.Errorf("lock taken between the readings: locked %v owner %d held for %v; want tid %d, null", row.Locked, row.LockOwnerTID, row.HeldForNs, ownTID)
	}
}

// Ensure that top prints plain tables when its output is not a terminal: no
// escape bytes, one table per refresh, one JSON array a line with --json,
// and exits 0 on SIGINT and SIGTERM.
func TestTopPlainWhenNotTerminal(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	mustNew(t, name, Counter{})
	r := mustCLI(t, exe, 0, "top", "--once", "--interval", "200ms")
	if strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, "LOCK/S") || !strings.Contains(r.stdout, name) {
		t.Errorf("top --once:\n%q\nwant a plain table naming %s", r.stdout, name)
	}
	for _, c := range []struct {
		sig  syscall.Signal
		json bool
	}{{syscall.SIGINT, false}, {syscall.SIGTERM, true}} {
		args := []string{"top", "--interval", "50ms", name}
		if c.json {
			args = append(args, "--json")
		}
		out := runUntil(t, exe, args, c.sig, func(s string) bool {
			if c.json {
				return strings.Count(s, "\n") >= 3
			}
			return strings.Count(s, "ipcarc top") >= 3
		})
		if strings.Contains(out, "\x1b") {
			t.Errorf("top %q to a pipe wrote escape bytes:\n%q", args, out)
		}
		if !c.json {
			if n := strings.Count(out, "LOCK/S"); n < 3 {
				t.Errorf("top to a pipe: %d tables, want >= 3:\n%s", n, out)
			}
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if rows := decodeTop(t, l); len(rows) != 1 || rows[0].Name != name {
				t.Errorf("top --json line %q: want one row for %s", l, name)
			}
		}
	}
}

// runUntil runs exe with args until its output satisfies enough, then sends
// sig and fails unless it exits 0.
func runUntil(t *testing.T, exe string, args []string, sig syscall.Signal, enough func(string) bool) string {
	t.Helper()
	cmd := exec.Command(exe, args...)
	var mu sync.Mutex
	var out bytes.Buffer
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		ok := enough(out.String())
		mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("top %q: not enough output in 30s:\n%s", args, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(sig)
	err = cmd.Wait()
	<-copied
	pr.Close()
	if err != nil {
		t.Errorf("top %q after %v: %v, want exit 0", args, sig, err)
	}
	return out.String()
}

// Ensure that top on a terminal clears the screen and homes the cursor at
// each refresh, fits the table to the window, and exits 0 on SIGINT; --once
// on a terminal prints plainly.
func TestTopRedrawsTerminal(t *testing.T) {
	exe := ipcarcCommand(t)
	var names []string
	for i := 0; i < 6; i++ {
		n := testName(t) + "-tty"
		mustNew(t, n, Counter{})
		names = append(names, n)
	}
	pattern := fmt.Sprintf("%s%d-*-tty", testPrefix(), os.Getpid())
	const clear = "\x1b[H\x1b[2J"
	out := ptyRun(t, exe, []string{"top", "--interval", "50ms", pattern}, func(s string) bool {
		return strings.Count(s, clear) >= 3
	})
	frames := strings.Split(out, clear)
	last := frames[len(frames)-2] // the last whole frame
	if !strings.Contains(last, "6 segment(s)") || !strings.Contains(last, "... and 4 more") || strings.Count(last, "-tty ") != 2 {
		t.Errorf("a 6-row terminal should show 2 of the 6 segments and say so:\n%s", last)
	}
	out = ptyRun(t, exe, []string{"top", "--once", "--interval", "50ms", pattern}, nil)
	if strings.Contains(out, "\x1b") || strings.Count(out, "-tty ") != len(names) {
		t.Errorf("top --once on a terminal: want all %d segments and no escapes:\n%q", len(names), out)
	}
}

// ptyRun runs exe with its stdout on a new 6-row pseudo-terminal and returns
// what it wrote there. With until, it sends SIGINT once the output satisfies
// it; either way it fails unless exe exits 0.
func ptyRun(t *testing.T, exe string, args []string, until func(string) bool) string {
	t.Helper()
	ptm, pts, err := openPty(6)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = pts, os.Stderr
	err = cmd.Start()
	pts.Close() // the child has its own: the master reads EIO once it exits and all is read
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out bytes.Buffer
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	text := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	if until != nil {
		for deadline := time.Now().Add(30 * time.Second); !until(text()); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("top %q on a terminal: not enough output in 30s:\n%q", args, text())
			}
		}
		cmd.Process.Signal(syscall.SIGINT)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("top %q on a terminal: %v, want exit 0", args, err)
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatalf("top %q: the terminal's output never ended", args)
	}
	return text()
}

// openPty opens a pseudo-terminal pair with the given number of rows.
func openPty(rows uint16) (ptm, pts *os.File, err error) {
	ptm, err = os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(ptm.Fd())
	if err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err == nil {
		var n uint32
		if n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN); err == nil {
			pts, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
		}
	}
	if err == nil {
		err = unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: 250})
	}
	if err != nil {
		ptm.Close()
		if pts != nil {
			pts.Close()
		}
		return nil, nil, err
	}
	return ptm, pts, nil
}

// Ensure that top keeps the command's conventions for bad arguments and
// absent segments: exit 2 or 3, one line on stderr.
func TestTopUsageAndAbsent(t *testing.T) {
	exe := ipcarcCommand(t)
	absent := testName(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"top", "--interval"}, 2},
		{[]string{"top", "--interval", "soon"}, 2},
		{[]string{"top", "--interval", "1ms"}, 2},
		{[]string{"top", "--bogus"}, 2},
		{[]string{"top", "--once", "[bad"}, 2},
		{[]string{"top", "--once", "bad/name"}, 2},
		{[]string{"top", "--once", absent}, 3},
		{[]string{"top", absent}, 3},
	} {
		r := runCLI(t, exe, c.args...)
		if r.code != c.code || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("ipcarc %q: exit %d stdout %q stderr %q; want exit %d and one line on stderr",
				c.args, r.code, r.stdout, r.stderr, c.code)
		}
	}
	if r := mustCLI(t, exe, 0, "help"); !strings.Contains(r.stdout, "ipcarc top") {
		t.Errorf("help does not mention top:\n%s", r.stdout)
	}
}

// Ensure that `ipcarc inspect` shows the counters: a "counters:" block in
// text, the same numbers as Inspect in JSON.
func TestInspectCountersShown(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{})
	lockN(t, a, 7)
	r := mustCLI(t, exe, 0, "inspect", name)
	if !strings.Contains(r.stdout, "\ncounters:\n") || !regexp.MustCompile(`(?m)^\s+acquisitions:\s+7$`).MatchString(r.stdout) {
		t.Errorf("inspect text lacks the counters (acquisitions 7):\n%s", r.stdout)
	}
	for k := range counterFields(Counters{}) {
		if !regexp.MustCompile(`(?m)^\s+` + k + `:\s+\d`).MatchString(r.stdout) {
			t.Errorf("inspect text lacks counter %s:\n%s", k, r.stdout)
		}
	}
	var info SegmentInfo
	if err := json.Unmarshal([]byte(mustCLI(t, exe, 0, "inspect", "--json", name).stdout), &info); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(mustInspect(t, name).Counters, info.Counters); d != "" {
		t.Errorf("inspect --json counters (-Inspect +command):\n%s", d)
	}
}

// Ensure that the counters record the demo's story: an owner killed inside
// its critical section is one owner death and one poisoning once the next
// Lock recovers it, and ClearPoison one clearing; reaping the dead holder
// loses none of its counts.
func TestInspectCountersOwnerDeath(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{})
	if c := mustInspect(t, name).Counters; c != (Counters{}) {
		t.Fatalf("a new segment's counters: %+v, want zero", c)
	}
	h := startChild(t, "hold", name)
	h.expect("locked")
	h.kill()
	if _, err := a.Lock(); !errors.Is(err, ErrOwnerDead) {
		t.Fatalf("Lock after the owner was killed: %v, want ErrOwnerDead", err)
	}
	want := Counters{Acquisitions: 2, OwnerDeaths: 1, Poisoned: 1}
	if d := cmp.Diff(want, mustInspect(t, name).Counters); d != "" {
		t.Errorf("after recovery (-want +got):\n%s", d)
	}
	mustRecover(t, a)
	want.Acquisitions++ // Recover's
	want.PoisonCleared = 1
	if d := cmp.Diff(want, mustInspect(t, name).Counters); d != "" {
		t.Errorf("after ClearPoison (-want +got):\n%s", d)
	}
	if n, err := a.Reap(); err != nil || n != 1 {
		t.Fatalf("Reap = %d, %v; want 1", n, err)
	}
	want.ReapedHolders = 1
	info := mustInspect(t, name)
	if d := cmp.Diff(want, info.Counters); d != "" || info.DeadHolders != 0 {
		t.Errorf("after Reap (dead holders %d) (-want +got):\n%s", info.DeadHolders, d)
	}
	r := mustCLI(t, exe, 0, "inspect", name)
	for _, re := range []string{`owner_deaths:\s+1\n`, `poisoned:\s+1\n`, `poison_cleared:\s+1\n`} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("inspect text lacks %s:\n%s", re, r.stdout)
		}
	}
}

// Ensure that acquisitions count every Lock exactly, across processes: two
// children making 20,000 each against this process's own, with contention
// and wait time recorded; one hold in 64 of each attachment is timed.
func TestInspectCountersExactUnderContention(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	const each, ours = 20000, 500
	cs := startContenders(t, a, 2, each)
	lockN(t, a, ours-1) // the gate was one
	made := doneCount(t, cs[0]) + doneCount(t, cs[1])
	if made != 2*each {
		t.Fatalf("children made %d locks, want %d", made, 2*each)
	}
	info := mustInspect(t, name)
	c := info.Counters
	if c.Acquisitions != made+ours {
		t.Errorf("acquisitions %d, want %d (%d by the children, %d by this process)", c.Acquisitions, made+ours, made, ours)
	}
	if c.Contended == 0 || c.WaitNs == 0 || c.WaitMaxNs == 0 || c.Slept > c.Contended || c.WaitMaxNs > c.WaitNs {
		t.Errorf("two contending: contended %d slept %d wait %dns max %dns; want contention and wait recorded",
			c.Contended, c.Slept, c.WaitNs, c.WaitMaxNs)
	}
	if want := uint64(2*(each/64) + ours/64); c.HoldSamples != want || c.HoldNs == 0 {
		t.Errorf("hold samples %d (%dns), want %d", c.HoldSamples, c.HoldNs, want)
	}
	if v, _ := a.Load(); v.N != made+ours-1 || c.OwnerDeaths != 0 || c.Poisoned != 0 { // the gate added nothing
		t.Errorf("value %d, owner deaths %d, poisoned %d", v.N, c.OwnerDeaths, c.Poisoned)
	}
}

// Ensure that a process locking alone is never counted as contended.
func TestInspectCountersAlone(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	lockN(t, a, 1000)
	c := mustInspect(t, name).Counters
	want := Counters{Acquisitions: 1000, HoldSamples: 1000 / 64, HoldNs: c.HoldNs}
	if d := cmp.Diff(want, c); d != "" || c.HoldNs == 0 {
		t.Errorf("one process locking alone (-want +got):\n%s", d)
	}
}

// Ensure that a dead holder's counts survive its reaping, by Reap and by
// `ipcarc gc`.
func TestInspectCountersSurviveReap(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{})
	const n1, n2 = 3000, 1234
	c1 := startChild(t, "top-lock-stay", name, strconv.Itoa(n1))
	c1.expect("done")
	c1.kill()
	if c := mustInspect(t, name).Counters; c.Acquisitions != n1 {
		t.Fatalf("before reaping: acquisitions %d, want %d", c.Acquisitions, n1)
	}
	if n, err := a.Reap(); err != nil || n != 1 {
		t.Fatalf("Reap = %d, %v; want 1", n, err)
	}
	info := mustInspect(t, name)
	if info.Counters.Acquisitions != n1 || info.Counters.ReapedHolders != 1 || info.DeadHolders != 0 {
		t.Errorf("after Reap: acquisitions %d reaped %d dead %d; want %d, 1, 0",
			info.Counters.Acquisitions, info.Counters.ReapedHolders, info.DeadHolders, n1)
	}
	c2 := startChild(t, "top-lock-stay", name, strconv.Itoa(n2))
	c2.expect("done")
	c2.kill()
	mustCLI(t, exe, 0, "gc", name)
	info = mustInspect(t, name)
	if info.Counters.Acquisitions != n1+n2 || info.Counters.ReapedHolders != 2 || info.DeadHolders != 0 {
		t.Errorf("after gc: acquisitions %d reaped %d dead %d; want %d, 2, 0",
			info.Counters.Acquisitions, info.Counters.ReapedHolders, info.DeadHolders, n1+n2)
	}
}

// Ensure that the demo runs, tells the counters in words, and leaves nothing
// in /dev/shm.
func TestDemoShowsCounters(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		gotool = goFromEnv()
	}
	exe := filepath.Join(t.TempDir(), "ipcarc-demo")
	if out, err := exec.Command(gotool, "build", "-o", exe, "./cmd/ipcarc-demo").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ipcarc-demo: %v\n%s", err, out)
	}
	cmd := exec.Command(exe)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"lock counters of /dev/shm/ipcarc-demo-",
		"the lock was taken ",
		"found the lock held and had to wait",
		"worker 3 waited ",
		"owner deaths: 1",
		"poison: set 1 time ",
		"cleared 1 time ",
		"closed the last handle: the segment is gone",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	if shmExists(fmt.Sprintf("ipcarc-demo-%d", cmd.Process.Pid)) {
		t.Errorf("the demo left its segment in /dev/shm")
	}
}
