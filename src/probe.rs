//! Checking an instance from inside its network, for instances without a Docker healthcheck.
//!
//! The machine running docker flow often cannot reach container addresses: the engine may be
//! remote (`ssh://`, `tcp://`) or in a VM. So the check runs where the instance's peers are: a
//! short-lived container on the instance's network runs the probe program (`src/probe/main.rs`,
//! built static by `build.rs` and embedded here). Its image holds that one file and is imported
//! from an in-memory tar the first time it is needed, as the deploy lock's image is, so nothing
//! is pulled from a registry.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use crate::engine::{args, Engine};
use crate::error::{Error, Result};

/// The probe program, a static Linux binary (empty when `build.rs` could not build it).
static PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/probe"));

/// What one probe run found, per address.
#[derive(Debug, Default)]
pub struct Findings {
    pub answered: Vec<String>,
    /// Addresses that did not answer yet, with the probe's reason.
    pub waiting: Vec<(String, String)>,
}

/// The image tag: a new build of the probe gets a new tag, so a stale image is never used.
pub fn image() -> String {
    let mut h = DefaultHasher::new();
    PROGRAM.hash(&mut h);
    format!(
        "docker-flow-probe:{}-{:012x}",
        env!("CARGO_PKG_VERSION"),
        h.finish() & 0xffff_ffff_ffff
    )
}

/// Docker's name for the architecture the probe was built for.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn cannot(why: String) -> Error {
    Error::flow(
        why,
        "give the service a Docker healthcheck (Compose `healthcheck:`), which docker flow then waits for instead",
    )
}

/// Imports the probe image unless the engine has it.
pub fn ensure_image(engine: &Engine) -> Result<String> {
    let tag = image();
    engine.ensure_imported(
        &tag,
        "docker flow health probe",
        &[r#"ENTRYPOINT ["/probe"]"#],
        || {
            if PROGRAM.is_empty() {
                return Err(cannot(
                    "this build of docker flow has no in-network health probe (it was built without a static C library)".into(),
                ));
            }
            let arch = engine
                .read(&args(&["version", "--format", "{{.Server.Arch}}"]))?
                .stdout
                .trim()
                .to_string();
            if arch != docker_arch() {
                return Err(cannot(format!(
                    "docker flow's health probe is built for {} but the engine runs on {arch}",
                    docker_arch()
                )));
            }
            archive()
        },
    )?;
    Ok(tag)
}

/// A tar holding only `/probe`, executable.
fn archive() -> Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_size(PROGRAM.len() as u64);
    header.set_mode(0o755);
    header.set_mtime(0);
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut header, "probe", PROGRAM)
        .and_then(|()| b.into_inner())
        .map_err(|e| {
            Error::environment(
                format!("cannot pack the health probe: {e}"),
                "this is a bug in docker flow: please report it",
            )
        })
}

/// Probes `addrs` (`ip:port`) from a container on `network`, retrying for up to `within`.
pub fn run(engine: &Engine, network: &str, addrs: &[String], within: Duration) -> Result<Findings> {
    let image = ensure_image(engine)?;
    let within_ms = within.as_millis().max(100).to_string();
    let label = format!("io.docker-flow.probe={network}");
    let mut a = args(&[
        "run",
        "--rm",
        "--pull",
        "never",
        "--network",
        network,
        "--label",
        &label,
        "--read-only",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--user",
        "65534:65534",
        &image,
        &within_ms,
    ]);
    a.extend(addrs.iter().cloned());
    let out = engine.read(&a)?;
    let mut findings = Findings::default();
    for line in out.stdout.lines() {
        match line.split_once(' ') {
            Some(("ok", addr)) => findings.answered.push(addr.to_string()),
            Some(("wait", rest)) => {
                let (addr, why) = rest.split_once(' ').unwrap_or((rest, ""));
                findings.waiting.push((addr.to_string(), why.to_string()));
            }
            _ => {}
        }
    }
    if findings.answered.is_empty() && findings.waiting.is_empty() {
        // The probe did not run (exit 125-127 come from docker itself).
        return Err(Error::environment(
            format!(
                "cannot run the health probe on network `{network}`: {}",
                out.stderr.trim()
            ),
            format!("check `docker network inspect {network}` and `docker image inspect {image}`"),
        ));
    }
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_embedded_and_packed_executable() {
        assert!(!PROGRAM.is_empty(), "build.rs did not build the probe");
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
        assert_eq!(entries, [("probe".into(), 0o755, PROGRAM.len() as u64)]);
    }

    #[test]
    fn the_tag_names_the_version_and_is_stable() {
        let tag = image();
        assert!(tag.starts_with(concat!(
            "docker-flow-probe:",
            env!("CARGO_PKG_VERSION"),
            "-"
        )));
        assert_eq!(tag, image());
    }
}
