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
    /// Show docker flow's version, commit and helper build.
    Version,
    /// Remove the project's deploy lock, saying whose it was (a lock follows its holder, so this
    /// is for a lock docker flow cannot prove dead).
    Unlock,
}

/// The whole command line: the subcommands, and every option as `settings` declares it.
pub(crate) fn command() -> clap::Command {
    Cli::command()
        .version(long_version())
        .args(crate::settings::Key::ALL.iter().map(|k| k.arg()))
}

/// `0.1.0 (commit 0a63540, helper 0.1.0-3f2c…)`: what `version` and `--version` print.
pub(crate) fn long_version() -> String {
    format!(
        "{} (commit {}, helper {})",
        env!("CARGO_PKG_VERSION"),
        env!("DOCKER_FLOW_COMMIT"),
        crate::helper::build_id()
    )
}

/// What a command line clap cannot parse gets: help and version on stdout (exit 0), otherwise
/// clap's message without its generic tip, and one help line that fits the mistake.
pub(crate) fn refuse(e: clap::Error, argv: &[String]) -> crate::error::Result<()> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let text = e.to_string();
        crate::report::print(&text, || text.clone(), false);
        return Ok(());
    }
    let text = e.to_string();
    let message: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("For more information, try"))
        .collect();
    let message = message
        .join("\n")
        .trim()
        .trim_start_matches("error: ")
        .to_string();
    // The word clap could not place: an argument, or (first) a would-be subcommand.
    let unexpected = [ContextKind::InvalidArg, ContextKind::InvalidSubcommand]
        .into_iter()
        .find_map(|k| match e.get(k) {
            Some(ContextValue::String(v)) => Some(v.clone()),
            _ => None,
        });
    // `-b true`: a boolean option takes its value after `=`, so `true` was read as a command.
    let boolean = unexpected
        .as_deref()
        .filter(|v| matches!(*v, "true" | "false"))
        .and_then(|v| {
            let at = argv.iter().position(|a| a == v)?;
            let flag = crate::settings::boolean_flag(argv.get(at.checked_sub(1)?)?)?;
            Some(format!(
                "a boolean option takes its value after `=`: write `--{flag}={v}`{}",
                if v == "true" {
                    format!(", or `--{flag}` alone")
                } else {
                    String::new()
                }
            ))
        });
    Err(crate::error::Error::Usage {
        message,
        help: Some(
            boolean
                .unwrap_or_else(|| "run `docker flow --help` for the commands and options".into()),
        ),
    })
}

#[cfg(test)]
mod tests {
    /// The help as a user reads it, at a fixed width: any change to it shows in review.
    fn help(args: &[&str]) -> String {
        let mut cmd = super::command().term_width(100);
        let mut argv = vec!["docker flow"];
        argv.extend_from_slice(args);
        argv.push("--help");
        match cmd.try_get_matches_from_mut(argv) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("--help did not print the help"),
        }
    }

    #[test]
    fn the_top_level_help() {
        insta::assert_snapshot!(help(&[]));
    }

    #[test]
    fn the_deploy_help() {
        insta::assert_snapshot!(help(&["deploy"]));
    }
}
