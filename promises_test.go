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
			_, err := a.Wait(ctx, verOf(a))
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
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.Field != FieldMutexKind {
				t.Fatalf("%s after a peer changed the %s mutex's kind: %v; want ErrCorrupt with field \"mutex kind\"", c.op, c.which, err)
			}
			if c.op != "Close" {
				a.Close() // refused too (the table mutex is fine here, or not): the test removes the file
			}
		})
	}
}

// errors.go: "Every error this package returns is an *Error (with the
// operation and the segment's name) wrapping one or more of them". Walk the
// error paths of every exported function and method.
func TestEveryErrorIsAnError(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	closed, err := a.Clone()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	fnErr := errors.New("fn failed")
	absent := testName(t)
	calls := map[string]func() error{
		"New invalid name":         func() error { _, err := New("a/b", Counter{}); return err },
		"New invalid option":       func() error { _, err := New(testName(t), Counter{}, WithMaxHolders(0)); return err },
		"New exists":               func() error { _, err := New(name, Counter{}); return err },
		"New bad type":             func() error { _, err := New(testName(t), "string"); return err },
		"Open absent":              func() error { _, err := Open[Counter](absent); return err },
		"Open other type":          func() error { _, err := Open[uint32](name); return err },
		"OpenOrNew other type":     func() error { _, _, err := OpenOrNew(name, uint32(0)); return err },
		"Clone closed":             func() error { _, err := closed.Clone(); return err },
		"Close closed":             func() error { return closed.Close() },
		"RefCount closed":          func() error { _, err := closed.RefCount(); return err },
		"Version closed":           func() error { _, err := closed.Version(); return err },
		"Reap closed":              func() error { _, err := closed.Reap(); return err },
		"Info closed":              func() error { _, err := closed.Info(); return err },
		"Lock closed":              func() error { _, err := closed.Lock(); return err },
		"TryLock closed":           func() error { _, err := closed.TryLock(); return err },
		"LockContext done":         func() error { _, err := a.LockContext(done); return err },
		"Load closed":              func() error { _, err := closed.Load(); return err },
		"LoadContext done":         func() error { _, err := a.LoadContext(done); return err },
		"Store closed":             func() error { return closed.Store(Counter{}) },
		"Update fn error":          func() error { return a.Update(func(*Counter) error { return fnErr }) },
		"View fn error":            func() error { return a.View(func(*Counter) error { return fnErr }) },
		"Recover fn error":         func() error { return a.Recover(func(*Counter) error { return fnErr }) },
		"Wait done":                func() error { _, err := a.Wait(done, verOf(a)); return err },
		"Wait out of range":        func() error { _, err := a.Wait(context.Background(), 1<<31); return err },
		"Wait closed":              func() error { _, err := closed.Wait(context.Background(), 0); return err },
		"Inspect absent":           func() error { _, err := Inspect(absent); return err },
		"GCName absent":            func() error { _, err := GCName(absent); return err },
		"Remove absent":            func() error { return Remove(absent) },
		"Remove busy":              func() error { return Remove(name) },
		"Remove invalid name":      func() error { return Remove("..") },
		"GCName invalid name":      func() error { _, err := GCName(".."); return err },
		"Inspect invalid name":     func() error { _, err := Inspect(".."); return err },
		"Open untrusted option":    func() error { _, err := Open[Counter](name, WithTrustedGroup(-1)); return err },
		"Lock twice (deadlock)":    nil,
		"Unlock nil guard":         func() error { var g *Guard[Counter]; return g.Unlock() },
		"UnlockUnchanged not held": func() error { return a.guard.UnlockUnchanged() },
	}
	delete(calls, "Lock twice (deadlock)")
	for what, f := range calls {
		err := f()
		var e *Error
		if !errors.As(err, &e) || e.Op == "" {
			t.Errorf("%s: %T %v: want an *Error with its op", what, err, err)
			continue
		}
		if e.Name == "" && what != "Unlock nil guard" && !strings.Contains(what, "invalid name") {
			t.Errorf("%s: %v: the *Error names no segment", what, err)
		}
	}
	for what, pair := range map[string][2]error{
		"LockContext done": {calls["LockContext done"](), context.Canceled},
		"Update fn error":  {calls["Update fn error"](), fnErr},
		"Recover fn error": {calls["Recover fn error"](), fnErr},
		"Wait done":        {calls["Wait done"](), context.Canceled},
		"Remove busy":      {calls["Remove busy"](), ErrBusy},
	} {
		if !errors.Is(pair[0], pair[1]) {
			t.Errorf("%s: %v, want it to wrap %v", what, pair[0], pair[1])
		}
	}
	// No phrase said twice: the OS's words for a sentinel's errno stay out.
	_, err = New(name, Counter{})
	if msg := err.Error(); strings.Contains(msg, "file exists") || !errors.Is(err, syscall.EEXIST) {
		t.Errorf("New on an existing name: %q (want no \"file exists\" after \"already exists\", and EEXIST still matched)", msg)
	}
}

// Options say what they do (WithMode's doc: "A creation option: Open refuses
// it (ErrInvalidOption), and OpenOrNew that finds the segment already made
// with another mode returns an error matching ErrExist and ErrInvalidOption
// that names both").
func TestCreationOptionsChecked(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithMaxHolders(8), WithLifetime(UntilRemoved), WithMode(0o640))
	t.Cleanup(func() { Remove(name, Force()) })
	for opt, o := range map[string]Option{"WithMode": WithMode(0o600), "WithMaxHolders": WithMaxHolders(8), "WithLifetime": WithLifetime(UntilRemoved)} {
		if _, err := Open[Counter](name, o); !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), opt) {
			t.Errorf("Open with %s = %v, want ErrInvalidOption naming it", opt, err)
		}
	}
	for _, c := range []struct {
		opts []Option
		want string
	}{
		{[]Option{WithMaxHolders(64)}, "max holders 8, WithMaxHolders asked 64"},
		{[]Option{WithLifetime(LastClose)}, "lifetime until-removed, WithLifetime asked last-close"},
		{[]Option{WithMode(0o600)}, "mode 0640, WithMode asked 0600"},
	} {
		b, created, err := OpenOrNew(name, Counter{}, c.opts...)
		if b != nil || created || !errors.Is(err, ErrExist) || !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenOrNew on an existing segment = %v, %v, %v; want ErrExist+ErrInvalidOption saying %q", b, created, err, c.want)
		}
	}
	if n, _ := a.RefCount(); n != 1 {
		t.Fatalf("refused OpenOrNew left handles: refcount %d, want 1", n)
	}
	// The same options as the segment's: attached.
	b, created, err := OpenOrNew(name, Counter{}, WithMaxHolders(8), WithLifetime(UntilRemoved), WithMode(0o640))
	if err != nil || created {
		t.Fatalf("OpenOrNew with matching options = %v, %v", created, err)
	}
	b.Close()
	// Zero open timeout: one try, no wait (the segment exists: it attaches).
	c, err := Open[Counter](name, WithOpenTimeout(0))
	if err != nil {
		t.Fatalf("Open with WithOpenTimeout(0) on a ready segment: %v", err)
	}
	c.Close()
	// Another process sees the same refusal.
	k := startChild(t, "openornew-opts", name)
	if l := k.expect("refused "); !strings.Contains(l, "max holders 8") {
		t.Fatalf("child: %q", l)
	}
	k.wait()
}

func init() {
	// openornew-opts NAME: OpenOrNew NAME asking 64 holders; say "refused
	// ERR" or "attached".
	childRoles["openornew-opts"] = func(args []string) error {
		a, _, err := OpenOrNew(args[0], Counter{}, WithMaxHolders(64))
		if err != nil {
			fmt.Printf("refused %v\n", err)
			return nil
		}
		fmt.Println("attached")
		return a.Close()
	}
}

// SegmentInfo: "Shape is ShapeValue (one value, Arc) or ShapeSlice (Slice).
// For a slice, Capacity is its fixed capacity in elements and Len the length
// in use"; `ipcarc ls` shows it in its SHAPE column.
func TestSliceShownByInfoAndLs(t *testing.T) {
	exe := ipcarcCommand(t)
	name := testName(t)
	s, err := NewSlice(name, []uint64{1, 2}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	i, err := s.Info()
	if err != nil || i.Shape != ShapeSlice || i.Capacity != 8 || i.Len != 2 || i.ValueSize != 8 {
		t.Fatalf("Info of a slice: shape %v cap %d len %d size %d, %v", i.Shape, i.Capacity, i.Len, i.ValueSize, err)
	}
	if out := mustCLI(t, exe, 0, "ls", name).stdout; !strings.Contains(out, "[]2/8 x 8 B") {
		t.Fatalf("ipcarc ls of a slice lacks its shape:\n%s", out)
	}
	if out := mustCLI(t, exe, 0, "ls", "--json", name).stdout; !strings.Contains(out, `"shape": "slice"`) || !strings.Contains(out, `"len": 2`) {
		t.Fatalf("ipcarc ls --json of a slice:\n%s", out)
	}
	if out := mustCLI(t, exe, 0, "top", "--once", "--json", "--interval=100ms", name).stdout; !strings.Contains(out, `"shape": "slice"`) || !strings.Contains(out, `"capacity": 8`) {
		t.Fatalf("ipcarc top --json of a slice:\n%s", out)
	}
	a := mustNew(t, testName(t), Counter{})
	if i, _ := a.Info(); i.Shape != ShapeValue || i.Capacity != 0 {
		t.Fatalf("Info of a value: shape %v cap %d", i.Shape, i.Capacity)
	}
}
