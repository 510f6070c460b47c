//! The layering of sources: defaults < `docker-flow.yml` < environment < flags, each value with
//! its source and origin (`resolve` into `Resolved`), from what clap read (`Given`), the file
//! (`load_file`), and the seed's and Compose's variables.

use std::path::Path;

use clap::parser::ValueSource;
use clap::ArgMatches;
use indexmap::IndexMap;

use super::entry::{Entry, Raw, Source};
use super::file;
use super::options::{Key, Kind, PER_SERVICE};
use crate::error::Result;

/// The `docker-flow.yml` key of every setting.
pub(crate) fn keys() -> Vec<&'static str> {
    Key::ALL.iter().map(|k| k.name()).collect()
}

/// Every setting with its raw value and source, before validation.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub entries: IndexMap<Key, Entry>,
    /// The options whose generic variable's value was left out (`generic`), as `settings`
    /// found them: `config` says so.
    pub(super) ignored: std::cell::RefCell<Vec<Key>>,
    pub file: file::FileValues,
    /// `NO_COLOR` is set (to anything but nothing), as no-color.org says.
    pub(super) no_color: bool,
}

/// What clap read: the top level's matches (every option, as the seed accepted them before or
/// without a command) and the command's own (the options it offers). A flag after the command
/// wins over one before it; variables are read by both, alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Given<'a> {
    pub top: &'a ArgMatches,
    pub command: Option<&'a ArgMatches>,
}

impl<'a> Given<'a> {
    pub(crate) fn new(top: &'a ArgMatches) -> Given<'a> {
        Given {
            top,
            command: top.subcommand().map(|(_, m)| m),
        }
    }

    /// The value of `key` given by a flag on the command line (not its variable).
    pub(crate) fn command_line(&self, key: Key) -> Option<String> {
        self.get(key)
            .filter(|(src, _)| *src == ValueSource::CommandLine)
            .and_then(|(_, v)| v.into_iter().next())
    }

    /// The values of `key` given by a flag or its `FLOW_*` variable, with which of the two.
    fn get(&self, key: Key) -> Option<(ValueSource, Vec<String>)> {
        let name = key.name();
        let from = |m: &ArgMatches| {
            // Only ask about an argument the command has a value for: clap panics on an id
            // the command does not define.
            if !m.ids().any(|id| id.as_str() == name) {
                return None;
            }
            let src = m.value_source(name)?;
            let vals = m
                .get_many::<String>(name)
                .map(|v| v.cloned().collect())
                .unwrap_or_default();
            Some((src, vals))
        };
        let given = |src: ValueSource| {
            [self.command.and_then(from), from(self.top)]
                .into_iter()
                .flatten()
                .find(|(s, _)| *s == src)
        };
        given(ValueSource::CommandLine).or_else(|| given(ValueSource::EnvVariable))
    }
}

/// Variables of generic names the seed read, whose values docker flow takes only when they are
/// valid for the option (`Resolved::generic`).
pub(super) const GENERIC_VARIABLES: [&str; 3] = ["SCALE", "FLOW", "CONSUL_ADDRESS"];

/// A fallback variable's list: `COMPOSE_FILE` split as Compose splits it
/// (`COMPOSE_PATH_SEPARATOR`, else `:`), the other lists at commas.
fn split_fallback(var: &str, value: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let sep = if var == "COMPOSE_FILE" {
        env("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|| ":".into())
    } else {
        ",".into()
    };
    value
        .split(sep.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
        .collect()
}

/// Layers what clap read (flags and `FLOW_*`), the file, the seed's and Compose's variables and
/// the defaults, each as the option declares.
pub(crate) fn resolve(
    given: Given,
    file: file::FileValues,
    env: &dyn Fn(&str) -> Option<String>,
) -> Resolved {
    let mut entries = IndexMap::new();
    for &key in Key::ALL {
        let spec = key.spec();
        let name = key.name();
        let from_cli = given.get(key).map(|(src, vals)| {
            let vals: Vec<String> = vals.into_iter().map(|s| s.trim().to_string()).collect();
            let (source, origin) = if src == ValueSource::CommandLine {
                (Source::Flag, format!("--{}", spec.long))
            } else {
                (Source::Env, spec.env.to_string())
            };
            let raw = if spec.kind == Kind::List {
                Raw::Many(vals.into_iter().filter(|v| !v.is_empty()).collect())
            } else {
                Raw::One(vals.into_iter().next().unwrap_or_default())
            };
            Entry {
                raw: Some(raw),
                source,
                origin,
                line: None,
            }
        });
        let from_file = || {
            file.values
                .get(name)
                .map(|(raw, line)| file_entry(spec.kind, raw, *line, &file.shown))
        };
        let from_fallback_env = || {
            let var = spec.fallback_env?;
            let v = env(var).filter(|v| !v.is_empty())?;
            let raw = if spec.kind == Kind::List {
                Raw::Many(split_fallback(var, &v, env))
            } else {
                Raw::One(v.trim().to_string())
            };
            Some(Entry {
                raw: Some(raw),
                source: Source::Env,
                origin: var.to_string(),
                line: None,
            })
        };
        let entry = from_cli
            .or_else(from_file)
            .or_else(from_fallback_env)
            .unwrap_or_else(|| Entry {
                raw: match spec.kind {
                    Kind::List => Some(Raw::Many(Vec::new())),
                    _ => spec.default.map(|d| Raw::One(d.to_string())),
                },
                source: Source::Default,
                origin: "default".into(),
                line: None,
            });
        entries.insert(key, entry);
    }
    Resolved {
        entries,
        ignored: Default::default(),
        file,
        no_color: env("NO_COLOR").is_some_and(|v| !v.is_empty()),
    }
}

/// A value of `docker-flow.yml` (at the top or under a service) as an entry, lists trimmed.
fn file_entry(kind: Kind, raw: &Raw, line: usize, origin: &str) -> Entry {
    let raw = match (kind, raw) {
        (Kind::List, Raw::One(s)) => Raw::Many(vec![s.trim().to_string()]),
        (Kind::List, Raw::Many(v)) => Raw::Many(v.iter().map(|s| s.trim().to_string()).collect()),
        (_, r) => r.clone(),
    };
    Entry {
        raw: Some(raw),
        source: Source::File,
        origin: format!("{origin} line {line}"),
        line: Some(line),
    }
}

impl Resolved {
    /// The target as resolved (before validation), when one is set.
    pub(crate) fn target(&self) -> Option<String> {
        match &self.entries.get(&Key::Target)?.raw {
            Some(Raw::One(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
            _ => None,
        }
    }

    /// The settings `service` has of its own in `docker-flow.yml` (`services:`), in place of
    /// the file's and the defaults (never of a flag's or a variable's): what a run whose
    /// target it is reads.
    pub(crate) fn for_service(&mut self, service: &str) {
        let Some(own) = self.file.services.get(service) else {
            return;
        };
        for &key in PER_SERVICE {
            let Some((raw, line)) = own.values.get(key.name()) else {
                continue;
            };
            let entry = self.entries.get_mut(&key).expect("every key is resolved");
            if matches!(entry.source, Source::File | Source::Default) {
                let origin = format!("{} services.{service}", self.file.shown);
                *entry = file_entry(key.spec().kind, raw, *line, &origin);
            }
        }
    }
}

/// Reads `docker-flow.yml` from the project's directory, found as Compose finds it (see
/// `project_files::project_dir`) from the flags and variables that select the project.
pub(crate) fn load_file(given: Given, cwd: &Path) -> Result<file::FileValues> {
    let first = |key: Key| -> Option<String> {
        given
            .get(key)
            .and_then(|(_, v)| v.into_iter().find(|s| !s.trim().is_empty()))
    };
    let dir = crate::project_files::project_dir(
        cwd,
        first(Key::ProjectDirectory).as_deref().map(Path::new),
        first(Key::ComposePath).as_deref().map(Path::new),
    );
    let per_service: Vec<&str> = PER_SERVICE.iter().map(|k| k.name()).collect();
    file::load(&dir, cwd, &keys(), &per_service)
}
