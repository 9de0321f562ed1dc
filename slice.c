/*
 * slice.c - the slice shape (Slice[T], ipcarc_slice_*): creating and opening
 * a segment of capacity elements (cshm.c does the work, with the shape set),
 * and reading and writing them under valuelock.c's value lock and seqlock.
 */
#define _GNU_SOURCE
#include "cshm_internal.h"

#include <sched.h>
#include <string.h>

/* ---- creating and opening ------------------------------------------------------ */

/* A spec with the slice shape: the caller's, or a copy with shape set. */
static const ipcarc_spec *slice_spec(const ipcarc_spec *sp, ipcarc_spec *tmp) {
	if (!sp) return NULL;
	*tmp = *sp;
	tmp->shape = IPCARC_SHAPE_SLICE;
	return tmp;
}

int ipcarc_slice_create(const char *name, const ipcarc_spec *sp, size_t capacity, const void *init,
                        size_t n_init, ipcarc_seg **out) {
	ipcarc_spec tmp;
	if (sp && sp->shape != IPCARC_SHAPE_VALUE && sp->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	if (n_init && !init) return EINVAL;
	return seg_create_shaped(name, slice_spec(sp, &tmp), capacity, init, n_init, out);
}

int ipcarc_slice_open(const char *name, const ipcarc_spec *sp, ipcarc_seg **out, int *field) {
	ipcarc_spec tmp;
	if (sp && sp->shape != IPCARC_SHAPE_VALUE && sp->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	return ipcarc_open(name, slice_spec(sp, &tmp), out, field);
}

int ipcarc_slice_open_or_create(const char *name, const ipcarc_spec *sp, size_t capacity, const void *init,
                                size_t n_init, ipcarc_seg **out, int *created, int *field) {
	ipcarc_spec tmp;
	if (sp && sp->shape != IPCARC_SHAPE_VALUE && sp->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	if (n_init && !init) return EINVAL;
	return seg_open_or_create_shaped(name, slice_spec(sp, &tmp), capacity, init, n_init, out, created, field);
}

/* ---- slices ---------------------------------------------------------------------
 * A slice segment's value area holds capacity elements of value_size bytes;
 * slice_len of them are in use. The length word changes only under the value
 * lock while seq is odd, so a seqlock window covers it like the elements. It
 * is read once per operation and bounded by the private capacity: a length
 * beyond it is never followed (EBADMSG for a reader; a locker poisons). */

size_t ipcarc_slice_cap(ipcarc_seg *s) {
	return live_forked(s) || s->shape != IPCARC_SHAPE_SLICE ? 0 : (size_t)s->capacity;
}

size_t ipcarc_slice_len(ipcarc_seg *s) {
	if (live_forked(s) || s->shape != IPCARC_SHAPE_SLICE) return 0;
	uint64_t n = A_LOAD(&s->hdr->slice_len, RLX);
	return (size_t)(n > s->capacity ? s->capacity : n);
}

/* Under the lock (or inside a seqlock window): copy the elements in use into
 * dst (room for cap_elems). *len = the length; its return: 0, EBADMSG (the
 * word was beyond capacity: capacity elements copied as far as room allows),
 * ENOBUFS (the length is above cap_elems: the first cap_elems copied). */
static int slice_copy_out(ipcarc_seg *s, void *dst, size_t cap_elems, size_t *len) {
	uint64_t n = A_LOAD(&s->hdr->slice_len, RLX);
	int rc = 0;
	if (n > s->capacity) {
		n = s->capacity;
		rc = EBADMSG;
	}
	uint64_t m = n < cap_elems ? n : cap_elems;
	if (m && s->value_size) memcpy(dst, s->data, (size_t)(m * s->value_size));
	*len = (size_t)n;
	if (rc == 0 && n > cap_elems) rc = ENOBUFS;
	return rc;
}

static int slice_load_locked_impl(ipcarc_seg *s, void *dst, size_t cap_elems, size_t *len, int64_t timeout_ns) {
	*len = 0;
	if (s->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	int nested;
	int rc = value_read_lock(s, timeout_ns, &nested);
	if (rc) return rc;
	ctr_add_atomic(&s->ctr->load_fallbacks, 1);
	FAULT("slice-load-locked");
	rc = slice_copy_out(s, dst, cap_elems, len);
	int poisoned = poisoned_impl(s);
	if (!nested) pthread_mutex_unlock(value_mtx(s));
	/* No room says so first: the caller's copy is incomplete. */
	return poisoned && rc != ENOBUFS ? ENOTRECOVERABLE : rc;
}

/* Bounded tries of the seqlock before the lock: a copy that a writer keeps
 * overlapping (a long slice stored in a loop) cannot starve the reader. */
#define SLICE_SPINS 1000
#define SLICE_COPIES 8

static int slice_load_impl(ipcarc_seg *s, void *dst, size_t cap_elems, size_t *len) {
	*len = 0;
	if (s->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	ipcarc_header *h = s->hdr;
	int copies = 0;
	for (int spin = 0; spin < SLICE_SPINS && copies < SLICE_COPIES; spin++) {
		uint32_t a = A_LOAD(&h->seq, ACQ);
		if (!(a & 1)) {
			copies++;
			int rc = slice_copy_out(s, dst, cap_elems, len);
			uint32_t flags = A_LOAD(&h->flags, RLX);
			__atomic_thread_fence(ACQ);
			if (A_LOAD(&h->seq, RLX) == a) {
				if (spin) ctr_add_atomic(&s->ctr->load_retries, 1);
				return (flags & IPCARC_FLAG_POISONED) && rc != ENOBUFS ? ENOTRECOVERABLE : rc;
			}
		}
		if (spin > 100) sched_yield();
	}
	ctr_add_atomic(&s->ctr->load_retries, 1);
	return slice_load_locked_impl(s, dst, cap_elems, len, -1);
}

int ipcarc_slice_load(ipcarc_seg *s, void *dst, size_t cap_elems, size_t *len) {
	if (!len) return EINVAL;
	*len = 0;
	if (live_forked(s)) return ECHILD;
	return slice_load_impl(s, dst, cap_elems, len);
}

static int slice_store_impl(ipcarc_seg *s, const void *src, size_t n) {
	if (s->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	if ((uint64_t)n > s->capacity) return ERANGE;
	int rc = value_lock(s);
	if (rc != 0 && rc != EOWNERDEAD) return rc;
	int poisoned = poisoned_impl(s);
	if (!poisoned) {
		if (n && s->value_size) memcpy(s->data, src, (size_t)(n * s->value_size));
		FAULT("slice-store-copy");
		A_STORE(&s->hdr->slice_len, (uint64_t)n, RLX);
		FAULT("slice-store-len");
		ctr_inc(&s->ctr->stores);
	}
	if (rc == EOWNERDEAD) __atomic_or_fetch(&s->hdr->flags, IPCARC_FLAG_OWNER_DEAD_UNSEEN, SEQ);
	int urc = poisoned ? value_unlock_unchanged(s) : value_unlock(s);
	if (urc) return urc;
	return poisoned ? ENOTRECOVERABLE : 0;
}

int ipcarc_slice_store(ipcarc_seg *s, const void *src, size_t n_elems) {
	if (live_forked(s)) return ECHILD;
	if (n_elems && !src) return EINVAL;
	return slice_store_impl(s, src, n_elems);
}

static int slice_get_impl(ipcarc_seg *s, size_t i, void *dst) {
	if (s->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	if ((uint64_t)i >= s->capacity) return ERANGE;
	ipcarc_header *h = s->hdr;
	const char *src = (const char *)s->data + (uint64_t)i * s->value_size;
	for (int spin = 0; spin < SLICE_SPINS; spin++) {
		uint32_t a = A_LOAD(&h->seq, ACQ);
		if (!(a & 1)) {
			uint64_t n = A_LOAD(&h->slice_len, RLX);
			memcpy(dst, src, (size_t)s->value_size);
			uint32_t flags = A_LOAD(&h->flags, RLX);
			__atomic_thread_fence(ACQ);
			if (A_LOAD(&h->seq, RLX) == a) {
				if (spin) ctr_add_atomic(&s->ctr->load_retries, 1);
				if (flags & IPCARC_FLAG_POISONED) return ENOTRECOVERABLE;
				if (n > s->capacity) return EBADMSG;
				return (uint64_t)i < n ? 0 : ERANGE;
			}
		}
		if (spin > 100) sched_yield();
	}
	ctr_add_atomic(&s->ctr->load_retries, 1);
	int nested;
	int rc = value_read_lock(s, -1, &nested);
	if (rc) return rc;
	ctr_add_atomic(&s->ctr->load_fallbacks, 1);
	uint64_t n = A_LOAD(&h->slice_len, RLX);
	memcpy(dst, src, (size_t)s->value_size);
	int poisoned = poisoned_impl(s);
	if (!nested) pthread_mutex_unlock(value_mtx(s));
	if (poisoned) return ENOTRECOVERABLE;
	if (n > s->capacity) return EBADMSG;
	return (uint64_t)i < n ? 0 : ERANGE;
}

int ipcarc_slice_get(ipcarc_seg *s, size_t i, void *dst) {
	if (live_forked(s)) return ECHILD;
	if (!dst) return EINVAL;
	return slice_get_impl(s, i, dst);
}

static int slice_set_impl(ipcarc_seg *s, size_t i, const void *src) {
	if (s->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	if ((uint64_t)i >= s->capacity) return ERANGE;
	int rc = value_lock(s);
	if (rc != 0 && rc != EOWNERDEAD) return rc;
	int refuse = poisoned_impl(s) ? ENOTRECOVERABLE : 0;
	if (!refuse && (uint64_t)i >= A_LOAD(&s->hdr->slice_len, RLX)) refuse = ERANGE;
	if (!refuse) {
		memcpy((char *)s->data + (uint64_t)i * s->value_size, src, (size_t)s->value_size);
		FAULT("slice-set");
		ctr_inc(&s->ctr->stores);
	}
	if (rc == EOWNERDEAD) __atomic_or_fetch(&s->hdr->flags, IPCARC_FLAG_OWNER_DEAD_UNSEEN, SEQ);
	int urc = refuse ? value_unlock_unchanged(s) : value_unlock(s);
	if (urc) return urc;
	return refuse;
}

int ipcarc_slice_set(ipcarc_seg *s, size_t i, const void *src) {
	if (live_forked(s)) return ECHILD;
	if (!src) return EINVAL;
	return slice_set_impl(s, i, src);
}

static int slice_set_len_impl(ipcarc_seg *s, size_t n) {
	if (s->shape != IPCARC_SHAPE_SLICE) return EINVAL;
	/* Only the holder, while seq is odd: the seqlock then covers the word. */
	if (!ipcarc_value_lock_mine(s)) return EPERM;
	if ((uint64_t)n > s->capacity) return ERANGE;
	A_STORE(&s->hdr->slice_len, (uint64_t)n, RLX);
	FAULT("slice-set-len");
	return 0;
}

int ipcarc_slice_set_len(ipcarc_seg *s, size_t n) {
	if (live_forked(s)) return ECHILD;
	return slice_set_len_impl(s, n);
}

/* ---- Go bridge entry points (without the fork check, as valuelock.c's) ---- */

int ipcarc_slice_store_h(uintptr_t h, const unsigned char *src, size_t n) {
	return slice_store_impl((ipcarc_seg *)h, src, n);
}
int ipcarc_slice_load_locked_h(uintptr_t h, unsigned char *dst, size_t cap_elems, size_t *len, int64_t timeout_ns) {
	return slice_load_locked_impl((ipcarc_seg *)h, dst, cap_elems, len, timeout_ns);
}
int ipcarc_slice_get_h(uintptr_t h, size_t i, unsigned char *dst) { return slice_get_impl((ipcarc_seg *)h, i, dst); }
int ipcarc_slice_set_h(uintptr_t h, size_t i, const unsigned char *src) {
	return slice_set_impl((ipcarc_seg *)h, i, src);
}
int ipcarc_slice_set_len_h(uintptr_t h, size_t n) { return slice_set_len_impl((ipcarc_seg *)h, n); }
