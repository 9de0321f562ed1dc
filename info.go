//go:build linux

package ipcarc

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// fillInfo is the one place that turns a segment's header and holder table
// into a SegmentInfo, for Arc.Info (through a handle's mapping) and Inspect
// and List (through a read-only mapping). fixed is a validated or private
// copy of the header, read for the fields fixed at creation; live is the
// mapping, read with atomic loads for the words that move; slots is the
// holder table as far as a trusted bound allows; self is the reading
// handle's slot, or -1. It returns the first slot whose state is neither
// FREE nor USED, or -1.
func fillInfo(info *SegmentInfo, fixed, live *header, slots []holder, maxHolders int, self int) (badSlot int) {
	*info = SegmentInfo{
		Name: info.Name, OwnerUID: info.OwnerUID, Owner: info.Owner, Mode: info.Mode,
		TotalSize: fixed.TotalSize, ValueSize: fixed.ValueSize, ValueAlign: fixed.ValueAlign,
		TypeTag: TypeTag(fixed.TypeTag), MaxHolders: maxHolders, Holders: []SegmentHolder{},
		Shape:      Shape(fixed.Shape),
		State:      stateOf(atomic.LoadUint32(&live.State)),
		Version:    uint64(atomic.LoadUint32(&live.Seq) >> 1),
		CreatorPID: int(fixed.CreatorPID), Lifetime: Lifetime(fixed.Lifetime),
		Waiters:           int(atomic.LoadUint32(&live.Waiters)),
		TableLockOwnerTID: int(atomic.LoadUint32((*uint32)(unsafe.Pointer(&live.TableMutex[0]))) & futexTIDMask),
	}
	if fixed.Shape == shapeSlice {
		info.Capacity = fixed.Capacity
		info.Len = min(atomic.LoadUint64(&live.Len), fixed.Capacity)
	}
	if fixed.CreatedNs != 0 {
		info.Created = time.Unix(0, int64(fixed.CreatedNs)).UTC()
	}
	fillLock(info, live)
	info.RefCount = liveHandles(slots)
	info.Counters = sumCounters(live, slots)
	info.At = time.Now() // right after the counters
	badSlot = -1
	for i := range slots {
		sl := &slots[i]
		st := atomic.LoadUint32(&sl.State)
		if st == slotFree {
			continue
		}
		if st != slotUsed {
			if badSlot < 0 {
				badSlot = i
			}
			continue
		}
		alive := liveWordAlive(atomic.LoadUint32(&sl.Live))
		info.Holders = append(info.Holders, SegmentHolder{
			Slot: i, PID: int(sl.PID), StartTime: sl.StartTime,
			Handles: int(atomic.LoadUint32(&sl.Handles)), Alive: alive, Self: i == self,
		})
		if alive {
			info.LiveHolders++
		} else {
			info.DeadHolders++
		}
	}
	return badSlot
}
