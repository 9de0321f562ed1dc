/*
 * cshm.c - segments by name: opening a file under the trust rule, creating,
 * attaching, cloning and closing (see cshm.h, LAYOUT.md). The checks every
 * peer makes on a header are validate.c's, gc and remove by name admin.c's,
 * the slice shape slice.c's, the holder table table.c's, liveness
 * liveness.c's, and the value's lock and seqlock valuelock.c's. Go reaches
 * all of it through cgo_bridge.go; C and Rust peers link the same files.
 */
#define _GNU_SOURCE
#include "cshm_internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IPCARC_SHM_DIR "/dev/shm" /* where glibc's shm_open keeps names */
/* A creator of layout 2 before 0.2.0 could fall back to O_CREAT|O_EXCL: it
 * made the file empty, then took the init lock. Openers still wait for one
 * (reading only): an empty file younger than this may be one in that instant.
 * This library never names a file before it is READY. */
#define EMPTY_GRACE_NS 2000000000LL

/* ---- fault points ---------------------------------------------------------- */
#ifdef IPCARC_FAULTS
static char fault_phase[64];
static int fault_stop;
void ipcarc_fault_arm(const char *phase) {
	snprintf(fault_phase, sizeof fault_phase, "%s", phase ? phase : "");
	char *c = strchr(fault_phase, ':');
	fault_stop = c && strcmp(c, ":stop") == 0;
	if (c) *c = 0;
}
void ipcarc_fault_hit(const char *phase) {
	if (fault_phase[0] && strcmp(fault_phase, phase) == 0) {
		if (fault_stop) {
			fault_phase[0] = 0; /* once: after SIGCONT the process goes on */
			raise(SIGSTOP);
		} else {
			raise(SIGKILL);
		}
	}
}
#else
void ipcarc_fault_arm(const char *phase) { (void)phase; }
#endif

/* ---- small helpers -------------------------------------------------------- */

int64_t ipcarc_now_ns(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Timeouts saturate at a century: now + ns must not overflow. */
#define IPCARC_FOREVER_NS (100LL * 365 * 24 * 3600 * 1000000000LL)

struct timespec ipcarc_abs_after(int64_t ns) {
	if (ns > IPCARC_FOREVER_NS) ns = IPCARC_FOREVER_NS;
	int64_t t = ipcarc_now_ns(CLOCK_MONOTONIC) + (ns < 0 ? 0 : ns);
	struct timespec ts = {.tv_sec = t / 1000000000LL, .tv_nsec = t % 1000000000LL};
	return ts;
}

static void sleep_ns(int64_t ns) {
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
	}
}

void seg_shm_path(char *out, size_t n, const char *name) {
	snprintf(out, n, "/%s", name[0] == '/' ? name + 1 : name);
}

/* ---- the init lock (tested only: older peers' fallback creation) --------- */

/* 1 if some other open file description holds a lock on the byte. */
static int ofd_locked(int fd, uint64_t off) {
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = (off_t)off, .l_len = 1};
	if (fcntl(fd, F_OFD_GETLK, &fl) == -1) return -errno;
	return fl.l_type != F_UNLCK;
}

static uint64_t read_start_time(void);
static uint64_t cached_start_time;
static pid_t cached_start_pid;
/* Cached per process (it never changes; a forked child reads its own). */
uint64_t ipcarc_start_time(void) {
	pid_t me = getpid();
	if (cached_start_pid != me) {
		cached_start_time = read_start_time();
		cached_start_pid = me;
	}
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

/* ---- handles ----------------------------------------------------------------- */


/* Unlink the name only while it still names the file we have open. */
void ipcarc_unlink_if_same(ipcarc_seg *s) {
	char path[IPCARC_NAME_MAX + 16];
	snprintf(path, sizeof path, IPCARC_SHM_DIR "/%s", s->name);
	struct stat a, b;
	if (fstat(s->fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		char sp[IPCARC_NAME_MAX + 4];
		seg_shm_path(sp, sizeof sp, s->name);
		shm_unlink(sp);
	}
}

/* The count reached zero; its closer may have died before unlinking. Anyone
 * may finish the job, under the segment's table lock (every unlink of a
 * segment by the library happens under it, so two never race: a closer's
 * check of the name and its unlink cannot straddle someone else's unlink and
 * a new segment's creation), while the name still names this file. */
void seg_unlink_dead(ipcarc_seg *s) {
	if (table_lock(s, 100000000LL) != 0) return; /* a stopped bookkeeper: leave it to the next one */
	if (A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_DEAD) ipcarc_unlink_if_same(s);
	table_unlock(s);
}

/* Under the table lock: mark the segment dead and remove its name. */
void seg_die_locked(ipcarc_seg *s) {
	A_STORE(&s->hdr->state, IPCARC_STATE_DEAD, REL);
	FAULT("close-unlink");
	ipcarc_unlink_if_same(s);
}

ipcarc_seg *seg_new(const char *name, int fd) {
	ipcarc_seg *s = calloc(1, sizeof *s);
	if (!s) return NULL;
	s->fd = fd;
	live_class_of(fd, &s->cls);
	s->slot = NO_SLOT;
	s->ctr = &s->scratch;
	s->gen = live_generation();
	s->timeout_ns = IPCARC_DEFAULT_TIMEOUT_NS;
	snprintf(s->name, sizeof s->name, "%s", name[0] == '/' ? name + 1 : name);
	return s;
}

void seg_free(ipcarc_seg *s) {
	if (s->hdr) munmap(s->hdr, s->map_size);
	if (s->fd >= 0) close(s->fd);
	free(s);
}

/* The trust rule (ipcarc.h, above ipcarc_spec; LAYOUT.md "Before mapping a
 * file"), on the open file itself, before anything maps or locks it: a file
 * that someone less trusted may write would let them write through our
 * robust-list pointers. A NULL spec is the default rule. A file that is not
 * regular passes here: probe refuses it (IPCARC_FIELD_FILE) without mapping. */
static int trust_check(int fd, const ipcarc_spec *sp, int *field) {
	struct stat st;
	if (fstat(fd, &st) == -1) return errno;
	if (!S_ISREG(st.st_mode)) return 0;
	int owner_ok = st.st_uid == geteuid() || st.st_uid == 0;
	if (sp)
		for (uint32_t i = 0; i < sp->n_trusted_uids && i < IPCARC_MAX_TRUSTED_UIDS; i++)
			owner_ok |= st.st_uid == sp->trusted_uids[i];
	if (!owner_ok) {
		if (field) *field = IPCARC_FIELD_OWNER;
		return EACCES;
	}
	int group_ok = sp && (sp->trust_flags & IPCARC_TRUST_GROUP) && sp->trusted_gid == st.st_gid;
	if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && !group_ok)) {
		if (field) *field = IPCARC_FIELD_MODE;
		return EACCES;
	}
	return 0;
}

/* Open the segment file by name (read-write, no slot yet) and apply the trust
 * rule (sp NULL: the default). A directory under the name comes back from
 * glibc as EINVAL: the name is valid, so say EISDIR. */
int seg_open_name(const char *name, const ipcarc_spec *sp, ipcarc_seg **out, int *field) {
	char path[IPCARC_NAME_MAX + 4];
	seg_shm_path(path, sizeof path, name);
	int fd = shm_open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) return errno == EINVAL ? EISDIR : errno;
	int rc = trust_check(fd, sp, field);
	if (rc) {
		close(fd);
		return rc;
	}
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

int64_t seg_spec_timeout(const ipcarc_spec *sp) {
	if (!sp || sp->open_timeout_ns <= 0) return IPCARC_DEFAULT_TIMEOUT_NS;
	return sp->open_timeout_ns > IPCARC_FOREVER_NS ? IPCARC_FOREVER_NS : sp->open_timeout_ns;
}

/* The bounds, taken once from a validated private copy of the header. */
static void keep_bounds(ipcarc_seg *s, const ipcarc_header *h) {
	s->max_holders = h->max_holders;
	s->lifetime = h->lifetime;
	s->value_size = h->value_size;
	s->value_off = h->value_off;
	s->shape = h->shape;
	s->capacity = s->shape == IPCARC_SHAPE_SLICE ? h->capacity : 1;
	s->area_size = s->shape == IPCARC_SHAPE_SLICE ? h->value_size * h->capacity : h->value_size;
	s->data = (char *)s->hdr + s->value_off;
}

/* Link the finished unnamed file to its name: EEXIST if taken. */
static int publish(int fd, const char *name) {
	char proc[64], path[IPCARC_NAME_MAX + 16];
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	snprintf(path, sizeof path, IPCARC_SHM_DIR "/%s", name[0] == '/' ? name + 1 : name);
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) return 0;
	return errno;
}

/* ---- creating ------------------------------------------------------------------ */


static int init_mutex(pthread_mutex_t *m) {
	pthread_mutexattr_t at;
	ipcarc_mutex_attr(&at);
	int rc = pthread_mutex_init(m, &at);
	pthread_mutexattr_destroy(&at);
	return rc;
}

/* Create a segment of the spec's shape: capacity elements (a slice) of which
 * n_init are copied from init and in use, or one value (capacity and n_init 1). */
int seg_create_shaped(const char *name, const ipcarc_spec *sp, uint64_t capacity, const void *init,
                         uint64_t n_init, ipcarc_seg **out) {
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	if ((rc = spec_check(sp))) return rc;
	uint32_t al = sp->value_align ? sp->value_align : 1;
	uint32_t mh = sp->max_holders ? sp->max_holders : IPCARC_DEFAULT_HOLDERS;
	uint64_t voff = value_offset(mh, al);
	uint64_t area;
	if (area_of(sp->shape, sp->value_size, capacity, &area) || n_init > capacity) return EINVAL;
	uint64_t total = voff + area;
	mode_t mode = (mode_t)(sp->mode & 07777);

	/* Build the segment unnamed (O_TMPFILE) and give it its name only when it
	 * is READY (linkat fails with EEXIST if the name is taken): no opener can
	 * ever see a half-made segment, and a creator that dies leaves nothing.
	 * There is no other way: a file under a segment's name is complete, so
	 * one that is empty, too short or not READY is never ours to unlink (gc,
	 * open-or-create and remove rely on that). Without O_TMPFILE or /proc,
	 * creating fails with the error that said so. */
	int fd = open(IPCARC_SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0) return errno;
	ipcarc_seg *s = seg_new(name, fd);
	if (!s) {
		close(fd);
		return ENOMEM;
	}
	s->timeout_ns = seg_spec_timeout(sp);
	FAULT("create-excl"); /* the unnamed file exists */
	/* Exact mode: shm_open applied the umask. */
	if (fchmod(fd, mode) == -1 || ftruncate(fd, (off_t)total) == -1) {
		rc = errno;
		goto fail;
	}
	live_class_of(fd, &s->cls); /* the mode changed: the class with it */
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
	h->shape = sp->shape;
	if (sp->shape == IPCARC_SHAPE_SLICE) {
		h->capacity = capacity;
		h->slice_len = n_init;
	}
	h->lifetime = sp->lifetime;
	h->creator_pid = (uint32_t)getpid();
	h->created_ns = (uint64_t)ipcarc_now_ns(CLOCK_REALTIME);
	FAULT("create-init");
	if ((rc = init_mutex(value_mtx(s))) || (rc = init_mutex(table_mtx(s)))) goto fail;
#ifdef __GLIBC__
	(void)mutex_reference_kind(); /* every later lock compares against it */
#endif
	keep_bounds(s, h);
	if (init && sp->value_size && n_init) memcpy(s->data, init, sp->value_size * n_init);
	/* The table and our own slot: nobody else can touch them before READY. */
	table_init(s);
	if ((rc = table_claim(s))) goto fail;
	A_STORE(&h->state, IPCARC_STATE_READY, REL);
	if ((rc = publish(fd, name))) goto fail;
	FAULT("create-ready");
	*out = s;
	return 0;
fail:
	live_unregister(&s->reg);
	seg_free(s);
	return rc;
}

int ipcarc_create(const char *name, const ipcarc_spec *sp, const void *init, ipcarc_seg **out) {
	if (sp && sp->shape != IPCARC_SHAPE_VALUE) return EINVAL; /* a slice needs its capacity */
	return seg_create_shaped(name, sp, 1, init, 1, out);
}
/* ---- attaching ------------------------------------------------------------------ */

static int young(const struct stat *st) {
	int64_t c = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
	return ipcarc_now_ns(CLOCK_REALTIME) - c < EMPTY_GRACE_NS;
}


/* Validate an opened file from a private copy of its header (pread), then map
 * exactly the size validated. PROBE_WAIT: a live creator on the fallback path
 * is still initialising. PROBE_RETRY: the segment is dying; look the name up
 * again. *hc receives the header copy (zeroed when the file is too short). */
int seg_probe(ipcarc_seg *s, const ipcarc_spec *sp, int *field, ipcarc_header *hc) {
	memset(hc, 0, sizeof *hc);
	struct stat st;
	if (fstat(s->fd, &st) == -1) return errno;
	if (!S_ISREG(st.st_mode)) {
		if (field) *field = IPCARC_FIELD_FILE;
		return EBADMSG;
	}
	int have = 0;
	if ((uint64_t)st.st_size >= IPCARC_HEADER_SIZE) {
		ssize_t n = pread(s->fd, hc, sizeof *hc, 0);
		have = n == (ssize_t)sizeof *hc;
	}
	/* Only a file that is not (yet) a ready segment may belong to a creator
	 * at work: a ready one never costs a byte-lock test. */
	if (!have || hc->magic != IPCARC_MAGIC || hc->state == IPCARC_STATE_INIT) {
		int creating = ofd_locked(s->fd, IPCARC_INIT_LOCK_OFFSET);
		if (creating < 0) return -creating;
		if (creating == 1 || (st.st_size == 0 && young(&st))) {
			if (field) *field = IPCARC_FIELD_INIT;
			return PROBE_WAIT;
		}
	}
	if (!have) {
		if (field) *field = IPCARC_FIELD_SIZE;
		return EBADMSG;
	}
	int rc = seg_validate(hc, (uint64_t)st.st_size, sp, field);
	if (rc) return rc;
	rc = map_seg(s, (size_t)hc->total_size);
	if (rc) {
		if (field) *field = IPCARC_FIELD_FILE;
		return rc;
	}
	keep_bounds(s, hc);
	if (A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_DEAD) return PROBE_RETRY;
	return 0;
}

/* Under the table lock: is the segment's life over? (Its count reached zero,
 * or every holder left is dead.) Reaps dead holders on the way: O(1)
 * amortised, since the walk stops at the first live holder and each dead
 * one is reaped once. */
static int life_over_locked(ipcarc_seg *s) {
	if (A_LOAD(&s->hdr->state, ACQ) != IPCARC_STATE_READY) return 1;
	if (s->lifetime == IPCARC_LIFETIME_UNTIL_REMOVED) return 0;
	if (table_find_live(s)) return 0;
	/* Nobody alive on the used list: make sure with a full pass (it also
	 * mends the table) before declaring the segment dead. */
	table_reap_all(s);
	return table_live_holders(s) - (s->slot != NO_SLOT) <= 0;
}

/* Attach: refuse to revive a dead count, claim a slot. */
static int attach(ipcarc_seg *s, int64_t timeout_ns, int *field) {
	int rc = table_lock(s, timeout_ns);
	if (rc) {
		if (rc == ETIMEDOUT && field) *field = IPCARC_FIELD_TABLE_LOCK;
		return rc;
	}
	FAULT("open-locked");
	if (life_over_locked(s)) {
		/* Count reached zero (last holder closed or died): the segment is
		 * gone; an open never revives it. */
		if (A_LOAD(&s->hdr->state, RLX) == IPCARC_STATE_READY) seg_die_locked(s);
		table_unlock(s);
		return PROBE_RETRY;
	}
	rc = table_claim(s);
	table_unlock(s);
	return rc;
}

static int open_once(const char *name, const ipcarc_spec *sp, int64_t deadline, ipcarc_seg **out,
                     int *field) {
	int64_t backoff = 100000; /* 100 us, doubling to 10 ms */
	int ended = 0; /* a try found the segment dead or its life over */
	for (;;) {
		ipcarc_seg *s;
		int rc = seg_open_name(name, sp, &s, field);
		if (rc) {
			if (rc == ENOENT && ended && field) *field = IPCARC_FIELD_ENDED;
			return rc;
		}
		s->timeout_ns = seg_spec_timeout(sp);
		ipcarc_header hc;
		rc = seg_probe(s, sp, field, &hc);
		if (rc == 0) {
			int64_t left = deadline - ipcarc_now_ns(CLOCK_MONOTONIC);
			rc = attach(s, left > 0 ? left : 0, field);
			if (rc == 0) {
				*out = s;
				return 0;
			}
		}
		if (rc == PROBE_RETRY) ended = 1;
		if (rc == PROBE_RETRY && s->hdr && A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_DEAD)
			seg_unlink_dead(s);
		seg_free(s);
		if (rc != PROBE_WAIT && rc != PROBE_RETRY) return rc;
		if (ipcarc_now_ns(CLOCK_MONOTONIC) >= deadline) {
			if (rc == PROBE_WAIT) return ETIMEDOUT;
			if (field) *field = IPCARC_FIELD_ENDED; /* it existed; its life is over */
			return ENOENT;
		}
		sleep_ns(backoff);
		if (backoff < 10000000) backoff *= 2;
	}
}

int ipcarc_open(const char *name, const ipcarc_spec *sp, ipcarc_seg **out, int *field) {
	if (field) *field = IPCARC_FIELD_NONE;
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	if ((rc = spec_check(sp))) return rc;
	return open_once(name, sp, ipcarc_now_ns(CLOCK_MONOTONIC) + seg_spec_timeout(sp), out, field);
}
int seg_open_or_create_shaped(const char *name, const ipcarc_spec *sp, uint64_t capacity, const void *init,
                                 uint64_t n_init, ipcarc_seg **out, int *created, int *field) {
	if (field) *field = IPCARC_FIELD_NONE;
	*created = 0;
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	if ((rc = spec_check(sp))) return rc;
	int64_t deadline = ipcarc_now_ns(CLOCK_MONOTONIC) + seg_spec_timeout(sp);
	for (;;) {
		rc = seg_create_shaped(name, sp, capacity, init, n_init, out);
		if (rc == 0) {
			*created = 1;
			return 0;
		}
		if (rc != EEXIST) return rc;
		/* A file under the name that is not a ready segment (empty, too
		 * short, another magic, state INIT) is not ours: its error is
		 * returned and the file left alone. Only a segment that died
		 * meanwhile (ENOENT) is worth creating again. */
		rc = open_once(name, sp, deadline, out, field);
		if (rc == 0) return 0;
		if (rc != ENOENT) return rc;
		if (ipcarc_now_ns(CLOCK_MONOTONIC) >= deadline) return ETIMEDOUT;
	}
}

int ipcarc_open_or_create(const char *name, const ipcarc_spec *sp, const void *init,
                          ipcarc_seg **out, int *created, int *field) {
	if (sp && sp->shape != IPCARC_SHAPE_VALUE) return EINVAL;
	return seg_open_or_create_shaped(name, sp, 1, init, 1, out, created, field);
}
/* ---- cloning and closing ----------------------------------------------------------- */

int ipcarc_clone(ipcarc_seg *s) {
	if (live_forked(s)) return ECHILD;
	if (s->handles >= IPCARC_MAX_HANDLES) return EUSERS;
	int rc = table_lock(s, s->timeout_ns);
	if (rc) return rc;
	FAULT("clone-locked");
	table_adjust_handles(s, +1);
	FAULT("clone");
	table_unlock(s);
	return 0;
}

int ipcarc_close(ipcarc_seg *s) {
	if (live_forked(s)) {
		/* A copy inherited through fork: the attachment is the parent's.
		 * Free this process's memory and touch nothing shared. */
		s->handles = s->handles > 1 ? s->handles - 1 : 0;
		if (s->handles == 0) seg_free(s);
		return ECHILD;
	}
	int rc = table_lock(s, s->timeout_ns);
	if (rc) {
		/* A bookkeeper stopped (or wedged) holding the table lock, or a peer
		 * spoiled the table mutex (EBADMSG). Release the handle anyway: the
		 * last one stops our liveness word, so our slot reads as dead and
		 * the next reap takes its counts back. But never the last one while
		 * a thread of ours holds the value lock or waits through it. */
		uint32_t h = A_LOAD(&s->handles, SEQ);
		do {
			if (h == 1 && (ipcarc_value_lock_held_here(s) || A_LOAD(&s->waiting, SEQ) != 0))
				return ipcarc_value_lock_held_here(s) ? EDEADLK : EBUSY;
		} while (!__atomic_compare_exchange_n(&s->handles, &h, h - 1, 0, SEQ, SEQ));
		if (h == 1) {
			live_unregister(&s->reg);
			seg_free(s);
		}
		return rc;
	}
	FAULT("close-locked");
	/* Decided under the table lock, which serialises the closes of clones
	 * made in several threads at once: only the last one sees 1. */
	if (A_LOAD(&s->handles, SEQ) == 1) {
		/* Unmapping the value's mutex while a thread of ours holds it through
		 * this attachment would leave a dangling entry in that thread's
		 * robust list (and its unlock would touch freed memory). */
		if (ipcarc_value_lock_held_here(s)) {
			table_unlock(s);
			return EDEADLK;
		}
		/* A thread of ours still asleep in ipcarc_wait on this mapping
		 * (counted privately: the slot's shared count is a peer's to spoil). */
		if (A_LOAD(&s->waiting, SEQ) != 0) {
			table_unlock(s);
			return EBUSY;
		}
	}
	if (A_LOAD(&s->handles, SEQ) > 1) {
		table_adjust_handles(s, -1);
		FAULT("close");
		table_unlock(s);
		return 0;
	}
	table_release(s);
	FAULT("close");
	if (s->lifetime == IPCARC_LIFETIME_LAST_CLOSE && A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_READY &&
	    life_over_locked(s))
		seg_die_locked(s);
	table_unlock(s);
	seg_free(s);
	return 0;
}

/* A handle inherited through fork has no attachment: no view of the mapping
 * (NULL), no count, no slot (ipcarc.h, "Fork"). */
void *ipcarc_data(ipcarc_seg *s) { return live_forked(s) ? NULL : s->data; }
ipcarc_header *ipcarc_hdr(ipcarc_seg *s) { return live_forked(s) ? NULL : s->hdr; }
int64_t ipcarc_refcount(ipcarc_seg *s) { return live_forked(s) ? 0 : table_live_handles(s); }
int ipcarc_slot(ipcarc_seg *s) { return s->slot == NO_SLOT || live_forked(s) ? -1 : (int)s->slot; }
int ipcarc_fd(ipcarc_seg *s) { return s->fd; }
int64_t ipcarc_timeout(ipcarc_seg *s) { return s->timeout_ns; }
uint32_t ipcarc_lifetime(ipcarc_seg *s) { return s->lifetime; }

int ipcarc_reap(ipcarc_seg *s, int *reaped) {
	if (reaped) *reaped = 0;
	if (live_forked(s)) return ECHILD;
	int rc = table_lock(s, s->timeout_ns);
	if (rc) return rc;
	/* Our own slot's count first: a Close that timed out on a clone handle
	 * lowered only our private count. */
	if (s->slot != NO_SLOT) table_adjust_handles(s, 0);
	int n = table_reap_all(s);
	table_unlock(s);
	if (reaped) *reaped = n;
	return 0;
}

uint32_t ipcarc_hdr_max_holders(ipcarc_seg *s) { return s->max_holders; }
