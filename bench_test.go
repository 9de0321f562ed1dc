//go:build linux && cgo

package ipcarc

// Benchmarks for `make bench`: each ipcarc path beside its physical floor (the
// same work in C, bench/cbase.c, or the empty cgo call) and beside what a Go
// program would use instead (sync.Mutex for scale, flock on an mmap'd file, an
// owner process behind a Unix socket). cmd/benchreport runs them with the C
// baselines and prints the comparison; `make bench-smoke` runs each once so
// they cannot rot. Two-process benchmarks re-execute the test binary through
// childRoles (roles "bench-*"); every child is killed and every segment
// removed when its benchmark ends.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// Values of the sizes the report compares: 8 B, 64 B (Counter), 4 KiB, 64 MiB.
type bench8 struct{ N uint64 }
type bench4K [512]uint64
type bench64M [64 << 20]byte

// Sinks keep the compiler from dropping copies nobody reads.
var (
	sink8  bench8
	sink64 Counter
	sink4K bench4K
)

func init() {
	// bench-owner owns a Counter in its own memory and serves it over a Unix
	// stream socket: the design a Go program without shared memory would use.
	// Frames are the value's raw bytes (no encoding cost), which makes this the
	// cheapest such owner, so the comparison favours the socket.
	childRoles["bench-owner"] = func(args []string) error {
		ln, err := net.Listen("unix", args[0])
		if err != nil {
			return err
		}
		os.Stdout.WriteString("ready\n")
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			return err
		}
		defer conn.Close()
		var v Counter
		raw := (*[64]byte)(unsafe.Pointer(&v))
		var req [1 + 64]byte
		for {
			if _, err := io.ReadFull(conn, req[:]); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			switch req[0] {
			case 'L':
				_, err = conn.Write(raw[:])
			case 'S':
				copy(raw[:], req[1:])
				_, err = conn.Write(req[:1])
			default:
				return fmt.Errorf("bench-owner: bad request %q", req[0])
			}
			if err != nil {
				return err
			}
		}
	}
	// bench-sockpong answers each byte with a byte until EOF: the Go wake-up
	// baseline (a goroutine blocked on a socket read, woken by the peer).
	childRoles["bench-sockpong"] = func(args []string) error {
		ln, err := net.Listen("unix", args[0])
		if err != nil {
			return err
		}
		os.Stdout.WriteString("ready\n")
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			return err
		}
		defer conn.Close()
		var buf [1]byte
		for {
			if _, err := io.ReadFull(conn, buf[:]); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			if _, err := conn.Write(buf[:]); err != nil {
				return err
			}
		}
	}
	// bench-incr increments the counter N times under the lock, starting when
	// the parent writes a byte to its stdin, so both loops start together.
	childRoles["bench-incr"] = func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		os.Stdout.WriteString("ready\n")
		var go1 [1]byte
		if _, err := os.Stdin.Read(go1[:]); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			g, err := a.Lock()
			if err != nil {
				return err
			}
			g.Get().N++
			if err := g.Unlock(); err != nil {
				return err
			}
		}
		os.Stdout.WriteString("done\n")
		return nil
	}
	// bench-atomic NAME N: N lock-free Adds on N through Atomic, after a byte
	// on stdin (the Go side of BenchmarkAtomicContended2Proc).
	childRoles["bench-atomic"] = func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		a, err := Open[atomicBench](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		v, err := a.Atomic()
		if err != nil {
			return err
		}
		os.Stdout.WriteString("ready\n")
		var go1 [1]byte
		if _, err := os.Stdin.Read(go1[:]); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			v.N.Add(1)
		}
		os.Stdout.WriteString("done\n")
		return nil
	}
	// bench-holders NAME N opens NAME N times (N attachments, N slots of its
	// holder table), says "ready" and waits to be killed: the other live
	// holders of the holder-table benchmarks, all in one process so that
	// setting up 4,095 of them costs one process start and N Opens.
	childRoles["bench-holders"] = func(args []string) error {
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		// Each attachment keeps its segment fd open. Go raised the soft
		// limit to the hard one at startup; ask for more only if needed.
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return err
		}
		if need := uint64(n) + 64; lim.Cur < need {
			lim.Cur = need
			lim.Max = max(lim.Max, need) // above the hard limit needs CAP_SYS_RESOURCE
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
				return fmt.Errorf("raising RLIMIT_NOFILE to %d for %d holders: %w", need, n, err)
			}
		}
		held := make([]*Arc[Counter], 0, n)
		for i := 0; i < n; i++ {
			a, err := Open[Counter](args[0])
			if err != nil {
				return fmt.Errorf("open %d of %d: %w", i+1, n, err)
			}
			held = append(held, a)
		}
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Hour)
		runtime.KeepAlive(held) // unreachable handles would be closed by their cleanup
		return nil
	}
	// bench-pong answers each Store of the parent with a Store of its own,
	// N times: Wait wakes it, Store wakes the parent's Wait.
	childRoles["bench-pong"] = func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		a, err := Open[Counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		// Writes strictly alternate, so the version each side waits from is
		// known without reading it (reading it could miss the peer's write).
		v := verOf(a)
		os.Stdout.WriteString("ready\n")
		ctx := context.Background()
		for i := 0; i < n; i++ {
			if v, err = a.Wait(ctx, v); err != nil {
				return err
			}
			if err := a.Store(Counter{N: uint64(v)}); err != nil {
				return err
			}
			v++
		}
		return nil
	}
}

// benchArc creates a segment for one benchmark run; the cleanup closes it,
// which removes it from /dev/shm.
func benchArc[T any](b *testing.B, v T) *Arc[T] {
	b.Helper()
	a, err := New(testName(b), v)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := a.Close(); err != nil {
			b.Error(err)
		}
	})
	return a
}

func BenchmarkLockUnlock(b *testing.B) {
	a := benchArc(b, Counter{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g, err := a.Lock()
		if err != nil {
			b.Fatal(err)
		}
		g.Unlock()
	}
}

// BenchmarkCgoFloor is one empty C call: Lock+Unlock cannot cost less than two
// of these plus the C lock/unlock.
func BenchmarkCgoFloor(b *testing.B) {
	a := benchArc(b, Counter{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		noop(a.s)
	}
}

// cbase returns the C baseline program: $IPCARC_CBASE (make builds it), or
// else a build of bench/cbase.c into the run's temporary directory, so that
// `go test -bench .` works on its own.
func cbase(b *testing.B) string {
	b.Helper()
	if p := os.Getenv("IPCARC_CBASE"); p != "" {
		return p
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		b.Skipf("no C compiler (%s) to build bench/cbase.c", cc)
	}
	out := filepath.Join(b.TempDir(), "cbase")
	cmd := exec.Command(cc, append(append([]string{"-O2", "-I.", "-o", out, filepath.Join("bench", "cbase.c"), filepath.Join("bench", "cbase_2proc.c")}, cSources...), "-lpthread")...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building bench/cbase.c: %v\n%s", err, msg)
	}
	return out
}

// runCBase runs one C measurement of n operations and returns its ns/op.
func runCBase(b *testing.B, exe, name string, n int) float64 {
	b.Helper()
	out, err := exec.Command(exe, "run", name, strconv.Itoa(n)).Output()
	if err != nil {
		b.Fatalf("%s run %s: %v", exe, name, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 || f[0] != name {
		b.Fatalf("%s run %s: unexpected output %q", exe, name, out)
	}
	ns, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		b.Fatal(err)
	}
	return ns
}

// BenchmarkCLockUnlockInC is ipcarc_lock+ipcarc_unlock timed inside C, in
// this same `go test` run, so the floor for Lock+Unlock is made of numbers
// measured together. The loop lives in bench/cbase.c because cshm.c has no
// timing loop and cgo cannot appear in a _test.go file: the benchmark runs
// the program for b.N operations and reports C's own ns/op in place of the
// wall time (which includes starting the program).
func BenchmarkCLockUnlockInC(b *testing.B) {
	exe := cbase(b)
	b.ResetTimer()
	ns := runCBase(b, exe, "c_ipcarc_lock_unlock", b.N)
	b.ReportMetric(ns, "ns/op")
}

// BenchmarkCBareInC is the bare floor, timed in C by bench/cbase like
// BenchmarkCLockUnlockInC and in this same `go test` run: a robust,
// process-shared, error-checking pthread mutex in a MAP_SHARED memfd mapping,
// with no ipcarc code. lock_unlock is the mutex alone; lock_memcpy_in_64 and
// lock_memcpy_out_64 copy 64 bytes into or out of the mapping under it
// (memcpy called with a run-time size, as cshm.c calls it);
// lock_copy_out_64_inline is the copy out with a constant size, which the C
// compiler inlines. The C loops run in the cbase process, not in this one: a
// _test.go file cannot hold cgo, and the library's C files hold no timing
// loops.
func BenchmarkCBareInC(b *testing.B) {
	exe := cbase(b)
	for _, name := range []string{"lock_unlock", "lock_memcpy_in_64", "lock_memcpy_out_64", "lock_copy_out_64_inline"} {
		b.Run(name, func(b *testing.B) {
			ns := runCBase(b, exe, "c_bare_"+name, b.N)
			b.ReportMetric(ns, "ns/op")
		})
	}
}

// BenchmarkSyncMutex gives the scale: an in-process lock.
func BenchmarkSyncMutex(b *testing.B) {
	var mu sync.Mutex
	for i := 0; i < b.N; i++ {
		mu.Lock()
		//lint:ignore SA2001 the baseline is the cost of an empty section
		mu.Unlock()
	}
}

func BenchmarkStore(b *testing.B) {
	a := benchArc(b, Counter{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Store(Counter{N: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	a := benchArc(b, Counter{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Update(func(c *Counter) error { c.N++; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLoad: Load by value into a package-level sink, so the copy is not
// optimised away.
func benchLoad[T any](b *testing.B, sink *T) {
	var zero T
	a := benchArc(b, zero)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := a.Load()
		if err != nil {
			b.Fatal(err)
		}
		*sink = v
	}
}

func BenchmarkLoad8(b *testing.B) { benchLoad(b, &sink8) }

func BenchmarkLoad64(b *testing.B) { benchLoad(b, &sink64) }

func BenchmarkLoad4K(b *testing.B) { benchLoad(b, &sink4K) }

// benchLoadInto: LoadInto into the sink, one copy straight out of the
// mapping, without Go's by-value result (zeroing it, copying it out).
func benchLoadInto[T any](b *testing.B, sink *T) {
	var zero T
	a := benchArc(b, zero)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.LoadInto(sink); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadInto64(b *testing.B) { benchLoadInto(b, &sink64) }
func BenchmarkLoadInto4K(b *testing.B) { benchLoadInto(b, &sink4K) }

// BenchmarkGoCopy* copy a value of the same size within one process: what a
// Load can at best approach.
func BenchmarkGoCopy8(b *testing.B) {
	src := new(bench8)
	for i := 0; i < b.N; i++ {
		sink8 = *src
	}
}

func BenchmarkGoCopy64(b *testing.B) {
	src := new(Counter)
	for i := 0; i < b.N; i++ {
		sink64 = *src
	}
}

func BenchmarkGoCopy4K(b *testing.B) {
	src := new(bench4K)
	for i := 0; i < b.N; i++ {
		sink4K = *src
	}
}

// BenchmarkFlockMmap is the lock a Go program would reach for without ipcarc:
// flock(2) around an mmap'd file, here guarding one increment.
func BenchmarkFlockMmap(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "value"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		b.Fatal(err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Munmap(m)
	fd := int(f.Fd())
	n := (*uint64)(unsafe.Pointer(&m[0]))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
			b.Fatal(err)
		}
		*n++
		if err := syscall.Flock(fd, syscall.LOCK_UN); err != nil {
			b.Fatal(err)
		}
	}
}

// dialChild starts role listening on a Unix socket in the run's temporary
// directory and connects to it.
func dialChild(b *testing.B, role string) net.Conn {
	b.Helper()
	path := filepath.Join(b.TempDir(), "s")
	c := startChild(b, role, path)
	c.expect("ready")
	conn, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	// Registered after startChild's kill, so it runs first: the child sees
	// EOF, and the kill that follows reaps it whether or not it has exited.
	b.Cleanup(func() { conn.Close() })
	return conn
}

// BenchmarkUnixSocketOwner is one Load or Store round trip to a process that
// owns the value.
func BenchmarkUnixSocketOwner(b *testing.B) {
	b.Run("Load", func(b *testing.B) {
		conn := dialChild(b, "bench-owner")
		req := [1 + 64]byte{'L'}
		var resp [64]byte
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := conn.Write(req[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(conn, resp[:]); err != nil {
				b.Fatal(err)
			}
			sink64 = *(*Counter)(unsafe.Pointer(&resp))
		}
	})
	b.Run("Store", func(b *testing.B) {
		conn := dialChild(b, "bench-owner")
		req := [1 + 64]byte{'S'}
		var resp [1]byte
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			binary.LittleEndian.PutUint64(req[1:], uint64(i))
			if _, err := conn.Write(req[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(conn, resp[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkContended2Proc: this process and a child each increment the
// counter b.N times under the lock. ns/incr is the wall time over all 2*b.N
// increments; ns/op is per pair.
func BenchmarkContended2Proc(b *testing.B) {
	a := benchArc(b, Counter{})
	var start io.WriteCloser
	c := startChildCmd(b, func(cmd *exec.Cmd) {
		var err error
		if start, err = cmd.StdinPipe(); err != nil {
			b.Fatal(err)
		}
	}, "bench-incr", a.Name(), strconv.Itoa(b.N))
	c.expect("ready")
	b.ResetTimer()
	if _, err := start.Write([]byte{1}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		g, err := a.Lock()
		if err != nil {
			b.Fatal(err)
		}
		g.Get().N++
		g.Unlock()
	}
	c.expect("done")
	b.StopTimer()
	c.wait()
	if v, err := a.Load(); err != nil || v.N != uint64(2*b.N) {
		b.Fatalf("count %d (%v), want %d", v.N, err, 2*b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/incr")
}

// BenchmarkWakeup is a ping-pong between two processes; ns/wake is one
// one-way wake-up (round trip / 2), ns/op one round trip.
func BenchmarkWakeup(b *testing.B) {
	// ipcarc: Store in one process makes Wait return in the other, each way.
	b.Run("ipcarc", func(b *testing.B) {
		a := benchArc(b, Counter{})
		c := startChild(b, "bench-pong", a.Name(), strconv.Itoa(b.N))
		c.expect("ready")
		// If the child dies, the parent's Wait would sleep forever: a Store
		// from here wakes it and the loop stops on died.
		var died atomic.Bool
		finished, watched := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(watched)
			select {
			case <-c.done:
				died.Store(true)
				a.Store(Counter{})
			case <-finished:
			}
		}()
		ctx := context.Background()
		v := verOf(a)
		b.ResetTimer()
		for i := 0; i < b.N && !died.Load(); i++ {
			if err := a.Store(Counter{N: uint64(i)}); err != nil {
				b.Fatal(err)
			}
			var err error
			if v, err = a.Wait(ctx, v+1); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		close(finished)
		<-watched
		c.wait()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/wake")
	})
	// unixsocket: the Go baseline, a byte each way over a Unix socket.
	b.Run("unixsocket", func(b *testing.B) {
		conn := dialChild(b, "bench-sockpong")
		var buf [1]byte
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := conn.Write(buf[:]); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(conn, buf[:]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/wake")
	})
}

// The 64 MiB benchmarks measure bandwidth (MB/s from SetBytes) against
// memcpy, through StoreFrom and LoadInto, the calls meant for large values. The source and destination live in the heap: a 64 MiB value does
// not fit any goroutine stack a program would want.
func BenchmarkStore64MiB(b *testing.B) {
	src := new(bench64M)
	src[0] = 1
	a := benchArc(b, *src)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.StoreFrom(src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad64MiB(b *testing.B) {
	dst := new(bench64M)
	a := benchArc(b, *dst)
	b.SetBytes(int64(len(dst)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.LoadInto(dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGoCopy64MiB(b *testing.B) {
	src, dst := new(bench64M), new(bench64M)
	src[0] = 1
	b.SetBytes(int64(len(src)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		*dst = *src
	}
}

// BenchmarkNewClose creates and removes a segment (a fresh name each time).
func BenchmarkNewClose(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a, err := New(testName(b), Counter{})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenClose attaches to and detaches from a segment another handle
// keeps alive.
func BenchmarkOpenClose(b *testing.B) {
	keep := benchArc(b, Counter{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a, err := Open[Counter](keep.Name())
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// ---- the holder table (layout 2) ---------------------------------------------
//
// These benchmarks show that Open+Close does not grow with the number of
// other holders, and that Stats, Inspect and Reap grow linearly with the table
// (memory reads, no system call per slot). The other holders are live
// attachments of one helper process (role bench-holders). They use b.Loop, so
// the setup (up to 4,095 Opens in the helper) runs once per benchmark and
// -count, not once per b.N ramp step.

// benchHeldSegment creates a segment of maxHolders slots whose only holders
// are the others attachments of a helper process. It is created
// UntilRemoved, so that it survives its creator's Close and "0 others" means
// no holder at all; the cleanup kills the helper, then removes the segment.
func benchHeldSegment(b *testing.B, maxHolders, others int) string {
	b.Helper()
	name := testName(b)
	a, err := New(name, Counter{}, WithMaxHolders(maxHolders), WithLifetime(UntilRemoved))
	if err != nil {
		b.Fatal(err)
	}
	// Registered before startChild's kill, so it runs after it.
	b.Cleanup(func() {
		if err := Remove(name, Force()); err != nil {
			b.Error(err)
		}
	})
	if err := a.Close(); err != nil {
		b.Fatal(err)
	}
	if others > 0 {
		c := startChild(b, "bench-holders", name, strconv.Itoa(others))
		c.expect("ready")
	}
	info, err := Inspect(name)
	if err != nil {
		b.Fatal(err)
	}
	if info.LiveHolders != others || info.RefCount != int64(others) || info.MaxHolders != maxHolders {
		b.Fatalf("set up %d of %d holders: live %d, refcount %d, max %d",
			others, maxHolders, info.LiveHolders, info.RefCount, info.MaxHolders)
	}
	return name
}

// benchOpenCloseHolders: Open+Close of a 4,096-slot segment that others live
// attachments of another process hold. With 4,095 others the Open takes the
// table's last free slot.
func benchOpenCloseHolders(b *testing.B, others int) {
	name := benchHeldSegment(b, 4096, others)
	b.ReportAllocs()
	for b.Loop() {
		a, err := Open[Counter](name)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenCloseHolders0(b *testing.B)    { benchOpenCloseHolders(b, 0) }
func BenchmarkOpenCloseHolders64(b *testing.B)   { benchOpenCloseHolders(b, 64) }
func BenchmarkOpenCloseHolders512(b *testing.B)  { benchOpenCloseHolders(b, 512) }
func BenchmarkOpenCloseHolders4095(b *testing.B) { benchOpenCloseHolders(b, 4095) }

// benchFullTable attaches this process as the last holder of a full table of
// slots slots (the others held by a helper process).
func benchFullTable(b *testing.B, slots int) *Arc[Counter] {
	b.Helper()
	name := benchHeldSegment(b, slots, slots-1)
	a, err := Open[Counter](name)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() }) // runs first: before the kill and the Remove
	return a
}

// benchStats: Stats of a full table, every holder listed.
func benchStats(b *testing.B, slots int) {
	a := benchFullTable(b, slots)
	b.ReportAllocs()
	for b.Loop() {
		st, err := a.Info()
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Holders) != slots {
			b.Fatalf("Stats lists %d holders, want %d", len(st.Holders), slots)
		}
	}
}

func BenchmarkStatsHolders64(b *testing.B) { benchStats(b, 64) }
func BenchmarkStatsFullTable(b *testing.B) { benchStats(b, 4096) }

// BenchmarkInspect4096 is Inspect (what `ipcarc ls` shows) of a full
// 4,096-slot table: open, read and check the file in Go, without attaching.
func BenchmarkInspect4096(b *testing.B) {
	a := benchFullTable(b, 4096)
	b.ReportAllocs()
	for b.Loop() {
		info, err := Inspect(a.Name())
		if err != nil {
			b.Fatal(err)
		}
		if info.LiveHolders != 4096 {
			b.Fatalf("Inspect sees %d live holders, want 4096", info.LiveHolders)
		}
	}
}

// BenchmarkReap4096 is Reap of a full 4,096-slot table whose holders all
// live: nothing to reap, but Reap checks every slot and rebuilds the table's
// lists each time.
func BenchmarkReap4096(b *testing.B) {
	a := benchFullTable(b, 4096)
	b.ReportAllocs()
	for b.Loop() {
		n, err := a.Reap()
		if err != nil || n != 0 {
			b.Fatalf("Reap = %d, %v; want 0", n, err)
		}
	}
}

// atomicBench is Counter's shape made of atomics (64 bytes, the peers' size).
type atomicBench struct {
	N     atomic.Uint64
	Spare [7]atomic.Uint64
}

// BenchmarkAtomicAdd is an uncontended lock-free Add through Atomic, in the
// mapping; BenchmarkAtomicAddPrivate the same on private memory (the goal:
// within 1.1x).
func BenchmarkAtomicAdd(b *testing.B) {
	a := benchArc(b, atomicBench{})
	v, err := a.Atomic()
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		v.N.Add(1)
	}
}

func BenchmarkAtomicAddPrivate(b *testing.B) {
	v := new(atomicBench)
	for i := 0; i < b.N; i++ {
		v.N.Add(1)
	}
}

// BenchmarkAtomicUpdate is the row users compare against: the same count
// through Update(func(v *T) { v.N++ }) (here N.Add(1) under the lock).
func BenchmarkAtomicUpdate(b *testing.B) {
	a := benchArc(b, atomicBench{})
	for i := 0; i < b.N; i++ {
		a.Update(func(v *atomicBench) error { v.N.Add(1); return nil })
	}
}

// BenchmarkAtomicContended2Proc: two processes (this one and a Go child)
// each add 1 lock-free to the same atomic.Uint64 b.N times; ns/incr counts
// both processes' adds, as BenchmarkCAtomicContended2ProcInC does in C.
func BenchmarkAtomicContended2Proc(b *testing.B) {
	a := benchArc(b, atomicBench{})
	v, err := a.Atomic()
	if err != nil {
		b.Fatal(err)
	}
	var start io.WriteCloser
	c := startChildCmd(b, func(cmd *exec.Cmd) {
		var err error
		if start, err = cmd.StdinPipe(); err != nil {
			b.Fatal(err)
		}
	}, "bench-atomic", a.Name(), strconv.Itoa(b.N))
	c.expect("ready")
	b.ResetTimer()
	if _, err := start.Write([]byte{1}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		v.N.Add(1)
	}
	c.expect("done")
	b.StopTimer()
	c.wait()
	if got := v.N.Load(); got != uint64(2*b.N) {
		b.Fatalf("count %d, want %d", got, 2*b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/incr")
}

// BenchmarkCAtomicContended2ProcInC is the C floor of the above, timed in C.
func BenchmarkCAtomicContended2ProcInC(b *testing.B) {
	exe := cbase(b)
	b.ResetTimer()
	ns := runCBase(b, exe, "c_atomic_contended_2proc", b.N)
	b.ReportMetric(ns, "ns/incr")
}
