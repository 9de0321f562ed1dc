package ipcarcprom

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipcarc/ipcarc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The tests run real processes, as the ipcarc package's own do: the test
// binary re-executes itself with childEnv naming a role. A child talks to the
// parent in lines on stdout and stops when its stdin closes (or is killed).

const childEnv = "IPCARC_PROM_CHILD"

// counter is the shared value.
type counter struct{ N uint64 }

var childRoles = map[string]func(args []string) error{
	// churn NAME: Update in a loop until stdin closes, then close and exit.
	"churn": func(args []string) error {
		a, err := ipcarc.Open[counter](args[0])
		if err != nil {
			return err
		}
		defer a.Close()
		var stop atomic.Bool
		errc := make(chan error, 1)
		go func() {
			for i := 0; !stop.Load(); i++ {
				if err := a.Update(func(c *counter) error { c.N++; return nil }); err != nil {
					errc <- err
					return
				}
				if i == 100 {
					fmt.Println("running")
				}
			}
			errc <- nil
		}()
		io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
		return <-errc
	},
	// hold NAME N: make N Updates, take the lock, say so, and wait to be killed.
	"hold": func(args []string) error {
		n, _ := strconv.Atoi(args[1])
		a, err := ipcarc.Open[counter](args[0])
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if err := a.Update(func(c *counter) error { c.N++; return nil }); err != nil {
				return err
			}
		}
		if _, err := a.Lock(); err != nil {
			return err
		}
		fmt.Println("locked")
		time.Sleep(time.Hour)
		return nil
	},
}

func init() {
	// Keep test goroutines off the main thread, which the runtime cannot end
	// should a goroutine exit holding the lock there (see the ipcarc tests).
	runtime.LockOSThread()
}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		var args []string
		json.Unmarshal([]byte(os.Getenv(childEnv+"_ARGS")), &args)
		f, ok := childRoles[role]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown child role", role)
			os.Exit(3)
		}
		if err := f(args); err != nil {
			fmt.Printf("error %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	prefix := fmt.Sprintf("ipcarc-test-%d-", os.Getpid())
	ents, _ := os.ReadDir("/dev/shm")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			fmt.Fprintf(os.Stderr, "FAIL: tests left /dev/shm/%s\n", e.Name())
			os.Remove(filepath.Join("/dev/shm", e.Name()))
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

var nameSeq atomic.Int64

// testName is unique per test process; the prefix with the pid lets TestMain
// and the repository's `make test` find anything left behind.
func testName() string {
	return fmt.Sprintf("ipcarc-test-%d-prom-%d", os.Getpid(), nameSeq.Add(1))
}

func mustNew(t *testing.T, name string) *ipcarc.Arc[counter] {
	t.Helper()
	a, err := ipcarc.New(name, counter{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Close()
		os.Remove(filepath.Join("/dev/shm", name))
	})
	return a
}

type child struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	done  chan struct{}
}

func startChild(t *testing.T, role string, args ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	a, _ := json.Marshal(args)
	cmd.Env = append(os.Environ(), childEnv+"="+role, childEnv+"_ARGS="+string(a), "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.kill)
	return c
}

func (c *child) expect(want string) {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok || l != want {
			c.t.Fatalf("child said %q (open %v), want %q", l, ok, want)
		}
	case <-time.After(60 * time.Second):
		c.t.Fatalf("child did not say %q within 60s", want)
	}
}

// stop closes the child's stdin and waits for it to exit successfully.
func (c *child) stop() {
	c.t.Helper()
	c.stdin.Close()
	for l := range c.lines {
		c.t.Errorf("child said %q", l)
	}
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		c.t.Fatal("child did not exit within 60s")
	}
	if !c.cmd.ProcessState.Success() {
		c.t.Fatalf("child: %v", c.cmd.ProcessState)
	}
}

func (c *child) kill() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	go func() {
		for range c.lines {
		}
	}()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.t.Errorf("child %d not reaped 10s after SIGKILL", c.cmd.Process.Pid)
	}
}

// series is one scraped sample: metric name and labels, as a key.
func series(name string, labels ...string) string {
	return name + "{" + strings.Join(labels, ",") + "}"
}

// scrape GETs srv and returns its samples by series key.
func scrape(t *testing.T, srv *httptest.Server) map[string]float64 {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s\n%s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			var v float64
			switch {
			case m.Counter != nil:
				v = m.GetCounter().GetValue()
			case m.Gauge != nil:
				v = m.GetGauge().GetValue()
			default:
				t.Fatalf("%s: neither counter nor gauge", name)
			}
			out[series(name, labels...)] = v
		}
	}
	return out
}

// counterNames are the monotonic series, besides the hold estimate.
var counterNames = []string{
	"ipcarc_lock_acquisitions_total", "ipcarc_lock_contended_total", "ipcarc_lock_slept_total",
	"ipcarc_lock_wait_seconds_total", "ipcarc_lock_hold_samples_total", "ipcarc_lock_hold_sampled_seconds_total",
	"ipcarc_owner_deaths_total", "ipcarc_poisoned_total", "ipcarc_poison_cleared_total",
	"ipcarc_load_retries_total", "ipcarc_load_fallbacks_total", "ipcarc_stores_total",
	"ipcarc_updates_total", "ipcarc_wakeups_total", "ipcarc_reaped_holders_total",
	"ipcarc_lock_wait_max_seconds", // a gauge, but it never goes down either
}

// want is what the collector should export for s, worked out here from the
// SegmentInfo independently of the collector's own table.
func want(s ipcarc.SegmentInfo) map[string]float64 {
	c := s.Counters
	seg := "segment=" + s.Name
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m := map[string]float64{
		"ipcarc_lock_acquisitions_total":         float64(c.Acquisitions),
		"ipcarc_lock_contended_total":            float64(c.Contended),
		"ipcarc_lock_slept_total":                float64(c.Slept),
		"ipcarc_lock_wait_seconds_total":         float64(c.WaitNs) / 1e9,
		"ipcarc_lock_wait_max_seconds":           float64(c.WaitMaxNs) / 1e9,
		"ipcarc_lock_hold_samples_total":         float64(c.HoldSamples),
		"ipcarc_lock_hold_sampled_seconds_total": float64(c.HoldNs) / 1e9,
		"ipcarc_owner_deaths_total":              float64(c.OwnerDeaths),
		"ipcarc_poisoned_total":                  float64(c.Poisoned),
		"ipcarc_poison_cleared_total":            float64(c.PoisonCleared),
		"ipcarc_load_retries_total":              float64(c.LoadRetries),
		"ipcarc_load_fallbacks_total":            float64(c.LoadFallbacks),
		"ipcarc_stores_total":                    float64(c.Stores),
		"ipcarc_updates_total":                   float64(c.Updates),
		"ipcarc_wakeups_total":                   float64(c.Wakeups),
		"ipcarc_reaped_holders_total":            float64(c.ReapedHolders),
		"ipcarc_waiters":                         float64(s.Waiters),
		"ipcarc_refcount":                        float64(s.RefCount),
		"ipcarc_poisoned":                        b(s.Poisoned),
		"ipcarc_lock_held":                       b(s.Locked && !s.LockOwnerDied),
		"ipcarc_lock_abandoned":                  b(s.LockOwnerDied),
		"ipcarc_segment_size_bytes":              float64(s.TotalSize),
		"ipcarc_segment_corrupt":                 0,
	}
	out := map[string]float64{}
	for k, v := range m {
		out[series(k, seg)] = v
	}
	out[series("ipcarc_holders", seg, "state=live")] = float64(s.LiveHolders)
	out[series("ipcarc_holders", seg, "state=dead")] = float64(s.DeadHolders)
	return out
}

// exact fails unless got has exactly the series and values of want.
func exact(t *testing.T, when string, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: no series %s", when, k)
		case g != w:
			t.Errorf("%s: %s = %v, want %v", when, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected series %s", when, k)
		}
	}
}

func lint(t *testing.T, c prometheus.Collector) {
	t.Helper()
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollector(t *testing.T) {
	name, other := testName(), testName()
	a := mustNew(t, name)
	mustNew(t, other)

	coll := NewCollector(WithNames(name))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(coll)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()

	// 1. A child updates without pause: every count lies between an Inspect
	// before the scrape and one after.
	ch := startChild(t, "churn", name)
	ch.expect("running")
	before, err := ipcarc.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	got := scrape(t, srv)
	after, err := ipcarc.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := want(before), want(after)
	if len(got) != len(hi) {
		t.Errorf("while churning: %d series, want %d", len(got), len(hi))
	}
	for _, n := range counterNames {
		k := series(n, "segment="+name)
		if g, ok := got[k]; !ok || g < lo[k] || g > hi[k] {
			t.Errorf("while churning: %s = %v (present %v), want within [%v, %v]", k, g, ok, lo[k], hi[k])
		}
	}
	if k := series("ipcarc_lock_acquisitions_total", "segment="+name); got[k] < 100 {
		t.Errorf("while churning: %s = %v, want at least the child's first 100 updates", k, got[k])
	}
	if k := series("ipcarc_holders", "segment="+name, "state=live"); got[k] != 2 {
		t.Errorf("while churning: %s = %v, want 2", k, got[k])
	}
	ch.stop()

	// 2. A child made 100 Updates and holds the lock: nothing moves, so the
	// scrape equals an Inspect exactly.
	base, err := ipcarc.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	h := startChild(t, "hold", name, "100")
	h.expect("locked")
	got = scrape(t, srv)
	info, err := ipcarc.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	exact(t, "held", got, want(info))
	if d := info.Counters.Acquisitions - base.Counters.Acquisitions; d != 101 {
		t.Errorf("held: acquisitions went up by %d, want 101 (100 Updates and a Lock)", d)
	}
	if d := info.Counters.Updates - base.Counters.Updates; d != 100 {
		t.Errorf("held: updates went up by %d, want 100", d)
	}
	// The same, through testutil on the collector itself.
	expected := fmt.Sprintf(`
# HELP ipcarc_lock_held 1 while a live thread holds the value's lock, else 0.
# TYPE ipcarc_lock_held gauge
ipcarc_lock_held{segment=%[1]q} 1
# HELP ipcarc_holders Used holder slots by whether their process is alive (live) or dead and not yet reaped (dead).
# TYPE ipcarc_holders gauge
ipcarc_holders{segment=%[1]q,state="dead"} 0
ipcarc_holders{segment=%[1]q,state="live"} 2
# HELP ipcarc_refcount Handles of live holders (a killed holder's handles stop counting at once).
# TYPE ipcarc_refcount gauge
ipcarc_refcount{segment=%[1]q} 2
# HELP ipcarc_updates_total Updates whose function returned.
# TYPE ipcarc_updates_total counter
ipcarc_updates_total{segment=%[1]q} %[2]d
# HELP ipcarc_lock_acquisitions_total Value lock acquisitions (Lock, TryLock, LockContext, Store, Update) since the segment was created, over all processes.
# TYPE ipcarc_lock_acquisitions_total counter
ipcarc_lock_acquisitions_total{segment=%[1]q} %[3]d
`, name, info.Counters.Updates, info.Counters.Acquisitions)
	if err := testutil.CollectAndCompare(coll, strings.NewReader(expected),
		"ipcarc_lock_held", "ipcarc_holders", "ipcarc_refcount", "ipcarc_updates_total", "ipcarc_lock_acquisitions_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(coll); n != len(want(info)) {
		t.Errorf("CollectAndCount = %d, want %d", n, len(want(info)))
	}
	lint(t, coll)

	// 3. The holder dies holding the lock: a dead holder, then an owner
	// death and poison once this process takes the lock.
	h.kill()
	got = scrape(t, srv)
	info, err = ipcarc.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	exact(t, "holder killed", got, want(info))
	if info.DeadHolders != 1 || !info.LockOwnerDied {
		t.Errorf("holder killed: %d dead holders, lock owner died %v; want 1, true", info.DeadHolders, info.LockOwnerDied)
	}
	for k, w := range map[string]float64{"ipcarc_lock_held": 0, "ipcarc_lock_abandoned": 1} {
		if v := got[series(k, "segment="+name)]; v != w {
			t.Errorf("holder killed holding the lock: %s = %v, want %v", k, v, w)
		}
	}
	if g, err := a.Lock(); !errors.Is(err, ipcarc.ErrOwnerDead) || g != nil {
		t.Fatalf("Lock after the owner died = %v, %v; want nil, ErrOwnerDead", g, err)
	}
	got = scrape(t, srv)
	info, err = ipcarc.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	exact(t, "owner death recovered", got, want(info))
	for _, k := range []string{"ipcarc_owner_deaths_total", "ipcarc_poisoned_total", "ipcarc_poisoned"} {
		if v := got[series(k, "segment="+name)]; v != 1 {
			t.Errorf("owner death recovered: %s = %v, want 1", k, v)
		}
	}
	lint(t, coll)
}

func TestCollectorSelection(t *testing.T) {
	name, other := testName(), testName()
	mustNew(t, name)
	mustNew(t, other)
	pid := strconv.Itoa(os.Getpid())

	segments := func(c *Collector) map[string]bool {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
		defer srv.Close()
		out := map[string]bool{}
		for k := range scrape(t, srv) {
			if i := strings.Index(k, "segment="); i >= 0 {
				s := k[i+len("segment="):]
				s = s[:strings.IndexAny(s, ",}")]
				if strings.HasPrefix(s, "ipcarc-test-"+pid+"-") {
					out[s] = true
				}
			}
		}
		return out
	}
	check := func(what string, c *Collector, want ...string) {
		t.Helper()
		got := segments(c)
		if len(got) != len(want) {
			t.Errorf("%s: segments %v, want %v", what, got, want)
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("%s: segments %v, want %v", what, got, want)
			}
		}
	}
	all := NewCollector()
	check("all", all, name, other)
	lint(t, all) // every segment on the machine, ours among them
	check("names", NewCollector(WithNames(other, "/"+other, "ipcarc-test-"+pid+"-prom-absent")), other)
	check("pattern", NewCollector(WithPatterns("ipcarc-test-"+pid+"-prom-*")), name, other)
	check("pattern and name", NewCollector(WithPatterns(name), WithNames(other, name)), name, other)
	check("no match", NewCollector(WithPatterns("ipcarc-test-"+pid+"-none-*")))

	// Constant labels appear on every series.
	c := NewCollector(WithNames(name), WithConstLabels(prometheus.Labels{"app": "demo"}))
	n := testutil.CollectAndCount(c, "ipcarc_refcount")
	if n != 1 {
		t.Errorf("with const labels: %d refcount series, want 1", n)
	}
	expected := fmt.Sprintf(`
# HELP ipcarc_refcount Handles of live holders (a killed holder's handles stop counting at once).
# TYPE ipcarc_refcount gauge
ipcarc_refcount{app="demo",segment=%q} 1
`, name)
	if err := testutil.CollectAndCompare(c, strings.NewReader(expected), "ipcarc_refcount"); err != nil {
		t.Error(err)
	}

	// Configuration errors fail registration; an unreadable name fails the
	// scrape, not the process.
	for _, bad := range []*Collector{
		NewCollector(WithPatterns("[")),
		NewCollector(WithConstLabels(prometheus.Labels{"segment": "x"})),
	} {
		if err := prometheus.NewRegistry().Register(bad); err == nil {
			t.Errorf("registering a misconfigured collector succeeded")
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(WithNames("not/a name", name)))
	if _, err := reg.Gather(); !errors.Is(err, ipcarc.ErrInvalidName) {
		t.Errorf("Gather with an invalid name = %v, want ErrInvalidName", err)
	}
}
