//! The flows: deploy, scale, proxy, stop-old (the seed's steps), rollback, and the reads
//! status, logs and exec.
//!
//! `run` checks the environment, loads the project, takes the deploy lock and runs the steps in
//! the order given. Each step lives in its own file, reads the release model (`releases`) and
//! what earlier steps did (`outcome::History`), and returns what it did.

mod ctx;
mod deploy;
pub(crate) mod exec;
pub(crate) mod logs;
mod outcome;
mod promote;
mod record;
mod rollback;
mod scale;
mod status;
mod switch;
mod test;

use std::path::Path;
use std::time::Instant;

use self::ctx::Ctx;
use self::outcome::{History, Outcome};
use crate::compose;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::hooks::{self, Hook, Hooks};
use crate::lock::Lock;
use crate::releases::Releases;
use crate::report::{self, PlanReport, RunReport};
use crate::settings::{Format, ProxyDriver, Settings, Step};
use crate::{model, Action};

pub(crate) fn run(engine: &Engine, settings: &Settings, action: &Action, cwd: &Path) -> Result<()> {
    let Some(target) = settings.target.clone() else {
        if *action == Action::Status {
            return status::every_target(engine, settings, cwd);
        }
        return Err(Error::usage(
            "no target: docker flow needs to know which Compose service to deploy",
            "pass --target=SERVICE (or -t), set FLOW_TARGET, or put `target: SERVICE` in docker-flow.yml",
        ));
    };
    if *action == Action::History {
        let (project, _) = open_project(engine, settings, cwd)?;
        let text = crate::history::read(engine, &project.model.name, &target)?;
        let entries = crate::history::entries(&crate::history::parse(&text));
        report::print(
            &entries,
            || crate::history::to_text(&target, &entries),
            settings.format == Format::Json,
        );
        return Ok(());
    }
    let reads = matches!(action, Action::Status | Action::Logs(_) | Action::Exec(_));
    if settings.proxy.driver != ProxyDriver::None
        && settings.service_paths.is_empty()
        && settings.service_domains.is_empty()
        && !reads
    {
        return Err(Error::usage(
            "the proxy needs a route: neither --service-path nor --service-domain is set",
            "pass --service-path=/PATH or --service-domain=HOST (or use --proxy-driver=none)",
        ));
    }
    check_templates(settings)?;
    let (project, manager) = open_project(engine, settings, cwd)?;
    let port = model::validate(&project, settings, &target)?;
    let swarm = crate::orchestrator::detect(engine, settings, &project.model.name, manager)?;
    // On Swarm mode each colour is a service: blue-green is how it deploys.
    let swarm_settings;
    let settings = if swarm && !settings.blue_green {
        if settings.blue_green_origin != "default" {
            return Err(Error::usage(
                format!(
                    "Swarm mode deploys blue-green only (each colour is a service of the stack), and blue_green is false ({})",
                    settings.blue_green_origin
                ),
                "drop that setting, or use --engine compose",
            ));
        }
        swarm_settings = Settings {
            blue_green: true,
            ..settings.clone()
        };
        &swarm_settings
    } else {
        settings
    };
    // Without a healthcheck, docker flow's probe decides (on Swarm mode too: Swarm runs such a
    // task as soon as its process starts).
    let needs_probe = !compose::declares_healthcheck(&project.model, &target);
    if reads {
        // A read shows the target as it runs: in the mode its instances were deployed in,
        // whatever `blue_green` says now.
        let instances = Ctx::new(
            engine,
            settings,
            project.clone(),
            target.clone(),
            port,
            swarm,
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
        let ctx = Ctx::new(engine, &settings, project, target, port, swarm);
        return match action {
            Action::Logs(o) => logs::run(&ctx, o),
            Action::Exec(o) => exec::run(&ctx, o),
            _ => {
                let s = status::report(&ctx)?;
                report::print(&s, || s.to_text(), settings.format == Format::Json);
                Ok(())
            }
        };
    }
    // The user's commands, checked before anything changes.
    let hooks = Hooks::find(&project.dir)?;
    let steps: &[Step] = match action {
        Action::Steps(steps) => steps,
        _ => &[],
    };
    if steps.contains(&Step::Test) {
        hooks::check_program(&settings.test_cmd, &project.dir)?;
    }
    // Checked here, not with the other settings: on Swarm mode blue-green is implied.
    if steps.contains(&Step::Canary) && !settings.blue_green {
        return Err(Error::usage(
            "--canary needs a blue-green deployment: the canary is the next colour, beside the live one",
            "add --blue-green (or `blue_green: true` in docker-flow.yml)",
        ));
    }
    // What a Swarm deploy warns about, read before the project moves into the context.
    let project_files = project.files.clone();
    let mut project_services: Vec<(String, crate::compose::Service)> = Vec::new();
    if swarm {
        let mut names = settings.side_targets.clone();
        names.push(target.clone());
        for n in names {
            if let Some(svc) = project.model.services.get(&n) {
                project_services.push((n, svc.clone()));
            }
        }
    }
    let mut ctx = Ctx::new(engine, settings, project, target, port, swarm);
    ctx.command = match action {
        Action::Steps(steps) => steps
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        Action::Promote => "promote".to_string(),
        Action::Abort => "abort".to_string(),
        _ => "rollback".to_string(),
    };
    let command = ctx.command.clone();
    if swarm && steps.contains(&Step::Deploy) {
        warn_ignored(&ctx, &project_files, &project_services);
    }
    check_mode(&ctx, action)?;
    ctx.proxy.preflight()?;
    if needs_probe {
        // Its health is then checked by docker flow's helper, which must run on the engine.
        crate::helper::check_engine(engine, crate::probe::HELP)?;
    }
    let lock = Lock::acquire(
        engine,
        &ctx.project,
        &command,
        settings.lock_wait,
        &ctx.progress,
        swarm,
    )?;
    // Holding the lock, past every check: the instant rollback swaps the warm release in
    // first, before the settle that would end it. Nothing moved traffic before this point.
    let swapped = match action {
        Action::Rollback(None) => rollback::swap_warm(&ctx, &lock)?,
        _ => None,
    };
    // What was listed before the lock may have changed while another run held it; and from
    // now on no standby is left beside the route.
    ctx.orchestrator.forget();
    ctx.proxy.settle()?;
    let mut done = Record::default();
    let deploys = steps.contains(&Step::Deploy);
    let run_started = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
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
                run_hook(&ctx, &hooks, Hook::PreDeploy, &[], None)
                    .map_err(|code| failed_hook(Hook::PreDeploy, code, "nothing was changed"))?;
            } else if steps.first() == Some(&Step::Proxy) {
                // `proxy` routes to the newest release only: not while a canary waits for a
                // decision (deploy, scale and rollback check it themselves).
                ctx.no_canary(&ctx.releases()?)?;
            }
            run_steps(&ctx, steps, &hooks, &mut done)
        })(),
        Action::Rollback(to) => {
            let started = Instant::now();
            rollback::run(&ctx, to.as_deref(), &lock, swapped)
                .map(|o| done.record("rollback", started, o))
        }
        Action::Promote => (|| {
            let started = Instant::now();
            let o = promote::prepare(&ctx)?;
            done.record("promote", started, o);
            run_steps(&ctx, &[Step::Proxy, Step::StopOld], &hooks, &mut done)
        })(),
        Action::Abort => {
            let started = Instant::now();
            promote::abort(&ctx).map(|o| done.record("abort", started, o))
        }
        _ => Ok(()),
    });
    // After the run: post-deploy when it deployed, on-failure when it failed. Their failures
    // are warnings: what the run did stands.
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
    finish(&ctx, &command, done)
}

/// What the run did so far, and how long each step took.
#[derive(Default)]
struct Record {
    history: History,
    durations: Vec<(String, f64)>,
}

impl Record {
    fn record(&mut self, step: &str, started: Instant, outcome: Outcome) {
        self.durations
            .push((step.to_string(), started.elapsed().as_secs_f64()));
        if let Outcome::Deployed(d) = &outcome {
            // The time the new release took to become ready is the application's, not docker
            // flow's: reported apart so that docker flow's own overhead can be told from it.
            self.durations
                .push(("health".into(), d.health.as_secs_f64()));
        }
        self.history.outcomes.push(outcome);
    }
}

/// The project, once the daemon and Compose answer (exit 3 otherwise), and whether the engine
/// is a swarm manager. The four questions go out at once (each is a docker command of its own,
/// and a rollback's time is mostly theirs); their answers are judged in order, so a daemon
/// that is down is reported as such.
fn open_project(
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

/// On Swarm mode, says which Compose keys of the services a deploy sends Swarm will not apply
/// (docker flow drops them from the stack file), and where they are written.
fn warn_ignored(
    ctx: &Ctx,
    files: &[std::path::PathBuf],
    services: &[(String, crate::compose::Service)],
) {
    for (name, svc) in services {
        for (key, why) in crate::orchestrator::stack::ignored_keys(svc) {
            let at = crate::compose::line_of(files, name, key)
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            ctx.progress.warn(&format!(
                "Swarm mode ignores `{key}` of `{name}`{at}: {why}"
            ));
        }
    }
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

fn run_steps(ctx: &Ctx, steps: &[Step], hooks: &Hooks, done: &mut Record) -> Result<()> {
    for (n, step) in steps.iter().enumerate() {
        crate::cancel::check()?;
        if *step == Step::Scale && done.history.deployed().is_some() {
            ctx.progress
                .info("scale skipped: a deploy ran earlier in this run (as in the seed)");
            continue;
        }
        let started = Instant::now();
        let history = &done.history;
        let outcome = match step {
            // A release the run does not promote right after is previewed meanwhile.
            Step::Deploy => deploy::run(
                ctx,
                !matches!(steps.get(n + 1), Some(Step::Proxy | Step::Canary)),
            )
            .map(Outcome::Deployed),
            Step::Canary => promote::canary(ctx, history),
            Step::Scale => scale::run(ctx),
            Step::Proxy => switch::proxy(ctx, history, hooks),
            Step::Test => test::run(ctx, history),
            Step::StopOld => switch::stop_old(ctx, history),
        }?;
        done.record(step.as_str(), started, outcome);
    }
    Ok(())
}

/// Prints the plan (dry run) or the JSON summary.
fn finish(ctx: &Ctx, command: &str, done: Record) -> Result<()> {
    let json = ctx.settings.format == Format::Json;
    if ctx.engine.dry_run() {
        let plan = PlanReport {
            dry_run: true,
            plan: ctx.engine.take_plan(),
            model: ctx.orchestrator.planned_model(),
        };
        report::print(&plan, || plan.to_text(), json);
        return Ok(());
    }
    if json {
        let summary = RunReport {
            command: command.to_string(),
            project: ctx.project.clone(),
            target: ctx.target.clone(),
            changes: done.history.changes(),
            durations: done
                .durations
                .iter()
                .map(|(k, v)| (k.clone(), (v * 1000.0).round() / 1000.0))
                .collect(),
            engine_calls: ctx.engine.calls(),
        };
        report::print(&summary, String::new, true);
    }
    Ok(())
}

/// Runs `hook`, if the project has it, with the run's facts (`release`: the instances
/// concerned). Err: its exit code (or -1 when it could not run or its facts could not be read).
pub(super) fn run_hook(
    ctx: &Ctx,
    hooks: &Hooks,
    hook: Hook,
    release: &[crate::instance::Instance],
    error: Option<&str>,
) -> std::result::Result<(), i32> {
    let Some(path) = hooks.get(hook) else {
        return Ok(());
    };
    if ctx
        .engine
        .planned(format!("run the {} hook {}", hook.name(), path.display()))
    {
        return Ok(());
    }
    let step = ctx.progress.step(hook.name());
    let vars = facts(ctx, hook.name(), release, error).map_err(|_| -1)?;
    let argv = [path.display().to_string()];
    match hooks::run(&argv, &ctx.dir, &vars, hook.name(), ctx.progress.mode()) {
        Ok(0) => {
            step.done();
            Ok(())
        }
        Ok(code) => Err(code),
        Err(e) => {
            ctx.progress.warn(&e.to_string());
            Err(-1)
        }
    }
}

/// The error of a hook that failed and ended the run.
pub(super) fn failed_hook(hook: Hook, code: i32, what: &str) -> Error {
    Error::flow(
        format!("the {} hook failed (exit {code}): {what}", hook.name()),
        format!(
            "its output is above; fix the hook ({}/{}) or what it checks",
            hooks::HOOKS_DIR,
            hook.name()
        ),
    )
}

/// What the user's commands (hooks, the test) are told, as `DOCKER_FLOW_*` variables: the run,
/// the target, the release concerned (`release`: the new one, when there is one) and what
/// serves now; `error` for `on-failure`.
fn facts(
    ctx: &Ctx,
    hook: &str,
    release: &[crate::instance::Instance],
    error: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let releases = ctx.releases_routed(ctx.proxy.current().ok().flatten())?;
    let names = |i: &[crate::instance::Instance]| {
        i.iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let first = release.first();
    let mut vars = vec![
        ("HOOK", hook.to_string()),
        ("COMMAND", ctx.command.clone()),
        ("PROJECT", ctx.project.clone()),
        ("PROJECT_DIR", ctx.dir.display().to_string()),
        ("TARGET", ctx.target.clone()),
        ("BLUE_GREEN", ctx.settings.blue_green.to_string()),
        ("SERVICE_PORT", ctx.route_port.to_string()),
        ("LIVE_INSTANCES", names(&releases.live())),
        (
            "RELEASE",
            first.map(|i| i.release.clone()).unwrap_or_default(),
        ),
        (
            "COLOR",
            first
                .and_then(|i| i.color)
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ),
        ("IMAGE", first.map(|i| i.image.clone()).unwrap_or_default()),
        ("INSTANCES", names(release)),
        (
            "NETWORK",
            first
                .and_then(|i| i.networks.first())
                .map(|(n, _)| n.clone())
                .unwrap_or_default(),
        ),
    ];
    if let Some(e) = error {
        vars.push(("ERROR", e.to_string()));
    }
    // A `docker` the command runs talks to the daemon docker flow talks to.
    Ok(ctx
        .engine
        .docker_environment()
        .into_iter()
        .chain(
            vars.into_iter()
                .map(|(k, v)| (format!("DOCKER_FLOW_{k}"), v)),
        )
        .collect())
}
