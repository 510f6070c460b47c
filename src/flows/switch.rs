//! The proxy and stop-old steps: promote a healthy release, drain the old one, then stop it.
//!
//! Order is the guarantee: the old release is stopped only after the new one is healthy and in
//! the proxy, and requests in flight to the old one have finished (or `--drain-timeout` passed).

use super::outcome::{History, Outcome};
use super::Ctx;
use crate::error::{Error, Result};
use crate::hooks::{Hook, Hooks};
use crate::instance;

pub(super) fn proxy(ctx: &Ctx, done: &History, hooks: &Hooks) -> Result<Outcome> {
    let step = ctx.progress.step("proxy");
    let new = ctx.to_promote(done)?;
    if new.is_empty() {
        return Err(Error::flow(
            format!("no running instance of `{}` to route to", ctx.target),
            "deploy first: `docker flow deploy`",
        ));
    }
    // The last word before traffic moves: a failing pre-promote hook removes what this run
    // deployed (it never served), as a failed health check does.
    if let Err(code) = super::run_hook(ctx, hooks, Hook::PrePromote, &new, None) {
        let what = match done.deployed() {
            Some(d) => {
                ctx.progress.info("removing the new instances");
                ctx.remove_unserved(&d.new)?;
                "the new release was removed; the live one keeps serving"
            }
            None => "the proxy was not changed",
        };
        return Err(super::failed_hook(Hook::PrePromote, code, what));
    }
    let routed = ctx.route_to(&new)?;
    clear_preview(ctx, done)?;
    // What depends on the target starts once it serves (and, with the proxy, answers its name).
    ctx.orchestrator
        .start_dependents(new.first().and_then(|i| i.color))?;
    step.done();
    Ok(Outcome::Routed(routed))
}

/// Once the release the preview showed serves everyone, the preview shows nothing. Asked of
/// the proxy only when this run previewed, or deployed nothing (a staged release, promoted).
pub(super) fn clear_preview(ctx: &Ctx, done: &History) -> Result<()> {
    if done.deployed().is_some_and(|d| !d.previewed) {
        return Ok(());
    }
    if !ctx.proxy.previewed()?.is_empty() {
        ctx.proxy.preview(&[])?;
    }
    Ok(())
}

/// Stops a release kept warm by `--keep-old` once its time is up: what "the next docker flow
/// command" does (docker flow runs no daemon of its own to do it on time).
pub(super) fn expire_warm(ctx: &Ctx) -> Result<()> {
    if !ctx.settings.blue_green {
        return Ok(());
    }
    let releases = ctx.releases()?;
    let warm = releases.warm();
    if warm.is_empty() || releases.warm_until(std::time::SystemTime::now()).is_some() {
        return Ok(());
    }
    ctx.progress.info(&format!(
        "stopping {} (kept by --keep-old; its time is up)",
        instance::names(&warm)
    ));
    ctx.take_out(&warm)
}

pub(super) fn stop_old(ctx: &Ctx, done: &History) -> Result<Outcome> {
    let step = ctx.progress.step("stop-old");
    let routed = match done.routed() {
        Some(up) => Some(up.to_vec()),
        None => ctx.proxy.current()?,
    };
    let releases = ctx.releases_routed(routed)?;
    // What serves now: what the proxy routes to, else what this run deployed, else the newest
    // running release. A dry run routed nothing: what it deployed is what would serve.
    let deployed = done.deployed().map(|d| d.key());
    let serving = match deployed {
        Some(d) if ctx.engine.dry_run() => vec![d],
        d => releases.serving(d),
    };
    let blue_green = ctx.settings.blue_green;
    let old = if serving.is_empty() {
        ctx.progress.info("nothing serves yet; nothing stopped");
        Vec::new()
    } else {
        releases.old(&serving)
    };
    let warm = releases
        .warm_until(std::time::SystemTime::now())
        .filter(|_| blue_green && !old.is_empty() && old.iter().all(|i| i.color.is_some()));
    if let Some(until) = warm {
        // `--keep-old`: out of rotation (it serves nothing) but running, for a rollback that
        // only switches. The next command after `until` stops it (`expire_warm`).
        ctx.progress.info(&format!(
            "keeping {} running out of rotation until {} (--keep-old): a rollback before then only switches",
            instance::names(&old),
            humantime::format_rfc3339_seconds(until)
        ));
        if let Err(e) = ctx.proxy.keep_warm(&old, until) {
            ctx.progress.warn(&e.to_string());
        }
        step.done();
        return Ok(Outcome::KeptWarm {
            instances: old,
            until: humantime::format_rfc3339_seconds(until).to_string(),
        });
    }
    if old.is_empty() {
        if !serving.is_empty() {
            ctx.progress.info("no old instance runs");
        }
    } else if blue_green && old.iter().all(|i| i.color.is_some()) {
        ctx.progress.info(&format!(
            "stopping {} (kept for rollback)",
            instance::names(&old)
        ));
        ctx.take_out(&old)?;
    } else {
        // Without blue-green, or converting a plain target to it (`--switch-mode`): an instance
        // without a colour is no release a rollback starts again.
        ctx.progress
            .info(&format!("removing {}", instance::names(&old)));
        ctx.take_out(&old)?;
        ctx.orchestrator.remove(&old)?;
    }
    step.done();
    Ok(Outcome::Stopped {
        removed: !blue_green || old.iter().any(|i| i.color.is_none()),
        instances: old,
    })
}
