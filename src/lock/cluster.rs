//! The deploy lock on Swarm mode, held in the swarm's Raft store: runs through different
//! managers exclude each other (the lock container exists on the one engine it was made on).
//!
//! It is a service with no replicas, named after the project: the managers reserve service
//! names in their Raft store, so creating it is the test-and-set across the swarm, and with no
//! task it runs nothing anywhere. A service cannot end with its holder as the lock container
//! does, so the holder writes a heartbeat into its labels every `BEAT`; a lock whose heartbeat
//! is older than `STALE` is left over (its holder died, or lost the swarm) and the next run
//! removes it. It removes it by ID: two runs that both found it stale cannot remove the lock one
//! of them took meanwhile (it has a new ID). How long a lock has been silent is judged by the
//! manager's clock alone: the time the manager recorded for the service's last update (each
//! heartbeat is one) against the manager's time now (`docker info`), so a client whose clock
//! runs ahead never takes a live lock over.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{now, Holder, EMPTY_IMAGE};
use crate::engine::{args, Engine, Refusal};
use crate::error::{Error, Result};

const LABEL_BEAT: &str = "io.docker-flow.lock.beat";
/// How often the holder writes its heartbeat.
const BEAT: Duration = Duration::from_secs(5);
/// How old a heartbeat makes a lock left over, in seconds.
const STALE: u64 = 30;

/// The swarm-wide lock, held until dropped.
pub(super) struct Cluster {
    engine: Engine,
    id: String,
    /// Dropping it stops the heartbeat.
    stop: Option<mpsc::Sender<()>>,
    beating: Option<JoinHandle<()>>,
}

impl Cluster {
    /// Takes the swarm-wide lock `name` (of `what`: "project `shop`"), waiting up to `wait` for
    /// a live holder.
    pub(super) fn acquire(
        engine: &Engine,
        name: &str,
        what: &str,
        command: &str,
        wait: Duration,
        warn: &dyn Fn(&str),
    ) -> Result<Cluster> {
        let name = name.to_string();
        let started = Instant::now();
        loop {
            let mut a = args(&[
                "service",
                "create",
                "--name",
                &name,
                "--detach",
                "--replicas",
                "0",
                "--no-resolve-image",
            ]);
            a.extend(super::Lock::labels(command));
            a.extend(args(&["--label", &format!("{LABEL_BEAT}={}", now())]));
            a.extend(args(&[EMPTY_IMAGE, "lock"]));
            let out = engine.read(&a)?;
            if out.ok() {
                return Ok(Self::held(engine, out.stdout.trim().to_string()));
            }
            if out.refusal() != Some(Refusal::Conflict) {
                return Err(Error::environment(
                    format!(
                        "cannot take the deploy lock in the swarm: {}",
                        out.last_error_line()
                    ),
                    "check that this engine is a swarm manager and that you may create services",
                ));
            }
            let Some((holder, silent)) = read(engine, &name)? else {
                // Released between our attempt and the read: try again.
                super::retry(&name, started, wait)?;
                continue;
            };
            if !holder.is_lock {
                return Err(Error::environment(
                    format!("the service `{name}` holds the name of the lock of {what} but is not docker flow's lock"),
                    "docker flow never removes a service it did not make: rename or remove it",
                ));
            }
            if silent > STALE {
                warn(&format!(
                    "taking over the swarm's lock of {what} left by {}: no heartbeat for {silent}s",
                    holder.describe()
                ));
                let _ = engine.read(&args(&["service", "rm", &holder.id]));
                super::retry(&name, started, wait)?;
                continue;
            }
            super::wait_turn(holder, what, &name, started, wait)?;
        }
    }

    /// The lock just created (`id`), with its heartbeat started.
    fn held(engine: &Engine, id: String) -> Cluster {
        let (stop, stopped) = mpsc::channel::<()>();
        let beat_engine = engine.detached();
        let beat_id = id.clone();
        let beating = std::thread::spawn(move || {
            // Until the holder drops the lock (the channel closes or says stop).
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(BEAT) {
                let label = format!("{LABEL_BEAT}={}", now());
                let a = args(&[
                    "service",
                    "update",
                    "--detach",
                    "--label-add",
                    &label,
                    &beat_id,
                ]);
                // A lock that is gone (removed by `unlock`, or taken over after a long
                // silence) gets no more heartbeats, and the run stops at its next safe point:
                // another may be changing the project now.
                if let Ok(out) = beat_engine.read(&a) {
                    if out.refusal() == Some(Refusal::NotFound) {
                        crate::cancel::lost_lock();
                        return;
                    }
                }
            }
        });
        Cluster {
            engine: engine.detached(),
            id,
            stop: Some(stop),
            beating: Some(beating),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(b) = self.beating.take() {
            let _ = b.join();
        }
        let _ = self.engine.read(&args(&["service", "rm", &self.id]));
    }
}

/// Who holds the swarm-wide lock `name`, and how many seconds its heartbeat has been silent,
/// by the manager's clock (0 when the manager's time cannot be read: a lock is never taken
/// over on a guess).
pub(super) fn read(engine: &Engine, name: &str) -> Result<Option<(Holder, u64)>> {
    let out = engine.read(&args(&["service", "inspect", name]))?;
    if !out.ok() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let Some(s) = v.get(0) else { return Ok(None) };
    let labels = s.pointer("/Spec/Labels");
    let updated = s
        .get("UpdatedAt")
        .and_then(Value::as_str)
        .and_then(unix_seconds);
    let manager_now = engine
        .read(&args(&["info", "--format", "{{.SystemTime}}"]))?
        .stdout
        .trim()
        .to_string();
    let silent = match (updated, unix_seconds(&manager_now)) {
        (Some(updated), Some(now)) => now.saturating_sub(updated),
        _ => 0,
    };
    let fresh = silent <= STALE;
    let holder = Holder::from_labels(
        s.get("ID").and_then(Value::as_str).unwrap_or_default(),
        labels,
        fresh,
    );
    Ok(Some((holder, silent)))
}

/// Unix seconds of an RFC 3339 time as the engine writes it (nanoseconds, `Z` or an offset
/// such as `+01:00`). Written by hand: humantime reads only `Z`, and one line of arithmetic on
/// the offset needs no date crate.
fn unix_seconds(t: &str) -> Option<u64> {
    let t = t.trim();
    let (base, offset) = match t.strip_suffix('Z') {
        Some(base) => (base, 0i64),
        None => {
            let at = t.len().checked_sub(6)?;
            let (base, off) = t.split_at(at);
            let sign = match off.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = off.get(1..)?.split_once(':')?;
            (
                base,
                sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60),
            )
        }
    };
    let local = humantime::parse_rfc3339(&format!("{base}Z")).ok()?;
    let secs = local.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64;
    u64::try_from(secs - offset).ok()
}

#[cfg(test)]
mod tests {
    use super::unix_seconds;

    #[test]
    fn engine_times_are_read_with_their_offset() {
        let z = unix_seconds("2026-12-07T19:00:18.12141235Z").unwrap();
        assert_eq!(z, 1_796_670_018);
        assert_eq!(unix_seconds("2026-12-07T20:00:18.5+01:00"), Some(z));
        assert_eq!(unix_seconds("2026-12-07T14:30:18-04:30"), Some(z));
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
