//! docker flow's helper: the one program docker flow runs inside containers.
//!
//! The program (the workspace crate `helper/`, built static by `build.rs` and embedded here)
//! checks instances from inside their network (`probe`), and is the Caddy proxy container's first
//! process and the way into it (`proxy::caddy`). As the probe's image it holds that one file and
//! is imported from an in-memory tar the first time it is needed, as the deploy lock's image is;
//! into the proxy container it is copied with `docker cp`. Nothing is pulled from a registry.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use crate::engine::Engine;
use crate::error::{Error, Result};

/// The helper program, a static Linux binary (`build.rs` fails when it cannot build it).
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/helper"));

/// This build of the helper: the version and a hash of the program, so a new build gets a new
/// name and a stale copy is never used.
pub(crate) fn build_id() -> String {
    let mut h = DefaultHasher::new();
    PROGRAM.hash(&mut h);
    format!(
        "{}-{:012x}",
        env!("CARGO_PKG_VERSION"),
        h.finish() & 0xffff_ffff_ffff
    )
}

/// The image tag.
pub(crate) fn image() -> String {
    format!("docker-flow-helper:{}", build_id())
}

/// Where this build's helper lives inside a container docker flow copied it into (the Caddy
/// proxy's). Each build has its own path: a proxy started by an older docker flow keeps running
/// its own copy, and a newer docker flow copies its own beside it.
pub(crate) fn path_in_container() -> String {
    format!("/docker-flow/helper-{}", build_id())
}

/// What the user can do when the engine cannot run the helper the deploy lock runs.
pub(crate) const LOCK_HELP: &str = "the deploy lock runs docker flow's helper; without it the lock cannot tell a dead holder from a live one, so a lock left by a killed run needs `docker flow unlock`";

/// The environment variable a test sets to make the architecture check see another engine.
const TEST_ARCH: &str = "DOCKER_FLOW_TEST_ENGINE_ARCH";

/// Checks, before anything changes, that the engine can run this helper (its architecture is
/// the one the helper was built for); `help` says what the user can do without it.
pub(crate) fn check_engine(engine: &Engine, help: &str) -> Result<()> {
    let arch = match std::env::var(TEST_ARCH) {
        Ok(a) if !a.is_empty() => a,
        _ => engine.server_arch()?,
    };
    if arch != docker_arch() {
        return Err(Error::environment(
            format!(
                "docker flow's helper is built for {} but the engine runs on {arch}",
                docker_arch()
            ),
            help,
        ));
    }
    Ok(())
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
pub(crate) const CONFINED: [&str; 5] = [
    "--read-only",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
];

/// Imports the helper image unless the engine has it. `help` says what the user can do without
/// it (it depends on what needed the helper).
pub(crate) fn ensure_image(engine: &Engine, help: &str) -> Result<String> {
    let tag = image();
    engine.ensure_imported(
        &tag,
        "docker flow helper",
        &[r#"ENTRYPOINT ["/helper"]"#],
        || {
            check_engine(engine, help)?;
            archive(&[("helper", PROGRAM, 0o755)])
        },
    )?;
    Ok(tag)
}

/// A tar holding this build's helper at `path_in_container()`, for `docker cp`, and `extra`
/// files (path, content), readable by their owner only.
pub(crate) fn archive_for_container(extra: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let path = path_in_container();
    let mut files = vec![(path.trim_start_matches('/'), PROGRAM, 0o755)];
    files.extend(extra.iter().map(|(p, data)| (*p, *data, 0o600)));
    archive(&files)
}

/// A tar of `files` (path, content, mode).
fn archive(files: &[(&str, &[u8], u32)]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    files
        .iter()
        .try_for_each(|(path, data, mode)| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(0);
            b.append_data(&mut header, path, *data)
        })
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
        let tar = archive(&[("helper", PROGRAM, 0o755)]).unwrap();
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
