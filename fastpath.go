//go:build linux && cgo

package ipcarc

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// loadSpins is how many times Load retries the seqlock before it takes the
// lock instead; enough for any writer that is merely running, few enough that
// a writer that sleeps or died under the lock is noticed quickly.
const loadSpins = 128

// Load returns a consistent copy of the value without taking the mutex and
// without calling into C: a seqlock read of the header's sequence word. If a
// writer stays inside its critical section (or died there, leaving the word
// odd), Load falls back to the lock, and so to owner-death recovery. A
// poisoned value is returned with ErrPoisoned. Load never reports
// ErrOwnerDead: that news is kept for the next Lock, TryLock, LockContext or
// Update, whose caller can repair the value.
//
// Memory ordering. Writers (C, under the mutex) make seq odd, issue a release
// fence, write the value, and make seq even with a release store. Load reads
// seq (acquire), copies, and re-reads seq; equal and even means no writer
// overlapped the copy. The copy's loads must complete before the re-read:
//   - amd64: loads are not reordered with other loads (TSO), and the compiler
//     keeps the copy (a store into v, on the memory chain) before the atomic
//     re-read. Nothing more is needed.
//   - arm64 and others: plain loads may be satisfied after a later load-
//     acquire, so loadFence issues a full barrier (an atomic read-modify-write)
//     between the copy and the re-read, the smp_rmb of the Linux seqlock.
//
// Load is a small wrapper that inlines into the caller, so that the copy
// lands in the caller's variable; LoadInto does the work (its first try in
// line, retries, poison and the lock fallback out of line). A Load whose
// whole fast path inlined would copy once; Go's inliner refuses it (a
// generic method's body with an out-of-line fallback call costs over its
// budget of 80), so for large values LoadInto, which copies once, is faster.
func (a *Arc[T]) Load() (v T, err error) {
	err = a.LoadInto(&v)
	return v, err
}

// LoadInto is Load into *dst: one copy, straight out of the mapping, and no
// allocation whatever the size of T. On error *dst holds what Load would
// have returned with it.
func (a *Arc[T]) LoadInto(dst *T) error {
	if !a.closed.Load() {
		h := a.hdr
		s1 := atomic.LoadUint32(&h.Seq)
		if a.words == 0 {
			*dst = *a.data
		} else {
			copyWords(unsafe.Pointer(dst), a.base, a.size, a.words)
		}
		f := atomic.LoadUint32(&h.Flags)
		loadFence()
		if atomic.LoadUint32(&h.Seq) == s1 && (s1|f)&1 == 0 {
			return nil
		}
	}
	return a.loadIntoSlow(dst)
}

// loadIntoSlow: the handle is closed, the value poisoned, or a writer was
// inside during the first try. A Load that needs another try counts one
// retry; one that falls back to the lock, one fallback too (counted in C).
//
//go:noinline
func (a *Arc[T]) loadIntoSlow(dst *T) error {
	if a.closed.Load() {
		return opErr("load", a.name, ErrClosed)
	}
	if ok, err := a.loadSeq(dst); ok {
		return err
	}
	return a.loadLocked(dst)
}

// loadSeq is the seqlock read: ok is false when a writer stayed inside for
// all of loadSpins tries (*dst then holds a possibly torn copy).
func (a *Arc[T]) loadSeq(dst *T) (ok bool, err error) {
	seq := &a.hdr.Seq
	for i := 0; i < loadSpins; i++ {
		s1 := atomic.LoadUint32(seq)
		if i == 1 {
			atomic.AddUint64(&a.ctr.LoadRetries, 1)
		}
		if s1&1 != 0 {
			continue
		}
		if a.words == 0 {
			*dst = *a.data
		} else {
			copyWords(unsafe.Pointer(dst), a.base, a.size, a.words)
		}
		// The poison flag belongs to the snapshot: it only changes while seq
		// is odd (Recover's clear, under the lock) or just before seq moves
		// (recovery), so read it inside the window. Read after the re-check,
		// a repairer's clear could pair a pre-repair value with "clean".
		flags := atomic.LoadUint32(&a.hdr.Flags)
		loadFence()
		if atomic.LoadUint32(seq) == s1 {
			if flags&flagPoisoned != 0 {
				return true, opErr("load", a.name, ErrPoisoned)
			}
			return true, nil
		}
	}
	return false, nil
}

// loadSlice is how long LoadContext waits for the value's lock between looks
// at ctx: it bounds how late a cancellation is noticed.
const loadSlice = 2 * time.Millisecond

// LoadContext is Load that gives up when ctx is done. The seqlock read does
// not block; only when a writer stays inside its critical section (stopped,
// descheduled for long, or dead there) does Load fall back to the value's
// lock, and there LoadContext waits in slices of about 2ms, returning the
// zero T and ctx.Err() within about 2ms of ctx being done. A ctx already done
// returns ctx.Err() at once. Otherwise the results are Load's: a writer that
// died inside is reported with ErrPoisoned, alongside the value it left
// (ErrOwnerDead is kept for the next locker).
func (a *Arc[T]) LoadContext(ctx context.Context) (v T, err error) {
	if ctx.Done() == nil {
		return a.Load()
	}
	if err := ctx.Err(); err != nil {
		return v, opErr("load", a.name, err)
	}
	if a.closed.Load() {
		return v, opErr("load", a.name, ErrClosed)
	}
	if ok, err := a.loadSeq(&v); ok {
		return v, err
	}
	for {
		rc := a.Handle.loadLocked(unsafe.Pointer(&v), unsafe.Sizeof(v), int64(loadSlice))
		if rc != int(syscall.ETIMEDOUT) {
			return v, fromErrno("load", a.name, rc, 0)
		}
		if err := ctx.Err(); err != nil {
			var zero T
			return zero, opErr("load", a.name, err)
		}
	}
}

// loadLocked is the slow path: a writer stayed inside, or died there. C takes
// the lock (handling owner death) and copies into dst, which may be on the
// goroutine stack (it crosses as a pointer: see cgo_bridge.go).
func (a *Arc[T]) loadLocked(dst *T) error {
	if rc := a.Handle.loadLocked(unsafe.Pointer(dst), unsafe.Sizeof(*dst), -1); rc != 0 {
		return fromErrno("load", a.name, rc, 0)
	}
	return nil
}

// Store replaces the value in one crossing into C (lock, copy, bump the
// version, unlock) and wakes every Wait. A poisoned value is not overwritten:
// Store returns ErrPoisoned, and leaves ErrOwnerDead for the next Lock,
// TryLock, LockContext or Update; repair with Recover.
func (a *Arc[T]) Store(v T) error { return a.StoreFrom(&v) }

// StoreFrom is Store from *src, without the copy of T that passing it by value
// costs: for large values it halves the bytes moved.
func (a *Arc[T]) StoreFrom(src *T) error {
	return a.store(unsafe.Pointer(src), unsafe.Sizeof(*src))
}

// Update locks, calls fn with the value in place, and unlocks. If fn returns
// an error the changes it made stay (they are in shared memory) and the error
// is returned. If fn panics, the value is poisoned, the lock released, and the
// panic continues, as with Rust's Mutex. A poisoned value is not handed to fn:
// Update returns ErrPoisoned (repair with Recover). Every error is an *Error
// with op "update", wrapping fn's error and an unlock error alike.
func (a *Arc[T]) Update(fn func(*T) error) error {
	return a.update(func() error { return fn(a.data) })
}
