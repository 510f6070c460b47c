//! Releases that wait for a decision: `deploy --no-promote` (reachable through the proxy only
//! with the preview header), `deploy --canary` (sharing the live release's traffic), and
//! `promote` / `abort`, on the real engine, under load through the proxy.

use std::time::Duration;

use crate::support::load::{self, all_ok, only, Load};
use crate::support::{self, Bed};

/// The preview header a staged release is reached with, as `status` shows it.
fn preview_header(bed: &Bed) -> String {
    let status = bed.flow(&["status", "--format", "json"]);
    status.ok();
    let s = status.json();
    let header = ["blue", "green"]
        .iter()
        .find_map(|c| s["colors"][c]["preview_header"].as_str())
        .unwrap_or_else(|| panic!("status shows no preview header: {s}"));
    header.to_string()
}

/// The project's containers of one colour (any state).
fn colour(bed: &Bed, colour: &str) -> Vec<String> {
    bed.docker(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("name={}-app-{colour}", bed.project),
    ])
    .stdout
    .lines()
    .map(String::from)
    .collect()
}

fn load(bed: &Bed) -> Load {
    Load::start(bed.http_port, "/demo", 4, Duration::from_secs(120))
}

#[test]
fn a_release_deployed_without_promotion_is_previewed_then_promoted_or_aborted() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("preview", 0);
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2");

    // Staged: everyone keeps v1; requests that opt in get v2.
    let live = load(&bed);
    let r = bed.flow(&["deploy", "--no-promote"]);
    r.ok();
    // The key is the deploy's to print and status's to show again; a request reaches the
    // staged release only with it: a fixed value (`1`, `true`) or another key gets v1.
    let header = preview_header(&bed);
    assert!(r.stderr.contains(&header), "{}\n{header}", r.stderr);
    let preview =
        Load::start_with_header(bed.http_port, "/demo", &header, 2, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1500));
    only(&preview.stop(), "v2", "with the preview header");
    for fixed in [
        "X-Docker-Flow-Preview: 1",
        "X-Docker-Flow-Preview: true",
        "X-Docker-Flow-Preview: *",
    ] {
        for _ in 0..5 {
            let answer =
                load::try_request_with(("127.0.0.1", bed.http_port), "GET", "/demo", fixed)
                    .map(|(_, b)| b.split_whitespace().next().unwrap_or_default().to_string());
            assert_eq!(answer, Ok("v1".to_string()), "{fixed}");
        }
    }
    let (code, _) = load::try_request_with(
        ("127.0.0.1", bed.http_port),
        "GET",
        "/demo",
        "X-Docker-Flow-Preview: 0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    assert!(code >= 500, "another key reached something: {code}");
    let status = bed.flow(&["status", "--format", "json"]);
    status.ok();
    assert_eq!(
        status.json()["colors"]["green"]["role"],
        "staged",
        "{}",
        status.stdout
    );
    assert_eq!(status.json()["colors"]["blue"]["traffic_percent"], 100);

    // promote: everyone gets v2, with nothing dropped; the preview shows nothing after.
    bed.flow(&["promote"]).ok();
    let promoted = live.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let stats = live.stop();
    load::no_drop(&stats, promoted, "v2");
    assert!(
        stats.samples.iter().take(20).all(|s| s.version() == "v1"),
        "v1 did not serve until the promotion: {}",
        stats.summary()
    );
    assert_eq!(bed.version_at("/demo"), "v2");
    bed.flow(&["promote"]).fails(1, "nothing to promote");

    // abort: the staged v3 goes; v2 never stops serving.
    bed.env("V", "v3");
    let live = load(&bed);
    bed.flow(&["deploy", "--no-promote"]).ok();
    // Each staged release has a key of its own: the previous one reaches nothing.
    let previous = header;
    let header = preview_header(&bed);
    assert_ne!(header, previous);
    assert_eq!(
        load::try_request_with(("127.0.0.1", bed.http_port), "GET", "/demo", &header)
            .map(|(_, b)| b.split_whitespace().next().unwrap_or_default().to_string()),
        Ok("v3".to_string())
    );
    bed.flow(&["abort"]).ok();
    std::thread::sleep(Duration::from_millis(500));
    only(&live.stop(), "v2", "during deploy --no-promote and abort");
    assert!(
        colour(&bed, "blue").is_empty(),
        "{:?}",
        colour(&bed, "blue")
    );
    let (status, _) =
        load::try_request_with(("127.0.0.1", bed.http_port), "GET", "/demo", &header).unwrap();
    assert!(
        status >= 500,
        "a preview with nothing staged answered {status}"
    );
    bed.flow(&["abort"]).fails(1, "nothing to abort");
}

#[test]
fn a_canary_shares_traffic_by_instance_count_then_is_promoted_or_aborted() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("canary", 0);
    bed.flow(&["deploy", "--scale", "3"]).ok();
    bed.env("V", "v2");

    // One v2 instance beside three v1: a quarter of the requests.
    let live = load(&bed);
    let r = bed.flow(&["deploy", "--canary", "1"]);
    r.ok();
    let from = live.started.elapsed();
    let mut stats = live.stop();
    while stats.samples.iter().filter(|s| s.at > from).count() < 1000 {
        // Measured apart from the deploy, long enough for 1,000 requests.
        let more = load(&bed);
        std::thread::sleep(Duration::from_secs(3));
        let s = more.stop();
        all_ok(&s, "canary");
        stats.samples.extend(s.samples.into_iter().map(|mut x| {
            x.at += from + Duration::from_secs(1);
            x
        }));
    }
    all_ok(&stats, "deploy --canary");
    let after: Vec<_> = stats.samples.iter().filter(|s| s.at > from).collect();
    let v2 = after.iter().filter(|s| s.version() == "v2").count();
    let share = v2 as f64 * 100.0 / after.len() as f64;
    assert!(
        (20.0..=30.0).contains(&share),
        "v2 answered {share:.1}% of {} requests, not 25% ± 5",
        after.len()
    );
    let status = bed.flow(&["status", "--format", "json"]);
    let json = status.json();
    assert_eq!(
        json["colors"]["green"]["role"], "canary",
        "{}",
        status.stdout
    );
    assert_eq!(json["colors"]["green"]["traffic_percent"], 25);
    assert_eq!(json["colors"]["blue"]["role"], "live");
    assert_eq!(json["colors"]["blue"]["traffic_percent"], 75);
    assert!(
        bed.flow(&["status"])
            .stdout
            .contains("green (canary, 25% of requests)"),
        "the text status does not show the split"
    );
    // Nothing else changes the target while the canary waits.
    bed.flow(&["deploy"])
        .fails(1, "a canary of `app` is in rotation");
    bed.flow(&["scale", "+1"]).fails(1, "docker flow promote");

    // promote: the canary grows to three, then takes all the traffic; nothing dropped.
    let live = load(&bed);
    bed.flow(&["promote"]).ok();
    let promoted = live.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    load::no_drop(&live.stop(), promoted, "v2");
    let running = |c: &str| {
        bed.docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("name={}-app-{c}", bed.project),
        ])
        .stdout
        .lines()
        .count()
    };
    assert_eq!((running("green"), running("blue")), (3, 0));

    // abort: a v3 canary leaves the rotation and goes; v2 serves throughout.
    bed.env("V", "v3");
    let live = load(&bed);
    bed.flow(&["deploy", "--canary", "25%"]).ok();
    std::thread::sleep(Duration::from_millis(1000));
    bed.flow(&["abort"]).ok();
    let aborted = live.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let stats = live.stop();
    load::no_drop(&stats, aborted, "v2");
    assert!(
        stats.samples.iter().any(|s| s.version() == "v3"),
        "the canary never served: {}",
        stats.summary()
    );
    assert!(
        colour(&bed, "blue").is_empty(),
        "{:?}",
        colour(&bed, "blue")
    );
}
