//! Creating the proxy container: `docker create` of the proxy image with docker flow's helper
//! as its first process, its networks, the helper (and a config to resume from) copied in, then
//! `docker start`. Another run that creates it at the same moment wins the name, and this one
//! waits for it to run.

use std::time::{Duration, Instant};

use super::{Found, ProxyContainer, LABEL, LAYOUT, LAYOUT_VERSION};
use crate::engine::{args, Output, Refusal};
use crate::error::Result;
use crate::helper;
use crate::proxy::caddy::{ADMIN, RECORDS, RESOLVER};

impl ProxyContainer<'_> {
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

    pub(super) fn start(&self) -> Result<()> {
        let out = self.engine.change(&args(&["start", self.name()]), None)?;
        self.check(out, "start")
    }

    /// Creates the container, copies the helper (and `autosave`, a config to resume from) in,
    /// connects it to `networks` (each with the names the container has there), and starts it.
    /// Another docker flow run that creates it at the same moment wins the name; this one then
    /// waits for it to run.
    pub(super) fn create(
        &self,
        autosave: Option<&[u8]>,
        networks: &[(String, Vec<String>)],
    ) -> Result<()> {
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
}
