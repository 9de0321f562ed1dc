//! rustpeer - a Rust process on an ipcarc segment, through the C API in
//! cshm.h (linked from the repository's cshm.c by build.rs): the segment
//! protocol stays implemented once, in C.
//!
//! The shared value is `Counter`: the same bytes as the Go test type Counter
//! and the C peer's `struct counter` (u64 n; [u64; 7] spare: 64 bytes,
//! alignment 8), named by the type tag `ipcarc_tag(COUNTER_TAG)`. Go's default
//! tag hashes the Go type's layout description, which Rust cannot reproduce,
//! so Go opens with `WithTypeTag(COUNTER_TAG)`.
//!
//! Subcommands, the same as the C peer's; one flushed line per step on stdout:
//!     incr NAME K [gate] open (or create with n=0), add 1 to n under the lock K times: "done";
//!                        with gate, say "ready" once attached and start counting only
//!                        after a line (or EOF) on stdin, so that several processes
//!                        started one after another count at the same time
//!     create NAME VALUE  create with n=VALUE: "created"; after a line (or EOF) on stdin
//!                        read n as read does: "n=<n>", close: "closed"
//!     hold NAME          open, lock, set n=4242: "locked", then sleep until killed
//!     poisoned NAME      open: "poisoned=1" or "poisoned=0", close
//!     attach NAME        open: "attached", then sleep until killed
//!     read NAME          open, read n without the lock: "n=<n>" (" poisoned" appended when so), close
//!     badsize NAME       open expecting a 32-byte value: must be refused on the value size
//!     badtag NAME        open expecting another tag: must be refused on the type tag
//! badsize and badtag print "refused <ERRNO NAME> <field>" and exit 0 when the
//! open was refused as expected, and exit 1 otherwise. Unexpected errors go to
//! stderr with the errno text, exit status 1; bad usage exits 2.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::{self, BufRead, Write};
use std::marker::{PhantomData, PhantomPinned};
use std::process::exit;
use std::ptr;
use std::time::Duration;

const COUNTER_TAG: &str = "ipcarc.counter.v1";

// ---- FFI: the parts of cshm.h this peer uses ---------------------------------

/// `ipcarc_spec` from cshm.h, field for field.
#[repr(C)]
#[derive(Clone, Copy)]
struct IpcarcSpec {
    value_size: u64,
    value_align: u32,
    max_holders: u32,
    type_tag: u64,
    mode: u32,
    lifetime: u32, // IPCARC_LIFETIME_*: 0 = removed at the last close
    open_timeout_ns: i64,
}
const _: () = assert!(std::mem::size_of::<IpcarcSpec>() == 40);
const _: () = assert!(std::mem::align_of::<IpcarcSpec>() == 8);

/// `ipcarc_seg`: opaque, only ever behind a pointer C handed out. Not Send,
/// not Sync, not Unpin: the lock belongs to the thread that took it.
#[repr(C)]
struct IpcarcSeg {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

// enum ipcarc_field: the two values this peer compares against.
const IPCARC_FIELD_NONE: c_int = 0;
const IPCARC_FIELD_VALUE_SIZE: c_int = 8;
const IPCARC_FIELD_TYPE_TAG: c_int = 10;

extern "C" {
    fn ipcarc_tag(s: *const c_char) -> u64;
    fn ipcarc_field_name(field: c_int) -> *const c_char;
    fn ipcarc_create(
        name: *const c_char,
        spec: *const IpcarcSpec,
        init: *const c_void,
        out: *mut *mut IpcarcSeg,
    ) -> c_int;
    fn ipcarc_open(
        name: *const c_char,
        spec: *const IpcarcSpec,
        out: *mut *mut IpcarcSeg,
        field: *mut c_int,
    ) -> c_int;
    fn ipcarc_open_or_create(
        name: *const c_char,
        spec: *const IpcarcSpec,
        init: *const c_void,
        out: *mut *mut IpcarcSeg,
        created: *mut c_int,
        field: *mut c_int,
    ) -> c_int;
    fn ipcarc_close(s: *mut IpcarcSeg) -> c_int;
    fn ipcarc_data(s: *mut IpcarcSeg) -> *mut c_void;
    fn ipcarc_lock(s: *mut IpcarcSeg) -> c_int;
    fn ipcarc_unlock(s: *mut IpcarcSeg) -> c_int;
    fn ipcarc_poisoned(s: *mut IpcarcSeg) -> c_int;
    fn ipcarc_load(s: *mut IpcarcSeg, dst: *mut c_void, n: usize) -> c_int;
}

// The errno values the C API returns. Linux's generic numbering, which every
// architecture cshm.c has an ABI code for shares (no libc crate: no
// dependencies).
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "x86",
        target_arch = "arm",
        target_arch = "riscv64",
        target_arch = "powerpc64",
        target_arch = "s390x"
    )
)))]
compile_error!(
    "rustpeer knows the errno numbers of Linux on the architectures cshm.c supports only"
);

const EPERM: c_int = 1;
const ENOENT: c_int = 2;
const ENOMEM: c_int = 12;
const EACCES: c_int = 13;
const EBUSY: c_int = 16;
const EEXIST: c_int = 17;
const EINVAL: c_int = 22;
const ENOSPC: c_int = 28;
const EDEADLK: c_int = 35;
const EBADMSG: c_int = 74;
const EUSERS: c_int = 87;
const EPROTOTYPE: c_int = 91;
const EPROTONOSUPPORT: c_int = 93;
const ETIMEDOUT: c_int = 110;
const EOWNERDEAD: c_int = 130;
const ENOTRECOVERABLE: c_int = 131;

fn errno_name(e: c_int) -> &'static str {
    match e {
        0 => "OK",
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        EINVAL => "EINVAL",
        ENOSPC => "ENOSPC",
        EDEADLK => "EDEADLK",
        EBADMSG => "EBADMSG",
        EUSERS => "EUSERS",
        EPROTOTYPE => "EPROTOTYPE",
        EPROTONOSUPPORT => "EPROTONOSUPPORT",
        ETIMEDOUT => "ETIMEDOUT",
        EOWNERDEAD => "EOWNERDEAD",
        ENOTRECOVERABLE => "ENOTRECOVERABLE",
        _ => "errno",
    }
}

fn field_name(field: c_int) -> String {
    // SAFETY: ipcarc_field_name returns a static NUL-terminated string for any input.
    unsafe { CStr::from_ptr(ipcarc_field_name(field)) }
        .to_string_lossy()
        .into_owned()
}

// ---- the shared value --------------------------------------------------------

/// The Go test type Counter, byte for byte.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Counter {
    n: u64,
    spare: [u64; 7],
}
const _: () = assert!(std::mem::size_of::<Counter>() == 64);
const _: () = assert!(std::mem::align_of::<Counter>() == 8);

fn tag(s: &str) -> u64 {
    let c = CString::new(s).expect("tag without NUL");
    // SAFETY: c is a valid NUL-terminated string for the duration of the call.
    unsafe { ipcarc_tag(c.as_ptr()) }
}

fn counter_spec() -> IpcarcSpec {
    IpcarcSpec {
        value_size: std::mem::size_of::<Counter>() as u64,
        value_align: std::mem::align_of::<Counter>() as u32,
        max_holders: 0,
        type_tag: tag(COUNTER_TAG),
        mode: 0o600,
        lifetime: 0,
        // Attaching takes the segment mutex; under a busy lock the 1s default
        // can be short.
        open_timeout_ns: 5_000_000_000,
    }
}

// ---- output and errors --------------------------------------------------------

/// One line on stdout, flushed: the parent waits for it on a pipe.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    // A closed pipe means the parent is gone: nothing left to tell.
    let _ = writeln!(out, "{}", line);
    let _ = out.flush();
}

fn die(op: &str, name: &str, rc: c_int, field: c_int) -> ! {
    let mut msg = format!(
        "rustpeer: {} {}: {} ({}): {}",
        op,
        name,
        errno_name(rc),
        rc,
        io::Error::from_raw_os_error(rc)
    );
    if field != IPCARC_FIELD_NONE {
        msg.push_str(&format!(" [field: {}]", field_name(field)));
    }
    eprintln!("{}", msg);
    exit(1);
}

// ---- a handle -----------------------------------------------------------------

/// One ipcarc handle. Not closed on drop: a peer killed while holding it is
/// exactly what the tests exercise, and the exits that matter are explicit.
struct Seg {
    s: *mut IpcarcSeg,
    name: String,
}

impl Seg {
    fn cname(name: &str) -> CString {
        CString::new(name).unwrap_or_else(|_| {
            eprintln!("rustpeer: name contains NUL");
            exit(2)
        })
    }

    fn open_spec(name: &str, spec: &IpcarcSpec) -> Result<Seg, (c_int, c_int)> {
        let cname = Self::cname(name);
        let mut s = ptr::null_mut();
        let mut field = IPCARC_FIELD_NONE;
        // SAFETY: every pointer is valid for the call; C keeps none of them.
        let rc = unsafe { ipcarc_open(cname.as_ptr(), spec, &mut s, &mut field) };
        if rc != 0 {
            return Err((rc, field));
        }
        Ok(Seg {
            s,
            name: name.to_string(),
        })
    }

    fn open(name: &str) -> Seg {
        Self::open_spec(name, &counter_spec())
            .unwrap_or_else(|(rc, field)| die("open", name, rc, field))
    }

    fn open_or_create(name: &str) -> Seg {
        let cname = Self::cname(name);
        let spec = counter_spec();
        let init = Counter::default();
        let mut s = ptr::null_mut();
        let (mut created, mut field) = (0, IPCARC_FIELD_NONE);
        // SAFETY: init is a Counter, spec.value_size bytes; C copies it before returning.
        let rc = unsafe {
            ipcarc_open_or_create(
                cname.as_ptr(),
                &spec,
                &init as *const Counter as *const c_void,
                &mut s,
                &mut created,
                &mut field,
            )
        };
        if rc != 0 {
            die("open or create", name, rc, field);
        }
        Seg {
            s,
            name: name.to_string(),
        }
    }

    fn create(name: &str, init: Counter) -> Seg {
        let cname = Self::cname(name);
        let spec = counter_spec();
        let mut s = ptr::null_mut();
        // SAFETY: as in open_or_create.
        let rc = unsafe {
            ipcarc_create(
                cname.as_ptr(),
                &spec,
                &init as *const Counter as *const c_void,
                &mut s,
            )
        };
        if rc != 0 {
            die("create", name, rc, IPCARC_FIELD_NONE);
        }
        Seg {
            s,
            name: name.to_string(),
        }
    }

    /// The value in the mapping. Only dereferenced between lock and unlock:
    /// other processes write it under the same mutex, and the FFI calls
    /// around each access keep the compiler from caching it across them.
    fn data(&self) -> *mut Counter {
        // SAFETY: s is a live handle; the C layer aligned the value for Counter.
        unsafe { ipcarc_data(self.s) as *mut Counter }
    }

    /// Lock; EOWNERDEAD also means the lock is held (the value is poisoned).
    fn lock(&self) {
        // SAFETY: s is a live handle.
        let rc = unsafe { ipcarc_lock(self.s) };
        if rc == EOWNERDEAD {
            eprintln!(
                "rustpeer: lock {}: previous owner died; value poisoned",
                self.name
            );
        } else if rc != 0 {
            die("lock", &self.name, rc, IPCARC_FIELD_NONE);
        }
    }

    fn unlock(&self) {
        // SAFETY: s is a live handle; C checks that this thread owns the lock.
        let rc = unsafe { ipcarc_unlock(self.s) };
        if rc != 0 {
            die("unlock", &self.name, rc, IPCARC_FIELD_NONE);
        }
    }

    fn poisoned(&self) -> bool {
        // SAFETY: s is a live handle.
        unsafe { ipcarc_poisoned(self.s) != 0 }
    }

    /// A consistent copy without the lock (seqlock); poisoned says whether the
    /// value is marked poisoned (it is still copied).
    fn load(&self) -> (Counter, bool) {
        let mut v = Counter::default();
        // SAFETY: v is a Counter, exactly value_size bytes.
        let rc = unsafe {
            ipcarc_load(
                self.s,
                &mut v as *mut Counter as *mut c_void,
                std::mem::size_of::<Counter>(),
            )
        };
        match rc {
            0 => (v, false),
            ENOTRECOVERABLE | EOWNERDEAD => (v, true),
            _ => die("load", &self.name, rc, IPCARC_FIELD_NONE),
        }
    }

    fn close(self) {
        // SAFETY: s is a live handle, closed once (close takes self).
        let rc = unsafe { ipcarc_close(self.s) };
        if rc != 0 {
            die("close", &self.name, rc, IPCARC_FIELD_NONE);
        }
    }
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn poisoned_suffix(p: bool) -> &'static str {
    if p {
        " poisoned"
    } else {
        ""
    }
}

// ---- subcommands ----------------------------------------------------------------

/// Wait for a line or EOF on stdin: the parent's "go" (or "close").
fn wait_stdin() {
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
}

fn cmd_incr(name: &str, k: u64, gate: bool) {
    let s = Seg::open_or_create(name);
    if gate {
        say("ready");
        wait_stdin();
    }
    let c = s.data();
    for _ in 0..k {
        s.lock();
        // SAFETY: under the segment mutex; c points at the mapped Counter.
        unsafe { (*c).n = (*c).n.wrapping_add(1) };
        s.unlock();
    }
    s.close();
    say("done");
}

fn cmd_create(name: &str, value: u64) {
    let s = Seg::create(
        name,
        Counter {
            n: value,
            ..Counter::default()
        },
    );
    say("created");
    wait_stdin();
    let (v, poisoned) = s.load();
    say(&format!("n={}{}", v.n, poisoned_suffix(poisoned)));
    s.close();
    say("closed");
}

fn cmd_hold(name: &str) -> ! {
    let s = Seg::open(name);
    s.lock();
    // SAFETY: under the segment mutex.
    unsafe { (*s.data()).n = 4242 };
    say("locked");
    sleep_forever()
}

fn cmd_poisoned(name: &str) {
    let s = Seg::open(name);
    say(&format!("poisoned={}", s.poisoned() as u8));
    s.close();
}

fn cmd_attach(name: &str) -> ! {
    let _s = Seg::open(name);
    say("attached");
    sleep_forever()
}

fn cmd_read(name: &str) {
    let s = Seg::open(name);
    let (v, poisoned) = s.load();
    say(&format!("n={}{}", v.n, poisoned_suffix(poisoned)));
    s.close();
}

/// Open with a spec that must not match; succeed only on the expected refusal.
fn expect_refusal(name: &str, spec: IpcarcSpec, want_field: c_int) -> i32 {
    match Seg::open_spec(name, &spec) {
        Ok(s) => {
            eprintln!("rustpeer: open {}: accepted a mismatched spec", name);
            s.close();
            1
        }
        Err((rc, field)) if rc == EPROTOTYPE && field == want_field => {
            say(&format!("refused {} {}", errno_name(rc), field_name(field)));
            0
        }
        Err((rc, field)) => die("open (expecting a refusal)", name, rc, field),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: rustpeer incr NAME K [gate] | create NAME VALUE | hold NAME | poisoned NAME |\n       attach NAME | read NAME | badsize NAME | badtag NAME"
    );
    exit(2)
}

fn parse_u64(arg: &str, what: &str) -> u64 {
    arg.parse().unwrap_or_else(|_| {
        eprintln!("rustpeer: bad {} \"{}\"", what, arg);
        exit(2)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = match args.as_slice() {
        [_, "incr", name, k] => {
            cmd_incr(name, parse_u64(k, "count"), false);
            0
        }
        [_, "incr", name, k, "gate"] => {
            cmd_incr(name, parse_u64(k, "count"), true);
            0
        }
        [_, "create", name, v] => {
            cmd_create(name, parse_u64(v, "value"));
            0
        }
        [_, "hold", name] => cmd_hold(name),
        [_, "poisoned", name] => {
            cmd_poisoned(name);
            0
        }
        [_, "attach", name] => cmd_attach(name),
        [_, "read", name] => {
            cmd_read(name);
            0
        }
        [_, "badsize", name] => {
            let mut sp = counter_spec();
            sp.value_size = 32; // half a Counter
            expect_refusal(name, sp, IPCARC_FIELD_VALUE_SIZE)
        }
        [_, "badtag", name] => {
            let mut sp = counter_spec();
            sp.type_tag = tag("ipcarc.counter.v2"); // same bytes, another type
            expect_refusal(name, sp, IPCARC_FIELD_TYPE_TAG)
        }
        _ => usage(),
    };
    exit(code)
}
