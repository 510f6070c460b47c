//! The route's own network, `dflow-<project>.<target>`: the proxy and the instances in rotation
//! meet there, and nowhere else. The records in the rotation hold the instances' addresses on it.
//!
//! A Compose project name cannot hold a `.`, so the name is one route's only (`shop` with
//! `api-web` and `shop-api` with `web` differ), and a network of that name is reused only when its
//! label says it is this route's.

use std::cell::RefCell;

use super::rotation::Member;
use super::service;
use crate::engine::{args, Engine, Refusal};
use crate::error::{Error, Result};
use crate::model::{route_label, route_network, route_network_create, LABEL_ROUTE as LABEL};
use crate::proxy::RouteSpec;
use crate::settings::ProxySettings;

pub(super) struct RouteNetwork<'a> {
    engine: &'a Engine,
    name: String,
    /// `docker network create` for it (with its owner label).
    create: Vec<String>,
    /// Its owner label's value: this route (`<project>.<target>`).
    ours: String,
    /// The proxy container, which is on the network but never in rotation.
    proxy: String,
    /// The proxy as a Swarm service: its settings (the network is added to the service).
    service: Option<ProxySettings>,
    /// The network as last inspected: its owner label and every container on it (the proxy
    /// too) with its address; None when not read since the last change docker flow made to it.
    seen: RefCell<Option<Seen>>,
}

/// One inspection of the route network.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// None: there is no such network.
    owner: Option<String>,
    id: String,
    containers: Vec<Member>,
}

impl<'a> RouteNetwork<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        route: &RouteSpec,
        proxy: &ProxySettings,
    ) -> RouteNetwork<'a> {
        RouteNetwork {
            engine,
            name: route_network(&route.project, &route.target, route.swarm),
            create: route_network_create(&route.project, &route.target, route.swarm),
            ours: route_label(&route.project, &route.target),
            proxy: proxy.name.clone(),
            service: (route.swarm && proxy.replicas.is_some()).then(|| proxy.clone()),
            seen: RefCell::new(None),
        }
    }

    /// The network's owner and containers, read once until docker flow changes it (the
    /// deploy lock keeps other runs of the project from changing it meanwhile).
    fn seen(&self) -> Result<Seen> {
        if let Some(s) = self.seen.borrow().clone() {
            return Ok(s);
        }
        let out = self.engine.read(&args(&[
            "network",
            "inspect",
            "--format",
            &format!(
                "{{{{index .Labels \"{LABEL}\"}}}}\t{{{{.Id}}}}\n{{{{range .Containers}}}}{{{{.Name}}}} {{{{.IPv4Address}}}}\n{{{{end}}}}"
            ),
            &self.name,
        ]))?;
        let mut lines = out.stdout.lines();
        let (owner, id) = lines
            .next()
            .unwrap_or_default()
            .split_once('\t')
            .map(|(o, i)| (o.trim().to_string(), i.trim().to_string()))
            .unwrap_or_default();
        let seen = Seen {
            owner: out.ok().then_some(owner),
            id,
            containers: lines
                .filter_map(|line| line.trim().split_once(' '))
                .map(|(name, cidr)| {
                    let ip = cidr.split('/').next().unwrap_or_default();
                    (name.to_string(), ip.to_string())
                })
                .collect(),
        };
        if !self.engine.dry_run() {
            *self.seen.borrow_mut() = Some(seen.clone());
        }
        Ok(seen)
    }

    /// The network read again now: before connecting instances by name, since a container of
    /// the same name may have been replaced since the last read.
    pub(super) fn fresh(&self) -> Result<Seen> {
        self.changed();
        self.seen()
    }

    /// Forgets what was read: the network changed.
    fn changed(&self) {
        *self.seen.borrow_mut() = None;
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Makes sure the network exists, is this route's, and has the proxy on it. The preflight's
    /// read serves: a proxy created since is not on it yet (so it is connected), and one
    /// recreated by a migration was connected to its old networks as it was created; another
    /// run that created the network meanwhile makes `network create` conflict, which reads it
    /// again.
    pub(super) fn ensure(&self) -> Result<()> {
        let ours = self.ours.as_str();
        let seen = self.seen()?;
        if seen.owner.as_deref() == Some(ours) && self.proxy_on(&seen)? {
            return Ok(());
        }
        self.changed();
        let created = self.engine.change(&self.create, None)?;
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
        match &self.service {
            Some(settings) => {
                self.changed();
                if self.proxy_on(&self.seen()?)? {
                    return Ok(());
                }
                service::add_network(self.engine, settings, &self.name)
            }
            None => self.connect(&self.proxy),
        }
    }

    /// Whether the proxy is on the network: its container, or the service's replicas (the
    /// service's spec says; its tasks on other nodes do not show here).
    fn proxy_on(&self, seen: &Seen) -> Result<bool> {
        match &self.service {
            None => Ok(seen.containers.iter().any(|(n, _)| *n == self.proxy)),
            Some(_) if seen.id.is_empty() => Ok(false),
            Some(_) => Ok(match service::find(self.engine, &self.proxy)? {
                service::Service::Ours { networks, .. } => networks.contains(&seen.id),
                _ => false,
            }),
        }
    }

    /// Refuses a network of this name that another route (or something else) owns; fine when
    /// there is none yet.
    pub(super) fn check_owner(&self) -> Result<()> {
        let ours = self.ours.as_str();
        let owner = match self.seen()?.owner {
            None => return Ok(()),
            Some(o) if o == ours => return Ok(()),
            Some(o) => o,
        };
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

    /// Removes the network, this route's only (`docker flow down`): everything on it taken off
    /// first (the proxy, and instances about to go). None there: nothing to do.
    pub(super) fn remove(&self) -> Result<()> {
        self.changed();
        let seen = self.seen()?;
        if seen.owner.is_none() {
            return Ok(());
        }
        self.check_owner()?;
        // The proxy is among them (on the network, never in rotation).
        for (container, _) in &seen.containers {
            self.disconnect(container)?;
        }
        let out = self
            .engine
            .change(&args(&["network", "rm", &self.name]), None)?;
        self.changed();
        if out.ok_or_gone() {
            return Ok(());
        }
        Err(Error::environment(
            format!(
                "cannot remove the route's network `{}`: {}",
                self.name,
                out.last_error_line()
            ),
            format!("see `docker network inspect {}`", self.name),
        ))
    }

    /// Connects a container (idempotent).
    pub(super) fn connect(&self, container: &str) -> Result<()> {
        if self
            .seen
            .borrow()
            .as_ref()
            .is_some_and(|s| s.containers.iter().any(|(n, _)| n == container))
        {
            return Ok(());
        }
        self.changed();
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
        self.changed();
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
    /// The containers on the network but the proxy, with their addresses.
    pub(super) fn members(&self) -> Result<Vec<Member>> {
        Ok(self
            .seen()?
            .containers
            .into_iter()
            .filter(|(name, _)| {
                // The proxy, or one of its replicas (`<service>.<slot>.<task>`).
                *name != self.proxy
                    && !(self.service.is_some()
                        && name
                            .strip_prefix(self.proxy.as_str())
                            .is_some_and(|r| r.starts_with('.')))
            })
            .collect())
    }
}
