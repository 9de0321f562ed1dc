//go:build linux

package ipcarc

// Reading segments by name: List and Inspect read the file with pread and a
// read-only mapping behind a fault guard, in pure Go, so that they work (and
// `ipcarc ls`, `inspect` and `top` with them) in a build without cgo too.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// lockState reads a value mutex the way a reader may, without locking it.
// The robust futex word holds the owner's tid while a live thread holds the
// lock. When the kernel finds the owner dead holding it (the process was
// killed), it clears the tid there and sets FUTEX_OWNER_DIED; glibc's
// __owner still names the dead thread until the next locker recovers the
// mutex. So an abandoned lock reads as held, by a dead owner, with its tid.
func lockState(m *[64]byte) (owner int, died bool) {
	w := atomic.LoadUint32((*uint32)(unsafe.Pointer(&m[0])))
	if w&futexOwnerDied != 0 {
		return int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&m[mutexOwnerOffset]))) & futexTIDMask), true
	}
	return int(w & futexTIDMask), false
}

// fillLock sets the lock fields of info from the header: Locked and
// LockOwnerTID, LockOwnerDied for an abandoned lock, and Poisoned also when
// the dead owner was inside a critical section (seq odd), which the next
// locker will find and report.
func fillLock(info *SegmentInfo, h *header) {
	owner, died := lockState(&h.Mutex)
	info.Locked = owner != 0 || died
	info.LockOwnerTID = owner
	info.LockOwnerDied = died
	info.Poisoned = atomic.LoadUint32(&h.Flags)&flagPoisoned != 0 || (died && atomic.LoadUint32(&h.Seq)&1 != 0)
}

var errBeingCreated = errors.New("its creator is still initialising it")

// List describes every ipcarc segment in /dev/shm. A file is a segment when it
// starts with the ipcarc magic; other files (other programs' shared memory) are
// skipped and never touched, and so are files this process may not read. A
// segment that fails validation is listed with Corrupt set and a Reason.
func List() ([]SegmentInfo, error) {
	ents, err := os.ReadDir(shmDir)
	if err != nil {
		return nil, &Error{Op: "list", Err: err}
	}
	out := []SegmentInfo{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		name, ok := validName(e.Name())
		if !ok { // no ipcarc process could have made it
			continue
		}
		info, _, err := inspect(name)
		if err != nil { // gone meanwhile, unreadable, or not a segment
			continue
		}
		out = append(out, info)
	}
	return out, nil
}

// Inspect reads a segment's header and holder table, without taking its lock
// and without attaching (it claims no slot and changes no count), so it works
// on a segment whose lock is held forever or whose holders all died. A file
// that is not an ipcarc segment gives an error matching ErrCorrupt; a segment
// that fails validation is returned with Corrupt set and a nil error.
func Inspect(name string) (SegmentInfo, error) {
	n, ok := validName(name)
	if !ok {
		return SegmentInfo{}, &Error{Op: "inspect", Name: name, Err: ErrInvalidName}
	}
	info, _, err := inspect(n)
	return info, err
}

// inspect also returns the field code of the first failed check, for errors
// that should name it.
func inspect(name string) (SegmentInfo, int, error) {
	f, err := openRO(name)
	if err != nil {
		return SegmentInfo{}, fieldNone, fileErr("inspect", name, err)
	}
	defer f.close()
	if !f.regular {
		return SegmentInfo{}, fieldFile, &Error{Op: "inspect", Name: name, Field: FieldFile, Err: ErrCorrupt}
	}
	var m [8]byte
	// The magic is stored in native byte order by the C layer.
	if f.readAt(m[:], 0) != nil || binary.NativeEndian.Uint64(m[:]) != magic {
		return SegmentInfo{}, fieldMagic, &Error{Op: "inspect", Name: name, Field: FieldMagic, Err: ErrCorrupt}
	}
	info := SegmentInfo{Name: name, Holders: []SegmentHolder{}, State: StateUnknown, Lifetime: LifetimeUnknown,
		OwnerUID: int(f.uid), Owner: userName(f.uid), Mode: FileMode(f.mode)}
	field, err := readSegment(f, &info)
	if err != nil {
		return SegmentInfo{}, fieldNone, fileErr("inspect", name, err)
	}
	return info, field, nil
}

// userNames caches userName's lookups: List asks once per segment, and top
// once per segment and interval.
var userNames sync.Map // uint32 → string

// userName is the name of the user with this uid, or the uid in decimal when
// there is none (as lsipc's OWNER column shows it).
func userName(uid uint32) string {
	if n, ok := userNames.Load(uid); ok {
		return n.(string)
	}
	id := strconv.FormatUint(uint64(uid), 10)
	u, err := user.LookupId(id)
	var unknown user.UnknownUserIdError
	switch {
	case err == nil && u.Username != "":
		userNames.Store(uid, u.Username)
		return u.Username
	case err == nil || errors.As(err, &unknown):
		userNames.Store(uid, id)
	}
	return id // another failure (NSS unreachable?) is asked again next time
}

// fileErr makes an error of a file operation on a named segment, matching
// ErrNotExist when the name is absent.
func fileErr(op, name string, err error) error {
	if errors.Is(err, syscall.ENOENT) {
		return &Error{Op: op, Name: name, Err: errList{ErrNotExist, err}}
	}
	return &Error{Op: op, Name: name, Err: err}
}

// readSegment fills info from the file and validates it in cshm.c's order,
// returning the field code of the first failed check.
func readSegment(f *roFile, info *SegmentInfo) (field int, err error) {
	// Another program could truncate the file under the mapping; reading
	// past its end raises SIGBUS, which must become an error, not a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			err = &os.PathError{Op: "read", Path: f.path, Err: syscall.EIO}
		}
	}()

	// Like probe: only a file that is not (yet) a ready segment may belong to
	// a creator at work (the fallback path's init lock on byte 0); a ready
	// one never costs a byte-lock test.
	var hb [headerSize]byte
	short := f.size < headerSize || f.readAt(hb[:], 0) != nil
	hp := (*header)(unsafe.Pointer(&hb[0]))
	creating := false
	if short || hp.Magic != magic || hp.State == stateInit {
		if creating, err = f.byteLocked(initLockOffset); err != nil {
			return fieldNone, err
		}
	}
	fail := func(fl int, format string, a ...any) (int, error) {
		info.Corrupt = true
		info.Reason = fieldName(fl) + ": " + fmt.Sprintf(format, a...)
		return fl, nil
	}
	if short {
		if creating {
			info.State, info.Reason = StateInit, "being created"
			return fieldNone, nil
		}
		return fail(fieldSize, "%d bytes, smaller than the %d-byte header", f.size, headerSize)
	}
	// The header and at most the largest holder table: the value is not ours
	// to read. Sizes and bounds come from the private copy hp; the mapping is
	// read for the words that move (state, flags, counts, liveness).
	if err := f.mapPrefix(int(min(f.size, headerSize+MaxHolders*holderSize))); err != nil {
		return fieldNone, err
	}
	h := (*header)(unsafe.Pointer(&f.mem[0]))
	if hp.Magic == magicV1 {
		return fail(fieldVersion, "layout 1 (its magic is layout 1's); this build reads layout %d", layoutVersion)
	}
	// The holder table, as far as the file holds it: a corrupt max_holders
	// must not make us read past the mapping.
	var ht []holder
	if slots := min(int(hp.MaxHolders), (len(f.mem)-headerSize)/holderSize); slots > 0 {
		ht = unsafe.Slice((*holder)(unsafe.Pointer(&f.mem[headerSize])), slots)
	}
	badSlot := fillInfo(info, hp, h, ht, int(hp.MaxHolders), -1)
	state := atomic.LoadUint32(&h.State)

	if creating {
		info.Reason = "being created"
		return fieldNone, nil
	}
	// validate() in cshm.c, check for check (TestInspectValidatesLikeC holds
	// the two together); the mutex-kind test is C's own.
	switch {
	case hp.Version != layoutVersion:
		return fail(fieldVersion, "layout %d, this build reads layout %d", hp.Version, layoutVersion)
	case hp.ABI != abiWord():
		return fail(fieldABI, "0x%08x, this build's is 0x%08x", hp.ABI, abiWord())
	case state == stateInit:
		return fail(fieldState, "INIT: not ready (no creator names a segment before it is ready; an older one's fallback creator died here, or it is not ours)")
	case state != stateReady && state != stateDead:
		return fail(fieldState, "unknown value %d", state)
	}
	if fl, why := layoutProblem(hp, f.size); why != "" {
		return fail(fl, "%s", why)
	}
	if hp.Lifetime > lifetimeUntilRemoved {
		return fail(fieldLifetime, "unknown value %d", hp.Lifetime)
	}
	if !goMutexKindOK(hp) {
		return fail(fieldMutex, "not a robust, process-shared, error-checking mutex")
	}
	// Only 0 and 1 are ever written to a slot's state; another value is
	// damage. It does not stop anyone attaching (the next table rebuild mends
	// it), so it is reported, not called corrupt.
	if badSlot >= 0 {
		info.Reason = fmt.Sprintf("slot %d has state %d; the next reap mends it", badSlot, ht[badSlot].State)
	}
	if state == stateDead {
		info.Reason = "dead: its count reached zero; gc removes the name"
	}
	return fieldNone, nil
}

// layoutProblem repeats validate's layout and shape tests, in its order,
// saying which failed and how.
func layoutProblem(h *header, fileSize int64) (int, string) {
	if why := layoutFields(h); why != "" {
		return fieldLayout, why
	}
	if h.Shape > shapeSlice {
		return fieldShape, fmt.Sprintf("unknown value %d", h.Shape)
	}
	// The value area: one value, or capacity elements of a slice (area_of).
	area := h.ValueSize
	if h.Shape == shapeSlice {
		if h.Capacity > maxValueSize || (h.ValueSize != 0 && h.Capacity > maxValueSize/h.ValueSize) {
			return fieldLayout, fmt.Sprintf("capacity %d of %d-byte elements passes 2^46 bytes", h.Capacity, h.ValueSize)
		}
		area = h.ValueSize * h.Capacity
	}
	switch {
	case h.TotalSize != h.ValueOff+area:
		return fieldLayout, fmt.Sprintf("total_size %d, want value_off+value area = %d", h.TotalSize, h.ValueOff+area)
	case h.TotalSize != uint64(fileSize):
		return fieldLayout, fmt.Sprintf("total_size %d but the file has %d bytes", h.TotalSize, fileSize)
	}
	return fieldNone, ""
}

// layoutFields is validate's first layout test: offsets, holder count,
// alignment, value size.
func layoutFields(h *header) string {
	al := uint64(h.ValueAlign)
	switch {
	case h.HoldersOff != headerSize:
		return fmt.Sprintf("holders_off %d, want %d", h.HoldersOff, headerSize)
	case h.MaxHolders == 0 || h.MaxHolders > MaxHolders:
		return fmt.Sprintf("max_holders %d outside 1..%d", h.MaxHolders, MaxHolders)
	case al == 0 || al&(al-1) != 0 || al > maxValueAlign:
		return fmt.Sprintf("value_align %d is not a power of two up to %d", al, maxValueAlign)
	case h.ValueSize > maxValueSize:
		return fmt.Sprintf("value_size %d too large", h.ValueSize)
	case h.ValueOff != valueOffset(h.MaxHolders, al):
		return fmt.Sprintf("value_off %d, want %d", h.ValueOff, valueOffset(h.MaxHolders, al))
	}
	return ""
}

// valueOffset is cshm.c's value_offset: the value starts after the holder
// table, aligned to its alignment and never below a cache line.
func valueOffset(maxHolders uint32, align uint64) uint64 {
	a := max(align, minValueAlign)
	end := uint64(headerSize) + uint64(maxHolders)*holderSize
	return (end + a - 1) &^ (a - 1)
}
