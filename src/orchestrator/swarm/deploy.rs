//! Deploying a colour with `docker stack deploy`: the derived model cut to a stack file
//! (`stack.rs`) with the side targets that do not run yet and the colour, its route network made
//! first, and what a release needs beside that: a new release started and awaited until Swarm
//! made its tasks, or more instances like a running one (its colour scaled up, or its release
//! deployed again from its image). Separate from `scale.rs`, which changes only a colour's
//! replicas or removes it.

use serde_json::Value;

use super::instances::{LABEL_STACK, TASKS_APPEAR};
use super::{needs_colour, Swarm};
use crate::compose::ComposeFile;
use crate::engine::args;
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::model::{
    self, service_name, Color, Derivation, Release, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_RELEASE,
    LABEL_PREVIOUS_RELEASED_AT, LABEL_REPLICAS,
};
use crate::orchestrator::stack::{self, Cut};
use crate::orchestrator::{mask, NewRelease, Orchestrator};
use crate::progress::Progress;
use crate::settings::PullPolicy;

impl Swarm<'_> {
    /// The route network, made if missing (the proxy's preflight refused one that is not this
    /// route's): a colour joins it as its service is created, never later (that would restart
    /// its tasks).
    fn ensure_route_network(&self) -> Result<()> {
        let Some(net) = &self.route_network else {
            return Ok(());
        };
        let out = self
            .engine
            .read(&args(&["network", "inspect", "-f", "{{.Scope}}", net]))?;
        if out.ok() {
            return Ok(());
        }
        let create = model::route_network_create(self.stack(), &self.target, true);
        let made = self.engine.change(&create, None)?;
        if made.ok_or_exists() {
            return Ok(());
        }
        Err(Error::environment(
            format!(
                "cannot create the route network `{net}`: {}",
                made.stderr.trim()
            ),
            "check `docker network ls` and the swarm's address pools",
        ))
    }

    /// Deploys the side targets and `color` of the derived model, with `replicas` tasks.
    fn deploy(&self, derived: &ComposeFile, color: Color, replicas: u32) -> Result<()> {
        self.snapshot()?;
        self.changing();
        self.ensure_route_network()?;
        let colour = service_name(&self.target, Some(color));
        // A side target that runs is never updated (as Compose's `--no-recreate`).
        let existing = self.engine.read(&args(&[
            "service",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &format!("label={LABEL_STACK}={}", self.stack()),
        ]))?;
        let existing: Vec<&str> = existing.stdout.lines().map(str::trim).collect();
        let mut services: Vec<String> = self
            .settings
            .side_targets
            .iter()
            .filter(|s| !existing.contains(&format!("{}_{s}", self.stack()).as_str()))
            .cloned()
            .collect();
        services.push(colour.clone());
        let labels = [(LABEL_REPLICAS.to_string(), replicas.to_string())];
        let model = serde_json::to_value(derived).map_err(|e| {
            Error::flow(
                format!("cannot serialise the derived model: {e}"),
                "please report this",
            )
        })?;
        let cut = Cut {
            services: &services,
            colour: Some((&colour, replicas)),
            route_network: self.route_network.as_deref(),
            service_labels: &labels,
        };
        let file = stack::stack_file(&model, &cut);
        if self.engine.dry_run() {
            // The plan shows the stack file with what interpolation filled in masked (as the
            // Compose orchestrator's does): `.env` and the environment are where secrets live.
            let raw = self.planned_raw.borrow_mut().take();
            let shown = raw.and_then(|raw| {
                let raw = stack::stack_file(&serde_json::to_value(raw).ok()?, &cut);
                let mut shown = file.clone();
                mask::interpolated(&mut shown, &raw, false);
                Some(shown)
            });
            // Without the model as written, nothing of it is shown.
            *self.planned.borrow_mut() = Some(shown.unwrap_or(Value::Null));
        }
        let body = serde_json::to_vec(&file).unwrap_or_default();
        // Whether the CLI asks the registry for the image's digest (pinning every node to it):
        // `--pull never` means no registry.
        let resolve = match self.settings.pull {
            PullPolicy::Always => "always",
            PullPolicy::Missing => "changed",
            PullPolicy::Never => "never",
        };
        let a = args(&[
            "stack",
            "deploy",
            "--resolve-image",
            resolve,
            "-c",
            "-",
            self.stack(),
        ]);
        let out = self.engine.change_streamed(&a, Some(&body))?;
        if !out.ok() {
            return Err(Error::ComposeFailed {
                command: format!("docker stack deploy {}", self.stack()),
            });
        }
        Ok(())
    }

    fn derive_with(
        &self,
        adjust: &dyn Fn(&mut ComposeFile),
        release: (Option<Color>, &Release),
        refer_to: Color,
        extra: &[(String, String)],
    ) -> Result<ComposeFile> {
        let derivation = Derivation {
            target: &self.target,
            blue_green: true,
            release: Some(release),
            refer_to,
            port: self.port,
            extra_labels: extra,
        };
        let derive = |m: &ComposeFile| {
            let mut base = m.clone();
            adjust(&mut base);
            model::derive(&base, &derivation)
        };
        if self.engine.dry_run() {
            *self.planned_raw.borrow_mut() = self
                .project
                .uninterpolated
                .as_ref()
                .and_then(|raw| derive(raw).ok());
        }
        derive(&self.project.model)
    }

    /// Deploys the release's colour with its instances and returns them once Swarm made
    /// their tasks (not yet seen healthy); a failed deploy scales the colour to 0.
    pub(super) fn deploy_release(&self, r: &NewRelease) -> Result<Vec<Instance>> {
        let color = needs_colour(r.color)?;
        let extra = r.history_labels();
        let derived = self.derive_with(&|_| {}, (r.color, &r.release), r.refer_to, &extra)?;
        let count = r.beside + r.count;
        if let Err(e) = self.deploy(&derived, color, count) {
            let _ = self.scale(r.color, 0, None);
            return Err(e);
        }
        if self.engine.dry_run() {
            return Ok((1..=count)
                .map(|n| Instance {
                    id: format!("{}.{n}", self.full_name(r.color)),
                    name: format!("{}.{n}", self.full_name(r.color)),
                    state: "running".into(),
                    color: r.color,
                    release: r.release.id.clone(),
                    released_at: r.release.at.clone(),
                    ..Instance::default()
                })
                .collect());
        }
        let started: Vec<Instance> = self
            .await_tasks(r.color, count)?
            .into_iter()
            .filter(|i| i.release == r.release.id)
            .collect();
        if started.is_empty() {
            // Swarm wants none of its tasks running any more (each ended, and its restart
            // policy starts no other): nothing is left to wait for, and nothing to route to.
            let why = self.ended_tasks(r.color, &r.release.id)?;
            let name = self.full_name(r.color);
            self.changing();
            self.engine.change(&args(&["service", "rm", &name]), None)?;
            return Err(Error::Unhealthy {
                serving: crate::error::LIVE_SERVES.into(),
                instance: name,
                what: format!(
                    "has no task Swarm runs {}s after the deploy ({why})",
                    TASKS_APPEAR.as_secs()
                ),
                details: String::new(),
            });
        }
        Ok(started)
    }

    /// Instances like `like` until its colour has `total`: its colour scaled up when it still
    /// holds that release, else the release deployed again from its image; once healthy, the
    /// ones added.
    pub(super) fn deploy_like(
        &self,
        like: &Instance,
        total: u32,
        progress: &Progress,
    ) -> Result<Vec<Instance>> {
        let before = self.list()?;
        let same_release = self
            .services()?
            .iter()
            .any(|s| s.color == like.color && s.replicas > 0)
            && before
                .iter()
                .any(|i| i.color == like.color && i.release == like.release);
        if same_release {
            self.scale(like.color, total, None)?;
        } else {
            // The colour holds another release (or none): the release again, from its image.
            let color = needs_colour(like.color)?;
            let release = Release {
                id: like.release.clone(),
                at: like.released_at.clone(),
            };
            // On Swarm an instance's image id is the reference its service names (with its
            // digest when the registry was asked); a rollback's `like` carries the previous one.
            let image = if like.image_id.is_empty() {
                like.image.clone()
            } else {
                like.image_id.clone()
            };
            let pin = |m: &mut ComposeFile| {
                if let Some(svc) = m.services.get_mut(&self.target) {
                    svc.image = Some(image.clone());
                    svc.build = None;
                }
            };
            // What it replaced goes with it, so a rollback from it still finds that release.
            let previous: Vec<(String, String)> = [
                (LABEL_PREVIOUS_IMAGE, &like.previous_image),
                (LABEL_PREVIOUS_RELEASE, &like.previous_release),
                (LABEL_PREVIOUS_RELEASED_AT, &like.previous_released_at),
            ]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let derived = self.derive_with(&pin, (like.color, &release), color, &previous)?;
            self.deploy(&derived, color, total)?;
        }
        if self.engine.dry_run() {
            return Ok(Vec::new());
        }
        let now = self.await_tasks(like.color, total)?;
        let healthy = self.wait_healthy(&now, progress)?;
        Ok(healthy
            .into_iter()
            .filter(|i| !before.iter().any(|b| b.id == i.id))
            .collect())
    }
}
