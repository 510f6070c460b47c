//! The Caddy driver: a Caddy container docker flow starts and configures itself.
//!
//! - `container/`: the proxy container (Caddy and the rotation, with their control surface on the
//!   container's loopback) and the one way in, docker flow's helper run in it by `docker exec`
//!   through the engine that runs the proxy. Recognising its own proxy; making sure it runs
//!   (`provision`), creating it (`create`), migrating an older one (`migrate`).
//! - `admin`: Caddy's admin API through that helper.
//! - `config`: the JSON docker flow writes, as pure functions.
//! - `rotation`: the DNS records each route resolves its upstreams from; a switch rewrites one.
//! - `network`: the route's own network, where the proxy reaches the instances in rotation.
//! - `names`: the target's Compose service name, answered by the proxy on the project's networks
//!   for the project's other services, with the live release.
//! - `drain`: waiting until Caddy has no request in flight to the instances that left a route.
//! - `tls`: HTTPS for a route's domains: which issuer Caddy gets their certificates from, and
//!   the files (certificates, keys, roots) docker flow copies in for it (or gives the
//!   replicas of the proxy service as Swarm secrets).
//! - `follower`: Swarm mode: the container that keeps routes' records on the tasks Swarm runs,
//!   and serves the proxy service's replicas.
//! - `service/`: Swarm mode with `--proxy-replicas`: the proxy as a service of replicas, its
//!   control network and that network's key (`control`), its replicas' image (`image`), and the
//!   files its replicas get as Swarm secrets (`secrets`).
//!
//! Caddy drops requests whenever its config changes, so its config changes only when a route is
//! created (or its paths, domains or certificates change), each time in one request guarded by `If-Match`, so
//! a concurrent change by another project is retried, not overwritten. A switch connects the new
//! instances to the route network and rewrites the record; the old ones leave the record while
//! they still run, and are stopped only once Caddy reports no request in flight to them (or
//! `--drain-timeout` passed).

mod admin;
mod config;
mod container;
mod drain;
mod follower;
mod names;
mod network;
mod rotation;
mod service;
mod tls;

use std::cell::RefCell;
use std::time::{Duration, Instant};

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

/// What the user can do when the engine cannot run docker flow's helper.
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

    /// Reads and checks the route's HTTPS files once; whether the route has HTTPS.
    fn load_tls(&self) -> Result<bool> {
        if self.tls.borrow().is_none() {
            let m = tls::load(&self.route.tls)?;
            *self.tls.borrow_mut() = Some(m);
        }
        Ok(self.tls.borrow().as_ref().is_some_and(Option::is_some))
    }

    /// Where the route's certificates come from; None on HTTP only. Only once `load_tls` has
    /// read them.
    fn issuer(&self) -> Option<tls::Issuer> {
        let tls = self.tls.borrow();
        tls.as_ref()
            .and_then(Option::as_ref)
            .map(|m| m.https.issuer.clone())
    }

    /// Whether Caddy obtains the route's certificates itself (ACME, or its local CA), rather
    /// than load the files docker flow gives it.
    fn issues_certificates(&self) -> bool {
        matches!(
            self.issuer(),
            Some(tls::Issuer::Acme { .. } | tls::Issuer::Internal)
        )
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

    /// Makes sure the proxy's config is docker flow's and has the route as it should be, in one
    /// change at most: a Caddy without config gets docker flow's server; one configured by
    /// something else is refused. Changes are guarded by the config's ETag, so one made by
    /// another run meanwhile is read again, not overwritten. `seen`: the config as just read.
    /// The files the route's HTTPS needs are copied in first, once. `subnets`: where the
    /// target's service name is answered (None: nowhere, as the proxy service).
    fn ensure_config(
        &self,
        mut seen: Option<Reply>,
        servers: &config::Servers,
        subnets: Option<&[String]>,
    ) -> Result<()> {
        let tls = self.tls.borrow();
        let material = tls.as_ref().and_then(Option::as_ref);
        let mut copied = false;
        // The proxy service's replicas issue from one root docker flow gives them.
        let shared_ca = self.container.is_service() && self.issuer() == Some(tls::Issuer::Internal);
        let mut local_ca: Option<(String, String)> = None;
        // With the proxy service, which files no route loads is read, and they are taken off,
        // under the proxy's files lock, held until this run's config is written: another
        // run's files, given and not yet named in the config, are never taken off.
        let files_lock = if shared_ca || material.is_some_and(|m| !m.files.is_empty()) {
            self.container
                .files_lock(&|w| self.warnings.borrow_mut().push(w.to_string()))?
        } else {
            None
        };
        if files_lock.is_some() {
            // What was read before the lock may miss another run's files: read it again.
            seen = None;
        }
        for _ in 0..20 {
            let r = match seen.take() {
                Some(r) => r,
                None => self.admin().get("/config/")?,
            };
            let config = r.json();
            let current = match config::owner(&config) {
                Owner::DockerFlow => config,
                Owner::Foreign => return Err(self.foreign_config()),
                Owner::Nobody => config::base(),
            };
            let https = material.map(|m| &m.https);
            let mut new = config::with_route_everywhere(&current, &self.route, https, servers);
            // (`shared_ca` is the proxy service's: its lock is taken.)
            if let Some(lock) = files_lock.as_ref().filter(|_| shared_ca) {
                if local_ca.is_none() {
                    local_ca = Some(
                        self.container
                            .local_ca(lock, &config::files_in_use(&current))?,
                    );
                }
                let (cert, key) = local_ca.as_ref().expect("set above");
                let with = config::with_local_ca(new.as_ref().unwrap_or(&current), cert, key);
                new = (with != current).then_some(with);
            }
            if let Some(subnets) = subnets {
                let named =
                    names::with_name(new.as_ref().unwrap_or(&current), &self.route, subnets);
                if named.is_some() {
                    new = named;
                }
            }
            let Some(new) = new else {
                return Ok(());
            };
            if let Some(m) = material.filter(|m| !copied && !m.files.is_empty()) {
                let files: Vec<(&str, &[u8])> = m
                    .files
                    .iter()
                    .map(|(p, c)| (p.as_str(), c.as_slice()))
                    .collect();
                self.container.give_files(
                    files_lock.as_ref(),
                    &files,
                    &config::files_in_use(&current),
                )?;
                copied = true;
            }
            let w = self
                .admin()
                .send("POST", "/config/", &new, r.etag.as_deref())?;
            match w.status {
                200 => {
                    // The follower cannot see what each replica's Caddy holds: with the
                    // proxy service no run waits for certificates.
                    self.issuing
                        .set(self.issues_certificates() && !self.container.is_service());
                    return Ok(());
                }
                412 => continue, // someone else changed the config meanwhile: read it again
                s => return Err(refused("the route", s, &w.body)),
            }
        }
        Err(kept_changing())
    }

    /// Takes the route out of Caddy's config, guarded by its ETag as `ensure_config` writes it
    /// (a config changed meanwhile by another run is read again); a config that is not docker
    /// flow's, or no longer has the route, is left as it is.
    fn remove_from_config(&self) -> Result<()> {
        for _ in 0..20 {
            let r = self.admin().get("/config/")?;
            let config = r.json();
            if config::owner(&config) != Owner::DockerFlow {
                return Ok(());
            }
            let without = config::without_route(&config, &self.route);
            let unnamed = names::without_name(without.as_ref().unwrap_or(&config), &self.route);
            let Some(new) = unnamed.or(without) else {
                return Ok(());
            };
            let w = self
                .admin()
                .send("POST", "/config/", &new, r.etag.as_deref())?;
            match w.status {
                200 => return Ok(()),
                412 => continue, // another run changed the config meanwhile
                s => return Err(refused("the route's removal", s, &w.body)),
            }
        }
        Err(kept_changing())
    }

    fn foreign_config(&self) -> Error {
        Error::ProxyNotOwned {
            message: format!(
                "the proxy `{}` carries a Caddy config docker flow did not write (no `{}` server)",
                self.container.name(),
                config::SERVER
            ),
            help: "docker flow never replaces a config it did not write: choose another --proxy-name, or remove that container and its `-data` volume".into(),
        }
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

    /// Waits until Caddy's admin API answers (a proxy just started needs a moment); its config.
    fn wait_for_admin(&self) -> Result<Reply> {
        let started = Instant::now();
        loop {
            match self.admin().get("/config/") {
                Ok(r) if r.status == 200 => return Ok(r),
                Err(e) if started.elapsed() > Duration::from_secs(15) => return Err(e),
                _ if started.elapsed() > Duration::from_secs(15) => {
                    return Err(self.admin().unreachable("no answer for 15s"))
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
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

fn refused(what: &str, status: u16, body: &str) -> Error {
    Error::environment(
        format!("the proxy refused {what} ({status}): {}", body.trim()),
        "see `docker logs` of the proxy container",
    )
}

fn kept_changing() -> Error {
    Error::environment(
        "the proxy's config kept changing under docker flow; the route was not written",
        "run the command again",
    )
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
        let subnets = if !self.container.is_service() && names::answerable(&self.route) {
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
        let servers = config::Servers {
            https_port: https_port.unwrap_or(443),
            trusted_proxies: self.container.settings().trusted_proxies.clone(),
        };
        self.ensure_config(Some(seen), &servers, subnets.as_deref())
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
        let members = self.attach(upstreams)?;
        // A new key for each release staged: a request reaches it only with this key, which
        // the operator gets from the deploy or `status` (through the engine).
        let key = (!members.is_empty()).then(preview_key).transpose()?;
        self.rotation().set_keyed(
            &config::preview_record(&self.route),
            key.as_deref(),
            &members,
        )?;
        Ok(Some(key.unwrap_or_default()))
    }

    fn preview_key(&self) -> Result<Option<String>> {
        if !self.serving()? {
            return Ok(None);
        }
        self.rotation().key(&config::preview_record(&self.route))
    }

    fn previewed(&self) -> Result<Vec<Upstream>> {
        if !self.serving()? {
            return Ok(Vec::new());
        }
        let members = self
            .rotation()
            .get(&config::preview_record(&self.route))?
            .unwrap_or_default();
        Ok(self.upstreams(members))
    }

    fn await_certificates(&self, timeout: Duration) -> Result<Certificates> {
        if !self.issuing.get() || self.engine.dry_run() {
            return Ok(Certificates::default());
        }
        let started = Instant::now();
        let mut a = vec!["certs".to_string(), tls::STORAGE.to_string()];
        a.extend(self.route.domains.iter().cloned());
        loop {
            let out = self.container.exec(&a, None, false)?;
            let held: Vec<String> = out.stdout.lines().map(String::from).collect();
            let missing: Vec<String> = self
                .route
                .domains
                .iter()
                .filter(|d| !held.contains(d))
                .cloned()
                .collect();
            if missing.is_empty() || started.elapsed() >= timeout || !out.ok() {
                return Ok(Certificates {
                    obtained: held,
                    missing,
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
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

    /// The warm release waits beside the record (the helper's `standby`), at its addresses
    /// on the route network, which it keeps while it runs. On Swarm mode, with the services
    /// the record is to follow once swapped in (the follower keeps it on their tasks; with the
    /// proxy as a service the standby is the follower's, as its records are).
    fn keep_warm(&self, warm: &[Instance], until: std::time::SystemTime) -> Result<()> {
        if warm.is_empty() || !self.serving()? {
            return Ok(());
        }
        let members: Vec<Member> = if self.route.swarm {
            let upstreams: Vec<Upstream> =
                warm.iter().map(|i| i.upstream(self.route.port)).collect();
            self.attach(&upstreams)?
        } else {
            self.network
                .members()?
                .into_iter()
                .filter(|(name, _)| warm.iter().any(|i| &i.name == name))
                .collect()
        };
        if members.len() != warm.len() {
            return Ok(()); // not all reachable: no instant rollback to it
        }
        let until = until
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.rotation().standby(
            &config::record(&self.route),
            &members,
            until,
            self.follow(&members),
        )
    }

    /// One `docker exec` of the helper, asked without reading anything first: the helper
    /// swaps only a standby a run holding the lock wrote, and checks its members answer.
    fn swap_warm(&self, path: &str, unhealthy: &[String]) -> Result<Option<Vec<Upstream>>> {
        if self.engine.dry_run() {
            return Ok(None);
        }
        // The proxy service's follower is on no route network: it takes Swarm's word that the
        // warm tasks run, as it does to keep the record on Swarm's tasks.
        let swarm = self.container.is_service().then_some(follower::SOCKET);
        let before = self.rotation().swap(
            &config::record(&self.route),
            self.route.port,
            path,
            swarm,
            unhealthy,
        )?;
        *self.members.borrow_mut() = None;
        Ok(before.map(|m| self.upstreams(m)))
    }

    fn settle(&self) -> Result<()> {
        if self.engine.dry_run() || !self.serving()? {
            return Ok(());
        }
        let m = self.rotation().settle(&config::record(&self.route))?;
        *self.members.borrow_mut() = Some(m);
        Ok(())
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
        }])
    }
}

/// A preview's key: 128 random bits as 32 hexadecimal digits (the rotation's record key).
fn preview_key() -> Result<String> {
    let mut bits = [0u8; 16];
    getrandom::fill(&mut bits).map_err(|e| {
        Error::environment(
            format!("cannot draw a random key for the preview: {e}"),
            "check the system's random number source",
        )
    })?;
    Ok(bits.iter().map(|b| format!("{b:02x}")).collect())
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
