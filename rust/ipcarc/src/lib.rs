//! `Arc<T>` for processes: one plain-data value in POSIX shared memory,
//! shared by Rust, Go and C processes on one Linux host, behind a robust
//! process-shared mutex, with a reference count that survives `kill -9`.
//!
//! A process creates a named segment (`/dev/shm/NAME`) holding `T`; others
//! attach by name, lock, and read or change the value in place. The last
//! handle to go, in whatever process, removes the segment. A process killed
//! while holding the lock hands it on poisoned, as a thread that panics with
//! a [`std::sync::Mutex`] does. The protocol is implemented once, in C
//! (ipcarc.h, LAYOUT.md in the repository); this crate links it and gives it
//! the API the design note proposed, made sound.
//!
//! ```
//! use ipcarc::IpcArc;
//! # let name = &format!("ipcarc-test-doc-quick-{}", std::process::id());
//!
//! // creator
//! let a = IpcArc::new(name, 77u64)?;
//!
//! // any other process (here the same one)
//! let b = IpcArc::<u64>::load(name)?;
//! {
//!     let mut g = b.lock()?.unwrap(); // Err(PoisonError) if an owner died
//!     *g += 1; // in place, in shared memory
//! } // unlocked here
//!
//! assert_eq!(a.get()?, 78); // a consistent copy without the lock
//! a.store(344)?;
//! let seen = b.wait(0, None)?; // sleeps until a write after version 0
//! assert!(seen >= 1);
//! assert_eq!(a.ref_count(), 2);
//! drop(b);
//! drop(a); // the last handle removes /dev/shm/NAME
//! # assert_eq!(IpcArc::<u64>::load(name).unwrap_err(), ipcarc::Error::NotExist);
//! # Ok::<(), ipcarc::Error>(())
//! ```
//!
//! # The design note, made sound
//!
//! | design note | here |
//! |---|---|
//! | `IpcArc::new("id", 77u64)` | [`IpcArc::new`] (or [`IpcArc::options`]`()...new`) |
//! | `IpcArc::load("id")` | [`IpcArc::load`]; [`IpcArc::open_or_new`] attaches or creates |
//! | `shared.aquire()` | [`IpcArc::lock`] → `Result<LockResult<Guard>, Error>` |
//! | `lock.as_ref_mut() = 344` | `*guard = 344` ([`Guard`] is `Deref`/`DerefMut`) |
//! | `lock.drop()` | dropping the [`Guard`] unlocks |
//! | `ref_count: *const AtomicUsize` | [`IpcArc::ref_count`]; `Clone` +1, `Drop` −1 |
//! | `T` | `T:` [`PlainData`]: `Copy`, every bit pattern valid, no pointers |
//!
//! # Locking
//!
//! [`IpcArc::lock`] returns `Err(`[`Error`]`)` when the lock could not be
//! taken at all (this thread holds it already: [`Error::Deadlock`]), and
//! otherwise a [`std::sync::LockResult`], exactly as [`std::sync::Mutex::lock`]
//! does: `Ok(guard)`, or `Err(PoisonError)` carrying the guard when the value
//! is poisoned — because a process or thread died holding the lock
//! ([`Guard::owner_died`]), or because a guard was dropped during a panic.
//! The poison is shared by every process, Go's and C's included, until a
//! holder calls [`Guard::clear_poison`].
//!
//! [`Guard`] is `!Send`: a pthread mutex belongs to the thread that locked it,
//! and only that thread may unlock it, so the guard must be dropped on the
//! thread that took it. It is `Sync` (like [`std::sync::MutexGuard`]): other
//! threads may read the value through `&Guard` while the owner holds it.
//!
//! ```compile_fail,E0277
//! # let name = &format!("ipcarc-test-doc-send-{}", std::process::id());
//! let a = ipcarc::IpcArc::new(name, 0u64).unwrap();
//! let g = a.lock().unwrap().unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(move || drop(g)); // error: `*const ()` cannot be sent between threads safely
//! });
//! ```
//!
//! # Agreeing with Go and C on the type
//!
//! A segment records `T`'s size, alignment and a 64-bit type tag; a process
//! that opens it with another type is refused with
//! [`Error::TypeMismatch`] naming the field. The tag defaults to
//! `ipcarc_tag(T::type_name())` (see [`PlainData`]): Go passes
//! `WithTypeTag(name)` and C `ipcarc_tag(name)`, and the three agree without
//! sharing code.
//!
//! # Trust
//!
//! Whoever can write a segment can write into the memory of every process
//! that locks it (glibc keeps robust-list pointers in the segment and
//! follows them on unlock), and any user may take a name in /dev/shm first.
//! So opens (and [`remove`]) map a file only if its owner is this process's
//! effective uid, root, or a uid named by [`Options::trusted_owners`]; others
//! may not write it (never accepted); and its group may write it only if
//! [`Options::trusted_group`] names that group. Anything else is
//! [`Error::Untrusted`] naming the check (`"owner"` or `"mode"`), before
//! anything is mapped; `open_or_new` never adopts a name another user took.
//!
//! ```
//! use ipcarc::{Error, IpcArc};
//! use std::os::unix::fs::PermissionsExt;
//!
//! # let name = &format!("ipcarc-test-doc-trust-{}", std::process::id());
//! let a = IpcArc::new(name, 0u64)?;
//! let path = format!("/dev/shm/{}", name);
//! std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
//! assert_eq!(IpcArc::<u64>::load(name).unwrap_err(), Error::Untrusted("mode"));
//! std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
//! drop(a);
//! # Ok::<(), ipcarc::Error>(())
//! ```
//!
//! # Building
//!
//! No registry dependencies: build.rs compiles the repository's C files with
//! the system C compiler (`CC`), or links an installed libipcarc with
//! `IPCARC_PKG_CONFIG=1`. Linux only (robust mutexes), glibc ≥ 2.30.

#![warn(missing_docs)]

mod atomic;
mod error;
mod ffi;
mod plain;
mod slice;

use std::ffi::{c_int, c_void, CString};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use atomic::AtomicData;
pub use error::Error;
pub use plain::PlainData;
pub use slice::{IpcSlice, SliceGuard};
pub use std::sync::{LockResult, PoisonError};

use error::{from_rc, Op};

/// The tag `ipcarc_tag(s)` computes in C and `WithTypeTag(s)` in Go: FNV-1a
/// 64 over the bytes of `s`. (A string with a NUL byte is hashed up to it.)
///
/// ```
/// assert_eq!(ipcarc::tag("uint64"), 0x54d7_46c6_0996_6d93);
/// ```
pub fn tag(s: &str) -> u64 {
    let c = CString::new(s.split('\0').next().unwrap_or("")).expect("no NUL left");
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    unsafe { ffi::ipcarc_tag(c.as_ptr()) }
}

/// Removes the segment `name` (unlinks `/dev/shm/NAME`): the way to end a
/// segment created with [`Lifetime::UntilRemoved`]. Refused with
/// [`Error::Busy`] while live processes hold it, unless `force`; processes
/// still attached keep their mapping.
pub fn remove(name: &str, force: bool) -> Result<(), Error> {
    let (_, c) = check_name(name)?;
    // SAFETY: c is a valid NUL-terminated string for the call.
    let rc = unsafe { ffi::ipcarc_remove(c.as_ptr(), force as c_int) };
    if rc != 0 {
        return Err(from_rc(rc, 0, Op::Remove));
    }
    Ok(())
}

/// The version of the segment layout this crate speaks (LAYOUT.md), also the
/// major version of libipcarc's soname.
pub fn layout_version() -> u32 {
    ffi::consts().layout_version as u32
}

fn check_name(name: &str) -> Result<(&str, CString), Error> {
    let c = CString::new(name).map_err(|_| Error::InvalidName)?;
    // SAFETY: c is a valid NUL-terminated string for the call.
    if unsafe { ffi::ipcarc_check_name(c.as_ptr()) } != 0 {
        return Err(Error::InvalidName);
    }
    Ok((name.strip_prefix('/').unwrap_or(name), c))
}

fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// When a segment goes away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// Removed when its count of handles reaches zero, in whatever process:
    /// the last drop, or the reaping of the last dead holder. As with
    /// [`std::sync::Arc`]. The default.
    #[default]
    LastClose,
    /// Kept, with the value in it, at a count of zero, until [`remove`] (or
    /// `ipcarc rm`) takes it away, as POSIX shared memory does: the
    /// keep-after-last-close policy.
    UntilRemoved,
}

impl Lifetime {
    fn code(self) -> u32 {
        let c = ffi::consts();
        (match self {
            Lifetime::LastClose => c.lifetime_last_close,
            Lifetime::UntilRemoved => c.lifetime_until_removed,
        }) as u32
    }

    fn from_code(v: u64) -> Lifetime {
        if v as i64 == ffi::consts().lifetime_until_removed {
            Lifetime::UntilRemoved
        } else {
            Lifetime::LastClose
        }
    }
}

/// How to create or attach: mode, type tag, holder table size, open timeout
/// and lifetime. Made by [`IpcArc::options`]; the same defaults as Go's.
///
/// ```
/// use ipcarc::{IpcArc, Lifetime};
/// use std::time::Duration;
/// # let name = &format!("ipcarc-test-doc-options-{}", std::process::id());
///
/// let opts = IpcArc::<[f64; 3]>::options()
///     .mode(0o640)                      // group may read and write; default 0o600
///     .type_tag("robot.pose.v1")        // Go: WithTypeTag("robot.pose.v1")
///     .max_holders(8)                   // default 64, at most 4096
///     .open_timeout(Duration::from_secs(1))
///     .lifetime(Lifetime::UntilRemoved); // stays after the last handle goes
/// let a = opts.new(name, [0.0; 3])?;
/// drop(a);
/// let b = opts.load(name)?; // still there
/// assert_eq!(b.get()?, [0.0; 3]);
/// drop(b);
/// ipcarc::remove(name, false)?;
/// # Ok::<(), ipcarc::Error>(())
/// ```
pub struct Options<T> {
    mode: u32,
    tag: Option<u64>,
    max_holders: u32,
    open_timeout: Duration,
    lifetime: Lifetime,
    trusted: [u32; ffi::MAX_TRUSTED_UIDS],
    n_trusted: usize, // may exceed the array: spec() refuses that
    trusted_gid: Option<u32>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Options<T> {
    fn clone(&self) -> Self {
        Options {
            _t: PhantomData,
            ..*self
        }
    }
}

impl<T> fmt::Debug for Options<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("mode", &format_args!("{:#o}", self.mode))
            .field("tag", &self.tag.map(|t| format!("{:#018x}", t)))
            .field("max_holders", &self.max_holders)
            .field("open_timeout", &self.open_timeout)
            .field("lifetime", &self.lifetime)
            .field(
                "trusted_owners",
                &&self.trusted[..self.n_trusted.min(ffi::MAX_TRUSTED_UIDS)],
            )
            .field("trusted_group", &self.trusted_gid)
            .finish()
    }
}

impl<T: PlainData> Default for Options<T> {
    fn default() -> Self {
        Options {
            mode: 0o600,
            tag: None,
            max_holders: ffi::consts().default_holders as u32,
            open_timeout: Duration::from_secs(5),
            lifetime: Lifetime::LastClose,
            trusted: [0; ffi::MAX_TRUSTED_UIDS],
            n_trusted: 0,
            trusted_gid: None,
            _t: PhantomData,
        }
    }
}

impl<T: PlainData> Options<T> {
    /// The permission bits of a created segment, exactly (the umask does not
    /// apply). Default `0o600`. A mode that lets others write (`0o002`) is
    /// refused with [`Error::InvalidOption`]: whoever can write a segment can
    /// corrupt the memory of every process attached to it. Only creation uses it.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Replaces the default type tag (`T::type_name()`) by `ipcarc_tag(s)`,
    /// as Go's `WithTypeTag(s)` does. Creator and openers must agree.
    pub fn type_tag(mut self, s: &str) -> Self {
        self.tag = Some(tag(s));
        self
    }

    /// How many attachments (processes, or separate opens in one process) may
    /// hold the segment at once. Default 64, 1 to 4096. Only creation uses it.
    pub fn max_holders(mut self, n: u32) -> Self {
        self.max_holders = n;
        self
    }

    /// The bound on waiting for a creator to finish a segment, and for the
    /// holder table's lock (held by library code for a few instructions;
    /// a wait ends only if its holder stopped). Default 5 s. Never a bound
    /// on the value's lock.
    pub fn open_timeout(mut self, d: Duration) -> Self {
        self.open_timeout = d;
        self
    }

    /// When a created segment goes away (default [`Lifetime::LastClose`]).
    /// Only creation uses it.
    pub fn lifetime(mut self, l: Lifetime) -> Self {
        self.lifetime = l;
        self
    }

    /// Lets opens attach to a segment file owned by one of these uids,
    /// besides this process's effective uid and root (the only owners
    /// accepted by default), as Go's `WithTrustedOwners`. Name a uid only if
    /// you trust every process running as it: whoever may write a segment
    /// can write into the memory of each process that locks it (its robust
    /// mutexes keep glibc's robust-list pointers in the segment). Calls add
    /// up; more than 8 uids in all, or `u32::MAX`, is refused with
    /// [`Error::InvalidOption`]. Creation ignores it.
    pub fn trusted_owners(mut self, uids: &[u32]) -> Self {
        for &u in uids {
            if self.n_trusted < ffi::MAX_TRUSTED_UIDS {
                self.trusted[self.n_trusted] = u;
            }
            self.n_trusted += 1;
        }
        self
    }

    /// Lets opens attach to a segment file whose group may write it (mode
    /// `0o020`), when the file's group is `gid`, as Go's `WithTrustedGroup`.
    /// Without it a group-writable file is refused with
    /// [`Error::Untrusted`]`("mode")`. A file that others may write is
    /// refused whatever the options. Creation ignores it.
    pub fn trusted_group(mut self, gid: u32) -> Self {
        self.trusted_gid = Some(gid);
        self
    }

    fn spec(&self) -> Result<ffi::Spec, Error> {
        let c = ffi::consts();
        let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
        if size == 0 {
            return Err(Error::UnsupportedType("zero-sized type"));
        }
        if align as i64 > c.max_align {
            return Err(Error::UnsupportedType("aligned beyond 4096 bytes"));
        }
        if self.mode & 0o002 != 0 {
            return Err(Error::InvalidOption(
                "mode must not let others write the segment: whoever can write a segment \
                 can corrupt the memory of every process attached to it",
            ));
        }
        if self.max_holders < 1 || self.max_holders as i64 > c.max_holders {
            return Err(Error::InvalidOption(
                "max holders must be between 1 and 4096",
            ));
        }
        let owners = &self.trusted[..self.n_trusted.min(ffi::MAX_TRUSTED_UIDS)];
        if self.n_trusted as i64 > c.max_trusted_uids
            || owners.contains(&u32::MAX)
            || self.trusted_gid == Some(u32::MAX)
        {
            return Err(Error::InvalidOption(
                "at most 8 trusted owners, and no uid or gid u32::MAX",
            ));
        }
        let tag = match self.tag {
            Some(t) => t,
            None => tag(&T::type_name()),
        };
        Ok(ffi::Spec {
            value_size: size as u64,
            value_align: align as u32,
            max_holders: self.max_holders,
            type_tag: tag,
            mode: self.mode & 0o777,
            lifetime: self.lifetime.code(),
            // The C side reads <= 0 as its own default; zero here means
            // "do not wait".
            open_timeout_ns: duration_ns(self.open_timeout).max(1),
            trusted_uids: self.trusted,
            n_trusted_uids: self.n_trusted as u32,
            trusted_gid: self.trusted_gid.unwrap_or(0),
            trust_flags: if self.trusted_gid.is_some() {
                c.trust_group as u32
            } else {
                0
            },
            shape: 0,
        })
    }

    /// Creates the segment `name` holding `value`, exclusively:
    /// [`Error::Exist`] if the name is taken. See [`IpcArc::new`].
    #[allow(clippy::new_ret_no_self, clippy::wrong_self_convention)]
    pub fn new(&self, name: &str, value: T) -> Result<IpcArc<T>, Error> {
        let (short, cname) = check_name(name)?;
        let spec = self.spec()?;
        let mut s = ptr::null_mut();
        // SAFETY: value is a T, spec.value_size bytes, copied before return;
        // every pointer is valid for the call and C keeps none of them.
        let rc = unsafe {
            ffi::ipcarc_create(
                cname.as_ptr(),
                &spec,
                &value as *const T as *const c_void,
                &mut s,
            )
        };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Open));
        }
        // SAFETY: a handle just made for a T.
        Ok(unsafe { IpcArc::wrap(s, short) })
    }

    /// Attaches to the existing segment `name`, which must hold a `T` (same
    /// size, alignment and type tag). See [`IpcArc::load`].
    pub fn load(&self, name: &str) -> Result<IpcArc<T>, Error> {
        let (short, cname) = check_name(name)?;
        let spec = self.spec()?;
        let mut s = ptr::null_mut();
        let mut field: c_int = 0;
        // SAFETY: every pointer is valid for the call; C keeps none of them.
        let rc = unsafe { ffi::ipcarc_open(cname.as_ptr(), &spec, &mut s, &mut field) };
        if rc != 0 {
            return Err(from_rc(rc, field, Op::Open));
        }
        // SAFETY: a handle validated for T's size, alignment and tag.
        Ok(unsafe { IpcArc::wrap(s, short) })
    }

    /// Attaches to `name`, or creates it holding `value` when it does not
    /// exist; the flag says whether this call created it. See
    /// [`IpcArc::open_or_new`].
    pub fn open_or_new(&self, name: &str, value: T) -> Result<(IpcArc<T>, bool), Error> {
        let (short, cname) = check_name(name)?;
        let spec = self.spec()?;
        let mut s = ptr::null_mut();
        let (mut created, mut field): (c_int, c_int) = (0, 0);
        // SAFETY: as in new and load.
        let rc = unsafe {
            ffi::ipcarc_open_or_create(
                cname.as_ptr(),
                &spec,
                &value as *const T as *const c_void,
                &mut s,
                &mut created,
                &mut field,
            )
        };
        if rc != 0 {
            return Err(from_rc(rc, field, Op::Open));
        }
        // SAFETY: a handle made or validated for T.
        Ok((unsafe { IpcArc::wrap(s, short) }, created != 0))
    }
}

/// One handle on a `T` shared between processes through the named segment:
/// `Arc<Mutex<T>>` across processes.
///
/// Every handle counts in the segment's reference count: [`IpcArc::new`],
/// [`IpcArc::load`] and `clone` add one, drop takes one away, and the drop
/// that takes the count to zero, in whatever process, removes the segment
/// (unless it was created with [`Lifetime::UntilRemoved`]). Clones share one
/// attachment (mapping and holder slot) and may move to other threads: an
/// `IpcArc` is `Send` and `Sync`.
pub struct IpcArc<T: PlainData> {
    seg: NonNull<ffi::Seg>,
    data: NonNull<T>,
    name: Arc<str>,
    _t: PhantomData<T>,
}

// SAFETY: the C layer's calls on one attachment are thread-safe (the holder
// table has its own process-shared lock; the value is reached only under the
// value lock or through the seqlock), except that a handle's last close must
// not race its other calls, which `Drop` (taking `&mut self`) guarantees. T
// is plain data (Send + Sync by PlainData's bounds).
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
    /// `s` is a live handle whose segment holds a T (validated or created).
    unsafe fn wrap(s: *mut ffi::Seg, name: &str) -> Self {
        let seg = NonNull::new(s).expect("C returned a handle");
        let data = NonNull::new(ffi::ipcarc_data(s) as *mut T).expect("a mapped value");
        debug_assert_eq!(data.as_ptr() as usize % std::mem::align_of::<T>(), 0);
        IpcArc {
            seg,
            data,
            name: Arc::from(name),
            _t: PhantomData,
        }
    }

    fn s(&self) -> *mut ffi::Seg {
        self.seg.as_ptr()
    }

    /// The segment's name, without a leading slash.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of handles of live holders on the segment, in all
    /// processes: a killed process's handles stop counting as soon as the
    /// kernel marks it dead, before its slot is reaped (Go's `RefCount`,
    /// C's `ipcarc_refcount`).
    pub fn ref_count(&self) -> usize {
        // SAFETY: a live handle.
        unsafe { ffi::ipcarc_refcount(self.s()) }.max(0) as usize
    }

    /// Another handle on the same segment (reference count +1), sharing this
    /// handle's mapping. Fails when the holder table's lock stays held past
    /// the open timeout ([`Error::Timeout`]) or past 2^30 handles
    /// ([`Error::TooManyHolders`]). `clone` is this, panicking on failure.
    pub fn try_clone(&self) -> Result<Self, Error> {
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_clone(self.s()) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Table));
        }
        Ok(IpcArc {
            seg: self.seg,
            data: self.data,
            name: self.name.clone(),
            _t: PhantomData,
        })
    }

    /// Drops the handle and reports what dropping it ignores: the holder
    /// table's lock staying held ([`Error::Timeout`]; the handle is released
    /// all the same), or [`Error::Deadlock`] when this thread holds the lock
    /// through this attachment's last handle (impossible without leaking a
    /// [`Guard`] with `mem::forget`; the handle then stays open).
    pub fn close(self) -> Result<(), Error> {
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
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_lock(self.s()) };
        self.locked(rc, Op::Lock)
    }

    /// [`lock`](Self::lock) without waiting: [`Error::WouldBlock`] when another
    /// thread or process holds the lock.
    pub fn try_lock(&self) -> Result<LockResult<Guard<'_, T>>, Error> {
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_trylock(self.s()) };
        self.locked(rc, Op::Lock)
    }

    /// [`lock`](Self::lock) waiting at most `timeout`:
    /// [`Error::Timeout`]`("value lock")` when it stays held.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockResult<Guard<'_, T>>, Error> {
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_timedlock(self.s(), duration_ns(timeout)) };
        self.locked(rc, Op::Lock)
    }

    fn locked(&self, rc: c_int, op: Op) -> Result<LockResult<Guard<'_, T>>, Error> {
        let owner_died = if rc == 0 {
            false
        } else if ffi::is(rc, ffi::consts().e_ownerdead) {
            true
        } else {
            return Err(from_rc(rc, 0, op));
        };
        let guard = Guard {
            arc: self,
            poison_on_panic: !std::thread::panicking(),
            wrote: false,
            owner_died,
            _not_send: PhantomData,
        };
        if owner_died || self.is_poisoned() {
            Ok(Err(PoisonError::new(guard)))
        } else {
            Ok(Ok(guard))
        }
    }

    /// Whether the value is poisoned (in any process), as
    /// [`std::sync::Mutex::is_poisoned`].
    pub fn is_poisoned(&self) -> bool {
        // SAFETY: a live handle.
        unsafe { ffi::ipcarc_poisoned(self.s()) != 0 }
    }

    /// Clears the poison, taking and releasing the lock to do so, as
    /// [`std::sync::Mutex::clear_poison`]. Use it after repairing the value
    /// some other way; usually [`Guard::clear_poison`] is simpler.
    pub fn clear_poison(&self) -> Result<(), Error> {
        let mut g = self.lock()?.unwrap_or_else(PoisonError::into_inner);
        g.clear_poison()
    }

    /// Repairs a poisoned value (Go's `Arc.Recover`): takes the lock whether
    /// or not the value is poisoned, calls `f` with the value in place, clears
    /// the poison for every process when `f` returns `Ok`, and unlocks. The
    /// outer `Result` is the locking's; the inner one is `f`'s (on `Err` the
    /// poison stays). On a healthy value it behaves like
    /// [`update`](Self::update). If `f` panics, the value stays poisoned.
    /// [`lock`](Self::lock) keeps std's shape (a [`PoisonError`] whose
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
        let mut g = self.lock()?.unwrap_or_else(PoisonError::into_inner);
        let r = f(&mut g);
        if r.is_ok() && self.is_poisoned() {
            g.clear_poison()?;
        }
        drop(g);
        Ok(r)
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
        let mut g = match self.lock()? {
            Ok(g) => g,
            Err(p) => {
                let g = p.into_inner();
                return Err(if g.owner_died {
                    Error::OwnerDead
                } else {
                    Error::Poisoned
                });
            }
        };
        let r = f(&mut g);
        // SAFETY: a live handle whose value lock this thread holds (g).
        unsafe { ffi::ipcarc_rs_count_update(self.s()) };
        drop(g);
        Ok(r)
    }

    /// A consistent copy of the value, without the lock and without blocking
    /// on a writer for long (a seqlock read; a writer that stays inside, or
    /// died inside, sends it to the lock). Go's `Load` and C's `ipcarc_load`.
    /// A poisoned value is refused with [`Error::Poisoned`]; a read never
    /// reports [`Error::OwnerDead`], which is kept for the next
    /// [`lock`](Self::lock) (it hands the value over through a
    /// [`PoisonError`] whose guard says [`Guard::owner_died`]).
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
        // SAFETY: a live handle.
        if unsafe { ffi::ipcarc_rs_lock_is_mine(self.s()) } != 0 {
            return Err(Error::Deadlock);
        }
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
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_notify(self.s()) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Other));
        }
        Ok(())
    }

    /// The number of completed writes of the value (a guard that wrote
    /// through `DerefMut`, a [`store`](Self::store), an
    /// [`update`](Self::update)), modulo 2^31. It changes exactly when a
    /// write ends.
    pub fn version(&self) -> u64 {
        // SAFETY: a live handle.
        u64::from(unsafe { ffi::ipcarc_version(self.s()) })
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

    /// Removes the references of holders that died without closing (killed,
    /// crashed) and returns how many handles that was. Never waits on the
    /// value's lock. Opening and the last drop reap as they go.
    pub fn reap(&self) -> Result<usize, Error> {
        let mut n: c_int = 0;
        // SAFETY: a live handle; n is valid for the call.
        let rc = unsafe { ffi::ipcarc_reap(self.s(), &mut n) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Table));
        }
        Ok(n.max(0) as usize)
    }

    /// A snapshot of the segment's header, counters and holder table, taken
    /// without any lock (counts may be in motion while it reads).
    pub fn stats(&self) -> Stats {
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

impl<T: PlainData> Clone for IpcArc<T> {
    /// [`try_clone`](IpcArc::try_clone), panicking when it fails (as
    /// `std::sync::Arc::clone` aborts past `isize::MAX` references).
    fn clone(&self) -> Self {
        self.try_clone()
            .unwrap_or_else(|e| panic!("ipcarc: clone {:?}: {}", self.name, e))
    }
}

impl<T: PlainData> Drop for IpcArc<T> {
    /// Gives the handle's reference back; the drop that takes the count to
    /// zero, in whatever process, removes the segment. Errors are ignored:
    /// [`IpcArc::close`] reports them.
    fn drop(&mut self) {
        // SAFETY: a live handle, closed once (drop runs once, close forgets).
        let _ = unsafe { ffi::ipcarc_close(self.s()) };
    }
}

impl<T: PlainData> fmt::Debug for IpcArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcArc")
            .field("name", &self.name)
            .field("type", &T::type_name())
            .field("ref_count", &self.ref_count())
            .field("poisoned", &self.is_poisoned())
            .finish()
    }
}

/// The lock on a segment's value, held by the thread that called
/// [`IpcArc::lock`] until the guard is dropped. Dereferences to the value in
/// the shared mapping (zero copy).
///
/// Dropping it unlocks; if the thread is panicking (and was not when it
/// locked), the value is poisoned first, for every process, as
/// [`std::sync::MutexGuard`] does. A guard that was never dereferenced
/// mutably unlocks without counting a write (the version stays, nobody wakes).
///
/// `!Send`: a pthread mutex must be unlocked by the thread that locked it
/// (the C side checks the owner's thread id, and would refuse). `Sync`:
/// `&Guard` only reads.
pub struct Guard<'a, T: PlainData> {
    arc: &'a IpcArc<T>,
    poison_on_panic: bool,
    wrote: bool,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: through &Guard other threads can only read the value, which the
// lock keeps unchanged (no process writes without it, and the owning thread
// cannot write while the shared borrow lives); T is Sync (PlainData).
unsafe impl<T: PlainData> Sync for Guard<'_, T> {}

impl<'a, T: PlainData> Guard<'a, T> {
    /// True when this lock was the first to see that the previous owner died
    /// holding it (Go's `ErrOwnerDead`, C's `EOWNERDEAD`). The value is then
    /// poisoned and may be half-written.
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// Marks the value consistent again, for every process: call it once the
    /// value has been checked or repaired. (Go's `Guard.ClearPoison`, C's
    /// `ipcarc_clear_poison`.) The C side checks that the calling thread
    /// holds the lock, as unlock does: [`Error::NotOwner`] otherwise (a guard
    /// is not `Send`, so that cannot happen through safe code).
    pub fn clear_poison(&mut self) -> Result<(), Error> {
        // SAFETY: a live handle whose value lock this thread holds.
        let rc = unsafe { ffi::ipcarc_clear_poison(self.arc.s()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(from_rc(rc, 0, Op::Unlock))
        }
    }

    /// The handle this guard locks.
    pub fn arc(&self) -> &'a IpcArc<T> {
        self.arc
    }

    /// Unlocks, reporting what dropping the guard ignores (a mutex a peer
    /// overwrote: [`Error::Corrupt`]).
    pub fn unlock(self) -> Result<(), Error> {
        let mut me = ManuallyDrop::new(self);
        let rc = me.release();
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Unlock));
        }
        Ok(())
    }

    fn release(&mut self) -> c_int {
        let s = self.arc.s();
        if self.poison_on_panic && std::thread::panicking() {
            // SAFETY: the value lock is held by this thread (seq is odd).
            unsafe { ffi::ipcarc_rs_poison(s) };
            self.wrote = true;
        }
        // SAFETY: this thread holds the value lock (Guard is !Send).
        unsafe {
            if self.wrote {
                ffi::ipcarc_unlock(s)
            } else {
                ffi::ipcarc_unlock_unchanged(s)
            }
        }
    }
}

impl<T: PlainData> Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the value lock is held: no process writes the value, and
        // `data` is a valid, aligned T in the mapping for as long as the
        // handle (borrowed by the guard) lives.
        unsafe { self.arc.data.as_ref() }
    }
}

impl<T: PlainData> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.wrote = true;
        // SAFETY: as in deref, and `&mut self` makes this the only reference
        // in this process (one guard per lock; Guard is !Send).
        unsafe { &mut *self.arc.data.as_ptr() }
    }
}

impl<T: PlainData> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        let _ = self.release();
    }
}

impl<T: PlainData + fmt::Debug> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("value", &**self)
            .field("owner_died", &self.owner_died)
            .finish()
    }
}

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
    reserved: [u64; 8],
}

/// A snapshot of a segment's header and holder table ([`IpcArc::stats`]);
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
    /// Completed writes ([`IpcArc::version`]).
    pub version: u64,
    /// The creator's pid (in its namespace); informational.
    pub creator_pid: i32,
    /// When the segment goes away.
    pub lifetime: Lifetime,
    /// What the value lock has been doing.
    pub counters: Counters,
    /// Threads asleep in [`IpcArc::wait`] (one per Go attachment with
    /// waiters), over all processes.
    pub waiters: u32,
}

#[cfg(test)]
mod tests;
