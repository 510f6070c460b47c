//! Rollback: bring the previous colour back, make it live, stop the current one.
//!
//! The previous colour's containers were stopped, not removed, so a rollback is a restart plus
//! one health check, not a redeploy. Missing instances are added from the previous release's own
//! image.

use super::outcome::Outcome;
use super::Ctx;
use crate::error::{Error, Result};
use crate::releases::{Back, NoRollback};

pub(super) fn run(ctx: &Ctx) -> Result<Outcome> {
    let step = ctx.progress.step("rollback");
    if !ctx.settings.blue_green {
        return Err(Error::usage(
            "rollback needs a blue-green deployment: without it the old release is removed after a deploy",
            "deploy with --blue-green (or `blue_green: true` in docker-flow.yml) to keep the previous release for rollback",
        ));
    }
    let plan = ctx.releases()?.rollback().map_err(|e| match e {
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
    })?;
    let (to, count) = (plan.to, plan.count);
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
        routed,
    })
}
