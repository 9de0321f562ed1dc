//go:build linux && cgo

package ipcarc

import (
	"context"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// Guard is the lock on a segment's value, held by the goroutine that called
// Lock until it calls Unlock. Each handle has one Guard, reused by every Lock:
// the mutex admits one holder at a time, and Unlock checks in C that the
// calling thread owns the mutex, so a stale *Guard can never unlock someone
// else's critical section.
type Guard[T any] struct {
	a *Arc[T]
}

// Lock acquires the segment's robust, process-shared mutex and returns the
// guard. The calling goroutine is pinned to its OS thread until Unlock (a
// pthread mutex belongs to a thread). If the previous owner died holding the
// lock, Lock still returns the guard, with an error matching ErrOwnerDead and
// ErrPoisoned; while the value stays poisoned every Lock returns its guard with
// ErrPoisoned, until a holder calls ClearPoison. Lock by the goroutine already
// holding the lock returns ErrDeadlock.
func (a *Arc[T]) Lock() (*Guard[T], error) {
	if a.closed.Load() {
		return nil, opErr("lock", a.name, ErrClosed)
	}
	runtime.LockOSThread()
	rc := a.s.lock()
	return a.locked("lock", rc)
}

// TryLock is Lock without waiting: ErrWouldBlock when another thread or
// process holds the lock.
func (a *Arc[T]) TryLock() (*Guard[T], error) {
	if a.closed.Load() {
		return nil, opErr("trylock", a.name, ErrClosed)
	}
	runtime.LockOSThread()
	return a.locked("trylock", a.s.trylock())
}

// lockSlice is how long LockContext sleeps on the mutex between looks at ctx:
// it bounds how late a cancellation is noticed.
const lockSlice = 2 * time.Millisecond

// LockContext is Lock that gives up when ctx is done, returning ctx.Err()
// within about 2ms of cancellation; then neither the mutex nor the thread
// stays held.
func (a *Arc[T]) LockContext(ctx context.Context) (*Guard[T], error) {
	if ctx.Done() == nil {
		return a.Lock()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if a.closed.Load() {
		return nil, opErr("lock", a.name, ErrClosed)
	}
	runtime.LockOSThread()
	rc := a.s.trylock()
	var since int64 // when the wait began, so that it is counted as one
	for rc == int(syscall.EBUSY) || rc == int(syscall.ETIMEDOUT) {
		if err := ctx.Err(); err != nil {
			runtime.UnlockOSThread()
			return nil, err
		}
		if since == 0 {
			since = monotonicNs()
		}
		rc = a.s.timedlockSince(int64(lockSlice), since)
	}
	return a.locked("lock", rc)
}

// locked finishes a lock attempt: the thread stays pinned only if the mutex
// is held.
func (a *Arc[T]) locked(op string, rc int) (*Guard[T], error) {
	if rc == 0 {
		if atomic.LoadUint32(&a.hdr.Flags)&flagPoisoned == 0 {
			return &a.guard, nil
		}
		return &a.guard, opErr(op, a.name, ErrPoisoned)
	}
	if rc == int(syscall.EOWNERDEAD) {
		return &a.guard, opErr(op, a.name, errOwnerDead)
	}
	runtime.UnlockOSThread()
	return nil, fromErrno(op, a.name, rc, mutexField(rc))
}

// mutexField names the mutex kind for EBADMSG from a lock or unlock: the
// only check they make of the segment's bytes (a peer changed the kind).
func mutexField(rc int) int {
	if rc == int(syscall.EBADMSG) {
		return fieldMutex
	}
	return 0
}

// Get returns a pointer to the value inside the shared mapping (zero copy).
// It is valid only until Unlock: after that another process may change the
// value at any moment, and after the last Close the memory is unmapped.
func (g *Guard[T]) Get() *T { return g.a.data }

// Unlock releases the lock and unpins the goroutine. Unlock from a goroutine
// that does not hold the lock, or a second Unlock, returns ErrNotOwner and
// changes nothing.
func (g *Guard[T]) Unlock() error {
	if g.a.att.open.Load() == 0 {
		// Every handle of the attachment is closed, so the mapping (and the
		// C handle) are gone; the last Close is refused while the lock is
		// held through it, so this goroutine cannot hold it.
		return opErr("unlock", g.a.name, ErrNotOwner)
	}
	if rc := g.a.s.unlock(); rc != 0 {
		return fromErrno("unlock", g.a.name, rc, mutexField(rc))
	}
	runtime.UnlockOSThread()
	return nil
}

// ClearPoison marks the value consistent again after an owner died. Call it
// while holding the guard, once the value has been checked or repaired; it
// clears the flag for every process. Like Unlock, it checks in C that the
// calling thread holds the lock: from a goroutine that does not (a stale
// *Guard, or after Unlock) it returns ErrNotOwner and changes nothing.
func (g *Guard[T]) ClearPoison() error {
	if g.a.att.open.Load() == 0 {
		// No mapping left: the lock cannot be held through this handle.
		return opErr("clear poison", g.a.name, ErrNotOwner)
	}
	if rc := g.a.s.clearPoison(); rc != 0 {
		return fromErrno("clear poison", g.a.name, rc, mutexField(rc))
	}
	return nil
}
