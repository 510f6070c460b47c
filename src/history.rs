//! The release history: what was released, when, by whom, and how it ended.
//!
//! Kept in the engine, on a volume of its own per project (`docker-flow-history-<project>`,
//! labelled `io.docker-flow.history=<project>`): one file per target, one JSON event a line.
//! No file of the user's, no service: the deploy lock's container mounts the volume, and each
//! changing run appends its events there (`docker exec` of the helper) while it holds the lock,
//! so one run writes at a time. `docker flow history` reads the file with the helper in a
//! short-lived container, the volume mounted read-only. Compose never removes the volume (it is
//! not one of the project's), so the history survives `docker compose down`, even with `-v`.
//!
//! The file holds events; a release's outcome is folded from them (a release that was live
//! becomes `replaced` when another goes live, `rolled back` when a rollback replaced it).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::{args, Engine, Refusal};
use crate::error::{Error, Result};
use crate::helper;
use crate::model::Color;

/// The label on the history volume, valued with the project's name.
pub(crate) const LABEL: &str = "io.docker-flow.history";
/// What the history holds instead of a command of the user's (`--test-cmd`): it may carry a
/// secret, and anyone with access to the engine reads the history.
pub(crate) const MASKED: &str = "********";
/// Where the lock container (and the reader) mount the volume.
pub(crate) const DIR: &str = "/history";

/// The project's history volume.
pub(crate) fn volume(project: &str) -> String {
    format!("docker-flow-history-{project}")
}

/// The target's file on the volume, as the containers see it.
pub(crate) fn file(target: &str) -> String {
    format!("{DIR}/{target}.jsonl")
}

/// What happened to a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// Deployed and made live in one run.
    Deployed,
    /// Deployed, not promoted (`--no-promote`, `--flow=deploy`).
    Staged,
    /// Deployed into rotation beside the live release.
    Canary,
    /// A staged release or canary made live.
    Promoted,
    /// The run that deployed it failed; `reason` says why.
    Failed,
    /// A staged release or canary removed.
    Aborted,
    /// Made live again by a rollback; `replaces` is the release it took over from.
    RolledBackTo,
}

/// One line of the history file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Event {
    pub kind: Kind,
    pub release: String,
    #[serde(default)]
    pub color: Option<Color>,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub image_id: String,
    /// When the run started and finished (RFC 3339).
    pub started: String,
    pub finished: String,
    /// `user@host` of the run.
    pub by: String,
    /// The command line, as typed.
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a rollback: the release that was live before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The release's own time, as on its containers' labels (what a rollback to it recreates).
    #[serde(default)]
    pub released_at: String,
}

/// One release as `docker flow history` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub(crate) struct HistoryEntry {
    /// The release id (as on its containers' labels).
    pub release: String,
    /// blue or green; null without blue-green.
    pub color: Option<String>,
    /// The image as the Compose file named it, and its ID (the digest of its config).
    pub image: String,
    pub image_id: String,
    /// When the run that deployed it started and finished (RFC 3339).
    pub started: String,
    pub finished: String,
    /// `user@host` of that run.
    pub by: String,
    /// Its command line.
    pub command: String,
    /// `live`, `staged`, `canary`, `replaced`, `rolled back`, `aborted`, or `failed: <reason>`.
    pub outcome: String,
}

/// The releases the events tell of, newest first, each with its outcome now.
pub(crate) fn entries(events: &[Event]) -> Vec<HistoryEntry> {
    let mut releases: IndexMap<String, HistoryEntry> = IndexMap::new();
    let mut live: Option<String> = None;
    for e in events {
        let entry = releases
            .entry(e.release.clone())
            .or_insert_with(|| HistoryEntry {
                release: e.release.clone(),
                color: e.color.map(|c| c.to_string()),
                image: e.image.clone(),
                image_id: e.image_id.clone(),
                started: e.started.clone(),
                finished: e.finished.clone(),
                by: e.by.clone(),
                command: e.command.clone(),
                outcome: String::new(),
            });
        let goes_live = match e.kind {
            Kind::Deployed | Kind::Promoted | Kind::RolledBackTo => true,
            Kind::Staged => {
                entry.outcome = "staged".into();
                false
            }
            Kind::Canary => {
                entry.outcome = "canary".into();
                false
            }
            Kind::Failed => {
                entry.outcome = format!("failed: {}", e.reason.as_deref().unwrap_or("unknown"));
                false
            }
            Kind::Aborted => {
                entry.outcome = "aborted".into();
                false
            }
        };
        if goes_live {
            entry.outcome = "live".into();
            if let Some(before) = live.replace(e.release.clone()) {
                if before != e.release {
                    if let Some(b) = releases.get_mut(&before) {
                        b.outcome = if e.kind == Kind::RolledBackTo {
                            "rolled back".into()
                        } else {
                            "replaced".into()
                        };
                    }
                }
            }
        }
    }
    let mut list: Vec<HistoryEntry> = releases.into_values().collect();
    list.sort_by(|a, b| (&b.started, &b.release).cmp(&(&a.started, &a.release)));
    list
}

/// The events in a history file; lines that are not events (a newer docker flow's, a torn
/// write) are skipped.
pub(crate) fn parse(text: &str) -> Vec<Event> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The target's history file, read without the lock: the helper in a short-lived container, no
/// network, the volume read-only. Empty when the project has no history yet (nothing is
/// created to find that out).
pub(crate) fn read(engine: &Engine, project: &str, target: &str) -> Result<String> {
    let vol = volume(project);
    let found = engine.read(&args(&["volume", "inspect", "--format", "{{.Name}}", &vol]))?;
    if found.refusal() == Some(Refusal::NotFound) {
        return Ok(String::new());
    }
    let image = helper::ensure_image(engine, HELP)?;
    let mut a = args(&["run", "--rm", "--pull", "never", "--network", "none"]);
    a.extend(args(&["--user", "65534:65534"]));
    a.extend(args(&helper::CONFINED));
    a.extend(args(&[
        "--mount",
        &format!("type=volume,src={vol},dst={DIR},readonly"),
        &image,
        "read",
        &file(target),
    ]));
    let out = engine.read(&a)?;
    if !out.ok() {
        return Err(Error::environment(
            format!("cannot read the release history: {}", out.last_error_line()),
            format!("check the volume `{vol}` (`docker volume inspect {vol}`)"),
        ));
    }
    Ok(out.stdout)
}

/// What the user can do when the engine cannot run the helper that reads the history.
const HELP: &str =
    "the release history is read with docker flow's helper, which this engine cannot run";

/// `docker flow history` as text: one line per release, newest first.
pub(crate) fn to_text(target: &str, entries: &[HistoryEntry]) -> String {
    if entries.is_empty() {
        return format!("no release of `{target}` is recorded yet\n");
    }
    let mut out = format!(
        "{:22} {:6} {:24} {:20} {:20} {}\n",
        "RELEASE", "COLOR", "IMAGE", "STARTED", "BY", "OUTCOME"
    );
    for e in entries {
        out.push_str(&format!(
            "{:22} {:6} {:24} {:20} {:20} {}\n",
            e.release,
            e.color.as_deref().unwrap_or("-"),
            e.image,
            e.started.get(..19).unwrap_or(&e.started),
            e.by,
            e.outcome
        ));
    }
    out
}

/// `user@host` of this run, for the record (a person reads it; nothing depends on it).
pub(crate) fn by() -> String {
    let unknown = |_| "unknown".to_string();
    let user = whoami::username().unwrap_or_else(unknown);
    format!("{user}@{}", whoami::hostname().unwrap_or_else(unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, release: &str) -> Event {
        Event {
            kind,
            release: release.into(),
            color: Some(Color::Blue),
            image: format!("app:{release}"),
            image_id: format!("sha256:{release}"),
            started: format!("2026-11-27T10:00:0{release}Z"),
            finished: format!("2026-11-27T10:00:0{release}Z"),
            by: "me@here".into(),
            command: "docker flow deploy".into(),
            reason: (kind == Kind::Failed).then(|| "unhealthy".into()),
            replaces: None,
            released_at: String::new(),
        }
    }

    fn outcomes(events: &[Event]) -> Vec<(String, String)> {
        entries(events)
            .into_iter()
            .map(|e| (e.release, e.outcome))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn each_release_ends_with_its_outcome_newest_first() {
        let events = [
            ev(Kind::Deployed, "1"),
            ev(Kind::Deployed, "2"),
            ev(Kind::Failed, "3"),
            ev(Kind::Staged, "4"),
            ev(Kind::Aborted, "4"),
            ev(Kind::Canary, "5"),
        ];
        assert_eq!(
            outcomes(&events),
            pairs(&[
                ("5", "canary"),
                ("4", "aborted"),
                ("3", "failed: unhealthy"),
                ("2", "live"),
                ("1", "replaced"),
            ])
        );
    }

    #[test]
    fn a_rollback_marks_what_it_replaced_and_a_promotion_what_it_replaced() {
        let mut back = ev(Kind::RolledBackTo, "1");
        back.replaces = Some("2".into());
        let events = [ev(Kind::Deployed, "1"), ev(Kind::Deployed, "2"), back];
        assert_eq!(
            outcomes(&events),
            pairs(&[("2", "rolled back"), ("1", "live")])
        );
        let events = [
            ev(Kind::Deployed, "1"),
            ev(Kind::Staged, "2"),
            ev(Kind::Promoted, "2"),
        ];
        assert_eq!(
            outcomes(&events),
            pairs(&[("2", "live"), ("1", "replaced")])
        );
    }

    #[test]
    fn events_round_trip_and_foreign_lines_are_skipped() {
        let e = ev(Kind::Failed, "3");
        let text = format!(
            "{}\nnot json\n{{\"kind\":\"from-the-future\"}}\n",
            serde_json::to_string(&e).unwrap()
        );
        assert_eq!(parse(&text), vec![e]);
    }
}
