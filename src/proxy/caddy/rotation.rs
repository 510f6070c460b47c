//! The rotation: which instances a route sends traffic to.
//!
//! Caddy drops requests whenever its config changes, so docker flow never changes the config to
//! switch. Each route instead resolves its upstreams from an A record, refreshed every 200 ms,
//! that docker flow's helper serves on the proxy container's loopback (records on the volume
//! `<proxy-name>-dns`, so they survive restarts). A switch rewrites the record in one step (the
//! helper's `set`: write, then rename); an instance leaves the record, and so the rotation, while
//! it still runs, so the requests it serves finish before it is stopped.

use docker_flow_helper::protocol;

use super::container::ProxyContainer;
use super::RECORDS;
use crate::engine::args;
use crate::error::{Error, Result};

/// One instance in rotation: its container and its address on the route network.
pub(super) type Member = (String, String);

pub(super) struct Rotation<'c, 'a> {
    container: &'c ProxyContainer<'a>,
}

impl<'c, 'a> Rotation<'c, 'a> {
    pub(super) fn new(container: &'c ProxyContainer<'a>) -> Rotation<'c, 'a> {
        Rotation { container }
    }

    /// Replaces the record `name` with `members`, at once. `follow` (Swarm mode): the route
    /// network and the services whose running tasks the follower keeps the record on.
    pub(super) fn set(
        &self,
        name: &str,
        members: &[Member],
        follow: Option<(&str, &[String])>,
    ) -> Result<()> {
        let mut a = args(&["set", RECORDS, name]);
        if let Some((network, services)) = follow {
            a.extend(protocol::record::follow_args(network, services));
        }
        a.extend(
            members
                .iter()
                .map(|(c, ip)| protocol::record::member_arg(c, ip)),
        );
        let out = self.container.exec(&a, None, true)?;
        if !out.ok() {
            return Err(Error::environment(
                format!(
                    "cannot update the proxy's rotation for `{name}`: {}",
                    out.stderr.trim()
                ),
                format!(
                    "check that the proxy `{}` runs; `docker flow proxy` repairs the rotation",
                    self.container.name()
                ),
            ));
        }
        Ok(())
    }

    /// The record `name`; None when there is none (or no proxy to ask).
    pub(super) fn get(&self, name: &str) -> Result<Option<Vec<Member>>> {
        let out = self
            .container
            .exec(&args(&["get", RECORDS, name]), None, false)?;
        if !out.ok() || out.stdout.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(
            out.stdout
                .lines()
                .filter_map(protocol::record::parse_line)
                .collect(),
        ))
    }
}
