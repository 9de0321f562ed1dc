/*
 * cpeer - a C process on an ipcarc segment, a user of libipcarc through its
 * public header ipcarc.h only.
 *
 * Build against an installed libipcarc (`make install PREFIX=...` from the
 * repository root; PKG_CONFIG_PATH=PREFIX/lib/pkgconfig if pkg-config does not
 * search there):
 *     cc -O2 -Wall cpeer.c $(pkg-config --cflags --libs ipcarc) -o cpeer
 * A PREFIX outside the loader's search path also needs
 *     -Wl,-rpath,$(pkg-config --variable=libdir ipcarc)
 * or, linked statically (no libipcarc.so needed at run time):
 *     cc -O2 -Wall cpeer.c $(pkg-config --cflags ipcarc) \
 *         $(pkg-config --variable=libdir ipcarc)/libipcarc.a -lpthread -o cpeer
 * `make cpeer` from the repository root does the first into build/cpeer.
 *
 * The shared value is struct counter below: the same bytes as the Go test
 * type Counter (uint64 N; [7]uint64 Spare: 64 bytes, alignment 8). Go's
 * default type tag is a hash of the Go type's layout description, which a C
 * program cannot reproduce reliably, so both sides name the type with a tag
 * string instead: Go passes WithTypeTag(COUNTER_TAG), C uses
 * ipcarc_tag(COUNTER_TAG). Both hash the string with FNV-1a 64.
 *
 * Subcommands; each writes one line per step on stdout and flushes it, so a
 * parent reading the pipe sees every step as it happens:
 *     incr NAME K [gate] open (or create with n=0), add 1 to n under the lock K times: "done";
 *                        with gate, say "ready" once attached and start counting only
 *                        after a line (or EOF) on stdin, so that several processes
 *                        started one after another count at the same time
 *     atomic NAME K I [gate]  open (or create), then K times, without the lock, add 1
 *                        to n and to spare[I-1] (I in 1..7; 0: n only) with
 *                        __atomic_fetch_add on ipcarc_data (the lock-free use of a value
 *                        of atomic fields: Go's struct{N atomic.Uint64; Spare
 *                        [7]atomic.Uint64}), then ipcarc_notify once: "done"; gate as incr
 *     create NAME VALUE  create with n=VALUE: "created"; after a line (or EOF) on
 *                        stdin read n as read does: "n=<n>", close: "closed"
 *     hold NAME          open, lock, set n=4242: "locked", then sleep until killed
 *     lock NAME          open, lock, report "ownerdied n=<n>" (the first to see a dead
 *                        owner), "poisoned n=<n>" or "ok n=<n>", unlock, close
 *     poisoned NAME      open: "poisoned=1" or "poisoned=0", close
 *     attach NAME        open: "attached", then sleep until killed
 *     read NAME          open, read n without the lock: "n=<n>" (" poisoned" appended when so), close
 *     badsize NAME       open expecting a 32-byte value: must be refused on the value size
 *     badtag NAME        open expecting another tag: must be refused on the type tag
 *     sincr NAME K [gate] open the slice of uint64_t elements (tag U64_TAG) and add 1 to
 *                        every element in use under the lock, K times: "done"
 * badsize and badtag print "refused <ERRNO NAME> <field>" and exit 0 when the
 * open was refused as expected, and exit 1 otherwise. Unexpected errors go to
 * stderr with the errno text, exit status 1; bad usage exits 2.
 */
#include <ipcarc.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNTER_TAG "ipcarc.counter.v1"

/* The Go test type Counter, byte for byte. */
struct counter {
	uint64_t n;
	uint64_t spare[7];
};
_Static_assert(sizeof(struct counter) == 64, "Counter is 64 bytes");
_Static_assert(_Alignof(struct counter) == 8, "Counter is 8-aligned");

static const char *prog = "cpeer";

/* The errno names the C API uses (cshm.h lists their meanings). */
static const char *errno_name(int e) {
	switch (e) {
	case 0: return "OK";
	case ENOENT: return "ENOENT";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case EBADMSG: return "EBADMSG";
	case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
	case EPROTOTYPE: return "EPROTOTYPE";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EUSERS: return "EUSERS";
	case EOWNERDEAD: return "EOWNERDEAD";
	case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
	case EBUSY: return "EBUSY";
	case EDEADLK: return "EDEADLK";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOSPC: return "ENOSPC";
	case ENOMEM: return "ENOMEM";
	}
	return "errno";
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	/* stdout is a pipe, so fully buffered: the parent waits for this line. */
	fflush(stdout);
}

static void die(const char *op, const char *name, int rc, int field) {
	fprintf(stderr, "%s: %s %s: %s (%d): %s", prog, op, name, errno_name(rc), rc, strerror(rc));
	if (field != IPCARC_FIELD_NONE) fprintf(stderr, " [field: %s]", ipcarc_field_name(field));
	fputc('\n', stderr);
	exit(1);
}

static ipcarc_spec counter_spec(void) {
	ipcarc_spec sp;
	memset(&sp, 0, sizeof sp);
	sp.value_size = sizeof(struct counter);
	sp.value_align = _Alignof(struct counter);
	sp.type_tag = ipcarc_tag(COUNTER_TAG);
	sp.mode = 0600;
	/* Attaching takes the segment mutex; under a busy lock the 1s default
	 * can be short. */
	sp.open_timeout_ns = 5000000000LL;
	return sp;
}

static ipcarc_seg *open_counter(const char *name) {
	ipcarc_spec sp = counter_spec();
	ipcarc_seg *s = NULL;
	int field = IPCARC_FIELD_NONE;
	int rc = ipcarc_open(name, &sp, &s, &field);
	if (rc) die("open", name, rc, field);
	return s;
}

/* Lock; EOWNERDEAD also means the lock is held (the value is poisoned). */
static void lock(ipcarc_seg *s, const char *name) {
	int rc = ipcarc_lock(s);
	if (rc == EOWNERDEAD) {
		fprintf(stderr, "%s: lock %s: previous owner died; value poisoned\n", prog, name);
		return;
	}
	if (rc) die("lock", name, rc, 0);
}

static void unlock(ipcarc_seg *s, const char *name) {
	int rc = ipcarc_unlock(s);
	if (rc) die("unlock", name, rc, 0);
}

static void close_seg(ipcarc_seg *s, const char *name) {
	int rc = ipcarc_close(s);
	if (rc) die("close", name, rc, 0);
}

static void sleep_forever(void) {
	for (;;) pause();
}

static uint64_t parse_u64(const char *arg, const char *what) {
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end) {
		fprintf(stderr, "%s: bad %s \"%s\"\n", prog, what, arg);
		exit(2);
	}
	return (uint64_t)v;
}

/* Wait for a line or EOF on stdin: the parent's "go" (or "close"). */
static void wait_stdin(void) {
	char line[64];
	(void)!fgets(line, sizeof line, stdin);
}

/* Attach to the counter (creating it when absent) and, with gate, say
 * "ready" and wait for the parent's "go". */
static ipcarc_seg *attach_counter(const char *name, int gate) {
	ipcarc_spec sp = counter_spec();
	struct counter zero;
	memset(&zero, 0, sizeof zero);
	ipcarc_seg *s = NULL;
	int created = 0, field = IPCARC_FIELD_NONE;
	int rc = ipcarc_open_or_create(name, &sp, &zero, &s, &created, &field);
	if (rc) die("open or create", name, rc, field);
	if (gate) {
		say("ready");
		wait_stdin();
	}
	return s;
}

static int cmd_incr(const char *name, uint64_t k, int gate) {
	ipcarc_seg *s = attach_counter(name, gate);
	struct counter *c = ipcarc_data(s);
	for (uint64_t i = 0; i < k; i++) {
		lock(s, name);
		c->n++;
		unlock(s, name);
	}
	close_seg(s, name);
	say("done");
	return 0;
}

static int cmd_create(const char *name, uint64_t value) {
	ipcarc_spec sp = counter_spec();
	struct counter init;
	memset(&init, 0, sizeof init);
	init.n = value;
	ipcarc_seg *s = NULL;
	int rc = ipcarc_create(name, &sp, &init, &s);
	if (rc) die("create", name, rc, 0);
	say("created");
	wait_stdin();
	struct counter now;
	rc = ipcarc_load(s, &now, sizeof now);
	/* A poisoned value is still copied out; report it and still close. */
	if (rc && rc != ENOTRECOVERABLE && rc != EOWNERDEAD) die("load", name, rc, 0);
	say("n=%" PRIu64 "%s", now.n, rc ? " poisoned" : "");
	close_seg(s, name);
	say("closed");
	return 0;
}

static int cmd_hold(const char *name) {
	ipcarc_seg *s = open_counter(name);
	lock(s, name);
	((struct counter *)ipcarc_data(s))->n = 4242;
	say("locked");
	sleep_forever();
	return 0;
}

static int cmd_lock(const char *name) {
	ipcarc_seg *s = open_counter(name);
	int rc = ipcarc_lock(s);
	if (rc && rc != EOWNERDEAD) die("lock", name, rc, 0);
	uint64_t n = ((struct counter *)ipcarc_data(s))->n;
	const char *state = rc == EOWNERDEAD ? "ownerdied" : ipcarc_poisoned(s) ? "poisoned" : "ok";
	/* Nothing written: the version stays and no waiter wakes. */
	rc = ipcarc_unlock_unchanged(s);
	if (rc) die("unlock", name, rc, 0);
	say("%s n=%" PRIu64, state, n);
	close_seg(s, name);
	return 0;
}

static int cmd_poisoned(const char *name) {
	ipcarc_seg *s = open_counter(name);
	say("poisoned=%d", ipcarc_poisoned(s));
	close_seg(s, name);
	return 0;
}

static int cmd_attach(const char *name) {
	open_counter(name);
	say("attached");
	sleep_forever();
	return 0;
}

static int cmd_read(const char *name) {
	ipcarc_seg *s = open_counter(name);
	struct counter now;
	int rc = ipcarc_load(s, &now, sizeof now);
	if (rc && rc != ENOTRECOVERABLE && rc != EOWNERDEAD) die("load", name, rc, 0);
	say("n=%" PRIu64 "%s", now.n, rc ? " poisoned" : "");
	close_seg(s, name);
	return 0;
}

/* Open with a spec that must not match; succeed only on the expected refusal. */
static int expect_refusal(const char *name, ipcarc_spec sp, int want_field) {
	ipcarc_seg *s = NULL;
	int field = IPCARC_FIELD_NONE;
	int rc = ipcarc_open(name, &sp, &s, &field);
	if (rc == 0) {
		fprintf(stderr, "%s: open %s: accepted a mismatched spec\n", prog, name);
		close_seg(s, name);
		return 1;
	}
	if (rc != EPROTOTYPE || field != want_field) die("open (expecting a refusal)", name, rc, field);
	say("refused %s %s", errno_name(rc), ipcarc_field_name(field));
	return 0;
}

#define U64_TAG "ipcarc.u64.v1"

static int cmd_sincr(const char *name, uint64_t k, int gate) {
	ipcarc_spec sp;
	memset(&sp, 0, sizeof sp);
	sp.value_size = sizeof(uint64_t);
	sp.value_align = _Alignof(uint64_t);
	sp.type_tag = ipcarc_tag(U64_TAG);
	sp.open_timeout_ns = 5000000000LL;
	ipcarc_seg *s = NULL;
	int field = IPCARC_FIELD_NONE;
	int rc = ipcarc_slice_open(name, &sp, &s, &field);
	if (rc) die("open slice", name, rc, field);
	if (gate) {
		say("ready");
		wait_stdin();
	}
	for (uint64_t i = 0; i < k; i++) {
		lock(s, name);
		uint64_t *v = ipcarc_data(s);
		size_t n = ipcarc_slice_len(s);
		for (size_t j = 0; j < n; j++) v[j]++;
		unlock(s, name);
	}
	close_seg(s, name);
	say("done");
	return 0;
}

static int usage(void) {
	fprintf(stderr,
	        "usage: %s incr NAME K [gate] | create NAME VALUE | hold NAME | lock NAME | poisoned NAME |\n"
	        "       attach NAME | read NAME | badsize NAME | badtag NAME | sincr NAME K [gate]\n",
	        prog);
	return 2;
}

/* Lock-free adds: the same sequentially consistent atomic add, on the same
 * address, as Go's atomic.Uint64.Add and Rust's AtomicU64::fetch_add. */
static int cmd_atomic(const char *name, uint64_t k, uint64_t idx, int gate) {
	if (idx > 7) return usage();
	ipcarc_seg *s = attach_counter(name, gate);
	struct counter *c = ipcarc_data(s);
	int rc;
	for (uint64_t i = 0; i < k; i++) {
		__atomic_fetch_add(&c->n, 1, __ATOMIC_SEQ_CST);
		if (idx) __atomic_fetch_add(&c->spare[idx - 1], 1, __ATOMIC_SEQ_CST);
	}
	if ((rc = ipcarc_notify(s))) die("notify", name, rc, 0);
	close_seg(s, name);
	say("done");
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) return usage();
	const char *cmd = argv[1], *name = argv[2];
	if (strcmp(cmd, "incr") == 0 && (argc == 4 || (argc == 5 && strcmp(argv[4], "gate") == 0)))
		return cmd_incr(name, parse_u64(argv[3], "count"), argc == 5);
	if (strcmp(cmd, "atomic") == 0 && (argc == 5 || (argc == 6 && strcmp(argv[5], "gate") == 0)))
		return cmd_atomic(name, parse_u64(argv[3], "count"), parse_u64(argv[4], "index"), argc == 6);
	if (strcmp(cmd, "sincr") == 0 && (argc == 4 || (argc == 5 && strcmp(argv[4], "gate") == 0)))
		return cmd_sincr(name, parse_u64(argv[3], "count"), argc == 5);
	if (argc == 4 && strcmp(cmd, "create") == 0) return cmd_create(name, parse_u64(argv[3], "value"));
	if (argc != 3) return usage();
	if (strcmp(cmd, "hold") == 0) return cmd_hold(name);
	if (strcmp(cmd, "lock") == 0) return cmd_lock(name);
	if (strcmp(cmd, "poisoned") == 0) return cmd_poisoned(name);
	if (strcmp(cmd, "attach") == 0) return cmd_attach(name);
	if (strcmp(cmd, "read") == 0) return cmd_read(name);
	if (strcmp(cmd, "badsize") == 0) {
		ipcarc_spec sp = counter_spec();
		sp.value_size = 32; /* half a Counter */
		return expect_refusal(name, sp, IPCARC_FIELD_VALUE_SIZE);
	}
	if (strcmp(cmd, "badtag") == 0) {
		ipcarc_spec sp = counter_spec();
		sp.type_tag = ipcarc_tag("ipcarc.counter.v2"); /* same bytes, another type */
		return expect_refusal(name, sp, IPCARC_FIELD_TYPE_TAG);
	}
	return usage();
}
