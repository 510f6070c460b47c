//! The proxy in front of the target, behind one interface so the flows do not care which.
//!
//! - `caddy`: docker flow starts Caddy itself and switches by rewriting the DNS record a route
//!   resolves its upstreams from.
//! - `docker-flow-proxy`: the seed's reconfigure protocol, for users of Docker Flow Proxy.
//! - `none`: no proxy; flows still deploy, health-gate and stop the old release.

pub(crate) mod caddy;
pub(crate) mod dfp;

use std::time::Duration;

use crate::engine::Engine;
use crate::error::Result;
use crate::instance::{Instance, Upstream};
use crate::model::Color;
use crate::report::RouteReport;
use crate::settings::{ProxyDriver, Settings, TlsSettings};

pub(crate) use caddy::PREVIEW_HEADER;

/// Which route this run owns.
#[derive(Debug, Clone)]
pub(crate) struct RouteSpec {
    pub project: String,
    pub target: String,
    pub paths: Vec<String>,
    pub domains: Vec<String>,
    /// The container port the route forwards to.
    pub port: u16,
    /// How its domains are served on HTTPS (files resolved against the project's directory).
    pub tls: TlsSettings,
    /// Whether the target runs on Swarm mode (its route network is an attachable overlay, its
    /// instances are tasks that join it with their service).
    pub swarm: bool,
    /// The project's networks the target joins, where its other services reach it by its
    /// Compose service name; none on Swarm mode.
    pub networks: Vec<String>,
    /// Whether the proxy answers that name there, for the live release: for a blue-green target
    /// (a plain one keeps its name, which Compose gives its own containers).
    pub answers_name: bool,
}

impl RouteSpec {
    /// The route of `target` of `project` as the settings ask for it, forwarding to `port`,
    /// on `platform`; files named in the settings resolved against the project's directory.
    pub(crate) fn new(
        settings: &crate::settings::Settings,
        project: &crate::compose::Project,
        target: &str,
        port: u16,
        platform: crate::platform::Platform,
    ) -> RouteSpec {
        RouteSpec {
            project: project.model.name.clone(),
            target: target.to_string(),
            paths: settings.service_paths.clone(),
            domains: settings.service_domains.clone(),
            port,
            tls: settings.tls.in_dir(&project.dir),
            swarm: platform.is_swarm(),
            networks: if platform.is_swarm() {
                Vec::new()
            } else {
                project.model.networks_of(target)
            },
            // A plain target keeps its name, which Compose gives its own containers: the proxy
            // answers it only for a blue-green one (its containers are `app-blue`/`app-green`).
            answers_name: settings.blue_green,
        }
    }
}

/// What is the proxy's alone: the networks, volumes and containers that hold its control
/// surface, its records and its keys. A project that joins or mounts one is refused before
/// anything changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Private {
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    pub containers: Vec<String>,
}

pub(crate) trait Proxy {
    fn driver(&self) -> &'static str;
    /// The proxy's own networks, volumes and containers (none by default).
    fn private(&self) -> Private {
        Private::default()
    }
    /// Before anything changes: a proxy that runs must be reachable (exit 3 otherwise).
    fn preflight(&self) -> Result<()> {
        Ok(())
    }
    /// Makes sure the proxy runs and has this route.
    fn ensure(&self) -> Result<()>;
    /// What the user should know of the proxy since last asked (it serves, but not as asked:
    /// say, replicas Swarm cannot place).
    fn take_warnings(&self) -> Vec<String> {
        Vec::new()
    }
    /// The upstreams the route sends traffic to now; None when the proxy has no such route or
    /// cannot say.
    fn current(&self) -> Result<Option<Vec<Upstream>>>;
    /// Points the route at exactly `upstreams` (all seen healthy), in one atomic change.
    fn switch(&self, upstreams: &[Upstream], color: Option<Color>) -> Result<()>;
    /// Sends the requests that opt in (the header `X-Docker-Flow-Preview` with the key this
    /// returns, new for each preview) to exactly `upstreams`, all other traffic staying where it
    /// goes; none: no preview. None when the driver has no preview.
    fn preview(&self, _upstreams: &[Upstream]) -> Result<Option<String>> {
        Ok(None)
    }
    /// What the preview sends requests to now (none without a preview).
    fn previewed(&self) -> Result<Vec<Upstream>> {
        Ok(Vec::new())
    }
    /// The key of the preview now: the value of `X-Docker-Flow-Preview` that reaches it (none
    /// without a preview).
    fn preview_key(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// When this run gave the proxy new domains to get certificates for: waits until it holds
    /// them, at most `timeout`. What it found.
    fn await_certificates(&self, _timeout: Duration) -> Result<Certificates> {
        Ok(Certificates::default())
    }
    /// Waits until no request is in flight to `old`, at most `timeout`.
    fn drain(&self, old: &[Upstream], timeout: Duration) -> Result<Drained>;
    /// Detaches instances that were stopped from what the route reaches them by (they are out
    /// of rotation already; this frees their addresses).
    fn retire(&self, _stopped: &[Instance]) -> Result<()> {
        Ok(())
    }
    /// The routes of this project, read back from the proxy.
    fn routes(&self) -> Result<Vec<RouteReport>>;
    /// Takes the route off the proxy (`docker flow down`): its config, its records, its
    /// network; other routes as they are. Nothing to take off: Ok.
    fn remove_route(&self) -> Result<()>;
    /// Serves the route's maintenance page (503, with `page`) instead of its releases, or stops
    /// (None); whether the proxy has the route. Drivers without it refuse.
    fn maintenance(&self, _page: Option<&str>) -> Result<bool> {
        Err(crate::error::Error::usage(
            format!("the {} proxy driver has no maintenance mode", self.driver()),
            "maintenance mode needs docker flow's own proxy (--proxy-driver caddy)",
        ))
    }
    /// `docker flow down --proxy`: removes the proxy docker flow runs when no project has a
    /// route in it any more (its volumes too with `volumes`). None: no proxy of docker flow's
    /// to remove.
    fn remove_if_unused(&self, _volumes: bool) -> Result<Option<crate::report::ProxyRemoval>> {
        Ok(None)
    }
    /// Keeps `warm` (the release `--keep-old` keeps running out of rotation) ready to be
    /// swapped back in until `until`, by a rollback that has not read anything else yet.
    fn keep_warm(&self, _warm: &[Instance], _until: std::time::SystemTime) -> Result<()> {
        Ok(())
    }
    /// The rollback's first step, before the deploy lock: swaps the release kept warm back in,
    /// if the proxy holds one that answers on `path` and is none of `unhealthy`. What the route
    /// sent traffic to before; None when there was nothing to swap.
    fn swap_warm(&self, _path: &str, _unhealthy: &[String]) -> Result<Option<Vec<Upstream>>> {
        Ok(None)
    }
    /// Once a run holds the deploy lock, before it reads the route: no release kept warm can
    /// be swapped in behind it any more.
    fn settle(&self) -> Result<()> {
        Ok(())
    }
}

/// The certificates a route's new domains got while the command waited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Certificates {
    pub obtained: Vec<String>,
    /// Domains still without one when the wait ended (the proxy keeps trying).
    pub missing: Vec<String>,
    pub waited: Duration,
}

/// How waiting for the old instances' requests in flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// None is left in flight (or the driver cannot tell and waited what its proxy needs);
    /// `waited_for`: the most that were in flight while it waited (long requests, streams).
    Clear { waited_for: u64 },
    /// `--drain-timeout` passed with requests still in flight (how many, when the proxy said).
    TimedOut(Option<u64>),
}

/// The driver without a proxy.
pub(crate) struct NoProxy;

impl Proxy for NoProxy {
    fn driver(&self) -> &'static str {
        "none"
    }
    fn ensure(&self) -> Result<()> {
        Ok(())
    }
    fn current(&self) -> Result<Option<Vec<Upstream>>> {
        Ok(None)
    }
    fn switch(&self, _: &[Upstream], _: Option<Color>) -> Result<()> {
        Ok(())
    }
    fn drain(&self, _: &[Upstream], _: Duration) -> Result<Drained> {
        Ok(Drained::Clear { waited_for: 0 })
    }
    fn routes(&self) -> Result<Vec<RouteReport>> {
        Ok(Vec::new())
    }
    fn remove_route(&self) -> Result<()> {
        Ok(())
    }
}

/// The driver the settings ask for.
pub(crate) fn for_settings<'a>(
    engine: &'a Engine,
    settings: &Settings,
    route: RouteSpec,
) -> Box<dyn Proxy + 'a> {
    match settings.proxy.driver {
        ProxyDriver::Caddy => Box::new(caddy::Caddy::new(engine, &settings.proxy, route)),
        ProxyDriver::DockerFlowProxy => {
            Box::new(dfp::DockerFlowProxy::new(engine, settings, route))
        }
        ProxyDriver::None => Box::new(NoProxy),
    }
}

/// `http://host:port` with IPv6 hosts bracketed.
pub(crate) fn base_url(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("http://[{host}]:{port}")
    } else {
        format!("http://{host}:{port}")
    }
}
