//! The flows: deploy, scale, proxy, stop-old (the seed's steps), rollback and status.
//!
//! `run` checks the environment, loads the project, takes the deploy lock and runs the steps in
//! the order given, sharing one `Ctx`. Each step lives in its own file.

mod deploy;
mod rollback;
mod scale;
mod status;
mod switch;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::compose::{self, ComposeFile, Project};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::lock::Lock;
use crate::model::{self, Color, Derivation, Release};
use crate::progress::Progress;
use crate::proxy::{self, Proxy, RouteSpec};
use crate::settings::{Format, ProxyDriver, Settings, Step};
use crate::state::{self, Instance};
use crate::Action;

/// What one run shares between its steps.
pub(crate) struct Ctx<'a> {
    pub engine: &'a Engine,
    pub settings: &'a Settings,
    pub project: Project,
    pub target: String,
    pub port: Option<u16>,
    pub proxy: Box<dyn Proxy + 'a>,
    pub progress: Progress,
    /// Set by a deploy step, for the proxy and stop-old steps after it.
    pub deployed: Option<Deployed>,
    pub changes: Vec<String>,
    pub durations: Vec<(String, f64)>,
    /// The upstreams this run pointed the proxy at.
    pub switched_to: Option<Vec<String>>,
    /// The last derived model handed to Compose, shown by `--dry-run --format json`.
    pub derived: Option<Value>,
}

/// What a deploy step started.
#[derive(Debug, Clone)]
pub(crate) struct Deployed {
    pub color: Option<Color>,
    pub release: Release,
    pub new: Vec<Instance>,
}

pub(crate) fn run(engine: &Engine, settings: &Settings, action: &Action, cwd: &Path) -> Result<()> {
    let Some(target) = settings.target.clone() else {
        return Err(Error::usage(
            "no target: docker flow needs to know which Compose service to deploy",
            "pass --target=SERVICE (or -t), set FLOW_TARGET, or put `target: SERVICE` in docker-flow.yml",
        ));
    };
    if settings.proxy.driver != ProxyDriver::None
        && settings.service_paths.is_empty()
        && settings.service_domains.is_empty()
        && *action != Action::Status
    {
        return Err(Error::usage(
            "the proxy needs a route: neither --service-path nor --service-domain is set",
            "pass --service-path=/PATH or --service-domain=HOST (or use --proxy-driver=none)",
        ));
    }
    check_templates(settings)?;
    engine.check_daemon()?;
    engine.check_compose()?;
    let project = compose::load(engine, settings, cwd)?;
    let port = model::validate(&project, settings, &target)?;
    let route = RouteSpec {
        project: project.model.name.clone(),
        target: target.clone(),
        paths: settings.service_paths.clone(),
        domains: settings.service_domains.clone(),
        port: port.unwrap_or(80),
    };
    let proxy = proxy::for_settings(engine, settings, route);
    let mut ctx = Ctx {
        engine,
        settings,
        project,
        target,
        port,
        proxy,
        progress: Progress::new(false),
        deployed: None,
        changes: Vec::new(),
        durations: Vec::new(),
        derived: None,
        switched_to: None,
    };
    if *action == Action::Status {
        return status::run(&ctx);
    }
    let command = match action {
        Action::Steps(steps) => steps
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        _ => "rollback".to_string(),
    };
    ctx.proxy.preflight()?;
    if !declares_healthcheck(&ctx.project.model, &ctx.target) {
        // Its health is then checked by docker flow's helper, which must run on the engine.
        crate::helper::check_engine(engine, crate::probe::HELP)?;
    }
    let stale = 2 * (settings.health_timeout + settings.drain_timeout) + Duration::from_secs(300);
    let lock = Lock::acquire(
        engine,
        &ctx.project.model.name,
        &command,
        settings.lock_wait,
        stale,
        &ctx.progress,
    )?;
    let result = match action {
        Action::Steps(steps) => run_steps(&mut ctx, steps),
        Action::Rollback => {
            let started = std::time::Instant::now();
            let r = rollback::run(&mut ctx);
            ctx.durations
                .push(("rollback".into(), started.elapsed().as_secs_f64()));
            r
        }
        _ => Ok(()),
    };
    lock.release();
    result?;
    finish(&ctx, &command)
}

/// Whether the Compose service declares a Docker healthcheck (one its image declares is seen
/// only once it runs).
fn declares_healthcheck(model: &ComposeFile, target: &str) -> bool {
    model
        .services
        .get(target)
        .and_then(|s| s.rest.get("healthcheck"))
        .is_some_and(|h| h.get("disable") != Some(&Value::Bool(true)))
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

fn run_steps(ctx: &mut Ctx, steps: &[Step]) -> Result<()> {
    for step in steps {
        crate::cancel::check()?;
        let started = std::time::Instant::now();
        match step {
            Step::Deploy => deploy::run(ctx)?,
            Step::Scale if ctx.deployed.is_some() => {
                ctx.progress
                    .info("scale skipped: a deploy ran earlier in this run (as in the seed)");
                continue;
            }
            Step::Scale => scale::run(ctx)?,
            Step::Proxy => switch::proxy(ctx)?,
            Step::StopOld => switch::stop_old(ctx)?,
        }
        ctx.durations
            .push((step.as_str().to_string(), started.elapsed().as_secs_f64()));
    }
    Ok(())
}

/// Prints the plan (dry run) or the JSON summary.
fn finish(ctx: &Ctx, command: &str) -> Result<()> {
    if ctx.engine.dry_run() {
        let plan = ctx.engine.take_plan();
        if ctx.settings.format == Format::Json {
            println!(
                "{}",
                json!({"dry_run": true, "plan": plan, "model": ctx.derived})
            );
        } else {
            println!("Plan (dry run, nothing was changed):");
            for (i, p) in plan.iter().enumerate() {
                println!("{:3}. {p}", i + 1);
            }
        }
        return Ok(());
    }
    if ctx.settings.format == Format::Json {
        let durations: serde_json::Map<String, Value> = ctx
            .durations
            .iter()
            .map(|(k, v)| (k.clone(), json!((v * 1000.0).round() / 1000.0)))
            .collect();
        println!(
            "{}",
            json!({
                "command": command,
                "project": ctx.project.model.name,
                "target": ctx.target,
                "changes": ctx.changes,
                "durations": durations,
                "engine_calls": ctx.engine.calls(),
            })
        );
    }
    Ok(())
}

impl Ctx<'_> {
    pub(crate) fn project_name(&self) -> &str {
        &self.project.model.name
    }

    pub(crate) fn instances(&self) -> Result<Vec<Instance>> {
        state::instances(self.engine, self.project_name(), &self.target)
    }

    /// The colour the proxy routes to (the newest release, if it routes to two), else the
    /// running one (the newest if both run).
    pub(crate) fn live_color(&self, instances: &[Instance]) -> Result<Option<Color>> {
        if let Some(up) = self.proxy.current()? {
            let routed: Vec<Instance> = instances
                .iter()
                .filter(|i| {
                    up.iter()
                        .any(|u| u.rsplit_once(':').map(|(n, _)| n) == Some(i.name.as_str()))
                })
                .cloned()
                .collect();
            if let Some(c) = state::running_color(&routed) {
                return Ok(Some(c));
            }
        }
        Ok(state::running_color(instances))
    }

    /// `docker compose -p P --project-directory D -f -`: the derived model on stdin.
    pub(crate) fn compose_args(&self, rest: &[&str]) -> Vec<String> {
        let mut a = args(&["compose", "-p", self.project_name(), "--project-directory"]);
        a.push(self.project.dir.display().to_string());
        a.extend(args(&["-f", "-"]));
        a.extend(args(rest));
        a
    }

    /// Runs a changing Compose command on the derived model; its output shows under the step.
    pub(crate) fn compose(&self, derived: &[u8], rest: &[&str]) -> Result<()> {
        let out = self
            .engine
            .change_streamed(&self.compose_args(rest), Some(derived))?;
        if !out.ok() {
            return Err(Error::flow(
                format!(
                    "`docker compose {}` failed (see its output above)",
                    rest.join(" ")
                ),
                "fix what Compose reports; the live release keeps serving",
            ));
        }
        Ok(())
    }

    pub(crate) fn derive(
        &mut self,
        release: Option<(Option<Color>, &Release)>,
        refer_to: Color,
        extra_labels: &[(String, String)],
    ) -> Result<Vec<u8>> {
        let model = self.project.model.clone();
        self.derive_from(&model, release, refer_to, extra_labels)
    }

    /// Like `derive`, from a model the caller changed (e.g. pinned to a release's own image).
    pub(crate) fn derive_from(
        &mut self,
        model: &ComposeFile,
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
        let out = model::derive(model, &d)?;
        self.derived = serde_json::to_value(&out).ok();
        serde_json::to_vec(&out).map_err(|e| {
            Error::flow(
                format!("cannot serialise the derived model: {e}"),
                "please report this",
            )
        })
    }

    /// Upstream dial addresses of instances (placeholders in a dry run, where none were made).
    pub(crate) fn dials(&self, instances: &[Instance], service: &str, count: u32) -> Vec<String> {
        let port = self.port.unwrap_or(80);
        if instances.is_empty() && self.engine.dry_run() {
            return (1..=count)
                .map(|i| format!("{}-{service}-{i}:{port}", self.project_name()))
                .collect();
        }
        instances
            .iter()
            .map(|i| i.dial(i.port.unwrap_or(port)))
            .collect()
    }

    /// Stops containers gracefully (callers take them out of the proxy's rotation and drain them
    /// first; they still get `--drain-timeout` to exit) and detaches them from the route's
    /// network. They stay, for rollback.
    pub(crate) fn stop(&self, instances: &[Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let mut a = args(&[
            "stop",
            "--time",
            &self.settings.drain_timeout.as_secs().max(1).to_string(),
        ]);
        a.extend(instances.iter().map(|i| i.name.clone()));
        let out = self.engine.change(&a, None)?;
        if !out.ok() {
            return Err(Error::flow(
                format!("cannot stop the old instances: {}", out.stderr.trim()),
                "stop them with `docker stop`",
            ));
        }
        self.proxy.retire(instances)
    }

    /// Removes containers for good.
    pub(crate) fn remove(&self, instances: &[Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let mut a = args(&["rm", "-f", "-v"]);
        a.extend(instances.iter().map(|i| i.id.clone()));
        let out = self.engine.change(&a, None)?;
        if !out.ok() && !out.stderr.contains("No such container") {
            return Err(Error::flow(
                format!("cannot remove instances: {}", out.stderr.trim()),
                "remove them with `docker rm -f`",
            ));
        }
        Ok(())
    }

    /// Ids of running instances of `release` (the ones a compose up just made).
    pub(crate) fn release_ids(&self, release: &str) -> Result<Vec<Instance>> {
        Ok(self
            .instances()?
            .into_iter()
            .filter(|i| i.release == release)
            .collect())
    }
}

/// A new release id and time: sortable, unique enough for one project.
pub(crate) fn new_release() -> Release {
    let now = SystemTime::now();
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Release {
        id: format!(
            "{}{:03}-{}",
            since.as_secs(),
            since.subsec_millis(),
            std::process::id()
        ),
        at: humantime::format_rfc3339_millis(now).to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_release_is_stamped_in_rfc3339_with_milliseconds() {
        let r = super::new_release();
        assert_eq!(r.at.len(), "2026-11-26T23:22:02.618Z".len(), "{}", r.at);
        assert!(
            r.at.ends_with('Z') && r.at.as_bytes()[10] == b'T',
            "{}",
            r.at
        );
        assert!(humantime::parse_rfc3339(&r.at).is_ok(), "{}", r.at);
        assert!(
            r.id.ends_with(&format!("-{}", std::process::id())),
            "{}",
            r.id
        );
    }
}
