//! Rollback: bring the previous colour back, make it live, stop the current one.
//!
//! The previous colour's containers were stopped, not removed, so a rollback is a restart plus
//! one health check, not a redeploy. Missing instances are added from the previous release's
//! own image.
//!
//! With `--keep-old` they still run, and the proxy holds them beside the route (its standby):
//! `swap_warm` swaps them in, in one `docker exec`, as soon as the run holds the deploy lock and
//! has passed its checks (it takes the lock as proof), and the run then finishes (drains and
//! stops the release it replaced). A standby is written only by a run holding the lock and ended
//! by every later one before it reads the route, so no swap changes a route behind a run, and a
//! rollback refused (bad input, the lock held by another run) moves no traffic.
//!
//! `rollback --to RELEASE` brings back any release the history lists whose image the engine
//! still has: in the other colour, from that image, when its containers are gone.

use super::outcome::Outcome;
use super::Ctx;
use crate::engine::args;
use crate::error::{Error, Result};
use crate::history;
use crate::instance::{self, Instance, Upstream};
use crate::lock::Lock;
use crate::releases::{Back, NoRollback, Releases, Rollback};

/// The instant rollback: the release kept warm swapped back into the route, first thing once
/// the run holds the deploy `_lock` (the proof that no other run changes the route) and has
/// passed its checks. What the route sent traffic to before; None when nothing was kept warm
/// (or it does not answer): the rollback goes the long way.
pub(super) fn swap_warm(ctx: &Ctx, _lock: &Lock) -> Result<Option<Vec<Upstream>>> {
    let s = ctx.settings;
    if !s.blue_green || s.switch_mode || !ctx.proxied() || ctx.engine.dry_run() {
        return Ok(None);
    }
    // The engine's own verdict counts too: an instance it finds unhealthy is not swapped in.
    let unhealthy = ctx.orchestrator.unhealthy()?;
    ctx.proxy.swap_warm(&ctx.settings.health_path, &unhealthy)
}

pub(super) fn run(
    ctx: &Ctx,
    to: Option<&str>,
    lock: &Lock,
    swapped: Option<Vec<Upstream>>,
) -> Result<Outcome> {
    let step = ctx.progress.step("rollback");
    if !ctx.settings.blue_green {
        return Err(Error::usage(
            "rollback needs a blue-green deployment: without it the old release is removed after a deploy",
            "deploy with --blue-green (or `blue_green: true` in docker-flow.yml) to keep the previous release for rollback",
        ));
    }
    if let Some(before) = swapped {
        let outcome = finish_swap(ctx, &before)?;
        step.done();
        return Ok(outcome);
    }
    let releases = ctx.releases()?;
    ctx.no_canary(&releases)?;
    let plan = releases.rollback().map_err(|e| match e {
        NoRollback::NothingLive => Error::flow(
            format!(
                "nothing to roll back: no release of `{}` is live",
                ctx.target
            ),
            "deploy first: `docker flow deploy`",
        ),
        NoRollback::NoPrevious(to) => Error::flow(
            format!(
                "nothing to roll back to: `{}` has no {to} release",
                ctx.target
            ),
            "a rollback needs an earlier release deployed with docker flow",
        ),
    });
    let plan = match to {
        None => plan?,
        Some(id) => plan_to(ctx, &releases, plan, id, lock)?,
    };
    let (to, count) = (plan.to, plan.count);
    let from_release = plan
        .current
        .first()
        .map(|i| i.release.clone())
        .unwrap_or_default();
    let (started, release) = match plan.back {
        Back::Recreate { like } => {
            ctx.progress.info(&format!(
                "recreating {count} instance(s) of the {to} release {} from its image",
                like.release
            ));
            let started = ctx
                .orchestrator
                .add_like(&like, count as u32, &ctx.progress)?;
            (started, like.release)
        }
        Back::Kept { release, instances } => {
            ctx.progress.info(&format!(
                "starting {} instance(s) of the {to} release {release}",
                instances.len()
            ));
            let mut started = ctx.orchestrator.restart(&instances)?;
            if started.len() < count {
                started.extend(ctx.orchestrator.add_like(
                    &instances[0],
                    count as u32,
                    &ctx.progress,
                )?);
            }
            (started, release)
        }
    };
    let routed = match ctx.route_to(&started) {
        Ok(r) => r,
        Err(e) => {
            // The live colour still serves: put the previous one back to sleep.
            let _ = ctx.take_out(&started);
            return Err(e);
        }
    };
    ctx.take_out(&plan.current)?;
    step.done();
    Ok(Outcome::RolledBack {
        from: plan.live,
        to,
        release,
        from_release,
        instances: started,
        routed,
    })
}

/// After `swap_warm`, under the lock: drains what the route sent traffic to before, and stops
/// it, as a rollback does once it switched.
fn finish_swap(ctx: &Ctx, before: &[Upstream]) -> Result<Outcome> {
    // The route as the settings say, as a switch the long way would leave it.
    ctx.ensure_proxy()?;
    let releases = ctx.releases()?;
    let live = releases.live();
    let routed = ctx.proxy.current()?.unwrap_or_default();
    let replaced: Vec<Instance> = ctx
        .orchestrator
        .instances()?
        .into_iter()
        .filter(Instance::running)
        .filter(|i| before.iter().any(|up| i.is(up)))
        .filter(|i| !routed.iter().any(|up| i.is(up)))
        .collect();
    let (Some(to), Some(from)) = (
        live.first().and_then(|i| i.color),
        replaced.first().and_then(|i| i.color),
    ) else {
        // Another run changed the route between the swap and the lock: it is theirs now.
        return Err(Error::flow(
            format!(
                "the rollback of `{}` switched, but another run changed the route before it could finish",
                ctx.target
            ),
            "`docker flow status` shows what serves now",
        ));
    };
    let old: Vec<Upstream> = before
        .iter()
        .filter(|up| !routed.contains(up))
        .cloned()
        .collect();
    ctx.progress.info(&format!(
        "proxy ({}) switched back first thing to the release kept warm (--keep-old): routes to {}",
        ctx.proxy.driver(),
        instance::list(&routed)
    ));
    ctx.progress.info(&format!(
        "stopping {} (kept for rollback)",
        instance::names(&replaced)
    ));
    if let crate::proxy::Drained::TimedOut(_) = ctx.proxy.drain(&old, ctx.settings.drain_timeout)? {
        ctx.progress.warn(&format!(
            "requests still in flight to {} after --drain-timeout; stopping it anyway",
            instance::list(&old)
        ));
    }
    ctx.take_out(&replaced)?;
    Ok(Outcome::RolledBack {
        from,
        to,
        release: live.first().map(|i| i.release.clone()).unwrap_or_default(),
        from_release: replaced[0].release.clone(),
        instances: live,
        routed,
    })
}

/// The rollback to release `id`: the plain one when the other colour holds it; else that
/// release recreated in the other colour from its image, which the history recorded (whatever
/// the other colour holds is cleared first).
fn plan_to(
    ctx: &Ctx,
    releases: &Releases,
    plain: Result<Rollback>,
    id: &str,
    lock: &Lock,
) -> Result<Rollback> {
    let live = releases.live();
    if live.iter().any(|i| i.release == id) {
        return Err(Error::flow(
            format!("release {id} of `{}` is live already", ctx.target),
            "`docker flow history` lists the releases to roll back to",
        ));
    }
    if let Ok(plan) = &plain {
        if matches!(&plan.back, Back::Kept { release, .. } if release == id) {
            return plain;
        }
    }
    let Some(current) = live.first().cloned() else {
        return plain;
    };
    let text = lock.history(&ctx.target)?.unwrap_or_default();
    let Some(event) = history::parse(&text)
        .into_iter()
        .find(|e| e.release == id && !e.image_id.is_empty())
    else {
        return Err(Error::flow(
            format!(
                "no release {id} of `{}` in the history (or it never started)",
                ctx.target
            ),
            "`docker flow history` lists the releases and their ids",
        ));
    };
    let present = ctx.engine.read(&args(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        &event.image_id,
    ]))?;
    if !present.ok() {
        return Err(Error::flow(
            format!(
                "the image of release {id} ({}, {}) is no longer on the engine",
                event.image, event.image_id
            ),
            "pull or build that image again, or roll back to a release whose image is present",
        ));
    }
    let to = current.color.map(|c| c.other());
    // The other colour's containers (the release kept for a plain rollback) make room.
    let other: Vec<Instance> = releases
        .all()
        .iter()
        .filter(|i| i.color == to)
        .cloned()
        .collect();
    let running: Vec<Instance> = other.iter().filter(|i| i.running()).cloned().collect();
    ctx.take_out(&running)?;
    ctx.orchestrator.remove(&other)?;
    Ok(Rollback {
        live: current.color.unwrap_or(crate::model::Color::Blue),
        to: to.unwrap_or(crate::model::Color::Blue),
        count: live.len().max(1),
        current: live,
        back: Back::Recreate {
            like: Box::new(Instance {
                color: to,
                release: event.release.clone(),
                released_at: if event.released_at.is_empty() {
                    event.started.clone()
                } else {
                    event.released_at.clone()
                },
                image: event.image.clone(),
                image_id: event.image_id.clone(),
                ..current
            }),
        },
    })
}
