/*
 * cshm_test.c - unit test of the C layer on its own, built with
 * -fsanitize=address,undefined by `make ctest` (part of `make test`), so that
 * memory and UB errors in cshm.c show up outside Go's runtime.
 */
#define _GNU_SOURCE
#include "../cshm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                              \
	do {                                                                         \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                          \
		}                                                                        \
	} while (0)
#define CHECK_RC(expr, want)                                                           \
	do {                                                                               \
		int rc_ = (expr);                                                              \
		if (rc_ != (want)) {                                                           \
			fprintf(stderr, "%s:%d: %s = %d (%s), want %d\n", __FILE__, __LINE__, #expr, \
			        rc_, strerror(rc_), (want));                                       \
			failures++;                                                                \
		}                                                                              \
	} while (0)

struct counter {
	uint64_t n;
	uint64_t spare[7];
};

static char name[64];
static ipcarc_spec spec;

static int exists(const char *n) {
	char p[128];
	snprintf(p, sizeof p, "/dev/shm/%s", n);
	struct stat st;
	return stat(p, &st) == 0;
}

static void test_names_and_tags(void) {
	CHECK_RC(ipcarc_check_name("ok-name_1.2"), 0);
	CHECK_RC(ipcarc_check_name("/ok"), 0);
	CHECK_RC(ipcarc_check_name(""), EINVAL);
	CHECK_RC(ipcarc_check_name("a/b"), EINVAL);
	CHECK_RC(ipcarc_check_name(".."), EINVAL);
	char longname[300];
	memset(longname, 'x', sizeof longname - 1);
	longname[sizeof longname - 1] = 0;
	CHECK_RC(ipcarc_check_name(longname), EINVAL);
	CHECK(ipcarc_tag("") == 14695981039346656037ULL);
	CHECK(ipcarc_tag("a") == 0xaf63dc4c8601ec8cULL); /* published FNV-1a 64 test vector */
	CHECK(strcmp(ipcarc_field_name(IPCARC_FIELD_TYPE_TAG), "type tag") == 0);
}

static void test_lifecycle(void) {
	struct counter init = {.n = 7};
	ipcarc_seg *a = NULL, *b = NULL;
	CHECK_RC(ipcarc_create(name, &spec, &init, &a), 0);
	CHECK_RC(ipcarc_create(name, &spec, &init, &b), EEXIST);
	int field = 0;
	CHECK_RC(ipcarc_open(name, &spec, &b, &field), 0);
	CHECK(((struct counter *)ipcarc_data(b))->n == 7);
	CHECK(ipcarc_refcount(a) == 2);
	CHECK_RC(ipcarc_clone(b), 0);
	CHECK(ipcarc_refcount(a) == 3);

	ipcarc_spec bad = spec;
	bad.value_size = 16;
	ipcarc_seg *c = NULL;
	CHECK_RC(ipcarc_open(name, &bad, &c, &field), EPROTOTYPE);
	CHECK(field == IPCARC_FIELD_VALUE_SIZE);
	bad = spec;
	bad.type_tag ^= 1;
	CHECK_RC(ipcarc_open(name, &bad, &c, &field), EPROTOTYPE);
	CHECK(field == IPCARC_FIELD_TYPE_TAG);

	CHECK_RC(ipcarc_close(b), 0); /* the clone's handle */
	CHECK_RC(ipcarc_close(b), 0); /* b's attachment is freed here */
	CHECK(exists(name));
	CHECK_RC(ipcarc_close(a), 0);
	CHECK(!exists(name));
	CHECK_RC(ipcarc_open(name, &spec, &b, &field), ENOENT);
}

struct thread_arg {
	ipcarc_seg *s;
	int rc;
};

static void *try_from_thread(void *p) {
	struct thread_arg *t = p;
	t->rc = ipcarc_trylock(t->s);
	return NULL;
}
static void *unlock_from_thread(void *p) {
	struct thread_arg *t = p;
	t->rc = ipcarc_unlock(t->s);
	return NULL;
}
static void *clear_from_thread(void *p) {
	struct thread_arg *t = p;
	t->rc = ipcarc_clear_poison(t->s);
	return NULL;
}

static void *lock_and_exit(void *p) {
	struct thread_arg *t = p;
	t->rc = ipcarc_lock(t->s);
	((struct counter *)ipcarc_data(t->s))->n = 99;
	return NULL; /* exits holding the lock */
}

static void test_locking(void) {
	struct counter init = {0};
	ipcarc_seg *a = NULL;
	CHECK_RC(ipcarc_create(name, &spec, &init, &a), 0);
	struct thread_arg t = {.s = a};
	pthread_t th;

	CHECK_RC(ipcarc_lock(a), 0);
	CHECK_RC(ipcarc_lock(a), EDEADLK);
	CHECK(ipcarc_lock_owner(a) != 0);
	pthread_create(&th, NULL, try_from_thread, &t);
	pthread_join(th, NULL);
	CHECK_RC(t.rc, EBUSY);
	pthread_create(&th, NULL, unlock_from_thread, &t);
	pthread_join(th, NULL);
	CHECK_RC(t.rc, EPERM);
	CHECK_RC(ipcarc_close(a), EDEADLK); /* last handle while holding the lock */
	CHECK_RC(ipcarc_unlock(a), 0);
	CHECK_RC(ipcarc_unlock(a), EPERM);
	CHECK(ipcarc_lock_owner(a) == 0);

	/* A thread that exits holding the lock: owner death, poison. */
	pthread_create(&th, NULL, lock_and_exit, &t);
	pthread_join(th, NULL);
	CHECK_RC(t.rc, 0);
	CHECK_RC(ipcarc_lock(a), EOWNERDEAD);
	CHECK(ipcarc_poisoned(a));
	CHECK(((struct counter *)ipcarc_data(a))->n == 99);
	CHECK_RC(ipcarc_unlock(a), 0);
	CHECK_RC(ipcarc_lock(a), 0); /* reported once; the poison stays */
	CHECK(ipcarc_poisoned(a));
	/* Only the holder may clear: another thread is refused, nothing changes. */
	pthread_create(&th, NULL, clear_from_thread, &t);
	pthread_join(th, NULL);
	CHECK_RC(t.rc, EPERM);
	CHECK(ipcarc_poisoned(a));
	CHECK_RC(ipcarc_clear_poison(a), 0);
	CHECK_RC(ipcarc_unlock(a), 0);
	CHECK_RC(ipcarc_clear_poison(a), EPERM); /* no longer the holder */
	CHECK(!ipcarc_poisoned(a));
	CHECK_RC(ipcarc_timedlock(a, 1000000), 0);
	CHECK_RC(ipcarc_unlock(a), 0);
	CHECK_RC(ipcarc_close(a), 0);
}

static void *store_later(void *p) {
	struct thread_arg *t = p;
	usleep(20000);
	struct counter v = {.n = 5};
	t->rc = ipcarc_store(t->s, &v, sizeof v);
	return NULL;
}

static void test_fast_paths(void) {
	struct counter init = {.n = 1}, out;
	ipcarc_seg *a = NULL;
	CHECK_RC(ipcarc_create(name, &spec, &init, &a), 0);
	uint32_t v0 = ipcarc_version(a);
	CHECK_RC(ipcarc_load(a, &out, sizeof out), 0);
	CHECK(out.n == 1);
	struct counter v = {.n = 2};
	CHECK_RC(ipcarc_store(a, &v, sizeof v), 0);
	CHECK(ipcarc_version(a) == v0 + 1);
	CHECK_RC(ipcarc_store(a, &v, 3), EINVAL);
	uint32_t now = 0;
	CHECK_RC(ipcarc_wait(a, ipcarc_version(a), 10000000, &now), ETIMEDOUT);
	struct thread_arg t = {.s = a};
	pthread_t th;
	pthread_create(&th, NULL, store_later, &t);
	uint32_t since = ipcarc_version(a);
	int rc;
	do {
		rc = ipcarc_wait(a, since, 5000000000LL, &now);
	} while (rc == EINTR);
	pthread_join(th, NULL);
	CHECK_RC(rc, 0);
	CHECK(now == since + 1);
	CHECK_RC(ipcarc_load(a, &out, sizeof out), 0);
	CHECK(out.n == 5);
	CHECK_RC(ipcarc_close(a), 0);
}

static void test_processes(void) {
	struct counter init = {0};
	ipcarc_seg *a = NULL;
	CHECK_RC(ipcarc_create(name, &spec, &init, &a), 0);
	/* A child dies holding the lock and a handle. */
	pid_t pid = fork();
	if (pid == 0) {
		ipcarc_seg *c = NULL;
		int field;
		if (ipcarc_open(name, &spec, &c, &field) != 0) _exit(2);
		if (ipcarc_lock(c) != 0) _exit(3);
		((struct counter *)ipcarc_data(c))->n = 42;
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* ipcarc_refcount counts live holders only: the dead child's handle
	 * stops counting at once, before any reap. */
	CHECK(ipcarc_refcount(a) == 1);
	/* A load sees the poison but not the death: that news is for a lock. */
	struct counter got;
	CHECK_RC(ipcarc_load(a, &got, sizeof got), ENOTRECOVERABLE);
	CHECK_RC(ipcarc_store(a, &got, sizeof got), ENOTRECOVERABLE);
	CHECK_RC(ipcarc_lock(a), EOWNERDEAD);
	CHECK(((struct counter *)ipcarc_data(a))->n == 42);
	ipcarc_clear_poison(a);
	CHECK_RC(ipcarc_unlock(a), 0);
	int reaped = -1;
	CHECK_RC(ipcarc_reap(a, &reaped), 0);
	CHECK(reaped == 1);
	CHECK(ipcarc_refcount(a) == 1);
	CHECK_RC(ipcarc_close(a), 0);
	CHECK(!exists(name));

	/* All holders dead: gc removes the segment. */
	pid = fork();
	if (pid == 0) {
		ipcarc_seg *c = NULL;
		_exit(ipcarc_create(name, &spec, &init, &c) == 0 ? 0 : 2);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(exists(name));
	ipcarc_gc_result r;
	CHECK_RC(ipcarc_gc(name, 100000000, 1, &r), 0);
	CHECK(exists(name) && r.reaped_handles == 1 && r.unlinked);
	CHECK_RC(ipcarc_gc(name, 100000000, 0, &r), 0);
	CHECK(r.reaped_handles == 1 && r.unlinked && !exists(name));
}

/* In a child forked without exec, every call on the inherited handle is
 * refused (ECHILD) or answers for a handle without an attachment, within a
 * bound (alarm: a hang kills the child and fails the test), and the parent's
 * value, version, count and counters stay as they were. held: the parent
 * holds the value lock across the fork (a child's lock or store would wait on
 * it for ever). */
static void fork_child_calls(ipcarc_seg *a, uint32_t version, int64_t refcount) {
	alarm(5);
	int reaped = -7;
	uint32_t now = 12345;
	struct counter v = {.n = 1000};
	CHECK_RC(ipcarc_lock(a), ECHILD);
	CHECK_RC(ipcarc_trylock(a), ECHILD);
	CHECK_RC(ipcarc_timedlock(a, 100000000), ECHILD);
	CHECK_RC(ipcarc_timedlock_since(a, 100000000, ipcarc_monotonic_ns()), ECHILD);
	CHECK_RC(ipcarc_unlock(a), ECHILD);
	CHECK_RC(ipcarc_unlock_unchanged(a), ECHILD);
	CHECK_RC(ipcarc_clear_poison(a), ECHILD);
	CHECK_RC(ipcarc_store(a, &v, sizeof v), ECHILD);
	CHECK_RC(ipcarc_store(a, &v, 1), ECHILD); /* ECHILD before any other check */
	CHECK_RC(ipcarc_load(a, &v, sizeof v), ECHILD);
	CHECK(v.n == 1000); /* nothing copied out */
	CHECK_RC(ipcarc_load_locked(a, &v, sizeof v, -1), ECHILD);
	CHECK_RC(ipcarc_wait(a, version, -1, &now), ECHILD);
	CHECK_RC(ipcarc_wait(a, version + 1, -1, &now), ECHILD);
	CHECK_RC(ipcarc_wait_bits(a, version, -1, 2, &now), ECHILD);
	CHECK(now == 12345);
	CHECK_RC(ipcarc_reap(a, &reaped), ECHILD);
	CHECK(reaped == 0);
	CHECK_RC(ipcarc_clone(a), ECHILD);
	/* The calls that return a value: no view, no count, no owner. */
	CHECK(ipcarc_data(a) == NULL);
	CHECK(ipcarc_hdr(a) == NULL);
	CHECK(ipcarc_refcount(a) == 0);
	CHECK(ipcarc_slot(a) == -1);
	CHECK(ipcarc_poisoned(a) == 0);
	CHECK(ipcarc_lock_owner(a) == 0);
	CHECK(ipcarc_table_owner(a) == 0);
	CHECK(ipcarc_version(a) == 0);
	CHECK(ipcarc_holder_alive(a, 0) == 0);
	CHECK(ipcarc_holder_alive(a, ipcarc_hdr_max_holders(a)) == -EINVAL);
	CHECK(ipcarc_hdr_max_holders(a) == IPCARC_DEFAULT_HOLDERS);
	CHECK(ipcarc_timeout(a) == spec.open_timeout_ns);
	CHECK(ipcarc_lifetime(a) == IPCARC_LIFETIME_LAST_CLOSE);
	ipcarc_counters c;
	memset(&c, 0xff, sizeof c);
	ipcarc_read_counters(a, &c);
	ipcarc_counters zero;
	memset(&zero, 0, sizeof zero);
	CHECK(memcmp(&c, &zero, sizeof c) == 0);
	/* The child's own counters are private: adding to them reaches nobody. */
	ipcarc_my_counters(a)->updates += 5;
	ipcarc_wake_all(a);
	ipcarc_wake_bits(a, 2);
	(void)refcount;
	CHECK_RC(ipcarc_close(a), ECHILD);
	alarm(0);
	_exit(failures ? 1 : 0);
}

static void test_fork_child(void) {
	for (int held = 0; held <= 1; held++) {
		struct counter init = {.n = 77};
		ipcarc_seg *a = NULL;
		CHECK_RC(ipcarc_create(name, &spec, &init, &a), 0);
		CHECK_RC(ipcarc_store(a, &init, sizeof init), 0); /* version 1, counted */
		if (held) CHECK_RC(ipcarc_lock(a), 0);
		uint32_t version = held ? 1 : ipcarc_version(a);
		int64_t refcount = ipcarc_refcount(a);
		ipcarc_counters before, after;
		ipcarc_read_counters(a, &before);
		int owner = ipcarc_lock_owner(a);
		pid_t pid = fork();
		if (pid == 0) fork_child_calls(a, version, refcount);
		CHECK(pid > 0);
		int st = 0;
		CHECK(waitpid(pid, &st, 0) == pid);
		if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			fprintf(stderr, "fork child (held=%d): %s %d\n", held,
			        WIFSIGNALED(st) ? "killed by signal (hung past its alarm?)" : "exit",
			        WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		/* The parent's attachment is as it was. */
		CHECK(ipcarc_refcount(a) == refcount);
		CHECK(ipcarc_lock_owner(a) == owner);
		CHECK(!ipcarc_poisoned(a));
		CHECK(((struct counter *)ipcarc_data(a))->n == 77);
		ipcarc_read_counters(a, &after);
		CHECK(memcmp(&before, &after, sizeof before) == 0);
		if (held) {
			CHECK((ipcarc_hdr(a)->seq & 1) == 1); /* still inside the parent's section */
			CHECK_RC(ipcarc_unlock_unchanged(a), 0);
		}
		CHECK(ipcarc_version(a) == 1);
		struct counter out = {0};
		CHECK_RC(ipcarc_load(a, &out, sizeof out), 0);
		CHECK(out.n == 77);
		int reaped = -1;
		CHECK_RC(ipcarc_reap(a, &reaped), 0);
		CHECK(reaped == 0);
		CHECK_RC(ipcarc_close(a), 0);
		CHECK(!exists(name));
	}
}

/* The trust rule: a file another user owns, or that others (or an untrusted
 * group) may write, is refused with EACCES and a field before it is mapped;
 * the trust inputs of the spec accept exactly the owner / group named. */
static void test_trust(void) {
	char path[128];
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	struct counter init = {0};
	ipcarc_seg *a = NULL, *b = NULL;
	int field = 0, created = 0;
	CHECK_RC(ipcarc_create(name, &spec, &init, &a), 0);
	CHECK(strcmp(ipcarc_field_name(IPCARC_FIELD_OWNER), "owner") == 0);
	CHECK(strcmp(ipcarc_field_name(IPCARC_FIELD_MODE), "mode") == 0);

	/* World-writable, owned by the caller itself: refused by every by-name call. */
	CHECK(chmod(path, 0666) == 0);
	CHECK_RC(ipcarc_open(name, &spec, &b, &field), EACCES);
	CHECK(field == IPCARC_FIELD_MODE);
	field = 0;
	CHECK_RC(ipcarc_open_or_create(name, &spec, &init, &b, &created, &field), EACCES);
	CHECK(field == IPCARC_FIELD_MODE && !created);
	ipcarc_gc_result r;
	CHECK_RC(ipcarc_gc(name, 100000000, 0, &r), EACCES);
	CHECK(r.field == IPCARC_FIELD_MODE);
	CHECK_RC(ipcarc_remove(name, 0), EACCES);
	CHECK(exists(name));
	/* No trust option accepts others' write. */
	ipcarc_spec t = spec;
	t.trust_flags = IPCARC_TRUST_GROUP;
	t.trusted_gid = getegid();
	t.n_trusted_uids = 1;
	t.trusted_uids[0] = geteuid();
	CHECK_RC(ipcarc_open(name, &t, &b, &field), EACCES);

	/* Group-writable: refused unless that group is trusted. */
	CHECK(chmod(path, 0660) == 0);
	CHECK_RC(ipcarc_open(name, &spec, &b, &field), EACCES);
	CHECK(field == IPCARC_FIELD_MODE);
	ipcarc_spec g = spec;
	g.trust_flags = IPCARC_TRUST_GROUP;
	g.trusted_gid = getegid() + 1;
	CHECK_RC(ipcarc_open(name, &g, &b, &field), EACCES);
	g.trusted_gid = getegid();
	CHECK_RC(ipcarc_open(name, &g, &b, &field), 0);
	CHECK(b && ipcarc_refcount(b) == 2);
	CHECK_RC(ipcarc_close(b), 0);
	g.trust_flags = 2; /* an unknown flag */
	CHECK_RC(ipcarc_open(name, &g, &b, &field), EINVAL);
	g = spec;
	g.n_trusted_uids = IPCARC_MAX_TRUSTED_UIDS + 1;
	CHECK_RC(ipcarc_open(name, &g, &b, &field), EINVAL);
	CHECK(chmod(path, 0600) == 0);

	if (geteuid() == 0) {
		/* Owned by another uid: refused, unless that uid is trusted. */
		CHECK(chown(path, 65534, 65534) == 0);
		field = 0;
		CHECK_RC(ipcarc_open(name, &spec, &b, &field), EACCES);
		CHECK(field == IPCARC_FIELD_OWNER);
		CHECK_RC(ipcarc_open_or_create(name, &spec, &init, &b, &created, &field), EACCES);
		CHECK(field == IPCARC_FIELD_OWNER && !created);
		ipcarc_spec u = spec;
		u.n_trusted_uids = 2;
		u.trusted_uids[0] = 1234;
		u.trusted_uids[1] = 65534;
		CHECK_RC(ipcarc_open(name, &u, &b, &field), 0);
		CHECK_RC(ipcarc_store(b, &init, sizeof init), 0);
		CHECK_RC(ipcarc_close(b), 0);
		CHECK(chown(path, 0, 0) == 0);
	}
	CHECK_RC(ipcarc_close(a), 0);
	CHECK(!exists(name));

	if (geteuid() == 0) {
		/* A squatter (uid 65534) takes the name first with a 0666 file of
		 * garbage: OpenOrNew refuses it and leaves it as it was. */
		pid_t pid = fork();
		if (pid == 0) {
			if (setgid(65534) || setuid(65534)) _exit(2);
			int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0666);
			if (fd < 0 || fchmod(fd, 0666)) _exit(3);
			char junk[4096];
			memset(junk, 0xA5, sizeof junk);
			_exit(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk ? 0 : 4);
		}
		int st;
		waitpid(pid, &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		CHECK_RC(ipcarc_open_or_create(name, &spec, &init, &b, &created, &field), EACCES);
		CHECK(field == IPCARC_FIELD_OWNER && !created);
		CHECK_RC(ipcarc_open(name, &spec, &b, &field), EACCES);
		struct stat sb;
		CHECK(stat(path, &sb) == 0 && sb.st_uid == 65534 && sb.st_size == 4096 && (sb.st_mode & 0777) == 0666);
		/* Another user's file is refused even forced (root acts on it only
		 * as that user): nothing mapped, nothing unlinked. */
		CHECK_RC(ipcarc_remove(name, 0), EACCES);
		CHECK_RC(ipcarc_remove(name, 1), EACCES);
		CHECK(exists(name));
		unlink(path);
	}
}

/* Slices: create, shape refusals both ways, load/store/get/set, length
 * bounds, fork children, a death inside a length-changing store's lock, and
 * a length word beyond the capacity. */
static void test_slices(void) {
	char sn[80];
	snprintf(sn, sizeof sn, "%s-slice", name);
	ipcarc_spec es = spec;
	es.value_size = sizeof(uint64_t);
	es.value_align = _Alignof(uint64_t);
	es.type_tag = ipcarc_tag("ipcarc.u64.v1");
	uint64_t init[3] = {1, 2, 3};
	ipcarc_seg *s = NULL, *o = NULL;
	int field = 0, created = 0;
	CHECK_RC(ipcarc_slice_create(sn, &es, 8, init, 9, &s), EINVAL); /* n_init > capacity */
	es.shape = IPCARC_SHAPE_SLICE;
	CHECK_RC(ipcarc_create(sn, &es, init, &s), EINVAL); /* a slice needs its capacity */
	es.shape = IPCARC_SHAPE_VALUE;
	CHECK_RC(ipcarc_slice_create(sn, &es, 8, init, 3, &s), 0);
	CHECK(ipcarc_slice_len(s) == 3 && ipcarc_slice_cap(s) == 8);
	CHECK(ipcarc_hdr(s)->shape == IPCARC_SHAPE_SLICE && ipcarc_hdr(s)->capacity == 8);
	/* Shape refusals, both ways. */
	CHECK_RC(ipcarc_open(sn, &es, &o, &field), EPROTOTYPE);
	CHECK(field == IPCARC_FIELD_SHAPE);
	CHECK(strcmp(ipcarc_field_name(IPCARC_FIELD_SHAPE), "shape") == 0);
	ipcarc_seg *v = NULL;
	uint64_t one = 5;
	char vn[80];
	snprintf(vn, sizeof vn, "%s-value", name);
	CHECK_RC(ipcarc_create(vn, &es, &one, &v), 0);
	field = 0;
	CHECK_RC(ipcarc_slice_open(vn, &es, &o, &field), EPROTOTYPE);
	CHECK(field == IPCARC_FIELD_SHAPE);
	size_t n = 99;
	CHECK_RC(ipcarc_slice_load(v, init, 3, &n), EINVAL);
	CHECK(ipcarc_slice_len(v) == 0 && ipcarc_slice_cap(v) == 0);
	CHECK_RC(ipcarc_close(v), 0);
	/* Open and open_or_create find the slice's capacity in the segment. */
	CHECK_RC(ipcarc_slice_open_or_create(sn, &es, 100, NULL, 0, &o, &created, &field), 0);
	CHECK(!created && ipcarc_slice_cap(o) == 8 && ipcarc_slice_len(o) == 3);
	uint64_t got[8] = {0};
	CHECK_RC(ipcarc_slice_load(o, got, 8, &n), 0);
	CHECK(n == 3 && got[0] == 1 && got[2] == 3);
	CHECK_RC(ipcarc_slice_load(o, got, 2, &n), ENOBUFS);
	CHECK(n == 3);
	CHECK_RC(ipcarc_load(o, got, sizeof(uint64_t)), EINVAL);
	CHECK_RC(ipcarc_store(o, got, sizeof(uint64_t)), EINVAL);
	uint64_t big[9] = {7, 7, 7, 7, 7, 7, 7, 7, 7};
	CHECK_RC(ipcarc_slice_store(o, big, 9), ERANGE);
	CHECK_RC(ipcarc_slice_store(o, big, 5), 0);
	CHECK(ipcarc_slice_len(s) == 5);
	uint64_t x = 0, y = 11;
	CHECK_RC(ipcarc_slice_get(s, 4, &x), 0);
	CHECK(x == 7);
	CHECK_RC(ipcarc_slice_get(s, 5, &x), ERANGE);
	CHECK_RC(ipcarc_slice_get(s, 1000, &x), ERANGE);
	CHECK_RC(ipcarc_slice_set(s, 4, &y), 0);
	CHECK_RC(ipcarc_slice_set(s, 5, &y), ERANGE);
	CHECK_RC(ipcarc_slice_get(o, 4, &x), 0);
	CHECK(x == 11);
	/* The length under the lock. */
	CHECK_RC(ipcarc_slice_set_len(s, 2), EPERM);
	CHECK_RC(ipcarc_lock(s), 0);
	CHECK_RC(ipcarc_slice_set_len(s, 9), ERANGE);
	CHECK_RC(ipcarc_slice_set_len(s, 2), 0);
	CHECK_RC(ipcarc_unlock(s), 0);
	CHECK(ipcarc_slice_len(o) == 2);
	/* Children increment every element: exact totals. */
	CHECK_RC(ipcarc_slice_store(s, (uint64_t[4]){0, 0, 0, 0}, 4), 0);
	pid_t kids[3];
	for (int k = 0; k < 3; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			ipcarc_seg *c = NULL;
			int f;
			if (ipcarc_slice_open(sn, &es, &c, &f) != 0) _exit(2);
			for (int i = 0; i < 1000; i++) {
				if (ipcarc_lock(c) != 0) _exit(3);
				uint64_t *d = ipcarc_data(c);
				for (size_t j = 0; j < ipcarc_slice_len(c); j++) d[j]++;
				if (ipcarc_unlock(c) != 0) _exit(4);
			}
			_exit(ipcarc_close(c) == 0 ? 0 : 5);
		}
	}
	for (int k = 0; k < 3; k++) {
		int st;
		waitpid(kids[k], &st, 0);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	CHECK_RC(ipcarc_slice_load(s, got, 8, &n), 0);
	CHECK(n == 4 && got[0] == 3000 && got[3] == 3000);
	/* A fork child's inherited handle: ECHILD, nothing read or written. */
	pid_t pid = fork();
	if (pid == 0) {
		size_t m = 7;
		int ok = ipcarc_slice_load(s, got, 8, &m) == ECHILD && m == 0 &&
		         ipcarc_slice_store(s, big, 1) == ECHILD && ipcarc_slice_get(s, 0, &x) == ECHILD &&
		         ipcarc_slice_set(s, 0, &y) == ECHILD && ipcarc_slice_set_len(s, 1) == ECHILD &&
		         ipcarc_slice_len(s) == 0 && ipcarc_slice_cap(s) == 0;
		_exit(ok ? 0 : 1);
	}
	int st;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* A child dies inside a lock that changed the length: poisoned, and the
	 * repair sets a length and clears it. */
	pid = fork();
	if (pid == 0) {
		ipcarc_seg *c = NULL;
		int f;
		if (ipcarc_slice_open(sn, &es, &c, &f) != 0) _exit(2);
		if (ipcarc_lock(c) != 0) _exit(3);
		ipcarc_slice_set_len(c, 8);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_RC(ipcarc_slice_load(s, got, 8, &n), ENOTRECOVERABLE);
	CHECK_RC(ipcarc_slice_store(s, big, 1), ENOTRECOVERABLE);
	CHECK_RC(ipcarc_lock(s), EOWNERDEAD);
	CHECK(ipcarc_slice_len(s) == 8);
	CHECK_RC(ipcarc_slice_set_len(s, 1), 0);
	CHECK_RC(ipcarc_clear_poison(s), 0);
	CHECK_RC(ipcarc_unlock(s), 0);
	CHECK_RC(ipcarc_slice_load(s, got, 8, &n), 0);
	CHECK(n == 1);
	/* A length word beyond the capacity: never followed. */
	__atomic_store_n(&ipcarc_hdr(s)->slice_len, (uint64_t)1 << 62, __ATOMIC_SEQ_CST);
	CHECK(ipcarc_slice_len(s) == 8);
	CHECK_RC(ipcarc_slice_load(s, got, 8, &n), EBADMSG);
	CHECK(n == 8);
	CHECK_RC(ipcarc_slice_get(s, 0, &x), EBADMSG);
	CHECK_RC(ipcarc_lock(s), 0);
	CHECK(ipcarc_poisoned(s));
	CHECK_RC(ipcarc_slice_set_len(s, 0), 0);
	CHECK_RC(ipcarc_clear_poison(s), 0);
	CHECK_RC(ipcarc_unlock(s), 0);
	CHECK(ipcarc_slice_len(s) == 0);
	/* A capacity word that does not match the file: refused at attach. */
	__atomic_store_n(&ipcarc_hdr(s)->capacity, (uint64_t)1 << 45, __ATOMIC_SEQ_CST);
	CHECK_RC(ipcarc_slice_open(sn, &es, &v, &field), EBADMSG);
	CHECK(field == IPCARC_FIELD_LAYOUT);
	__atomic_store_n(&ipcarc_hdr(s)->capacity, 8, __ATOMIC_SEQ_CST);
	__atomic_store_n(&ipcarc_hdr(s)->shape, 9, __ATOMIC_SEQ_CST);
	CHECK_RC(ipcarc_slice_open(sn, &es, &v, &field), EBADMSG);
	CHECK(field == IPCARC_FIELD_SHAPE);
	__atomic_store_n(&ipcarc_hdr(s)->shape, IPCARC_SHAPE_SLICE, __ATOMIC_SEQ_CST);
	CHECK_RC(ipcarc_close(o), 0);
	CHECK_RC(ipcarc_close(s), 0);
	CHECK(!exists(sn));
}

int main(void) {
	snprintf(name, sizeof name, "ipcarc-test-c-%d", (int)getpid());
	spec.value_size = sizeof(struct counter);
	spec.value_align = _Alignof(struct counter);
	spec.type_tag = ipcarc_tag("ipcarc.counter.v1");
	spec.mode = 0600;
	spec.open_timeout_ns = 1000000000;
	test_names_and_tags();
	test_lifecycle();
	test_locking();
	test_fast_paths();
	test_processes();
	test_fork_child();
	test_trust();
	test_slices();
	ipcarc_remove(name, 1);
	if (failures) {
		fprintf(stderr, "cshm_test: %d failed\n", failures);
		return 1;
	}
	printf("cshm_test: all checks passed\n");
	return 0;
}
