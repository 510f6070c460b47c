//! Swarm mode: a colour is a service of the project's stack (`shop_app-blue`), an instance one
//! of its tasks.
//!
//! A deploy sends `docker stack deploy` a stack file (`stack.rs`) with the side targets and the
//! next colour only, never `--prune`, so the live colour is never touched and versions never
//! mix. Swarm's own health gate decides when a task runs (a task with a healthcheck stays
//! `starting` until it passes, and one that turns unhealthy is replaced), so "every task of the
//! release running" is "healthy". Instances are read from the manager's task state (addresses
//! included: the proxy routes to them, never through overlay DNS). A colour that served is
//! scaled to 0, keeping its service (and the replicas it had, in a label) for rollback.
//!
//! Swarm removes the tasks it chooses when a service scales down, so docker flow cannot take
//! chosen tasks out of rotation first: scaling down in place is refused (`can_remove_chosen`).
//!
//! The files, one concept each: `inspect.rs` reads Swarm's JSON of a task or a service into
//! instances (pure), `instances.rs` asks the manager for the target's services and tasks,
//! `health.rs` is the health gate a release waits at, `deploy.rs` deploys a colour with `docker
//! stack deploy`, `scale.rs` scales and removes colours with `docker service`, and `image.rs`
//! checks before a deploy that the swarm's nodes can pull the target's image. This file holds
//! the orchestrator itself and the seam's methods, each a call into the file that does it.

mod deploy;
mod health;
mod image;
mod inspect;
mod instances;
mod scale;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use super::{NewRelease, Orchestrator};
use crate::compose::{ComposeFile, Project};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::model::{self, service_name, Color};
use crate::progress::Progress;
use crate::settings::{ProxyDriver, Settings};

pub(super) use instances::deployed;

pub(super) struct Swarm<'a> {
    engine: &'a Engine,
    settings: &'a Settings,
    project: Project,
    target: String,
    port: Option<u16>,
    /// The route network the colours join (the Caddy driver reaches tasks over it).
    route_network: Option<String>,
    planned: RefCell<Option<Value>>,
    /// A dry run's derivation of the model as written (before interpolation), for the plan to
    /// show instead of what interpolation filled in.
    planned_raw: RefCell<Option<ComposeFile>>,
    listed: RefCell<Option<Vec<Instance>>>,
    /// Every task id Swarm had for the target before docker flow last changed it, so that a
    /// failed task can be told from the history (tasks that failed before this run).
    known: RefCell<Option<HashSet<String>>>,
}

impl<'a> Swarm<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        settings: &'a Settings,
        project: Project,
        target: &str,
        port: Option<u16>,
    ) -> Swarm<'a> {
        let route_network = (settings.proxy.driver == ProxyDriver::Caddy)
            .then(|| model::route_network(&project.model.name, target, true));
        Swarm {
            engine,
            settings,
            project,
            target: target.to_string(),
            port,
            route_network,
            planned: RefCell::new(None),
            planned_raw: RefCell::new(None),
            listed: RefCell::new(None),
            known: RefCell::new(None),
        }
    }

    fn stack(&self) -> &str {
        &self.project.model.name
    }

    fn full_name(&self, color: Option<Color>) -> String {
        format!("{}_{}", self.stack(), service_name(&self.target, color))
    }

    fn changing(&self) {
        *self.listed.borrow_mut() = None;
    }

    /// Colours of `instances`, with how many of each.
    fn by_color(instances: &[Instance]) -> BTreeMap<Option<Color>, u32> {
        let mut m = BTreeMap::new();
        for i in instances {
            *m.entry(i.color).or_insert(0) += 1;
        }
        m
    }
}

/// Swarm mode deploys colours: the target as it is named would be updated in place.
fn needs_colour(color: Option<Color>) -> Result<Color> {
    color.ok_or_else(|| {
        Error::usage(
            "Swarm mode deploys blue-green only: each colour is a service of the stack",
            "deploy with --blue-green (or `blue_green: true` in docker-flow.yml)",
        )
    })
}

impl Orchestrator for Swarm<'_> {
    fn service(&self, color: Option<Color>) -> String {
        self.full_name(color)
    }

    /// None: Swarm replaces an unhealthy task itself, and a task with a healthcheck runs only
    /// once it passed (the manager runs few of them to ask anyway).
    fn unhealthy(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn instances(&self) -> Result<Vec<Instance>> {
        if let Some(list) = self.listed.borrow().clone() {
            return Ok(list);
        }
        let list = self.list()?;
        *self.listed.borrow_mut() = Some(list.clone());
        Ok(list)
    }

    fn forget(&self) {
        self.changing();
    }

    fn can_remove_chosen(&self) -> bool {
        false
    }

    fn prepare(&self, r: &NewRelease) -> Result<()> {
        self.check_image(r)
    }

    fn start_release(&self, r: &NewRelease) -> Result<Vec<Instance>> {
        self.deploy_release(r)
    }

    fn add_like(&self, like: &Instance, total: u32, progress: &Progress) -> Result<Vec<Instance>> {
        self.deploy_like(like, total, progress)
    }

    fn restart(&self, stopped: &[Instance]) -> Result<Vec<Instance>> {
        self.scale_back(stopped)
    }

    fn wait_healthy(&self, instances: &[Instance], progress: &Progress) -> Result<Vec<Instance>> {
        self.await_running(instances, progress)
    }

    fn stop(&self, instances: &[Instance], _grace: Duration) -> Result<()> {
        self.scale_to_zero(instances)
    }

    fn remove(&self, instances: &[Instance]) -> Result<()> {
        self.remove_services(instances)
    }

    fn planned_model(&self) -> Option<Value> {
        self.planned.borrow().clone()
    }
}
