//go:build linux && cgo

package ipcarc

import (
	"bytes"
	crand "crypto/rand"
	"errors"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests that root's gc and rm never run the library on memory another user
// can write (they act on such a segment in a child running as its owner),
// and that nothing unlinks a file that is not an ipcarc segment unless rm is
// forced. Each uses a second user, uid 65534, in a real child process.

const otherUID = 65534

func init() {
	// foreign-scribble PATH: as the file's owner, keep writing random bytes
	// over the table mutex's robust-list link (glibc's __list, bytes 24..40
	// of the mutex at header offset 256: the kind stays valid, so a locker
	// gets as far as unlock, which writes through the link), now and then
	// over the whole mutex and the whole header, reopening the name often so
	// that a recreated segment is scribbled too.
	childRoles["foreign-scribble"] = func(args []string) error {
		rng := rand.New(rand.NewSource(int64(os.Getpid())))
		buf, orig := make([]byte, headerSize), make([]byte, headerSize)
		for i := 0; ; i++ {
			f, err := os.OpenFile(args[0], os.O_RDWR, 0)
			if err != nil {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			// The whole-header and whole-mutex scribbles are put back at
			// once, so that most runs find a segment that passes validation
			// and get as far as the lock.
			f.ReadAt(orig, 0)
			for j := 0; j < 50; j++ {
				rng.Read(buf)
				switch (i + j) % 8 {
				case 0:
					f.WriteAt(buf, 0)
					f.WriteAt(orig, 0)
				case 1:
					f.WriteAt(buf[:64], tableMutexOff)
					f.WriteAt(orig[tableMutexOff:tableMutexOff+64], tableMutexOff)
				default:
					f.WriteAt(buf[:16], tableMutexOff+24)
				}
			}
			f.Close()
			if i == 0 {
				os.Stdout.WriteString("scribbling\n")
			}
		}
	}
	// foreign-flip PATH SIZE: as the file's owner, flip its size between
	// SIZE and 4096.
	childRoles["foreign-flip"] = func(args []string) error {
		size, _ := strconv.ParseInt(args[1], 10, 64)
		for i := 0; ; i++ {
			fd, err := unix.Open(args[0], unix.O_RDWR, 0)
			if err != nil {
				time.Sleep(200 * time.Microsecond)
				continue
			}
			for j := 0; j < 50; j++ {
				unix.Ftruncate(fd, 4096)
				unix.Ftruncate(fd, size)
			}
			unix.Close(fd)
			if i == 0 {
				os.Stdout.WriteString("flipping\n")
			}
		}
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to give files to uid 65534 and run a child as it (a second user); running as uid", os.Getuid())
	}
}

// foreignSegment makes a segment kept until removed and gives its file to
// uid 65534 (mode 0600). It returns the file's size.
func foreignSegment(t *testing.T, name string) int64 {
	t.Helper()
	a, err := New(name, Counter{N: 7}, WithLifetime(UntilRemoved))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSegment(name) })
	a.Close()
	path := filepath.Join(shmDir, name)
	if err := os.Chown(path, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func startAsOther(t *testing.T, role string, args ...string) *child {
	exe := worldExecutableCopy(t)
	return startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	}, role, args...)
}

// hammer runs the command runs times against name (recreating the segment
// when a run removed it) while a hostile owner works on it, and checks that
// the command itself never dies of a signal and exits 0, 1 or 3, and that
// each run either removed the segment or reported why not.
func hammer(t *testing.T, exe, name string, runs int, args func(i int) []string) (codes map[int]int, childDeaths int) {
	t.Helper()
	codes = map[int]int{}
	seen := map[string]bool{}
	for i := 0; i < runs; i++ {
		a := append(args(i), name)
		cmd := exec.Command(exe, a...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			ws := ee.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				t.Fatalf("run %d: root's ipcarc %q died of %v; stderr %q", i, a, ws.Signal(), stderr.String())
			}
			code = ws.ExitStatus()
		} else if err != nil {
			t.Fatal(err)
		}
		codes[code]++
		if msg := strings.TrimSpace(stderr.String()); msg != "" && !seen[msg] && len(seen) < 4 {
			seen[msg] = true
			t.Logf("run %d: ipcarc %q: exit %d: %s", i, a[:len(a)-1], code, msg)
		}
		if code != 0 && code != 1 && code != 3 {
			t.Fatalf("run %d: ipcarc %q exit %d; want 0, 1 or 3; stderr %q", i, a, code, stderr.String())
		}
		if code != 0 && !strings.Contains(stderr.String(), name) {
			t.Fatalf("run %d: ipcarc %q exit %d without a line naming the segment: %q", i, a, code, stderr.String())
		}
		if strings.Contains(stderr.String(), "changed or was corrupted under it") {
			childDeaths++
		}
		if a[0] == "rm" && code == 0 && shmExists(name) {
			t.Fatalf("run %d: ipcarc %q exit 0 but the name is still there", i, a)
		}
		if !shmExists(name) {
			foreignSegment(t, name)
		}
	}
	return codes, childDeaths
}

// Ensure that root's `ipcarc rm` and `ipcarc gc` on another user's segment
// whose table mutex (and whole header) its owner keeps scribbling never die
// of a signal: the work is done in a child running as the owner, whose
// death is reported as an error (exit 1), never a usage error.
func TestForeignScribbledTableMutex(t *testing.T) {
	needRoot(t)
	exe := ipcarcCommand(t)
	name := testName(t)
	foreignSegment(t, name)
	c := startAsOther(t, "foreign-scribble", filepath.Join(shmDir, name))
	c.expect("scribbling")
	runs := 300
	if testing.Short() {
		runs = 30
	}
	rm, rmDeaths := hammer(t, exe, name, runs, func(i int) []string {
		if i%3 == 2 {
			return []string{"rm", "--force"}
		}
		return []string{"rm"}
	})
	gc, gcDeaths := hammer(t, exe, name, runs, func(i int) []string { return []string{"gc"} })
	t.Logf("rm: exit codes %v, %d owner-side deaths reported; gc: exit codes %v, %d owner-side deaths reported",
		rm, rmDeaths, gc, gcDeaths)
}

// Ensure that root's `ipcarc rm` on another user's segment whose owner flips
// its size between full and 4 KiB never dies of a signal (SIGBUS in the
// mapping hits only the child running as the owner).
func TestForeignTruncationFlipper(t *testing.T) {
	needRoot(t)
	exe := ipcarcCommand(t)
	name := testName(t)
	size := foreignSegment(t, name)
	c := startAsOther(t, "foreign-flip", filepath.Join(shmDir, name), strconv.FormatInt(size, 10))
	c.expect("flipping")
	runs := 300
	if testing.Short() {
		runs = 30
	}
	codes, deaths := hammer(t, exe, name, runs, func(i int) []string {
		if i%4 == 3 {
			return []string{"rm", "--force"}
		}
		return []string{"rm"}
	})
	t.Logf("rm: exit codes %v, %d owner-side deaths reported", codes, deaths)
}

// Ensure that another user's file that is not an ipcarc segment (empty and
// older than 2 s, or random bytes) is never unlinked by gc, gc --dry-run, rm
// or OpenOrNew; that the dry run and the real run report the same; and that
// rm --force removes it. And that the library, as root, refuses another
// user's segment in Remove and GCName and lists it Skipped in GC, without
// changing a byte.
func TestForeignFilesNeverUnlinked(t *testing.T) {
	needRoot(t)
	exe := ipcarcCommand(t)
	empty, random := testName(t), testName(t)
	rb := make([]byte, 8192)
	crand.Read(rb)
	for _, f := range []struct {
		name string
		b    []byte
	}{{empty, nil}, {random, rb}} {
		path := filepath.Join(shmDir, f.name)
		if err := os.WriteFile(path, f.b, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeSegment(f.name) })
		if err := os.Chown(path, otherUID, otherUID); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2100 * time.Millisecond) // older than the 2 s grace of an empty file
	ino := func(name string) uint64 {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(shmDir, name), &st); err != nil {
			return 0
		}
		return st.Ino
	}
	for _, name := range []string{empty, random} {
		before := ino(name)
		dry := runCLI(t, exe, "gc", "--dry-run", name)
		real := runCLI(t, exe, "gc", name)
		if dry.code != 1 || real.code != 1 || dry.stderr != real.stderr || dry.stdout != real.stdout {
			t.Errorf("%s: gc --dry-run exit %d %q %q; gc exit %d %q %q; want both 1 and the same report",
				name, dry.code, dry.stdout, dry.stderr, real.code, real.stdout, real.stderr)
		}
		if r := runCLI(t, exe, "rm", name); r.code != 1 || !strings.Contains(r.stderr, "--force removes it") {
			t.Errorf("%s: rm exit %d stderr %q; want 1 and the --force hint", name, r.code, r.stderr)
		}
		if _, err := GCName(name); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: GCName as root = %v; want a permission error", name, err)
		}
		if err := Remove(name, Force()); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: Remove(Force()) as root = %v; want a permission error", name, err)
		}
		a, _, err := OpenOrNew(name, Counter{}, WithOpenTimeout(300*time.Millisecond))
		if err == nil {
			a.Close()
			t.Errorf("%s: OpenOrNew succeeded over another user's file", name)
		}
		if ino(name) != before {
			t.Fatalf("%s: the file was unlinked or replaced", name)
		}
		if r := runCLI(t, exe, "rm", "--force", name); r.code != 0 || shmExists(name) {
			t.Errorf("%s: rm --force exit %d stderr %q, exists %v; want it removed", name, r.code, r.stderr, shmExists(name))
		}
	}

	// Our own empty file, old enough: OpenOrNew says it is not a segment
	// and leaves it.
	own := testName(t)
	writeImage(t, own, nil)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(shmDir, own), old, old) // mtime; ctime moves, so wait as above
	time.Sleep(2100 * time.Millisecond)
	before := ino(own)
	if _, _, err := OpenOrNew(own, Counter{}, WithOpenTimeout(300*time.Millisecond)); !errors.Is(err, ErrCorrupt) ||
		!strings.Contains(err.Error(), "file size") {
		t.Errorf("OpenOrNew over an old empty file = %v; want ErrCorrupt naming the file size", err)
	}
	if ino(own) != before {
		t.Errorf("OpenOrNew unlinked or replaced an empty file")
	}

	// A segment of another user: the library as root refuses it.
	seg := testName(t)
	foreignSegment(t, seg)
	img, _ := os.ReadFile(filepath.Join(shmDir, seg))
	res, err := GC()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res {
		if r.Name == seg {
			found = true
			if !r.Skipped || !strings.Contains(r.SkipReason, "another user") || r.Removed {
				t.Errorf("GC as root: %+v; want it skipped as another user's", r)
			}
		}
	}
	if !found {
		t.Errorf("GC as root does not list another user's segment")
	}
	for _, dry := range []bool{false, true} {
		var opts []AdminOption
		if dry {
			opts = append(opts, DryRun())
		}
		if _, err := GCName(seg, opts...); !errors.Is(err, fs.ErrPermission) {
			t.Errorf("GCName(dry run %v) of another user's segment = %v; want a permission error", dry, err)
		}
	}
	if err := Remove(seg); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Remove of another user's segment = %v; want a permission error", err)
	}
	if now, _ := os.ReadFile(filepath.Join(shmDir, seg)); !bytes.Equal(now, img) {
		t.Errorf("the library changed another user's segment")
	}
	// The command does it as the owner.
	if r := runCLI(t, exe, "rm", seg); r.code != 0 || shmExists(seg) {
		t.Errorf("root's rm of another user's segment: exit %d stderr %q, exists %v", r.code, r.stderr, shmExists(seg))
	}
}
