//go:build linux && cgo

package ipcarc

import (
	"context"
	"runtime"
	"syscall"
	"time"
)

// Guard is the lock on a segment's value, held by the goroutine that called
// Lock until it calls Unlock. Each handle has one Guard, reused by every Lock:
// the mutex admits one holder at a time, and Unlock checks in C that the
// calling thread owns the mutex, so a stale *Guard can never unlock someone
// else's critical section.
type Guard[T any] struct {
	h *Handle
	v *T
}

// Lock acquires the segment's robust, process-shared mutex and returns the
// guard. The calling goroutine is pinned to its OS thread until Unlock (a
// pthread mutex belongs to a thread). Lock returns a guard and a nil error,
// or a nil guard and an error, never both: no lock is ever held behind an
// error.
//
// A poisoned value (a holder died inside its critical section, or an Update's
// function panicked) is not handed out: Lock releases the lock and returns an
// error matching ErrPoisoned, and ErrOwnerDead as well for the first lock
// after the death (the one told to repair). Repair with Recover. Lock by the
// goroutine already holding the lock returns ErrDeadlock.
func (a *Arc[T]) Lock() (*Guard[T], error) {
	if err := a.lock("lock", false); err != nil {
		return nil, err
	}
	return &a.guard, nil
}

// TryLock is Lock without waiting: ErrWouldBlock when another thread or
// process holds the lock.
func (a *Arc[T]) TryLock() (*Guard[T], error) {
	if err := a.lock("trylock", true); err != nil {
		return nil, err
	}
	return &a.guard, nil
}

// lockSlice is how long LockContext sleeps on the mutex between looks at ctx:
// it bounds how late a cancellation is noticed.
const lockSlice = 2 * time.Millisecond

// LockContext is Lock that gives up when ctx is done, returning an error
// that wraps ctx.Err() within about 2ms of cancellation; then neither the
// mutex nor the thread stays held.
func (a *Arc[T]) LockContext(ctx context.Context) (*Guard[T], error) {
	if err := a.lockContext(ctx); err != nil {
		return nil, err
	}
	return &a.guard, nil
}

// lockContext is LockContext for every shape.
func (h *Handle) lockContext(ctx context.Context) error {
	if ctx.Done() == nil {
		return h.lock("lock", false)
	}
	if err := ctx.Err(); err != nil {
		return opErr("lock", h.name, err)
	}
	if h.closed.Load() {
		return opErr("lock", h.name, ErrClosed)
	}
	runtime.LockOSThread()
	rc := h.s.trylock()
	var since int64 // when the wait began, so that it is counted as one
	for rc == int(syscall.EBUSY) || rc == int(syscall.ETIMEDOUT) {
		if err := ctx.Err(); err != nil {
			runtime.UnlockOSThread()
			return opErr("lock", h.name, err)
		}
		if since == 0 {
			since = monotonicNs()
		}
		rc = h.s.timedlockSince(int64(lockSlice), since)
	}
	return h.locked("lock", rc)
}

// Recover repairs a poisoned value: it takes the lock whether or not the
// value is poisoned, runs fn on the value in place (zero copy), clears the
// poison for every process when fn returns nil, and always unlocks. It
// returns nil, or an *Error wrapping fn's error (the poison then stays) or a
// locking error. On a healthy value it behaves like Update. If fn panics, the
// value stays (or becomes) poisoned, the lock is released and the panic goes
// on. The value fn sees may be half written by the holder that died: check
// every field, or rebuild the value from what you know.
func (a *Arc[T]) Recover(fn func(v *T) error) error {
	return a.recover(func() error { return fn(a.data) })
}

// View locks, calls fn with the value in place for reading, and unlocks
// without a new version: no Wait wakes for it. (Reading through Lock and
// Unlock counts as a write.) A poisoned value is refused as Lock refuses it.
// If fn panics, the value is poisoned as by Update. Errors are *Error with
// op "view", wrapping fn's.
func (a *Arc[T]) View(fn func(v *T) error) error {
	return a.view(func() error { return fn(a.data) })
}

// Get returns a pointer to the value inside the shared mapping (zero copy).
// It is valid only until Unlock: after that another process may change the
// value at any moment, and after the last Close the memory is unmapped.
func (g *Guard[T]) Get() *T {
	if g == nil {
		return nil
	}
	return g.v
}

// Unlock releases the lock and unpins the goroutine: the end of a write, so
// the version moves on and every Wait wakes. Unlock from a goroutine that
// does not hold the lock, or a second Unlock, returns ErrNotOwner and changes
// nothing.
func (g *Guard[T]) Unlock() error {
	if g == nil {
		// The nil guard of a failed Lock: nothing is held.
		return opErr("unlock", "", ErrNotOwner)
	}
	return g.h.unlock("unlock", true)
}

// UnlockUnchanged is Unlock after a critical section that wrote nothing: the
// version stays and no Wait wakes. Writing through Get and then calling it
// hides the write from every Wait and from lock-free Loads already under way:
// don't.
func (g *Guard[T]) UnlockUnchanged() error {
	if g == nil {
		return opErr("unlock", "", ErrNotOwner)
	}
	return g.h.unlock("unlock", false)
}
