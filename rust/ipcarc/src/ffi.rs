//! The C API this crate calls: the public part of ipcarc.h (what libipcarc
//! exports) and the crate's own csrc/shim.c. Nothing here hard-codes a number
//! the C side defines: errno values, lifetimes, limits, and the sizes and
//! offsets of the mirrored structs are read from `ipcarc_rs_consts`, compiled
//! by the C compiler from the same headers (and the tests compare the mirrors
//! with them).

use std::ffi::{c_char, c_int, c_void};
use std::marker::{PhantomData, PhantomPinned};

/// `ipcarc_seg`: opaque, only ever behind a pointer the C side handed out.
#[repr(C)]
pub(crate) struct Seg {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `ipcarc_spec`, field for field (checked against C by the tests).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spec {
    pub value_size: u64,
    pub value_align: u32,
    pub max_holders: u32,
    pub type_tag: u64,
    pub mode: u32,
    pub lifetime: u32,
    pub open_timeout_ns: i64,
    pub trusted_uids: [u32; MAX_TRUSTED_UIDS],
    pub n_trusted_uids: u32,
    pub trusted_gid: u32,
    pub trust_flags: u32,
    pub shape: u32,
}

/// `IPCARC_MAX_TRUSTED_UIDS` (the array's length must be a constant here;
/// the tests compare it with the C side's).
pub(crate) const MAX_TRUSTED_UIDS: usize = 8;

/// `struct ipcarc_rs_consts` of csrc/shim.c: every member an int64_t, in
/// the same order.
#[repr(C)]
pub(crate) struct Consts {
    pub e_perm: i64,
    pub e_noent: i64,
    pub e_intr: i64,
    pub e_child: i64,
    pub e_busy: i64,
    pub e_exist: i64,
    pub e_nodev: i64,
    pub e_isdir: i64,
    pub e_inval: i64,
    pub e_deadlk: i64,
    pub e_nametoolong: i64,
    pub e_loop: i64,
    pub e_badmsg: i64,
    pub e_users: i64,
    pub e_prototype: i64,
    pub e_protonosupport: i64,
    pub e_timedout: i64,
    pub e_inprogress: i64,
    pub e_ownerdead: i64,
    pub e_notrecoverable: i64,
    pub lifetime_last_close: i64,
    pub lifetime_until_removed: i64,
    pub default_holders: i64,
    pub max_holders: i64,
    pub max_align: i64,
    pub name_max: i64,
    pub layout_version: i64,
    pub field_none: i64,
    pub spec_size: i64,
    pub spec_align: i64,
    pub spec_value_size: i64,
    pub spec_value_align: i64,
    pub spec_max_holders: i64,
    pub spec_type_tag: i64,
    pub spec_mode: i64,
    pub spec_lifetime: i64,
    pub spec_open_timeout_ns: i64,
    pub counters_size: i64,
    pub counters_acquisitions: i64,
    pub counters_wakeups: i64,
    pub counters_reaped: i64,
    pub counters_reserved: i64,
    pub rs_stats_size: i64,
    pub rs_holder_size: i64,
    pub e_acces: i64,
    pub field_owner: i64,
    pub field_mode: i64,
    pub max_trusted_uids: i64,
    pub trust_group: i64,
    pub spec_trusted_uids: i64,
    pub spec_n_trusted_uids: i64,
    pub spec_trusted_gid: i64,
    pub spec_trust_flags: i64,
    pub e_range: i64,
    pub e_nobufs: i64,
    pub shape_slice: i64,
    pub spec_shape: i64,
}

/// `struct ipcarc_rs_stats` of csrc/shim.c.
#[repr(C)]
#[derive(Default)]
pub(crate) struct RawStats {
    pub total_size: u64,
    pub value_size: u64,
    pub value_align: u64,
    pub type_tag: u64,
    pub refcount: i64,
    pub max_holders: u64,
    pub poisoned: u64,
    pub version: u64,
    pub lifetime: u64,
    pub waiters: u64,
    pub creator_pid: i64,
    pub lock_owner: i64,
    pub created_ns: u64,
}

/// `struct ipcarc_rs_holder` of csrc/shim.c.
#[repr(C)]
#[derive(Default)]
pub(crate) struct RawHolder {
    pub pid: i64,
    pub start_time: u64,
    pub attached_ns: u64,
    pub handles: u64,
    pub alive: u64,
}

extern "C" {
    pub(crate) static ipcarc_rs_consts: Consts;
    pub(crate) fn ipcarc_rs_poison(s: *mut Seg);
    pub(crate) fn ipcarc_rs_count_update(s: *mut Seg);
    pub(crate) fn ipcarc_rs_lock_is_mine(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_rs_stats(s: *mut Seg, out: *mut RawStats);
    pub(crate) fn ipcarc_rs_holder(s: *mut Seg, slot: u32, out: *mut RawHolder) -> c_int;

    pub(crate) fn ipcarc_tag(s: *const c_char) -> u64;
    pub(crate) fn ipcarc_check_name(name: *const c_char) -> c_int;
    pub(crate) fn ipcarc_field_name(field: c_int) -> *const c_char;
    pub(crate) fn ipcarc_create(
        name: *const c_char,
        spec: *const Spec,
        init: *const c_void,
        out: *mut *mut Seg,
    ) -> c_int;
    pub(crate) fn ipcarc_open(
        name: *const c_char,
        spec: *const Spec,
        out: *mut *mut Seg,
        field: *mut c_int,
    ) -> c_int;
    pub(crate) fn ipcarc_open_or_create(
        name: *const c_char,
        spec: *const Spec,
        init: *const c_void,
        out: *mut *mut Seg,
        created: *mut c_int,
        field: *mut c_int,
    ) -> c_int;
    pub(crate) fn ipcarc_clone(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_close(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_data(s: *mut Seg) -> *mut c_void;
    pub(crate) fn ipcarc_refcount(s: *mut Seg) -> i64;
    pub(crate) fn ipcarc_lock(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_trylock(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_timedlock(s: *mut Seg, timeout_ns: i64) -> c_int;
    pub(crate) fn ipcarc_unlock(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_unlock_unchanged(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_poisoned(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_clear_poison(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_load(s: *mut Seg, dst: *mut c_void, n: usize) -> c_int;
    pub(crate) fn ipcarc_store(s: *mut Seg, src: *const c_void, n: usize) -> c_int;
    pub(crate) fn ipcarc_version(s: *mut Seg) -> u32;
    pub(crate) fn ipcarc_notify(s: *mut Seg) -> c_int;
    pub(crate) fn ipcarc_word_copy(s: *mut Seg, on: c_int) -> c_int;
    pub(crate) fn ipcarc_wait(s: *mut Seg, since: u32, timeout_ns: i64, now: *mut u32) -> c_int;
    pub(crate) fn ipcarc_read_counters(s: *mut Seg, out: *mut crate::Counters);
    pub(crate) fn ipcarc_reap(s: *mut Seg, reaped: *mut c_int) -> c_int;
    pub(crate) fn ipcarc_remove(name: *const c_char, force: c_int) -> c_int;
    pub(crate) fn ipcarc_slot(s: *mut Seg) -> c_int;

    pub(crate) fn ipcarc_slice_create(
        name: *const c_char,
        spec: *const Spec,
        capacity: usize,
        init: *const c_void,
        n_init: usize,
        out: *mut *mut Seg,
    ) -> c_int;
    pub(crate) fn ipcarc_slice_open(
        name: *const c_char,
        spec: *const Spec,
        out: *mut *mut Seg,
        field: *mut c_int,
    ) -> c_int;
    pub(crate) fn ipcarc_slice_open_or_create(
        name: *const c_char,
        spec: *const Spec,
        capacity: usize,
        init: *const c_void,
        n_init: usize,
        out: *mut *mut Seg,
        created: *mut c_int,
        field: *mut c_int,
    ) -> c_int;
    pub(crate) fn ipcarc_slice_len(s: *mut Seg) -> usize;
    pub(crate) fn ipcarc_slice_cap(s: *mut Seg) -> usize;
    pub(crate) fn ipcarc_slice_load(
        s: *mut Seg,
        dst: *mut c_void,
        cap_elems: usize,
        len: *mut usize,
    ) -> c_int;
    pub(crate) fn ipcarc_slice_store(s: *mut Seg, src: *const c_void, n_elems: usize) -> c_int;
    pub(crate) fn ipcarc_slice_get(s: *mut Seg, i: usize, dst: *mut c_void) -> c_int;
    pub(crate) fn ipcarc_slice_set(s: *mut Seg, i: usize, src: *const c_void) -> c_int;
    pub(crate) fn ipcarc_slice_set_len(s: *mut Seg, n: usize) -> c_int;
}

/// The constants of the C side.
pub(crate) fn consts() -> &'static Consts {
    // SAFETY: an immutable, initialised C object that lives for the whole
    // program; its layout is `Consts` (all int64_t, same order).
    unsafe { &ipcarc_rs_consts }
}

/// An errno value the C API returned, as the C side's own constant names it.
pub(crate) fn is(rc: c_int, errno: i64) -> bool {
    rc as i64 == errno
}
