//go:build linux && cgo

package ipcarc

import (
	"runtime/debug"
	"syscall"

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
	info.Name = h.name
	var st unix.Stat_t
	if unix.Fstat(h.s.fd(), &st) == nil {
		info.OwnerUID, info.Mode = int(st.Uid), FileMode(st.Mode&0o7777)
		info.Owner = userName(st.Uid)
	}
	fillInfo(&info, hd, hd, h.slots(), h.s.maxHolders(), h.s.slot())
	// The bound and the lifetime taken at attach, not the header's words.
	info.Lifetime = Lifetime(h.s.lifetime())
	return info, nil
}
