//! [`IpcArc`]: one handle on a `T` shared between processes (create, open,
//! lock, copy, store, wait, count, inspect, drop).

use std::ffi::c_void;
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::LockResult;
use std::time::Duration;

use crate::core::{Core, RawGuard, Wait};
use crate::error::{from_rc, Op};
use crate::{ffi, AtomicData, Error, Guard, Options, PlainData, Stats};

/// One handle on a `T` shared between processes through the named segment:
/// `Arc<Mutex<T>>` across processes.
///
/// Every handle counts in the segment's reference count: [`IpcArc::new`],
/// [`IpcArc::load`] and `clone` add one, drop takes one away, and the drop
/// that takes the count to zero, in whatever process, removes the segment
/// (unless it was created with
/// [`Lifetime::UntilRemoved`](crate::Lifetime::UntilRemoved)). Drop ignores
/// errors: [`IpcArc::close`] reports them. Clones share one attachment
/// (mapping and holder slot) and may move to other threads: an `IpcArc` is
/// `Send` and `Sync`.
pub struct IpcArc<T: PlainData> {
    core: Core,
    pub(crate) data: NonNull<T>,
    _t: PhantomData<T>,
}

// SAFETY: the core is Send and Sync (see core.rs); `data` points into the
// core's mapping and is reached only under the value lock or by copy. T is
// plain data (Send + Sync by PlainData's bounds).
unsafe impl<T: PlainData> Send for IpcArc<T> {}
// SAFETY: as for Send; `&IpcArc` gives access to the value only through the
// lock (a Guard) or by copy.
unsafe impl<T: PlainData> Sync for IpcArc<T> {}

impl<T: PlainData> IpcArc<T> {
    /// Creates the segment `name` holding `value`, exclusively
    /// ([`Error::Exist`] if the name is taken), with the default options: mode
    /// 0600, the type tag of `T::type_name()`, 64 holders, removed with the
    /// last handle. The name is `jobs` or `/jobs`: after the optional slash,
    /// 1 to 200 bytes of `[A-Za-z0-9._-]`, not `.` or `..`.
    pub fn new(name: &str, value: T) -> Result<Self, Error> {
        Options::default().new(name, value)
    }

    /// Attaches to the existing segment `name` ([`Error::NotExist`] if there
    /// is none), which must hold a `T`: same size and alignment, and the same
    /// type tag ([`Error::TypeMismatch`] naming the field that differs).
    pub fn load(name: &str) -> Result<Self, Error> {
        Options::default().load(name)
    }

    /// Attaches to `name`, or creates it holding `value` when it does not
    /// exist; `true` if this call created it. Of many processes racing,
    /// exactly one creates.
    pub fn open_or_new(name: &str, value: T) -> Result<(Self, bool), Error> {
        Options::default().open_or_new(name, value)
    }

    /// The options builder, starting from the defaults.
    pub fn options() -> Options<T> {
        Options::default()
    }

    /// # Safety
    /// `core` is a live handle whose segment holds a T (validated or created).
    pub(crate) unsafe fn wrap(core: Core) -> Self {
        let data = core.data::<T>();
        debug_assert_eq!(data.as_ptr() as usize % std::mem::align_of::<T>(), 0);
        IpcArc {
            core,
            data,
            _t: PhantomData,
        }
    }

    pub(crate) fn s(&self) -> *mut ffi::Seg {
        self.core.s()
    }

    /// The segment's name, without a leading slash.
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The number of handles of live holders on the segment, in all
    /// processes: a killed process's handles stop counting as soon as the
    /// kernel marks it dead, before its slot is reaped (Go's `RefCount`,
    /// C's `ipcarc_refcount`).
    pub fn ref_count(&self) -> usize {
        self.core.ref_count()
    }

    /// Another handle on the same segment (reference count +1), sharing this
    /// handle's mapping. Fails when the holder table's lock stays held past
    /// the open timeout ([`Error::Timeout`]) or past 2^30 handles
    /// ([`Error::TooManyHolders`]). `clone` is this, panicking on failure.
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(IpcArc {
            core: self.core.try_clone()?,
            data: self.data,
            _t: PhantomData,
        })
    }

    /// Drops the handle and reports what dropping it ignores: the holder
    /// table's lock staying held ([`Error::Timeout`]; the handle is released
    /// all the same), or [`Error::Deadlock`] when this thread holds the lock
    /// through this attachment's last handle (impossible without leaking a
    /// [`Guard`] with `mem::forget`; the handle then stays open).
    pub fn close(self) -> Result<(), Error> {
        self.core.close()
    }

    /// Acquires the segment's robust, process-shared mutex, blocking until it
    /// is free, and returns the guard; dropping the guard unlocks.
    ///
    /// - `Err(`[`Error::Deadlock`]`)`: this thread holds the lock already
    ///   (through this or another handle on the segment); other errors mean the
    ///   lock was not taken either ([`Error::Corrupt`] for a mutex a peer
    ///   overwrote, [`Error::Forked`] for a handle inherited through fork).
    /// - `Ok(Ok(guard))`: the lock, and a value nobody poisoned.
    /// - `Ok(Err(poison))`: the lock, but the value is poisoned: its previous
    ///   owner, in some process, died inside its critical section
    ///   ([`Guard::owner_died`] says so to the first locker after the death),
    ///   or a guard was dropped during a panic. As with
    ///   [`std::sync::Mutex::lock`], `poison.into_inner()` is the guard;
    ///   [`Guard::clear_poison`] ends the poison for every process.
    ///
    /// ```
    /// # use ipcarc::IpcArc;
    /// # let name = &format!("ipcarc-test-doc-lock-{}", std::process::id());
    /// let a = IpcArc::new(name, [0u32; 4])?;
    /// let mut g = a.lock()?.unwrap_or_else(|poison| {
    ///     let mut g = poison.into_inner();
    ///     g.clear_poison().expect("this thread holds the lock"); // after repairing *g
    ///     g
    /// });
    /// g[0] = 7;
    /// assert_eq!(a.lock().unwrap_err(), ipcarc::Error::Deadlock); // error-checking mutex
    /// drop(g);
    /// assert_eq!(a.get()?, [7, 0, 0, 0]);
    /// # Ok::<(), ipcarc::Error>(())
    /// ```
    pub fn lock(&self) -> Result<LockResult<Guard<'_, T>>, Error> {
        self.locked(Wait::Block)
    }

    /// [`lock`](Self::lock) without waiting: [`Error::WouldBlock`] when another
    /// thread or process holds the lock.
    pub fn try_lock(&self) -> Result<LockResult<Guard<'_, T>>, Error> {
        self.locked(Wait::Try)
    }

    /// [`lock`](Self::lock) waiting at most `timeout`:
    /// [`Error::Timeout`]`("value lock")` when it stays held.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockResult<Guard<'_, T>>, Error> {
        self.locked(Wait::Timeout(timeout))
    }

    fn locked(&self, how: Wait) -> Result<LockResult<Guard<'_, T>>, Error> {
        self.core.lock(how, |raw| self.guard(raw))
    }

    fn guard<'a>(&'a self, raw: RawGuard<'a>) -> Guard<'a, T> {
        Guard { arc: self, raw }
    }

    /// Whether the value is poisoned (in any process), as
    /// [`std::sync::Mutex::is_poisoned`].
    pub fn is_poisoned(&self) -> bool {
        self.core.is_poisoned()
    }

    /// Clears the poison, taking and releasing the lock to do so, as
    /// [`std::sync::Mutex::clear_poison`]. Use it after repairing the value
    /// some other way; usually [`Guard::clear_poison`] is simpler.
    pub fn clear_poison(&self) -> Result<(), Error> {
        self.core.clear_poison()
    }

    /// Repairs a poisoned value (Go's `Arc.Recover`): takes the lock whether
    /// or not the value is poisoned, calls `f` with the value in place, clears
    /// the poison for every process when `f` returns `Ok`, and unlocks. The
    /// outer `Result` is the locking's; the inner one is `f`'s (on `Err` the
    /// poison stays). On a healthy value it behaves like
    /// [`update`](Self::update). If `f` panics, the value stays poisoned.
    /// [`lock`](Self::lock) keeps std's shape (a [`PoisonError`](std::sync::PoisonError) whose
    /// `into_inner` is the guard); `recover` is the one call that says
    /// "repair", in every language.
    ///
    /// ```
    /// # use ipcarc::IpcArc;
    /// # let name = &format!("ipcarc-test-doc-recover-{}", std::process::id());
    /// let a = IpcArc::new(name, 1u64)?;
    /// let _ = std::panic::catch_unwind(|| a.update(|_| panic!("half-way")));
    /// assert!(a.is_poisoned());
    /// assert_eq!(a.recover(|v| if *v > 0 { Err("not yet") } else { Ok(()) })?, Err("not yet"));
    /// assert!(a.is_poisoned());
    /// a.recover(|v| { *v = 0; Ok::<(), ()>(()) })?.unwrap();
    /// assert!(!a.is_poisoned());
    /// # Ok::<(), ipcarc::Error>(())
    /// ```
    pub fn recover<E>(
        &self,
        f: impl FnOnce(&mut T) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        self.core.recover(|raw| self.guard(raw), |g| f(g))
    }

    /// Locks, calls `f` with the value in place, and unlocks; `f`'s result is
    /// returned. If `f` panics, the guard's drop poisons the value and
    /// unlocks, and the panic goes on (as with [`std::sync::Mutex`]). A
    /// poisoned value is not handed to `f`: [`Error::Poisoned`], or
    /// [`Error::OwnerDead`] when this call is the first to see an owner's
    /// death (repair with [`recover`](Self::recover)).
    ///
    /// ```
    /// # use ipcarc::IpcArc;
    /// # let name = &format!("ipcarc-test-doc-update-{}", std::process::id());
    /// let a = IpcArc::new(name, 1u64)?;
    /// let before = a.update(|v| std::mem::replace(v, 2))?;
    /// assert_eq!((before, a.get()?), (1, 2));
    ///
    /// let panicked = std::panic::catch_unwind(|| a.update(|_| panic!("half-way")));
    /// assert!(panicked.is_err());
    /// assert!(a.is_poisoned()); // and the lock is free again:
    /// assert_eq!(a.update(|v| *v), Err(ipcarc::Error::Poisoned));
    /// a.clear_poison()?;
    /// assert_eq!(a.update(|v| *v)?, 2);
    /// # Ok::<(), ipcarc::Error>(())
    /// ```
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        self.core.update(|raw| self.guard(raw), |g| f(g))
    }

    /// A consistent copy of the value, without the lock and without blocking
    /// on a writer for long (a seqlock read; a writer that stays inside, or
    /// died inside, sends it to the lock). Go's `Load` and C's `ipcarc_load`.
    /// A poisoned value is refused with [`Error::Poisoned`]; a read never
    /// reports [`Error::OwnerDead`], which is kept for the next
    /// [`lock`](Self::lock) (it hands the value over through a
    /// [`PoisonError`](std::sync::PoisonError) whose guard says [`Guard::owner_died`]).
    ///
    /// (The design note's `load(name)` is the constructor, so the read is `get`,
    /// as for [`std::cell::Cell::get`].)
    ///
    /// On the thread that holds the lock (a guard, or inside
    /// [`update`](Self::update)) it returns [`Error::Deadlock`]: a `&mut T`
    /// into the value may be live there, and read the value through it.
    ///
    /// Like every seqlock read, the copy may overlap a writer in another
    /// process; the sequence word tells, and a torn copy is never returned.
    pub fn get(&self) -> Result<T, Error> {
        self.core.refuse_locker()?;
        let mut v = MaybeUninit::<T>::uninit();
        // SAFETY: v has room for size_of::<T>() bytes, the segment's value
        // size (validated at attach); C copies exactly that.
        let rc = unsafe {
            ffi::ipcarc_load(
                self.s(),
                v.as_mut_ptr() as *mut c_void,
                std::mem::size_of::<T>(),
            )
        };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Other));
        }
        // SAFETY: fully written by C, and every bit pattern is a T (PlainData).
        Ok(unsafe { v.assume_init() })
    }

    /// Replaces the value: lock, copy, bump the version, unlock, in one call
    /// into C, waking every [`wait`](Self::wait). A poisoned value is not
    /// overwritten: [`Error::Poisoned`]. A store never reports
    /// [`Error::OwnerDead`]: that news is kept for the next lock.
    pub fn store(&self, value: T) -> Result<(), Error> {
        // SAFETY: value is a T, size_of::<T>() bytes, read during the call only.
        let rc = unsafe {
            ffi::ipcarc_store(
                self.s(),
                &value as *const T as *const c_void,
                std::mem::size_of::<T>(),
            )
        };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Lock));
        }
        Ok(())
    }

    /// The value in place as `A`, its atomic twin (same size, alignment at
    /// most `T`'s), for lock-free use: any process may change its fields at
    /// any time without the lock, with the same sequentially consistent
    /// operations as Go's `Arc.Atomic` and C's `__atomic` builtins on
    /// `ipcarc_data` (see [`AtomicData`]). `T` is the plain twin the segment
    /// is opened with (`u64` for `AtomicU64`, `[u64; 8]` for
    /// `[AtomicU64; 8]`, a `#[repr(C)]` struct of integers for one of
    /// atomics), because [`PlainData`] is `Copy` and atomics are not.
    ///
    /// The reference lives as long as this handle. From then on this
    /// attachment's `get` and `store` copy the value one atomic word at a
    /// time (`ipcarc_word_copy`), so that a copy never tears a field changed
    /// lock-free; `get` returns a snapshot in which each field was read
    /// atomically. `store` (and a guard's write) replaces the whole value
    /// under the lock and can overwrite a concurrent lock-free add. A
    /// lock-free change moves no version and wakes no `wait`: call
    /// [`notify`](Self::notify).
    ///
    /// [`Error::UnsupportedType`]`("atomic view size")` when `A`'s size
    /// differs from `T`'s, or its alignment is larger.
    ///
    /// ```
    /// # use ipcarc::IpcArc;
    /// # use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    /// # let name = &format!("ipcarc-test-doc-atomic-{}", std::process::id());
    /// let a = IpcArc::new(name, [0u64; 4])?;
    /// let hits: &[AtomicU64; 4] = a.atomic()?;
    /// hits[2].fetch_add(1, SeqCst);
    /// a.notify()?;
    /// assert_eq!(a.get()?[2], 1);
    /// # Ok::<(), ipcarc::Error>(())
    /// ```
    pub fn atomic<A: AtomicData>(&self) -> Result<&A, Error> {
        if std::mem::size_of::<A>() != std::mem::size_of::<T>()
            || std::mem::align_of::<A>() > std::mem::align_of::<T>()
        {
            return Err(Error::UnsupportedType("atomic view size"));
        }
        // SAFETY: a live handle. EINVAL (a size not a multiple of 4, e.g.
        // [AtomicU8; 3]) leaves plain copies: such a value has no field a
        // plain copy could tear beyond a byte.
        unsafe { ffi::ipcarc_word_copy(self.s(), 1) };
        // SAFETY: the mapping lives as long as the handle (the borrow of
        // self); the value has A's size and at least its alignment; every
        // bit pattern is an A (AtomicData), and all access through &A is
        // atomic.
        Ok(unsafe { &*(self.data.as_ptr() as *const A) })
    }

    /// After a lock-free change through [`atomic`](Self::atomic): a new
    /// version (the sequence word += 2, one atomic add that keeps the
    /// seqlock sound) and a wake-up of every [`wait`](Self::wait) in every
    /// process. Takes no lock; may be called while holding it.
    pub fn notify(&self) -> Result<(), Error> {
        self.core.notify()
    }

    /// The number of completed writes of the value (a guard that wrote
    /// through `DerefMut`, a [`store`](Self::store), an
    /// [`update`](Self::update)), modulo 2^31. It changes exactly when a
    /// write ends.
    pub fn version(&self) -> u64 {
        self.core.version()
    }

    /// Sleeps until the version differs from `since` (usually an earlier
    /// [`version`](Self::version)) and returns the new one; at once if it
    /// already differs. `None` waits for ever; a timeout that passes is
    /// [`Error::Timeout`]`("write")`. The sleep is a futex wait on the
    /// segment's sequence word, woken by writers in any process.
    ///
    /// ```
    /// # use ipcarc::IpcArc;
    /// # use std::time::Duration;
    /// # let name = &format!("ipcarc-test-doc-wait-{}", std::process::id());
    /// let a = IpcArc::new(name, 0u64)?;
    /// let v0 = a.version();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| a.store(1).unwrap());
    ///     let v1 = a.wait(v0, Some(Duration::from_secs(10))).unwrap();
    ///     assert_ne!(v1, v0);
    /// });
    /// assert_eq!(a.wait(a.version(), Some(Duration::from_millis(10))),
    ///            Err(ipcarc::Error::Timeout("write")));
    /// # Ok::<(), ipcarc::Error>(())
    /// ```
    pub fn wait(&self, since: u64, timeout: Option<Duration>) -> Result<u64, Error> {
        self.core.wait(since, timeout)
    }

    /// Removes the references of holders that died without closing (killed,
    /// crashed) and returns how many handles that was. Never waits on the
    /// value's lock. Opening and the last drop reap as they go.
    pub fn reap(&self) -> Result<usize, Error> {
        self.core.reap()
    }

    /// A snapshot of the segment's header, counters and holder table, taken
    /// without any lock (counts may be in motion while it reads).
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }
}

impl<T: PlainData> Clone for IpcArc<T> {
    /// [`try_clone`](IpcArc::try_clone), panicking when it fails (as
    /// `std::sync::Arc::clone` aborts past `isize::MAX` references).
    fn clone(&self) -> Self {
        IpcArc {
            core: self.core.clone_or_panic(),
            data: self.data,
            _t: PhantomData,
        }
    }
}

impl<T: PlainData> fmt::Debug for IpcArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcArc")
            .field("name", &self.name())
            .field("type", &T::type_name())
            .field("ref_count", &self.ref_count())
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}
