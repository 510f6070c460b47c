//! The target's instances as Swarm has them, asked of the manager: the target's services
//! (either colour), every task Swarm keeps for them, the instances they make now (a colour scaled
//! to 0 as its stopped instances), the tasks known before a change, and the wait until Swarm has
//! created a deployed colour's tasks. Separate so that the files that change the swarm read the
//! target back through one place; `inspect.rs` turns the answers into values.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::inspect::{stopped, str_at, task, with_labels, ServiceState, Task};
use super::Swarm;
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::model::{self, Color, LABEL_COLOR, LABEL_TARGET};

/// The label Swarm puts on a stack's services, networks and tasks.
pub(super) const LABEL_STACK: &str = "com.docker.stack.namespace";
/// How long Swarm may take to create a deployed colour's tasks.
pub(super) const TASKS_APPEAR: Duration = Duration::from_secs(30);

impl Swarm<'_> {
    /// What Swarm says of the tasks of `release` in `color` that ended or are being stopped:
    /// their states and errors.
    pub(super) fn ended_tasks(&self, color: Option<Color>, release: &str) -> Result<String> {
        let services: Vec<ServiceState> = self
            .services()?
            .into_iter()
            .filter(|s| s.color == color)
            .collect();
        let mut seen: Vec<String> = Vec::new();
        for t in self.tasks(&services)? {
            if (t.desired_running && !t.ended()) || t.instance.release != release {
                continue;
            }
            let why = if t.error.is_empty() {
                &t.message
            } else {
                &t.error
            };
            let line = format!("Swarm: {}, {why}", t.state);
            if !seen.contains(&line) {
                seen.push(line);
            }
        }
        Ok(if seen.is_empty() {
            "Swarm created none".to_string()
        } else {
            seen.join("; ")
        })
    }

    /// The target's services (either colour), as Swarm has them now.
    pub(super) fn services(&self) -> Result<Vec<ServiceState>> {
        let out = self.engine.read(&args(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("label={LABEL_STACK}={}", self.stack()),
            "--filter",
            &format!("label={LABEL_TARGET}={}", self.target),
        ]))?;
        if !out.ok() {
            return Err(Error::environment(
                format!("`docker service ls` failed: {}", out.stderr.trim()),
                "docker flow's Swarm mode runs against a swarm manager: check `docker node ls`",
            ));
        }
        let ids: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut a = args(&["service", "inspect"]);
        a.extend(ids);
        let out = self.engine.read(&a)?;
        let list: Vec<Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
        Ok(list
            .into_iter()
            .map(|v| {
                let label = |k: &str| model::label(v.pointer("/Spec/Labels"), k);
                ServiceState {
                    name: str_at(&v, "/Spec/Name"),
                    id: str_at(&v, "/ID"),
                    color: Color::parse(&label(LABEL_COLOR)),
                    replicas: v
                        .pointer("/Spec/Mode/Replicated/Replicas")
                        .and_then(Value::as_u64)
                        .unwrap_or(0) as u32,
                    spec: v,
                }
            })
            .collect())
    }

    /// Every task Swarm keeps for `services` (history included).
    pub(super) fn tasks(&self, services: &[ServiceState]) -> Result<Vec<Task>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let mut a = args(&["service", "ps", "-q", "--no-trunc"]);
        a.extend(services.iter().map(|s| s.id.clone()));
        let out = self.engine.read(&a)?;
        let ids: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut a = args(&["inspect", "--type", "task"]);
        a.extend(ids);
        let out = self.engine.read(&a)?;
        let list: Vec<Value> = serde_json::from_str(&out.stdout).unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|t| {
                let svc = services.iter().find(|s| s.id == str_at(t, "/ServiceID"))?;
                Some(task(t, &svc.name, self.route_network.as_deref()))
            })
            .collect())
    }

    /// The target's instances now: each colour's tasks that Swarm wants running, or, for a
    /// colour scaled to 0, its stopped instances.
    pub(super) fn list(&self) -> Result<Vec<Instance>> {
        let services = self.services()?;
        let tasks = self.tasks(&services)?;
        let mut out = Vec::new();
        for svc in &services {
            if svc.replicas == 0 {
                out.extend(stopped(svc));
                continue;
            }
            out.extend(
                tasks
                    .iter()
                    .filter(|t| t.desired_running && t.instance.name.starts_with(&svc.name))
                    .map(|t| t.instance.clone()),
            );
        }
        out.sort_by(|a, b| {
            (&a.released_at, &a.release, &a.name).cmp(&(&b.released_at, &b.release, &b.name))
        });
        Ok(out)
    }

    /// Notes every task the target has now, before a change (see `known`).
    pub(super) fn snapshot(&self) -> Result<()> {
        if self.engine.dry_run() {
            return Ok(());
        }
        let ids = self
            .tasks(&self.services()?)?
            .into_iter()
            .map(|t| t.instance.id)
            .collect();
        *self.known.borrow_mut() = Some(ids);
        Ok(())
    }

    /// Waits until Swarm created the tasks `color` should have (any state); returns them.
    pub(super) fn await_tasks(&self, color: Option<Color>, want: u32) -> Result<Vec<Instance>> {
        let started = Instant::now();
        loop {
            let now: Vec<Instance> = self
                .list()?
                .into_iter()
                .filter(|i| i.color == color && i.state != "exited")
                .collect();
            if now.len() as u32 >= want || started.elapsed() > TASKS_APPEAR {
                return Ok(now);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// One instance per service docker flow deployed in `stack` (any target), with its labels: which
/// targets a project has, and in which mode.
pub(in crate::orchestrator) fn deployed(engine: &Engine, stack: &str) -> Result<Vec<Instance>> {
    let out = engine.read(&args(&[
        "service",
        "ls",
        "-q",
        "--filter",
        &format!("label={LABEL_STACK}={stack}"),
        "--filter",
        &format!("label={LABEL_TARGET}"),
    ]))?;
    let ids: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut a = args(&["service", "inspect"]);
    a.extend(ids);
    let list: Vec<Value> = serde_json::from_str(&engine.read(&a)?.stdout).unwrap_or_default();
    Ok(list
        .iter()
        .map(|v| with_labels(v.pointer("/Spec/TaskTemplate/ContainerSpec/Labels")))
        .collect())
}
