//! The health gate on Swarm mode: a release is healthy once every task Swarm wants for its
//! colour runs (Swarm runs a task with a healthcheck only once it passed) and, for a target
//! without a healthcheck, once docker flow's probe has seen each task answer on the route
//! network. A task of the release that ends while it is awaited fails the deploy with Swarm's
//! error. Separate because it is the one wait on a release's health here; `health.rs` at the
//! crate's root is the gate for containers on one engine.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::inspect::ServiceState;
use super::Swarm;
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::progress::Progress;

/// How long one probe round keeps retrying (short, so ended tasks and cancels are noticed).
const PROBE_ROUND: Duration = Duration::from_secs(2);

/// What docker flow's probe has seen of a release's tasks (targets without a healthcheck).
#[derive(Default)]
struct Probed {
    /// Tasks seen answering.
    answered: HashSet<String>,
    /// Why the others did not yet, by task.
    reasons: std::collections::HashMap<String, String>,
    /// The probe's image, looked up once.
    image: Option<String>,
}

impl Swarm<'_> {
    /// Whether every running task of `running` has been seen answering. A target with a
    /// Docker healthcheck needs nothing more (Swarm runs its task once healthy); one without
    /// runs as soon as its process starts, so docker flow's probe checks each task's port
    /// from a container on the route network, as on one engine (a round of at most
    /// `PROBE_ROUND`). Without a route network (no proxy) there is nothing to probe from.
    fn probed(&self, running: &[Instance], probe: &mut Probed, started: Instant) -> Result<bool> {
        let (Some(net), false) = (
            &self.route_network,
            crate::compose::declares_healthcheck(&self.project.model, &self.target),
        ) else {
            return Ok(true);
        };
        let Some(port) = self.port else {
            return Ok(true);
        };
        let waiting: Vec<(&Instance, String)> = running
            .iter()
            .filter(|i| !probe.answered.contains(&i.id))
            .filter_map(|i| i.address.as_ref().map(|a| (i, format!("{a}:{port}"))))
            .collect();
        if waiting.is_empty() {
            return Ok(running.iter().all(|i| probe.answered.contains(&i.id)));
        }
        if probe.image.is_none() {
            probe.image = Some(crate::probe::image(self.engine)?);
        }
        let round = PROBE_ROUND.min(
            self.settings
                .health_timeout
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(100)),
        );
        let addrs: Vec<String> = waiting.iter().map(|(_, a)| a.clone()).collect();
        let found = crate::probe::run(
            self.engine,
            probe.image.as_deref().unwrap_or_default(),
            net,
            &addrs,
            &self.settings.health_path,
            round,
        )?;
        for (i, addr) in waiting {
            if found.answered.contains(&addr) {
                probe.answered.insert(i.id.clone());
                probe.reasons.remove(&i.id);
            } else if let Some((_, why)) = found.waiting.iter().find(|(a, _)| *a == addr) {
                probe.reasons.insert(i.id.clone(), why.clone());
            }
        }
        Ok(running.iter().all(|i| probe.answered.contains(&i.id)))
    }

    /// Until every task Swarm wants running for the instances' colours runs (Swarm's health
    /// gate); a task of their release that failed ends the wait with its error.
    pub(super) fn await_running(
        &self,
        instances: &[Instance],
        progress: &Progress,
    ) -> Result<Vec<Instance>> {
        if self.engine.dry_run() || instances.is_empty() {
            return Ok(instances.to_vec());
        }
        let colors = Self::by_color(instances);
        let releases: Vec<&str> = instances.iter().map(|i| i.release.as_str()).collect();
        let started = Instant::now();
        let mut last = String::new();
        let mut probe = Probed::default();
        loop {
            if let Err(e) = crate::cancel::check() {
                progress.end_waiting();
                return Err(e);
            }
            let services: Vec<ServiceState> = self
                .services()?
                .into_iter()
                .filter(|s| colors.contains_key(&s.color))
                .collect();
            let want: u32 = services.iter().map(|s| s.replicas).sum();
            let tasks = self.tasks(&services)?;
            let known = self.known.borrow();
            // A task of the release that ended while it was awaited failed: Swarm ends one that
            // turns unhealthy (its process may well exit 0 on the SIGTERM).
            if let Some(failed) = tasks.iter().find(|t| {
                t.ended()
                    && releases.contains(&t.instance.release.as_str())
                    && !known.as_ref().is_some_and(|k| k.contains(&t.instance.id))
            }) {
                progress.end_waiting();
                return Err(Error::Unhealthy {
                    serving: crate::error::LIVE_SERVES.into(),
                    instance: failed.instance.name.clone(),
                    what: format!(
                        "ended before Swarm saw it healthy (Swarm: {}, {}, exit code {})",
                        failed.state,
                        if failed.error.is_empty() {
                            &failed.message
                        } else {
                            &failed.error
                        },
                        failed.instance.exit_code
                    ),
                    details: String::new(),
                });
            }
            drop(known);
            let running: Vec<Instance> = tasks
                .iter()
                .filter(|t| t.desired_running)
                .map(|t| t.instance.clone())
                .collect();
            let ready = running.iter().filter(|i| i.running()).count() as u32;
            let all_run = ready >= want && running.iter().all(Instance::running);
            if all_run && self.probed(&running, &mut probe, started)? {
                progress.end_waiting();
                return Ok(running);
            }
            if started.elapsed() > self.settings.health_timeout {
                progress.end_waiting();
                let stuck = running
                    .iter()
                    .find(|i| !i.running() || !probe.answered.contains(&i.id));
                let why = stuck.and_then(|i| probe.reasons.get(&i.id));
                // Where Swarm left it says why: `preparing` is the node still pulling the image.
                let swarm_state = stuck
                    .and_then(|i| tasks.iter().find(|t| t.instance.id == i.id))
                    .map_or_else(String::new, |t| {
                        format!(" (Swarm: {}, {})", t.state, t.message)
                    });
                return Err(Error::Unhealthy {
                    serving: crate::error::LIVE_SERVES.into(),
                    instance: stuck.map_or_else(|| self.full_name(None), |i| i.name.clone()),
                    what: match why {
                        Some(why) if all_run => format!(
                            "did not answer within {}s: {why}",
                            self.settings.health_timeout.as_secs()
                        ),
                        _ => format!(
                            "did not run within {}s{swarm_state}",
                            self.settings.health_timeout.as_secs()
                        ),
                    },
                    details: tasks
                        .iter()
                        .filter(|t| !t.error.is_empty())
                        .map(|t| format!("\n  {}: {}", t.instance.name, t.error))
                        .collect::<String>(),
                });
            }
            if all_run {
                progress.waiting(
                    &format!(
                        "{}/{want} task(s) answering on port {}",
                        probe.answered.len(),
                        self.port.unwrap_or_default()
                    ),
                    &mut last,
                );
                continue; // the probe waited its round
            }
            progress.waiting(&format!("{ready}/{want} task(s) running"), &mut last);
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}
