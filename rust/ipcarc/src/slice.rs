//! [`IpcSlice`]: a slice of plain-data elements in one segment, with a length
//! chosen at run time and a capacity fixed at creation (Go's `Slice[T]`, C's
//! `ipcarc_slice_*`). The same segment format, lock, poison and owner-death
//! rules as [`IpcArc`](crate::IpcArc); the segment's shape says "slice", and
//! opening it as one value (or a one-value segment as a slice) is
//! [`Error::TypeMismatch`]`("shape")`.

use std::ffi::{c_int, c_void};
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};
use std::sync::{Arc, LockResult, PoisonError};

use crate::error::{from_rc, Op};
use crate::{check_name, ffi, Error, Options, PlainData};

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
        let (short, cname) = check_name(name)?;
        let spec = self.spec()?;
        if values.len() > capacity {
            return Err(Error::InvalidOption("more values than the capacity"));
        }
        let mut s = ptr::null_mut();
        // SAFETY: values is valid for len elements, read during the call only.
        let rc = unsafe {
            ffi::ipcarc_slice_create(
                cname.as_ptr(),
                &spec,
                capacity,
                values.as_ptr() as *const c_void,
                values.len(),
                &mut s,
            )
        };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Open));
        }
        // SAFETY: a slice handle just made for T.
        Ok(unsafe { IpcSlice::wrap(s, short) })
    }

    /// Attaches to the existing slice segment `name` (its capacity and length
    /// are read from the segment).
    pub fn load_slice(&self, name: &str) -> Result<IpcSlice<T>, Error> {
        let (short, cname) = check_name(name)?;
        let spec = self.spec()?;
        let mut s = ptr::null_mut();
        let mut field: c_int = 0;
        // SAFETY: every pointer is valid for the call; C keeps none.
        let rc = unsafe { ffi::ipcarc_slice_open(cname.as_ptr(), &spec, &mut s, &mut field) };
        if rc != 0 {
            return Err(from_rc(rc, field, Op::Open));
        }
        // SAFETY: a slice handle validated for T.
        Ok(unsafe { IpcSlice::wrap(s, short) })
    }

    /// Attaches to the slice `name`, or creates it as
    /// [`new_slice`](Self::new_slice) does; the flag says which.
    pub fn open_or_new_slice(
        &self,
        name: &str,
        values: &[T],
        capacity: usize,
    ) -> Result<(IpcSlice<T>, bool), Error> {
        let (short, cname) = check_name(name)?;
        let spec = self.spec()?;
        if values.len() > capacity {
            return Err(Error::InvalidOption("more values than the capacity"));
        }
        let mut s = ptr::null_mut();
        let (mut created, mut field): (c_int, c_int) = (0, 0);
        // SAFETY: as in new_slice and load_slice.
        let rc = unsafe {
            ffi::ipcarc_slice_open_or_create(
                cname.as_ptr(),
                &spec,
                capacity,
                values.as_ptr() as *const c_void,
                values.len(),
                &mut s,
                &mut created,
                &mut field,
            )
        };
        if rc != 0 {
            return Err(from_rc(rc, field, Op::Open));
        }
        // SAFETY: a slice handle made or validated for T.
        Ok((unsafe { IpcSlice::wrap(s, short) }, created != 0))
    }
}

/// One handle on a shared slice of `T`: a length that changes (under the
/// lock), a capacity fixed at creation. Every handle counts in the segment's
/// reference count as an [`IpcArc`](crate::IpcArc)'s does.
pub struct IpcSlice<T: PlainData> {
    seg: NonNull<ffi::Seg>,
    data: NonNull<T>,
    cap: usize,
    name: Arc<str>,
    _t: PhantomData<T>,
}

// SAFETY: as IpcArc's: the C calls on one attachment are thread-safe, and
// drop takes &mut self.
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
    /// `s` is a live handle on a slice segment of T.
    unsafe fn wrap(s: *mut ffi::Seg, name: &str) -> Self {
        let seg = NonNull::new(s).expect("C returned a handle");
        let data = NonNull::new(ffi::ipcarc_data(s) as *mut T).expect("a mapped value");
        IpcSlice {
            seg,
            data,
            cap: ffi::ipcarc_slice_cap(s),
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
        // SAFETY: a live handle.
        unsafe { ffi::ipcarc_refcount(self.s()) }.max(0) as usize
    }

    /// Another handle on the same slice (reference count +1).
    pub fn try_clone(&self) -> Result<Self, Error> {
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_clone(self.s()) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Table));
        }
        Ok(IpcSlice {
            seg: self.seg,
            data: self.data,
            cap: self.cap,
            name: self.name.clone(),
            _t: PhantomData,
        })
    }

    /// A consistent copy of the elements in use, without the lock (Go's
    /// `Load`, C's `ipcarc_slice_load`). [`Error::Poisoned`] on a poisoned
    /// slice; [`Error::Corrupt`]`("slice length")` for a length word beyond
    /// the capacity; [`Error::Deadlock`] on the thread that holds the lock.
    pub fn get(&self) -> Result<Vec<T>, Error> {
        // SAFETY: a live handle.
        if unsafe { ffi::ipcarc_rs_lock_is_mine(self.s()) } != 0 {
            return Err(Error::Deadlock);
        }
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
    /// comes back through a [`PoisonError`] holding the guard.
    pub fn lock(&self) -> Result<LockResult<SliceGuard<'_, T>>, Error> {
        // SAFETY: a live handle.
        let rc = unsafe { ffi::ipcarc_lock(self.s()) };
        let owner_died = if rc == 0 {
            false
        } else if ffi::is(rc, ffi::consts().e_ownerdead) {
            true
        } else {
            return Err(from_rc(rc, 0, Op::Lock));
        };
        let guard = SliceGuard {
            slice: self,
            poison_on_panic: !std::thread::panicking(),
            wrote: false,
            owner_died,
            _not_send: PhantomData,
        };
        // SAFETY: a live handle.
        if owner_died || unsafe { ffi::ipcarc_poisoned(self.s()) } != 0 {
            Ok(Err(PoisonError::new(guard)))
        } else {
            Ok(Ok(guard))
        }
    }

    /// Locks, calls `f` with the guard (the elements in use, and
    /// [`SliceGuard::set_len`]), unlocks. A poisoned slice is refused
    /// ([`Error::Poisoned`] or [`Error::OwnerDead`]).
    pub fn update<R>(&self, f: impl FnOnce(&mut SliceGuard<'_, T>) -> R) -> Result<R, Error> {
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
        g.wrote = true;
        let r = f(&mut g);
        // SAFETY: this thread holds the value lock (g).
        unsafe { ffi::ipcarc_rs_count_update(self.s()) };
        drop(g);
        Ok(r)
    }

    /// Repairs a poisoned slice: locks whether or not it is poisoned, calls
    /// `f` with the guard, and clears the poison when `f` returns `Ok`.
    pub fn recover<E>(
        &self,
        f: impl FnOnce(&mut SliceGuard<'_, T>) -> Result<(), E>,
    ) -> Result<Result<(), E>, Error> {
        let mut g = self.lock()?.unwrap_or_else(PoisonError::into_inner);
        g.wrote = true;
        let r = f(&mut g);
        // SAFETY: a live handle.
        if r.is_ok() && unsafe { ffi::ipcarc_poisoned(self.s()) } != 0 {
            g.clear_poison()?;
        }
        drop(g);
        Ok(r)
    }

    /// Completed writes, modulo 2^31.
    pub fn version(&self) -> u64 {
        // SAFETY: a live handle.
        u64::from(unsafe { ffi::ipcarc_version(self.s()) })
    }
}

impl<T: PlainData> Drop for IpcSlice<T> {
    fn drop(&mut self) {
        // SAFETY: a live handle, closed once.
        let _ = unsafe { ffi::ipcarc_close(self.s()) };
    }
}

impl<T: PlainData> Clone for IpcSlice<T> {
    fn clone(&self) -> Self {
        self.try_clone()
            .unwrap_or_else(|e| panic!("ipcarc: clone {:?}: {}", self.name, e))
    }
}

impl<T: PlainData> fmt::Debug for IpcSlice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpcSlice")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("cap", &self.cap)
            .finish()
    }
}

/// The lock on an [`IpcSlice`]: derefs to the elements in use (`[T]`, in
/// the mapping). Dropping it unlocks (poisoning first while panicking).
pub struct SliceGuard<'a, T: PlainData> {
    slice: &'a IpcSlice<T>,
    poison_on_panic: bool,
    wrote: bool,
    owner_died: bool,
    _not_send: PhantomData<*const ()>,
}

impl<'a, T: PlainData> SliceGuard<'a, T> {
    /// True for the first lock after an owner died holding it.
    pub fn owner_died(&self) -> bool {
        self.owner_died
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
        self.wrote = true;
        Ok(())
    }

    /// Ends the poison for every process, once the slice is repaired.
    pub fn clear_poison(&mut self) -> Result<(), Error> {
        // SAFETY: this thread holds the value lock.
        let rc = unsafe { ffi::ipcarc_clear_poison(self.slice.s()) };
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Unlock));
        }
        Ok(())
    }

    /// Unlocks, reporting what dropping ignores.
    pub fn unlock(self) -> Result<(), Error> {
        let mut me = ManuallyDrop::new(self);
        let rc = me.release();
        if rc != 0 {
            return Err(from_rc(rc, 0, Op::Unlock));
        }
        Ok(())
    }

    fn release(&mut self) -> c_int {
        let s = self.slice.s();
        if self.poison_on_panic && std::thread::panicking() {
            // SAFETY: the value lock is held by this thread.
            unsafe { ffi::ipcarc_rs_poison(s) };
            self.wrote = true;
        }
        // SAFETY: this thread holds the value lock.
        unsafe {
            if self.wrote {
                ffi::ipcarc_unlock(s)
            } else {
                ffi::ipcarc_unlock_unchanged(s)
            }
        }
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
        self.wrote = true;
        // SAFETY: as in deref; &mut self makes this the only reference here.
        unsafe { std::slice::from_raw_parts_mut(self.slice.data.as_ptr(), self.in_use()) }
    }
}

impl<T: PlainData> Drop for SliceGuard<'_, T> {
    fn drop(&mut self) {
        let _ = self.release();
    }
}
