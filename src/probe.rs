//! Checking an instance from inside its network, for instances without a Docker healthcheck.
//!
//! The machine running docker flow often cannot reach container addresses: the engine may be
//! remote (`ssh://`, `tcp://`) or in a VM. So the check runs where the instance's peers are: a
//! short-lived container of docker flow's helper image (see `helper`) on the instance's network.
//!
//! When an instance fails its health gate, the same helper, run in the instance's network
//! namespace, lists the sockets its app listens on, so the error can name a cause the proxy
//! would meet too: the app listening on its loopback only, or on another port.

use std::net::SocketAddr;
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
    let mut command = args(&["probe", &within_ms, "--path", path]);
    command.extend(addrs.iter().cloned());
    let a = helper_run(network, &["--label", &label], image, command);
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

/// The TCP sockets listening in the running container `id`'s network namespace (its app's),
/// read by docker flow's helper run there; None when that cannot be read.
pub(crate) fn listening(engine: &Engine, image: &str, id: &str) -> Option<Vec<SocketAddr>> {
    let a = helper_run(&format!("container:{id}"), &[], image, args(&["listening"]));
    let out = engine.read(&a).ok().filter(|o| o.ok())?;
    Some(
        out.stdout
            .lines()
            .filter_map(protocol::listening::parse_line)
            .collect(),
    )
}

/// `docker run` of the helper's `command` on `network` (a network, or `container:<id>`'s
/// namespace), as nobody, confined, removed once it ends; `extra` options before the image.
fn helper_run(network: &str, extra: &[&str], image: &str, command: Vec<String>) -> Vec<String> {
    let mut a = args(&["run", "--rm", "--pull", "never", "--network", network]);
    a.extend(args(extra));
    a.extend(args(&["--user", "65534:65534"]));
    a.extend(args(&helper::CONFINED));
    a.push(image.to_string());
    a.extend(command);
    a
}

/// Why nothing outside the container reaches its app on `port`, from what listens in it; None
/// when something listens there for every address (the cause is elsewhere: its answers, say).
pub(crate) fn unreachable_because(listening: &[SocketAddr], port: u16) -> Option<String> {
    let on_port: Vec<&SocketAddr> = listening.iter().filter(|a| a.port() == port).collect();
    if on_port.iter().any(|a| !a.ip().is_loopback()) {
        return None;
    }
    if let Some(local) = on_port.first() {
        return Some(format!(
            "the app listens on {local} only, inside its container: the proxy and the health check reach it from outside; make it listen on 0.0.0.0:{port}"
        ));
    }
    let mut others: Vec<u16> = listening.iter().map(SocketAddr::port).collect();
    others.sort_unstable();
    others.dedup();
    if others.is_empty() {
        return Some(format!(
            "nothing listens in the container on any TCP port (the service port is {port}): the app has not opened its server; see its logs"
        ));
    }
    let list = others
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "nothing listens on port {port}, the service port docker flow checks and forwards to; the app listens on {list}: pass --service-port (or `expose` the port it listens on)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_cause_is_named_only_when_what_listens_explains_it() {
        assert_eq!(unreachable_because(&addrs(&["0.0.0.0:8080"]), 8080), None);
        assert_eq!(unreachable_because(&addrs(&["[::]:8080"]), 8080), None);
        assert_eq!(
            unreachable_because(&addrs(&["127.0.0.1:8080", "172.18.0.3:8080"]), 8080),
            None
        );
        let local = unreachable_because(&addrs(&["127.0.0.1:8080"]), 8080).unwrap();
        assert!(
            local.contains("127.0.0.1:8080 only") && local.contains("0.0.0.0:8080"),
            "{local}"
        );
        let other = unreachable_because(
            &addrs(&["0.0.0.0:3000", "127.0.0.1:9000", "[::]:3000"]),
            8080,
        )
        .unwrap();
        assert!(
            other.contains("listens on 3000, 9000") && other.contains("--service-port"),
            "{other}"
        );
        let none = unreachable_because(&[], 8080).unwrap();
        assert!(none.contains("nothing listens"), "{none}");
    }
}
