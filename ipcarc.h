/*
 * ipcarc.h - the public C API of ipcarc (libipcarc): one typed value in a
 * named POSIX shared-memory segment, guarded by a robust process-shared mutex,
 * with a crash-safe reference count. Go (package ipcarc), C and Rust (the
 * ipcarc crate) processes share segments through this one implementation, so
 * the protocol lives in exactly one place. LAYOUT.md describes every byte and
 * every protocol step.
 *
 * Build and link:   cc app.c $(pkg-config --cflags --libs ipcarc)
 * (`make lib install PREFIX=...` in the repository installs libipcarc.so,
 * libipcarc.a, this header and ipcarc.pc). The shared library's soname carries
 * the layout's major version (libipcarc.so.IPCARC_LAYOUT_VERSION): a layout
 * change is an ABI change. Every function declared here with IPCARC_API is
 * exported, and nothing else is (`make lib-check` checks both ways).
 *
 * Conventions
 *   - Every function that can fail returns 0 or an errno value (pthread style:
 *     errno itself is never the channel). Codes with an ipcarc meaning:
 *       ENOENT           no segment with that name (or it is being removed)
 *       EEXIST           create: the name is taken
 *       EINVAL           bad name or bad spec
 *       EBADMSG          the segment is corrupt or not an ipcarc segment; *field says which check
 *       EACCES           with *field IPCARC_FIELD_OWNER or IPCARC_FIELD_MODE: the file fails the
 *                        trust rule (see ipcarc_spec) and was not mapped; without a field, the
 *                        system's own permission check refused the open
 *       EPROTONOSUPPORT  layout version or ABI word differ (another build / architecture)
 *       EPROTOTYPE       value size, alignment or type tag differ; *field says which
 *       ETIMEDOUT        a creator stayed initialising, or the holder table's lock stayed held,
 *                        past the open timeout (*field or ipcarc_table_owner says which)
 *       EUSERS           the holder table is full even after reaping dead holders, or clone
 *                        past IPCARC_MAX_HANDLES handles
 *       ECHILD           a handle inherited through fork (the child holds no attachment)
 *       EOWNERDEAD       lock: acquired, but the previous owner died inside its critical section;
 *                        the value is now poisoned (see ipcarc_poisoned)
 *       ENOTRECOVERABLE  store: refused because the value is poisoned
 *       EBUSY            trylock: held by someone else
 *       EDEADLK          lock: this thread already holds it; close: closing the last handle of
 *                        a mapping while this thread holds the lock
 *       EPERM            unlock: this thread does not hold the lock
 *       ERANGE           slices: more elements than the capacity, or an index at or past the length
 *       ENOBUFS          ipcarc_slice_load: the caller's buffer is shorter than the length
 *     anything else is the errno of the failing system call (EACCES, ENOSPC, ...).
 *   - A handle (ipcarc_seg *) is one attachment: one open file description, one
 *     mapping, one slot in the holder table. ipcarc_clone adds a handle to the same
 *     attachment; ipcarc_close removes one and frees the attachment with its last.
 *   - Locking belongs to the calling thread (pthread semantics).
 *   - Not async-signal-safe.
 *   - Fork. A child forked without exec inherits no handle: the child never keeps
 *     its parent's holder alive, and nothing it does through an inherited handle
 *     writes shared memory or waits. Every call that returns a code returns ECHILD
 *     at once, before any other check (clone, lock, trylock, timedlock, unlock,
 *     unlock_unchanged, clear_poison, load, store, wait, reap, and the ipcarc_slice_*
 *     calls), even while the
 *     parent held the value lock across the fork; ipcarc_close returns ECHILD too,
 *     after freeing the child's private copy (the last handle) only. The calls that
 *     return a value answer for a handle without an attachment: ipcarc_data and
 *     ipcarc_hdr return NULL (no view of the parent's memory, so no unlocked write
 *     to it), ipcarc_refcount 0, ipcarc_slot -1, ipcarc_poisoned 0,
 *     ipcarc_lock_owner and ipcarc_table_owner 0, ipcarc_version 0,
 *     ipcarc_holder_alive 0 (-EINVAL past the table), ipcarc_read_counters all
 *     zero, and ipcarc_my_counters the handle's private scratch block (adds to it
 *     reach nobody). ipcarc_timeout, ipcarc_lifetime and ipcarc_hdr_max_holders
 *     return the handle's private copies, as in the parent. A child that needs the
 *     segment opens it again by name.
 */
#ifndef IPCARC_H
#define IPCARC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* IPCARC_API marks the exported functions. The library is compiled with
 * -fvisibility=hidden (and linked with an explicit export list), so whatever
 * lacks it stays inside libipcarc. A program may predefine IPCARC_API. */
#ifndef IPCARC_API
#if defined(__GNUC__) && __GNUC__ >= 4
#define IPCARC_API __attribute__((visibility("default")))
#else
#define IPCARC_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Layout (LAYOUT.md is the byte-level reference) -------------------- */

#define IPCARC_MAGIC 0x0000637261637069ULL    /* the bytes "ipcarc\0\0" on a little-endian host */
#define IPCARC_MAGIC_V1 0x0000636172637069ULL /* layout 1's magic (its bytes read "ipcrac\0\0") */
#define IPCARC_LAYOUT_VERSION 2u
#define IPCARC_HEADER_SIZE 512u
#define IPCARC_MUTEX_OFFSET 128u       /* the value's mutex */
#define IPCARC_TABLE_MUTEX_OFFSET 256u /* the holder table's mutex */
#define IPCARC_MUTEX_ROOM 64u
#define IPCARC_HOLDER_SIZE 256u
#define IPCARC_DEFAULT_HOLDERS 64u
#define IPCARC_MAX_HOLDERS 4096u
#define IPCARC_MAX_HANDLES (1u << 30) /* handles one attachment may hold */
#define IPCARC_MAX_ALIGN 4096u
#define IPCARC_NAME_MAX 200u
/* The value never starts before this alignment: keeps it off the header's cache line. */
#define IPCARC_MIN_VALUE_ALIGN 64u
/* "no slot" in the table's list links and heads */
#define IPCARC_NIL 0xffffffffu

/* state word */
#define IPCARC_STATE_INIT 0u  /* creator is initialising (the file starts zero-filled) */
#define IPCARC_STATE_READY 1u /* published with a release store; safe to attach */
#define IPCARC_STATE_DEAD 2u  /* reference count reached zero; name unlinked or about to be */

/* flags word */
#define IPCARC_FLAG_POISONED 1u         /* an owner died inside a critical section */
#define IPCARC_FLAG_OWNER_DEAD_UNSEEN 2u /* no user lock has reported that death yet */

/* lifetime word (set at creation, never changed) */
#define IPCARC_LIFETIME_LAST_CLOSE 0u   /* removed when the count reaches zero (Arc) */
#define IPCARC_LIFETIME_UNTIL_REMOVED 1u /* stays at zero, until ipcarc_remove */

/* holder slot state */
#define IPCARC_SLOT_FREE 0u
#define IPCARC_SLOT_USED 1u

/* The liveness word of a slot is a robust futex word (the kernel's robust-futex
 * ABI): the holder's keeper thread id in the low 30 bits while the holder lives;
 * the kernel replaces it with IPCARC_LIVE_OWNER_DIED when that thread dies. */
#define IPCARC_LIVE_TID_MASK 0x3fffffffu
#define IPCARC_LIVE_OWNER_DIED 0x40000000u
#define IPCARC_LIVE_WAITERS 0x80000000u

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
 * Counters of the value lock and its fast paths: 24 u64s (192 bytes). Each
 * attachment counts its own work in its slot (so processes never write one
 * cache line between them); a slot's counts stay in the slot when its holder
 * leaves (never moved or zeroed: the next holder adds to them), and the
 * header keeps segment-wide events. A segment's count is the header's plus
 * every slot's, used or free (wait_max_ns: the largest), so no count ever
 * goes down. All are read without any lock; each is written by one writer at
 * a time (the holder of the value lock for the acquisitions, holds, waits,
 * stores, deaths and poison; atomic adds for the rest).
 */
typedef struct ipcarc_counters {
	uint64_t acquisitions;   /*   0 value lock acquisitions (Lock, TryLock, LockContext, Store, Update) */
	uint64_t contended;      /*   8 acquisitions that found the lock held at first try */
	uint64_t slept;          /*  16 contended acquisitions that slept in the kernel after spinning */
	uint64_t wait_ns;        /*  24 total time contended acquisitions waited */
	uint64_t wait_max_ns;    /*  32 longest single wait */
	uint64_t hold_samples;   /*  40 holds timed (one acquisition in IPCARC_HOLD_SAMPLE) */
	uint64_t hold_ns;        /*  48 total time of the timed holds */
	uint64_t owner_deaths;   /*  56 value lock owner deaths recovered */
	uint64_t poisoned;       /*  64 times the value was poisoned (owner death, Update panic, odd seq) */
	uint64_t poison_cleared; /*  72 times the poison was cleared */
	uint64_t load_retries;   /*  80 lock-free Loads that had to retry */
	uint64_t load_fallbacks; /*  88 Loads that fell back to the lock */
	uint64_t stores;         /*  96 Stores that wrote */
	uint64_t updates;        /* 104 Updates whose function returned */
	uint64_t wakeups;        /* 112 FUTEX_WAKE calls by writers (a write that found waiters) */
	uint64_t reaped;         /* 120 dead holders reaped (header only) */
	uint64_t reserved[8];    /* 128 zero */
} ipcarc_counters;
#define IPCARC_HOLD_SAMPLE 64u /* one hold in this many is timed */

/*
 * The header: 512 bytes at offset 0. (atomic): only accessed with atomic
 * operations. (table): changed only under the table mutex. (value): changed
 * only under the value mutex.
 */
typedef struct ipcarc_header {
	/* line 0: fixed at creation, plus state and flags */
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
	/* line 1: the seqlock word and informational fields */
	uint64_t holders_off;  /*  64 offset of the holder table (= IPCARC_HEADER_SIZE) */
	uint32_t seq;          /*  72 (atomic, value) seqlock and futex word: odd while a writer is inside */
	uint32_t waiters;      /*  76 (atomic) threads sleeping in ipcarc_wait */
	uint32_t lifetime;     /*  80 IPCARC_LIFETIME_* */
	uint32_t creator_pid;  /*  84 informational */
	uint64_t created_ns;   /*  88 CLOCK_REALTIME at creation, informational */
	uint32_t shape;        /*  96 IPCARC_SHAPE_*: 0 one value (segments before shapes read 0), 1 slice */
	uint32_t reserved1;    /* 100 zero */
	uint64_t capacity;     /* 104 slice: elements the value area holds (fixed); one value: 0, unused */
	uint64_t slice_len;    /* 112 (atomic, value) slice: elements in use, <= capacity; written only
	                        *     under the value lock while seq is odd, read inside a seqlock window */
	uint64_t reserved4;    /* 120 zero */
	union {                /* 128 the value's robust, process-shared, error-checking mutex */
		pthread_mutex_t mutex;
		uint8_t room[IPCARC_MUTEX_ROOM];
	} m;
	/* line 3: the holder table's bookkeeping, apart from the value's lines */
	int64_t refcount;      /* 192 (atomic, table) handles alive = sum of used slots' handles */
	uint32_t used_count;   /* 200 (table) used slots */
	uint32_t free_head;    /* 204 (table) first free slot, IPCARC_NIL when none */
	uint32_t used_head;    /* 208 (table) oldest used slot, IPCARC_NIL when none */
	uint32_t used_tail;    /* 212 (table) newest used slot, IPCARC_NIL when none */
	uint32_t repairs;      /* 216 (table) times the table was rebuilt; informational */
	uint32_t reserved2;    /* 220 zero */
	uint8_t reserved3[32]; /* 224 zero */
	union {                /* 256 the holder table's robust, process-shared, error-checking mutex */
		pthread_mutex_t mutex;
		uint8_t room[IPCARC_MUTEX_ROOM];
	} t;
	ipcarc_counters totals; /* 320 counts of departed attachments, and segment-wide events */
} ipcarc_header; /* 512 */

/* One holder slot: 256 bytes, table at holders_off, max_holders of them. */
typedef struct ipcarc_holder {
	uint32_t state;       /*   0 (table) IPCARC_SLOT_* */
	uint32_t handles;     /*   4 (table) handles this attachment holds, 1..IPCARC_MAX_HANDLES while used */
	uint32_t live;        /*   8 (atomic) liveness: robust futex word of the holder's keeper thread */
	uint32_t waiters;     /*  12 (atomic) this attachment's share of header.waiters */
	uint64_t robust_next; /*  16 the holder's robust-list entry: a pointer in its own address space */
	uint32_t prev;        /*  24 (table) previous used slot / unused while free */
	uint32_t next;        /*  28 (table) next used slot, or next free slot */
	int32_t pid;          /*  32 informational: pid in the holder's namespace */
	uint32_t reserved1;   /*  36 zero */
	uint64_t start_time;  /*  40 informational: field 22 of /proc/PID/stat */
	uint64_t attached_ns; /*  48 informational: CLOCK_REALTIME when the slot was claimed */
	uint64_t reserved2;   /*  56 zero */
	ipcarc_counters counters; /* 64 this attachment's counts (its own cache lines) */
} ipcarc_holder; /* 256 */

/* 1 if the slot's liveness word says its holder lives. */
static inline int ipcarc_live_word_alive(uint32_t w) {
	return (w & IPCARC_LIVE_TID_MASK) != 0 && (w & IPCARC_LIVE_OWNER_DIED) == 0;
}

/*
 * The init lock: a creator of an older version on its fallback path (no
 * O_TMPFILE) held an open-file-description write lock (F_OFD_SETLK) on byte 0
 * of the file until the state was READY. Openers still test it and wait; this
 * library never takes it (it names a segment only when READY).
 */
#define IPCARC_INIT_LOCK_OFFSET 0

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
	IPCARC_FIELD_TABLE_LOCK,  /* ETIMEDOUT: the holder table's lock stayed held */
	IPCARC_FIELD_VALUE_LOCK,  /* ETIMEDOUT: the value's lock stayed held */
	IPCARC_FIELD_INIT,        /* ETIMEDOUT: a creator stayed initialising */
	IPCARC_FIELD_LIFETIME,    /* lifetime word unknown */
	IPCARC_FIELD_HANDLES,     /* EUSERS from clone: the attachment holds IPCARC_MAX_HANDLES */
	IPCARC_FIELD_ENDED,       /* ENOENT from open: the segment existed, but its count reached zero */
	IPCARC_FIELD_OWNER,       /* EACCES: the file's owner is not trusted (see ipcarc_spec) */
	IPCARC_FIELD_MODE,        /* EACCES: others may write the file, or its group may and is not trusted */
	IPCARC_FIELD_SHAPE,       /* EPROTOTYPE: one value vs slice; EBADMSG: an unknown shape word */
	IPCARC_FIELD_LENGTH,      /* a slice's length word beyond its capacity */
};

/* shape word (set at creation, never changed) */
#define IPCARC_SHAPE_VALUE 0u /* one value of value_size bytes (every segment before shapes) */
#define IPCARC_SHAPE_SLICE 1u /* capacity elements of value_size bytes each, slice_len in use */
IPCARC_API const char *ipcarc_field_name(int field);

/* ---- Creating and attaching --------------------------------------------- */

typedef struct ipcarc_seg ipcarc_seg;

/* The open timeout when the spec gives none (<= 0): 5 seconds, as Go's and
 * Rust's default. */
#define IPCARC_DEFAULT_TIMEOUT_NS 5000000000LL
/*
 * Trust rule (checked by open, open_or_create, gc and remove on the opened
 * file, before it is mapped or any of its locks is taken): whoever can write a
 * segment can write into the memory of every process that locks its robust
 * mutexes (glibc keeps robust-list pointers in the segment and unlock writes
 * through them). So a segment file is attached only if
 *   - its owner is the caller's effective uid, root (0), or one of
 *     trusted_uids[0..n_trusted_uids); and
 *   - others may not write it (mode & 0002 clear; never accepted); and
 *   - its group may not write it (mode & 0020 clear), unless trust_flags has
 *     IPCARC_TRUST_GROUP and trusted_gid is the file's group.
 * Otherwise: EACCES with *field IPCARC_FIELD_OWNER or IPCARC_FIELD_MODE (the
 * owner is checked first). A zeroed trust part means the rule above with no
 * extra uid and no group. ipcarc_gc and ipcarc_remove apply that default.
 */
#define IPCARC_MAX_TRUSTED_UIDS 8u
#define IPCARC_TRUST_GROUP 1u /* trust_flags: trusted_gid is valid */

typedef struct ipcarc_spec {
	uint64_t value_size;     /* sizeof(T) */
	uint32_t value_align;    /* alignof(T); 0 means 1 */
	uint32_t max_holders;    /* create: 0 means IPCARC_DEFAULT_HOLDERS */
	uint64_t type_tag;       /* expected / created tag */
	uint32_t mode;           /* create: permission bits, exactly (umask does not apply) */
	uint32_t lifetime;       /* create: IPCARC_LIFETIME_* */
	int64_t open_timeout_ns; /* bound on every wait for a creator or the table lock; <=0: IPCARC_DEFAULT_TIMEOUT_NS */
	/* attach: the trust rule's inputs (above); all zero = the default rule */
	uint32_t trusted_uids[IPCARC_MAX_TRUSTED_UIDS]; /* owners trusted besides the caller and root */
	uint32_t n_trusted_uids; /* entries used in trusted_uids, at most IPCARC_MAX_TRUSTED_UIDS */
	uint32_t trusted_gid;    /* a group whose write permission is accepted (with IPCARC_TRUST_GROUP) */
	uint32_t trust_flags;    /* IPCARC_TRUST_*; other bits: EINVAL */
	uint32_t shape;          /* IPCARC_SHAPE_*: what the opener expects; 0 (an all-zero spec) is one value.
	                          * ipcarc_create needs 0: slices are made by ipcarc_slice_create. */
} ipcarc_spec;

/* The tag WithTypeTag(s) uses: FNV-1a 64 over the bytes of s. */
IPCARC_API uint64_t ipcarc_tag(const char *s);
/* The ABI word of this build. */
IPCARC_API uint32_t ipcarc_abi(void);
/* 0 if name is valid: optional leading '/', then 1..200 bytes of [A-Za-z0-9._-]. */
IPCARC_API int ipcarc_check_name(const char *name);

/* Create exclusively; init (value_size bytes) is copied in before READY. */
IPCARC_API int ipcarc_create(const char *name, const ipcarc_spec *spec, const void *init, ipcarc_seg **out);
/* Attach to a READY segment that matches spec; *field (may be NULL) names a failed check.
 * The file must pass the trust rule (above ipcarc_spec) first: EACCES with
 * IPCARC_FIELD_OWNER or IPCARC_FIELD_MODE, and nothing is mapped or locked. */
IPCARC_API int ipcarc_open(const char *name, const ipcarc_spec *spec, ipcarc_seg **out, int *field);
/* Open, or create when absent; *created says which. Takes over a half-made
 * segment whose creator died before READY. A name taken by a file that fails
 * the trust rule is refused (EACCES, as ipcarc_open), never adopted. */
IPCARC_API int ipcarc_open_or_create(const char *name, const ipcarc_spec *spec, const void *init,
                                     ipcarc_seg **out, int *created, int *field);
/* One more handle on the same attachment (refcount +1). ETIMEDOUT if the table
 * lock stays held past the open timeout; EUSERS past IPCARC_MAX_HANDLES; ECHILD
 * on a handle inherited through fork (see Fork above, for this and every call). */
IPCARC_API int ipcarc_clone(ipcarc_seg *s);
/* One handle less; the attachment is freed (unmapped, slot released) with its last
 * handle, and the segment unlinked when the reference count reaches zero (unless
 * its lifetime is IPCARC_LIFETIME_UNTIL_REMOVED). ETIMEDOUT: the table lock stayed
 * held past the open timeout; the handle is released all the same (the slot's
 * counts are taken back by the next reap). ECHILD: a handle inherited through
 * fork; only its private memory is freed. */
IPCARC_API int ipcarc_close(ipcarc_seg *s);
/* The bound on waits for the table lock (the spec's open timeout). */
IPCARC_API int64_t ipcarc_timeout(ipcarc_seg *s);
IPCARC_API uint32_t ipcarc_lifetime(ipcarc_seg *s);

/* The value in the mapping (value_size bytes, aligned as the spec said). Read
 * or write it only while holding the lock (or through ipcarc_load/store),
 * except for lock-free use of a value made only of atomic fields: then every
 * process may read and write those fields at any time, without the lock, with
 * C11 atomics or __atomic builtins (sequentially consistent, on the field's
 * own address and width; Go's sync/atomic and Rust's std atomics do the same).
 * The library does not check that the value is such a type: that is the
 * caller's to know (Go's Arc.Atomic and Rust's IpcArc::atomic check it). A
 * lock-free change moves no version and wakes nobody: call ipcarc_notify for
 * that. The pointer stays valid until the attachment's last ipcarc_close.
 * NULL on a handle inherited through fork. */
IPCARC_API void *ipcarc_data(ipcarc_seg *s);
/* The handles of live holders, over every process: one read per slot, no
 * lock. A killed holder's handles stop counting as soon as the kernel marks
 * it dead, before anyone reaps its slot (ipcarc_reap, gc, or the next
 * attach that walks past it takes the slot back). 0 on a handle inherited
 * through fork. */
IPCARC_API int64_t ipcarc_refcount(ipcarc_seg *s);

/* ---- Locking -------------------------------------------------------------- */

/* Each of these returns ECHILD on a handle inherited through fork, without waiting. */
/* EXDEV (nothing locked): this thread holds the lock of a segment of another
 * trust class (other writers: owner, or group-writable or not). glibc links
 * every robust mutex a thread holds into one list kept in the segments, so the
 * writers of one could leave the other's lock owned by a dead thread; a thread
 * holds the locks of one class at a time. ipcarc_store answers EXDEV too. */
IPCARC_API int ipcarc_lock(ipcarc_seg *s);                          /* 0, EOWNERDEAD (held), EDEADLK */
IPCARC_API int ipcarc_trylock(ipcarc_seg *s);                       /* 0, EOWNERDEAD (held), EBUSY, EDEADLK */
IPCARC_API int ipcarc_timedlock(ipcarc_seg *s, int64_t timeout_ns); /* 0, EOWNERDEAD (held), ETIMEDOUT */
IPCARC_API int ipcarc_unlock(ipcarc_seg *s);                        /* 0, EPERM */
/* Unlock after a critical section that wrote nothing: the version does not
 * change and no waiter wakes. 0, EPERM. */
IPCARC_API int ipcarc_unlock_unchanged(ipcarc_seg *s);
IPCARC_API int ipcarc_poisoned(ipcarc_seg *s); /* 1 while poisoned; 0 on a handle inherited through fork */
/* Repair, the same in every language: a lock that returns EOWNERDEAD (the first
 * after an owner died inside its critical section), or finds ipcarc_poisoned()
 * set, holds the lock on a value that may be half written. Check or rebuild
 * the value, call ipcarc_clear_poison, then ipcarc_unlock. (Go: Arc.Recover,
 * whose Lock refuses a poisoned value and holds nothing; Rust: IpcArc::recover,
 * whose lock hands the guard over through a PoisonError.) Loads and stores
 * never report EOWNERDEAD: the news waits for a lock.
 *
 * Ends the poison for every process. Only the thread holding the lock may
 * call it (lock-free readers rely on the flag changing only while the
 * sequence word is odd): 0, EPERM when the calling thread does not hold the
 * lock (nothing changes), ECHILD on a handle inherited through fork. */
IPCARC_API int ipcarc_clear_poison(ipcarc_seg *s);
/* Linux tid of the lock's owner, 0 when free (and on a handle inherited through fork). */
IPCARC_API int ipcarc_lock_owner(ipcarc_seg *s);

/* ---- Fast paths and waiting ---------------------------------------------- */

/* Copy the value out without the mutex (seqlock); falls back to the lock when a
 * writer stays inside too long. Returns 0, or ENOTRECOVERABLE (copied, poisoned);
 * EINVAL when n is not the value's size; ECHILD (nothing copied) on a handle
 * inherited through fork. A read never reports EOWNERDEAD: that news is kept
 * for the next lock. */
IPCARC_API int ipcarc_load(ipcarc_seg *s, void *dst, size_t n);
/* Lock, copy n bytes in, bump the version, unlock: 0, ENOTRECOVERABLE (poisoned: not
 * written); EINVAL when n is not the value's size; ECHILD (nothing written, no
 * wait) on a handle inherited through fork. A store never reports EOWNERDEAD:
 * that news is kept for the next ipcarc_lock/trylock/timedlock, whose caller
 * can repair. */
IPCARC_API int ipcarc_store(ipcarc_seg *s, const void *src, size_t n);
/* Completed writes so far (seq >> 1); 0 on a handle inherited through fork. */
IPCARC_API uint32_t ipcarc_version(ipcarc_seg *s);
/* Sleep until the version differs from since or timeout_ns passes (<0: forever).
 * 0 with *now set, ETIMEDOUT, or EINTR (woken for no change: call again); EDEADLK while
 * this thread holds the lock; ECHILD (at once, *now untouched) on a handle inherited through fork. */
IPCARC_API int ipcarc_wait(ipcarc_seg *s, uint32_t since, int64_t timeout_ns, uint32_t *now);

/* After a lock-free change of an atomic field: a new version (the sequence
 * word += 2, one atomic add: a writer inside the lock stays inside, the
 * seqlock stays sound) and a FUTEX_WAKE of every ipcarc_wait when any waits.
 * Needs no lock and may be called while holding it. 0; ECHILD (nothing done)
 * on a handle inherited through fork. */
IPCARC_API int ipcarc_notify(ipcarc_seg *s);
/* For a value made only of atomic fields: on (1), ipcarc_load, ipcarc_store
 * and the locked read copy the value one aligned word at a time with atomic
 * accesses (8 bytes when value_size is a multiple of 8, else 4), so that a
 * copy never tears a field that another process changes lock-free; a load
 * then returns a snapshot in which each field was read atomically (fields
 * changed lock-free are not consistent with each other). Off (0): memcpy, the
 * default. Per handle (attachment), not shared. 0; EINVAL (unchanged) when
 * the value's size is not a multiple of 4; ECHILD on a handle inherited
 * through fork. */
IPCARC_API int ipcarc_word_copy(ipcarc_seg *s, int on);
/* ---- Slices ------------------------------------------------------------------
 * A slice segment (shape IPCARC_SHAPE_SLICE) holds up to `capacity` elements
 * of spec.value_size bytes (the element's size; value_align and type_tag are
 * the element's too), of which a length are in use: Go's slice with a fixed
 * capacity. The shape is part of the segment's identity: ipcarc_open (spec
 * shape 0) of a slice, and ipcarc_slice_open of a one-value segment, are
 * EPROTOTYPE with *field IPCARC_FIELD_SHAPE. ipcarc_lock/unlock and
 * ipcarc_data work as for one value (ipcarc_data is element 0; change the
 * length under the lock with ipcarc_slice_set_len); ipcarc_load and
 * ipcarc_store are EINVAL on a slice. Every call here returns ECHILD at once
 * on a handle inherited through fork (len and cap: 0), and EINVAL on a
 * one-value segment. A length word beyond capacity (only a peer writing the
 * mapping can make one) is never followed: readers answer EBADMSG, and the
 * next lock poisons the slice (repair: lock, check, set the length,
 * ipcarc_clear_poison, unlock).
 */

/* Create exclusively with capacity elements (capacity * value_size <= 2^46),
 * the first n_init copied from init (n_init <= capacity, else EINVAL); the
 * spec's shape may be 0 or IPCARC_SHAPE_SLICE (taken as a slice either way). */
IPCARC_API int ipcarc_slice_create(const char *name, const ipcarc_spec *spec, size_t capacity, const void *init,
                                   size_t n_init, ipcarc_seg **out);
/* ipcarc_open expecting a slice (the capacity is read from the segment). */
IPCARC_API int ipcarc_slice_open(const char *name, const ipcarc_spec *spec, ipcarc_seg **out, int *field);
/* Open a slice, or create it as ipcarc_slice_create does; *created says which. */
IPCARC_API int ipcarc_slice_open_or_create(const char *name, const ipcarc_spec *spec, size_t capacity,
                                           const void *init, size_t n_init, ipcarc_seg **out, int *created,
                                           int *field);
/* Elements in use (lock-free: one read, bounded by the private capacity). */
IPCARC_API size_t ipcarc_slice_len(ipcarc_seg *s);
/* The capacity validated at attach (private copy). */
IPCARC_API size_t ipcarc_slice_cap(ipcarc_seg *s);
/* Consistent copy of the elements in use into dst (room for cap_elems), *len =
 * the length, without the lock (seqlock; bounded retries, then the lock).
 * 0; ENOBUFS (before any other answer): *len > cap_elems, only cap_elems
 * copied: call again with room for *len; ENOTRECOVERABLE: copied, poisoned; EBADMSG: the length word was beyond
 * capacity (*len = capacity); EINVAL, ECHILD. */
IPCARC_API int ipcarc_slice_load(ipcarc_seg *s, void *dst, size_t cap_elems, size_t *len);
/* Lock, copy n_elems elements in, set the length to n_elems, bump the
 * version, unlock. 0; ERANGE: n_elems > capacity (nothing changed);
 * ENOTRECOVERABLE: poisoned, not written; EINVAL, ECHILD. */
IPCARC_API int ipcarc_slice_store(ipcarc_seg *s, const void *src, size_t n_elems);
/* Element i (value_size bytes) into dst, consistent, without the lock.
 * 0; ERANGE: i >= length; ENOTRECOVERABLE: copied, poisoned; EBADMSG: length
 * word beyond capacity; EINVAL, ECHILD. */
IPCARC_API int ipcarc_slice_get(ipcarc_seg *s, size_t i, void *dst);
/* Lock, write element i, unlock. 0; ERANGE: i >= length; ENOTRECOVERABLE:
 * poisoned, not written; EINVAL, ECHILD. */
IPCARC_API int ipcarc_slice_set(ipcarc_seg *s, size_t i, const void *src);
/* Under the lock only: set the length (elements past the old length keep
 * whatever they held). 0; ERANGE: n > capacity; EPERM: this thread does not
 * hold the lock; EINVAL, ECHILD. */
IPCARC_API int ipcarc_slice_set_len(ipcarc_seg *s, size_t n);

/* ---- Counters -------------------------------------------------------------- */

/* This attachment's own counters (in its slot; a private scratch block for a
 * handle without a slot, and for a handle inherited through fork). Its Go, C or
 * Rust user may add to `updates` and `poisoned` while holding the value lock. */
IPCARC_API ipcarc_counters *ipcarc_my_counters(ipcarc_seg *s);
/* The segment's counters: the header's totals plus every used slot's
 * (wait_max_ns: the largest). Read without any lock: a snapshot. All zero on a
 * handle inherited through fork. */
IPCARC_API void ipcarc_read_counters(ipcarc_seg *s, ipcarc_counters *out);

/* ---- Holders, reaping, garbage collection -------------------------------- */

/* Remove dead holders' counts and mend the table; *reaped = handles removed.
 * (The caller's own handle keeps the count above zero: only ipcarc_gc and
 * closes unlink.) ETIMEDOUT if the table lock stays held; ECHILD (*reaped = 0) on a
 * handle inherited through fork. */
IPCARC_API int ipcarc_reap(ipcarc_seg *s, int *reaped);

typedef struct ipcarc_gc_result {
	int reaped_handles; /* handles of dead holders removed */
	int unlinked;       /* 1 if the segment was removed */
	int busy;           /* 1 if the table lock stayed held past the bound, or a creator is at work */
	int half_made;      /* always 0 since 0.2.0: a file that is not READY is not removed */
	int live_holders;   /* slots held by live processes after reaping */
	int field;          /* validation field when the result was EBADMSG etc. */
	int kept;           /* 1 if the segment's lifetime is IPCARC_LIFETIME_UNTIL_REMOVED */
} ipcarc_gc_result;
/* Reap one segment by name without holding a handle; dry_run reports only.
 * Never waits on the table lock longer than lock_timeout_ns, and never takes
 * the value's lock. A file that fails validation (empty, too short, another
 * magic, state INIT, ...) is its error (EBADMSG etc. with res->field) and is
 * never unlinked. */
IPCARC_API int ipcarc_gc(const char *name, int64_t lock_timeout_ns, int dry_run, ipcarc_gc_result *res);
/* Unlink by name; refuses while live holders exist (EBUSY), while a creator
 * is still initialising it (EINPROGRESS), or a file that fails validation
 * (its error: not a segment, corrupt), unless force: force unlinks whatever
 * regular file the name names. */
IPCARC_API int ipcarc_remove(const char *name, int force);

/* ---- Inspection -------------------------------------------------------------
 * Read-only views for tools and stats (the layout above says what each field
 * means and who may write it). Fields marked (atomic) are read with atomic
 * loads; nothing here may be written except as LAYOUT.md's protocols say. */

/* The segment's header, in the mapping; NULL on a handle inherited through fork. */
IPCARC_API ipcarc_header *ipcarc_hdr(ipcarc_seg *s);
/* The table size validated at attach (the private copy, never re-read). */
IPCARC_API uint32_t ipcarc_hdr_max_holders(ipcarc_seg *s);
/* This attachment's slot in the holder table (-1 when it has none, as a handle
 * inherited through fork has none). */
IPCARC_API int ipcarc_slot(ipcarc_seg *s);
/* 1 if the slot is used by a live holder, 0 if not (and on a handle inherited
 * through fork), -EINVAL past the table. */
IPCARC_API int ipcarc_holder_alive(ipcarc_seg *s, uint32_t slot);
/* Thread id of the table lock's owner, 0 when free (for error messages), and on a
 * handle inherited through fork. */
IPCARC_API int ipcarc_table_owner(ipcarc_seg *s);

#ifdef __cplusplus
}
#endif
#endif
