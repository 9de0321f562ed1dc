/*
 * forkpeer - a C holder that forks without exec, for
 * TestForkedChildDoesNotKeepHolderAlive (layout2_test.go). The test compiles
 * it with the C layer into its temporary directory:
 *     cc -O2 -I<repo> forkpeer.c cshm.c table.c liveness.c valuelock.c -lpthread
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
 */
#include "cshm.h"

#include <errno.h>
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

int main(int argc, char **argv) {
	if (argc != 3 || (strcmp(argv[1], "hold") != 0 && strcmp(argv[1], "clone") != 0)) {
		fprintf(stderr, "usage: forkpeer hold|clone NAME\n");
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
