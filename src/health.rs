//! Health gates: new instances get traffic only once docker flow has seen them healthy.
//!
//! An instance with a Docker healthcheck is healthy when Docker says so. One without is healthy
//! when its service port accepts a connection and answers an HTTP request, checked at the
//! container's address on the project network. An instance that exits or turns unhealthy fails
//! at once; the whole wait is bounded by `--health-timeout`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::state::{inspect, Instance};

/// Waits until every instance in `ids` is healthy.
pub fn wait_healthy(
    engine: &Engine,
    ids: &[String],
    port: Option<u16>,
    timeout: Duration,
    progress: &Progress,
) -> Result<Vec<Instance>> {
    if engine.dry_run() || ids.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let mut last = String::new();
    loop {
        if let Err(e) = crate::cancel::check() {
            progress.end_waiting();
            return Err(e);
        }
        let list = inspect(engine, ids)?;
        let mut ready = 0;
        let mut states = Vec::new();
        for i in &list {
            if matches!(i.state.as_str(), "exited" | "dead") {
                progress.end_waiting();
                return Err(failure(
                    engine,
                    i,
                    &format!("exited with code {}", i.exit_code),
                ));
            }
            let ok = match i.health.as_str() {
                "healthy" => true,
                "unhealthy" => {
                    progress.end_waiting();
                    return Err(failure(engine, i, "is unhealthy"));
                }
                "none" => i.running() && port.is_some_and(|p| answers(i, p)),
                _ => false,
            };
            ready += usize::from(ok);
            states.push(format!(
                "{} {}",
                i.name,
                if ok { "healthy" } else { i.health.as_str() }
            ));
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
                .find(|i| i.health != "healthy")
                .unwrap_or(&list[0]);
            return Err(failure(
                engine,
                slow,
                &format!("did not become healthy within {}s", timeout.as_secs()),
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
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Whether the instance's port answers an HTTP request on its network address with a status
/// below 500 (a 503 says "not ready yet").
fn answers(i: &Instance, port: u16) -> bool {
    i.networks
        .iter()
        .filter(|(_, ip)| !ip.is_empty())
        .any(|(_, ip)| {
            let Ok(addr) = format!("{ip}:{port}").parse::<SocketAddr>() else {
                return false;
            };
            let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(b"GET / HTTP/1.0\r\nHost: docker-flow-health\r\n\r\n")
                .is_err()
            {
                return false;
            }
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).is_err() || !buf.starts_with(b"HTTP/") {
                return false;
            }
            // "HTTP/1.1 200": the status starts at byte 9.
            buf[9] != b'5'
        })
}

/// A flow error that shows the instance's last health output and log lines.
fn failure(engine: &Engine, i: &Instance, what: &str) -> Error {
    let health = engine
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
    let logs = engine
        .read(&args(&["logs", "--tail", "10", &i.id]))
        .map(|o| format!("{}{}", o.stdout, o.stderr).trim().to_string())
        .unwrap_or_default();
    let mut message = format!(
        "new instance {} {what}; the deploy is aborted and the live release keeps serving",
        i.name
    );
    if !health.is_empty() {
        message.push_str(&format!("\nlast health check output:\n{health}"));
    }
    if !logs.is_empty() {
        message.push_str(&format!("\nlast log lines:\n{logs}"));
    }
    Error::flow(message, "fix the release (see its logs above), or raise --health-timeout if it only needs longer to start")
}
