//! Scaling and removing colours with `docker service`: a colour's replicas set (`docker
//! service update`), a colour scaled to 0 brought back for a rollback, a colour stopped (scaled
//! to 0, its service kept with how many it had) and removed (`docker service rm`). Whole
//! colours only: Swarm chooses which tasks a service loses, so taking chosen instances out is
//! refused. Separate from `deploy.rs` because none of this changes a colour's definition.

use super::Swarm;
use crate::engine::args;
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::model::{Color, LABEL_REPLICAS};
use crate::orchestrator::cannot_remove_chosen;

impl Swarm<'_> {
    /// `docker service update` of a colour: its replicas (and, scaling to 0, how many it had).
    pub(super) fn scale(
        &self,
        color: Option<Color>,
        replicas: u32,
        had: Option<u32>,
    ) -> Result<()> {
        if replicas > 0 {
            self.snapshot()?;
        }
        self.changing();
        let mut a = args(&["service", "update", "--detach", "--replicas"]);
        a.push(replicas.to_string());
        if let Some(n) = had {
            a.extend(args(&["--label-add", &format!("{LABEL_REPLICAS}={n}")]));
        }
        a.push(self.full_name(color));
        let out = self.engine.change(&a, None)?;
        if !out.ok() {
            return Err(Error::flow(
                format!(
                    "cannot scale {} to {replicas}: {}",
                    self.full_name(color),
                    out.stderr.trim()
                ),
                "see `docker service ps`",
            ));
        }
        Ok(())
    }

    /// Stopped instances started again: their colours scaled back up by as many; returns the
    /// colours' tasks once Swarm made them.
    pub(super) fn scale_back(&self, stopped: &[Instance]) -> Result<Vec<Instance>> {
        let list = self.list()?;
        let mut out = Vec::new();
        for (color, n) in Self::by_color(stopped) {
            let running = list
                .iter()
                .filter(|i| i.color == color && i.running())
                .count() as u32;
            self.scale(color, running + n, None)?;
            if !self.engine.dry_run() {
                out.extend(self.await_tasks(color, running + n)?);
            }
        }
        Ok(out)
    }

    /// A whole colour only: scaled to 0, its service kept (with how many it had) for rollback.
    pub(super) fn scale_to_zero(&self, instances: &[Instance]) -> Result<()> {
        let list = self.list()?;
        for (color, n) in Self::by_color(instances) {
            let running = list
                .iter()
                .filter(|i| i.color == color && i.running())
                .count() as u32;
            if n < running {
                return Err(cannot_remove_chosen());
            }
            self.scale(color, 0, Some(n))?;
        }
        Ok(())
    }

    /// A whole colour only: its service removed (never a volume).
    pub(super) fn remove_services(&self, instances: &[Instance]) -> Result<()> {
        if instances.is_empty() {
            return Ok(());
        }
        let list = self.list()?;
        let mut a = args(&["service", "rm"]);
        for color in Self::by_color(instances).keys() {
            // The flows remove whole releases; a colour's service holds one release.
            let other = list.iter().any(|i| {
                i.color == *color
                    && i.running()
                    && !instances.iter().any(|r| r.release == i.release)
            });
            if other {
                return Err(cannot_remove_chosen());
            }
            a.push(self.full_name(*color));
        }
        self.changing();
        let out = self.engine.change(&a, None)?;
        if !out.ok_or_gone() {
            return Err(Error::flow(
                format!("cannot remove services: {}", out.stderr.trim()),
                "remove them with `docker service rm`",
            ));
        }
        Ok(())
    }
}
