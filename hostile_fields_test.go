//go:build linux && cgo

package ipcarc

// Hostile peers (see hostile_harness_test.go), 1: every field. What a
// vandal may write, the canary segment that must keep its bytes, and
// TestHostileEveryField, which writes each header and slot field in turn.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
