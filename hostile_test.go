//go:build linux && cgo

package ipcarc

// Hostile peers. A process that can write a segment may spoil that segment,
// but it must never crash, hang or corrupt another process, or another
// segment. These tests write garbage into live segments from another
// process (and, in FuzzLiveSegment, from the same one) and check that every
// API call of every holder returns nil or a typed error, that the ipcarc
// command exits normally, and that a separate canary segment mapped by the
// same processes keeps its bytes.
//
// The known, documented limit (LAYOUT.md, "Trust model"): glibc's robust
// mutexes keep their owner's robust-list links inside the segment (struct
// __pthread_mutex_s in glibc's bits/struct_mutex.h, x86-64: __lock 0,
// __count 4, __owner 8, __nusers 12, __kind 16, __spins 20, __elision 22,
// __list.__prev 24 and __list.__next 32, 40 bytes in all), and glibc's unlock
// follows those links; likewise each slot's robust_next (offset 16 of a slot)
// is an entry of its holder's kernel robust list, which the kernel follows
// when the holder exits. A peer that scribbles on those pointers can corrupt
// any process holding the mutex or the slot, and no library built on robust
// mutexes can defend against it. So the tests here never write bytes 24..39
// of either mutex, nor a slot's robust_next. They write every other byte:
// the mutex word (the first 4 bytes), the kind word (offset 16), the rest of
// each pthread_mutex_t and its padding, and every other header and slot field.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ---- what a vandal may write ----------------------------------------------

// hostileMutexParts are the parts of a 64-byte mutex room that the garbage
// tests write: glibc's struct __pthread_mutex_s on x86-64, without __list
// (bytes 24..39, the robust-list pointers: see the comment at the top).
var hostileMutexParts = []struct {
	name      string
	off, size int
}{
	{"__lock", 0, 4}, // the robust futex word: owner tid, FUTEX_WAITERS, FUTEX_OWNER_DIED
	{"__count", 4, 4},
	{"__owner", 8, 4},
	{"__nusers", 12, 4},
	{"__kind", 16, 4},
	{"__spins", 20, 2},
	{"__elision", 22, 2},
	// __list.__prev (24..31) and __list.__next (32..39): never written.
	{"padding", 40, 24},
}

// Bytes never written by a vandal in these tests (the documented limit).
const (
	hostileMutexListOff  = 24 // of a pthread_mutex_t: __list.__prev, __list.__next
	hostileMutexListSize = 16
)

// hostileExcluded reports whether byte off of a segment is one of the
// robust-list pointers that no test may write: a mutex's __list, or a slot's
// robust_next (for slots below maxHolders).
func hostileExcluded(off, maxHolders int) bool {
	for _, m := range []int{mutexOffset, tableMutexOff} {
		if off >= m+hostileMutexListOff && off < m+hostileMutexListOff+hostileMutexListSize {
			return true
		}
	}
	if off >= headerSize && off < headerSize+maxHolders*holderSize {
		in := (off - headerSize) % holderSize
		rn := int(unsafe.Offsetof(holder{}.RobustNext))
		return in >= rn && in < rn+8
	}
	return false
}

// hostileField is one field a vandal writes, at off from the start of its
// struct: the header (the start of the file) or a slot.
type hostileField struct {
	name string
	off  int
	size int
}

// hostileFields enumerates the header's and a slot's fields by reflection
// over layout.go's header and holder: nested structs (the counters) field by
// field, each mutex room split into glibc's parts, the robust-list pointers
// left out.
func hostileFields() (hdr, slot []hostileField) {
	var walk func(out *[]hostileField, t reflect.Type, prefix string, base int)
	walk = func(out *[]hostileField, t reflect.Type, prefix string, base int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			off := base + int(f.Offset)
			switch {
			case t == reflect.TypeFor[header]() && (f.Name == "Mutex" || f.Name == "TableMutex"):
				for _, p := range hostileMutexParts {
					*out = append(*out, hostileField{name: prefix + f.Name + "." + p.name, off: off + p.off, size: p.size})
				}
			case t == reflect.TypeFor[holder]() && f.Name == "RobustNext":
				// The kernel's robust-list entry: see the top of the file.
			case f.Type.Kind() == reflect.Struct:
				walk(out, f.Type, prefix+f.Name+".", off)
			default:
				*out = append(*out, hostileField{name: prefix + f.Name, off: off, size: int(f.Type.Size())})
			}
		}
	}
	walk(&hdr, reflect.TypeFor[header](), "", 0)
	walk(&slot, reflect.TypeFor[holder](), "", 0)
	return hdr, slot
}

// hostileValueKinds are the garbage values written into every field.
var hostileValueKinds = []string{"zero", "one", "ones", "random", "other"}

// hostileCase is one field and one garbage value. target is "header", or
// the slot written: "victim" (the victim's own), "peer" (another live
// holder's) or "free" (a free slot, at the head of the free list).
type hostileCase struct {
	id     int
	target string
	field  hostileField
	kind   string
	random []byte // the bytes of kind "random", fixed per case
	desc   string // the value actually written, set when written
}

func (c *hostileCase) String() string {
	where := "header." + c.field.name
	if c.target != "header" {
		where = "slot[" + c.target + "]." + c.field.name
	}
	d := c.desc
	if d == "" {
		d = c.kind
	}
	return where + " = " + d
}

func hostileCases() []*hostileCase {
	hdr, slot := hostileFields()
	var cases []*hostileCase
	add := func(target string, f hostileField) {
		h := fnv.New64a()
		h.Write([]byte(target + "." + f.name))
		rng := rand.New(rand.NewPCG(0x1badb002, h.Sum64()))
		for _, k := range hostileValueKinds {
			c := &hostileCase{id: len(cases), target: target, field: f, kind: k}
			if k == "random" {
				c.random = make([]byte, f.size)
				for i := range c.random {
					c.random[i] = byte(rng.Uint32())
				}
			}
			cases = append(cases, c)
		}
	}
	for _, f := range hdr {
		add("header", f)
	}
	targets := []string{"victim", "peer", "free"}
	if testing.Short() {
		targets = targets[:1] // -short: the victim's own slot; make test runs all three
	}
	for _, target := range targets {
		for _, f := range slot {
			add(target, f)
		}
	}
	return cases
}

// hostileHex shows a field's bytes as the native-endian integer they hold
// (or, for arrays, their first 8 bytes and the length).
func hostileHex(b []byte) string {
	switch len(b) {
	case 1:
		return fmt.Sprintf("0x%x", b[0])
	case 2:
		return fmt.Sprintf("0x%x", binary.NativeEndian.Uint16(b))
	case 4:
		return fmt.Sprintf("0x%x", binary.NativeEndian.Uint32(b))
	case 8:
		return fmt.Sprintf("0x%x", binary.NativeEndian.Uint64(b))
	}
	return fmt.Sprintf("[%d]byte{% x ...}", len(b), b[:min(8, len(b))])
}

// garbage computes the bytes case c writes into the struct at mem[base:]
// (the header, base 0, or a slot), and describes them. "other" is the current
// value of another field of the same struct (and width), so that the
// garbage is plausible: a pid where a tid belongs, an index where a count
// does, a kind where a lock word does.
func (c *hostileCase) garbage(mem []byte, base int, fields []hostileField) []byte {
	n := c.field.size
	b := make([]byte, n)
	switch c.kind {
	case "zero":
		c.desc = "zero"
	case "one":
		if n <= 8 {
			b[0] = 1 // little-endian hosts only (the test runs on amd64)
		} else {
			for i := 0; i+8 <= n; i += 8 {
				binary.NativeEndian.PutUint64(b[i:], 1)
			}
		}
		c.desc = "one"
	case "ones":
		for i := range b {
			b[i] = 0xff
		}
		c.desc = "all ones"
	case "random":
		copy(b, c.random)
		c.desc = "random " + hostileHex(b)
	case "other":
		cur := mem[base+c.field.off : base+c.field.off+n]
		pick := func(fs []hostileField, at int, want func(hostileField) bool) (hostileField, []byte, bool) {
			i0 := slices.IndexFunc(fs, func(f hostileField) bool { return f.name == c.field.name })
			for k := 1; k <= len(fs); k++ {
				g := fs[(max(i0, 0)+k)%len(fs)]
				if g.name == c.field.name && at == base || !want(g) {
					continue
				}
				v := mem[at+g.off : at+g.off+min(g.size, 8)]
				if !bytes.Equal(v, make([]byte, len(v))) && !bytes.Equal(v[:min(len(v), n)], cur[:min(len(v), n)]) {
					return g, v, true
				}
			}
			return hostileField{}, nil, false
		}
		var g hostileField
		var v []byte
		ok := false
		if n <= 8 {
			// Same width in the same struct, else a wider field of the
			// header, cut to this width.
			if g, v, ok = pick(fields, base, func(g hostileField) bool { return g.size == n }); !ok {
				g, v, ok = pick(hostileHeaderFieldsCache, 0, func(g hostileField) bool { return g.size >= n && g.size <= 8 })
			}
			copy(b, v)
		} else {
			// An array: repeat an 8-byte field's value through it.
			if g, v, ok = pick(fields, base, func(g hostileField) bool { return g.size == 8 }); !ok {
				g, v, ok = pick(hostileHeaderFieldsCache, 0, func(g hostileField) bool { return g.size == 8 })
			}
			for i := 0; i+8 <= n && ok; i += 8 {
				copy(b[i:], v)
			}
		}
		if !ok {
			c.desc = "other (none differs: zero)"
			break
		}
		c.desc = fmt.Sprintf("other: %s's value %s", g.name, hostileHex(b[:min(n, 8)]))
	}
	return b
}

var hostileHeaderFieldsCache, _ = hostileFields()

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

// ---- child roles -----------------------------------------------------------

var hostileCanaryHandle *Arc[Counter] // kept by the workers: the canary stays mapped

// hostileCanaryValue is what the canary holds, for the whole test.
func hostileCanaryValue() Counter {
	return Counter{N: 0xC0FFEE, Spare: [7]uint64{0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777}}
}

func init() {
	// hostile-canary NAME: creates the canary segment and holds it until
	// stdin ends.
	childRoles["hostile-canary"] = func(args []string) error {
		a, err := New(args[0], hostileCanaryValue(), WithMaxHolders(256))
		if err != nil {
			return err
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return a.Close()
	}

	// hostile-worker CANARY victim|peer: attaches to the canary (and keeps
	// it mapped for its whole life), then reads commands on stdin:
	//   open ID NAME  attach to NAME: "opened ID SLOT" or "openerr ID ERR"
	//   run ID        run the calls on that handle, one at a time: "beg ID
	//                 CALL" before each call (then it waits for a line on
	//                 stdin), "res ID CALL STATUS DETAIL" after it (DETAIL
	//                 quoted), "done ID ok|hung" at the end
	// A call that hangs ends the case (and the worker is replaced).
	childRoles["hostile-worker"] = func(args []string) error {
		ca, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		hostileCanaryHandle = ca
		calls := hostileVictimCalls
		if args[1] == "peer" {
			calls = hostilePeerCalls
		}
		fmt.Printf("ready %d\n", ca.s.slot())
		handles := map[string]*Arc[Counter]{}
		names := map[string]string{}
		files := map[string]hostileFile{}
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 3 && f[0] == "open":
				a, err := Open[Counter](f[2], WithOpenTimeout(hostileTableWait))
				if err != nil {
					fmt.Printf("openerr %s %q\n", f[1], err.Error())
					continue
				}
				handles[f[1]], names[f[1]], files[f[1]] = a, f[2], hostileFileOf(filepath.Join(shmDir, f[2]))
				fmt.Printf("opened %s %d\n", f[1], a.s.slot())
			case len(f) == 2 && f[0] == "run":
				a, name, file := handles[f[1]], names[f[1]], files[f[1]]
				delete(handles, f[1])
				if a == nil {
					fmt.Printf("done %s ok\n", f[1])
					continue
				}
				end := "ok"
				for _, c := range calls {
					// The vandal writes its garbage again before each call,
					// then says "go": every call meets it fresh (an earlier
					// call's lock or table rebuild may have mended it).
					fmt.Printf("beg %s %s\n", f[1], c.name)
					if !sc.Scan() {
						return nil
					}
					var hdr *header
					if !a.closed.Load() {
						hdr = a.hdr
					}
					o := hostileDo(hdr, c.unbounded, hostileCallBound, func() error { return c.run(a, name) })
					detail := o.detail
					if o.phantom != 0 {
						detail = fmt.Sprintf("[blocked on a lock word naming tid %d (0x%08x): released] %s",
							o.phantom&liveTIDMask, o.phantom, detail)
					}
					fmt.Printf("res %s %s %s %q\n", f[1], c.name, o.status, detail)
					if o.status == "HANG" {
						end = "hung"
						break
					}
					if c.name == "Close" {
						// Informational: did Close let go of the file?
						if fds := hostileFDsOn(file); len(fds) > 0 {
							fmt.Printf("res %s Close-leak NOTE %q\n", f[1],
								fmt.Sprintf("after Close (%s: %v), descriptors %v still open on the segment: an attachment was not released",
									o.status, o.err, fds))
						}
					}
				}
				fmt.Printf("done %s %s\n", f[1], end)
			}
		}
		return nil
	}
}

// ---- child processes the hostile tests drive ------------------------------

// hostileBuf collects a child's stderr (a crash's stack).
type hostileBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *hostileBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// head is the start of a crash report: the signal, and the goroutine that
// faulted (whose stack includes the C call it was in).
func (b *hostileBuf) head(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) > n {
		s = s[:n] + "..."
	}
	return s
}

func (b *hostileBuf) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// hostileProc is a child driven line by line. Unlike startChild it never
// calls t.Fatal, so that workers on goroutines of their own may use it.
type hostileProc struct {
	role   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	done   chan struct{}
	err    error
	stderr hostileBuf
}

var (
	errHostileExited  = errors.New("process exited")
	errHostileTimeout = errors.New("no answer")
)

func hostileStart(t *testing.T, setup func(*exec.Cmd), role string, args ...string) (*hostileProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &hostileProc{role: role, lines: make(chan string, 256), done: make(chan struct{})}
	a, _ := json.Marshal(args)
	p.cmd = exec.Command(exe, "-test.run=^$")
	p.cmd.Env = append(os.Environ(), childEnv+"="+role, childEnv+"_ARGS="+string(a), "GORACE=atexit_sleep_ms=0")
	p.cmd.Stderr = &p.stderr
	if setup != nil {
		setup(p.cmd)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		io.Copy(io.Discard, out)
		close(p.lines)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.kill)
	return p, nil
}

func (p *hostileProc) say(format string, a ...any) error {
	_, err := fmt.Fprintf(p.stdin, format+"\n", a...)
	return err
}

// next returns the child's next line, errHostileExited when it is gone, or
// errHostileTimeout after d.
func (p *hostileProc) next(d time.Duration) (string, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			return "", errHostileExited
		}
		return l, nil
	case <-t.C:
		return "", errHostileTimeout
	}
}

func (p *hostileProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// dumpAndKill asks a wedged Go child for its goroutines (SIGQUIT), then kills it.
func (p *hostileProc) dumpAndKill() {
	p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	p.kill()
}

func (p *hostileProc) kill() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	go func() {
		for range p.lines {
		}
	}()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// stop ends a worker by closing its stdin, and kills it if it lingers.
func (p *hostileProc) stop() {
	p.stdin.Close()
	go func() {
		for range p.lines {
		}
	}()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

// hostileCLI runs the ipcarc command and returns "" when it exited normally
// with a documented code (0 to 3), or what went wrong.
func hostileCLI(exe string, args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	what := "ipcarc " + strings.Join(args, " ")
	tail := func() string {
		s := errb.String()
		if len(s) > 3000 {
			s = s[:3000] + "..."
		}
		return s
	}
	if ctx.Err() != nil {
		return fmt.Sprintf("%s: HANG: still running after 10s (killed)\nstderr:\n%s", what, tail()), -1
	}
	if cmd.ProcessState == nil {
		return fmt.Sprintf("%s: did not run: %v", what, err), -1
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		return fmt.Sprintf("%s: died of signal %v\nstderr:\n%s", what, ws.Signal(), tail()), -1
	case !ws.Exited():
		return fmt.Sprintf("%s: abnormal end %v", what, cmd.ProcessState), -1
	case ws.ExitStatus() > 3:
		return fmt.Sprintf("%s: exit code %d (documented: 0-3)\nstderr:\n%s", what, ws.ExitStatus(), tail()), ws.ExitStatus()
	case hostileGoCrash(errb.String()):
		// A Go program that panics, or dies of a fault the runtime turns
		// into a fatal error, exits with code 2: the code of a usage error.
		return fmt.Sprintf("%s: CRASH (exit code %d from the Go runtime)\nstderr:\n%s", what, ws.ExitStatus(), tail()), -2
	}
	return "", ws.ExitStatus()
}

// hostileGoCrash reports whether a Go program's stderr shows that it died
// of a panic or a fatal runtime error (a fault, a deadlock).
func hostileGoCrash(stderr string) bool {
	for _, p := range []string{"panic: ", "fatal error: ", "unexpected fault address", "[signal "} {
		if strings.HasPrefix(stderr, p) || strings.Contains(stderr, "\n"+p) {
			return true
		}
	}
	return strings.Contains(stderr, "\ngoroutine ") && strings.Contains(stderr, "\n\t/")
}

// hostileSignature is what tells one failure of the command from another:
// its panic or fatal error line, or its first line.
func hostileSignature(msg string) string {
	for _, l := range strings.Split(msg, "\n") {
		for _, p := range []string{"panic: ", "fatal error: ", "unexpected fault address", "[signal "} {
			if strings.HasPrefix(strings.TrimSpace(l), p) {
				return strings.TrimSpace(l)
			}
		}
	}
	first, _, _ := strings.Cut(msg, "\n")
	return first
}

// hostileMap maps a segment file read-write, as a vandal does.
func hostileMap(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	return unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// ---- the canary ------------------------------------------------------------

// hostileOffsetName names the field at byte off of a segment with a holder
// table of maxHolders slots.
func hostileOffsetName(off, maxHolders int, valueOff int) string {
	name := func(fs []hostileField, o int) string {
		for _, f := range fs {
			if o >= f.off && o < f.off+f.size {
				if o == f.off {
					return f.name
				}
				return fmt.Sprintf("%s+%d", f.name, o-f.off)
			}
		}
		return fmt.Sprintf("+%d", o)
	}
	hdr, slot := hostileFields()
	switch {
	case off < headerSize:
		return "header." + name(hdr, off)
	case off < headerSize+maxHolders*holderSize:
		i := (off - headerSize) / holderSize
		in := (off - headerSize) % holderSize
		if rn := int(unsafe.Offsetof(holder{}.RobustNext)); in >= rn && in < rn+8 {
			return fmt.Sprintf("slot[%d].RobustNext", i)
		}
		return fmt.Sprintf("slot[%d].%s", i, name(slot, in))
	case off >= valueOff:
		return fmt.Sprintf("value+%d", off-valueOff)
	}
	return fmt.Sprintf("padding+%d", off)
}

// hostileCanaryDiff compares two snapshots of an idle segment. Nothing in an
// idle segment changes, except what is legitimately live: the robust-list
// pointers (a holder's keeper relinks its list as it attaches elsewhere) and
// a liveness word that the kernel marks dead when its holder dies (from an
// alive word w to FUTEX_OWNER_DIED | (w & FUTEX_WAITERS)). Anything else that
// differs is reported.
func hostileCanaryDiff(before, after []byte) string {
	if len(before) != len(after) {
		return fmt.Sprintf("size changed from %d to %d bytes", len(before), len(after))
	}
	h := (*header)(unsafe.Pointer(&before[0]))
	mh := int(h.MaxHolders)
	voff := int(h.ValueOff)
	var diffs []string
	for off := 0; off < len(before); off++ {
		if before[off] == after[off] || hostileExcluded(off, mh) {
			continue
		}
		if off >= headerSize && off < headerSize+mh*holderSize {
			in := (off - headerSize) % holderSize
			live := int(unsafe.Offsetof(holder{}.Live))
			if in >= live && in < live+4 {
				w0 := off - in + live
				old := binary.NativeEndian.Uint32(before[w0:])
				now := binary.NativeEndian.Uint32(after[w0:])
				if liveWordAlive(old) && now == liveOwnerDied|old&0x80000000 {
					off = w0 + 3 // its holder died: the kernel's mark
					continue
				}
			}
		}
		end := off
		for end+1 < len(before) && before[end+1] != after[end+1] && !hostileExcluded(end+1, mh) && end+1-off < 16 {
			end++
		}
		diffs = append(diffs, fmt.Sprintf("%s (offset %d, %d bytes): % x -> % x",
			hostileOffsetName(off, mh, voff), off, end-off+1, before[off:end+1], after[off:end+1]))
		off = end
		if len(diffs) == 8 {
			diffs = append(diffs, "...")
			break
		}
	}
	return strings.Join(diffs, "; ")
}

// Ensure that the canary comparison sees a changed byte anywhere but in the
// robust-list pointers and the kernel's death mark, and that the bytes left
// out of the garbage tests are exactly those pointers.
func TestHostileCanaryDiff(t *testing.T) {
	img := segmentImage(t)
	h := (*header)(unsafe.Pointer(&img[0]))
	mh := int(h.MaxHolders)
	slot0 := headerSize
	live := slot0 + int(unsafe.Offsetof(holder{}.Live))
	binary.NativeEndian.PutUint32(img[live:], 1234) // an alive holder
	mod := func(f func(b []byte)) string {
		b := append([]byte(nil), img...)
		f(b)
		return hostileCanaryDiff(img, b)
	}
	for _, off := range []int{0, int(unsafe.Offsetof(h.Seq)), int(unsafe.Offsetof(h.Mutex)), int(unsafe.Offsetof(h.Mutex)) + 16,
		int(unsafe.Offsetof(h.RefCount)), slot0 + int(unsafe.Offsetof(holder{}.Next)), int(h.ValueOff), len(img) - 1} {
		if d := mod(func(b []byte) { b[off] ^= 0x55 }); !strings.Contains(d, fmt.Sprintf("offset %d,", off)) {
			t.Errorf("a byte changed at %d (%s): diff %q", off, hostileOffsetName(off, mh, int(h.ValueOff)), d)
		}
	}
	if d := mod(func(b []byte) { binary.NativeEndian.PutUint32(b[live:], liveOwnerDied) }); d != "" {
		t.Errorf("the kernel's death mark is reported: %s", d)
	}
	if d := mod(func(b []byte) { binary.NativeEndian.PutUint32(b[live:], 99) }); d == "" {
		t.Error("a liveness word changed to another tid is not reported")
	}
	for i, want := range map[int]bool{
		mutexOffset + 16: false, mutexOffset + 23: false, mutexOffset + 24: true, mutexOffset + 39: true, mutexOffset + 40: false,
		tableMutexOff + 24: true, tableMutexOff + 40: false, slot0 + 15: false, slot0 + 16: true, slot0 + 23: true, slot0 + 24: false,
		headerSize + holderSize*(mh-1) + 16: true, headerSize + holderSize*mh + 16: false,
	} {
		if hostileExcluded(i, mh) != want {
			t.Errorf("hostileExcluded(%d) = %v, want %v", i, !want, want)
		}
	}
	for _, i := range []int{mutexOffset + 24, slot0 + 20} {
		if d := mod(func(b []byte) { b[i] ^= 0xff }); d != "" {
			t.Errorf("a robust-list pointer change at %d is reported: %s", i, d)
		}
	}
}

// ---- 1: every field --------------------------------------------------------

type hostileRig struct {
	t          *testing.T
	exe        string
	canary     string
	canaryPath string
	canaryMu   sync.RWMutex // shared by cases, exclusive while a worker attaches to the canary

	mu       sync.Mutex
	fails    map[string][]string // case -> what failed
	notes    map[string][]string
	counts   map[string]map[string]int // call -> status -> count
	restarts int
}

func (r *hostileRig) fail(c *hostileCase, format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := c.String()
	r.fails[k] = append(r.fails[k], fmt.Sprintf(format, a...))
}

func (r *hostileRig) note(c *hostileCase, format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := c.String()
	r.notes[k] = append(r.notes[k], fmt.Sprintf(format, a...))
}

func (r *hostileRig) count(who, call, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := who + " " + call
	if r.counts[k] == nil {
		r.counts[k] = map[string]int{}
	}
	r.counts[k][status]++
}

type hostileWorker struct {
	r            *hostileRig
	id           int
	victim, peer *hostileProc
}

// start starts (or replaces) the victim or peer process: it attaches to the
// canary, so no case may be between its two canary snapshots meanwhile.
func (w *hostileWorker) start(who string, exclusive bool) (*hostileProc, error) {
	if exclusive {
		w.r.canaryMu.Lock()
		defer w.r.canaryMu.Unlock()
	}
	p, err := hostileStart(w.r.t, nil, "hostile-worker", w.r.canary, who)
	if err != nil {
		return nil, err
	}
	l, err := p.next(30 * time.Second)
	if err != nil || !strings.HasPrefix(l, "ready ") {
		p.kill()
		return nil, fmt.Errorf("%s worker did not start: %q %v\nstderr:\n%s", who, l, err, p.stderr.tail(4000))
	}
	return p, nil
}

// open attaches p to the case's segment and returns its slot.
func (w *hostileWorker) open(p *hostileProc, c *hostileCase, name string) (int, error) {
	if err := p.say("open %d %s", c.id, name); err != nil {
		return -1, err
	}
	l, err := p.next(30 * time.Second)
	if err != nil {
		return -1, fmt.Errorf("open: %v\nstderr:\n%s", err, p.stderr.tail(4000))
	}
	var id, slot int
	if _, err := fmt.Sscanf(l, "opened %d %d", &id, &slot); err != nil || id != c.id {
		return -1, fmt.Errorf("open: child said %q", l)
	}
	return slot, nil
}

// run has p run its calls on the case's handle and records the results. It
// returns false when p must be replaced (it died, hung or stopped answering).
func (w *hostileWorker) run(p *hostileProc, who string, c *hostileCase, write func()) bool {
	r := w.r
	if err := p.say("run %d", c.id); err != nil {
		r.fail(c, "%s: cannot send run: %v", who, err)
		return false
	}
	last := "(before its first call)"
	for {
		// Each call is bounded in the child (hostileCallBound); this bound
		// catches a child that stops answering altogether.
		l, err := p.next(20 * time.Second)
		switch err {
		case errHostileExited:
			r.fail(c, "%s %s: CRASH: the %s process died (%v) during this call\nstderr:\n%s",
				who, last, who, p.err, p.stderr.head(4000))
			return false
		case errHostileTimeout:
			p.dumpAndKill()
			r.fail(c, "%s %s: HANG: the %s process stopped answering during this call\nstderr (goroutines):\n%s",
				who, last, who, p.stderr.tail(12000))
			return false
		}
		f := strings.SplitN(l, " ", 5)
		switch {
		case len(f) == 3 && f[0] == "beg":
			last = f[2]
			write()
			if err := p.say("go"); err != nil {
				r.fail(c, "%s %s: cannot send go: %v", who, last, err)
			}
		case len(f) == 5 && f[0] == "res":
			detail, _ := strconv.Unquote(f[4])
			call, status := f[2], f[3]
			r.count(who, call, status)
			switch status {
			case "ok", "typed":
				if strings.HasPrefix(detail, "[blocked") {
					r.count(who, call, "phantom lock released")
				}
			case "NOTE":
				r.note(c, "%s %s: %s", who, call, detail)
			default:
				if len(detail) > 8000 {
					detail = detail[:8000] + "..."
				}
				r.fail(c, "%s %s: %s: %s", who, call, status, detail)
			}
		case len(f) >= 3 && f[0] == "done":
			return f[2] == "ok"
		default:
			r.fail(c, "%s: unexpected line %q", who, l)
		}
	}
}

// runCase makes a fresh segment, attaches the peer and the victim, writes
// the garbage, and runs the command and both processes' calls on it.
func (w *hostileWorker) runCase(c *hostileCase, hdrFields, slotFields []hostileField) {
	r := w.r
	var err error
	for _, pp := range []struct {
		p   **hostileProc
		who string
	}{{&w.victim, "victim"}, {&w.peer, "peer"}} {
		if *pp.p == nil || (*pp.p).exited() {
			if *pp.p != nil {
				r.mu.Lock()
				r.restarts++
				r.mu.Unlock()
			}
			if *pp.p, err = w.start(pp.who, true); err != nil {
				r.fail(c, "setup: %v", err)
				return
			}
		}
	}
	name := testName(r.t)
	path := filepath.Join(shmDir, name)
	defer os.Remove(path)
	a, err := New(name, Counter{N: 7}, WithOpenTimeout(time.Second))
	if err != nil {
		r.fail(c, "setup: New: %v", err)
		return
	}
	freeSlot := a.s.slot()
	peerSlot, err := w.open(w.peer, c, name)
	if err != nil {
		a.Close()
		r.fail(c, "setup: peer: %v", err)
		return
	}
	victimSlot, err := w.open(w.victim, c, name)
	if err != nil {
		a.Close()
		r.fail(c, "setup: victim: %v", err)
		return
	}
	// The test lets go of its own handle: its slot is the free one.
	if err := a.Close(); err != nil {
		r.fail(c, "setup: Close: %v", err)
		return
	}
	mem, err := hostileMap(path)
	if err != nil {
		r.fail(c, "setup: map: %v", err)
		return
	}
	defer unix.Munmap(mem)

	base, fields := 0, hdrFields
	switch c.target {
	case "victim":
		base, fields = headerSize+holderSize*victimSlot, slotFields
	case "peer":
		base, fields = headerSize+holderSize*peerSlot, slotFields
	case "free":
		base, fields = headerSize+holderSize*freeSlot, slotFields
	}
	garbage := c.garbage(mem, base, fields)
	write := func() { copy(mem[base+c.field.off:base+c.field.off+c.field.size], garbage) }

	r.canaryMu.RLock()
	defer r.canaryMu.RUnlock()
	before, err := os.ReadFile(r.canaryPath)
	if err != nil {
		r.fail(c, "canary: %v", err)
		return
	}

	write()
	cli := func(args ...string) {
		if msg, _ := hostileCLI(r.exe, args...); msg != "" {
			r.fail(c, "%s", msg)
		}
	}
	cli("ls", name)
	cli("inspect", name)
	victimOK := w.run(w.victim, "victim", c, write)
	// Again, for the command: the victim's calls may have mended it.
	write()
	cli("gc", name)
	cli("rm", name)
	peerOK := w.run(w.peer, "peer", c, write)

	after, err := os.ReadFile(r.canaryPath)
	if err != nil {
		r.fail(c, "canary: %v", err)
	} else if d := hostileCanaryDiff(before, after); d != "" {
		r.fail(c, "CANARY CHANGED: another segment's bytes changed during this case: %s", d)
	}
	if !victimOK {
		w.victim.kill()
	}
	if !peerOK {
		w.peer.kill()
	}
}

// Ensure that garbage in any field of a live segment, written by another
// process, makes no holder crash, hang or return an untyped error from any
// call, makes the ipcarc command neither die nor hang, and changes no byte
// of another segment mapped by the same processes. See the top of the file
// for the bytes left out (the robust-list pointers).
//
// Each case is one field and one value (0, 1, all ones, a random value, the
// value of another field), on a fresh segment made by the test and attached
// by a peer process and a victim process; the test closes its own handle
// (its slot becomes the free one), maps the file and writes the garbage:
// into the header, or into the victim's, the peer's or the free slot. Then
// `ipcarc ls` and `inspect` run; the victim runs every API call; the garbage
// is written again and `ipcarc gc` and `rm` run; then the peer runs its
// calls. Workers (a victim and a peer process each) run cases one at a time,
// so a crash is attributed exactly; several workers run side by side.
func TestHostileEveryField(t *testing.T) {
	if runtime.GOARCH != "amd64" || cABI()&0xffff != 40 {
		t.Skipf("the mutex parts written are glibc's x86-64 pthread_mutex_t; this is %s, ABI word 0x%08x", runtime.GOARCH, cABI())
	}
	start := time.Now()
	r := &hostileRig{t: t, exe: ipcarcCommand(t), fails: map[string][]string{}, notes: map[string][]string{},
		counts: map[string]map[string]int{}}
	r.canary = testName(t)
	r.canaryPath = filepath.Join(shmDir, r.canary)
	t.Cleanup(func() { removeSegment(r.canary) })
	canary, err := hostileStart(t, nil, "hostile-canary", r.canary)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := canary.next(30 * time.Second); l != "ready" {
		t.Fatalf("canary: %q %v\n%s", l, err, canary.stderr.tail(4000))
	}

	cases := hostileCases()
	if only := os.Getenv("IPCARC_HOSTILE_CASES"); only != "" {
		// To reproduce: IPCARC_HOSTILE_CASES=header.UsedTail runs the cases
		// whose field ("header.X", "slot[victim].X") contains it.
		cases = slices.DeleteFunc(cases, func(c *hostileCase) bool {
			where, _, _ := strings.Cut(c.String(), " = ")
			return !strings.Contains(where, only)
		})
	}
	hdrFields, slotFields := hostileFields()
	nWorkers := min(24, len(cases))
	workers := make([]*hostileWorker, nWorkers)
	var wg sync.WaitGroup
	var startErr atomic.Value
	for i := range workers {
		w := &hostileWorker{r: r, id: i}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if w.victim, err = w.start("victim", false); err == nil {
				w.peer, err = w.start("peer", false)
			}
			if err != nil {
				startErr.Store(err)
			}
		}()
	}
	wg.Wait()
	if err, _ := startErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	queue := make(chan *hostileCase, len(cases))
	for _, c := range cases {
		queue <- c
	}
	close(queue)
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range queue {
				w.runCase(c, hdrFields, slotFields)
			}
		}()
	}
	wg.Wait()
	for _, w := range workers {
		for _, p := range []*hostileProc{w.victim, w.peer} {
			if p != nil {
				p.stop()
			}
		}
	}

	// The canary's value and holder table are intact, and it still opens.
	ca, err := Open[Counter](r.canary)
	if err != nil {
		t.Errorf("canary: Open after the run: %v", err)
	} else {
		if v, err := ca.Load(); err != nil || v != hostileCanaryValue() {
			t.Errorf("canary: Load = %+v, %v; want %+v", v, err, hostileCanaryValue())
		}
		if err := ca.Close(); err != nil {
			t.Errorf("canary: Close: %v", err)
		}
	}
	canary.stop()
	if canary.err != nil {
		t.Errorf("canary process: %v\n%s", canary.err, canary.stderr.tail(4000))
	}

	// Report: failures grouped by field and value, then call.
	keys := make([]string, 0, len(r.fails))
	for k := range r.fails {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 40 {
			t.Errorf("... and %d more failing cases", len(keys)-40)
			break
		}
		t.Errorf("%s:\n  %s", k, strings.Join(r.fails[k], "\n  "))
	}
	nkeys := make([]string, 0, len(r.notes))
	for k := range r.notes {
		nkeys = append(nkeys, k)
	}
	sort.Strings(nkeys)
	for _, k := range nkeys {
		// A Close that leaves the attachment open (descriptor, mapping, a
		// slot reading alive) leaks it for the life of the process: a bug.
		t.Errorf("leak: %s: %s", k, strings.Join(r.notes[k], "; "))
	}
	ckeys := make([]string, 0, len(r.counts))
	for k := range r.counts {
		ckeys = append(ckeys, k)
	}
	sort.Strings(ckeys)
	var sum strings.Builder
	for _, k := range ckeys {
		fmt.Fprintf(&sum, "\n  %-28s %v", k, r.counts[k])
	}
	t.Logf("%d cases (of %d header fields, %d slot fields x 3 slots, x %d values), %d workers, %d worker restarts, %d failing cases, %v%s",
		len(cases), len(hdrFields), len(slotFields), len(hostileValueKinds), nWorkers, r.restarts, len(keys),
		time.Since(start).Round(time.Millisecond), sum.String())
}

// ---- 2: fuzzing a live segment ---------------------------------------------

// hostileFuzzCalls are the calls a FuzzLiveSegment step may make.
var hostileFuzzCalls = []hostileCall{
	{"none", false, func(*Arc[Counter], string) error { return nil }},
	hostileCallLock, hostileCallTryLock,
	{"LockContext", false, func(a *Arc[Counter], _ string) error {
		ctx, cancel := hostileCtx(10 * time.Millisecond)
		defer cancel()
		return hostileLockUnlock(a.LockContext(ctx))
	}},
	hostileCallLoad, hostileCallLoadInto,
	{"LoadContext", false, func(a *Arc[Counter], _ string) error {
		ctx, cancel := hostileCtx(10 * time.Millisecond)
		defer cancel()
		_, err := a.LoadContext(ctx)
		return err
	}},
	hostileCallStore, hostileCallUpdate,
	{"Wait", false, func(a *Arc[Counter], _ string) error {
		ctx, cancel := hostileCtx(5 * time.Millisecond)
		defer cancel()
		_, err := a.Wait(ctx, verOf(a))
		return err
	}},
	hostileCallClone, hostileCallReap, hostileCallStats,
	{"Open+Close", false, func(a *Arc[Counter], name string) error {
		b, err := Open[Counter](name, WithOpenTimeout(20*time.Millisecond))
		if err != nil {
			return err
		}
		return b.Close()
	}},
	hostileCallRefCount,
	{"OpenOrNew+Close", false, func(a *Arc[Counter], name string) error {
		b, _, err := OpenOrNew(name, Counter{}, WithOpenTimeout(20*time.Millisecond))
		if err != nil {
			return err
		}
		return b.Close()
	}},
	hostileCallExpvar,
}

// hostileFuzzStep is the encoding of one step of a FuzzLiveSegment input:
// 7 bytes, [off lo, off hi, ctl, v0, v1, v2, v3].
//   - off & 0x7fff, modulo the header and table's size (512 + 128 x 64), is
//     the first byte written; bit 15 picks the handle the call is made on
//     (the creator's, or a second attachment of the same process).
//   - ctl & 3: the width written, 1 << (ctl & 3) bytes (1, 2, 4 or 8).
//   - ctl >> 2: the call, modulo len(hostileFuzzCalls) (0: none).
//   - v: the value, little-endian; 8-byte writes repeat it twice.
//
// Bytes of the robust-list pointers are skipped (see the top of the file).
type hostileFuzzStep struct {
	off    int
	second bool
	width  int
	call   int
	val    uint32
}

const hostileFuzzStepSize = 7

func hostileFuzzDecode(prog []byte) []hostileFuzzStep {
	var steps []hostileFuzzStep
	for len(prog) >= hostileFuzzStepSize && len(steps) < 64 {
		o := binary.LittleEndian.Uint16(prog)
		ctl := prog[2]
		steps = append(steps, hostileFuzzStep{
			off: int(o&0x7fff) % (headerSize + holderSize*DefaultMaxHolders), second: o&0x8000 != 0,
			width: 1 << (ctl & 3), call: int(ctl>>2) % len(hostileFuzzCalls),
			val: binary.LittleEndian.Uint32(prog[3:]),
		})
		prog = prog[hostileFuzzStepSize:]
	}
	return steps
}

// hostileFuzzEncode is the inverse, for writing seeds.
func hostileFuzzEncode(steps ...hostileFuzzStep) []byte {
	var b []byte
	for _, s := range steps {
		o := uint16(s.off)
		if s.second {
			o |= 0x8000
		}
		w := map[int]byte{1: 0, 2: 1, 4: 2, 8: 3}[s.width]
		b = binary.LittleEndian.AppendUint16(b, o)
		b = append(b, w|byte(s.call)<<2)
		b = binary.LittleEndian.AppendUint32(b, s.val)
	}
	return b
}

// hostileFuzzCall finds a call's index by name.
func hostileFuzzCall(name string) int {
	return slices.IndexFunc(hostileFuzzCalls, func(c hostileCall) bool { return c.name == name })
}

// Ensure that bytes written into a live, attached segment's header and
// holder table between calls made by the same process (on the creator's
// handle and on a second attachment) make every call return nil or a typed
// error: no panic, no hang, no fault (which would end the test binary: that
// is a found bug). testdata/fuzz/FuzzLiveSegment holds seeds, among them one
// step per kind of field; `go test -fuzz FuzzLiveSegment` explores further.
func FuzzLiveSegment(f *testing.F) {
	if runtime.GOARCH != "amd64" {
		f.Skip("the bytes left out are glibc's x86-64 pthread_mutex_t list pointers")
	}
	// A found bug kills the test binary, which then cannot remove its
	// segment: remove what an earlier, crashed run of this target left.
	ents, _ := os.ReadDir(shmDir)
	for _, e := range ents {
		var pid, n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(e.Name(), testPrefix()), "%d-%d-live", &pid, &n); err == nil &&
			strings.HasSuffix(e.Name(), "-live") && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.Remove(filepath.Join(shmDir, e.Name()))
		}
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		name := testName(t) + "-live"
		path := filepath.Join(shmDir, name)
		defer os.Remove(path)
		a, err := New(name, Counter{N: 1}, WithOpenTimeout(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		file := hostileFileOf(path)
		b, err := Open[Counter](name, WithOpenTimeout(20*time.Millisecond))
		if err != nil {
			a.Close()
			t.Fatal(err)
		}
		mem := unsafe.Slice((*byte)(unsafe.Pointer(a.hdr)), headerSize+holderSize*a.s.maxHolders())
		pristine := append([]byte(nil), mem...)
		var done []string
		for i, s := range hostileFuzzDecode(prog) {
			var v [8]byte
			binary.LittleEndian.PutUint32(v[:], s.val)
			binary.LittleEndian.PutUint32(v[4:], s.val)
			wrote := 0
			for k := 0; k < s.width && s.off+k < len(mem); k++ {
				if !hostileExcluded(s.off+k, a.s.maxHolders()) {
					mem[s.off+k] = v[k]
					wrote++
				}
			}
			h, hname := a, "creator's handle"
			if s.second {
				h, hname = b, "second attachment"
			}
			c := hostileFuzzCalls[s.call]
			what := fmt.Sprintf("step %d: wrote %d bytes of 0x%x at %s (offset %d), then %s on the %s",
				i, wrote, v[:s.width], hostileOffsetName(s.off, a.s.maxHolders(), int(a.s.maxHolders()*holderSize+headerSize)),
				s.off, c.name, hname)
			done = append(done, what)
			if h.closed.Load() {
				continue
			}
			o := hostileDo(h.hdr, c.unbounded, hostileCallBound, func() error { return c.run(h, name) })
			if o.bad() {
				t.Fatalf("%s: %s: %s\nsteps:\n  %s", what, o.status, o.detail, strings.Join(done, "\n  "))
			}
		}
		// The end: both handles close with nil or a typed error.
		for _, h := range []*Arc[Counter]{b, a} {
			o := hostileDo(nil, false, hostileCallBound, func() error { return h.Close() })
			if o.status == "typed" && errors.Is(o.err, ErrDeadlock) {
				// Close refuses while a lock word names this thread (it
				// would unmap a mutex it holds): mend the mutexes (not
				// their list pointers) and close again, so that no
				// descriptor is left open.
				for _, m := range []int{mutexOffset, tableMutexOff} {
					copy(mem[m:m+hostileMutexListOff], pristine[m:])
					copy(mem[m+hostileMutexListOff+hostileMutexListSize:m+64], pristine[m+hostileMutexListOff+hostileMutexListSize:])
				}
				o = hostileDo(nil, false, hostileCallBound, func() error { return h.Close() })
			}
			if o.bad() {
				t.Fatalf("Close: %s: %s\nsteps:\n  %s", o.status, o.detail, strings.Join(done, "\n  "))
			}
		}
		if fds := hostileFDsOn(file); len(fds) > 0 {
			// A Close that failed (the table mutex's kind spoilt, say) may
			// leave the attachment behind; close its descriptors so the
			// package's descriptor count stays meaningful.
			t.Logf("Close left descriptors %v open on the segment (steps: %s)", fds, strings.Join(done, "; "))
			for _, fd := range fds {
				unix.Close(fd)
			}
		}
	})
}

// hostileFuzzSeeds are FuzzLiveSegment's committed seeds, by file name:
// for each kind of field, garbage and then the calls that read it. Written to
// testdata/fuzz/FuzzLiveSegment by TestHostileWriteFuzzSeeds.
func hostileFuzzSeeds() map[string][]byte {
	var h header
	var hd holder
	slot := func(i int, off uintptr) int { return headerSize + holderSize*i + int(off) }
	call := hostileFuzzCall
	st := func(off int, width int, val uint32, c string) hostileFuzzStep {
		return hostileFuzzStep{off: off, width: width, val: val, call: call(c)}
	}
	on2 := func(s hostileFuzzStep) hostileFuzzStep { s.second = true; return s }
	mutexWord, tableWord := int(unsafe.Offsetof(h.Mutex)), int(unsafe.Offsetof(h.TableMutex))
	return map[string][]byte{
		// Nothing written: every call on both handles works.
		"calls-only": hostileFuzzEncode(st(int(unsafe.Offsetof(h.Reserved1)), 1, 0, "Lock/Unlock"),
			on2(st(int(unsafe.Offsetof(h.Reserved1)), 1, 0, "Store")), st(int(unsafe.Offsetof(h.Reserved1)), 1, 0, "Wait"),
			on2(st(int(unsafe.Offsetof(h.Reserved1)), 1, 0, "Clone+Close")), st(int(unsafe.Offsetof(h.Reserved1)), 1, 0, "Open+Close")),
		// The value lock's word names a thread that will never unlock it:
		// bounded calls give up, Lock waits for it (as for any holder).
		"value-lock-word-phantom": hostileFuzzEncode(st(mutexWord, 4, 1, "TryLock"), st(mutexWord, 4, 1, "LockContext"),
			st(mutexWord, 4, 1, "Load"), st(mutexWord, 4, 1, "Lock/Unlock")),
		"value-lock-owner-died": hostileFuzzEncode(st(mutexWord, 4, 0x40000001, "Store"), st(mutexWord, 4, 0xffffffff, "Update")),
		"value-lock-kind": hostileFuzzEncode(st(mutexWord+16, 4, 0, "Lock/Unlock"), st(mutexWord+16, 4, 0, "Store"),
			st(mutexWord+16, 4, 0, "LoadContext")),
		"table-lock-word-phantom": hostileFuzzEncode(st(tableWord, 4, 1, "Clone+Close"), st(tableWord, 4, 1, "Reap"),
			on2(st(tableWord, 4, 1, "Open+Close"))),
		"table-lock-kind": hostileFuzzEncode(st(tableWord+16, 4, 7, "Reap"), st(tableWord+16, 4, 7, "Clone+Close")),
		"seq-odd": hostileFuzzEncode(st(int(unsafe.Offsetof(h.Seq)), 4, 1, "Load"), st(int(unsafe.Offsetof(h.Seq)), 4, 3, "Wait"),
			st(int(unsafe.Offsetof(h.Seq)), 4, 5, "TryLock")),
		"flags-poisoned": hostileFuzzEncode(st(int(unsafe.Offsetof(h.Flags)), 4, 3, "Store"), st(int(unsafe.Offsetof(h.Flags)), 4, 3, "Update")),
		"bounds": hostileFuzzEncode(st(int(unsafe.Offsetof(h.MaxHolders)), 4, 0xffff, "Stats"),
			st(int(unsafe.Offsetof(h.ValueOff)), 8, 0x7fffffff, "Load"), st(int(unsafe.Offsetof(h.ValueSize)), 8, 0xffffffff, "Store"),
			st(int(unsafe.Offsetof(h.TotalSize)), 8, 0xffffffff, "Expvar"), st(int(unsafe.Offsetof(h.Lifetime)), 4, 9, "Open+Close")),
		"free-head-out-of-range": hostileFuzzEncode(st(int(unsafe.Offsetof(h.FreeHead)), 4, 0x7777, "Open+Close")),
		"used-head-loop": hostileFuzzEncode(st(int(unsafe.Offsetof(h.UsedHead)), 4, 1, "none"),
			st(slot(1, unsafe.Offsetof(hd.Next)), 4, 1, "Reap")),
		"handles-huge": hostileFuzzEncode(st(slot(0, unsafe.Offsetof(hd.Handles)), 4, 0xffffffff, "Clone+Close"),
			on2(st(slot(0, unsafe.Offsetof(hd.Handles)), 4, 0xffffffff, "Reap"))),
		"slot-state-garbage": hostileFuzzEncode(st(slot(1, unsafe.Offsetof(hd.State)), 4, 7, "Open+Close"),
			st(slot(2, unsafe.Offsetof(hd.State)), 4, 1, "Reap")),
		"live-word-dead": hostileFuzzEncode(st(slot(1, unsafe.Offsetof(hd.Live)), 4, liveOwnerDied, "Reap"),
			on2(st(slot(1, unsafe.Offsetof(hd.Live)), 4, 0, "Clone+Close"))),
		"counters": hostileFuzzEncode(st(int(unsafe.Offsetof(h.Totals)), 8, 0xffffffff, "Stats"),
			st(slot(0, unsafe.Offsetof(hd.Counters)+40), 8, 0, "Expvar"), st(slot(1, unsafe.Offsetof(hd.Counters)), 8, 0xffffffff, "Lock/Unlock")),
		// used_tail out of range, then an attach: the claim appends to
		// the used list at slot used_tail without checking it.
		"used-tail-out-of-range-then-open": hostileFuzzEncode(st(int(unsafe.Offsetof(h.UsedTail)), 4, 0xffff0000, "Open+Close")),
	}
}

// TestHostileWriteFuzzSeeds writes hostileFuzzSeeds to
// testdata/fuzz/FuzzLiveSegment (they are committed; regenerate after a
// change of the layout with
// IPCARC_WRITE_HOSTILE_SEEDS=1 go test -run TestHostileWriteFuzzSeeds .).
func TestHostileWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("IPCARC_WRITE_HOSTILE_SEEDS") != "1" {
		t.Skip("writes the seeds only with IPCARC_WRITE_HOSTILE_SEEDS=1")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLiveSegment")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range hostileFuzzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ---- 3: two users ------------------------------------------------------------

func init() {
	// hostile-scribble A B: run as another user: must not be able to write
	// A; writes out-of-range bounds into B's header.
	childRoles["hostile-scribble"] = func(args []string) error {
		if f, err := os.OpenFile(args[0], os.O_RDWR, 0); err == nil {
			f.Close()
			fmt.Println("A writable")
		} else {
			fmt.Printf("A refused: %v\n", err)
		}
		mem, err := hostileMap(args[1])
		if err != nil {
			return err
		}
		h := (*header)(unsafe.Pointer(&mem[0]))
		h.MaxHolders = 250
		h.ValueOff = valueOffset(250, minValueAlign)
		h.ValueSize = 1 << 20
		h.TotalSize = h.ValueOff + h.ValueSize
		unix.Munmap(mem)
		fmt.Println("B scribbled")
		return nil
	}
}

// hostileSnapshotDiff compares a segment's file now with a snapshot, as
// hostileCanaryDiff does.
func hostileSnapshotDiff(t *testing.T, path string, before []byte) string {
	t.Helper()
	after, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return hostileCanaryDiff(before, after)
}

// Ensure that a user who may write one segment (B, group-writable) but not
// another (A, 0600) cannot, by writing out-of-range bounds into B's header
// after root opened it, make root's calls on B crash or misbehave, nor
// change a byte of A; and that A still opens. Root opens B only when it
// trusts B's group (WithTrustedGroup): by default the trust rule refuses a
// group-writable file.
func TestHostileTwoUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as uid 65534; running as uid", os.Getuid())
	}
	nameA, nameB := testName(t), testName(t)
	pathA, pathB := filepath.Join(shmDir, nameA), filepath.Join(shmDir, nameB)
	a := mustNew(t, nameA, Counter{N: 0xA}, WithMode(0o600))
	b, err := New(nameB, Counter{N: 0xB}, WithMode(0o660))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeSegment(nameB) })
	if err := os.Chown(pathB, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Open[Counter](nameB); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("Open of B (group 65534 may write it) without WithTrustedGroup = %v, want ErrUntrusted", err)
	}
	b2, err := Open[Counter](nameB, WithTrustedGroup(65534))
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = b2
	beforeA, err := os.ReadFile(pathA)
	if err != nil {
		t.Fatal(err)
	}
	exe := worldExecutableCopy(t)
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = exe, exe
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}, "hostile-scribble", pathA, pathB)
	c.expect("A refused")
	c.expect("B scribbled")
	c.wait()
	if h := (*header)(unsafe.Pointer(&mustReadFile(t, pathB)[0])); h.MaxHolders != 250 {
		t.Fatalf("B's max_holders reads %d after the scribble, want 250", h.MaxHolders)
	}

	// Bounds come from root's private copy, taken at attach.
	st, err := b.Info()
	if err != nil || st.MaxHolders != DefaultMaxHolders || len(st.Holders) != 1 || !st.Holders[0].Self {
		t.Errorf("B.Stats after the scribble = %+v, %v; want max_holders %d (the bound taken at attach) and root's own holder",
			st, err, DefaultMaxHolders)
	}
	for _, call := range []hostileCall{hostileCallStats, hostileCallLoad, hostileCallStore, hostileCallReap,
		hostileCallClone, hostileCallClose} {
		o := hostileDo(b.hdr, call.unbounded, hostileCallBound, func() error { return call.run(b, nameB) })
		t.Logf("B.%s: %s %s", call.name, o.status, o.detail)
		if o.bad() {
			t.Errorf("B.%s after another user wrote B's bounds: %s: %s", call.name, o.status, o.detail)
		}
	}
	if d := hostileSnapshotDiff(t, pathA, beforeA); d != "" {
		t.Errorf("A's bytes changed: %s", d)
	}
	if v, err := a.Load(); err != nil || v.N != 0xA {
		t.Errorf("A.Load = %+v, %v; want N=0xA", v, err)
	}
	a2, err := Open[Counter](nameA)
	if err != nil {
		t.Fatalf("A no longer opens: %v", err)
	}
	if v, err := a2.Load(); err != nil || v.N != 0xA {
		t.Errorf("A (opened again).Load = %+v, %v; want N=0xA", v, err)
	}
	if err := a2.Close(); err != nil {
		t.Error(err)
	}
}

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < headerSize {
		t.Fatalf("%s: %d bytes", path, len(b))
	}
	return b
}

// ---- 4: truncation under gc and ls ---------------------------------------------

func init() {
	// hostile-truncator PATH IMAGE: until stdin ends, (re)creates PATH,
	// writes IMAGE into it, truncates it to 0 and writes it again, in a
	// tight loop (cutting it at the header now and then).
	childRoles["hostile-truncator"] = func(args []string) error {
		img, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		var stop atomic.Bool
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop.Store(true)
		}()
		rounds := 0
		for !stop.Load() {
			fd, err := unix.Open(args[0], unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
			if err != nil {
				return err
			}
			for k := 0; k < 64 && !stop.Load(); k++ {
				unix.Ftruncate(fd, 0)
				unix.Pwrite(fd, img, 0)
				if k%4 == 3 {
					unix.Ftruncate(fd, headerSize) // the table gone under a mapping
					unix.Pwrite(fd, img[headerSize:], headerSize)
				}
				rounds++
			}
			unix.Close(fd)
			if rounds == 64 {
				fmt.Println("looping")
			}
		}
		fmt.Printf("rounds %d\n", rounds)
		return nil
	}
}

// Ensure that while another user's process truncates and rewrites its own
// segment file in a tight loop, `ipcarc gc` (which collects another user's
// segment in a child process) and `ipcarc ls` (which reads in Go behind a
// fault guard) always exit normally with a documented code: never a signal
// death. Bounded to 1,000 runs each or about 10 s.
func TestHostileTruncateLoop(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a child as uid 65534; running as uid", os.Getuid())
	}
	exe := ipcarcCommand(t)
	img := segmentImage(t)
	// A dead holder with two handles, so that gc has a reap to do.
	hd := &holderTable((*header)(unsafe.Pointer(&img[0])))[0]
	hd.State, hd.Handles, hd.Live = slotUsed, 2, liveOwnerDied
	(*header)(unsafe.Pointer(&img[0])).RefCount = 2

	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	imgPath := filepath.Join(dir, "image")
	if err := os.WriteFile(imgPath, img, 0o644); err != nil {
		t.Fatal(err)
	}
	name := testName(t) + "-trunc"
	path := filepath.Join(shmDir, name)
	t.Cleanup(func() { os.Remove(path) })
	self := worldExecutableCopy(t)
	var stdin io.WriteCloser
	c := startChildCmd(t, func(cmd *exec.Cmd) {
		cmd.Path, cmd.Args[0] = self, self
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		noExitSleep(cmd)
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}, "hostile-truncator", path, imgPath)
	t.Cleanup(func() { stdin.Close() })
	c.expect("looping")
	if st, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
		t.Fatalf("the vandal's file belongs to uid %d, want 65534", uid)
	}

	const want = 1000
	budget := 10 * time.Second
	if testing.Short() {
		budget = 2 * time.Second // -short: a slice; make test runs the full budget
	}
	deadline := time.Now().Add(budget)
	var mu sync.Mutex
	fails := map[string][]string{} // first line of the failure -> every failure like it
	codes := map[string]map[int]int{"gc": {}, "ls": {}}
	loop := func(cmd string, args func(i int) []string) {
		for i := 0; i < want && time.Now().Before(deadline); i++ {
			msg, code := hostileCLI(exe, args(i)...)
			mu.Lock()
			codes[cmd][code]++
			if msg != "" {
				k := cmd + ": " + hostileSignature(msg)
				fails[k] = append(fails[k], msg)
			}
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		loop("gc", func(i int) []string {
			if i%2 == 0 {
				return []string{"gc", name + "*"} // through List, then gc
			}
			return []string{"gc", name}
		})
	}()
	go func() {
		defer wg.Done()
		loop("ls", func(i int) []string {
			if i%2 == 0 {
				return []string{"ls", name + "*"}
			}
			return []string{"ls", "--json", name + "*"}
		})
	}()
	wg.Wait()
	stdin.Close()
	rounds := c.expect("rounds ")
	c.wait()
	os.Remove(path)
	runs := func(m map[int]int) (n int) {
		for _, v := range m {
			n += v
		}
		return n
	}
	t.Logf("gc ran %d times (exit codes %v), ls %d times (exit codes %v); the vandal made %s truncate-and-rewrite rounds",
		runs(codes["gc"]), codes["gc"], runs(codes["ls"]), codes["ls"], strings.TrimPrefix(rounds, "rounds "))
	for k, f := range fails {
		t.Errorf("%d runs failed like this (%s); the first:\n%s", len(f), k, f[0])
	}
	if shmExists(name) {
		t.Errorf("the vandal's file %s is left", name)
	}
}

// ---- 5: world-writable modes ---------------------------------------------------

func init() {
	// hostile-mode NAME: New with modes others may write, then 0660.
	childRoles["hostile-mode"] = func(args []string) error {
		for _, m := range []os.FileMode{0o666, 0o602} {
			a, err := New(args[0], Counter{}, WithMode(m))
			if err == nil {
				a.Close()
			}
			fmt.Printf("mode %o invalid=%v exists=%v err=%q\n", m, errors.Is(err, ErrInvalidOption), shmExists(args[0]), fmt.Sprint(err))
		}
		a, err := New(args[0], Counter{}, WithMode(0o660))
		if err != nil {
			return err
		}
		st, err := os.Stat(filepath.Join(shmDir, args[0]))
		if err != nil {
			return err
		}
		fmt.Printf("mode 660 ok perm=%o\n", st.Mode().Perm())
		return a.Close()
	}
}

// Ensure that New refuses modes that let others write the segment, saying
// why, and creates nothing; and that a group-writable mode works.
func TestWorldWritableModeRefused(t *testing.T) {
	name := testName(t)
	t.Cleanup(func() { removeSegment(name) })
	c := startChild(t, "hostile-mode", name)
	for _, m := range []string{"666", "602"} {
		l := c.expect("mode " + m + " ")
		if !strings.Contains(l, "invalid=true") {
			t.Errorf("WithMode(0o%s): %s; want ErrInvalidOption", m, l)
		}
		if !strings.Contains(l, "exists=false") {
			t.Errorf("WithMode(0o%s) created the segment: %s", m, l)
		}
		low := strings.ToLower(l)
		if !strings.Contains(low, "others") || !strings.Contains(low, "corrupt") {
			t.Errorf("WithMode(0o%s): the error does not say why (that others could write it and so corrupt its holders): %s", m, l)
		}
	}
	if l := c.expect("mode 660 "); l != "mode 660 ok perm=660" {
		t.Errorf("WithMode(0o660): %s", l)
	}
	c.wait()
	if shmExists(name) {
		t.Error("segment left after Close")
	}
}
