//! [`Guard`]: the value's lock, held by one thread, dereferencing to the
//! value in the shared mapping; dropping it unlocks.

use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::core::{HoldsLock, RawGuard};
use crate::{Error, IpcArc, PlainData};

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
    pub(crate) raw: RawGuard<'a>,
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
        self.raw.owner_died
    }

    /// Marks the value consistent again, for every process: call it once the
    /// value has been checked or repaired. (Go repairs through `Arc.Recover`; C's
    /// `ipcarc_clear_poison`.) The C side checks that the calling thread
    /// holds the lock, as unlock does: [`Error::NotOwner`] otherwise (a guard
    /// is not `Send`, so that cannot happen through safe code).
    pub fn clear_poison(&mut self) -> Result<(), Error> {
        self.raw.clear_poison()
    }

    /// The handle this guard locks.
    pub fn arc(&self) -> &'a IpcArc<T> {
        self.arc
    }

    /// Unlocks, reporting what dropping the guard ignores (a mutex a peer
    /// overwrote: [`Error::Corrupt`]).
    pub fn unlock(self) -> Result<(), Error> {
        self.raw.unlock()
    }
}

impl<'a, T: PlainData> HoldsLock<'a> for Guard<'a, T> {
    fn raw(&mut self) -> &mut RawGuard<'a> {
        &mut self.raw
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
        self.raw.wrote = true;
        // SAFETY: as in deref, and `&mut self` makes this the only reference
        // in this process (one guard per lock; Guard is !Send).
        unsafe { &mut *self.arc.data.as_ptr() }
    }
}

impl<T: PlainData + fmt::Debug> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("value", &**self)
            .field("owner_died", &self.raw.owner_died)
            .finish()
    }
}
