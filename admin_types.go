package ipcarc

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// The name-based admin API (List, Inspect, GC, GCName, Remove) works on
// segments by name, without holding a handle: it is what `ipcarc ls`, `inspect`,
// `gc` and `rm` are built on. Its types live in this file, outside any build
// constraint, so that the JSON they produce has the same shape in every build
// and programs using them compile where the API itself is unsupported.

// SegmentInfo describes one segment: read by name from /dev/shm by Inspect
// and List (without attaching), or through a handle by Arc.Info. It takes no
// lock. Fields that change while other processes work
// (refcount, holders, locked, version) are a snapshot that may already be out
// of date. The JSON field names are stable: scripts may rely on them.
type SegmentInfo struct {
	// Name is the segment's name, without the leading slash.
	Name string `json:"name"`
	// TotalSize is the header's size of the whole segment file in bytes.
	TotalSize uint64 `json:"total_size"`
	// ValueSize and ValueAlign are the size and alignment of the shared value
	// (of one element, for a slice).
	ValueSize  uint64 `json:"value_size"`
	ValueAlign uint32 `json:"value_align"`
	// Shape is ShapeValue (one value, Arc) or ShapeSlice (Slice). For a
	// slice, Capacity is its fixed capacity in elements and Len the length in
	// use (read without the lock, never above Capacity); both 0 for one value.
	Shape    Shape  `json:"shape"`
	Capacity uint64 `json:"capacity"`
	Len      uint64 `json:"len"`
	// TypeTag is the 64-bit type tag; JSON writes it as a hex string, "0x"
	// and 16 digits: as a JSON number it would lose precision in many JSON
	// readers.
	TypeTag TypeTag `json:"type_tag"`
	// RefCount is the number of handles of live holders: a killed holder's
	// handles stop counting as soon as the kernel marks it dead, before its
	// slot is reaped (DeadHolders counts those slots until then).
	RefCount int64 `json:"refcount"`
	// MaxHolders is the size of the holder table.
	MaxHolders int `json:"max_holders"`
	// LiveHolders and DeadHolders count the used slots whose holder is alive
	// (its slot's liveness word holds its keeper thread's id) and dead (the
	// kernel marked the word when the process died).
	LiveHolders int `json:"live_holders"`
	DeadHolders int `json:"dead_holders"`
	// Holders lists the used slots of the holder table, never null in JSON.
	Holders []SegmentHolder `json:"holders"`
	// State is StateInit (a creator is initialising it, or died doing so),
	// StateReady, StateDead (its count reached zero; its name is about to
	// go), or StateUnknown when the header cannot be read or holds another
	// value; JSON writes "init", "ready", "dead" or "unknown".
	State State `json:"state"`
	// Locked reports whether the segment's mutex is held, and LockOwnerTID
	// by which thread (its Linux thread id as the owner's pid namespace sees
	// it; 0 when free). A lock whose owner died holding it (killed) stays
	// held until the next locker recovers it: it shows as Locked with
	// LockOwnerDied set and the dead thread's id, before anyone locks.
	Locked        bool `json:"locked"`
	LockOwnerTID  int  `json:"lock_owner_tid"`
	LockOwnerDied bool `json:"lock_owner_died"`
	// Poisoned reports that an owner died inside a critical section: the
	// poison flag is set, or the lock's dead owner was inside one (the next
	// locker poisons the value and reports ErrOwnerDead).
	Poisoned bool `json:"poisoned"`
	// Version counts completed writes of the value.
	Version uint64 `json:"version"`
	// Lifetime is LastClose (removed when the count reaches zero) or
	// UntilRemoved (kept at zero until `ipcarc rm`); LifetimeUnknown when the
	// header could not be read. JSON writes "last-close", "until-removed" or
	// "".
	Lifetime Lifetime `json:"lifetime"`
	// Waiters counts threads asleep on the segment's futex, over all
	// processes: one per attachment whose goroutines wait (Go fans out).
	Waiters int `json:"waiters"`
	// TableLockOwnerTID is the thread holding the holder table's lock (0 when
	// free): library code holds it for a few instructions, so a value that
	// stays nonzero names a stopped or wedged process.
	TableLockOwnerTID int `json:"table_lock_owner_tid"`
	// Counters say what the segment's lock has been doing (see Counters).
	Counters Counters `json:"counters"`
	// At is when this snapshot was read.
	At time.Time `json:"at"`
	// CreatorPID is the creating process's pid (in its pid namespace).
	CreatorPID int `json:"creator_pid"`
	// Created is when the segment was created, in UTC (zero when the header
	// does not say); JSON writes it in RFC 3339 format with fractional seconds.
	Created time.Time `json:"created"`
	// Corrupt reports that the segment fails validation: no process can
	// attach to it. Reason names the failed check first, with the same words
	// the open error uses ("layout version", "ABI word", "state", ...).
	Corrupt bool `json:"corrupt"`
	// Reason explains Corrupt, or notes a passing state ("being created",
	// "dead"); empty for an ordinary ready segment.
	Reason string `json:"reason"`
	// OwnerUID is the uid owning the segment's file, and Owner its user name
	// (the uid in decimal when no user has it). Mode is the file's
	// permission bits; JSON writes them in octal, "0600" for the library's
	// default.
	OwnerUID int      `json:"owner_uid"`
	Owner    string   `json:"owner"`
	Mode     FileMode `json:"mode"`
}

// SegmentHolder is one used slot of a segment's holder table.
type SegmentHolder struct {
	Slot      int    `json:"slot"`
	PID       int    `json:"pid"`        // in the holder's pid namespace; informational only
	StartTime uint64 `json:"start_time"` // field 22 of /proc/PID/stat; informational only
	Handles   int    `json:"handles"`
	Alive     bool   `json:"alive"` // the holder's liveness word holds its keeper's thread id
	// Self marks the slot of the handle that read it (Arc.Info); Inspect and
	// List, which hold no handle, never set it.
	Self bool `json:"self,omitempty"`
}

// GCResult is what GC or GCName did to one segment (or, in a dry run, would
// do).
type GCResult struct {
	Name string `json:"name"`
	// DryRun reports that nothing was changed: Removed and ReapedHandles
	// then say what a real run would do.
	DryRun bool `json:"dry_run"`
	// ReapedHandles is the number of dead holders' handles removed.
	ReapedHandles int `json:"reaped_handles"`
	// LiveHolders counts the slots held by live processes after reaping.
	LiveHolders int `json:"live_holders"`
	// Removed reports that the segment's name was removed: no live holder
	// was left, or its creator died before finishing it (HalfMade).
	Removed bool `json:"removed"`
	// Busy reports that the segment was left alone: a live process held its
	// lock past GC's short bound, or a live creator is still initialising it.
	Busy bool `json:"busy"`
	// HalfMade is always false since 0.2.0: a creator names a segment only
	// when it is ready, so a file under the name that is not ready is not
	// ours, and gc reports it as an error instead of removing it. The field
	// stays for the JSON's shape.
	HalfMade bool `json:"half_made"`
	// Skipped reports a segment that GC's sweep left alone because this
	// process may not write it (permission denied) or another user owns its
	// file: it is listed, never opened for writing, locked or mapped.
	// SkipReason says which. Naming it to GCName gives the permission error.
	Skipped    bool   `json:"skipped"`
	SkipReason string `json:"skip_reason,omitempty"`
	// Kept reports a segment created with WithLifetime(UntilRemoved): gc
	// reaps its dead holders but never removes it.
	Kept bool `json:"kept"`
	// Err is why the segment could not be collected (corrupt, permission, ...).
	Err error `json:"-"`
}

// Rates is what the segment's lock did between prev (an earlier reading of
// the same segment) and s.
func (s SegmentInfo) Rates(prev SegmentInfo) Rates {
	r := s.Counters.RatesSince(prev.Counters, s.At.Sub(prev.At))
	r.PoisonedNow = s.Poisoned
	return r
}

// AdminOption changes what GC, GCName and Remove do.
type AdminOption func(*adminOptions)

type adminOptions struct{ dryRun, force bool }

func buildAdminOptions(opts []AdminOption) adminOptions {
	var o adminOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// DryRun makes GC and GCName change nothing: their results say what a real
// run would do.
func DryRun() AdminOption { return func(o *adminOptions) { o.dryRun = true } }

// Force makes Remove remove a segment that still has live holders, fails
// validation, or whose creator is still at work, and a file under the name
// that is not an ipcarc segment at all (another magic, empty or too short).
// It never makes Remove touch another user's file (see Remove). GC and
// GCName take no force: they never remove a file that is not a segment.
func Force() AdminOption { return func(o *adminOptions) { o.force = true } }

// State is a segment's state, as its header says.
type State uint8

// The states of a segment.
const (
	StateUnknown State = iota // the header cannot be read, or holds another value
	StateInit                 // a creator is initialising it, or died doing so
	StateReady                // attachable
	StateDead                 // its count reached zero; its name is about to go
)

var stateNames = [...]string{StateUnknown: "unknown", StateInit: "init", StateReady: "ready", StateDead: "dead"}

// String is "unknown", "init", "ready" or "dead".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText writes String.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("ipcarc: unknown state %q", b)
}

// stateOf is the State of a header's state word.
func stateOf(w uint32) State {
	switch w {
	case stateInit:
		return StateInit
	case stateReady:
		return StateReady
	case stateDead:
		return StateDead
	}
	return StateUnknown
}

// TypeTag is a segment's 64-bit type tag (see Tag and WithTypeTag).
type TypeTag uint64

// String is "0x" and 16 hex digits.
func (t TypeTag) String() string { return fmt.Sprintf("0x%016x", uint64(t)) }

// MarshalText writes String: as a JSON number a tag would lose precision in
// many JSON readers.
func (t TypeTag) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (t *TypeTag) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(strings.TrimPrefix(string(b), "0x"), 16, 64)
	*t = TypeTag(v)
	return err
}

// FileMode is a segment file's permission bits.
type FileMode fs.FileMode

// Perm is the mode as an fs.FileMode.
func (m FileMode) Perm() fs.FileMode { return fs.FileMode(m).Perm() }

// String is the bits in octal, as ls -l's numeric form: "0600".
func (m FileMode) String() string { return fmt.Sprintf("%04o", uint32(m)&0o7777) }

// MarshalText writes String.
func (m FileMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (m *FileMode) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 8, 32)
	*m = FileMode(v)
	return err
}

// Shape is what a segment holds: one value (Arc) or a slice (Slice). It is
// part of the segment's identity, checked at attach.
type Shape uint8

// The shapes.
const (
	ShapeValue Shape = iota // one value of a fixed type (Arc[T])
	ShapeSlice              // up to a fixed capacity of elements (Slice[T])
)

// String is "value" or "slice".
func (s Shape) String() string {
	switch s {
	case ShapeValue:
		return "value"
	case ShapeSlice:
		return "slice"
	}
	return fmt.Sprintf("shape %d", uint8(s))
}

// MarshalText writes String.
func (s Shape) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText writes.
func (s *Shape) UnmarshalText(b []byte) error {
	switch string(b) {
	case "value":
		*s = ShapeValue
	case "slice":
		*s = ShapeSlice
	default:
		return fmt.Errorf("ipcarc: unknown shape %q", b)
	}
	return nil
}
