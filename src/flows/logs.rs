//! `docker flow logs`: the live release's logs, whatever its colour (`--all`: every instance of
//! the target), as `docker compose logs` shows a service's.

use std::io::{BufRead, BufReader, Write};

use super::Ctx;
use crate::engine::args;
use crate::error::{Error, Result};
use crate::instance::Instance;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogsOptions {
    pub follow: bool,
    pub tail: Option<String>,
    pub since: Option<String>,
    pub timestamps: bool,
    pub all: bool,
}

pub(super) fn run(ctx: &Ctx, o: &LogsOptions) -> Result<()> {
    let instances = chosen(ctx, o.all)?;
    let mut a = args(&["logs"]);
    if o.follow {
        a.push("--follow".into());
    }
    if let Some(n) = &o.tail {
        a.extend(["--tail".to_string(), n.clone()]);
    }
    if let Some(t) = &o.since {
        a.extend(["--since".to_string(), t.clone()]);
    }
    if o.timestamps {
        a.push("--timestamps".into());
    }
    if let [one] = instances.as_slice() {
        if !o.all {
            // One instance: docker's own output, untouched (stdout and stderr kept apart).
            a.push(one.name.clone());
            return ctx.engine.interactive(&a);
        }
    }
    // Several: each instance's lines as they come, prefixed by its name, as Compose does.
    let width = instances.iter().map(|i| i.name.len()).max().unwrap_or(0);
    let mut readers = Vec::new();
    for i in &instances {
        let mut a = a.clone();
        a.push(i.name.clone());
        readers.push((i.name.clone(), ctx.engine.lines(&a)?));
    }
    std::thread::scope(|scope| {
        for (name, reader) in readers {
            scope.spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    let mut out = std::io::stdout().lock();
                    // A reader that stops early (`| head`) ends the output, not an error.
                    if writeln!(out, "{name:width$} | {line}").is_err() {
                        break;
                    }
                }
            });
        }
    });
    Ok(())
}

/// The live release's instances (`all`: every instance, stopped ones included), by name.
pub(super) fn chosen(ctx: &Ctx, all: bool) -> Result<Vec<Instance>> {
    let releases = ctx.releases_routed(ctx.proxy.current().ok().flatten())?;
    let mut instances = if all {
        releases.all().to_vec()
    } else {
        releases.live()
    };
    if instances.is_empty() {
        return Err(Error::flow(
            format!(
                "no release of `{}` {}",
                ctx.target,
                if all { "exists" } else { "runs" }
            ),
            "deploy it first: `docker flow deploy`; `docker flow status` shows what there is",
        ));
    }
    instances.sort_by(|a, b| natural(&a.name).cmp(&natural(&b.name)));
    Ok(instances)
}

/// `web-blue-10` after `web-blue-9`: names compared by their text, then their trailing number.
fn natural(name: &str) -> (&str, u64) {
    match name.rsplit_once('-') {
        Some((stem, n)) if n.parse::<u64>().is_ok() => (stem, n.parse().unwrap_or(0)),
        _ => (name, 0),
    }
}
