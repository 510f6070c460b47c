//! Builds docker flow's helper (`src/helper/`: the in-network health probe and the rotation's
//! DNS responder) as a static Linux binary that docker flow embeds and imports as a one-file
//! image when it first needs it.
//!
//! The helper only runs in Linux containers, so it is built for Linux targets only, for the same
//! architecture as docker flow. When it cannot be built (not Linux, or no static C library), the
//! embedded helper is empty and docker flow says so when it needs it.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/helper");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let helper = out.join("helper");
    let target = std::env::var("TARGET").unwrap_or_default();
    let built = if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        build(&target, &[], &helper)
    } else {
        // Elsewhere (macOS, Windows) the engine still runs Linux containers: build a static
        // musl binary for the same architecture, linked by the toolchain's own rust-lld.
        // Needs `rustup target add <arch>-unknown-linux-musl`.
        let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
        let linux = format!("{arch}-unknown-linux-musl");
        build(&linux, &["-C", "linker=rust-lld"], &helper)
    };
    if !built {
        println!(
            "cargo:warning=docker flow's helper was not built for `{target}`; the Caddy driver and \
             targets without a Docker healthcheck need it (on Linux, a static C library: Debian's \
             libc6-dev; elsewhere: rustup target add <arch>-unknown-linux-musl)"
        );
        std::fs::write(&helper, b"").expect("OUT_DIR is writable");
    }
}

fn build(target: &str, flags: &[&str], helper: &std::path::Path) -> bool {
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
        "src/helper/main.rs",
        "-o",
    ])
    .arg(helper)
    .args(flags);
    if let Some(linker) = std::env::var_os("RUSTC_LINKER").filter(|_| flags.is_empty()) {
        cmd.arg("-C")
            .arg(format!("linker={}", linker.to_string_lossy()));
    }
    match cmd.output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            for line in String::from_utf8_lossy(&o.stderr).lines().take(5) {
                println!("cargo:warning=helper: {line}");
            }
            false
        }
        Err(e) => {
            println!("cargo:warning=helper: cannot run rustc: {e}");
            false
        }
    }
}
