//! The proxy and stop-old steps: promote a healthy release, drain the old one, then stop it.
//!
//! Order is the guarantee: the old release is stopped only after the new one is healthy and in
//! the proxy, and requests in flight to the old one have finished (or `--drain-timeout` passed).

use super::Ctx;
use crate::error::{Error, Result};
use crate::health;
use crate::model::service_name;
use crate::proxy::Drained;
use crate::state::{self, Instance};

/// The instances to promote: the ones deployed in this run, else the newest running release.
fn promotable(ctx: &Ctx, instances: &[Instance]) -> Vec<Instance> {
    if let Some(d) = &ctx.deployed {
        return d.new.clone();
    }
    let Some(newest) = state::newest_running(instances) else {
        return Vec::new();
    };
    instances
        .iter()
        .filter(|i| {
            i.running()
                && if ctx.settings.blue_green {
                    i.color == newest.color
                } else {
                    i.release == newest.release
                }
        })
        .cloned()
        .collect()
}

/// Points the proxy at `new` (health-checked first), then drains what it routed to before.
pub(super) fn route_to(
    ctx: &mut Ctx,
    new: &[Instance],
    service: &str,
    count: u32,
) -> Result<Vec<String>> {
    let ids: Vec<String> = new.iter().map(|i| i.id.clone()).collect();
    health::wait_healthy(
        ctx.engine,
        &ids,
        ctx.port,
        ctx.settings.health_timeout,
        &ctx.progress,
    )?;
    ctx.proxy.ensure()?;
    crate::cancel::check()?;
    let upstreams = ctx.dials(new, service, count);
    let before = ctx.proxy.current()?.unwrap_or_default();
    let color = new
        .first()
        .and_then(|i| i.color)
        .or(ctx.deployed.as_ref().and_then(|d| d.color));
    ctx.proxy.switch(&upstreams, color)?;
    ctx.switched_to = Some(upstreams.clone());
    let old: Vec<String> = before
        .into_iter()
        .filter(|u| !upstreams.contains(u))
        .collect();
    ctx.progress.info(&format!(
        "proxy ({}) routes to {}",
        ctx.proxy.driver(),
        upstreams.join(", ")
    ));
    ctx.changes
        .push(format!("proxy routes to {}", upstreams.join(", ")));
    if let Drained::TimedOut(in_flight) = ctx.proxy.drain(&old, ctx.settings.drain_timeout)? {
        let how_many = in_flight.map_or("some".to_string(), |n| n.to_string());
        ctx.progress.warn(&format!(
            "{how_many} request(s) still in flight to {} after --drain-timeout ({}); stopping it anyway",
            old.join(", "),
            humantime::format_duration(ctx.settings.drain_timeout)
        ));
    }
    Ok(old)
}

pub(super) fn proxy(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.progress.step("proxy");
    let instances = ctx.instances()?;
    let new = promotable(ctx, &instances);
    let (service, count) = match &ctx.deployed {
        Some(d) => (
            service_name(&ctx.target, d.color),
            d.new.len().max(1) as u32,
        ),
        None => (ctx.target.clone(), new.len() as u32),
    };
    if new.is_empty() && !ctx.engine.dry_run() {
        return Err(Error::flow(
            format!("no running instance of `{}` to route to", ctx.target),
            "deploy first: `docker flow deploy`",
        ));
    }
    route_to(ctx, &new, &service, count)?;
    step.done();
    Ok(())
}

pub(super) fn stop_old(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.progress.step("stop-old");
    let instances = ctx.instances()?;
    // What serves now, as (colour, release): what the proxy routes to, else what this run
    // deployed, else the newest running release.
    let routed = match &ctx.switched_to {
        Some(up) => up.clone(),
        None => ctx.proxy.current()?.unwrap_or_default(),
    };
    let mut serving: Vec<(Option<crate::model::Color>, String)> = instances
        .iter()
        .filter(|i| {
            routed
                .iter()
                .any(|u| u.split(':').next() == Some(i.name.as_str()))
        })
        .map(|i| (i.color, i.release.clone()))
        .collect();
    if serving.is_empty() || (ctx.engine.dry_run() && ctx.deployed.is_some()) {
        serving.clear();
        if let Some(d) = &ctx.deployed {
            serving.push((d.color, d.release.id.clone()));
        } else if let Some(newest) = state::newest_running(&instances) {
            serving.push((newest.color, newest.release.clone()));
        }
    }
    if serving.is_empty() {
        ctx.progress.info("nothing serves yet; nothing stopped");
        step.done();
        return Ok(());
    }
    let blue_green = ctx.settings.blue_green;
    let old: Vec<Instance> = instances
        .iter()
        .filter(|i| i.running())
        .filter(|i| {
            !serving.iter().any(|(c, r)| {
                if blue_green {
                    *c == i.color
                } else {
                    *r == i.release
                }
            })
        })
        .cloned()
        .collect();
    if old.is_empty() {
        ctx.progress.info("no old instance runs");
    } else if blue_green {
        ctx.progress
            .info(&format!("stopping {} (kept for rollback)", names(&old)));
        ctx.stop(&old)?;
        ctx.changes.push(format!("stopped {}", names(&old)));
    } else {
        ctx.progress.info(&format!("removing {}", names(&old)));
        ctx.stop(&old)?;
        ctx.remove(&old)?;
        ctx.changes.push(format!("removed {}", names(&old)));
    }
    step.done();
    Ok(())
}

fn names(list: &[Instance]) -> String {
    list.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
