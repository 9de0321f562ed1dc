//go:build linux && cgo

package ipcarc

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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
		return 0, tableTimeout("reap", a.name, a.att.timeout, a.tableOwner(), "")
	}
	if rc != 0 {
		return 0, fromErrno("reap", a.name, rc, 0)
	}
	return n, nil
}

// Info reads the segment's header and holder table through this handle, as
// Inspect reads them by name: the same SegmentInfo, with Self set on this
// handle's own slot. It takes no lock (neither the value's nor the table's):
// counts may be in motion while it reads. Liveness is one load per slot, so
// Info costs O(max holders) memory reads and no system call per slot.
func (a *Arc[T]) Info() (info SegmentInfo, err error) {
	if a.closed.Load() {
		return SegmentInfo{}, opErr("info", a.name, ErrClosed)
	}
	// A process that may write the file can truncate it under our mapping:
	// a read past the new end faults. Turn that into an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			info, err = SegmentInfo{}, &Error{Op: "info", Name: a.name, Field: fieldName(fieldSize),
				Detail: "the segment's file was truncated under its mapping", Err: ErrCorrupt}
		}
	}()
	h := a.hdr
	if !goMutexKindOK(h) {
		return SegmentInfo{}, fromErrno("info", a.name, int(syscall.EBADMSG), 0)
	}
	state := atomic.LoadUint32(&h.State)
	info = SegmentInfo{
		Name: a.name, TotalSize: h.TotalSize, ValueSize: h.ValueSize, ValueAlign: h.ValueAlign,
		TypeTag:    fmt.Sprintf("0x%016x", h.TypeTag),
		MaxHolders: a.s.maxHolders(), State: stateName(state),
		TableLockOwnerTID: a.tableOwner(),
		Version:           uint64(atomic.LoadUint32(&h.Seq) >> 1),
		CreatorPID:        int(h.CreatorPID),
		Lifetime:          Lifetime(a.s.lifetime()).String(),
		Waiters:           int(atomic.LoadUint32(&h.Waiters)),
	}
	if h.CreatedNs != 0 {
		info.Created = time.Unix(0, int64(h.CreatedNs)).UTC()
	}
	var st unix.Stat_t
	if unix.Fstat(a.s.fd(), &st) == nil {
		info.OwnerUID, info.Mode = int(st.Uid), fmt.Sprintf("%04o", st.Mode&0o7777)
		info.Owner = userName(st.Uid)
	}
	fillLock(&info, h)
	info.Holders = make([]SegmentHolder, 0, min(int(atomic.LoadUint32(&h.UsedCount)), a.s.maxHolders()))
	self := a.s.slot()
	slots := a.slots()
	info.RefCount = liveHandles(slots)
	info.Counters = sumCounters(h, slots)
	info.At = time.Now()
	for i := range slots {
		hd := &slots[i]
		if atomic.LoadUint32(&hd.State) != slotUsed {
			continue
		}
		alive := liveWordAlive(atomic.LoadUint32(&hd.Live))
		info.Holders = append(info.Holders, SegmentHolder{
			Slot: i, PID: int(hd.PID), StartTime: hd.StartTime, Handles: int(atomic.LoadUint32(&hd.Handles)),
			Alive: alive, Self: i == self,
		})
		if alive {
			info.LiveHolders++
		} else {
			info.DeadHolders++
		}
	}
	return info, nil
}

// Stats is Info.
//
// Deprecated: use Info, which returns the same SegmentInfo as Inspect.
func (a *Arc[T]) Stats() (SegmentInfo, error) { return a.Info() }

// slots views the holder table through the bound taken at attach, never
// through the header's own (shared, writable) max_holders.
func (a *Arc[T]) slots() []holder {
	return unsafe.Slice((*holder)(unsafe.Add(unsafe.Pointer(a.hdr), headerSize)), a.s.maxHolders())
}
