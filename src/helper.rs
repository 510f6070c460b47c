//! docker flow's helper image: the one program docker flow runs inside containers.
//!
//! The program (`src/helper/`, built static by `build.rs` and embedded here) checks instances from
//! inside their network (`probe`) and serves the proxy's rotation records (`proxy::rotation`).
//! Its image holds that one file and is imported from an in-memory tar the first time it is
//! needed, as the deploy lock's image is, so nothing is pulled from a registry.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::engine::{args, Engine};
use crate::error::{Error, Result};

/// The helper program, a static Linux binary (empty when `build.rs` could not build it).
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/helper"));

/// The image tag: a new build of the helper gets a new tag, so a stale image is never used.
pub fn image() -> String {
    let mut h = DefaultHasher::new();
    PROGRAM.hash(&mut h);
    format!(
        "docker-flow-helper:{}-{:012x}",
        env!("CARGO_PKG_VERSION"),
        h.finish() & 0xffff_ffff_ffff
    )
}

/// Docker's name for the architecture the helper was built for.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `docker run` options every helper container gets: it only reads its own image, so it runs
/// on a read-only root, with no capabilities and no way to gain privileges.
pub const CONFINED: [&str; 5] = [
    "--read-only",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];

/// Imports the helper image unless the engine has it. `help` says what the user can do without
/// it (it depends on what needed the helper).
pub fn ensure_image(engine: &Engine, help: &str) -> Result<String> {
    let tag = image();
    engine.ensure_imported(
        &tag,
        "docker flow helper",
        &[r#"ENTRYPOINT ["/helper"]"#],
        || {
            if PROGRAM.is_empty() {
                return Err(Error::environment(
                    "this build of docker flow has no helper program (it was built without a static C library)",
                    help,
                ));
            }
            let arch = engine
                .read(&args(&["version", "--format", "{{.Server.Arch}}"]))?
                .stdout
                .trim()
                .to_string();
            if arch != docker_arch() {
                return Err(Error::environment(
                    format!(
                        "docker flow's helper is built for {} but the engine runs on {arch}",
                        docker_arch()
                    ),
                    help,
                ));
            }
            archive()
        },
    )?;
    Ok(tag)
}

/// A tar holding only `/helper`, executable.
fn archive() -> Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_size(PROGRAM.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut header, "helper", PROGRAM)
        .and_then(|()| b.into_inner())
        .map_err(|e| {
            Error::environment(
                format!("cannot pack docker flow's helper: {e}"),
                "this is a bug in docker flow: please report it",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_is_embedded_and_packed_executable() {
        assert!(!PROGRAM.is_empty(), "build.rs did not build the helper");
        let tar = archive().unwrap();
        let mut a = tar::Archive::new(tar.as_slice());
        let entries: Vec<_> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().mode().unwrap(),
                    e.header().size().unwrap(),
                )
            })
            .collect();
        assert_eq!(entries, [("helper".into(), 0o755, PROGRAM.len() as u64)]);
    }

    #[test]
    fn the_tag_names_the_version_and_is_stable() {
        let tag = image();
        assert!(tag.starts_with(concat!(
            "docker-flow-helper:",
            env!("CARGO_PKG_VERSION"),
            "-"
        )));
        assert_eq!(tag, image());
    }
}
