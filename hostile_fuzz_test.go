//go:build linux && cgo

package ipcarc

// Hostile peers (see hostile_harness_test.go), 2: fuzzing a live segment.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
