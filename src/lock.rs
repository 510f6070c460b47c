//! The deploy lock: one changing run per project, across processes and machines sharing the engine.
//!
//! The lock is a container named after the project, created (never started) from an empty image
//! docker flow imports once: the daemon reserves container names atomically, so creation is the
//! test-and-set. (Network names are not reserved atomically on every engine version.) Its labels
//! say who holds it. A lock whose holder is provably gone (same host, dead pid) or
//! that is older than a bound is taken over, with a message; removal is by id, so a run that
//! recovers a stale lock can never remove a fresh one.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::engine::{args, Engine, Refusal};
use crate::error::{Error, Result};
use crate::progress::Progress;

const LABEL_LOCK: &str = "io.docker-flow.lock";
/// An image with no files at all, imported from an empty tar: a lock container never runs.
const LOCK_IMAGE: &str = "docker-flow-lock:1";

pub(crate) struct Lock<'a> {
    engine: &'a Engine,
    id: Option<String>,
}

#[derive(Debug)]
struct Holder {
    id: String,
    host: String,
    pid: u32,
    command: String,
    since: u64,
}

pub(crate) fn lock_name(project: &str) -> String {
    format!("docker-flow-lock-{project}")
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl<'a> Lock<'a> {
    /// Takes the lock for `project`, waiting up to `wait`; stale locks older than `stale_after`
    /// are taken over.
    pub(crate) fn acquire(
        engine: &'a Engine,
        project: &str,
        command: &str,
        wait: Duration,
        stale_after: Duration,
        progress: &Progress,
    ) -> Result<Lock<'a>> {
        if engine.dry_run() {
            return Ok(Lock { engine, id: None });
        }
        let name = lock_name(project);
        let started = Instant::now();
        let me = hostname();
        ensure_image(engine)?;
        loop {
            let out = engine.read(&args(&[
                "container",
                "create",
                "--label",
                &format!("{LABEL_LOCK}=true"),
                "--label",
                &format!("io.docker-flow.lock.host={me}"),
                "--label",
                &format!("io.docker-flow.lock.pid={}", std::process::id()),
                "--label",
                &format!("io.docker-flow.lock.command={command}"),
                "--label",
                &format!("io.docker-flow.lock.since={}", now()),
                "--name",
                &name,
                LOCK_IMAGE,
                "lock",
            ]))?;
            if out.ok() {
                return Ok(Lock {
                    engine,
                    id: Some(out.stdout.trim().to_string()),
                });
            }
            let Some(holder) = read_holder(engine, &name)? else {
                if out.refusal() == Some(Refusal::Conflict) {
                    continue; // released between our attempt and the read: try again
                }
                return Err(Error::environment(
                    format!("cannot create the deploy lock: {}", out.stderr.trim()),
                    "check that the Docker daemon is running and that you may create containers",
                ));
            };
            let age = now().saturating_sub(holder.since);
            let gone =
                holder.host == me && holder.pid != std::process::id() && !pid_alive(holder.pid);
            if gone || age > stale_after.as_secs() {
                let why = if gone {
                    format!("its holder (pid {} on {}) is gone", holder.pid, holder.host)
                } else {
                    format!(
                        "it is {age}s old, over the {}s bound",
                        stale_after.as_secs()
                    )
                };
                progress.warn(&format!(
                    "taking over the deploy lock of `{project}` left by `{}`: {why}",
                    holder.command
                ));
                let _ = engine.read(&args(&["rm", "-f", &holder.id]));
                continue;
            }
            crate::cancel::check()?;
            if started.elapsed() >= wait {
                return Err(Error::Locked {
                    project: project.to_string(),
                    command: holder.command,
                    pid: holder.pid,
                    host: holder.host,
                    age,
                    lock: name,
                });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Releases the lock (also done on drop).
    pub(crate) fn release(mut self) {
        self.release_inner();
    }

    fn release_inner(&mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.engine.read(&args(&["rm", "-f", &id]));
        }
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        self.release_inner();
    }
}

fn ensure_image(engine: &Engine) -> Result<()> {
    // Two empty 512-byte blocks: the smallest valid tar archive.
    engine.ensure_imported(LOCK_IMAGE, "docker flow deploy lock", &[], || {
        Ok(vec![0u8; 1024])
    })
}

fn read_holder(engine: &Engine, name: &str) -> Result<Option<Holder>> {
    let out = engine.read(&args(&["container", "inspect", name]))?;
    if !out.ok() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let Some(n) = v.get(0) else { return Ok(None) };
    let label = |k: &str| {
        n.pointer("/Config/Labels")
            .and_then(|l| l.get(format!("io.docker-flow.lock.{k}")))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(Some(Holder {
        id: n
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        host: label("host"),
        pid: label("pid").parse().unwrap_or(0),
        command: label("command"),
        since: label("since").parse().unwrap_or(0),
    }))
}
