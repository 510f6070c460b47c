//! `DOCKER_FLOW_TRACE=1`: where a run's time goes. Each docker command docker flow runs is
//! written to stderr as it ends, with how long it took and when it started (from the run's
//! start), named by its subcommand only (`compose up`, `network connect`, `exec … swap`): never
//! its arguments, which may carry what a user keeps private. `make bench` reads it to show
//! what a deploy spends its own time on; a user reads it to see why a run is slow.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Instant;

/// When the run started (the first thing `run` does is ask), and whether tracing is on.
static STATE: OnceLock<(Instant, bool)> = OnceLock::new();

fn state() -> (Instant, bool) {
    *STATE.get_or_init(|| {
        let on = std::env::var("DOCKER_FLOW_TRACE").is_ok_and(|v| !v.is_empty() && v != "0");
        (Instant::now(), on)
    })
}

/// Marks the run's start (times in the trace count from it).
pub(crate) fn start() {
    state();
}

/// The docker command `args` (docker's global flags aside) ended; it started at `since`.
pub(crate) fn command(args: &[String], since: Instant) {
    let (start, on) = state();
    if !on {
        return;
    }
    let line = format!(
        "docker-flow trace: {:>7.1} ms  at {:>6.3} s  docker {}\n",
        since.elapsed().as_secs_f64() * 1000.0,
        since.saturating_duration_since(start).as_secs_f64(),
        name(args)
    );
    // A closed stderr is no reason to stop the run.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Subcommands of `docker compose` (the first of these in its arguments is the one it runs).
const COMPOSE: &[&str] = &[
    "build", "config", "create", "down", "exec", "logs", "ps", "pull", "restart", "rm", "run",
    "start", "stop", "up", "version",
];
/// docker's management commands, whose second word is the verb (`network connect`).
const GROUPS: &[&str] = &[
    "container",
    "context",
    "image",
    "network",
    "node",
    "secret",
    "service",
    "stack",
    "system",
    "volume",
];
/// The helper's commands, named after `exec` (`exec … swap`): which helper call took the time.
const HELPER: &[&str] = &[
    "admin",
    "append",
    "certs",
    "drain",
    "get",
    "hold",
    "listening",
    "probe",
    "read",
    "set",
    "settle",
    "standby",
    "swap",
    "unset",
];

/// The command's name, from its subcommands only.
fn name(args: &[String]) -> String {
    let first = args.first().map(String::as_str).unwrap_or_default();
    let known = |set: &[&str]| {
        args.iter()
            .skip(1)
            .find(|a| set.contains(&a.as_str()))
            .cloned()
    };
    match first {
        "compose" => match known(COMPOSE) {
            Some(sub) => format!("compose {sub}"),
            None => "compose".into(),
        },
        group if GROUPS.contains(&group) => match args.get(1) {
            Some(verb) if !verb.starts_with('-') => format!("{group} {verb}"),
            _ => group.into(),
        },
        "exec" | "run" => match known(HELPER) {
            Some(cmd) => format!("{first} … {cmd}"),
            None => first.into(),
        },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(line: &str) -> String {
        let args: Vec<String> = line.split(' ').map(String::from).collect();
        name(&args)
    }

    #[test]
    fn a_command_is_named_by_its_subcommands_only() {
        assert_eq!(
            named("compose --env-file .env -p shop -f - up -d --no-deps app-green"),
            "compose up"
        );
        assert_eq!(
            named("compose -f a.yaml config --format json"),
            "compose config"
        );
        assert_eq!(
            named("network connect --alias app shop_default proxy"),
            "network connect"
        );
        assert_eq!(
            named("exec shop-proxy /docker-flow/helper-1 swap /routes app.shop.dflow"),
            "exec … swap"
        );
        assert_eq!(
            named("run --rm --label secret=hunter2 img probe 2000 10.0.0.2:80"),
            "run … probe"
        );
        assert_eq!(named("exec -it shop-app-1 sh -c hunter2"), "exec");
        assert_eq!(named("ps -a -q --filter label=x"), "ps");
        assert_eq!(named("stop --time 10 shop-app-1"), "stop");
    }
}
