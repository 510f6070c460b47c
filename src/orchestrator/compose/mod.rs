//! Compose on one engine: a colour is a Compose service (`web-blue`), an instance a container.
//!
//! Every change goes to `docker compose -p P --project-directory D -f -` with the derived model
//! (see `model`) on stdin, so the user's files are never edited and Compose applies its own
//! rules (networks, volumes, depends_on) as it would for them. Waiting for the conditions the
//! target's `depends_on` asks is `conditions.rs`.

mod conditions;

use std::cell::RefCell;
use std::time::Duration;

use serde_json::Value;

use super::mask;
use super::{NewRelease, Orchestrator};
use crate::compose::{ComposeFile, Project};
use crate::containers;
use crate::dependencies;
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::health;
use crate::instance::Instance;
use crate::model::{self, service_name, Color, Derivation, Release, LABEL_TARGET};
use crate::progress::Progress;
use crate::settings::{Ansi, PullPolicy, Settings};

pub(super) struct Compose<'a> {
    engine: &'a Engine,
    settings: &'a Settings,
    project: Project,
    target: String,
    port: Option<u16>,
    /// The last derived model, kept in a dry run only, for the plan.
    planned: RefCell<Option<Value>>,
    /// The target's instances as last listed (see `instances`).
    listed: RefCell<Option<Vec<Instance>>>,
}

impl<'a> Compose<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        settings: &'a Settings,
        project: Project,
        target: &str,
        port: Option<u16>,
    ) -> Compose<'a> {
        Compose {
            engine,
            settings,
            project,
            target: target.to_string(),
            port,
            planned: RefCell::new(None),
            listed: RefCell::new(None),
        }
    }

    fn project_name(&self) -> &str {
        &self.project.model.name
    }

    /// `docker compose -p P --project-directory D -f - [--env-file …] [--profile …] REST`: the
    /// derived model on stdin.
    fn compose_args(&self, rest: &[&str]) -> Vec<String> {
        let mut a = args(&["compose"]);
        // Compose's output shows under the step: in the form docker flow's progress takes.
        if let Some(p) = self.settings.progress.for_compose() {
            a.extend(args(&["--progress", p]));
        }
        match self.settings.ansi {
            Ansi::Never => a.extend(args(&["--ansi", "never"])),
            Ansi::Always => a.extend(args(&["--ansi", "always"])),
            Ansi::Auto => {}
        }
        a.extend(args(&["-p", self.project_name(), "--project-directory"]));
        a.push(self.project.dir.display().to_string());
        a.extend(args(&["-f", "-"]));
        a.extend(crate::compose::environment_args(self.settings));
        a.extend(args(rest));
        a
    }

    /// Runs a changing Compose command on the derived model; its output shows under the step.
    fn compose(&self, derived: &[u8], rest: &[&str]) -> Result<()> {
        let out = self
            .engine
            .change_streamed(&self.compose_args(rest), Some(derived))?;
        if !out.ok() {
            return Err(Error::ComposeFailed {
                command: format!("docker compose {}", rest.join(" ")),
            });
        }
        Ok(())
    }

    /// The model Compose is handed: `model` with the target split into colours, the released
    /// one labelled with `release`.
    fn derive(
        &self,
        adjust: &dyn Fn(&mut ComposeFile),
        release: Option<(Option<Color>, &Release)>,
        refer_to: Color,
        extra_labels: &[(String, String)],
    ) -> Result<Vec<u8>> {
        let d = Derivation {
            target: &self.target,
            blue_green: self.settings.blue_green,
            release,
            refer_to,
            port: self.port,
            extra_labels,
        };
        let derive = |base: &ComposeFile| {
            let mut m = base.clone();
            adjust(&mut m);
            model::derive(&m, &d)
        };
        let out = derive(&self.project.model)?;
        if self.engine.dry_run() {
            // The plan shows the model with what interpolation filled in masked.
            let shown = self.project.uninterpolated.as_ref().and_then(|raw| {
                let mut shown = serde_json::to_value(&out).ok()?;
                let raw = serde_json::to_value(derive(raw).ok()?).ok()?;
                mask::interpolated(&mut shown, &raw, false);
                Some(shown)
            });
            *self.planned.borrow_mut() = shown;
        }
        serde_json::to_vec(&out).map_err(|e| {
            Error::flow(
                format!("cannot serialise the derived model: {e}"),
                "please report this",
            )
        })
    }

    fn derive_release(&self, r: &NewRelease) -> Result<Vec<u8>> {
        let previous = r.history_labels();
        self.derive(&|_| {}, Some((r.color, &r.release)), r.refer_to, &previous)
    }

    /// The services of the project docker flow runs as targets, the target aside.
    fn released_targets(&self) -> Result<Vec<String>> {
        if self.engine.dry_run() {
            return Ok(Vec::new());
        }
        let mut targets = containers::targets(self.engine, self.project_name())?;
        targets.retain(|t| *t != self.target);
        Ok(targets)
    }

    /// The target's instances as the engine lists them now.
    fn list(&self) -> Result<Vec<Instance>> {
        containers::labelled(
            self.engine,
            &[
                format!("com.docker.compose.project={}", self.project_name()),
                format!("{LABEL_TARGET}={}", self.target),
            ],
        )
    }

    /// Forgets the listed instances: something is about to change them.
    fn changing(&self) {
        *self.listed.borrow_mut() = None;
    }

    /// Instances of `release`, running or not.
    fn of_release(&self, release: &str) -> Result<Vec<Instance>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|i| i.release == release)
            .collect())
    }

    /// What a dry run shows in place of instances it did not start: Compose's names for them.
    fn planned_instances(
        &self,
        color: Option<Color>,
        release: &Release,
        numbers: std::ops::RangeInclusive<u32>,
    ) -> Vec<Instance> {
        let svc = service_name(&self.target, color);
        numbers
            .map(|n| Instance {
                id: format!("{}-{svc}-{n}", self.project_name()),
                name: format!("{}-{svc}-{n}", self.project_name()),
                state: "running".into(),
                color,
                release: release.id.clone(),
                released_at: release.at.clone(),
                ..Instance::default()
            })
            .collect()
    }
}

impl Orchestrator for Compose<'_> {
    fn service(&self, color: Option<Color>) -> String {
        service_name(&self.target, color)
    }

    fn unhealthy(&self) -> Result<Vec<String>> {
        let out = self.engine.read(&args(&[
            "ps",
            "--filter",
            &format!(
                "label=com.docker.compose.project={}",
                self.project.model.name
            ),
            "--filter",
            &format!("label={}={}", model::LABEL_TARGET, self.target),
            "--filter",
            "health=unhealthy",
            "--format",
            "{{.Names}}",
        ]))?;
        Ok(out.stdout.lines().map(String::from).collect())
    }

    /// Listed once until this orchestrator changes something (or `forget`): every step of a
    /// run reads the release model, and under the lock nothing else changes the target.
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

    fn prepare(&self, r: &NewRelease) -> Result<()> {
        self.changing();
        let derived = self.derive_release(r)?;
        let svc = self.service(r.color);
        if self.project.model.services[&self.target].build.is_some() {
            self.compose(&derived, &["build", &svc])?;
        } else if self.settings.pull == PullPolicy::Always {
            self.compose(&derived, &["pull", &svc])?;
        }
        let sides: Vec<&str> = self
            .settings
            .side_targets
            .iter()
            .map(String::as_str)
            .collect();
        if self.settings.pull_side_targets && !sides.is_empty() {
            let mut a = vec!["pull", "--ignore-buildable"];
            a.extend(&sides);
            self.compose(&derived, &a)?;
        }
        // What the target needs (`depends_on`, as `docker compose up` starts it), but not a
        // service docker flow releases as a target of its own (its colours run it; Compose
        // would start a second, unrouted copy at its plain name).
        let model = &self.project.model.services;
        let needed = dependencies::needed(model, &self.target);
        // Asked only when the target needs something (one `docker ps` less per deploy).
        let released = if needed.is_empty() {
            Vec::new()
        } else {
            self.released_targets()?
        };
        let mut start: Vec<&str> = needed
            .into_iter()
            .filter(|s| !released.contains(s))
            .filter_map(|s| model.get_key_value(&s).map(|(k, _)| k.as_str()))
            .collect();
        for side in sides {
            // One that depends on the target starts once it serves (`start_dependents`).
            if !start.contains(&side) && !dependencies::depends_on(model, side, &self.target) {
                start.push(side);
            }
        }
        if start.is_empty() {
            return Ok(());
        }
        // A running side target or dependency (a database) is never recreated; Compose starts
        // them in `depends_on` order with its conditions (with `--no-deps` too, among those
        // listed), and `--no-deps` keeps it from starting a released target's plain copy.
        let mut a = vec![
            "up",
            "-d",
            "--no-deps",
            "--no-recreate",
            "--pull",
            "missing",
        ];
        a.extend(&start);
        self.compose(&derived, &a)?;
        self.await_conditions()
    }

    fn start_dependents(&self, live: Option<Color>) -> Result<()> {
        let model = &self.project.model.services;
        let later: Vec<&str> = self
            .settings
            .side_targets
            .iter()
            .filter(|side| dependencies::depends_on(model, side, &self.target))
            .map(String::as_str)
            .collect();
        if later.is_empty() {
            return Ok(());
        }
        // They refer to the colour that serves now (`volumes_from`, `network_mode: service:`,
        // `links`); `--no-deps` starts nothing else.
        let derived = self.derive(&|_| {}, None, live.unwrap_or(Color::Blue), &[])?;
        let mut a = vec![
            "up",
            "-d",
            "--no-deps",
            "--no-recreate",
            "--pull",
            "missing",
        ];
        a.extend(later);
        self.compose(&derived, &a)
    }

    fn start_release(&self, r: &NewRelease) -> Result<Vec<Instance>> {
        self.changing();
        let derived = self.derive_release(r)?;
        let svc = self.service(r.color);
        let pull = match self.settings.pull {
            PullPolicy::Missing => "missing",
            _ => "never",
        };
        let scale = format!("{svc}={}", r.beside + r.count);
        let mut up = vec!["up", "-d", "--no-deps", "--pull", pull, "--scale", &scale];
        if r.color.is_none() {
            // The old instances keep running beside the new ones until stop-old.
            up.push("--no-recreate");
        }
        up.push(&svc);
        if let Err(e) = self.compose(&derived, &up) {
            self.remove(&self.of_release(&r.release.id)?)?;
            return Err(e);
        }
        if self.engine.dry_run() {
            return Ok(self.planned_instances(
                r.color,
                &r.release,
                r.beside + 1..=r.beside + r.count,
            ));
        }
        let new = self.of_release(&r.release.id)?;
        if new.len() as u32 != r.count {
            self.remove(&new)?;
            return Err(Error::flow(
                format!(
                    "Compose started {} new instance(s) of {svc}, not {}",
                    new.len(),
                    r.count
                ),
                "check `docker compose ps`; the live release keeps serving",
            ));
        }
        Ok(new)
    }

    fn add_like(&self, like: &Instance, total: u32, progress: &Progress) -> Result<Vec<Instance>> {
        self.changing();
        let before = self.list()?;
        let release = Release {
            id: like.release.clone(),
            at: like.released_at.clone(),
        };
        // The release's own image: by name while the name still points at it, else by id.
        let by_name = self
            .engine
            .read(&args(&[
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                &like.image,
            ]))
            .is_ok_and(|o| o.ok() && o.stdout.trim() == like.image_id);
        let image = if by_name {
            like.image.clone()
        } else {
            like.image_id.clone()
        };
        let pin = |model: &mut ComposeFile| {
            if let Some(svc) = model.services.get_mut(&self.target) {
                svc.image = Some(image.clone());
                svc.build = None;
            }
        };
        let derived = self.derive(
            &pin,
            Some((like.color, &release)),
            like.color.unwrap_or(Color::Blue),
            &[],
        )?;
        let service = self.service(like.color);
        let scale = format!("{service}={total}");
        self.compose(
            &derived,
            &[
                "up",
                "-d",
                "--no-deps",
                "--no-recreate",
                "--pull",
                "never",
                "--scale",
                &scale,
                &service,
            ],
        )?;
        if self.engine.dry_run() {
            let running = before
                .iter()
                .filter(|i| i.running() && i.color == like.color)
                .count() as u32;
            return Ok(self.planned_instances(like.color, &release, running + 1..=total));
        }
        let added: Vec<Instance> = self
            .instances()?
            .into_iter()
            .filter(|i| !before.iter().any(|b| b.id == i.id))
            .collect();
        match self.wait_healthy(&added, progress) {
            Ok(_) => Ok(added),
            Err(e) => {
                self.remove(&added)?;
                Err(e)
            }
        }
    }

    fn restart(&self, stopped: &[Instance]) -> Result<Vec<Instance>> {
        self.changing();
        let mut a = args(&["start"]);
        a.extend(
            stopped
                .iter()
                .filter(|i| !i.running())
                .map(|i| i.name.clone()),
        );
        if a.len() > 1 {
            let out = self.engine.change(&a, None)?;
            if !out.ok() {
                return Err(Error::flow(
                    format!("cannot start the previous release: {}", out.stderr.trim()),
                    "see `docker ps -a`",
                ));
            }
        }
        let ids: Vec<String> = stopped.iter().map(|i| i.id.clone()).collect();
        containers::inspect(self.engine, &ids)
    }

    fn wait_healthy(&self, instances: &[Instance], progress: &Progress) -> Result<Vec<Instance>> {
        if self.engine.dry_run() {
            return Ok(instances.to_vec());
        }
        let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
        health::wait_healthy(
            self.engine,
            &ids,
            self.port,
            &self.settings.health_path,
            self.settings.health_timeout,
            progress,
        )
    }

    fn stop(&self, instances: &[Instance], grace: Duration) -> Result<()> {
        self.changing();
        if instances.is_empty() {
            return Ok(());
        }
        let mut a = args(&["stop", "--time", &grace.as_secs().max(1).to_string()]);
        a.extend(instances.iter().map(|i| i.name.clone()));
        let out = self.engine.change(&a, None)?;
        if !out.ok() {
            return Err(Error::flow(
                format!("cannot stop the old instances: {}", out.stderr.trim()),
                "stop them with `docker stop`",
            ));
        }
        Ok(())
    }

    /// By name, as every command docker flow makes (and shows in a plan): Compose's names are
    /// unique in the engine.
    fn remove(&self, instances: &[Instance]) -> Result<()> {
        self.changing();
        if instances.is_empty() {
            return Ok(());
        }
        // Without `-v`: a container's anonymous volumes (an image's `VOLUME`s) stay, as
        // `docker compose rm` leaves them; named volumes are never touched.
        let mut a = args(&["rm", "-f"]);
        a.extend(instances.iter().map(|i| i.name.clone()));
        let out = self.engine.change(&a, None)?;
        if !out.ok_or_gone() {
            return Err(Error::flow(
                format!("cannot remove instances: {}", out.stderr.trim()),
                "remove them with `docker rm -f`",
            ));
        }
        Ok(())
    }

    fn planned_model(&self) -> Option<Value> {
        self.planned.borrow().clone()
    }
}
