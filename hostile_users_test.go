//go:build linux && cgo

package ipcarc

// Hostile peers (see hostile_harness_test.go), 3: a second user, and
// world-writable modes. The second user is uid 65534 (nobody), through a
// child started with that credential; the tests skip when not root.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ---- 3: two users ------------------------------------------------------------

func init() {
	// hostile-scribble A B: run as another user: must not be able to write
	// A; writes out-of-range bounds into B's header.
	childRoles["hostile-scribble"] = func(args []string) error {
		if f, err := os.OpenFile(args[0], os.O_RDWR, 0); err == nil {
			f.Close()
			fmt.Println("A writable")
		} else {
			fmt.Printf("A refused: %v\n", err)
		}
		mem, err := hostileMap(args[1])
		if err != nil {
			return err
		}
		h := (*header)(unsafe.Pointer(&mem[0]))
		h.MaxHolders = 250
		h.ValueOff = valueOffset(250, minValueAlign)
		h.ValueSize = 1 << 20
		h.TotalSize = h.ValueOff + h.ValueSize
		unix.Munmap(mem)
		fmt.Println("B scribbled")
		return nil
	}
}

// hostileSnapshotDiff compares a segment's file now with a snapshot, as
// hostileCanaryDiff does.
func hostileSnapshotDiff(t *testing.T, path string, before []byte) string {
	t.Helper()
	after, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return hostileCanaryDiff(before, after)
}

// Ensure that a user who may write one segment (B, group-writable) but not
// another (A, 0600) cannot, by writing out-of-range bounds into B's header
// after root opened it, make root's calls on B crash or misbehave, nor
// change a byte of A; and that A still opens. Root opens B only when it
// trusts B's group (WithTrustedGroup): by default the trust rule refuses a
// group-writable file.
func TestHostileTwoUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as uid 65534; running as uid", os.Getuid())
	}
	nameA, nameB := testName(t), testName(t)
	pathA, pathB := filepath.Join(shmDir, nameA), filepath.Join(shmDir, nameB)
	a := mustNew(t, nameA, Counter{N: 0xA}, WithMode(0o600))
	b, err := New(nameB, Counter{N: 0xB}, WithMode(0o660))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSegment(nameB) })
	if err := os.Chown(pathB, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Open[Counter](nameB); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("Open of B (group 65534 may write it) without WithTrustedGroup = %v, want ErrUntrusted", err)
	}
	b2, err := Open[Counter](nameB, WithTrustedGroup(65534))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = b2
	beforeA, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	exe := worldExecutableCopy(t)
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}, "hostile-scribble", pathA, pathB)
	c.expect("A refused")
	c.expect("B scribbled")
	c.wait()
	if h := (*header)(unsafe.Pointer(&mustReadFile(t, pathB)[0])); h.MaxHolders != 250 {
		t.Fatalf("B's max_holders reads %d after the scribble, want 250", h.MaxHolders)
	}

	// Bounds come from root's private copy, taken at attach.
	st, err := b.Info()
	if err != nil || st.MaxHolders != DefaultMaxHolders || len(st.Holders) != 1 || !st.Holders[0].Self {
		t.Errorf("B.Stats after the scribble = %+v, %v; want max_holders %d (the bound taken at attach) and root's own holder",
			st, err, DefaultMaxHolders)
	}
	for _, call := range []hostileCall{hostileCallStats, hostileCallLoad, hostileCallStore, hostileCallReap,
		hostileCallClone, hostileCallClose} {
		o := hostileDo(b.hdr, call.unbounded, hostileCallBound, func() error { return call.run(b, nameB) })
		t.Logf("B.%s: %s %s", call.name, o.status, o.detail)
		if o.bad() {
			t.Errorf("B.%s after another user wrote B's bounds: %s: %s", call.name, o.status, o.detail)
		}
	}
	if d := hostileSnapshotDiff(t, pathA, beforeA); d != "" {
		t.Errorf("A's bytes changed: %s", d)
	}
	if v, err := a.Load(); err != nil || v.N != 0xA {
		t.Errorf("A.Load = %+v, %v; want N=0xA", v, err)
	}
	a2, err := Open[Counter](nameA)
	if err != nil {
		t.Fatalf("A no longer opens: %v", err)
	}
	if v, err := a2.Load(); err != nil || v.N != 0xA {
		t.Errorf("A (opened again).Load = %+v, %v; want N=0xA", v, err)
	}
	if err := a2.Close(); err != nil {
		t.Error(err)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < headerSize {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	return b
}

// ---- 5: world-writable modes ---------------------------------------------------

func init() {
	// hostile-mode NAME: New with modes others may write, then 0660.
	childRoles["hostile-mode"] = func(args []string) error {
		for _, m := range []os.FileMode{0o666, 0o602} {
			a, err := New(args[0], Counter{}, WithMode(m))
			if err == nil {
				a.Close()
			}
			fmt.Printf("mode %o invalid=%v exists=%v err=%q\n", m, errors.Is(err, ErrInvalidOption), shmExists(args[0]), fmt.Sprint(err))
		}
		a, err := New(args[0], Counter{}, WithMode(0o660))
		if err != nil {
			return err
		}
		st, err := os.Stat(filepath.Join(shmDir, args[0]))
		if err != nil {
			return err
		}
		fmt.Printf("mode 660 ok perm=%o\n", st.Mode().Perm())
		return a.Close()
	}
}

// Ensure that New refuses modes that let others write the segment, saying
// why, and creates nothing; and that a group-writable mode works.
func TestWorldWritableModeRefused(t *testing.T) {
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	c := startChild(t, "hostile-mode", name)
	for _, m := range []string{"666", "602"} {
		l := c.expect("mode " + m + " ")
		if !strings.Contains(l, "invalid=true") {
			t.Errorf("WithMode(0o%s): %s; want ErrInvalidOption", m, l)
		}
		if !strings.Contains(l, "exists=false") {
			t.Errorf("WithMode(0o%s) created the segment: %s", m, l)
		}
		low := strings.ToLower(l)
		if !strings.Contains(low, "others") || !strings.Contains(low, "corrupt") {
			t.Errorf("WithMode(0o%s): the error does not say why (that others could write it and so corrupt its holders): %s", m, l)
		}
	}
	if l := c.expect("mode 660 "); l != "mode 660 ok perm=660" {
		t.Errorf("WithMode(0o660): %s", l)
	}
	c.wait()
	if shmExists(name) {
		t.Error("segment left after Close")
	}
}
