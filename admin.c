/*
 * admin.c - gc and remove by name: the administrative entry points that act
 * on a segment without holding it (ipcarc gc, ipcarc rm). Every unlink
 * happens under the segment's table lock, like close's (cshm.c); a file that
 * is not a ready segment is never unlinked unless forced.
 */
#define _GNU_SOURCE
#include "cshm_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int ipcarc_gc(const char *name, int64_t lock_timeout_ns, int dry_run, ipcarc_gc_result *res) {
	memset(res, 0, sizeof *res);
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	ipcarc_seg *s;
	if ((rc = seg_open_name(name, NULL, &s, &res->field))) return rc;
	ipcarc_header hc;
	rc = seg_probe(s, NULL, &res->field, &hc);
	if (rc == PROBE_WAIT) {
		res->busy = 1;
		res->field = IPCARC_FIELD_NONE;
		rc = 0;
		goto out;
	}
	/* A file that fails validation (empty, too short, another magic, state
	 * INIT, ...) is returned as its error and left alone: no creator of ours
	 * ever names a file before it is READY, so it is not ours to unlink. */
	if (rc == PROBE_RETRY) { /* dead, not yet unlinked: finish the job */
		if (!dry_run) seg_unlink_dead(s);
		res->unlinked = 1;
		rc = 0;
		goto out;
	}
	if (rc) goto out;
	res->kept = s->lifetime == IPCARC_LIFETIME_UNTIL_REMOVED;
	if (dry_run) {
		/* Reads only: a snapshot without the lock. */
		ipcarc_holder *ht = slots_of(s);
		for (uint32_t i = 0; i < s->max_holders; i++) {
			if (A_LOAD(&ht[i].state, ACQ) != IPCARC_SLOT_USED) continue;
			if (slot_alive(&ht[i])) res->live_holders++;
			else {
				uint32_t n = A_LOAD(&ht[i].handles, RLX);
				res->reaped_handles += n > IPCARC_MAX_HANDLES ? 0 : (int)n;
			}
		}
		res->unlinked = res->live_holders == 0 && !res->kept;
		goto out;
	}
	rc = table_lock(s, lock_timeout_ns);
	if (rc == ETIMEDOUT) {
		res->busy = 1;
		rc = 0;
		goto out;
	}
	if (rc) goto out;
	FAULT("gc-locked");
	res->reaped_handles = table_reap_all(s);
	res->live_holders = table_live_holders(s);
	if (!res->kept && res->live_holders == 0 && A_LOAD(&s->hdr->state, ACQ) == IPCARC_STATE_READY) {
		seg_die_locked(s);
		res->unlinked = 1;
	}
	table_unlock(s);
out:
	seg_free(s);
	return rc;
}

/* Forced removal of a file the trust rule refuses for its mode: unlink the
 * name, if it still names the file looked at, without mapping, reading or
 * locking it (unlinking needs no trust in the bytes). Only a file of this
 * process's effective uid: another user's file is refused (EACCES, field
 * owner) even forced and even for root, which acts on it only as that user
 * (the command's owner-side child); the owner is taken from the open file,
 * so a file put under the name after a caller's own look is judged as it
 * is. */
static int unlink_unmapped(const char *name, int *field) {
	char path[IPCARC_NAME_MAX + 4];
	seg_shm_path(path, sizeof path, name);
	int fd = shm_open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
	if (fd < 0) return errno == EINVAL ? EISDIR : errno;
	struct stat st;
	if (fstat(fd, &st) == -1 || st.st_uid != geteuid()) {
		close(fd);
		if (field) *field = IPCARC_FIELD_OWNER;
		return EACCES;
	}
	ipcarc_seg *s = seg_new(name, fd);
	if (!s) {
		close(fd);
		return ENOMEM;
	}
	ipcarc_unlink_if_same(s);
	seg_free(s);
	return 0;
}

int ipcarc_remove(const char *name, int force) {
	int rc = ipcarc_check_name(name);
	if (rc) return rc;
	char path[IPCARC_NAME_MAX + 4];
	seg_shm_path(path, sizeof path, name);
	ipcarc_seg *s;
	int field = 0;
	if ((rc = seg_open_name(name, NULL, &s, &field))) {
		if (rc == EACCES && force && (field == IPCARC_FIELD_OWNER || field == IPCARC_FIELD_MODE))
			return unlink_unmapped(name, &field);
		return rc;
	}
	field = 0;
	ipcarc_header hc;
	rc = seg_probe(s, NULL, &field, &hc);
	if (rc == 0 || rc == PROBE_RETRY) {
		/* A segment: unlink under its table lock, like every other unlink. */
		int lrc = table_lock(s, seg_spec_timeout(NULL));
		if (lrc == 0) {
			int live = table_live_holders(s);
			if (live && !force) {
				table_unlock(s);
				seg_free(s);
				return EBUSY;
			}
			ipcarc_unlink_if_same(s);
			table_unlock(s);
			seg_free(s);
			return 0;
		}
		if (!force) {
			seg_free(s);
			return lrc;
		}
	} else if (!force) {
		seg_free(s);
		if (rc == PROBE_WAIT) return EINPROGRESS; /* a live creator is still at work */
		return rc;
	}
	/* Forced, and not a segment we can lock: unlink the name, if it is
	 * still the file we looked at. */
	ipcarc_unlink_if_same(s);
	seg_free(s);
	return 0;
}