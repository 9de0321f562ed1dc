/*
 * cshm.h - the C API of ipcarc: one typed value in a named POSIX shared-memory
 * segment, guarded by a robust process-shared mutex, with a crash-safe
 * reference count. Go (package ipcarc), C and Rust processes attach to the same
 * segment through this one implementation (cshm.c), so the protocol lives in
 * exactly one place. LAYOUT.md describes every byte and every protocol step.
 *
 * Conventions
 *   - Every function that can fail returns 0 or an errno value (pthread style:
 *     errno itself is never the channel). Codes with an ipcarc meaning:
 *       ENOENT           no segment with that name (or it is being removed)
 *       EEXIST           create: the name is taken
 *       EINVAL           bad name or bad spec
 *       EBADMSG          the segment is corrupt or not an ipcarc segment; *field says which check
 *       EPROTONOSUPPORT  layout version or ABI word differ (another build / architecture)
 *       EPROTOTYPE       value size, alignment or type tag differ; *field says which
 *       ETIMEDOUT        open: creator still initialising, or the lock stayed held, past the timeout
 *       EUSERS           the holder table is full even after reaping dead holders
 *       EOWNERDEAD       lock: acquired, but the previous owner died inside its critical section;
 *                        the value is now poisoned (see ipcarc_poisoned)
 *       ENOTRECOVERABLE  store: refused because the value is poisoned
 *       EBUSY            trylock: held by someone else
 *       EDEADLK          lock: this thread already holds it; close: closing the last handle of
 *                        a mapping while this thread holds the lock
 *       EPERM            unlock: this thread does not hold the lock
 *     anything else is the errno of the failing system call (EACCES, ENOSPC, ...).
 *   - A handle (ipcarc_seg *) is one attachment: one open file description, one
 *     mapping, one slot in the holder table. ipcarc_clone adds a handle to the same
 *     attachment; ipcarc_close removes one and frees the attachment with its last.
 *   - Locking belongs to the calling thread (pthread semantics).
 *   - Not async-signal-safe. A process must not fork while holding handles and use
 *     them in the child (the child holds no slot lock).
 */
#ifndef IPCARC_CSHM_H
#define IPCARC_CSHM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Layout (LAYOUT.md is the byte-level reference) -------------------- */

#define IPCARC_MAGIC 0x0000636172637069ULL /* "ipcarc\0\0" little-endian */
#define IPCARC_LAYOUT_VERSION 1u
#define IPCARC_HEADER_SIZE 192u
#define IPCARC_MUTEX_OFFSET 128u
#define IPCARC_MUTEX_ROOM 64u
#define IPCARC_HOLDER_SIZE 32u
#define IPCARC_DEFAULT_HOLDERS 64u
#define IPCARC_MAX_HOLDERS 4096u
#define IPCARC_MAX_ALIGN 4096u
#define IPCARC_NAME_MAX 200u
/* The value never starts before this alignment: keeps it off the header's cache line. */
#define IPCARC_MIN_VALUE_ALIGN 64u

/* state word */
#define IPCARC_STATE_INIT 0u  /* creator is initialising (the file starts zero-filled) */
#define IPCARC_STATE_READY 1u /* published with a release store; safe to attach */
#define IPCARC_STATE_DEAD 2u  /* reference count reached zero; name unlinked or about to be */

/* flags word */
#define IPCARC_FLAG_POISONED 1u         /* an owner died inside a critical section */
#define IPCARC_FLAG_OWNER_DEAD_UNSEEN 2u /* no user lock has reported that death yet */

/* holder slot state */
#define IPCARC_SLOT_FREE 0u
#define IPCARC_SLOT_USED 1u

/* Arch codes used in the ABI word. */
#define IPCARC_ARCH_UNKNOWN 0u
#define IPCARC_ARCH_AMD64 1u
#define IPCARC_ARCH_ARM64 2u
#define IPCARC_ARCH_386 3u
#define IPCARC_ARCH_ARM 4u
#define IPCARC_ARCH_RISCV64 5u
#define IPCARC_ARCH_PPC64LE 6u
#define IPCARC_ARCH_S390X 7u

/*
 * The header: 192 bytes at offset 0. Fields marked (atomic) are only accessed
 * with atomic operations. Fields marked (lock) change only under the mutex.
 */
typedef struct ipcarc_header {
	uint64_t magic;        /*   0 IPCARC_MAGIC */
	uint32_t version;      /*   8 IPCARC_LAYOUT_VERSION */
	uint32_t abi;          /*  12 arch<<24 | sizeof(void*)<<16 | sizeof(pthread_mutex_t) */
	uint32_t state;        /*  16 (atomic) IPCARC_STATE_* */
	uint32_t flags;        /*  20 (atomic) IPCARC_FLAG_* */
	uint64_t total_size;   /*  24 size of the whole segment file in bytes */
	uint64_t value_size;   /*  32 sizeof(T) */
	uint32_t value_align;  /*  40 alignof(T), a power of two */
	uint32_t max_holders;  /*  44 slots in the holder table */
	uint64_t type_tag;     /*  48 64-bit tag of T (ipcarc_tag or the Go layout hash) */
	uint64_t value_off;    /*  56 offset of T */
	uint64_t holders_off;  /*  64 offset of the holder table (= IPCARC_HEADER_SIZE) */
	int64_t refcount;      /*  72 (atomic, lock) handles alive = sum of slot handles */
	uint32_t seq;          /*  80 (atomic) seqlock and futex word: odd while a writer is inside */
	uint32_t waiters;      /*  84 (atomic) processes sleeping in ipcarc_wait */
	uint32_t bookkeeping;  /*  88 (lock) nonzero while counts are being changed */
	uint32_t creator_pid;  /*  92 informational */
	uint64_t created_ns;   /*  96 CLOCK_REALTIME at creation, informational */
	uint8_t reserved[24];  /* 104 zero; room for later fields */
	union {                /* 128 the robust, process-shared, error-checking mutex */
		pthread_mutex_t mutex;
		uint8_t room[IPCARC_MUTEX_ROOM];
	} m;
} ipcarc_header; /* 192 */

/* One holder slot: 32 bytes, table at holders_off, max_holders of them. */
typedef struct ipcarc_holder {
	uint32_t handles;    /*  0 (lock) handles this attachment holds */
	uint32_t state;      /*  4 (lock) IPCARC_SLOT_* */
	int32_t pid;         /*  8 informational: pid in the holder's namespace */
	uint32_t waiters;    /* 12 (atomic) this attachment's share of header.waiters */
	uint64_t start_time; /* 16 informational: field 22 of /proc/PID/stat */
	uint64_t reserved1;  /* 24 */
} ipcarc_holder;

/*
 * Liveness: a holder keeps an open-file-description write lock (F_OFD_SETLK) on
 * the byte of the segment file at ipcarc_slot_lock_offset(slot) for as long as
 * it holds a handle. The creator holds one on byte 0 until the state is READY.
 */
#define IPCARC_INIT_LOCK_OFFSET 0
static inline uint64_t ipcarc_slot_lock_offset(uint32_t slot) {
	return (uint64_t)IPCARC_HEADER_SIZE + (uint64_t)slot * IPCARC_HOLDER_SIZE;
}

/* Which validation check failed (out-parameter of open). */
enum ipcarc_field {
	IPCARC_FIELD_NONE = 0,
	IPCARC_FIELD_FILE,        /* not a regular file / cannot be mapped */
	IPCARC_FIELD_SIZE,        /* file smaller than the header */
	IPCARC_FIELD_MAGIC,
	IPCARC_FIELD_VERSION,
	IPCARC_FIELD_ABI,
	IPCARC_FIELD_STATE,       /* unknown state, or creator died before READY */
	IPCARC_FIELD_LAYOUT,      /* total_size / offsets / holder count inconsistent */
	IPCARC_FIELD_VALUE_SIZE,
	IPCARC_FIELD_VALUE_ALIGN,
	IPCARC_FIELD_TYPE_TAG,
	IPCARC_FIELD_REFCOUNT,    /* refcount negative or not the sum of slot handles */
	IPCARC_FIELD_HOLDERS,     /* a holder slot is malformed */
	IPCARC_FIELD_MUTEX,       /* the mutex is not a robust pshared error-checking one (glibc) */
};
const char *ipcarc_field_name(int field);
/* 1 if the header's mutex is of the kind ipcarc creates (robust, process-shared,
 * error-checking; compared on glibc, always 1 elsewhere). For readers that
 * validate a header without attaching, such as `ipcarc inspect`. */
int ipcarc_mutex_kind_ok(const ipcarc_header *h);

/* ---- Creating and attaching --------------------------------------------- */

typedef struct ipcarc_seg ipcarc_seg;

typedef struct ipcarc_spec {
	uint64_t value_size;     /* sizeof(T) */
	uint32_t value_align;    /* alignof(T); 0 means 1 */
	uint32_t max_holders;    /* create: 0 means IPCARC_DEFAULT_HOLDERS */
	uint64_t type_tag;       /* expected / created tag */
	uint32_t mode;           /* create: permission bits, exactly (umask does not apply) */
	uint32_t reserved;
	int64_t open_timeout_ns; /* open: how long to wait for READY or the mutex; <=0: 1 second */
} ipcarc_spec;

/* The tag WithTypeTag(s) uses: FNV-1a 64 over the bytes of s. */
uint64_t ipcarc_tag(const char *s);
/* The ABI word of this build. */
uint32_t ipcarc_abi(void);
/* 0 if name is valid: optional leading '/', then 1..200 bytes of [A-Za-z0-9._-]. */
int ipcarc_check_name(const char *name);

/* Create exclusively; init (value_size bytes) is copied in before READY. */
int ipcarc_create(const char *name, const ipcarc_spec *spec, const void *init, ipcarc_seg **out);
/* Attach to a READY segment that matches spec; *field (may be NULL) names a failed check. */
int ipcarc_open(const char *name, const ipcarc_spec *spec, ipcarc_seg **out, int *field);
/* Open, or create when absent; *created says which. Takes over a half-made
 * segment whose creator died before READY. */
int ipcarc_open_or_create(const char *name, const ipcarc_spec *spec, const void *init,
                          ipcarc_seg **out, int *created, int *field);
/* One more handle on the same attachment (refcount +1). */
int ipcarc_clone(ipcarc_seg *s);
/* One handle less; the attachment is freed (unmapped, slot released) with its last
 * handle, and the segment unlinked when the reference count reaches zero. */
int ipcarc_close(ipcarc_seg *s);

void *ipcarc_data(ipcarc_seg *s);
ipcarc_header *ipcarc_hdr(ipcarc_seg *s);
int64_t ipcarc_refcount(ipcarc_seg *s);
int ipcarc_slot(ipcarc_seg *s);
int ipcarc_fd(ipcarc_seg *s);

/* ---- Locking -------------------------------------------------------------- */

int ipcarc_lock(ipcarc_seg *s);                         /* 0, EOWNERDEAD (held), EDEADLK */
int ipcarc_trylock(ipcarc_seg *s);                      /* 0, EOWNERDEAD (held), EBUSY */
int ipcarc_timedlock(ipcarc_seg *s, int64_t timeout_ns); /* 0, EOWNERDEAD (held), ETIMEDOUT */
int ipcarc_unlock(ipcarc_seg *s);                       /* 0, EPERM */
/* Unlock after a critical section that wrote nothing: the version does not
 * change and no waiter wakes. 0, EPERM. */
int ipcarc_unlock_unchanged(ipcarc_seg *s);
int ipcarc_poisoned(ipcarc_seg *s);                     /* 1 while poisoned */
/* Call with the lock held (inside the critical section): lock-free readers
 * rely on the flag changing only while the sequence word is odd. */
void ipcarc_clear_poison(ipcarc_seg *s);
/* Linux tid of the lock's owner, 0 when free. */
int ipcarc_lock_owner(ipcarc_seg *s);

/* ---- Fast paths and waiting ---------------------------------------------- */

/* Copy the value out without the mutex (seqlock); falls back to the lock when a
 * writer stays inside too long. Returns 0, EOWNERDEAD or ENOTRECOVERABLE (copied, poisoned). */
int ipcarc_load(ipcarc_seg *s, void *dst, size_t n);
/* Lock, copy n bytes in, bump the version, unlock: 0, ENOTRECOVERABLE (poisoned: not
 * written; EOWNERDEAD when this call is the first to see the death). */
int ipcarc_store(ipcarc_seg *s, const void *src, size_t n);
/* Completed writes so far (seq >> 1). */
uint32_t ipcarc_version(ipcarc_seg *s);
/* Sleep until the version differs from since or timeout_ns passes (<0: forever).
 * 0 with *now set, ETIMEDOUT, or EINTR (woken for no change: call again). */
int ipcarc_wait(ipcarc_seg *s, uint32_t since, int64_t timeout_ns, uint32_t *now);
/* Wake every waiter of the segment (used to cancel a wait). */
void ipcarc_wake_all(ipcarc_seg *s);

/* ---- Holders, reaping, garbage collection -------------------------------- */

/* 1 if the slot's byte lock is held by a live holder, 0 if not, -errno on error. */
int ipcarc_holder_alive(ipcarc_seg *s, uint32_t slot);
/* Remove dead holders' counts; *reaped = handles removed. (The caller's own
 * handle keeps the count above zero: only ipcarc_gc and closes unlink.) */
int ipcarc_reap(ipcarc_seg *s, int *reaped);

typedef struct ipcarc_gc_result {
	int reaped_handles; /* handles of dead holders removed */
	int unlinked;       /* 1 if the segment was removed */
	int busy;           /* 1 if the lock stayed held past the bound */
	int half_made;      /* 1 if the creator died before READY */
	int live_holders;   /* slots held by live processes after reaping */
	int field;          /* validation field when the result was EBADMSG etc. */
} ipcarc_gc_result;
/* Reap one segment by name without holding a handle; dry_run reports only.
 * Never waits on the lock longer than lock_timeout_ns. */
int ipcarc_gc(const char *name, int64_t lock_timeout_ns, int dry_run, ipcarc_gc_result *res);
/* Unlink by name; refuses while live holders exist (EBUSY) or a creator is
 * still initialising it (EINPROGRESS), unless force. */
int ipcarc_remove(const char *name, int force);

/* ---- Go bridge entry points ----------------------------------------------
 * The same hot calls taking the handle as an integer: cgo checks every pointer
 * argument at each call, an integer it does not. */
int ipcarc_lock_h(uintptr_t h);
int ipcarc_trylock_h(uintptr_t h);
int ipcarc_timedlock_h(uintptr_t h, int64_t timeout_ns);
int ipcarc_unlock_h(uintptr_t h);
int ipcarc_store_h(uintptr_t h, uintptr_t src, size_t n);
int ipcarc_load_h(uintptr_t h, uintptr_t dst, size_t n);
int ipcarc_noop_h(uintptr_t h); /* empty call: the cgo floor in benchmarks */

/* ---- Test-only fault points (compiled in with -DIPCARC_FAULTS) ------------ */
/* Arms phase: when the named point is reached the process raises SIGKILL. */
void ipcarc_fault_arm(const char *phase);

#ifdef __cplusplus
}
#endif
#endif
