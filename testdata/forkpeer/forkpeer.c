/*
 * forkpeer - a C holder that forks without exec, for
 * TestForkedChildDoesNotKeepHolderAlive (table_test.go). The test compiles
 * it with the C layer into its temporary directory:
 *     cc -O2 -I<repo> forkpeer.c validate.c cshm.c admin.c slice.c table.c liveness.c valuelock.c -lpthread
 *
 * The value is the Go test type Counter (64 bytes, alignment 8) under the tag
 * "ipcarc.counter.v1". Every step is one line on stdout, flushed at once.
 *
 *     hold NAME   open: "attached slot=S"; fork; the child says "child PID"
 *                 and waits for EOF on stdin, never touching ipcarc; the
 *                 parent says "forked PID" and waits to be killed (or for EOF)
 *     clone NAME  open: "attached slot=S"; fork; the child calls ipcarc_clone,
 *                 ipcarc_reap and ipcarc_close on the inherited handle and
 *                 says "child clone=RC reap=RC close=RC"; the parent waits
 *                 for it, says "refcount N", closes: "closed RC"
 *     calls NAME  open: "attached slot=S"; fork; the child calls every call of
 *     held NAME   ipcarc.h that returns a code on the inherited handle, under
 *                 alarm(5) (a hang kills it), and says one line
 *                 "child lock=RC trylock=RC ... close=RC", then one line
 *                 "child values data=P hdr=P refcount=N slot=S poisoned=P
 *                 owner=T table_owner=T version=V alive=A counters=C" for the
 *                 value-returning calls (P 1 if non-NULL, C 1 if any counter
 *                 read non-zero); the parent waits for it and says
 *                 "parent refcount=N version=V n=N locked=B" and
 *                 "closed RC". held: the parent holds the value lock across
 *                 the fork and until the child is gone (then unlocks,
 *                 unchanged).
 */
#include "cshm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct counter {
	uint64_t n;
	uint64_t spare[7];
};

static void say(const char *fmt, int a, int b, int c) {
	printf(fmt, a, b, c);
	fflush(stdout);
}

/* The fork child of calls/held: every call on the inherited handle. */
static void child_calls(ipcarc_seg *s) {
	alarm(5);
	struct counter v = {.n = 1000};
	uint32_t now = 0;
	int reaped = -1;
	int r[16];
	r[0] = ipcarc_lock(s);
	r[1] = ipcarc_trylock(s);
	r[2] = ipcarc_timedlock(s, 100000000);
	r[3] = ipcarc_unlock(s);
	r[4] = ipcarc_unlock_unchanged(s);
	r[5] = ipcarc_clear_poison(s);
	r[6] = ipcarc_store(s, &v, sizeof v);
	r[7] = ipcarc_load(s, &v, sizeof v);
	r[8] = ipcarc_wait(s, 0, -1, &now);
	r[9] = ipcarc_wait(s, 1u << 30, -1, &now);
	r[10] = ipcarc_reap(s, &reaped);
	r[11] = ipcarc_clone(s);
	ipcarc_counters c;
	ipcarc_read_counters(s, &c);
	int nonzero = 0;
	for (size_t i = 0; i < sizeof c; i++) nonzero |= ((unsigned char *)&c)[i] != 0;
	printf("child values data=%d hdr=%d refcount=%d slot=%d poisoned=%d owner=%d table_owner=%d "
	       "version=%u alive=%d counters=%d\n",
	       ipcarc_data(s) != NULL, ipcarc_hdr(s) != NULL, (int)ipcarc_refcount(s), ipcarc_slot(s),
	       ipcarc_poisoned(s), ipcarc_lock_owner(s), ipcarc_table_owner(s), ipcarc_version(s),
	       ipcarc_holder_alive(s, 0), nonzero);
	r[12] = ipcarc_close(s);
	printf("child lock=%d trylock=%d timedlock=%d unlock=%d unlock_unchanged=%d clear_poison=%d "
	       "store=%d load=%d wait=%d wait_changed=%d reap=%d clone=%d close=%d\n",
	       r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12]);
	fflush(stdout);
	_exit(v.n == 1000 ? 0 : 3); /* nothing was copied out */
}

static int calls_main(ipcarc_seg *s, int held) {
	int rc;
	if (held && (rc = ipcarc_lock(s)) != 0) {
		fprintf(stderr, "forkpeer: lock: %s\n", strerror(rc));
		return 1;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("forkpeer: fork");
		return 1;
	}
	if (pid == 0) child_calls(s);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "forkpeer: the fork child failed (status %#x%s)\n", st,
		        WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? ": hung past its alarm" : "");
		return 1;
	}
	printf("parent refcount=%d version=%u n=%llu locked=%d\n", (int)ipcarc_refcount(s),
	       ipcarc_version(s), (unsigned long long)((struct counter *)ipcarc_data(s))->n,
	       ipcarc_lock_owner(s) != 0);
	fflush(stdout);
	if (held && (rc = ipcarc_unlock_unchanged(s)) != 0) {
		fprintf(stderr, "forkpeer: unlock: %s\n", strerror(rc));
		return 1;
	}
	rc = ipcarc_close(s);
	say("closed %d\n", rc, 0, 0);
	return rc ? 1 : 0;
}

int main(int argc, char **argv) {
	int calls = argc == 3 && (strcmp(argv[1], "calls") == 0 || strcmp(argv[1], "held") == 0);
	if (argc != 3 || (strcmp(argv[1], "hold") != 0 && strcmp(argv[1], "clone") != 0 && !calls)) {
		fprintf(stderr, "usage: forkpeer hold|clone|calls|held NAME\n");
		return 2;
	}
	ipcarc_spec sp;
	memset(&sp, 0, sizeof sp);
	sp.value_size = sizeof(struct counter);
	sp.value_align = _Alignof(struct counter);
	sp.type_tag = ipcarc_tag("ipcarc.counter.v1");
	sp.open_timeout_ns = 1000000000LL;
	ipcarc_seg *s;
	int field = 0;
	int rc = ipcarc_open(argv[2], &sp, &s, &field);
	if (rc) {
		fprintf(stderr, "forkpeer: open %s: %s (%s)\n", argv[2], strerror(rc), ipcarc_field_name(field));
		return 1;
	}
	say("attached slot=%d\n", ipcarc_slot(s), 0, 0);
	if (calls) return calls_main(s, strcmp(argv[1], "held") == 0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("forkpeer: fork");
		return 1;
	}
	if (strcmp(argv[1], "hold") == 0) {
		if (pid == 0) say("child %d\n", (int)getpid(), 0, 0);
		else say("forked %d\n", (int)pid, 0, 0);
		/* EOF on stdin ends both, so that neither outlives the test. */
		for (;;) {
			char b;
			ssize_t n = read(0, &b, 1);
			if (n == 0 || (n < 0 && errno != EINTR)) _exit(0);
		}
	}
	if (pid == 0) {
		int reaped = 0;
		int c = ipcarc_clone(s);
		int r = ipcarc_reap(s, &reaped);
		int x = ipcarc_close(s);
		say("child clone=%d reap=%d close=%d\n", c, r, x);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "forkpeer: the fork child failed\n");
		return 1;
	}
	say("refcount %d\n", (int)ipcarc_refcount(s), 0, 0);
	rc = ipcarc_close(s);
	say("closed %d\n", rc, 0, 0);
	return rc ? 1 : 0;
}
