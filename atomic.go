//go:build linux && cgo

package ipcarc

import (
	"reflect"
	"sync/atomic"
	"unsafe"
)

// Atomic returns the value in place for lock-free use: its fields are read
// and changed with their own methods (Add, Load, Store, CompareAndSwap)
// without the lock, by any number of processes at once, and by C and Rust
// peers with the same atomic instructions on the same addresses (LAYOUT.md,
// "Lock-free fields"). It is allowed only when every field of T, recursively
// and arrays included, is an atomic.Int32, Int64, Uint32, Uint64, Uintptr or
// Bool (or T is one, or an array of them); otherwise the error matches
// ErrUnsupportedType and names the first other field. The check is made once
// per handle.
//
// The pointer stays valid until the handle's Close (the last Close of its
// attachment: a Clone shares the mapping); using it after that faults.
//
// A lock-free change moves no version and wakes no Wait: call Notify after
// it when waiters must see it. Lock, Update and Recover still work on the
// same value, for changes of several fields together; Store replaces the
// whole value under the lock and can overwrite a concurrent lock-free Add.
func (a *Arc[T]) Atomic() (*T, error) {
	if a.atomicErr != nil {
		e := *a.atomicErr.(*Error)
		e.Name = a.name
		return nil, &e
	}
	if a.closed.Load() {
		return nil, opErr("atomic", a.name, ErrClosed)
	}
	return a.data, nil
}

// Notify says "the value changed" without the lock, after a lock-free change
// of an atomic field: the version moves on by one and every Wait in every
// process wakes, as after an unlock. It takes no lock and never blocks, and
// may be called while holding the lock. The seqlock Load stays sound (a Load
// that overlaps a Notify tries again).
func (h *Handle) Notify() error {
	if h.closed.Load() {
		return opErr("notify", h.name, ErrClosed)
	}
	if h.att.open.Load() == 0 {
		return opErr("notify", h.name, ErrClosed)
	}
	if rc := h.s.notify(); rc != 0 {
		return fromErrno("notify", h.name, rc, 0)
	}
	return nil
}

// setAtomic runs checkAtomic for t once at attach: a value of atomics is
// then copied by Load and Store one atomic word at a time, so that a copy
// never tears a field another process changes lock-free.
func (h *Handle) setAtomic(t reflect.Type) error {
	err := checkAtomic(t)
	if err == nil {
		if h.s.wordCopy(true) == 0 {
			h.words = uint8(8)
			if h.size%8 != 0 {
				h.words = 4
			}
		}
	}
	return err
}

// copyWords copies n bytes from src to dst one aligned word of w bytes at a
// time, each read with an atomic load.
func copyWords(dst, src unsafe.Pointer, n uintptr, w uint8) {
	if w == 8 {
		d, s := unsafe.Slice((*uint64)(dst), n/8), unsafe.Slice((*uint64)(src), n/8)
		for i := range s {
			d[i] = atomic.LoadUint64(&s[i])
		}
		return
	}
	d, s := unsafe.Slice((*uint32)(dst), n/4), unsafe.Slice((*uint32)(src), n/4)
	for i := range s {
		d[i] = atomic.LoadUint32(&s[i])
	}
}

// Atomic returns the slice's elements in place, for lock-free use, when
// every field of T is a sync/atomic integer or bool type (as Arc.Atomic):
// len is Len when called, cap is Cap. Elements past that length are there
// too (s[:cap(s)]), but another process's Store may change the length at any
// time. The slice stays valid until the handle's (attachment's last) Close.
// Load and Store of a slice copy whole elements, not word by word: use the
// atomic fields' own methods to read them consistently.
func (s *Slice[T]) Atomic() ([]T, error) {
	if err := checkAtomic(reflect.TypeFor[T]()); err != nil {
		e := *err.(*Error)
		e.Name = s.name
		return nil, &e
	}
	if s.closed.Load() {
		return nil, opErr("atomic", s.name, ErrClosed)
	}
	return s.full()[:s.Len()], nil
}
