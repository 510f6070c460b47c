//! docker flow's helper: the one program docker flow runs inside containers.
//!
//! A crate of its own in docker flow's workspace (so `cargo test` and clippy cover it), std only:
//! docker flow's `build.rs` compiles this file on its own, statically linked, and embeds it and imports it as a one-file image
//! (`docker-flow-helper`) when it first needs it, so nothing is pulled from a registry.
//!
//! - `probe`: checks instances from inside their network (health gates without a healthcheck).
//! - `listening`: the TCP sockets listening in an instance's network namespace (why a health
//!   gate failed: the app on its loopback only, or on another port).
//! - `set`, `get`: the rotation, the DNS records the proxy resolves its upstreams from.
//! - `standby`, `swap`, `settle`: a release kept warm beside a record, swapped in by a rollback.
//! - `proxy`: the Caddy proxy container's first process: serves the rotation on the container's
//!   loopback and runs Caddy.
//! - `admin`, `drain`: Caddy's admin API, which listens on the proxy container's loopback only.
//! - `hold`: the deploy lock's process, running exactly as long as its holder.
//! - `append`, `read`: the release history on the project's history volume.
//! - `certs`: which domains the proxy's Caddy holds a certificate for.
//! - `follow`: on Swarm mode, keeps routes' records on the tasks Swarm runs (its own container,
//!   with the engine's socket); with `--serve`, also serves them and Caddy's config to the proxy
//!   service's replicas, whose `proxy --sync` copies them (`replicas`).

mod admin;
mod certs;
mod dns;
mod follow;
mod hold;
mod http;
mod journal;
mod json;
mod listening;
mod probe;
mod replicas;
mod seal;
// docker flow's half of the protocol (the parsers) is used by docker flow, through the library.
#[allow(dead_code)]
mod protocol;
mod standby;
mod supervise;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!(
            "usage: helper probe|set|unset|get|standby|swap|settle|proxy|admin|drain|hold|append|read|certs|follow|control-key|listening ..."
        );
        return ExitCode::from(2);
    };
    match command.as_str() {
        "probe" => probe::run(rest),
        "set" => dns::set(rest),
        "unset" => dns::unset(rest),
        "get" => dns::get(rest),
        "standby" => standby::standby(rest),
        "swap" => standby::swap(rest),
        "settle" => standby::settle(rest),
        "proxy" => supervise::run(rest),
        "admin" => admin::run(rest),
        "drain" => admin::drain(rest),
        "hold" => hold::run(rest),
        "append" => journal::append(rest),
        "read" => journal::read(rest),
        "certs" => certs::run(rest),
        "follow" => follow::run(rest),
        "control-key" => replicas::print_key(rest),
        "listening" => listening::run(rest),
        other => {
            eprintln!("helper: unknown command `{other}`");
            ExitCode::from(2)
        }
    }
}
