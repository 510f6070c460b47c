//! Writing the route into Caddy's running config, through its admin API: docker flow's server
//! and the route (with its HTTPS, and the target's service name) added in one change at most,
//! or the route taken out. Caddy drops requests whenever its config changes, so nothing is
//! written when the config already has the route as it should be; every write is guarded by
//! the config's ETag (`If-Match`), so a change another run made meanwhile is read again and
//! kept, not overwritten. A config docker flow did not write is never replaced.

use std::time::{Duration, Instant};

use super::admin::Reply;
use super::config::{self, Owner};
use super::{maintenance, names, tls, Caddy};
use crate::error::{Error, Result};

impl Caddy<'_> {
    /// Makes sure the proxy's config is docker flow's and has the route as it should be, in one
    /// change at most: a Caddy without config gets docker flow's server; one configured by
    /// something else is refused. Changes are guarded by the config's ETag, so one made by
    /// another run meanwhile is read again, not overwritten. `seen`: the config as just read.
    /// The files the route's HTTPS needs are copied in first, once. `callers`: where the
    /// target's service name is answered (None: nowhere, as the proxy service).
    pub(super) fn ensure_config(
        &self,
        mut seen: Option<Reply>,
        servers: &config::Servers,
        callers: Option<&names::Callers>,
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
            let written = config::with_route_everywhere(&current, &self.route, https, servers);
            // A route in maintenance stays so (`maintenance::kept`).
            let mut new = maintenance::kept(&current, written, &self.route);
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
            if let Some(callers) = callers {
                let named =
                    names::with_name(new.as_ref().unwrap_or(&current), &self.route, callers);
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
    pub(super) fn remove_from_config(&self) -> Result<()> {
        self.change_config("the route's removal", &|config| {
            let without = config::without_route(config, &self.route);
            let unnamed = names::without_name(without.as_ref().unwrap_or(config), &self.route);
            unnamed.or(without)
        })
        .map(|_| ())
    }

    /// Puts the route's maintenance page on (`page`) or off; whether the config had the route.
    pub(super) fn set_maintenance_page(&self, page: Option<&str>) -> Result<bool> {
        let had_route = std::cell::Cell::new(false);
        self.change_config("the maintenance page", &|config| {
            let servers = config
                .pointer("/apps/http/servers")
                .cloned()
                .unwrap_or_default();
            had_route.set(
                config::route_matchers(
                    servers
                        .pointer(&format!("/{}/routes", config::SERVER))
                        .and_then(serde_json::Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default(),
                    &config::route_id(&self.route),
                )
                .is_some(),
            );
            maintenance::with_maintenance(config, &self.route, page)
        })?;
        Ok(had_route.get())
    }

    /// Changes Caddy's config by `change` (None: nothing to change), guarded by its ETag as
    /// `ensure_config` writes it (a config changed meanwhile by another run is read again); a
    /// config that is not docker flow's is left as it is. Whether it was docker flow's.
    fn change_config(
        &self,
        what: &str,
        change: &dyn Fn(&serde_json::Value) -> Option<serde_json::Value>,
    ) -> Result<bool> {
        for _ in 0..20 {
            let r = self.admin().get("/config/")?;
            let config = r.json();
            if config::owner(&config) != Owner::DockerFlow {
                return Ok(false);
            }
            let Some(new) = change(&config) else {
                return Ok(true);
            };
            let w = self
                .admin()
                .send("POST", "/config/", &new, r.etag.as_deref())?;
            match w.status {
                200 => return Ok(true),
                412 => continue, // another run changed the config meanwhile
                s => return Err(refused(what, s, &w.body)),
            }
        }
        Err(kept_changing())
    }

    pub(super) fn foreign_config(&self) -> Error {
        Error::ProxyNotOwned {
            message: format!(
                "the proxy `{}` carries a Caddy config docker flow did not write (no `{}` server)",
                self.container.name(),
                config::SERVER
            ),
            help: "docker flow never replaces a config it did not write: choose another --proxy-name, or remove that container and its `-data` volume".into(),
        }
    }

    /// Waits until Caddy's admin API answers (a proxy just started needs a moment); its config.
    pub(super) fn wait_for_admin(&self) -> Result<Reply> {
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
