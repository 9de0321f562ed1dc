//go:build linux && cgo

package ipcarc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Liveness is per trust class: a keeper's robust list threads only through
// segments whose files the same users can write (liveness.c).

// liveTestGroup is a group id that no file of the machine is expected to
// use; the second user is given it as a supplementary group.
const liveTestGroup = 4242

// trustItsGroup opts into the group of a group-writable segment file (these
// tests make such segments on purpose, each for a group of its own), as a
// program that trusts that group would with WithTrustedGroup.
func trustItsGroup(name string) []Option {
	var st unix.Stat_t
	if unix.Stat(filepath.Join("/dev/shm", name), &st) != nil || st.Mode&0o020 == 0 {
		return nil
	}
	return []Option{WithTrustedGroup(int(st.Gid))}
}

func init() {
	// live-hold B A: open B, then A (so that A's slot comes first on a
	// shared list, as in the reproducer), say "ready", wait for stdin to end.
	childRoles["live-hold"] = func(args []string) error {
		var hs []*Arc[Counter]
		for _, n := range args {
			a, err := Open[Counter](n, trustItsGroup(n)...)
			if err != nil {
				return err
			}
			hs = append(hs, a)
		}
		fmt.Println("ready")
		return closeAfterStdin(hs)
	}
	// live-unlink PATH PID: run as a member of the segment's group: zero
	// the robust-list link of PID's slot in the segment at PATH.
	childRoles["live-unlink"] = func(args []string) error {
		pid, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		mem, err := hostileMap(args[0])
		if err != nil {
			return err
		}
		defer unix.Munmap(mem)
		h := (*header)(unsafe.Pointer(&mem[0]))
		n := 0
		for i := range holderTable(h) {
			s := &holderTable(h)[i]
			if s.State == slotUsed && int(s.PID) == pid {
				*(*uint64)(unsafe.Pointer(&s.RobustNext)) = 0
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("found %d slots of pid %d, want 1", n, pid)
		}
		fmt.Println("unlinked")
		return nil
	}
	// live-keepers: for each line "open NAME...", "close" (the handles
	// opened so far) or "count", do it and answer with the number of this
	// process's keeper threads ("keepers N").
	childRoles["live-keepers"] = func(args []string) error {
		var hs []*Arc[Counter]
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			switch f[0] {
			case "open":
				for _, n := range f[1:] {
					a, err := Open[Counter](n, trustItsGroup(n)...)
					if err != nil {
						return err
					}
					hs = append(hs, a)
				}
			case "close":
				for _, a := range hs {
					if err := a.Close(); err != nil {
						return err
					}
				}
				hs = nil
			}
			k, err := keeperThreads()
			if err != nil {
				return err
			}
			fmt.Printf("keepers %d\n", k)
		}
		return nil
	}
}

// keeperThreads counts this process's threads named "ipcarc-keeper".
func keeperThreads() (int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", e.Name(), "comm"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a thread that just ended
		}
		if err != nil {
			return 0, err
		}
		if strings.TrimSpace(string(b)) == "ipcarc-keeper" {
			n++
		}
	}
	return n, nil
}

// liveSegment creates a segment (kept by the test's handle) and gives its
// file the mode and group asked for.
func liveSegment(t *testing.T, mode os.FileMode, gid int) (*Arc[Counter], string) {
	t.Helper()
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithMode(mode))
	if gid >= 0 {
		if err := os.Chown(filepath.Join(shmDir, name), 0, gid); err != nil {
			t.Fatal(err)
		}
	}
	return a, name
}

// Ensure that a peer that writes bad bytes spoils its own segment, never
// another one: P holds B (0600, root's) and A (0660, group-writable). A member
// of A's group, who cannot open B, zeroes P's robust-list link in A's slot;
// P is killed. With one list through both segments the kernel's walk stopped
// at the bad link and B kept a live-looking ghost of P for ever (never
// removed, `rm` refused). With a list per trust class B sees P dead, and its
// last real holder's Close removes it.
func TestLiveClassScribbleSparesOtherSegment(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as uid 65534; running as uid", os.Getuid())
	}
	b, nameB := liveSegment(t, 0o600, -1)
	_, nameA := liveSegment(t, 0o660, liveTestGroup)
	pathA, pathB := filepath.Join(shmDir, nameA), filepath.Join(shmDir, nameB)

	var hold io.WriteCloser // P holds until it is killed
	p := startChildCmd(t, func(cmd *exec.Cmd) {
		var err error
		if hold, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "live-hold", nameB, nameA)
	defer hold.Close()
	p.expect("ready")
	if info, err := b.Info(); err != nil || info.LiveHolders != 2 {
		t.Fatalf("B.Info with P attached = %+v, %v; want 2 live holders", info, err)
	}

	exe := worldExecutableCopy(t)
	u := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: 65534, Gid: 65534, Groups: []uint32{liveTestGroup}}}
	}, "live-unlink", pathA, strconv.Itoa(p.cmd.Process.Pid))
	u.expect("unlinked")
	u.wait()
	// The scribbler could not have written B.
	if f, err := os.OpenFile(pathB, os.O_RDWR, 0); err == nil {
		f.Close() // root can; the point is the mode
	}
	if st, err := os.Stat(pathB); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("B's mode: %v, %v; want 0600", st, err)
	}

	p.kill()
	<-p.done

	if _, err := b.Reap(); err != nil {
		t.Fatal(err)
	}
	info, err := b.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.LiveHolders != 1 {
		t.Errorf("B after P was killed: %d live holders, want 1 (the test's): P's word in B was never marked", info.LiveHolders)
	}
	if n, err := b.RefCount(); err != nil || n != 1 {
		t.Errorf("B.RefCount after Reap = %d, %v; want 1", n, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pathB); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("B after its last live holder closed: stat = %v; want it removed", err)
	}
}

// Ensure that keeper threads are per trust class and bounded as liveness.c
// and LAYOUT.md say: 100 segments of one class (0600, root's, plus one of
// 0640, the same writers) use 1 keeper; each further class adds one; an
// emptied keeper is reused by a new class; 1,000 slots fill a keeper.
func TestLiveKeeperThreadsPerClass(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown segments to other groups; running as uid", os.Getuid())
	}
	var same []string
	for i := 0; i < 100; i++ {
		_, n := liveSegment(t, 0o600, -1)
		same = append(same, n)
	}
	_, n0640 := liveSegment(t, 0o640, liveTestGroup) // not group-writable: root's class
	var groups []string
	for i := 0; i < 4; i++ {
		_, n := liveSegment(t, 0o660, liveTestGroup+1+i)
		groups = append(groups, n)
	}
	big := testName(t)
	mustNew(t, big, Counter{}, WithMaxHolders(1024), WithMode(0o600))

	step, done := keeperSteps(t)
	defer done()
	step("count", 0, "before any attach")
	step("open "+strings.Join(same, " "), 1, "100 segments of one class (0600, root's)")
	step("open "+n0640, 1, "a 0640 segment: the same writers as 0600")
	step("open "+strings.Join(groups[:3], " "), 4, "3 group-writable segments of 3 groups")
	step("close", 4, "every handle closed: keepers never exit")
	step("open "+groups[3], 4, "a new class reuses an emptied keeper")
	step("open "+strings.Join(same, " "), 4, "root's class again, on an emptied keeper")
	// 100 slots of root's class on one keeper: 900 more fill its 1,000;
	// the next goes to another keeper (an emptied one), so that of the two
	// keepers left empty only one remains for new classes.
	step("open "+strings.Repeat(big+" ", 900), 4, "1,000 slots of one class on one keeper")
	step("open "+big, 4, "the 1,001st slot of the class, on an emptied keeper")
	step("open "+groups[0], 4, "another class on the last emptied keeper")
	step("open "+groups[1], 5, "one more class, with no keeper left empty, starts one")
}

// keeperSteps starts a live-keepers child; step sends it a line and checks
// the number of keeper threads it answers with.
func keeperSteps(t *testing.T) (step func(line string, want int, why string), done func()) {
	var in io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		var err error
		if in, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "live-keepers")
	step = func(line string, want int, why string) {
		t.Helper()
		if _, err := io.WriteString(in, line+"\n"); err != nil {
			t.Fatal(err)
		}
		got := c.expect("keepers ")
		if got != fmt.Sprintf("keepers %d", want) {
			t.Errorf("%s: %q, want %d", why, got, want)
		}
	}
	return step, func() {
		in.Close()
		c.wait()
	}
}

// Ensure that a group-writable file with a POSIX ACL is a class of its own:
// its group bits are the ACL's mask, and a named user may write it (here uid
// 65534, not in the group), so it shares no keeper with the files of the
// same owner and group.
func TestLiveClassACLFileAlone(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to chown segments to other groups; running as uid", os.Getuid())
	}
	_, plain := liveSegment(t, 0o660, liveTestGroup)
	_, plain2 := liveSegment(t, 0o660, liveTestGroup)
	_, acl := liveSegment(t, 0o660, liveTestGroup)
	// user::rw- user:65534:rw- group::r-- mask::rw- other::---
	var blob []byte
	le := func(v ...uint32) {
		for _, x := range v {
			blob = append(blob, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
		}
	}
	le(2)
	for _, e := range [][3]uint32{{0x01, 6, ^uint32(0)}, {0x02, 6, 65534}, {0x04, 4, ^uint32(0)}, {0x10, 6, ^uint32(0)}, {0x20, 0, ^uint32(0)}} {
		le(e[0]|e[1]<<16, e[2])
	}
	err := unix.Setxattr(filepath.Join(shmDir, acl), "system.posix_acl_access", blob, 0)
	if errors.Is(err, unix.EOPNOTSUPP) {
		t.Skip("no POSIX ACLs on", shmDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	step, done := keeperSteps(t)
	defer done()
	step("open "+plain+" "+plain2, 1, "two 0660 segments of one owner and group")
	step("open "+acl, 2, "a 0660 segment of the same owner and group with an ACL naming another writer")
}

func init() {
	// nest-locks B A: lock B, then try A (group-writable, trusted group):
	// say "nested ERR"; unlock B, lock A alone: "alone ok"; lock B then a
	// second segment of B's class (the third argument): "same-class ok".
	childRoles["nest-locks"] = func(args []string) error {
		b, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer b.Close()
		a, err := Open[Counter](args[1], trustItsGroup(args[1])...)
		if err != nil {
			return err
		}
		defer a.Close()
		c, err := Open[Counter](args[2])
		if err != nil {
			return err
		}
		defer c.Close()
		gb, err := b.Lock()
		if err != nil {
			return err
		}
		_, err = a.Lock()
		fmt.Printf("nested %v\n", err)
		serr := a.Store(Counter{N: 1})
		fmt.Printf("store %v\n", serr)
		gc, err := c.Lock()
		if err != nil {
			return fmt.Errorf("same class nested: %v", err)
		}
		gc.Unlock()
		fmt.Println("same-class ok")
		gb.Unlock()
		ga, err := a.Lock()
		if err != nil {
			return fmt.Errorf("alone: %v", err)
		}
		ga.Unlock()
		fmt.Println("alone ok")
		return nil
	}
}

// ErrNestedLock (errors.go): "a lock taken while the same thread holds the
// lock of a segment with other writers" is refused, so that the writers of
// one segment cannot, through glibc's per-thread robust list, leave another
// segment's lock owned by a dead thread (SECURITY.md). Locks of one class
// nest as before.
func TestNestedLockAcrossClassesRefused(t *testing.T) {
	b := testName(t)
	mustNew(t, b, Counter{})
	c := testName(t)
	mustNew(t, c, Counter{})
	a := testName(t)
	mustNew(t, a, Counter{}, WithMode(0o660))
	if err := os.Chown(filepath.Join("/dev/shm", a), 0, liveTestGroup); err != nil {
		t.Skip("needs to give a file to group", liveTestGroup, ":", err)
	}
	k := startChild(t, "nest-locks", b, a, c)
	if l := k.expect("nested "); !strings.Contains(l, "other writers") {
		t.Fatalf("Lock of a group-writable segment while holding a 0600 one: %q, want ErrNestedLock", l)
	}
	if l := k.expect("store "); !strings.Contains(l, "other writers") {
		t.Fatalf("Store of it meanwhile: %q, want ErrNestedLock", l)
	}
	k.expect("same-class ok")
	k.expect("alone ok")
	k.wait()
}
