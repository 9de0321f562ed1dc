//! [`Guard`]: the value's lock, held by one thread, dereferencing to the
//! value in the shared mapping; dropping it unlocks.

use std::ffi::c_int;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

use crate::error::{from_rc, Op};
use std::ops::{Deref, DerefMut};

use crate::{ffi, Error, IpcArc, PlainData};

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
    pub(crate) arc: &'a IpcArc<T>,
    pub(crate) poison_on_panic: bool,
    pub(crate) wrote: bool,
    pub(crate) owner_died: bool,
    pub(crate) _not_send: PhantomData<*const ()>,
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
