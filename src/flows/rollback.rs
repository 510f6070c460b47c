//! Rollback: bring the previous colour back, make it live, stop the current one.
//!
//! The previous colour's containers were stopped, not removed, so a rollback is a restart plus
//! one health check, not a redeploy (with `--keep-old` they still run: only a switch). Missing
//! instances are added from the previous release's own image. `rollback --to RELEASE` brings
//! back any release the history lists whose image the engine still has: in the other colour,
//! from that image, when its containers are gone.

use super::outcome::Outcome;
use super::Ctx;
use crate::engine::args;
use crate::error::{Error, Result};
use crate::history;
use crate::instance::Instance;
use crate::lock::Lock;
use crate::releases::{Back, NoRollback, Releases, Rollback};

pub(super) fn run(ctx: &Ctx, to: Option<&str>, lock: &Lock) -> Result<Outcome> {
    let step = ctx.progress.step("rollback");
    if !ctx.settings.blue_green {
        return Err(Error::usage(
            "rollback needs a blue-green deployment: without it the old release is removed after a deploy",
            "deploy with --blue-green (or `blue_green: true` in docker-flow.yml) to keep the previous release for rollback",
        ));
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
