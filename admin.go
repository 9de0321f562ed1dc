//go:build linux && cgo

package ipcarc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// gcLockBound is how long GC waits for a segment's holder table lock, which
// library code holds for a few instructions: a process that holds it longer
// is stopped, and the segment is reported busy rather than waited on. GC
// never takes the value's lock.
const gcLockBound = 100 * time.Millisecond

// GC collects every segment in /dev/shm (see GCName). Segments that vanish
// while it runs are left out; each result's Err says why that one failed.
// A segment this process may not write, or whose file another user owns
// (even when this process is root), is listed Skipped with SkipReason and
// never opened for writing, locked or mapped: its lock's memory is its
// owner's to write, and locking it would let the owner write into this
// process. The error is only for /dev/shm itself being unreadable.
func GC(opts ...AdminOption) ([]GCResult, error) {
	dryRun := buildAdminOptions(opts).dryRun
	segs, err := List()
	if err != nil {
		err.(*Error).Op = "gc"
		return nil, err
	}
	out := make([]GCResult, 0, len(segs))
	for _, s := range segs {
		if reason := skipReason(s.Name); reason != "" {
			// Not ours to change: reported, never touched.
			out = append(out, GCResult{Name: s.Name, DryRun: dryRun, Skipped: true, SkipReason: reason,
				LiveHolders: s.LiveHolders, Kept: s.Lifetime == UntilRemoved})
			continue
		}
		r, err := GCName(s.Name, opts...)
		if errors.Is(err, ErrNotExist) { // its last holder closed it meanwhile
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// GCName removes the counts of a segment's dead holders without attaching to
// it, and removes the segment when no live holder is left. It waits at most
// 100ms for the segment's lock: a segment whose lock a live process holds
// longer, or that a live creator of an older version is still initialising,
// is reported Busy and left alone. With DryRun() nothing is changed and the
// result says what would be done (the real run decides with the same
// reading first). A corrupt segment, and a file that is not an ipcarc
// segment (another magic, empty or too short), is left alone, with an error
// naming the failed check: GCName never unlinks it. A file owned by another
// user than this process's effective uid is refused (an error matching
// fs.ErrPermission), in a dry run too, without being locked or mapped: even
// root collects such a segment only from a process running as its owner
// (as `ipcarc gc` does).
func GCName(name string, opts ...AdminOption) (GCResult, error) {
	dryRun := buildAdminOptions(opts).dryRun
	n, ok := validName(name)
	if !ok {
		err := &Error{Op: "gc", Name: name, Err: ErrInvalidName}
		return GCResult{Name: name, DryRun: dryRun, Err: err}, err
	}
	if err := ownerCheck("gc", n); err != nil {
		return GCResult{Name: n, DryRun: dryRun, Err: err}, err
	}
	// The dry run's decision is the real run's first step: what it refuses
	// (not a segment, corrupt) the real run refuses with the same error, and
	// the C layer checks again on the file it opens.
	dry, err := gcDryRun(n)
	if dryRun || err != nil || dry.Busy {
		dry.DryRun = dryRun
		return dry, err
	}
	r, rc := cGC(n, gcLockBound.Nanoseconds(), false)
	res := GCResult{
		Name: n, DryRun: dryRun, ReapedHandles: r.ReapedHandles, LiveHolders: r.LiveHolders,
		Removed: r.Unlinked, Busy: r.Busy, Kept: r.Kept,
	}
	if rc != 0 {
		res.Err = fromErrno("gc", n, rc, r.Field)
		return res, res.Err
	}
	return res, nil
}

// gcDryRun says what GCName would do, from Inspect's reading of the file
// (pure Go, no lock, guarded against a file truncated under it).
func gcDryRun(n string) (GCResult, error) {
	res := GCResult{Name: n, DryRun: true}
	info, field, err := inspect(n)
	if err != nil {
		err.(*Error).Op = "gc"
		res.Err = err
		return res, err
	}
	switch {
	case info.State == StateInit && info.Reason == "being created":
		res.Busy = true
	case info.Corrupt:
		res.Err = &Error{Op: "gc", Name: n, Field: Field(field), Detail: info.Reason, Err: ErrCorrupt}
		if field == fieldVersion || field == fieldABI {
			res.Err.(*Error).Err = ErrIncompatible
		}
		return res, res.Err
	case info.State == StateDead:
		res.Removed = true
	default:
		res.Kept = info.Lifetime == UntilRemoved
		res.LiveHolders = info.LiveHolders
		for _, h := range info.Holders {
			if !h.Alive {
				res.ReapedHandles += h.Handles
			}
		}
		res.Removed = info.LiveHolders == 0 && !res.Kept
	}
	return res, nil
}

// ownerCheck refuses a file that another user than this process's effective
// uid owns: the library locks and maps only its own user's segments (a
// segment's mutexes carry robust-list pointers that glibc writes through, so
// locking memory its owner can write hands the owner a write into this
// process). A missing file passes: the caller's own open reports it.
func ownerCheck(op, name string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(shmDir, name), &st); err != nil {
		return nil
	}
	if euid := os.Geteuid(); int(st.Uid) != euid {
		return &Error{Op: op, Name: name, Err: errList{ErrUntrusted, syscall.EPERM},
			Detail: fmt.Sprintf("the file belongs to uid %d, not to this process's uid %d: only a process running as its owner may change it", st.Uid, euid)}
	}
	return nil
}

// skipReason says why GC's sweep leaves a segment alone ("" when it does not).
func skipReason(name string) string {
	if err := ownerCheck("gc", name); err != nil {
		return "owned by another user: " + err.(*Error).Detail
	}
	if !mayWrite(name) {
		return "permission denied (not writable by this user)"
	}
	return ""
}

// mayWrite reports whether this process may open the segment's file for
// writing (its effective ids, as open would judge).
func mayWrite(name string) bool {
	return unix.Faccessat(unix.AT_FDCWD, filepath.Join(shmDir, name), unix.W_OK, unix.AT_EACCESS) == nil
}

// Remove removes a segment's name. Processes attached keep their mapping and
// go on sharing the value among themselves; new opens no longer find it.
// Without Force(), Remove refuses with an error matching ErrBusy while live
// holders exist, refuses a corrupt segment, and refuses a file that is not an
// ipcarc segment (another magic, empty or too short: ErrCorrupt naming the
// check). With Force(), it removes whatever regular file the name names.
// A file owned by another user than this process's effective uid is refused
// (an error matching fs.ErrPermission), forced or not, without being locked
// or mapped: even root removes such a segment only from a process running as
// its owner (as `ipcarc rm` does).
func Remove(name string, opts ...AdminOption) error {
	force := buildAdminOptions(opts).force
	n, ok := validName(name)
	if !ok {
		return &Error{Op: "remove", Name: name, Err: ErrInvalidName}
	}
	if err := ownerCheck("remove", n); err != nil {
		return err
	}
	// Decide from Inspect's reading (pure Go, guarded against a file
	// truncated under it), then unlink: ipcarc_remove with force unlinks
	// what it cannot lock. Unforced, the name must name a segment, so that a
	// typo cannot delete another program's memory; forced, it may name any
	// regular file (inspect's error then only says it is not a segment).
	info, field, err := inspect(n)
	if err != nil {
		err.(*Error).Op = "remove"
		var e *Error
		if !force || !errors.Is(err, ErrCorrupt) || (errors.As(err, &e) && e.Field == FieldFile) {
			return err
		}
	}
	if !force {
		switch {
		case info.Reason == "being created":
			return &Error{Op: "remove", Name: n, Err: errList{ErrInUse, errBeingCreated}}
		case info.Corrupt:
			e := ErrCorrupt
			if field == fieldVersion || field == fieldABI {
				e = ErrIncompatible
			}
			return &Error{Op: "remove", Name: n, Field: Field(field), Detail: info.Reason, Err: e}
		case info.LiveHolders > 0:
			return &Error{Op: "remove", Name: n,
				Detail: fmt.Sprintf("%d live holder(s)", info.LiveHolders), Err: ErrBusy}
		}
	}
	// Unlink under the segment's table lock, where the C layer checks the
	// live holders again: one that attached since Inspect keeps it.
	switch rc := cRemove(n, force); {
	case rc == 0:
		return nil
	case rc == int(syscall.EBUSY):
		return &Error{Op: "remove", Name: n, Detail: "a live holder attached meanwhile", Err: ErrBusy}
	case rc == int(syscall.EINPROGRESS):
		return &Error{Op: "remove", Name: n, Err: errList{ErrInUse, errBeingCreated}}
	default:
		return fromErrno("remove", n, rc, 0)
	}
}
