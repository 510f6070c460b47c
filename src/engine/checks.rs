//! What docker flow checks of the engine before anything changes: that the daemon answers (and
//! its architecture, asked with its version: one `docker version` for both), and that Compose
//! v2 is new enough. Exit 3 otherwise.

use super::{args, Engine};
use crate::error::{Error, Result};

/// The oldest Compose that has everything we use (`config --format json`, `-f -`, `--wait`).
const MIN_COMPOSE: (u32, u32) = (2, 20);

/// The engine's architecture, once asked (`Engine::server_arch`).
static ARCH: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl Engine {
    /// Checks that the daemon answers; exit 3 otherwise, before anything changes.
    pub(crate) fn check_daemon(&self) -> Result<()> {
        let format = "{{.Server.Version}} {{.Server.Arch}}";
        let out = self.read(&args(&["version", "--format", format]))?;
        if out.ok() && !out.stdout.trim().is_empty() {
            // Asked here once, not again by the helper's check (`server_arch`).
            if let Some((_, arch)) = out.stdout.trim().split_once(' ') {
                let _ = ARCH.set(arch.to_string());
            }
            return Ok(());
        }
        // `context "prod": context not found: …`: a name that does not exist, not a daemon down.
        if let Some(rest) = out.stderr.split("context \"").nth(1) {
            if out.stderr.contains("context not found") {
                let name = rest.split('"').next().unwrap_or_default();
                return Err(Error::environment(
                    format!("there is no docker context `{name}`"),
                    "list the contexts with `docker context ls`, or choose one with --context or DOCKER_CONTEXT",
                ));
            }
        }
        Err(Error::environment(
            format!(
                "the Docker daemon is unreachable: {}",
                out.last_error_line()
            ),
            "start Docker (e.g. `dockerd` or `systemctl start docker`), or select a running one with --context, -H or DOCKER_HOST",
        ))
    }

    /// The engine's architecture as docker names it (`amd64`): one engine per run, asked once.
    pub(crate) fn server_arch(&self) -> Result<String> {
        if let Some(a) = ARCH.get() {
            return Ok(a.clone());
        }
        let out = self.read(&args(&["version", "--format", "{{.Server.Arch}}"]))?;
        Ok(ARCH.get_or_init(|| out.stdout.trim().to_string()).clone())
    }

    /// Checks for Compose v2.20 or newer as a docker plugin; exit 3 otherwise.
    pub(crate) fn check_compose(&self) -> Result<()> {
        let help = "install Compose v2 as a docker CLI plugin: `apt-get install docker-compose-plugin`, or the \
                    `docker-compose` binary from a Compose release copied to ~/.docker/cli-plugins/docker-compose";
        let out = self.read(&args(&["compose", "version", "--short"]))?;
        if !out.ok() {
            return Err(Error::environment(
                "Docker Compose v2 is not installed (`docker compose version` failed); docker-compose v1 is not supported",
                help,
            ));
        }
        let v = out.stdout.trim().trim_start_matches('v');
        let mut parts = v
            .split(['.', '-', '+'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) < MIN_COMPOSE {
            return Err(Error::environment(
                format!(
                    "Docker Compose {v} is too old; docker flow needs {}.{} or newer",
                    MIN_COMPOSE.0, MIN_COMPOSE.1
                ),
                help,
            ));
        }
        Ok(())
    }
}
