//! On Swarm mode, the proxy's follower: a container beside the proxy that keeps Swarm routes'
//! records on the tasks Swarm runs between docker flow's runs (the helper's `follow`).
//!
//! Swarm replaces tasks by itself (a node lost, a task that crashed); only the manager's task
//! state says which run where, and only the engine's socket tells it. The socket goes into this
//! container alone: it has no network (`--network none`), publishes nothing, runs docker flow's
//! helper on a read-only root without capabilities, and shares only the records' volume with
//! the proxy. The proxy, which faces the internet, never gets the socket. It is recreated when a
//! newer docker flow brings another helper build. With the proxy as a Swarm service
//! (`service/`) it joins the proxy's control network instead, and serves the replicas the
//! records and Caddy's config from there; docker flow then talks to it as to the proxy.

use super::{service, ADMIN};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::helper;

/// The label on the follower: the proxy it follows for.
const LABEL: &str = "io.docker-flow.follower-of";
/// Where it finds the records and the engine's socket.
pub(super) const RECORDS: &str = "/routes";
pub(super) const SOCKET: &str = "/var/run/docker.sock";

/// The follower's name beside the proxy `proxy`.
pub(super) fn name(proxy: &str) -> String {
    format!("{proxy}-follow")
}

/// Refuses (exit 3, before anything changes) a container at the follower's name beside the
/// proxy `proxy` that is not docker flow's follower for it: docker flow replaces its follower
/// by name, and never removes what it did not make.
pub(super) fn check_owner(engine: &Engine, proxy: &str) -> Result<()> {
    super::check_ours(
        engine,
        &name(proxy),
        (LABEL, proxy),
        "the proxy's follower",
        &format!("docker flow's follower of `{proxy}`"),
    )
}

/// The follower of one proxy: what it needs to know of it (not the proxy container itself,
/// which starts the follower).
pub(super) struct Follower<'a> {
    engine: &'a Engine,
    /// The proxy's name.
    proxy: &'a str,
    /// The volume of the proxy's records, which the follower keeps.
    records: String,
    /// Whether the proxy is a Swarm service whose replicas the follower serves.
    serves_replicas: bool,
}

impl<'a> Follower<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        proxy: &'a str,
        records: String,
        serves_replicas: bool,
    ) -> Follower<'a> {
        Follower {
            engine,
            proxy,
            records,
            serves_replicas,
        }
    }

    fn name(&self) -> String {
        name(self.proxy)
    }

    /// Makes sure the follower runs this build's helper.
    pub(super) fn ensure(&self) -> Result<()> {
        let name = self.name();
        let image = helper::ensure_image(
            self.engine,
            "on Swarm mode the proxy's follower runs docker flow's helper; without it Swarm's replacement tasks join the rotation only when docker flow runs (`docker flow proxy`)",
        )?;
        // With the proxy as a service, the follower serves its replicas on the control network;
        // otherwise it has no network at all.
        let network = if self.serves_replicas {
            service::control_network(self.proxy)
        } else {
            "none".to_string()
        };
        let seen = self.engine.read(&args(&[
            "container",
            "inspect",
            "--format",
            "{{.Config.Image}} {{.State.Running}} {{.HostConfig.NetworkMode}}",
            &name,
        ]))?;
        if seen.ok() && seen.stdout.trim() == format!("{image} true {network}") {
            return Ok(());
        }
        if seen.ok() {
            check_owner(self.engine, self.proxy)?;
            self.engine.change(&args(&["rm", "-f", &name]), None)?;
        }
        let socket = self.engine.socket_on_host()?;
        let mut a = args(&[
            "run",
            "-d",
            "--name",
            &name,
            "--restart",
            "unless-stopped",
            "--network",
            &network,
            "--label",
            &format!("{LABEL}={}", self.proxy),
            "-v",
            &format!("{}:{RECORDS}", self.records),
            "-v",
            &format!("{socket}:{SOCKET}"),
        ]);
        a.extend(args(&helper::CONFINED));
        a.extend(args(&[&image, "follow", RECORDS, SOCKET]));
        if self.serves_replicas {
            a.extend(args(&[
                "--serve",
                &format!("0.0.0.0:{}", service::CONTROL_PORT),
                ADMIN,
            ]));
        }
        let out = self.engine.change(&a, None)?;
        if out.ok_or_exists() {
            return Ok(());
        }
        Err(Error::environment(
            format!(
                "cannot start the proxy's follower `{name}`: {}",
                out.stderr.trim()
            ),
            format!("check that the engine's socket is at {socket} on the manager"),
        ))
    }
}
