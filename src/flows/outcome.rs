//! What each step did, returned by the step rather than written into shared state.
//!
//! The runner keeps them in order; a later step reads what an earlier one did from them (the
//! proxy step promotes what the deploy step started; stop-old keeps what the proxy step routed
//! to), and the run's summary is made from them.

use std::time::Duration;

use crate::instance::{self, Instance, Upstream};
use crate::model::{Color, Release};
use crate::releases::ReleaseKey;

/// What a deploy step started.
#[derive(Debug, Clone)]
pub(crate) struct Deployed {
    pub color: Option<Color>,
    pub service: String,
    pub release: Release,
    /// The new instances, seen healthy.
    pub new: Vec<Instance>,
    /// How long they took to become healthy: the application's time, not docker flow's.
    pub health: Duration,
}

impl Deployed {
    pub(crate) fn key(&self) -> ReleaseKey {
        ReleaseKey {
            color: self.color,
            release: self.release.id.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Deployed(Deployed),
    /// The proxy routes to exactly these.
    Routed(Vec<Upstream>),
    Scaled {
        service: String,
        from: u32,
        to: u32,
        /// Where the proxy routes now (None: the count did not change).
        routed: Option<Vec<Upstream>>,
    },
    /// Old instances taken out and stopped (blue-green keeps them) or removed.
    Stopped {
        instances: Vec<Instance>,
        removed: bool,
    },
    RolledBack {
        from: Color,
        to: Color,
        release: String,
        routed: Vec<Upstream>,
    },
    /// Old instances kept running out of rotation (`--keep-old`) until then.
    KeptWarm {
        instances: Vec<Instance>,
        until: String,
    },
    /// The test command passed against these.
    Tested {
        instances: Vec<Instance>,
    },
}

impl Outcome {
    /// The changes it made, for the run's summary.
    pub(crate) fn changes(&self) -> Vec<String> {
        let routes = |up: &[Upstream]| format!("proxy routes to {}", instance::list(up));
        match self {
            Outcome::Deployed(d) => vec![format!(
                "started {} instance(s) of {} (release {})",
                d.new.len(),
                d.service,
                d.release.id
            )],
            Outcome::Routed(up) => vec![routes(up)],
            Outcome::Scaled {
                service,
                from,
                to,
                routed,
            } => routed
                .iter()
                .map(|up| routes(up))
                .chain([format!("scaled {service} from {from} to {to}")])
                .collect(),
            Outcome::Stopped { instances, .. } if instances.is_empty() => Vec::new(),
            Outcome::Stopped { instances, removed } => vec![format!(
                "{} {}",
                if *removed { "removed" } else { "stopped" },
                instance::names(instances)
            )],
            Outcome::KeptWarm { instances, until } => vec![format!(
                "kept {} running out of rotation until {until}",
                instance::names(instances)
            )],
            Outcome::Tested { instances } => {
                vec![format!("tested {}", instance::names(instances))]
            }
            Outcome::RolledBack {
                from,
                to,
                release,
                routed,
            } => vec![
                routes(routed),
                format!("rolled back to {to} (release {release}); stopped {from}"),
            ],
        }
    }
}

/// The outcomes of the steps run so far, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    pub outcomes: Vec<Outcome>,
}

impl History {
    /// What a deploy step of this run started.
    pub(crate) fn deployed(&self) -> Option<&Deployed> {
        self.outcomes.iter().rev().find_map(|o| match o {
            Outcome::Deployed(d) => Some(d),
            _ => None,
        })
    }

    /// Where this run last pointed the proxy.
    pub(crate) fn routed(&self) -> Option<&[Upstream]> {
        self.outcomes.iter().rev().find_map(|o| match o {
            Outcome::Routed(up) | Outcome::RolledBack { routed: up, .. } => Some(up.as_slice()),
            Outcome::Scaled {
                routed: Some(up), ..
            } => Some(up.as_slice()),
            _ => None,
        })
    }

    pub(crate) fn changes(&self) -> Vec<String> {
        self.outcomes.iter().flat_map(Outcome::changes).collect()
    }
}
