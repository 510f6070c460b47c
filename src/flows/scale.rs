//! The scale step: N, +N or -N instances of the live release.
//!
//! New instances join the proxy only once healthy; removed ones leave the proxy first, drain,
//! and only then stop. Scaling adds instances of the live release's own image, not whatever the
//! Compose file names now.

use super::switch::route_to;
use super::Ctx;
use crate::error::{Error, Result};
use crate::health;
use crate::model::{service_name, Color, Release};
use crate::state::Instance;

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.progress.step("scale");
    let instances = ctx.instances()?;
    let live_color = if ctx.settings.blue_green {
        ctx.live_color(&instances)?
    } else {
        None
    };
    let Some(newest) = crate::state::newest_running(&instances).cloned() else {
        return Err(Error::flow(
            format!("nothing to scale: no instance of `{}` runs", ctx.target),
            "deploy first: `docker flow deploy`",
        ));
    };
    let live: Vec<Instance> = instances
        .iter()
        .filter(|i| {
            i.running()
                && if ctx.settings.blue_green {
                    i.color == live_color
                } else {
                    i.release == newest.release
                }
        })
        .cloned()
        .collect();
    let current = live.len() as u32;
    let Some(spec) = ctx.settings.scale else {
        return Err(Error::usage(
            "scale needs a count",
            "pass N, +N or -N: `docker flow scale +2` or --scale=+2",
        ));
    };
    let (n, raised) = spec.apply(current);
    if raised {
        ctx.progress.warn(&format!(
            "scaling `{}` below 1 is not possible; keeping 1 instance",
            ctx.target
        ));
    }
    let service = service_name(&ctx.target, live_color);
    ctx.progress.info(&format!("{service}: {current} -> {n}"));
    if n > current {
        let added = add_instances(ctx, &live[0], &service, n)?;
        let mut all = live.clone();
        all.extend(added);
        route_to(ctx, &all, &service, n)?;
    } else if n < current {
        let mut by_name = live.clone();
        by_name.sort_by_key(|i| natural(&i.name));
        let (keep, drop) = by_name.split_at(n as usize);
        route_to(ctx, keep, &service, n)?;
        ctx.stop(drop)?;
        ctx.remove(drop)?;
    }
    ctx.changes
        .push(format!("scaled {service} from {current} to {n}"));
    step.done();
    Ok(())
}

/// Sort key that puts `app-10` after `app-9`.
fn natural(name: &str) -> (String, u64) {
    match name.rsplit_once('-') {
        Some((base, num)) => (base.to_string(), num.parse().unwrap_or(0)),
        None => (name.to_string(), 0),
    }
}

/// Brings `service` up to `total` instances like `like` (same release, same image), waits for the
/// new ones to be healthy and returns them. New instances that fail are removed.
pub(super) fn add_instances(
    ctx: &mut Ctx,
    like: &Instance,
    service: &str,
    total: u32,
) -> Result<Vec<Instance>> {
    let before: Vec<String> = ctx.instances()?.into_iter().map(|i| i.id).collect();
    let release = Release {
        id: like.release.clone(),
        at: like.released_at.clone(),
    };
    let refer_to = like.color.unwrap_or(Color::Blue);
    let mut model = ctx.project.model.clone();
    // The live release's own image: by name while the name still points at it, else by id.
    let by_name = ctx
        .engine
        .read(&crate::engine::args(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &like.image,
        ]))
        .is_ok_and(|o| o.ok() && o.stdout.trim() == like.image_id);
    if let Some(svc) = model.services.get_mut(&ctx.target) {
        svc.image = Some(if by_name {
            like.image.clone()
        } else {
            like.image_id.clone()
        });
        svc.build = None;
    }
    let derived = ctx.derive_from(&model, Some((like.color, &release)), refer_to, &[])?;
    let scale = format!("{service}={total}");
    ctx.compose(
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
            service,
        ],
    )?;
    let added: Vec<Instance> = ctx
        .instances()?
        .into_iter()
        .filter(|i| !before.contains(&i.id))
        .collect();
    let ids: Vec<String> = added.iter().map(|i| i.id.clone()).collect();
    match health::wait_healthy(
        ctx.engine,
        &ids,
        ctx.port,
        ctx.settings.health_timeout,
        &ctx.progress,
    ) {
        Ok(_) => Ok(added),
        Err(e) => {
            ctx.remove(&added)?;
            Err(e)
        }
    }
}
