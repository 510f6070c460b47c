//! The proxy service's control network, `<proxy-name>-control`, and its key.
//!
//! Only the follower and the replicas join that network, and they seal every message on it
//! with a key the follower makes and keeps; docker flow reads the key from the follower and
//! gives it to the replicas as a Swarm secret named by the key's id. Here are the network's
//! name and creation, the follower's port on it, and the key with its secret and mount.

use super::LABEL;
use crate::engine::{args, Engine, Refusal};
use crate::error::{Error, Result};

/// Where the follower serves the replicas, on the control network.
pub(in crate::proxy::caddy) const CONTROL_PORT: u16 = 2020;
/// Where each replica finds the control network's key (a Swarm secret, in its memory only).
pub(super) const KEY_TARGET: &str = "docker-flow-control-key";

/// The proxy's control network: the follower and the replicas, nothing else.
pub(in crate::proxy::caddy) fn control_network(proxy: &str) -> String {
    format!("{proxy}-control")
}

/// Makes the control network unless it exists: an attachable overlay (the follower is a
/// container), labelled as the proxy's.
pub(in crate::proxy::caddy) fn ensure_control_network(engine: &Engine, proxy: &str) -> Result<()> {
    let name = control_network(proxy);
    let out = engine.change(
        &args(&[
            "network",
            "create",
            "--driver",
            "overlay",
            "--attachable",
            "--label",
            &format!("{LABEL}={proxy}"),
            &name,
        ]),
        None,
    )?;
    if out.ok() || out.refusal() == Some(Refusal::Conflict) {
        return Ok(());
    }
    Err(Error::environment(
        format!(
            "cannot create the proxy's control network `{name}`: {}",
            out.stderr.trim()
        ),
        "check `docker network ls` and the swarm's address pools",
    ))
}

/// The control network's key as the follower holds it: its public name and its text.
pub(in crate::proxy::caddy) struct ControlKey {
    pub id: String,
    pub text: String,
}

impl ControlKey {
    /// `<id> <key>`, as the helper's `control-key` prints it.
    pub(in crate::proxy::caddy) fn parse(line: &str) -> Option<ControlKey> {
        let (id, text) = line.trim().split_once(' ')?;
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(id, 12) && hex(text, 64)).then(|| ControlKey {
            id: id.to_string(),
            text: text.to_string(),
        })
    }

    /// The Swarm secret that gives it to the replicas.
    pub(super) fn secret(&self, proxy: &str) -> String {
        let room = 63 - "-control-".len() - self.id.len();
        format!(
            "{}-control-{}",
            proxy.chars().take(room).collect::<String>(),
            self.id
        )
    }
}

/// `--secret` of the control network's key.
pub(super) fn key_mount(secret: &str) -> String {
    format!("source={secret},target={KEY_TARGET},mode=0400")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_key_reads_as_the_helper_prints_it_and_names_its_secret() {
        let line = format!("0123456789ab {}\n", "f".repeat(64));
        let key = ControlKey::parse(&line).unwrap();
        assert_eq!(key.secret("edge"), "edge-control-0123456789ab");
        assert!(key.secret(&"p".repeat(80)).len() <= 63);
        assert!(ControlKey::parse("0123456789ab short").is_none());
        assert!(ControlKey::parse("").is_none());
    }
}
