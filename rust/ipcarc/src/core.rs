//! The untyped core that [`IpcArc`](crate::IpcArc) and
//! [`IpcSlice`](crate::IpcSlice) both hold (Go's `Handle`): the C handle and
//! the name, with every behaviour that does not depend on the shape (reference
//! count, clone and close, version and wait, reap, notify, stats, the lock and
//! the poison), written once; and [`RawGuard`], the untyped lock that
//! [`Guard`](crate::Guard) and [`SliceGuard`](crate::SliceGuard) both hold.

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};
use std::sync::{Arc, LockResult, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{from_rc, Op};
use crate::{check_name, duration_ns, ffi, Counters, Error, Holder, Lifetime, Stats};

/// One handle on a segment (one reference in its count), whatever it holds.
/// Dropping it gives the reference back; the drop that takes the count to
/// zero, in whatever process, removes the segment. Errors are ignored there:
/// [`close`](Core::close) reports them.
pub(crate) struct Core {
    seg: NonNull<ffi::Seg>,
    name: Arc<str>,
}

// SAFETY: the C layer's calls on one attachment are thread-safe (the holder
// table has its own process-shared lock; the value is reached only under the
// value lock or through the seqlock), except that a handle's last close must
// not race its other calls, which `Drop` (taking `&mut self`) guarantees.
unsafe impl Send for Core {}
// SAFETY: as for Send; the core itself hands out no reference into the value.
unsafe impl Sync for Core {}

/// How [`Core::lock`] waits for the value lock.
pub(crate) enum Wait {
    Block,
    Try,
    Timeout(Duration),
}

/// A guard that holds a [`RawGuard`]: what [`Core::update`] and
/// [`Core::recover`] need of the typed guards.
pub(crate) trait HoldsLock<'a> {
    fn raw(&mut self) -> &mut RawGuard<'a>;
}

impl Core {
    /// Checks the name, builds the spec and calls `open` (one of C's
    /// create/open/open-or-create) with the C name, the spec, the handle to
    /// fill and the field code to fill on a validation error.
    pub(crate) fn open(
        name: &str,
        spec: Result<ffi::Spec, Error>,
        open: impl FnOnce(&CStr, &ffi::Spec, &mut *mut ffi::Seg, &mut c_int) -> c_int,
    ) -> Result<Core, Error> {
        let (short, cname) = check_name(name)?;
        let spec = spec?;
        let mut s = ptr::null_mut();
        let mut field: c_int = 0;
        let rc = open(&cname, &spec, &mut s, &mut field);
        if rc != 0 {
            return Err(from_rc(rc, field, Op::Open));
        }
        Ok(Core {
            seg: NonNull::new(s).expect("C returned a handle"),
            name: Arc::from(short),
        })
    }

    pub(crate) fn s(&self) -> *mut ffi::Seg {
        self.seg.as_ptr()
    }

    /// The start of the value (or of the slice's elements) in the mapping.
    pub(crate) fn data<T>(&self) -> NonNull<T> {
        // SAFETY: a live handle.
        let p = unsafe { ffi::ipcarc_data(self.s()) } as *mut T;
        NonNull::new(p).expect("a mapped value")
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn ref_count(&self) -> usize {
        // SAFETY: a live handle.
        unsafe { ffi::ipcarc_refcount(self.s()) }.max(0) as usize
    }

    /// Another reference on the same attachment (count +1).
    pub(crate) fn try_clone(&self) -> Result<Core, Error> {
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_clone(self.s()) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Table));
        }
        Ok(Core {
            seg: self.seg,
            name: self.name.clone(),
        })
    }

    /// `clone`'s panic on failure, with the name in it.
    pub(crate) fn clone_or_panic(&self) -> Core {
        self.try_clone()
            .unwrap_or_else(|e| panic!("ipcarc: clone {:?}: {}", self.name, e))
    }

    /// Gives the reference back, reporting what dropping ignores.
    pub(crate) fn close(self) -> Result<(), Error> {
        let me = ManuallyDrop::new(self);
        // SAFETY: a live handle, closed once: `me` is never dropped.
        let rc = unsafe { ffi::ipcarc_close(me.s()) };
        // SAFETY: the name's Arc is dropped once, here.
        drop(unsafe { ptr::read(&me.name) });
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Table));
        }
        Ok(())
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        // SAFETY: a live handle.
        unsafe { ffi::ipcarc_poisoned(self.s()) != 0 }
    }

    /// [`Error::Deadlock`] on the thread that holds the value lock, where a
    /// `&mut` into the value may be live: a copy must not read under it.
    pub(crate) fn refuse_locker(&self) -> Result<(), Error> {
        // SAFETY: a live handle.
        if unsafe { ffi::ipcarc_rs_lock_is_mine(self.s()) } != 0 {
            return Err(Error::Deadlock);
        }
        Ok(())
    }

    /// Takes the value lock and hands it to `make` (which types it); the
    /// result is poisoned when the value is, or when an owner died holding it.
    pub(crate) fn lock<'a, G>(
        &'a self,
        how: Wait,
        make: impl FnOnce(RawGuard<'a>) -> G,
    ) -> Result<LockResult<G>, Error> {
        // SAFETY: a live handle.
        let rc = unsafe {
            match how {
                Wait::Block => ffi::ipcarc_lock(self.s()),
                Wait::Try => ffi::ipcarc_trylock(self.s()),
                Wait::Timeout(d) => ffi::ipcarc_timedlock(self.s(), duration_ns(d)),
            }
        };
        let owner_died = if rc == 0 {
            false
        } else if ffi::is(rc, ffi::consts().e_ownerdead) {
            true
        } else {
            return Err(from_rc(rc, 0, Op::Lock));
        };
        let guard = make(RawGuard {
            core: self,
            poison_on_panic: !std::thread::panicking(),
            wrote: false,
            owner_died,
            _not_send: PhantomData,
        });
        if owner_died || self.is_poisoned() {
            Ok(Err(PoisonError::new(guard)))
        } else {
            Ok(Ok(guard))
        }
    }

    /// Locks (through `make`), refuses a poisoned value ([`Error::Poisoned`],
    /// or [`Error::OwnerDead`] for the first locker after a death), calls `f`
    /// with the guard, counts the update and unlocks.
    pub(crate) fn update<'a, G: HoldsLock<'a>, R>(
        &'a self,
        make: impl FnOnce(RawGuard<'a>) -> G,
        f: impl FnOnce(&mut G) -> R,
    ) -> Result<R, Error> {
        let mut g = match self.lock(Wait::Block, make)? {
            Ok(g) => g,
            Err(p) => {
                let mut g = p.into_inner();
                return Err(if g.raw().owner_died {
                    Error::OwnerDead
                } else {
                    Error::Poisoned
                });
            }
        };
        g.raw().wrote = true;
        let r = f(&mut g);
        // SAFETY: a live handle whose value lock this thread holds (g).
        unsafe { ffi::ipcarc_rs_count_update(self.s()) };
        drop(g);
        Ok(r)
    }

    /// Locks whether or not the value is poisoned, calls `f` with the guard,
    /// clears the poison when `f` returns `Ok`, and unlocks.
    pub(crate) fn recover<'a, G: HoldsLock<'a>, E>(
        &'a self,
        make: impl FnOnce(RawGuard<'a>) -> G,
        f: impl FnOnce(&mut G) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        let mut g = self
            .lock(Wait::Block, make)?
            .unwrap_or_else(PoisonError::into_inner);
        g.raw().wrote = true;
        let r = f(&mut g);
        if r.is_ok() && self.is_poisoned() {
            g.raw().clear_poison()?;
        }
        drop(g);
        Ok(r)
    }

    /// Takes the lock and clears the poison.
    pub(crate) fn clear_poison(&self) -> Result<(), Error> {
        let mut g = self
            .lock(Wait::Block, |raw| raw)?
            .unwrap_or_else(PoisonError::into_inner);
        g.clear_poison()
    }

    pub(crate) fn notify(&self) -> Result<(), Error> {
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_notify(self.s()) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Other));
        }
        Ok(())
    }

    pub(crate) fn version(&self) -> u64 {
        // SAFETY: a live handle.
        u64::from(unsafe { ffi::ipcarc_version(self.s()) })
    }

    pub(crate) fn wait(&self, since: u64, timeout: Option<Duration>) -> Result<u64, Error> {
        let deadline = timeout.map(|d| Instant::now() + d);
        loop {
            let ns = match deadline {
                None => -1,
                Some(dl) => duration_ns(dl.saturating_duration_since(Instant::now())),
            };
            let mut now: u32 = 0;
            // SAFETY: a live handle; now is valid for the call.
            let rc = unsafe { ffi::ipcarc_wait(self.s(), since as u32, ns, &mut now) };
            let c = ffi::consts();
            if rc == 0 {
                return Ok(u64::from(now));
            } else if ffi::is(rc, c.e_intr) {
                // Woken with no change (a spurious wake-up): sleep again.
                if deadline.is_some_and(|dl| Instant::now() >= dl) {
                    return Err(Error::Timeout("write"));
                }
            } else if ffi::is(rc, c.e_timedout) {
                return Err(Error::Timeout("write"));
            } else {
                return Err(from_rc(rc, 0, Op::Other));
            }
        }
    }

    pub(crate) fn reap(&self) -> Result<usize, Error> {
        let mut n: c_int = 0;
        // SAFETY: a live handle; n is valid for the call.
        let rc = unsafe { ffi::ipcarc_reap(self.s(), &mut n) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Table));
        }
        Ok(n.max(0) as usize)
    }

    pub(crate) fn stats(&self) -> Stats {
        let mut raw = ffi::RawStats::default();
        let mut counters = Counters::default();
        // SAFETY: a live handle; raw and counters are valid for the calls.
        unsafe {
            ffi::ipcarc_rs_stats(self.s(), &mut raw);
            ffi::ipcarc_read_counters(self.s(), &mut counters);
        }
        // SAFETY: a live handle.
        let me = unsafe { ffi::ipcarc_slot(self.s()) };
        let mut holders = Vec::new();
        for slot in 0..raw.max_holders as u32 {
            let mut h = ffi::RawHolder::default();
            // SAFETY: a live handle; the slot index is checked by C.
            if unsafe { ffi::ipcarc_rs_holder(self.s(), slot, &mut h) } == 1 {
                holders.push(Holder {
                    slot,
                    pid: h.pid as i32,
                    start_time: h.start_time,
                    handles: h.handles as u32,
                    alive: h.alive != 0,
                    is_self: me >= 0 && me as u32 == slot,
                });
            }
        }
        Stats {
            name: self.name.to_string(),
            total_size: raw.total_size,
            value_size: raw.value_size,
            value_align: raw.value_align as u32,
            type_tag: raw.type_tag,
            ref_count: raw.refcount,
            max_holders: raw.max_holders as u32,
            holders,
            poisoned: raw.poisoned != 0,
            locked: raw.lock_owner != 0,
            lock_owner: raw.lock_owner as i32,
            version: raw.version,
            creator_pid: raw.creator_pid as i32,
            lifetime: Lifetime::from_code(raw.lifetime),
            counters,
            waiters: raw.waiters as u32,
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // SAFETY: a live handle, closed once (drop runs once, close forgets).
        let _ = unsafe { ffi::ipcarc_close(self.s()) };
    }
}

/// The value lock, held by the thread that took it, untyped. Dropping it
/// unlocks; if the thread is panicking (and was not when it locked), the value
/// is poisoned first, for every process. A lock that wrote nothing unlocks
/// without counting a write. `!Send`: a pthread mutex is unlocked by the
/// thread that locked it.
pub(crate) struct RawGuard<'a> {
    core: &'a Core,
    poison_on_panic: bool,
    pub(crate) wrote: bool,
    pub(crate) owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a> HoldsLock<'a> for RawGuard<'a> {
    fn raw(&mut self) -> &mut RawGuard<'a> {
        self
    }
}

impl RawGuard<'_> {
    pub(crate) fn s(&self) -> *mut ffi::Seg {
        self.core.s()
    }

    /// Marks the value consistent again, for every process.
    pub(crate) fn clear_poison(&mut self) -> Result<(), Error> {
        // SAFETY: a live handle whose value lock this thread holds.
        let rc = unsafe { ffi::ipcarc_clear_poison(self.s()) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Unlock));
        }
        Ok(())
    }

    /// Unlocks, reporting what dropping ignores.
    pub(crate) fn unlock(self) -> Result<(), Error> {
        let mut me = ManuallyDrop::new(self);
        let rc = me.release();
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Unlock));
        }
        Ok(())
    }

    fn release(&mut self) -> c_int {
        let s = self.s();
        if self.poison_on_panic && std::thread::panicking() {
            // SAFETY: the value lock is held by this thread (seq is odd).
            unsafe { ffi::ipcarc_rs_poison(s) };
            self.wrote = true;
        }
        // SAFETY: this thread holds the value lock (RawGuard is !Send).
        unsafe {
            if self.wrote {
                ffi::ipcarc_unlock(s)
            } else {
                ffi::ipcarc_unlock_unchanged(s)
            }
        }
    }
}

impl Drop for RawGuard<'_> {
    fn drop(&mut self) {
        let _ = self.release();
    }
}
