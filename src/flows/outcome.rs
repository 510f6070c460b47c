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
    /// Whether the proxy's preview was pointed at them (the run does not promote at once).
    pub previewed: bool,
    /// The key a request carries in `X-Docker-Flow-Preview` to reach them (when previewed).
    pub preview_key: Option<String>,
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
        /// The release that was live before.
        from_release: String,
        /// The instances that serve now.
        instances: Vec<Instance>,
        routed: Vec<Upstream>,
    },
    /// `promote`: the staged release or canary about to take all the traffic (a canary grown
    /// from `from` to `to` instances first).
    Promoting {
        instances: Vec<Instance>,
        from: u32,
        to: u32,
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
    /// A canary: these new instances in rotation beside `live` live ones.
    Canary {
        instances: Vec<Instance>,
        live: usize,
        routed: Vec<Upstream>,
    },
    /// A staged or canary release removed; the proxy routes to `routed` when it had to change.
    Aborted {
        instances: Vec<Instance>,
        routed: Option<Vec<Upstream>>,
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
            Outcome::Canary {
                instances,
                live,
                routed,
            } => vec![
                routes(routed),
                format!(
                    "canary: {} new instance(s) beside {live} live",
                    instances.len()
                ),
            ],
            Outcome::Aborted { instances, routed } => routed
                .iter()
                .map(|up| routes(up))
                .chain([format!("removed {} (aborted)", instance::names(instances))])
                .collect(),
            Outcome::Promoting {
                instances,
                from,
                to,
            } => {
                let grew =
                    (to > from).then(|| format!("grew the canary from {from} to {to} instance(s)"));
                grew.into_iter()
                    .chain([format!(
                        "promoting release {}",
                        instances.first().map_or("", |i| i.release.as_str())
                    )])
                    .collect()
            }
            Outcome::RolledBack {
                from,
                to,
                release,
                routed,
                ..
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
            Outcome::Routed(up)
            | Outcome::RolledBack { routed: up, .. }
            | Outcome::Canary { routed: up, .. } => Some(up.as_slice()),
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
