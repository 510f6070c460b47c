//! On Swarm mode, the proxy's follower: a container beside the proxy that keeps Swarm routes'
//! records on the tasks Swarm runs between docker flow's runs (the helper's `follow`).
//!
//! Swarm replaces tasks by itself (a node lost, a task that crashed); only the manager's task
//! state says which run where, and only the engine's socket tells it. The socket goes into this
//! container alone: it has no network (`--network none`), publishes nothing, runs docker flow's
//! helper on a read-only root without capabilities, and shares only the records' volume with
//! the proxy. The proxy, which faces the internet, never gets the socket. It is recreated when a
//! newer docker flow brings another helper build. With the proxy as a Swarm service
//! (`service.rs`) it joins the proxy's control network instead, and serves the replicas the
//! records and Caddy's config from there; docker flow then talks to it as to the proxy.

use super::container::ProxyContainer;
use super::{service, ADMIN};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::helper;

/// The label on the follower: the proxy it follows for.
const LABEL: &str = "io.docker-flow.follower-of";
/// Where it finds the records and the engine's socket.
const RECORDS: &str = "/routes";
pub(super) const SOCKET: &str = "/var/run/docker.sock";

/// The follower's name beside the proxy `proxy`.
pub(super) fn name(proxy: &str) -> String {
    format!("{proxy}-follow")
}

pub(super) struct Follower<'c, 'a> {
    engine: &'a Engine,
    proxy: &'c ProxyContainer<'a>,
}

impl<'c, 'a> Follower<'c, 'a> {
    pub(super) fn new(engine: &'a Engine, proxy: &'c ProxyContainer<'a>) -> Follower<'c, 'a> {
        Follower { engine, proxy }
    }

    fn name(&self) -> String {
        name(self.proxy.name())
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
        let network = if self.proxy.is_service() {
            service::control_network(self.proxy.name())
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
            &format!("{LABEL}={}", self.proxy.name()),
            "-v",
            &format!("{}:{RECORDS}", self.proxy.records_volume()),
            "-v",
            &format!("{socket}:{SOCKET}"),
        ]);
        a.extend(args(&helper::CONFINED));
        a.extend(args(&[&image, "follow", RECORDS, SOCKET]));
        if self.proxy.is_service() {
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
