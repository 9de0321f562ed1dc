//go:build linux && cgo

package ipcarc

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Reap removes the references of holders that died without closing (killed,
// crashed): a holder is alive exactly while its keeper thread's id is in its
// slot's liveness word, a robust futex word that the kernel marks when the
// process dies. It returns the number of handles removed, and mends the
// holder table and the reference count from the slots. It never waits on the
// value's lock. Open, OpenOrNew and the last Close reap as they go.
func (h *Handle) Reap() (int, error) {
	if h.closed.Load() {
		return 0, opErr("reap", h.name, ErrClosed)
	}
	n, rc := h.s.reap()
	if rc == int(syscall.ETIMEDOUT) {
		return 0, tableTimeout("reap", h.name, h.att.timeout, h.tableOwner(), "")
	}
	if rc != 0 {
		return 0, fromErrno("reap", h.name, rc, 0)
	}
	return n, nil
}

// Info reads the segment's header and holder table through this handle, as
// Inspect reads them by name: the same SegmentInfo, with Self set on this
// handle's own slot. It takes no lock (neither the value's nor the table's):
// counts may be in motion while it reads. Liveness is one load per slot, so
// Info costs O(max holders) memory reads and no system call per slot.
func (h *Handle) Info() (info SegmentInfo, err error) {
	if h.closed.Load() {
		return SegmentInfo{}, opErr("info", h.name, ErrClosed)
	}
	// A process that may write the file can truncate it under our mapping:
	// a read past the new end faults. Turn that into an error.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			info, err = SegmentInfo{}, &Error{Op: "info", Name: h.name, Field: FieldSize,
				Detail: "the segment's file was truncated under its mapping", Err: ErrCorrupt}
		}
	}()
	hd := h.hdr
	if !goMutexKindOK(hd) {
		return SegmentInfo{}, fromErrno("info", h.name, int(syscall.EBADMSG), 0)
	}
	state := atomic.LoadUint32(&hd.State)
	info = SegmentInfo{
		Name: h.name, TotalSize: hd.TotalSize, ValueSize: hd.ValueSize, ValueAlign: hd.ValueAlign,
		TypeTag:    fmt.Sprintf("0x%016x", hd.TypeTag),
		MaxHolders: h.s.maxHolders(), State: stateName(state),
		TableLockOwnerTID: h.tableOwner(),
		Version:           uint64(atomic.LoadUint32(&hd.Seq) >> 1),
		CreatorPID:        int(hd.CreatorPID),
		Lifetime:          Lifetime(h.s.lifetime()).String(),
		Waiters:           int(atomic.LoadUint32(&hd.Waiters)),
	}
	if hd.CreatedNs != 0 {
		info.Created = time.Unix(0, int64(hd.CreatedNs)).UTC()
	}
	var st unix.Stat_t
	if unix.Fstat(h.s.fd(), &st) == nil {
		info.OwnerUID, info.Mode = int(st.Uid), fmt.Sprintf("%04o", st.Mode&0o7777)
		info.Owner = userName(st.Uid)
	}
	fillLock(&info, hd)
	info.Holders = make([]SegmentHolder, 0, min(int(atomic.LoadUint32(&hd.UsedCount)), h.s.maxHolders()))
	self := h.s.slot()
	slots := h.slots()
	info.RefCount = liveHandles(slots)
	info.Counters = sumCounters(hd, slots)
	info.At = time.Now()
	for i := range slots {
		sl := &slots[i]
		if atomic.LoadUint32(&sl.State) != slotUsed {
			continue
		}
		alive := liveWordAlive(atomic.LoadUint32(&sl.Live))
		info.Holders = append(info.Holders, SegmentHolder{
			Slot: i, PID: int(sl.PID), StartTime: sl.StartTime, Handles: int(atomic.LoadUint32(&sl.Handles)),
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
