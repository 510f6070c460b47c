//! What is read of the raw command line before the settings exist: which option a word names
//! (for clap's refusals), and `--ansi` and `--format` for an error found before the settings are
//! resolved.

use super::choices::{self, Ansi};
use super::options::{Key, Kind};

/// The long name of the boolean option `arg` names (`-b`, `--blue-green`), if it names one.
pub(crate) fn boolean_flag(arg: &str) -> Option<&'static str> {
    option_named(arg).filter(|long| {
        Key::ALL
            .iter()
            .any(|k| k.spec().long == *long && k.spec().kind == Kind::Bool)
    })
}

/// The long name of the option `arg` names (`-b`, `--blue-green`, `--scale=3`), if it names one.
pub(crate) fn option_named(arg: &str) -> Option<&'static str> {
    let arg = arg.split('=').next().unwrap_or(arg);
    Key::ALL.iter().map(|k| k.spec()).find_map(|s| {
        let named = arg.strip_prefix("--") == Some(s.long)
            || s.short.is_some_and(|c| arg == format!("-{c}"));
        named.then_some(s.long)
    })
}

/// `--ansi` for an error found before the settings could be resolved: the flag (`--ansi=X` or
/// `--ansi X`), else `FLOW_ANSI` / `COMPOSE_ANSI`, else `never` under `NO_COLOR`.
pub(crate) fn ansi_before_settings(args: &[String]) -> Ansi {
    let given = flag_before_settings(args, "--ansi")
        .or_else(|| std::env::var("FLOW_ANSI").ok())
        .or_else(|| std::env::var("COMPOSE_ANSI").ok());
    match given.as_deref().map(choices::parse_ansi) {
        Some(Ok(a)) if a != Ansi::Auto => a,
        _ if std::env::var("NO_COLOR").is_ok_and(|v| !v.is_empty()) => Ansi::Never,
        _ => Ansi::Auto,
    }
}

/// Whether JSON output was asked for, as far as the command line and environment tell before
/// the settings are read (`--format json`, `--format=json`, `FLOW_FORMAT=json`): a run that fails
/// early still answers a script in JSON.
pub(crate) fn json_before_settings(args: &[String]) -> bool {
    let options = args.split(|a| a == "--").next().unwrap_or_default();
    flag_before_settings(options, "--format")
        .or_else(|| std::env::var("FLOW_FORMAT").ok())
        .is_some_and(|f| f.trim() == "json")
}

/// The value of the option `long` as the command line gives it, read before clap and the
/// settings (`--long=X` or `--long X`; the first one).
fn flag_before_settings(args: &[String], long: &str) -> Option<String> {
    args.iter()
        .enumerate()
        .find_map(|(i, a)| match a.strip_prefix(long) {
            Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
            Some("") => args.get(i + 1).cloned(),
            _ => None,
        })
}
