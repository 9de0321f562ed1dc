/*
 * liveness.c - who is alive, in O(1) and without a system call.
 *
 * Each holder slot has a liveness word that is a robust futex word in the
 * kernel's sense. A process keeps "keeper" threads; each registers a robust
 * list of its own (set_robust_list) and then sleeps forever with every signal
 * blocked. Attaching writes a keeper's thread id into the slot's word and
 * links the slot into that keeper's list; when the process dies (killed,
 * crashed, exec), the kernel walks the list and replaces each word that still
 * holds the keeper's id with FUTEX_OWNER_DIED. Any process then tells a live
 * holder from a dead one by reading one word.
 *
 * The list's links live in the slots (shared memory), because the kernel finds
 * each word at a fixed offset from its entry. This process only ever writes
 * those links; it follows its own private mirror of the list, so a peer that
 * scribbles on a link cannot make this process read or write through it. It
 * can make the kernel's walk stop at (or stray from) the link it spoiled, so
 * the words after it on that list are never marked when the process dies.
 *
 * One list per trust class. A list therefore threads only through segments
 * whose sets of possible writers are the same: the class of a segment is
 * taken from fstat of its fd when the fd is first known (live_class_of), and
 * is the owner uid alone (not group- or other-writable), the owner uid and
 * group (group-writable), "anyone" (other-writable), or the file itself (a
 * group-writable file with a POSIX ACL, whose mask bits may hide named
 * writers). Whoever can spoil one link of a list can write every segment the
 * list runs through anyway: a peer that writes bad bytes spoils its own
 * segment, never another one. A stray link cannot mark another list's words
 * either: the kernel marks only words holding the dying keeper's own id.
 *
 * Keepers: one per class per 1,000 slots (the kernel walks at most 2048
 * entries of a list); a keeper whose list became empty is re-keyed to
 * whichever class needs one next. So the threads are at most the highest
 * number of lists that were non-empty at once: 100 attached segments of one
 * class (say, all 0600 of one user) use 1 keeper, 100 segments of 100
 * different classes use 100. A keeper never exits while the process lives, so
 * its list outlives any thread of the caller's (Go threads come and go). A
 * child forked without exec has no keeper: it holds no slot, and its parent's
 * slots die with the parent. Keepers are named "ipcarc-keeper"
 * (/proc/PID/task/TID/comm).
 */
#define _GNU_SOURCE
#include "cshm_internal.h"

#include <linux/futex.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The kernel walks at most ROBUST_LIST_LIMIT (2048) entries of one list. */
#define KEEPER_SLOTS 1000

struct keeper {
	struct robust_list_head head; /* read by the kernel when the keeper dies */
	pid_t tid;
	int count;
	int err;
	live_class cls; /* the class of every slot on the list; any class when count is 0 */
	live_reg *first; /* private mirror of head's list, same order */
	struct keeper *next_keeper;
	sem_t ready;
	uint32_t never; /* the keeper sleeps on this word forever */
};

static pthread_mutex_t keepers_mu = PTHREAD_MUTEX_INITIALIZER;
static struct keeper *keepers;
/* Bumped in every forked child; read directly by live_forked (cshm_internal.h). */
unsigned ipcarc_fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void) { pthread_mutex_lock(&keepers_mu); }
static void after_fork_parent(void) { pthread_mutex_unlock(&keepers_mu); }
static void after_fork_child(void) {
	/* The keepers were not copied: the child starts with none, and every
	 * handle it inherited belongs to an older generation. The keeper structs
	 * are left allocated (the parent's lists still thread through them). */
	pthread_mutex_init(&keepers_mu, NULL);
	keepers = NULL;
	__atomic_store_n(&ipcarc_fork_generation, ipcarc_fork_generation + 1, RLX);
}
static void register_atfork(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

unsigned live_generation(void) {
	pthread_once(&atfork_once, register_atfork);
	return __atomic_load_n(&ipcarc_fork_generation, RLX);
}

static void *keeper_main(void *arg) {
	struct keeper *k = arg;
	k->tid = (pid_t)syscall(SYS_gettid);
	prctl(PR_SET_NAME, "ipcarc-keeper", 0, 0, 0);
	/* Replaces glibc's list for this thread: the keeper takes no pthread
	 * mutex, robust or not, so nothing of glibc's is lost. */
	if (syscall(SYS_set_robust_list, &k->head, sizeof k->head) != 0) k->err = errno ? errno : ENOSYS;
	sem_post(&k->ready);
	for (;;) syscall(SYS_futex, &k->never, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

static int keeper_start(struct keeper **out) {
	struct keeper *k = calloc(1, sizeof *k);
	if (!k) return ENOMEM;
	k->head.list.next = &k->head.list; /* empty: the list ends where it points at its head */
	k->head.futex_offset = (long)offsetof(ipcarc_holder, live) - (long)offsetof(ipcarc_holder, robust_next);
	k->head.list_op_pending = NULL;
	sem_init(&k->ready, 0, 0);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 * 1024);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	/* Every signal blocked: the keeper never runs a handler (a Go program's
	 * handlers expect Go threads) and is never stopped by one alone. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t th;
	int rc = pthread_create(&th, &at, keeper_main, k);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&at);
	if (rc) {
		sem_destroy(&k->ready);
		free(k);
		return rc;
	}
	while (sem_wait(&k->ready) == -1 && errno == EINTR) {
	}
	if (k->err) {
		/* The thread sleeps on; it holds nothing. */
		return k->err;
	}
	*out = k;
	return 0;
}

static inline struct robust_list *entry_of(ipcarc_holder *h) {
	return (struct robust_list *)(void *)&h->robust_next;
}

static inline void store_link(struct robust_list *e, struct robust_list *next) {
	__atomic_store_n(&e->next, next, REL);
}

enum { LIVE_OWNER = 1, LIVE_GROUP, LIVE_ANYONE, LIVE_SOLO };
_Static_assert(sizeof(live_class) == 4 * sizeof(uint32_t) + 2 * sizeof(uint64_t), "live_class has no padding");

void live_class_of(int fd, live_class *c) {
	memset(c, 0, sizeof *c);
	struct stat st;
	if (fstat(fd, &st) == -1) {
		c->err = errno ? errno : EIO;
		return;
	}
	if (st.st_mode & S_IWOTH) {
		c->kind = LIVE_ANYONE; /* everyone can write it: uid and group add nobody */
	} else if (st.st_mode & S_IWGRP) {
		/* With a POSIX ACL the group bits are its mask: named users and
		 * groups may write too. Such a file is a class of its own. */
		ssize_t n = fgetxattr(fd, "system.posix_acl_access", NULL, 0);
		if (n > 0 || (n < 0 && errno != ENODATA && errno != EOPNOTSUPP)) {
			c->kind = LIVE_SOLO;
			c->dev = (uint64_t)st.st_dev;
			c->ino = (uint64_t)st.st_ino;
		} else {
			c->kind = LIVE_GROUP;
			c->uid = (uint32_t)st.st_uid;
			c->gid = (uint32_t)st.st_gid;
		}
	} else {
		c->kind = LIVE_OWNER; /* the owner (who can always chmod) and root */
		c->uid = (uint32_t)st.st_uid;
	}
}

/* Under keepers_mu: a keeper with room whose list is of class c, else an
 * empty one (re-keyed to c), else a new one. */
static int keeper_for(const live_class *c, struct keeper **out) {
	struct keeper *empty = NULL;
	for (struct keeper *k = keepers; k; k = k->next_keeper) {
		if (k->count > 0 && k->count < KEEPER_SLOTS && memcmp(&k->cls, c, sizeof *c) == 0) {
			*out = k;
			return 0;
		}
		if (k->count == 0 && (!empty || memcmp(&k->cls, c, sizeof *c) == 0)) empty = k;
	}
	if (!empty) {
		int rc = keeper_start(&empty);
		if (rc) return rc;
		empty->next_keeper = keepers;
		keepers = empty;
	}
	/* An empty list threads through nothing: it may change class. */
	memcpy(&empty->cls, c, sizeof *c); /* padding and all: compared with memcmp */
	*out = empty;
	return 0;
}

int live_register(live_reg *r, ipcarc_holder *slot, const live_class *c) {
	if (c->err) return c->err;
	if (c->kind == 0) return EINVAL; /* never classified: share with nobody */
	pthread_once(&atfork_once, register_atfork);
	pthread_mutex_lock(&keepers_mu);
	struct keeper *k;
	int rc = keeper_for(c, &k);
	if (rc) {
		pthread_mutex_unlock(&keepers_mu);
		return rc;
	}
	struct robust_list *e = entry_of(slot);
	/* The kernel's protocol for a list change: name the entry in
	 * list_op_pending first, so a death in the middle still marks its word. */
	__atomic_store_n(&k->head.list_op_pending, e, SEQ);
	struct robust_list *first = k->first ? entry_of(k->first->slot) : &k->head.list;
	store_link(e, first);
	A_STORE(&slot->live, (uint32_t)k->tid, SEQ);
	__atomic_store_n(&k->head.list.next, e, SEQ);
	__atomic_store_n(&k->head.list_op_pending, NULL, SEQ);
	r->k = k;
	r->slot = slot;
	r->prev = NULL;
	r->next = k->first;
	if (k->first) k->first->prev = r;
	k->first = r;
	k->count++;
	pthread_mutex_unlock(&keepers_mu);
	return 0;
}

int live_unregister(live_reg *r) {
	if (!r->slot) return 0;
	pthread_mutex_lock(&keepers_mu);
	struct keeper *k = r->k;
	ipcarc_holder *slot = r->slot;
	struct robust_list *e = entry_of(slot);
	__atomic_store_n(&k->head.list_op_pending, e, SEQ);
	struct robust_list *after = r->next ? entry_of(r->next->slot) : &k->head.list;
	if (r->prev)
		store_link(entry_of(r->prev->slot), after);
	else
		__atomic_store_n(&k->head.list.next, after, SEQ);
	/* Clear the word only while it is still ours: a peer may have reused a
	 * slot it wrongly thought dead. */
	uint32_t mine = (uint32_t)k->tid;
	int ours = __atomic_compare_exchange_n(&slot->live, &mine, 0, 0, SEQ, RLX);
	__atomic_store_n(&k->head.list_op_pending, NULL, SEQ);
	if (r->prev) r->prev->next = r->next;
	else k->first = r->next;
	if (r->next) r->next->prev = r->prev;
	k->count--;
	pthread_mutex_unlock(&keepers_mu);
	memset(r, 0, sizeof *r);
	return ours;
}

int live_mine(const live_reg *r) {
	return r->slot && r->k && A_LOAD(&r->slot->live, ACQ) == (uint32_t)r->k->tid;
}
