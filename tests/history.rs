//! The release history: `docker flow history` after deploys, a failed deploy, a rollback, an
//! abort and `rollback --to`, kept in the engine across `docker compose down`.

use std::time::Duration;

use serde_json::Value;

use crate::support::load::{self, Load};
use crate::support::{self, Bed};

fn history(bed: &Bed) -> Vec<Value> {
    let r = bed.flow(&["history", "--format", "json"]);
    r.ok();
    crate::output::conforms("history.schema.json", &r.stdout);
    r.json().as_array().unwrap().clone()
}

/// (image, outcome) of each listed release, newest first.
fn outcomes(list: &[Value]) -> Vec<(String, String)> {
    list.iter()
        .map(|e| {
            let outcome = e["outcome"].as_str().unwrap();
            // A failure's reason is the run's error: its start is enough here.
            let outcome = match outcome.split_once(':') {
                Some((head, _)) => head,
                None => outcome,
            };
            (
                e["image"].as_str().unwrap().to_string(),
                outcome.to_string(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn history_lists_each_release_with_its_outcome_and_survives_compose_down() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("history", 0);
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2");
    // A test command may carry a secret: the history keeps none of it.
    bed.flow(&["deploy", "--test-cmd", "true --token=s3cr3t"])
        .ok();
    bed.env("V", "v3").env("HEALTH", "fail");
    bed.flow(&["deploy"]).fails(1, "unhealthy");
    bed.env("HEALTH", "ok");
    bed.flow(&["rollback"]).ok();
    bed.flow(&["deploy", "--no-promote"]).ok();
    bed.flow(&["abort"]).ok();
    let list = history(&bed);
    let text = bed.flow(&["history", "--format", "json"]).stdout.clone();
    assert!(text.contains("--test-cmd"), "{text}");
    assert!(
        !text.contains("s3cr3t"),
        "the history keeps a test command's secret: {text}"
    );
    assert_eq!(
        outcomes(&list),
        pairs(&[
            ("demo-service:v3", "aborted"),
            ("demo-service:v3", "failed"),
            ("demo-service:v2", "rolled back"),
            ("demo-service:v1", "live"),
        ]),
        "{list:#?}"
    );
    assert!(
        list[1]["outcome"].as_str().unwrap().contains("unhealthy"),
        "{}",
        list[1]
    );
    for e in &list {
        assert!(e["by"].as_str().unwrap().contains('@'), "{e}");
        assert!(
            e["command"].as_str().unwrap().starts_with("docker-flow "),
            "{e}"
        );
        assert!(e["started"].as_str().unwrap() <= e["finished"].as_str().unwrap());
    }
    assert!(list[3]["image_id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(list[2]["color"], "green");
    let text = bed.flow(&["history"]);
    assert!(text.stdout.contains("rolled back"), "{}", text.stdout);

    // Back to v2, whose containers are gone (the aborted release replaced them), from its image,
    // under load.
    let v2 = list[2]["release"].as_str().unwrap().to_string();
    let live = Load::start(bed.http_port, "/demo", 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(300));
    bed.flow(&["rollback", "--to", &v2]).ok();
    let back = live.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    load::no_drop(&live.stop(), back, "v2");
    let list = history(&bed);
    assert_eq!(
        outcomes(&list)[2..],
        pairs(&[
            ("demo-service:v2", "live"),
            ("demo-service:v1", "rolled back")
        ])
    );
    bed.flow(&["rollback", "--to", "12345-1"])
        .fails(1, "no release 12345-1");

    // Kept in the engine, not in the project: Compose's down leaves it.
    bed.docker(&["compose", "down", "--remove-orphans", "-v"])
        .ok();
    assert_eq!(history(&bed), list);
}
