//! Builds docker flow's helper (the workspace crate `helper/`: the in-network health probe, the
//! proxy container's first process with the rotation's DNS responder, and Caddy's admin client) as
//! a static Linux binary that docker flow embeds, then imports or copies into containers.
//!
//! The helper only runs in Linux containers, so it is built for Linux, for the same architecture
//! as docker flow: on Linux for the host's target with a static C library, elsewhere as musl,
//! linked by the toolchain's own rust-lld. It is compiled with rustc directly (it is std only):
//! a nested `cargo build` from a build script would wait on the lock of the build it runs in.
//! When it cannot be built, the build fails, saying what to install: a docker flow without its
//! helper would only fail later, at a user's first deploy.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=helper/src");
    println!("cargo:rerun-if-changed=build.rs");
    commit();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let helper = out.join("helper");
    let target = std::env::var("TARGET").unwrap_or_default();
    let result = if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        build(&target, &[], &helper).map_err(|e| {
            format!(
                "{e}\nOn Linux it needs a static C library (Debian: apt-get install libc6-dev)."
            )
        })
    } else {
        let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let linux = format!("{arch}-unknown-linux-musl");
        build(&linux, &["-C", "linker=rust-lld"], &helper)
            .map_err(|e| format!("{e}\nOn this system it needs: rustup target add {linux}"))
    };
    if let Err(e) = result {
        panic!("docker flow's helper (helper/src/main.rs) could not be built: {e}");
    }
}

fn build(target: &str, flags: &[&str], helper: &Path) -> Result<(), String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition",
        "2021",
        "--crate-name",
        "helper",
        "-C",
        "opt-level=s",
        "-C",
        "panic=abort",
        "-C",
        "strip=symbols",
        "-C",
        "target-feature=+crt-static",
        "--target",
        target,
        "helper/src/main.rs",
        "-o",
    ])
    .arg(helper)
    .args(flags);
    if let Some(linker) = std::env::var_os("RUSTC_LINKER").filter(|_| flags.is_empty()) {
        cmd.arg("-C")
            .arg(format!("linker={}", linker.to_string_lossy()));
    }
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(String::from_utf8_lossy(&o.stderr)
            .lines()
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")),
        Err(e) => Err(format!("cannot run rustc: {e}")),
    }
}

/// The commit docker flow is built from, for `docker flow version` ("unknown" outside a git
/// checkout, as from a source archive).
fn commit() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DOCKER_FLOW_COMMIT={commit}");
    // A new commit changes HEAD or the branch it points at.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
}
