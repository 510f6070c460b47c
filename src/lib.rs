//! docker flow: zero-downtime blue-green deployment, relative scaling and proxy reconfiguration
//! for Docker Compose projects, as a docker CLI plugin.
//!
//! `run` is the whole program: split docker's argv, resolve and validate settings, then run the
//! requested command. See docs/ARCHITECTURE.md for how a deploy flows through the modules.

// Errors carry their source snippet for miette; their size does not matter on this cold path.
#![allow(clippy::result_large_err)]
// Everything but `run` is private to the crate: what is not used shows as dead code.
#![warn(unreachable_pub)]

mod argv;
mod cancel;
mod cli;
mod complete;
mod compose;
mod containers;
mod dependencies;
mod engine;
mod error;
mod flows;
mod health;
mod helper;
mod history;
mod hooks;
mod instance;
mod lock;
mod man;
mod metadata;
mod model;
mod orchestrator;
mod platform;
mod probe;
mod progress;
mod project_files;
mod proxy;
mod registry;
mod releases;
mod report;
mod settings;
mod trace;

use std::process::ExitCode;

use clap::FromArgMatches;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use crate::settings::{Format, Step};

/// What the user asked for, after settings are validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Steps(Vec<Step>),
    /// Make a staged or canary release live.
    Promote,
    /// Remove a staged or canary release.
    Abort,
    /// `rollback`, or `rollback --to RELEASE`.
    Rollback(Option<String>),
    History,
    Status,
    Logs(flows::logs::LogsOptions),
    Exec(flows::exec::ExecOptions),
    Completion(clap_complete::Shell),
    Config,
    /// `docker flow` alone: the help, as Compose does.
    Help,
    Version,
    Unlock,
    /// `docker flow down`.
    Down(flows::down::DownOptions),
    /// `docker flow maintenance on|off`.
    Maintenance(flows::maintenance::MaintenanceOptions),
}

/// The fix for `--flow` with a subcommand.
const FLOW_OR_COMMAND: &str = "use either `docker flow deploy` (or scale, proxy, stop-old) or `docker flow --flow=deploy --flow=…`, not both; check FLOW and docker-flow.yml's `flow` too";

/// `--ansi` as resolved, for the error message (which may come before or after resolution).
static ANSI: std::sync::OnceLock<settings::Ansi> = std::sync::OnceLock::new();

/// Whether the run's result is JSON (`--format json`), once the settings say so: a failure then
/// prints a JSON error on stdout too.
static JSON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Runs docker flow with the process's arguments and environment; returns the exit code.
pub fn run() -> ExitCode {
    trace::start();
    std::panic::set_hook(Box::new(|info| {
        // A panic is docker flow's bug, never the user's: say so, with what a report needs,
        // and no backtrace.
        progress::say(format_args!(
            "docker flow {} hit a bug: {info}\nplease report it with the command that led here (exit code {BUG})\n",
            env!("CARGO_PKG_VERSION"),
        ));
    }));
    let args: Vec<String> = std::env::args().skip(1).collect();
    // A bug's panic ends in a documented exit code, not Rust's 101.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_with(&args)))
        .unwrap_or_else(|_| {
            Err(Error::Exited {
                command: String::new(),
                code: BUG,
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::Exited { code, .. }) => ExitCode::from(code),
        Err(e) => {
            let code = e.exit_code();
            // Unwrapped lines off a terminal, so logs and tests see each message whole.
            let wrap = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let ansi = ANSI
                .get()
                .copied()
                .unwrap_or_else(|| settings::ansi_before_settings(&args));
            let _ = miette::set_hook(Box::new(move |_| {
                let opts = miette::MietteHandlerOpts::new().wrap_lines(wrap);
                Box::new(
                    match ansi {
                        settings::Ansi::Never => opts.color(false),
                        settings::Ansi::Always => opts.color(true),
                        settings::Ansi::Auto => opts,
                    }
                    .build(),
                )
            }));
            let json = JSON
                .get()
                .copied()
                .unwrap_or_else(|| settings::json_before_settings(&args));
            if json {
                let failed = report::ErrorReport::of(&e);
                report::print(&failed, String::new, true);
            }
            progress::say(format_args!("{:?}\n", miette::Report::new(e)));
            ExitCode::from(code)
        }
    }
}

/// The exit code of a panic: docker flow's own failure, as a failed flow's.
const BUG: u8 = 1;

fn run_with(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some(metadata::SUBCOMMAND) {
        report::out(format_args!("{}\n", metadata::json()));
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("__man") {
        // `make install` and `make dist`: the man pages, into the directory given.
        let dir = args.get(1).map_or("man", String::as_str);
        for file in man::write(std::path::Path::new(dir))? {
            report::out(format_args!("{dir}/{file}\n"));
        }
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("__complete") {
        // The docker CLI asks `__complete flow WORD…`.
        let words = args.get(2..).unwrap_or_default();
        report::out(format_args!("{}", complete::cobra(words)));
        return Ok(());
    }
    let split = argv::split(args)?;
    let mut ours = split.ours.clone();
    // `docker help flow` runs `docker-flow flow help flow`: the top-level help. `help deploy` is
    // clap's own: that command's help.
    if ours.get(1).map(String::as_str) == Some("help")
        && ours.get(2).is_none_or(|a| a == argv::PLUGIN_NAME)
    {
        ours.truncate(1);
        ours.push("--help".into());
    }
    let matches = match cli::command().try_get_matches_from(&ours) {
        Ok(m) => m,
        Err(e) => return cli::refuse(e, &ours),
    };
    let cli = Cli::from_arg_matches(&matches)
        .map_err(|e| Error::usage(e.to_string(), "see `docker flow --help`"))?;
    let cwd = std::env::current_dir().map_err(|e| {
        Error::environment(
            format!("cannot read the working directory: {e}"),
            "run docker flow from your project's directory",
        )
    })?;
    let given = settings::Given::new(&matches);
    let file = settings::load_file(given, &cwd)?;
    let mut resolved = settings::resolve(given, file, &|k| std::env::var(k).ok());
    let named = Named {
        target_flag: given.command_line(settings::Key::Target),
        dashed_command: dashed_command(&cli, &ours),
        argv: ours.clone(),
    };
    // The target's own settings (`services:` in docker-flow.yml) count for this run: the
    // service named on the command line, else the target the settings name.
    if let Some(service) = cli
        .command
        .as_ref()
        .and_then(|c| positional_service(c, &named))
        .cloned()
        .or_else(|| resolved.target())
    {
        resolved.for_service(&service);
    }
    let mut settings = resolved.settings()?;
    let _ = ANSI.set(settings.ansi);
    let _ = JSON.set(settings.format == Format::Json);
    let action = action(&cli, &mut settings, &named)?;
    match action {
        Action::Help => {
            let help = cli::command().render_help().to_string();
            report::print(&help, || help.clone(), false);
            return Ok(());
        }
        Action::Version => {
            let v = cli::long_version();
            report::print(
                &report::VersionReport::of_this_build(),
                || format!("docker flow {v}\n"),
                settings.format == Format::Json,
            );
            return Ok(());
        }
        Action::Completion(shell) => {
            let mut out = Vec::new();
            let mut cmd = cli::completed_as("docker-flow", shell);
            clap_complete::generate(shell, &mut cmd, "docker-flow", &mut out);
            let text = String::from_utf8_lossy(&out).into_owned();
            report::print(&text, || text.clone(), false);
            return Ok(());
        }
        _ => {}
    }
    if action == Action::Config {
        let mut config = resolved.report();
        // The project's name as Compose resolves it, when Compose can tell (no daemon needed).
        if let Ok(engine) = engine::Engine::new(&split.docker_globals, &settings.engine_options()) {
            if let Some(name) = compose::project_name(&engine, &settings) {
                config.resolved_by_compose(settings::Key::Project, name);
            }
        }
        // The project's directory as Compose finds it (no daemon needed).
        let dir = project_files::project_dir(
            &cwd,
            settings.project_directory.as_deref(),
            settings
                .compose_paths
                .first()
                .map(std::path::PathBuf::as_path),
        );
        config.resolved_by_compose(settings::Key::ProjectDirectory, dir.display().to_string());
        report::print(
            &config,
            || config.to_text(),
            settings.format == Format::Json,
        );
        return Ok(());
    }
    cancel::install();
    let engine = engine::Engine::new(&split.docker_globals, &settings.engine_options())?;
    if action == Action::Unlock {
        engine.check_daemon()?;
        let project = match &settings.project {
            Some(p) => p.clone(),
            None => compose::project_name(&engine, &settings).ok_or_else(|| {
                Error::usage(
                    "cannot tell the project's name: Compose cannot load the project here",
                    "run it in the project's directory, or pass -p PROJECT",
                )
            })?,
        };
        let said = lock::unlock(&engine, &project)?;
        report::print(&said, || format!("{said}\n"), false);
        return Ok(());
    }
    flows::run(&engine, &settings, &action, &cwd)
}

/// The steps of `docker flow deploy`: the test when there is one, then the promotion, unless
/// `--no-promote` or `--canary` leave it to `promote`.
fn deploy_steps(settings: &settings::Settings) -> Result<Vec<Step>> {
    let mut steps = vec![Step::Deploy];
    if !settings.test_cmd.is_empty() {
        steps.push(Step::Test);
    }
    match (settings.canary, settings.no_promote) {
        (Some(_), true) => {
            return Err(Error::usage(
                "--canary and --no-promote cannot go together",
                "a canary is not promoted either: drop --no-promote (or --canary to only preview)",
            ))
        }
        (Some(_), false) if settings.proxy.driver == settings::ProxyDriver::None => {
            return Err(Error::usage(
                "--canary needs a proxy to share the traffic (--proxy-driver is none)",
                "use --proxy-driver caddy (the default) or docker-flow-proxy",
            ))
        }
        (Some(_), false) => steps.push(Step::Canary),
        (None, true) => {}
        (None, false) => steps.extend([Step::Proxy, Step::StopOld]),
    }
    Ok(steps)
}

/// What the command line says about the service a command acts on, beside the parsed command.
struct Named {
    /// `-t`/`--target` as given on the command line.
    target_flag: Option<String>,
    /// `exec -- COMMAND…`: the command follows `--` (the target's), not a service.
    dashed_command: bool,
    /// The command line as given (for the fix of `-b true`).
    argv: Vec<String>,
}

/// Whether `exec`'s command came after `--` (everything after the first `--` is the command).
fn dashed_command(cli: &Cli, ours: &[String]) -> bool {
    let Some(Command::Exec { command, .. }) = &cli.command else {
        return false;
    };
    ours.iter()
        .position(|a| a == "--")
        .is_some_and(|i| ours[i + 1..] == command[..])
}

/// The service a command names positionally (`deploy web`, `scale web 3`, `exec web sh`).
fn positional_service<'c>(cmd: &'c Command, named: &Named) -> Option<&'c String> {
    match cmd {
        Command::Deploy { service }
        | Command::Promote { service }
        | Command::Abort { service }
        | Command::Proxy { service }
        | Command::StopOld { service }
        | Command::Rollback { service, .. }
        | Command::History { service }
        | Command::Status { service }
        | Command::Logs { service, .. } => service.as_ref(),
        Command::Scale {
            first,
            count: Some(_),
        } => first.as_ref(),
        Command::Exec { command, .. } if !named.dashed_command => command.first(),
        _ => None,
    }
}

/// A service named positionally (`deploy web`, as `docker compose up web` takes it) becomes
/// the target; with another `-t` on the command line: exit 2.
fn name_service(
    settings: &mut settings::Settings,
    service: Option<&String>,
    named: &Named,
) -> Result<()> {
    let Some(service) = service else {
        return Ok(());
    };
    if let Some(fix) = cli::boolean_after_space(&named.argv, service) {
        return Err(Error::usage(
            format!("`{service}` stands where a service goes"),
            fix,
        ));
    }
    let service =
        settings::values::parse_service_name(service).map_err(|(m, h)| Error::Setting {
            key: "target".into(),
            origin: "the command's SERVICE".into(),
            message: m,
            help: Some(h),
        })?;
    if let Some(flag) = named.target_flag.as_ref().filter(|f| **f != service) {
        return Err(Error::usage(
            format!("the command names the service `{service}`, and -t names `{flag}`"),
            "name the service once: `docker flow deploy web` or `docker flow deploy -t web`",
        ));
    }
    settings.target = Some(service);
    Ok(())
}

/// Turns the subcommand or the seed's `--flow` list into one action.
fn action(cli: &Cli, settings: &mut settings::Settings, named: &Named) -> Result<Action> {
    if matches!(cli.command, Some(Command::Config)) {
        return Ok(Action::Config);
    }
    let Some(cmd) = &cli.command else {
        if settings.flow.is_empty() {
            // As `docker compose` does: no command, the help.
            return Ok(Action::Help);
        }
        if settings.flow.contains(&Step::Test) && settings.test_cmd.is_empty() {
            return Err(Error::usage(
                "the test step needs a test command",
                "set --test-cmd (e.g. --test-cmd './smoke.sh'), FLOW_TEST_CMD, or `test_cmd:` in docker-flow.yml",
            ));
        }
        if settings.canary.is_some() {
            return Err(Error::usage(
                "--canary goes with `docker flow deploy`, not with --flow",
                "run `docker flow deploy --canary N`; `docker flow promote` or `abort` decides after",
            ));
        }
        return Ok(Action::Steps(settings.flow.clone()));
    };
    match cmd {
        Command::Version => return Ok(Action::Version),
        Command::Unlock => return Ok(Action::Unlock),
        Command::Completion { shell } => return Ok(Action::Completion(*shell)),
        _ => {}
    }
    if !settings.flow.is_empty() {
        return Err(Error::usage(
            "--flow cannot be combined with a subcommand",
            FLOW_OR_COMMAND,
        ));
    }
    name_service(settings, positional_service(cmd, named), named)?;
    Ok(match cmd {
        Command::Deploy { .. } => Action::Steps(deploy_steps(settings)?),
        Command::Promote { .. } => Action::Promote,
        Command::Abort { .. } => Action::Abort,
        Command::Scale { first, count } => {
            if let Some(c) = count.as_ref().or(first.as_ref()) {
                let spec = settings::values::parse_scale(c).map_err(|(m, h)| Error::Setting {
                    key: "scale".into(),
                    origin: "the scale command".into(),
                    message: m,
                    help: Some(h),
                })?;
                settings.scale = Some(spec);
            }
            if settings.scale.is_none() {
                return Err(Error::usage(
                    "scale needs a count",
                    "pass N, +N or -N: `docker flow scale +2`, or set --scale",
                ));
            }
            // The scale step routes to what it changed itself: a proxy step after it only
            // routed the same instances again (0.9–2.9 s measured).
            Action::Steps(vec![Step::Scale])
        }
        Command::Proxy { .. } => Action::Steps(vec![Step::Proxy]),
        Command::StopOld { .. } => Action::Steps(vec![Step::StopOld]),
        Command::Rollback { to, .. } => Action::Rollback(to.clone()),
        Command::History { .. } => Action::History,
        Command::Status { .. } => Action::Status,
        Command::Logs {
            follow,
            tail,
            since,
            timestamps,
            all,
            ..
        } => Action::Logs(flows::logs::LogsOptions {
            follow: *follow,
            tail: tail.clone(),
            since: since.clone(),
            timestamps: *timestamps,
            all: *all,
        }),
        Command::Exec {
            index,
            no_tty,
            user,
            workdir,
            env,
            command,
        } => {
            // `exec SERVICE COMMAND…` (the service is the target now), or `exec -- COMMAND…`.
            let mut command = command.clone();
            if !named.dashed_command {
                command.remove(0);
                if command.first().is_some_and(|c| c == "--") {
                    command.remove(0);
                }
                if command.is_empty() {
                    return Err(Error::usage(
                        "exec needs a command after the service",
                        "`docker flow exec web sh` (as `docker compose exec`), or `docker flow exec -- sh` in the target",
                    ));
                }
            }
            Action::Exec(flows::exec::ExecOptions {
                index: *index,
                tty: !*no_tty,
                user: user.clone(),
                workdir: workdir.clone(),
                env: env.clone(),
                command,
            })
        }
        Command::Config => Action::Config,
        Command::Version => Action::Version,
        Command::Unlock => Action::Unlock,
        Command::Down {
            volumes,
            remove_proxy,
        } => Action::Down(flows::down::DownOptions {
            volumes: *volumes,
            proxy: *remove_proxy,
        }),
        Command::Maintenance {
            state,
            service,
            message,
        } => {
            // The service named on the command line (positionally, or with -t): every route of
            // the project without one (a target from docker-flow.yml does not narrow it).
            if let (Some(s), Some(t)) = (service, &named.target_flag) {
                if s != t {
                    return Err(Error::usage(
                        format!("the command names the service `{s}`, and -t names `{t}`"),
                        "name the service once: `docker flow maintenance on web`",
                    ));
                }
            }
            let service = service
                .as_ref()
                .or(named.target_flag.as_ref())
                .map(|s| settings::values::parse_service_name(s))
                .transpose()
                .map_err(|(m, h)| Error::usage(m, h))?;
            let on = *state == cli::Switch::On;
            if let Some(m) = message {
                if !on {
                    return Err(Error::usage(
                        "--message is the page `maintenance on` serves; `off` serves none",
                        "leave --message out of `docker flow maintenance off`",
                    ));
                }
                if m.len() > 64 * 1024 {
                    return Err(Error::usage(
                        format!("--message is {} bytes; the page may have 64 KiB", m.len()),
                        "give a shorter message (a link to a status page, say)",
                    ));
                }
            }
            Action::Maintenance(flows::maintenance::MaintenanceOptions {
                on,
                message: message.clone(),
                service,
            })
        }
        Command::Completion { shell } => Action::Completion(*shell),
    })
}
