//! The deploy step: start the next release beside the live one and wait until it is healthy.
//!
//! Nothing here touches the proxy or the live release: a deploy that fails removes what it
//! started and leaves the live release serving. Promotion is the proxy and stop-old steps.

use std::time::Instant;

use super::outcome::Deployed;
use super::Ctx;
use crate::error::{Error, Result};
use crate::instance::{self, Instance};
use crate::model::Color;
use crate::orchestrator::NewRelease;

/// `preview`: the run does not promote it next, so the proxy's preview points at it once it is
/// healthy (requests with `X-Docker-Flow-Preview` reach it; nothing else does).
pub(super) fn run(ctx: &Ctx, preview: bool) -> Result<Deployed> {
    let step = ctx.progress.step("deploy");
    let releases = ctx.releases()?;
    ctx.no_canary(&releases)?;
    let live = releases.live_color();
    let next = releases.next_color();
    let old = releases.replaced_by_deploy();
    // A first release gets the count Compose would start (`deploy.replicas`, `scale`); later
    // ones the count of the release they replace.
    let base = if old.is_empty() {
        ctx.replicas.unwrap_or(1)
    } else {
        old.len() as u32
    };
    let count = match (ctx.settings.canary, ctx.settings.scale) {
        (Some(_), _) if old.is_empty() => {
            return Err(Error::flow(
                format!(
                    "no release of `{}` is live for a canary to join",
                    ctx.target
                ),
                "deploy the first release without --canary",
            ))
        }
        (Some(canary), _) => canary.count(base),
        (None, Some(spec)) => {
            let (n, raised) = spec.apply(base);
            if raised {
                ctx.progress
                    .warn("the scale would leave no instance; deploying 1");
            }
            n
        }
        (None, None) => base,
    };
    let service = ctx.orchestrator.service(next);
    ctx.progress.info(&match next {
        Some(c) => format!(
            "releasing {service} ({c}) with {count} instance(s); live: {}",
            live.map_or("none".into(), |c| c.to_string())
        ),
        None => format!(
            "releasing {service} with {count} new instance(s) beside {} running",
            old.len()
        ),
    });
    let release = NewRelease {
        color: next,
        release: ctx.release.clone(),
        count,
        // Plain: the instances of the same service keep running beside it (a `--switch-mode`
        // deploy from blue-green has none: the colours are other services).
        beside: if next.is_some() {
            0
        } else {
            old.iter().filter(|i| i.color.is_none()).count() as u32
        },
        replaces: old.first().cloned(),
        refer_to: live.or(next).unwrap_or(Color::Blue),
        keep_old: ctx.settings.keep_old,
    };
    // Images first, so a missing image fails before anything changes.
    ctx.orchestrator.prepare(&release)?;

    // A colour that was deployed but never promoted is replaced, as the seed did. Some may be
    // in the proxy's rotation (a run killed after its switch): those are taken out gracefully.
    let leftovers = releases.leftovers();
    let running: Vec<_> = leftovers.iter().filter(|i| i.running()).cloned().collect();
    ctx.unpreview(&running)?;
    ctx.take_out(&running)?;
    ctx.orchestrator.remove(&leftovers)?;

    let new = ctx.orchestrator.start_release(&release)?;
    if let Err(e) = crate::cancel::check() {
        ctx.orchestrator.remove(&new)?;
        return Err(e);
    }
    let waiting = Instant::now();
    let healthy = match ctx.orchestrator.wait_healthy(&new, &ctx.progress) {
        Ok(h) => h,
        Err(e) => {
            ctx.progress.info("removing the new instances");
            ctx.orchestrator.remove(&new)?;
            return Err(if live.is_none() && old.is_empty() {
                e.nothing_was_live()
            } else {
                e
            });
        }
    };
    let health = waiting.elapsed();
    let preview_key = if preview {
        match show_preview(ctx, &healthy) {
            Ok(p) => p,
            Err(e) => {
                ctx.progress.info("removing the new instances");
                ctx.orchestrator.remove(&healthy)?;
                return Err(e);
            }
        }
    } else {
        None
    };
    step.done();
    Ok(Deployed {
        color: next,
        service,
        release: release.release,
        new: healthy,
        health,
        previewed: preview_key.is_some(),
        preview_key,
    })
}

/// Points the proxy's preview at the new release: the key a request carries to reach it; None
/// when the driver has no preview.
fn show_preview(ctx: &Ctx, new: &[Instance]) -> Result<Option<String>> {
    if !ctx.proxied() {
        return Ok(None);
    }
    ctx.ensure_proxy()?;
    let upstreams: Vec<_> = new.iter().map(|i| i.upstream(ctx.route_port)).collect();
    let key = ctx.proxy.preview(&upstreams)?;
    if let Some(key) = &key {
        ctx.progress.info(&format!(
            "preview: requests with the header `{}: {key}` reach {} (`docker flow status` shows it again); everything else still goes to the live release",
            crate::proxy::PREVIEW_HEADER,
            instance::names(new)
        ));
    }
    Ok(key)
}
