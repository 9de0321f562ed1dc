//! The values a segment may hold.

use std::borrow::Cow;

/// Plain data: a type whose values may live in shared memory and be read and
/// written by other processes, in other languages.
///
/// The crate implements it for the integers (`u8`..`u128`, `i8`..`i128`,
/// `usize`, `isize`), `f32`, `f64`, and arrays of such types. (Go has no
/// 128-bit integer, and Rust changed `u128`'s alignment from 8 to 16 in 1.77:
/// programs built by compilers on either side of that refuse each other's
/// `u128` segments on the value alignment.) For your own
/// struct, write the `unsafe impl` (there is no derive):
///
/// ```
/// use std::borrow::Cow;
///
/// #[repr(C)]
/// #[derive(Clone, Copy, Default)]
/// struct Jobs {
///     done: u64,
///     failed: u64,
/// }
///
/// // SAFETY: #[repr(C)], only integer fields (any bit pattern is a Jobs),
/// // no pointers, no padding.
/// unsafe impl ipcarc::PlainData for Jobs {
///     fn type_name() -> Cow<'static, str> {
///         "jobs.v1".into()
///     }
/// }
/// ```
///
/// # The type tag
///
/// A segment records a 64-bit tag of its type, and an open with another tag
/// is refused ([`Error::TypeMismatch`](crate::Error::TypeMismatch)). By
/// default the tag of `T` is `ipcarc_tag(T::type_name())`: FNV-1a 64 of the
/// string, which is what Go's `WithTypeTag(s)` and C's `ipcarc_tag(s)` compute.
/// So the struct above is opened from Go with
/// `ipcarc.Open[Jobs]("jobs", ipcarc.WithTypeTag("jobs.v1"))`, and from C
/// with `spec.type_tag = ipcarc_tag("jobs.v1")`.
///
/// For numbers and arrays the name is what Go's default tag (a description of
/// the layout) says for the same type: `"uint64"`, `"float32"`, `"int"` for
/// `isize`, `"[4]uint64"` for `[u64; 4]`. So `IpcArc<u64>` and Go's
/// `Arc[uint64]` agree with no option on either side. (A struct can match Go's
/// default too, by returning Go's description of it, such as
/// `"{0:uint64;8:uint64;}16"` for the struct above; a name is simpler.)
///
/// # Safety
///
/// Implement it only for a type that satisfies all of these:
///
/// - **Every bit pattern is a valid value**: another process writes the bytes.
///   So no `bool`, `char`, enum, `NonZero*`, reference, `Box`, `String`, `Vec`.
/// - **No pointers** (raw pointers included) and nothing else that means
///   something in one process only (file descriptors, thread ids used as such).
/// - **A fixed layout**: `#[repr(C)]` (or `#[repr(transparent)]`) structs of
///   plain data, so that other processes, languages and compiler versions see
///   the same bytes. **No padding**: padding bytes are uninitialised in a
///   value you store (their contents would reach other processes), and a
///   padded type could share a tag with an unpadded one that reads those
///   bytes as a field; make padding an explicit field.
/// - **No interior mutability** (`Cell`, atomics): the lock and the seqlock
///   are the only synchronisation.
///
/// `type_name` must return the same string every time.
pub unsafe trait PlainData: Copy + Send + Sync + 'static {
    /// The string whose FNV-1a 64 hash is the default type tag (see above).
    fn type_name() -> Cow<'static, str>;
}

macro_rules! plain_numbers {
    ($($t:ty => $go:literal),* $(,)?) => {$(
        // SAFETY: a number: any bit pattern is valid, no pointers, fixed layout.
        unsafe impl PlainData for $t {
            fn type_name() -> Cow<'static, str> {
                Cow::Borrowed($go)
            }
        }
    )*};
}

plain_numbers! {
    u8 => "uint8", u16 => "uint16", u32 => "uint32", u64 => "uint64", u128 => "uint128",
    i8 => "int8", i16 => "int16", i32 => "int32", i64 => "int64", i128 => "int128",
    usize => "uint", isize => "int", f32 => "float32", f64 => "float64",
}

// SAFETY: an array of plain data is plain data: its elements, contiguous,
// with no padding between them.
unsafe impl<T: PlainData, const N: usize> PlainData for [T; N] {
    fn type_name() -> Cow<'static, str> {
        Cow::Owned(format!("[{}]{}", N, T::type_name()))
    }
}
