//! The test step (the seed's planned `test`): the user's `--test-cmd` runs against the release
//! the proxy step would promote, once it is healthy and before any traffic reaches it. Exit 0
//! lets the run go on; anything else ends it with exit 1 and removes that release if it never
//! served, so the live one keeps serving untouched.

use super::outcome::{History, Outcome};
use super::Ctx;
use crate::error::{Error, Result};
use crate::hooks;
use crate::instance;

pub(super) fn run(ctx: &Ctx, done: &History) -> Result<Outcome> {
    let step = ctx.progress.step("test");
    let deployed_here = done.deployed().is_some();
    let candidate = ctx.to_promote(done)?;
    if candidate.is_empty() {
        return Err(Error::flow(
            format!("no release of `{}` to test", ctx.target),
            "deploy one first: `docker flow --flow=deploy --flow=test`",
        ));
    }
    let argv = &ctx.settings.test_cmd;
    if ctx.engine.planned(format!(
        "test {} with: {}",
        instance::names(&candidate),
        argv.join(" ")
    )) {
        step.done();
        return Ok(Outcome::Tested {
            instances: candidate,
        });
    }
    ctx.progress.info(&format!(
        "testing {}: {}",
        instance::names(&candidate),
        argv.join(" ")
    ));
    let mut vars = super::facts(ctx, "test", &candidate, None)?;
    if let Some(key) = done.deployed().and_then(|d| d.preview_key.as_deref()) {
        // The test can go through the proxy, as users will, with the preview header.
        vars.push((
            "DOCKER_FLOW_PREVIEW_HEADER".into(),
            format!("{}: {key}", crate::proxy::PREVIEW_HEADER),
        ));
    }
    let code = hooks::run(argv, &ctx.dir, &vars, "test", ctx.progress.mode())?;
    if code != 0 {
        // A release that never served goes, as an unhealthy one does; one that serves stays.
        let serves = match ctx.proxy.current()? {
            Some(routed) => candidate.iter().any(|i| routed.iter().any(|u| i.is(u))),
            None => !deployed_here,
        };
        let what = if serves {
            "the release it tested serves and was kept".to_string()
        } else {
            ctx.progress.info("removing the tested release");
            ctx.remove_unserved(&candidate)?;
            "the tested release was removed; the live one keeps serving".to_string()
        };
        return Err(Error::flow(
            format!("the test command failed (exit {code}): {what}"),
            "its output is above; fix the release, or the test (--test-cmd / test_cmd)",
        ));
    }
    step.done();
    Ok(Outcome::Tested {
        instances: candidate,
    })
}
