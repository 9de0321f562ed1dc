package ipcarc

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Sentinel errors. Every error this package returns is an *Error (with the
// operation and the segment's name) wrapping one or more of them, or an OS
// error such as fs.ErrPermission, so callers match with errors.Is.
var (
	ErrExist           = errors.New("ipcarc: segment already exists")
	ErrNotExist        = errors.New("ipcarc: segment does not exist")
	ErrInvalidName     = errors.New("ipcarc: invalid segment name (an optional leading slash, then 1 to 200 bytes of A-Z a-z 0-9 . _ -, not . or ..)")
	ErrInvalidOption   = errors.New("ipcarc: invalid option")
	ErrUnsupportedType = errors.New("ipcarc: type cannot live in shared memory")
	ErrTypeMismatch    = errors.New("ipcarc: segment holds another type")
	ErrIncompatible    = errors.New("ipcarc: segment made by an incompatible build")
	ErrCorrupt         = errors.New("ipcarc: segment is corrupt or not an ipcarc segment")
	// ErrUntrusted reports a segment file that fails the trust rule: owned by
	// a user other than this process's effective uid, root, or one named by
	// WithTrustedOwners; or writable by others; or writable by its group
	// without WithTrustedGroup naming that group. Such a file is never
	// mapped. The error also matches fs.ErrPermission.
	ErrUntrusted = errors.New("ipcarc: segment file is not trusted")
	ErrClosed    = errors.New("ipcarc: handle is closed")
	// ErrForked reports a handle used in a child process that inherited it
	// through fork without exec: the attachment belongs to the parent, and
	// the child may do nothing with it but Close, which frees the child's
	// copy only.
	ErrForked     = errors.New("ipcarc: handle was inherited through fork")
	ErrWouldBlock = errors.New("ipcarc: lock is held")
	ErrOwnerDead  = errors.New("ipcarc: previous lock owner died")
	ErrPoisoned   = errors.New("ipcarc: value is poisoned")
	ErrNotOwner   = errors.New("ipcarc: lock not held by this goroutine")
	// ErrOutOfRange reports a Slice operation past its bounds: a Store or
	// SetLen of more elements than the capacity, or an index at or past the
	// length (LoadAt, StoreAt). Nothing changed.
	ErrOutOfRange = errors.New("ipcarc: index or length out of range")
	// ErrDeadlock reports a call that could only wait for itself: Lock by
	// the goroutine holding the lock, Wait while holding it, or the last
	// Close of an attachment through which the lock is held.
	ErrDeadlock = errors.New("ipcarc: would deadlock: the lock is held in this process, through this handle")
	// ErrNestedLock refuses a lock (Lock, TryLock, LockContext, Store,
	// Update, View, Recover) taken while the same thread holds the lock of a
	// segment with other writers (another trust class: owner, group-writable
	// or not): glibc links every robust mutex a thread holds into one list
	// kept inside the segments, so the writers of one segment could otherwise
	// leave the other's lock owned by a dead thread. Release the first lock,
	// or use segments of one owner and mode.
	ErrNestedLock     = errors.New("ipcarc: this thread holds the lock of a segment with other writers")
	ErrTimeout        = errors.New("ipcarc: timed out")
	ErrTooManyHolders = errors.New("ipcarc: holder table is full")
	// ErrBusy is returned by Remove without Force while the segment has live
	// holders.
	ErrBusy = errors.New("ipcarc: segment has live holders")
	// ErrInUse reports something in this process, or a creator, still at
	// work on the segment: Close of an attachment's last handle while a
	// goroutine waits through it; Remove while a creator initialises it.
	ErrInUse = errors.New("ipcarc: segment is in use")
	// ErrUnsupported is what every call returns in a build that cannot work:
	// another OS than Linux, or cgo off. It matches errors.ErrUnsupported;
	// the *Error's Detail says which case and what to do.
	ErrUnsupported = fmt.Errorf("ipcarc: not supported in this build: %w", errors.ErrUnsupported)
)

// Error describes a failed operation on a named segment.
type Error struct {
	Op    string // "open", "lock", ...
	Name  string // segment name, without the leading slash
	Field Field  // for validation errors: the check that failed (FieldNone: none)
	// Detail says more in words: what was waited for and how long, the two
	// values that differ. Printed instead of "<Field> differs" when set.
	Detail string
	Err    error // what happened: one or more sentinels and/or a syscall.Errno
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ipcarc: ")
	b.WriteString(e.Op)
	if e.Name != "" {
		b.WriteString(" ")
		b.WriteString(`"` + e.Name + `"`)
	}
	switch {
	case e.Detail != "":
		b.WriteString(": " + e.Detail)
	case e.Field != FieldNone:
		b.WriteString(": " + e.Field.String() + " differs")
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "ipcarc: "))
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// errList lets one error match several sentinels (ErrOwnerDead and
// ErrPoisoned; ErrNotExist and the ENOENT that fs.ErrNotExist matches).
type errList []error

// Error joins the sentinels' words; an OS errno that only repeats a
// sentinel ("segment already exists: file exists") is left out of the text
// (errors.Is still finds it).
func (l errList) Error() string {
	parts := make([]string, 0, len(l))
	for i, e := range l {
		if _, errno := e.(syscall.Errno); errno && i > 0 {
			continue
		}
		parts = append(parts, strings.TrimPrefix(e.Error(), "ipcarc: "))
	}
	return strings.Join(parts, ": ")
}

func (l errList) Unwrap() []error { return l }

func opErr(op, name string, err error) error {
	return &Error{Op: op, Name: name, Err: err}
}

// errOwnerDead is what a lock reports when it inherited a dead owner's lock.
var errOwnerDead = errList{ErrOwnerDead, ErrPoisoned}

var errMaxHolders = errors.New("max holders must be between 1 and 4096")

var errWorldWritable = errors.New("mode must not let others write the segment: " +
	"whoever can write a segment can corrupt the memory of every process attached to it " +
	"(its robust mutexes keep glibc's robust-list pointers in the segment); use a group (0o660) for processes that trust each other")

var errLifetime = errors.New("lifetime must be LastClose or UntilRemoved")

var errTrust = errors.New("WithTrustedOwners takes at most 8 uids in all, and uids and gids must be between 0 and 4294967294")
