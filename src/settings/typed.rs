//! The validated settings every flow works from (`Settings`, with its `ProxySettings` and
//! `TlsSettings`): typed, made once by `Resolved::settings` (`validate.rs`) before any work.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::choices::{self, Ansi, EngineKind, Format, ProgressMode, ProxyDriver, PullPolicy, Step};
use super::values::{self, ScaleSpec};

/// The validated settings every flow works from.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub blue_green: bool,
    /// Where `blue_green` came from (`--blue-green`, `docker-flow.yml line 2`, `default`).
    pub blue_green_origin: String,
    pub switch_mode: bool,
    /// `--test-cmd` as argv (empty: no test step).
    pub test_cmd: Vec<String>,
    /// `--keep-old`: how long the replaced release stays warm (0: stopped at once).
    pub keep_old: Duration,
    /// `--no-promote`: the deploy stops before the proxy step (the release is previewed).
    pub no_promote: bool,
    /// `--canary`: the deploy puts this many new instances beside the live ones.
    pub canary: Option<values::CanarySpec>,
    pub cert_path: Option<PathBuf>,
    pub compose_paths: Vec<PathBuf>,
    pub project_directory: Option<PathBuf>,
    /// Compose's `--env-file`s and `--profile`s, passed to every Compose call.
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
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
    /// `--engine`: Compose on one engine, Swarm mode, or which of them the engine says.
    pub engine: EngineKind,
    pub service_port: Option<u16>,
    pub service_domains: Vec<String>,
    /// How the route's domains are served on HTTPS.
    pub tls: TlsSettings,
    pub pull: PullPolicy,
    pub health_timeout: Duration,
    pub health_path: String,
    pub drain_timeout: Duration,
    pub lock_wait: Duration,
    pub dry_run: bool,
    pub format: Format,
    /// `--progress`, `quiet` when `-q` was given.
    pub progress: ProgressMode,
    /// `--ansi`, `never` when it was left at auto and `NO_COLOR` is set.
    pub ansi: Ansi,
    /// The services `docker-flow.yml` gives settings of their own (`services:`), each with the
    /// file and line it stands on: a name the project lacks is refused once the project is read.
    pub services_in_file: Vec<(String, PathBuf, usize)>,
}

impl Settings {
    /// The form progress takes: `--progress`, `--ansi`, and whether stderr is a terminal.
    pub(crate) fn progress_mode(&self) -> crate::progress::Mode {
        use crate::progress::Mode;
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        match self.progress {
            ProgressMode::Quiet => Mode::Quiet,
            ProgressMode::Json => Mode::Json,
            ProgressMode::Plain => Mode::Plain,
            _ if self.ansi == Ansi::Never => Mode::Plain,
            ProgressMode::Tty => Mode::Tty,
            ProgressMode::Auto if terminal => Mode::Tty,
            ProgressMode::Auto => Mode::Plain,
        }
    }

    /// What the engine runner needs of the settings.
    pub(crate) fn engine_options(&self) -> crate::engine::Options {
        crate::engine::Options {
            host: self.host.clone(),
            cert_path: self.cert_path.clone(),
            dry_run: self.dry_run,
            shown: self.progress_mode(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ProxySettings {
    pub driver: ProxyDriver,
    pub image: String,
    pub name: String,
    pub http_port: u16,
    pub https_port: u16,
    /// Swarm mode: the proxy as a service of this many replicas (None: one container).
    pub replicas: Option<u32>,
    /// Where the replicas' image is pushed (None: only the node docker talks to has it).
    pub registry: Option<String>,
    /// How the replicas publish their ports.
    pub publish: choices::PublishMode,
    /// Proxies in front whose `X-Forwarded-For` Caddy believes; None: not given (left as the
    /// proxy has it), empty: none.
    pub trusted_proxies: Option<Vec<String>>,
    pub host: String,
    pub reconf_port: u16,
    pub docker_host: Option<String>,
    pub docker_cert_path: Option<PathBuf>,
}

/// How the route's domains are served on HTTPS (the Caddy driver; see `proxy::caddy::tls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// Where the certificates come from; None: HTTP only (`--tls off`, or no domains).
    pub source: Option<CertSource>,
    /// HTTP requests for the domains get a 308 to HTTPS.
    pub redirect: bool,
}

impl TlsSettings {
    /// These settings with relative file paths taken from `dir` (the project's directory).
    pub(crate) fn in_dir(&self, dir: &Path) -> TlsSettings {
        let at = |p: &PathBuf| dir.join(p);
        let source = self.source.as_ref().map(|s| match s {
            CertSource::Files { cert, key } => CertSource::Files {
                cert: at(cert),
                key: at(key),
            },
            CertSource::Acme { ca, email, ca_root } => CertSource::Acme {
                ca: ca.clone(),
                email: email.clone(),
                ca_root: ca_root.as_ref().map(at),
            },
            CertSource::Internal => CertSource::Internal,
        });
        TlsSettings {
            source,
            redirect: self.redirect,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CertSource {
    Acme {
        ca: Option<String>,
        email: Option<String>,
        /// A root the proxy trusts for the CA's own HTTPS.
        ca_root: Option<PathBuf>,
    },
    Internal,
    /// Files the user gives, relative to the project's directory.
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
}
