/*
 * valuelock.c - the value's lock and everything that reads or writes the
 * value: user critical sections, owner-death recovery and poison, the seqlock
 * (lock-free Load), Store, and waiting for a change (the futex on seq).
 * The holder table never takes this lock (table.c has its own).
 */
#define _GNU_SOURCE
#include "cshm_internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The calling thread's kernel tid, cached: gettid is a system call and the
 * ownership check in unlock is on the hot path. A forked child's only thread
 * has a new tid: the atfork handler forgets the cached one. */
static __thread pid_t tls_tid;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;
static void reset_tid_after_fork(void) { tls_tid = 0; }
static void register_tid_atfork(void) { pthread_atfork(NULL, NULL, reset_tid_after_fork); }
static inline pid_t my_tid(void) {
	if (__builtin_expect(tls_tid == 0, 0)) {
		pthread_once(&tid_once, register_tid_atfork);
		tls_tid = (pid_t)syscall(SYS_gettid);
	}
	return tls_tid;
}

static inline uint32_t mutex_word(ipcarc_seg *s) { return mutex_word_of(value_mtx(s)); }

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts, uint32_t bits) {
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, bits);
}

void ipcarc_mutex_attr(pthread_mutexattr_t *at) {
	pthread_mutexattr_init(at);
	pthread_mutexattr_setpshared(at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(at, PTHREAD_MUTEX_ROBUST);
	/* Error-checking: a relock by the owner thread is EDEADLK, never a hang. */
	pthread_mutexattr_settype(at, PTHREAD_MUTEX_ERRORCHECK);
}

static void wake_all(ipcarc_seg *s) {
	ctr_add_atomic(&s->ctr->wakeups, 1);
	futex(&s->hdr->seq, FUTEX_WAKE, INT_MAX, NULL, 0);
}

/* The value's mutex came back EOWNERDEAD. If seq is odd, the dead owner was
 * inside a user critical section and the value may be half written: poison
 * it, and make seq even so Load stops spinning and falls through to this
 * lock. Then the mutex is marked consistent: it is never left unrecoverable. */
static void recover(ipcarc_seg *s) {
	ipcarc_header *h = s->hdr;
	ctr_inc(&s->ctr->owner_deaths);
	uint32_t seq = A_LOAD(&h->seq, RLX);
	if (seq & 1) {
		ctr_inc(&s->ctr->poisoned);
		__atomic_or_fetch(&h->flags, IPCARC_FLAG_POISONED | IPCARC_FLAG_OWNER_DEAD_UNSEEN, SEQ);
		/* Every change of seq is a read-modify-write: ipcarc_notify adds 2
		 * from outside the lock at any time (LAYOUT.md, "Notify"). */
		__atomic_fetch_add(&h->seq, 1, SEQ);
		if (A_LOAD(&h->waiters, SEQ)) wake_all(s);
	}
	pthread_mutex_consistent(value_mtx(s));
}

/* Under the value lock: one acquisition more; one in IPCARC_HOLD_SAMPLE is
 * timed until its unlock. */
static inline void count_acquire(ipcarc_seg *s) {
	ipcarc_counters *c = s->ctr;
	uint64_t n = A_LOAD(&c->acquisitions, RLX) + 1;
	A_STORE(&c->acquisitions, n, RLX);
	if (__builtin_expect((n & (IPCARC_HOLD_SAMPLE - 1)) == 0, 0)) s->hold_start = ipcarc_now_ns(CLOCK_MONOTONIC);
}

/* Under the value lock, before releasing it: end a timed hold. */
static inline void count_release(ipcarc_seg *s) {
	if (__builtin_expect(s->hold_start != 0, 0)) {
		ipcarc_counters *c = s->ctr;
		int64_t d = ipcarc_now_ns(CLOCK_MONOTONIC) - s->hold_start;
		s->hold_start = 0;
		A_STORE(&c->hold_ns, A_LOAD(&c->hold_ns, RLX) + (uint64_t)(d > 0 ? d : 0), RLX);
		ctr_inc(&c->hold_samples);
	}
}

static void count_wait_ns(ipcarc_seg *s, uint64_t w, int slept);
static inline void copy_value(ipcarc_seg *s, void *dst, const void *src, size_t n);

/* Under the value lock: a contended acquisition that waited since t0. */
static void __attribute__((noinline)) count_wait(ipcarc_seg *s, int64_t t0, int slept) {
	int64_t d = ipcarc_now_ns(CLOCK_MONOTONIC) - t0;
	count_wait_ns(s, (uint64_t)(d > 0 ? d : 0), slept);
}

static void count_wait_ns(ipcarc_seg *s, uint64_t w, int slept) {
	ipcarc_counters *c = s->ctr;
	ctr_inc(&c->contended);
	if (slept) ctr_inc(&c->slept);
	A_STORE(&c->wait_ns, A_LOAD(&c->wait_ns, RLX) + w, RLX);
	if (w > A_LOAD(&c->wait_max_ns, RLX)) A_STORE(&c->wait_max_ns, w, RLX);
}

/* The value locks this thread holds, and their trust class. glibc keeps one
 * robust list per thread and links every robust mutex the thread holds into
 * it, through pointers inside each segment: whoever may write the segment
 * locked last could break the kernel's walk of that list when the thread
 * dies, and leave an earlier-locked segment's lock owned by a dead thread
 * for ever. So a thread holds the value locks of one trust class (one set of
 * writers) at a time: a lock of another class while holding one is refused
 * with EXDEV before anything is locked. */
static __thread uint32_t held_n;
static __thread live_class held_cls;

static inline int class_refused(ipcarc_seg *s) {
	return held_n != 0 && memcmp(&held_cls, &s->cls, sizeof held_cls) != 0;
}
static inline void held_add(ipcarc_seg *s) {
	if (held_n++ == 0) held_cls = s->cls;
}
static inline void held_sub(void) {
	if (held_n) held_n--;
}

/* After the pthread lock succeeded (rc 0 or EOWNERDEAD): recover if needed and
 * enter the user critical section (seq odd). */
static inline int enter(ipcarc_seg *s, int rc) {
	if (__builtin_expect(rc != 0, 0)) {
		if (rc != EOWNERDEAD) return rc;
		recover(s);
	}
	held_add(s);
	count_acquire(s);
	A_STORE(&s->lock_tid, (uint32_t)my_tid(), RLX);
	ipcarc_header *h = s->hdr;
	/* Odd (entered) in one read-modify-write: a Notify (+2, lock-free) may
	 * land at any moment, and a plain load-then-store would undo it, taking
	 * the version backwards and letting a reader's re-check pass (ABA). */
	uint32_t seq = __atomic_fetch_add(&h->seq, 1, SEQ);
	if (__builtin_expect(seq & 1, 0)) {
		/* Odd with nobody inside: a peer wrote the word (no owner died, or
		 * recovery would have made it even). A reader may have accepted a
		 * torn copy across the flipped parity: poison the value, so that
		 * no reader trusts it again before a holder checks it, and make
		 * the parity right again. */
		__atomic_or_fetch(&h->flags, IPCARC_FLAG_POISONED, SEQ);
		ctr_inc(&s->ctr->poisoned);
		/* Our +1 made it even: one more makes it odd, as entered. */
		__atomic_fetch_add(&h->seq, 1, SEQ);
	}
	/* The odd seq must be visible before any store to the value (seqlock
	 * writer); the sequentially consistent RMW already orders it, the fence
	 * says so where a weaker RMW would be used. */
	__atomic_thread_fence(REL);
	FAULT("lock");
	if (__builtin_expect(s->shape == IPCARC_SHAPE_SLICE, 0) && A_LOAD(&h->slice_len, RLX) > s->capacity) {
		/* A length no holder could have written (a peer scribbled on it):
		 * the contents cannot be trusted either. Poison, while seq is odd,
		 * so that the locker's caller repairs it (Recover). */
		if (!(A_LOAD(&h->flags, RLX) & IPCARC_FLAG_POISONED)) {
			__atomic_or_fetch(&h->flags, IPCARC_FLAG_POISONED, SEQ);
			ctr_inc(&s->ctr->poisoned);
		}
	}
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

/* The cost of one spin of lock_contended, in ns (x 1024), measured once per
 * process. A wait that ends while spinning is counted as spins x this cost:
 * two clock reads per contended acquisition (one inside the critical
 * section) cost a third of a contended hand-off between processes. A wait
 * that goes to sleep is timed with the clock. */
static int64_t spin_ns_x1024;
static void __attribute__((noinline)) calibrate_spin(ipcarc_seg *s) {
	volatile uint32_t sink = 0;
	int64_t t0 = ipcarc_now_ns(CLOCK_MONOTONIC);
	for (int i = 0; i < 2000; i++) {
		cpu_relax();
		sink += mutex_word(s);
	}
	int64_t d = ipcarc_now_ns(CLOCK_MONOTONIC) - t0;
	(void)sink;
	int64_t v = d * 1024 / 2000;
	A_STORE(&spin_ns_x1024, v > 0 ? v : 1, RLX);
}

static int __attribute__((noinline)) lock_contended(ipcarc_seg *s) {
	if (__builtin_expect(A_LOAD(&spin_ns_x1024, RLX) == 0, 0)) calibrate_spin(s);
	int slept = 0, rc = EBUSY, i;
	for (i = 0; i < LOCK_SPINS && rc == EBUSY; i++) {
		cpu_relax();
		if ((mutex_word(s) & FUTEX_TID_MASK_) == 0) rc = pthread_mutex_trylock(value_mtx(s));
	}
	uint64_t spun = (uint64_t)i * (uint64_t)A_LOAD(&spin_ns_x1024, RLX) / 1024;
	int64_t t0 = 0;
	if (rc == EBUSY) {
		slept = 1;
		t0 = ipcarc_now_ns(CLOCK_MONOTONIC);
		rc = pthread_mutex_lock(value_mtx(s));
	}
	rc = enter(s, rc);
	if (rc == 0 || rc == EOWNERDEAD) {
		if (slept) {
			int64_t d = ipcarc_now_ns(CLOCK_MONOTONIC) - t0;
			spun += (uint64_t)(d > 0 ? d : 0);
		}
		count_wait_ns(s, spun, slept);
	}
	return rc;
}

/* Each call on the value comes three ways: a static inline *_impl that does
 * the work; the public ipcarc_* that refuses a handle inherited through fork
 * (ECHILD, before touching anything shared: a child's lock would take its
 * parent's mutex, or wait for ever on one its parent held across the fork);
 * and the Go bridge's *_h, which skips that check. Go cannot fork without
 * exec, so it never holds an inherited handle, and its Lock+Unlock hot path
 * keeps the cost it had. */
static inline int lock_impl(ipcarc_seg *s) {
	if (!mutex_kind_ok(value_mtx(s))) return EBADMSG;
	if (__builtin_expect(class_refused(s), 0)) return EXDEV;
	int rc = pthread_mutex_trylock(value_mtx(s));
	if (__builtin_expect(rc == EBUSY, 0)) return lock_contended(s);
	return enter(s, rc);
}

static inline int trylock_impl(ipcarc_seg *s) {
	if (!mutex_kind_ok(value_mtx(s))) return EBADMSG;
	if (__builtin_expect(class_refused(s), 0)) return EXDEV;
	int rc = pthread_mutex_trylock(value_mtx(s));
	/* glibc 2.36 says EDEADLK to the owner for this kind; an older or other libc
	 * may say EBUSY: say what lock says either way. */
	if (rc == EBUSY && ipcarc_value_lock_mine(s)) return EDEADLK;
	return enter(s, rc);
}

static inline int timedlock_since_impl(ipcarc_seg *s, int64_t timeout_ns, int64_t since_ns) {
	if (!mutex_kind_ok(value_mtx(s))) return EBADMSG;
	if (__builtin_expect(class_refused(s), 0)) return EXDEV;
	int rc = pthread_mutex_trylock(value_mtx(s));
	if (rc != EBUSY) {
		rc = enter(s, rc);
		/* A caller that already waited through earlier slices: its
		 * acquisition is a contended one all the same. */
		if ((rc == 0 || rc == EOWNERDEAD) && since_ns > 0) count_wait(s, since_ns, 1);
		return rc;
	}
	int64_t t0 = since_ns > 0 ? since_ns : ipcarc_now_ns(CLOCK_MONOTONIC);
	struct timespec ts = ipcarc_abs_after(timeout_ns);
	rc = enter(s, pthread_mutex_clocklock(value_mtx(s), CLOCK_MONOTONIC, &ts));
	if (rc == 0 || rc == EOWNERDEAD) count_wait(s, t0, 1);
	return rc;
}

int ipcarc_lock(ipcarc_seg *s) { return live_forked(s) ? ECHILD : lock_impl(s); }
int ipcarc_trylock(ipcarc_seg *s) { return live_forked(s) ? ECHILD : trylock_impl(s); }
int ipcarc_timedlock_since(ipcarc_seg *s, int64_t timeout_ns, int64_t since_ns) {
	return live_forked(s) ? ECHILD : timedlock_since_impl(s, timeout_ns, since_ns);
}
int ipcarc_timedlock(ipcarc_seg *s, int64_t timeout_ns) {
	return live_forked(s) ? ECHILD : timedlock_since_impl(s, timeout_ns, 0);
}

int64_t ipcarc_monotonic_ns(void) { return ipcarc_now_ns(CLOCK_MONOTONIC); }

static inline int unlock_impl(ipcarc_seg *s) {
	/* Check ownership before touching seq: an unlock from the wrong thread must
	 * change nothing. */
	if ((mutex_word(s) & FUTEX_TID_MASK_) != (uint32_t)my_tid()) return EPERM;
	if (!mutex_kind_ok(value_mtx(s))) return EBADMSG;
	FAULT("unlock");
	count_release(s);
	A_STORE(&s->lock_tid, 0, RLX);
	held_sub();
	ipcarc_header *h = s->hdr;
	/* Release: the value's stores are visible before the even seq. A plain
	 * load and store, not a read-modify-write (a locked instruction costs
	 * ~5 ns here): seq is odd all through this section, so a Notify that lands
	 * between the two (odd o -> o+2) is overwritten by o+1, which has the
	 * same version ((o+2)>>1 == (o+1)>>1); this unlock then wakes every waiter
	 * itself. The version never goes back, no reader accepts an odd value,
	 * and only enter needs the RMW (its load-then-store would let a Notify's
	 * even e+2 reappear after the section: the ABA a reader's re-check misses). */
	uint32_t seq = A_LOAD(&h->seq, RLX);
	A_STORE(&h->seq, seq + 1, REL);
	int rc = pthread_mutex_unlock(value_mtx(s));
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

static inline int unlock_unchanged_impl(ipcarc_seg *s) {
	if ((mutex_word(s) & FUTEX_TID_MASK_) != (uint32_t)my_tid()) return EPERM;
	if (!mutex_kind_ok(value_mtx(s))) return EBADMSG;
	count_release(s);
	A_STORE(&s->lock_tid, 0, RLX);
	held_sub();
	/* Back to the even value the lock started from: nothing was written, so
	 * a reader's snapshot taken across this section is still valid, and
	 * waiters must not see a new version. */
	__atomic_fetch_sub(&s->hdr->seq, 1, REL); /* RMW: keeps a concurrent Notify's +2 */
	return pthread_mutex_unlock(value_mtx(s));
}

int ipcarc_unlock(ipcarc_seg *s) { return live_forked(s) ? ECHILD : unlock_impl(s); }
int ipcarc_unlock_unchanged(ipcarc_seg *s) { return live_forked(s) ? ECHILD : unlock_unchanged_impl(s); }

/* 0 on a handle inherited through fork: the child has no attachment to read. */
int ipcarc_poisoned(ipcarc_seg *s) { return live_forked(s) ? 0 : poisoned_impl(s); }

int ipcarc_clear_poison(ipcarc_seg *s) {
	if (live_forked(s)) return ECHILD;
	/* Only the thread that holds the lock may clear: readers rely on the flag
	 * changing only while seq is odd, which only the holder can make it. */
	if ((mutex_word(s) & FUTEX_TID_MASK_) != (uint32_t)my_tid()) return EPERM;
	if (!mutex_kind_ok(value_mtx(s))) return EBADMSG;
	uint32_t old = __atomic_fetch_and(&s->hdr->flags, ~(IPCARC_FLAG_POISONED | IPCARC_FLAG_OWNER_DEAD_UNSEEN), SEQ);
	if (old & IPCARC_FLAG_POISONED) ctr_add_atomic(&s->ctr->poison_cleared, 1);
	return 0;
}

int ipcarc_lock_owner(ipcarc_seg *s) { return live_forked(s) ? 0 : (int)(mutex_word(s) & FUTEX_TID_MASK_); }

/* The value's lock for a read (Load's fallback): recovers a dead owner like a
 * user lock, but leaves seq alone. *nested is set when this thread already
 * holds it in a user critical section: the read then happens inside it. */
int value_read_lock(ipcarc_seg *s, int64_t timeout_ns, int *nested) {
	*nested = 0;
	if (!mutex_kind_ok(value_mtx(s))) return EBADMSG;
	int rc;
	if (timeout_ns < 0) {
		rc = pthread_mutex_lock(value_mtx(s));
	} else {
		struct timespec ts = ipcarc_abs_after(timeout_ns);
		rc = pthread_mutex_clocklock(value_mtx(s), CLOCK_MONOTONIC, &ts);
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

/* ---- fast paths and waiting ----------------------------------------------- */

uint32_t ipcarc_version(ipcarc_seg *s) { return live_forked(s) ? 0 : A_LOAD(&s->hdr->seq, ACQ) >> 1; }

static inline int store_impl(ipcarc_seg *s, const void *src, size_t n) {
	if (n != s->value_size || s->shape != IPCARC_SHAPE_VALUE) return EINVAL;
	int rc = lock_impl(s);
	if (rc != 0 && rc != EOWNERDEAD) return rc;
	int poisoned = poisoned_impl(s);
	if (!poisoned) {
		copy_value(s, s->data, src, n);
		FAULT("store");
		ctr_inc(&s->ctr->stores);
	}
	/* A store never repairs, so it does not take the news of the death
	 * either: put it back for the next lock whose caller can repair. */
	if (rc == EOWNERDEAD) __atomic_or_fetch(&s->hdr->flags, IPCARC_FLAG_OWNER_DEAD_UNSEEN, SEQ);
	/* A refused store changed nothing: no new version, no wake-up. */
	int urc = poisoned ? unlock_unchanged_impl(s) : unlock_impl(s);
	if (urc) return urc;
	return poisoned ? ENOTRECOVERABLE : 0;
}

int ipcarc_store(ipcarc_seg *s, const void *src, size_t n) {
	return live_forked(s) ? ECHILD : store_impl(s, src, n);
}

static inline int load_locked_impl(ipcarc_seg *s, void *dst, size_t n, int64_t timeout_ns) {
	if (n != s->value_size || s->shape != IPCARC_SHAPE_VALUE) return EINVAL;
	int nested;
	int rc = value_read_lock(s, timeout_ns, &nested);
	if (rc) return rc;
	ctr_add_atomic(&s->ctr->load_fallbacks, 1);
	FAULT("load-locked");
	/* A read never takes the news of an owner's death (the OWNER_DEAD_UNSEEN
	 * flag): it is left for the next lock that may write, whose caller can
	 * repair. The reader sees the poison. */
	copy_value(s, dst, s->data, n);
	int poisoned = poisoned_impl(s);
	if (!nested) pthread_mutex_unlock(value_mtx(s));
	return poisoned ? ENOTRECOVERABLE : 0;
}

int ipcarc_load_locked(ipcarc_seg *s, void *dst, size_t n, int64_t timeout_ns) {
	return live_forked(s) ? ECHILD : load_locked_impl(s, dst, n, timeout_ns);
}

int ipcarc_load(ipcarc_seg *s, void *dst, size_t n) {
	if (live_forked(s)) return ECHILD;
	ipcarc_header *h = s->hdr;
	if (n != s->value_size || s->shape != IPCARC_SHAPE_VALUE) return EINVAL;
	for (int spin = 0; spin < 1000; spin++) {
		uint32_t a = A_LOAD(&h->seq, ACQ);
		if (!(a & 1)) {
			copy_value(s, dst, s->data, n);
			/* The poison flag is part of the snapshot: read it inside the window
			 * (it changes only while seq is odd, or just before seq moves). */
			uint32_t flags = A_LOAD(&h->flags, RLX);
			/* The copy's loads complete before the re-read (smp_rmb). */
			__atomic_thread_fence(ACQ);
			if (A_LOAD(&h->seq, RLX) == a) {
				if (spin) ctr_add_atomic(&s->ctr->load_retries, 1);
				return (flags & IPCARC_FLAG_POISONED) ? ENOTRECOVERABLE : 0;
			}
		}
		if (spin > 100) sched_yield();
	}
	/* A writer stays inside (or died inside): take the lock, which also handles
	 * owner death. A read changes nothing, so seq is left alone. */
	ctr_add_atomic(&s->ctr->load_retries, 1);
	return load_locked_impl(s, dst, n, -1);
}

static int wait_impl(ipcarc_seg *s, uint32_t since, int64_t timeout_ns, uint32_t bits, uint32_t *now) {
	if (live_forked(s)) return ECHILD;
	/* Waiting for a write while holding the lock that every writer needs. */
	if (ipcarc_value_lock_mine(s)) return EDEADLK;
	ipcarc_header *h = s->hdr;
	/* The slot keeps this attachment's share of the count, so that a reaper
	 * can take back what a holder killed in here left behind. Global first on
	 * the way in and last on the way out: a death in between can only leave
	 * the global count too high (a needless wake-up), never too low (a lost one). */
	uint32_t *mine = s->slot == NO_SLOT ? NULL : &slots_of(s)[s->slot].waiters;
	__atomic_fetch_add(&s->waiting, 1, SEQ);
	__atomic_fetch_add(&h->waiters, 1, SEQ);
	if (mine) __atomic_fetch_add(mine, 1, SEQ);
	uint32_t raw = A_LOAD(&h->seq, SEQ);
	int rc = 0;
	if ((raw >> 1) == since) {
		long r;
		if (bits == FUTEX_BITSET_MATCH_ANY) {
			struct timespec rel, *tp = NULL;
			if (timeout_ns >= 0) {
				rel.tv_sec = timeout_ns / 1000000000LL;
				rel.tv_nsec = timeout_ns % 1000000000LL;
				tp = &rel;
			}
			/* Shared (not FUTEX_PRIVATE) wait: the word lives in a shared mapping. */
			r = futex(&h->seq, FUTEX_WAIT, raw, tp, 0);
		} else {
			/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
			struct timespec abs, *tp = NULL;
			if (timeout_ns >= 0) {
				abs = ipcarc_abs_after(timeout_ns);
				tp = &abs;
			}
			r = futex(&h->seq, FUTEX_WAIT_BITSET, raw, tp, bits);
		}
		if (r == -1 && errno == ETIMEDOUT) rc = ETIMEDOUT;
		raw = A_LOAD(&h->seq, ACQ);
		if (rc == 0 && (raw >> 1) == since) rc = EINTR;
	}
	if (mine) __atomic_fetch_sub(mine, 1, SEQ);
	__atomic_fetch_sub(&h->waiters, 1, SEQ);
	__atomic_fetch_sub(&s->waiting, 1, SEQ);
	if (now) *now = raw >> 1;
	return rc;
}

int ipcarc_wait(ipcarc_seg *s, uint32_t since, int64_t timeout_ns, uint32_t *now) {
	return wait_impl(s, since, timeout_ns, FUTEX_BITSET_MATCH_ANY, now);
}

int ipcarc_wait_bits(ipcarc_seg *s, uint32_t since, int64_t timeout_ns, uint32_t bits, uint32_t *now) {
	if (bits == 0) return EINVAL;
	return wait_impl(s, since, timeout_ns, bits, now);
}

uint32_t ipcarc_wait_bit(ipcarc_seg *s) { return 1u << (1 + (s->slot == NO_SLOT ? 0 : s->slot % 31)); }

void ipcarc_wake_bits(ipcarc_seg *s, uint32_t bits) {
	if (live_forked(s)) return;
	futex(&s->hdr->seq, FUTEX_WAKE_BITSET, INT_MAX, NULL, bits);
}

/* Lock-free "the value changed": +2 keeps the parity, so a writer inside
 * stays inside (odd) and a free value stays free (even); every other change
 * of seq is a read-modify-write too, so none is lost (LAYOUT.md, "Notify").
 * Then the waiter handshake of unlock: the fetch_add is the full barrier
 * between our store of seq and our read of waiters. */
static inline int notify_impl(ipcarc_seg *s) {
	ipcarc_header *h = s->hdr;
	__atomic_fetch_add(&h->seq, 2, SEQ);
	if (A_LOAD(&h->waiters, SEQ) != 0) wake_all(s);
	return 0;
}

int ipcarc_notify(ipcarc_seg *s) { return live_forked(s) ? ECHILD : notify_impl(s); }
int ipcarc_notify_h(uintptr_t h) { return notify_impl((ipcarc_seg *)h); }

/* Word-atomic copies, for values made of atomic fields (ipcarc_word_copy):
 * each aligned word of w bytes is read or written with one relaxed atomic
 * access, so a concurrent lock-free add on a field is never torn by a copy. */
static void copy_words(void *dst, const void *src, size_t n, uint32_t w) {
	if (w == 8) {
		uint64_t *d = dst;
		const uint64_t *p = src;
		for (size_t i = 0; i < n / 8; i++) __atomic_store_n(&d[i], __atomic_load_n(&p[i], RLX), RLX);
	} else {
		uint32_t *d = dst;
		const uint32_t *p = src;
		for (size_t i = 0; i < n / 4; i++) __atomic_store_n(&d[i], __atomic_load_n(&p[i], RLX), RLX);
	}
}

static inline void copy_value(ipcarc_seg *s, void *dst, const void *src, size_t n) {
	uint32_t w = __atomic_load_n(&s->word_copy, __ATOMIC_RELAXED); /* set by another thread, maybe */
	if (w) copy_words(dst, src, n, w);
	else memcpy(dst, src, n);
}

int ipcarc_word_copy(ipcarc_seg *s, int on) {
	if (live_forked(s)) return ECHILD;
	if (!on) {
		__atomic_store_n(&s->word_copy, 0, __ATOMIC_RELAXED);
		return 0;
	}
	/* From the validated private bounds, never the shared header: 8-byte
	 * words when the size allows (a value with an 8-byte field has a size
	 * that is a multiple of 8, and the field an offset that is one), else 4. */
	uint32_t w = s->value_size % 8 == 0 ? 8 : 4;
	if (s->value_size == 0 || s->value_size % w != 0 || (uintptr_t)s->data % w != 0) return EINVAL;
	__atomic_store_n(&s->word_copy, w, __ATOMIC_RELAXED);
	return 0;
}

void ipcarc_wake_all(ipcarc_seg *s) {
	if (!live_forked(s)) wake_all(s);
}

/* ---- Go bridge entry points -------------------------------------------------------- */

/* Without the fork check (see lock_impl): Go never holds an inherited handle. */
int ipcarc_lock_h(uintptr_t h) { return lock_impl((ipcarc_seg *)h); }
int ipcarc_trylock_h(uintptr_t h) { return trylock_impl((ipcarc_seg *)h); }
int ipcarc_timedlock_h(uintptr_t h, int64_t ns) { return timedlock_since_impl((ipcarc_seg *)h, ns, 0); }
int ipcarc_timedlock_since_h(uintptr_t h, int64_t ns, int64_t since) {
	return timedlock_since_impl((ipcarc_seg *)h, ns, since);
}
int ipcarc_unlock_h(uintptr_t h) { return unlock_impl((ipcarc_seg *)h); }
int ipcarc_store_h(uintptr_t h, const unsigned char *src, size_t n) {
	return store_impl((ipcarc_seg *)h, src, n);
}
int ipcarc_load_locked_h(uintptr_t h, unsigned char *dst, size_t n, int64_t timeout_ns) {
	return load_locked_impl((ipcarc_seg *)h, dst, n, timeout_ns);
}
/* The value lock for slice.c: the same paths, out of line. */
int value_lock(ipcarc_seg *s) { return lock_impl(s); }
int value_unlock(ipcarc_seg *s) { return unlock_impl(s); }
int value_unlock_unchanged(ipcarc_seg *s) { return unlock_unchanged_impl(s); }

int ipcarc_noop_h(uintptr_t h) {
	(void)h;
	return 0;
}

int ipcarc_value_lock_mine(ipcarc_seg *s) {
	return (mutex_word(s) & FUTEX_TID_MASK_) == (uint32_t)my_tid();
}

int ipcarc_value_lock_held_here(ipcarc_seg *s) {
	uint32_t t = A_LOAD(&s->lock_tid, RLX);
	/* The thread that locked through this attachment still owns the mutex
	 * (a thread that died holding it shows as OWNER_DIED with no tid). */
	return t != 0 && (mutex_word(s) & FUTEX_TID_MASK_) == t;
}
