//go:build linux && cgo

package ipcarc

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Waiting fans out. Each attachment (one C seg, shared by an Arc and its
// clones) has at most one hub, and the hub at most one sleeper: one goroutine
// that sleeps in C on the segment's sequence word with the attachment's own
// futex bit and, when the version changes, closes the channel of the current
// generation of waiters. Every other waiting goroutine blocks on that channel,
// not in C, so any number of them costs one OS thread per attachment; a
// waiter that gives up only unregisters, and wakes nothing.
//
// The sleeper is a goroutine of the hub's own (run), or a waiter that cannot
// give up (its ctx has no Done channel), which then sleeps for everyone
// (lead): a single Wait(context.Background(), v) thus costs what a direct
// futex wait does, with no goroutine hand-off on the way back. A leader that
// sees the change fans it out and returns; the next waiter starts a new hub.
//
// Lifetime. The sleeper sleeps in the attachment's mapping, which C unmaps
// with the attachment's last handle, so it must be gone before that close:
// Close calls waitHubRelease first. A hub whose sleeper comes back from C
// with nobody waiting ends. A hub goroutine may sleep on with nobody waiting
// (the last waiter gave up, and giving up wakes nothing); it holds no handle,
// so a handle dropped meanwhile is collected, and its garbage-collection
// safety net calls waitHubRelease before closing, like Close. A leader holds
// its own Arc.
//
// All hub state is guarded by waitHubsMu: it is held for a few instructions
// per registration, cancellation and wake-up.

// waitGen is one generation of waiters: those registered while the hub's
// last seen version was current. ch is closed when the version moves past it
// (or the sleeper fails: err is then set before the close).
type waitGen struct {
	ch  chan struct{}
	n   int // waiters registered in this generation and not gone (a leader counts)
	err int // C return code when the sleeper failed, 0 otherwise
}

type waitHub struct {
	s    seg
	bit  uint32 // this attachment's futex bit
	seen uint32 // version the sleeper last saw (and sleeps on)
	gen  *waitGen
	stop bool // waitHubRelease asked the hub to end
	done chan struct{}
}

var (
	waitHubsMu sync.Mutex
	waitHubs   = map[seg]*waitHub{}
)

// Counters for tests: returns of the sleepers' C wait, and versions fanned
// out, in this process.
var (
	waitHubCReturns atomic.Int64
	waitHubWakeups  atomic.Int64
)

// waitStopPoll is how often waitHubRelease repeats its wake-up: the sleeper
// may have checked the stop flag just before it went to sleep, and a futex
// wake that comes before the sleep is lost.
const waitStopPoll = time.Millisecond

func newWaitGen() *waitGen { return &waitGen{ch: make(chan struct{})} }

// waitJoin registers a waiter with the attachment's hub and returns the
// generation to block on. With no hub, it makes one: if lead is set the
// caller is to be its sleeper (h is returned, and the caller must call
// h.lead), otherwise a hub goroutine is started. A channel waiter must
// re-check the version after this: the hub may have last seen an older one,
// which is harmless (its generation is then closed at once, a spurious wake).
func waitJoin(s seg, seq *uint32, lead bool) (g *waitGen, h *waitHub) {
	waitHubsMu.Lock()
	for {
		h = waitHubs[s]
		if h != nil && h.stop {
			// A Close is stopping it; a new one can start once it is gone.
			waitHubsMu.Unlock()
			<-h.done
			waitHubsMu.Lock()
			continue
		}
		break
	}
	defer waitHubsMu.Unlock()
	if h != nil {
		h.gen.n++
		return h.gen, nil
	}
	h = &waitHub{
		s:    s,
		bit:  s.waitBit(),
		seen: atomic.LoadUint32(seq) >> 1,
		gen:  newWaitGen(),
		done: make(chan struct{}),
	}
	waitHubs[s] = h
	h.gen.n++
	if lead {
		return h.gen, h
	}
	go h.run()
	return h.gen, nil
}

// waitLeave unregisters a channel waiter that stops waiting without being
// woken (its ctx is done, or the version had moved before it blocked). It
// wakes nothing: when it was the last waiter, the hub goroutine sleeps on
// until the next change or a Close (waitHubRelease).
func waitLeave(s seg, g *waitGen) {
	waitHubsMu.Lock()
	if h := waitHubs[s]; h != nil && h.gen == g {
		g.n--
	}
	waitHubsMu.Unlock()
}

// sleep is one wait in C and what follows it, shared by both kinds of
// sleeper: on a change it fans the change out to the current generation;
// on an error it hands the error to the generation and ends the hub. It
// reports whether the version changed, and the C return code (0 or an
// error; a return without a change is not an error).
func (h *waitHub) sleep() (changed bool, now uint32, rc int) {
	waitHubsMu.Lock()
	seen := h.seen
	waitHubsMu.Unlock()

	// Infinite timeout: writers wake every bit, waitHubRelease this one.
	// C returns at once if the version already differs from seen.
	now, rc = h.s.waitBits(seen, -1, h.bit)
	waitHubCReturns.Add(1)

	waitHubsMu.Lock()
	defer waitHubsMu.Unlock()
	switch {
	case rc == 0 && now != seen:
		h.seen = now
		waitHubWakeups.Add(1)
		close(h.gen.ch)
		h.gen = newWaitGen()
		return true, now, 0
	case rc == 0 || rc == int(syscall.EINTR) || rc == int(syscall.ETIMEDOUT):
		// Woken with no change (waitHubRelease, or an attachment that
		// shares this bit): look again.
		return false, now, 0
	default:
		// The attachment cannot wait (ECHILD: inherited through fork).
		h.gen.err = rc
		close(h.gen.ch)
		h.gen = newWaitGen()
		h.endLocked()
		return false, now, rc
	}
}

// run is the hub goroutine: it sleeps while anyone waits and no Close
// stopped it.
func (h *waitHub) run() {
	for {
		waitHubsMu.Lock()
		if waitHubs[h.s] != h {
			waitHubsMu.Unlock()
			return // ended by an error
		}
		if h.stop || h.gen.n == 0 {
			h.endLocked()
			waitHubsMu.Unlock()
			return
		}
		waitHubsMu.Unlock()
		h.sleep()
	}
}

// lead is the sleeper's work done by a waiter that cannot give up: it sleeps
// until the version differs from since (which the hub had seen when the
// waiter made it), fans the change out, and returns the new version. No
// Close stops a leader: it is registered, so the hub always has a waiter.
func (h *waitHub) lead(since uint32) (uint32, int) {
	for {
		waitHubsMu.Lock()
		if h.seen != since {
			// The version moved before the first sleep: step down.
			now := h.seen
			h.gen.n--
			h.handOffLocked()
			waitHubsMu.Unlock()
			return now, 0
		}
		waitHubsMu.Unlock()
		changed, now, rc := h.sleep()
		if rc != 0 {
			return 0, rc
		}
		if changed {
			waitHubsMu.Lock()
			h.handOffLocked()
			waitHubsMu.Unlock()
			return now, 0
		}
	}
}

// handOffLocked is a leader stepping down: a hub goroutine takes over if
// anyone waits, else the hub ends.
func (h *waitHub) handOffLocked() {
	if h.gen.n > 0 && !h.stop {
		go h.run()
		return
	}
	h.endLocked()
}

// endLocked takes the hub out of the map and tells waitHubRelease and
// waitJoin; after it no sleeper of this hub calls into C.
func (h *waitHub) endLocked() {
	if waitHubs[h.s] == h {
		delete(waitHubs, h.s)
	}
	close(h.done)
}

// waitHubRelease must run before a handle's C close: it stops the
// attachment's hub unless goroutines still wait through it (they wait on
// other handles of the attachment, which are open, so this close is not the
// last one), and returns once the hub's sleeper has left C. It wakes only
// sleepers with this attachment's futex bit.
func waitHubRelease(s seg) {
	waitHubsMu.Lock()
	h := waitHubs[s]
	if h == nil {
		waitHubsMu.Unlock()
		return
	}
	if h.gen.n > 0 && !h.stop {
		// Waiters on other handles keep it; it ends once nobody waits.
		waitHubsMu.Unlock()
		return
	}
	h.stop = true
	waitHubsMu.Unlock()

	t := time.NewTimer(waitStopPoll)
	defer t.Stop()
	for {
		s.wakeBits(h.bit)
		select {
		case <-h.done:
			return
		case <-t.C:
			t.Reset(waitStopPoll)
		}
	}
}

// waitHubWaiters reports the goroutines registered with the attachment's
// hub, and whether it has one (for tests).
func waitHubWaiters(s seg) (n int, running bool) {
	waitHubsMu.Lock()
	defer waitHubsMu.Unlock()
	if h := waitHubs[s]; h != nil {
		return h.gen.n, true
	}
	return 0, false
}

// Wait blocks until the version differs from since and returns the new one.
// A write in any process wakes every waiter in every process. It returns
// ctx.Err() promptly when ctx is done.
//
// Goroutines do not each sleep in the kernel: one goroutine per attachment
// (an Arc and its clones) sleeps on the segment's futex and wakes every
// goroutine waiting through it, so a process may have any number of waiters
// for one OS thread. A Wait whose ctx has no Done channel (such as
// context.Background()) may be that goroutine, and then costs no hand-off
// between goroutines; others are woken through a channel. A Wait that gives
// up wakes no one. The segment's waiter count (Stats) counts those sleepers,
// one per attachment.
func (h *Handle) Wait(ctx context.Context, since Version) (Version, error) {
	if h.closed.Load() {
		return 0, opErr("wait", h.name, ErrClosed)
	}
	if since > versionMask {
		return 0, &Error{Op: "wait", Name: h.name, Err: ErrInvalidOption,
			Detail: fmt.Sprintf("version %d is out of range: versions have 31 bits (use a value from Version or Wait)", since)}
	}
	if v := h.version(); v != since {
		return v, nil
	}
	// Wait sleeps on the sequence word that writers bump under the value's
	// mutex: a mutex of another kind means no writer can take it safely.
	if !goMutexKindOK(h.hdr) {
		return 0, fromErrno("wait", h.name, int(syscall.EBADMSG), 0)
	}
	if err := ctx.Err(); err != nil {
		return 0, opErr("wait", h.name, err)
	}
	// The goroutine that holds the value lock would wait for a write that no
	// one can make: it is pinned to its thread, so its thread id is the
	// mutex's owner.
	if owner := atomic.LoadUint32((*uint32)(unsafe.Pointer(&h.hdr.Mutex[0]))) & futexTIDMask; owner != 0 &&
		owner == uint32(unix.Gettid()) {
		return 0, opErr("wait", h.name, ErrDeadlock)
	}
	lead := ctx.Done() == nil // cannot give up: may sleep in C for everyone
	for {
		g, hub := waitJoin(h.s, &h.hdr.Seq, lead)
		if hub != nil {
			now, rc := hub.lead(uint32(since))
			if rc != 0 {
				return 0, fromErrno("wait", h.name, rc, 0)
			}
			return Version(now), nil
		}
		// Registered first, checked second: a write after this check closes
		// g, since the hub's version is then stale.
		if v := h.version(); v != since {
			waitLeave(h.s, g)
			return v, nil
		}
		select {
		case <-g.ch:
			if g.err != 0 {
				return 0, fromErrno("wait", h.name, g.err, 0)
			}
			if v := h.version(); v != since {
				return v, nil
			}
			// The hub fanned out a change older than since: wait again.
		case <-ctx.Done():
			waitLeave(h.s, g)
			return 0, opErr("wait", h.name, ctx.Err())
		}
	}
}

// version is Version without the closed check, for Wait's loop (the handle
// stays open while one of its goroutines waits: Close refuses).
func (h *Handle) version() Version { return Version(atomic.LoadUint32(&h.hdr.Seq) >> 1) }
