//! `follow <dir> <socket> [--serve <control-addr> <admin-addr>]`: keeps each Swarm route's record
//! on the tasks Swarm runs (with `--serve`, and serves the proxy's replicas: see `replicas`).
//!
//! On Swarm mode, Swarm itself replaces tasks (a node lost, a task that crashed), between docker
//! flow's runs. A route whose record docker flow wrote with `set … --follow` has a spec file
//! beside it (`<name>.follow`: the route network and the services in rotation); every second this
//! asks the engine (its socket, mounted into this container only) which tasks of those services
//! Swarm wants running and reports running, and rewrites the record when they differ: a
//! replacement joins the rotation once Swarm runs it (its health check passed), and a task that
//! is gone leaves it. The manager's task state is the source, never overlay DNS.
//!
//! It also listens to the engine's events: a service changed (scaled, updated), a node changed
//! (drained, down), a container of this node killed. Swarm then changes the tasks' desired
//! state and its agents stop them, so after each event the records are checked every `BURST`
//! for `BURST_FOR`: a task Swarm stops leaves the rotation as soon as the manager wants it
//! stopped, usually before its agent signals it, instead of up to `EVERY` later.
//!
//! The record is written under the same lock as `set`, so a switch by docker flow and a
//! correction by this loop never interleave. An empty answer never empties a record (the engine
//! unreachable, or nothing running: the proxy keeps what it has).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::dns;
use crate::json::{self, Json};
use crate::protocol;

/// How often the records are checked against Swarm's tasks.
const EVERY: Duration = Duration::from_secs(1);
/// After an event: how often, and for how long.
const BURST: Duration = Duration::from_millis(50);
const BURST_FOR: Duration = Duration::from_secs(3);
/// The events that announce Swarm changing tasks.
const EVENTS: &str =
    r#"{"type":["service","node","container"],"event":["update","remove","kill","die"]}"#;

pub fn run(args: &[String]) -> ExitCode {
    let (dir, socket) = match args {
        [dir, socket] => (dir, socket),
        // The proxy as a Swarm service: its replicas get the state from here (`replicas`).
        [dir, socket, flag, control, admin] if flag == "--serve" => {
            let (Ok(control), Ok(admin)) = (control.parse(), admin.parse()) else {
                eprintln!("helper follow: expected --serve <ip:port> <ip:port>");
                return ExitCode::from(2);
            };
            let served = crate::replicas::control_key(Path::new(dir))
                .and_then(|key| crate::replicas::serve(Path::new(dir), control, admin, key));
            if let Err(e) = served {
                eprintln!("helper follow: cannot serve the proxy's replicas: {e}");
                return ExitCode::from(1);
            }
            (dir, socket)
        }
        _ => {
            eprintln!(
                "usage: helper follow <dir> <docker socket> [--serve <control-addr> <admin-addr>]"
            );
            return ExitCode::from(2);
        }
    };
    let dir = Path::new(dir);
    let (tx, events) = mpsc::channel();
    let events_socket = socket.clone();
    std::thread::spawn(move || listen(&events_socket, &tx));
    let mut burst_until = Instant::now();
    loop {
        for record in followed(dir) {
            if let Err(e) = sync(dir, &record, socket) {
                eprintln!("helper follow: {record}: {e}");
            }
        }
        let wait = if Instant::now() < burst_until {
            BURST
        } else {
            EVERY
        };
        if events.recv_timeout(wait).is_ok() {
            while events.try_recv().is_ok() {}
            burst_until = Instant::now() + BURST_FOR;
        }
    }
}

/// Streams the engine's events (`EVENTS`), sending one signal per chunk read; reconnects when
/// the stream ends (the engine restarted).
fn listen(socket: &str, tx: &mpsc::Sender<()>) {
    loop {
        let path = format!("/events?filters={}", encode(EVENTS));
        if let Ok(mut s) = UnixStream::connect(socket) {
            if write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").is_ok() {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
            }
        }
        std::thread::sleep(EVERY);
    }
}

/// The records that have a follow spec.
fn followed(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix('.')?
                .strip_suffix(protocol::record::FOLLOW_SUFFIX)
                .map(String::from)
        })
        .collect()
}

/// One record checked, and rewritten when Swarm runs other tasks than it lists.
fn sync(dir: &Path, record: &str, socket: &str) -> Result<(), String> {
    let _lock = dns::lock(dir)?;
    let spec = std::fs::read_to_string(dir.join(protocol::record::follow_file(record)))
        .map_err(|e| e.to_string())?;
    let Some((network, services)) = protocol::record::parse_follow(&spec) else {
        return Err("unreadable follow spec".into());
    };
    let mut members = Vec::new();
    for service in &services {
        members.extend(running_tasks(socket, service, &network)?);
    }
    if members.is_empty() {
        return Ok(());
    }
    let now: BTreeSet<(String, String)> = dns::members(dir, record).into_iter().collect();
    let want: BTreeSet<(String, String)> = members.iter().cloned().collect();
    if now == want {
        return Ok(());
    }
    dns::write(dir, record, &members)
}

/// The tasks of `service` Swarm runs and wants running, as record members on `network`, as the
/// engine at `socket` says.
pub fn running_tasks(
    socket: &str,
    service: &str,
    network: &str,
) -> Result<Vec<(String, String)>, String> {
    let body = get(socket, &tasks_path(service))?;
    let tasks = json::parse(&body).ok_or("the engine's answer is not JSON")?;
    Ok(running(&tasks, service, network))
}

/// `GET /tasks` of one service, those Swarm wants running.
fn tasks_path(service: &str) -> String {
    let filters = format!(r#"{{"service":["{service}"],"desired-state":["running"]}}"#);
    format!("/tasks?filters={}", encode(&filters))
}

/// A query parameter's value, URL-encoded.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The tasks of `service` that run, as record members (`<service>.<slot>.<id>`, address on
/// `network`).
fn running(tasks: &Json, service: &str, network: &str) -> Vec<(String, String)> {
    tasks
        .as_array()
        .iter()
        .filter(|t| {
            t.at(&["Status", "State"]).and_then(Json::as_str) == Some("running")
                && t.get("DesiredState").and_then(Json::as_str) == Some("running")
        })
        .filter_map(|t| {
            let id = t.get("ID")?.as_str()?;
            let slot = t.get("Slot").and_then(Json::as_u64).unwrap_or(0);
            let ip = t
                .get("NetworksAttachments")?
                .as_array()
                .iter()
                .find(|n| {
                    n.at(&["Network", "Spec", "Name"]).and_then(Json::as_str) == Some(network)
                })?
                .get("Addresses")?
                .as_array()
                .first()?
                .as_str()?
                .split('/')
                .next()?
                .to_string();
            ip.parse::<std::net::Ipv4Addr>().ok()?;
            Some((format!("{service}.{slot}.{id}"), ip))
        })
        .collect()
}

/// One HTTP/1.0 GET on the engine's socket (no chunked answer); the body of a 200.
fn get(socket: &str, path: &str) -> Result<String, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| format!("{socket}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("the engine answered {status}: {}", body.trim()));
    }
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_tasks_become_members_on_the_route_network() {
        let tasks = json::parse(
            r#"[
              {"ID":"t1","Slot":1,"DesiredState":"running","Status":{"State":"running"},
               "NetworksAttachments":[{"Network":{"Spec":{"Name":"p_default"}},"Addresses":["10.0.5.2/24"]},
                                      {"Network":{"Spec":{"Name":"dflow-p-app"}},"Addresses":["10.0.1.7/24"]}]},
              {"ID":"t2","Slot":2,"DesiredState":"running","Status":{"State":"starting"},
               "NetworksAttachments":[{"Network":{"Spec":{"Name":"dflow-p-app"}},"Addresses":["10.0.1.8/24"]}]},
              {"ID":"t3","Slot":3,"DesiredState":"shutdown","Status":{"State":"running"},
               "NetworksAttachments":[{"Network":{"Spec":{"Name":"dflow-p-app"}},"Addresses":["10.0.1.9/24"]}]}
            ]"#,
        )
        .unwrap();
        assert_eq!(
            running(&tasks, "p_app-blue", "dflow-p-app"),
            [("p_app-blue.1.t1".to_string(), "10.0.1.7".to_string())]
        );
        assert!(running(&tasks, "p_app-blue", "other").is_empty());
    }

    #[test]
    fn the_filter_is_url_encoded() {
        assert_eq!(
            tasks_path("p_app-blue"),
            "/tasks?filters=%7B%22service%22%3A%5B%22p_app-blue%22%5D%2C%22desired-state%22%3A%5B%22running%22%5D%7D"
        );
    }
}
