//! The scale step: N, +N or -N instances of the live release.
//!
//! New instances join the proxy only once healthy; removed ones leave the proxy first, drain,
//! and only then stop. Scaling adds instances of the live release's own image, not whatever the
//! Compose file names now.

use super::outcome::Outcome;
use super::Ctx;
use crate::error::{Error, Result};
use crate::instance::Instance;

pub(super) fn run(ctx: &Ctx) -> Result<Outcome> {
    let step = ctx.progress.step("scale");
    let releases = ctx.releases()?;
    ctx.no_canary(&releases)?;
    let live = releases.live();
    let Some(first) = live.first() else {
        return Err(Error::flow(
            format!("nothing to scale: no instance of `{}` runs", ctx.target),
            "deploy first: `docker flow deploy`",
        ));
    };
    let Some(spec) = ctx.settings.scale else {
        return Err(Error::usage(
            "scale needs a count",
            "pass N, +N or -N: `docker flow scale +2` or --scale=+2",
        ));
    };
    let from = live.len() as u32;
    let (to, raised) = spec.apply(from);
    if raised {
        ctx.progress.warn(&format!(
            "scaling `{}` below 1 is not possible; keeping 1 instance",
            ctx.target
        ));
    }
    let service = ctx.orchestrator.service(releases.live_color());
    ctx.progress.info(&format!("{service}: {from} -> {to}"));
    let routed = if to > from {
        let added = ctx.orchestrator.add_like(first, to, &ctx.progress)?;
        let mut all = live.clone();
        all.extend(added);
        Some(ctx.route_to(&all)?)
    } else if to < from && !ctx.orchestrator.can_remove_chosen() {
        Some(through_other_colour(ctx, &releases, first, to)?)
    } else if to < from {
        let mut by_name = live.clone();
        by_name.sort_by_key(|i| natural(&i.name));
        let (keep, drop) = by_name.split_at(to as usize);
        let routed = ctx.route_to(keep)?;
        ctx.take_out(drop)?;
        ctx.orchestrator.remove(drop)?;
        Some(routed)
    } else {
        // Nothing to change: the route is made sure of, as `docker flow proxy` would.
        Some(ctx.route_to(&live)?)
    };
    step.done();
    Ok(Outcome::Scaled {
        service,
        from,
        to,
        routed,
    })
}

/// Scaling down where the orchestrator picks the instances a colour loses itself
/// (`can_remove_chosen` is false): `to`
/// instances of the live release start in the other colour, the proxy switches to them, and the
/// live colour drains and goes. The release the other colour kept for rollback is replaced; a
/// rollback then recreates it from its image, as the live release records it.
fn through_other_colour(
    ctx: &Ctx,
    releases: &crate::releases::Releases,
    first: &Instance,
    to: u32,
) -> Result<Vec<crate::instance::Upstream>> {
    let Some(live_color) = releases.live_color() else {
        return Err(crate::orchestrator::cannot_remove_chosen());
    };
    let other = live_color.other();
    ctx.progress.info(&format!(
        "the platform picks which instances a colour loses, not docker flow: starting {to} in {}, then switching to them",
        ctx.orchestrator.service(Some(other))
    ));
    let like = Instance {
        color: Some(other),
        ..first.clone()
    };
    let added = ctx.orchestrator.add_like(&like, to, &ctx.progress)?;
    let routed = match ctx.route_to(&added) {
        Ok(r) => r,
        Err(e) => {
            let _ = ctx.orchestrator.remove(&added);
            return Err(e);
        }
    };
    let live = releases.live();
    ctx.take_out(&live)?;
    ctx.orchestrator.remove(&live)?;
    Ok(routed)
}

/// Sort key that puts `app-10` after `app-9`.
fn natural(name: &str) -> (String, u64) {
    match name.rsplit_once('-') {
        Some((base, num)) => (base.to_string(), num.parse().unwrap_or(0)),
        None => (name.to_string(), 0),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn instances_sort_by_their_number() {
        let mut names = vec!["p-app-10", "p-app-9", "p-app-1"];
        names.sort_by_key(|n| super::natural(n));
        assert_eq!(names, ["p-app-1", "p-app-9", "p-app-10"]);
    }
}
