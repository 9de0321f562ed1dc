//! Lock-free fields: [`AtomicData`] and `IpcArc::atomic`.

use std::sync::atomic::{
    AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32,
    AtomicU64, AtomicU8, AtomicUsize,
};

/// A type made only of std atomic integers and bools: the atomic twin of a
/// [`PlainData`](crate::PlainData) value, through which every process may
/// change fields without the lock (`IpcArc::atomic`).
///
/// Implemented for the std atomic integer types, `AtomicBool`, and arrays of
/// them. A `#[repr(C)]` struct whose fields all implement `AtomicData`, with
/// no padding, may implement it too:
///
/// ```
/// use std::sync::atomic::AtomicU64;
/// #[repr(C)]
/// struct Stats { requests: AtomicU64, bytes: AtomicU64 }
/// // SAFETY: #[repr(C)], atomics only, no padding.
/// unsafe impl ipcarc::AtomicData for Stats {}
/// ```
///
/// Every operation on such a field is one sequentially consistent atomic
/// access of the field's width at its own address: the same as Go's
/// sync/atomic (`atomic.Uint64` is an `AtomicU64`, `atomic.Int32` an
/// `AtomicI32`) and C's `__atomic` builtins or C11 atomics. Go's
/// `atomic.Bool` is 4 bytes: its twin is `AtomicU32` (0 or 1), not the 1-byte
/// `AtomicBool`.
///
/// # Safety
///
/// Every bit pattern must be a valid value, and the type must contain only
/// atomics (no plain field: another process may change it at any time).
pub unsafe trait AtomicData: Send + Sync + 'static {}

macro_rules! atomics {
    ($($t:ty),*) => {$(
        // SAFETY: an atomic integer: any bit pattern is valid.
        unsafe impl AtomicData for $t {}
    )*};
}
atomics!(
    AtomicBool,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize
);

// SAFETY: an array of atomics is atomics, contiguous, with no padding.
unsafe impl<A: AtomicData, const N: usize> AtomicData for [A; N] {}
