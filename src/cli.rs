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
    after_help = "Each command's options: `docker flow COMMAND --help`. An option may also stand before the\n\
                  command, and Docker Flow 1.x's `docker flow --flow=deploy --flow=proxy …` takes every option.\n\
                  Settings come from defaults < docker-flow.yml < FLOW_* environment < flags.\n\
                  Exit codes: 0 success, 1 a flow failed, 2 usage or configuration error, 3 environment error,\n\
                  4 the project is locked by another run."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Deploy the next release: start it, wait for health, switch the proxy, stop the old.
    #[command(after_help = "Examples:
  docker flow deploy -t web --blue-green --service-path /api
  docker flow deploy --scale +2            one more pair of instances than run now
  docker flow deploy --dry-run --format json
  docker flow deploy --no-promote          a preview: send X-Docker-Flow-Preview with the key it prints
  docker flow deploy --canary 1            one new instance shares traffic with the live ones
  docker flow deploy web                   the service web (as -t web)")]
    Deploy {
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Make a staged or canary release live, then stop the old.
    #[command(after_help = "Examples:
  docker flow deploy --no-promote && ./smoke.sh && docker flow promote
  docker flow deploy --canary 25% && sleep 600 && docker flow promote")]
    Promote {
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Remove a staged or canary release; the live release keeps serving.
    #[command(after_help = "Examples:
  docker flow abort
  docker flow abort web")]
    Abort {
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Scale the live release: N, +N or -N instances.
    #[command(after_help = "Examples:
  docker flow scale 4
  docker flow scale +2
  docker flow scale web -1                 the service web (as -t web)")]
    Scale {
        /// N (absolute), +N or -N (relative to the running count); or the Compose service (as
        /// `-t`), then N.
        #[arg(allow_negative_numbers = true, value_name = "SERVICE|N")]
        first: Option<String>,
        /// N, +N or -N, after the service.
        #[arg(allow_negative_numbers = true, value_name = "N")]
        count: Option<String>,
    },
    /// Point the proxy at the live release (or the newest deployed one).
    #[command(after_help = "Examples:
  docker flow proxy                        route to the live release again
  docker flow --flow=deploy && docker flow proxy && docker flow stop-old")]
    Proxy {
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Stop the release the proxy no longer routes to.
    #[command(after_help = "Examples:
  docker flow stop-old
  docker flow stop-old --drain-timeout 2m")]
    StopOld {
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Bring the previous release back live (or one `history` lists, with --to).
    #[command(after_help = "Examples:
  docker flow rollback
  docker flow rollback --dry-run
  docker flow rollback --to 1764235200123-4242   a release id from `docker flow history`")]
    Rollback {
        /// The release to bring back (an id `docker flow history` lists; its image must still be
        /// on the engine). Default: the previous release.
        #[arg(long, value_name = "RELEASE")]
        to: Option<String>,
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Show the target's releases, their instances and the proxy routes.
    #[command(after_help = "Examples:
  docker flow status                       every target docker flow deployed in the project
  docker flow status web --format json")]
    Status {
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// List the target's releases, newest first: id, colour, image, when, command, outcome.
    #[command(after_help = "Examples:
  docker flow history
  docker flow history web --format json")]
    History {
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Show the live release's logs, whatever its colour.
    #[command(after_help = "Examples:
  docker flow logs --follow --tail 20
  docker flow logs --all --since 10m       both colours, each line prefixed by its instance
  docker flow -f prod.yaml logs -f         -f after the command is --follow, as in Compose")]
    Logs {
        /// Follow the output.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Lines from the end of each instance's logs (a number, or `all`).
        #[arg(short = 'n', long, value_name = "N")]
        tail: Option<String>,
        /// Logs since a time (2026-11-27T10:00:00Z) or a duration back (42m).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Show timestamps.
        #[arg(long)]
        timestamps: bool,
        /// Every instance of the target, both colours, not only the live release's.
        #[arg(long)]
        all: bool,
        /// The Compose service (as `-t`).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
    },
    /// Run a command in an instance of the live release, whatever its colour.
    #[command(after_help = "Examples:
  docker flow exec web sh                  in the service web (as docker compose exec)
  docker flow exec -- sh                   in the target (-t, or docker-flow.yml's)
  docker flow exec --index 2 -T -- cat /etc/hostname")]
    Exec {
        /// Which instance of the live release (1: the first by name).
        #[arg(long, default_value_t = 1, value_name = "N")]
        index: usize,
        /// Do not allocate a pseudo-terminal (the default off a terminal).
        #[arg(short = 'T', long = "no-tty")]
        no_tty: bool,
        /// Run as this user.
        #[arg(short, long)]
        user: Option<String>,
        /// Run in this directory.
        #[arg(short, long)]
        workdir: Option<String>,
        /// Set an environment variable (repeatable).
        #[arg(short, long, value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// `SERVICE COMMAND [ARGS…]` as `docker compose exec` takes them, or `-- COMMAND [ARGS…]`
        /// in the target.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, num_args = 1.., value_name = "SERVICE COMMAND")]
        command: Vec<String>,
    },
    /// Take the project down as `docker compose down`, its releases and routes too.
    #[command(after_help = "Examples:
  docker flow down
  docker flow down --volumes               also the project's named volumes and its history
  docker flow down --proxy                 also the proxy, unless another project has routes in it")]
    Down {
        /// Remove the project's named volumes too (and its release history), as `docker compose
        /// down --volumes`; with --proxy, the proxy's volumes (its certificates) too.
        #[arg(short = 'v', long)]
        volumes: bool,
        /// Remove the proxy too, when no other project has a route in it any more.
        #[arg(long = "proxy")]
        remove_proxy: bool,
    },
    /// Serve a maintenance page (503) on the project's routes; `off` ends it.
    #[command(after_help = "Examples:
  docker flow maintenance on --message 'Back at 14:00'
  docker flow maintenance off
  docker flow maintenance on web           only web's route")]
    Maintenance {
        /// on or off.
        #[arg(value_enum)]
        state: Switch,
        /// Only this service's route (every route of the project without it).
        #[arg(value_name = "SERVICE")]
        service: Option<String>,
        /// The page's text (a short notice by default).
        #[arg(long, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Show the resolved settings and where each came from (takes every option).
    #[command(after_help = "Examples:
  docker flow config
  docker flow config --scale +1 --format json")]
    Config,
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    #[command(after_help = "Examples:
  docker flow completion bash > /etc/bash_completion.d/docker-flow
  docker flow completion zsh > \"${fpath[1]}/_docker-flow\"")]
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Show docker flow's version, commit and helper build.
    #[command(after_help = "Examples:
  docker flow version
  docker flow --version")]
    Version,
    /// Remove the project's deploy lock, saying whose it was.
    #[command(after_help = "Examples:
  docker flow unlock
  docker flow unlock -p shop")]
    Unlock,
}

/// The last lines of each command's help: where the options it does not list, and each
/// option's variable and key, are.
const EVERY_OPTION: &str =
    "Each option is also FLOW_<OPTION> and a docker-flow.yml key; `docker flow config --help` lists all.";

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Switch {
    On,
    Off,
}

/// The whole command line: the subcommands, each offering the options that apply to it, and
/// the top level taking every option (hidden from its help, which lists the commands).
pub(crate) fn command() -> clap::Command {
    use crate::settings::Key;
    let mut cmd = Cli::command()
        .bin_name("docker flow")
        .version(long_version())
        .args(Key::ALL.iter().map(|k| k.arg().hide(true)));
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(&name, |mut sub| {
            for key in Key::ALL
                .iter()
                .filter(|k| k.spec().commands.contains(&name.as_str()))
            {
                // Accepted either way; listed only where the command's user reaches for it.
                let mut arg = key.arg().hide(!key.shown_in(&name));
                // A command's own short flag wins (`logs -f` is --follow, as in Compose); the
                // option keeps its long name and its place before the command.
                if let Some(c) = arg.get_short() {
                    if sub.get_arguments().any(|a| a.get_short() == Some(c)) {
                        arg = arg.short(None);
                    }
                }
                sub = sub.arg(arg);
            }
            let examples = sub
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            // `-h` among the output options, not under a heading of its own.
            sub.disable_help_flag(true)
                .arg(
                    clap::Arg::new("help")
                        .short('h')
                        .long("help")
                        .action(clap::ArgAction::Help)
                        .help("Print help")
                        .help_heading("Output"),
                )
                .after_help(format!("{examples}\n\n{EVERY_OPTION}"))
        });
    }
    cmd
}

/// The command line named as the binary a completion script completes. clap_complete builds
/// the script's function names from each command's `bin_name`: the space in `docker flow` must
/// go, and for bash the commands below the top are named with the top's `-` already turned into
/// `__` (clap_complete 4.6 turns it into `__` where it dispatches a command but into
/// `__subcmd__` where it lists a command's options, so `docker-flow status <TAB>` offered
/// nothing; giving it no `-` there makes both the same).
pub(crate) fn completed_as(bin: &str, shell: clap_complete::Shell) -> clap::Command {
    fn rename(cmd: clap::Command, prefix: &str) -> clap::Command {
        let names: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        let mut cmd = cmd;
        for name in names {
            let sub_bin = format!("{prefix} {name}");
            cmd = cmd.mut_subcommand(&name, |s| rename(s.bin_name(sub_bin.clone()), &sub_bin));
        }
        cmd
    }
    let prefix = match shell {
        clap_complete::Shell::Bash => bin.replace('-', "__"),
        _ => bin.to_string(),
    };
    // Built first, so that clap's own `help` command (added by the build) is renamed too.
    let mut cmd = command().name(bin.to_string()).bin_name(bin);
    cmd.build();
    rename(cmd, &prefix)
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

/// `-b true`: a boolean option takes its value after `=`, so `true` (or `false`) stands alone
/// where clap reads a command or a service: the fix, when the word before it is a boolean flag.
pub(crate) fn boolean_after_space(argv: &[String], v: &str) -> Option<String> {
    if !matches!(v, "true" | "false") {
        return None;
    }
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
        .and_then(|v| boolean_after_space(argv, v));
    // An option of docker flow given after a command that does not take it.
    let sub = argv
        .iter()
        .skip(1)
        .find(|a| command().find_subcommand(a.as_str()).is_some());
    let elsewhere = unexpected
        .as_deref()
        .and_then(|u| crate::settings::option_named(u))
        .zip(sub);
    if let Some((long, sub)) = elsewhere {
        if long == "flow" {
            return Err(crate::error::Error::usage(
                "--flow cannot be combined with a subcommand",
                crate::FLOW_OR_COMMAND,
            ));
        }
        return Err(crate::error::Error::usage(
            format!("`--{long}` is not an option of `docker flow {sub}`"),
            format!("`docker flow {sub} --help` lists the options it takes"),
        ));
    }
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
    fn each_commands_help() {
        for sub in super::command().get_subcommands() {
            let name = sub.get_name();
            if name == "help" {
                continue;
            }
            let text = help(&[name]);
            assert!(
                text.contains("\nExamples:\n"),
                "{name} has no examples:\n{text}"
            );
            insta::assert_snapshot!(format!("help_{name}"), text);
        }
    }

    #[test]
    fn a_command_offers_only_the_options_that_apply_to_it() {
        let status = help(&["status"]);
        for deploy_only in [
            "--blue-green",
            "--scale",
            "--pull",
            "--switch-mode",
            "--service-path",
            "--drain-timeout",
            "--health-timeout",
            "--dry-run",
            "--consul-template-fe-path",
            "--flow",
        ] {
            assert!(!status.contains(deploy_only), "status offers {deploy_only}");
        }
        let deploy = help(&["deploy"]);
        for heading in [
            "Project:",
            "Release:",
            "Proxy:",
            "Health and timing:",
            "HTTPS (routes with --service-domain, Caddy driver):",
            "Output:",
        ] {
            assert!(deploy.contains(heading), "deploy's help has no {heading}");
        }
        // Each help within its budget: what a user of the command reaches for; the rest (the
        // Docker connection, Docker Flow 1.x's, the proxy container's own) in `config`'s, and
        // still taken by every command that took it.
        for (command, most) in [("deploy", 100), ("abort", 45), ("status", 45)] {
            let lines = help(&[command]).lines().count();
            assert!(lines <= most, "{command} --help is {lines} lines");
        }
        assert!(!deploy.contains("--proxy-name") && !deploy.contains("Docker connection:"));
        let config = help(&["config"]);
        assert!(config.contains("Docker connection:") && config.contains("--proxy-name"));
        assert!(super::command()
            .try_get_matches_from([
                "docker-flow",
                "deploy",
                "--proxy-name",
                "p",
                "-H",
                "unix:///x"
            ])
            .is_ok());
        // The top level lists the commands and fits on a screen.
        assert!(help(&[]).lines().count() <= 40);
        // `logs -f` is --follow, as in Compose; the Compose file is still --compose-path there.
        let logs = help(&["logs"]);
        assert!(
            logs.contains("-f, --follow") && logs.contains("    --compose-path"),
            "{logs}"
        );
    }
}
