//! The flows: deploy, scale, proxy, stop-old (the seed's steps), rollback, and the reads
//! status, logs and exec.
//!
//! `run` goes through the phases of `pipeline` (open, check, lock, run the steps in the order
//! given); a read takes a short path with no lock. Each step lives in its own file, reads the
//! release model (`releases`) and what earlier steps did (`outcome::History`), and returns what
//! it did.

mod ctx;
mod deploy;
pub(crate) mod down;
pub(crate) mod exec;
pub(crate) mod logs;
pub(crate) mod maintenance;
mod outcome;
mod pipeline;
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
use self::pipeline::Opened;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::hooks::{self, Hook, Hooks};
use crate::report::{self, PlanReport, RunReport};
use crate::settings::{Format, ProxyDriver, Settings, Step};
use crate::Action;

pub(crate) fn run(engine: &Engine, settings: &Settings, action: &Action, cwd: &Path) -> Result<()> {
    // First what a newcomer in the wrong directory needs to hear (not that a target is missing).
    if settings.compose_paths.is_empty()
        && !crate::project_files::finds_a_file(cwd, settings.project_directory.as_deref())
    {
        let dir = settings
            .project_directory
            .as_deref()
            .map_or_else(|| cwd.to_path_buf(), |d| cwd.join(d));
        return Err(Error::usage(
            format!(
                "no Compose file: Compose looks for {} in {}{}",
                crate::project_files::DEFAULT_FILES.join(", "),
                dir.display(),
                if settings.project_directory.is_some() {
                    ""
                } else {
                    " and the directories above it"
                }
            ),
            "run docker flow in your project's directory, or name the file with -f (--file)",
        ));
    }
    if let Some(missing) = settings.env_files.iter().find(|f| !cwd.join(f).is_file()) {
        return Err(Error::usage(
            format!("the env file `{}` does not exist", missing.display()),
            "fix the path given to --env-file (relative to the working directory), or leave it out",
        ));
    }
    if let Action::Down(o) = action {
        return down::run(engine, settings, cwd, o);
    }
    if let Action::Maintenance(o) = action {
        return maintenance::run(engine, settings, cwd, o);
    }
    let Some(target) = settings.target.clone() else {
        if *action == Action::Status {
            return status::every_target(engine, settings, cwd);
        }
        return Err(Error::usage(
            "no target: docker flow needs to know which Compose service to deploy",
            "name it: `docker flow deploy SERVICE` (or -t SERVICE), FLOW_TARGET, or `target: SERVICE` in docker-flow.yml",
        ));
    };
    if *action == Action::History {
        let (project, _) = pipeline::open_project(engine, settings, cwd)?;
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
    let (settings, opened) = Opened::open(engine, settings, cwd, target)?;
    if reads {
        return opened.read(engine, &settings, action);
    }
    let locked = std::thread::scope(|s| {
        // The lock is taken while the checks run (see `early_lock`).
        let wanted = opened.early_lock_wanted(engine, action);
        let early = s.spawn(|| pipeline::early_lock(engine, &settings, wanted));
        let checked = opened.check(engine, &settings, action);
        let early = early.join().unwrap_or(Ok(None));
        // A failed check is the error to report (and its lock is released unused), as when the
        // lock came after.
        let checked = checked?;
        checked.lock(action, early?)
    })?;
    locked.run(action)
}

/// A read of the target: logs, exec or status.
fn read(ctx: &Ctx, action: &Action) -> Result<()> {
    match action {
        Action::Logs(o) => logs::run(ctx, o),
        Action::Exec(o) => exec::run(ctx, o),
        _ => {
            let s = status::report(ctx)?;
            report::print(&s, || s.to_text(), ctx.settings.format == Format::Json);
            Ok(())
        }
    }
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

/// Runs `steps` in order. Only a run holding the deploy lock runs steps: `_held` is the proof
/// (a `Lock` is made by `Lock::acquire` alone).
fn run_steps(
    ctx: &Ctx,
    _held: &crate::lock::Lock,
    steps: &[Step],
    hooks: &Hooks,
    done: &mut Record,
) -> Result<()> {
    for (n, step) in steps.iter().enumerate() {
        crate::cancel::check()?;
        if *step == Step::Scale && done.history.deployed().is_some() {
            ctx.progress
                .info("scale skipped: a deploy ran earlier in this run (as in Docker Flow 1.x)");
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
fn finish(ctx: &Ctx, done: Record) -> Result<()> {
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
            command: ctx.command.clone(),
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
