/*
 * table.c - the holder table: who holds how many handles.
 *
 * Everything here runs under the table mutex (header.t), a robust,
 * process-shared, error-checking pthread mutex that only library code takes,
 * for a bounded number of instructions, and never while waiting for anything
 * else. It is apart from the value's mutex: attaching, cloning, closing and
 * reaping never wait behind a user's critical section.
 *
 * The truth is in each slot: `state`, `handles` and the liveness word. The
 * rest (refcount, used_count, the free list and the used list) is derived,
 * kept up to date in O(1) per change, and rebuilt from the slots in O(n)
 * whenever the table mutex comes back EOWNERDEAD (a bookkeeper died at some
 * store) or any derived field is found inconsistent (a link out of range, a
 * list through a slot of the wrong state). So a death after any store, or a
 * peer's stray write to a derived field, costs one rebuild, never a segment
 * refused as corrupt.
 *
 * Bounds come from the handle's private copy (s->max_holders); every index
 * read from the mapping is checked against it before use.
 */
#define _GNU_SOURCE
#include "cshm_internal.h"

#include <string.h>
#include <unistd.h>

static inline int idx_ok(ipcarc_seg *s, uint32_t i) { return i < s->max_holders; }

int ipcarc_table_owner(ipcarc_seg *s) {
	return live_forked(s) ? 0 : (int)(mutex_word_of(table_mtx(s)) & FUTEX_TID_MASK_);
}

int table_lock(ipcarc_seg *s, int64_t timeout_ns) {
	if (!mutex_kind_ok(table_mtx(s))) return EBADMSG;
	int rc;
	if (timeout_ns < 0) {
		rc = pthread_mutex_lock(table_mtx(s));
	} else {
		struct timespec ts = ipcarc_abs_after(timeout_ns);
		rc = pthread_mutex_clocklock(table_mtx(s), CLOCK_MONOTONIC, &ts);
	}
	if (rc == EOWNERDEAD) {
		/* A bookkeeper died at some store of a table protocol: rebuild
		 * from the slots, then mark the mutex usable again. */
		table_rebuild(s);
		pthread_mutex_consistent(table_mtx(s));
		rc = 0;
	}
	return rc;
}

void table_unlock(ipcarc_seg *s) { pthread_mutex_unlock(table_mtx(s)); }

void table_init(ipcarc_seg *s) {
	ipcarc_header *h = s->hdr;
	ipcarc_holder *ht = slots_of(s);
	for (uint32_t i = 0; i < s->max_holders; i++) ht[i].next = i + 1 < s->max_holders ? i + 1 : IPCARC_NIL;
	h->free_head = 0;
	h->used_head = h->used_tail = IPCARC_NIL;
	h->used_count = 0;
	A_STORE(&h->refcount, 0, RLX);
}

static uint32_t clamp_handles(uint32_t n) {
	if (n == 0) return 1;
	return n > IPCARC_MAX_HANDLES ? IPCARC_MAX_HANDLES : n;
}

/* Recompute every derived field from the slots, mending the slots themselves:
 * a used slot's count outside 1..IPCARC_MAX_HANDLES is clamped (its live
 * owner overwrites it with its own count at its next clone or close), a free
 * slot's count is zeroed, and a state that is neither FREE nor USED becomes
 * USED if the liveness word says a holder lives, FREE otherwise. */
void table_rebuild(ipcarc_seg *s) {
	ipcarc_header *h = s->hdr;
	ipcarc_holder *ht = slots_of(s);
	uint32_t n = s->max_holders;
	int64_t sum = 0;
	uint32_t used = 0, head = IPCARC_NIL, tail = IPCARC_NIL, free_head = IPCARC_NIL;
	for (uint32_t i = n; i-- > 0;) {
		uint32_t st = ht[i].state;
		if (st != IPCARC_SLOT_FREE && st != IPCARC_SLOT_USED) {
			st = slot_alive(&ht[i]) ? IPCARC_SLOT_USED : IPCARC_SLOT_FREE;
			ht[i].state = st;
		}
		if (st == IPCARC_SLOT_FREE) {
			if (ht[i].handles) ht[i].handles = 0;
			ht[i].prev = IPCARC_NIL;
			if (slot_alive(&ht[i])) {
				/* Still on a live or dying keeper's robust list (see
				 * claim): kept off the free list until its word reads dead. */
				ht[i].next = IPCARC_NIL;
				continue;
			}
			ht[i].next = free_head; /* built from the top: the lowest free slot is first */
			free_head = i;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		if (ht[i].state != IPCARC_SLOT_USED) continue;
		uint32_t c = ht[i].handles;
		if (c == 0 || c > IPCARC_MAX_HANDLES) ht[i].handles = c = clamp_handles(c);
		sum += c;
		used++;
		ht[i].prev = tail;
		ht[i].next = IPCARC_NIL;
		if (tail == IPCARC_NIL) head = i;
		else ht[tail].next = i;
		tail = i;
	}
	h->free_head = free_head;
	h->used_head = head;
	h->used_tail = tail;
	h->used_count = used;
	A_STORE(&h->refcount, sum, SEQ);
	h->repairs++;
}

/* Take slot i out of the used list. 0, or -1 if the links around it are not
 * what they must be (the caller rebuilds). */
static int used_unlink(ipcarc_seg *s, uint32_t i) {
	ipcarc_header *h = s->hdr;
	ipcarc_holder *ht = slots_of(s);
	uint32_t p = ht[i].prev, n = ht[i].next;
	if (p == IPCARC_NIL ? h->used_head != i : (!idx_ok(s, p) || ht[p].next != i)) return -1;
	if (n == IPCARC_NIL ? h->used_tail != i : (!idx_ok(s, n) || ht[n].prev != i)) return -1;
	if (p == IPCARC_NIL) h->used_head = n;
	else ht[p].next = n;
	FAULT("table-unlink");
	if (n == IPCARC_NIL) h->used_tail = p;
	else ht[n].prev = p;
	ht[i].prev = ht[i].next = IPCARC_NIL;
	return 0;
}

/* Append slot i to the used list. 0, or -1 if the tail is not a valid last
 * used slot (the caller rebuilds, which lists i from its state). */
static int used_append(ipcarc_seg *s, uint32_t i) {
	ipcarc_header *h = s->hdr;
	ipcarc_holder *ht = slots_of(s);
	uint32_t t = h->used_tail;
	if (t != IPCARC_NIL && (!idx_ok(s, t) || t == i || A_LOAD(&ht[t].state, RLX) != IPCARC_SLOT_USED ||
	                        ht[t].next != IPCARC_NIL))
		return -1;
	if (t == IPCARC_NIL && h->used_head != IPCARC_NIL) return -1;
	ht[i].prev = t;
	ht[i].next = IPCARC_NIL;
	if (t == IPCARC_NIL) h->used_head = i;
	else ht[t].next = i;
	h->used_tail = i;
	return 0;
}

/* Free a used slot whose holder is gone (dead, or ourselves closing). Returns
 * its handle count. Stores in order: out of the used list, state FREE, counts
 * zero, onto the free list, refcount. A death after any of them leaves the
 * slot's state as the truth for the rebuild. The slot's lock counters are not
 * touched: they belong to the slot, not to the attachment (see
 * ipcarc_read_counters), so no death point can lose or repeat a count. */
static uint32_t free_slot(ipcarc_seg *s, uint32_t i, int *broken) {
	ipcarc_header *h = s->hdr;
	ipcarc_holder *ht = slots_of(s);
	uint32_t n = ht[i].handles;
	if (used_unlink(s, i) != 0) *broken = 1;
	if (h->used_count) h->used_count--;
	A_STORE(&ht[i].state, IPCARC_SLOT_FREE, REL);
	FAULT("table-free-state");
	ht[i].handles = 0;
	ht[i].pid = 0;
	ht[i].start_time = 0;
	ht[i].attached_ns = 0;
	/* A holder killed inside ipcarc_wait left its share of the waiter count
	 * raised: take it back. Slot first, then the header: a death between
	 * leaves the header's count too high (a needless wake-up), never too low. */
	uint32_t w = __atomic_exchange_n(&ht[i].waiters, 0, SEQ);
	if (w) __atomic_fetch_sub(&h->waiters, w, SEQ);
	ht[i].next = h->free_head;
	h->free_head = i;
	FAULT("table-free-push");
	if (n > IPCARC_MAX_HANDLES) {
		*broken = 1; /* a count no holder could have: recount */
		n = 0;
	}
	__atomic_fetch_sub(&h->refcount, (int64_t)n, SEQ);
	return n;
}

int table_claim(ipcarc_seg *s) {
	ipcarc_header *h = s->hdr;
	ipcarc_holder *ht = slots_of(s);
	int reaped = 0;
	for (int pass = 0; pass < 4; pass++) {
		uint32_t i = h->free_head;
		if (i == IPCARC_NIL) {
			if (reaped) return EUSERS;
			table_reap_all(s); /* full: dead holders may be hiding free slots */
			reaped = 1;
			continue;
		}
		/* A free slot whose liveness word still reads alive may still be on
		 * a dying process's robust list (its keeper has not exited yet):
		 * reusing it would overwrite a link the kernel is about to follow.
		 * The rebuild keeps such slots off the free list until the kernel
		 * has marked them. */
		if (!idx_ok(s, i) || ht[i].state != IPCARC_SLOT_FREE || slot_alive(&ht[i])) {
			table_rebuild(s); /* the free list is stale: mend it */
			continue;
		}
		uint32_t nx = ht[i].next;
		h->free_head = (nx == IPCARC_NIL || idx_ok(s, nx)) ? nx : IPCARC_NIL;
		FAULT("claim-pop");
		ht[i].pid = getpid();
		ht[i].start_time = ipcarc_start_time();
		ht[i].attached_ns = (uint64_t)ipcarc_now_ns(CLOCK_REALTIME);
		A_STORE(&ht[i].waiters, 0, RLX);
		ht[i].handles = 1;
		/* USED before the liveness word is registered: a slot on a keeper's
		 * robust list is always USED, so it is never handed out again before
		 * the kernel has marked its word (a death in between leaves a USED
		 * slot whose word is 0: dead, reaped). */
		A_STORE(&ht[i].state, IPCARC_SLOT_USED, REL);
		FAULT("claim-used");
		int rc = live_register(&s->reg, &ht[i], &s->cls);
		if (rc) {
			A_STORE(&ht[i].state, IPCARC_SLOT_FREE, REL);
			ht[i].handles = 0;
			table_rebuild(s); /* puts the slot back on the free list */
			return rc;
		}
		FAULT("claim-live");
		if (used_append(s, i) != 0) {
			table_rebuild(s); /* lists and counts from the slots, ours included */
		} else {
			h->used_count++;
			FAULT("claim-listed");
			__atomic_fetch_add(&h->refcount, 1, SEQ);
		}
		s->slot = i;
		A_STORE(&s->handles, 1, SEQ);
		s->ctr = &ht[i].counters;
		return 0;
	}
	return EUSERS;
}

int table_adjust_handles(ipcarc_seg *s, int delta) {
	/* The private count is the truth; it changes atomically, because a
	 * close that timed out lowers it without the table lock. */
	uint32_t prev = __atomic_fetch_add(&s->handles, (uint32_t)delta, SEQ);
	uint32_t n = prev + (uint32_t)delta;
	ipcarc_holder *me = &slots_of(s)[s->slot];
	if (A_LOAD(&me->state, RLX) != IPCARC_SLOT_USED || !live_mine(&s->reg)) {
		/* Our slot was taken from us (a peer's write made us look dead):
		 * keep our private count, touch nothing that is not ours. */
		return 0;
	}
	uint32_t old = me->handles;
	me->handles = n;
	FAULT("handles");
	if (old == prev)
		__atomic_fetch_add(&s->hdr->refcount, (int64_t)n - (int64_t)old, SEQ);
	else
		table_rebuild(s); /* the slot's count was not ours: recount */
	return 0;
}

void table_release(ipcarc_seg *s) {
	ipcarc_holder *ht = slots_of(s);
	uint32_t i = s->slot;
	int broken = 0;
	/* Off the keeper's robust list first, while the slot is still USED: a
	 * slot on a robust list is never free (see claim). A death in between
	 * leaves a USED slot whose word is 0 or marked: dead, reaped. */
	int ours = live_unregister(&s->reg);
	FAULT("release-unregistered");
	if (ours && A_LOAD(&ht[i].state, RLX) == IPCARC_SLOT_USED) {
		if (ht[i].handles != A_LOAD(&s->handles, RLX)) broken = 1;
		free_slot(s, i, &broken);
	}
	FAULT("release-freed");
	if (broken) table_rebuild(s);
	s->slot = NO_SLOT;
	A_STORE(&s->handles, 0, SEQ);
	s->ctr = &s->scratch;
}

int table_reap_all(ipcarc_seg *s) {
	ipcarc_holder *ht = slots_of(s);
	int reaped = 0, broken = 0;
	for (uint32_t i = 0; i < s->max_holders; i++) {
		if (i == s->slot || A_LOAD(&ht[i].state, ACQ) != IPCARC_SLOT_USED || slot_alive(&ht[i])) continue;
		reaped += (int)free_slot(s, i, &broken);
		ctr_add_atomic(&s->hdr->totals.reaped, 1);
	}
	/* One linear pass more makes every derived field the truth again, so a
	 * full reap is also a full repair. */
	table_rebuild(s);
	return reaped;
}

int table_find_live(ipcarc_seg *s) {
	ipcarc_header *h = s->hdr;
	ipcarc_holder *ht = slots_of(s);
	uint32_t i = h->used_head;
	int broken = 0;
	for (uint32_t steps = 0; i != IPCARC_NIL; steps++) {
		if (steps > s->max_holders || !idx_ok(s, i) || A_LOAD(&ht[i].state, RLX) != IPCARC_SLOT_USED) {
			broken = 1;
			break;
		}
		uint32_t nx = ht[i].next;
		if (i != s->slot) {
			if (slot_alive(&ht[i])) return 1;
			free_slot(s, i, &broken); /* dead: reap it on the way */
			ctr_add_atomic(&h->totals.reaped, 1);
			if (broken) break;
		}
		i = nx;
	}
	if (broken) {
		table_reap_all(s);
		return table_live_holders(s) - (s->slot != NO_SLOT) > 0;
	}
	return 0;
}

int table_live_holders(ipcarc_seg *s) {
	ipcarc_holder *ht = slots_of(s);
	int live = 0;
	for (uint32_t i = 0; i < s->max_holders; i++)
		if (A_LOAD(&ht[i].state, ACQ) == IPCARC_SLOT_USED && slot_alive(&ht[i])) live++;
	return live;
}

int ipcarc_holder_alive(ipcarc_seg *s, uint32_t slot) {
	if (slot >= s->max_holders) return -EINVAL;
	if (live_forked(s)) return 0;
	ipcarc_holder *h = &slots_of(s)[slot];
	return A_LOAD(&h->state, ACQ) == IPCARC_SLOT_USED && slot_alive(h);
}

/* A fork child gets the handle's private scratch block: its adds never reach
 * the parent's slot. */
ipcarc_counters *ipcarc_my_counters(ipcarc_seg *s) { return live_forked(s) ? &s->scratch : s->ctr; }

/* The handles of live holders: what ipcarc_refcount reports. One pass over
 * the slots (bounded by the private max_holders), no lock, no write: a dead
 * holder's handles stop counting the moment the kernel marks its word,
 * whether or not anyone has reaped it yet. */
int64_t table_live_handles(ipcarc_seg *s) {
	ipcarc_holder *ht = slots_of(s);
	int64_t n = 0;
	for (uint32_t i = 0; i < s->max_holders; i++) {
		if (A_LOAD(&ht[i].state, ACQ) != IPCARC_SLOT_USED || !slot_alive(&ht[i])) continue;
		uint32_t c = A_LOAD(&ht[i].handles, RLX);
		n += c > IPCARC_MAX_HANDLES ? IPCARC_MAX_HANDLES : c;
	}
	return n;
}

/* A segment's counts: the header's totals plus the counters of EVERY slot,
 * used or free. A slot's counters are never zeroed or moved: they accumulate
 * over every holder that ever used the slot. Moving counts between two words
 * (into totals when a holder leaves) cannot be made monotonic: a death between
 * the two stores loses or repeats them, and a lock-free reader between them
 * sees a dip or a spike. Each word only grows, so any two readings made one
 * after the other never go down. */
void ipcarc_read_counters(ipcarc_seg *s, ipcarc_counters *out) {
	memset(out, 0, sizeof *out);
	if (live_forked(s)) return; /* no attachment: all zero */
	size_t n = offsetof(ipcarc_counters, reserved) / sizeof(uint64_t);
	size_t kmax = offsetof(ipcarc_counters, wait_max_ns) / sizeof(uint64_t);
	uint64_t *o = (uint64_t *)(void *)out;
	const uint64_t *t = (const uint64_t *)(const void *)&s->hdr->totals;
	for (size_t k = 0; k < n; k++) o[k] = A_LOAD(&t[k], RLX);
	ipcarc_holder *ht = slots_of(s);
	for (uint32_t i = 0; i < s->max_holders; i++) {
		const uint64_t *c = (const uint64_t *)(const void *)&ht[i].counters;
		for (size_t k = 0; k < n; k++) {
			uint64_t v = A_LOAD(&c[k], RLX);
			if (k == kmax) {
				if (v > o[k]) o[k] = v;
			} else {
				o[k] += v;
			}
		}
	}
}
