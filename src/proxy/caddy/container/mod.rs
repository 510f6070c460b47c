//! The proxy container: Caddy and the rotation in one container docker flow starts, and the one
//! way docker flow talks to them, its helper run inside that container with `docker exec`.
//!
//! The container's first process is the helper (`proxy`), which serves the rotation's records
//! on the container's loopback and runs Caddy, whose admin API listens on that loopback too. So
//! the proxy's control surface is on no host port and on no network another container shares;
//! only whoever may use the engine that runs the proxy can reach it, through that engine, from
//! wherever the user's docker reaches it (contexts, `DOCKER_HOST`, ssh, tcp).
//!
//! Since the image is the user's (`--proxy-image`), docker flow creates the container, copies
//! its helper in (`docker cp`, which needs nothing in the image), then starts it.
//!
//! - `provision`: making sure the proxy runs (the container, or the proxy service's pieces).
//! - `create`: creating the proxy container and starting it.
//! - `migrate`: recreating a proxy of an earlier layout in this one, keeping its routes.

mod create;
mod migrate;
mod provision;

use std::collections::BTreeMap;
use std::time::Duration;

pub(super) use self::provision::Provisioned;
use super::{follower, service};
use crate::engine::{args, Engine, Output};
use crate::error::{Error, Result};
use crate::helper;
use crate::lock::ProxyLock;
use crate::settings::ProxySettings;

/// The label every proxy container docker flow starts carries.
const LABEL: &str = "io.docker-flow.proxy";
/// How long a run waits for another to finish with the proxy's lock (giving the proxy
/// service's files restarts each replica, one at a time).
const PROXY_LOCK_WAIT: Duration = Duration::from_secs(600);
/// The label of the container's layout. Without it (the admin API published on the host, the
/// rotation in a container of its own), a proxy started by an earlier docker flow is migrated
/// at once. Layout 2 (admin API and rotation inside the container) lacks the HTTPS port and the
/// certificates' volume: it serves on as it is until a route needs HTTPS, then is migrated.
const LAYOUT: &str = "io.docker-flow.proxy.layout";
const LAYOUT_VERSION: &str = "3";
const LAYOUT_WITHOUT_HTTPS: &str = "2";

/// What stands at the proxy's name on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    Absent,
    /// docker flow's proxy, in this layout (`https_port`: the host port its HTTPS is
    /// published on) or in layout 2 (`https_port` None); `running` or not.
    Ours {
        running: bool,
        https_port: Option<u16>,
    },
    /// docker flow's proxy from before the admin API moved inside the container.
    OldLayout,
    /// A container docker flow did not start.
    Foreign {
        image: String,
    },
}

/// The host port published for the container's `port`/tcp, from `{{json .HostConfig.PortBindings}}`.
fn published(bindings: &str, port: u16) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_str(bindings).ok()?;
    v.get(format!("{port}/tcp"))?
        .as_array()?
        .iter()
        .find_map(|b| b.get("HostPort")?.as_str()?.parse().ok())
}

pub(super) struct ProxyContainer<'a> {
    engine: &'a Engine,
    settings: ProxySettings,
    /// Swarm mode with `--proxy-replicas`: the proxy is a service (`service/`), and docker
    /// flow's calls go to its follower.
    service: bool,
    /// Swarm mode: the proxy's own lock is also held in the swarm.
    swarm: bool,
}

impl<'a> ProxyContainer<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        settings: ProxySettings,
        swarm: bool,
    ) -> ProxyContainer<'a> {
        let service = swarm && settings.replicas.is_some();
        ProxyContainer {
            engine,
            settings,
            service,
            swarm,
        }
    }

    /// Whether the proxy is a Swarm service of replicas.
    pub(super) fn is_service(&self) -> bool {
        self.service
    }

    /// The container docker flow runs its helper in, and the helper's path there: the proxy
    /// container, or the follower of the proxy service (which answers for every replica).
    fn exec_target(&self) -> (String, String) {
        if self.service {
            (follower::name(self.name()), "/helper".to_string())
        } else {
            (self.name().to_string(), helper::path_in_container())
        }
    }

    pub(super) fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    pub(super) fn name(&self) -> &str {
        &self.settings.name
    }

    /// The volume that keeps the rotation's records (named as when the rotation had a container
    /// of its own, so an upgrade keeps them).
    pub(super) fn records_volume(&self) -> String {
        format!("{}-dns", self.settings.name)
    }

    /// The proxy's follower (Swarm mode).
    pub(super) fn follower(&self) -> follower::Follower<'_> {
        follower::Follower::new(
            self.engine,
            self.name(),
            self.records_volume(),
            self.is_service(),
        )
    }

    /// Its control network (the proxy service's), its volumes (Caddy's config and certificates,
    /// the records and the control network's key) and its containers (the proxy, the follower).
    pub(super) fn private(&self) -> crate::proxy::Private {
        let name = self.name();
        crate::proxy::Private {
            networks: vec![service::control_network(name)],
            volumes: vec![
                format!("{name}-data"),
                self.data_volume(),
                self.records_volume(),
            ],
            containers: vec![name.to_string(), follower::name(name)],
        }
    }

    /// Removes the proxy container (`docker flow down --proxy`), and with `volumes` its
    /// volumes (its config, records and certificates); returns the volumes removed.
    pub(in crate::proxy::caddy) fn remove(&self, volumes: bool) -> Result<Vec<String>> {
        let name = self.name();
        let out = self.engine.change(&args(&["rm", "-f", name]), None)?;
        if !out.ok_or_gone() {
            return self.check(out, "remove").map(|()| Vec::new());
        }
        let mut removed = Vec::new();
        if volumes {
            let mut all = self.private().volumes;
            all.dedup();
            for v in all {
                let out = self.engine.change(&args(&["volume", "rm", &v]), None)?;
                if out.ok() {
                    removed.push(v);
                } else if !out.ok_or_gone() {
                    return Err(Error::environment(
                        format!(
                            "cannot remove the proxy's volume `{v}`: {}",
                            out.last_error_line()
                        ),
                        format!("remove it with `docker volume rm {v}`"),
                    ));
                }
            }
        }
        Ok(removed)
    }

    /// The volume that keeps Caddy's data: certificates, keys, its local CA, and the files
    /// docker flow copies in for `--tls-cert` and `--acme-ca-root`.
    fn data_volume(&self) -> String {
        format!("{}-tls", self.settings.name)
    }

    pub(super) fn find(&self) -> Result<Found> {
        if self.service {
            return self.find_service();
        }
        let out = self.engine.read(&args(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Status}}\t{{.Config.Image}}\t{{.Path}}\t{{json .HostConfig.PortBindings}}\t{{json .Config.Labels}}",
            self.name(),
        ]))?;
        if !out.ok() {
            return Ok(Found::Absent);
        }
        let line = out.stdout.trim();
        let mut parts = line.splitn(5, '\t');
        let (status, image, path, ports, labels) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or("null"),
            parts.next().unwrap_or("null"),
        );
        let labels: BTreeMap<String, String> = serde_json::from_str(labels).unwrap_or_default();
        let running = matches!(status, "running" | "paused" | "restarting");
        Ok(
            match (
                labels.get(LABEL).map(String::as_str),
                labels.get(LAYOUT).map(String::as_str),
            ) {
                // Its first process is docker flow's helper, as docker flow creates it.
                (Some("caddy"), Some(layout @ (LAYOUT_VERSION | LAYOUT_WITHOUT_HTTPS)))
                    if path.starts_with("/docker-flow/helper-") =>
                {
                    Found::Ours {
                        running,
                        https_port: (layout == LAYOUT_VERSION)
                            .then(|| published(ports, 443))
                            .flatten(),
                    }
                }
                (Some("caddy"), None) => Found::OldLayout,
                _ => Found::Foreign {
                    image: image.to_string(),
                },
            },
        )
    }

    /// The proxy service: ours when docker flow made it, running when its follower runs (the
    /// replicas answer for themselves).
    fn find_service(&self) -> Result<Found> {
        // A proxy container of the same name (this project's proxy before --proxy-replicas)
        // would hold the manager's ports: the replica there could never start.
        if let Some(image) = self
            .engine
            .container_field(self.name(), "{{.Config.Image}}")?
        {
            return Err(Error::ProxyNotOwned {
                message: format!(
                    "a container named `{}` (image {image}) stands where the proxy service's replicas would serve",
                    self.name(),
                ),
                help: format!(
                    "remove it to move to the proxy service (`docker rm -f {}`; each project gets its route back with its next deploy or `docker flow proxy`), or leave --proxy-replicas unset",
                    self.name()
                ),
            });
        }
        Ok(match service::find(self.engine, self.name())? {
            service::Service::Absent => Found::Absent,
            service::Service::Foreign { image } => Found::Foreign { image },
            service::Service::Ours { .. } => Found::Ours {
                running: self.follower_running()?,
                https_port: Some(self.settings.https_port),
            },
        })
    }

    /// Whether the proxy service's follower runs (docker flow's calls go to it).
    fn follower_running(&self) -> Result<bool> {
        let running = self
            .engine
            .container_field(&follower::name(self.name()), "{{.State.Running}}")?;
        Ok(running.as_deref() == Some("true"))
    }

    /// The error for a container at the proxy's name that docker flow did not start.
    pub(super) fn foreign(&self, image: &str) -> Error {
        Error::ProxyNotOwned {
            message: format!(
                "a container named `{}` (image {image}) exists, and docker flow did not start it",
                self.name()
            ),
            help: "docker flow only configures a proxy it started itself: choose another name with --proxy-name, or remove that container".into(),
        }
    }

    /// Before anything changes: nothing else publishes the proxy's HTTP or HTTPS port on the
    /// engine (the proxy could not start, or requests would go elsewhere).
    pub(super) fn check_ports_free(&self) -> Result<()> {
        if self.service {
            // Published on each replica's node, which docker flow cannot ask; Swarm places a
            // replica only where the ports are free.
            return Ok(());
        }
        self.check_port_free(self.settings.http_port, "--proxy-http-port")?;
        self.check_port_free(self.settings.https_port, "--proxy-https-port")
    }

    fn check_port_free(&self, port: u16, flag: &str) -> Result<()> {
        let port = port.to_string();
        let out = self.engine.read(&args(&[
            "ps",
            "--filter",
            &format!("publish={port}"),
            "--format",
            "{{.Names}}\t{{.Image}}",
        ]))?;
        let others: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.split('\t').next() != Some(self.name()))
            .collect();
        if let Some(other) = others.first() {
            let (name, image) = other.split_once('\t').unwrap_or((other, "?"));
            return Err(Error::ProxyNotOwned {
                message: format!(
                    "port {port} is already published by the container `{name}` (image {image}), which is not docker flow's proxy `{}`",
                    self.name()
                ),
                help: format!(
                    "choose another port with {flag}, or --proxy-name `{name}` if it is a proxy docker flow started under that name"
                ),
            });
        }
        Ok(())
    }

    /// Copies this build's helper (and a config to resume from) into the container.
    fn copy_in(&self, autosave: Option<&[u8]>) -> Result<()> {
        let extra: Vec<(&str, &[u8])> = autosave
            .map(|a| vec![("config/caddy/autosave.json", a)])
            .unwrap_or_default();
        self.copy_files(&extra)
    }

    /// Gives the proxy `files` (absolute paths in Caddy's container, content): copied into the
    /// proxy container, or mounted into every replica of the proxy service as Swarm secrets,
    /// taking off those no route loads (`in_use`: what the config loads, read holding `_lock`,
    /// which `files_lock` gives for the proxy service).
    pub(super) fn give_files(
        &self,
        _lock: Option<&ProxyLock>,
        files: &[(&str, &[u8])],
        in_use: &[String],
    ) -> Result<()> {
        if self.service {
            service::give_files(self.engine, &self.settings, files, in_use)
        } else {
            self.copy_files(files)
        }
    }

    /// The proxy service's lock of its files, held from before a run reads which files the
    /// config loads until it wrote its own: no run then takes off files another has given and
    /// not yet named in the config. None for a proxy container (its files stay on its volume).
    /// `warn`: what the user should know.
    pub(super) fn files_lock(&self, warn: &dyn Fn(&str)) -> Result<Option<ProxyLock<'a>>> {
        if !self.service {
            return Ok(None);
        }
        self.lock("proxy files", warn).map(Some)
    }

    /// The proxy's own lock (`ProxyLock`), for `command`.
    fn lock(&self, command: &str, warn: &dyn Fn(&str)) -> Result<ProxyLock<'a>> {
        ProxyLock::acquire(
            self.engine,
            self.name(),
            command,
            PROXY_LOCK_WAIT,
            warn,
            self.swarm,
        )
    }

    /// The proxy service's local CA root (its paths in the replicas), made the first time;
    /// `in_use`: the files the config loads, read holding the files `_lock`.
    pub(super) fn local_ca(
        &self,
        _lock: &ProxyLock,
        in_use: &[String],
    ) -> Result<(String, String)> {
        service::local_ca(self.engine, &self.settings, in_use)
    }

    /// Copies `files` (absolute paths in the container, content) in through the engine, with
    /// this build's helper, readable by their owner only: certificates, keys and roots land on
    /// the proxy's volumes and in no file on the machine docker flow runs on.
    pub(super) fn copy_files(&self, files: &[(&str, &[u8])]) -> Result<()> {
        let relative: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, data)| (p.trim_start_matches('/'), *data))
            .collect();
        let tar = helper::archive_for_container(&relative)?;
        let out = self.engine.change(
            &args(&["cp", "-", &format!("{}:/", self.name())]),
            Some(&tar),
        )?;
        self.check(out, "copy docker flow's helper into")
    }

    pub(super) fn check(&self, out: Output, what: &str) -> Result<()> {
        if out.ok() {
            return Ok(());
        }
        Err(Error::environment(
            format!(
                "cannot {what} the proxy container `{}`: {}",
                self.name(),
                out.stderr.trim()
            ),
            format!(
                "check that --proxy-image ({}) exists on the engine and port {} is free; `docker logs {}` tells more",
                self.settings.image,
                self.settings.http_port,
                self.name()
            ),
        ))
    }

    /// Runs this build's helper inside the proxy container (`docker exec`), copying it in first
    /// if the container was started by another build of docker flow. `change`: whether the call
    /// changes the proxy (recorded, not run, in a dry run).
    pub(super) fn exec(
        &self,
        helper_args: &[String],
        stdin: Option<&[u8]>,
        change: bool,
    ) -> Result<Output> {
        self.exec_with(helper_args, stdin, change, true)
    }

    /// `exec` of a change that never copies the helper in: for a call made before anything
    /// says the container at the proxy's name is docker flow's (it then fails, exit 126/127).
    pub(super) fn exec_as_found(&self, helper_args: &[String]) -> Result<Output> {
        self.exec_with(helper_args, None, true, false)
    }

    fn exec_with(
        &self,
        helper_args: &[String],
        stdin: Option<&[u8]>,
        change: bool,
        copy_in: bool,
    ) -> Result<Output> {
        let (container, path) = self.exec_target();
        let mut a = args(&["exec"]);
        if stdin.is_some() {
            a.push("-i".into());
        }
        a.push(container);
        a.push(path);
        a.extend(helper_args.iter().cloned());
        let run = |a: &[String]| {
            if change {
                self.engine.change(a, stdin)
            } else {
                match stdin {
                    Some(input) => self.engine.read_with_input(a, input),
                    None => self.engine.read(a),
                }
            }
        };
        let out = run(&a)?;
        // Exit 126/127: the runtime found no such file (a proxy started by another build). The
        // docker CLI prints the runtime's error on stdout.
        let missing = |t: &str| t.contains("no such file");
        if copy_in
            && !self.service
            && matches!(out.status, 126 | 127)
            && (missing(&out.stdout) || missing(&out.stderr))
        {
            self.copy_in(None)?;
            return run(&a);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_https_port_is_read_from_the_bindings() {
        let b = r#"{"443/tcp":[{"HostIp":"","HostPort":"8443"}],"80/tcp":[{"HostIp":"","HostPort":"8000"}]}"#;
        assert_eq!(published(b, 443), Some(8443));
        assert_eq!(published(b, 80), Some(8000));
        assert_eq!(published(r#"{"80/tcp":[{"HostPort":"80"}]}"#, 443), None);
        assert_eq!(published("null", 443), None);
    }
}
