//go:build linux && cgo

package ipcarc

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Slice is a handle on a shared slice of T: a length chosen at run time, and
// a capacity fixed when the segment is created (Go's slice semantics with a
// fixed backing array). It shares everything else with Arc: the one
// embedded Handle (Name, Close, RefCount, Reap, Info, Version, Wait,
// Expvar), the same options, errors, lock, poison, owner-death and counters.
// Slice[byte] holds a blob (a configuration document, say).
//
// The segment's shape is part of its identity: Open[T] of a slice and
// OpenSlice[T] of a one-value segment are refused with ErrTypeMismatch,
// Field FieldShape. The element type T is checked as Arc checks its T (size,
// alignment, type tag).
//
// The length lives in the segment's header and changes only under the lock
// (Store, Guard's SetLen, Update, Recover); every read of it is bounded by
// the capacity this process validated at attach. A length word beyond the
// capacity (only a peer writing the mapping makes one) is never followed:
// lock-free readers return ErrCorrupt (FieldLength) with the first Cap
// elements, and the next lock poisons the slice (repair with Recover).
type Slice[T any] struct {
	Handle
	data  *T  // element 0 in the mapping
	capN  int // the capacity validated at attach (private)
	guard SliceGuard[T]
}

// SliceGuard is the lock on a Slice, held by the goroutine that called Lock
// until Unlock; as Guard, one per handle, reused by every Lock.
type SliceGuard[T any] struct {
	s *Slice[T]
}

// sliceSpec is the spec of a slice of T.
func sliceSpec[T any](op, name string, opts []Option) (string, spec, *options, error) {
	n, sp, o, err := prepare[T](op, name, opts)
	sp.shape = shapeSlice
	return n, sp, o, err
}

// NewSlice creates the segment name holding a slice of up to capacity
// elements, initialised to a copy of values (its length is len(values)),
// exclusively: ErrExist if the name is taken. len(values) > capacity, or a
// negative capacity, is ErrInvalidOption. The capacity may be as large as
// /dev/shm allows.
func NewSlice[T any](name string, values []T, capacity int, opts ...Option) (*Slice[T], error) {
	n, sp, _, err := sliceSpec[T]("new", name, opts)
	if err != nil {
		return nil, err
	}
	if err := checkCapacity[T]("new", n, len(values), capacity); err != nil {
		return nil, err
	}
	s, rc := cSliceCreate(n, &sp, capacity, unsafe.Pointer(unsafe.SliceData(values)), len(values))
	runtime.KeepAlive(values)
	if rc != 0 {
		return nil, fromErrno("new", n, rc, 0)
	}
	return wrapSlice[T](n, s, newAttachment(s)), nil
}

// OpenSlice attaches to the existing slice segment name; its capacity and
// length are read from the segment. ErrNotExist if there is none;
// ErrTypeMismatch (FieldShape) if it holds one value.
func OpenSlice[T any](name string, opts ...Option) (*Slice[T], error) {
	n, sp, _, err := sliceSpec[T]("open", name, opts)
	if err != nil {
		return nil, err
	}
	s, rc, field := cOpen(n, &sp)
	if rc != 0 {
		return nil, openErr("open", n, rc, field, &sp)
	}
	return wrapSlice[T](n, s, newAttachment(s)), nil
}

// OpenOrNewSlice opens the slice name, or creates it as NewSlice does;
// created reports which. An existing slice keeps its own capacity and
// contents.
func OpenOrNewSlice[T any](name string, values []T, capacity int, opts ...Option) (sl *Slice[T], created bool, err error) {
	n, sp, o, err := sliceSpec[T]("open or new", name, opts)
	if err != nil {
		return nil, false, err
	}
	if err := checkCapacity[T]("open or new", n, len(values), capacity); err != nil {
		return nil, false, err
	}
	s, created, rc, field := cSliceOpenOrCreate(n, &sp, capacity, unsafe.Pointer(unsafe.SliceData(values)), len(values))
	runtime.KeepAlive(values)
	if rc != 0 {
		return nil, false, openErr("open or new", n, rc, field, &sp)
	}
	sl = wrapSlice[T](n, s, newAttachment(s))
	if !created {
		if err := checkCreation(&sl.Handle, o); err != nil {
			sl.Close()
			return nil, false, err
		}
	}
	return sl, created, nil
}

// maxArea is the largest value area of a segment (2^46 bytes), as C checks.
const maxArea = 1 << 46

func checkCapacity[T any](op, name string, n, capacity int) error {
	var zero T
	size := uint64(unsafe.Sizeof(zero))
	switch {
	case capacity < 0:
		return &Error{Op: op, Name: name, Detail: fmt.Sprintf("capacity %d is negative", capacity), Err: ErrInvalidOption}
	case n > capacity:
		return &Error{Op: op, Name: name, Detail: fmt.Sprintf("%d values do not fit a capacity of %d", n, capacity), Err: ErrInvalidOption}
	case size != 0 && uint64(capacity) > maxArea/size:
		return &Error{Op: op, Name: name, Detail: fmt.Sprintf("capacity %d of %d-byte elements passes 2^46 bytes", capacity, size), Err: ErrInvalidOption}
	}
	return nil
}

func wrapSlice[T any](name string, s seg, att *attachment) *Slice[T] {
	sl := &Slice[T]{}
	c := s.sliceCap()
	sl.init(name, s, att, uintptr(c)*unsafe.Sizeof(*sl.data))
	sl.data = (*T)(sl.base)
	sl.capN = c
	sl.guard = SliceGuard[T]{s: sl}
	sl.cleanup = runtime.AddCleanup(sl, func(h handleRef) {
		waitHubRelease(h.s)
		if rc := h.s.close(); !closeRefused(rc) {
			h.att.open.Add(-1)
		}
	}, handleRef{s, att})
	return sl
}

// full is the whole value area: len = cap = Cap.
func (s *Slice[T]) full() []T { return unsafe.Slice(s.data, s.capN) }

// lenWord reads the length once, bounded by the private capacity; bad
// reports a word beyond it.
func (s *Slice[T]) lenWord() (n int, bad bool) {
	w := atomic.LoadUint64(&s.hdr.Len)
	if w > uint64(s.capN) {
		return s.capN, true
	}
	return int(w), false
}

// Clone returns a new handle on the same slice (reference count +1),
// sharing this handle's mapping.
func (s *Slice[T]) Clone() (*Slice[T], error) {
	if err := s.cloneRef(); err != nil {
		return nil, err
	}
	return wrapSlice[T](s.name, s.s, s.att), nil
}

// Cap returns the capacity in elements, fixed at creation.
func (s *Slice[T]) Cap() int { return s.capN }

// Len returns the length: one lock-free read of the header's length word,
// bounded by Cap. 0 on a closed handle.
func (s *Slice[T]) Len() int {
	if s.closed.Load() {
		return 0
	}
	n, _ := s.lenWord()
	return n
}

// Load returns a consistent copy of the elements in use, without the lock
// (the seqlock Arc's Load uses); a copy that writers keep overlapping is
// retried a bounded number of times, then made under the lock. A poisoned
// slice is returned with ErrPoisoned; a length word beyond the capacity
// with ErrCorrupt (FieldLength) and the first Cap elements.
func (s *Slice[T]) Load() ([]T, error) { return s.AppendTo(nil) }

// sliceCopies bounds the copies Load makes before it takes the lock: a long
// slice stored in a loop cannot starve a reader.
const sliceCopies = 8

// AppendTo is Load appending to dst: no allocation when cap(dst) has room
// for Len more elements. On error the result still holds what Load would
// have returned with it.
func (s *Slice[T]) AppendTo(dst []T) ([]T, error) {
	if s.closed.Load() {
		return dst, opErr("load", s.name, ErrClosed)
	}
	h := s.hdr
	base := len(dst)
	copies := 0
	for i := 0; i < loadSpins && copies < sliceCopies; i++ {
		s1 := atomic.LoadUint32(&h.Seq)
		if i == 1 {
			atomic.AddUint64(&s.ctr.LoadRetries, 1)
		}
		if s1&1 != 0 {
			continue
		}
		n, bad := s.lenWord()
		out := slices.Grow(dst[:base], n)[:base+n]
		copy(out[base:], s.full()[:n])
		copies++
		f := atomic.LoadUint32(&h.Flags)
		loadFence()
		if atomic.LoadUint32(&h.Seq) == s1 {
			return out, s.readErr(f, bad)
		}
		dst = out[:base]
	}
	return s.appendLocked(dst[:base], -1)
}

// readErr is a consistent read's verdict: poison first, then a bad length.
func (s *Slice[T]) readErr(flags uint32, bad bool) error {
	if flags&flagPoisoned != 0 {
		return opErr("load", s.name, ErrPoisoned)
	}
	if bad {
		return &Error{Op: "load", Name: s.name, Field: FieldLength, Detail: fmt.Sprintf("the length word is beyond the capacity %d", s.capN), Err: ErrCorrupt}
	}
	return nil
}

// appendLocked is AppendTo's fallback under the lock (C), growing dst until
// the length found fits.
func (s *Slice[T]) appendLocked(dst []T, timeoutNs int64) ([]T, error) {
	base := len(dst)
	var zero T
	for {
		room := cap(dst) - base
		var p unsafe.Pointer
		if room > 0 {
			p = unsafe.Pointer(unsafe.SliceData(dst[base:cap(dst)]))
		}
		if unsafe.Sizeof(zero) == 0 {
			room = s.capN
		}
		n, rc := s.s.sliceLoadLocked(p, room, timeoutNs)
		if rc == int(syscall.ENOBUFS) {
			dst = slices.Grow(dst[:base], n)
			continue
		}
		if n > room {
			n = room
		}
		out := dst[:base+n]
		switch rc {
		case 0:
			return out, nil
		case int(syscall.EBADMSG):
			return out, s.readErr(0, true)
		}
		return out, fromErrno("load", s.name, rc, 0)
	}
}

// LoadAt returns element i, consistent, without the lock. ErrOutOfRange
// when i is not below the length; ErrPoisoned (with the element) on a
// poisoned slice.
func (s *Slice[T]) LoadAt(i int) (v T, err error) {
	if s.closed.Load() {
		return v, opErr("load", s.name, ErrClosed)
	}
	if i < 0 || i >= s.capN {
		return v, s.rangeErr("load", i)
	}
	h := s.hdr
	p := unsafe.Add(unsafe.Pointer(s.data), uintptr(i)*unsafe.Sizeof(v))
	for k := 0; k < loadSpins; k++ {
		s1 := atomic.LoadUint32(&h.Seq)
		if s1&1 != 0 {
			if k == 1 {
				atomic.AddUint64(&s.ctr.LoadRetries, 1)
			}
			continue
		}
		w := atomic.LoadUint64(&h.Len)
		v = *(*T)(p)
		f := atomic.LoadUint32(&h.Flags)
		loadFence()
		if atomic.LoadUint32(&h.Seq) == s1 {
			if f&flagPoisoned != 0 {
				return v, opErr("load", s.name, ErrPoisoned)
			}
			if w > uint64(s.capN) {
				return v, s.readErr(0, true)
			}
			if uint64(i) >= w {
				var zero T
				return zero, s.rangeErr("load", i)
			}
			return v, nil
		}
		if k == 1 {
			atomic.AddUint64(&s.ctr.LoadRetries, 1)
		}
	}
	rc := s.s.sliceGet(i, unsafe.Pointer(&v))
	switch rc {
	case 0:
		return v, nil
	case int(syscall.EBADMSG):
		return v, s.readErr(0, true)
	case int(syscall.ERANGE):
		var zero T
		return zero, s.rangeErr("load", i)
	}
	return v, fromErrno("load", s.name, rc, 0)
}

func (s *Slice[T]) rangeErr(op string, i int) error {
	return &Error{Op: op, Name: s.name, Detail: fmt.Sprintf("index %d is not below the length %d", i, s.Len()), Err: ErrOutOfRange}
}

// Store replaces the contents and the length with values, in one crossing
// into C (lock, copy, set the length, bump the version, unlock), and wakes
// every Wait. len(values) > Cap is ErrOutOfRange and changes nothing. A
// poisoned slice is not overwritten: ErrPoisoned (repair with Recover).
func (s *Slice[T]) Store(values []T) error {
	if s.closed.Load() {
		return opErr("store", s.name, ErrClosed)
	}
	if len(values) > s.capN {
		return &Error{Op: "store", Name: s.name, Detail: fmt.Sprintf("%d elements do not fit the capacity %d", len(values), s.capN), Err: ErrOutOfRange}
	}
	rc := s.s.sliceStore(unsafe.Pointer(unsafe.SliceData(values)), len(values))
	runtime.KeepAlive(values)
	if rc != 0 {
		return fromErrno("store", s.name, rc, 0)
	}
	return nil
}

// StoreAt replaces element i (below the length: else ErrOutOfRange) under
// the lock, in one crossing into C, and wakes every Wait.
func (s *Slice[T]) StoreAt(i int, v T) error {
	if s.closed.Load() {
		return opErr("store", s.name, ErrClosed)
	}
	if i < 0 || i >= s.capN {
		return s.rangeErr("store", i)
	}
	rc := s.s.sliceSet(i, unsafe.Pointer(&v))
	if rc == int(syscall.ERANGE) {
		return s.rangeErr("store", i)
	}
	if rc != 0 {
		return fromErrno("store", s.name, rc, 0)
	}
	return nil
}

// Lock acquires the slice's lock as Arc's Lock does (a guard or an error,
// never both; a poisoned slice is refused with ErrPoisoned).
func (s *Slice[T]) Lock() (*SliceGuard[T], error) {
	if err := s.lock("lock", false); err != nil {
		return nil, err
	}
	return &s.guard, nil
}

// TryLock is Lock without waiting: ErrWouldBlock when the lock is held.
func (s *Slice[T]) TryLock() (*SliceGuard[T], error) {
	if err := s.lock("trylock", true); err != nil {
		return nil, err
	}
	return &s.guard, nil
}

// LockContext is Lock that gives up when ctx is done, as Arc's.
func (s *Slice[T]) LockContext(ctx context.Context) (*SliceGuard[T], error) {
	if err := s.lockContext(ctx); err != nil {
		return nil, err
	}
	return &s.guard, nil
}

// inPlace is the slice under the lock: len = the length (bounded), cap = Cap.
func (s *Slice[T]) inPlace() []T {
	n, _ := s.lenWord()
	return s.full()[:n]
}

// setFrom makes v the contents under the lock: v aliasing the mapping sets
// the length only; another slice is copied in first.
func (s *Slice[T]) setFrom(op string, v []T) error {
	if len(v) > s.capN {
		return &Error{Op: op, Name: s.name, Detail: fmt.Sprintf("%d elements do not fit the capacity %d", len(v), s.capN), Err: ErrOutOfRange}
	}
	if len(v) > 0 && unsafe.SliceData(v) != s.data {
		copy(s.full(), v)
	}
	atomic.StoreUint64(&s.hdr.Len, uint64(len(v)))
	return nil
}

// Update locks, calls fn with the elements in use in place (len = Len, cap
// = Cap), and unlocks. fn returns the new contents: v[:n] (any n up to Cap)
// changes the length, and a slice that does not alias the mapping is copied
// in. If fn returns an error, the length stays and the error is returned
// (the changes fn made in place stay, as with Arc). A result longer than Cap
// is ErrOutOfRange and leaves the length. If fn panics the slice is
// poisoned. A poisoned slice is refused (ErrPoisoned; repair with Recover).
func (s *Slice[T]) Update(fn func(v []T) ([]T, error)) error {
	return s.update(func() error {
		nv, err := fn(s.inPlace())
		if err != nil {
			return err
		}
		return s.setFrom("update", nv)
	})
}

// Recover repairs a poisoned slice as Arc's Recover does: fn runs under the
// lock whether or not the slice is poisoned, on the elements in use (a
// length word beyond the capacity shows as Cap elements), returns the
// repaired contents as Update's fn does, and the poison is cleared when it
// returns a nil error.
func (s *Slice[T]) Recover(fn func(v []T) ([]T, error)) error {
	return s.recover(func() error {
		nv, err := fn(s.inPlace())
		if err != nil {
			return err
		}
		return s.setFrom("recover", nv)
	})
}

// View locks, calls fn with the elements in use for reading, and unlocks
// without a new version.
func (s *Slice[T]) View(fn func(v []T) error) error {
	return s.view(func() error { return fn(s.inPlace()) })
}

// Get returns the elements in use inside the shared mapping (len = Len, cap
// = Cap): valid only until Unlock. Appending within Cap writes the mapping
// but does not change the length: call SetLen.
func (g *SliceGuard[T]) Get() []T {
	if g == nil {
		return nil
	}
	return g.s.inPlace()
}

// SetLen sets the length (0 to Cap; else ErrOutOfRange) while the lock is
// held by the calling goroutine (else ErrNotOwner). Elements between the
// old and the new length keep whatever they held.
func (g *SliceGuard[T]) SetLen(n int) error {
	if g == nil {
		return opErr("set length", "", ErrNotOwner)
	}
	s := g.s
	if s.att.open.Load() == 0 {
		return opErr("set length", s.name, ErrNotOwner)
	}
	if n < 0 || n > s.capN {
		return &Error{Op: "set length", Name: s.name, Detail: fmt.Sprintf("length %d is not within the capacity %d", n, s.capN), Err: ErrOutOfRange}
	}
	if rc := s.s.sliceSetLen(n); rc != 0 {
		if rc == int(syscall.EPERM) {
			return opErr("set length", s.name, ErrNotOwner)
		}
		return fromErrno("set length", s.name, rc, 0)
	}
	return nil
}

// Unlock releases the lock: a new version, every Wait wakes.
func (g *SliceGuard[T]) Unlock() error {
	if g == nil {
		return opErr("unlock", "", ErrNotOwner)
	}
	return g.s.unlock("unlock", true)
}

// UnlockUnchanged is Unlock after a section that wrote nothing (not even
// the length): the version stays.
func (g *SliceGuard[T]) UnlockUnchanged() error {
	if g == nil {
		return opErr("unlock", "", ErrNotOwner)
	}
	return g.s.unlock("unlock", false)
}
