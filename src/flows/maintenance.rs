//! `docker flow maintenance on|off`: the project's routes (or one service's) answer every
//! request with a maintenance page (503, `Retry-After`) instead of their releases, which keep
//! running; `off` serves them again. The page lives in the proxy's config (`Proxy::maintenance`),
//! so it outlives a restart of the proxy, and a deploy meanwhile keeps it. Under the project's
//! deploy lock, as every change.

use std::path::Path;

use super::pipeline;
use crate::engine::Engine;
use crate::error::Result;
use crate::lock::Lock;
use crate::progress::Progress;
use crate::proxy::{self, RouteSpec};
use crate::report;
use crate::settings::{Format, Settings};

/// The page when none is given.
const DEFAULT_PAGE: &str = "This service is down for maintenance. Please try again soon.\n";

/// `docker flow maintenance`'s own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MaintenanceOptions {
    pub on: bool,
    /// `--message`: the page's text.
    pub message: Option<String>,
    /// The service named on the command line (None: every route of the project).
    pub service: Option<String>,
}

pub(crate) fn run(
    engine: &Engine,
    settings: &Settings,
    cwd: &Path,
    o: &MaintenanceOptions,
) -> Result<()> {
    let (project, manager) = pipeline::open_project(engine, settings, cwd)?;
    let name = project.model.name.clone();
    let platform = crate::orchestrator::detect(engine, settings, &name, manager)?;
    let progress = Progress::new(settings.progress_mode());
    let lock = Lock::acquire(
        engine,
        &name,
        "maintenance",
        settings.lock_wait,
        &progress,
        platform,
    )?;
    let mut targets: Vec<String> = match &o.service {
        Some(service) => vec![service.clone()],
        None => crate::orchestrator::deployed(engine, &name, platform)?
            .into_iter()
            .map(|i| i.target)
            .collect(),
    };
    targets.sort();
    targets.dedup();
    let page = o.on.then(|| {
        let mut text = o.message.clone().unwrap_or_else(|| DEFAULT_PAGE.into());
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text
    });
    let (mut changed, mut without_route) = (Vec::new(), Vec::new());
    for target in targets {
        let what = if o.on { "on" } else { "off" };
        let step = progress.step(&format!("maintenance {what} for {target}"));
        let route = RouteSpec::new(settings, &project, &target, 80, platform);
        if proxy::for_settings(engine, settings, route).maintenance(page.as_deref())? {
            changed.push(target);
        } else {
            without_route.push(target);
        }
        step.done();
    }
    lock.release();
    let r = report::MaintenanceReport {
        project: name,
        on: o.on,
        page,
        targets: changed,
        without_route,
        dry_run: engine.dry_run(),
        plan: engine.take_plan(),
    };
    report::print(&r, || r.to_text(), settings.format == Format::Json);
    Ok(())
}
