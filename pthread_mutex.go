//go:build linux && cgo

package ipcarc

import (
	"context"
	"errors"
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
// is held, and the mutex stays held only for a healthy value.
func (a *Arc[T]) locked(op string, rc int) (*Guard[T], error) {
	if rc == 0 && atomic.LoadUint32(&a.hdr.Flags)&flagPoisoned == 0 {
		return &a.guard, nil
	}
	if rc == 0 || rc == int(syscall.EOWNERDEAD) {
		cause := error(ErrPoisoned)
		if rc == int(syscall.EOWNERDEAD) {
			cause = errOwnerDead
		}
		return nil, a.refuse(op, cause)
	}
	runtime.UnlockOSThread()
	return nil, fromErrno(op, a.name, rc, mutexField(rc))
}

// poisonDetail is what a refused lock says to do.
const poisonDetail = "a holder died inside its critical section (or an Update panicked); repair the value with Recover"

// refuse releases a lock just taken on a poisoned value (nothing was written:
// no new version, no wake-up) and returns the error that says so.
func (a *Arc[T]) refuse(op string, cause error) error {
	e := &Error{Op: op, Name: a.name, Detail: poisonDetail, Err: cause}
	if rc := a.s.unlockUnchanged(); rc != 0 {
		// Cannot happen while this thread holds the lock; if it did, the
		// lock is still held by this thread, which must stay pinned.
		return errors.Join(e, fromErrno("unlock", a.name, rc, mutexField(rc)))
	}
	runtime.UnlockOSThread()
	return e
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
	if a.closed.Load() {
		return opErr("recover", a.name, ErrClosed)
	}
	runtime.LockOSThread()
	rc := a.s.lock()
	if rc != 0 && rc != int(syscall.EOWNERDEAD) {
		runtime.UnlockOSThread()
		return fromErrno("recover", a.name, rc, mutexField(rc))
	}
	g := &a.guard
	done := false
	defer func() {
		if !done { // fn panicked: whatever it left is suspect
			atomic.OrUint32(&a.hdr.Flags, flagPoisoned)
			atomic.AddUint64(&a.ctr.Poisoned, 1)
			g.Unlock()
		}
	}()
	ferr := fn(a.data)
	done = true
	var cerr error
	if ferr == nil && atomic.LoadUint32(&a.hdr.Flags)&flagPoisoned != 0 {
		if rc := a.s.clearPoison(); rc != 0 {
			cerr = fromErrno("recover", a.name, rc, mutexField(rc))
		}
	}
	uerr := g.Unlock()
	if err := errors.Join(ferr, cerr, uerr); err != nil {
		return &Error{Op: "recover", Name: a.name, Err: err}
	}
	return nil
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
func (g *Guard[T]) Get() *T {
	if g == nil {
		return nil
	}
	return g.a.data
}

// Unlock releases the lock and unpins the goroutine. Unlock from a goroutine
// that does not hold the lock, or a second Unlock, returns ErrNotOwner and
// changes nothing.
func (g *Guard[T]) Unlock() error {
	if g == nil {
		// The nil guard of a failed Lock: nothing is held.
		return opErr("unlock", "", ErrNotOwner)
	}
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
