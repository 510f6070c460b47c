//! Settings: every option of the seed and ours, resolved from defaults < `docker-flow.yml` <
//! environment < flags, each value remembering its source, then validated into `Settings`
//! before any work starts.

pub(crate) mod file;
pub(crate) mod values;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::ArgMatches;
use indexmap::IndexMap;
use serde_json::{json, Value};

use crate::error::{Error, Result};
pub(crate) use values::{Format, ProxyDriver, PullPolicy, ScaleSpec, Step};

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Default,
    File,
    Env,
    Flag,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Default => "default",
            Source::File => "file",
            Source::Env => "env",
            Source::Flag => "flag",
        }
    }
}

/// A raw value before validation: one string, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Raw {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Text,
    List,
    Number,
    Duration,
}

/// Each setting: yml key (also clap's id), kind, default.
const OPTIONS: &[(&str, Kind, Option<&str>)] = &[
    ("blue_green", Kind::Bool, Some("false")),
    ("cert_path", Kind::Text, None),
    ("compose_path", Kind::List, None),
    ("consul_address", Kind::Text, None),
    ("consul_template_be_path", Kind::Text, None),
    ("consul_template_fe_path", Kind::Text, None),
    ("flow", Kind::List, None),
    ("host", Kind::Text, None),
    ("project", Kind::Text, None),
    ("proxy_docker_cert_path", Kind::Text, None),
    ("proxy_docker_host", Kind::Text, None),
    ("proxy_host", Kind::Text, Some("127.0.0.1")),
    ("proxy_reconf_port", Kind::Number, Some("2019")),
    ("pull_side_targets", Kind::Bool, Some("false")),
    ("scale", Kind::Text, None),
    ("service_path", Kind::List, None),
    ("side_targets", Kind::List, None),
    ("target", Kind::Text, None),
    ("service_port", Kind::Number, None),
    ("service_domain", Kind::List, None),
    ("proxy_driver", Kind::Text, Some("caddy")),
    ("proxy_image", Kind::Text, Some("caddy:2")),
    ("proxy_name", Kind::Text, Some("docker-flow-proxy")),
    ("proxy_http_port", Kind::Number, Some("80")),
    ("pull", Kind::Text, Some("always")),
    ("health_timeout", Kind::Duration, Some("60s")),
    ("drain_timeout", Kind::Duration, Some("30s")),
    ("lock_wait", Kind::Duration, Some("0s")),
    ("dry_run", Kind::Bool, Some("false")),
    ("format", Kind::Text, Some("text")),
];

/// Environment variables the seed also read, for settings nobody set: (key, variable).
const FALLBACK_ENV: &[(&str, &str)] = &[
    ("scale", "SCALE"),
    ("consul_address", "CONSUL_ADDRESS"),
    ("host", "DOCKER_HOST"),
    ("cert_path", "DOCKER_CERT_PATH"),
];

/// The yml keys of every setting.
pub(crate) fn keys() -> Vec<&'static str> {
    OPTIONS.iter().map(|(k, _, _)| *k).collect()
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub raw: Option<Raw>,
    pub source: Source,
    /// Human name of the source: `--scale`, `FLOW_SCALE`, `docker-flow.yml line 3`, `default`.
    pub origin: String,
    /// Line in docker-flow.yml, when it came from there.
    line: Option<usize>,
}

/// Every setting with its raw value and source, before validation.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub entries: IndexMap<&'static str, Entry>,
    pub file: file::FileValues,
}

/// Layers clap's matches (flags and `FLOW_*`), the file and the defaults.
pub(crate) fn resolve(
    matches: &ArgMatches,
    file: file::FileValues,
    env: &dyn Fn(&str) -> Option<String>,
) -> Resolved {
    let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut entries = IndexMap::new();
    for &(key, kind, default) in OPTIONS {
        let arg = cmd.get_arguments().find(|a| a.get_id() == key);
        let from_cli = match matches.value_source(key) {
            Some(src @ (ValueSource::CommandLine | ValueSource::EnvVariable)) => {
                let vals: Vec<String> = matches
                    .get_many::<String>(key)
                    .map(|v| v.map(|s| s.trim().to_string()).collect())
                    .unwrap_or_default();
                let (source, origin) = if src == ValueSource::CommandLine {
                    let long = arg.and_then(|a| a.get_long()).unwrap_or(key);
                    (Source::Flag, format!("--{long}"))
                } else {
                    let var = arg
                        .and_then(|a| a.get_env())
                        .map(|e| e.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (Source::Env, var)
                };
                let raw = if kind == Kind::List {
                    Raw::Many(vals.into_iter().filter(|v| !v.is_empty()).collect())
                } else {
                    Raw::One(vals.into_iter().next().unwrap_or_default())
                };
                Some(Entry {
                    raw: Some(raw),
                    source,
                    origin,
                    line: None,
                })
            }
            _ => None,
        };
        let from_file = || {
            file.values.get(key).map(|(raw, line)| {
                let raw = match (kind, raw) {
                    (Kind::List, Raw::One(s)) => Raw::Many(vec![s.trim().to_string()]),
                    (Kind::List, Raw::Many(v)) => {
                        Raw::Many(v.iter().map(|s| s.trim().to_string()).collect())
                    }
                    (_, r) => r.clone(),
                };
                Entry {
                    raw: Some(raw),
                    source: Source::File,
                    origin: format!("{} line {line}", file::FILE_NAME),
                    line: Some(*line),
                }
            })
        };
        let from_fallback_env = || {
            FALLBACK_ENV
                .iter()
                .filter(|(k, _)| *k == key)
                .find_map(|(_, var)| env(var).filter(|v| !v.is_empty()).map(|v| (var, v)))
                .map(|(var, v)| Entry {
                    raw: Some(Raw::One(v.trim().to_string())),
                    source: Source::Env,
                    origin: var.to_string(),
                    line: None,
                })
        };
        let entry = from_cli
            .or_else(from_file)
            .or_else(from_fallback_env)
            .unwrap_or_else(|| Entry {
                raw: match kind {
                    Kind::List => Some(Raw::Many(Vec::new())),
                    _ => default.map(|d| Raw::One(d.to_string())),
                },
                source: Source::Default,
                origin: "default".into(),
                line: None,
            });
        entries.insert(key, entry);
    }
    Resolved { entries, file }
}

/// The validated settings every flow works from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub blue_green: bool,
    pub cert_path: Option<PathBuf>,
    pub compose_paths: Vec<PathBuf>,
    pub consul_address: Option<String>,
    pub consul_template_fe_path: Option<PathBuf>,
    pub consul_template_be_path: Option<PathBuf>,
    pub flow: Vec<Step>,
    pub host: Option<String>,
    pub project: Option<String>,
    pub proxy: ProxySettings,
    pub pull_side_targets: bool,
    pub scale: Option<ScaleSpec>,
    pub service_paths: Vec<String>,
    pub side_targets: Vec<String>,
    pub target: Option<String>,
    pub service_port: Option<u16>,
    pub service_domains: Vec<String>,
    pub pull: PullPolicy,
    pub health_timeout: Duration,
    pub drain_timeout: Duration,
    pub lock_wait: Duration,
    pub dry_run: bool,
    pub format: Format,
}

#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub driver: ProxyDriver,
    pub image: String,
    pub name: String,
    pub http_port: u16,
    pub host: String,
    pub reconf_port: u16,
    pub docker_host: Option<String>,
    pub docker_cert_path: Option<PathBuf>,
}

impl Resolved {
    fn entry(&self, key: &str) -> &Entry {
        &self.entries[key]
    }

    fn err(&self, key: &str, message: impl Into<String>, help: impl Into<String>) -> Error {
        let e = self.entry(key);
        if let (Source::File, Some(line)) = (e.source, e.line) {
            return Error::config(
                format!("invalid `{key}` in {}: {}", file::FILE_NAME, message.into()),
                help,
                self.file.locate_line(line),
            );
        }
        Error::Setting {
            key: key.to_string(),
            origin: e.origin.clone(),
            message: message.into(),
            help: Some(help.into()),
        }
    }

    fn text(&self, key: &str) -> Option<String> {
        match &self.entry(key).raw {
            Some(Raw::One(s)) if !s.is_empty() => Some(s.clone()),
            Some(Raw::Many(v)) => v.first().cloned(),
            _ => None,
        }
    }

    fn list(&self, key: &str) -> Vec<String> {
        match &self.entry(key).raw {
            Some(Raw::Many(v)) => v.clone(),
            Some(Raw::One(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    fn bool(&self, key: &str) -> Result<bool> {
        let v = self.text(key).unwrap_or_default();
        values::parse_bool(&v)
            .ok_or_else(|| self.err(key, format!("`{v}` is not a boolean"), "use true or false"))
    }

    fn port(&self, key: &str) -> Result<Option<u16>> {
        self.text(key)
            .map(|v| {
                values::parse_port(&v).ok_or_else(|| {
                    self.err(
                        key,
                        format!("`{v}` is not a port"),
                        "use a number from 1 to 65535",
                    )
                })
            })
            .transpose()
    }

    fn duration(&self, key: &str) -> Result<Duration> {
        let v = self.text(key).unwrap_or_default();
        values::parse_duration(&v).ok_or_else(|| {
            self.err(
                key,
                format!("`{v}` is not a duration"),
                "use a number of seconds or a duration such as 30s, 500ms or 2m",
            )
        })
    }

    fn parsed<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> std::result::Result<T, (String, String)>,
    ) -> Result<Option<T>> {
        self.text(key)
            .map(|v| parse(&v).map_err(|(m, h)| self.err(key, m, h)))
            .transpose()
    }

    fn parsed_list<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> std::result::Result<T, (String, String)>,
    ) -> Result<Vec<T>> {
        self.list(key)
            .iter()
            .map(|v| parse(v).map_err(|(m, h)| self.err(key, m, h)))
            .collect()
    }

    /// Validates every value into typed settings.
    pub(crate) fn settings(&self) -> Result<Settings> {
        let proxy = ProxySettings {
            driver: self
                .parsed("proxy_driver", values::parse_proxy_driver)?
                .unwrap_or(ProxyDriver::Caddy),
            image: self
                .parsed("proxy_image", values::parse_image)?
                .unwrap_or_else(|| "caddy:2".into()),
            name: self
                .parsed("proxy_name", values::parse_name)?
                .unwrap_or_else(|| "docker-flow-proxy".into()),
            http_port: self.port("proxy_http_port")?.unwrap_or(80),
            host: self
                .parsed("proxy_host", values::parse_host)?
                .unwrap_or_else(|| "127.0.0.1".into()),
            reconf_port: self.port("proxy_reconf_port")?.unwrap_or(2019),
            docker_host: self.parsed("proxy_docker_host", values::parse_docker_host)?,
            docker_cert_path: self.text("proxy_docker_cert_path").map(PathBuf::from),
        };
        let settings = Settings {
            blue_green: self.bool("blue_green")?,
            cert_path: self.text("cert_path").map(PathBuf::from),
            compose_paths: self
                .list("compose_path")
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            consul_address: self.parsed("consul_address", values::parse_http_url)?,
            consul_template_fe_path: self.text("consul_template_fe_path").map(PathBuf::from),
            consul_template_be_path: self.text("consul_template_be_path").map(PathBuf::from),
            flow: self.parsed_list("flow", values::parse_step)?,
            host: self.parsed("host", values::parse_docker_host)?,
            project: self.parsed("project", values::parse_project)?,
            proxy,
            pull_side_targets: self.bool("pull_side_targets")?,
            scale: self.parsed("scale", values::parse_scale)?,
            service_paths: self.parsed_list("service_path", values::parse_service_path)?,
            side_targets: self.parsed_list("side_targets", values::parse_service_name)?,
            target: self.parsed("target", values::parse_service_name)?,
            service_port: self.port("service_port")?,
            service_domains: self.parsed_list("service_domain", values::parse_domain)?,
            pull: self
                .parsed("pull", values::parse_pull)?
                .unwrap_or(PullPolicy::Always),
            health_timeout: self.duration("health_timeout")?,
            drain_timeout: self.duration("drain_timeout")?,
            lock_wait: self.duration("lock_wait")?,
            dry_run: self.bool("dry_run")?,
            format: self
                .parsed("format", values::parse_format)?
                .unwrap_or(Format::Text),
        };
        Ok(settings)
    }

    /// The resolved settings as `docker flow config --format json` prints them.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for &(key, kind, _) in OPTIONS {
            let e = self.entry(key);
            let value = match (kind, &e.raw) {
                (_, None) => Value::Null,
                (Kind::List, _) => json!(self.list(key)),
                (Kind::Bool, _) => self
                    .text(key)
                    .and_then(|v| values::parse_bool(&v))
                    .map_or(Value::Null, Value::Bool),
                (Kind::Number, _) => self
                    .text(key)
                    .map(|v| {
                        v.parse::<u64>()
                            .map(Value::from)
                            .unwrap_or(Value::String(v))
                    })
                    .unwrap_or(Value::Null),
                _ => self.text(key).map_or(Value::Null, Value::String),
            };
            out.insert(
                key.to_string(),
                json!({"value": value, "source": e.source.as_str()}),
            );
        }
        Value::Object(out)
    }

    /// The resolved settings as a table for people.
    pub(crate) fn to_text(&self) -> String {
        let json = self.to_json();
        let mut out = String::new();
        let width = OPTIONS.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
        for &(key, _, _) in OPTIONS {
            let e = self.entry(key);
            let v = &json[key]["value"];
            let shown = match v {
                Value::Null => "-".to_string(),
                Value::String(s) => s.clone(),
                Value::Array(items) if items.is_empty() => "[]".into(),
                other => other.to_string(),
            };
            out.push_str(&format!("{key:width$}  {shown}  ({})\n", e.origin));
        }
        out
    }
}

/// Working directory the settings file is read from.
pub(crate) fn load_file(dir: &Path) -> Result<file::FileValues> {
    file::load(dir, &keys())
}
