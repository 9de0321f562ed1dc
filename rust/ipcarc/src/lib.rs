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

mod arc;
mod atomic;
mod core;
mod error;
mod ffi;
mod guard;
mod options;
mod plain;
mod slice;
mod stats;

use std::ffi::{c_int, CString};
use std::time::Duration;

pub use arc::IpcArc;
pub use atomic::AtomicData;
pub use error::Error;
pub use guard::Guard;
pub use options::{Lifetime, Options};
pub use plain::PlainData;
pub use slice::{IpcSlice, SliceGuard};
pub use stats::{Counters, Holder, Stats};
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

#[cfg(test)]
mod tests;
