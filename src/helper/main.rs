//! docker flow's helper: the one program docker flow runs inside containers.
//!
//! It is not part of the `docker-flow` crate's code: `build.rs` compiles it on its own, std only
//! and statically linked, and docker flow embeds it and imports it as a one-file image
//! (`docker-flow-helper`) when it first needs it, so nothing is pulled from a registry.
//!
//! - `probe`: checks instances from inside their network (health gates without a healthcheck).
//! - `dns`, `set`, `get`: the rotation, the DNS records the proxy resolves its upstreams from.

mod dns;
mod probe;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("usage: helper probe|dns|set|get ...");
        return ExitCode::from(2);
    };
    match command.as_str() {
        "probe" => probe::run(rest),
        "dns" => dns::serve(rest),
        "set" => dns::set(rest),
        "get" => dns::get(rest),
        other => {
            eprintln!("helper: unknown command `{other}`");
            ExitCode::from(2)
        }
    }
}
