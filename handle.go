//go:build linux && cgo

package ipcarc

import (
	"errors"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Handle is what every shape of shared value has in common, whatever its
// type: the attachment to a named segment, its reference count, its lock's
// bookkeeping, its version and its information. Arc[T] embeds it, so these
// methods are Arc's; they are written once, for every shape.
//
// A Handle is only ever used through an Arc: the zero Handle is not usable.
type Handle struct {
	name    string
	s       seg
	hdr     *header
	base    unsafe.Pointer // the value in the mapping
	size    uintptr        // its size in bytes
	ctr     *counters      // this attachment's counters, in its slot
	att     *attachment
	closed  atomic.Bool
	cleanup runtime.Cleanup
	// For a value made only of sync/atomic fields (setAtomic): the word
	// (4 or 8 bytes) Load copies atomically, 0 for a plain copy; otherwise
	// atomicErr says why Atomic is refused.
	words     uint8
	atomicErr error
}

// init fills h for the attachment s.
func (h *Handle) init(name string, s seg, att *attachment, size uintptr) {
	h.name, h.s, h.att, h.size = name, s, att, size
	h.hdr, h.base, h.ctr = s.header(), s.data(), s.counters()
}

// Name returns the segment's name, without a leading slash.
func (h *Handle) Name() string { return h.name }

// tableOwner is the thread holding the holder table's lock, 0 when free: one
// load of the mutex word.
func (h *Handle) tableOwner() int {
	return int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&h.hdr.TableMutex[0]))) & futexTIDMask)
}

// slots views the holder table through the bound taken at attach, never
// through the header's own (shared, writable) max_holders.
func (h *Handle) slots() []holder {
	return unsafe.Slice((*holder)(unsafe.Add(unsafe.Pointer(h.hdr), headerSize)), h.s.maxHolders())
}

// ---- the value's lock, untyped: every shape's Lock, Recover and Update ----

// lock takes the value's lock for op: nil with the lock held and the calling
// goroutine pinned to its thread, or an error with neither (a poisoned value
// is refused and the lock released).
func (h *Handle) lock(op string, try bool) error {
	if h.closed.Load() {
		return opErr(op, h.name, ErrClosed)
	}
	runtime.LockOSThread()
	if try {
		return h.locked(op, h.s.trylock())
	}
	return h.locked(op, h.s.lock())
}

// locked finishes a lock attempt: the thread stays pinned only if the mutex
// is held, and the mutex stays held only for a healthy value.
func (h *Handle) locked(op string, rc int) error {
	if rc == 0 && atomic.LoadUint32(&h.hdr.Flags)&flagPoisoned == 0 {
		return nil
	}
	if rc == 0 || rc == int(syscall.EOWNERDEAD) {
		cause := error(ErrPoisoned)
		if rc == int(syscall.EOWNERDEAD) {
			cause = errOwnerDead
		}
		return h.refuse(op, cause)
	}
	runtime.UnlockOSThread()
	return fromErrno(op, h.name, rc, mutexField(rc))
}

// poisonDetail is what a refused lock says to do.
const poisonDetail = "a holder died inside its critical section (or an Update panicked); repair the value with Recover"

// refuse releases a lock just taken on a poisoned value (nothing was written:
// no new version, no wake-up) and returns the error that says so.
func (h *Handle) refuse(op string, cause error) error {
	e := &Error{Op: op, Name: h.name, Detail: poisonDetail, Err: cause}
	if rc := h.s.unlockUnchanged(); rc != 0 {
		// Cannot happen while this thread holds the lock; if it did, the
		// lock is still held by this thread, which must stay pinned.
		return errors.Join(e, fromErrno("unlock", h.name, rc, mutexField(rc)))
	}
	runtime.UnlockOSThread()
	return e
}

// unlock releases the value's lock (changed: a new version, waiters woken)
// and unpins the goroutine.
func (h *Handle) unlock(op string, changed bool) error {
	if h.att.open.Load() == 0 {
		// Every handle of the attachment is closed, so the mapping (and the
		// C handle) are gone; the last Close is refused while the lock is
		// held through it, so this goroutine cannot hold it.
		return opErr(op, h.name, ErrNotOwner)
	}
	var rc int
	if changed {
		rc = h.s.unlock()
	} else {
		rc = h.s.unlockUnchanged()
	}
	if rc != 0 {
		return fromErrno(op, h.name, rc, mutexField(rc))
	}
	runtime.UnlockOSThread()
	return nil
}

// poisonAndUnlock ends a critical section whose function panicked: whatever
// it left is suspect.
func (h *Handle) poisonAndUnlock() {
	atomic.OrUint32(&h.hdr.Flags, flagPoisoned)
	atomic.AddUint64(&h.ctr.Poisoned, 1)
	h.unlock("unlock", true)
}

// update is Update for every shape: fn runs under the lock on a healthy value.
func (h *Handle) update(fn func() error) error { return h.section("update", true, fn) }

// view is View for every shape: fn reads under the lock; the version stays.
func (h *Handle) view(fn func() error) error { return h.section("view", false, fn) }

// section runs fn under the lock on a healthy value; write says whether it
// ends as a write (a new version, waiters woken, an update counted). If fn
// panics, the value is poisoned and the lock released.
func (h *Handle) section(op string, write bool, fn func() error) error {
	if err := h.lock(op, false); err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			h.poisonAndUnlock()
		}
	}()
	ferr := fn()
	done = true
	if write {
		atomic.AddUint64(&h.ctr.Updates, 1)
	}
	uerr := h.unlock(op, write)
	if err := errors.Join(ferr, uerr); err != nil {
		return &Error{Op: op, Name: h.name, Err: err}
	}
	return nil
}

// recover is Recover for every shape: fn runs under the lock whether or not
// the value is poisoned; the poison is cleared when fn returns nil.
func (h *Handle) recover(fn func() error) error {
	if h.closed.Load() {
		return opErr("recover", h.name, ErrClosed)
	}
	runtime.LockOSThread()
	rc := h.s.lock()
	if rc != 0 && rc != int(syscall.EOWNERDEAD) {
		runtime.UnlockOSThread()
		return fromErrno("recover", h.name, rc, mutexField(rc))
	}
	done := false
	defer func() {
		if !done {
			h.poisonAndUnlock()
		}
	}()
	ferr := fn()
	done = true
	var cerr error
	if ferr == nil && atomic.LoadUint32(&h.hdr.Flags)&flagPoisoned != 0 {
		if rc := h.s.clearPoison(); rc != 0 {
			cerr = fromErrno("recover", h.name, rc, mutexField(rc))
		}
	}
	uerr := h.unlock("recover", true)
	if err := errors.Join(ferr, cerr, uerr); err != nil {
		return &Error{Op: "recover", Name: h.name, Err: err}
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

// store is Store for every shape: n bytes from src (Go memory, pointer-free),
// in one crossing into C.
func (h *Handle) store(src unsafe.Pointer, n uintptr) error {
	if h.closed.Load() {
		return opErr("store", h.name, ErrClosed)
	}
	if rc := h.s.store(src, n); rc != 0 {
		return fromErrno("store", h.name, rc, 0)
	}
	return nil
}

// loadLocked is the slow path of Load: a writer stayed inside, or died there.
// C takes the lock (handling owner death) and copies n bytes into dst.
func (h *Handle) loadLocked(dst unsafe.Pointer, n uintptr, timeoutNs int64) int {
	return h.s.loadLocked(dst, n, timeoutNs)
}

// ---- versions ---------------------------------------------------------------

// Version counts the completed writes to a segment's value (Unlock of a
// Guard, Store, Update, Recover), modulo 2^31: it is the segment's sequence
// word halved. Compare versions with After or ==, never with < or >, which
// break at the wrap.
type Version uint32

// versionMask keeps a Version's 31 bits.
const versionMask = 1<<31 - 1

// After reports whether v is later than w: at most 2^30 writes after it,
// modulo 2^31 (serial-number arithmetic, RFC 1982).
func (v Version) After(w Version) bool {
	d := (uint32(v) - uint32(w)) & versionMask
	return d != 0 && d < 1<<30
}

// Version returns the number of completed writes to the value, modulo 2^31.
// It changes exactly when a write ends; a read-only critical section (View,
// Guard.UnlockUnchanged) does not change it.
func (h *Handle) Version() (Version, error) {
	if h.closed.Load() {
		return 0, opErr("version", h.name, ErrClosed)
	}
	return Version(atomic.LoadUint32(&h.hdr.Seq) >> 1), nil
}
