//! Builds the C side the crate links: the repository's C layer (validate.c,
//! cshm.c, admin.c, slice.c, table.c, liveness.c, valuelock.c, as the
//! Makefile's CSRC lists them) and the crate's csrc/shim.c, compiled with the system C compiler into one static
//! library in OUT_DIR.
//!
//! No `cc` crate: this machine has no crates registry, so the crate has no
//! dependencies at all and builds with `cargo build --offline`. With a
//! registry, `compile_static` below is what the `cc` crate does, and becomes:
//!
//! ```ignore
//! cc::Build::new()
//!     .files(C_LAYER.iter().map(|f| src.join(f)))
//!     .file("csrc/shim.c")
//!     .include(&src)
//!     .flag("-std=c11")
//!     .flag("-fvisibility=hidden")
//!     .compile("ipcarc_c");
//! ```
//!
//! Environment:
//! - `IPCARC_C_SRC`: the directory holding ipcarc.h and the C layer (default:
//!   the repository root, two levels up from this crate).
//! - `IPCARC_PKG_CONFIG=1`: link an installed libipcarc instead
//!   (`pkg-config --cflags --libs ipcarc`, shared); only shim.c is compiled.
//!   At run time the loader must find libipcarc.so (ldconfig, rpath or
//!   LD_LIBRARY_PATH).
//! - `CC`, `AR`, `CFLAGS`: as make and the `cc` crate honour them.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The C layer, as the Makefile's CSRC lists it.
const C_LAYER: [&str; 7] = [
    "validate.c",
    "cshm.c",
    "admin.c",
    "slice.c",
    "table.c",
    "liveness.c",
    "valuelock.c",
];
const C_HEADERS: [&str; 3] = ["ipcarc.h", "cshm.h", "cshm_internal.h"];
const SHIM: &str = "csrc/shim.c";

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {}", cmd.get_program(), e));
    if !status.success() {
        panic!("{:?} failed: {}", cmd, status);
    }
}

fn output(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {}", cmd.get_program(), e));
    if !out.status.success() {
        panic!(
            "{:?} failed: {}\n{}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Compiles `sources` into `lib<name>.a` in `out` with `includes` on the path.
fn compile_static(name: &str, sources: &[PathBuf], includes: &[PathBuf], out: &Path) {
    let cc = env::var_os("CC").unwrap_or_else(|| "cc".into());
    let ar = env::var_os("AR").unwrap_or_else(|| "ar".into());
    let extra: Vec<String> = env::var("CFLAGS")
        .map(|f| f.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut objs = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let stem = s.file_stem().expect("a C file").to_string_lossy();
        let obj = out.join(format!("{}-{}.o", i, stem));
        let mut cmd = Command::new(&cc);
        // Position-independent (the crate may end up in a cdylib) and hidden:
        // the C layer's internals stay out of any dynamic symbol table, as
        // in libipcarc.
        cmd.args([
            "-c",
            "-std=c11",
            "-O2",
            "-fPIC",
            "-fvisibility=hidden",
            "-Wall",
        ]);
        for inc in includes {
            cmd.arg("-I").arg(inc);
        }
        cmd.args(&extra).arg(s).arg("-o").arg(&obj);
        run(&mut cmd);
        objs.push(obj);
    }
    let lib = out.join(format!("lib{}.a", name));
    // `ar rcs` adds to an existing archive; start from nothing so a stale
    // member can never linger.
    let _ = fs::remove_file(&lib);
    run(Command::new(&ar).arg("rcs").arg(&lib).args(&objs));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static={}", name);
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let shim = manifest.join(SHIM);
    for v in ["CC", "AR", "CFLAGS", "IPCARC_C_SRC", "IPCARC_PKG_CONFIG"] {
        println!("cargo:rerun-if-env-changed={}", v);
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", shim.display());

    if env::var_os("IPCARC_PKG_CONFIG").is_some_and(|v| v == "1") {
        // An installed libipcarc: its header for the shim, its library for
        // everything else.
        let pc = env::var_os("PKG_CONFIG").unwrap_or_else(|| OsString::from("pkg-config"));
        let flags = output(Command::new(&pc).args(["--cflags", "--libs", "ipcarc"]));
        let mut includes = Vec::new();
        for f in flags.split_whitespace() {
            if let Some(d) = f.strip_prefix("-I") {
                includes.push(PathBuf::from(d));
            } else if let Some(d) = f.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={}", d);
            } else if let Some(l) = f.strip_prefix("-l") {
                println!("cargo:rustc-link-lib=dylib={}", l);
            }
        }
        compile_static("ipcarc_rs_shim", &[shim], &includes, &out);
        println!("cargo:rustc-link-lib=pthread");
        return;
    }

    let src = env::var_os("IPCARC_C_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("..").join(".."));
    if !src.join("ipcarc.h").is_file() {
        panic!(
            "ipcarc: no ipcarc.h in {}: set IPCARC_C_SRC to the ipcarc repository, \
             or IPCARC_PKG_CONFIG=1 to link an installed libipcarc",
            src.display()
        );
    }
    let mut sources: Vec<PathBuf> = C_LAYER.iter().map(|f| src.join(f)).collect();
    sources.push(shim);
    compile_static("ipcarc_c", &sources, std::slice::from_ref(&src), &out);
    // shm_open lives in librt before glibc 2.34 (an empty stub after).
    println!("cargo:rustc-link-lib=pthread");
    println!("cargo:rustc-link-lib=rt");
    for f in C_LAYER.iter().chain(C_HEADERS.iter()) {
        println!("cargo:rerun-if-changed={}", src.join(f).display());
    }
}
