//! What a run tells the release history (`history.rs`): one event for each release it
//! deployed, promoted, aborted or brought back, made from the steps' outcomes when the run ends.

use super::outcome::{History, Outcome};
use super::Ctx;
use crate::error::Error;
use crate::history::{self, Event, Kind};
use crate::instance::Instance;

/// The run's events. `error`: how the run ended, if it failed; `deploys`: it had a deploy step
/// (a deploy that failed before its release was healthy is recorded as failed under the id it
/// was to have); `started`: when the run started (RFC 3339).
pub(super) fn events(
    ctx: &Ctx,
    done: &History,
    error: Option<&Error>,
    deploys: bool,
    started: &str,
) -> Vec<Event> {
    let finished = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let (by, command) = (history::by(), command_line());
    let event = |kind: Kind, instances: &[Instance]| {
        let first = instances.first();
        Event {
            kind,
            release: first.map_or(ctx.release.id.clone(), |i| i.release.clone()),
            color: first.and_then(|i| i.color),
            image: first.map_or(ctx.image.clone(), |i| i.image.clone()),
            image_id: first.map(|i| i.image_id.clone()).unwrap_or_default(),
            started: started.to_string(),
            finished: finished.clone(),
            by: by.clone(),
            command: command.clone(),
            reason: None,
            replaces: None,
            released_at: first.map_or(ctx.release.at.clone(), |i| i.released_at.clone()),
        }
    };
    let failed = |mut e: Event| {
        e.kind = Kind::Failed;
        e.reason = error.map(|e| e.to_string());
        e
    };
    let outcomes = &done.outcomes;
    // What a later step of the run did with a release: routed it (live), or made it a canary.
    let later = |n: usize| {
        outcomes[n + 1..].iter().find_map(|o| match o {
            Outcome::Routed(_) => Some(Kind::Deployed),
            Outcome::Canary { .. } => Some(Kind::Canary),
            _ => None,
        })
    };
    let mut events = Vec::new();
    for (n, o) in outcomes.iter().enumerate() {
        match o {
            Outcome::Deployed(d) => events.push(match (later(n), error) {
                (Some(kind), _) => event(kind, &d.new),
                (None, Some(_)) => failed(event(Kind::Failed, &d.new)),
                (None, None) => event(Kind::Staged, &d.new),
            }),
            Outcome::Promoting { instances, .. } if later(n) == Some(Kind::Deployed) => {
                events.push(event(Kind::Promoted, instances))
            }
            Outcome::Aborted { instances, .. } => events.push(event(Kind::Aborted, instances)),
            Outcome::RolledBack {
                instances,
                from_release,
                ..
            } => events.push(Event {
                replaces: Some(from_release.clone()),
                ..event(Kind::RolledBackTo, instances)
            }),
            _ => {}
        }
    }
    let deployed = outcomes.iter().any(|o| matches!(o, Outcome::Deployed(_)));
    if deploys && error.is_some() && !deployed {
        events.push(failed(event(Kind::Failed, &[])));
    }
    events
}

/// The command line as the user typed it: `docker [global flags] flow …` through the docker
/// CLI, `docker-flow …` standalone.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let words = match crate::argv::split(&args) {
        Ok(s) if s.as_plugin => {
            let mut words = vec!["docker".to_string()];
            words.extend(s.docker_globals);
            words.push(crate::argv::PLUGIN_NAME.to_string());
            words.extend(s.ours.into_iter().skip(1));
            words
        }
        _ => std::iter::once("docker-flow".to_string())
            .chain(args)
            .collect(),
    };
    shell_words::join(without_commands(words))
}

/// The options whose value is a command of the user's: it may carry a secret (a token in a
/// `curl` header), and the history is read by anyone with access to the engine.
const COMMAND_OPTIONS: &[&str] = &["--test-cmd"];

/// `words` with the value of every option in `COMMAND_OPTIONS` masked.
fn without_commands(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut mask_next = false;
    for w in words {
        if std::mem::take(&mut mask_next) {
            out.push(crate::history::MASKED.to_string());
            continue;
        }
        if w == "--" {
            out.push(w);
            continue;
        }
        match COMMAND_OPTIONS
            .iter()
            .find(|o| w == **o || w.starts_with(&format!("{o}=")))
        {
            Some(o) if w == *o => {
                mask_next = true;
                out.push(w);
            }
            Some(o) => out.push(format!("{o}={}", crate::history::MASKED)),
            None => out.push(w),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_command_is_kept_out_of_the_history() {
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            without_commands(w(&[
                "docker-flow",
                "deploy",
                "--test-cmd",
                "curl -H 'Bearer s3cr3t'",
                "-t",
                "app"
            ])),
            w(&[
                "docker-flow",
                "deploy",
                "--test-cmd",
                "********",
                "-t",
                "app"
            ])
        );
        assert_eq!(
            without_commands(w(&[
                "docker-flow",
                "--test-cmd=true --token=s3cr3t",
                "deploy"
            ])),
            w(&["docker-flow", "--test-cmd=********", "deploy"])
        );
    }
}
