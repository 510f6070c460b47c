//! The route's own network, `dflow-<project>.<target>`: the proxy and the instances in rotation
//! meet there, and nowhere else. The records in the rotation hold the instances' addresses on it.
//!
//! A Compose project name cannot hold a `.`, so the name is one route's only (`shop` with
//! `api-web` and `shop-api` with `web` differ), and a network of that name is reused only when its
//! label says it is this route's.

use super::rotation::Member;
use crate::engine::{args, Engine, Refusal};
use crate::error::{Error, Result};
use crate::proxy::RouteSpec;

/// The label on a route's network: which route (`<project>.<target>`) it is.
const LABEL: &str = "io.docker-flow.route";

fn route_label(route: &RouteSpec) -> String {
    format!("{}.{}", route.project, route.target)
}

pub(super) struct RouteNetwork<'a> {
    engine: &'a Engine,
    name: String,
    label: String,
    /// The proxy container, which is on the network but never in rotation.
    proxy: String,
}

impl<'a> RouteNetwork<'a> {
    pub(super) fn new(engine: &'a Engine, route: &RouteSpec, proxy: &str) -> RouteNetwork<'a> {
        RouteNetwork {
            engine,
            name: format!("dflow-{}.{}", route.project, route.target),
            label: format!("{LABEL}={}", route_label(route)),
            proxy: proxy.to_string(),
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Creates the network (once) and connects the proxy to it.
    pub(super) fn ensure(&self) -> Result<()> {
        let created = self.engine.change(
            &args(&["network", "create", "--label", &self.label, &self.name]),
            None,
        )?;
        if created.refusal() == Some(Refusal::Conflict) {
            self.check_owner()?;
        } else if !created.ok() {
            return Err(Error::environment(
                format!(
                    "cannot create the route network `{}`: {}",
                    self.name,
                    created.stderr.trim()
                ),
                "check `docker network ls` and the engine's address pools",
            ));
        }
        self.connect(&self.proxy)
    }

    /// Refuses a network of this name that another route (or something else) owns; fine when
    /// there is none yet.
    pub(super) fn check_owner(&self) -> Result<()> {
        let out = self.engine.read(&args(&[
            "network",
            "inspect",
            "--format",
            &format!("{{{{index .Labels \"{LABEL}\"}}}}"),
            &self.name,
        ]))?;
        let owner = out.stdout.trim();
        let ours = self.label.split_once('=').map_or("", |(_, v)| v);
        if !out.ok() || owner == ours {
            return Ok(());
        }
        Err(Error::ProxyNotOwned {
            message: format!(
                "the network `{}` belongs to {}, not to this route ({ours})",
                self.name,
                if owner.is_empty() {
                    "something other than docker flow".to_string()
                } else {
                    format!("the route `{owner}`")
                }
            ),
            help: format!(
                "docker flow never joins a network it did not make for this route: remove or rename `{}`",
                self.name
            ),
        })
    }

    /// Connects a container (idempotent).
    pub(super) fn connect(&self, container: &str) -> Result<()> {
        let out = self
            .engine
            .change(&args(&["network", "connect", &self.name, container]), None)?;
        if !out.ok_or_exists() {
            return Err(Error::environment(
                format!(
                    "cannot connect `{container}` to the route network `{}`: {}",
                    self.name,
                    out.stderr.trim()
                ),
                format!(
                    "check `docker network inspect {}`; `docker flow proxy` repairs the route",
                    self.name
                ),
            ));
        }
        Ok(())
    }

    /// Takes a stopped container off the network (idempotent): it is out of rotation already;
    /// this frees its address.
    pub(super) fn disconnect(&self, container: &str) -> Result<()> {
        let out = self.engine.change(
            &args(&["network", "disconnect", "--force", &self.name, container]),
            None,
        )?;
        if !out.ok_or_gone() {
            return Err(Error::environment(
                format!(
                    "cannot take `{container}` off the route: {}",
                    out.stderr.trim()
                ),
                format!("run `docker network disconnect {} {container}`", self.name),
            ));
        }
        Ok(())
    }

    /// The instances on the network, as (container name, IPv4 address): the running ones (a
    /// stopped container has no endpoint), the proxy aside. Empty without the network (in a dry
    /// run, say).
    pub(super) fn members(&self) -> Result<Vec<Member>> {
        let out = self.engine.read(&args(&[
            "network",
            "inspect",
            "--format",
            "{{range .Containers}}{{.Name}} {{.IPv4Address}}\n{{end}}",
            &self.name,
        ]))?;
        Ok(out
            .stdout
            .lines()
            .filter_map(|line| line.trim().split_once(' '))
            .filter(|(name, _)| *name != self.proxy)
            .map(|(name, cidr)| {
                let ip = cidr.split('/').next().unwrap_or_default();
                (name.to_string(), ip.to_string())
            })
            .collect())
    }
}
