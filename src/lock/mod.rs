//! The deploy lock: one changing run per project, across processes and machines sharing the engine.
//!
//! The lock is a container named after the project: the daemon reserves container names
//! atomically, so creating it is the test-and-set. It runs docker flow's helper (`hold`) with
//! `docker run -i --rm`, its stdin a pipe only the holder writes to, so it runs exactly as long as
//! its holder: when the holder exits, however (SIGKILL included), or its machine loses the
//! engine, the input ends, the container stops and is removed. A lock that runs has a live
//! holder and is never taken over, however long its build takes; one that does not run is left
//! over and is removed (only if it carries the lock's label). Its labels say who holds it.
//! It mounts the project's release history volume: the holder appends to the history through
//! it (`record`), so runs never write it at the same time.
//!
//! On an engine the helper cannot run on (another architecture), the lock is a container that
//! never starts: it proves nothing about its holder, so it is never taken over; `docker flow
//! unlock` removes it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::engine::{args, Attached, Engine, Refusal};
use crate::error::{Error, Result};
use crate::helper;
use crate::history;
use crate::progress::Progress;

mod cluster;

const LABEL_LOCK: &str = "io.docker-flow.lock";
/// On a lock that cannot prove its holder alive (see the module's doc).
const LABEL_UNPROVEN: &str = "io.docker-flow.lock.unproven";
/// An image with no files at all, imported from an empty tar: an unproven lock never runs.
const EMPTY_IMAGE: &str = "docker-flow-lock:1";
/// How long a lock may stay created but not started (its `docker run` starting it) before it
/// counts as left over.
const STARTING: Duration = Duration::from_secs(30);
/// How long a released lock may take to stop before it is removed by force.
const RELEASE_WITHIN: Duration = Duration::from_secs(5);

pub(crate) struct Lock<'a> {
    engine: &'a Engine,
    name: String,
    /// The project whose release history the lock mounts (none for the proxy's lock).
    history: Option<String>,
    held: Held,
    /// On Swarm mode, the swarm-wide lock, taken first and released last (a field drops after
    /// the lock's own `drop` released the container).
    cluster: Option<cluster::Cluster>,
}

enum Held {
    /// A dry run takes no lock.
    Nothing,
    /// The running `hold`, attached: closing its input releases the lock.
    Running(Box<Attached>),
    /// A container that never runs, removed by id on release.
    Unproven(String),
}

/// Who holds a lock, from its container's labels and state.
#[derive(Debug)]
pub(crate) struct Holder {
    id: String,
    /// Whether the container carries the lock's label (docker flow's lock, not another's).
    is_lock: bool,
    unproven: bool,
    running: bool,
    host: String,
    pid: u32,
    command: String,
    since: u64,
}

impl Holder {
    /// Who holds a lock, from its labels (a JSON object), its id, and whether it runs.
    fn from_labels(id: &str, labels: Option<&Value>, running: bool) -> Holder {
        let label = |k: &str| crate::model::label(labels, k);
        Holder {
            id: id.to_string(),
            is_lock: label(LABEL_LOCK) == "true",
            unproven: label(LABEL_UNPROVEN) == "true",
            running,
            host: label("io.docker-flow.lock.host"),
            pid: label("io.docker-flow.lock.pid").parse().unwrap_or(0),
            command: label("io.docker-flow.lock.command"),
            since: label("io.docker-flow.lock.since").parse().unwrap_or(0),
        }
    }

    fn age(&self) -> u64 {
        now().saturating_sub(self.since)
    }

    fn describe(&self) -> String {
        format!(
            "`{}` (pid {} on {}) since {}s ago",
            self.command,
            self.pid,
            self.host,
            self.age()
        )
    }
}

pub(crate) fn lock_name(project: &str) -> String {
    format!("docker-flow-lock-{project}")
}

/// A proxy's own lock, beside the projects' deploy locks (taken after a project's, never
/// before): held by a run while it migrates a proxy of the earlier layout, and, with the proxy
/// as a Swarm service, from before it reads which certificate files the config loads until it
/// wrote its own config, so that no run takes off files another has given and not yet named.
pub(crate) struct ProxyLock<'a> {
    /// Held until dropped.
    _held: Lock<'a>,
}

impl<'a> ProxyLock<'a> {
    /// Waits up to `wait` for another run to finish with the proxy `proxy`; `warn`: what the
    /// user should know (a lock left over, taken over); `swarm`: on Swarm mode (the lock is then
    /// held in the swarm too).
    pub(crate) fn acquire(
        engine: &'a Engine,
        proxy: &str,
        command: &str,
        wait: Duration,
        warn: &dyn Fn(&str),
        swarm: bool,
    ) -> Result<ProxyLock<'a>> {
        let held = Lock::acquire_named(
            engine,
            format!("docker-flow-proxy-lock-{proxy}"),
            &format!("the proxy `{proxy}`"),
            None,
            command,
            wait,
            warn,
            swarm,
        )?;
        Ok(ProxyLock { _held: held })
    }
}

/// The machine's name, for the lock's labels (a person reading who holds a lock wants it; no
/// decision depends on it).
pub(crate) fn hostname() -> String {
    whoami::hostname().unwrap_or_else(|_| "unknown".into())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why the lock could not be created at once.
enum Attempt<'a> {
    Taken(Box<Lock<'a>>),
    /// The name is taken: another holder, or one left over.
    Busy,
}

impl<'a> Lock<'a> {
    /// Takes the lock for `project`, waiting up to `wait` for a live holder to finish; on Swarm
    /// mode the swarm-wide lock first.
    pub(crate) fn acquire(
        engine: &'a Engine,
        project: &str,
        command: &str,
        wait: Duration,
        progress: &Progress,
        platform: crate::platform::Platform,
    ) -> Result<Lock<'a>> {
        Self::acquire_named(
            engine,
            lock_name(project),
            &format!("project `{project}`"),
            Some(project),
            command,
            wait,
            &|w| progress.warn(w),
            platform.is_swarm(),
        )
    }

    /// Takes the lock `name` (of `what`: "project `shop`"), with `history`'s release history
    /// mounted if given.
    #[allow(clippy::too_many_arguments)]
    fn acquire_named(
        engine: &'a Engine,
        name: String,
        what: &str,
        history: Option<&str>,
        command: &str,
        wait: Duration,
        warn: &dyn Fn(&str),
        swarm: bool,
    ) -> Result<Lock<'a>> {
        if engine.dry_run() {
            return Ok(Lock {
                engine,
                name,
                history: history.map(String::from),
                held: Held::Nothing,
                cluster: None,
            });
        }
        let cluster = if swarm {
            Some(cluster::Cluster::acquire(
                engine, &name, what, command, wait, warn,
            )?)
        } else {
            None
        };
        let image = match helper::check_engine(engine, helper::LOCK_HELP) {
            Ok(()) => Some(helper::ensure_image(engine, helper::LOCK_HELP)?),
            Err(_) => None,
        };
        let started = Instant::now();
        loop {
            let attempt = match &image {
                Some(image) => Self::hold(engine, &name, history, command, image)?,
                None => Self::create_unproven(engine, &name, history, command)?,
            };
            if let Attempt::Taken(mut lock) = attempt {
                lock.cluster = cluster;
                return Ok(*lock);
            }
            let Some(holder) = read_holder(engine, &name)? else {
                // Released between our attempt and the read: try again.
                retry(&name, started, wait)?;
                continue;
            };
            if !holder.is_lock {
                return Err(Error::environment(
                    format!("the container `{name}` holds the name of the lock of {what} but is not docker flow's lock"),
                    "docker flow never removes a container it did not make: rename or remove it",
                ));
            }
            if !holder.running && !holder.unproven {
                // Its holder is gone (the lock stops with it); it is being removed, or was left
                // by an older docker flow. Only a container with the lock's label is removed.
                warn(&format!(
                    "taking over the lock of {what} left by {}: it no longer runs",
                    holder.describe()
                ));
                let _ = engine.read(&args(&["rm", "-f", &holder.id]));
                retry(&name, started, wait)?;
                continue;
            }
            wait_turn(holder, what, &name, started, wait)?;
        }
    }

    /// The lock's labels: who holds it.
    fn labels(command: &str) -> Vec<String> {
        let mut a = Vec::new();
        for (k, v) in [
            (LABEL_LOCK.to_string(), "true".to_string()),
            ("io.docker-flow.lock.host".into(), hostname()),
            (
                "io.docker-flow.lock.pid".into(),
                std::process::id().to_string(),
            ),
            ("io.docker-flow.lock.command".into(), command.to_string()),
            ("io.docker-flow.lock.since".into(), now().to_string()),
        ] {
            a.push("--label".to_string());
            a.push(format!("{k}={v}"));
        }
        a
    }

    /// Runs the lock's process, attached: taken once it says so.
    fn hold(
        engine: &'a Engine,
        name: &str,
        history: Option<&str>,
        command: &str,
        image: &str,
    ) -> Result<Attempt<'a>> {
        let mut a = args(&["run", "-i", "--rm", "--pull", "never", "--name", name]);
        a.extend(Self::labels(command));
        a.extend(args(&["--network", "none", "--user", "65534:65534"]));
        // The project's release history: the run holding the lock appends to it (`record`).
        if let Some(project) = history {
            a.extend(args(&[
                "--mount",
                &format!(
                    "type=volume,src={},dst={},volume-label={}={project}",
                    history::volume(project),
                    history::DIR,
                    history::LABEL
                ),
            ]));
        }
        a.extend(args(&helper::CONFINED));
        a.extend(args(&[image, "hold"]));
        let started = Instant::now();
        let mut run = engine.start_attached(&a)?;
        let said = run.first_line();
        // Traced once it holds (or was refused): the time the lock took.
        crate::trace::command(&a, started);
        if said.as_deref() == Some(docker_flow_helper::protocol::hold::HELD.trim_end()) {
            // From now on its end, unless asked for, means this run lost the lock: it makes no
            // further change (every change asks `cancel::still_locked`).
            run.watch(crate::cancel::lost_lock);
            return Ok(Attempt::Taken(Box::new(Lock {
                engine,
                name: name.to_string(),
                history: history.map(String::from),
                held: Held::Running(Box::new(run)),
                cluster: None,
            })));
        }
        run.close(RELEASE_WITHIN);
        let stderr = run.stderr();
        let refused = crate::engine::Output {
            status: 1,
            stdout: String::new(),
            stderr,
        };
        if refused.refusal() == Some(Refusal::Conflict) {
            return Ok(Attempt::Busy);
        }
        Err(Error::environment(
            format!("cannot take the deploy lock: {}", refused.last_error_line()),
            "check that the Docker daemon is running and that you may run containers",
        ))
    }

    /// Creates a lock container that never runs (an engine the helper cannot run on).
    fn create_unproven(
        engine: &'a Engine,
        name: &str,
        history: Option<&str>,
        command: &str,
    ) -> Result<Attempt<'a>> {
        engine.ensure_imported(EMPTY_IMAGE, "docker flow deploy lock", &[], || {
            // Two empty 512-byte blocks: the smallest valid tar archive.
            Ok(vec![0u8; 1024])
        })?;
        let mut a = args(&["container", "create", "--name", name]);
        a.extend(Self::labels(command));
        a.extend(args(&["--label", &format!("{LABEL_UNPROVEN}=true")]));
        a.extend(args(&[EMPTY_IMAGE, "lock"]));
        let out = engine.read(&a)?;
        if out.ok() {
            return Ok(Attempt::Taken(Box::new(Lock {
                engine,
                name: name.to_string(),
                history: history.map(String::from),
                held: Held::Unproven(out.stdout.trim().to_string()),
                cluster: None,
            })));
        }
        if out.refusal() == Some(Refusal::Conflict) {
            return Ok(Attempt::Busy);
        }
        Err(Error::environment(
            format!("cannot create the deploy lock: {}", out.last_error_line()),
            "check that the Docker daemon is running and that you may create containers",
        ))
    }

    /// Appends `lines` to the target's release history, on the project's history volume
    /// mounted on this lock (so only the holder writes). False when this lock cannot: a dry
    /// run, or an engine that cannot run docker flow's helper.
    pub(crate) fn record(&self, target: &str, lines: &[String]) -> Result<bool> {
        let Some(project) = &self.history else {
            return Ok(false);
        };
        if lines.is_empty() || !matches!(self.held, Held::Running(_)) {
            return Ok(false);
        }
        // A run that lost its lock writes into no other run's: the container at the lock's
        // name must be this run's, and is then written by its id.
        if crate::cancel::still_locked().is_err() {
            return Ok(false); // the run's error says so
        }
        let id = match read_holder(self.engine, &self.name)? {
            Some(h) if h.is_lock && h.pid == std::process::id() && h.host == hostname() => h.id,
            _ => return Err(Error::LockLost),
        };
        // As root in the container: the volume's directory is root's; the lock's own process
        // runs as nobody and never writes.
        let mut a = args(&["exec", "-u", "0", &id, "/helper", "append"]);
        a.push(history::file(target));
        a.extend(lines.iter().cloned());
        let out = self.engine.read(&a)?;
        if !out.ok() {
            return Err(Error::environment(
                format!(
                    "cannot record the release history: {}",
                    out.last_error_line()
                ),
                format!("check the volume `{}`", history::volume(project)),
            ));
        }
        Ok(true)
    }

    /// The target's release history file, read through this lock (None: this lock cannot).
    pub(crate) fn history(&self, target: &str) -> Result<Option<String>> {
        if self.history.is_none() || !matches!(self.held, Held::Running(_)) {
            return Ok(None);
        }
        let out = self.engine.read(&args(&[
            "exec",
            &self.name,
            "/helper",
            "read",
            &history::file(target),
        ]))?;
        Ok(out.ok().then_some(out.stdout))
    }

    /// Releases the lock (also done on drop).
    pub(crate) fn release(mut self) {
        self.release_inner();
    }

    fn release_inner(&mut self) {
        match std::mem::replace(&mut self.held, Held::Nothing) {
            Held::Nothing => {}
            Held::Running(mut run) => {
                if !run.close(RELEASE_WITHIN) {
                    // Still running: remove it, if it is still this run's lock.
                    if let Ok(Some(h)) = read_holder(self.engine, &self.name) {
                        if h.is_lock && h.pid == std::process::id() && h.host == hostname() {
                            let _ = self.engine.read(&args(&["rm", "-f", &h.id]));
                        }
                    }
                }
            }
            Held::Unproven(id) => {
                let _ = self.engine.read(&args(&["rm", "-f", &id]));
            }
        }
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        self.release_inner();
    }
}

/// `docker flow unlock`: removes the project's lock, whoever holds it; says what it removed.
pub(crate) fn unlock(engine: &Engine, project: &str) -> Result<String> {
    let name = lock_name(project);
    // The lock container on this engine, and on Swarm mode the swarm-wide lock.
    let found = [
        ("container", read_holder(engine, &name)?, ["rm", "-f"]),
        (
            "service",
            cluster::read(engine, &name)?.map(|(h, _)| h),
            ["service", "rm"],
        ),
    ];
    let mut said = Vec::new();
    for (kind, holder, rm) in found {
        let Some(holder) = holder else { continue };
        if !holder.is_lock {
            return Err(Error::environment(
                format!("the {kind} `{name}` is not docker flow's lock; nothing was removed"),
                format!("docker flow never removes a {kind} it did not make"),
            ));
        }
        let mut a = args(&rm);
        a.push(holder.id.clone());
        let out = engine.change(&a, None)?;
        if !out.ok_or_gone() {
            return Err(Error::environment(
                format!("cannot remove the lock `{name}`: {}", out.last_error_line()),
                format!("remove it with `docker {} {name}`", rm.join(" ")),
            ));
        }
        said.push(format!(
            "removed the deploy lock of `{project}` ({kind} {name}), held by {}{}",
            holder.describe(),
            if holder.running {
                "; that run may still be changing the project"
            } else {
                ""
            }
        ));
    }
    if said.is_empty() {
        return Ok(format!("project `{project}` is not locked"));
    }
    Ok(said.join("\n"))
}

/// After an attempt found the lock `name` held by a live `holder`: the refusal (exit 4) once
/// `wait` has passed since `started` (or a cancel), else a pause before the next attempt.
fn wait_turn(
    holder: Holder,
    what: &str,
    name: &str,
    started: Instant,
    wait: Duration,
) -> Result<()> {
    crate::cancel::check()?;
    if started.elapsed() >= wait {
        return Err(Error::Locked {
            what: what.to_string(),
            age: holder.age(),
            command: holder.command,
            pid: holder.pid,
            host: holder.host,
            lock: name.to_string(),
        });
    }
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// How long attempts that find no live holder to wait for (a lock just released, one left
/// over being removed) may go on, at the least: such a state passes in a moment, unless the
/// lock cannot be removed or read.
const NO_HOLDER_FOR: Duration = Duration::from_secs(10);

/// Before another attempt at the lock `name` after one that found no live holder: a cancel
/// ends it, and so does `wait` (at least `NO_HOLDER_FOR`) having passed since `started`;
/// otherwise a short pause, so that a lock that cannot be removed is not asked in a busy loop.
fn retry(name: &str, started: Instant, wait: Duration) -> Result<()> {
    crate::cancel::check()?;
    if started.elapsed() >= wait.max(NO_HOLDER_FOR) {
        return Err(Error::environment(
            format!("cannot take the deploy lock `{name}`: it stays in the way with no live holder, and removing or reading it keeps failing"),
            format!("check it with `docker inspect {name}`; `docker flow unlock` removes it"),
        ));
    }
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}

fn read_holder(engine: &Engine, name: &str) -> Result<Option<Holder>> {
    let out = engine.read(&args(&["container", "inspect", name]))?;
    if !out.ok() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    let Some(n) = v.get(0) else { return Ok(None) };
    let mut holder = Holder::from_labels(
        n.get("Id").and_then(Value::as_str).unwrap_or_default(),
        n.pointer("/Config/Labels"),
        n.pointer("/State/Running").and_then(Value::as_bool) == Some(true),
    );
    // `docker run` creates the lock, then starts it: one created a moment ago is being taken by
    // its holder, not left over.
    if n.pointer("/State/Status").and_then(Value::as_str) == Some("created")
        && holder.age() < STARTING.as_secs()
    {
        holder.running = true;
    }
    Ok(Some(holder))
}
