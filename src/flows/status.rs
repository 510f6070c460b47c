//! `docker flow status`: releases, instances and proxy routes, read from the engine and the proxy.

use super::Ctx;
use crate::error::Result;
use crate::model::Color;
use crate::report::{ColorReport, InstanceReport, ProxyReport, StatusReport};

pub(super) fn report(ctx: &Ctx) -> Result<StatusReport> {
    // A proxy that cannot be reached is reported, not fatal: status is how one finds out.
    let releases = ctx.releases_routed(ctx.proxy.current().ok().flatten())?;
    let blue_green = ctx.settings.blue_green;
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
                    release: i.release.clone(),
                })
                .collect();
            (key, ColorReport { instances })
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
