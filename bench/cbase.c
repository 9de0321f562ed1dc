/*
 * cbase.c - the C baselines `make bench` sets ipcarc beside: the physical
 * floor (what the same work costs with no Go in the way) of every path the Go
 * benchmarks in bench_test.go measure.
 *
 * Build (from bench/):  cc -O2 -I.. -o cbase cbase.c cbase_2proc.c CSRC -lpthread
 * where CSRC is the C layer as the Makefile lists it, each file with ../
 * before it (mk/bench.mk does this).
 *
 * Usage:
 *   cbase list                 names of the measurements
 *   cbase run NAME N           one measurement with N iterations
 *   cbase all [TARGET_MS]      every measurement, each grown until one run
 *                              lasts TARGET_MS (default 200), like go test
 *
 * Every measurement prints exactly one line, for cmd/benchreport to parse:
 *   NAME NS_PER_OP OPS [BYTES_PER_OP]
 * where OPS is how many operations the timed run did. What one operation is
 * for the two-process measurements is stated where they are defined:
 *   c_ipcarc_contended_2proc, c_raw_contended_2proc, c_atomic_contended_2proc
 *       (lock-free __atomic_fetch_add): one increment (both
 *       processes' increments counted, so ns/op = elapsed / (2 N))
 *   c_futex_pingpong_wake, c_futex_pingpong_wake_1cpu: one one-way wake-up
 *       (round trip / 2); _1cpu pins both processes to CPU 0
 *
 * Segments are named ipcarc-test-cbase-PID-N so `make test`'s leftover check
 * sees any that escape; every measurement removes its own. The c_bare_*
 * measurements (the bare floor: a robust pthread mutex and a 64-byte memcpy,
 * no ipcarc code) use an unnamed memfd mapping instead, which leaves nothing.
 */
#define _GNU_SOURCE
#include "cbase.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Keeps the compiler from dropping a copy whose result nobody reads: the
 * buffer "escapes" into an empty asm that clobbers memory. */
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void die(const char *what, int rc) {
	fprintf(stderr, "cbase: %s: %s\n", what, strerror(rc));
	exit(1);
}

static void segname(char *out, size_t n) {
	static int seq;
	snprintf(out, n, "ipcarc-test-cbase-%d-%d", (int)getpid(), ++seq);
}

/* A segment like the Go benchmarks' (default holder table, 8-byte alignment),
 * holding size bytes. */
ipcarc_seg *new_seg(size_t size, char *name, size_t namelen) {
	char tmp[64];
	if (!name) {
		name = tmp;
		namelen = sizeof tmp;
	}
	segname(name, namelen);
	ipcarc_spec sp = {.value_size = size, .value_align = 8, .type_tag = ipcarc_tag("cbase"), .mode = 0600};
	ipcarc_seg *s;
	int rc = ipcarc_create(name, &sp, NULL, &s);
	if (rc) die("ipcarc_create", rc);
	return s;
}

void close_seg(ipcarc_seg *s) {
	int rc = ipcarc_close(s);
	if (rc) die("ipcarc_close", rc);
}

/* A robust, process-shared, error-checking mutex (ipcarc's attributes)
 * initialised at the start of the page p. */
static pthread_mutex_t *init_mutex_at(void *p) {
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ERRORCHECK);
	int rc = pthread_mutex_init(p, &at);
	if (rc) die("pthread_mutex_init", rc);
	pthread_mutexattr_destroy(&at);
	return p;
}

/* Such a mutex in an anonymous shared mapping: pthread's cost without
 * ipcarc's seqlock word and owner check around it. */
pthread_mutex_t *raw_mutex(void) {
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) die("mmap", errno);
	return init_mutex_at(p);
}

/* The bare floor the Go paths are held to: a robust, process-shared,
 * error-checking mutex (ipcarc's attributes) at the start of a MAP_SHARED
 * mapping of a memfd (tmpfs pages, like a /dev/shm segment), and a 64-byte
 * value on its own cache line after it. No ipcarc code: no kind-word check,
 * no sequence word, no holder table, no counters. */
#define BARE_VALUE_OFF 128
static pthread_mutex_t *bare_seg(void) {
	int fd = memfd_create("ipcarc-cbase-bare", MFD_CLOEXEC);
	if (fd < 0) die("memfd_create", errno);
	if (ftruncate(fd, 4096) == -1) die("ftruncate", errno);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) die("mmap", errno);
	close(fd);
	return init_mutex_at(p);
}

void *shared_page(void) {
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) die("mmap", errno);
	return p;
}

/* ---- single-process loops ------------------------------------------------- */

static int64_t b_ipcarc_lock_unlock(int64_t n, size_t arg) {
	(void)arg;
	ipcarc_seg *s = new_seg(64, NULL, 0);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		if (ipcarc_lock(s)) die("lock", EINVAL);
		if (ipcarc_unlock(s)) die("unlock", EINVAL);
	}
	int64_t t = now_ns() - t0;
	close_seg(s);
	return t;
}

static int64_t b_raw_lock_unlock(int64_t n, size_t arg) {
	(void)arg;
	pthread_mutex_t *m = raw_mutex();
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		pthread_mutex_lock(m);
		pthread_mutex_unlock(m);
	}
	int64_t t = now_ns() - t0;
	munmap(m, 4096);
	return t;
}

/* The bare floor: lock+unlock alone, and lock + memcpy of size bytes +
 * unlock into the mapping (what a Store does) and out of it (what a reader
 * without a seqlock would do). The size comes from the table at run time, so
 * memcpy is a call into libc, as in cshm.c's copies and in the c_lock_memcpy_*
 * loops: these differ from those by ipcarc's code only. Return codes are
 * checked, as ipcarc checks them. */
static int64_t b_bare_lock_unlock(int64_t n, size_t arg) {
	(void)arg;
	pthread_mutex_t *m = bare_seg();
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		if (pthread_mutex_lock(m)) die("pthread_mutex_lock", EINVAL);
		if (pthread_mutex_unlock(m)) die("pthread_mutex_unlock", EINVAL);
	}
	int64_t t = now_ns() - t0;
	munmap(m, 4096);
	return t;
}

static inline int64_t bare_lock_memcpy(int64_t n, size_t size, int into) {
	pthread_mutex_t *m = bare_seg();
	char *val = (char *)m + BARE_VALUE_OFF;
	char *priv = malloc(size);
	memset(priv, 7, size);
	char *dst = into ? val : priv, *src = into ? priv : val;
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		if (pthread_mutex_lock(m)) die("pthread_mutex_lock", EINVAL);
		memcpy(dst, src, size);
		ESCAPE(dst);
		if (pthread_mutex_unlock(m)) die("pthread_mutex_unlock", EINVAL);
	}
	int64_t t = now_ns() - t0;
	free(priv);
	munmap(m, 4096);
	return t;
}
static int64_t b_bare_lock_memcpy_in(int64_t n, size_t size) { return bare_lock_memcpy(n, size, 1); }
static int64_t b_bare_lock_memcpy_out(int64_t n, size_t size) { return bare_lock_memcpy(n, size, 0); }

/* The same copy out with the size a constant, as sizeof(T) is in a C program
 * that knows its type: the compiler inlines the 64-byte copy (four 16-byte
 * moves) instead of calling memcpy. The lowest this floor goes; shown beside
 * the Load rows, not used for their goals. */
static int64_t b_bare_lock_copy_out_64_inline(int64_t n, size_t arg) {
	(void)arg;
	return bare_lock_memcpy(n, 64, 0);
}

/* The locked copy a Store makes: into the segment, under ipcarc's lock. */
static int64_t b_lock_memcpy_in(int64_t n, size_t size) {
	ipcarc_seg *s = new_seg(size, NULL, 0);
	char *src = malloc(size);
	memset(src, 7, size);
	void *dst = ipcarc_data(s);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		ipcarc_lock(s);
		memcpy(dst, src, size);
		ipcarc_unlock(s);
	}
	int64_t t = now_ns() - t0;
	free(src);
	close_seg(s);
	return t;
}

/* The locked copy a reader without a seqlock would make: out of the segment. */
static int64_t b_lock_memcpy_out(int64_t n, size_t size) {
	ipcarc_seg *s = new_seg(size, NULL, 0);
	char *dst = malloc(size);
	memset(dst, 7, size);
	const void *src = ipcarc_data(s);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		ipcarc_lock(s);
		memcpy(dst, src, size);
		ESCAPE(dst);
		ipcarc_unlock(s);
	}
	int64_t t = now_ns() - t0;
	free(dst);
	close_seg(s);
	return t;
}

/* ipcarc_store itself: what Go's Store calls, minus the cgo crossing. */
static int64_t b_ipcarc_store(int64_t n, size_t size) {
	ipcarc_seg *s = new_seg(size, NULL, 0);
	char *src = malloc(size);
	memset(src, 7, size);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++)
		if (ipcarc_store(s, src, size)) die("store", EINVAL);
	int64_t t = now_ns() - t0;
	free(src);
	close_seg(s);
	return t;
}

/* ipcarc_load: the seqlock read in C. */
static int64_t b_ipcarc_load(int64_t n, size_t size) {
	ipcarc_seg *s = new_seg(size, NULL, 0);
	char *dst = malloc(size);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		if (ipcarc_load(s, dst, size)) die("load", EINVAL);
		ESCAPE(dst);
	}
	int64_t t = now_ns() - t0;
	free(dst);
	close_seg(s);
	return t;
}

/* Slices: ipcarc_slice_store of size bytes (one call: lock, copy, length,
 * unlock) and ipcarc_slice_get of one 8-byte element (the seqlock read of
 * the length and the element): what Go's Slice.Store and LoadAt call or
 * redo, minus the cgo crossing. */
static ipcarc_seg *new_slice(size_t elems) {
	char name[64];
	segname(name, sizeof name);
	ipcarc_spec sp = {.value_size = 8, .value_align = 8, .type_tag = ipcarc_tag("cbase"), .mode = 0600};
	ipcarc_seg *s;
	int rc = ipcarc_slice_create(name, &sp, elems, NULL, 0, &s);
	if (rc) die("ipcarc_slice_create", rc);
	return s;
}

static int64_t b_ipcarc_slice_store(int64_t n, size_t size) {
	ipcarc_seg *s = new_slice(size / 8);
	char *src = malloc(size);
	memset(src, 7, size);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++)
		if (ipcarc_slice_store(s, src, size / 8)) die("slice store", EINVAL);
	int64_t t = now_ns() - t0;
	free(src);
	close_seg(s);
	return t;
}

static int64_t b_ipcarc_slice_get(int64_t n, size_t size) {
	(void)size;
	ipcarc_seg *s = new_slice(16);
	uint64_t init[16] = {0};
	if (ipcarc_slice_store(s, init, 16)) die("slice store", EINVAL);
	uint64_t v;
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		if (ipcarc_slice_get(s, (size_t)(i & 15), &v)) die("slice get", EINVAL);
		ESCAPE(&v);
	}
	int64_t t = now_ns() - t0;
	close_seg(s);
	return t;
}

/* Bandwidth floors for the 64 MiB Store and Load: memcpy between a private
 * buffer and a segment's (tmpfs) pages, both faulted in first, as they are in
 * the Go benchmark after its first iteration. */
static int64_t memcpy_shm(int64_t n, size_t size, int into) {
	ipcarc_seg *s = new_seg(size, NULL, 0);
	char *priv = malloc(size);
	char *shm = ipcarc_data(s);
	memset(priv, 7, size);
	memset(shm, 7, size);
	char *dst = into ? shm : priv, *src = into ? priv : shm;
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		memcpy(dst, src, size);
		ESCAPE(dst);
	}
	int64_t t = now_ns() - t0;
	free(priv);
	close_seg(s);
	return t;
}
static int64_t b_memcpy_to_shm(int64_t n, size_t size) { return memcpy_shm(n, size, 1); }
static int64_t b_memcpy_from_shm(int64_t n, size_t size) { return memcpy_shm(n, size, 0); }

static int64_t b_memcpy_private(int64_t n, size_t size) {
	char *a = malloc(size), *b = malloc(size);
	memset(a, 7, size);
	memset(b, 7, size);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		memcpy(b, a, size);
		ESCAPE(b);
	}
	int64_t t = now_ns() - t0;
	free(a);
	free(b);
	return t;
}

/* ---- segment life cycle --------------------------------------------------- */

/* The system calls New+Close cannot avoid: create, size, map, write the first
 * page (New writes the header, so the page fault and zeroing are part of the
 * floor), unmap, close, unlink. size is the Go benchmark's segment size. */
static int64_t b_shm_create_cycle(int64_t n, size_t size) {
	char name[64];
	segname(name, sizeof name);
	char path[80];
	snprintf(path, sizeof path, "/%s", name);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) die("shm_open", errno);
		if (ftruncate(fd, (off_t)size) == -1) die("ftruncate", errno);
		char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) die("mmap", errno);
		p[0] = 1;
		munmap(p, size);
		close(fd);
		shm_unlink(path);
	}
	return now_ns() - t0;
}

/* The system calls Open+Close cannot avoid: open the name, map, read the
 * header, unmap, close. */
static int64_t b_shm_open_cycle(int64_t n, size_t size) {
	char name[64];
	segname(name, sizeof name);
	char path[80];
	snprintf(path, sizeof path, "/%s", name);
	int fd0 = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd0 < 0) die("shm_open", errno);
	if (ftruncate(fd0, (off_t)size) == -1) die("ftruncate", errno);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
		if (fd < 0) die("shm_open", errno);
		volatile char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) die("mmap", errno);
		(void)p[0];
		munmap((void *)p, size);
		close(fd);
	}
	int64_t t = now_ns() - t0;
	close(fd0);
	shm_unlink(path);
	return t;
}

/* The whole C protocol for New+Close and Open+Close: ipcarc minus Go. */
static int64_t b_ipcarc_create_close(int64_t n, size_t size) {
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) close_seg(new_seg(size, NULL, 0));
	return now_ns() - t0;
}

static int64_t b_ipcarc_open_close(int64_t n, size_t size) {
	char name[64];
	ipcarc_seg *keep = new_seg(size, name, sizeof name);
	ipcarc_spec sp = {.value_size = size, .value_align = 8, .type_tag = ipcarc_tag("cbase")};
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		ipcarc_seg *s;
		int rc = ipcarc_open(name, &sp, &s, NULL);
		if (rc) die("ipcarc_open", rc);
		close_seg(s);
	}
	int64_t t = now_ns() - t0;
	close_seg(keep);
	return t;
}

/* flock(2) on a file: the lock a Go program would put around an mmap'd file. */
static int64_t b_flock_pair(int64_t n, size_t arg) {
	(void)arg;
	char path[] = "/tmp/cbase-flock-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) die("mkstemp", errno);
	unlink(path);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		if (flock(fd, LOCK_EX) == -1) die("flock", errno);
		if (flock(fd, LOCK_UN) == -1) die("flock", errno);
	}
	int64_t t = now_ns() - t0;
	close(fd);
	return t;
}

/* ---- the table ---------------------------------------------------------- */

/* The Go benchmarks' segment for a 64-byte value: header, 64 holder slots,
 * then the value (cshm.h's layout). */
#define SEG64 (192 + 64 * 32 + 64)

struct bench {
	const char *name;
	int64_t (*fn)(int64_t n, size_t arg);
	size_t arg;
	int per;       /* operations per iteration */
	int64_t bytes; /* bytes per operation, for bandwidth; 0: none */
};

static const struct bench benches[] = {
	{"c_ipcarc_lock_unlock", b_ipcarc_lock_unlock, 0, 1, 0},
	{"c_raw_robust_lock_unlock", b_raw_lock_unlock, 0, 1, 0},
	{"c_bare_lock_unlock", b_bare_lock_unlock, 0, 1, 0},
	{"c_bare_lock_memcpy_in_64", b_bare_lock_memcpy_in, 64, 1, 0},
	{"c_bare_lock_memcpy_out_64", b_bare_lock_memcpy_out, 64, 1, 0},
	{"c_bare_lock_copy_out_64_inline", b_bare_lock_copy_out_64_inline, 0, 1, 0},
	{"c_lock_memcpy_in_8", b_lock_memcpy_in, 8, 1, 0},
	{"c_lock_memcpy_in_64", b_lock_memcpy_in, 64, 1, 0},
	{"c_lock_memcpy_in_4096", b_lock_memcpy_in, 4096, 1, 0},
	{"c_lock_memcpy_out_8", b_lock_memcpy_out, 8, 1, 0},
	{"c_lock_memcpy_out_64", b_lock_memcpy_out, 64, 1, 0},
	{"c_lock_memcpy_out_4096", b_lock_memcpy_out, 4096, 1, 0},
	{"c_ipcarc_store_64", b_ipcarc_store, 64, 1, 0},
	{"c_ipcarc_load_64", b_ipcarc_load, 64, 1, 0},
	{"c_ipcarc_slice_store_4096", b_ipcarc_slice_store, 4096, 1, 0},
	{"c_ipcarc_slice_get_8", b_ipcarc_slice_get, 8, 1, 0},
	{"c_memcpy_to_shm_64MiB", b_memcpy_to_shm, 64 << 20, 1, 64 << 20},
	{"c_memcpy_from_shm_64MiB", b_memcpy_from_shm, 64 << 20, 1, 64 << 20},
	{"c_memcpy_private_64MiB", b_memcpy_private, 64 << 20, 1, 64 << 20},
	{"c_shm_create_cycle", b_shm_create_cycle, SEG64, 1, 0},
	{"c_shm_open_cycle", b_shm_open_cycle, SEG64, 1, 0},
	{"c_ipcarc_create_close", b_ipcarc_create_close, 64, 1, 0},
	{"c_ipcarc_open_close", b_ipcarc_open_close, 64, 1, 0},
	{"c_flock_pair", b_flock_pair, 0, 1, 0},
	{"c_ipcarc_contended_2proc", b_ipcarc_contended, 0, 2, 0},
	{"c_raw_contended_2proc", b_raw_contended, 0, 2, 0},
	{"c_atomic_contended_2proc", b_atomic_contended, 0, 2, 0},
	{"c_futex_pingpong_wake", b_futex_pingpong, 0, 2, 0},
	{"c_futex_pingpong_wake_1cpu", b_futex_pingpong, 1, 2, 0},
};
#define NBENCH (sizeof benches / sizeof benches[0])

static void report(const struct bench *b, int64_t n, int64_t ns) {
	int64_t ops = n * b->per;
	printf("%s %.3f %lld", b->name, (double)ns / (double)ops, (long long)ops);
	if (b->bytes) printf(" %lld", (long long)b->bytes);
	printf("\n");
	fflush(stdout);
}

/* Grow n until one run lasts target_ns, as go test grows b.N: aim 20% past
 * the target from the last run's rate, at most 100x per step. */
static void calibrated(const struct bench *b, int64_t target_ns) {
	int64_t n = 1, ns = b->fn(n, b->arg);
	while (ns < target_ns && n < 1000000000LL) {
		int64_t want = ns > 0 ? (int64_t)((double)target_ns * 1.2 * (double)n / (double)ns) : n * 100;
		if (want > n * 100) want = n * 100;
		if (want <= n) want = n + 1;
		n = want;
		ns = b->fn(n, b->arg);
	}
	report(b, n, ns);
}

static const struct bench *find(const char *name) {
	for (size_t i = 0; i < NBENCH; i++)
		if (strcmp(benches[i].name, name) == 0) return &benches[i];
	return NULL;
}

static int usage(void) {
	fprintf(stderr, "usage: cbase list | run NAME N | all [TARGET_MS]\n");
	return 2;
}

int main(int argc, char **argv) {
	/* A child that dies must not leave its parent blocked on a pipe write. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) return usage();
	if (strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < NBENCH; i++) printf("%s\n", benches[i].name);
		return 0;
	}
	if (strcmp(argv[1], "run") == 0) {
		if (argc != 4) return usage();
		const struct bench *b = find(argv[2]);
		int64_t n = atoll(argv[3]);
		if (!b || n < 1) return usage();
		report(b, n, b->fn(n, b->arg));
		return 0;
	}
	if (strcmp(argv[1], "all") == 0) {
		int64_t ms = argc > 2 ? atoll(argv[2]) : 200;
		if (ms < 0) return usage();
		for (size_t i = 0; i < NBENCH; i++) calibrated(&benches[i], ms * 1000000LL);
		return 0;
	}
	return usage();
}
