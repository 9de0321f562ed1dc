//go:build linux && cgo

package ipcarc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func init() {
	// slice-incr NAME N: N rounds of Update adding 1 to every element.
	childRoles["slice-incr"] = func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		s, err := OpenSlice[uint64](args[0])
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Println("attached")
		for i := 0; i < n; i++ {
			if err := s.Update(func(v []uint64) ([]uint64, error) {
				for j := range v {
					v[j]++
				}
				return v, nil
			}); err != nil {
				return err
			}
		}
		return nil
	}
	// slice-len-writer NAME SEED DURATION_MS: stores slices whose elements
	// all equal their length, by Store and by Lock+SetLen.
	childRoles["slice-len-writer"] = func(args []string) error {
		seed, _ := strconv.ParseInt(args[1], 10, 64)
		ms, _ := strconv.Atoi(args[2])
		s, err := OpenSlice[uint64](args[0])
		if err != nil {
			return err
		}
		defer s.Close()
		fmt.Println("attached")
		r := rand.New(rand.NewSource(seed))
		buf := make([]uint64, s.Cap())
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		for i := 0; time.Now().Before(end); i++ {
			n := r.Intn(s.Cap() + 1)
			if i%2 == 0 {
				for j := range buf[:n] {
					buf[j] = uint64(n)
				}
				if err := s.Store(buf[:n]); err != nil {
					return err
				}
				continue
			}
			g, err := s.Lock()
			if err != nil {
				return err
			}
			if err := g.SetLen(n); err != nil {
				g.Unlock()
				return err
			}
			for j := range g.Get() {
				g.Get()[j] = uint64(n)
			}
			if err := g.Unlock(); err != nil {
				return err
			}
		}
		return nil
	}
	// slice-open NAME KIND: open as KIND ("value" or "slice") and print the error.
	childRoles["slice-open"] = func(args []string) error {
		var err error
		if args[1] == "value" {
			var a *Arc[uint64]
			if a, err = Open[uint64](args[0]); err == nil {
				a.Close()
			}
		} else {
			var s *Slice[uint64]
			if s, err = OpenSlice[uint64](args[0]); err == nil {
				s.Close()
			}
		}
		var e *Error
		if errors.As(err, &e) {
			fmt.Printf("err %v|%s|%s\n", errors.Is(err, ErrTypeMismatch), e.Field, e.Detail)
			return nil
		}
		fmt.Printf("err %v\n", err)
		return nil
	}
	// slice-scribble NAME OFFSET VALUE: map the file and write a u64 at OFFSET.
	childRoles["slice-scribble"] = func(args []string) error {
		off, _ := strconv.Atoi(args[1])
		v, _ := strconv.ParseUint(args[2], 0, 64)
		f, err := os.OpenFile(filepath.Join("/dev/shm", args[0]), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		m, err := syscall.Mmap(int(f.Fd()), 0, headerSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			return err
		}
		*(*uint64)(unsafe.Pointer(&m[off])) = v
		fmt.Println("done")
		return syscall.Munmap(m)
	}
	// slice-big-writer NAME: stores the slice with every element = i, for
	// i = 1, 2, ... until killed.
	childRoles["slice-big-writer"] = func(args []string) error {
		s, err := OpenSlice[uint64](args[0])
		if err != nil {
			return err
		}
		defer s.Close()
		buf := make([]uint64, s.Cap())
		fmt.Println("attached")
		for i := uint64(1); ; i++ {
			n := s.Cap() - int(i%2)
			for j := range buf[:n] {
				buf[j] = i
			}
			if err := s.Store(buf[:n]); err != nil {
				return err
			}
		}
	}
}

func TestSliceBasics(t *testing.T) {
	name := testName(t)
	s, err := NewSlice(name, []uint64{1, 2, 3}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len() != 3 || s.Cap() != 8 {
		t.Fatalf("len %d cap %d", s.Len(), s.Cap())
	}
	v, err := s.Load()
	if err != nil || !equalU64(v, []uint64{1, 2, 3}) {
		t.Fatalf("load %v %v", v, err)
	}
	buf := make([]uint64, 0, 16)
	if allocs := testing.AllocsPerRun(100, func() { buf, _ = s.AppendTo(buf[:0]) }); allocs != 0 {
		t.Errorf("AppendTo with room allocates %v", allocs)
	}
	if x, err := s.LoadAt(2); err != nil || x != 3 {
		t.Fatalf("LoadAt(2) %d %v", x, err)
	}
	if _, err := s.LoadAt(3); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("LoadAt(3): %v", err)
	}
	if _, err := s.LoadAt(-1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("LoadAt(-1): %v", err)
	}
	ver, _ := s.Version()
	if err := s.Store(make([]uint64, 9)); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Store of 9 in 8: %v", err)
	}
	if nv, _ := s.Version(); nv != ver || s.Len() != 3 {
		t.Fatal("a refused Store changed something")
	}
	if err := s.Store([]uint64{5, 6, 7, 8, 9}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreAt(4, 90); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreAt(5, 1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("StoreAt past len: %v", err)
	}
	g, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Get(); len(got) != 5 || cap(got) != 8 || got[4] != 90 {
		t.Fatalf("Get %v len %d cap %d", got, len(got), cap(got))
	}
	if err := g.SetLen(9); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("SetLen(9): %v", err)
	}
	if err := g.SetLen(2); err != nil {
		t.Fatal(err)
	}
	if err := g.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := g.SetLen(1); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("SetLen after Unlock: %v", err)
	}
	if err := s.Update(func(v []uint64) ([]uint64, error) { return append(v, 100, 200), nil }); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Load(); !equalU64(v, []uint64{5, 6, 100, 200}) {
		t.Fatalf("after Update: %v", v)
	}
	// A result that does not alias the mapping is copied in.
	if err := s.Update(func(v []uint64) ([]uint64, error) { return []uint64{7, 7, 7}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(v []uint64) ([]uint64, error) { return make([]uint64, 9), nil }); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Update past cap: %v", err)
	}
	boom := errors.New("boom")
	if err := s.Update(func(v []uint64) ([]uint64, error) { return v[:0], boom }); !errors.Is(err, boom) || s.Len() != 3 {
		t.Fatalf("Update error: %v len %d", err, s.Len())
	}
	if err := s.View(func(v []uint64) error {
		if !equalU64(v, []uint64{7, 7, 7}) {
			return fmt.Errorf("view %v", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.RefCount(); n != 2 || c.Len() != 3 {
		t.Fatalf("refcount %d clone len %d", n, c.Len())
	}
	c.Close()
	if _, err := NewSlice(testName(t), []uint64{1, 2}, 1); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("values over capacity: %v", err)
	}
	if _, err := NewSlice[uint64](testName(t), nil, -1); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("negative capacity: %v", err)
	}
	o, created, err := OpenOrNewSlice(name, []uint64{1}, 100)
	if err != nil || created || o.Cap() != 8 || o.Len() != 3 {
		t.Fatalf("OpenOrNewSlice of an existing one: %v %v", created, err)
	}
	o.Close()
	// Capacity 1 is still a slice, and an empty one is fine.
	one, err := NewSlice[uint64](testName(t), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := one.Load(); err != nil || len(v) != 0 || one.Len() != 0 {
		t.Fatalf("empty %v %v", v, err)
	}
	if _, err := Open[uint64](one.Name()); !errors.Is(err, ErrTypeMismatch) {
		t.Fatalf("Open of a capacity-1 slice: %v", err)
	}
	one.Close()
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The shape is part of the identity, both ways, in another process.
func TestSliceShapeRefused(t *testing.T) {
	sn := testName(t)
	s, err := NewSlice(sn, []uint64{1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	an := testName(t)
	a, err := New(an, uint64(1))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c := startChild(t, "slice-open", sn, "value")
	l := c.expect("err true|shape|")
	if want := "the segment holds a slice of up to 4 8-byte elements, this handle wants one 8-byte value"; !bytes.Contains([]byte(l), []byte(want)) {
		t.Errorf("detail %q lacks %q", l, want)
	}
	c.wait()
	c = startChild(t, "slice-open", an, "slice")
	l = c.expect("err true|shape|")
	if want := "the segment holds one 8-byte value, this handle wants a slice of 8-byte elements"; !bytes.Contains([]byte(l), []byte(want)) {
		t.Errorf("detail %q lacks %q", l, want)
	}
	c.wait()
	// Another element type is refused as Arc refuses another T.
	if _, err := OpenSlice[uint32](sn); !errors.Is(err, ErrTypeMismatch) || FieldOf(err) != FieldValueSize {
		t.Fatalf("OpenSlice[uint32] of a []uint64: %v", err)
	}
}

// FieldOf is the Field of an *Error in err's chain.
func FieldOf(err error) Field {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return FieldNone
}

// Go processes add to every element concurrently: exact totals.
func TestSliceProcessesIncrement(t *testing.T) {
	name := testName(t)
	s, err := NewSlice(name, make([]uint64, 16), 32)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const procs, rounds = 3, 500
	var cs []*child
	for i := 0; i < procs; i++ {
		c := startChild(t, "slice-incr", name, strconv.Itoa(rounds))
		c.expect("attached")
		cs = append(cs, c)
	}
	for _, c := range cs {
		c.wait()
	}
	v, err := s.Load()
	if err != nil || len(v) != 16 {
		t.Fatal(v, err)
	}
	for i, x := range v {
		if x != procs*rounds {
			t.Fatalf("element %d = %d, want %d", i, x, procs*rounds)
		}
	}
}

// Lengths change under concurrent Loads: every snapshot has len <= Cap and
// every element equal to the length.
func TestSliceLengthChangesUnderLoad(t *testing.T) {
	name := testName(t)
	s, err := NewSlice[uint64](name, nil, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms := "1500"
	if testing.Short() {
		ms = "400"
	}
	var cs []*child
	for i := 0; i < 2; i++ {
		c := startChild(t, "slice-len-writer", name, strconv.Itoa(i+1), ms)
		c.expect("attached")
		cs = append(cs, c)
	}
	done := make(chan struct{})
	go func() {
		for _, c := range cs {
			c.wait()
		}
		close(done)
	}()
	buf := make([]uint64, 0, 64)
	loads, lengths := 0, map[int]bool{}
	check := func(v []uint64) {
		if len(v) > s.Cap() {
			t.Fatalf("len %d > cap", len(v))
		}
		for _, x := range v {
			if x != uint64(len(v)) {
				t.Fatalf("torn snapshot: len %d holds %v", len(v), v)
			}
		}
		lengths[len(v)] = true
	}
	for {
		select {
		case <-done:
			if loads < 100 || len(lengths) < 10 {
				t.Fatalf("only %d loads, %d lengths", loads, len(lengths))
			}
			t.Logf("%d loads saw %d lengths", loads, len(lengths))
			return
		default:
		}
		v, err := s.AppendTo(buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		check(v)
		if n := s.Len(); n > s.Cap() {
			t.Fatalf("Len %d", n)
		}
		if x, err := s.LoadAt(0); err == nil && (x == 0 || x > 64) {
			t.Fatalf("LoadAt(0) = %d", x)
		} else if err != nil && !errors.Is(err, ErrOutOfRange) {
			t.Fatal(err)
		}
		loads++
	}
}

// A peer writes garbage into the new header fields: typed errors, no crash,
// Recover repairs.
func TestSliceHostileHeader(t *testing.T) {
	name := testName(t)
	s, err := NewSlice(name, []uint64{1, 2, 3}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var h header
	scribble := func(off uintptr, v uint64) {
		t.Helper()
		c := startChild(t, "slice-scribble", name, strconv.Itoa(int(off)), strconv.FormatUint(v, 10))
		c.expect("done")
		c.wait()
	}
	for _, bad := range []uint64{5, 1 << 40, ^uint64(0)} {
		scribble(unsafe.Offsetof(h.Len), bad)
		if s.Len() != 4 {
			t.Fatalf("Len with a word of %d: %d", bad, s.Len())
		}
		v, err := s.Load()
		if !errors.Is(err, ErrCorrupt) || FieldOf(err) != FieldLength || len(v) != 4 {
			t.Fatalf("Load with a length word of %d: %v %v", bad, v, err)
		}
		if _, err := s.LoadAt(3); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("LoadAt: %v", err)
		}
		if _, err := s.Lock(); !errors.Is(err, ErrPoisoned) {
			t.Fatalf("Lock: %v", err)
		}
		if err := s.Store([]uint64{1}); !errors.Is(err, ErrPoisoned) {
			t.Fatalf("Store: %v", err)
		}
		if v, err := s.Load(); !errors.Is(err, ErrPoisoned) || len(v) != 4 {
			t.Fatalf("Load after the poison: %v %v", v, err)
		}
		if err := s.Recover(func(v []uint64) ([]uint64, error) {
			if len(v) != 4 {
				return nil, fmt.Errorf("recover sees %d", len(v))
			}
			return v[:2], nil
		}); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Load(); err != nil || !equalU64(v, []uint64{1, 2}) {
			t.Fatalf("after Recover: %v %v", v, err)
		}
	}
	// Capacity and shape are checked at attach: the open handle keeps its
	// private capacity; a new open is refused.
	scribble(unsafe.Offsetof(h.Capacity), 1<<40)
	if _, err := OpenSlice[uint64](name); !errors.Is(err, ErrCorrupt) || FieldOf(err) != FieldLayout {
		t.Fatalf("open with a capacity of 2^40: %v", err)
	}
	if v, err := s.Load(); err != nil || len(v) != 2 || s.Cap() != 4 {
		t.Fatalf("open handle after the capacity changed: %v %v", v, err)
	}
	scribble(unsafe.Offsetof(h.Capacity), 4)
	scribble(unsafe.Offsetof(h.Shape), 7) // Shape and Reserved1 as one u64
	if _, err := OpenSlice[uint64](name); !errors.Is(err, ErrCorrupt) || FieldOf(err) != FieldShape {
		t.Fatalf("open with shape 7: %v", err)
	}
	if _, err := Open[uint64](name); !errors.Is(err, ErrCorrupt) || FieldOf(err) != FieldShape {
		t.Fatalf("Open with shape 7: %v", err)
	}
	scribble(unsafe.Offsetof(h.Shape), shapeValue)
	if _, err := OpenSlice[uint64](name); !errors.Is(err, ErrCorrupt) || FieldOf(err) != FieldLayout {
		t.Fatalf("open with shape 0 over a slice's area: %v", err)
	}
	scribble(unsafe.Offsetof(h.Shape), shapeSlice)
	o, err := OpenSlice[uint64](name)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
}

// Large values: create, store, load back. A Load of a slice being stored in
// a loop is never torn, and is never starved.
func TestSliceLarge(t *testing.T) {
	size := 256 << 20
	if testing.Short() {
		size = 8 << 20
	}
	name := testName(t)
	s, err := NewSlice[byte](name, nil, size)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(src)
	if err := s.Store(src); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load()
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("load back: %v, equal %v", err, bytes.Equal(got, src))
	}
}

func TestSliceLoadNotTornNotStarved(t *testing.T) {
	name := testName(t)
	n := 1 << 20 // 8 MiB of uint64
	if testing.Short() {
		n = 1 << 17
	}
	s, err := NewSlice(name, make([]uint64, n), n)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := startChild(t, "slice-big-writer", name)
	c.expect("attached")
	buf := make([]uint64, 0, n)
	seen := map[uint64]bool{}
	// At least 30 loads, and on until the writer's progress shows (two
	// values seen): on a loaded machine its first store may come after 30.
	for i, begin := 0, time.Now(); i < 30 || (len(seen) < 2 && time.Since(begin) < 20*time.Second); i++ {
		start := time.Now()
		v, err := s.AppendTo(buf[:0])
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("a Load took %v", d)
		}
		for j, x := range v {
			if x != v[0] {
				t.Fatalf("torn: element %d = %d, element 0 = %d", j, x, v[0])
			}
		}
		seen[v[0]] = true
	}
	c.kill()
	if len(seen) < 2 {
		t.Fatalf("the writer made no progress under the loads: %v", seen)
	}
}

func init() {
	// slice-die-inside NAME: lock, change the length, write half, say
	// "inside", and wait to be killed.
	childRoles["slice-die-inside"] = func(args []string) error {
		s, err := OpenSlice[uint64](args[0])
		if err != nil {
			return err
		}
		g, err := s.Lock()
		if err != nil {
			return err
		}
		if err := g.SetLen(s.Cap()); err != nil {
			return err
		}
		g.Get()[0] = 99
		fmt.Println("inside")
		select {}
	}
}

// kill -9 inside a Lock that changed the length: the next reader sees
// ErrPoisoned with a length within the capacity, and Recover repairs.
func TestFaultSliceKilledInsideLock(t *testing.T) {
	name := testName(t)
	s, err := NewSlice(name, []uint64{2, 2}, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := startChild(t, "slice-die-inside", name)
	c.expect("inside")
	c.kill()
	v, err := s.Load()
	if !errors.Is(err, ErrPoisoned) || len(v) != 6 || v[0] != 99 {
		t.Fatalf("Load after the death: %v %v", v, err)
	}
	if _, err := s.LoadAt(0); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("LoadAt: %v", err)
	}
	if err := s.Store([]uint64{1}); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("Store: %v", err)
	}
	if err := s.Recover(func(v []uint64) ([]uint64, error) { return []uint64{2, 2}, nil }); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(); err != nil || !equalU64(v, []uint64{2, 2}) {
		t.Fatalf("after Recover: %v %v", v, err)
	}
}

// TryLock, LockContext, Wait and Close behave as Arc's.
func TestSliceLockVariantsAndWait(t *testing.T) {
	name := testName(t)
	s, err := NewSlice[byte](name, []byte("a"), 16)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Clone()
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.Lock()
	if err != nil {
		t.Fatal(err)
	}
	other := make(chan error)
	go func() {
		_, err := c.TryLock()
		other <- err
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err = c.LockContext(ctx)
		other <- err
	}()
	if err := <-other; !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("TryLock while held: %v", err)
	}
	if err := <-other; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockContext while held: %v", err)
	}
	if err := g.UnlockUnchanged(); err != nil {
		t.Fatal(err)
	}
	v0, _ := s.Version()
	go func() { other <- c.Store([]byte("config")) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if v1, err := s.Wait(ctx, v0); err != nil || !v1.After(v0) {
		t.Fatalf("Wait: %v %v", v1, err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	if b, err := s.Load(); err != nil || string(b) != "config" {
		t.Fatalf("%q %v", b, err)
	}
	c.Close()
	s.Close()
	if s.Len() != 0 {
		t.Fatal("Len of a closed handle")
	}
	if _, err := s.Load(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Load after Close: %v", err)
	}
	if err := s.Store(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Store after Close: %v", err)
	}
}
