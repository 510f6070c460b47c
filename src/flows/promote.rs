//! What comes after a release that was deployed but not made live: `promote` and `abort`, and
//! the canary step that puts a `deploy --canary` release into rotation beside the live one.
//!
//! A staged release (`deploy --no-promote`, `--flow=deploy`) serves only the requests that opt
//! into the preview; a canary serves its share of everyone's. `promote` makes either live
//! through the proxy and stop-old steps (a canary is first brought up to the live release's
//! instance count); `abort` takes it out of the preview or the rotation, waits for its requests
//! in flight, and removes it. The live release serves throughout.

use super::outcome::{History, Outcome};
use super::Ctx;
use crate::error::{Error, Result};
use crate::instance::{self, Instance};
use crate::lock::Lock;
use crate::releases::Pending;

/// The release waiting for a decision; an error naming what to do when there is none.
fn pending(ctx: &Ctx, verb: &str) -> Result<Pending> {
    ctx.releases()?.pending(ctx.proxied()).ok_or_else(|| {
        Error::flow(
            format!(
                "nothing to {verb}: no release of `{}` is staged or in a canary",
                ctx.target
            ),
            "stage one with `docker flow deploy --no-promote` or `docker flow deploy --canary N`",
        )
    })
}

/// Before the proxy and stop-old steps of `promote`: there must be a release to promote, and a
/// canary grows to the live release's instance count (new instances health-checked) so that
/// the switch keeps the capacity.
pub(super) fn prepare(ctx: &Ctx, _held: &Lock) -> Result<Outcome> {
    let step = ctx.progress.step("promote");
    let outcome = match pending(ctx, "promote")? {
        Pending::Staged(staged) => {
            ctx.progress.info(&format!(
                "promoting the staged release {}",
                instance::names(&staged)
            ));
            let n = staged.len() as u32;
            Outcome::Promoting {
                instances: staged,
                from: n,
                to: n,
            }
        }
        Pending::Canary { mut canary, live } => {
            let (from, to) = (canary.len() as u32, live.len().max(canary.len()) as u32);
            ctx.progress.info(&format!(
                "promoting the canary {}: {from} -> {to} instance(s) first",
                instance::names(&canary)
            ));
            if to > from {
                let added = ctx.orchestrator.add_like(&canary[0], to, &ctx.progress)?;
                canary.extend(added);
            }
            Outcome::Promoting {
                instances: canary,
                from,
                to,
            }
        }
    };
    step.done();
    Ok(outcome)
}

/// `abort`: the staged release leaves the preview, or the canary the rotation; each is drained
/// and removed. The live release is not touched (a canary's rotation becomes the live
/// release's instances, which already were in it).
pub(super) fn abort(ctx: &Ctx, _held: &Lock) -> Result<Outcome> {
    let step = ctx.progress.step("abort");
    let outcome = match pending(ctx, "abort")? {
        Pending::Staged(staged) => {
            ctx.progress.info(&format!(
                "removing the staged release {}",
                instance::names(&staged)
            ));
            ctx.remove_unserved(&staged)?;
            Outcome::Aborted {
                instances: staged,
                routed: None,
            }
        }
        Pending::Canary { canary, live } => {
            ctx.progress.info(&format!(
                "taking the canary {} out of rotation",
                instance::names(&canary)
            ));
            let routed = ctx.route_to(&live)?;
            ctx.remove_unserved(&canary)?;
            Outcome::Aborted {
                instances: canary,
                routed: Some(routed),
            }
        }
    };
    step.done();
    Ok(outcome)
}

/// The canary step of `deploy --canary`: what the deploy step started joins the live release in
/// the rotation; the proxy spreads requests over every instance in it, so the canary's share is
/// its share of the instances.
pub(super) fn canary(ctx: &Ctx, done: &History) -> Result<Outcome> {
    let step = ctx.progress.step("canary");
    let Some(deployed) = done.deployed() else {
        return Err(Error::flow(
            "the canary step needs a deploy before it in the same run",
            "run `docker flow deploy --canary N`",
        ));
    };
    let new = deployed.new.clone();
    let live: Vec<Instance> = ctx.releases()?.live();
    let mut all = live.clone();
    all.extend(new.iter().cloned());
    let routed = match ctx.route_to(&all) {
        Ok(r) => r,
        Err(e) => {
            ctx.progress.info("removing the new instances");
            if !live.is_empty() {
                let _ = ctx.route_to(&live);
            }
            ctx.remove_unserved(&new)?;
            return Err(e);
        }
    };
    super::switch::clear_preview(ctx, done)?;
    let share = (new.len() * 100 + all.len() / 2) / all.len().max(1);
    ctx.progress.info(&format!(
        "canary: {} of {} instances in rotation are the new release (about {share}% of requests); `docker flow promote` makes it live, `docker flow abort` removes it",
        new.len(),
        all.len()
    ));
    step.done();
    Ok(Outcome::Canary {
        instances: new,
        live: live.len(),
        routed,
    })
}
