/*
 * shim.c - the crate's own C, compiled by build.rs next to the C layer (or
 * against an installed libipcarc). It uses ipcarc.h only, and adds nothing to
 * the library's API: every name here starts with ipcarc_rs_ and is private to
 * the crate.
 *
 * Why C at all: the Rust code must not hard-code what the C side defines. The
 * errno values the API returns, the lifetime codes, the limits, and the sizes
 * and offsets of the structs Rust mirrors come from here, compiled by the same
 * C compiler against the same headers, so a libc or layout difference cannot
 * go unnoticed. The two helpers touch header fields the protocol (LAYOUT.md)
 * lets a holder of the value lock touch, with the C atomics the C layer uses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ipcarc.h"

/* Every member is an int64_t: the Rust mirror (src/ffi.rs, `Consts`) is the
 * same list in the same order, and a struct of one type has no padding. */
struct ipcarc_rs_consts {
	/* errno values with an ipcarc meaning (ipcarc.h, Conventions) */
	int64_t e_perm, e_noent, e_intr, e_child, e_busy, e_exist, e_nodev, e_isdir, e_inval, e_deadlk,
	    e_nametoolong, e_loop, e_badmsg, e_users, e_prototype, e_protonosupport, e_timedout,
	    e_inprogress, e_ownerdead, e_notrecoverable;
	/* lifetimes, limits */
	int64_t lifetime_last_close, lifetime_until_removed;
	int64_t default_holders, max_holders, max_align, name_max, layout_version;
	int64_t field_none;
	/* ipcarc_spec, as Rust's Spec mirrors it */
	int64_t spec_size, spec_align, spec_value_size, spec_value_align, spec_max_holders, spec_type_tag,
	    spec_mode, spec_lifetime, spec_open_timeout_ns;
	/* ipcarc_counters, as Rust's Counters mirrors it */
	int64_t counters_size, counters_acquisitions, counters_wakeups, counters_reaped, counters_reserved;
	/* the crate's own structs below */
	int64_t rs_stats_size, rs_holder_size;
	/* the trust rule (ipcarc.h, above ipcarc_spec) */
	int64_t e_acces, field_owner, field_mode, max_trusted_uids, trust_group;
	int64_t spec_trusted_uids, spec_n_trusted_uids, spec_trusted_gid, spec_trust_flags;
	/* slices */
	int64_t e_range, e_nobufs, shape_slice, spec_shape;
};

/* What Arc::stats reads from the header (atomically where the header says
 * "atomic"). Every member is a 64-bit integer, as in the Rust mirror. */
struct ipcarc_rs_stats {
	uint64_t total_size, value_size, value_align, type_tag;
	int64_t refcount;
	uint64_t max_holders, poisoned, version, lifetime, waiters;
	int64_t creator_pid, lock_owner;
	uint64_t created_ns;
};

/* One used slot of the holder table. */
struct ipcarc_rs_holder {
	int64_t pid;
	uint64_t start_time, attached_ns, handles, alive;
};

const struct ipcarc_rs_consts ipcarc_rs_consts = {
	EPERM, ENOENT, EINTR, ECHILD, EBUSY, EEXIST, ENODEV, EISDIR, EINVAL, EDEADLK,
	ENAMETOOLONG, ELOOP, EBADMSG, EUSERS, EPROTOTYPE, EPROTONOSUPPORT, ETIMEDOUT,
	EINPROGRESS, EOWNERDEAD, ENOTRECOVERABLE,
	IPCARC_LIFETIME_LAST_CLOSE, IPCARC_LIFETIME_UNTIL_REMOVED,
	IPCARC_DEFAULT_HOLDERS, IPCARC_MAX_HOLDERS, IPCARC_MAX_ALIGN, IPCARC_NAME_MAX, IPCARC_LAYOUT_VERSION,
	IPCARC_FIELD_NONE,
	sizeof(ipcarc_spec), _Alignof(ipcarc_spec), offsetof(ipcarc_spec, value_size),
	offsetof(ipcarc_spec, value_align), offsetof(ipcarc_spec, max_holders), offsetof(ipcarc_spec, type_tag),
	offsetof(ipcarc_spec, mode), offsetof(ipcarc_spec, lifetime), offsetof(ipcarc_spec, open_timeout_ns),
	sizeof(ipcarc_counters), offsetof(ipcarc_counters, acquisitions), offsetof(ipcarc_counters, wakeups),
	offsetof(ipcarc_counters, reaped), offsetof(ipcarc_counters, reserved),
	sizeof(struct ipcarc_rs_stats), sizeof(struct ipcarc_rs_holder),
	EACCES, IPCARC_FIELD_OWNER, IPCARC_FIELD_MODE, IPCARC_MAX_TRUSTED_UIDS, IPCARC_TRUST_GROUP,
	offsetof(ipcarc_spec, trusted_uids), offsetof(ipcarc_spec, n_trusted_uids),
	offsetof(ipcarc_spec, trusted_gid), offsetof(ipcarc_spec, trust_flags),
	ERANGE, ENOBUFS, IPCARC_SHAPE_SLICE, offsetof(ipcarc_spec, shape),
};

/* Poison the value: a Rust guard dropped while its thread panics, as std's
 * Mutex does. Called with the value lock held (the sequence word is odd), as
 * the flag may change only then; one count in this attachment's `poisoned`,
 * which its user may add to while holding the lock (ipcarc.h, Counters). */
void ipcarc_rs_poison(ipcarc_seg *s) {
	ipcarc_header *h = ipcarc_hdr(s);
	if (!h) return; /* a handle inherited through fork: nothing of the parent's */
	__atomic_or_fetch(&h->flags, IPCARC_FLAG_POISONED, __ATOMIC_SEQ_CST);
	ipcarc_counters *c = ipcarc_my_counters(s);
	__atomic_store_n(&c->poisoned, __atomic_load_n(&c->poisoned, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* One more completed update (Arc::update), under the value lock. */
void ipcarc_rs_count_update(ipcarc_seg *s) {
	ipcarc_counters *c = ipcarc_my_counters(s);
	__atomic_store_n(&c->updates, __atomic_load_n(&c->updates, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* All zero for a handle inherited through fork (ipcarc_hdr is NULL there). */
void ipcarc_rs_stats(ipcarc_seg *s, struct ipcarc_rs_stats *out) {
	const ipcarc_header *h = ipcarc_hdr(s);
	if (!h) {
		memset(out, 0, sizeof *out);
		return;
	}
	out->total_size = h->total_size;
	out->value_size = h->value_size;
	out->value_align = h->value_align;
	out->type_tag = h->type_tag;
	out->refcount = ipcarc_refcount(s); /* live holders only */
	out->max_holders = ipcarc_hdr_max_holders(s);
	out->poisoned = ipcarc_poisoned(s);
	out->version = ipcarc_version(s);
	out->lifetime = ipcarc_lifetime(s);
	out->waiters = __atomic_load_n(&h->waiters, __ATOMIC_RELAXED);
	out->creator_pid = h->creator_pid;
	out->lock_owner = ipcarc_lock_owner(s);
	out->created_ns = h->created_ns;
}

/* 1 and *out filled if slot is used, 0 if free, -1 past the table (whose size
 * is the one validated at attach, never the header's). */
int ipcarc_rs_holder(ipcarc_seg *s, uint32_t slot, struct ipcarc_rs_holder *out) {
	const ipcarc_header *hdr = ipcarc_hdr(s);
	if (!hdr || slot >= ipcarc_hdr_max_holders(s)) return -1;
	const ipcarc_holder *t = (const ipcarc_holder *)((const char *)hdr + IPCARC_HEADER_SIZE);
	const ipcarc_holder *h = &t[slot];
	if (__atomic_load_n(&h->state, __ATOMIC_ACQUIRE) != IPCARC_SLOT_USED) return 0;
	out->pid = h->pid;
	out->start_time = h->start_time;
	out->attached_ns = h->attached_ns;
	out->handles = __atomic_load_n(&h->handles, __ATOMIC_RELAXED);
	out->alive = ipcarc_holder_alive(s, slot) == 1;
	return 1;
}

/* 1 if the calling thread holds the segment's value lock: a lock-free read
 * would then run while a &mut T to the value may be live (Rust aliasing). */
int ipcarc_rs_lock_is_mine(ipcarc_seg *s) {
	return ipcarc_lock_owner(s) == (int)syscall(SYS_gettid);
}
