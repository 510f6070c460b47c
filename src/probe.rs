//! Checking an instance from inside its network, for instances without a Docker healthcheck.
//!
//! The machine running docker flow often cannot reach container addresses: the engine may be
//! remote (`ssh://`, `tcp://`) or in a VM. So the check runs where the instance's peers are: a
//! short-lived container of docker flow's helper image (see `helper`) on the instance's network.

use std::time::Duration;

use docker_flow_helper::protocol::{self, probe::Finding};

use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::helper;

/// What to do when an instance cannot be probed.
pub(crate) const HELP: &str =
    "give the service a Docker healthcheck (Compose `healthcheck:`), which docker flow then waits for instead";

/// What one probe run found, per address.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub answered: Vec<String>,
    /// Addresses that did not answer yet, with the probe's reason.
    pub waiting: Vec<(String, String)>,
}

/// The probe's image (docker flow's helper), imported when the engine lacks it.
pub(crate) fn image(engine: &Engine) -> Result<String> {
    helper::ensure_image(engine, HELP)
}

/// Probes `addrs` (`ip:port`) from a container of `image` (see [`image`]) on `network`,
/// retrying for up to `within`.
pub(crate) fn run(
    engine: &Engine,
    image: &str,
    network: &str,
    addrs: &[String],
    path: &str,
    within: Duration,
) -> Result<Findings> {
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
        "--user",
        "65534:65534",
    ]);
    a.extend(args(&helper::CONFINED));
    a.extend(args(&[image, "probe", &within_ms, "--path", path]));
    a.extend(addrs.iter().cloned());
    let out = engine.read(&a)?;
    let mut findings = Findings::default();
    for finding in out.stdout.lines().filter_map(protocol::probe::parse_line) {
        match finding {
            Finding::Answered(addr) => findings.answered.push(addr),
            Finding::Waiting(addr, why) => findings.waiting.push((addr, why)),
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
