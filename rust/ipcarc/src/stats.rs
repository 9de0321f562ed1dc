//! What [`IpcArc::stats`](crate::IpcArc::stats) reports: [`Stats`],
//! [`Holder`] and [`Counters`].

use crate::Lifetime;

/// One slot of a segment's holder table: one attachment (a `new` or `load`,
/// shared by its clones), in any process.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// Its index in the table.
    pub slot: u32,
    /// The holder's pid, in its pid namespace; informational.
    pub pid: i32,
    /// Field 22 of /proc/PID/stat at attach; informational.
    pub start_time: u64,
    /// Handles this attachment holds.
    pub handles: u32,
    /// Whether the holder's process lives (its liveness word is intact).
    pub alive: bool,
    /// Whether this is the calling handle's own slot.
    pub is_self: bool,
}

/// Counters of the value lock and its fast paths, summed over the segment:
/// the layout's `ipcarc_counters` (LAYOUT.md), as `ipcarc_read_counters` sums
/// them. Go's `Counters`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Value lock acquisitions.
    pub acquisitions: u64,
    /// Acquisitions that found the lock held at first try.
    pub contended: u64,
    /// Contended acquisitions that slept in the kernel after spinning.
    pub slept: u64,
    /// Total time contended acquisitions waited, in nanoseconds.
    pub wait_ns: u64,
    /// Longest single wait, in nanoseconds.
    pub wait_max_ns: u64,
    /// Holds timed (one acquisition in 64).
    pub hold_samples: u64,
    /// Total time of the timed holds, in nanoseconds.
    pub hold_ns: u64,
    /// Owner deaths recovered.
    pub owner_deaths: u64,
    /// Times the value was poisoned.
    pub poisoned: u64,
    /// Times the poison was cleared.
    pub poison_cleared: u64,
    /// Lock-free reads that had to retry.
    pub load_retries: u64,
    /// Lock-free reads that fell back to the lock.
    pub load_fallbacks: u64,
    /// Stores that wrote.
    pub stores: u64,
    /// Updates whose function returned.
    pub updates: u64,
    /// Wake-ups of waiters by writers.
    pub wakeups: u64,
    /// Dead holders reaped.
    pub reaped: u64,
    pub(crate) reserved: [u64; 8],
}

/// A snapshot of a segment's header and holder table ([`IpcArc::stats`](crate::IpcArc::stats));
/// Go's `Stats`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// The segment's name, without a leading slash.
    pub name: String,
    /// Size of the segment file in bytes.
    pub total_size: u64,
    /// Size of the value.
    pub value_size: u64,
    /// Alignment of the value.
    pub value_align: u32,
    /// The type tag the segment records.
    pub type_tag: u64,
    /// Handles counted in all processes, dead holders' included until reaped.
    pub ref_count: i64,
    /// Slots in the holder table.
    pub max_holders: u32,
    /// The used slots.
    pub holders: Vec<Holder>,
    /// Whether the value is poisoned.
    pub poisoned: bool,
    /// Whether a thread holds the value lock.
    pub locked: bool,
    /// The Linux thread id of the lock's owner, 0 when free.
    pub lock_owner: i32,
    /// Completed writes ([`IpcArc::version`](crate::IpcArc::version)).
    pub version: u64,
    /// The creator's pid (in its namespace); informational.
    pub creator_pid: i32,
    /// When the segment goes away.
    pub lifetime: Lifetime,
    /// What the value lock has been doing.
    pub counters: Counters,
    /// Threads asleep in [`IpcArc::wait`](crate::IpcArc::wait) (one per Go attachment with
    /// waiters), over all processes.
    pub waiters: u32,
}
