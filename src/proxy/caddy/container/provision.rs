//! Making sure the proxy runs, as a run needs it: the proxy container as it stands started,
//! created (`create`), or migrated from an earlier layout (`migrate`); or, with
//! `--proxy-replicas`, the proxy service's pieces in order: its control network, its follower,
//! the control network's key, its image, the service, and its replicas running.

use super::{follower, service, Found, ProxyContainer};
use crate::engine::args;
use crate::error::{Error, Result};

/// The proxy as `provision` left it.
#[derive(Debug, Clone)]
pub(in crate::proxy::caddy) struct Provisioned {
    pub was_running: bool,
    /// The host port its HTTPS is published on (None: a layout-2 proxy, without one).
    pub https_port: Option<u16>,
    /// What the user should know of it (replicas Swarm cannot place).
    pub warning: Option<String>,
}

impl ProxyContainer<'_> {
    /// Makes sure the proxy runs: started, created, or migrated from an earlier layout (from
    /// layout 2 only when `https` is needed). What runs now.
    pub(in crate::proxy::caddy) fn provision(&self, https: bool) -> Result<Provisioned> {
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
}
