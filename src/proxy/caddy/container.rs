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

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{config, follower, service, ADMIN, RECORDS, RESOLVER};
use crate::engine::{args, Engine, Output, Refusal};
use crate::error::{Error, Result};
use crate::helper;
use crate::lock::ProxyLock;
use crate::settings::ProxySettings;

/// The label every proxy container docker flow starts carries.
const LABEL: &str = "io.docker-flow.proxy";
/// How long a run waits for another to finish with the proxy's lock (giving the proxy
/// service's files restarts each replica, one at a time).
const PROXY_LOCK_WAIT: Duration = Duration::from_secs(600);
/// Its value on the earlier layout's rotation container (`<proxy-name>-dns`).
const OLD_ROTATION: &str = "rotation";
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

/// The proxy as `provision` left it.
#[derive(Debug, Clone)]
pub(super) struct Provisioned {
    pub was_running: bool,
    /// The host port its HTTPS is published on (None: a layout-2 proxy, without one).
    pub https_port: Option<u16>,
    /// What the user should know of it (replicas Swarm cannot place).
    pub warning: Option<String>,
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

    /// The key the follower and the replicas seal the control network's messages with, as the
    /// follower keeps it (made by the follower on first use).
    fn control_key(&self) -> Result<service::ControlKey> {
        let out = self.exec(&args(&["control-key", follower::RECORDS]), None, false)?;
        service::ControlKey::parse(&out.stdout).ok_or_else(|| {
            Error::environment(
                format!(
                    "the proxy's follower `{}` gave no key for the control network: {}",
                    follower::name(self.name()),
                    out.last_error_line()
                ),
                format!("`docker logs {}` tells more", follower::name(self.name())),
            )
        })
    }

    /// The container that served the rotation in the earlier layout.
    fn old_rotation(&self) -> String {
        format!("{}-dns", self.settings.name)
    }

    /// Refuses (exit 3) a container at the earlier layout's rotation name that is not docker
    /// flow's: the migration removes that container by name.
    pub(super) fn check_old_rotation(&self) -> Result<()> {
        super::check_ours(
            self.engine,
            &self.old_rotation(),
            (LABEL, OLD_ROTATION),
            "the proxy's earlier rotation container",
            "docker flow's",
        )
    }

    /// The volume that keeps Caddy's data: certificates, keys, its local CA, and the files
    /// docker flow copies in for `--tls-cert` and `--acme-ca-root`.
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

    /// `docker create` of the proxy container (not started: the helper is copied in first).
    fn create_args(&self, migrate_requests: bool) -> Vec<String> {
        let s = &self.settings;
        let helper = helper::path_in_container();
        let mut a = args(&[
            "create",
            "--name",
            &s.name,
            "--restart",
            "unless-stopped",
            "--label",
            &format!("{LABEL}=caddy"),
            "--label",
            &format!("{LAYOUT}={LAYOUT_VERSION}"),
            "-p",
            &format!("{}:80", s.http_port),
            "-p",
            &format!("{}:443", s.https_port),
            "-v",
            &format!("{}-data:/config", s.name),
            "-v",
            &format!("{}:/data", self.data_volume()),
            "-v",
            &format!("{}:{RECORDS}", self.records_volume()),
            "-e",
            &format!("CADDY_ADMIN={ADMIN}"),
            "-e",
            "XDG_CONFIG_HOME=/config",
            "-e",
            "XDG_DATA_HOME=/data",
            "--entrypoint",
            &helper,
        ]);
        if migrate_requests {
            // Caddy binds a new SO_REUSEPORT socket on every config change and closes the old
            // one; with this, connections queued on the old socket move to the new one instead
            // of being reset.
            a.extend(args(&["--sysctl", "net.ipv4.tcp_migrate_req=1"]));
        }
        a.extend(args(&[
            &s.image, "proxy", RECORDS, RESOLVER, "caddy", "run", "--resume",
        ]));
        a
    }

    /// Makes sure the proxy runs: started, created, or migrated from an earlier layout (from
    /// layout 2 only when `https` is needed). What runs now.
    pub(super) fn provision(&self, https: bool) -> Result<Provisioned> {
        if self.service {
            return self.provision_service();
        }
        let created = Provisioned {
            was_running: false,
            https_port: Some(self.settings.https_port),
            warning: None,
        };
        match self.find()? {
            Found::Ours {
                https_port: None, ..
            } if https => self.migrate().map(|()| created),
            Found::Ours {
                running: true,
                https_port,
            } => Ok(Provisioned {
                was_running: true,
                https_port,
                warning: None,
            }),
            // Stopped, or created by another run that has not started it yet: the helper may
            // not be in it yet (copying it again is harmless; starting twice is too).
            Found::Ours { https_port, .. } => {
                self.copy_in(None)
                    .and_then(|()| self.start())
                    .map(|()| Provisioned {
                        was_running: false,
                        https_port,
                        warning: None,
                    })
            }
            Found::Absent => self.create(None, &[]).map(|()| created),
            Found::OldLayout => self.migrate().map(|()| created),
            Found::Foreign { image } => Err(self.foreign(&image)),
        }
    }

    /// The proxy service: its control network, its follower (which the replicas copy from), its
    /// image, the service, and its replicas running.
    fn provision_service(&self) -> Result<Provisioned> {
        let found = service::find(self.engine, self.name())?;
        let was_running =
            matches!(found, service::Service::Ours { .. }) && self.follower_running()?;
        if self.engine.planned(format!(
            "ensure the proxy service `{}` runs {} replica(s)",
            self.name(),
            self.settings.replicas.unwrap_or(1)
        )) {
            return Ok(Provisioned {
                was_running,
                https_port: Some(self.settings.https_port),
                warning: None,
            });
        }
        service::ensure_control_network(self.engine, self.name())?;
        self.follower().ensure()?;
        let key = self.control_key()?;
        let image = service::image(self.engine, &self.settings, &found)?;
        service::ensure(
            self.engine,
            &self.settings,
            &image,
            &follower::name(self.name()),
            &key,
            &found,
        )?;
        let unplaced = service::wait_running(self.engine, &self.settings)?;
        let name = self.name();
        Ok(Provisioned {
            was_running,
            https_port: Some(self.settings.https_port),
            warning: (unplaced > 0).then(|| {
                format!(
                    "{unplaced} of the proxy service's {} replicas cannot be placed now (Swarm has no node for them: a node down, or its ports {} and {} taken); the others serve, and Swarm places them once it can (`docker service ps {name}`)",
                    self.settings.replicas.unwrap_or(1),
                    self.settings.http_port,
                    self.settings.https_port
                )
            }),
        })
    }

    fn start(&self) -> Result<()> {
        let out = self.engine.change(&args(&["start", self.name()]), None)?;
        self.check(out, "start")
    }

    /// Creates the container, copies the helper (and `autosave`, a config to resume from) in,
    /// connects it to `networks` (each with the names the container has there), and starts it.
    /// Another docker flow run that creates it at the same moment wins the name; this one then
    /// waits for it to run.
    fn create(&self, autosave: Option<&[u8]>, networks: &[(String, Vec<String>)]) -> Result<()> {
        let mut out = self.engine.change(&self.create_args(true), None)?;
        if out.refusal() == Some(Refusal::Conflict) {
            return self.wait_for_other_run();
        }
        self.check(out, "create")?;
        out = self.connect_copy_start(autosave, networks)?;
        if !out.ok() && out.stderr.contains("tcp_migrate_req") {
            // Kernels before 5.14 lack the sysctl; Caddy still works, with the reload race.
            let rm = self
                .engine
                .change(&args(&["rm", "-f", self.name()]), None)?;
            self.check(rm, "remove")?;
            let c = self.engine.change(&self.create_args(false), None)?;
            self.check(c, "create")?;
            out = self.connect_copy_start(autosave, networks)?;
        }
        self.check(out, "start")
    }

    /// The rest of creating the container: its networks, the helper, then `docker start`
    /// (whose output is returned).
    fn connect_copy_start(
        &self,
        autosave: Option<&[u8]>,
        networks: &[(String, Vec<String>)],
    ) -> Result<Output> {
        for (net, aliases) in networks {
            let mut connect = args(&["network", "connect"]);
            for alias in aliases {
                connect.extend(args(&["--alias", alias]));
            }
            connect.extend(args(&[net, self.name()]));
            let c = self.engine.change(&connect, None)?;
            self.check(c, &format!("connect to `{net}`"))?;
        }
        self.copy_in(autosave)?;
        self.engine.change(&args(&["start", self.name()]), None)
    }

    /// Another run created the container a moment ago: wait until it runs; if it stays created
    /// (that run was killed before starting it), finish its work.
    fn wait_for_other_run(&self) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if matches!(self.find()?, Found::Ours { running: true, .. }) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.copy_in(None)?;
        self.start()
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

    /// Replaces a proxy started by an earlier docker flow (admin API published on the host's
    /// loopback, rotation in `<name>-dns`; or layout 2, without the HTTPS port) with this
    /// layout, keeping its routes and records: its autosaved config is read, moved to the
    /// loopback (`config::migrated`) and given to the new container to resume from. The proxy
    /// does not serve for the second or two this takes.
    fn migrate(&self) -> Result<()> {
        let name = self.name();
        if self.engine.planned(format!(
            "recreate the proxy `{name}` with its HTTPS port and certificates' volume, keeping its routes (one restart)"
        )) {
            return Ok(());
        }
        // Under the proxy's lock, and only if no other run migrated it meanwhile: a second
        // migration would recreate the proxy from the earlier config, losing a route the
        // first run's project wrote since.
        let _lock = self.lock("migrate the proxy", &|w| {
            crate::progress::say(format_args!("warning: {w}\n"))
        })?;
        if !matches!(
            self.find()?,
            Found::OldLayout
                | Found::Ours {
                    https_port: None,
                    ..
                }
        ) {
            return Ok(());
        }
        // `docker cp` out of a container gives a tar of the one file (none before Caddy saved).
        let saved = self.engine.read_bytes(&args(&[
            "cp",
            &format!("{name}:/config/caddy/autosave.json"),
            "-",
        ]))?;
        let mut text = String::new();
        if let Some(tar) = saved {
            let mut archive = tar::Archive::new(tar.as_slice());
            if let Some(Ok(mut entry)) = archive.entries().ok().and_then(|mut e| e.next()) {
                let _ = std::io::Read::read_to_string(&mut entry, &mut text);
            }
        }
        let config = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let autosave = serde_json::to_vec(&config::migrated(config)).unwrap_or_default();
        // Its networks, with the names it answers there (a project's service names, `names`).
        let nets = self.engine.read(&args(&[
            "container",
            "inspect",
            "--format",
            "{{.Id}}\n{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{range $v.Aliases}}{{.}} {{end}}\n{{end}}",
            name,
        ]))?;
        let mut lines = nets.stdout.lines();
        let id = lines.next().unwrap_or_default().trim().to_string();
        let networks: Vec<(String, Vec<String>)> = lines
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let net = words.next().filter(|n| *n != "bridge")?;
                // Docker names a container by its short id on each network itself.
                let aliases = words
                    .filter(|a| !(a.len() >= 12 && id.starts_with(a)))
                    .map(String::from)
                    .collect();
                Some((net.to_string(), aliases))
            })
            .collect();
        self.check_old_rotation()?;
        let rm = self
            .engine
            .change(&args(&["rm", "-f", name, &self.old_rotation()]), None)?;
        if !rm.ok_or_gone() {
            return self.check(rm, "replace");
        }
        self.create(Some(&autosave), &networks)
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
