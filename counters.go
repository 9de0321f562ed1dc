package ipcarc

import (
	"sync/atomic"
	"time"
)

// Counters say what a segment's lock has been doing, since the segment was
// created, summed over every process that ever attached: each attachment
// counts its own work in its holder slot (so processes never bounce a cache
// line between them on Lock). A slot's counts stay in the slot when its
// holder leaves, dies or is reaped, and the next holder of the slot adds to
// them: they are never moved or zeroed, so no death at any point loses or
// repeats a count, and two readings taken one after the other never go down
// (each word only grows). They are read without any lock: a snapshot whose
// fields may be a few operations apart.
//
// Acquisitions, waits, holds, stores, owner deaths and poison are counted by
// the holder of the value's lock; retries, fallbacks and wake-ups with atomic
// adds. Hold time is sampled: one acquisition in 64 is timed to its unlock,
// because two clock reads per Lock would cost more than the lock itself;
// HoldEstimate scales the sample up.
type Counters struct {
	Acquisitions  uint64 `json:"acquisitions"`   // value lock acquisitions: Lock, TryLock, LockContext, Store, Update
	Contended     uint64 `json:"contended"`      // acquisitions that found the lock held at first try
	Slept         uint64 `json:"slept"`          // contended acquisitions that slept in the kernel (spinning did not suffice)
	WaitNs        uint64 `json:"wait_ns"`        // total time contended acquisitions waited (spinning: spins × one spin's cost; sleeping: by the clock)
	WaitMaxNs     uint64 `json:"wait_max_ns"`    // longest single wait
	HoldSamples   uint64 `json:"hold_samples"`   // acquisitions timed to their unlock
	HoldNs        uint64 `json:"hold_ns"`        // total time of the timed holds
	OwnerDeaths   uint64 `json:"owner_deaths"`   // lock owners that died holding it, recovered
	Poisoned      uint64 `json:"poisoned"`       // times the value was poisoned
	PoisonCleared uint64 `json:"poison_cleared"` // times a holder cleared the poison
	LoadRetries   uint64 `json:"load_retries"`   // lock-free Loads that had to try again
	LoadFallbacks uint64 `json:"load_fallbacks"` // Loads that fell back to the lock
	Stores        uint64 `json:"stores"`         // Stores that wrote
	Updates       uint64 `json:"updates"`        // Updates whose function returned
	Wakeups       uint64 `json:"wakeups"`        // writes that found waiters and woke them (one FUTEX_WAKE each)
	ReapedHolders uint64 `json:"reaped_holders"` // dead holders reaped
}

// HoldEstimate is the estimated total time the lock was held: the sampled
// holds' mean times the acquisitions.
func (c Counters) HoldEstimate() time.Duration {
	if c.HoldSamples == 0 {
		return 0
	}
	return time.Duration(float64(c.HoldNs) / float64(c.HoldSamples) * float64(c.Acquisitions))
}

// readCounters reads one counters block with atomic loads.
func readCounters(c *counters) Counters {
	return Counters{
		Acquisitions: atomic.LoadUint64(&c.Acquisitions), Contended: atomic.LoadUint64(&c.Contended),
		Slept: atomic.LoadUint64(&c.Slept), WaitNs: atomic.LoadUint64(&c.WaitNs),
		WaitMaxNs: atomic.LoadUint64(&c.WaitMaxNs), HoldSamples: atomic.LoadUint64(&c.HoldSamples),
		HoldNs: atomic.LoadUint64(&c.HoldNs), OwnerDeaths: atomic.LoadUint64(&c.OwnerDeaths),
		Poisoned: atomic.LoadUint64(&c.Poisoned), PoisonCleared: atomic.LoadUint64(&c.PoisonCleared),
		LoadRetries: atomic.LoadUint64(&c.LoadRetries), LoadFallbacks: atomic.LoadUint64(&c.LoadFallbacks),
		Stores: atomic.LoadUint64(&c.Stores), Updates: atomic.LoadUint64(&c.Updates),
		Wakeups: atomic.LoadUint64(&c.Wakeups), ReapedHolders: atomic.LoadUint64(&c.Reaped),
	}
}

// add sums o into c (the largest wait for WaitMaxNs).
func (c *Counters) add(o Counters) {
	c.Acquisitions += o.Acquisitions
	c.Contended += o.Contended
	c.Slept += o.Slept
	c.WaitNs += o.WaitNs
	c.WaitMaxNs = max(c.WaitMaxNs, o.WaitMaxNs)
	c.HoldSamples += o.HoldSamples
	c.HoldNs += o.HoldNs
	c.OwnerDeaths += o.OwnerDeaths
	c.Poisoned += o.Poisoned
	c.PoisonCleared += o.PoisonCleared
	c.LoadRetries += o.LoadRetries
	c.LoadFallbacks += o.LoadFallbacks
	c.Stores += o.Stores
	c.Updates += o.Updates
	c.Wakeups += o.Wakeups
	c.ReapedHolders += o.ReapedHolders
}

// sumCounters is a segment's counters: the header's totals plus every slot's,
// used or free (a free slot keeps the counts of the holders it had). slots
// must come from a bound validated at attach (or clamped to the mapping),
// never from the header's own max_holders.
func sumCounters(h *header, slots []holder) Counters {
	c := readCounters(&h.Totals)
	for i := range slots {
		c.add(readCounters(&slots[i].Counters))
	}
	return c
}

// liveHandles is what RefCount reports: the handles of the used slots whose
// holder is alive. A dead holder stops counting as soon as the kernel marks
// its liveness word, reaped or not.
func liveHandles(slots []holder) int64 {
	var n int64
	for i := range slots {
		if atomic.LoadUint32(&slots[i].State) == slotUsed && liveWordAlive(atomic.LoadUint32(&slots[i].Live)) {
			n += int64(min(atomic.LoadUint32(&slots[i].Handles), maxHandles))
		}
	}
	return n
}

// Rates is what the lock did between two snapshots, per second and in
// proportions: what `ipcarc top` shows.
type Rates struct {
	Interval            time.Duration `json:"interval_ns"`
	LocksPerSec         float64       `json:"locks_per_sec"`
	ContendedFraction   float64       `json:"contended_fraction"`    // of the acquisitions in the interval, 0..1
	SleptFraction       float64       `json:"slept_fraction"`        // of the acquisitions in the interval, 0..1
	MeanWait            time.Duration `json:"mean_wait_ns"`          // per contended acquisition in the interval
	MaxWait             time.Duration `json:"max_wait_ns"`           // longest wait since creation (a maximum has no interval)
	MeanHold            time.Duration `json:"mean_hold_ns"`          // per timed hold in the interval (0: none sampled)
	HeldFraction        float64       `json:"held_fraction"`         // estimated share of the interval the lock was held
	OwnerDeathsInterval uint64        `json:"owner_deaths_interval"` // owner deaths in the interval (a count, not a rate)
	LoadRetriesPerSec   float64       `json:"load_retries_per_sec"`
	LoadFallbacksPerSec float64       `json:"load_fallbacks_per_sec"`
	StoresPerSec        float64       `json:"stores_per_sec"`
	UpdatesPerSec       float64       `json:"updates_per_sec"`
	WakeupsPerSec       float64       `json:"wakeups_per_sec"`
	ReapedInterval      uint64        `json:"reaped_interval"` // holders reaped in the interval (a count)
	PoisonedNow         bool          `json:"poisoned_now"`
	CountersWentBack    bool          `json:"counters_went_back,omitempty"` // a count went down: another segment under the name, or a peer's write
}

// RatesSince is the rates view of the change from prev to c over d.
func (c Counters) RatesSince(prev Counters, d time.Duration) Rates {
	r := Rates{Interval: d, MaxWait: time.Duration(c.WaitMaxNs)}
	if d <= 0 {
		return r
	}
	back := false
	delta := func(now, then uint64) uint64 {
		if now < then {
			back = true
			return 0
		}
		return now - then
	}
	sec := d.Seconds()
	acq := delta(c.Acquisitions, prev.Acquisitions)
	cont := delta(c.Contended, prev.Contended)
	r.LocksPerSec = float64(acq) / sec
	if acq > 0 {
		r.ContendedFraction = float64(cont) / float64(acq)
		r.SleptFraction = float64(delta(c.Slept, prev.Slept)) / float64(acq)
	}
	if cont > 0 {
		r.MeanWait = time.Duration(delta(c.WaitNs, prev.WaitNs) / cont)
	}
	if n := delta(c.HoldSamples, prev.HoldSamples); n > 0 {
		r.MeanHold = time.Duration(delta(c.HoldNs, prev.HoldNs) / n)
		r.HeldFraction = min(1, float64(r.MeanHold)*float64(acq)/float64(d))
	}
	r.OwnerDeathsInterval = delta(c.OwnerDeaths, prev.OwnerDeaths)
	r.LoadRetriesPerSec = float64(delta(c.LoadRetries, prev.LoadRetries)) / sec
	r.LoadFallbacksPerSec = float64(delta(c.LoadFallbacks, prev.LoadFallbacks)) / sec
	r.StoresPerSec = float64(delta(c.Stores, prev.Stores)) / sec
	r.UpdatesPerSec = float64(delta(c.Updates, prev.Updates)) / sec
	r.WakeupsPerSec = float64(delta(c.Wakeups, prev.Wakeups)) / sec
	r.ReapedInterval = delta(c.ReapedHolders, prev.ReapedHolders)
	r.CountersWentBack = back
	return r
}
