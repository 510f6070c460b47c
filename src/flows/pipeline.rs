//! The order of a changing run, as types: `Opened` (the project loaded and validated) →
//! `Checked` (every check passed, nothing changed) → `Locked` (the deploy lock held, the route's
//! standby settled) → done. Each phase is made only from the one before, and only a `Locked`
//! run runs steps or moves traffic: the instant rollback's swap takes the lock as its proof, and
//! `run_steps` is called from `Locked::run` alone. A read (status, logs, exec) never locks; it
//! goes from `Opened` to its own short path.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use super::ctx::Ctx;
use super::outcome::Outcome;
use super::{finish, promote, record, rollback, run_hook, run_steps, switch, Record};
use crate::compose::{self, Project};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::hooks::{self, Hook, Hooks};
use crate::instance::Upstream;
use crate::lock::Lock;
use crate::orchestrator::Platform;
use crate::proxy::Private;
use crate::releases::Releases;
use crate::settings::{Settings, Step};
use crate::{model, Action};

/// The project loaded and checked against the target, the platform known.
pub(super) struct Opened {
    project: Project,
    target: String,
    /// The port the proxy forwards to.
    port: Option<u16>,
    platform: Platform,
    /// Whether docker flow's probe decides health (the target declares no healthcheck).
    needs_probe: bool,
}

impl Opened {
    /// Loads the project (the daemon and Compose must answer: exit 3), validates the target
    /// (exit 2, pointing at the line) and picks the platform; with the settings as this
    /// platform reads them (`Platform::settings`), which every later phase
    /// works from.
    pub(super) fn open<'s>(
        engine: &Engine,
        settings: &'s Settings,
        cwd: &Path,
        target: String,
    ) -> Result<(Cow<'s, Settings>, Opened)> {
        check_templates(settings)?;
        let (project, manager) = open_project(engine, settings, cwd)?;
        model::check_services_in_file(&project, settings, &|| {
            compose::every_service(engine, settings)
        })?;
        let port = model::validate(&project, settings, &target)?;
        let platform = crate::orchestrator::detect(engine, settings, &project.model.name, manager)?;
        let settings = platform.settings(settings)?;
        // Without a healthcheck, docker flow's probe decides (whatever the platform: none
        // knows when such an instance is ready).
        let needs_probe = !compose::declares_healthcheck(&project.model, &target);
        let opened = Opened {
            project,
            target,
            port,
            platform,
            needs_probe,
        };
        Ok((settings, opened))
    }

    /// A read (status, logs, exec) of the target as it runs, with no lock: in the mode its
    /// instances were deployed in, whatever `blue_green` says now.
    pub(super) fn read(self, engine: &Engine, settings: &Settings, action: &Action) -> Result<()> {
        let instances = Ctx::new(
            engine,
            settings,
            self.project.clone(),
            self.target.clone(),
            self.port,
            self.platform,
        )
        .orchestrator
        .instances()?;
        let settings = Settings {
            blue_green: match Releases::new(false, instances, None).running_modes() {
                (true, _) => true,
                (false, true) => false,
                (false, false) => settings.blue_green,
            },
            ..settings.clone()
        };
        let ctx = Ctx::new(
            engine,
            &settings,
            self.project,
            self.target,
            self.port,
            self.platform,
        );
        super::read(&ctx, action)
    }

    /// Checks everything a changing run needs before anything changes: the user's commands,
    /// the options this platform takes, the target's mode, and what the proxy needs.
    pub(super) fn check<'a>(
        self,
        engine: &'a Engine,
        settings: &'a Settings,
        action: &Action,
    ) -> Result<Checked<'a>> {
        let hooks = Hooks::find(&self.project.dir)?;
        let steps: &[Step] = match action {
            Action::Steps(steps) => steps,
            _ => &[],
        };
        if steps.contains(&Step::Test) {
            hooks::check_program(&settings.test_cmd, &self.project.dir)?;
        }
        // Checked here, not with the other settings: a platform may imply blue-green.
        if steps.contains(&Step::Canary) && !settings.blue_green {
            return Err(Error::usage(
                "--canary needs a blue-green deployment: the canary is the next colour, beside the live one",
                "add --blue-green (or `blue_green: true` in docker-flow.yml)",
            ));
        }
        // What a deploy on this platform warns about, read before the project moves into the
        // context.
        let warnings = if steps.contains(&Step::Deploy) {
            self.platform
                .warnings(&self.project, settings, &self.target)
        } else {
            Vec::new()
        };
        let reached = Reached::of(&self.project);
        let mut ctx = Ctx::new(
            engine,
            settings,
            self.project,
            self.target,
            self.port,
            self.platform,
        );
        ctx.command = command_label(action);
        for warning in warnings.iter().chain(&hooks.stray_warnings()) {
            ctx.progress.warn(warning);
        }
        check_mode(&ctx, action)?;
        reached.check(&ctx.proxy.private())?;
        ctx.proxy.preflight()?;
        if self.needs_probe {
            // Its health is then checked by docker flow's helper, which must run on the engine.
            crate::helper::check_engine(engine, crate::probe::HELP)?;
        }
        Ok(Checked { ctx, hooks })
    }
}

/// Every check passed; nothing changed yet.
pub(super) struct Checked<'a> {
    ctx: Ctx<'a>,
    hooks: Hooks,
}

impl<'a> Checked<'a> {
    /// Takes the project's deploy lock (exit 4 naming its holder), then, holding it: the
    /// instant rollback's swap (its first change), and the settle that ends any release kept
    /// warm beside the route, so that no swap happens behind this run.
    /// `early`: the lock, when it was taken while the checks ran (`early_lock`).
    pub(super) fn lock(self, action: &Action, early: Option<Lock<'a>>) -> Result<Locked<'a>> {
        let ctx = self.ctx;
        let lock = match early {
            Some(lock) => lock,
            None => Lock::acquire(
                ctx.engine,
                &ctx.project,
                &ctx.command,
                ctx.settings.lock_wait,
                &ctx.progress,
                ctx.platform,
            )?,
        };
        let swapped = match action {
            Action::Rollback(None) => rollback::swap_warm(&ctx, &lock)?,
            _ => None,
        };
        // What was listed before the lock may have changed while another run held it; and
        // from now on no standby is left beside the route.
        ctx.orchestrator.forget();
        ctx.proxy.settle()?;
        Ok(Locked {
            ctx,
            hooks: self.hooks,
            lock,
            swapped,
        })
    }
}

/// The run's steps (`deploy,proxy,stop-old`), as the lock and the hooks name it.
fn command_label(action: &Action) -> String {
    match action {
        Action::Steps(steps) => steps
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Action::Promote => "promote".to_string(),
        Action::Abort => "abort".to_string(),
        _ => "rollback".to_string(),
    }
}

/// The deploy lock taken while the checks run (each tenth of a second counts, the instant
/// rollback's most): its `docker run` (a few hundred milliseconds) overlaps the checks' reads
/// instead of following them. The checks still all pass before any change that moves traffic
/// (the swap needs the lock, and `Checked`); a run whose checks fail releases it unused. Only
/// where it changes nothing else on the engine: the project's history volume (which the lock
/// mounts, and would create) exists already, and the lock is a container alone
/// (`Platform::lock_is_a_container`); and not for a run that waits for the lock.
pub(super) fn early_lock<'a>(
    engine: &'a Engine,
    settings: &Settings,
    wanted: Option<(String, Platform, String)>,
) -> Result<Option<Lock<'a>>> {
    let Some((project, platform, command)) = wanted else {
        return Ok(None);
    };
    // A run that waits for the lock (`--lock-wait`) would hold a failed check's error until
    // the lock came: it takes the lock after its checks.
    if !settings.lock_wait.is_zero() {
        return Ok(None);
    }
    let volume = crate::history::volume(&project);
    if !engine
        .read(&crate::engine::args(&["volume", "inspect", &volume]))?
        .ok()
    {
        return Ok(None);
    }
    Lock::acquire(
        engine,
        &project,
        &command,
        settings.lock_wait,
        &crate::progress::Progress::new(settings.progress_mode()),
        platform,
    )
    .map(Some)
}

impl Opened {
    /// Whether the run takes its lock early (see `early_lock`): the project, platform and the
    /// run's steps then.
    pub(super) fn early_lock_wanted(
        &self,
        engine: &Engine,
        action: &Action,
    ) -> Option<(String, Platform, String)> {
        (self.platform.lock_is_a_container() && !engine.dry_run()).then(|| {
            (
                self.project.model.name.clone(),
                self.platform,
                command_label(action),
            )
        })
    }
}

/// The deploy lock held: the run's steps may change the project.
pub(super) struct Locked<'a> {
    ctx: Ctx<'a>,
    hooks: Hooks,
    lock: Lock<'a>,
    /// What the route sent traffic to before the instant rollback's swap, if it swapped.
    swapped: Option<Vec<Upstream>>,
}

impl Locked<'_> {
    /// Runs the action's steps, then the hooks after them, records the history (through the
    /// lock) and releases the lock; prints the report.
    pub(super) fn run(self, action: &Action) -> Result<()> {
        let Locked {
            ctx,
            hooks,
            lock,
            swapped,
        } = self;
        let mut done = Record::default();
        let steps: &[Step] = match action {
            Action::Steps(steps) => steps,
            _ => &[],
        };
        let deploys = steps.contains(&Step::Deploy);
        let run_started =
            humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        // A release kept warm past its time is stopped by the next command (a deploy replaces
        // that colour anyway; stop-old decides itself).
        let expired = if deploys || steps.contains(&Step::StopOld) {
            Ok(())
        } else {
            switch::expire_warm(&ctx)
        };
        let result = expired.and_then(|()| match action {
            Action::Steps(steps) => (|| {
                if deploys {
                    run_hook(&ctx, &hooks, Hook::PreDeploy, &[], None).map_err(|code| {
                        super::failed_hook(Hook::PreDeploy, code, "nothing was changed")
                    })?;
                } else if steps.first() == Some(&Step::Proxy) {
                    // `proxy` routes to the newest release only: not while a canary waits for
                    // a decision (deploy, scale and rollback check it themselves).
                    ctx.no_canary(&ctx.releases()?)?;
                }
                run_steps(&ctx, &lock, steps, &hooks, &mut done)
            })(),
            Action::Rollback(to) => {
                let started = Instant::now();
                rollback::run(&ctx, to.as_deref(), &lock, swapped)
                    .map(|o| done.record("rollback", started, o))
            }
            Action::Promote => (|| {
                let started = Instant::now();
                let o = promote::prepare(&ctx, &lock)?;
                done.record("promote", started, o);
                run_steps(
                    &ctx,
                    &lock,
                    &[Step::Proxy, Step::StopOld],
                    &hooks,
                    &mut done,
                )
            })(),
            Action::Abort => {
                let started = Instant::now();
                promote::abort(&ctx, &lock).map(|o: Outcome| done.record("abort", started, o))
            }
            _ => Ok(()),
        });
        // After the run: post-deploy when it deployed, on-failure when it failed. Their
        // failures are warnings: what the run did stands.
        let after = match &result {
            Ok(()) if deploys => Some((
                Hook::PostDeploy,
                done.history.deployed().map(|d| d.new.clone()),
                None,
            )),
            Err(e) if !matches!(e, Error::Exited { .. }) => {
                Some((Hook::OnFailure, None, Some(e.to_string())))
            }
            _ => None,
        };
        if let Some((hook, release, error)) = after {
            if let Err(code) = run_hook(
                &ctx,
                &hooks,
                hook,
                &release.unwrap_or_default(),
                error.as_deref(),
            ) {
                ctx.progress
                    .warn(&format!("the {} hook failed (exit {code})", hook.name()));
            }
        }
        // What the run did to which release, into the release history (held by the lock).
        let events = record::events(
            &ctx,
            &done.history,
            result.as_ref().err(),
            deploys,
            &run_started,
        );
        let lines: Vec<String> = events
            .iter()
            .filter_map(|e| serde_json::to_string(e).ok())
            .collect();
        if let Err(e) = lock.record(&ctx.target, &lines) {
            ctx.progress.warn(&e.to_string());
        }
        lock.release();
        result?;
        finish(&ctx, done)
    }
}

/// The project, once the daemon and Compose answer (exit 3 otherwise), and whether the engine
/// is a manager of a cluster (see `orchestrator::detect`). The four questions go out at once (each is a docker command of its own,
/// and a rollback's time is mostly theirs); their answers are judged in order, so a daemon
/// that is down is reported as such.
pub(super) fn open_project(
    engine: &Engine,
    settings: &Settings,
    cwd: &Path,
) -> Result<(compose::Project, bool)> {
    std::thread::scope(|s| {
        let daemon = s.spawn(|| engine.check_daemon());
        let compose = s.spawn(|| engine.check_compose());
        let manager = s.spawn(|| crate::orchestrator::is_manager(engine, settings));
        let project = compose::load(engine, settings, cwd);
        fn joined<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
            h.join().unwrap_or_else(|_| {
                Err(Error::environment(
                    "a check of the engine stopped unexpectedly",
                    "run the command again",
                ))
            })
        }
        joined(daemon)?;
        joined(compose)?;
        let project = project?;
        Ok((project, joined(manager)?))
    })
}

/// Refuses, before anything changes, to deploy a target in the other mode than it runs in:
/// a plain deploy of a blue-green target would remove both colours (and the rollback), a
/// blue-green deploy of a plain one would leave it running beside. `--switch-mode` converts it,
/// with a deploy.
fn check_mode(ctx: &Ctx, action: &Action) -> Result<()> {
    let deploys = matches!(action, Action::Steps(steps) if steps.contains(&Step::Deploy));
    let settings = ctx.settings;
    if settings.switch_mode {
        if !deploys {
            return Err(Error::usage(
                "--switch-mode converts a target by deploying it; this command deploys nothing",
                "use it with `docker flow deploy` (or --flow=deploy)",
            ));
        }
        return Ok(());
    }
    let (colours, plain) = ctx.releases_routed(None)?.running_modes();
    let running = match (colours, plain) {
        (true, false) if !settings.blue_green => "blue-green",
        (false, true) if settings.blue_green => "plain (without blue-green)",
        (true, true) => "both blue-green and plain (a --switch-mode deploy did not finish)",
        _ => return Ok(()),
    };
    Err(Error::ModeMismatch {
        target: ctx.target.clone(),
        running: running.to_string(),
        running_flag: !settings.blue_green,
        asked: settings.blue_green,
        origin: settings.blue_green_origin.clone(),
    })
}

/// Consul templates are read at switch time; check them before anything changes.
/// What a project joins, mounts or shares that is not its own: (its key for it, the name).
struct Reached {
    networks: Vec<(String, String)>,
    volumes: Vec<(String, String)>,
    /// (service, container) for `network_mode` and `volumes_from` of `container:…`.
    containers: Vec<(String, String)>,
}

impl Reached {
    fn of(project: &Project) -> Reached {
        let named = |kind: &str| -> Vec<(String, String)> {
            let defs = project.model.rest.get(kind).and_then(|v| v.as_object());
            defs.into_iter()
                .flatten()
                .map(|(key, def)| {
                    let name = def.get("name").and_then(|n| n.as_str()).unwrap_or(key);
                    (key.clone(), name.to_string())
                })
                .collect()
        };
        let mut containers = Vec::new();
        for (service, svc) in &project.model.services {
            for mode in svc.network_mode.iter().chain(&svc.volumes_from) {
                if let Some(c) = mode.strip_prefix("container:") {
                    containers.push((service.clone(), c.to_string()));
                }
            }
        }
        Reached {
            networks: named("networks"),
            volumes: named("volumes"),
            containers,
        }
    }

    /// Refuses (exit 2) a project that joins the proxy's own networks, mounts its volumes or
    /// shares a container's namespaces with it: they hold the proxy's control surface, its
    /// records and its keys, which no service of a project may reach.
    fn check(&self, private: &Private) -> Result<()> {
        let refuse = |what: String| {
            Err(Error::usage(
                format!("{what}, which is docker flow's proxy's own: it holds the proxy's control surface, records or keys"),
                "remove it from the Compose file; services reach the proxy only through the routes docker flow makes",
            ))
        };
        for (key, name) in &self.networks {
            if private.networks.contains(name) {
                return refuse(format!("the project's network `{key}` is `{name}`"));
            }
        }
        for (key, name) in &self.volumes {
            if private.volumes.contains(name) {
                return refuse(format!("the project's volume `{key}` is `{name}`"));
            }
        }
        for (service, container) in &self.containers {
            if private.containers.contains(container) {
                return refuse(format!(
                    "service `{service}` shares the container `{container}`"
                ));
            }
        }
        Ok(())
    }
}

fn check_templates(settings: &Settings) -> Result<()> {
    match (
        &settings.consul_template_fe_path,
        &settings.consul_template_be_path,
    ) {
        (None, None) => Ok(()),
        (Some(fe), Some(be)) => {
            for path in [fe, be] {
                std::fs::read_to_string(path).map_err(|e| {
                    Error::config(
                        format!("cannot read the Consul template {}: {e}", path.display()),
                        "fix --consul-template-fe-path / --consul-template-be-path",
                        None,
                    )
                })?;
            }
            Ok(())
        }
        _ => Err(Error::usage(
            "--consul-template-fe-path and --consul-template-be-path go together",
            "give both templates, or neither",
        )),
    }
}
