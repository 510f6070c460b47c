//! The command line as clap sees it.
//!
//! The subcommands are declared here; the options are declared once, in `settings`, and added
//! to the command from there. Every option is read raw (strings), from the flag or its `FLOW_*`
//! variable; `settings` layers them over `docker-flow.yml` and the defaults and validates them,
//! so that one place knows each value's source and one place turns text into typed settings.

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "docker flow",
    version,
    about = "Zero-downtime blue-green deployment, relative scaling and proxy reconfiguration for Docker Compose projects",
    long_about = None,
    after_help = "Settings come from defaults < ./docker-flow.yml < FLOW_* environment < flags.\n\
                  Exit codes: 0 success, 1 a flow failed, 2 usage or configuration error, 3 environment error,\n\
                  4 the project is locked by another run."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy the next release of the target: start it, wait for health, switch the proxy, stop the old.
    Deploy,
    /// Scale the live release: N, +N or -N instances.
    Scale {
        /// N (absolute), +N or -N (relative to the running count).
        #[arg(allow_hyphen_values = true, value_name = "N|+N|-N")]
        count: Option<String>,
    },
    /// Point the proxy at the live release (or the newest deployed one after `--flow=deploy`).
    Proxy,
    /// Stop the release the proxy no longer routes to.
    StopOld,
    /// Bring the previous release back and make it live.
    Rollback,
    /// Show the target's releases, their instances and the proxy routes.
    Status,
    /// Show the resolved settings and where each came from.
    Config,
}

/// The whole command line: the subcommands, and every option as `settings` declares it.
pub(crate) fn command() -> clap::Command {
    Cli::command().args(crate::settings::Key::ALL.iter().map(|k| k.arg()))
}
