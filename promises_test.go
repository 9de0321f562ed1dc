//go:build linux && cgo

package ipcarc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// What README, go doc and LAYOUT.md promise, checked from the user's side.

func init() {
	// scribble-kind NAME WHICH: a peer (this process maps the file itself,
	// without the library) overwrites the kind of the value's mutex
	// ("value") or of the holder table's ("table"), then says "done".
	childRoles["scribble-kind"] = func(args []string) error {
		f, err := os.OpenFile(filepath.Join("/dev/shm", args[0]), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		mem, err := syscall.Mmap(int(f.Fd()), 0, headerSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			return err
		}
		defer syscall.Munmap(mem)
		h := (*header)(unsafe.Pointer(&mem[0]))
		m := h.Mutex[:]
		if args[1] == "table" {
			m = h.TableMutex[:]
		}
		binary.NativeEndian.PutUint32(m[kindOffset():], 0) // a plain, private mutex
		if args[1] == "value-odd" {
			h.Seq |= 1 // and a writer seemingly inside: Load must fall back
		}
		fmt.Println("done")
		return nil
	}
}

// RefCount (go doc: "the handles of live holders"), Info and `ipcarc ls`
// never count a killed holder, whether or not its slot was reaped: the
// reviewers' case of a creator alive, one holder killed, a new Open.
func TestRefCountCountsOnlyTheLiving(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	a := mustNew(t, name, Counter{})
	k := startChild(t, "attach", name, "0")
	k.expect("attached")
	k.kill()
	b, err := Open[Counter](name) // an older live holder: the O(1) walk stops at it
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := a.RefCount(); n != 2 {
		t.Fatalf("RefCount with 2 live handles and a killed holder = %d, want 2", n)
	}
	info, _ := a.Info()
	if info.RefCount != 2 || info.LiveHolders != 2 {
		t.Fatalf("Info: refcount %d live %d, want 2 2", info.RefCount, info.LiveHolders)
	}
	if out := mustCLI(t, exe, 0, "ls", "--json", name).stdout; !strings.Contains(out, `"refcount": 2`) {
		t.Fatalf("ipcarc ls --json: %s, want refcount 2", out)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n, _ := a.RefCount(); n != 1 {
		t.Fatalf("RefCount after that handle's Close = %d, want 1", n)
	}
	// The Prometheus gauge and expvar read Info.RefCount: the same number.
	if info, _ := a.Info(); info.RefCount != 1 {
		t.Fatalf("Info.RefCount = %d, want 1", info.RefCount)
	}
}

// ErrCorrupt carries its field ("mutex kind") on every call that checks a
// mutex's kind, and the segment stays refused: LAYOUT.md "a changed mutex
// kind returns ErrCorrupt with field "mutex kind" on every use".
func TestCorruptMutexKindNamedEverywhere(t *testing.T) {
	calls := []struct {
		which string // the mutex scribbled
		op    string
		call  func(a *Arc[Counter]) error
	}{
		{"value", "Lock", func(a *Arc[Counter]) error { _, err := a.Lock(); return err }},
		{"value", "TryLock", func(a *Arc[Counter]) error { _, err := a.TryLock(); return err }},
		{"value", "LockContext", func(a *Arc[Counter]) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := a.LockContext(ctx)
			return err
		}},
		{"value", "Store", func(a *Arc[Counter]) error { return a.Store(Counter{N: 1}) }},
		{"value", "Update", func(a *Arc[Counter]) error { return a.Update(func(*Counter) error { return nil }) }},
		{"value-odd", "Load fallback", func(a *Arc[Counter]) error { _, err := a.Load(); return err }},
		{"value", "Wait", func(a *Arc[Counter]) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := a.Wait(ctx, a.Version())
			return err
		}},
		{"value", "Info", func(a *Arc[Counter]) error { _, err := a.Info(); return err }},
		{"table", "Clone", func(a *Arc[Counter]) error { _, err := a.Clone(); return err }},
		{"table", "Reap", func(a *Arc[Counter]) error { _, err := a.Reap(); return err }},
		{"table", "Close", func(a *Arc[Counter]) error { return a.Close() }},
	}
	for _, c := range calls {
		t.Run(c.op, func(t *testing.T) {
			name := testName(t)
			t.Cleanup(func() { removeSegment(name) })
			a, err := New(name, Counter{})
			if err != nil {
				t.Fatal(err)
			}
			s := startChild(t, "scribble-kind", name, c.which)
			s.expect("done")
			s.wait()
			err = c.call(a)
			var e *Error
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.Field != "mutex kind" {
				t.Fatalf("%s after a peer changed the %s mutex's kind: %v; want ErrCorrupt with field \"mutex kind\"", c.op, c.which, err)
			}
			if c.op != "Close" {
				a.Close() // refused too (the table mutex is fine here, or not): the test removes the file
			}
		})
	}
}

// noneDown fails if any counter of now is below prev (the largest wait is a
// maximum: it cannot go down either).
func noneDown(t *testing.T, prev, now Counters) {
	t.Helper()
	p, n := counterFields(prev), counterFields(now)
	for k, v := range p {
		if n[k] < v {
			t.Fatalf("counter %s went down: %d -> %d", k, v, n[k])
		}
	}
}
