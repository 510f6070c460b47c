//! The Caddy driver: a Caddy container docker flow starts and configures itself.
//!
//! - `container/`: the proxy container (Caddy and the rotation, with their control surface on the
//!   container's loopback) and the one way in, docker flow's helper run in it by `docker exec`
//!   through the engine that runs the proxy. Recognising its own proxy; making sure it runs
//!   (`provision`), creating it (`create`), migrating an older one (`migrate`).
//! - `admin`: Caddy's admin API through that helper.
//! - `config`: the JSON docker flow writes, as pure functions.
//! - `configure`: writing it into the running Caddy (the route, or its removal), one change at
//!   most, guarded by the config's ETag.
//! - `rotation`: the DNS records each route resolves its upstreams from; a switch rewrites one.
//! - `network`: the route's own network, where the proxy reaches the instances in rotation.
//! - `maintenance`: a route's maintenance page (503), on or off.
//! - `names`: the target's Compose service name, answered by the proxy on the project's networks
//!   for the project's other services, with the live release.
//! - `drain`: waiting until Caddy has no request in flight to the instances that left a route.
//! - `preview`: a staged release in a record of its own, reached only with its key.
//! - `standby`: the instant rollback's warm release beside the route's record, swapped in or
//!   settled.
//! - `certificates`: the route's HTTPS as a run holds it, and waiting for the certificates
//!   Caddy obtains itself.
//! - `tls`: HTTPS for a route's domains: which issuer Caddy gets their certificates from, and
//!   the files (certificates, keys, roots) docker flow copies in for it (or gives the
//!   replicas of the proxy service as Swarm secrets).
//! - `follower`: Swarm mode: the container that keeps routes' records on the tasks Swarm runs,
//!   and serves the proxy service's replicas.
//! - `service/`: Swarm mode with `--proxy-replicas`: the proxy as a service of replicas, its
//!   control network and that network's key (`control`), its replicas' image (`image`), and the
//!   files its replicas get as Swarm secrets (`secrets`).
//!
//! This file is the driver's entry: `Caddy` and its `Proxy` implementation, which hands the
//! preview, the warm standby, the certificates and the config writing to the files above.
//!
//! Caddy drops requests whenever its config changes, so its config changes only when a route is
//! created (or its paths, domains or certificates change), each time in one request guarded by `If-Match`, so
//! a concurrent change by another project is retried, not overwritten. A switch connects the new
//! instances to the route network and rewrites the record; the old ones leave the record while
//! they still run, and are stopped only once Caddy reports no request in flight to them (or
//! `--drain-timeout` passed).

mod admin;
mod certificates;
mod config;
mod configure;
mod container;
mod drain;
mod follower;
mod maintenance;
mod names;
mod network;
mod preview;
mod rotation;
mod service;
mod standby;
mod tls;

use std::cell::RefCell;
use std::time::Duration;

use self::admin::{Admin, Reply};
use self::config::Owner;
use self::container::{Found, Provisioned, ProxyContainer};
use self::network::RouteNetwork;
use self::rotation::{Member, Rotation};
use self::tls::Material;
use super::{Certificates, Drained, Proxy, RouteSpec};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::helper;
use crate::instance::{Instance, Upstream};
use crate::model::Color;
use crate::report::RouteReport;
use crate::settings::ProxySettings;

/// Caddy's admin API, on the proxy container's loopback.
pub(crate) const ADMIN: &str = "127.0.0.1:2019";
/// The rotation's DNS server, on the proxy container's loopback.
pub(crate) const RESOLVER: &str = "127.0.0.1:5353";
pub(crate) use config::PREVIEW_HEADER;
/// Where the rotation's records live inside the proxy container.
pub(crate) const RECORDS: &str = "/routes";

/// Refuses (exit 3, before anything changes) a container at `name`, a name docker flow replaces
/// or removes containers by, unless its label `label` is `ours`: docker flow never removes a
/// container it did not make. `what` is the name's role, `not` what the container is not.
pub(super) fn check_ours(
    engine: &Engine,
    name: &str,
    (label, ours): (&str, &str),
    what: &str,
    not: &str,
) -> Result<()> {
    match engine.container_field(name, &format!("{{{{index .Config.Labels \"{label}\"}}}}"))? {
        Some(value) if value != ours => Err(Error::environment(
            format!("the container `{name}` stands at the name of {what} but is not {not}"),
            "docker flow never removes a container it did not make: rename or remove it, or use another --proxy-name",
        )),
        _ => Ok(()),
    }
}

/// What the user can do when the engine cannot run docker flow's helper.
const HELPER_HELP: &str = "the Caddy driver runs docker flow's helper in the proxy container: use --proxy-driver none or docker-flow-proxy, and give the service a Docker healthcheck (Compose `healthcheck:`)";

pub(crate) struct Caddy<'a> {
    engine: &'a Engine,
    route: RouteSpec,
    container: ProxyContainer<'a>,
    network: RouteNetwork<'a>,
    /// What stands at the proxy's name, once looked up (provisioning brings it up to date).
    found: RefCell<Option<Found>>,
    /// The proxy's config as the preflight read it, so that a proxy that was running then is
    /// not asked again (every question is a `docker exec`); a change written on it is guarded
    /// by its ETag, so a config changed meanwhile is read again.
    config_seen: RefCell<Option<Reply>>,
    /// The route's record as last read or written (None: not read yet).
    members: RefCell<Option<Option<Vec<Member>>>>,
    /// The route's HTTPS and its files, once read (the preflight reads them).
    tls: RefCell<Option<Option<Material>>>,
    /// Whether this run wrote the route with domains Caddy gets certificates for itself.
    issuing: std::cell::Cell<bool>,
    /// What the user should know, not said yet.
    warnings: RefCell<Vec<String>>,
}

impl<'a> Caddy<'a> {
    pub(crate) fn new(engine: &'a Engine, settings: &ProxySettings, route: RouteSpec) -> Caddy<'a> {
        Caddy {
            engine,
            network: RouteNetwork::new(engine, &route, settings),
            container: ProxyContainer::new(engine, settings.clone(), route.swarm),
            route,
            found: RefCell::new(None),
            config_seen: RefCell::new(None),
            members: RefCell::new(None),
            tls: RefCell::new(None),
            issuing: std::cell::Cell::new(false),
            warnings: RefCell::new(Vec::new()),
        }
    }

    fn admin(&self) -> Admin<'_, 'a> {
        Admin::new(&self.container)
    }

    fn rotation(&self) -> Rotation<'_, 'a> {
        Rotation::new(&self.container)
    }

    fn found(&self) -> Result<Found> {
        if let Some(f) = self.found.borrow().clone() {
            return Ok(f);
        }
        let f = self.container.find()?;
        *self.found.borrow_mut() = Some(f.clone());
        Ok(f)
    }

    /// Whether the proxy runs in this layout (so its admin API and rotation can be asked).
    fn serving(&self) -> Result<bool> {
        Ok(matches!(self.found()?, Found::Ours { running: true, .. }))
    }

    /// The instances in rotation; None before the first switch (or without a proxy).
    fn members(&self) -> Result<Option<Vec<Member>>> {
        if let Some(m) = self.members.borrow().clone() {
            return Ok(m);
        }
        if !self.serving()? {
            return Ok(None);
        }
        let m = self.rotation().get(&config::record(&self.route))?;
        *self.members.borrow_mut() = Some(m.clone());
        Ok(m)
    }

    /// Rewrites the route's record; on Swarm mode the follower then keeps it on the tasks Swarm
    /// runs for the services its members belong to.
    fn set_members(&self, members: Vec<Member>) -> Result<()> {
        self.rotation().set(
            &config::record(&self.route),
            &members,
            self.follow(&members),
        )?;
        *self.members.borrow_mut() = Some(Some(members));
        Ok(())
    }

    /// What the route's record with `members` follows on Swarm mode: the route network and
    /// the services the members are tasks of.
    fn follow(&self, members: &[Member]) -> Option<(&str, Vec<String>)> {
        self.route
            .swarm
            .then(|| (self.network.name(), swarm_services(members)))
    }

    /// Gives a route without a record (its proxy was recreated without its volumes, or the
    /// route was made by a docker flow that switched by network alias) the instances that run
    /// on its network, so that it keeps serving until the next switch.
    fn seed_record(&self) -> Result<()> {
        if self.members()?.is_some() {
            return Ok(());
        }
        let members = self.network.members()?;
        if members.is_empty() {
            return Ok(());
        }
        self.set_members(members)
    }

    /// The instances in a record, as upstreams of this route.
    fn upstreams(&self, members: Vec<Member>) -> Vec<Upstream> {
        members
            .into_iter()
            .map(|(container, ip)| Upstream {
                container,
                port: self.route.port,
                address: Some(ip),
            })
            .collect()
    }

    /// Connects `upstreams` to the route network; the records' members they become there.
    /// Swarm's tasks joined it with their service, and the orchestrator read their addresses
    /// from the manager's task state: they are taken as they are.
    fn attach(&self, upstreams: &[Upstream]) -> Result<Vec<Member>> {
        if self.route.swarm {
            return Ok(upstreams
                .iter()
                .map(|up| {
                    let ip = up.address.clone().unwrap_or_else(|| "<address>".into());
                    (up.container.clone(), ip)
                })
                .collect());
        }
        let names: Vec<&str> = upstreams.iter().map(|up| up.container.as_str()).collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        // Read now, so that instances on the network already (a release kept warm, say) are
        // not connected again, and one replaced under the same name is.
        self.network.fresh()?;
        for name in &names {
            self.network.connect(name)?;
        }
        let on_network = self.network.members()?;
        let mut members = Vec::new();
        for name in names {
            let ip = match on_network.iter().find(|(n, _)| n == name) {
                Some((_, ip)) => ip.clone(),
                None if self.engine.dry_run() => "<address>".into(),
                None => {
                    let net = self.network.name();
                    return Err(Error::environment(
                        format!("`{name}` has no address on the route network `{net}`"),
                        format!(
                            "check `docker network inspect {net}`; `docker flow proxy` repairs the route"
                        ),
                    ));
                }
            };
            members.push((name.to_string(), ip));
        }
        Ok(members)
    }
}

/// The Swarm services of record members named as tasks (`<service>.<slot>.<task id>`).
fn swarm_services(members: &[Member]) -> Vec<String> {
    let mut services: Vec<String> = members
        .iter()
        .filter_map(|(name, _)| name.rsplitn(3, '.').nth(2).map(String::from))
        .collect();
    services.sort();
    services.dedup();
    services
}

impl Proxy for Caddy<'_> {
    fn driver(&self) -> &'static str {
        "caddy"
    }

    fn private(&self) -> crate::proxy::Private {
        self.container.private()
    }

    /// Before anything changes: the engine can run the helper, and what stands at the proxy's
    /// name (or on its port) is docker flow's own proxy, answering, with docker flow's config.
    fn preflight(&self) -> Result<()> {
        let https = self.load_tls()?;
        let settings = self.container.settings();
        if settings.replicas.is_some() && !self.route.swarm {
            return Err(Error::usage(
                "--proxy-replicas runs the proxy as a Swarm service, but this project is deployed with Compose",
                "leave --proxy-replicas unset, or deploy to a swarm (--engine swarm)",
            ));
        }
        if self.container.is_service() && matches!(self.issuer(), Some(tls::Issuer::Acme { .. })) {
            // Caddy keeps what it obtains in its own storage: each replica would get
            // certificates of its own, and an ACME challenge could reach a replica that did not
            // ask for it. Files and the local CA's root reach every replica as Swarm secrets.
            return Err(Error::usage(
                "HTTPS from an ACME CA is not available with the proxy as a Swarm service (--proxy-replicas): each replica would obtain certificates of its own, and the CA's challenge could reach another replica",
                "give the route certificate files (--tls-cert and --tls-key) or use --tls internal, which every replica gets as Swarm secrets; or leave --proxy-replicas unset for the proxy container on the manager",
            ));
        }
        helper::check_engine(self.engine, HELPER_HELP)?;
        self.network.check_owner()?;
        if self.route.swarm {
            follower::check_owner(self.engine, self.container.name())?;
        }
        match self.found()? {
            Found::Foreign { image } => Err(self.container.foreign(&image)),
            Found::Absent => self.container.check_ports_free(),
            // A proxy without an HTTPS port is recreated with one: nothing else may hold it.
            Found::Ours {
                https_port: None, ..
            } if https => self.container.check_ports_free(),
            Found::Ours { running: true, .. } => {
                let r = self.admin().get("/config/")?;
                if config::owner(&r.json()) == Owner::Foreign {
                    return Err(self.foreign_config());
                }
                if r.status == 200 {
                    *self.config_seen.borrow_mut() = Some(r);
                }
                Ok(())
            }
            Found::Ours { running: false, .. } => Ok(()),
            Found::OldLayout => {
                self.container.check_old_rotation()?;
                self.container.check_ports_free()
            }
        }
    }

    fn ensure(&self) -> Result<()> {
        let https = self.load_tls()?;
        let Provisioned {
            was_running,
            https_port,
            warning,
        } = self.container.provision(https)?;
        self.warnings.borrow_mut().extend(warning);
        *self.found.borrow_mut() = Some(Found::Ours {
            running: true,
            https_port,
        });
        self.network.ensure()?;
        if self.route.swarm {
            self.container.follower().ensure()?;
        }
        // The proxy service (Swarm mode) is on no Compose network of the project.
        let callers = if !self.container.is_service() && names::answerable(&self.route) {
            Some(names::ensure(
                self.engine,
                self.container.name(),
                &self.route,
                &mut |w| self.warnings.borrow_mut().push(w),
            )?)
        } else {
            None
        };
        if self.engine.planned(format!(
            "ensure Caddy in `{}` has the route {}",
            self.container.name(),
            config::route_id(&self.route)
        )) {
            return self.seed_record();
        }
        // A proxy that ran and answered at the preflight is not waited for again.
        let seen = self.config_seen.borrow_mut().take();
        let seen = match seen {
            Some(r) if was_running => r,
            _ => {
                *self.members.borrow_mut() = None;
                self.wait_for_admin()?
            }
        };
        self.seed_record()?;
        // A target that no longer gets a name (switched to plain: its containers answer it)
        // loses the one the proxy had, its route and its alias.
        let callers = match callers {
            None if !self.container.is_service() && names::answered(&seen.json(), &self.route) => {
                names::forget(self.engine, self.container.name(), &self.route)?;
                Some(names::Callers::default())
            }
            c => c,
        };
        let servers = config::Servers {
            https_port: https_port.unwrap_or(443),
            trusted_proxies: self.container.settings().trusted_proxies.clone(),
        };
        self.ensure_config(Some(seen), &servers, callers.as_ref())
    }

    fn take_warnings(&self) -> Vec<String> {
        self.warnings.take()
    }

    fn current(&self) -> Result<Option<Vec<Upstream>>> {
        Ok(self.members()?.map(|members| self.upstreams(members)))
    }

    fn switch(&self, upstreams: &[Upstream], _: Option<Color>) -> Result<()> {
        if upstreams.is_empty() {
            return Err(Error::flow(
                "refusing to point the proxy at no instances",
                "this is a bug in docker flow: please report it",
            ));
        }
        let members = self.attach(upstreams)?;
        self.set_members(members)
    }

    fn preview(&self, upstreams: &[Upstream]) -> Result<Option<String>> {
        self.stage_preview(upstreams)
    }

    fn preview_key(&self) -> Result<Option<String>> {
        self.staged_preview_key()
    }

    fn previewed(&self) -> Result<Vec<Upstream>> {
        self.staged_preview()
    }

    fn await_certificates(&self, timeout: Duration) -> Result<Certificates> {
        self.wait_for_certificates(timeout)
    }

    fn drain(&self, old: &[Upstream], timeout: Duration) -> Result<Drained> {
        if old.is_empty()
            || self.engine.planned(format!(
                "wait until Caddy has no request in flight to {}",
                old.iter()
                    .map(|up| up.container.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        {
            return Ok(Drained::Clear { waited_for: 0 });
        }
        // The old instances left the record but still run on the route network: their
        // addresses there are the ones Caddy sends requests to (a record's members carry them).
        let on_network = if old.iter().all(|up| up.address.is_some()) {
            Vec::new()
        } else {
            self.network.members()?
        };
        let addresses: Vec<String> = old
            .iter()
            .filter_map(|up| {
                up.address.clone().or_else(|| {
                    on_network
                        .iter()
                        .find(|(n, _)| *n == up.container)
                        .map(|(_, ip)| ip.clone())
                })
            })
            .map(|ip| format!("{ip}:{}", self.route.port))
            .collect();
        if addresses.is_empty() {
            return Ok(Drained::Clear { waited_for: 0 });
        }
        drain::wait(&self.container, &addresses, timeout)
    }

    fn keep_warm(&self, warm: &[Instance], until: std::time::SystemTime) -> Result<()> {
        self.write_standby(warm, until)
    }

    fn swap_warm(&self, path: &str, unhealthy: &[String]) -> Result<Option<Vec<Upstream>>> {
        self.swap_standby(path, unhealthy)
    }

    fn settle(&self) -> Result<()> {
        self.settle_standby()
    }

    fn retire(&self, stopped: &[Instance]) -> Result<()> {
        if self.route.swarm {
            return Ok(()); // a task leaves its networks as it ends
        }
        stopped
            .iter()
            .try_for_each(|i| self.network.disconnect(&i.name))
    }

    fn remove_route(&self) -> Result<()> {
        if self.serving()? {
            self.remove_from_config()?;
            self.rotation().unset(&[
                config::record(&self.route),
                config::preview_record(&self.route),
            ])?;
        }
        if !self.container.is_service() && !self.route.swarm {
            names::leave(self.engine, self.container.name(), &self.route)?;
        }
        self.network.remove()
    }

    fn maintenance(&self, page: Option<&str>) -> Result<bool> {
        if !self.serving()? {
            return Ok(false);
        }
        self.set_maintenance_page(page)
    }

    fn remove_if_unused(&self, volumes: bool) -> Result<Option<crate::report::ProxyRemoval>> {
        let name = self.container.name().to_string();
        let running = match self.found()? {
            Found::Ours { running, .. } if !self.container.is_service() => running,
            _ => return Ok(None),
        };
        let kept_because = if running {
            let others = config::projects(&self.admin().get("/config/")?.json());
            (!others.is_empty())
                .then(|| format!("projects {} have routes in it", others.join(", ")))
        } else {
            Some(format!("it does not run, so which projects have routes in it cannot be read: start it (`docker start {name}`), or remove it yourself"))
        };
        if kept_because.is_some() {
            return Ok(Some(crate::report::ProxyRemoval {
                name,
                kept_because,
                volumes: Vec::new(),
            }));
        }
        let volumes = self.container.remove(volumes)?;
        Ok(Some(crate::report::ProxyRemoval {
            name,
            kept_because: None,
            volumes,
        }))
    }

    fn routes(&self) -> Result<Vec<RouteReport>> {
        if !self.serving()? {
            return Ok(Vec::new());
        }
        // The whole config, not `/config/apps/http/servers/`: the proxy service's follower
        // answers for its replicas at `/config/` only.
        let config = self.admin().get("/config/")?.json();
        let servers = config
            .pointer("/apps/http/servers")
            .cloned()
            .unwrap_or_default();
        let routes = servers
            .pointer(&format!("/{}/routes", config::SERVER))
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some((paths, domains)) =
            config::route_matchers(&routes, &config::route_id(&self.route))
        else {
            return Ok(Vec::new());
        };
        Ok(vec![RouteReport {
            paths,
            domains,
            https: config::on_https(&servers, &self.route),
            upstreams: self
                .current()?
                .unwrap_or_default()
                .iter()
                .map(Upstream::to_string)
                .collect(),
            maintenance: maintenance::page(&config, &self.route).is_some(),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_records_swarm_services_come_from_its_task_names() {
        let m = |n: &str| (n.to_string(), "10.0.0.1".to_string());
        assert_eq!(
            swarm_services(&[
                m("shop_app-green.2.abc"),
                m("shop_app-blue.1.def"),
                m("shop_app-green.1.ghi"),
            ]),
            ["shop_app-blue", "shop_app-green"]
        );
        assert!(swarm_services(&[m("shop-app-blue-1")]).is_empty());
    }
}
