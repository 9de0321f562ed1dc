//! [`IpcSlice`]: a slice of plain-data elements in one segment, with a length
//! chosen at run time and a capacity fixed at creation (Go's `Slice[T]`, C's
//! `ipcarc_slice_*`). The same segment format, lock, poison and owner-death
//! rules as [`IpcArc`](crate::IpcArc); the segment's shape says "slice", and
//! opening it as one value (or a one-value segment as a slice) is
//! [`Error::TypeMismatch`]`("shape")`.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::LockResult;

use crate::core::{Core, HoldsLock, RawGuard, Wait};
use crate::error::{from_rc, Op};
use crate::{ffi, Error, Options, PlainData};

impl<T: PlainData> Options<T> {
    /// Creates the slice segment `name` with room for `capacity` elements,
    /// holding a copy of `values` (its length), exclusively. More values than
    /// the capacity is [`Error::InvalidOption`].
    pub fn new_slice(
        &self,
        name: &str,
        values: &[T],
        capacity: usize,
    ) -> Result<IpcSlice<T>, Error> {
        let core = Core::open(
            name,
            self.slice_spec(values, capacity),
            |cname, spec, s, _| {
                // SAFETY: values is valid for len elements, read during the call only.
                unsafe {
                    ffi::ipcarc_slice_create(
                        cname.as_ptr(),
                        spec,
                        capacity,
                        values.as_ptr() as *const c_void,
                        values.len(),
                        s,
                    )
                }
            },
        )?;
        // SAFETY: a slice handle just made for T.
        Ok(unsafe { IpcSlice::wrap(core) })
    }

    /// Attaches to the existing slice segment `name` (its capacity and length
    /// are read from the segment).
    pub fn load_slice(&self, name: &str) -> Result<IpcSlice<T>, Error> {
        let core = Core::open(name, self.spec(), |cname, spec, s, field| {
            // SAFETY: every pointer is valid for the call; C keeps none.
            unsafe { ffi::ipcarc_slice_open(cname.as_ptr(), spec, s, field) }
        })?;
        // SAFETY: a slice handle validated for T.
        Ok(unsafe { IpcSlice::wrap(core) })
    }

    /// Attaches to the slice `name`, or creates it as
    /// [`new_slice`](Self::new_slice) does; the flag says which.
    pub fn open_or_new_slice(
        &self,
        name: &str,
        values: &[T],
        capacity: usize,
    ) -> Result<(IpcSlice<T>, bool), Error> {
        let mut created: c_int = 0;
        let core = Core::open(
            name,
            self.slice_spec(values, capacity),
            |cname, spec, s, field| {
                // SAFETY: as in new_slice and load_slice.
                unsafe {
                    ffi::ipcarc_slice_open_or_create(
                        cname.as_ptr(),
                        spec,
                        capacity,
                        values.as_ptr() as *const c_void,
                        values.len(),
                        s,
                        &mut created,
                        field,
                    )
                }
            },
        )?;
        // SAFETY: a slice handle made or validated for T.
        Ok((unsafe { IpcSlice::wrap(core) }, created != 0))
    }

    /// The spec, once `values` fits in `capacity`.
    fn slice_spec(&self, values: &[T], capacity: usize) -> Result<ffi::Spec, Error> {
        let spec = self.spec()?;
        if values.len() > capacity {
            return Err(Error::InvalidOption("more values than the capacity"));
        }
        Ok(spec)
    }
}

/// One handle on a shared slice of `T`: a length that changes (under the
/// lock), a capacity fixed at creation. Every handle counts in the segment's
/// reference count as an [`IpcArc`](crate::IpcArc)'s does.
pub struct IpcSlice<T: PlainData> {
    core: Core,
    data: NonNull<T>,
    cap: usize,
    _t: PhantomData<T>,
}

// SAFETY: as IpcArc's: the core is Send and Sync, and `data` is reached only
// under the lock or by copy.
unsafe impl<T: PlainData> Send for IpcSlice<T> {}
// SAFETY: as above.
unsafe impl<T: PlainData> Sync for IpcSlice<T> {}

impl<T: PlainData> IpcSlice<T> {
    /// [`Options::new_slice`] with the default options.
    pub fn new(name: &str, values: &[T], capacity: usize) -> Result<Self, Error> {
        Options::default().new_slice(name, values, capacity)
    }

    /// [`Options::load_slice`] with the default options.
    pub fn load(name: &str) -> Result<Self, Error> {
        Options::default().load_slice(name)
    }

    /// [`Options::open_or_new_slice`] with the default options.
    pub fn open_or_new(name: &str, values: &[T], capacity: usize) -> Result<(Self, bool), Error> {
        Options::default().open_or_new_slice(name, values, capacity)
    }

    /// # Safety
    /// `core` is a live handle on a slice segment of T.
    unsafe fn wrap(core: Core) -> Self {
        IpcSlice {
            data: core.data::<T>(),
            cap: ffi::ipcarc_slice_cap(core.s()),
            core,
            _t: PhantomData,
        }
    }

    fn s(&self) -> *mut ffi::Seg {
        self.core.s()
    }

    /// The segment's name, without a leading slash.
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// The elements in use: one lock-free read, bounded by the capacity.
    pub fn len(&self) -> usize {
        // SAFETY: a live handle.
        unsafe { ffi::ipcarc_slice_len(self.s()) }
    }

    /// Whether no element is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity, fixed at creation.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Live handles on the segment, over every process.
    pub fn ref_count(&self) -> usize {
        self.core.ref_count()
    }

    /// Another handle on the same slice (reference count +1).
    pub fn try_clone(&self) -> Result<Self, Error> {
        Ok(self.with_core(self.core.try_clone()?))
    }

    fn with_core(&self, core: Core) -> Self {
        IpcSlice {
            core,
            data: self.data,
            cap: self.cap,
            _t: PhantomData,
        }
    }

    /// A consistent copy of the elements in use, without the lock (Go's
    /// `Load`, C's `ipcarc_slice_load`). [`Error::Poisoned`] on a poisoned
    /// slice; [`Error::Corrupt`]`("slice length")` for a length word beyond
    /// the capacity; [`Error::Deadlock`] on the thread that holds the lock.
    pub fn get(&self) -> Result<Vec<T>, Error> {
        self.core.refuse_locker()?;
        let c = ffi::consts();
        let mut v: Vec<T> = Vec::with_capacity(self.len());
        loop {
            let mut n = 0usize;
            // SAFETY: v has room for capacity() elements; C writes at most
            // that many and says how many are in use.
            let rc = unsafe {
                ffi::ipcarc_slice_load(
                    self.s(),
                    v.as_mut_ptr() as *mut c_void,
                    v.capacity(),
                    &mut n,
                )
            };
            if ffi::is(rc, c.e_nobufs) {
                v.reserve(n);
                continue;
            }
            if rc != 0 {
                if ffi::is(rc, c.e_badmsg) {
                    return Err(Error::Corrupt("slice length"));
                }
                return Err(from_rc(rc, 0, Op::Other));
            }
            // SAFETY: C wrote n <= capacity elements; every bit pattern is a T.
            unsafe { v.set_len(n) };
            return Ok(v);
        }
    }

    /// Element `i`, consistent, without the lock: [`Error::OutOfRange`] when
    /// `i` is not below the length.
    pub fn get_at(&self, i: usize) -> Result<T, Error> {
        let mut v = MaybeUninit::<T>::uninit();
        // SAFETY: v has room for one element, the segment's element size.
        let rc = unsafe { ffi::ipcarc_slice_get(self.s(), i, v.as_mut_ptr() as *mut c_void) };
        if rc != 0 {
            if ffi::is(rc, ffi::consts().e_badmsg) {
                return Err(Error::Corrupt("slice length"));
            }
            return Err(from_rc(rc, 0, Op::Other));
        }
        // SAFETY: written by C; every bit pattern is a T.
        Ok(unsafe { v.assume_init() })
    }

    /// Replaces the contents and the length (lock, copy, unlock, in one call
    /// into C). More elements than the capacity is [`Error::OutOfRange`].
    pub fn store(&self, values: &[T]) -> Result<(), Error> {
        // SAFETY: values is valid for len elements, read during the call only.
        let rc = unsafe {
            ffi::ipcarc_slice_store(self.s(), values.as_ptr() as *const c_void, values.len())
        };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Lock));
        }
        Ok(())
    }

    /// Replaces element `i` (below the length) under the lock.
    pub fn set_at(&self, i: usize, v: T) -> Result<(), Error> {
        // SAFETY: v is one element, read during the call only.
        let rc = unsafe { ffi::ipcarc_slice_set(self.s(), i, &v as *const T as *const c_void) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Lock));
        }
        Ok(())
    }

    /// Locks, as [`IpcArc::lock`](crate::IpcArc::lock): a poisoned slice
    /// comes back through a [`PoisonError`](std::sync::PoisonError) holding the guard.
    pub fn lock(&self) -> Result<LockResult<SliceGuard<'_, T>>, Error> {
        self.core.lock(Wait::Block, |raw| self.guard(raw))
    }

    fn guard<'a>(&'a self, raw: RawGuard<'a>) -> SliceGuard<'a, T> {
        SliceGuard { slice: self, raw }
    }

    /// Locks, calls `f` with the guard (the elements in use, and
    /// [`SliceGuard::set_len`]), unlocks. A poisoned slice is refused
    /// ([`Error::Poisoned`] or [`Error::OwnerDead`]).
    pub fn update<R>(&self, f: impl FnOnce(&mut SliceGuard<'_, T>) -> R) -> Result<R, Error> {
        self.core.update(|raw| self.guard(raw), |g| f(g))
    }

    /// Repairs a poisoned slice: locks whether or not it is poisoned, calls
    /// `f` with the guard, and clears the poison when `f` returns `Ok`.
    pub fn recover<E>(
        &self,
        f: impl FnOnce(&mut SliceGuard<'_, T>) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        self.core.recover(|raw| self.guard(raw), |g| f(g))
    }

    /// Completed writes, modulo 2^31.
    pub fn version(&self) -> u64 {
        self.core.version()
    }
}

impl<T: PlainData> Clone for IpcSlice<T> {
    fn clone(&self) -> Self {
        self.with_core(self.core.clone_or_panic())
    }
}

impl<T: PlainData> fmt::Debug for IpcSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcSlice")
            .field("name", &self.name())
            .field("len", &self.len())
            .field("cap", &self.cap)
            .finish()
    }
}

/// The lock on an [`IpcSlice`]: derefs to the elements in use (`[T]`, in
/// the mapping). Dropping it unlocks (poisoning first while panicking).
pub struct SliceGuard<'a, T: PlainData> {
    slice: &'a IpcSlice<T>,
    raw: RawGuard<'a>,
}

impl<'a, T: PlainData> SliceGuard<'a, T> {
    /// True for the first lock after an owner died holding it.
    pub fn owner_died(&self) -> bool {
        self.raw.owner_died
    }

    /// The capacity.
    pub fn cap(&self) -> usize {
        self.slice.cap
    }

    /// Sets the length (up to the capacity: else [`Error::OutOfRange`]);
    /// elements between the old and new length keep what they held.
    pub fn set_len(&mut self, n: usize) -> Result<(), Error> {
        // SAFETY: this thread holds the value lock (the guard is !Send).
        let rc = unsafe { ffi::ipcarc_slice_set_len(self.slice.s(), n) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Unlock));
        }
        self.raw.wrote = true;
        Ok(())
    }

    /// Ends the poison for every process, once the slice is repaired.
    pub fn clear_poison(&mut self) -> Result<(), Error> {
        self.raw.clear_poison()
    }

    /// Unlocks, reporting what dropping ignores.
    pub fn unlock(self) -> Result<(), Error> {
        self.raw.unlock()
    }

    fn in_use(&self) -> usize {
        // SAFETY: a live handle; bounded by the private capacity in C.
        unsafe { ffi::ipcarc_slice_len(self.slice.s()) }
    }
}

impl<T: PlainData> Deref for SliceGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the lock is held; data is valid for cap elements, and the
        // length is bounded by it.
        unsafe { std::slice::from_raw_parts(self.slice.data.as_ptr(), self.in_use()) }
    }
}

impl<T: PlainData> DerefMut for SliceGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.raw.wrote = true;
        // SAFETY: as in deref; &mut self makes this the only reference here.
        unsafe { std::slice::from_raw_parts_mut(self.slice.data.as_ptr(), self.in_use()) }
    }
}

impl<'a, T: PlainData> HoldsLock<'a> for SliceGuard<'a, T> {
    fn raw(&mut self) -> &mut RawGuard<'a> {
        &mut self.raw
    }
}
