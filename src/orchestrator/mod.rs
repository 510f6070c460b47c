//! The orchestrator seam: what starts, scales, stops and lists the target's instances.
//!
//! Compose on one engine (`compose/`) and Swarm mode (`swarm/`, where a colour is a service
//! of the stack and an instance a task; `stack.rs` writes what `docker stack deploy` gets) live
//! behind it; `detect` says which runs the project. The flows decide *what* to do from the
//! release model (`releases.rs`) and ask the orchestrator to do it; they never build a `docker`
//! command of their own. Adding an orchestrator is adding a file here and an arm in `new`.

mod compose;
mod mask;
pub(crate) mod stack;
mod swarm;

use std::borrow::Cow;
use std::time::Duration;

use serde_json::Value;

use crate::compose::Project;
use crate::engine::Engine;
use crate::error::Result;
use crate::instance::Instance;
use crate::model::{Color, Release};
use crate::progress::Progress;
use crate::settings::{EngineKind, Settings};

/// A release to start beside what runs.
#[derive(Debug, Clone)]
pub(crate) struct NewRelease {
    /// Its colour (blue-green), or None: the target as it is named.
    pub color: Option<Color>,
    pub release: Release,
    /// How many instances of it to start.
    pub count: u32,
    /// Without blue-green, the old instances keep running beside it until stop-old: how many.
    pub beside: u32,
    /// One instance of the release it replaces, recorded on it so that a rollback can recreate
    /// that release when its containers are gone.
    pub replaces: Option<Instance>,
    /// The colour the other services' references to the target point at: the live one.
    pub refer_to: Color,
    /// `--keep-old`: recorded on the release, for the stop-old step and the next commands.
    pub keep_old: std::time::Duration,
}

impl NewRelease {
    /// The labels the release carries beside its id: what it replaced (so that a rollback can
    /// recreate that release when its instances are gone) and `--keep-old`.
    pub(crate) fn history_labels(&self) -> Vec<(String, String)> {
        use crate::model::{
            LABEL_KEEP_OLD, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_RELEASE,
            LABEL_PREVIOUS_RELEASED_AT,
        };
        let mut labels: Vec<(String, String)> = self
            .replaces
            .as_ref()
            .map(|o| {
                vec![
                    (LABEL_PREVIOUS_IMAGE.to_string(), o.image_id.clone()),
                    (LABEL_PREVIOUS_RELEASE.to_string(), o.release.clone()),
                    (
                        LABEL_PREVIOUS_RELEASED_AT.to_string(),
                        o.released_at.clone(),
                    ),
                ]
            })
            .unwrap_or_default();
        if !self.keep_old.is_zero() {
            labels.push((
                LABEL_KEEP_OLD.to_string(),
                self.keep_old.as_secs().max(1).to_string(),
            ));
        }
        labels
    }
}

pub(crate) trait Orchestrator {
    /// The target's name in a colour, as users see it (`web-blue`), for messages.
    fn service(&self, color: Option<Color>) -> String;
    /// Every instance of the target, in any state.
    fn instances(&self) -> Result<Vec<Instance>>;
    /// The names of the target's instances the engine calls unhealthy now (its healthcheck
    /// failing), asked afresh: what the instant rollback must not swap in.
    fn unhealthy(&self) -> Result<Vec<String>>;
    /// Forgets what `instances` listed, if it keeps it: another run may have changed the
    /// target (called once the deploy lock is held).
    fn forget(&self) {}
    /// What must exist before the release starts, so that a missing image fails before anything
    /// changes: the target's image built or pulled, the side targets up (never recreated), but
    /// those that depend on the target.
    fn prepare(&self, release: &NewRelease) -> Result<()>;
    /// Once the release serves: the side targets that depend on the target, which `prepare`
    /// left out (as Compose starts a service after what it depends on), started if they do not
    /// run (never recreated).
    /// `live`: the colour the proxy routes to now (what they refer to by the target's name).
    fn start_dependents(&self, _live: Option<Color>) -> Result<()> {
        Ok(())
    }
    /// Starts the release's instances and returns them, not yet seen healthy. A failure
    /// removes what it started.
    fn start_release(&self, release: &NewRelease) -> Result<Vec<Instance>>;
    /// Adds instances like `like` (its release, its own image) until its colour has `total`,
    /// waits for them to be healthy and returns them; ones that fail are removed.
    fn add_like(&self, like: &Instance, total: u32, progress: &Progress) -> Result<Vec<Instance>>;
    /// Starts stopped instances again; returns them as they are now.
    fn restart(&self, stopped: &[Instance]) -> Result<Vec<Instance>>;
    /// Waits until every instance is healthy (bounded by `--health-timeout`); returns them.
    fn wait_healthy(&self, instances: &[Instance], progress: &Progress) -> Result<Vec<Instance>>;
    /// Stops instances gracefully (they get `grace` to exit); they stay, for rollback.
    fn stop(&self, instances: &[Instance], grace: Duration) -> Result<()>;
    /// Whether `stop` and `remove` can take chosen instances of a colour, leaving the others
    /// running (Swarm picks which tasks a service loses itself).
    fn can_remove_chosen(&self) -> bool {
        true
    }
    /// Removes instances for good (never a named volume).
    fn remove(&self, instances: &[Instance]) -> Result<()>;
    /// In a dry run, the last model handed to the engine (what `--dry-run --format json` shows).
    fn planned_model(&self) -> Option<Value>;
}

pub(crate) use crate::platform::Platform;

/// What differs by platform before the orchestrator is made (the enum itself is a leaf, so
/// that the lock and the proxy's route can name it without this module).
impl Platform {
    /// The settings as this platform reads them: on Swarm mode each colour is a service, so
    /// blue-green is how it deploys (exit 2 when `blue_green` is set false).
    pub(crate) fn settings(self, settings: &Settings) -> Result<Cow<'_, Settings>> {
        if self != Platform::Swarm || settings.blue_green {
            return Ok(Cow::Borrowed(settings));
        }
        if settings.blue_green_origin != "default" {
            return Err(crate::error::Error::usage(
                format!(
                    "Swarm mode deploys blue-green only (each colour is a service of the stack), and blue_green is false ({})",
                    settings.blue_green_origin
                ),
                "drop that setting, or use --engine compose",
            ));
        }
        Ok(Cow::Owned(Settings {
            blue_green: true,
            ..settings.clone()
        }))
    }

    /// What a deploy of `target` (and its side targets) warns about on this platform: on Swarm
    /// mode, the Compose keys Swarm does not apply (dropped from the stack file), each with
    /// where it is written.
    pub(crate) fn warnings(
        self,
        project: &Project,
        settings: &Settings,
        target: &str,
    ) -> Vec<String> {
        if self != Platform::Swarm {
            return Vec::new();
        }
        let mut names = settings.side_targets.clone();
        names.push(target.to_string());
        let mut warnings = Vec::new();
        for name in names {
            let Some(svc) = project.model.services.get(&name) else {
                continue;
            };
            for (key, why) in stack::ignored_keys(svc) {
                let at = crate::compose::line_of(&project.files, &name, key)
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                warnings.push(format!("Swarm mode ignores `{key}` of `{name}`{at}: {why}"));
            }
        }
        warnings
    }
}

/// The orchestrator for this project: Compose on the engine docker talks to, or Swarm mode.
pub(crate) fn new<'a>(
    engine: &'a Engine,
    settings: &'a Settings,
    project: Project,
    target: &str,
    port: Option<u16>,
    platform: Platform,
) -> Box<dyn Orchestrator + 'a> {
    match platform {
        Platform::Swarm => Box::new(swarm::Swarm::new(engine, settings, project, target, port)),
        Platform::Compose => Box::new(compose::Compose::new(
            engine, settings, project, target, port,
        )),
    }
}

/// What docker flow deployed in `project`, any target: its containers, or on Swarm mode one
/// instance per service (enough to tell the targets, their mode and port).
pub(crate) fn deployed(
    engine: &Engine,
    project: &str,
    platform: Platform,
) -> Result<Vec<Instance>> {
    if platform == Platform::Swarm {
        return swarm::deployed(engine, project);
    }
    crate::containers::labelled(
        engine,
        &[
            format!("com.docker.compose.project={project}"),
            crate::model::LABEL_TARGET.to_string(),
        ],
    )
}

/// The refusal to take chosen instances out of a colour on an orchestrator that cannot.
pub(crate) fn cannot_remove_chosen() -> crate::error::Error {
    crate::error::Error::usage(
        "Swarm chooses which tasks a service loses when it scales down, so docker flow cannot take those out of rotation first",
        "scale down with a deploy: `docker flow deploy --scale N` starts N instances in the other colour and switches to them",
    )
}

/// Whether the engine is a swarm manager (one `docker info`; asked only when `--engine` is not
/// `compose`, alongside the other checks of the engine).
pub(crate) fn is_manager(engine: &Engine, settings: &Settings) -> Result<bool> {
    if settings.engine == EngineKind::Compose {
        return Ok(false);
    }
    let out = engine.read(&crate::engine::args(&[
        "info",
        "--format",
        "{{.Swarm.ControlAvailable}}",
    ]))?;
    Ok(out.ok() && out.stdout.trim() == "true")
}

/// Whether the project runs on Swarm mode: `--engine swarm` (the engine must be a swarm
/// manager), or `auto` and the engine is a manager (`manager`, from [`is_manager`]) with the
/// project deployed there as a stack.
pub(crate) fn detect(
    engine: &Engine,
    settings: &Settings,
    project: &str,
    manager: bool,
) -> Result<Platform> {
    let swarm = match settings.engine {
        EngineKind::Compose => false,
        EngineKind::Swarm if manager => true,
        EngineKind::Swarm => {
            return Err(crate::error::Error::environment(
                "--engine swarm needs a swarm manager, and this engine is not one",
                "point docker at a manager node (`docker node ls` works there), or use --engine compose",
            ))
        }
        EngineKind::Auto if !manager => false,
        EngineKind::Auto => {
            let out = engine.read(&crate::engine::args(&[
                "service",
                "ls",
                "-q",
                "--filter",
                &format!("label=com.docker.stack.namespace={project}"),
            ]))?;
            out.ok() && !out.stdout.trim().is_empty()
        }
    };
    Ok(if swarm {
        Platform::Swarm
    } else {
        Platform::Compose
    })
}
