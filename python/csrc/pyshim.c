/*
 * pyshim.c - the Python package's own C, compiled into the package's
 * _libipcarc.so next to the C layer. It uses ipcarc.h only and adds nothing to
 * the library's API: every name here starts with ipcarc_py_ and is private to
 * the package (ipcarc/_ffi.py).
 *
 * Why C at all: Python must not hard-code what the C side defines. The sizes
 * and offsets of the structs Python mirrors come from here, compiled by the
 * same compiler against the same header, and _ffi.py checks them at import.
 * The helpers touch header fields the protocol (LAYOUT.md) lets a holder of
 * the value lock touch, with the C atomics the C layer uses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipcarc.h"

#define PY_API __attribute__((visibility("default")))

/* What Arc.info() reads: every member a 64-bit integer, as the ctypes mirror. */
struct ipcarc_py_stats {
	uint64_t total_size, value_size, value_align, type_tag;
	int64_t refcount;
	uint64_t max_holders, poisoned, version, lifetime, waiters;
	int64_t creator_pid, lock_owner;
	uint64_t created_ns;
	int64_t used_slots, live_holders;
};

/* Layout facts _ffi.py checks its ctypes mirrors against, in this order. */
PY_API void ipcarc_py_layout(int64_t out[15]) {
	out[0] = sizeof(ipcarc_spec);
	out[1] = offsetof(ipcarc_spec, type_tag);
	out[2] = offsetof(ipcarc_spec, open_timeout_ns);
	out[3] = offsetof(ipcarc_spec, trusted_uids);
	out[4] = offsetof(ipcarc_spec, trust_flags);
	out[5] = sizeof(ipcarc_counters);
	out[6] = sizeof(struct ipcarc_py_stats);
	out[7] = IPCARC_MAX_TRUSTED_UIDS;
	out[8] = IPCARC_MAX_HOLDERS;
	out[9] = IPCARC_MAX_ALIGN;
	out[10] = IPCARC_LAYOUT_VERSION;
	out[11] = IPCARC_TRUST_GROUP;
	out[12] = IPCARC_FIELD_OWNER;
	out[13] = IPCARC_FIELD_MODE;
	out[14] = IPCARC_FIELD_MUTEX;
}

/* Poison the value: an exception escaped Arc.update's function (or Recover's),
 * as a panic does in Go and Rust. Called with the value lock held (the
 * sequence word is odd), as the flag may change only then; one count in this
 * attachment's `poisoned` (ipcarc.h, Counters). */
PY_API void ipcarc_py_poison(ipcarc_seg *s) {
	ipcarc_header *h = ipcarc_hdr(s);
	if (!h) return; /* a handle inherited through fork: nothing of the parent's */
	__atomic_or_fetch(&h->flags, IPCARC_FLAG_POISONED, __ATOMIC_SEQ_CST);
	ipcarc_counters *c = ipcarc_my_counters(s);
	__atomic_store_n(&c->poisoned, __atomic_load_n(&c->poisoned, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* One more completed update (Arc.update), under the value lock. */
PY_API void ipcarc_py_count_update(ipcarc_seg *s) {
	ipcarc_counters *c = ipcarc_my_counters(s);
	__atomic_store_n(&c->updates, __atomic_load_n(&c->updates, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* All zero for a handle inherited through fork (ipcarc_hdr is NULL there). */
PY_API void ipcarc_py_stats(ipcarc_seg *s, struct ipcarc_py_stats *out) {
	const ipcarc_header *h = ipcarc_hdr(s);
	memset(out, 0, sizeof *out);
	if (!h) return;
	out->total_size = h->total_size;
	out->value_size = h->value_size;
	out->value_align = h->value_align;
	out->type_tag = h->type_tag;
	out->refcount = ipcarc_refcount(s); /* live holders' handles only */
	out->max_holders = ipcarc_hdr_max_holders(s);
	out->poisoned = ipcarc_poisoned(s);
	out->version = ipcarc_version(s);
	out->lifetime = ipcarc_lifetime(s);
	out->waiters = __atomic_load_n(&h->waiters, __ATOMIC_RELAXED);
	out->creator_pid = h->creator_pid;
	out->lock_owner = ipcarc_lock_owner(s);
	out->created_ns = h->created_ns;
	const ipcarc_holder *t = (const ipcarc_holder *)((const char *)h + IPCARC_HEADER_SIZE);
	for (uint32_t i = 0; i < ipcarc_hdr_max_holders(s); i++) {
		if (__atomic_load_n(&t[i].state, __ATOMIC_ACQUIRE) != IPCARC_SLOT_USED) continue;
		out->used_slots++;
		if (ipcarc_holder_alive(s, i) == 1) out->live_holders++;
	}
}

/* 1 if the calling thread holds the segment's value lock. */
PY_API int ipcarc_py_lock_is_mine(ipcarc_seg *s) {
	return ipcarc_lock_owner(s) == (int)syscall(SYS_gettid);
}

/* Lock-free access to one integer field of the value (Arc.atomic_load,
 * atomic_store, atomic_add, atomic_cas): the same sequentially consistent
 * __atomic instructions, on the same address, as Go's atomic.Uint64 (and
 * Uint32, Int64, Int32) methods, C's __atomic_* on ipcarc_data and Rust's
 * AtomicU64.
 *
 * Few arguments, because each costs a ctypes conversion (about 100 ns): `b`
 * is the handle's private binding (in the calling process's own memory, never
 * the segment: the handle and the value size ipcarc_open validated, which is
 * the ctypes type's size); `key` is offset << 4 | width, width 4 or 8. The
 * result is the return value; the error is errno (the library is loaded a
 * second time with ctypes' use_errno for these), set on every call: 0, ECHILD
 * (nothing touched) on a handle inherited through fork, ERANGE when
 * [offset, offset+width) is not inside the value, EINVAL when width is not 4
 * or 8 or the address is not a multiple of it (a misaligned atomic may tear,
 * or fault on other architectures). On an error the result is 0. */
struct ipcarc_py_bind {
	ipcarc_seg *s;
	uint64_t size;
};

static void *atomic_addr(const struct ipcarc_py_bind *b, uint64_t key, int *width) {
	char *d = ipcarc_data(b->s);
	uint64_t off = key >> 4, w = key & 15;
	*width = (int)w;
	errno = 0;
	if (!d) errno = ECHILD;
	else if (w != 4 && w != 8) errno = EINVAL;
	else if (off > b->size || b->size - off < w) errno = ERANGE;
	else if (((uintptr_t)d + off) % w != 0) errno = EINVAL;
	return errno ? NULL : d + off;
}

PY_API uint64_t ipcarc_py_atomic_load(const struct ipcarc_py_bind *b, uint64_t key) {
	int w;
	void *p = atomic_addr(b, key, &w);
	if (!p) return 0;
	return w == 8 ? __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST) : __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST);
}

PY_API uint64_t ipcarc_py_atomic_store(const struct ipcarc_py_bind *b, uint64_t key, uint64_t v) {
	int w;
	void *p = atomic_addr(b, key, &w);
	if (!p) return 0;
	if (w == 8) __atomic_store_n((uint64_t *)p, v, __ATOMIC_SEQ_CST);
	else __atomic_store_n((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST);
	return 0;
}

/* Adds n (modulo 2^(8*width): a negative delta is its two's complement) and
 * returns the new value, as Go's Add. */
PY_API uint64_t ipcarc_py_atomic_add(const struct ipcarc_py_bind *b, uint64_t key, uint64_t n) {
	int w;
	void *p = atomic_addr(b, key, &w);
	if (!p) return 0;
	return w == 8 ? __atomic_add_fetch((uint64_t *)p, n, __ATOMIC_SEQ_CST)
	              : __atomic_add_fetch((uint32_t *)p, (uint32_t)n, __ATOMIC_SEQ_CST);
}

/* Compare-and-swap: 1 when the field held old and now holds new, else 0. */
PY_API uint64_t ipcarc_py_atomic_cas(const struct ipcarc_py_bind *b, uint64_t key, uint64_t old, uint64_t new_) {
	int w;
	void *p = atomic_addr(b, key, &w);
	if (!p) return 0;
	if (w == 8) return __atomic_compare_exchange_n((uint64_t *)p, &old, new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	uint32_t o = (uint32_t)old;
	return __atomic_compare_exchange_n((uint32_t *)p, &o, (uint32_t)new_, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
