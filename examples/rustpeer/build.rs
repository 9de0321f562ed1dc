//! Compiles the repository's cshm.c into a static library with the system C
//! compiler. No `cc` crate: the peer has no dependencies at all, so it builds
//! with `cargo build --offline` on a machine without a crate registry.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {}", cmd.get_program(), e));
    if !status.success() {
        panic!("{:?} failed: {}", cmd, status);
    }
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("..").join("..");
    // The C layer, as the Makefile's CSRC lists it.
    let sources = ["cshm.c", "table.c", "liveness.c", "valuelock.c"];
    let headers = ["cshm.h", "cshm_internal.h"];
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    // CC and AR as make and the cc crate honour them; plain cc and ar otherwise.
    let cc = env::var_os("CC").unwrap_or_else(|| "cc".into());
    let ar = env::var_os("AR").unwrap_or_else(|| "ar".into());

    let mut objs = Vec::new();
    for s in sources {
        let obj = out.join(s.replace(".c", ".o"));
        run(Command::new(&cc)
            .args(["-c", "-O2", "-fPIC", "-Wall"])
            .arg("-I")
            .arg(&root)
            .arg(root.join(s))
            .arg("-o")
            .arg(&obj));
        objs.push(obj);
    }
    let lib = out.join("libcshm.a");
    // `ar rcs` adds to an existing archive; start from nothing so a stale
    // member can never linger.
    let _ = fs::remove_file(&lib);
    run(Command::new(&ar).arg("rcs").arg(&lib).args(&objs));

    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=cshm");
    println!("cargo:rustc-link-lib=pthread");
    for f in sources.iter().chain(headers.iter()) {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=AR");
}
