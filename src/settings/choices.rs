//! The settings whose value is one of a few words (`--flow`'s steps, `--proxy-driver`, `--tls`,
//! `--engine`, `--proxy-publish`, `--pull`, `--format`, `--progress`, `--ansi`): each a type with
//! its parser, which names the words it takes when given another.

use super::options::Key;
use super::values::{bad, Parsed};

/// A flow step of the seed's `--flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Deploy,
    Scale,
    StopOld,
    Proxy,
    /// The user's `--test-cmd` against the release the proxy step would promote.
    Test,
    /// `deploy --canary`: the new release joins the live one in rotation (not a `--flow` step:
    /// it needs the canary's size).
    Canary,
}

impl Step {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Step::Deploy => "deploy",
            Step::Scale => "scale",
            Step::StopOld => "stop-old",
            Step::Proxy => "proxy",
            Step::Test => "test",
            Step::Canary => "canary",
        }
    }
}

pub(crate) fn parse_step(v: &str) -> Parsed<Step> {
    match v {
        "deploy" => Ok(Step::Deploy),
        "scale" => Ok(Step::Scale),
        "stop-old" => Ok(Step::StopOld),
        "proxy" => Ok(Step::Proxy),
        "test" => Ok(Step::Test),
        other => bad(
            format!("`{other}` is not a flow step"),
            "the steps are deploy, test, proxy, stop-old and scale",
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyDriver {
    Caddy,
    DockerFlowProxy,
    None,
}

pub(crate) fn parse_proxy_driver(v: &str) -> Parsed<ProxyDriver> {
    match v {
        "caddy" => Ok(ProxyDriver::Caddy),
        "docker-flow-proxy" => Ok(ProxyDriver::DockerFlowProxy),
        "none" => Ok(ProxyDriver::None),
        other => bad(
            format!("`{other}` is not a proxy driver"),
            "use caddy, docker-flow-proxy or none",
        ),
    }
}

/// `--tls`: how a route with domains gets its certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// From an ACME CA (Let's Encrypt unless `--acme-ca`), by Caddy.
    Acme,
    /// From Caddy's own local CA (staging, tests, private networks).
    Internal,
    /// No HTTPS: the route's domains are served on HTTP only.
    Off,
}

pub(crate) fn parse_tls(v: &str) -> Parsed<TlsMode> {
    match v {
        "acme" => Ok(TlsMode::Acme),
        "internal" => Ok(TlsMode::Internal),
        "off" => Ok(TlsMode::Off),
        other => bad(
            format!("`{other}` is not a TLS mode"),
            "use acme, internal or off (or give --tls-cert and --tls-key)",
        ),
    }
}

/// `--engine`: which orchestrator runs the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EngineKind {
    /// Swarm when the engine is a swarm manager and the project runs there as a stack.
    Auto,
    Compose,
    Swarm,
}

pub(crate) fn parse_engine(v: &str) -> Parsed<EngineKind> {
    match v {
        "auto" => Ok(EngineKind::Auto),
        "compose" => Ok(EngineKind::Compose),
        "swarm" => Ok(EngineKind::Swarm),
        other => bad(
            format!("`{other}` is not an engine"),
            "use auto, compose or swarm",
        ),
    }
}

/// `--proxy-publish`: how the proxy service's replicas publish their ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublishMode {
    /// On the node each replica runs on (the client's address kept).
    Host,
    /// Through Swarm's routing mesh, on every node (needs IPVS; the client's address is lost).
    Ingress,
}

pub(crate) fn parse_publish(v: &str) -> Parsed<PublishMode> {
    match v {
        "host" => Ok(PublishMode::Host),
        "ingress" => Ok(PublishMode::Ingress),
        other => bad(
            format!("`{other}` is not a publish mode"),
            "use host (each replica's node) or ingress (Swarm's routing mesh)",
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullPolicy {
    Always,
    Missing,
    Never,
}

pub(crate) fn parse_pull(v: &str) -> Parsed<PullPolicy> {
    match v {
        "always" => Ok(PullPolicy::Always),
        "missing" => Ok(PullPolicy::Missing),
        "never" => Ok(PullPolicy::Never),
        other => bad(
            format!("`{other}` is not a pull policy"),
            "use always, missing or never",
        ),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
}

pub(crate) fn parse_format(v: &str) -> Parsed<Format> {
    match v {
        "text" => Ok(Format::Text),
        "json" => Ok(Format::Json),
        other => bad(
            format!("`{other}` is not an output format"),
            "use text or json",
        ),
    }
}

/// `--progress`, as Compose spells it: how steps are shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProgressMode {
    /// A terminal gets `tty`, anything else `plain`.
    Auto,
    Tty,
    Plain,
    /// One JSON object a line, for CI.
    Json,
    Quiet,
}

impl ProgressMode {
    /// Compose's own `--progress` for the calls that show its output: the same, but plain
    /// where docker flow wraps each line in its JSON events; None lets Compose decide.
    pub(crate) fn for_compose(self) -> Option<&'static str> {
        match self {
            ProgressMode::Auto => None,
            ProgressMode::Tty => Some("tty"),
            ProgressMode::Plain | ProgressMode::Json => Some("plain"),
            ProgressMode::Quiet => Some("quiet"),
        }
    }
}

pub(crate) fn parse_progress(v: &str) -> Parsed<ProgressMode> {
    match v {
        "auto" => Ok(ProgressMode::Auto),
        "tty" => Ok(ProgressMode::Tty),
        "plain" => Ok(ProgressMode::Plain),
        "json" => Ok(ProgressMode::Json),
        "quiet" => Ok(ProgressMode::Quiet),
        other => bad(
            format!("`{other}` is not a progress type"),
            "use auto, tty, plain, json or quiet (as Compose's --progress)",
        ),
    }
}

/// `--ansi`, as Compose spells it: whether escape codes (colour, redrawn lines) are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ansi {
    Auto,
    Always,
    Never,
}

pub(crate) fn parse_ansi(v: &str) -> Parsed<Ansi> {
    match v {
        "auto" => Ok(Ansi::Auto),
        "always" => Ok(Ansi::Always),
        "never" => Ok(Ansi::Never),
        other => bad(
            format!("`{other}` is not an --ansi mode"),
            "use never, always or auto (as Compose's --ansi)",
        ),
    }
}

/// The words a setting takes, for completion (`docker flow deploy --tls <TAB>`); none for a
/// setting that takes other values. Each is checked against its parser below.
pub(crate) fn words(key: Key) -> &'static [&'static str] {
    match key {
        Key::Flow => &["deploy", "test", "proxy", "stop-old", "scale"],
        Key::ProxyDriver => &["caddy", "docker-flow-proxy", "none"],
        Key::Tls => &["acme", "internal", "off"],
        Key::Engine => &["auto", "compose", "swarm"],
        Key::ProxyPublish => &["host", "ingress"],
        Key::Pull => &["always", "missing", "never"],
        Key::Format => &["text", "json"],
        Key::Progress => &["auto", "tty", "plain", "json", "quiet"],
        Key::Ansi => &["never", "always", "auto"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_completion_offers_is_one_its_setting_takes() {
        let parses = |key: Key, w: &str| match key {
            Key::Flow => parse_step(w).is_ok(),
            Key::ProxyDriver => parse_proxy_driver(w).is_ok(),
            Key::Tls => parse_tls(w).is_ok(),
            Key::Engine => parse_engine(w).is_ok(),
            Key::ProxyPublish => parse_publish(w).is_ok(),
            Key::Pull => parse_pull(w).is_ok(),
            Key::Format => parse_format(w).is_ok(),
            Key::Progress => parse_progress(w).is_ok(),
            Key::Ansi => parse_ansi(w).is_ok(),
            _ => false,
        };
        for &key in Key::ALL {
            for w in words(key) {
                assert!(parses(key, w), "{}: `{w}`", key.name());
            }
        }
        assert!(words(Key::Tls).contains(&"internal"));
    }
}
