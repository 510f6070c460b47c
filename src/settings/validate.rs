//! From resolved to typed: each resolved value checked and converted (`Resolved::settings`, with
//! the HTTPS options checked against each other), the error naming where the value came from.

use std::path::PathBuf;
use std::time::Duration;

use super::choices::{self, Ansi, ProgressMode};
use super::entry::{Entry, Raw, Source};
use super::file;
use super::options::Key;
use super::resolve::{Resolved, GENERIC_VARIABLES};
use super::typed::{CertSource, ProxySettings, Settings, TlsSettings};
use super::values;
use crate::error::{Error, Result};

type Parse<T> = fn(&str) -> std::result::Result<T, (String, String)>;

fn boolean(v: &str) -> std::result::Result<bool, (String, String)> {
    values::parse_bool(v).ok_or_else(|| {
        (
            format!("`{v}` is not a boolean"),
            "use true or false (or yes/no, on/off, 1/0)".into(),
        )
    })
}

fn port(v: &str) -> std::result::Result<u16, (String, String)> {
    values::parse_port(v).ok_or_else(|| {
        (
            format!("`{v}` is not a port"),
            "use a number from 1 to 65535".into(),
        )
    })
}

/// The longest a timeout may be: a day. Bounded at parse time so that no later arithmetic on
/// it (a deadline, `docker stop --time`) can overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The longest `--keep-old` may keep a release warm: 30 days.
const MAX_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

fn duration_within(v: &str, max: Duration) -> std::result::Result<Duration, (String, String)> {
    if v.trim_start().starts_with('-') {
        return Err((
            format!("`{v}` is negative: a duration cannot be negative"),
            "use a number of seconds or a duration such as 30s, 500ms or 2m".into(),
        ));
    }
    let d = values::parse_duration(v).ok_or_else(|| {
        (
            format!("`{v}` is not a duration"),
            "use a number of seconds or a duration such as 30s, 500ms or 2m".into(),
        )
    })?;
    if d > max {
        return Err((
            format!(
                "`{v}` is longer than the most this setting takes ({})",
                humantime::format_duration(max)
            ),
            format!(
                "use a duration of at most {}",
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(d)
}

/// A timeout or a wait: at most a day.
fn duration(v: &str) -> std::result::Result<Duration, (String, String)> {
    duration_within(v, MAX_TIMEOUT)
}

/// How long a release is kept warm: at most 30 days.
fn keep(v: &str) -> std::result::Result<Duration, (String, String)> {
    duration_within(v, MAX_KEEP)
}

fn path(v: &str) -> std::result::Result<PathBuf, (String, String)> {
    Ok(PathBuf::from(v))
}

impl Resolved {
    pub(super) fn entry(&self, key: Key) -> &Entry {
        // `resolve` makes an entry for every key.
        &self.entries[&key]
    }

    fn err(&self, key: Key, message: impl Into<String>, help: impl Into<String>) -> Error {
        let e = self.entry(key);
        let name = key.name();
        if let (Source::File, Some(line)) = (e.source, e.line) {
            return Error::config(
                format!(
                    "invalid `{name}` in {}: {}",
                    file::FILE_NAME,
                    message.into()
                ),
                help,
                self.file.locate_line(line),
            );
        }
        Error::Setting {
            key: name.to_string(),
            origin: e.origin.clone(),
            message: message.into(),
            help: Some(help.into()),
        }
    }

    /// The value as given; an empty one counts as unset.
    pub(super) fn text(&self, key: Key) -> Option<String> {
        match &self.entry(key).raw {
            Some(Raw::One(s)) if !s.is_empty() => Some(s.clone()),
            Some(Raw::Many(v)) => v.first().cloned(),
            _ => None,
        }
    }

    pub(super) fn list(&self, key: Key) -> Vec<String> {
        match &self.entry(key).raw {
            Some(Raw::Many(v)) => v.clone(),
            Some(Raw::One(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// Whether `key`'s value came from a variable of a generic name the seed read (`SCALE`,
    /// `FLOW`, `CONSUL_ADDRESS`): set for something else as often as for docker flow (a CI's
    /// `SCALE=abc`), so a value that is not valid for the option is not docker flow's and is
    /// left out, not refused.
    fn generic(&self, key: Key) -> bool {
        let e = self.entry(key);
        e.source == Source::Env && GENERIC_VARIABLES.contains(&e.origin.as_str())
    }

    /// An optional setting, validated.
    fn optional<T>(&self, key: Key, parse: Parse<T>) -> Result<Option<T>> {
        match self.text(key).map(|v| parse(&v)) {
            Some(Err(_)) if self.generic(key) => {
                self.ignored.borrow_mut().push(key);
                Ok(None)
            }
            Some(parsed) => parsed.map(Some).map_err(|(m, h)| self.err(key, m, h)),
            None => Ok(None),
        }
    }

    /// A setting with a declared default, validated (unset or empty: the default).
    fn value<T>(&self, key: Key, parse: Parse<T>) -> Result<T> {
        let v = self
            .text(key)
            .or_else(|| key.spec().default.map(String::from))
            .unwrap_or_default();
        parse(&v).map_err(|(m, h)| self.err(key, m, h))
    }

    /// A command as words: a YAML list as written, a string split as a shell would.
    pub(super) fn argv(&self, key: Key) -> Result<Vec<String>> {
        match &self.entry(key).raw {
            Some(Raw::Many(words)) => Ok(words.clone()),
            Some(Raw::One(s)) => shell_words::split(s).map_err(|e| {
                self.err(
                    key,
                    format!("`{s}` cannot be split into words: {e}"),
                    "close the quote, or write the command as a list in docker-flow.yml",
                )
            }),
            None => Ok(Vec::new()),
        }
    }

    fn each<T>(&self, key: Key, parse: Parse<T>) -> Result<Vec<T>> {
        let parsed: std::result::Result<Vec<T>, _> =
            self.list(key).iter().map(|v| parse(v)).collect();
        match parsed {
            Err(_) if self.generic(key) => {
                self.ignored.borrow_mut().push(key);
                Ok(Vec::new())
            }
            parsed => parsed.map_err(|(m, h)| self.err(key, m, h)),
        }
    }

    /// Validates every value into typed settings.
    pub(crate) fn settings(&self) -> Result<Settings> {
        let proxy = ProxySettings {
            driver: self.value(Key::ProxyDriver, choices::parse_proxy_driver)?,
            image: self.value(Key::ProxyImage, values::parse_image)?,
            name: self.value(Key::ProxyName, values::parse_name)?,
            http_port: self.value(Key::ProxyHttpPort, port)?,
            https_port: self.value(Key::ProxyHttpsPort, port)?,
            replicas: self.optional(Key::ProxyReplicas, values::parse_replicas)?,
            registry: self.optional(Key::ProxyRegistry, values::parse_registry)?,
            publish: self.value(Key::ProxyPublish, choices::parse_publish)?,
            trusted_proxies: match self.list(Key::ProxyTrustedProxies) {
                l if l.is_empty() && !self.given(Key::ProxyTrustedProxies) => None,
                l if l.iter().any(|v| v == "none") => Some(Vec::new()),
                _ => Some(self.each(Key::ProxyTrustedProxies, values::parse_ip_range)?),
            },
            host: self.value(Key::ProxyHost, values::parse_host)?,
            reconf_port: self.value(Key::ProxyReconfPort, port)?,
            docker_host: self.optional(Key::ProxyDockerHost, values::parse_docker_host)?,
            docker_cert_path: self.optional(Key::ProxyDockerCertPath, path)?,
        };
        let service_domains = self.each(Key::ServiceDomain, values::parse_domain)?;
        let tls = self.tls(&service_domains)?;
        Ok(Settings {
            blue_green: self.value(Key::BlueGreen, boolean)?,
            blue_green_origin: self.entry(Key::BlueGreen).origin.clone(),
            switch_mode: self.value(Key::SwitchMode, boolean)?,
            test_cmd: self.argv(Key::TestCmd)?,
            keep_old: self.value(Key::KeepOld, keep)?,
            no_promote: self.value(Key::NoPromote, boolean)?,
            canary: self.optional(Key::Canary, values::parse_canary)?,
            cert_path: self.optional(Key::CertPath, path)?,
            compose_paths: self.each(Key::ComposePath, path)?,
            project_directory: self.optional(Key::ProjectDirectory, path)?,
            env_files: self.each(Key::EnvFile, path)?,
            profiles: self.each(Key::Profile, values::parse_profile)?,
            consul_address: self.optional(Key::ConsulAddress, values::parse_http_url)?,
            consul_template_fe_path: self.optional(Key::ConsulTemplateFePath, path)?,
            consul_template_be_path: self.optional(Key::ConsulTemplateBePath, path)?,
            flow: self.each(Key::Flow, choices::parse_step)?,
            host: self.optional(Key::Host, values::parse_docker_host)?,
            project: self.optional(Key::Project, values::parse_project)?,
            proxy,
            pull_side_targets: self.value(Key::PullSideTargets, boolean)?,
            scale: self.optional(Key::Scale, values::parse_scale)?,
            service_paths: self.each(Key::ServicePath, values::parse_service_path)?,
            side_targets: self.each(Key::SideTargets, values::parse_service_name)?,
            target: self.optional(Key::Target, values::parse_service_name)?,
            engine: self.value(Key::Engine, choices::parse_engine)?,
            service_port: self.optional(Key::ServicePort, port)?,
            service_domains,
            tls,
            pull: self.value(Key::Pull, choices::parse_pull)?,
            health_timeout: self.value(Key::HealthTimeout, duration)?,
            health_path: self.value(Key::HealthPath, values::parse_health_path)?,
            drain_timeout: self.value(Key::DrainTimeout, duration)?,
            lock_wait: self.value(Key::LockWait, duration)?,
            dry_run: self.value(Key::DryRun, boolean)?,
            format: self.value(Key::Format, choices::parse_format)?,
            progress: match self.value(Key::Quiet, boolean)? {
                true => ProgressMode::Quiet,
                false => self.value(Key::Progress, choices::parse_progress)?,
            },
            ansi: match self.value(Key::Ansi, choices::parse_ansi)? {
                Ansi::Auto if self.no_color => Ansi::Never,
                a => a,
            },
            services_in_file: match &self.file.path {
                Some(path) => self
                    .file
                    .services
                    .iter()
                    .map(|(name, s)| (name.clone(), path.clone(), s.line))
                    .collect(),
                None => Vec::new(),
            },
        })
    }

    /// Whether the user set `key` (anywhere), rather than leaving its default.
    fn given(&self, key: Key) -> bool {
        self.entry(key).source != Source::Default && self.entry(key).raw.is_some()
    }

    /// The HTTPS settings, checked against each other: one way to get certificates, and only
    /// for a route with domains (a path-only route has no name to certify).
    fn tls(&self, domains: &[String]) -> Result<TlsSettings> {
        const KEYS: [Key; 7] = [
            Key::Tls,
            Key::TlsCert,
            Key::TlsKeyFile,
            Key::AcmeEmail,
            Key::AcmeCa,
            Key::AcmeCaRoot,
            Key::HttpsRedirect,
        ];
        let flag = |k: Key| format!("--{}", k.spec().long);
        if domains.is_empty() {
            // A path-only route has no name for Caddy to certify: it is served on HTTPS only when
            // given a certificate (for the names its clients use), else on HTTP.
            let asked = self.given(Key::TlsCert) || self.given(Key::TlsKeyFile);
            let refused = KEYS.iter().find(|&&k| {
                self.given(k)
                    && !(asked && matches!(k, Key::TlsCert | Key::TlsKeyFile | Key::HttpsRedirect))
            });
            if let Some(&k) = refused {
                return Err(self.err(
                    k,
                    format!("{} applies to a route with domains, and this one has none", flag(k)),
                    "add --service-domain (Caddy certifies host names), or give the path-only route a certificate with --tls-cert and --tls-key; without either it is served on HTTP",
                ));
            }
            if !asked {
                return Ok(TlsSettings {
                    source: None,
                    redirect: false,
                });
            }
        }
        let mode = self.value(Key::Tls, choices::parse_tls)?;
        let cert = self.optional(Key::TlsCert, path)?;
        let key = self.optional(Key::TlsKeyFile, path)?;
        let acme = [Key::AcmeEmail, Key::AcmeCa, Key::AcmeCaRoot];
        let source = match (cert, key) {
            (Some(_), None) => {
                return Err(self.err(
                    Key::TlsCert,
                    "--tls-cert needs --tls-key",
                    "give the certificate's private key with --tls-key",
                ))
            }
            (None, Some(_)) => {
                return Err(self.err(
                    Key::TlsKeyFile,
                    "--tls-key needs --tls-cert",
                    "give the certificate (PEM, chain included) with --tls-cert",
                ))
            }
            (Some(cert), Some(key)) => {
                if self.given(Key::Tls) {
                    return Err(self.err(
                        Key::Tls,
                        "--tls and --tls-cert both say where certificates come from",
                        "keep one: the files, or --tls acme|internal|off",
                    ));
                }
                Some(CertSource::Files { cert, key })
            }
            (None, None) => match mode {
                choices::TlsMode::Acme => Some(CertSource::Acme {
                    ca: self.optional(Key::AcmeCa, values::parse_acme_directory)?,
                    email: self.optional(Key::AcmeEmail, values::parse_email)?,
                    ca_root: self.optional(Key::AcmeCaRoot, path)?,
                }),
                choices::TlsMode::Internal => Some(CertSource::Internal),
                choices::TlsMode::Off => None,
            },
        };
        if !matches!(source, Some(CertSource::Acme { .. })) {
            if let Some(&k) = acme.iter().find(|&&k| self.given(k)) {
                return Err(self.err(
                    k,
                    format!(
                        "{} applies to certificates from ACME, and this route gets none",
                        flag(k)
                    ),
                    "drop it, or use --tls acme",
                ));
            }
        }
        Ok(TlsSettings {
            redirect: source.is_some() && self.value(Key::HttpsRedirect, boolean)?,
            source,
        })
    }
}
