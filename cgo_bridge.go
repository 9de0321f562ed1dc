//go:build linux && cgo

package ipcarc

// All calls into C live in this file: every other file speaks Go types and
// int return codes, turned into errors by fromErrno.
//
// The rule at this boundary, and why:
//
//   - Go memory crosses into C only as a pointer (unsafe.Pointer converted to
//     a C pointer type), never as an integer. A uintptr taken from a Go
//     pointer is just a number to the compiler and the runtime: the generated
//     _Cfunc_ wrapper and runtime.cgocall are ordinary Go functions with
//     stack-growth prologues, so the goroutine's stack can be copied after
//     the integer is computed and before C runs. C would then read from (a
//     Store) or write into (a Load) the old, freed stack. A pointer argument
//     is adjusted when the stack moves; an integer is not. (The unsafe.Pointer
//     rules allow the integer form only for syscall and assembly calls.)
//   - So that a pointer argument does not force the value onto the heap (an
//     allocation per Load or Store), the C functions that take Go memory are
//     declared `#cgo noescape` (C keeps no copy of the pointer after it
//     returns) and `#cgo nocallback` (C never calls back into Go): then the
//     compiler lets the value stay on the goroutine stack. Both promises are
//     true of every function listed below; keep them true.
//   - Those functions take `unsigned char *`, a pointer to pointer-free bytes,
//     so cgo inserts no run-time pointer check (a `void *` argument would be
//     checked at every call, and would panic for a pointer into a global).
//     The value types are pointer-free (typecheck.go refuses anything else),
//     so there is nothing for the check to find.
//   - Only memory that C allocated (the ipcarc_seg handle, from malloc) may
//     cross as an integer: it is outside the Go heap and stacks, never moves
//     and is freed only by ipcarc_close. The hot lock calls take it that way
//     (seg.h), because cgo checks every pointer argument at each call.

/*
#cgo noescape ipcarc_store_h
#cgo nocallback ipcarc_store_h
#cgo noescape ipcarc_load_locked_h
#cgo nocallback ipcarc_load_locked_h
#cgo noescape ipcarc_slice_store_h
#cgo nocallback ipcarc_slice_store_h
#cgo noescape ipcarc_slice_load_locked_h
#cgo nocallback ipcarc_slice_load_locked_h
#cgo noescape ipcarc_slice_get_h
#cgo nocallback ipcarc_slice_get_h
#cgo noescape ipcarc_slice_set_h
#cgo nocallback ipcarc_slice_set_h
#include "cshm.h"
*/
import "C"

import "unsafe"

// cstr makes a NUL-terminated copy in Go memory: C only reads it during the
// call, so nothing needs freeing.
func cstr(s string) *C.char {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return (*C.char)(unsafe.Pointer(&b[0]))
}

// seg is one attachment: a C-allocated ipcarc_seg. Hot calls hand it to C as
// an integer (h), which cgo does not check.
type seg struct{ c *C.ipcarc_seg }

func (s seg) h() C.uintptr_t { return C.uintptr_t(uintptr(unsafe.Pointer(s.c))) }

type spec struct {
	size        uint64
	align       uint32
	maxHolders  uint32
	tag         uint64
	mode        uint32
	lifetime    uint32
	openTimeout int64
	// the trust rule's inputs (ipcarc_spec's trusted_uids ... trust_flags)
	trustedUIDs [C.IPCARC_MAX_TRUSTED_UIDS]uint32
	nTrusted    uint32
	trustedGID  uint32
	trustFlags  uint32
	shape       uint32 // shapeValue or shapeSlice
}

func (s *spec) c() C.ipcarc_spec {
	return C.ipcarc_spec{
		value_size:      C.uint64_t(s.size),
		value_align:     C.uint32_t(s.align),
		max_holders:     C.uint32_t(s.maxHolders),
		type_tag:        C.uint64_t(s.tag),
		mode:            C.uint32_t(s.mode),
		lifetime:        C.uint32_t(s.lifetime),
		open_timeout_ns: C.int64_t(s.openTimeout),
		trusted_uids:    uidArray(s.trustedUIDs),
		n_trusted_uids:  C.uint32_t(s.nTrusted),
		trusted_gid:     C.uint32_t(s.trustedGID),
		trust_flags:     C.uint32_t(s.trustFlags),
		shape:           C.uint32_t(s.shape),
	}
}

const trustGroup = C.IPCARC_TRUST_GROUP

func uidArray(u [C.IPCARC_MAX_TRUSTED_UIDS]uint32) (a [C.IPCARC_MAX_TRUSTED_UIDS]C.uint32_t) {
	for i, v := range u {
		a[i] = C.uint32_t(v)
	}
	return a
}

func cCreate(name string, sp *spec, init unsafe.Pointer) (seg, int) {
	cname := cstr(name)
	cs := sp.c()
	var out *C.ipcarc_seg
	rc := C.ipcarc_create(cname, &cs, init, &out)
	return seg{out}, int(rc)
}

func cOpen(name string, sp *spec) (seg, int, int) {
	cname := cstr(name)
	cs := sp.c()
	var out *C.ipcarc_seg
	var field C.int
	rc := C.ipcarc_open(cname, &cs, &out, &field)
	return seg{out}, int(rc), int(field)
}

func cOpenOrCreate(name string, sp *spec, init unsafe.Pointer) (seg, bool, int, int) {
	cname := cstr(name)
	cs := sp.c()
	var out *C.ipcarc_seg
	var created, field C.int
	rc := C.ipcarc_open_or_create(cname, &cs, init, &out, &created, &field)
	return seg{out}, created != 0, int(rc), int(field)
}

func (s seg) p() *C.ipcarc_seg { return s.c }

func (s seg) clone() int { return int(C.ipcarc_clone(s.p())) }
func (s seg) close() int { return int(C.ipcarc_close(s.p())) }

func (s seg) header() *header      { return (*header)(unsafe.Pointer(C.ipcarc_hdr(s.p()))) }
func (s seg) data() unsafe.Pointer { return C.ipcarc_data(s.p()) }
func (s seg) slot() int            { return int(C.ipcarc_slot(s.p())) }
func (s seg) fd() int              { return int(C.ipcarc_fd(s.p())) }

func (s seg) lock() int              { return int(C.ipcarc_lock_h(s.h())) }
func (s seg) trylock() int           { return int(C.ipcarc_trylock_h(s.h())) }
func (s seg) timedlock(ns int64) int { return int(C.ipcarc_timedlock_h(s.h(), C.int64_t(ns))) }
func (s seg) unlock() int            { return int(C.ipcarc_unlock_h(s.h())) }
func (s seg) notify() int            { return int(C.ipcarc_notify_h(s.h())) }
func (s seg) unlockUnchanged() int   { return int(C.ipcarc_unlock_unchanged(s.p())) }
func (s seg) clearPoison() int       { return int(C.ipcarc_clear_poison(s.p())) }
func (s seg) wakeAll()               { C.ipcarc_wake_all(s.p()) }
func (s seg) waitBit() uint32        { return uint32(C.ipcarc_wait_bit(s.p())) }
func (s seg) wakeBits(b uint32)      { C.ipcarc_wake_bits(s.p(), C.uint32_t(b)) }
func (s seg) timeout() int64         { return int64(C.ipcarc_timeout(s.p())) }
func (s seg) lifetime() uint32       { return uint32(C.ipcarc_lifetime(s.p())) }
func (s seg) maxHolders() int        { return int(C.ipcarc_hdr_max_holders(s.p())) }
func (s seg) wordCopy(on bool) int {
	v := C.int(0)
	if on {
		v = 1
	}
	return int(C.ipcarc_word_copy(s.p(), v))
}
func noop(s seg) int { return int(C.ipcarc_noop_h(s.h())) }

func (s seg) reap() (int, int) {
	var n C.int
	rc := C.ipcarc_reap(s.p(), &n)
	return int(n), int(rc)
}

// store copies n bytes from src (a Go pointer to pointer-free memory, on the
// heap or the goroutine stack) in one crossing. src crosses as a pointer
// (noescape: it may stay on the caller's stack).
func (s seg) store(src unsafe.Pointer, n uintptr) int {
	return int(C.ipcarc_store_h(s.h(), (*C.uchar)(src), C.size_t(n)))
}

// waitBits sleeps as ipcarc_wait does, with a futex bitset: wakeBits(bits)
// wakes it without waking other sleepers.
func (s seg) waitBits(since uint32, timeoutNs int64, bits uint32) (uint32, int) {
	var now C.uint32_t
	rc := C.ipcarc_wait_bits(s.p(), C.uint32_t(since), C.int64_t(timeoutNs), C.uint32_t(bits), &now)
	return uint32(now), int(rc)
}

// counters is this attachment's own counters, in its slot.
func (s seg) counters() *counters { return (*counters)(unsafe.Pointer(C.ipcarc_my_counters(s.p()))) }

// timedlockSince is timedlock for a caller waiting since sinceNs (monotonicNs).
func (s seg) timedlockSince(ns, sinceNs int64) int {
	return int(C.ipcarc_timedlock_since_h(s.h(), C.int64_t(ns), C.int64_t(sinceNs)))
}

func monotonicNs() int64 { return int64(C.ipcarc_monotonic_ns()) }

// loadLocked is Load's locked fallback, waiting at most timeoutNs (< 0:
// as long as it takes) for the value's lock. dst crosses as a pointer, as in
// store (noescape: a destination on the goroutine stack stays there).
func (s seg) loadLocked(dst unsafe.Pointer, n uintptr, timeoutNs int64) int {
	return int(C.ipcarc_load_locked_h(s.h(), (*C.uchar)(dst), C.size_t(n), C.int64_t(timeoutNs)))
}

// cSliceCreate creates a slice segment of capacity elements, the first n
// copied from init (Go memory, read during the call only).
func cSliceCreate(name string, sp *spec, capacity int, init unsafe.Pointer, n int) (seg, int) {
	cname := cstr(name)
	cs := sp.c()
	var out *C.ipcarc_seg
	rc := C.ipcarc_slice_create(cname, &cs, C.size_t(capacity), init, C.size_t(n), &out)
	return seg{out}, int(rc)
}

func cSliceOpenOrCreate(name string, sp *spec, capacity int, init unsafe.Pointer, n int) (seg, bool, int, int) {
	cname := cstr(name)
	cs := sp.c()
	var out *C.ipcarc_seg
	var created, field C.int
	rc := C.ipcarc_slice_open_or_create(cname, &cs, C.size_t(capacity), init, C.size_t(n), &out, &created, &field)
	return seg{out}, created != 0, int(rc), int(field)
}

func (s seg) sliceCap() int { return int(C.ipcarc_slice_cap(s.p())) }

// sliceStore: n elements from src (Go memory, pointer-free) in one crossing.
func (s seg) sliceStore(src unsafe.Pointer, n int) int {
	return int(C.ipcarc_slice_store_h(s.h(), (*C.uchar)(src), C.size_t(n)))
}

// sliceLoadLocked: the slice's locked fallback into dst (room for room
// elements); n is the length found.
func (s seg) sliceLoadLocked(dst unsafe.Pointer, room int, timeoutNs int64) (n int, rc int) {
	var ln C.size_t
	rc = int(C.ipcarc_slice_load_locked_h(s.h(), (*C.uchar)(dst), C.size_t(room), &ln, C.int64_t(timeoutNs)))
	return int(ln), rc
}

func (s seg) sliceGet(i int, dst unsafe.Pointer) int {
	return int(C.ipcarc_slice_get_h(s.h(), C.size_t(i), (*C.uchar)(dst)))
}

func (s seg) sliceSet(i int, src unsafe.Pointer) int {
	return int(C.ipcarc_slice_set_h(s.h(), C.size_t(i), (*C.uchar)(src)))
}

func (s seg) sliceSetLen(n int) int { return int(C.ipcarc_slice_set_len_h(s.h(), C.size_t(n))) }

type gcResult struct {
	ReapedHandles, LiveHolders, Field int
	Unlinked, Busy, HalfMade, Kept    bool
}

func cGC(name string, lockTimeoutNs int64, dryRun bool) (gcResult, int) {
	cname := cstr(name)
	var r C.ipcarc_gc_result
	dr := C.int(0)
	if dryRun {
		dr = 1
	}
	rc := C.ipcarc_gc(cname, C.int64_t(lockTimeoutNs), dr, &r)
	return gcResult{
		ReapedHandles: int(r.reaped_handles), LiveHolders: int(r.live_holders), Field: int(r.field),
		Unlinked: r.unlinked != 0, Busy: r.busy != 0, HalfMade: r.half_made != 0, Kept: r.kept != 0,
	}, int(rc)
}

func cRemove(name string, force bool) int {
	cname := cstr(name)
	f := C.int(0)
	if force {
		f = 1
	}
	return int(C.ipcarc_remove(cname, f))
}

// mutexKindOK applies validate's last check to a header mapped read-only.
func mutexKindOK(h *header) bool {
	return C.ipcarc_mutex_kind_ok((*C.ipcarc_header)(unsafe.Pointer(h))) != 0
}

func cABI() uint32 { return uint32(C.ipcarc_abi()) }
func cTag(s string) uint64 {
	cs := cstr(s)
	return uint64(C.ipcarc_tag(cs))
}

func faultArm(phase string) {
	cs := cstr(phase)
	C.ipcarc_fault_arm(cs)
}

// cLayout is the C compiler's view of the layout (cgo reads it from the C
// compiler's debug info), for TestLayoutMatchesC.
func cLayout() map[string]uintptr {
	var h C.ipcarc_header
	var s C.ipcarc_holder
	var c C.ipcarc_counters
	return map[string]uintptr{
		"header.size": unsafe.Sizeof(h), "holder.size": unsafe.Sizeof(s),
		"Magic": unsafe.Offsetof(h.magic), "Version": unsafe.Offsetof(h.version),
		"ABI": unsafe.Offsetof(h.abi), "State": unsafe.Offsetof(h.state),
		"Flags": unsafe.Offsetof(h.flags), "TotalSize": unsafe.Offsetof(h.total_size),
		"ValueSize": unsafe.Offsetof(h.value_size), "ValueAlign": unsafe.Offsetof(h.value_align),
		"MaxHolders": unsafe.Offsetof(h.max_holders), "TypeTag": unsafe.Offsetof(h.type_tag),
		"ValueOff": unsafe.Offsetof(h.value_off), "HoldersOff": unsafe.Offsetof(h.holders_off),
		"Seq": unsafe.Offsetof(h.seq), "Waiters": unsafe.Offsetof(h.waiters),
		"Lifetime": unsafe.Offsetof(h.lifetime), "CreatorPID": unsafe.Offsetof(h.creator_pid),
		"CreatedNs": unsafe.Offsetof(h.created_ns), "Reserved1": unsafe.Offsetof(h.reserved1),
		"Shape": unsafe.Offsetof(h.shape), "Capacity": unsafe.Offsetof(h.capacity),
		"Len": unsafe.Offsetof(h.slice_len), "Reserved4": unsafe.Offsetof(h.reserved4),
		"Mutex": unsafe.Offsetof(h.m), "RefCount": unsafe.Offsetof(h.refcount),
		"UsedCount": unsafe.Offsetof(h.used_count), "FreeHead": unsafe.Offsetof(h.free_head),
		"UsedHead": unsafe.Offsetof(h.used_head), "UsedTail": unsafe.Offsetof(h.used_tail),
		"Repairs": unsafe.Offsetof(h.repairs), "Reserved2": unsafe.Offsetof(h.reserved2),
		"Reserved3": unsafe.Offsetof(h.reserved3), "TableMutex": unsafe.Offsetof(h.t),
		"Totals":       unsafe.Offsetof(h.totals),
		"Holder.State": unsafe.Offsetof(s.state), "Holder.Handles": unsafe.Offsetof(s.handles),
		"Holder.Live": unsafe.Offsetof(s.live), "Holder.Waiters": unsafe.Offsetof(s.waiters),
		"Holder.RobustNext": unsafe.Offsetof(s.robust_next), "Holder.Prev": unsafe.Offsetof(s.prev),
		"Holder.Next": unsafe.Offsetof(s.next), "Holder.PID": unsafe.Offsetof(s.pid),
		"Holder.Reserved1": unsafe.Offsetof(s.reserved1), "Holder.StartTime": unsafe.Offsetof(s.start_time),
		"Holder.AttachedNs": unsafe.Offsetof(s.attached_ns), "Holder.Reserved2": unsafe.Offsetof(s.reserved2),
		"Holder.Counters":       unsafe.Offsetof(s.counters),
		"Counters.Acquisitions": unsafe.Offsetof(c.acquisitions), "Counters.Contended": unsafe.Offsetof(c.contended),
		"Counters.Slept": unsafe.Offsetof(c.slept), "Counters.WaitNs": unsafe.Offsetof(c.wait_ns),
		"Counters.WaitMaxNs": unsafe.Offsetof(c.wait_max_ns), "Counters.HoldSamples": unsafe.Offsetof(c.hold_samples),
		"Counters.HoldNs": unsafe.Offsetof(c.hold_ns), "Counters.OwnerDeaths": unsafe.Offsetof(c.owner_deaths),
		"Counters.Poisoned": unsafe.Offsetof(c.poisoned), "Counters.PoisonCleared": unsafe.Offsetof(c.poison_cleared),
		"Counters.LoadRetries": unsafe.Offsetof(c.load_retries), "Counters.LoadFallbacks": unsafe.Offsetof(c.load_fallbacks),
		"Counters.Stores": unsafe.Offsetof(c.stores), "Counters.Updates": unsafe.Offsetof(c.updates),
		"Counters.Wakeups": unsafe.Offsetof(c.wakeups), "Counters.Reaped": unsafe.Offsetof(c.reaped),
		"Counters.Reserved": unsafe.Offsetof(c.reserved), "HOLD_SAMPLE": C.IPCARC_HOLD_SAMPLE,
		"HEADER_SIZE": C.IPCARC_HEADER_SIZE, "HOLDER_SIZE": C.IPCARC_HOLDER_SIZE,
		"MUTEX_OFFSET": C.IPCARC_MUTEX_OFFSET, "TABLE_MUTEX_OFFSET": C.IPCARC_TABLE_MUTEX_OFFSET,
		"sizeof(pthread_mutex_t)": unsafe.Sizeof(C.pthread_mutex_t{}),
		"MAGIC_LO":                uintptr(C.IPCARC_MAGIC & 0xffffffff), "MAGIC_HI": uintptr(C.IPCARC_MAGIC >> 32),
		"LAYOUT_VERSION": C.IPCARC_LAYOUT_VERSION, "MAX_HANDLES": C.IPCARC_MAX_HANDLES,
		"LIVE_TID_MASK": C.IPCARC_LIVE_TID_MASK, "LIVE_OWNER_DIED": C.IPCARC_LIVE_OWNER_DIED,
	}
}
