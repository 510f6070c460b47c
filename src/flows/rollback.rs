//! Rollback: bring the previous colour back, make it live, stop the current one.
//!
//! The previous colour's containers were stopped, not removed, so a rollback is a `docker start`
//! plus one health check, not a redeploy. Missing instances are added from the previous
//! release's own image.

use super::scale::add_instances;
use super::switch::route_to;
use super::Ctx;
use crate::error::{Error, Result};
use crate::model::service_name;
use crate::state::Instance;

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.progress.step("rollback");
    if !ctx.settings.blue_green {
        return Err(Error::usage(
            "rollback needs a blue-green deployment: without it the old release is removed after a deploy",
            "deploy with --blue-green (or `blue_green: true` in docker-flow.yml) to keep the previous release for rollback",
        ));
    }
    let instances = ctx.instances()?;
    let Some(live) = ctx.live_color(&instances)? else {
        return Err(Error::flow(
            format!(
                "nothing to roll back: no release of `{}` is live",
                ctx.target
            ),
            "deploy first: `docker flow deploy`",
        ));
    };
    let prev = live.other();
    let previous: Vec<Instance> = instances
        .iter()
        .filter(|i| i.color == Some(prev))
        .cloned()
        .collect();
    let current: Vec<Instance> = instances
        .iter()
        .filter(|i| i.color == Some(live) && i.running())
        .cloned()
        .collect();
    let n = current.len().max(1);
    let service = service_name(&ctx.target, Some(prev));
    let (started, newest) = if previous.is_empty() {
        // The previous release's containers are gone: recreate it from its own image, which the
        // live release recorded when it replaced it.
        let Some(like) = current
            .first()
            .filter(|c| !c.previous_image.is_empty())
            .map(|c| Instance {
                color: Some(prev),
                release: c.previous_release.clone(),
                released_at: c.previous_released_at.clone(),
                image_id: c.previous_image.clone(),
                ..c.clone()
            })
        else {
            return Err(Error::flow(
                format!(
                    "nothing to roll back to: `{}` has no {prev} release",
                    ctx.target
                ),
                "a rollback needs an earlier release deployed with docker flow",
            ));
        };
        ctx.progress.info(&format!(
            "recreating {n} instance(s) of the {prev} release {} from its image",
            like.release
        ));
        let release = like.release.clone();
        (add_instances(ctx, &like, &service, n as u32)?, release)
    } else {
        let newest = previous
            .iter()
            .map(|i| i.release.clone())
            .max()
            .unwrap_or_default();
        let mut pick: Vec<Instance> = previous
            .iter()
            .filter(|i| i.release == newest)
            .cloned()
            .collect();
        pick.truncate(n);
        ctx.progress.info(&format!(
            "starting {} instance(s) of the {prev} release {newest}",
            pick.len()
        ));
        let mut a = vec!["start".to_string()];
        a.extend(pick.iter().filter(|i| !i.running()).map(|i| i.id.clone()));
        if a.len() > 1 {
            let out = ctx.engine.change(&a, None)?;
            if !out.ok() {
                return Err(Error::flow(
                    format!("cannot start the previous release: {}", out.stderr.trim()),
                    "see `docker ps -a`",
                ));
            }
        }
        let ids: Vec<String> = pick.iter().map(|i| i.id.clone()).collect();
        let mut started = crate::state::inspect(ctx.engine, &ids)?;
        if started.len() < n {
            let like = pick[0].clone();
            started.extend(add_instances(ctx, &like, &service, n as u32)?);
        }
        (started, newest)
    };
    if let Err(e) = route_to(ctx, &started, &service, n as u32) {
        // The live colour still serves: put the previous one back to sleep.
        let _ = ctx.stop(&started);
        return Err(e);
    }
    ctx.stop(&current)?;
    ctx.changes.push(format!(
        "rolled back to {prev} (release {newest}); stopped {live}"
    ));
    step.done();
    Ok(())
}
