// Package ipcarcprom exports the lock counters and state of ipcarc shared
// memory segments as Prometheus metrics.
//
// A [Collector] reads segments by name, as `ipcarc ls` does, through
// [ipcarc.List] or [ipcarc.Inspect]: it never attaches (it claims no holder
// slot and changes no count) and never takes a segment's lock, so a program
// that merely watches segments, or a sidecar exporter, can scrape segments
// whose lock is held forever or whose holders all died. Every scrape reads
// the segments afresh and builds constant metrics from that snapshot; the
// collector keeps no state between scrapes.
//
// Each series carries a "segment" label with the segment's name (without the
// leading slash). The metrics, all prefixed "ipcarc_":
//
//	counters (summed over every process that ever attached, since the segment was created):
//	  ipcarc_lock_acquisitions_total       value lock acquisitions (Lock, TryLock, LockContext, Store, Update)
//	  ipcarc_lock_contended_total          acquisitions that found the lock held at first try
//	  ipcarc_lock_slept_total              contended acquisitions that slept in the kernel
//	  ipcarc_lock_wait_seconds_total       time contended acquisitions waited
//	  ipcarc_lock_hold_samples_total       acquisitions timed to their unlock (one in 64)
//	  ipcarc_lock_hold_sampled_seconds_total  total time of the timed holds
//	  ipcarc_owner_deaths_total            lock owners that died holding it, recovered
//	  ipcarc_poisoned_total                times the value was poisoned
//	  ipcarc_poison_cleared_total          times a holder cleared the poison
//	  ipcarc_load_retries_total            lock-free Loads that had to try again
//	  ipcarc_load_fallbacks_total          Loads that fell back to the lock
//	  ipcarc_stores_total                  Stores that wrote
//	  ipcarc_updates_total                 Updates whose function returned
//	  ipcarc_wakeups_total                 writes that found waiters and woke them
//	  ipcarc_reaped_holders_total          dead holders reaped
//	gauges:
//	  ipcarc_lock_wait_max_seconds         longest single wait since creation
//	  ipcarc_waiters                       threads asleep on the segment's futex, over all processes
//	  ipcarc_holders{state="live"|"dead"}  used holder slots whose process is alive / dead (not yet reaped)
//	  ipcarc_refcount                      handles of live holders (a killed holder's stop counting at once)
//	  ipcarc_poisoned                      1 while the value is poisoned
//	  ipcarc_lock_held                     1 while a live thread holds the value's lock
//	  ipcarc_lock_abandoned                1 while the lock's owner died holding it and nobody has locked since
//	  ipcarc_segment_size_bytes            size of the segment file
//	  ipcarc_segment_corrupt               1 for a segment that fails validation (then the only series it has)
//
// Every _total is monotonic: a segment's counts only grow, whoever dies
// wherever (they stay in the holder slots that made them). There is no
// hold-time estimate among them (the sampled mean times the acquisitions
// would dip as the mean moves, which rate() reads as a reset): the share of
// time the lock is held is
//
//	rate(ipcarc_lock_hold_sampled_seconds_total) / rate(ipcarc_lock_hold_samples_total)
//	  * rate(ipcarc_lock_acquisitions_total)
//
// Counters start at zero when a segment is created; a segment removed and
// made again under the same name starts over, which Prometheus handles as a
// counter reset.
package ipcarcprom

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/ipcarc/ipcarc"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector is a [prometheus.Collector] of ipcarc segments' metrics. Make it
// with [NewCollector]; it is safe for concurrent scrapes.
type Collector struct {
	names       []string
	patterns    []string
	constLabels prometheus.Labels
	err         error // a configuration error, reported by Describe and Collect

	counters []metric
	gauges   []metric
	holders  *prometheus.Desc
	corrupt  *prometheus.Desc
	errDesc  *prometheus.Desc
}

// metric is one per-segment series: its descriptor and how to read its value.
type metric struct {
	desc  *prometheus.Desc
	value func(*ipcarc.SegmentInfo) float64
}

// Option configures a Collector.
type Option func(*Collector)

// WithNames restricts the collector to the segments with these exact names
// (a leading slash is allowed). Each is read with [ipcarc.Inspect], without
// listing /dev/shm; a name that does not exist at scrape time gives no
// series and no error. It may be combined with WithPatterns: the collector
// then exports the union.
func WithNames(names ...string) Option {
	return func(c *Collector) { c.names = append(c.names, names...) }
}

// WithPatterns restricts the collector to the segments whose names match one
// of these shell patterns (the syntax of [path.Match], e.g. "myapp-*"),
// among those [ipcarc.List] finds. A malformed pattern makes registration
// fail (Describe reports it).
func WithPatterns(patterns ...string) Option {
	return func(c *Collector) { c.patterns = append(c.patterns, patterns...) }
}

// WithConstLabels adds these labels, with fixed values, to every series (for
// example the host or the application). They must not be called "segment"
// or "state".
func WithConstLabels(labels prometheus.Labels) Option {
	return func(c *Collector) {
		if c.constLabels == nil {
			c.constLabels = prometheus.Labels{}
		}
		for k, v := range labels {
			c.constLabels[k] = v
		}
	}
}

// NewCollector returns a collector of ipcarc segments' metrics. Without
// options it exports every segment that [ipcarc.List] finds in /dev/shm (and
// this process may read); WithNames and WithPatterns narrow that down.
// Register it with a [prometheus.Registerer]; configuration errors are
// returned then.
func NewCollector(opts ...Option) *Collector {
	c := &Collector{}
	for _, o := range opts {
		o(c)
	}
	for _, p := range c.patterns {
		if _, err := path.Match(p, ""); err != nil {
			c.err = fmt.Errorf("ipcarcprom: pattern %q: %w", p, err)
		}
	}
	for k := range c.constLabels {
		if k == "segment" || k == "state" {
			c.err = fmt.Errorf("ipcarcprom: constant label %q is the collector's own", k)
		}
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("ipcarc_"+name, help, append([]string{"segment"}, labels...), c.constLabels)
	}
	count := func(name, help string, v func(*ipcarc.SegmentInfo) float64) {
		c.counters = append(c.counters, metric{desc(name, help), v})
	}
	gauge := func(name, help string, v func(*ipcarc.SegmentInfo) float64) {
		c.gauges = append(c.gauges, metric{desc(name, help), v})
	}
	u := func(f func(*ipcarc.Counters) uint64) func(*ipcarc.SegmentInfo) float64 {
		return func(s *ipcarc.SegmentInfo) float64 { return float64(f(&s.Counters)) }
	}
	sec := func(f func(*ipcarc.Counters) uint64) func(*ipcarc.SegmentInfo) float64 {
		return func(s *ipcarc.SegmentInfo) float64 { return float64(f(&s.Counters)) / 1e9 }
	}
	count("lock_acquisitions_total", "Value lock acquisitions (Lock, TryLock, LockContext, Store, Update) since the segment was created, over all processes.",
		u(func(c *ipcarc.Counters) uint64 { return c.Acquisitions }))
	count("lock_contended_total", "Lock acquisitions that found the lock held at first try.",
		u(func(c *ipcarc.Counters) uint64 { return c.Contended }))
	count("lock_slept_total", "Contended lock acquisitions that slept in the kernel (spinning did not suffice).",
		u(func(c *ipcarc.Counters) uint64 { return c.Slept }))
	count("lock_wait_seconds_total", "Total time contended lock acquisitions waited.",
		sec(func(c *ipcarc.Counters) uint64 { return c.WaitNs }))
	count("lock_hold_samples_total", "Lock acquisitions timed to their unlock (one in 64).",
		u(func(c *ipcarc.Counters) uint64 { return c.HoldSamples }))
	count("lock_hold_sampled_seconds_total", "Total time of the timed lock holds.",
		sec(func(c *ipcarc.Counters) uint64 { return c.HoldNs }))
	count("owner_deaths_total", "Lock owners that died holding the lock, recovered by the next locker.",
		u(func(c *ipcarc.Counters) uint64 { return c.OwnerDeaths }))
	count("poisoned_total", "Times the value was poisoned.",
		u(func(c *ipcarc.Counters) uint64 { return c.Poisoned }))
	count("poison_cleared_total", "Times a holder cleared the value's poison.",
		u(func(c *ipcarc.Counters) uint64 { return c.PoisonCleared }))
	count("load_retries_total", "Lock-free Loads that had to try again.",
		u(func(c *ipcarc.Counters) uint64 { return c.LoadRetries }))
	count("load_fallbacks_total", "Loads that fell back to the lock.",
		u(func(c *ipcarc.Counters) uint64 { return c.LoadFallbacks }))
	count("stores_total", "Stores that wrote the value.",
		u(func(c *ipcarc.Counters) uint64 { return c.Stores }))
	count("updates_total", "Updates whose function returned.",
		u(func(c *ipcarc.Counters) uint64 { return c.Updates }))
	count("wakeups_total", "Writes that found waiters and woke them.",
		u(func(c *ipcarc.Counters) uint64 { return c.Wakeups }))
	count("reaped_holders_total", "Dead holders reaped from the holder table.",
		u(func(c *ipcarc.Counters) uint64 { return c.ReapedHolders }))

	gauge("lock_wait_max_seconds", "Longest single lock wait since the segment was created.",
		sec(func(c *ipcarc.Counters) uint64 { return c.WaitMaxNs }))
	gauge("waiters", "Threads asleep on the segment's futex, over all processes.",
		func(s *ipcarc.SegmentInfo) float64 { return float64(s.Waiters) })
	gauge("refcount", "Handles of live holders (a killed holder's handles stop counting at once).",
		func(s *ipcarc.SegmentInfo) float64 { return float64(s.RefCount) })
	gauge("poisoned", "1 while the value is poisoned (an owner died inside a critical section), else 0.",
		func(s *ipcarc.SegmentInfo) float64 { return b2f(s.Poisoned) })
	gauge("lock_held", "1 while a live thread holds the value's lock, else 0.",
		func(s *ipcarc.SegmentInfo) float64 { return b2f(s.Locked && !s.LockOwnerDied) })
	gauge("lock_abandoned", "1 while the value's lock is held by a thread that died holding it (the next locker recovers it), else 0.",
		func(s *ipcarc.SegmentInfo) float64 { return b2f(s.LockOwnerDied) })
	gauge("segment_size_bytes", "Size of the segment in bytes, as its header records it.",
		func(s *ipcarc.SegmentInfo) float64 { return float64(s.TotalSize) })
	c.holders = desc("holders", "Used holder slots by whether their process is alive (live) or dead and not yet reaped (dead).", "state")
	c.corrupt = desc("segment_corrupt", "1 for a segment that fails validation (no process can attach to it; it has no other series), else 0.")
	c.errDesc = prometheus.NewDesc("ipcarc_collector_error", "A segment could not be read.", nil, c.constLabels)
	return c
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Describe sends the descriptors of every metric the collector exports, or
// the configuration error.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.err != nil {
		ch <- prometheus.NewInvalidDesc(c.err)
		return
	}
	for _, m := range c.counters {
		ch <- m.desc
	}
	for _, m := range c.gauges {
		ch <- m.desc
	}
	ch <- c.holders
	ch <- c.corrupt
	ch <- c.errDesc
}

// Collect reads the segments and sends their metrics. A segment that cannot
// be read (other than one that no longer exists) is reported as an invalid
// metric, which fails the scrape or is skipped according to the handler's
// promhttp.HandlerOpts.ErrorHandling; the other segments are still sent.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.err != nil {
		ch <- prometheus.NewInvalidMetric(c.errDesc, c.err)
		return
	}
	segs, err := c.segments()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.errDesc, err)
	}
	for i := range segs {
		c.collectSegment(ch, &segs[i])
	}
}

func (c *Collector) collectSegment(ch chan<- prometheus.Metric, s *ipcarc.SegmentInfo) {
	name := s.Name
	if s.Corrupt {
		ch <- prometheus.MustNewConstMetric(c.corrupt, prometheus.GaugeValue, 1, name)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.corrupt, prometheus.GaugeValue, 0, name)
	for _, m := range c.counters {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, m.value(s), name)
	}
	for _, m := range c.gauges {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, m.value(s), name)
	}
	ch <- prometheus.MustNewConstMetric(c.holders, prometheus.GaugeValue, float64(s.LiveHolders), name, "live")
	ch <- prometheus.MustNewConstMetric(c.holders, prometheus.GaugeValue, float64(s.DeadHolders), name, "dead")
}

// segments reads the segments the collector exports, once each. It returns
// what it could read along with an error for what it could not.
func (c *Collector) segments() ([]ipcarc.SegmentInfo, error) {
	var out []ipcarc.SegmentInfo
	var errs []error
	seen := map[string]bool{}
	add := func(s ipcarc.SegmentInfo) {
		// A segment being created has nothing to show yet: the next
		// scrape sees it.
		if seen[s.Name] || (s.State == ipcarc.StateInit && !s.Corrupt) {
			return
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	if len(c.patterns) > 0 || len(c.names) == 0 {
		all, err := ipcarc.List()
		if err != nil {
			errs = append(errs, err)
		}
		for _, s := range all {
			if len(c.patterns) == 0 || c.matches(s.Name) {
				add(s)
			}
		}
	}
	for _, n := range c.names {
		if seen[strings.TrimPrefix(n, "/")] {
			continue
		}
		s, err := ipcarc.Inspect(n)
		switch {
		case errors.Is(err, ipcarc.ErrNotExist):
		case err != nil:
			errs = append(errs, err)
		default:
			add(s)
		}
	}
	slices.SortFunc(out, func(a, b ipcarc.SegmentInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

func (c *Collector) matches(name string) bool {
	for _, p := range c.patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
