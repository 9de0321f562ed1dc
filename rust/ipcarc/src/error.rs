//! One error type with the cases of Go's sentinel errors (errors.go), so that
//! the same failure has the same name in Go, Rust and C (whose errno values
//! are mapped here, by the C side's own constants).

use std::ffi::{c_int, CStr};
use std::fmt;
use std::io;

use crate::ffi;

/// Every error of this crate: the cases of Go's `ErrExist`, `ErrNotExist`, ...
/// sentinels, plus [`Error::Os`] for a system call's own errno.
///
/// Cases that name a check carry the C side's name for it (`"type tag"`,
/// `"value size"`, `"layout version"`, `"holder table lock"`...), the same
/// words Go's errors use.
///
/// ```
/// use ipcarc::{Error, IpcArc};
///
/// let err = IpcArc::<u64>::load("ipcarc-test-doc-nobody-made-this").unwrap_err();
/// assert_eq!(err, Error::NotExist);
/// assert_eq!(err.to_string(), "ipcarc: segment does not exist");
/// // Convertible to io::Error with a matching kind.
/// assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::NotFound);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Creating: the name is taken (`ErrExist`, `EEXIST`).
    Exist,
    /// No segment has that name, or it is being removed (`ErrNotExist`, `ENOENT`).
    NotExist,
    /// The name is not `[/]` and 1-200 bytes of `[A-Za-z0-9._-]`, or is `.` or `..`
    /// (`ErrInvalidName`).
    InvalidName,
    /// `T` cannot live in a segment (zero-sized, or aligned beyond 4096 bytes)
    /// (`ErrUnsupportedType`).
    UnsupportedType(&'static str),
    /// The segment holds another type: the named field (value size, value
    /// alignment or type tag) differs (`ErrTypeMismatch`, `EPROTOTYPE`).
    TypeMismatch(&'static str),
    /// The segment was made by an incompatible build: layout version or ABI
    /// word (`ErrIncompatible`, `EPROTONOSUPPORT`).
    Incompatible(&'static str),
    /// The segment is corrupt or not an ipcarc segment; the named check failed
    /// (`ErrCorrupt`, `EBADMSG`).
    Corrupt(&'static str),
    /// The handle is closed (`ErrClosed`). A Rust handle cannot be used after
    /// it is dropped, so this crate never returns it; it is here so that the
    /// cases are Go's.
    Closed,
    /// The lock is held (`ErrWouldBlock`, `EBUSY` from a try-lock).
    WouldBlock,
    /// The previous lock owner died inside its critical section; the value is
    /// poisoned (`ErrOwnerDead`, `EOWNERDEAD`). [`IpcArc::lock`](crate::IpcArc::lock)
    /// reports it through a [`PoisonError`](std::sync::PoisonError) instead.
    OwnerDead,
    /// The value is poisoned until a lock holder clears it (`ErrPoisoned`,
    /// `ENOTRECOVERABLE`).
    Poisoned,
    /// Unlock by a thread that does not hold the lock (`ErrNotOwner`, `EPERM`).
    NotOwner,
    /// This thread already holds the lock (`ErrDeadlock`, `EDEADLK`).
    Deadlock,
    /// A bounded wait ran out: the named lock or a creator
    /// (`ErrTimeout`, `ETIMEDOUT`).
    Timeout(&'static str),
    /// The holder table is full, even after reaping dead holders, or one
    /// attachment holds 2^30 handles (`ErrTooManyHolders`, `EUSERS`).
    TooManyHolders,
    /// An option is out of range; says which (`ErrInvalidOption`).
    InvalidOption(&'static str),
    /// Not supported on this platform (`ErrUnsupported`).
    Unsupported,
    /// [`remove`](crate::remove) without force while live holders exist or a
    /// creator is still at work (`ErrBusy`).
    Busy,
    /// The handle was inherited through fork without exec; the child holds
    /// nothing of its parent's (`ErrForked`, `ECHILD`).
    Forked,
    /// The segment file fails the trust rule, so it was not mapped: the named
    /// check failed: `"owner"` (not this process's effective uid, root, or
    /// an owner named by [`Options::trusted_owners`](crate::Options::trusted_owners)),
    /// or `"mode"` (others may write it, or its group may and
    /// [`Options::trusted_group`](crate::Options::trusted_group) does not
    /// name that group) (`ErrUntrusted`, `EACCES`).
    Untrusted(&'static str),
    /// A slice operation past its bounds: a store or length beyond the
    /// capacity, or an index at or past the length (`ErrOutOfRange`,
    /// `ERANGE`). Nothing changed.
    OutOfRange,
    /// Any other failure: the errno of the failing system call (`EACCES`,
    /// `ENOSPC`, ...), as [`std::io::Error::from_raw_os_error`] reads it.
    Os(i32),
}

impl Error {
    /// The errno this error carries, for [`Error::Os`].
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Os(e) => Some(*e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The texts of Go's sentinels, and the field in words.
        match self {
            Error::Exist => f.write_str("ipcarc: segment already exists"),
            Error::NotExist => f.write_str("ipcarc: segment does not exist"),
            Error::InvalidName => f.write_str("ipcarc: invalid segment name"),
            Error::UnsupportedType(why) => {
                write!(f, "ipcarc: type cannot live in shared memory: {}", why)
            }
            Error::TypeMismatch(field) => {
                write!(f, "ipcarc: segment holds another type: {} differs", field)
            }
            Error::Incompatible(field) => write!(
                f,
                "ipcarc: segment made by an incompatible build: {} differs",
                field
            ),
            Error::Corrupt(field) => write!(
                f,
                "ipcarc: segment is corrupt or not an ipcarc segment: {}",
                field
            ),
            Error::Closed => f.write_str("ipcarc: handle is closed"),
            Error::WouldBlock => f.write_str("ipcarc: lock is held"),
            Error::OwnerDead => f.write_str("ipcarc: previous lock owner died"),
            Error::Poisoned => f.write_str("ipcarc: value is poisoned"),
            Error::NotOwner => f.write_str("ipcarc: lock not held by this thread"),
            Error::Deadlock => {
                f.write_str("ipcarc: operation would deadlock on a lock this thread holds")
            }
            Error::Timeout(what) => write!(f, "ipcarc: timed out waiting for the {}", what),
            Error::TooManyHolders => f.write_str("ipcarc: holder table is full"),
            Error::InvalidOption(why) => write!(f, "ipcarc: invalid option: {}", why),
            Error::Unsupported => f.write_str("ipcarc: needs linux"),
            Error::Busy => f.write_str("ipcarc: segment is busy (it has live holders, or its creator is still initialising it)"),
            Error::Forked => f.write_str("ipcarc: handle was inherited through fork"),
            Error::Untrusted(field) => {
                write!(f, "ipcarc: segment file is not trusted: {} refused", field)
            }
            Error::OutOfRange => f.write_str("ipcarc: index or length out of range"),
            Error::Os(e) => write!(f, "ipcarc: {}", io::Error::from_raw_os_error(*e)),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e {
            Error::Os(n) => return io::Error::from_raw_os_error(n),
            Error::Exist => io::ErrorKind::AlreadyExists,
            Error::NotExist => io::ErrorKind::NotFound,
            Error::InvalidName | Error::InvalidOption(_) | Error::UnsupportedType(_) => {
                io::ErrorKind::InvalidInput
            }
            Error::TypeMismatch(_) | Error::Incompatible(_) | Error::Corrupt(_) => {
                io::ErrorKind::InvalidData
            }
            Error::WouldBlock => io::ErrorKind::WouldBlock,
            Error::Untrusted(_) => io::ErrorKind::PermissionDenied,
            Error::Timeout(_) => io::ErrorKind::TimedOut,
            Error::Unsupported => io::ErrorKind::Unsupported,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// What an operation was doing, where an errno means different things.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Open,
    Lock,
    Unlock,
    Table,
    Remove,
    Other,
}

/// The C side's name of a validation field: a string literal in ipcarc.h's
/// implementation, so it lives as long as the program.
pub(crate) fn field_name(field: c_int) -> &'static str {
    // SAFETY: ipcarc_field_name returns a static NUL-terminated string for
    // any input ("unknown" for values it does not know).
    let s: &'static CStr = unsafe { CStr::from_ptr(ffi::ipcarc_field_name(field)) };
    s.to_str().unwrap_or("unknown")
}

/// Turns a return code of the C API into an Error: the one place where errno
/// values become cases (Go's fromErrno). field is the validation field the C
/// side reported, 0 when none.
pub(crate) fn from_rc(rc: c_int, field: c_int, op: Op) -> Error {
    let c = ffi::consts();
    let e = |v: i64| ffi::is(rc, v);
    let named = |default: &'static str| {
        if field as i64 != c.field_none {
            field_name(field)
        } else {
            default
        }
    };
    if e(c.e_noent) {
        Error::NotExist
    } else if e(c.e_exist) {
        Error::Exist
    } else if e(c.e_badmsg) {
        Error::Corrupt(named(if op == Op::Lock || op == Op::Unlock {
            "mutex kind"
        } else {
            "segment"
        }))
    } else if e(c.e_loop) || e(c.e_isdir) || e(c.e_nodev) {
        Error::Corrupt("file type")
    } else if e(c.e_protonosupport) {
        Error::Incompatible(named("layout"))
    } else if e(c.e_prototype) {
        Error::TypeMismatch(named("type"))
    } else if e(c.e_timedout) {
        Error::Timeout(named(match op {
            Op::Lock => "value lock",
            Op::Open => "segment",
            _ => "holder table lock",
        }))
    } else if e(c.e_users) {
        Error::TooManyHolders
    } else if e(c.e_child) {
        Error::Forked
    } else if e(c.e_ownerdead) {
        Error::OwnerDead
    } else if e(c.e_notrecoverable) {
        Error::Poisoned
    } else if e(c.e_busy) || e(c.e_inprogress) {
        if op == Op::Remove {
            Error::Busy
        } else {
            Error::WouldBlock
        }
    } else if e(c.e_acces) && (field as i64 == c.field_owner || field as i64 == c.field_mode) {
        Error::Untrusted(field_name(field))
    } else if e(c.e_deadlk) {
        Error::Deadlock
    } else if e(c.e_range) {
        Error::OutOfRange
    } else if e(c.e_perm) && op == Op::Unlock {
        Error::NotOwner
    } else if (e(c.e_inval) || e(c.e_nametoolong)) && op == Op::Remove {
        Error::InvalidName
    } else {
        Error::Os(rc)
    }
}
