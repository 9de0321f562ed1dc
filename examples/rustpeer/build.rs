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
    let src = root.join("cshm.c");
    let hdr = root.join("cshm.h");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    // CC and AR as make and the cc crate honour them; plain cc and ar otherwise.
    let cc = env::var_os("CC").unwrap_or_else(|| "cc".into());
    let ar = env::var_os("AR").unwrap_or_else(|| "ar".into());

    let obj = out.join("cshm.o");
    run(Command::new(&cc)
        .args(["-c", "-O2", "-fPIC", "-Wall"])
        .arg("-I")
        .arg(&root)
        .arg(&src)
        .arg("-o")
        .arg(&obj));
    let lib = out.join("libcshm.a");
    // `ar rcs` adds to an existing archive; start from nothing so a stale
    // member can never linger.
    let _ = fs::remove_file(&lib);
    run(Command::new(&ar).arg("rcs").arg(&lib).arg(&obj));

    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=cshm");
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-changed={}", hdr.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=AR");
}
