//! [`Options`]: how a segment is created or opened (lifetime, holders,
//! timeouts, trust), and [`Lifetime`].

use std::ffi::{c_int, c_void};
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::core::Core;
use crate::{duration_ns, ffi, tag, Error, IpcArc, PlainData};

/// When a segment goes away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lifetime {
    /// Removed when its count of handles reaches zero, in whatever process:
    /// the last drop, or the reaping of the last dead holder. As with
    /// [`std::sync::Arc`]. The default.
    #[default]
    LastClose,
    /// Kept, with the value in it, at a count of zero, until [`remove`](crate::remove) (or
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

    pub(crate) fn from_code(v: u64) -> Lifetime {
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

    pub(crate) fn spec(&self) -> Result<ffi::Spec, Error> {
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
        let core = Core::open(name, self.spec(), |cname, spec, s, _| {
            // SAFETY: value is a T, spec.value_size bytes, copied before
            // return; every pointer is valid for the call and C keeps none.
            unsafe {
                ffi::ipcarc_create(cname.as_ptr(), spec, &value as *const T as *const c_void, s)
            }
        })?;
        // SAFETY: a handle just made for a T.
        Ok(unsafe { IpcArc::wrap(core) })
    }

    /// Attaches to the existing segment `name`, which must hold a `T` (same
    /// size, alignment and type tag). See [`IpcArc::load`].
    pub fn load(&self, name: &str) -> Result<IpcArc<T>, Error> {
        let core = Core::open(name, self.spec(), |cname, spec, s, field| {
            // SAFETY: every pointer is valid for the call; C keeps none of them.
            unsafe { ffi::ipcarc_open(cname.as_ptr(), spec, s, field) }
        })?;
        // SAFETY: a handle validated for T's size, alignment and tag.
        Ok(unsafe { IpcArc::wrap(core) })
    }

    /// Attaches to `name`, or creates it holding `value` when it does not
    /// exist; the flag says whether this call created it. See
    /// [`IpcArc::open_or_new`].
    pub fn open_or_new(&self, name: &str, value: T) -> Result<(IpcArc<T>, bool), Error> {
        let mut created: c_int = 0;
        let core = Core::open(name, self.spec(), |cname, spec, s, field| {
            // SAFETY: as in new and load.
            unsafe {
                ffi::ipcarc_open_or_create(
                    cname.as_ptr(),
                    spec,
                    &value as *const T as *const c_void,
                    s,
                    &mut created,
                    field,
                )
            }
        })?;
        // SAFETY: a handle made or validated for T.
        Ok((unsafe { IpcArc::wrap(core) }, created != 0))
    }
}
