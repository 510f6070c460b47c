//! The instant rollback's warm standby (`--keep-old`): the old release, kept running out of
//! rotation, written beside the route's record (the helper's `standby`); a later rollback
//! holding the deploy lock swaps it in with one `docker exec` (the helper's `swap`, which checks
//! its members answer), and every other run holding the lock ends it (`settle`) before it
//! reads the route.

use super::rotation::Member;
use super::{config, follower, Caddy};
use crate::error::Result;
use crate::instance::{Instance, Upstream};

impl Caddy<'_> {
    /// The warm release waits beside the record (the helper's `standby`), at its addresses
    /// on the route network, which it keeps while it runs. On Swarm mode, with the services
    /// the record is to follow once swapped in (the follower keeps it on their tasks; with the
    /// proxy as a service the standby is the follower's, as its records are).
    pub(super) fn write_standby(
        &self,
        warm: &[Instance],
        until: std::time::SystemTime,
    ) -> Result<()> {
        if warm.is_empty() || !self.serving()? {
            return Ok(());
        }
        let members: Vec<Member> = if self.route.swarm {
            let upstreams: Vec<Upstream> =
                warm.iter().map(|i| i.upstream(self.route.port)).collect();
            self.attach(&upstreams)?
        } else {
            self.network
                .members()?
                .into_iter()
                .filter(|(name, _)| warm.iter().any(|i| &i.name == name))
                .collect()
        };
        if members.len() != warm.len() {
            return Ok(()); // not all reachable: no instant rollback to it
        }
        let until = until
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.rotation().standby(
            &config::record(&self.route),
            &members,
            until,
            self.follow(&members),
        )
    }

    /// One `docker exec` of the helper, asked without reading anything first: the helper
    /// swaps only a standby a run holding the lock wrote, and checks its members answer.
    pub(super) fn swap_standby(
        &self,
        path: &str,
        unhealthy: &[String],
    ) -> Result<Option<Vec<Upstream>>> {
        if self.engine.dry_run() {
            return Ok(None);
        }
        // The proxy service's follower is on no route network: it takes Swarm's word that the
        // warm tasks run, as it does to keep the record on Swarm's tasks.
        let swarm = self.container.is_service().then_some(follower::SOCKET);
        let before = self.rotation().swap(
            &config::record(&self.route),
            self.route.port,
            path,
            swarm,
            unhealthy,
        )?;
        *self.members.borrow_mut() = None;
        Ok(before.map(|m| self.upstreams(m)))
    }

    pub(super) fn settle_standby(&self) -> Result<()> {
        if self.engine.dry_run() || !self.serving()? {
            return Ok(());
        }
        let m = self.rotation().settle(&config::record(&self.route))?;
        *self.members.borrow_mut() = Some(m);
        Ok(())
    }
}
