//! Unit tests: one process, several threads. tests/processes.rs runs several
//! processes; the repository's Go tests run Go, C and Rust processes together.

use super::*;
use std::borrow::Cow;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// Unique per process and call, with the prefix `make test` checks /dev/shm for.
fn name() -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "ipcarc-test-rs-unit-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

fn exists(name: &str) -> bool {
    Path::new("/dev/shm").join(name).exists()
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Counter {
    n: u64,
    spare: [u64; 7],
}

// SAFETY: #[repr(C)], integers only, no padding.
unsafe impl PlainData for Counter {
    fn type_name() -> Cow<'static, str> {
        "ipcarc.counter.v1".into()
    }
}

#[test]
fn mirrors_match_c() {
    let c = ffi::consts();
    assert_eq!(c.spec_size as usize, std::mem::size_of::<ffi::Spec>());
    assert_eq!(c.spec_align as usize, std::mem::align_of::<ffi::Spec>());
    let s = ffi::Spec::default();
    let base = &s as *const _ as usize;
    let off = |p: *const u8| p as usize - base;
    assert_eq!(
        c.spec_value_size as usize,
        off(&s.value_size as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_value_align as usize,
        off(&s.value_align as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_max_holders as usize,
        off(&s.max_holders as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_type_tag as usize,
        off(&s.type_tag as *const _ as *const u8)
    );
    assert_eq!(c.spec_mode as usize, off(&s.mode as *const _ as *const u8));
    assert_eq!(
        c.spec_lifetime as usize,
        off(&s.lifetime as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_open_timeout_ns as usize,
        off(&s.open_timeout_ns as *const _ as *const u8)
    );

    assert_eq!(c.max_trusted_uids as usize, ffi::MAX_TRUSTED_UIDS);
    assert_eq!(
        c.spec_trusted_uids as usize,
        off(&s.trusted_uids as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_n_trusted_uids as usize,
        off(&s.n_trusted_uids as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_trusted_gid as usize,
        off(&s.trusted_gid as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_trust_flags as usize,
        off(&s.trust_flags as *const _ as *const u8)
    );
    assert_eq!(
        c.spec_shape as usize,
        off(&s.shape as *const _ as *const u8)
    );

    let k = Counters::default();
    let kb = &k as *const _ as usize;
    let koff = |p: *const u64| p as usize - kb;
    assert_eq!(c.counters_size as usize, std::mem::size_of::<Counters>());
    assert_eq!(c.counters_acquisitions as usize, koff(&k.acquisitions));
    assert_eq!(c.counters_wakeups as usize, koff(&k.wakeups));
    assert_eq!(c.counters_reaped as usize, koff(&k.reaped));
    assert_eq!(c.counters_reserved as usize, koff(&k.reserved[0]));
    assert_eq!(
        c.rs_stats_size as usize,
        std::mem::size_of::<ffi::RawStats>()
    );
    assert_eq!(
        c.rs_holder_size as usize,
        std::mem::size_of::<ffi::RawHolder>()
    );
}

#[test]
fn errnos_come_from_c() {
    // The numbers are the C library's: std reads them the same way.
    let c = ffi::consts();
    let kind = |e: i64| io::Error::from_raw_os_error(e as i32).kind();
    assert_eq!(kind(c.e_noent), io::ErrorKind::NotFound);
    assert_eq!(kind(c.e_exist), io::ErrorKind::AlreadyExists);
    assert_eq!(kind(c.e_perm), io::ErrorKind::PermissionDenied);
    assert_eq!(kind(c.e_timedout), io::ErrorKind::TimedOut);
    assert_eq!(kind(c.e_inval), io::ErrorKind::InvalidInput);
    let all = [
        c.e_perm,
        c.e_noent,
        c.e_intr,
        c.e_child,
        c.e_busy,
        c.e_exist,
        c.e_nodev,
        c.e_isdir,
        c.e_inval,
        c.e_deadlk,
        c.e_nametoolong,
        c.e_loop,
        c.e_badmsg,
        c.e_users,
        c.e_prototype,
        c.e_protonosupport,
        c.e_timedout,
        c.e_inprogress,
        c.e_ownerdead,
        c.e_notrecoverable,
    ];
    let mut seen = std::collections::HashSet::new();
    for e in all {
        assert!(
            e > 0 && seen.insert(e),
            "errno {} repeated or not positive",
            e
        );
    }
    assert_eq!(
        error::from_rc(c.e_prototype as c_int, 0, Op::Open),
        Error::TypeMismatch("type")
    );
    assert_eq!(
        error::from_rc(c.e_busy as c_int, 0, Op::Remove),
        Error::Busy
    );
    assert_eq!(
        error::from_rc(c.e_busy as c_int, 0, Op::Lock),
        Error::WouldBlock
    );
    assert_eq!(
        error::from_rc(c.e_perm as c_int, 0, Op::Unlock),
        Error::NotOwner
    );
    assert_eq!(
        error::from_rc(c.e_perm as c_int, 0, Op::Open),
        Error::Os(c.e_perm as i32)
    );
    assert_eq!(
        Error::Os(c.e_perm as i32).raw_os_error(),
        Some(c.e_perm as i32)
    );
}

#[test]
fn tags_agree_with_go() {
    // Go: Tag(s) is FNV-1a 64; its default tag of uint64 is Tag("uint64").
    let fnv = |s: &str| {
        s.bytes().fold(14695981039346656037u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1099511628211)
        })
    };
    for s in ["", "uint64", "ipcarc.counter.v1", "[4]float64"] {
        assert_eq!(tag(s), fnv(s), "{:?}", s);
    }
    assert_eq!(<u64 as PlainData>::type_name(), "uint64");
    assert_eq!(<isize as PlainData>::type_name(), "int");
    assert_eq!(<[[f32; 2]; 3] as PlainData>::type_name(), "[3][2]float32");
    assert_eq!(layout_version(), 2);
}

#[test]
fn new_load_clone_drop() {
    let n = name();
    let a = IpcArc::new(
        &n,
        Counter {
            n: 7,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(exists(&n));
    assert_eq!(a.name(), n);
    assert_eq!(a.ref_count(), 1);
    let b = IpcArc::<Counter>::load(&format!("/{}", n)).unwrap();
    assert_eq!(b.name(), n, "name without the slash");
    assert_eq!(b.get().unwrap().n, 7);
    let c = b.clone();
    assert_eq!(a.ref_count(), 3);
    drop(b);
    assert_eq!(a.ref_count(), 2);
    assert_eq!(
        c.get().unwrap().n,
        7,
        "a clone outlives the handle it came from"
    );
    c.close().unwrap();
    assert_eq!(a.ref_count(), 1);
    assert_eq!(
        IpcArc::new(&n, Counter::default()).unwrap_err(),
        Error::Exist
    );
    drop(a);
    assert!(!exists(&n), "the last drop removes the segment");
    assert_eq!(IpcArc::<Counter>::load(&n).unwrap_err(), Error::NotExist);
}

#[test]
fn open_or_new_creates_once() {
    let n = name();
    let (a, created) = IpcArc::open_or_new(&n, 1u32).unwrap();
    assert!(created);
    let (b, created) = IpcArc::open_or_new(&n, 2u32).unwrap();
    assert!(!created);
    assert_eq!(b.get().unwrap(), 1);
    drop((a, b));
    assert!(!exists(&n));
}

#[test]
fn type_mismatch_names_the_field() {
    let n = name();
    let a = IpcArc::new(&n, Counter::default()).unwrap();
    assert_eq!(
        IpcArc::<[u64; 4]>::load(&n).unwrap_err(),
        Error::TypeMismatch("value size")
    );
    assert_eq!(
        IpcArc::<[u8; 64]>::options()
            .type_tag("ipcarc.counter.v1")
            .load(&n)
            .unwrap_err(),
        Error::TypeMismatch("value alignment")
    );
    assert_eq!(
        IpcArc::<[u64; 8]>::load(&n).unwrap_err(),
        Error::TypeMismatch("type tag"),
        "same size and alignment, another type"
    );
    // The right type under another name: the tag decides.
    let same = IpcArc::<[u64; 8]>::options()
        .type_tag("ipcarc.counter.v1")
        .load(&n)
        .unwrap();
    assert_eq!(a.ref_count(), 2);
    drop(same);
    let s = a.stats();
    assert_eq!(s.ref_count, 1, "refusals leave no handle behind");
    assert_eq!(s.holders.len(), 1);
    assert!(s.holders[0].is_self);
}

#[test]
fn invalid_names_and_options() {
    for bad in [
        "",
        "/",
        ".",
        "..",
        "a/b",
        "sp ace",
        "nul\0",
        &"x".repeat(201),
    ] {
        assert_eq!(
            IpcArc::new(bad, 0u8).unwrap_err(),
            Error::InvalidName,
            "{:?}",
            bad
        );
    }
    let n = name();
    assert!(matches!(
        IpcArc::<u8>::options().mode(0o666).new(&n, 0),
        Err(Error::InvalidOption(_))
    ));
    assert!(matches!(
        IpcArc::<u8>::options().max_holders(0).new(&n, 0),
        Err(Error::InvalidOption(_))
    ));
    assert!(matches!(
        IpcArc::<u8>::options().max_holders(4097).new(&n, 0),
        Err(Error::InvalidOption(_))
    ));
    assert!(!exists(&n));
    assert_eq!(remove(&n, false), Err(Error::NotExist));
    assert_eq!(remove("a/b", false), Err(Error::InvalidName));
}

#[test]
fn lock_writes_in_place_and_counts_versions() {
    let n = name();
    let a = IpcArc::new(&n, Counter::default()).unwrap();
    let v0 = a.version();
    {
        let g = a.lock().unwrap().unwrap();
        assert_eq!(g.n, 0);
        assert!(!g.owner_died());
    }
    assert_eq!(
        a.version(),
        v0,
        "a read-only critical section is not a write"
    );
    {
        let mut g = a.lock().unwrap().unwrap();
        g.n += 5;
        assert_eq!(a.try_lock().unwrap_err(), Error::Deadlock);
        assert_eq!(a.lock().unwrap_err(), Error::Deadlock);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(a.try_lock().unwrap_err(), Error::WouldBlock);
                assert_eq!(
                    a.lock_timeout(Duration::from_millis(20)).unwrap_err(),
                    Error::Timeout("value lock")
                );
                let st = a.stats();
                assert!(st.locked && st.lock_owner != 0);
            });
        });
        g.unlock().unwrap();
    }
    assert_eq!(a.version(), v0 + 1);
    assert_eq!(a.get().unwrap().n, 5);
    a.store(Counter {
        n: 9,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(a.version(), v0 + 2);
    assert_eq!(
        a.update(|c| {
            c.n += 1;
            c.n
        })
        .unwrap(),
        10
    );
    let st = a.stats();
    assert!(!st.locked);
    assert_eq!(st.counters.stores, 1);
    assert_eq!(st.counters.updates, 1);
    assert!(st.counters.acquisitions >= 4);
}

#[test]
fn threads_count_exactly() {
    let n = name();
    let a = IpcArc::new(&n, 0u64).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            let h = a.clone(); // each thread its own handle, as with Arc
            s.spawn(move || {
                for _ in 0..10_000 {
                    *h.lock().unwrap().unwrap() += 1;
                }
            });
            s.spawn(|| {
                for _ in 0..10_000 {
                    *a.lock().unwrap().unwrap() += 1; // or a shared &IpcArc
                }
            });
        }
    });
    assert_eq!(a.get().unwrap(), 80_000);
    assert_eq!(a.ref_count(), 1);
}

#[test]
fn panic_poisons_and_unlocks() {
    let n = name();
    let a = IpcArc::new(&n, 1u64).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut g = a.lock().unwrap().unwrap();
        *g = 2;
        panic!("inside the critical section");
    }));
    assert!(r.is_err());
    assert!(a.is_poisoned());
    // Unlocked: another thread takes it without waiting, poisoned.
    std::thread::scope(|s| {
        s.spawn(|| {
            let p = a.try_lock().unwrap().unwrap_err();
            assert!(!p.get_ref().owner_died(), "a panic is no death");
            assert_eq!(**p.get_ref(), 2, "the half-made write is there");
        });
    });
    assert_eq!(a.get(), Err(Error::Poisoned));
    assert_eq!(a.store(3), Err(Error::Poisoned));
    assert_eq!(a.stats().counters.poisoned, 1);
    {
        let mut g = a.lock().unwrap().unwrap_or_else(PoisonError::into_inner);
        *g = 3;
        g.clear_poison().unwrap();
    }
    assert!(!a.is_poisoned());
    assert_eq!(a.get(), Ok(3));
    // A guard taken while already panicking does not poison on drop.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        struct LockOnDrop<'a>(&'a IpcArc<u64>);
        impl Drop for LockOnDrop<'_> {
            fn drop(&mut self) {
                let _g = self.0.lock().unwrap().unwrap();
            }
        }
        let _l = LockOnDrop(&a);
        panic!("unwinding through a lock");
    }));
    assert!(r.is_err());
    assert!(!a.is_poisoned());
}

#[test]
fn thread_death_is_owner_death() {
    let n = name();
    let a = IpcArc::new(&n, 1u64).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut g = a.lock().unwrap().unwrap();
            *g = 42;
            std::mem::forget(g); // the thread ends holding the lock
        });
    });
    let p = a.lock().unwrap().unwrap_err();
    let g = p.into_inner();
    assert!(g.owner_died());
    assert_eq!(*g, 42);
    drop(g);
    // Poisoned still, but the death was reported once.
    let p = a.lock().unwrap().unwrap_err();
    assert!(!p.get_ref().owner_died());
    drop(p);
    assert_eq!(a.update(|v| *v), Err(Error::Poisoned));
    a.clear_poison().unwrap();
    assert_eq!(a.update(|v| *v), Ok(42));
    assert_eq!(a.stats().counters.owner_deaths, 1);
}

#[test]
fn wait_wakes_on_writes() {
    let n = name();
    let a = IpcArc::new(&n, 0u32).unwrap();
    let v = a.version();
    assert_eq!(
        a.wait(v + 1, Some(Duration::ZERO)),
        Ok(v),
        "already different: at once"
    );
    std::thread::scope(|s| {
        let w = s.spawn(|| a.wait(v, Some(Duration::from_secs(20))));
        std::thread::sleep(Duration::from_millis(20));
        a.store(1).unwrap();
        assert_eq!(w.join().unwrap(), Ok(v + 1));
    });
    let t0 = Instant::now();
    assert_eq!(
        a.wait(a.version(), Some(Duration::from_millis(30))),
        Err(Error::Timeout("write"))
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
}

#[test]
fn until_removed_outlives_its_handles() {
    let n = name();
    let opts = IpcArc::<u64>::options().lifetime(Lifetime::UntilRemoved);
    drop(opts.new(&n, 5).unwrap());
    assert!(exists(&n));
    let a = IpcArc::<u64>::load(&n).unwrap();
    assert_eq!(a.get(), Ok(5));
    assert_eq!(a.stats().lifetime, Lifetime::UntilRemoved);
    assert_eq!(remove(&n, false), Err(Error::Busy), "a live holder");
    drop(a);
    remove(&n, false).unwrap();
    assert!(!exists(&n));
}

#[test]
fn stats_describe_the_segment() {
    let n = name();
    let a = IpcArc::<Counter>::options()
        .max_holders(4)
        .new(&n, Counter::default())
        .unwrap();
    let b = IpcArc::<Counter>::load(&n).unwrap();
    let s = b.stats();
    assert_eq!(s.name, n);
    assert_eq!(s.value_size, 64);
    assert_eq!(s.value_align, 8);
    assert_eq!(s.type_tag, tag("ipcarc.counter.v1"));
    assert_eq!(s.max_holders, 4);
    assert_eq!(s.ref_count, 2);
    assert_eq!(s.creator_pid as u32, std::process::id());
    assert_eq!(s.lifetime, Lifetime::LastClose);
    assert_eq!(s.holders.len(), 2);
    assert!(s
        .holders
        .iter()
        .all(|h| h.alive && h.handles == 1 && h.pid as u32 == std::process::id()));
    assert_eq!(s.holders.iter().filter(|h| h.is_self).count(), 1);
    let c = IpcArc::<Counter>::load(&n).unwrap();
    let d = IpcArc::<Counter>::load(&n).unwrap();
    assert_eq!(
        IpcArc::<Counter>::load(&n).unwrap_err(),
        Error::TooManyHolders
    );
    drop((a, b, c, d));
}

#[test]
fn unsupported_types() {
    #[repr(C, align(8192))]
    #[derive(Clone, Copy)]
    struct Huge(u8);
    // SAFETY: a test type: one integer.
    unsafe impl PlainData for Huge {
        fn type_name() -> Cow<'static, str> {
            "huge".into()
        }
    }
    assert!(matches!(
        IpcArc::new(&name(), Huge(0)),
        Err(Error::UnsupportedType(_))
    ));
    assert!(matches!(
        IpcArc::new(&name(), [0u8; 0]),
        Err(Error::UnsupportedType(_))
    ));
}

#[test]
fn errors_display_and_convert() {
    let e: Box<dyn std::error::Error> = Box::new(Error::TypeMismatch("type tag"));
    assert_eq!(
        e.to_string(),
        "ipcarc: segment holds another type: type tag differs"
    );
    assert_eq!(
        io::Error::from(Error::Exist).kind(),
        io::ErrorKind::AlreadyExists
    );
    assert_eq!(
        io::Error::from(Error::Timeout("x")).kind(),
        io::ErrorKind::TimedOut
    );
    let os = Error::Os(ffi::consts().e_perm as i32);
    assert_eq!(io::Error::from(os).kind(), io::ErrorKind::PermissionDenied);
    assert!(os.to_string().starts_with("ipcarc: "));
}

/// The guard's auto traits, as documented: Sync, not Send.
#[test]
fn guard_is_sync_not_send() {
    fn sync<T: Sync>() {}
    sync::<Guard<'static, u64>>();
    fn send<T: Send + Sync>() {}
    send::<IpcArc<u64>>();
    // Not Send: the compile_fail example in the crate documentation.
}

/// The trust rule: a file others may write, or whose group may write it
/// without `trusted_group` naming that group, or (as root) owned by another
/// uid without `trusted_owners` naming it, is refused with
/// `Error::Untrusted` before it is mapped; the options accept exactly what
/// they name.
#[test]
fn untrusted_files_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let n = name();
    let path = Path::new("/dev/shm").join(&n);
    let a = IpcArc::new(
        &n,
        Counter {
            n: 3,
            ..Default::default()
        },
    )
    .unwrap();
    let gid = std::fs::metadata(&path).unwrap().gid();
    let chmod =
        |m: u32| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap();

    chmod(0o666);
    let err = IpcArc::<Counter>::load(&n).unwrap_err();
    assert_eq!(err, Error::Untrusted("mode"));
    assert!(err.to_string().contains("not trusted"), "{}", err);
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::PermissionDenied);
    assert_eq!(
        IpcArc::open_or_new(&n, Counter::default()).unwrap_err(),
        Error::Untrusted("mode")
    );
    // No option accepts a file others may write.
    let trusting = IpcArc::<Counter>::options()
        .trusted_group(gid)
        .trusted_owners(&[0]);
    assert_eq!(trusting.load(&n).unwrap_err(), Error::Untrusted("mode"));

    chmod(0o660);
    assert_eq!(
        IpcArc::<Counter>::load(&n).unwrap_err(),
        Error::Untrusted("mode")
    );
    assert_eq!(
        IpcArc::<Counter>::options()
            .trusted_group(gid.wrapping_add(1))
            .load(&n)
            .unwrap_err(),
        Error::Untrusted("mode")
    );
    let b = IpcArc::<Counter>::options()
        .trusted_group(gid)
        .load(&n)
        .unwrap();
    assert_eq!(b.get().unwrap().n, 3);
    drop(b);
    chmod(0o600);

    let root = std::fs::metadata(&path).unwrap().uid() == 0;
    if root {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        assert_eq!(
            IpcArc::<Counter>::load(&n).unwrap_err(),
            Error::Untrusted("owner")
        );
        let b = IpcArc::<Counter>::options()
            .trusted_owners(&[65534])
            .load(&n)
            .unwrap();
        b.store(Counter {
            n: 4,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(a.get().unwrap().n, 4);
        drop(b);
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
    }
    let nine = [1u32, 2, 3, 4, 5, 6, 7, 8, 9];
    assert!(matches!(
        IpcArc::<Counter>::options().trusted_owners(&nine).load(&n),
        Err(Error::InvalidOption(_))
    ));
    assert!(matches!(
        IpcArc::<Counter>::options()
            .trusted_owners(&nine[..5])
            .trusted_owners(&nine[5..])
            .load(&n),
        Err(Error::InvalidOption(_))
    ));
    assert!(IpcArc::<Counter>::options()
        .trusted_owners(&nine[..8])
        .load(&n)
        .is_ok());
    drop(a);
    assert!(!exists(&n));
}

#[test]
fn slices() {
    let n = name();
    let s = IpcSlice::new(&n, &[1u64, 2, 3], 8).unwrap();
    assert_eq!((s.len(), s.cap()), (3, 8));
    assert_eq!(s.get().unwrap(), vec![1, 2, 3]);
    assert_eq!(s.get_at(2).unwrap(), 3);
    assert_eq!(s.get_at(3), Err(Error::OutOfRange));
    assert_eq!(s.store(&[0u64; 9]), Err(Error::OutOfRange));
    s.store(&[5, 6, 7, 8, 9]).unwrap();
    s.set_at(4, 90).unwrap();
    assert_eq!(s.set_at(5, 1), Err(Error::OutOfRange));
    {
        let mut g = s.lock().unwrap().unwrap();
        assert_eq!(&g[..], &[5, 6, 7, 8, 90]);
        assert_eq!(g.set_len(9), Err(Error::OutOfRange));
        g.set_len(2).unwrap();
        g[1] = 60;
        assert_eq!(g.len(), 2);
        assert_eq!(s.get(), Err(Error::Deadlock));
    }
    assert_eq!(s.get().unwrap(), vec![5, 60]);
    s.update(|g| {
        g.set_len(4).unwrap();
        g[2] = 1;
        g[3] = 2;
    })
    .unwrap();
    assert_eq!(s.get().unwrap(), vec![5, 60, 1, 2]);
    let o: IpcSlice<u64> = IpcSlice::load(&n).unwrap();
    assert_eq!((o.len(), o.cap()), (4, 8));
    // The shape is part of the identity, both ways.
    assert_eq!(
        IpcArc::<u64>::load(&n).unwrap_err(),
        Error::TypeMismatch("shape")
    );
    let vn = name();
    let _v = IpcArc::new(&vn, 1u64).unwrap();
    assert_eq!(
        IpcSlice::<u64>::load(&vn).unwrap_err(),
        Error::TypeMismatch("shape")
    );
    // A panic inside update poisons; recover repairs.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.update(|_| panic!("half-way"))
    }));
    assert_eq!(s.get(), Err(Error::Poisoned));
    s.recover(|g| {
        g.set_len(1)?;
        g[0] = 42;
        Ok::<(), Error>(())
    })
    .unwrap()
    .unwrap();
    assert_eq!(s.get().unwrap(), vec![42]);
    drop(o);
    drop(s);
    assert!(!exists(&n));
}
