//go:build linux && cgo

package ipcarc

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// trust-squat PATH: take the name first with a 0666 file of 4 KiB of junk.
	childRoles["trust-squat"] = func(args []string) error {
		fd, err := unix.Open(args[0], unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Fchmod(fd, 0o666); err != nil { // past the umask
			return err
		}
		junk := make([]byte, 4096)
		for i := range junk {
			junk[i] = 0xA5
		}
		if _, err := unix.Write(fd, junk); err != nil {
			return err
		}
		fmt.Println("squatted")
		return nil
	}
	// trust-scribble PATH IMAGE: make PATH (0666), then until stdin ends
	// rewrite all of it: a real segment's image, random bytes over all of
	// it (the mutexes and their robust-list links included), or the image
	// with only the mutexes randomised.
	childRoles["trust-scribble"] = func(args []string) error {
		img, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		fd, err := unix.Open(args[0], unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Fchmod(fd, 0o666); err != nil {
			return err
		}
		var stop atomic.Bool
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop.Store(true)
		}()
		buf := make([]byte, len(img))
		rounds := 0
		for !stop.Load() {
			switch rounds % 3 {
			case 0:
				copy(buf, img)
			case 1:
				for i := range buf {
					buf[i] = byte(rand.Uint32())
				}
			case 2:
				copy(buf, img)
				for i := mutexOffset; i < tableMutexOff+64; i++ {
					buf[i] = byte(rand.Uint32())
				}
			}
			unix.Pwrite(fd, buf, 0)
			rounds++
			if rounds == 30 {
				fmt.Println("scribbling")
			}
		}
		fmt.Printf("rounds %d\n", rounds)
		return nil
	}
	// trust-own NAME: make a 0600 UntilRemoved segment holding N=65534.
	childRoles["trust-own"] = func(args []string) error {
		a, err := New(args[0], Counter{N: 65534}, WithLifetime(UntilRemoved))
		if err != nil {
			return err
		}
		fmt.Println("made")
		return a.Close()
	}
}

// asNobody runs role as uid 65534 from a copy of the test binary it may execute.
func asNobody(t *testing.T, stdin *io.WriteCloser, role string, args ...string) *child {
	t.Helper()
	exe := worldExecutableCopy(t)
	return startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		noExitSleep(cmd)
		if stdin != nil {
			var err error
			if *stdin, err = cmd.StdinPipe(); err != nil {
				t.Fatal(err)
			}
		}
	}, role, args...)
}

// wantUntrusted fails unless err is an ErrUntrusted (and fs.ErrPermission)
// whose message contains every one of want.
func wantUntrusted(t *testing.T, what string, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, ErrUntrusted) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%s = %v, want ErrUntrusted and fs.ErrPermission", what, err)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: the message lacks %q: %v", what, w, err)
		}
	}
}

// Ensure that a name squatted by another user with a 0666 file is refused by
// Open and OpenOrNew (never adopted), with a message that names the owner,
// the mode and what to do; and that the squatter's file is left untouched.
func TestTrustSquattedName(t *testing.T) {
	needRoot(t)
	name := testName(t)
	path := filepath.Join(shmDir, name)
	t.Cleanup(func() { os.Remove(path) })
	c := asNobody(t, nil, "trust-squat", path)
	c.expect("squatted")
	c.wait()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open[Counter](name)
	wantUntrusted(t, "Open", err, "uid 65534", "0666", "others may write", "removed")
	t.Log(err)
	a, created, err := OpenOrNew(name, Counter{N: 1}, WithMode(0o600))
	if err == nil {
		a.Close()
	}
	wantUntrusted(t, "OpenOrNew", err, "uid 65534", "0666")
	if created {
		t.Error("OpenOrNew says it created the segment")
	}
	// Trusting the owner does not make a world-writable file acceptable.
	_, err = Open[Counter](name, WithTrustedOwners(65534), WithTrustedGroup(65534))
	wantUntrusted(t, "Open with the squatter trusted", err, "0666")
	if err != nil && strings.Contains(err.Error(), "WithTrusted") {
		t.Errorf("the message suggests an option for a world-writable file: %v", err)
	}
	if _, err := GCName(name); !errors.Is(err, ErrUntrusted) {
		t.Errorf("GCName = %v, want ErrUntrusted", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) || fi.Mode().Perm() != 0o666 || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Errorf("the squatter's file changed: %d bytes (was %d), mode %o, owner %d",
			len(after), len(before), fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid)
	}
}

// Ensure that while another user rewrites the whole of a file under the name
// (a real segment's image, random bytes over its mutexes and robust-list
// links, ...) root's Open and OpenOrNew in a loop for about a second refuse
// it every time and never crash.
func TestTrustScribblerNeverAttached(t *testing.T) {
	needRoot(t)
	img := segmentImage(t)
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	imgPath := filepath.Join(dir, "image")
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	name := testName(t)
	path := filepath.Join(shmDir, name)
	t.Cleanup(func() { os.Remove(path) })
	var stdin io.WriteCloser
	c := asNobody(t, &stdin, "trust-scribble", path, imgPath)
	t.Cleanup(func() { stdin.Close() })
	c.expect("scribbling")
	tries, refused := 0, 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); tries++ {
		var err error
		var a *Arc[Counter]
		if tries%2 == 0 {
			a, err = Open[Counter](name, WithOpenTimeout(10*time.Millisecond))
		} else {
			a, _, err = OpenOrNew(name, Counter{}, WithOpenTimeout(10*time.Millisecond))
		}
		if err == nil {
			a.Close()
			t.Fatalf("try %d attached to the scribbler's file", tries)
		}
		if errors.Is(err, ErrUntrusted) {
			refused++
		} else {
			t.Errorf("try %d: %v, want ErrUntrusted", tries, err)
		}
	}
	stdin.Close()
	rounds := c.expect("rounds ")
	c.wait()
	t.Logf("%d tries, %d refused as untrusted; the scribbler made %s rewrites", tries, refused, strings.TrimPrefix(rounds, "rounds "))
}

// Ensure that a 0600 segment made by uid 65534 is refused by root by default,
// and attaches and works with WithTrustedOwners(65534).
func TestTrustOtherOwner(t *testing.T) {
	needRoot(t)
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	c := asNobody(t, nil, "trust-own", name)
	c.expect("made")
	c.wait()
	_, err := Open[Counter](name)
	wantUntrusted(t, "Open", err, "uid 65534", "0600", "WithTrustedOwners(65534)")
	t.Log(err)
	_, _, err = OpenOrNew(name, Counter{})
	wantUntrusted(t, "OpenOrNew", err, "WithTrustedOwners(65534)")
	if _, err := Open[Counter](name, WithTrustedOwners(1, 2)); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Open trusting other uids = %v, want ErrUntrusted", err)
	}
	a, err := Open[Counter](name, WithTrustedOwners(7), WithTrustedOwners(65534))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if v, err := a.Load(); err != nil || v.N != 65534 {
		t.Errorf("Load = %+v, %v; want N=65534", v, err)
	}
	g, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	g.Get().N++
	if err := g.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(Counter{N: 99}); err != nil {
		t.Fatal(err)
	}
	if v, err := a.Load(); err != nil || v.N != 99 {
		t.Errorf("Load after Store = %+v, %v; want N=99", v, err)
	}
	b, created, err := OpenOrNew(name, Counter{}, WithTrustedOwners(65534))
	if err != nil || created {
		t.Fatalf("OpenOrNew trusting 65534 = created %v, %v", created, err)
	}
	b.Close()
}

// Ensure that a group-writable (0660) segment is refused unless its group is
// trusted with WithTrustedGroup, and accepted with it.
func TestTrustGroupWritable(t *testing.T) {
	needRoot(t)
	const gid = 65534
	name := testName(t)
	a := mustNew(t, name, Counter{N: 5}, WithMode(0o660))
	if err := os.Chown(filepath.Join(shmDir, name), 0, gid); err != nil {
		t.Fatal(err)
	}
	_, err := Open[Counter](name)
	wantUntrusted(t, "Open", err, "0660", "gid 65534", "WithTrustedGroup(65534)")
	t.Log(err)
	if strings.Contains(err.Error(), "WithTrustedOwners") {
		t.Errorf("root owns it: the message should not suggest WithTrustedOwners: %v", err)
	}
	_, err = Open[Counter](name, WithTrustedGroup(gid+1))
	wantUntrusted(t, "Open trusting another group", err, "WithTrustedGroup(65534)")
	b, err := Open[Counter](name, WithTrustedGroup(gid))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Store(Counter{N: 6}); err != nil {
		t.Error(err)
	}
	if v, err := a.Load(); err != nil || v.N != 6 {
		t.Errorf("Load = %+v, %v; want N=6", v, err)
	}
	b.Close()
}

// Ensure that a world-writable segment is refused even when root owns it,
// whatever the trust options, and that the message says it must be removed.
func TestTrustWorldWritableOwnFile(t *testing.T) {
	name := testName(t)
	mustNew(t, name, Counter{})
	if err := os.Chmod(filepath.Join(shmDir, name), 0o666); err != nil {
		t.Fatal(err)
	}
	me := os.Geteuid()
	for _, opts := range [][]Option{nil, {WithTrustedOwners(me), WithTrustedGroup(os.Getegid())}} {
		_, err := Open[Counter](name, opts...)
		wantUntrusted(t, "Open", err, "0666", "others may write", "removed")
		if err != nil && strings.Contains(err.Error(), "WithTrusted") {
			t.Errorf("the message suggests an option for a world-writable file: %v", err)
		}
	}
	_, _, err := OpenOrNew(name, Counter{})
	wantUntrusted(t, "OpenOrNew", err, "0666")
	_, err = GCName(name)
	wantUntrusted(t, "GCName", err, "0666")
	if err := Remove(name); err == nil || !shmExists(name) {
		t.Errorf("Remove = %v (file left: %v), want a refusal (busy or untrusted) and the file left", err, shmExists(name))
	}
	// Force names it: unlinked without mapping or locking what it holds.
	if err := Remove(name, Force()); err != nil || shmExists(name) {
		t.Errorf("Remove(Force) = %v (file left: %v), want it removed", err, shmExists(name))
	}
}

// Ensure that trust options out of range are refused before any system call.
func TestTrustOptionsInvalid(t *testing.T) {
	name := testName(t)
	for _, opts := range [][]Option{
		{WithTrustedOwners(1, 2, 3, 4, 5, 6, 7, 8, 9)},
		{WithTrustedOwners(1, 2, 3, 4, 5), WithTrustedOwners(6, 7, 8, 9)},
		{WithTrustedOwners(-1)},
		{WithTrustedOwners(1 << 32)},
		{WithTrustedGroup(-1)},
	} {
		if _, err := Open[Counter](name, opts...); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Open with %d options = %v, want ErrInvalidOption", len(opts), err)
		}
	}
	if _, err := Open[Counter](name, WithTrustedOwners(1, 2, 3, 4, 5, 6, 7, 8)); !errors.Is(err, ErrNotExist) {
		t.Errorf("Open with 8 trusted owners = %v, want ErrNotExist", err)
	}
}
