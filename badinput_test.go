//go:build linux && cgo

package ipcarc

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"encoding/json"
	"golang.org/x/sys/unix"
)

func init() {
	// enospc NAME: in a private mount namespace, put a 256 KiB tmpfs over
	// /dev/shm and create a segment that does not fit.
	childRoles["enospc"] = func(args []string) error {
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			os.Stdout.WriteString("skip mount private: " + err.Error() + "\n")
			return nil
		}
		if err := syscall.Mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=256k"); err != nil {
			os.Stdout.WriteString("skip mount tmpfs: " + err.Error() + "\n")
			return nil
		}
		_, err := New(args[0], [1 << 20]byte{})
		switch {
		case errors.Is(err, syscall.ENOSPC):
			os.Stdout.WriteString("enospc " + err.Error() + "\n")
		default:
			os.Stdout.WriteString("other " + errString(err) + "\n")
		}
		ents, _ := os.ReadDir("/dev/shm")
		os.Stdout.WriteString("left " + strings.Repeat("x", len(ents)) + "\n")
		return nil
	}
	// never-ready NAME: write a segment whose state is still INIT and hold
	// its init lock, as a creator on the O_EXCL path would while stuck.
	childRoles["never-ready"] = func(args []string) error {
		img := validImageBytes()
		(*header)(unsafePointer(img)).State = stateInit
		f, err := os.OpenFile(filepath.Join("/dev/shm", args[0]), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(img); err != nil {
			return err
		}
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 1}
		if err := syscall.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
			return err
		}
		os.Stdout.WriteString("holding\n")
		time.Sleep(time.Hour)
		return nil
	}
	// open-wrong NAME KIND: try to open a live segment as another type.
	childRoles["open-wrong"] = func(args []string) error {
		var err error
		switch args[1] {
		case "size":
			_, err = Open[[3]uint64](args[0])
		case "tag":
			_, err = Open[Counter](args[0], WithTypeTag("not.this"))
		}
		if errors.Is(err, ErrTypeMismatch) {
			os.Stdout.WriteString("refused " + err.Error() + "\n")
			return nil
		}
		return errors.New("not refused: " + errString(err))
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// validImage returns the bytes of a real, ready, holder-less Counter segment.
func validImage(t *testing.T) []byte {
	t.Helper()
	return fuzzSeeds(t)[0]
}

func validImageBytes() []byte {
	var tb testing.T
	return fuzzSeeds(&tb)[0]
}

// Ensure that a segment that never becomes ready is ErrTimeout after the open
// timeout, never a hang.
func TestNeverReady(t *testing.T) {
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	c := startChild(t, "never-ready", name)
	c.expect("holding")
	start := time.Now()
	_, err := Open[Counter](name, WithOpenTimeout(300*time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Open of a never-ready segment = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Open took %v with a 300ms timeout", d)
	}
	_, _, err = OpenOrNew(name, Counter{}, WithOpenTimeout(300*time.Millisecond))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("OpenOrNew of a never-ready segment = %v, want ErrTimeout", err)
	}
	c.kill()
	// Its creator gone, the file is not a ready segment, and no creator of
	// this version names one before it is ready: not ours, so OpenOrNew
	// reports it (naming the state) and leaves it.
	a, _, err := OpenOrNew(name, Counter{N: 3}, WithOpenTimeout(time.Second))
	if err == nil {
		a.Close()
		t.Fatal("OpenOrNew took over a file that was never ready")
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "state") || !shmExists(name) {
		t.Fatalf("OpenOrNew after the creator died = %v (file left %v); want ErrCorrupt naming the state, file left", err, shmExists(name))
	}
}

func openImage(t *testing.T, img []byte) error {
	t.Helper()
	name := testName(t)
	path := filepath.Join("/dev/shm", name)
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	_, err := Open[Counter](name, WithOpenTimeout(200*time.Millisecond))
	return err
}

// Ensure that each kind of bad segment is a typed error naming the field.
func TestBadSegments(t *testing.T) {
	h := func(img []byte) *header { return (*header)(unsafePointer(img)) }
	cases := []struct {
		name  string
		edit  func([]byte) []byte
		want  error
		field string
	}{
		{"bigger than the size field says", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, ErrCorrupt, "layout"},
		{"size field overflowing int", func(b []byte) []byte { h(b).TotalSize = math.MaxUint64; return b }, ErrCorrupt, "layout"},
		{"value size overflowing", func(b []byte) []byte { h(b).ValueSize = math.MaxUint64 - 100; return b }, ErrCorrupt, "layout"},
		{"alignment not a power of two", func(b []byte) []byte { h(b).ValueAlign = 24; return b }, ErrCorrupt, "layout"},
		{"holder count beyond the table", func(b []byte) []byte { h(b).MaxHolders = 1 << 16; return b }, ErrCorrupt, "layout"},
		{"layout 1's magic", func(b []byte) []byte { h(b).Magic = magicV1; return b }, ErrIncompatible, "layout version"},
		{"unknown lifetime", func(b []byte) []byte { h(b).Lifetime = 9; return b }, ErrCorrupt, "lifetime"},
		{"unknown state", func(b []byte) []byte { h(b).State = 3; return b }, ErrCorrupt, "state"},
		{"mutex of another kind", func(b []byte) []byte { h(b).Mutex[16] ^= 0xff; return b }, ErrCorrupt, "mutex"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := openImage(t, c.edit(validImage(t)))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Open = %v, want %v naming %q", err, c.want, c.field)
			}
		})
	}
}

// Ensure that a directory or a symlink where a segment should be is refused
// with ErrCorrupt, and New on the name says ErrExist.
func TestNameIsDirectoryOrSymlink(t *testing.T) {
	dir := testName(t)
	if err := os.Mkdir(filepath.Join("/dev/shm", dir), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/dev/shm", dir)) })
	link := testName(t)
	target := testName(t)
	mustNew(t, target, Counter{})
	if err := os.Symlink(filepath.Join("/dev/shm", target), filepath.Join("/dev/shm", link)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/dev/shm", link)) })
	for _, n := range []string{dir, link} {
		if _, err := Open[Counter](n); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open(%s) = %v, want ErrCorrupt", n, err)
		}
		if _, err := New(n, Counter{}); !errors.Is(err, ErrExist) {
			t.Errorf("New(%s) = %v, want ErrExist", n, err)
		}
	}
}

// Ensure that a full /dev/shm is ENOSPC at New, not SIGBUS, and leaves nothing.
func TestNoSpace(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to mount a small tmpfs in a private mount namespace; uid", os.Getuid())
	}
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	}, "enospc", testName(t))
	l := c.expect("")
	if strings.HasPrefix(l, "skip") {
		t.Skip("this machine does not allow it:", l)
	}
	if !strings.HasPrefix(l, "enospc") {
		t.Fatalf("New on a full /dev/shm: %s", l)
	}
	if l := c.expect("left"); l != "left " {
		t.Fatalf("the failed New left files behind: %q", l)
	}
	c.wait()
}

// Ensure that refused peers (wrong size, wrong tag) do no harm to the holders
// of a live segment: count, value and lock are as they were.
func TestRefusedOpenHarmless(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{N: 77})
	for _, kind := range []string{"size", "tag"} {
		c := startChild(t, "open-wrong", name, kind)
		c.expect("refused")
		c.wait()
	}
	if n, _ := a.RefCount(); n != 1 {
		t.Fatalf("refcount = %d after refused opens, want 1", n)
	}
	g, err := a.TryLock()
	if err != nil {
		t.Fatalf("TryLock after refused opens: %v", err)
	}
	if g.Get().N != 77 {
		t.Fatalf("value changed: %d", g.Get().N)
	}
	g.Unlock()
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }

// Ensure that Info (and Stats, and so Expvar) on a handle whose file is
// truncated under its mapping returns ErrCorrupt instead of crashing, for a
// truncation that takes the header page and one that takes the holder
// table. The file is restored afterwards so that Close works.
func TestAdv2InfoTruncated(t *testing.T) {
	name := testName(t)
	a := mustNew(t, name, Counter{}, WithMaxHolders(MaxHolders))
	fd, err := unix.Open("/dev/shm/"+name, unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	img := make([]byte, st.Size)
	if n, err := unix.Pread(fd, img, 0); err != nil || n != len(img) {
		t.Fatal(n, err)
	}
	restore := func() {
		if err := unix.Ftruncate(fd, st.Size); err != nil {
			t.Fatal(err)
		}
		if n, err := unix.Pwrite(fd, img, 0); err != nil || n != len(img) {
			t.Fatal(n, err)
		}
	}
	for _, size := range []int64{0, headerSize} {
		if err := unix.Ftruncate(fd, size); err != nil {
			t.Fatal(err)
		}
		_, err := a.Info()
		_, serr := a.Info()
		evb, _ := json.Marshal(a.Expvar()())
		ev := string(evb)
		restore()
		if !errors.Is(err, ErrCorrupt) || !errors.Is(serr, ErrCorrupt) {
			t.Fatalf("truncated to %d: Info = %v, Stats = %v; want ErrCorrupt", size, err, serr)
		}
		if !strings.Contains(ev, `"error"`) {
			t.Fatalf("truncated to %d: Expvar = %s, want an error", size, ev)
		}
	}
	if _, err := a.Info(); err != nil {
		t.Fatalf("Info after the file was restored: %v", err)
	}
}

// Ensure that damaged headers give ErrCorrupt or ErrIncompatible, in order.
func TestCorruptSegments(t *testing.T) {
	cases := []struct {
		name  string
		f     func(string, *header)
		want  error
		field string
	}{
		{"bad magic", func(_ string, h *header) { h.Magic = 1 }, ErrCorrupt, "magic"},
		{"other version", func(_ string, h *header) { h.Version = 99 }, ErrIncompatible, "layout version"},
		{"other ABI", func(_ string, h *header) { h.ABI ^= 1 << 24 }, ErrIncompatible, "ABI"},
		{"absurd size field", func(_ string, h *header) { h.TotalSize = 1 << 62 }, ErrCorrupt, "layout"},
		{"bad alignment", func(_ string, h *header) { h.ValueAlign = 3 }, ErrCorrupt, "layout"},
		{"unknown state", func(_ string, h *header) { h.State = 77 }, ErrCorrupt, "state"},
		{"layout 1", func(_ string, h *header) { h.Magic, h.Version = magicV1, 1 }, ErrIncompatible, "layout 1, this build reads layout 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := corrupt(t, c.f)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("Open = %v, want %v naming %q", err, c.want, c.field)
			}
		})
	}
}
