//go:build linux && cgo

package ipcarc

import (
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Reap removes the references of holders that died without closing (killed,
// crashed): a holder is alive exactly while its keeper thread's id is in its
// slot's liveness word, a robust futex word that the kernel marks when the
// process dies. It returns the number of handles removed, and mends the
// holder table and the reference count from the slots. It never waits on the
// value's lock. Open, OpenOrNew and the last Close reap as they go.
func (a *Arc[T]) Reap() (int, error) {
	if a.closed.Load() {
		return 0, opErr("reap", a.name, ErrClosed)
	}
	n, rc := a.s.reap()
	if rc == int(syscall.ETIMEDOUT) {
		return 0, tableTimeout("reap", a.name, a.s.timeout(), a.s.tableOwner(), "")
	}
	if rc != 0 {
		return 0, fromErrno("reap", a.name, rc, 0)
	}
	return n, nil
}

// Holder is one slot of a segment's holder table: one attachment (an Open or
// New, shared by its Clones).
type Holder struct {
	Slot      int    `json:"slot"`
	PID       int    `json:"pid"`        // in the holder's pid namespace; informational
	StartTime uint64 `json:"start_time"` // field 22 of /proc/PID/stat; informational
	Handles   int    `json:"handles"`
	Alive     bool   `json:"alive"`
	Self      bool   `json:"self"` // this handle's own slot
}

// Stats is a snapshot of a segment's header and holder table.
type Stats struct {
	Name       string    `json:"name"`
	TotalSize  uint64    `json:"total_size"`
	ValueSize  uint64    `json:"value_size"`
	ValueAlign uint32    `json:"value_align"`
	TypeTag    uint64    `json:"type_tag"`
	RefCount   int64     `json:"refcount"`
	MaxHolders int       `json:"max_holders"`
	Holders    []Holder  `json:"holders"`
	Poisoned   bool      `json:"poisoned"`
	Locked     bool      `json:"locked"`
	LockOwner  int       `json:"lock_owner_tid"` // Linux tid of the lock owner, 0 when free
	Version    uint64    `json:"version"`
	CreatorPID int       `json:"creator_pid"`
	Lifetime   Lifetime  `json:"lifetime"`
	Counters   Counters  `json:"counters"`
	At         time.Time `json:"at"`      // when the snapshot was taken
	Waiters    int       `json:"waiters"` // threads asleep on the segment's futex (one per attachment with Go waiters), over all processes
}

// Stats reads the header and holder table. It takes no lock (neither the
// value's nor the table's): counts may be in motion while it reads. Liveness
// is one load per slot, so Stats costs O(max holders) memory reads and no
// system call per slot.
func (a *Arc[T]) Stats() (st Stats, err error) {
	if a.closed.Load() {
		return Stats{}, opErr("stats", a.name, ErrClosed)
	}
	// A process that may write the file can truncate it under our mapping:
	// a read past the new end faults. Turn that into an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			st, err = Stats{}, &Error{Op: "stats", Name: a.name, Field: fieldName(fieldSize),
				Detail: "the segment's file was truncated under its mapping", Err: ErrCorrupt}
		}
	}()
	h := a.hdr
	st = Stats{
		Name: a.name, TotalSize: h.TotalSize, ValueSize: h.ValueSize, ValueAlign: h.ValueAlign,
		TypeTag: h.TypeTag, RefCount: atomic.LoadInt64(&h.RefCount), MaxHolders: a.s.maxHolders(),
		Poisoned:   atomic.LoadUint32(&h.Flags)&flagPoisoned != 0,
		LockOwner:  int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&h.Mutex[0]))) & futexTIDMask),
		Version:    uint64(atomic.LoadUint32(&h.Seq) >> 1),
		CreatorPID: int(h.CreatorPID),
		Lifetime:   Lifetime(a.s.lifetime()),
		Waiters:    int(atomic.LoadUint32(&h.Waiters)),
	}
	st.Locked = st.LockOwner != 0
	st.Holders = make([]Holder, 0, min(int(atomic.LoadUint32(&h.UsedCount)), a.s.maxHolders()))
	self := a.s.slot()
	slots := a.slots()
	st.Counters = sumCounters(h, slots)
	st.At = time.Now()
	for i := range slots {
		hd := &slots[i]
		if atomic.LoadUint32(&hd.State) != slotUsed {
			continue
		}
		n := atomic.LoadUint32(&hd.Handles)
		st.Holders = append(st.Holders, Holder{
			Slot: i, PID: int(hd.PID), StartTime: hd.StartTime, Handles: int(n),
			Alive: liveWordAlive(atomic.LoadUint32(&hd.Live)), Self: i == self,
		})
	}
	return st, nil
}

// slots views the holder table through the bound taken at attach, never
// through the header's own (shared, writable) max_holders.
func (a *Arc[T]) slots() []holder {
	return unsafe.Slice((*holder)(unsafe.Add(unsafe.Pointer(a.hdr), headerSize)), a.s.maxHolders())
}

// Rates is what the lock did between prev (an earlier Stats of the same
// segment) and s.
func (s Stats) Rates(prev Stats) Rates {
	r := s.Counters.RatesSince(prev.Counters, s.At.Sub(prev.At))
	r.PoisonedNow = s.Poisoned
	return r
}
