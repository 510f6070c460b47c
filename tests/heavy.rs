//! The heavy tests: each loads the 2-core machine on its own (a route of 80 instances), so
//! `make test` runs them after the others, one at a time (`heavy::`), and skips them in the
//! run that goes two at a time; a plain `cargo test` runs them too.

use crate::support;

use std::time::Duration;

use support::Bed;

/// The size of the large route below: more addresses than one DNS answer to Caddy's resolver
/// carries (73 in its 1,232 bytes), and what this 2-core test machine starts in about a minute
/// (docs/GUARANTEES.md states it as the tested limit).
const LARGE_ROUTE: usize = 80;

#[test]
fn every_instance_of_a_large_route_serves() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("large", 0);
    // docker flow's probe checks them all in one container per round; the image's own
    // healthcheck, one process per instance every second, is more than 2 cores start with.
    let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
    bed.write(
        "compose.yaml",
        &compose.replace(
            "    expose: [\"8080\"]\n",
            "    expose: [\"8080\"]\n    healthcheck:\n      disable: true\n",
        ),
    );
    let n = LARGE_ROUTE.to_string();
    let started = std::time::Instant::now();
    bed.flow(&["deploy", "--scale", &n, "--health-timeout", "240s"])
        .ok();
    eprintln!(
        "{LARGE_ROUTE} instances deployed in {:?}",
        started.elapsed()
    );
    // More addresses than one DNS answer carries: each lookup gets its window of them, and
    // every instance answers within a bounded number of requests.
    let mut hosts = std::collections::HashSet::new();
    let mut sent = 0;
    while hosts.len() < LARGE_ROUTE && sent < 20 * LARGE_ROUTE {
        sent += 1;
        if let Some((200, body)) = bed.get("/demo") {
            hosts.insert(
                body.split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        // Paced: a fresh connection per request, well below what exhausts the ports.
        std::thread::sleep(Duration::from_millis(3));
    }
    assert_eq!(
        hosts.len(),
        LARGE_ROUTE,
        "only {} of {LARGE_ROUTE} instances answered in {sent} requests",
        hosts.len()
    );
    eprintln!("all {LARGE_ROUTE} answered within {sent} requests");
}
