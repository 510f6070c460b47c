//! One instance of the target, and how the proxy reaches it.
//!
//! These are the values every seam speaks: an orchestrator lists and starts instances, the
//! release model sorts them into live, old and promotable, and a proxy driver routes to their
//! upstreams.

use std::fmt;

use crate::model::Color;

/// One container (or, in Swarm mode, one task) of the target, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Instance {
    pub id: String,
    pub name: String,
    /// The Compose service it is a release of (`app` for `app-blue`).
    pub target: String,
    /// running, exited, created, …
    pub state: String,
    /// healthy, unhealthy, starting, or none (no healthcheck).
    pub health: String,
    pub image: String,
    pub image_id: String,
    pub created: String,
    /// Docker's `State.StartedAt` / `State.FinishedAt` (RFC 3339; empty when unknown).
    pub started_at: String,
    pub finished_at: String,
    pub color: Option<Color>,
    pub release: String,
    pub released_at: String,
    pub port: Option<u16>,
    pub exit_code: i64,
    /// The image and release this one replaced (empty for a first release).
    pub previous_image: String,
    pub previous_release: String,
    pub previous_released_at: String,
    /// `--keep-old` of its deploy: how long the release it replaced stays warm.
    pub keep_old: Option<std::time::Duration>,
    pub networks: Vec<(String, String)>,
    /// Its address on the route network, when the orchestrator knows it from its own state
    /// (Swarm's tasks), so the proxy needs no lookup of its own.
    pub address: Option<String>,
    /// The node it runs on (Swarm mode; empty on one engine).
    pub node: String,
}

impl Instance {
    pub(crate) fn running(&self) -> bool {
        self.state == "running"
    }

    /// How the proxy dials it: its own service port, else the route's.
    pub(crate) fn upstream(&self, route_port: u16) -> Upstream {
        Upstream {
            container: self.name.clone(),
            port: self.port.unwrap_or(route_port),
            address: self.address.clone(),
        }
    }

    /// Whether `up` dials this instance.
    pub(crate) fn is(&self, up: &Upstream) -> bool {
        up.container == self.name
    }
}

/// An address the proxy sends requests to: a container (or task) by name, and a port.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Upstream {
    pub container: String,
    pub port: u16,
    /// Its address on the route network when known beforehand (Swarm's tasks); not part of
    /// its identity.
    #[serde(skip)]
    pub address: Option<String>,
}

impl PartialEq for Upstream {
    fn eq(&self, other: &Upstream) -> bool {
        (&self.container, self.port) == (&other.container, other.port)
    }
}

impl Eq for Upstream {}

impl std::hash::Hash for Upstream {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (&self.container, self.port).hash(state);
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.container, self.port)
    }
}

/// `a:80, b:80`, for messages.
pub(crate) fn list(upstreams: &[Upstream]) -> String {
    upstreams
        .iter()
        .map(Upstream::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `a, b`, for messages.
pub(crate) fn names(instances: &[Instance]) -> String {
    instances
        .iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_dialled_on_its_own_port_else_the_routes() {
        let mut i = Instance {
            name: "shop-app-blue-1".into(),
            ..Instance::default()
        };
        assert_eq!(i.upstream(80).to_string(), "shop-app-blue-1:80");
        i.port = Some(8080);
        let up = i.upstream(80);
        assert_eq!(up.to_string(), "shop-app-blue-1:8080");
        assert!(i.is(&up));
        assert_eq!(
            list(&[up.clone(), up]),
            "shop-app-blue-1:8080, shop-app-blue-1:8080"
        );
    }
}
