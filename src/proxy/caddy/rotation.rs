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
use crate::engine::{args, Output};
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

    /// Runs the helper with `a` in the proxy (a change of the rotation): its output, or the
    /// error that it failed to do `what` (its own words after), with `help`.
    fn change(&self, a: &[String], what: &str, help: &str) -> Result<Output> {
        let out = self.container.exec(a, None, true)?;
        if !out.ok() {
            return Err(Error::environment(
                format!("{what}: {}", out.stderr.trim()),
                format!(
                    "check that the proxy `{}` runs{help}",
                    self.container.name()
                ),
            ));
        }
        Ok(out)
    }

    /// Removes the records `names` (with what they follow and any standby): a route taken off.
    pub(super) fn unset(&self, names: &[String]) -> Result<()> {
        let mut a = args(&["unset", RECORDS]);
        a.extend(names.iter().cloned());
        self.change(&a, "cannot remove the route's records", "")
            .map(drop)
    }

    /// Replaces the record `name` with `members`, at once. `follow` (Swarm mode): the route
    /// network and the services whose running tasks the follower keeps the record on.
    pub(super) fn set(
        &self,
        name: &str,
        members: &[Member],
        follow: Option<(&str, Vec<String>)>,
    ) -> Result<()> {
        self.write(name, None, members, follow)
    }

    /// Replaces the record `name` with `members` under `key` (none: no key): a keyed record
    /// is answered only under `<key>.<name>`.
    pub(super) fn set_keyed(
        &self,
        name: &str,
        key: Option<&str>,
        members: &[Member],
    ) -> Result<()> {
        self.write(name, key, members, None)
    }

    fn write(
        &self,
        name: &str,
        key: Option<&str>,
        members: &[Member],
        follow: Option<(&str, Vec<String>)>,
    ) -> Result<()> {
        let mut a = args(&["set", RECORDS, name]);
        if let Some(key) = key {
            a.extend(args(&[docker_flow_helper::protocol::record::KEY_ARG, key]));
        }
        a.extend(record_args(follow, members));
        self.change(
            &a,
            &format!("cannot update the proxy's rotation for `{name}`"),
            "; `docker flow proxy` repairs the rotation",
        )?;
        Ok(())
    }

    /// The record `name`; None when there is none (or no proxy to ask).
    pub(super) fn get(&self, name: &str) -> Result<Option<Vec<Member>>> {
        Ok(self.get_text(name)?.and_then(|text| record(&text)))
    }

    /// The key of the record `name`, if it has one.
    pub(super) fn key(&self, name: &str) -> Result<Option<String>> {
        Ok(self.get_text(name)?.and_then(|text| {
            docker_flow_helper::protocol::record::parse_key(&text).map(String::from)
        }))
    }

    fn get_text(&self, name: &str) -> Result<Option<String>> {
        let out = self
            .container
            .exec(&args(&["get", RECORDS, name]), None, false)?;
        Ok(out.ok().then_some(out.stdout))
    }

    /// Keeps `members` (a release kept warm by `--keep-old`) beside the record `name` until
    /// `until` (unix seconds), for a rollback's `swap`; no members: none kept. `follow`
    /// (Swarm mode): what the record is to follow once swapped in, as for `set`.
    pub(super) fn standby(
        &self,
        name: &str,
        members: &[Member],
        until: u64,
        follow: Option<(&str, Vec<String>)>,
    ) -> Result<()> {
        let mut a = args(&["standby", RECORDS, name, &until.to_string()]);
        a.extend(record_args(follow, members));
        self.change(
            &a,
            &format!("cannot keep the warm release beside the route `{name}`"),
            "; a rollback still works, by the long way",
        )?;
        Ok(())
    }

    /// Swaps the release kept warm into the record `name`, if one is there, in time, and every
    /// member answers on `port` at `path` and is none of `unhealthy` (with `swarm`, the engine's
    /// socket in the follower: every member is a task Swarm runs): the record it replaced.
    /// None when there was nothing to swap (or no proxy to ask): the caller goes the long way.
    pub(super) fn swap(
        &self,
        name: &str,
        port: u16,
        path: &str,
        swarm: Option<&str>,
        unhealthy: &[String],
    ) -> Result<Option<Vec<Member>>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut a = args(&["swap", RECORDS, name, &now.to_string()]);
        a.extend([port.to_string(), path.to_string()]);
        if let Some(socket) = swarm {
            a.extend(["--swarm".to_string(), socket.to_string()]);
        }
        a.extend(unhealthy.iter().cloned());
        // Asked before the preflight: whatever stands at the proxy's name is not changed.
        let out = self.container.exec_as_found(&a)?;
        if !out.ok() {
            return Ok(None);
        }
        Ok(Some(record(&out.stdout).unwrap_or_default()))
    }

    /// The record `name`, with no release kept warm beside it any more (what a run that holds
    /// the deploy lock reads first: no `swap` can change the record behind it after).
    pub(super) fn settle(&self, name: &str) -> Result<Option<Vec<Member>>> {
        let out = self.change(
            &args(&["settle", RECORDS, name]),
            &format!("cannot read the proxy's rotation for `{name}`"),
            "",
        )?;
        Ok(record(&out.stdout))
    }
}

/// A record as the helper's `set` and `standby` take it on their command line: what it
/// follows (Swarm mode), then its members.
fn record_args(follow: Option<(&str, Vec<String>)>, members: &[Member]) -> Vec<String> {
    let mut a = Vec::new();
    if let Some((network, services)) = follow {
        a.extend(protocol::record::follow_args(network, &services));
    }
    a.extend(
        members
            .iter()
            .map(|(c, ip)| protocol::record::member_arg(c, ip)),
    );
    a
}

/// A record as the helper prints it; None when it printed none.
fn record(stdout: &str) -> Option<Vec<Member>> {
    if stdout.trim().is_empty() {
        return None;
    }
    Some(
        stdout
            .lines()
            .filter_map(protocol::record::parse_line)
            .collect(),
    )
}
