/*
 * cbase_2proc.c - the two-process measurements of cbase (see cbase.c): one
 * counter incremented by two processes under ipcarc's lock, a raw robust
 * mutex or an atomic add, and a futex ping-pong between two processes.
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

/* ---- two processes -------------------------------------------------------- */

/* Start line shared by parent and child: the child says ready, the parent
 * takes the time and says go, and the child says done when its loop ends, so
 * the measurement covers both loops and neither process's start or exit. */
struct startline {
	volatile int ready, go, done;
};

static void await(volatile int *flag) {
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) sched_yield();
}

static void reap(pid_t pid) {
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "cbase: child failed\n");
		exit(1);
	}
}

/* Both processes increment one counter under ipcarc's lock, n times each. The
 * child attaches with its own ipcarc_open after fork (cshm.h: a forked child
 * must not use its parent's handles). */
int64_t b_ipcarc_contended(int64_t n, size_t arg) {
	(void)arg;
	char name[64];
	ipcarc_seg *s = new_seg(64, name, sizeof name);
	struct startline *sl = shared_page();
	pid_t pid = fork();
	if (pid < 0) die("fork", errno);
	if (pid == 0) {
		ipcarc_spec sp = {.value_size = 64, .value_align = 8, .type_tag = ipcarc_tag("cbase")};
		ipcarc_seg *c;
		if (ipcarc_open(name, &sp, &c, NULL)) _exit(1);
		volatile uint64_t *v = ipcarc_data(c);
		__atomic_store_n(&sl->ready, 1, __ATOMIC_RELEASE);
		await(&sl->go);
		for (int64_t i = 0; i < n; i++) {
			ipcarc_lock(c);
			(*v)++;
			ipcarc_unlock(c);
		}
		__atomic_store_n(&sl->done, 1, __ATOMIC_RELEASE);
		ipcarc_close(c);
		_exit(0);
	}
	volatile uint64_t *v = ipcarc_data(s);
	await(&sl->ready);
	int64_t t0 = now_ns();
	__atomic_store_n(&sl->go, 1, __ATOMIC_RELEASE);
	for (int64_t i = 0; i < n; i++) {
		ipcarc_lock(s);
		(*v)++;
		ipcarc_unlock(s);
	}
	await(&sl->done);
	int64_t t = now_ns() - t0;
	reap(pid);
	if (*v != (uint64_t)(2 * n)) {
		fprintf(stderr, "cbase: contended count %llu, want %lld\n", (unsigned long long)*v, (long long)(2 * n));
		exit(1);
	}
	munmap((void *)sl, 4096);
	close_seg(s);
	return t;
}

/* Both processes add 1 to one u64 of an ipcarc value n times each, lock-free
 * (__atomic_fetch_add, seq_cst, on ipcarc_data): the C floor of Go's
 * BenchmarkAtomicContended2Proc. */
int64_t b_atomic_contended(int64_t n, size_t arg) {
	(void)arg;
	char name[64];
	ipcarc_seg *s = new_seg(64, name, sizeof name);
	struct startline *sl = shared_page();
	pid_t pid = fork();
	if (pid < 0) die("fork", errno);
	if (pid == 0) {
		ipcarc_spec sp = {.value_size = 64, .value_align = 8, .type_tag = ipcarc_tag("cbase")};
		ipcarc_seg *c;
		if (ipcarc_open(name, &sp, &c, NULL)) _exit(1);
		uint64_t *v = ipcarc_data(c);
		__atomic_store_n(&sl->ready, 1, __ATOMIC_RELEASE);
		await(&sl->go);
		for (int64_t i = 0; i < n; i++) __atomic_fetch_add(v, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&sl->done, 1, __ATOMIC_RELEASE);
		ipcarc_close(c);
		_exit(0);
	}
	uint64_t *v = ipcarc_data(s);
	await(&sl->ready);
	int64_t t0 = now_ns();
	__atomic_store_n(&sl->go, 1, __ATOMIC_RELEASE);
	for (int64_t i = 0; i < n; i++) __atomic_fetch_add(v, 1, __ATOMIC_SEQ_CST);
	await(&sl->done);
	int64_t t = now_ns() - t0;
	reap(pid);
	if (__atomic_load_n(v, __ATOMIC_SEQ_CST) != (uint64_t)(2 * n)) {
		fprintf(stderr, "cbase: atomic contended count wrong\n");
		exit(1);
	}
	munmap((void *)sl, 4096);
	close_seg(s);
	return t;
}

/* The same with a bare robust pshared mutex in an anonymous shared mapping. */
int64_t b_raw_contended(int64_t n, size_t arg) {
	(void)arg;
	pthread_mutex_t *m = raw_mutex();
	struct startline *sl = shared_page();
	volatile uint64_t *v = (volatile uint64_t *)((char *)m + 1024);
	pid_t pid = fork();
	if (pid < 0) die("fork", errno);
	if (pid == 0) {
		__atomic_store_n(&sl->ready, 1, __ATOMIC_RELEASE);
		await(&sl->go);
		for (int64_t i = 0; i < n; i++) {
			pthread_mutex_lock(m);
			(*v)++;
			pthread_mutex_unlock(m);
		}
		__atomic_store_n(&sl->done, 1, __ATOMIC_RELEASE);
		_exit(0);
	}
	await(&sl->ready);
	int64_t t0 = now_ns();
	__atomic_store_n(&sl->go, 1, __ATOMIC_RELEASE);
	for (int64_t i = 0; i < n; i++) {
		pthread_mutex_lock(m);
		(*v)++;
		pthread_mutex_unlock(m);
	}
	await(&sl->done);
	int64_t t = now_ns() - t0;
	reap(pid);
	if (*v != (uint64_t)(2 * n)) {
		fprintf(stderr, "cbase: raw contended count wrong\n");
		exit(1);
	}
	munmap((void *)sl, 4096);
	munmap(m, 4096);
	return t;
}

static long futex(uint32_t *w, int op, uint32_t val) {
	return syscall(SYS_futex, w, op, val, NULL, NULL, 0);
}

/* Futex ping-pong: the word says whose turn it is (1: child's, 0: parent's).
 * Each side sets it, wakes the other with FUTEX_WAKE and sleeps with
 * FUTEX_WAIT until it flips back. Shared futexes (not FUTEX_PRIVATE), as
 * ipcarc_wait must use on a shared mapping. n round trips = 2n wake-ups; the
 * caller divides by 2n, so the result is one one-way wake-up. */
int64_t b_futex_pingpong(int64_t n, size_t one_cpu) {
	/* one_cpu: both processes on CPU 0, so a wake-up is a context switch on
	 * that CPU; otherwise the sleeper's CPU has usually gone idle, and waking
	 * it (an IPI; in a VM, a halted vCPU) is part of the cost. */
	cpu_set_t saved;
	if (one_cpu) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		if (sched_getaffinity(0, sizeof saved, &saved) || sched_setaffinity(0, sizeof one, &one))
			die("sched_setaffinity", errno);
	}
	uint32_t *w = shared_page();
	struct startline *sl = (struct startline *)(w + 16);
	pid_t pid = fork();
	if (pid < 0) die("fork", errno);
	if (pid == 0) {
		__atomic_store_n(&sl->ready, 1, __ATOMIC_RELEASE);
		for (int64_t i = 0; i < n; i++) {
			while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == 0) futex(w, FUTEX_WAIT, 0);
			__atomic_store_n(w, 0, __ATOMIC_RELEASE);
			futex(w, FUTEX_WAKE, 1);
		}
		_exit(0);
	}
	await(&sl->ready);
	int64_t t0 = now_ns();
	for (int64_t i = 0; i < n; i++) {
		__atomic_store_n(w, 1, __ATOMIC_RELEASE);
		futex(w, FUTEX_WAKE, 1);
		while (__atomic_load_n(w, __ATOMIC_ACQUIRE) == 1) futex(w, FUTEX_WAIT, 1);
	}
	int64_t t = now_ns() - t0;
	reap(pid);
	munmap(w, 4096);
	if (one_cpu) sched_setaffinity(0, sizeof saved, &saved);
	return t;
}
