//go:build linux && cgo

package ipcarc

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

func init() {
	childRoles["incr"] = func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		return lockedIncrements(a, n)
	}
	// hold: attach, take the lock, say so, and wait to be killed.
	childRoles["hold"] = func(args []string) error {
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		g, err := a.Lock()
		if err != nil {
			return err
		}
		g.Get().N = 4242
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour)
		return nil
	}
	// attach NAME EXTRA [create]: take a handle (creating the segment with
	// "create") and EXTRA clones, say so, wait to be killed.
	childRoles["attach"] = func(args []string) error {
		var a *Arc[Counter]
		var err error
		if len(args) > 2 && args[2] == "create" {
			a, err = New(args[0], Counter{N: 1})
		} else {
			a, err = Open[Counter](args[0])
		}
		if err != nil {
			return err
		}
		extra, _ := strconv.Atoi(args[1])
		for i := 0; i < extra; i++ {
			if _, err := a.Clone(); err != nil {
				return err
			}
		}
		os.Stdout.WriteString("attached\n")
		time.Sleep(time.Hour)
		return nil
	}
	childRoles["openornew"] = func(args []string) error {
		a, created, err := OpenOrNew(args[0], Counter{N: 7})
		if err != nil {
			return err
		}
		v, err := a.Load()
		if err != nil {
			return err
		}
		os.Stdout.WriteString("created=" + strconv.FormatBool(created) + " n=" + strconv.FormatUint(v.N, 10) + "\n")
		// Stay attached until the parent says go (closes stdin), so the
		// segment lives while the others open it.
		var b [1]byte
		os.Stdin.Read(b[:])
		return a.Close()
	}
	childRoles["open-err"] = func(args []string) error {
		_, err := Open[Counter](args[0])
		switch {
		case err == nil:
			os.Stdout.WriteString("opened\n")
		case errors.Is(err, fs.ErrPermission):
			os.Stdout.WriteString("permission " + err.Error() + "\n")
		default:
			os.Stdout.WriteString("other " + err.Error() + "\n")
		}
		return nil
	}
	childRoles["new-umask"] = func(args []string) error {
		syscall.Umask(0o077)
		a, err := New(args[0], Counter{}, WithMode(0o640))
		if err != nil {
			return err
		}
		st, err := os.Stat(filepath.Join("/dev/shm", args[0]))
		if err != nil {
			return err
		}
		os.Stdout.WriteString("mode " + strconv.FormatUint(uint64(st.Mode().Perm()), 8) + "\n")
		return a.Close()
	}
}

func mustNew[T any](t *testing.T, name string, v T, opts ...Option) *Arc[T] {
	t.Helper()
	a, err := New(name, v, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		removeSegment(name)
	})
	return a
}

// Ensure that the Go and C views of the layout agree byte for byte.
func TestLayoutMatchesC(t *testing.T) {
	var h header
	var s holder
	goView := map[string]uintptr{
		"header.size": unsafe.Sizeof(h), "holder.size": unsafe.Sizeof(s),
		"HEADER_SIZE": headerSize, "HOLDER_SIZE": holderSize, "MUTEX_OFFSET": mutexOffset,
		"TABLE_MUTEX_OFFSET": tableMutexOff,
		"MAGIC_LO":           magic & 0xffffffff, "MAGIC_HI": magic >> 32, "LAYOUT_VERSION": layoutVersion,
		"MAX_HANDLES": maxHandles, "LIVE_TID_MASK": liveTIDMask, "LIVE_OWNER_DIED": liveOwnerDied,
	}
	ht := reflect.TypeOf(h)
	for i := 0; i < ht.NumField(); i++ {
		goView[ht.Field(i).Name] = ht.Field(i).Offset
	}
	st := reflect.TypeOf(s)
	for i := 0; i < st.NumField(); i++ {
		goView["Holder."+st.Field(i).Name] = st.Field(i).Offset
	}
	ct := reflect.TypeOf(counters{})
	for i := 0; i < ct.NumField(); i++ {
		goView["Counters."+ct.Field(i).Name] = ct.Field(i).Offset
	}
	goView["HOLD_SAMPLE"] = holdSample
	cView := cLayout()
	if cView["sizeof(pthread_mutex_t)"] > 64 {
		t.Fatalf("pthread_mutex_t is %d bytes, more than the 64 the layout reserves", cView["sizeof(pthread_mutex_t)"])
	}
	delete(cView, "sizeof(pthread_mutex_t)")
	if diff := cmp.Diff(cView, goView); diff != "" {
		t.Fatalf("C and Go layouts differ (-C +Go):\n%s", diff)
	}
	if Tag("counter.v1") != cTag("counter.v1") {
		t.Fatal("Go and C type tags differ")
	}
}

// Ensure that 4 processes × 25,000 locked increments add up exactly.
func TestConcurrentIncrements(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	const procs, each = 4, 25000
	var kids []*child
	for i := 0; i < procs; i++ {
		kids = append(kids, startChild(t, "incr", name, strconv.Itoa(each)))
	}
	for _, k := range kids {
		k.wait()
	}
	v, err := a.Load()
	if err != nil {
		t.Fatal(err)
	}
	if v.N != procs*each {
		t.Fatalf("total = %d, want %d", v.N, procs*each)
	}
	if rc, _ := a.RefCount(); rc != 1 {
		t.Fatalf("refcount after children closed = %d, want 1", rc)
	}
}

// Ensure that a process killed while holding the lock hands it on with
// ErrOwnerDead, that poison sticks until cleared, and that the value is readable.
func TestOwnerDeathAcrossProcesses(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{N: 1})
	c := startChild(t, "hold", name)
	c.expect("locked")
	if _, err := a.TryLock(); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock while child holds = %v, want ErrWouldBlock", err)
	}
	c.kill()
	within(t, 10*time.Second, "Lock after owner death", func() {
		// Lock: "a guard and a nil error, or a nil guard and an error,
		// never both: no lock is ever held behind an error."
		g, err := a.Lock()
		if !errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) || g != nil {
			t.Errorf("Lock = %v, %v; want nil, ErrOwnerDead and ErrPoisoned", g, err)
		}
		// The refused lock was released: TryLock gets it, and refuses too.
		if g, err := a.TryLock(); g != nil || errors.Is(err, ErrOwnerDead) || !errors.Is(err, ErrPoisoned) {
			t.Errorf("second lock = %v, %v; want nil, ErrPoisoned only", g, err)
		}
		if v, err := a.Load(); v.N != 4242 || !errors.Is(err, ErrPoisoned) {
			t.Errorf("Load after owner death = %d, %v; want the child's 4242, ErrPoisoned", v.N, err)
		}
		// A repair that fails keeps the poison and says why.
		bad := errors.New("cannot repair")
		err = a.Recover(func(v *Counter) error {
			if v.N != 4242 {
				t.Errorf("Recover saw %d, want the child's 4242", v.N)
			}
			return bad
		})
		var e *Error
		if !errors.Is(err, bad) || !errors.As(err, &e) || e.Op != "recover" || e.Name != name {
			t.Errorf("failed Recover = %v, want an *Error (op recover) wrapping fn's error", err)
		}
		if _, err := a.Lock(); !errors.Is(err, ErrPoisoned) {
			t.Errorf("Lock after a failed Recover = %v, want ErrPoisoned", err)
		}
		// A repair that succeeds ends the poison for every process.
		if err := a.Recover(func(v *Counter) error { v.N = 1; return nil }); err != nil {
			t.Errorf("Recover = %v", err)
		}
		g, err = a.Lock()
		if err != nil || g.Get().N != 1 {
			t.Fatalf("Lock after Recover = %v, %v; want the repaired value", g, err)
		}
		g.Unlock()
	})
}

// Ensure that a goroutine exiting while it holds the lock (its thread dies
// with it) is seen as owner death by the next goroutine.
func TestGoroutineExitWhileLocked(t *testing.T) {
	a := mustNew(t, testName(t), Counter{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := a.Lock(); err != nil {
			t.Error(err)
		}
		// exits locked: the runtime ends the thread
	}()
	<-done
	within(t, 10*time.Second, "Lock after goroutine exit", func() {
		if _, err := a.Lock(); !errors.Is(err, ErrOwnerDead) {
			t.Errorf("Lock = %v, want ErrOwnerDead", err)
		}
		mustRecover(t, a)
	})
}

// Ensure that the segment file disappears exactly when the last handle closes.
func TestLastCloseUnlinks(t *testing.T) {
	name := testName(t)
	a, err := New(name, Counter{N: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open[Counter](name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := a.RefCount(); n != 3 {
		t.Fatalf("refcount = %d, want 3", n)
	}
	for i, h := range []*Arc[Counter]{a, b} {
		if err := h.Close(); err != nil {
			t.Fatal(i, err)
		}
		if !shmExists(name) {
			t.Fatalf("segment gone after %d of 3 closes", i+1)
		}
	}
	if v, err := c.Load(); err != nil || v.N != 3 {
		t.Fatalf("clone Load = %v, %v", v, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if shmExists(name) {
		t.Fatal("segment still in /dev/shm after the last Close")
	}
	if _, err := Open[Counter](name); !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after last close = %v, want ErrNotExist", err)
	}
}

// Ensure that Unlock twice, and Unlock from another goroutine, fail with
// ErrNotOwner and leave the lock working.
func TestUnlockMisuse(t *testing.T) {
	a := mustNew(t, testName(t), Counter{})
	g, err := a.Lock()
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error)
	go func() { errc <- g.Unlock() }()
	if err := <-errc; !errors.Is(err, ErrNotOwner) {
		t.Fatalf("Unlock from another goroutine = %v, want ErrNotOwner", err)
	}
	if _, err := a.Lock(); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("relock by the holder = %v, want ErrDeadlock", err)
	}
	if err := a.Close(); !errors.Is(err, ErrDeadlock) {
		t.Fatalf("Close of the last handle while locked = %v, want ErrDeadlock", err)
	}
	g.Get().N = 9
	if err := g.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := g.Unlock(); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("second Unlock = %v, want ErrNotOwner", err)
	}
	if v, err := a.Load(); err != nil || v.N != 9 {
		t.Fatalf("Load = %v, %v", v, err)
	}
	within(t, 5*time.Second, "Lock after misuse", func() {
		g, err := a.Lock()
		if err != nil {
			t.Error(err)
			return
		}
		g.Unlock()
	})
}

// Ensure that each bad name is ErrInvalidName, before any system call.
func TestInvalidNames(t *testing.T) {
	for _, n := range []string{"", "/", "a/b", strings.Repeat("x", 201), "nul\x00byte", "..", "sp ace", "//x"} {
		if _, err := New(n, Counter{}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("New(%q) = %v, want ErrInvalidName", n, err)
		}
		if _, err := Open[Counter](n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Open(%q) = %v, want ErrInvalidName", n, err)
		}
	}
	name := testName(t)
	a, err := New("/"+name, Counter{})
	if err != nil {
		t.Fatalf("leading slash refused: %v", err)
	}
	if a.Name() != name {
		t.Errorf("Name() = %q, want %q", a.Name(), name)
	}
	a.Close()
}

// Ensure that types holding pointers are refused, naming the field.
func TestUnsupportedTypes(t *testing.T) {
	type inner struct{ P *int }
	type withString struct{ S string }
	type withSlice struct{ X []int }
	type withMap struct{ M map[int]int }
	type nested struct {
		A [2]inner
	}
	cases := []struct {
		f    func() error
		path string
	}{
		{func() error { _, err := New(testName(t), withString{}); return err }, ".S"},
		{func() error { _, err := New(testName(t), withSlice{}); return err }, ".X"},
		{func() error { _, err := New(testName(t), new(int)); return err }, "*int"},
		{func() error { _, err := New(testName(t), withMap{}); return err }, ".M"},
		{func() error { _, err := New(testName(t), nested{}); return err }, ".A[].P"},
		{func() error { _, err := Open[[]int](testName(t)); return err }, "[]int"},
	}
	for _, c := range cases {
		err := c.f()
		if !errors.Is(err, ErrUnsupportedType) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("got %v, want ErrUnsupportedType naming %q", err, c.path)
		}
	}
	type ok struct {
		A [4]int32
		B float64
		C bool
		D struct{ E uint8 }
	}
	a := mustNew(t, testName(t), ok{})
	_ = a
}

// Ensure that ErrExist and ErrNotExist are reported and OS errors stay matchable.
func TestExistNotExist(t *testing.T) {
	name := testName(t)
	mustNew(t, name, Counter{})
	if _, err := New(name, Counter{}); !errors.Is(err, ErrExist) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second New = %v, want ErrExist", err)
	}
	if _, err := Open[Counter](testName(t)); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Open of absent = %v, want ErrNotExist", err)
	}
}

// Ensure that another type is refused by size and by tag.
func TestTypeMismatch(t *testing.T) {
	name := testName(t)
	mustNew(t, name, Counter{})
	if _, err := Open[[3]uint64](name); !errors.Is(err, ErrTypeMismatch) || !strings.Contains(err.Error(), "value size") {
		t.Fatalf("Open with other size = %v, want ErrTypeMismatch on value size", err)
	}
	if _, err := Open[[64]byte](name); !errors.Is(err, ErrTypeMismatch) || !strings.Contains(err.Error(), "value alignment") {
		t.Fatalf("Open with same size, other alignment = %v, want ErrTypeMismatch on value alignment", err)
	}
	type sameSize struct {
		F [8]float64
	}
	if _, err := Open[sameSize](name); !errors.Is(err, ErrTypeMismatch) || !strings.Contains(err.Error(), "type tag") {
		t.Fatalf("Open with same size other type = %v, want ErrTypeMismatch on type tag", err)
	}
	if _, err := Open[Counter](name, WithTypeTag("other")); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("Open with other tag = %v, want ErrTypeMismatch", err)
	}
}

// corrupt creates a valid segment, lets f damage its file, and opens it.
func corrupt(t *testing.T, f func(path string, h *header)) error {
	t.Helper()
	name := testName(t)
	a, err := New(name, Counter{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("/dev/shm", name)
	// Keep the segment on disk after Close: take a second, unrecorded link.
	keep := path + ".keep"
	if err := os.Link(path, keep); err != nil {
		t.Fatal(err)
	}
	a.Close()
	os.Rename(keep, path)
	t.Cleanup(func() { removeSegment(name) })
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := (*header)(unsafe.Pointer(&b[0]))
	h.State = stateReady // it was marked dead by the close
	h.RefCount = 0
	for i := range holderTable(h) {
		holderTable(h)[i] = holder{}
	}
	f(path, h)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open[Counter](name, WithOpenTimeout(200*time.Millisecond))
	return err
}

// Ensure that files that are not (whole) segments are refused, not crashed on.
func TestNotASegment(t *testing.T) {
	name := testName(t)
	path := filepath.Join("/dev/shm", name)
	t.Cleanup(func() { removeSegment(name) })
	for _, size := range []int{8, 0, 100, 4096} {
		if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		want := ErrCorrupt
		if size == 0 {
			// A fresh empty file may be a creator on the O_EXCL path between
			// creating and locking it: Open waits for it, then times out.
			want = ErrTimeout
		}
		if _, err := Open[Counter](name, WithOpenTimeout(100*time.Millisecond)); !errors.Is(err, want) {
			t.Errorf("Open of a %d-byte plain file = %v, want %v", size, err, want)
		}
	}
}

// Ensure that a mode-0600 segment refuses another user with fs.ErrPermission.
func TestPermissionDenied(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as uid 65534; running as uid", os.Getuid())
	}
	name := testName(t)
	mustNew(t, name, Counter{})
	// The test binary sits in a 0700 build directory: give the child a copy
	// it may execute.
	exe := worldExecutableCopy(t)
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}, "open-err", name)
	c.expect("permission")
	c.wait()
}

// Ensure that WithMode sets the exact mode whatever the umask.
func TestModeIgnoresUmask(t *testing.T) {
	name := testName(t)
	c := startChild(t, "new-umask", name)
	c.expect("mode 640")
	c.wait()
	if shmExists(name) {
		t.Fatal("segment left behind")
	}
}

// Ensure that of 16 processes calling OpenOrNew at once, exactly one creates
// and all see the initial value.
func TestOpenOrNewRace(t *testing.T) {
	name := testName(t)
	var kids []*child
	var stdins []interface{ Close() error }
	for i := 0; i < 16; i++ {
		var in interface{ Close() error }
		kids = append(kids, startChildCmd(t, func(cmd *exec.Cmd) {
			w, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			in = w
		}, "openornew", name))
		stdins = append(stdins, in)
	}
	created := 0
	for _, k := range kids {
		l := k.expect("created=")
		if !strings.HasSuffix(l, " n=7") {
			t.Errorf("child saw %q, want n=7", l)
		}
		if strings.HasPrefix(l, "created=true") {
			created++
		}
	}
	for _, in := range stdins {
		in.Close()
	}
	for _, k := range kids {
		k.wait()
	}
	if created != 1 {
		t.Fatalf("%d processes created the segment, want exactly 1", created)
	}
	if shmExists(name) {
		t.Fatal("segment left after all 16 closed")
	}
}

// Ensure that a Clone racing a Close from other goroutines keeps counts exact.
func TestCloneCloseConcurrent(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				c, err := a.Clone()
				if err != nil {
					t.Error(err)
					return
				}
				if err := c.Close(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, _ := a.RefCount(); n != 1 {
		t.Fatalf("refcount = %d, want 1", n)
	}
	runtime.GC()
}

func worldExecutableCopy(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "ipcarc.test")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}
