//! The rotation: which instances the Caddy driver's routes send traffic to.
//!
//! Caddy drops requests whenever its config changes, so docker flow never changes the config to
//! switch. Each route instead resolves its upstreams from an A record, refreshed every 200 ms,
//! that docker flow's helper serves from a small container beside the proxy
//! (`<proxy-name>-dns`, records on the volume of the same name, so they survive restarts). A
//! switch rewrites the record in one step; an instance leaves the record, and so the rotation,
//! while it still runs, so the requests it serves finish before it is stopped.

use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::helper;

/// The UDP port the records are served on, inside the rotation container.
const PORT: u16 = 5353;
/// Where the records live inside the rotation container.
const DIR: &str = "/routes";

pub struct Rotation<'a> {
    engine: &'a Engine,
    container: String,
}

impl<'a> Rotation<'a> {
    pub fn new(engine: &'a Engine, proxy_name: &str) -> Rotation<'a> {
        Rotation {
            engine,
            container: format!("{proxy_name}-dns"),
        }
    }

    pub fn container(&self) -> &str {
        &self.container
    }

    /// The resolver address Caddy's routes query (the container's name, on the route networks).
    pub fn resolver(&self) -> String {
        format!("udp/{}:{PORT}", self.container)
    }

    /// Starts the rotation container when it is absent or stopped.
    pub fn ensure(&self) -> Result<()> {
        let status = self.engine.container_status(&self.container)?;
        if status.as_deref() == Some("running") {
            return Ok(());
        }
        let out = if status.is_some() {
            self.engine
                .change(&args(&["start", &self.container]), None)?
        } else {
            let image = helper::ensure_image(
                self.engine,
                "the Caddy driver needs docker flow's helper: build docker flow on Linux with a static C library (Debian: libc6-dev), or use --proxy-driver none",
            )?;
            let mut a = args(&[
                "run",
                "-d",
                "--name",
                &self.container,
                "--restart",
                "unless-stopped",
                "--label",
                "io.docker-flow.proxy=rotation",
                "-v",
                &format!("{}:{DIR}", self.container),
            ]);
            a.extend(args(&helper::CONFINED));
            a.extend(args(&[&image, "dns", DIR, &PORT.to_string()]));
            let out = self.engine.change(&a, None)?;
            if !out.ok() && out.stderr.contains("already in use") {
                // Another docker flow run started it a moment ago.
                return Ok(());
            }
            out
        };
        if !out.ok() {
            return Err(Error::environment(
                format!(
                    "cannot start the proxy's rotation container `{}`: {}",
                    self.container,
                    out.stderr.trim()
                ),
                format!(
                    "check `docker logs {}`; removing it is safe, docker flow recreates it",
                    self.container
                ),
            ));
        }
        Ok(())
    }

    /// Puts the rotation container on a route network, where Caddy looks it up.
    pub fn connect(&self, network: &str) -> Result<()> {
        let out = self.engine.change(
            &args(&["network", "connect", network, &self.container]),
            None,
        )?;
        if !out.ok() && !out.stderr.contains("already exists") {
            return Err(Error::environment(
                format!(
                    "cannot connect `{}` to `{network}`: {}",
                    self.container,
                    out.stderr.trim()
                ),
                format!("check `docker network inspect {network}`"),
            ));
        }
        Ok(())
    }

    /// Replaces the record `name` with `members` (container name, IPv4 address), at once.
    pub fn set(&self, name: &str, members: &[(String, String)]) -> Result<()> {
        let mut a = args(&["exec", &self.container, "/helper", "set", DIR, name]);
        a.extend(members.iter().map(|(c, ip)| format!("{c}@{ip}")));
        let out = self.engine.change(&a, None)?;
        if !out.ok() {
            return Err(Error::environment(
                format!(
                    "cannot update the proxy's rotation for `{name}`: {}",
                    out.stderr.trim()
                ),
                format!(
                    "check that `{}` runs; `docker flow proxy` repairs the rotation",
                    self.container
                ),
            ));
        }
        Ok(())
    }

    /// The record `name` as (container name, IPv4 address); None when there is no record (or no
    /// rotation container).
    pub fn get(&self, name: &str) -> Result<Option<Vec<(String, String)>>> {
        let out = self.engine.read(&args(&[
            "exec",
            &self.container,
            "/helper",
            "get",
            DIR,
            name,
        ]))?;
        if !out.ok() || out.stdout.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(
            out.stdout
                .lines()
                .filter_map(|l| {
                    let (ip, container) = l.split_once(' ')?;
                    Some((container.trim().to_string(), ip.to_string()))
                })
                .collect(),
        ))
    }
}
