//go:build linux && cgo

package ipcarc

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Arc is one handle on a value of type T shared between processes through a
// named POSIX shared-memory segment. Like Rust's Arc<Mutex<T>>: every handle
// counts in the segment's reference count, and the Close of the last handle in
// any process removes the segment.
//
// A handle may be used from several goroutines, except that Close must not
// race with other calls on the same handle: give each goroutine its own Clone,
// as one gives each thread its own Arc.
//
// The methods that do not depend on T (Name, Close, RefCount, Reap, Info,
// Version, Wait, Expvar) are those of the embedded Handle.
type Arc[T any] struct {
	Handle
	data  *T
	guard Guard[T]
}

func newSpec[T any](o *options) (spec, error) {
	t := reflect.TypeFor[T]()
	if err := checkType(t); err != nil {
		return spec{}, err
	}
	sp := spec{
		size:        uint64(t.Size()),
		align:       uint32(t.Align()),
		tag:         layoutTag(t),
		mode:        uint32(o.mode.Perm()),
		lifetime:    uint32(o.lifetime),
		openTimeout: int64(o.openTimeout),
	}
	if o.tagSet {
		sp.tag = o.tag
	}
	if o.mode&0o002 != 0 {
		return spec{}, &Error{Op: "options", Err: errList{ErrInvalidOption, errWorldWritable}}
	}
	if o.maxHolders < 1 || o.maxHolders > MaxHolders {
		return spec{}, &Error{Op: "options", Err: errList{ErrInvalidOption, errMaxHolders}}
	}
	sp.maxHolders = uint32(o.maxHolders)
	if o.lifetime != LastClose && o.lifetime != UntilRemoved {
		return spec{}, &Error{Op: "options", Err: errList{ErrInvalidOption, errLifetime}}
	}
	if len(o.trustedUIDs) > MaxTrustedOwners || o.groupSet && !validID(o.trustedGID) {
		return spec{}, &Error{Op: "options", Err: errList{ErrInvalidOption, errTrust}}
	}
	for i, u := range o.trustedUIDs {
		if !validID(u) {
			return spec{}, &Error{Op: "options", Err: errList{ErrInvalidOption, errTrust}}
		}
		sp.trustedUIDs[i] = uint32(u)
	}
	sp.nTrusted = uint32(len(o.trustedUIDs))
	if o.groupSet {
		sp.trustedGID, sp.trustFlags = uint32(o.trustedGID), trustGroup
	}
	if sp.openTimeout <= 0 {
		sp.openTimeout = 1 // C treats <=0 as its default; a non-positive Go timeout means "do not wait"
	}
	return sp, nil
}

func prepare[T any](op, name string, opts []Option) (string, spec, *options, error) {
	n, ok := validName(name)
	if !ok {
		return n, spec{}, nil, &Error{Op: op, Name: name, Err: ErrInvalidName}
	}
	o := buildOptions(opts)
	if set := o.creationOptions(); op == "open" && len(set) > 0 {
		return n, spec{}, nil, &Error{Op: op, Name: n, Err: ErrInvalidOption,
			Detail: strings.Join(set, ", ") + " only apply when creating: Open attaches to an existing segment (OpenOrNew creates it when absent, and checks them when not)"}
	}
	sp, err := newSpec[T](&o)
	if err != nil {
		err.(*Error).Op, err.(*Error).Name = op, n
	}
	return n, sp, &o, err
}

// checkCreation compares the creation options OpenOrNew was given with the
// segment it found: a mismatch names both values.
func checkCreation(h *Handle, o *options) error {
	var diffs []string
	if o.modeSet {
		var st unix.Stat_t
		if unix.Fstat(h.s.fd(), &st) == nil && os.FileMode(st.Mode&0o777) != o.mode.Perm() {
			diffs = append(diffs, fmt.Sprintf("mode %04o, WithMode asked %04o", st.Mode&0o777, uint32(o.mode.Perm())))
		}
	}
	if o.maxHoldersSet && h.s.maxHolders() != o.maxHolders {
		diffs = append(diffs, fmt.Sprintf("max holders %d, WithMaxHolders asked %d", h.s.maxHolders(), o.maxHolders))
	}
	if l := Lifetime(h.s.lifetime()); o.lifetimeSet && l != o.lifetime {
		diffs = append(diffs, fmt.Sprintf("lifetime %s, WithLifetime asked %s", l, o.lifetime))
	}
	if len(diffs) == 0 {
		return nil
	}
	return &Error{Op: "open or new", Name: h.name, Err: errList{ErrExist, ErrInvalidOption},
		Detail: "the segment exists with " + strings.Join(diffs, "; ")}
}

// New creates the segment name holding value, exclusively: ErrExist if the
// name is taken. The caller holds the first reference.
//
// By default the segment lives while any handle on it is open, in any
// process, as a value behind Rust's Arc does: the Close that takes the count
// to zero removes it, so a publisher that creates a value and exits leaves
// nothing for a reader started after it. WithLifetime(UntilRemoved) keeps
// the segment at a count of zero, until Remove or `ipcarc rm` takes it away.
//
// A handle dropped without Close gives its reference back when the garbage
// collector finds it unreachable (a runtime.AddCleanup safety net, as
// os.File has): do not rely on that timing, and call Close.
func New[T any](name string, value T, opts ...Option) (*Arc[T], error) {
	n, sp, _, err := prepare[T]("new", name, opts)
	if err != nil {
		return nil, err
	}
	s, rc := cCreate(n, &sp, unsafe.Pointer(&value))
	runtime.KeepAlive(&value)
	if rc != 0 {
		return nil, fromErrno("new", n, rc, 0)
	}
	return wrap[T](n, s, newAttachment(s)), nil
}

// Open attaches to the existing segment name, which must hold a T (same size,
// alignment and type tag): ErrNotExist if there is none.
func Open[T any](name string, opts ...Option) (*Arc[T], error) {
	n, sp, _, err := prepare[T]("open", name, opts)
	if err != nil {
		return nil, err
	}
	s, rc, field := cOpen(n, &sp)
	if rc != 0 {
		return nil, openErr("open", n, rc, field, &sp)
	}
	return wrap[T](n, s, newAttachment(s)), nil
}

// OpenOrNew opens name, or creates it holding value when it does not exist;
// created reports which. Of many processes racing, exactly one creates.
func OpenOrNew[T any](name string, value T, opts ...Option) (a *Arc[T], created bool, err error) {
	n, sp, o, err := prepare[T]("open or new", name, opts)
	if err != nil {
		return nil, false, err
	}
	s, created, rc, field := cOpenOrCreate(n, &sp, unsafe.Pointer(&value))
	runtime.KeepAlive(&value)
	if rc != 0 {
		return nil, false, openErr("open or new", n, rc, field, &sp)
	}
	a = wrap[T](n, s, newAttachment(s))
	if !created {
		if err := checkCreation(&a.Handle, o); err != nil {
			a.Close()
			return nil, false, err
		}
	}
	return a, created, nil
}

func wrap[T any](name string, s seg, att *attachment) *Arc[T] {
	a := &Arc[T]{}
	a.init(name, s, att, unsafe.Sizeof(*a.data))
	a.data = (*T)(a.base)
	a.guard = Guard[T]{h: &a.Handle, v: a.data}
	a.atomicErr = a.setAtomic(reflect.TypeFor[T]())
	// Safety net: a handle dropped without Close still gives its reference
	// back. Close stops it, so the count is never decremented twice.
	a.cleanup = runtime.AddCleanup(a, func(h handleRef) {
		waitHubRelease(h.s) // a hub may sleep on the mapping with nobody waiting
		if rc := h.s.close(); !closeRefused(rc) {
			h.att.open.Add(-1)
		}
	}, handleRef{s, att})
	return a
}

// attachment is what the handles of one attachment (an Open or New and its
// Clones) share in Go: how many of them are open, so that a call on a closed
// handle can tell whether the mapping is still there.
type attachment struct {
	open    atomic.Int64
	timeout int64 // bound on waits for the table lock (WithOpenTimeout), for errors
}

func newAttachment(s seg) *attachment {
	att := &attachment{timeout: s.timeout()}
	att.open.Store(1)
	return att
}

type handleRef struct {
	s   seg
	att *attachment
}

// closeRefused reports the two answers of C's close that leave the handle
// open (the lock is held, or a thread waits, through this attachment).
func closeRefused(rc int) bool { return rc == int(syscall.EDEADLK) || rc == int(syscall.EBUSY) }

// Clone returns a new handle on the same segment (reference count +1), sharing
// this handle's mapping.
func (a *Arc[T]) Clone() (*Arc[T], error) {
	if err := a.cloneRef(); err != nil {
		return nil, err
	}
	return wrap[T](a.name, a.s, a.att), nil
}

// cloneRef adds a handle to the attachment (reference count +1), for every
// shape's Clone.
func (h *Handle) cloneRef() error {
	if h.closed.Load() {
		return opErr("clone", h.name, ErrClosed)
	}
	if rc := h.s.clone(); rc != 0 {
		if rc == int(syscall.ETIMEDOUT) {
			return tableTimeout("clone", h.name, h.att.timeout, h.tableOwner(), "")
		}
		if rc == int(syscall.EUSERS) {
			return &Error{Op: "clone", Name: h.name, Detail: fmt.Sprintf("an attachment holds at most %d handles", maxHandles), Err: ErrTooManyHolders}
		}
		return fromErrno("clone", h.name, rc, 0)
	}
	h.att.open.Add(1)
	return nil
}

// Close gives the handle's reference back. The Close that takes the count to
// zero, in whatever process, unlinks the segment (unless it was created with
// WithLifetime(UntilRemoved)). A second Close returns ErrClosed. Closing the
// last handle of a mapping while this goroutine holds its lock returns
// ErrDeadlock and leaves the handle open.
//
// A handle dropped without Close gives its reference back when the garbage
// collector finds it unreachable (a runtime.AddCleanup safety net, as os.File
// has): do not rely on that timing.
//
// Close never waits on the value's lock. It waits at most the open timeout
// for the holder table's lock, which library code holds only for a few
// instructions; if a process stopped (SIGSTOP, a debugger) while holding it,
// Close returns an error matching ErrTimeout, and the handle is released all
// the same: the segment's count follows at this attachment's next Clone,
// Close or Reap, or, for its last handle, when a reaper finds its slot dead.
func (h *Handle) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return opErr("close", h.name, ErrClosed)
	}
	// Read before the close, which may unmap: the owner named if it times out.
	owner := h.tableOwner()
	waitHubRelease(h.s)
	rc := h.s.close()
	if closeRefused(rc) {
		// Refused, nothing changed: the handle stays open.
		h.closed.Store(false)
		if rc == int(syscall.EBUSY) {
			return &Error{Op: "close", Name: h.name, Detail: "a goroutine or thread of this process still waits on this attachment", Err: ErrInUse}
		}
		return fromErrno("close", h.name, rc, 0)
	}
	h.att.open.Add(-1)
	h.cleanup.Stop()
	if rc == int(syscall.ETIMEDOUT) {
		return tableTimeout("close", h.name, h.att.timeout, owner, "the handle is released all the same")
	}
	if rc != 0 {
		return fromErrno("close", h.name, rc, 0)
	}
	return nil
}

// RefCount returns the number of live handles on the segment across all
// processes (after Reap, dead processes' handles no longer count).
func (h *Handle) RefCount() (int, error) {
	if h.closed.Load() {
		return 0, opErr("refcount", h.name, ErrClosed)
	}
	return int(liveHandles(h.slots())), nil
}

// openErr is fromErrno for Open and OpenOrNew, saying how long a timed-out
// open waited, and both sides of a type that differs.
func openErr(op, name string, rc, field int, sp *spec) error {
	err := fromErrno(op, name, rc, field)
	timeout := sp.openTimeout
	if e, ok := err.(*Error); ok && rc == int(syscall.EPROTOTYPE) {
		e.Detail = typeDetail(name, field, sp.shape, sp.size, sp.align, sp.tag)
	}
	if e, ok := err.(*Error); ok && rc == int(syscall.EACCES) && (field == fieldOwner || field == fieldMode) {
		e.Detail = trustDetail(name, sp)
	}
	if rc == int(syscall.ETIMEDOUT) {
		what := "the segment"
		switch field {
		case fieldInit:
			what = "its creator to finish initialising it"
		case fieldTableLock:
			what = "the holder table lock (its holder may be stopped)"
		}
		return timeoutErr(op, name, timeout, what, 0, "")
	}
	return err
}

// tableTimeout is the error of a bounded wait for the holder table's lock.
func tableTimeout(op, name string, timeout int64, owner int, after string) error {
	return timeoutErr(op, name, timeout, "the holder table lock", owner, after)
}

// timeoutErr is the error of a bounded wait: how long, for what, held by
// which thread (when known), and what happened anyway.
func timeoutErr(op, name string, timeout int64, what string, owner int, after string) error {
	d := fmt.Sprintf("waited %v for %s", time.Duration(timeout), what)
	if owner != 0 {
		d += fmt.Sprintf(", held by thread %d", owner)
	}
	if after != "" {
		d += "; " + after
	}
	return &Error{Op: op, Name: name, Detail: d, Err: errList{ErrTimeout, syscall.ETIMEDOUT}}
}
