/*
 * cshm.h - ipcarc's whole C interface inside this repository: the public API
 * (ipcarc.h, what libipcarc exports and installs) plus the entry points only
 * the Go package (cgo_bridge.go), the tests and the benchmarks use. Those are
 * declared without IPCARC_API, so the library built with -fvisibility=hidden
 * keeps them to itself; cgo, ctest, bench and the fault-point builds compile
 * the C files directly and see everything.
 *
 * C programs and the Rust crate use ipcarc.h only.
 */
#ifndef IPCARC_CSHM_H
#define IPCARC_CSHM_H

#include "ipcarc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Inspection without attaching (the `ipcarc` command) ------------------ */

/* 1 if the header's mutex is of the kind ipcarc creates (robust, process-shared,
 * error-checking; compared on glibc, always 1 elsewhere). For readers that
 * validate a header without attaching, such as `ipcarc inspect`. */
int ipcarc_mutex_kind_ok(const ipcarc_header *h);
int ipcarc_fd(ipcarc_seg *s);

/* ---- Locking and waiting as the Go runtime needs them ----------------------- */

/* ipcarc_timedlock for a caller that has been waiting since since_ns
 * (ipcarc_monotonic_ns; 0: from now), so that a wait made of several timed
 * slices is counted as one contended acquisition of its whole length. */
int ipcarc_timedlock_since(ipcarc_seg *s, int64_t timeout_ns, int64_t since_ns);
int64_t ipcarc_monotonic_ns(void);
/* ipcarc_load's locked fallback alone, waiting at most timeout_ns (<0: forever)
 * for the value's lock: ETIMEDOUT when it stays held. */
int ipcarc_load_locked(ipcarc_seg *s, void *dst, size_t n, int64_t timeout_ns);
/* ipcarc_wait that sleeps with a futex bitset (FUTEX_WAIT_BITSET): writers wake
 * every bit; ipcarc_wake_bits(s, bits) wakes only sleepers whose bits intersect. */
int ipcarc_wait_bits(ipcarc_seg *s, uint32_t since, int64_t timeout_ns, uint32_t bits, uint32_t *now);
void ipcarc_wake_bits(ipcarc_seg *s, uint32_t bits);
/* This attachment's own bit: 1 << (1 + slot % 31). */
uint32_t ipcarc_wait_bit(ipcarc_seg *s);
/* Wake every waiter of the segment. */
void ipcarc_wake_all(ipcarc_seg *s);

/* ---- Go bridge entry points ----------------------------------------------
 * The same hot calls taking the handle as an integer. The handle is memory
 * that C allocated (malloc), which no Go stack move or GC can touch, so the
 * integer form is sound for it and cgo skips its pointer check. Go memory
 * (the value's source or destination) always crosses as a pointer: see the
 * rule at the top of cgo_bridge.go. */
int ipcarc_lock_h(uintptr_t h);
int ipcarc_trylock_h(uintptr_t h);
int ipcarc_timedlock_h(uintptr_t h, int64_t timeout_ns);
int ipcarc_timedlock_since_h(uintptr_t h, int64_t timeout_ns, int64_t since_ns);
int ipcarc_unlock_h(uintptr_t h);
int ipcarc_notify_h(uintptr_t h);
int ipcarc_store_h(uintptr_t h, const unsigned char *src, size_t n);
int ipcarc_load_locked_h(uintptr_t h, unsigned char *dst, size_t n, int64_t timeout_ns);
int ipcarc_slice_store_h(uintptr_t h, const unsigned char *src, size_t n_elems);
int ipcarc_slice_load_locked_h(uintptr_t h, unsigned char *dst, size_t cap_elems, size_t *len, int64_t timeout_ns);
int ipcarc_slice_get_h(uintptr_t h, size_t i, unsigned char *dst);
int ipcarc_slice_set_h(uintptr_t h, size_t i, const unsigned char *src);
int ipcarc_slice_set_len_h(uintptr_t h, size_t n);
int ipcarc_noop_h(uintptr_t h); /* empty call: the cgo floor in benchmarks */

/* ---- Test-only fault points (compiled in with -DIPCARC_FAULTS) ------------ */
/* Arms phase: when the named point is reached the process raises SIGKILL
 * ("phase"), or SIGSTOP ("phase:stop"). */
void ipcarc_fault_arm(const char *phase);

#ifdef __cplusplus
}
#endif
#endif
