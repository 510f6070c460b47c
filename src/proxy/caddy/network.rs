//! The route's own network, `dflow-<project>-<target>`: the proxy and the instances in rotation
//! meet there, and nowhere else. The records in the rotation hold the instances' addresses on it.

use super::rotation::Member;
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::proxy::RouteSpec;

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
            name: format!("dflow-{}-{}", route.project, route.target),
            label: format!("io.docker-flow.route={}.{}", route.project, route.target),
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
        if !created.ok_or_exists() {
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
