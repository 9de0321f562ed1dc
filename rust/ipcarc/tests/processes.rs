//! Several Rust processes on one segment: the test binary re-executes itself
//! with `child ROLE NAME` (no test harness: this file is its own main).
//! The repository's Go tests (crosslang_test.go) run Go, C and Rust together.

use ipcarc::{Error, IpcArc};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const EACH: u64 = 20_000;

fn child_main(role: &str, name: &str) {
    let say = |l: &str| {
        let mut o = std::io::stdout().lock();
        writeln!(o, "{}", l).unwrap();
        o.flush().unwrap();
    };
    match role {
        "hold" => {
            let a = IpcArc::<u64>::load(name).unwrap();
            let mut g = a.lock().unwrap().unwrap();
            *g = 4242;
            say("locked");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "attach" => {
            let _a = IpcArc::<u64>::load(name).unwrap();
            say("attached");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "incr" => {
            let a = IpcArc::<u64>::load(name).unwrap();
            say("ready");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            for _ in 0..EACH {
                *a.lock().unwrap().unwrap() += 1;
            }
            drop(a);
            say("done");
        }
        "panic" => {
            let a = IpcArc::<u64>::load(name).unwrap();
            // The process dies of the panic; the guard's drop ran first.
            let _ = a.update(|v| {
                *v = 13;
                panic!("child panics holding the lock");
            });
        }
        _ => panic!("unknown role {}", role),
    }
}

struct Kid {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Kid {
    fn start(role: &str, name: &str) -> Kid {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child", role, name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Kid { child, out }
    }

    fn expect(&mut self, want: &str) {
        let mut l = String::new();
        self.out.read_line(&mut l).unwrap();
        assert_eq!(l.trim_end(), want, "child said {:?}", l);
    }

    fn go(&mut self) {
        writeln!(self.child.stdin.as_mut().unwrap(), "go").unwrap();
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

fn name(test: &str) -> String {
    format!("ipcarc-test-rs-proc-{}-{}", std::process::id(), test)
}

/// A process killed holding the lock hands it on: the next locker gets the
/// guard inside a PoisonError, told that the owner died, and the value the
/// dead process wrote.
fn owner_death_across_processes() {
    let n = name("death");
    let a = IpcArc::new(&n, 1u64).unwrap();
    let mut k = Kid::start("hold", &n);
    k.expect("locked");
    assert_eq!(a.try_lock().unwrap_err(), Error::WouldBlock);
    k.kill();
    let p = a.lock().unwrap().unwrap_err();
    let mut g = p.into_inner();
    assert!(g.owner_died());
    assert_eq!(*g, 4242);
    *g = 1;
    g.clear_poison().unwrap();
    drop(g);
    assert_eq!(a.reap().unwrap(), 1, "the dead holder's handle");
    assert_eq!(a.ref_count(), 1);
}

/// Processes adding under the lock at once lose no increment.
fn processes_count_exactly() {
    let n = name("count");
    let a = IpcArc::new(&n, 0u64).unwrap();
    let mut kids: Vec<Kid> = (0..3).map(|_| Kid::start("incr", &n)).collect();
    for k in &mut kids {
        k.expect("ready");
    }
    assert_eq!(a.ref_count(), 4);
    for k in &mut kids {
        k.go();
    }
    for _ in 0..EACH {
        *a.lock().unwrap().unwrap() += 1;
    }
    for mut k in kids {
        k.expect("done");
        assert!(k.child.wait().unwrap().success());
    }
    assert_eq!(a.get().unwrap(), 4 * EACH);
    assert_eq!(a.ref_count(), 1);
}

/// A process that panics inside `update` poisons the value and unlocks on
/// its way out: no owner death, and the lock is free at once.
fn panicking_process_poisons() {
    let n = name("panic");
    let a = IpcArc::new(&n, 0u64).unwrap();
    let mut k = Kid::start("panic", &n);
    assert!(!k.child.wait().unwrap().success());
    assert!(a.is_poisoned());
    let p = a.try_lock().unwrap().unwrap_err();
    assert!(
        !p.get_ref().owner_died(),
        "unlocked by the guard, not by the kernel"
    );
    assert_eq!(**p.get_ref(), 13);
    drop(p);
    a.clear_poison().unwrap();
    assert_eq!(a.get(), Ok(13));
}

/// A process killed while attached is reaped.
fn killed_holder_reaped() {
    let n = name("reap");
    let a = IpcArc::new(&n, 0u64).unwrap();
    let mut k = Kid::start("attach", &n);
    k.expect("attached");
    assert_eq!(a.ref_count(), 2);
    assert_eq!(a.reap().unwrap(), 0);
    k.kill();
    assert_eq!(a.reap().unwrap(), 1);
    assert_eq!(a.ref_count(), 1);
    drop(a);
    assert!(!Path::new("/dev/shm").join(&n).exists());
}

// The crate has no libc dependency; std links libc, so these resolve.
extern "C" {
    fn fork() -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn alarm(seconds: u32) -> u32;
    fn _exit(code: i32) -> !;
}

/// In a child forked without exec (this harness-less binary is
/// single-threaded), every method on the inherited handle returns
/// `Error::Forked` at once (alarm(5): a hang kills the child and fails the
/// test), the value-returning ones answer for a handle without an
/// attachment, and the parent's value, version and count are unchanged;
/// once with the parent holding the lock across the fork.
fn forked_child_is_refused() {
    for held in [false, true] {
        let n = name(if held { "fork-held" } else { "fork" });
        let a = IpcArc::new(&n, 77u64).unwrap();
        a.store(77).unwrap();
        let v0 = a.version();
        let g = if held {
            Some(a.lock().unwrap().unwrap())
        } else {
            None
        };
        // SAFETY: fork in a single-threaded process; the child only calls
        // the crate and exits with _exit.
        let pid = unsafe { fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // A panic in here exits non-zero (and drops nothing shared).
            unsafe { alarm(5) };
            assert!(matches!(a.lock(), Err(Error::Forked)));
            assert!(matches!(a.try_lock(), Err(Error::Forked)));
            assert!(matches!(
                a.lock_timeout(Duration::from_millis(100)),
                Err(Error::Forked)
            ));
            assert_eq!(a.get(), Err(Error::Forked));
            assert_eq!(a.store(1000), Err(Error::Forked));
            assert_eq!(a.update(|v| *v = 1000), Err(Error::Forked));
            assert_eq!(a.clear_poison(), Err(Error::Forked));
            assert_eq!(a.wait(v0, None), Err(Error::Forked));
            assert_eq!(a.wait(v0 + 1, None), Err(Error::Forked));
            assert_eq!(a.reap(), Err(Error::Forked));
            assert!(matches!(a.try_clone(), Err(Error::Forked)));
            assert_eq!(a.ref_count(), 0);
            assert!(!a.is_poisoned());
            assert_eq!(a.version(), 0);
            let st = a.stats();
            assert_eq!(st.ref_count, 0);
            assert!(st.holders.is_empty());
            assert!(!st.locked);
            assert_eq!(st.version, 0);
            assert_eq!(st.counters.acquisitions, 0);
            // The guard (held) is the parent's: never dropped here.
            std::mem::forget(g);
            assert_eq!(a.close(), Err(Error::Forked));
            unsafe { _exit(0) };
        }
        let mut status = 0;
        assert_eq!(unsafe { waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(
            status, 0,
            "fork child failed or hung (wait status {:#x})",
            status
        );
        if let Some(g) = &g {
            assert_eq!(**g, 77);
            assert!(a.stats().locked, "the parent still holds the lock");
        } else {
            assert!(!a.stats().locked);
        }
        drop(g); // read only: unlocked unchanged
        assert_eq!(a.get(), Ok(77));
        assert_eq!(a.version(), v0);
        assert_eq!(a.ref_count(), 1);
        assert_eq!(a.reap(), Ok(0));
        drop(a);
        assert!(!Path::new("/dev/shm").join(&n).exists());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "child" {
        child_main(&args[2], &args[3]);
        return;
    }
    let tests: [(&str, fn()); 5] = [
        ("owner_death_across_processes", owner_death_across_processes),
        ("processes_count_exactly", processes_count_exactly),
        ("panicking_process_poisons", panicking_process_poisons),
        ("killed_holder_reaped", killed_holder_reaped),
        ("forked_child_is_refused", forked_child_is_refused),
    ];
    // `cargo test NAME`: run the tests whose name contains NAME.
    let filter: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let mut ran = 0;
    for (t, f) in tests {
        if filter.is_empty() || filter.iter().any(|p| t.contains(p.as_str())) {
            f();
            println!("test {} ... ok", t);
            ran += 1;
        }
    }
    println!("test result: ok. {} passed (processes)", ran);
}
