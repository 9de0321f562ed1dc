//go:build linux && cgo

package ipcarc

import (
	"sync/atomic"
	"unsafe"
)

// Reap removes the references of holders that died without closing (killed,
// crashed): a holder is alive exactly while the kernel keeps its lock on its
// slot's byte of the segment file, which it drops when the process dies. It
// returns the number of handles removed. Open and OpenOrNew reap too.
func (a *Arc[T]) Reap() (int, error) {
	if a.closed.Load() {
		return 0, opErr("reap", a.name, ErrClosed)
	}
	n, rc := a.s.reap()
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
	Name       string   `json:"name"`
	TotalSize  uint64   `json:"total_size"`
	ValueSize  uint64   `json:"value_size"`
	ValueAlign uint32   `json:"value_align"`
	TypeTag    uint64   `json:"type_tag"`
	RefCount   int64    `json:"refcount"`
	MaxHolders int      `json:"max_holders"`
	Holders    []Holder `json:"holders"`
	Poisoned   bool     `json:"poisoned"`
	Locked     bool     `json:"locked"`
	LockOwner  int      `json:"lock_owner_tid"` // Linux tid of the lock owner, 0 when free
	Version    uint64   `json:"version"`
	CreatorPID int      `json:"creator_pid"`
}

// Stats reads the header and holder table. It takes no lock: counts may be in
// motion while it reads.
func (a *Arc[T]) Stats() (Stats, error) {
	if a.closed.Load() {
		return Stats{}, opErr("stats", a.name, ErrClosed)
	}
	h := a.hdr
	st := Stats{
		Name: a.name, TotalSize: h.TotalSize, ValueSize: h.ValueSize, ValueAlign: h.ValueAlign,
		TypeTag: h.TypeTag, RefCount: atomic.LoadInt64(&h.RefCount), MaxHolders: int(h.MaxHolders),
		Poisoned:   atomic.LoadUint32(&h.Flags)&flagPoisoned != 0,
		LockOwner:  a.s.lockOwner(),
		Version:    uint64(atomic.LoadUint32(&h.Seq) >> 1),
		CreatorPID: int(h.CreatorPID),
	}
	st.Locked = st.LockOwner != 0
	self := a.s.slot()
	for i, hd := range holderTable(h) {
		if atomic.LoadUint32(&hd.State) != slotUsed {
			continue
		}
		st.Holders = append(st.Holders, Holder{
			Slot: i, PID: int(hd.PID), StartTime: hd.StartTime, Handles: int(atomic.LoadUint32(&hd.Handles)),
			Alive: a.s.holderAlive(i) == 1, Self: i == self,
		})
	}
	return st, nil
}

// holderTable views the slots that follow the header.
func holderTable(h *header) []holder {
	return unsafe.Slice((*holder)(unsafe.Add(unsafe.Pointer(h), headerSize)), h.MaxHolders)
}
