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
// The error is only for /dev/shm itself being unreadable.
func GC(opts ...AdminOption) ([]GCResult, error) {
	dryRun := buildAdminOptions(opts).dryRun
	segs, err := List()
	if err != nil {
		err.(*Error).Op = "gc"
		return nil, err
	}
	out := make([]GCResult, 0, len(segs))
	for _, s := range segs {
		if !mayWrite(s.Name) {
			// Not ours to change: reported, never touched.
			out = append(out, GCResult{Name: s.Name, DryRun: dryRun, Skipped: true,
				LiveHolders: s.LiveHolders, Kept: s.Lifetime == UntilRemoved.String()})
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
// it, and removes the segment when no live holder is left or when its creator
// died before making it ready. It waits at most 100ms for the segment's lock:
// a segment whose lock a live process holds longer, or that a live creator is
// still initialising, is reported Busy and left alone. With DryRun() nothing is
// changed and the result says what would be done. A corrupt segment is left
// alone, with an error naming the failed check.
func GCName(name string, opts ...AdminOption) (GCResult, error) {
	dryRun := buildAdminOptions(opts).dryRun
	n, ok := validName(name)
	if !ok {
		err := &Error{Op: "gc", Name: name, Err: ErrInvalidName}
		return GCResult{Name: name, DryRun: dryRun, Err: err}, err
	}
	if dryRun {
		return gcDryRun(n)
	}
	r, rc := cGC(n, gcLockBound.Nanoseconds(), false)
	res := GCResult{
		Name: n, DryRun: dryRun, ReapedHandles: r.ReapedHandles, LiveHolders: r.LiveHolders,
		Removed: r.Unlinked, Busy: r.Busy, HalfMade: r.HalfMade, Kept: r.Kept,
	}
	// ipcarc_gc reports unlinked=0 for a half-made segment in a dry run,
	// where for every other case it reports what a real run would do.
	if dryRun && r.HalfMade && rc == 0 {
		res.Removed = true
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
		res.Err = err
		return res, err
	}
	switch {
	case info.State == "init" && info.Reason == "being created":
		res.Busy = true
	case info.Corrupt && (field == fieldState && info.State == "init" || field == fieldSize && emptyFile(n)):
		res.HalfMade, res.Removed = true, true
	case info.Corrupt:
		res.Err = &Error{Op: "gc", Name: n, Field: fieldName(field), Detail: info.Reason, Err: ErrCorrupt}
		if field == fieldVersion || field == fieldABI {
			res.Err.(*Error).Err = ErrIncompatible
		}
		return res, res.Err
	case info.State == "dead":
		res.Removed = true
	default:
		res.Kept = info.Lifetime == UntilRemoved.String()
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

func emptyFile(name string) bool {
	st, err := os.Stat(filepath.Join(shmDir, name))
	return err == nil && st.Size() == 0
}

// mayWrite reports whether this process may open the segment's file for
// writing (its effective ids, as open would judge).
func mayWrite(name string) bool {
	return unix.Faccessat(unix.AT_FDCWD, filepath.Join(shmDir, name), unix.W_OK, unix.AT_EACCESS) == nil
}

// Remove removes a segment's name. Processes attached keep their mapping and
// go on sharing the value among themselves; new opens no longer find it.
// Without Force(), Remove refuses with an error matching ErrBusy while live
// holders exist, and refuses a corrupt segment. With Force(), it removes any
// ipcarc segment, but still refuses a file that is not one.
func Remove(name string, opts ...AdminOption) error {
	force := buildAdminOptions(opts).force
	n, ok := validName(name)
	if !ok {
		return &Error{Op: "remove", Name: name, Err: ErrInvalidName}
	}
	// Decide from Inspect's reading (pure Go, guarded against a file
	// truncated under it), then unlink: ipcarc_remove with force only
	// unlinks. Even forced, the name must name a segment, so that a typo
	// cannot delete another program's memory.
	info, field, err := inspect(n)
	if err != nil {
		err.(*Error).Op = "remove"
		return err
	}
	if !force {
		switch {
		case info.Reason == "being created":
			return &Error{Op: "remove", Name: n, Err: errList{ErrBusy, errBeingCreated}}
		case info.Corrupt:
			e := ErrCorrupt
			if field == fieldVersion || field == fieldABI {
				e = ErrIncompatible
			}
			return &Error{Op: "remove", Name: n, Field: fieldName(field), Detail: info.Reason, Err: e}
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
		return &Error{Op: "remove", Name: n, Err: errList{ErrBusy, errBeingCreated}}
	default:
		return fromErrno("remove", n, rc, 0)
	}
}
