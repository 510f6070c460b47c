//! Migrating a proxy an earlier docker flow started: the earlier layout (Caddy's admin API
//! published on the host, the rotation in a container of its own, `<proxy-name>-dns`) at once,
//! and layout 2 (without the HTTPS port and the certificates' volume) when a route needs HTTPS.
//! The proxy is recreated in this layout from its autosaved config, on its networks with its
//! names there, keeping its routes and records.

use super::{Found, ProxyContainer, LABEL};
use crate::engine::args;
use crate::error::Result;
use crate::proxy::caddy::{check_ours, config};

/// Its value on the earlier layout's rotation container (`<proxy-name>-dns`).
const OLD_ROTATION: &str = "rotation";

impl ProxyContainer<'_> {
    /// The container that served the rotation in the earlier layout.
    fn old_rotation(&self) -> String {
        format!("{}-dns", self.settings.name)
    }

    /// Refuses (exit 3) a container at the earlier layout's rotation name that is not docker
    /// flow's: the migration removes that container by name.
    pub(in crate::proxy::caddy) fn check_old_rotation(&self) -> Result<()> {
        check_ours(
            self.engine,
            &self.old_rotation(),
            (LABEL, OLD_ROTATION),
            "the proxy's earlier rotation container",
            "docker flow's",
        )
    }

    /// Replaces a proxy started by an earlier docker flow (admin API published on the host's
    /// loopback, rotation in `<name>-dns`; or layout 2, without the HTTPS port) with this
    /// layout, keeping its routes and records: its autosaved config is read, moved to the
    /// loopback (`config::migrated`) and given to the new container to resume from. The proxy
    /// does not serve for the second or two this takes.
    pub(super) fn migrate(&self) -> Result<()> {
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
}
