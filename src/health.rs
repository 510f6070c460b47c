//! Health gates: new instances get traffic only once docker flow has seen them healthy.
//!
//! An instance with a Docker healthcheck is healthy when Docker says so. One without is healthy
//! when its service port accepts a connection and answers `GET --health-path` (default `/`)
//! with a status below 500, checked from inside the instance's network by the probe (see `probe`), so it works the
//! same on a remote engine. An instance that exits or turns unhealthy fails at once; the whole
//! wait is bounded by `--health-timeout`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::containers::inspect;
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::probe;
use crate::progress::Progress;

/// How long one probe run keeps retrying: short, so exits and cancels are noticed quickly.
const PROBE_ROUND: Duration = Duration::from_secs(2);

/// Waits until every instance in `ids` is healthy.
pub(crate) fn wait_healthy(
    engine: &Engine,
    ids: &[String],
    port: Option<u16>,
    path: &str,
    timeout: Duration,
    progress: &Progress,
) -> Result<Vec<Instance>> {
    if engine.dry_run() || ids.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let mut last = String::new();
    // Instances without a healthcheck that the probe has seen answer, and why the others not.
    let mut answered: HashSet<String> = HashSet::new();
    let mut reasons: HashMap<String, String> = HashMap::new();
    // Looked up (or imported) once, the first time an instance needs probing.
    let mut probe_image: Option<String> = None;
    loop {
        if let Err(e) = crate::cancel::check() {
            progress.end_waiting();
            return Err(e);
        }
        let list = inspect(engine, ids)?;
        let mut ready = 0;
        let mut states = Vec::new();
        let mut to_probe: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for i in &list {
            if matches!(i.state.as_str(), "exited" | "dead") {
                progress.end_waiting();
                return Err(failure(
                    engine,
                    i,
                    &format!("exited with code {}", i.exit_code),
                    None,
                    None,
                ));
            }
            let ok = match i.health.as_str() {
                "healthy" => true,
                "unhealthy" => {
                    progress.end_waiting();
                    return Err(failure(engine, i, "is unhealthy", None, port));
                }
                "none" if answered.contains(&i.id) => true,
                "none" if i.running() => {
                    let (network, addr) = probe_address(i, port)?;
                    to_probe
                        .entry(network)
                        .or_default()
                        .push((addr, i.id.clone()));
                    false
                }
                _ => false,
            };
            ready += usize::from(ok);
            let state = match (ok, reasons.get(&i.id)) {
                (true, _) => "healthy".to_string(),
                (false, Some(why)) => format!("not answering: {why}"),
                (false, None) if i.health == "none" => "probing".to_string(),
                (false, None) => i.health.clone(),
            };
            states.push(format!("{} {state}", i.name));
        }
        if list.len() < ids.len() {
            progress.end_waiting();
            return Err(Error::flow(
                "a new instance disappeared while docker flow waited for it to become healthy",
                "see `docker compose logs` for the target; the live release keeps serving",
            ));
        }
        if ready == list.len() {
            progress.end_waiting();
            return Ok(list);
        }
        if started.elapsed() >= timeout {
            progress.end_waiting();
            let slow = list
                .iter()
                .find(|i| i.health != "healthy" && !answered.contains(&i.id))
                .unwrap_or(&list[0]);
            return Err(failure(
                engine,
                slow,
                &format!("did not become healthy within {}s", timeout.as_secs()),
                reasons.get(&slow.id).map(String::as_str),
                port,
            ));
        }
        progress.waiting(
            &format!(
                "waiting for health ({ready}/{} ready, {:.0}s): {}",
                list.len(),
                started.elapsed().as_secs_f64(),
                states.join(", ")
            ),
            &mut last,
        );
        if to_probe.is_empty() {
            std::thread::sleep(Duration::from_millis(250));
            continue;
        }
        // The probe retries within its round, so no extra sleep between rounds.
        let round = PROBE_ROUND.min(timeout.saturating_sub(started.elapsed()));
        if probe_image.is_none() {
            probe_image = Some(probe::image(engine).inspect_err(|_| progress.end_waiting())?);
        }
        let image = probe_image.as_deref().unwrap_or_default();
        for (network, targets) in &to_probe {
            let addrs: Vec<String> = targets.iter().map(|(a, _)| a.clone()).collect();
            let found =
                probe::run(engine, image, network, &addrs, path, round).inspect_err(|_| {
                    progress.end_waiting();
                })?;
            for (addr, id) in targets {
                if found.answered.contains(addr) {
                    answered.insert(id.clone());
                    reasons.remove(id);
                } else if let Some((_, why)) = found.waiting.iter().find(|(a, _)| a == addr) {
                    reasons.insert(id.clone(), why.clone());
                }
            }
        }
    }
}

/// Where the probe checks an instance: its first network with an address, and `ip:port` there.
fn probe_address(i: &Instance, port: Option<u16>) -> Result<(String, String)> {
    let help = "give the service a Docker healthcheck (Compose `healthcheck:`), or name its port with --service-port";
    let Some(port) = port else {
        return Err(Error::flow(
            format!(
                "new instance {} has no Docker healthcheck and docker flow does not know which port to check",
                i.name
            ),
            help,
        ));
    };
    let Some((network, ip)) = i.networks.iter().find(|(_, ip)| !ip.is_empty()) else {
        return Err(Error::flow(
            format!(
                "new instance {} has no Docker healthcheck and no network address to check it at",
                i.name
            ),
            probe::HELP,
        ));
    };
    let addr = match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        _ => format!("{ip}:{port}"),
    };
    Ok((network.clone(), addr))
}

/// A flow error that shows the instance's last health output and log lines, and, for one
/// that runs, what its app listens on when that explains why it is not reached on `port`.
fn failure(
    engine: &Engine,
    i: &Instance,
    what: &str,
    probe: Option<&str>,
    port: Option<u16>,
) -> Error {
    let mut health = engine
        .read(&args(&[
            "container",
            "inspect",
            "--format",
            "{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}",
            &i.id,
        ]))
        .map(|o| {
            o.stdout
                .trim()
                .lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    if let Some(why) = probe.filter(|_| health.is_empty()) {
        health = format!("docker flow's probe: {why}");
    }
    let logs = engine
        .read(&args(&["logs", "--tail", "10", &i.id]))
        .map(|o| format!("{}{}", o.stdout, o.stderr).trim().to_string())
        .unwrap_or_default();
    let mut details = String::new();
    if !health.is_empty() {
        details.push_str(&format!("\nlast health check output:\n{health}"));
    }
    if !logs.is_empty() {
        details.push_str(&format!("\nlast log lines:\n{logs}"));
    }
    if let Some(cause) = port.filter(|_| i.running()).and_then(|port| {
        let image = probe::image(engine).ok()?;
        let listening = probe::listening(engine, &image, &i.id)?;
        probe::unreachable_because(&listening, port)
    }) {
        details.push_str(&format!("\nlikely cause: {cause}"));
    }
    Error::Unhealthy {
        serving: crate::error::LIVE_SERVES.into(),
        instance: i.name.clone(),
        what: what.to_string(),
        details,
    }
}
