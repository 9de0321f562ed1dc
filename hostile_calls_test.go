//go:build linux && cgo

package ipcarc

// Hostile peers (see hostile_harness_test.go): which errors count as typed,
// one API call bounded in time, and the calls every holder makes on a
// segment that a vandal writes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// ---- typed errors ----------------------------------------------------------

var hostileSentinels = []error{
	ErrExist, ErrNotExist, ErrInvalidName, ErrUnsupportedType, ErrTypeMismatch, ErrIncompatible,
	ErrCorrupt, ErrClosed, ErrWouldBlock, ErrOwnerDead, ErrPoisoned, ErrNotOwner, ErrDeadlock,
	ErrTimeout, ErrTooManyHolders, ErrUnsupported, ErrInvalidOption, ErrForked, ErrBusy,
	context.DeadlineExceeded, context.Canceled,
}

func hostileTyped(err error) bool {
	for _, s := range hostileSentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// hostileFirstBad returns the first error that is not typed, else the first
// error, else nil: a compound call (Lock then Unlock) passes only if each of
// its errors is typed.
func hostileFirstBad(errs ...error) error {
	for _, e := range errs {
		if e != nil && !hostileTyped(e) {
			return e
		}
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ---- one bounded call ------------------------------------------------------

const (
	hostileTableWait = 100 * time.Millisecond // open timeout: bounds every wait for the table lock
	hostileDeadline  = 200 * time.Millisecond // LockContext, LoadContext, Wait
	hostilePhantom   = 300 * time.Millisecond // when a blocked lock is looked at
	hostileCallBound = 5 * time.Second        // longer than this is a hang
)

// hostileOutcome is what one call did. status: "ok", "typed" (a typed
// error), "UNTYPED", "PANIC" or "HANG".
type hostileOutcome struct {
	status  string
	err     error
	detail  string
	phantom uint32 // the value-lock word released (see hostileReleasePhantom), 0 if none
}

func (o hostileOutcome) bad() bool {
	return o.status == "UNTYPED" || o.status == "PANIC" || o.status == "HANG"
}

// hostileReleasePhantom ends a wait for a value lock whose word a vandal
// wrote. Lock, Store and Update wait for the value's lock without a bound:
// that is their documented contract (a peer may hold the lock for as long as
// it likes, and one that holds it forever blocks them forever), and the
// library cannot tell a live owner from a made-up thread id (an owner may
// live in another pid namespace). So a wait on a lock word that names an
// owner (a tid, FUTEX_OWNER_DIED clear) is the documented wait, not a hang:
// the test releases that phantom owner, as its unlock would (word 0, then
// FUTEX_WAKE), and requires the call to complete then. A call that blocks
// while the word says the lock is free, or dead, is a hang.
func hostileReleasePhantom(h *header) (uint32, bool) {
	w := (*uint32)(unsafe.Pointer(&h.Mutex[0]))
	word := atomic.LoadUint32(w)
	if word&liveTIDMask == 0 || word&liveOwnerDied != 0 {
		return word, false
	}
	if !atomic.CompareAndSwapUint32(w, word, 0) {
		return word, false
	}
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(w)), 1 /* FUTEX_WAKE */, math.MaxInt32, 0, 0, 0)
	return word, true
}

// hostileDo runs f on a goroutine of its own and classifies the result. If
// f is a call that may wait for the value lock without a bound (unbounded)
// and is still blocked after hostilePhantom, a phantom owner is released
// (see hostileReleasePhantom) through hdr. A call still running after bound
// is a hang: the goroutine is abandoned and every goroutine's stack returned.
func hostileDo(hdr *header, unbounded bool, bound time.Duration, f func() error) hostileOutcome {
	type result struct {
		err   error
		pan   any
		stack []byte
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- result{pan: r, stack: debug.Stack()}
			}
		}()
		ch <- result{err: f()}
	}()
	look := time.NewTicker(hostilePhantom)
	defer look.Stop()
	hang := time.NewTimer(bound)
	defer hang.Stop()
	var phantom uint32
	for {
		select {
		case r := <-ch:
			o := hostileOutcome{err: r.err, phantom: phantom}
			switch {
			case r.pan != nil:
				o.status, o.detail = "PANIC", fmt.Sprintf("panic: %v\n%s", r.pan, r.stack)
			case r.err == nil:
				o.status = "ok"
			case hostileTyped(r.err):
				o.status, o.detail = "typed", r.err.Error()
			default:
				o.status, o.detail = "UNTYPED", fmt.Sprintf("%v (%T)", r.err, r.err)
			}
			return o
		case <-look.C:
			if unbounded && hdr != nil {
				if w, ok := hostileReleasePhantom(hdr); ok {
					phantom = w
				}
			}
		case <-hang.C:
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			word := uint32(0)
			if hdr != nil {
				word = atomic.LoadUint32((*uint32)(unsafe.Pointer(&hdr.Mutex[0])))
			}
			return hostileOutcome{status: "HANG", phantom: phantom,
				detail: fmt.Sprintf("still running after %v (value lock word 0x%08x); goroutines:\n%s", bound, word, buf)}
		}
	}
}

// ---- the calls -------------------------------------------------------------

type hostileCall struct {
	name      string
	unbounded bool // may wait for the value lock without a bound (see hostileReleasePhantom)
	run       func(a *Arc[Counter], name string) error
}

func hostileLockUnlock(g *Guard[Counter], err error) error {
	if g == nil {
		return err
	}
	g.Get().N++
	return hostileFirstBad(err, g.Unlock())
}

func hostileCtx(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

var (
	hostileCallStats = hostileCall{"Stats", false, func(a *Arc[Counter], _ string) error {
		_, err := a.Info()
		return err
	}}
	hostileCallLoad = hostileCall{"Load", true, func(a *Arc[Counter], _ string) error {
		_, err := a.Load()
		return err
	}}
	hostileCallLoadInto = hostileCall{"LoadInto", true, func(a *Arc[Counter], _ string) error {
		var v Counter
		return a.LoadInto(&v)
	}}
	hostileCallLoadContext = hostileCall{"LoadContext", false, func(a *Arc[Counter], _ string) error {
		ctx, cancel := hostileCtx(hostileDeadline)
		defer cancel()
		_, err := a.LoadContext(ctx)
		return err
	}}
	hostileCallWait = hostileCall{"Wait", false, func(a *Arc[Counter], _ string) error {
		ctx, cancel := hostileCtx(hostileDeadline)
		defer cancel()
		_, err := a.Wait(ctx, verOf(a))
		return err
	}}
	hostileCallTryLock = hostileCall{"TryLock", false, func(a *Arc[Counter], _ string) error {
		return hostileLockUnlock(a.TryLock())
	}}
	hostileCallLockContext = hostileCall{"LockContext", false, func(a *Arc[Counter], _ string) error {
		ctx, cancel := hostileCtx(hostileDeadline)
		defer cancel()
		return hostileLockUnlock(a.LockContext(ctx))
	}}
	hostileCallLock = hostileCall{"Lock/Unlock", true, func(a *Arc[Counter], _ string) error {
		return hostileLockUnlock(a.Lock())
	}}
	hostileCallStore = hostileCall{"Store", true, func(a *Arc[Counter], _ string) error {
		return a.Store(Counter{N: 9})
	}}
	hostileCallUpdate = hostileCall{"Update", true, func(a *Arc[Counter], _ string) error {
		return a.Update(func(c *Counter) error { c.N++; return nil })
	}}
	hostileCallClone = hostileCall{"Clone+Close", false, func(a *Arc[Counter], _ string) error {
		b, err := a.Clone()
		if err != nil {
			return err
		}
		return b.Close()
	}}
	hostileCallReap = hostileCall{"Reap", false, func(a *Arc[Counter], _ string) error {
		_, err := a.Reap()
		return err
	}}
	// A second attachment of the same process: Open claims a slot, and
	// walks and appends to the used list that a vandal may have written.
	hostileCallOpen = hostileCall{"Open+Close", false, func(a *Arc[Counter], name string) error {
		b, err := Open[Counter](name, WithOpenTimeout(hostileTableWait))
		if err != nil {
			return err
		}
		return b.Close()
	}}
	hostileCallOpenOrNew = hostileCall{"OpenOrNew+Close", false, func(a *Arc[Counter], name string) error {
		b, _, err := OpenOrNew(name, Counter{}, WithOpenTimeout(hostileTableWait))
		if err != nil {
			return err
		}
		return b.Close()
	}}
	hostileCallRefCount = hostileCall{"RefCount/Version", false, func(a *Arc[Counter], _ string) error {
		_ = verOf(a)
		_, err := a.RefCount()
		return err
	}}
	// What /debug/vars shows: Stats, counters and all, as JSON.
	hostileCallExpvar = hostileCall{"Expvar", false, func(a *Arc[Counter], _ string) error {
		if s, err := json.Marshal(a.Expvar()()); err != nil || !json.Valid(s) {
			return fmt.Errorf("Expvar()() is not JSON: %q, %v", s, err)
		}
		return nil
	}}
	hostileCallClose = hostileCall{"Close", false, func(a *Arc[Counter], _ string) error {
		return a.Close()
	}}
)

// hostileVictimCalls is every call of the API on an attached handle, the
// read-only ones first (so that they see the garbage before a lock or a
// table rebuild mends it), Close last.
var hostileVictimCalls = []hostileCall{
	hostileCallStats, hostileCallRefCount, hostileCallLoad, hostileCallLoadInto, hostileCallLoadContext,
	hostileCallWait, hostileCallTryLock, hostileCallLockContext, hostileCallLock, hostileCallStore,
	hostileCallUpdate, hostileCallClone, hostileCallReap, hostileCallOpen, hostileCallOpenOrNew,
	hostileCallStats, hostileCallExpvar, hostileCallClose,
}

// hostilePeerCalls: the other holder's calls, after the victim's.
var hostilePeerCalls = []hostileCall{
	hostileCallStats, hostileCallExpvar, hostileCallLoad, hostileCallTryLock, hostileCallReap, hostileCallClone, hostileCallClose,
}

// hostileFile names a segment's file by device and inode: a creator's
// descriptor shows in /proc as the unnamed file it was made as.
type hostileFile struct{ dev, ino uint64 }

func hostileFileOf(path string) hostileFile {
	st, err := os.Stat(path)
	if err != nil {
		return hostileFile{}
	}
	s := st.Sys().(*syscall.Stat_t)
	return hostileFile{uint64(s.Dev), s.Ino}
}

// hostileFDsOn lists this process's descriptors open on the file.
func hostileFDsOn(f hostileFile) []int {
	if f.ino == 0 {
		return nil
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []int
	for _, e := range ents {
		if hostileFileOf("/proc/self/fd/"+e.Name()) == f {
			n, _ := strconv.Atoi(e.Name())
			out = append(out, n)
		}
	}
	return out
}
