/*
 * cshm.c - the one implementation of the ipcarc segment protocol (see cshm.h,
 * LAYOUT.md). Go reaches it through cgo_bridge.go; C and Rust peers link it.
 */
#define _GNU_SOURCE
#include "cshm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct ipcarc_seg {
	ipcarc_header *hdr;
	void *data;
	size_t map_size;
	int fd;
	uint32_t slot;    /* our slot; UINT32_MAX when none (gc) */
	uint32_t handles; /* handles on this attachment; changed under the segment mutex */
	char name[IPCARC_NAME_MAX + 2];
};

#define NO_SLOT UINT32_MAX
#define IPCARC_SHM_DIR "/dev/shm" /* where glibc's shm_open keeps names */
/* A creator on the O_EXCL path makes the file empty, then takes the init lock:
 * an empty file younger than this may still be one in that instant. */
#define EMPTY_GRACE_NS 2000000000LL
#define FUTEX_TID_MASK_ 0x3fffffffu

/* ---- fault points ---------------------------------------------------------- */
#ifdef IPCARC_FAULTS
static char fault_phase[64];
void ipcarc_fault_arm(const char *phase) {
	snprintf(fault_phase, sizeof fault_phase, "%s", phase ? phase : "");
}
#define FAULT(p)                                                                    \
	do {                                                                            \
		if (fault_phase[0] && strcmp(fault_phase, (p)) == 0) raise(SIGKILL);       \
	} while (0)
#else
void ipcarc_fault_arm(const char *phase) { (void)phase; }
#define FAULT(p) ((void)0)
#endif

/* ---- small helpers -------------------------------------------------------- */

#define A_LOAD(p, mo) __atomic_load_n((p), (mo))
#define A_STORE(p, v, mo) __atomic_store_n((p), (v), (mo))
#define ACQ __ATOMIC_ACQUIRE
#define REL __ATOMIC_RELEASE
#define RLX __ATOMIC_RELAXED
#define SEQ __ATOMIC_SEQ_CST

static inline pthread_mutex_t *mtx(ipcarc_seg *s) { return &s->hdr->m.mutex; }
static inline ipcarc_holder *holders(ipcarc_seg *s) {
	return (ipcarc_holder *)((char *)s->hdr + IPCARC_HEADER_SIZE);
}

/* The calling thread's kernel tid, cached: gettid is a system call and the
 * ownership check in unlock is on the hot path. */
static __thread pid_t tls_tid;
static uint64_t cached_start_time;
static void reset_tid_after_fork(void) {
	tls_tid = 0;
	cached_start_time = 0;
}
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, reset_tid_after_fork); }
static inline pid_t my_tid(void) {
	if (__builtin_expect(tls_tid == 0, 0)) {
		pthread_once(&atfork_once, register_atfork);
		tls_tid = (pid_t)syscall(SYS_gettid);
	}
	return tls_tid;
}

/* The robust-futex word is the first int of pthread_mutex_t: the kernel's robust
 * futex ABI makes it hold the owner's tid. */
static inline uint32_t mutex_word(ipcarc_seg *s) {
	return A_LOAD((uint32_t *)(void *)mtx(s), RLX);
}

static int64_t now_ns(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec abs_after(int64_t ns) {
	int64_t t = now_ns(CLOCK_MONOTONIC) + (ns < 0 ? 0 : ns);
	struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
	return ts;
}

static void sleep_ns(int64_t ns) {
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
	}
}

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts) {
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

uint64_t ipcarc_tag(const char *s) {
	uint64_t h = 14695981039346656037ULL;
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

static uint32_t arch_code(void) {
#if defined(__x86_64__)
	return IPCARC_ARCH_AMD64;
#elif defined(__aarch64__)
	return IPCARC_ARCH_ARM64;
#elif defined(__i386__)
	return IPCARC_ARCH_386;
#elif defined(__arm__)
	return IPCARC_ARCH_ARM;
#elif defined(__riscv) && __riscv_xlen == 64
	return IPCARC_ARCH_RISCV64;
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	return IPCARC_ARCH_PPC64LE;
#elif defined(__s390x__)
	return IPCARC_ARCH_S390X;
#else
	return IPCARC_ARCH_UNKNOWN;
#endif
}

uint32_t ipcarc_abi(void) {
	return arch_code() << 24 | (uint32_t)sizeof(void *) << 16 | (uint32_t)sizeof(pthread_mutex_t);
}

const char *ipcarc_field_name(int f) {
	switch (f) {
	case IPCARC_FIELD_NONE: return "none";
	case IPCARC_FIELD_FILE: return "file type";
	case IPCARC_FIELD_SIZE: return "file size";
	case IPCARC_FIELD_MAGIC: return "magic";
	case IPCARC_FIELD_VERSION: return "layout version";
	case IPCARC_FIELD_ABI: return "ABI word";
	case IPCARC_FIELD_STATE: return "state";
	case IPCARC_FIELD_LAYOUT: return "layout fields";
	case IPCARC_FIELD_VALUE_SIZE: return "value size";
	case IPCARC_FIELD_VALUE_ALIGN: return "value alignment";
	case IPCARC_FIELD_TYPE_TAG: return "type tag";
	case IPCARC_FIELD_REFCOUNT: return "reference count";
	case IPCARC_FIELD_HOLDERS: return "holder table";
	case IPCARC_FIELD_MUTEX: return "mutex kind";
	}
	return "unknown";
}

int ipcarc_check_name(const char *name) {
	if (!name) return EINVAL;
	if (name[0] == '/') name++;
	size_t n = 0;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		         c == '.' || c == '_' || c == '-';
		if (!ok || n >= IPCARC_NAME_MAX) return EINVAL;
	}
	if (n == 0) return EINVAL;
	/* "." and ".." would name directories. */
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return EINVAL;
	return 0;
}

static void shm_path(char *out, size_t n, const char *name) {
	snprintf(out, n, "/%s", name[0] == '/' ? name + 1 : name);
}

/* ---- byte locks (liveness) ----------------------------------------------- */

static int ofd_lock(int fd, uint64_t off, short type) {
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	if (fcntl(fd, F_OFD_SETLK, &fl) == -1) return errno;
	return 0;
}

/* 1 if some other open file description holds a lock on the byte. */
static int ofd_locked(int fd, uint64_t off) {
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	if (fcntl(fd, F_OFD_GETLK, &fl) == -1) return -errno;
	return fl.l_type != F_UNLCK;
}

static uint64_t read_start_time(void);
/* Cached per process (it never changes); the atfork handler resets it. */
static uint64_t my_start_time(void) {
	pthread_once(&atfork_once, register_atfork);
	if (cached_start_time == 0) cached_start_time = read_start_time();
	return cached_start_time;
}

static uint64_t read_start_time(void) {
	/* Field 22 of /proc/self/stat; the comm field may contain spaces, so parse
	 * after the last ')'. */
	char buf[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p) return 0;
	p++;
	/* after ')' come fields 3..; field 22 is the 20th of them */
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p + 1, ' ');
	}
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* ---- validation ------------------------------------------------------------ */

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }

/* Layout arithmetic shared by create and validate. 0 on overflow or bad input. */
static uint64_t value_offset(uint32_t max_holders, uint32_t align) {
	uint64_t a = align < IPCARC_MIN_VALUE_ALIGN ? IPCARC_MIN_VALUE_ALIGN : align;
	uint64_t end = (uint64_t)IPCARC_HEADER_SIZE + (uint64_t)max_holders * IPCARC_HOLDER_SIZE;
	return (end + a - 1) & ~(a - 1);
}

static int spec_check(const ipcarc_spec *sp) {
	if (!sp) return EINVAL;
	uint32_t al = sp->value_align ? sp->value_align : 1;
	if (!is_pow2(al) || al > IPCARC_MAX_ALIGN) return EINVAL;
	if (sp->max_holders > IPCARC_MAX_HOLDERS) return EINVAL;
	if (sp->value_size > ((uint64_t)1 << 46)) return EINVAL; /* 64 TiB: keeps sums far from overflow */
	return 0;
}

static void mutex_attr(pthread_mutexattr_t *at) {
	pthread_mutexattr_init(at);
	pthread_mutexattr_setpshared(at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(at, PTHREAD_MUTEX_ROBUST);
	/* Error-checking: a relock by the owner thread is EDEADLK, never a hang. */
	pthread_mutexattr_settype(at, PTHREAD_MUTEX_ERRORCHECK);
}

#ifdef __GLIBC__
static int reference_kind(void) {
	static int kind = -1;
	if (kind == -1) {
		pthread_mutexattr_t at;
		pthread_mutex_t m;
		mutex_attr(&at);
		pthread_mutex_init(&m, &at);
		pthread_mutexattr_destroy(&at);
		kind = m.__data.__kind;
		pthread_mutex_destroy(&m);
	}
	return kind;
}
#endif

int ipcarc_mutex_kind_ok(const ipcarc_header *h) {
#ifdef __GLIBC__
	/* A mutex of another kind (or scribbled over) could make glibc block on a
	 * live stranger or misbehave: compare the kind with one we initialise. */
	return A_LOAD(&h->m.mutex.__data.__kind, RLX) == reference_kind();
#else
	(void)h;
	return 1;
#endif
}

/* Check a mapped header in the documented order. st_size is the file's size. */
static int validate(const ipcarc_header *h, uint64_t st_size, const ipcarc_spec *sp, int *field) {
#define FAIL(code, f)          \
	do {                       \
		if (field) *field = f; \
		return code;           \
	} while (0)
	if (st_size < IPCARC_HEADER_SIZE) FAIL(EBADMSG, IPCARC_FIELD_SIZE);
	if (h->magic != IPCARC_MAGIC) FAIL(EBADMSG, IPCARC_FIELD_MAGIC);
	if (h->version != IPCARC_LAYOUT_VERSION) FAIL(EPROTONOSUPPORT, IPCARC_FIELD_VERSION);
	if (h->abi != ipcarc_abi()) FAIL(EPROTONOSUPPORT, IPCARC_FIELD_ABI);
	uint32_t st = A_LOAD(&h->state, ACQ);
	if (st != IPCARC_STATE_READY && st != IPCARC_STATE_DEAD) FAIL(EBADMSG, IPCARC_FIELD_STATE);
	uint32_t al = h->value_align;
	if (h->holders_off != IPCARC_HEADER_SIZE || h->max_holders == 0 ||
	    h->max_holders > IPCARC_MAX_HOLDERS || !is_pow2(al) || al > IPCARC_MAX_ALIGN ||
	    h->value_size > ((uint64_t)1 << 46) || h->value_off != value_offset(h->max_holders, al) ||
	    h->total_size != h->value_off + h->value_size || h->total_size != st_size)
		FAIL(EBADMSG, IPCARC_FIELD_LAYOUT);
	if (sp) {
		uint32_t want_al = sp->value_align ? sp->value_align : 1;
		if (h->value_size != sp->value_size) FAIL(EPROTOTYPE, IPCARC_FIELD_VALUE_SIZE);
		if (al != want_al) FAIL(EPROTOTYPE, IPCARC_FIELD_VALUE_ALIGN);
		if (h->type_tag != sp->type_tag) FAIL(EPROTOTYPE, IPCARC_FIELD_TYPE_TAG);
	}
	int64_t rc = A_LOAD(&h->refcount, RLX);
	if (rc < 0) FAIL(EBADMSG, IPCARC_FIELD_REFCOUNT);
	if (!ipcarc_mutex_kind_ok(h)) FAIL(EBADMSG, IPCARC_FIELD_MUTEX);
	return 0;
#undef FAIL
}

/* Counts checked under the lock: every used slot sane, refcount = sum. */
static int counts_check(ipcarc_seg *s, int *field) {
	ipcarc_holder *ht = holders(s);
	int64_t sum = 0;
	for (uint32_t i = 0; i < s->hdr->max_holders; i++) {
		if (ht[i].state == IPCARC_SLOT_FREE) continue;
		if (ht[i].state != IPCARC_SLOT_USED || ht[i].handles == 0 || ht[i].handles > (1u << 30)) {
			if (field) *field = IPCARC_FIELD_HOLDERS;
			return EBADMSG;
		}
		sum += ht[i].handles;
	}
	if (A_LOAD(&s->hdr->refcount, RLX) != sum) {
		if (field) *field = IPCARC_FIELD_REFCOUNT;
		return EBADMSG;
	}
	return 0;
}

/* ---- the mutex ------------------------------------------------------------- */

static void wake_all(ipcarc_seg *s) {
	futex(&s->hdr->seq, FUTEX_WAKE, INT_MAX, NULL);
}

/* The mutex came back EOWNERDEAD: put the segment right before anyone uses it.
 * - bookkeeping set: the dead owner was changing counts; the slot table is the
 *   truth (each slot is written before the refcount), so recount from it.
 * - seq odd: the dead owner was inside a user critical section; the value may be
 *   half written: poison it, and make seq even so Load stops spinning and falls
 *   through to this lock.
 * Then the mutex is marked consistent: it is never left unrecoverable. */
static void recover(ipcarc_seg *s) {
	ipcarc_header *h = s->hdr;
	if (h->bookkeeping) {
		ipcarc_holder *ht = holders(s);
		int64_t sum = 0;
		for (uint32_t i = 0; i < h->max_holders; i++)
			if (ht[i].state == IPCARC_SLOT_USED) sum += ht[i].handles;
		A_STORE(&h->refcount, sum, RLX);
		h->bookkeeping = 0;
	}
	uint32_t seq = A_LOAD(&h->seq, RLX);
	if (seq & 1) {
		__atomic_or_fetch(&h->flags, IPCARC_FLAG_POISONED | IPCARC_FLAG_OWNER_DEAD_UNSEEN, SEQ);
		A_STORE(&h->seq, seq + 1, SEQ);
		if (A_LOAD(&h->waiters, SEQ)) wake_all(s);
	}
	pthread_mutex_consistent(mtx(s));
}

/* After the pthread lock succeeded (rc 0 or EOWNERDEAD): recover if needed and
 * enter the user critical section (seq odd). */
static inline int enter(ipcarc_seg *s, int rc) {
	if (__builtin_expect(rc != 0, 0)) {
		if (rc != EOWNERDEAD) return rc;
		recover(s);
	}
	ipcarc_header *h = s->hdr;
	uint32_t seq = A_LOAD(&h->seq, RLX);
	A_STORE(&h->seq, seq + 1, RLX);
	/* The odd seq must be visible before any store to the value (seqlock writer). */
	__atomic_thread_fence(REL);
	FAULT("lock");
	if (__builtin_expect(A_LOAD(&h->flags, RLX) & IPCARC_FLAG_OWNER_DEAD_UNSEEN, 0)) {
		__atomic_and_fetch(&h->flags, ~IPCARC_FLAG_OWNER_DEAD_UNSEEN, SEQ);
		return EOWNERDEAD;
	}
	return 0;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* How long a locker spins before it sleeps in the kernel. A critical section
 * is usually shorter than a futex wait and wake; between processes, sleeping
 * at once turns nearly every contended acquisition into a hand-off through
 * the kernel. Bounded, so a holder that is descheduled costs little. */
#define LOCK_SPINS 200

static int __attribute__((noinline)) lock_contended(ipcarc_seg *s) {
	for (int i = 0; i < LOCK_SPINS; i++) {
		cpu_relax();
		if ((mutex_word(s) & FUTEX_TID_MASK_) == 0) {
			int rc = pthread_mutex_trylock(mtx(s));
			if (rc != EBUSY) return rc;
		}
	}
	return pthread_mutex_lock(mtx(s));
}

int ipcarc_lock(ipcarc_seg *s) {
	int rc = pthread_mutex_trylock(mtx(s));
	if (__builtin_expect(rc == EBUSY, 0)) rc = lock_contended(s);
	return enter(s, rc);
}

int ipcarc_trylock(ipcarc_seg *s) { return enter(s, pthread_mutex_trylock(mtx(s))); }

int ipcarc_timedlock(ipcarc_seg *s, int64_t timeout_ns) {
	struct timespec ts = abs_after(timeout_ns);
	return enter(s, pthread_mutex_clocklock(mtx(s), CLOCK_MONOTONIC, &ts));
}

int ipcarc_unlock(ipcarc_seg *s) {
	/* Check ownership before touching seq: an unlock from the wrong thread must
	 * change nothing. */
	if ((mutex_word(s) & FUTEX_TID_MASK_) != (uint32_t)my_tid()) return EPERM;
	FAULT("unlock");
	ipcarc_header *h = s->hdr;
	uint32_t seq = A_LOAD(&h->seq, RLX);
	/* Release: the value's stores are visible before the even seq. */
	A_STORE(&h->seq, seq + 1, REL);
	int rc = pthread_mutex_unlock(mtx(s));
	/* Waiter handshake (Dekker): the waiter increments waiters then reads seq;
	 * we store seq then read waiters. One full barrier on each side makes at
	 * least one of us see the other. On x86 the locked instruction inside
	 * pthread_mutex_unlock is that barrier; elsewhere we need the fence. */
#if !defined(__x86_64__) && !defined(__i386__)
	__atomic_thread_fence(SEQ);
#endif
	if (__builtin_expect(A_LOAD(&h->waiters, RLX) != 0, 0)) wake_all(s);
	return rc;
}

int ipcarc_unlock_unchanged(ipcarc_seg *s) {
	if ((mutex_word(s) & FUTEX_TID_MASK_) != (uint32_t)my_tid()) return EPERM;
	/* Back to the even value the lock started from: nothing was written, so
	 * a reader's snapshot taken across this section is still valid, and
	 * waiters must not see a new version. */
	A_STORE(&s->hdr->seq, A_LOAD(&s->hdr->seq, RLX) - 1, REL);
	return pthread_mutex_unlock(mtx(s));
}

int ipcarc_poisoned(ipcarc_seg *s) { return (A_LOAD(&s->hdr->flags, ACQ) & IPCARC_FLAG_POISONED) != 0; }

void ipcarc_clear_poison(ipcarc_seg *s) {
	__atomic_and_fetch(&s->hdr->flags, ~(IPCARC_FLAG_POISONED | IPCARC_FLAG_OWNER_DEAD_UNSEEN), SEQ);
}

int ipcarc_lock_owner(ipcarc_seg *s) { return (int)(mutex_word(s) & FUTEX_TID_MASK_); }

/* Bookkeeping lock: counts change only under the mutex. Returns 0 (locked by
 * us), or EDEADLK with *nested set when this thread already holds the mutex in a
 * user critical section: the change is then made inside it. */
static int bk_lock(ipcarc_seg *s, int64_t timeout_ns, int *nested) {
	*nested = 0;
	int rc;
	if (timeout_ns < 0) {
		rc = pthread_mutex_lock(mtx(s));
	} else {
		struct timespec ts = abs_after(timeout_ns);
		rc = pthread_mutex_clocklock(mtx(s), CLOCK_MONOTONIC, &ts);
	}
	if (rc == EDEADLK) {
		*nested = 1;
		return 0;
	}
	if (rc == EOWNERDEAD) {
		recover(s);
		rc = 0;
	}
	return rc;
}

static void bk_unlock(ipcarc_seg *s, int nested) {
	if (!nested) pthread_mutex_unlock(mtx(s));
}

/* ---- fast paths and waiting ----------------------------------------------- */

uint32_t ipcarc_version(ipcarc_seg *s) { return A_LOAD(&s->hdr->seq, ACQ) >> 1; }

int ipcarc_store(ipcarc_seg *s, const void *src, size_t n) {
	if (n != s->hdr->value_size) return EINVAL;
	int rc = ipcarc_lock(s);
	if (rc != 0 && rc != EOWNERDEAD) return rc;
	int poisoned = ipcarc_poisoned(s);
	if (!poisoned) {
		memcpy(s->data, src, n);
		FAULT("store");
	}
	/* A refused store changed nothing: no new version, no wake-up. */
	int urc = poisoned ? ipcarc_unlock_unchanged(s) : ipcarc_unlock(s);
	if (urc) return urc;
	return poisoned ? (rc == EOWNERDEAD ? EOWNERDEAD : ENOTRECOVERABLE) : 0;
}

int ipcarc_load(ipcarc_seg *s, void *dst, size_t n) {
	ipcarc_header *h = s->hdr;
	if (n != h->value_size) return EINVAL;
	for (int spin = 0; spin < 1000; spin++) {
		uint32_t a = A_LOAD(&h->seq, ACQ);
		if (!(a & 1)) {
			memcpy(dst, s->data, n);
			/* The poison flag is part of the snapshot: read it inside the window
			 * (it changes only while seq is odd, or just before seq moves). */
			uint32_t flags = A_LOAD(&h->flags, RLX);
			/* The copy's loads complete before the re-read (smp_rmb). */
			__atomic_thread_fence(ACQ);
			if (A_LOAD(&h->seq, RLX) == a) return (flags & IPCARC_FLAG_POISONED) ? ENOTRECOVERABLE : 0;
		}
		if (spin > 100) sched_yield();
	}
	/* A writer stays inside (or died inside): take the lock, which also handles
	 * owner death. A read changes nothing, so seq is left alone. */
	int nested;
	int rc = bk_lock(s, -1, &nested);
	if (rc) return rc;
	int dead = 0;
	if (A_LOAD(&h->flags, RLX) & IPCARC_FLAG_OWNER_DEAD_UNSEEN) {
		__atomic_and_fetch(&h->flags, ~IPCARC_FLAG_OWNER_DEAD_UNSEEN, SEQ);
		dead = 1;
	}
	memcpy(dst, s->data, n);
	bk_unlock(s, nested);
	if (dead) return EOWNERDEAD;
	return ipcarc_poisoned(s) ? ENOTRECOVERABLE : 0;
}

int ipcarc_wait(ipcarc_seg *s, uint32_t since, int64_t timeout_ns, uint32_t *now) {
	ipcarc_header *h = s->hdr;
	/* The slot keeps this attachment's share of the count, so that a reaper
	 * can take back what a holder killed in here left behind. Global first on
	 * the way in and last on the way out: a death in between can only leave
	 * the global count too high (a needless wake-up), never too low (a lost one). */
	uint32_t *mine = s->slot == NO_SLOT ? NULL : &holders(s)[s->slot].waiters;
	__atomic_fetch_add(&h->waiters, 1, SEQ);
	if (mine) __atomic_fetch_add(mine, 1, SEQ);
	uint32_t raw = A_LOAD(&h->seq, SEQ);
	int rc = 0;
	if ((raw >> 1) == since) {
		struct timespec rel, *tp = NULL;
		if (timeout_ns >= 0) {
			rel.tv_sec = timeout_ns / 1000000000LL;
			rel.tv_nsec = timeout_ns % 1000000000LL;
			tp = &rel;
		}
		/* Shared (not FUTEX_PRIVATE) wait: the word lives in a shared mapping. */
		if (futex(&h->seq, FUTEX_WAIT, raw, tp) == -1) {
			if (errno == ETIMEDOUT) rc = ETIMEDOUT;
		}
		raw = A_LOAD(&h->seq, ACQ);
		if (rc == 0 && (raw >> 1) == since) rc = EINTR;
	}
	if (mine) __atomic_fetch_sub(mine, 1, SEQ);
	__atomic_fetch_sub(&h->waiters, 1, SEQ);
	if (now) *now = raw >> 1;
	return rc;
}

void ipcarc_wake_all(ipcarc_seg *s) { wake_all(s); }

/* ---- slots ------------------------------------------------------------------ */

int ipcarc_holder_alive(ipcarc_seg *s, uint32_t slot) {
	if (slot >= s->hdr->max_holders) return -EINVAL;
	if (slot == s->slot) return 1;
	return ofd_locked(s->fd, ipcarc_slot_lock_offset(slot));
}

/* Under the lock: remove the counts of slots whose byte lock is gone. */
static int reap_locked(ipcarc_seg *s) {
	ipcarc_holder *ht = holders(s);
	int reaped = 0;
	for (uint32_t i = 0; i < s->hdr->max_holders; i++) {
		if (i == s->slot || ht[i].state != IPCARC_SLOT_USED) continue;
		if (ofd_locked(s->fd, ipcarc_slot_lock_offset(i)) != 0) continue; /* alive, or unknown */
		s->hdr->bookkeeping = 1;
		uint32_t n = ht[i].handles;
		/* A holder killed inside ipcarc_wait left its share of the waiter
		 * count raised: take it back (the dead cannot change it any more). */
		uint32_t w = A_LOAD(&ht[i].waiters, SEQ);
		if (w) __atomic_fetch_sub(&s->hdr->waiters, w, SEQ);
		A_STORE(&ht[i].waiters, 0, RLX);
		ht[i].handles = 0;
		ht[i].pid = 0;
		ht[i].start_time = 0;
		ht[i].state = IPCARC_SLOT_FREE;
		__atomic_fetch_sub(&s->hdr->refcount, (int64_t)n, SEQ);
		s->hdr->bookkeeping = 0;
		reaped += (int)n;
	}
	return reaped;
}

/* Unlink the name only while it still names the file we have open. */
static void unlink_if_same(ipcarc_seg *s) {
	char path[IPCARC_NAME_MAX + 16];
	snprintf(path, sizeof path, IPCARC_SHM_DIR "/%s", s->name);
	struct stat a, b;
	if (fstat(s->fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		char sp[IPCARC_NAME_MAX + 4];
		shm_path(sp, sizeof sp, s->name);
		shm_unlink(sp);
	}
}

/* Under the lock: mark the segment dead and remove its name. */
static void die_locked(ipcarc_seg *s) {
	A_STORE(&s->hdr->state, IPCARC_STATE_DEAD, REL);
	FAULT("close-unlink");
	unlink_if_same(s);
}

/* Under the lock: take a free slot whose byte we can lock. */
static int claim_locked(ipcarc_seg *s) {
	ipcarc_holder *ht = holders(s);
	for (uint32_t i = 0; i < s->hdr->max_holders; i++) {
		if (ht[i].state != IPCARC_SLOT_FREE) continue;
		/* A slot just freed by a live process may still carry its byte lock for an
		 * instant (it frees the slot, then closes): skip it. */
		if (ofd_lock(s->fd, ipcarc_slot_lock_offset(i), F_WRLCK) != 0) continue;
		s->hdr->bookkeeping = 1;
		ht[i].state = IPCARC_SLOT_USED;
		ht[i].handles = 1;
		ht[i].pid = getpid();
		ht[i].start_time = my_start_time();
		FAULT("open-claim");
		__atomic_fetch_add(&s->hdr->refcount, 1, SEQ);
		s->hdr->bookkeeping = 0;
		s->slot = i;
		s->handles = 1;
		return 0;
	}
	return EUSERS;
}

/* ---- create / open / close --------------------------------------------------- */

static ipcarc_seg *seg_new(const char *name, int fd) {
	ipcarc_seg *s = calloc(1, sizeof *s);
	if (!s) return NULL;
	s->fd = fd;
	s->slot = NO_SLOT;
	snprintf(s->name, sizeof s->name, "%s", name[0] == '/' ? name + 1 : name);
	return s;
}

static void seg_free(ipcarc_seg *s) {
	if (s->hdr) munmap(s->hdr, s->map_size);
	if (s->fd >= 0) close(s->fd); /* drops our byte locks */
	free(s);
}

/* Open the segment file by name (read-write, no slot yet). A directory under
 * the name comes back from glibc as EINVAL: the name is valid, so say EISDIR. */
static int seg_open_name(const char *name, ipcarc_seg **out) {
	char path[IPCARC_NAME_MAX + 4];
	shm_path(path, sizeof path, name);
	int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0) return errno == EINVAL ? EISDIR : errno;
	*out = seg_new(name, fd);
	if (!*out) {
		close(fd);
		return ENOMEM;
	}
	return 0;
}

static int map_seg(ipcarc_seg *s, size_t size) {
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (p == MAP_FAILED) return errno;
	s->hdr = p;
	s->map_size = size;
	return 0;
}

static int64_t spec_timeout(const ipcarc_spec *sp) {
	return sp->open_timeout_ns > 0 ? sp->open_timeout_ns : 1000000000LL;
}

/* Link the finished unnamed file to its name: EEXIST if taken. */
static int publish(int fd, const char *name) {
	char proc[64], path[IPCARC_NAME_MAX + 16];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	snprintf(path, sizeof path, IPCARC_SHM_DIR "/%s", name[0] == '/' ? name + 1 : name);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) return 0;
	return errno;
}

static int create(const char *name, const ipcarc_spec *sp, const void *init, ipcarc_seg **out,
                  int allow_tmp);

int ipcarc_create(const char *name, const ipcarc_spec *sp, const void *init, ipcarc_seg **out) {
	return create(name, sp, init, out, 1);
}

static int create_excl_only(const char *name, const ipcarc_spec *sp, const void *init,
                            ipcarc_seg **out) {
	return create(name, sp, init, out, 0);
}

static int create(const char *name, const ipcarc_spec *sp, const void *init, ipcarc_seg **out,
                  int allow_tmp) {
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	if ((rc = spec_check(sp))) return rc;
	uint32_t al = sp->value_align ? sp->value_align : 1;
	uint32_t mh = sp->max_holders ? sp->max_holders : IPCARC_DEFAULT_HOLDERS;
	uint64_t voff = value_offset(mh, al);
	uint64_t total = voff + sp->value_size;
	char path[IPCARC_NAME_MAX + 4];
	shm_path(path, sizeof path, name);
	mode_t mode = (mode_t)(sp->mode & 07777);

	/* Build the segment unnamed (O_TMPFILE) and give it its name only when it
	 * is READY (linkat fails with EEXIST if the name is taken): no opener can
	 * ever see a half-made segment, and a creator that dies leaves nothing.
	 * Where that is not possible (no O_TMPFILE, no /proc), fall back to
	 * O_CREAT|O_EXCL with the init lock on byte 0 telling openers to wait. */
	int tmp = allow_tmp;
	int fd = tmp ? open(IPCARC_SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, mode) : -1;
	if (fd < 0) {
		tmp = 0;
		fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (fd < 0) return errno;
	}
	ipcarc_seg *s = seg_new(name, fd);
	if (!s) {
		if (!tmp) shm_unlink(path);
		close(fd);
		return ENOMEM;
	}
	/* Nobody else can hold the init lock on a brand-new file. */
	if (!tmp && (rc = ofd_lock(fd, IPCARC_INIT_LOCK_OFFSET, F_WRLCK))) goto fail;
	FAULT("create-excl");
	/* Exact mode: shm_open applied the umask. */
	if (fchmod(fd, mode) == -1 || ftruncate(fd, (off_t)total) == -1) {
		rc = errno;
		goto fail;
	}
	/* tmpfs allocates pages on first touch; a full /dev/shm would then kill us
	 * with SIGBUS in the memcpy below. Reserving them now turns that into
	 * ENOSPC. Filesystems without fallocate keep the old behaviour. */
	if (fallocate(fd, 0, 0, (off_t)total) == -1 && errno != EOPNOTSUPP && errno != ENOSYS) {
		rc = errno;
		goto fail;
	}
	if ((rc = map_seg(s, total))) goto fail;
	ipcarc_header *h = s->hdr;
	h->magic = IPCARC_MAGIC;
	h->version = IPCARC_LAYOUT_VERSION;
	h->abi = ipcarc_abi();
	h->total_size = total;
	h->value_size = sp->value_size;
	h->value_align = al;
	h->max_holders = mh;
	h->type_tag = sp->type_tag;
	h->value_off = voff;
	h->holders_off = IPCARC_HEADER_SIZE;
	h->creator_pid = (uint32_t)getpid();
	h->created_ns = (uint64_t)now_ns(CLOCK_REALTIME);
	FAULT("create-init");

	pthread_mutexattr_t at;
	mutex_attr(&at);
	rc = pthread_mutex_init(mtx(s), &at);
	pthread_mutexattr_destroy(&at);
	if (rc) goto fail;

	s->data = (char *)h + voff;
	if (init && sp->value_size) memcpy(s->data, init, sp->value_size);
	/* Our own slot: nobody else can touch the table before READY. */
	if ((rc = claim_locked(s))) goto fail;
	A_STORE(&h->state, IPCARC_STATE_READY, REL);
	if (tmp) {
		rc = publish(fd, name);
		if (rc == ENOENT || rc == EPERM) {
			/* No /proc to link through: start over the O_EXCL way. */
			seg_free(s);
			return create_excl_only(name, sp, init, out);
		}
		if (rc) goto fail;
	}
	FAULT("create-ready");
	if (!tmp) ofd_lock(fd, IPCARC_INIT_LOCK_OFFSET, F_UNLCK);
	*out = s;
	return 0;
fail:
	unlink_if_same(s);
	seg_free(s);
	return rc;
}

static int young(const struct stat *st) {
	int64_t c = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	return now_ns(CLOCK_REALTIME) - c < EMPTY_GRACE_NS;
}

enum { PROBE_OK = 0, PROBE_WAIT = -1, PROBE_RETRY = -2 };

/* Map and validate an opened file. PROBE_WAIT: a live creator is still
 * initialising. PROBE_RETRY: the segment is dying; look the name up again. */
static int probe(ipcarc_seg *s, const ipcarc_spec *sp, int *field) {
	struct stat st;
	if (fstat(s->fd, &st) == -1) return errno;
	if (!S_ISREG(st.st_mode)) {
		if (field) *field = IPCARC_FIELD_FILE;
		return EBADMSG;
	}
	int creating = ofd_locked(s->fd, IPCARC_INIT_LOCK_OFFSET);
	if (creating < 0) return -creating;
	if (creating == 1 || (st.st_size == 0 && young(&st))) return PROBE_WAIT;
	if ((uint64_t)st.st_size < IPCARC_HEADER_SIZE) {
		if (field) *field = IPCARC_FIELD_SIZE;
		return EBADMSG;
	}
	int rc = map_seg(s, (size_t)st.st_size);
	if (rc) {
		if (field) *field = IPCARC_FIELD_FILE;
		return rc;
	}
	rc = validate(s->hdr, (uint64_t)st.st_size, sp, field);
	if (rc) return rc;
	if (A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_DEAD) return PROBE_RETRY;
	s->data = (char *)s->hdr + s->hdr->value_off;
	return 0;
}

/* Attach: reap, refuse to revive a dead count, claim a slot. Under the lock. */
static int attach(ipcarc_seg *s, int64_t timeout_ns, int *field) {
	int nested;
	int rc = bk_lock(s, timeout_ns, &nested);
	if (rc) return rc;
	if (nested) { /* this thread holds the lock through another attachment: fine */
	}
	/* Check before changing anything: reaping a corrupt table would write
	 * nonsense into it. */
	if ((rc = counts_check(s, field)) != 0) {
		bk_unlock(s, nested);
		return rc;
	}
	reap_locked(s);
	if (A_LOAD(&s->hdr->state, ACQ) != IPCARC_STATE_READY || A_LOAD(&s->hdr->refcount, RLX) == 0) {
		/* Count reached zero (last holder closed or died): the segment is gone;
		 * an open never revives it. */
		if (A_LOAD(&s->hdr->state, RLX) == IPCARC_STATE_READY) die_locked(s);
		bk_unlock(s, nested);
		return PROBE_RETRY;
	}
	rc = claim_locked(s);
	bk_unlock(s, nested);
	return rc;
}

static int open_once(const char *name, const ipcarc_spec *sp, int64_t deadline, ipcarc_seg **out,
                     int *field) {
	int64_t backoff = 100000; /* 100 us, doubling to 10 ms */
	for (;;) {
		ipcarc_seg *s;
		int rc = seg_open_name(name, &s);
		if (rc) return rc;
		rc = probe(s, sp, field);
		if (rc == 0) {
			int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
			rc = attach(s, left > 0 ? left : 0, field);
			if (rc == 0) {
				*out = s;
				return 0;
			}
		}
		if (rc == PROBE_RETRY && s->hdr && A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_DEAD) {
			/* The count reached zero; its closer may have died before
			 * unlinking. Anyone may finish the job, while the name still
			 * names this file. */
			unlink_if_same(s);
		}
		seg_free(s);
		if (rc != PROBE_WAIT && rc != PROBE_RETRY) return rc;
		if (now_ns(CLOCK_MONOTONIC) >= deadline) return rc == PROBE_WAIT ? ETIMEDOUT : ENOENT;
		sleep_ns(backoff);
		if (backoff < 10000000) backoff *= 2;
	}
}

int ipcarc_open(const char *name, const ipcarc_spec *sp, ipcarc_seg **out, int *field) {
	if (field) *field = IPCARC_FIELD_NONE;
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	if ((rc = spec_check(sp))) return rc;
	return open_once(name, sp, now_ns(CLOCK_MONOTONIC) + spec_timeout(sp), out, field);
}

/* A segment whose creator died before READY (or before even sizing the file):
 * take its init lock, which proves no creator is alive, check the name still
 * names it, and remove it. Returns 0 if removed. */
static int take_over_abandoned(const char *name) {
	ipcarc_seg *s;
	int rc = seg_open_name(name, &s);
	if (rc) return rc;
	int fd = s->fd;
	rc = ofd_lock(fd, IPCARC_INIT_LOCK_OFFSET, F_WRLCK);
	if (rc == 0) {
		struct stat st;
		rc = EBADMSG;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			int abandoned = st.st_size == 0 && !young(&st);
			if ((uint64_t)st.st_size >= IPCARC_HEADER_SIZE && map_seg(s, (size_t)st.st_size) == 0)
				abandoned = s->hdr->magic == IPCARC_MAGIC &&
				            A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_INIT;
			if (abandoned) {
				unlink_if_same(s);
				rc = 0;
			}
		}
	}
	seg_free(s);
	return rc;
}

int ipcarc_open_or_create(const char *name, const ipcarc_spec *sp, const void *init,
                          ipcarc_seg **out, int *created, int *field) {
	if (field) *field = IPCARC_FIELD_NONE;
	*created = 0;
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	if ((rc = spec_check(sp))) return rc;
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + spec_timeout(sp);
	for (;;) {
		rc = ipcarc_create(name, sp, init, out);
		if (rc == 0) {
			*created = 1;
			return 0;
		}
		if (rc != EEXIST) return rc;
		rc = open_once(name, sp, deadline, out, field);
		if (rc == 0) return 0;
		int abandoned = rc == EBADMSG && field &&
		                (*field == IPCARC_FIELD_STATE || *field == IPCARC_FIELD_SIZE);
		if (abandoned && take_over_abandoned(name) == 0) {
			*field = IPCARC_FIELD_NONE;
			continue;
		}
		if (rc != ENOENT) return rc;
		if (now_ns(CLOCK_MONOTONIC) >= deadline) return ETIMEDOUT;
	}
}

int ipcarc_clone(ipcarc_seg *s) {
	int nested;
	int rc = bk_lock(s, -1, &nested);
	if (rc) return rc;
	ipcarc_holder *h = &holders(s)[s->slot];
	s->hdr->bookkeeping = 1;
	h->handles++;
	FAULT("clone");
	__atomic_fetch_add(&s->hdr->refcount, 1, SEQ);
	s->hdr->bookkeeping = 0;
	s->handles++;
	bk_unlock(s, nested);
	return 0;
}

int ipcarc_close(ipcarc_seg *s) {
	int nested;
	int rc = bk_lock(s, -1, &nested);
	if (rc) return rc;
	if (nested && s->handles == 1) {
		/* Unmapping the mutex this thread holds would leave a dangling entry in
		 * its robust list. */
		return EDEADLK;
	}
	/* Reap first: holders killed without closing must not keep the count above
	 * zero, or the last live Close would leave the segment behind. */
	reap_locked(s);
	ipcarc_holder *h = &holders(s)[s->slot];
	s->hdr->bookkeeping = 1;
	h->handles--;
	FAULT("close");
	int64_t left = __atomic_sub_fetch(&s->hdr->refcount, 1, SEQ);
	s->handles--;
	int last_local = s->handles == 0;
	if (last_local) {
		h->pid = 0;
		h->start_time = 0;
		h->state = IPCARC_SLOT_FREE;
	}
	s->hdr->bookkeeping = 0;
	if (left == 0) die_locked(s);
	bk_unlock(s, nested);
	if (last_local) seg_free(s);
	return 0;
}

void *ipcarc_data(ipcarc_seg *s) { return s->data; }
ipcarc_header *ipcarc_hdr(ipcarc_seg *s) { return s->hdr; }
int64_t ipcarc_refcount(ipcarc_seg *s) { return A_LOAD(&s->hdr->refcount, ACQ); }
int ipcarc_slot(ipcarc_seg *s) { return s->slot == NO_SLOT ? -1 : (int)s->slot; }
int ipcarc_fd(ipcarc_seg *s) { return s->fd; }

int ipcarc_reap(ipcarc_seg *s, int *reaped) {
	int nested;
	int rc = bk_lock(s, -1, &nested);
	if (rc) return rc;
	int n = reap_locked(s);
	bk_unlock(s, nested);
	if (reaped) *reaped = n;
	return 0;
}

/* ---- gc and remove by name ------------------------------------------------------ */

static int live_holders_locked(ipcarc_seg *s) {
	int live = 0;
	ipcarc_holder *ht = holders(s);
	for (uint32_t i = 0; i < s->hdr->max_holders; i++)
		if (ht[i].state == IPCARC_SLOT_USED && ofd_locked(s->fd, ipcarc_slot_lock_offset(i)) == 1) live++;
	return live;
}

int ipcarc_gc(const char *name, int64_t lock_timeout_ns, int dry_run, ipcarc_gc_result *res) {
	memset(res, 0, sizeof *res);
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	ipcarc_seg *s;
	if ((rc = seg_open_name(name, &s))) return rc;
	int fd = s->fd;
	rc = probe(s, NULL, &res->field);
	if (rc == PROBE_WAIT) {
		res->busy = 1;
		rc = 0;
		goto out;
	}
	if (rc == EBADMSG && res->field == IPCARC_FIELD_STATE && s->hdr &&
	    A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_INIT) {
		res->half_made = 1;
		seg_free(s);
		s = NULL;
		if (!dry_run) {
			rc = take_over_abandoned(name);
			res->unlinked = rc == 0;
		} else {
			rc = 0;
		}
		return rc;
	}
	if (rc == PROBE_RETRY) { /* dead, not yet unlinked: finish the job */
		if (!dry_run) unlink_if_same(s);
		res->unlinked = 1;
		rc = 0;
		goto out;
	}
	if (rc) goto out;
	int nested;
	rc = bk_lock(s, lock_timeout_ns, &nested);
	if (rc == ETIMEDOUT) {
		res->busy = 1;
		rc = 0;
		goto out;
	}
	if (rc) goto out;
	/* A table that open would refuse is reported, never reaped or unlinked. */
	if ((rc = counts_check(s, &res->field)) != 0) {
		bk_unlock(s, nested);
		goto out;
	}
	if (dry_run) {
		ipcarc_holder *ht = holders(s);
		for (uint32_t i = 0; i < s->hdr->max_holders; i++)
			if (ht[i].state == IPCARC_SLOT_USED && ofd_locked(fd, ipcarc_slot_lock_offset(i)) == 0)
				res->reaped_handles += (int)ht[i].handles;
		res->live_holders = live_holders_locked(s);
		res->unlinked = res->live_holders == 0;
	} else {
		res->reaped_handles = reap_locked(s);
		res->live_holders = live_holders_locked(s);
		if (A_LOAD(&s->hdr->refcount, RLX) == 0) {
			die_locked(s);
			res->unlinked = 1;
		}
	}
	bk_unlock(s, nested);
out:
	if (s) seg_free(s);
	return rc;
}

int ipcarc_remove(const char *name, int force) {
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	char path[IPCARC_NAME_MAX + 4];
	shm_path(path, sizeof path, name);
	if (!force) {
		ipcarc_seg *s;
		if ((rc = seg_open_name(name, &s))) return rc;
		int field = 0;
		rc = probe(s, NULL, &field);
		int live = 0;
		if (rc == 0) live = live_holders_locked(s); /* informational read without the lock */
		seg_free(s);
		if (rc == PROBE_WAIT) return EINPROGRESS; /* a live creator is still at work */
		if (rc != 0 && rc != PROBE_RETRY) return rc;
		if (live) return EBUSY;
	}
	if (shm_unlink(path) == -1) return errno;
	return 0;
}

/* ---- Go bridge entry points -------------------------------------------------------- */

int ipcarc_lock_h(uintptr_t h) { return ipcarc_lock((ipcarc_seg *)h); }
int ipcarc_trylock_h(uintptr_t h) { return ipcarc_trylock((ipcarc_seg *)h); }
int ipcarc_timedlock_h(uintptr_t h, int64_t ns) { return ipcarc_timedlock((ipcarc_seg *)h, ns); }
int ipcarc_unlock_h(uintptr_t h) { return ipcarc_unlock((ipcarc_seg *)h); }
int ipcarc_store_h(uintptr_t h, uintptr_t src, size_t n) {
	return ipcarc_store((ipcarc_seg *)h, (const void *)src, n);
}
int ipcarc_load_h(uintptr_t h, uintptr_t dst, size_t n) {
	return ipcarc_load((ipcarc_seg *)h, (void *)dst, n);
}
int ipcarc_noop_h(uintptr_t h) {
	(void)h;
	return 0;
}
