//! rustpeer - a Rust process on an ipcarc segment, a user of the ipcarc crate
//! (rust/ipcarc in the repository, which links the one C implementation).
//!
//! The shared value is `Counter`: the same bytes as the Go test type Counter
//! and the C peer's `struct counter` (u64 n; [u64; 7] spare: 64 bytes,
//! alignment 8). Its `PlainData::type_name` is COUNTER_TAG, so the crate's
//! default type tag is `ipcarc_tag(COUNTER_TAG)`; Go opens with
//! `WithTypeTag(COUNTER_TAG)` and C with `ipcarc_tag(COUNTER_TAG)`.
//!
//! Subcommands; one flushed line per step on stdout:
//!     incr NAME K [gate] open (or create with n=0), add 1 to n under the lock K times: "done";
//!                        with gate, say "ready" once attached and start counting only
//!                        after a line (or EOF) on stdin, so that several processes
//!                        started one after another count at the same time
//!     create NAME VALUE  create with n=VALUE: "created"; after a line (or EOF) on stdin
//!                        read n as read does: "n=<n>", close: "closed"
//!     hold NAME          open, lock, set n=4242: "locked", then sleep until killed
//!     lock NAME          open, lock, report "ownerdied n=<n>" (the first to see a dead
//!                        owner), "poisoned n=<n>" or "ok n=<n>", unlock, close
//!     panic NAME         open, and panic inside update after setting n=13: the guard's
//!                        drop poisons and unlocks; the process exits with status 101
//!     poisoned NAME      open: "poisoned=1" or "poisoned=0", close
//!     attach NAME        open: "attached", then sleep until killed
//!     read NAME          open, read n without the lock: "n=<n>" (" poisoned" appended when so), close
//!     badsize NAME       open expecting a 32-byte value: must be refused on the value size
//!     badtag NAME        open expecting another tag: must be refused on the type tag
//!     u64 NAME VALUE     create an IpcArc<u64> with the default tag (Go's default for
//!                        uint64 too): "created"; after a line on stdin "v=<v>", close: "closed"
//! badsize and badtag print "refused <Error case> <field>" and exit 0 when the
//! open was refused as expected, and exit 1 otherwise. Unexpected errors go to
//! stderr, exit status 1; bad usage exits 2.

use ipcarc::{Error, IpcArc, PlainData};
use std::borrow::Cow;
use std::io::{self, BufRead, Write};
use std::process::exit;
use std::time::Duration;

const COUNTER_TAG: &str = "ipcarc.counter.v1";

/// The Go test type Counter, byte for byte.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Counter {
    n: u64,
    spare: [u64; 7],
}
const _: () = assert!(std::mem::size_of::<Counter>() == 64);
const _: () = assert!(std::mem::align_of::<Counter>() == 8);

// SAFETY: #[repr(C)], integers only (any bit pattern is a Counter), no
// pointers, no padding.
unsafe impl PlainData for Counter {
    fn type_name() -> Cow<'static, str> {
        COUNTER_TAG.into()
    }
}

/// One line on stdout, flushed: the parent waits for it on a pipe.
fn say(line: &str) {
    let mut out = io::stdout().lock();
    // A closed pipe means the parent is gone: nothing left to tell.
    let _ = writeln!(out, "{}", line);
    let _ = out.flush();
}

fn die(op: &str, name: &str, e: Error) -> ! {
    eprintln!("rustpeer: {} {}: {} ({:?})", op, name, e, e);
    exit(1);
}

fn opts<T: PlainData>() -> ipcarc::Options<T> {
    // Attaching takes the holder table's lock; under a busy machine the
    // default can be short.
    IpcArc::<T>::options().open_timeout(Duration::from_secs(5))
}

fn open(name: &str) -> IpcArc<Counter> {
    opts().load(name).unwrap_or_else(|e| die("open", name, e))
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Wait for a line or EOF on stdin: the parent's "go" (or "close").
fn wait_stdin() {
    let mut line = String::new();
    let _ = io::stdin().lock().read_line(&mut line);
}

/// The value, and whether it is poisoned (it is still read).
fn read(a: &IpcArc<Counter>, name: &str) -> (u64, bool) {
    match a.get() {
        Ok(v) => (v.n, false),
        // The seqlock read refuses a poisoned value; the lock hands it over.
        Err(Error::Poisoned) | Err(Error::OwnerDead) => {
            let g = a
                .lock()
                .unwrap_or_else(|e| die("lock", name, e))
                .unwrap_or_else(|p| p.into_inner());
            (g.n, true)
        }
        Err(e) => die("load", name, e),
    }
}

fn poisoned_suffix(p: bool) -> &'static str {
    if p {
        " poisoned"
    } else {
        ""
    }
}

fn cmd_incr(name: &str, k: u64, gate: bool) {
    let (a, _) = opts()
        .open_or_new(name, Counter::default())
        .unwrap_or_else(|e| die("open or create", name, e));
    if gate {
        say("ready");
        wait_stdin();
    }
    for _ in 0..k {
        // A poisoned value is counted on (as the C peer and Go's children do).
        let mut g = a
            .lock()
            .unwrap_or_else(|e| die("lock", name, e))
            .unwrap_or_else(|p| p.into_inner());
        g.n = g.n.wrapping_add(1);
    }
    a.close().unwrap_or_else(|e| die("close", name, e));
    say("done");
}

/// The element tag of the slice modes: Go opens with WithTypeTag(U64_TAG),
/// C with ipcarc_tag(U64_TAG).
const U64_TAG: &str = "ipcarc.u64.v1";

/// sincr NAME K [gate]: open the slice of u64 (Go created it) and add 1 to
/// every element in use, under the lock, K times.
fn cmd_sincr(name: &str, k: u64, gate: bool) {
    let s = opts::<u64>()
        .type_tag(U64_TAG)
        .load_slice(name)
        .unwrap_or_else(|e| die("open slice", name, e));
    if gate {
        say("ready");
        wait_stdin();
    }
    for _ in 0..k {
        s.update(|g| {
            for x in g.iter_mut() {
                *x = x.wrapping_add(1);
            }
        })
        .unwrap_or_else(|e| die("update", name, e));
    }
    drop(s);
    say("done");
}

/// Lock-free adds: AtomicU64::fetch_add (SeqCst), the same instruction on the
/// same address as Go's atomic.Uint64.Add and C's __atomic_fetch_add.
fn cmd_atomic(name: &str, k: u64, idx: usize, gate: bool) {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    if idx > 7 {
        usage();
    }
    let (a, _) = opts()
        .open_or_new(name, Counter::default())
        .unwrap_or_else(|e| die("open or create", name, e));
    let w: &[AtomicU64; 8] = a.atomic().unwrap_or_else(|e| die("atomic", name, e));
    if gate {
        say("ready");
        wait_stdin();
    }
    for _ in 0..k {
        w[0].fetch_add(1, SeqCst);
        if idx > 0 {
            w[idx].fetch_add(1, SeqCst);
        }
    }
    a.notify().unwrap_or_else(|e| die("notify", name, e));
    a.close().unwrap_or_else(|e| die("close", name, e));
    say("done");
}

fn cmd_create(name: &str, value: u64) {
    let a = opts()
        .new(
            name,
            Counter {
                n: value,
                ..Counter::default()
            },
        )
        .unwrap_or_else(|e| die("create", name, e));
    say("created");
    wait_stdin();
    let (n, poisoned) = read(&a, name);
    say(&format!("n={}{}", n, poisoned_suffix(poisoned)));
    a.close().unwrap_or_else(|e| die("close", name, e));
    say("closed");
}

fn cmd_hold(name: &str) -> ! {
    let a = open(name);
    let mut g = a
        .lock()
        .unwrap_or_else(|e| die("lock", name, e))
        .unwrap_or_else(|p| p.into_inner());
    g.n = 4242;
    say("locked");
    sleep_forever()
}

fn cmd_lock(name: &str) {
    let a = open(name);
    match a.lock().unwrap_or_else(|e| die("lock", name, e)) {
        Ok(g) => say(&format!("ok n={}", g.n)),
        Err(p) if p.get_ref().owner_died() => say(&format!("ownerdied n={}", p.get_ref().n)),
        Err(p) => say(&format!("poisoned n={}", p.get_ref().n)),
    }
    a.close().unwrap_or_else(|e| die("close", name, e));
}

fn cmd_panic(name: &str) {
    let a = open(name);
    let _ = a.update(|c| {
        c.n = 13;
        panic!("rustpeer: panicking inside update, holding the lock");
    });
}

fn cmd_poisoned(name: &str) {
    let a = open(name);
    say(&format!("poisoned={}", a.is_poisoned() as u8));
    a.close().unwrap_or_else(|e| die("close", name, e));
}

fn cmd_attach(name: &str) -> ! {
    let _a = open(name);
    say("attached");
    sleep_forever()
}

fn cmd_read(name: &str) {
    let a = open(name);
    let (n, poisoned) = read(&a, name);
    say(&format!("n={}{}", n, poisoned_suffix(poisoned)));
    a.close().unwrap_or_else(|e| die("close", name, e));
}

fn cmd_u64(name: &str, v: u64) {
    let a = opts()
        .new(name, v)
        .unwrap_or_else(|e| die("create", name, e));
    say("created");
    wait_stdin();
    say(&format!(
        "v={}",
        a.get().unwrap_or_else(|e| die("load", name, e))
    ));
    a.close().unwrap_or_else(|e| die("close", name, e));
    say("closed");
}

/// Open with a type that must not match; succeed only on the expected refusal.
fn expect_refusal<T: PlainData>(name: &str, opts: ipcarc::Options<T>, field: &str) -> i32 {
    match opts.load(name) {
        Ok(a) => {
            eprintln!("rustpeer: open {}: accepted a mismatched type", name);
            drop(a);
            1
        }
        Err(Error::TypeMismatch(f)) if f == field => {
            say(&format!("refused TypeMismatch {}", f));
            0
        }
        Err(e) => die("open (expecting a refusal)", name, e),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: rustpeer incr NAME K [gate] | create NAME VALUE | hold NAME | lock NAME |\n       panic NAME | poisoned NAME | attach NAME | read NAME | badsize NAME |\n       badtag NAME | u64 NAME VALUE | sincr NAME K [gate] |\n       atomic NAME K I [gate]"
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
        [_, "atomic", name, k, i] => {
            cmd_atomic(name, parse_u64(k, "count"), parse_u64(i, "index") as usize, false);
            0
        }
        [_, "atomic", name, k, i, "gate"] => {
            cmd_atomic(name, parse_u64(k, "count"), parse_u64(i, "index") as usize, true);
            0
        }
        [_, "sincr", name, k] => {
            cmd_sincr(name, parse_u64(k, "count"), false);
            0
        }
        [_, "sincr", name, k, "gate"] => {
            cmd_sincr(name, parse_u64(k, "count"), true);
            0
        }
        [_, "create", name, v] => {
            cmd_create(name, parse_u64(v, "value"));
            0
        }
        [_, "u64", name, v] => {
            cmd_u64(name, parse_u64(v, "value"));
            0
        }
        [_, "hold", name] => cmd_hold(name),
        [_, "lock", name] => {
            cmd_lock(name);
            0
        }
        [_, "panic", name] => {
            cmd_panic(name);
            0
        }
        [_, "poisoned", name] => {
            cmd_poisoned(name);
            0
        }
        [_, "attach", name] => cmd_attach(name),
        [_, "read", name] => {
            cmd_read(name);
            0
        }
        // Half a Counter: 32 bytes, same alignment, same tag.
        [_, "badsize", name] => {
            expect_refusal(name, opts::<[u64; 4]>().type_tag(COUNTER_TAG), "value size")
        }
        // The same bytes as another type.
        [_, "badtag", name] => expect_refusal(
            name,
            opts::<Counter>().type_tag("ipcarc.counter.v2"),
            "type tag",
        ),
        _ => usage(),
    };
    exit(code)
}
