//! The deploy step: start the next release beside the live one and wait until it is healthy.
//!
//! Nothing here touches the proxy or the live release: a deploy that fails removes what it
//! started and leaves the live release serving. Promotion is the proxy and stop-old steps.

use super::{new_release, Ctx, Deployed};
use crate::error::{Error, Result};
use crate::health;
use crate::model::{
    service_name, Color, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_RELEASE, LABEL_PREVIOUS_RELEASED_AT,
};
use crate::settings::PullPolicy;

pub(super) fn run(ctx: &mut Ctx) -> Result<()> {
    let step = ctx.progress.step("deploy");
    let instances = ctx.instances()?;
    let blue_green = ctx.settings.blue_green;
    let live = if blue_green {
        ctx.live_color(&instances)?
    } else {
        None
    };
    let next = blue_green.then(|| live.map(Color::other).unwrap_or(Color::Blue));
    let old: Vec<_> = instances
        .iter()
        .filter(|i| i.running() && (!blue_green || i.color == live))
        .cloned()
        .collect();
    let base = if old.is_empty() { 1 } else { old.len() as u32 };
    let n = match ctx.settings.scale {
        Some(spec) => {
            let (n, raised) = spec.apply(base);
            if raised {
                ctx.progress
                    .warn("the scale would leave no instance; deploying 1");
            }
            n
        }
        None => base,
    };
    let release = new_release();
    let svc = service_name(&ctx.target, next);
    ctx.progress.info(&match next {
        Some(c) => format!(
            "releasing {svc} ({c}) with {n} instance(s); live: {}",
            live.map_or("none".into(), |c| c.to_string())
        ),
        None => format!(
            "releasing {svc} with {n} new instance(s) beside {} running",
            old.len()
        ),
    });
    // What this release replaces, so that a rollback can recreate it if its containers are gone.
    let previous: Vec<(String, String)> = old
        .first()
        .map(|o| {
            vec![
                (LABEL_PREVIOUS_IMAGE.to_string(), o.image_id.clone()),
                (LABEL_PREVIOUS_RELEASE.to_string(), o.release.clone()),
                (
                    LABEL_PREVIOUS_RELEASED_AT.to_string(),
                    o.released_at.clone(),
                ),
            ]
        })
        .unwrap_or_default();
    let derived = ctx.derive(
        Some((next, &release)),
        live.or(next).unwrap_or(Color::Blue),
        &previous,
    )?;

    // Images first, so a missing image fails before anything changes.
    let svc_def = &ctx.project.model.services[&ctx.target];
    if svc_def.build.is_some() {
        ctx.compose(&derived, &["build", &svc])?;
    } else if ctx.settings.pull == PullPolicy::Always {
        ctx.compose(&derived, &["pull", &svc])?;
    }
    let sides: Vec<&str> = ctx
        .settings
        .side_targets
        .iter()
        .map(String::as_str)
        .collect();
    if !sides.is_empty() {
        if ctx.settings.pull_side_targets {
            let mut a = vec!["pull", "--ignore-buildable"];
            a.extend(&sides);
            ctx.compose(&derived, &a)?;
        }
        // A running side target (a database) is never recreated.
        let mut a = vec!["up", "-d", "--no-recreate", "--pull", "missing"];
        a.extend(&sides);
        ctx.compose(&derived, &a)?;
    }

    // A colour that was deployed but never promoted is replaced, as the seed did.
    let leftovers: Vec<_> = instances
        .iter()
        .filter(|i| {
            if blue_green {
                i.color == next
            } else {
                !i.running()
            }
        })
        .cloned()
        .collect();
    // Some may be in the proxy's rotation (a run killed after its switch): stop those gracefully.
    let running: Vec<_> = leftovers.iter().filter(|i| i.running()).cloned().collect();
    ctx.stop(&running)?;
    ctx.remove(&leftovers)?;

    let pull = match ctx.settings.pull {
        PullPolicy::Missing => "missing",
        _ => "never",
    };
    let total = if blue_green { n } else { old.len() as u32 + n };
    let scale = format!("{svc}={total}");
    let mut up = vec!["up", "-d", "--no-deps", "--pull", pull, "--scale", &scale];
    if !blue_green {
        up.push("--no-recreate");
    }
    up.push(&svc);
    if let Err(e) = ctx.compose(&derived, &up) {
        ctx.remove(&ctx.release_ids(&release.id)?)?;
        return Err(e);
    }
    let new = ctx.release_ids(&release.id)?;
    if let Err(e) = crate::cancel::check() {
        ctx.remove(&new)?;
        return Err(e);
    }
    if new.len() as u32 != n && !ctx.engine.dry_run() {
        ctx.remove(&new)?;
        return Err(Error::flow(
            format!(
                "Compose started {} new instance(s) of {svc}, not {n}",
                new.len()
            ),
            "check `docker compose ps`; the live release keeps serving",
        ));
    }
    let ids: Vec<String> = new.iter().map(|i| i.id.clone()).collect();
    let waiting = std::time::Instant::now();
    let healthy = match health::wait_healthy(
        ctx.engine,
        &ids,
        ctx.port,
        ctx.settings.health_timeout,
        &ctx.progress,
    ) {
        Ok(h) => h,
        Err(e) => {
            ctx.progress.info("removing the new instances");
            ctx.remove(&new)?;
            return Err(e);
        }
    };
    // The time the new release took to become ready is the application's, not docker flow's:
    // reported apart so that docker flow's own overhead can be told from it.
    ctx.durations
        .push(("health".into(), waiting.elapsed().as_secs_f64()));
    ctx.changes.push(format!(
        "started {n} instance(s) of {svc} (release {})",
        release.id
    ));
    ctx.deployed = Some(Deployed {
        color: next,
        release,
        new: if healthy.is_empty() { new } else { healthy },
    });
    step.done();
    Ok(())
}
