/*
 * cshm_internal.h - what the C files of the protocol share and nobody else
 * sees: the private handle, atomics, fault points, and the entry points each
 * file offers the others. The protocol is split by concept:
 *
 *   validate.c   names, the ABI word, the layout arithmetic, header validation
 *   cshm.c       open under the trust rule, create, attach, clone, close
 *   admin.c      gc and remove by name
 *   slice.c      the slice shape: create/open, its seqlock reads and locked writes
 *   table.c      the holder table: its lock, claim, release, reap, rebuild
 *   liveness.c   keeper threads and the robust-futex liveness words
 *   valuelock.c  the value's lock, the seqlock, store/load, waiting
 */
#ifndef IPCARC_CSHM_INTERNAL_H
#define IPCARC_CSHM_INTERNAL_H

#include "cshm.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>

#define A_LOAD(p, mo) __atomic_load_n((p), (mo))
#define A_STORE(p, v, mo) __atomic_store_n((p), (v), (mo))
#define ACQ __ATOMIC_ACQUIRE
#define REL __ATOMIC_RELEASE
#define RLX __ATOMIC_RELAXED
#define SEQ __ATOMIC_SEQ_CST

#define NO_SLOT UINT32_MAX
#define FUTEX_TID_MASK_ 0x3fffffffu

/* One registration of a slot's liveness word with a keeper thread (liveness.c).
 * The kernel's robust list threads through the slots; this private mirror is
 * what the process follows, so it never reads a list pointer out of shared
 * memory. */
struct keeper;
/* A segment's trust class (liveness.c): who can write its file, from fstat
 * of its fd. Two segments share a keeper's robust list only when their
 * classes are equal. Compared whole (memcmp): set only by live_class_of. */
typedef struct live_class {
	int err;       /* errno of fstat when the class is unknown: registering fails with it */
	uint32_t kind; /* LIVE_OWNER, LIVE_GROUP, LIVE_ANYONE or LIVE_SOLO */
	uint32_t uid;  /* owner (OWNER, GROUP) */
	uint32_t gid;  /* group (GROUP); no padding anywhere: compared with memcmp */
	uint64_t dev, ino; /* the file itself (SOLO: an ACL names more writers) */
} live_class;

typedef struct live_reg {
	struct keeper *k;
	struct live_reg *prev, *next; /* private mirror of the keeper's list */
	ipcarc_holder *slot;          /* NULL when not registered */
} live_reg;

struct ipcarc_seg {
	ipcarc_header *hdr;
	void *data;
	size_t map_size;
	int fd;
	uint32_t slot;    /* our slot; NO_SLOT when none (gc) */
	uint32_t handles; /* handles on this attachment: the truth the slot's count is mended from */
	/* Bounds, validated once at attach and never read from the mapping again. */
	uint32_t max_holders;
	uint32_t lifetime;
	uint64_t value_size; /* one value: its size; slice: one element's */
	uint64_t value_off;
	uint64_t area_size;  /* bytes of the value area: value_size, or value_size * capacity */
	uint64_t capacity;   /* slice: elements; one value: 1 */
	uint32_t shape;      /* IPCARC_SHAPE_* */
	int64_t timeout_ns; /* bound on every wait for the table lock */
	unsigned gen;       /* fork generation at attach (liveness.c) */
	/* Counting (valuelock.c): our slot's counters, or scratch without a slot. */
	ipcarc_counters *ctr;
	int64_t hold_start; /* CLOCK_MONOTONIC ns when a sampled hold began, 0 when none */
	uint32_t lock_tid;  /* thread of ours that holds the value lock through this attachment, 0 when none */
	uint32_t waiting;   /* threads of ours inside ipcarc_wait on this attachment */
	uint32_t word_copy; /* 0: loads and stores memcpy; 4 or 8: word-atomic copies (ipcarc_word_copy) */
	ipcarc_counters scratch;
	live_reg reg;
	live_class cls; /* trust class, from fstat when the fd is first known */
	char name[IPCARC_NAME_MAX + 2];
};

/* ---- fault points (cshm.c) ---- */
#ifdef IPCARC_FAULTS
void ipcarc_fault_hit(const char *phase);
#define FAULT(p) ipcarc_fault_hit(p)
#else
#define FAULT(p) ((void)0)
#endif

/* ---- shared helpers (cshm.c) ---- */
int64_t ipcarc_now_ns(clockid_t c);
struct timespec ipcarc_abs_after(int64_t ns);
uint64_t ipcarc_start_time(void);
void ipcarc_unlink_if_same(ipcarc_seg *s);

static inline ipcarc_holder *slots_of(ipcarc_seg *s) {
	return (ipcarc_holder *)((char *)s->hdr + IPCARC_HEADER_SIZE);
}
static inline pthread_mutex_t *value_mtx(ipcarc_seg *s) { return &s->hdr->m.mutex; }
static inline pthread_mutex_t *table_mtx(ipcarc_seg *s) { return &s->hdr->t.mutex; }
static inline uint32_t mutex_word_of(pthread_mutex_t *m) { return A_LOAD((uint32_t *)(void *)m, RLX); }

/* ---- liveness.c ---- */
/* The trust class of the segment file open on fd (one fstat). */
void live_class_of(int fd, live_class *c);
/* Register the slot's liveness word with a keeper thread of this process
 * whose list holds only slots of class c: the word holds the keeper's tid
 * until unregistered or the process dies. */
int live_register(live_reg *r, ipcarc_holder *slot, const live_class *c);
/* 1 if the word still held our keeper's id (the slot was still ours). */
int live_unregister(live_reg *r);
/* 1 if the registered slot's word still holds our keeper's id. */
int live_mine(const live_reg *r);
/* The fork generation: bumped by the atfork child handler, which
 * live_generation registers (seg_new calls it before any handle exists). */
unsigned live_generation(void);
extern unsigned ipcarc_fork_generation;
/* 1 if the segment handle was made before a fork in an ancestor process.
 * One relaxed load and a compare: a handle exists, so the atfork handler is
 * registered, and the word changes only in a fork child's only thread. */
static inline int live_forked(const ipcarc_seg *s) {
	return __builtin_expect(s->gen != A_LOAD(&ipcarc_fork_generation, RLX), 0);
}
static inline int slot_alive(const ipcarc_holder *h) {
	return ipcarc_live_word_alive(A_LOAD(&h->live, ACQ));
}

/* ---- table.c ---- */
int table_lock(ipcarc_seg *s, int64_t timeout_ns);
void table_unlock(ipcarc_seg *s);
/* Under the table lock. */
int table_claim(ipcarc_seg *s);                 /* 0 or EUSERS; sets s->slot, s->handles */
void table_release(ipcarc_seg *s);              /* frees our slot (last handle) */
int table_adjust_handles(ipcarc_seg *s, int delta); /* our count += delta, the slot's follows */
int table_reap_all(ipcarc_seg *s);              /* reap every dead holder, rebuild; handles removed */
int table_find_live(ipcarc_seg *s);             /* 1 if another live holder exists (reaps dead ones on the way) */
int table_live_holders(ipcarc_seg *s);          /* used slots with a live holder (lock-free read) */
int64_t table_live_handles(ipcarc_seg *s);      /* handles of live holders (lock-free read) */
void table_rebuild(ipcarc_seg *s);              /* recompute lists and counts from the slots */
void table_init(ipcarc_seg *s);                 /* creator: an empty table */

/* The kind of mutex ipcarc creates (glibc's __kind of a robust, pshared,
 * error-checking mutex), set before any handle exists (cshm.c). A mutex
 * whose kind a peer changed would send glibc down another protocol (PI
 * futexes, asserts): every lock and unlock checks it first. */
extern int ipcarc_kind_cache;
static inline int mutex_kind_ok(pthread_mutex_t *m) {
#ifdef __GLIBC__
	return __builtin_expect(A_LOAD(&m->__data.__kind, RLX) == ipcarc_kind_cache, 1);
#else
	(void)m;
	return 1;
#endif
}

/* ---- counters ---- */
static inline void ctr_inc(uint64_t *c) { A_STORE(c, A_LOAD(c, RLX) + 1, RLX); } /* one writer */
static inline void ctr_add_atomic(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, RLX); }
static inline void ctr_max(uint64_t *c, uint64_t v) {
	uint64_t cur = A_LOAD(c, RLX);
	while (v > cur && !__atomic_compare_exchange_n(c, &cur, v, 1, RLX, RLX)) {
	}
}

/* ---- validate.c ---- */
/* The layout arithmetic shared by create and validate. */
uint64_t value_offset(uint32_t max_holders, uint32_t align);
/* The bytes of the value area; 1 when they pass 2^46 (the bound on every size). */
int area_of(uint32_t shape, uint64_t value_size, uint64_t capacity, uint64_t *area);
int spec_check(const ipcarc_spec *sp); /* 0 or EINVAL */
/* glibc's __kind of the mutex ipcarc creates (caches ipcarc_kind_cache). */
int mutex_reference_kind(void);
/* Check a private copy of the header in the documented order. st_size is the
 * file's size; a NULL spec skips the type checks (gc, remove). */
int seg_validate(const ipcarc_header *h, uint64_t st_size, const ipcarc_spec *sp, int *field);

/* ---- cshm.c ---- */
enum { PROBE_OK = 0, PROBE_WAIT = -1, PROBE_RETRY = -2 };
void seg_shm_path(char *out, size_t n, const char *name); /* "/name" for shm_open */
ipcarc_seg *seg_new(const char *name, int fd);
void seg_free(ipcarc_seg *s);
/* Open the file by name (read-write, no slot yet) under the trust rule. */
int seg_open_name(const char *name, const ipcarc_spec *sp, ipcarc_seg **out, int *field);
/* Validate from a private header copy, then map: 0, an errno, PROBE_WAIT or PROBE_RETRY. */
int seg_probe(ipcarc_seg *s, const ipcarc_spec *sp, int *field, ipcarc_header *hc);
int64_t seg_spec_timeout(const ipcarc_spec *sp);
void seg_unlink_dead(ipcarc_seg *s); /* the count reached zero: finish its unlink */
void seg_die_locked(ipcarc_seg *s);  /* under the table lock: mark dead, unlink */
int seg_create_shaped(const char *name, const ipcarc_spec *sp, uint64_t capacity, const void *init,
                      uint64_t n_init, ipcarc_seg **out);
int seg_open_or_create_shaped(const char *name, const ipcarc_spec *sp, uint64_t capacity, const void *init,
                              uint64_t n_init, ipcarc_seg **out, int *created, int *field);

/* ---- valuelock.c ---- */
void ipcarc_mutex_attr(pthread_mutexattr_t *at);
int ipcarc_value_lock_mine(ipcarc_seg *s);      /* this thread holds the value lock */
int ipcarc_value_lock_held_here(ipcarc_seg *s); /* a thread of ours holds it through this attachment */
/* For slice.c: the value lock's own paths (owner death, counters, seq). */
int value_lock(ipcarc_seg *s);             /* 0, EOWNERDEAD (recovered) or an error */
int value_unlock(ipcarc_seg *s);           /* a new version, waiters woken */
int value_unlock_unchanged(ipcarc_seg *s); /* no new version */
/* The lock for a read (Load's fallback): *nested when this thread holds it. */
int value_read_lock(ipcarc_seg *s, int64_t timeout_ns, int *nested);
static inline int poisoned_impl(ipcarc_seg *s) { return (A_LOAD(&s->hdr->flags, ACQ) & IPCARC_FLAG_POISONED) != 0; }

#endif
