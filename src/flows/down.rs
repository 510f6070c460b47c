//! `docker flow down`: the project taken down as `docker compose down` takes it down, with what
//! docker flow added to it: every release of every target (both colours: they are services of
//! their own, so Compose sees them as orphans of the user's file), and each route in the
//! proxy (its config, its records, its network), other projects' routes as they are. Named
//! volumes stay unless `--volumes` (then the project's release history goes too), as with
//! Compose. Under the project's deploy lock, as every change.

use std::path::Path;

use super::pipeline;
use crate::compose;
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::history;
use crate::lock::Lock;
use crate::progress::Progress;
use crate::proxy::{self, RouteSpec};
use crate::report;
use crate::settings::{Format, Settings};

/// `docker flow down`'s own options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DownOptions {
    /// `--volumes`: the named volumes too.
    pub volumes: bool,
    /// `--proxy`: the proxy too, when no other project has a route in it.
    pub proxy: bool,
}

pub(crate) fn run(engine: &Engine, settings: &Settings, cwd: &Path, o: &DownOptions) -> Result<()> {
    let (project, manager) = pipeline::open_project(engine, settings, cwd)?;
    let name = project.model.name.clone();
    let platform = crate::orchestrator::detect(engine, settings, &name, manager)?;
    platform.takes_down(&name)?;
    let progress = Progress::new(settings.progress_mode());
    let lock = Lock::acquire(
        engine,
        &name,
        "down",
        settings.lock_wait,
        &progress,
        platform,
    )?;
    let targets = crate::containers::targets(engine, &name)?;
    for target in &targets {
        let step = progress.step(&format!("take the route of {target} off the proxy"));
        let route = RouteSpec::new(settings, &project, target, 80, platform);
        proxy::for_settings(engine, settings, route).remove_route()?;
        step.done();
    }
    let step = progress.step("compose down");
    let mut a = args(&["compose"]);
    a.extend(compose::selection_args(settings));
    if settings.project.is_none() {
        a.extend(args(&["-p", &name]));
    }
    a.extend(args(&["down", "--remove-orphans"]));
    if o.volumes {
        a.push("--volumes".into());
    }
    let out = engine.change_streamed(&a, None)?;
    if !out.ok() {
        return Err(Error::ComposeFailed {
            command: a.join(" "),
        });
    }
    step.done();
    // The history is on the lock's volume: removed once the lock is released.
    lock.release();
    let mut removed = Vec::new();
    if o.volumes {
        let volume = history::volume(&name);
        // The lock's container (`--rm`) may take a moment to let go of it.
        let mut out = engine.change(&args(&["volume", "rm", &volume]), None)?;
        for _ in 0..25 {
            if out.ok_or_gone() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            out = engine.change(&args(&["volume", "rm", &volume]), None)?;
        }
        if out.ok() {
            removed.push(volume);
        } else if !out.ok_or_gone() {
            return Err(Error::environment(
                format!(
                    "cannot remove the release history `{volume}`: {}",
                    out.last_error_line()
                ),
                format!("remove it with `docker volume rm {volume}`"),
            ));
        }
    }
    let proxy = if o.proxy {
        let step = progress.step("remove the proxy unless another project uses it");
        let route = RouteSpec::new(settings, &project, "", 80, platform);
        let fate = proxy::for_settings(engine, settings, route).remove_if_unused(o.volumes)?;
        step.done();
        fate
    } else {
        None
    };
    let down = report::DownReport {
        project: name,
        targets,
        volumes_removed: o.volumes,
        removed,
        proxy,
        dry_run: engine.dry_run(),
        plan: engine.take_plan(),
    };
    report::print(&down, || down.to_text(), settings.format == Format::Json);
    Ok(())
}
