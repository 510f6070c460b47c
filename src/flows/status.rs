//! `docker flow status`: releases, instances and proxy routes, read from the engine and the proxy;
//! for one target, or (without `--target`) for every target docker flow deployed in the project.

use std::path::Path;

use super::Ctx;
use crate::engine::Engine;
use crate::error::Result;
use crate::model::Color;
use crate::releases::Pending;
use crate::report::{self, ColorReport, InstanceReport, ProxyReport, StatusReport};
use crate::settings::{Format, Settings};

/// `docker flow status` without a target: one report per target docker flow deployed in the
/// project (each in the mode its instances were deployed in).
pub(super) fn every_target(engine: &Engine, settings: &Settings, cwd: &Path) -> Result<()> {
    let (project, manager) = super::pipeline::open_project(engine, settings, cwd)?;
    let platform = crate::orchestrator::detect(engine, settings, &project.model.name, manager)?;
    let found = crate::orchestrator::deployed(engine, &project.model.name, platform)?;
    let mut targets: Vec<(String, bool, Option<u16>)> = Vec::new();
    for i in &found {
        match targets.iter_mut().find(|(t, _, _)| *t == i.target) {
            Some(t) => t.1 |= i.color.is_some(),
            None => targets.push((i.target.clone(), i.color.is_some(), i.port)),
        }
    }
    targets.sort();
    let mut reports = Vec::new();
    for (target, blue_green, port) in targets {
        let settings = Settings {
            blue_green,
            ..settings.clone()
        };
        let ctx = Ctx::new(engine, &settings, project.clone(), target, port, platform);
        reports.push(report(&ctx)?);
    }
    let text = || {
        if reports.is_empty() {
            return format!(
                "no target of project `{}` was deployed by docker flow\n",
                project.model.name
            );
        }
        reports
            .iter()
            .map(StatusReport::to_text)
            .collect::<Vec<_>>()
            .join("\n")
    };
    report::print(&reports, text, settings.format == Format::Json);
    Ok(())
}

pub(super) fn report(ctx: &Ctx) -> Result<StatusReport> {
    // A proxy that cannot be reached is reported, not fatal: status is how one finds out.
    let releases = ctx.releases_routed(ctx.proxy.current().ok().flatten())?;
    let blue_green = ctx.settings.blue_green;
    let warm = releases.warm();
    let pending = releases.pending(ctx.proxied());
    let in_rotation = |c: Option<Color>| {
        releases
            .all()
            .iter()
            .filter(|i| i.running() && i.color == c && releases.routed().iter().any(|up| i.is(up)))
            .count()
    };
    let rotation: usize = [Some(Color::Blue), Some(Color::Green), None]
        .into_iter()
        .map(in_rotation)
        .sum();
    let warm_until = releases.warm_until(std::time::SystemTime::now());
    // A staged release is reached with the preview's key: shown to whoever can read the
    // engine, as the deploy that staged it printed it.
    let preview_header = match &pending {
        Some(Pending::Staged(_)) => ctx
            .proxy
            .preview_key()
            .ok()
            .flatten()
            .map(|key| format!("{}: {key}", crate::proxy::PREVIEW_HEADER)),
        _ => None,
    };
    let keys: Vec<(String, Option<Color>)> = if blue_green {
        vec![
            ("blue".into(), Some(Color::Blue)),
            ("green".into(), Some(Color::Green)),
        ]
    } else {
        vec![("default".into(), None)]
    };
    let colors = keys
        .into_iter()
        .map(|(key, color)| {
            let instances = releases
                .all()
                .iter()
                .filter(|i| !blue_green || i.color == color)
                .map(|i| InstanceReport {
                    name: i.name.clone(),
                    state: i.state.clone(),
                    health: i.health.clone(),
                    image: i.image.clone(),
                    created: i.created.clone(),
                    started_at: report::timestamp(&i.started_at),
                    finished_at: report::timestamp(&i.finished_at),
                    release: i.release.clone(),
                    node: (!i.node.is_empty()).then(|| i.node.clone()),
                })
                .collect();
            // The colour kept warm by `--keep-old`, while it is.
            let warm_until = warm_until
                .filter(|_| color.is_some() && color != releases.live_color() && !warm.is_empty())
                .map(|t| humantime::format_rfc3339_seconds(t).to_string());
            let role = match (&pending, color) {
                (Some(Pending::Canary { canary, .. }), Some(c)) if canary[0].color == Some(c) => {
                    Some("canary")
                }
                (Some(Pending::Staged(s)), Some(c)) if s[0].color == Some(c) => Some("staged"),
                _ if warm_until.is_some() => Some("warm"),
                _ if color.is_some() && color == releases.live_color() => Some("live"),
                _ if color.is_none() && !releases.live().is_empty() => Some("live"),
                _ => None,
            };
            let share = in_rotation(color);
            (
                key,
                ColorReport {
                    instances,
                    warm_until,
                    preview_header: preview_header.clone().filter(|_| role == Some("staged")),
                    role: role.map(String::from),
                    traffic_percent: (share > 0)
                        .then(|| ((share * 100 + rotation / 2) / rotation.max(1)) as u32),
                },
            )
        })
        .collect();
    let (routes, error) = match ctx.proxy.routes() {
        Ok(r) => (r, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(StatusReport {
        project: ctx.project.clone(),
        target: ctx.target.clone(),
        blue_green,
        live_color: releases.live_color(),
        colors,
        proxy: ProxyReport {
            driver: ctx.proxy.driver().to_string(),
            routes,
            error,
        },
    })
}
