// Command benchreport runs ipcarc's Go benchmarks and the C baselines
// (bench/cbase) several times and prints one Markdown table setting each
// ipcarc path beside its physical floor and beside what a Go program would use
// instead, with medians, spread and whether each goal is met. `make bench`
// runs it; see mk/bench.mk.
//
// Usage (from the repository root):
//
//	go run ./cmd/benchreport [-count 5] [-benchtime 200ms] [-cbase bench/cbase] [-o FILE]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	count := flag.Int("count", 5, "repetitions: go test -count and runs of the C baseline program")
	benchtime := flag.String("benchtime", "200ms", "go test -benchtime; also sets how long each C measurement runs")
	cbaseMS := flag.Int("cms", 0, "milliseconds per C measurement (0: from -benchtime)")
	cbase := flag.String("cbase", "bench/cbase", "the C baseline program (built from bench/cbase.c when missing)")
	bench := flag.String("bench", ".", "go test -bench pattern")
	pkg := flag.String("pkg", ".", "package holding the benchmarks")
	goCmd := flag.String("go", "go", "the go command")
	out := flag.String("o", "", "also write the report to this file")
	flag.Parse()
	if *count < 1 {
		fatalf("-count must be at least 1")
	}

	exe, err := filepath.Abs(*cbase)
	if err != nil {
		fatalf("%v", err)
	}
	if err := ensureCBase(exe); err != nil {
		fatalf("%v", err)
	}
	ms := *cbaseMS
	if ms <= 0 {
		ms = 10 // -benchtime Nx: a short, fixed-size run
		if d, err := time.ParseDuration(*benchtime); err == nil {
			ms = int(d / time.Millisecond)
		}
	}

	s := samples{}
	started := time.Now()
	loadStart := loadavg()
	goArgs := []string{"test", "-run", "^$", "-bench", *bench, "-count", strconv.Itoa(*count), "-benchtime", *benchtime, *pkg}
	logf("running: %s %s", *goCmd, strings.Join(goArgs, " "))
	if err := runGoBench(*goCmd, goArgs, exe, s); err != nil {
		fatalf("go test: %v", err)
	}
	for i := 1; i <= *count; i++ {
		logf("running: %s all %d (%d/%d)", exe, ms, i, *count)
		if err := runCBase(exe, ms, s); err != nil {
			fatalf("%s: %v", exe, err)
		}
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "# ipcarc benchmarks\n\n")
	fmt.Fprintf(&b, "Machine: %s\n\n", machine(*goCmd))
	fmt.Fprintf(&b, "Run: `%s %s` (one process, all Go rows) and `%s all %d` × %d (C rows), %s, took %s.\n\n",
		*goCmd, strings.Join(goArgs, " "), filepath.Join(filepath.Base(filepath.Dir(exe)), filepath.Base(exe)), ms, *count,
		time.Now().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	fmt.Fprintf(&b, "Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n\n", loadStart, loadavg())
	report(&b, s)
	os.Stdout.Write(b.Bytes())
	if *out != "" {
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			fatalf("%v", err)
		}
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "benchreport: "+format+"\n", args...) }

func fatalf(format string, args ...any) {
	logf(format, args...)
	os.Exit(1)
}

// ensureCBase builds the C baseline program when it is missing, the way
// mk/bench.mk does.
func ensureCBase(exe string) error {
	if _, err := os.Stat(exe); err == nil {
		return nil
	}
	dir := filepath.Dir(exe)
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	cmd := exec.Command(cc, "-O2", "-I..", "-o", exe, "cbase.c", "cbase_2proc.c", "../validate.c", "../cshm.c", "../admin.c", "../slice.c", "../table.c", "../liveness.c", "../valuelock.c", "-lpthread")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	logf("building %s", exe)
	return cmd.Run()
}

// samples holds every measurement: name -> unit -> one value per repetition.
type samples map[string]map[string][]float64

func (s samples) add(name, unit string, v float64) {
	if s[name] == nil {
		s[name] = map[string][]float64{}
	}
	s[name][unit] = append(s[name][unit], v)
}

// A benchmark line: name, optional -GOMAXPROCS suffix, iterations, then
// value-unit pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.+)$`)

func runGoBench(goCmd string, args []string, cbase string, s samples) error {
	cmd := exec.Command(goCmd, args...)
	// BenchmarkCLockUnlockInC runs the same C program instead of building its own.
	cmd.Env = append(os.Environ(), "IPCARC_CBASE="+cbase)
	cmd.Stderr = os.Stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var tail []string // the output, to show when go test fails
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		line := sc.Text()
		tail = append(tail, line)
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				s.add(m[1], f[i+1], v)
			}
		}
		logf("%s", line)
	}
	io.Copy(io.Discard, pipe)
	if err := cmd.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, strings.Join(tail, "\n"))
		return err
	}
	return nil
}

// runCBase runs every C measurement once; each prints
// "NAME NS_PER_OP OPS [BYTES_PER_OP]".
func runCBase(exe string, ms int, s samples) error {
	cmd := exec.Command(exe, "all", strconv.Itoa(ms))
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			return fmt.Errorf("unexpected line %q", line)
		}
		ns, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return fmt.Errorf("line %q: %v", line, err)
		}
		s.add(f[0], "ns/op", ns)
		if len(f) > 3 {
			if bytes, err := strconv.ParseFloat(f[3], 64); err == nil && ns > 0 {
				s.add(f[0], "MB/s", bytes/ns*1e3) // bytes per ns * 1e9 / 1e6, as go test's MB/s
			}
		}
	}
	return nil
}

// machine describes where the numbers came from.
func machine(goCmd string) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	gov := runtime.Version()
	if b, err := exec.Command(goCmd, "version").Output(); err == nil {
		gov = strings.TrimPrefix(strings.TrimSpace(string(b)), "go version ")
	}
	return fmt.Sprintf("%s, %d cores, %s, %s", cpu, runtime.NumCPU(), kernel, gov)
}

// loadavg is /proc/loadavg's first three fields: how busy the machine was.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}

// q is one quantity across repetitions: median and range. Sums and scalings
// of quantities measured in different benchmarks combine medians with
// medians and bounds with bounds (the benchmarks ran at different moments,
// so repetitions cannot be paired).
type q struct {
	med, lo, hi float64
	n           int
	unit        string
	ok          bool
}

func (s samples) get(name, unit string) q {
	v := append([]float64(nil), s[name][unit]...)
	if len(v) == 0 {
		return q{unit: unit}
	}
	sort.Float64s(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return q{med: med, lo: v[0], hi: v[len(v)-1], n: len(v), unit: unit, ok: true}
}

// or is a when it was measured, else b: a C measurement taken inside the go
// test run (BenchmarkC*InC), else the same loop from the cbase runs.
func or(a, b q) q {
	if a.ok {
		return a
	}
	return b
}

func (a q) scale(k float64) q {
	a.med, a.lo, a.hi = a.med*k, a.lo*k, a.hi*k
	return a
}

// diff is a − b: the median from the medians, the bounds from the opposite
// bounds (the widest range the two spreads allow).
func diff(a, b q) q {
	return q{med: a.med - b.med, lo: a.lo - b.hi, hi: a.hi - b.lo, n: min(a.n, b.n), unit: a.unit, ok: a.ok && b.ok}
}

func sum(qs ...q) q {
	r := q{ok: true, n: math.MaxInt}
	for _, a := range qs {
		r.med += a.med
		r.lo += a.lo
		r.hi += a.hi
		r.ok = r.ok && a.ok
		r.n = min(r.n, a.n)
		r.unit = a.unit
	}
	return r
}

// num prints with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

func (a q) String() string {
	if !a.ok {
		return "n/a"
	}
	unit := a.unit
	if strings.HasPrefix(unit, "ns/") { // ns/op, ns/incr, ns/wake, ...
		unit = "ns"
	}
	v, lo, hi := a.med, a.lo, a.hi
	if unit == "ns" && a.med >= 10000 {
		v, lo, hi, unit = v/1000, lo/1000, hi/1000, "µs"
	}
	return fmt.Sprintf("%s %s [%s–%s]", num(v), unit, num(lo), num(hi))
}

// row is one line of the table. ratio is computed from medians; goal is
// checked against it (le: ratio must be at most goal; otherwise at least).
type row struct {
	path     string
	ipcarc   q
	baseline string // the baseline(s), with formula and values
	reps     string
	ratio    float64
	ratioTxt string // what the ratio is, e.g. "× floor", "× faster"
	goal     float64
	le       bool
	goalTxt  string
	hasGoal  bool
}

func (r row) result() string {
	if !r.hasGoal {
		return "—"
	}
	if math.IsNaN(r.ratio) || math.IsInf(r.ratio, 0) || r.ratio == 0 {
		return "n/a"
	}
	if (r.le && r.ratio <= r.goal) || (!r.le && r.ratio >= r.goal) {
		return "pass"
	}
	return "**miss**"
}

func reps(qs ...q) string {
	var p []string
	for _, a := range qs {
		p = append(p, strconv.Itoa(a.n))
	}
	return strings.Join(p, "/")
}

func report(w io.Writer, s samples) {
	ns := func(name string) q { return s.get(name, "ns/op") }
	lock, cgo, cin := ns("BenchmarkLockUnlock"), ns("BenchmarkCgoFloor"), ns("BenchmarkCLockUnlockInC")
	syncMu := ns("BenchmarkSyncMutex")
	store, update := ns("BenchmarkStore"), ns("BenchmarkUpdate")
	flock, cflock := ns("BenchmarkFlockMmap"), ns("c_flock_pair")
	sockLoad, sockStore := ns("BenchmarkUnixSocketOwner/Load"), ns("BenchmarkUnixSocketOwner/Store")
	cont := s.get("BenchmarkContended2Proc", "ns/incr")
	ccont, craw := ns("c_ipcarc_contended_2proc"), ns("c_raw_contended_2proc")
	wake, sockWake := s.get("BenchmarkWakeup/ipcarc", "ns/wake"), s.get("BenchmarkWakeup/unixsocket", "ns/wake")
	cwake, cwake1 := ns("c_futex_pingpong_wake"), ns("c_futex_pingpong_wake_1cpu")

	lockFloor := sum(cgo.scale(2), cin)
	storeFloor := sum(cgo, ns("c_lock_memcpy_in_64"))
	// The bare floor: a robust pthread mutex in a MAP_SHARED mapping and a
	// 64-byte memcpy, no ipcarc code (bench/cbase.c, c_bare_*).
	bare := func(name string) q { return or(ns("BenchmarkCBareInC/"+name), ns("c_bare_"+name)) }
	bareLU, bareIn, bareOut, bareInline := bare("lock_unlock"), bare("lock_memcpy_in_64"), bare("lock_memcpy_out_64"), bare("lock_copy_out_64_inline")
	bareLockFloor := sum(cgo.scale(2), bareLU)
	bareStoreFloor := sum(cgo, bareIn)
	load64, loadInto64 := ns("BenchmarkLoad64"), ns("BenchmarkLoadInto64")
	bareLoadBase := fmt.Sprintf("bare C: pthread_mutex_lock + memcpy(64 B) out of a MAP_SHARED mapping + unlock = %s (size a constant, copy inlined: %s); plain Go copy = %s",
		bareOut, bareInline, ns("BenchmarkGoCopy64"))
	var rows []row
	rows = append(rows,
		row{path: "Lock+Unlock", ipcarc: lock,
			baseline: fmt.Sprintf("2 × empty cgo call + C ipcarc_lock/unlock = 2 × %s + %s = %s", cgo, cin, lockFloor),
			reps:     reps(lock, cgo, cin), ratio: lock.med / lockFloor.med, ratioTxt: "× floor",
			goal: 1.15, le: true, goalTxt: "≤ 1.15× floor", hasGoal: true},
		row{path: "Lock+Unlock vs bare mutex", ipcarc: lock,
			baseline: fmt.Sprintf("2 × empty cgo call + bare C pthread_mutex_lock/unlock = 2 × %s + %s = %s", cgo, bareLU, bareLockFloor),
			reps:     reps(lock, cgo, bareLU), ratio: lock.med / bareLockFloor.med, ratioTxt: "× bare floor",
			goal: 1.15, le: true, goalTxt: "≤ 1.15× bare floor (floor goal, applied)", hasGoal: true},
		row{path: "Lock+Unlock (scale)", ipcarc: lock,
			baseline: "sync.Mutex Lock+Unlock = " + syncMu.String(),
			reps:     reps(lock, syncMu), ratio: lock.med / syncMu.med, ratioTxt: "× sync.Mutex", goalTxt: "scale only"},
		row{path: "Store (64 B)", ipcarc: store,
			baseline: fmt.Sprintf("empty cgo call + C lock+memcpy(64 B)+unlock = %s + %s = %s (C ipcarc_store: %s)",
				cgo, ns("c_lock_memcpy_in_64"), storeFloor, ns("c_ipcarc_store_64")),
			reps:  reps(store, cgo, ns("c_lock_memcpy_in_64")),
			ratio: store.med / storeFloor.med, ratioTxt: "× floor", goal: 1.2, le: true, goalTxt: "≤ 1.2× floor", hasGoal: true},
		row{path: "Store (64 B) vs bare floor", ipcarc: store,
			baseline: fmt.Sprintf("empty cgo call + bare C pthread_mutex_lock + memcpy(64 B) into a MAP_SHARED mapping + unlock = %s + %s = %s",
				cgo, bareIn, bareStoreFloor),
			reps:  reps(store, cgo, bareIn),
			ratio: store.med / bareStoreFloor.med, ratioTxt: "× bare floor", goal: 1.15, le: true, goalTxt: "≤ 1.15× bare floor", hasGoal: true},
		row{path: "Update (64 B, in place)", ipcarc: update,
			baseline: "Lock+Unlock floor = " + lockFloor.String(),
			reps:     reps(update, cgo, cin), ratio: update.med / lockFloor.med, ratioTxt: "× floor", goalTxt: "none set"},
	)
	for _, size := range []struct{ goName, cName, label string }{
		{"8", "8", "8 B"}, {"64", "64", "64 B"}, {"4K", "4096", "4 KiB"},
	} {
		load, cl, gocopy := ns("BenchmarkLoad"+size.goName), ns("c_lock_memcpy_out_"+size.cName), ns("BenchmarkGoCopy"+size.goName)
		goalTxt := "≤ 0.5× C locked copy"
		if size.goName != "64" {
			goalTxt += " (64 B goal, applied)"
		}
		rows = append(rows, row{path: "Load (" + size.label + ")", ipcarc: load,
			baseline: fmt.Sprintf("C lock+memcpy(%s)+unlock = %s; plain Go copy = %s", size.label, cl, gocopy),
			reps:     reps(load, cl, gocopy), ratio: load.med / cl.med, ratioTxt: "× C",
			goal: 0.5, le: true, goalTxt: goalTxt, hasGoal: true})
	}
	loadInto, cl4k := ns("BenchmarkLoadInto4K"), ns("c_lock_memcpy_out_4096")
	cl64 := ns("c_lock_memcpy_out_64")
	rows = append(rows,
		row{path: "Load (64 B) vs bare floor", ipcarc: load64,
			baseline: bareLoadBase,
			reps:     reps(load64, bareOut, bareInline, ns("BenchmarkGoCopy64")), ratio: load64.med / bareOut.med, ratioTxt: "× bare floor",
			goal: 0.4, le: true, goalTxt: "≤ 0.4× bare floor", hasGoal: true},
		row{path: "LoadInto (64 B) vs bare floor", ipcarc: loadInto64,
			baseline: bareLoadBase,
			reps:     reps(loadInto64, bareOut, bareInline, ns("BenchmarkGoCopy64")), ratio: loadInto64.med / bareOut.med, ratioTxt: "× bare floor",
			goal: 0.3, le: true, goalTxt: "≤ 0.3× bare floor", hasGoal: true},
		row{path: "LoadInto (64 B)", ipcarc: loadInto64,
			baseline: fmt.Sprintf("C lock+memcpy(64 B)+unlock = %s; plain Go copy = %s", cl64, ns("BenchmarkGoCopy64")),
			reps:     reps(loadInto64, cl64), ratio: loadInto64.med / cl64.med, ratioTxt: "× C",
			goal: 0.5, le: true, goalTxt: "≤ 0.5× C locked copy", hasGoal: true},
		row{path: "LoadInto (4 KiB)", ipcarc: loadInto,
			baseline: fmt.Sprintf("C lock+memcpy(4 KiB)+unlock = %s; plain Go copy = %s", cl4k, ns("BenchmarkGoCopy4K")),
			reps:     reps(loadInto, cl4k), ratio: loadInto.med / cl4k.med, ratioTxt: "× C",
			goal: 0.5, le: true, goalTxt: "≤ 0.5× C locked copy (64 B goal, applied)", hasGoal: true},
		row{path: "Lock+Unlock vs flock", ipcarc: lock,
			baseline: fmt.Sprintf("Go flock(LOCK_EX)+increment+flock(LOCK_UN) on an mmap'd file = %s (C flock pair: %s)", flock, cflock),
			reps:     reps(lock, flock, cflock), ratio: flock.med / lock.med, ratioTxt: "× faster",
			goal: 25, goalTxt: "≥ 25× faster", hasGoal: true},
		row{path: "Load (64 B) vs socket owner", ipcarc: ns("BenchmarkLoad64"),
			baseline: "Unix-socket owner process, Load round trip = " + sockLoad.String(),
			reps:     reps(ns("BenchmarkLoad64"), sockLoad), ratio: sockLoad.med / ns("BenchmarkLoad64").med, ratioTxt: "× faster",
			goal: 100, goalTxt: "≥ 100× faster", hasGoal: true},
		row{path: "Store (64 B) vs socket owner", ipcarc: store,
			baseline: "Unix-socket owner process, Store round trip = " + sockStore.String(),
			reps:     reps(store, sockStore), ratio: sockStore.med / store.med, ratioTxt: "× faster",
			goal: 100, goalTxt: "≥ 100× faster", hasGoal: true},
		row{path: "2-process contended increment (per increment)", ipcarc: cont,
			baseline: fmt.Sprintf("C, two forked processes, ipcarc_lock/++/unlock = %s (bare robust pthread mutex: %s)", ccont, craw),
			reps:     reps(cont, ccont, craw), ratio: ccont.med / cont.med, ratioTxt: "× C throughput",
			goal: 0.5, goalTxt: "≥ 0.5× C throughput", hasGoal: true},
		row{path: "Wake-up, Store → Wait in another process (one way = round trip / 2)", ipcarc: wake,
			baseline: fmt.Sprintf("C futex ping-pong, FUTEX_WAKE → FUTEX_WAIT returns (one way) = %s; Go Unix-socket ping-pong = %s", cwake, sockWake),
			reps:     reps(wake, cwake, sockWake), ratio: wake.med / cwake.med, ratioTxt: "× C",
			goal: 1.5, le: true, goalTxt: "≤ 1.5× C futex", hasGoal: true},
		// Unpinned, the C ping-pong's sleeper usually sits on an idle CPU, and
		// waking that CPU can cost more than the futex itself (a halted vCPU
		// in a VM): the same goal against both processes on one CPU shows
		// what the kernel path alone costs.
		row{path: "Wake-up vs futex on one CPU", ipcarc: wake,
			baseline: "C futex ping-pong, both processes pinned to CPU 0 (one way) = " + cwake1.String(),
			reps:     reps(wake, cwake1), ratio: wake.med / cwake1.med, ratioTxt: "× C",
			goal: 1.5, le: true, goalTxt: "≤ 1.5× C futex (1 CPU)", hasGoal: true},
	)
	for _, big := range []struct{ path, goName, cName string }{
		{"StoreFrom 64 MiB (bandwidth)", "BenchmarkStore64MiB", "c_memcpy_to_shm_64MiB"},
		{"LoadInto 64 MiB (bandwidth)", "BenchmarkLoad64MiB", "c_memcpy_from_shm_64MiB"},
	} {
		g, c := s.get(big.goName, "MB/s"), s.get(big.cName, "MB/s")
		dir := "private → segment"
		goalTxt := "≥ 0.8× memcpy"
		if strings.HasPrefix(big.path, "LoadInto") {
			dir = "segment → private"
			goalTxt += " (Store goal, applied)"
		}
		rows = append(rows, row{path: big.path, ipcarc: g,
			baseline: fmt.Sprintf("C memcpy %s = %s; C memcpy private → private = %s; Go copy = %s",
				dir, c, s.get("c_memcpy_private_64MiB", "MB/s"), s.get("BenchmarkGoCopy64MiB", "MB/s")),
			reps:  reps(g, c),
			ratio: g.med / c.med, ratioTxt: "× memcpy", goal: 0.8, goalTxt: goalTxt, hasGoal: true})
	}
	newc, openc := ns("BenchmarkNewClose"), ns("BenchmarkOpenClose")
	cshm, cshmOpen := ns("c_shm_create_cycle"), ns("c_shm_open_cycle")
	rows = append(rows,
		row{path: "New+Close", ipcarc: newc,
			baseline: fmt.Sprintf("C shm_open(O_CREAT|O_EXCL)+ftruncate+mmap+touch+munmap+close+shm_unlink = %s; C ipcarc_create+ipcarc_close = %s",
				cshm, ns("c_ipcarc_create_close")),
			reps:  reps(newc, cshm, ns("c_ipcarc_create_close")),
			ratio: newc.med / cshm.med, ratioTxt: "× syscalls", goalTxt: "report"},
		row{path: "Open+Close", ipcarc: openc,
			baseline: fmt.Sprintf("C shm_open+mmap+read+munmap+close = %s; C ipcarc_open+ipcarc_close = %s",
				cshmOpen, ns("c_ipcarc_open_close")),
			reps:  reps(openc, cshmOpen, ns("c_ipcarc_open_close")),
			ratio: openc.med / cshmOpen.med, ratioTxt: "× syscalls", goalTxt: "report"},
	)
	rows = append(rows, tableRows(s, openc, cshmOpen, cflock)...)
	rows = append(rows, fanoutRows(s, wake)...)

	fmt.Fprintln(w, "| ipcarc path | ipcarc: median [min–max] | baseline(s), same run: median [min–max] | ratio (medians) | goal | result | reps |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ratio := "n/a"
		if !math.IsNaN(r.ratio) && !math.IsInf(r.ratio, 0) && r.ratio != 0 {
			ratio = num(r.ratio) + r.ratioTxt
		}
		cells := []string{r.path, r.ipcarc.String(), r.baseline, ratio, r.goalTxt, r.result(), r.reps}
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`) // a | inside a cell would end it
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Times are per operation; [min–max] is the range over the repetitions; a floor built from several benchmarks adds medians to medians and bounds to bounds.")
	fmt.Fprintln(w, "reps: repetitions of each number in the row, ipcarc first, then the baselines in the order named.")
	fmt.Fprintln(w, "Empty cgo call: BenchmarkCgoFloor (ipcarc_noop_h); C ipcarc_lock/unlock: BenchmarkCLockUnlockInC, the C loop timed in C from inside the same go test run.")
	fmt.Fprintln(w, "Bare floor: BenchmarkCBareInC, C loops in bench/cbase.c (c_bare_*) timed in C and started from inside the same go test run, like BenchmarkCLockUnlockInC: a robust, process-shared, error-checking pthread mutex at the start of a MAP_SHARED memfd mapping, the 64-byte value on its own cache line, no ipcarc code; memcpy is called with a run-time size, as cshm.c calls it (the \"copy inlined\" figure has the size a constant, which gcc turns into four 16-byte moves).")
	fmt.Fprintln(w, "C lock+memcpy+unlock (no \"bare\"): the same loop through cshm.c's ipcarc_lock/ipcarc_unlock, from the cbase runs after go test.")
	fmt.Fprintln(w, "Two-process rows count both processes' work: contended = wall time / all increments; wake-up = round trip / 2.")
	fmt.Fprintln(w, "The C futex ping-pong on two CPUs includes waking the sleeper's idle CPU; pinned to one CPU it is a plain context switch. ipcarc runs unpinned in both rows.")
	fmt.Fprintln(w, "Holder-table rows: the other holders are live attachments of one helper process; \"0 others\" is a segment with no holder at all (created until-removed). Per-holder and per-slot costs divide by the number of slots; a difference of two benchmarks takes its bounds from the opposite bounds.")
	fmt.Fprintln(w, "Result is judged on medians; \"—\" rows have no goal and are shown for scale.")
}

// tableRows are the holder-table rows: Open+Close beside the number of other
// holders (goal: 4,095 others cost at most 2× none), and Stats, Inspect and
// Reap of a full 4,096-slot table beside a 64-slot one, per holder.
func tableRows(s samples, openc, cshmOpen, cflock q) []row {
	ns := func(name string) q { return s.get(name, "ns/op") }
	oc0 := ns("BenchmarkOpenCloseHolders0")
	rows := []row{{path: "Open+Close, 0 other holders (4,096-slot table)", ipcarc: oc0,
		baseline: fmt.Sprintf("Open+Close of a 64-slot segment with 1 other holder (row above) = %s; C shm_open+mmap+read+munmap+close = %s",
			openc, cshmOpen),
		reps:  reps(oc0, openc, cshmOpen),
		ratio: oc0.med / cshmOpen.med, ratioTxt: "× syscalls", goalTxt: "report (baseline of the next rows)"}}
	for _, k := range []struct {
		n     string
		label string
	}{{"64", "64 other holders"}, {"512", "512 other holders"}, {"4095", "4,095 other holders (full table)"}} {
		oc := ns("BenchmarkOpenCloseHolders" + k.n)
		goalTxt := "≤ 2× 0 others"
		if k.n != "4095" {
			goalTxt += " (4,095 goal, applied)"
		}
		rows = append(rows, row{path: "Open+Close, " + k.label, ipcarc: oc,
			baseline: "Open+Close, 0 other holders = " + oc0.String(),
			reps:     reps(oc, oc0), ratio: oc.med / oc0.med, ratioTxt: "× 0 others",
			goal: 2, le: true, goalTxt: goalTxt, hasGoal: true})
	}
	st64, st4k := ns("BenchmarkStatsHolders64"), ns("BenchmarkStatsFullTable")
	perHolder := diff(st4k, st64).scale(1.0 / (4096 - 64))
	syscall1 := cflock.scale(0.5)
	inspect, reap := ns("BenchmarkInspect4096"), ns("BenchmarkReap4096")
	rows = append(rows,
		row{path: "Stats, 4,096 holders (full table)", ipcarc: st4k,
			baseline: fmt.Sprintf("Stats, 64 holders (full 64-slot table) = %s; per extra holder (4,096 − 64 slots) / 4,032 = %s (one flock(2) call, C: %s)",
				st64, perHolder, syscall1),
			reps:  reps(st4k, st64, cflock),
			ratio: st4k.med / st64.med, ratioTxt: "× 64 holders", goalTxt: "report (linear: 64×)"},
		row{path: "Inspect (`ipcarc ls`), 4,096 holders", ipcarc: inspect,
			baseline: fmt.Sprintf("Stats of the same full table = %s; per slot: %s", st4k, inspect.scale(1.0/4096)),
			reps:     reps(inspect, st4k), ratio: inspect.med / st4k.med, ratioTxt: "× Stats", goalTxt: "report"},
		row{path: "Reap, 4,096 live holders (nothing to reap; rebuilds the table)", ipcarc: reap,
			baseline: fmt.Sprintf("Stats of the same full table = %s; per slot: %s", st4k, reap.scale(1.0/4096)),
			reps:     reps(reap, st4k), ratio: reap.med / st4k.med, ratioTxt: "× Stats", goalTxt: "report"},
	)
	return rows
}

// fanoutRows: one row per BenchmarkWaitFanout benchmark (or sub-benchmark),
// only when the run has one: the time for one Store to wake every waiter
// (ns/round, else ns/wake, else a nonzero ns/op), beside a single waiter's
// wake-up in another process; ns/waiter, when reported, is shown as well.
func fanoutRows(s samples, wake q) []row {
	var names []string
	for name := range s {
		if name == "BenchmarkWaitFanout" || strings.HasPrefix(name, "BenchmarkWaitFanout/") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var rows []row
	for _, name := range names {
		var v q
		for _, unit := range []string{"ns/round", "ns/wake", "ns/op"} {
			if c := s.get(name, unit); c.ok && c.med > 0 {
				v = c
				break
			}
		}
		if !v.ok {
			continue
		}
		path := "Wait fan-out"
		if sub := strings.TrimPrefix(name, "BenchmarkWaitFanout"); sub != "" {
			path += " " + strings.TrimPrefix(sub, "/")
		}
		base := "one waiter in another process, Store → Wait returns (one way) = " + wake.String()
		if per := s.get(name, "ns/waiter"); per.ok && per.med > 0 && v.unit != "ns/waiter" {
			path += fmt.Sprintf(", %.0f waiters: one Store until every Wait returned", v.med/per.med)
			base += "; fan-out per waiter = " + per.String()
		}
		rows = append(rows, row{path: path, ipcarc: v, baseline: base,
			reps: reps(v, wake), ratio: v.med / wake.med, ratioTxt: "× one wake-up", goalTxt: "report"})
	}
	return rows
}
