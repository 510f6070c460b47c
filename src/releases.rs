//! The release model: the one answer to "what is live, what is old, what can be promoted".
//!
//! Built from what the orchestrator lists and what the proxy routes to, and pure: every flow
//! asks it instead of working the answer out again, and its unit tests cover the states a
//! deploy can leave behind (killed at any step, partially scaled, staged, rolled back) without
//! an engine.
//!
//! In blue-green mode a release is a colour: one colour holds one release at a time, and the
//! proxy routes to one colour. Without it a release is its id, and several may run at once
//! (between a deploy and its stop-old).

use std::time::SystemTime;

use crate::instance::{Instance, Upstream};
use crate::model::Color;

/// Which release an instance belongs to, as far as switching goes: its colour in blue-green
/// mode, otherwise its release id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReleaseKey {
    pub color: Option<Color>,
    pub release: String,
}

/// The target's instances, oldest release first, and the upstreams the proxy routes to.
#[derive(Debug, Clone)]
pub(crate) struct Releases {
    blue_green: bool,
    instances: Vec<Instance>,
    /// None when the proxy has no route for the target or cannot say (or there is no proxy).
    routed: Option<Vec<Upstream>>,
}

/// What a rollback does: bring `to` back with as many instances as `current` has, then stop
/// `current`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rollback {
    pub live: Color,
    pub to: Color,
    /// The live colour's running instances, stopped once the previous one serves.
    pub current: Vec<Instance>,
    /// How many instances the previous release comes back with.
    pub count: usize,
    pub back: Back,
}

/// Where the previous release comes back from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Back {
    /// Its containers, kept stopped for this (its newest release, at most `count` of them).
    Kept {
        release: String,
        instances: Vec<Instance>,
    },
    /// Its containers are gone: recreate it from its own image, which the live release recorded
    /// when it replaced it. `like` is such an instance, as it was.
    Recreate { like: Box<Instance> },
}

/// A release waiting for `promote` or `abort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pending {
    /// Deployed and healthy, out of rotation (`deploy --no-promote`, `--flow=deploy`): only
    /// previewed.
    Staged(Vec<Instance>),
    /// In rotation beside the live release (`deploy --canary`).
    Canary {
        canary: Vec<Instance>,
        live: Vec<Instance>,
    },
}

/// Why there is nothing to roll back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoRollback {
    /// No release of the target runs.
    NothingLive,
    /// The live colour replaced nothing docker flow knows of.
    NoPrevious(Color),
}

impl Releases {
    pub(crate) fn new(
        blue_green: bool,
        mut instances: Vec<Instance>,
        routed: Option<Vec<Upstream>>,
    ) -> Releases {
        instances.sort_by(|a, b| {
            (&a.released_at, &a.release, &a.name).cmp(&(&b.released_at, &b.release, &b.name))
        });
        Releases {
            blue_green,
            instances,
            routed,
        }
    }

    /// What the proxy routes to (empty when it has no route or cannot say).
    pub(crate) fn routed(&self) -> &[Upstream] {
        self.routed.as_deref().unwrap_or_default()
    }

    /// Every instance, oldest release first.
    pub(crate) fn all(&self) -> &[Instance] {
        &self.instances
    }

    fn key(&self, i: &Instance) -> ReleaseKey {
        ReleaseKey {
            color: i.color,
            release: i.release.clone(),
        }
    }

    fn belongs(&self, i: &Instance, k: &ReleaseKey) -> bool {
        if self.blue_green {
            i.color == k.color
        } else {
            i.release == k.release
        }
    }

    fn running(&self) -> impl Iterator<Item = &Instance> {
        self.instances.iter().filter(|i| i.running())
    }

    fn newest<'i>(list: impl Iterator<Item = &'i Instance>) -> Option<&'i Instance> {
        list.max_by(|a, b| (&a.released_at, &a.release).cmp(&(&b.released_at, &b.release)))
    }

    /// The newest running instance: one of the newest release that runs.
    fn newest_running(&self) -> Option<&Instance> {
        Self::newest(self.running())
    }

    /// Running instances the proxy routes to.
    fn routed_running(&self) -> impl Iterator<Item = &Instance> {
        let routed = self.routed.as_deref().unwrap_or_default();
        self.running()
            .filter(move |i| routed.iter().any(|up| i.is(up)))
    }

    /// How the running instances were deployed: (some with a colour, some without). Both at
    /// once only while a `--switch-mode` deploy converts the target.
    pub(crate) fn running_modes(&self) -> (bool, bool) {
        (
            self.running().any(|i| i.color.is_some()),
            self.running().any(|i| i.color.is_none()),
        )
    }

    /// The live colour (blue-green only): the colour of the oldest release the proxy routes
    /// to (the newer one, when two are, is a canary), else (no proxy, or a route to nothing
    /// that runs) of the newest running release.
    pub(crate) fn live_color(&self) -> Option<Color> {
        if !self.blue_green {
            return None;
        }
        self.routed_running()
            .min_by(|a, b| (&a.released_at, &a.release).cmp(&(&b.released_at, &b.release)))
            .or_else(|| self.newest_running())
            .and_then(|i| i.color)
    }

    /// The release waiting for `promote` or `abort`, if one is: the newest running release
    /// when it is in rotation beside an older one (a canary), or out of rotation while an
    /// older one serves (staged). Without a route, with a proxy (`proxied`) the newest
    /// release is staged whenever it is out of rotation (a first deploy with `--no-promote`,
    /// say); without a proxy, when an older release runs beside it.
    pub(crate) fn pending(&self, proxied: bool) -> Option<Pending> {
        let newest = self.newest_release();
        let first = newest.first()?;
        let key = self.key(first);
        let routed = self.routed.as_deref().unwrap_or_default();
        let is_routed = |i: &Instance| routed.iter().any(|up| i.is(up));
        let others: Vec<Instance> = self
            .running()
            .filter(|i| !self.belongs(i, &key))
            .cloned()
            .collect();
        let others_routed: Vec<Instance> =
            others.iter().filter(|i| is_routed(i)).cloned().collect();
        if newest.iter().any(is_routed) {
            return (!others_routed.is_empty()).then(|| Pending::Canary {
                canary: newest.clone(),
                live: others_routed,
            });
        }
        (proxied || !others.is_empty()).then_some(Pending::Staged(newest))
    }

    /// The live release's running instances: those of the live colour (blue-green), else those
    /// of the newest running release. What scale counts from.
    pub(crate) fn live(&self) -> Vec<Instance> {
        let key = if self.blue_green {
            ReleaseKey {
                color: self.live_color(),
                release: String::new(),
            }
        } else {
            match self.newest_running() {
                Some(i) => self.key(i),
                None => return Vec::new(),
            }
        };
        self.running()
            .filter(|i| self.belongs(i, &key))
            .cloned()
            .collect()
    }

    /// Until when the release the live one replaced stays warm (running, out of rotation), if
    /// the live release was deployed with `--keep-old` and that time is still ahead of `now`.
    pub(crate) fn warm_until(&self, now: SystemTime) -> Option<SystemTime> {
        let live = self.live_color()?;
        let newest = Self::newest(self.running().filter(|i| i.color == Some(live)))?;
        let keep = newest.keep_old?;
        let released = humantime::parse_rfc3339_weak(&newest.released_at).ok()?;
        // A label an older docker flow wrote may hold any number: past the clock's range it
        // is kept as long as the clock can say.
        released
            .checked_add(keep)
            .or_else(|| released.checked_add(std::time::Duration::from_secs(u32::MAX as u64)))
            .filter(|until| *until > now)
    }

    /// The release the live one replaced, still running out of rotation because the live one
    /// was deployed with `--keep-old` (blue-green only): warm while `warm_until` says so, to be
    /// stopped after. A release of the other colour newer than the live one is a staged one,
    /// never warm.
    pub(crate) fn warm(&self) -> Vec<Instance> {
        let Some(live) = self.live_color() else {
            return Vec::new();
        };
        let Some(newest) = Self::newest(self.running().filter(|i| i.color == Some(live))) else {
            return Vec::new();
        };
        if newest.keep_old.is_none() {
            return Vec::new();
        }
        let routed = self.routed.as_deref().unwrap_or_default();
        self.running()
            .filter(|i| i.color == Some(live.other()))
            .filter(|i| (&i.released_at, &i.release) < (&newest.released_at, &newest.release))
            .filter(|i| !routed.iter().any(|up| i.is(up)))
            .cloned()
            .collect()
    }

    /// The colour the next deploy starts (blue-green only): the one that is not live, blue
    /// when nothing is.
    pub(crate) fn next_color(&self) -> Option<Color> {
        self.blue_green
            .then(|| self.live_color().map_or(Color::Blue, Color::other))
    }

    /// What a deploy replaces: the live release (blue-green), else every running instance.
    pub(crate) fn replaced_by_deploy(&self) -> Vec<Instance> {
        if self.blue_green {
            self.live()
        } else {
            self.running().cloned().collect()
        }
    }

    /// What a deploy clears away before it starts: every instance of the next colour (a
    /// release deployed but never promoted, or the one kept for rollback, as the seed did),
    /// else the instances that no longer run.
    pub(crate) fn leftovers(&self) -> Vec<Instance> {
        let next = self.next_color();
        self.instances
            .iter()
            .filter(|i| {
                if self.blue_green {
                    i.color == next
                } else {
                    !i.running()
                }
            })
            .cloned()
            .collect()
    }

    /// The newest running release's instances: what `proxy` promotes when no deploy ran
    /// before it in the same run (a staged release, say).
    pub(crate) fn newest_release(&self) -> Vec<Instance> {
        let Some(newest) = self.newest_running() else {
            return Vec::new();
        };
        let key = self.key(newest);
        self.running()
            .filter(|i| self.belongs(i, &key))
            .cloned()
            .collect()
    }

    /// The releases serving now: those the proxy routes to; else `fallback` (what this run
    /// deployed, say), else the newest running one.
    pub(crate) fn serving(&self, fallback: Option<ReleaseKey>) -> Vec<ReleaseKey> {
        let mut keys: Vec<ReleaseKey> = Vec::new();
        let routed = self.routed.as_deref().unwrap_or_default();
        for i in self
            .instances
            .iter()
            .filter(|i| routed.iter().any(|up| i.is(up)))
        {
            let k = self.key(i);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        if keys.is_empty() {
            keys.extend(fallback.or_else(|| self.newest_running().map(|i| self.key(i))));
        }
        keys
    }

    /// Running instances of releases that do not serve: what stop-old stops.
    pub(crate) fn old(&self, serving: &[ReleaseKey]) -> Vec<Instance> {
        self.running()
            .filter(|i| !serving.iter().any(|k| self.belongs(i, k)))
            .cloned()
            .collect()
    }

    /// What a rollback brings back, and what it stops (blue-green only).
    pub(crate) fn rollback(&self) -> Result<Rollback, NoRollback> {
        let live = self.live_color().ok_or(NoRollback::NothingLive)?;
        let to = live.other();
        let current: Vec<Instance> = self
            .running()
            .filter(|i| i.color == Some(live))
            .cloned()
            .collect();
        let count = current.len().max(1);
        let previous: Vec<&Instance> = self
            .instances
            .iter()
            .filter(|i| i.color == Some(to))
            .collect();
        let back = match previous.iter().map(|i| &i.release).max() {
            Some(newest) => Back::Kept {
                release: newest.clone(),
                instances: previous
                    .iter()
                    .filter(|i| &i.release == newest)
                    .take(count)
                    .map(|i| (*i).clone())
                    .collect(),
            },
            None => {
                let like = current
                    .first()
                    .filter(|c| !c.previous_image.is_empty())
                    .ok_or(NoRollback::NoPrevious(to))?;
                Back::Recreate {
                    like: Box::new(Instance {
                        color: Some(to),
                        release: like.previous_release.clone(),
                        released_at: like.previous_released_at.clone(),
                        image_id: like.previous_image.clone(),
                        ..like.clone()
                    }),
                }
            }
        };
        Ok(Rollback {
            live,
            to,
            current,
            count,
            back,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Color::{Blue, Green};

    /// An instance `<color>-<n>` of release `r` (releases sort by their id here).
    fn inst(color: Option<Color>, n: u32, release: &str, running: bool) -> Instance {
        let c = color.map_or("app".to_string(), |c| format!("app-{c}"));
        Instance {
            id: format!("id-{c}-{n}-{release}"),
            name: format!("shop-{c}-{n}"),
            state: if running { "running" } else { "exited" }.into(),
            color,
            release: release.into(),
            released_at: release.into(),
            image_id: format!("sha256:{release}"),
            ..Instance::default()
        }
    }

    fn up(i: &Instance) -> Upstream {
        i.upstream(80)
    }

    fn names(list: &[Instance]) -> Vec<&str> {
        list.iter().map(|i| i.name.as_str()).collect()
    }

    fn key(color: Option<Color>, release: &str) -> ReleaseKey {
        ReleaseKey {
            color,
            release: release.into(),
        }
    }

    #[test]
    fn a_first_deploy_starts_blue_and_replaces_nothing() {
        let r = Releases::new(true, vec![], None);
        assert_eq!(r.live_color(), None);
        assert_eq!(r.next_color(), Some(Blue));
        assert!(r.replaced_by_deploy().is_empty());
        assert!(r.leftovers().is_empty());
        assert!(r.serving(None).is_empty());
        assert_eq!(r.rollback(), Err(NoRollback::NothingLive));
    }

    #[test]
    fn after_a_deploy_the_routed_colour_is_live_and_the_other_is_next() {
        let b1 = inst(Some(Blue), 1, "r1", false);
        let g1 = inst(Some(Green), 1, "r2", true);
        let g2 = inst(Some(Green), 2, "r2", true);
        let r = Releases::new(
            true,
            vec![g1.clone(), b1.clone(), g2.clone()],
            Some(vec![up(&g1), up(&g2)]),
        );
        assert_eq!(
            names(r.all()),
            ["shop-app-blue-1", "shop-app-green-1", "shop-app-green-2"]
        );
        assert_eq!(r.live_color(), Some(Green));
        assert_eq!(names(&r.live()), ["shop-app-green-1", "shop-app-green-2"]);
        assert_eq!(r.next_color(), Some(Blue));
        assert_eq!(names(&r.leftovers()), ["shop-app-blue-1"]);
        assert_eq!(r.serving(None), [key(Some(Green), "r2")]);
        assert!(r.old(&r.serving(None)).is_empty());
    }

    #[test]
    fn a_staged_release_is_promotable_but_not_live() {
        // `--flow=deploy` started green beside blue; the proxy still routes to blue.
        let b1 = inst(Some(Blue), 1, "r1", true);
        let g1 = inst(Some(Green), 1, "r2", true);
        let r = Releases::new(true, vec![b1.clone(), g1], Some(vec![up(&b1)]));
        assert_eq!(r.live_color(), Some(Blue));
        assert_eq!(names(&r.newest_release()), ["shop-app-green-1"]);
        // A new deploy replaces the staged release, not the live one.
        assert_eq!(r.next_color(), Some(Green));
        assert_eq!(names(&r.leftovers()), ["shop-app-green-1"]);
        assert_eq!(names(&r.replaced_by_deploy()), ["shop-app-blue-1"]);
        // stop-old keeps what serves.
        assert_eq!(names(&r.old(&r.serving(None))), ["shop-app-green-1"]);
    }

    #[test]
    fn a_run_killed_after_its_switch_leaves_the_new_colour_live_and_the_old_one_to_stop() {
        let b1 = inst(Some(Blue), 1, "r1", true);
        let g1 = inst(Some(Green), 1, "r2", true);
        let r = Releases::new(true, vec![b1, g1.clone()], Some(vec![up(&g1)]));
        assert_eq!(r.live_color(), Some(Green));
        assert_eq!(names(&r.old(&r.serving(None))), ["shop-app-blue-1"]);
        // The next deploy takes blue back, stopping it gracefully first (it still runs).
        assert_eq!(r.next_color(), Some(Blue));
        assert!(r.leftovers()[0].running());
    }

    #[test]
    fn a_run_killed_before_its_switch_leaves_the_old_colour_live() {
        // Killed during the health wait: green runs (maybe unhealthy), the proxy routes to blue.
        let b1 = inst(Some(Blue), 1, "r1", true);
        let g1 = inst(Some(Green), 1, "r2", true);
        let r = Releases::new(true, vec![b1.clone(), g1], Some(vec![up(&b1)]));
        assert_eq!(r.live_color(), Some(Blue));
        assert_eq!(r.next_color(), Some(Green));
        assert_eq!(names(&r.live()), ["shop-app-blue-1"]);
    }

    #[test]
    fn without_a_route_the_newest_running_colour_is_live() {
        let b1 = inst(Some(Blue), 1, "r1", true);
        let g1 = inst(Some(Green), 1, "r2", true);
        for routed in [
            None,
            Some(vec![]),
            Some(vec![up(&inst(Some(Blue), 9, "r0", true))]),
        ] {
            let r = Releases::new(true, vec![b1.clone(), g1.clone()], routed);
            assert_eq!(r.live_color(), Some(Green));
            assert_eq!(r.serving(None), [key(Some(Green), "r2")]);
        }
    }

    #[test]
    fn a_partially_scaled_colour_counts_every_running_instance() {
        // Killed after scale added a third instance, before it joined the route.
        let b: Vec<Instance> = (1..=3).map(|n| inst(Some(Blue), n, "r1", true)).collect();
        let r = Releases::new(true, b.clone(), Some(vec![up(&b[0]), up(&b[1])]));
        assert_eq!(r.live().len(), 3);
        assert!(r.old(&r.serving(None)).is_empty());
    }

    #[test]
    fn a_rollback_brings_back_the_kept_colour_with_as_many_instances() {
        let b: Vec<Instance> = (1..=3).map(|n| inst(Some(Blue), n, "r1", false)).collect();
        let g: Vec<Instance> = (1..=2).map(|n| inst(Some(Green), n, "r2", true)).collect();
        let all: Vec<Instance> = b.iter().chain(&g).cloned().collect();
        let r = Releases::new(true, all, Some(g.iter().map(up).collect()));
        let rb = r.rollback().unwrap();
        assert_eq!((rb.live, rb.to, rb.count), (Green, Blue, 2));
        assert_eq!(names(&rb.current), ["shop-app-green-1", "shop-app-green-2"]);
        match rb.back {
            Back::Kept { release, instances } => {
                assert_eq!(release, "r1");
                assert_eq!(names(&instances), ["shop-app-blue-1", "shop-app-blue-2"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rollback_whose_containers_are_gone_recreates_from_the_recorded_image() {
        let mut g = inst(Some(Green), 1, "r2", true);
        let r = Releases::new(true, vec![g.clone()], Some(vec![up(&g)]));
        assert_eq!(r.rollback(), Err(NoRollback::NoPrevious(Blue)));
        g.previous_image = "sha256:r1".into();
        g.previous_release = "r1".into();
        g.previous_released_at = "t1".into();
        let r = Releases::new(true, vec![g.clone()], Some(vec![up(&g)]));
        let Back::Recreate { like } = r.rollback().unwrap().back else {
            panic!("expected a recreate");
        };
        assert_eq!(
            (like.color, like.release.as_str(), like.image_id.as_str()),
            (Some(Blue), "r1", "sha256:r1")
        );
    }

    #[test]
    fn after_a_rollback_the_older_colour_is_live_though_the_newer_one_exists() {
        // Rolled back from green (r2) to blue (r1): green is stopped, kept.
        let b1 = inst(Some(Blue), 1, "r1", true);
        let g1 = inst(Some(Green), 1, "r2", false);
        for routed in [Some(vec![up(&b1)]), None] {
            let r = Releases::new(true, vec![b1.clone(), g1.clone()], routed);
            assert_eq!(r.live_color(), Some(Blue));
            assert_eq!(r.next_color(), Some(Green));
            assert_eq!(names(&r.leftovers()), ["shop-app-green-1"]);
            let rb = r.rollback().unwrap();
            assert_eq!(rb.to, Green);
            assert!(matches!(rb.back, Back::Kept { ref release, .. } if release == "r2"));
        }
    }

    #[test]
    fn without_blue_green_releases_are_told_apart_by_id() {
        // Killed between deploy and stop-old: two releases run; the proxy routes to the new one.
        let a1 = inst(None, 1, "r1", true);
        let a2 = inst(None, 2, "r2", true);
        let a3 = inst(None, 3, "r0", false);
        let r = Releases::new(false, vec![a1.clone(), a2.clone(), a3], Some(vec![up(&a2)]));
        assert_eq!(r.live_color(), None);
        assert_eq!(r.next_color(), None);
        assert_eq!(names(&r.live()), ["shop-app-2"]);
        assert_eq!(names(&r.newest_release()), ["shop-app-2"]);
        assert_eq!(names(&r.replaced_by_deploy()), ["shop-app-1", "shop-app-2"]);
        assert_eq!(names(&r.leftovers()), ["shop-app-3"]);
        assert_eq!(r.serving(None), [key(None, "r2")]);
        assert_eq!(names(&r.old(&r.serving(None))), ["shop-app-1"]);
        // Routed to both (a plain deploy's moment between switch and stop): both serve.
        let r = Releases::new(
            false,
            vec![a1.clone(), a2.clone()],
            Some(vec![up(&a1), up(&a2)]),
        );
        assert!(r.old(&r.serving(None)).is_empty());
        // Nothing routed (no proxy): what the run deployed serves, else the newest release.
        let r = Releases::new(false, vec![a1, a2], None);
        assert_eq!(r.serving(Some(key(None, "r1"))), [key(None, "r1")]);
        assert_eq!(r.serving(None), [key(None, "r2")]);
    }

    #[test]
    fn a_release_kept_by_keep_old_is_warm_until_its_time_then_old() {
        let at = |t: &str| format!("2026-11-27T10:{t}Z");
        let b1 = Instance {
            released_at: at("00:00"),
            ..inst(Some(Blue), 1, "r1", true)
        };
        let g1 = Instance {
            released_at: at("05:00"),
            keep_old: Some(std::time::Duration::from_secs(600)),
            ..inst(Some(Green), 1, "r2", true)
        };
        let r = Releases::new(true, vec![b1.clone(), g1.clone()], Some(vec![up(&g1)]));
        let time = |t: &str| humantime::parse_rfc3339(&at(t)).unwrap();
        assert_eq!(names(&r.warm()), ["shop-app-blue-1"]);
        assert_eq!(r.warm_until(time("06:00")), Some(time("15:00")));
        assert_eq!(r.warm_until(time("15:01")), None);
        // A rollback within the time brings back running instances: nothing to start.
        match r.rollback().unwrap().back {
            Back::Kept { instances, .. } => assert!(instances.iter().all(Instance::running)),
            other => panic!("{other:?}"),
        }
        // Without --keep-old nothing is warm; a staged (newer) other colour never is.
        let plain = Instance {
            keep_old: None,
            ..g1.clone()
        };
        assert!(Releases::new(
            true,
            vec![b1.clone(), plain.clone()],
            Some(vec![up(&plain)])
        )
        .warm()
        .is_empty());
        let staged = Instance {
            released_at: at("09:00"),
            ..inst(Some(Blue), 1, "r3", true)
        };
        assert!(
            Releases::new(true, vec![staged, g1.clone()], Some(vec![up(&g1)]))
                .warm()
                .is_empty()
        );
    }

    #[test]
    fn a_keep_old_past_the_clocks_range_keeps_warm_and_never_panics() {
        // A label written by an older docker flow that took any number of seconds.
        let b1 = Instance {
            released_at: "2026-11-27T10:00:00Z".into(),
            ..inst(Some(Blue), 1, "r1", true)
        };
        let g1 = Instance {
            released_at: "2026-11-27T10:05:00Z".into(),
            keep_old: Some(std::time::Duration::from_secs(u64::MAX)),
            ..inst(Some(Green), 1, "r2", true)
        };
        let r = Releases::new(true, vec![b1, g1.clone()], Some(vec![up(&g1)]));
        let now = humantime::parse_rfc3339("2026-11-27T11:00:00Z").unwrap();
        assert!(r.warm_until(now).is_some_and(|until| until > now));
        assert_eq!(names(&r.warm()), ["shop-app-blue-1"]);
    }

    #[test]
    fn a_canary_is_the_newer_release_in_rotation_and_the_older_stays_live() {
        let (b1, b2, b3) = (
            inst(Some(Blue), 1, "r1", true),
            inst(Some(Blue), 2, "r1", true),
            inst(Some(Blue), 3, "r1", true),
        );
        let g1 = inst(Some(Green), 1, "r2", true);
        let all = vec![b1.clone(), b2.clone(), b3.clone(), g1.clone()];
        let routed = Some(vec![up(&b1), up(&b2), up(&b3), up(&g1)]);
        let r = Releases::new(true, all.clone(), routed);
        assert_eq!(r.live_color(), Some(Blue));
        assert_eq!(
            names(&r.live()),
            names(&[b1.clone(), b2.clone(), b3.clone()])
        );
        assert_eq!(
            r.pending(true),
            Some(Pending::Canary {
                canary: vec![g1.clone()],
                live: vec![b1.clone(), b2.clone(), b3.clone()],
            })
        );
        // Staged: the newer release out of rotation while the older serves.
        let r = Releases::new(true, all.clone(), Some(vec![up(&b1), up(&b2), up(&b3)]));
        assert_eq!(r.pending(true), Some(Pending::Staged(vec![g1.clone()])));
        assert_eq!(r.pending(false), Some(Pending::Staged(vec![g1.clone()])));
        // Promoted: nothing pends.
        let r = Releases::new(true, all.clone(), Some(vec![up(&g1)]));
        assert_eq!(r.live_color(), Some(Green));
        assert_eq!(r.pending(true), None);
    }

    #[test]
    fn a_first_release_out_of_rotation_is_staged_only_with_a_proxy() {
        let b1 = inst(Some(Blue), 1, "r1", true);
        let r = Releases::new(true, vec![b1.clone()], None);
        assert_eq!(r.pending(true), Some(Pending::Staged(vec![b1.clone()])));
        assert_eq!(r.pending(false), None, "without a proxy it is simply live");
        assert_eq!(Releases::new(true, vec![], None).pending(true), None);
        // A warm release (older, out of rotation) is not pending.
        let g1 = inst(Some(Green), 1, "r2", true);
        let r = Releases::new(true, vec![b1, g1.clone()], Some(vec![up(&g1)]));
        assert_eq!(r.pending(true), None);
    }
}
