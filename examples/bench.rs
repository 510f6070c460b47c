//! `make bench`: the zero-downtime claim, measured. Under the same load (4 clients, a fresh
//! connection per request) through the same Caddy, a demo service that needs 2 s to start is
//! redeployed v1 -> v2 by `docker flow deploy` and by a plain `docker compose up -d`. Figures go
//! to docs/BENCHMARKS.md. Needs `make testbed install` (the Makefile's bench target does both).

#[path = "../tests/support/load.rs"]
mod load;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use load::{Load, Stats};

const CADDY_IMAGE: &str = "docker-flow-caddy:2.11.7";
const CLIENTS: usize = 4;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new(program);
    c.args(args).current_dir(dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[track_caller]
fn must(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) {
    let (ok, out) = run(dir, program, args, env);
    assert!(ok, "{program} {args:?} failed:\n{out}");
}

fn compose_file(project: &str) -> String {
    format!(
        "name: {project}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      STARTUP_DELAY_MS: \"2000\"\n    expose: [\"8080\"]\n"
    )
}

struct Row {
    name: &'static str,
    stats: Stats,
    started: Duration,
    wall: Duration,
}

/// Runs `action` under load on `path` and returns the figures.
fn measure(name: &'static str, port: u16, path: &str, action: impl FnOnce()) -> Row {
    let load = Load::start(port, path, CLIENTS, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(2));
    let started = load.started.elapsed();
    let t = Instant::now();
    action();
    let wall = t.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    Row {
        name,
        stats: load.stop(),
        started,
        wall,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn since(start: Duration, at: Option<Duration>) -> String {
    match at {
        Some(t) if t >= start => format!("{:.2} s", (t - start).as_secs_f64()),
        Some(_) => "before start".into(),
        None => "never".into(),
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::Builder::new()
        .prefix("docker-flow-bench-")
        .tempdir()
        .unwrap();
    let tag = std::process::id();
    let (flow_project, plain_project, proxy) = (
        format!("benchflow{tag}"),
        format!("benchplain{tag}"),
        format!("benchproxy{tag}"),
    );
    let (http, admin) = (free_port(), free_port());
    let flow_dir = work.path().join("flow");
    let plain_dir = work.path().join("plain");
    std::fs::create_dir_all(&flow_dir).unwrap();
    std::fs::create_dir_all(&plain_dir).unwrap();
    std::fs::write(flow_dir.join("compose.yaml"), compose_file(&flow_project)).unwrap();
    std::fs::write(plain_dir.join("compose.yaml"), compose_file(&plain_project)).unwrap();
    std::fs::write(
        flow_dir.join("docker-flow.yml"),
        format!(
            "target: app\nblue_green: true\nservice_path: [/demo]\npull: missing\nproxy_image: {CADDY_IMAGE}\nproxy_name: {proxy}\nproxy_http_port: {http}\nproxy_reconf_port: {admin}\n"
        ),
    )
    .unwrap();

    // docker flow: v1 live, then v2 under load.
    must(&flow_dir, "docker", &["flow", "deploy"], &[("V", "v1")]);
    let flow = measure("docker flow deploy (blue-green)", http, "/demo", || {
        must(&flow_dir, "docker", &["flow", "deploy"], &[("V", "v2")]);
    });
    let rollback = measure("docker flow rollback", http, "/demo", || {
        must(&flow_dir, "docker", &["flow", "rollback"], &[]);
    });

    // The baseline: a plain Compose service behind the same Caddy, redeployed with `up -d`.
    must(
        &plain_dir,
        "docker",
        &["compose", "up", "-d"],
        &[("V", "v1")],
    );
    must(
        &plain_dir,
        "docker",
        &[
            "network",
            "connect",
            &format!("{plain_project}_default"),
            &proxy,
        ],
        &[],
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let route = serde_json::json!({
        "@id": "bench-plain",
        "match": [{"path": ["/plain", "/plain/*"]}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": format!("{plain_project}-app-1:8080")}]}],
        "terminal": true
    });
    let r = agent
        .post(&format!(
            "http://127.0.0.1:{admin}/config/apps/http/servers/docker-flow/routes"
        ))
        .header("Content-Type", "application/json")
        .header("Origin", format!("http://127.0.0.1:{admin}"))
        .send(route.to_string())
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "cannot add the baseline route");
    for _ in 0..100 {
        if load::get(("127.0.0.1", http), "/plain").is_some_and(|(c, _)| c == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let plain = measure("docker compose up -d", http, "/plain", || {
        must(
            &plain_dir,
            "docker",
            &["compose", "up", "-d"],
            &[("V", "v2")],
        );
    });

    // Clean up what the bench made.
    let _ = run(&plain_dir, "docker", &["compose", "down", "-v"], &[]);
    let _ = run(
        &flow_dir,
        "docker",
        &["compose", "-p", &flow_project, "down", "-v"],
        &[],
    );
    let ids = run(
        &flow_dir,
        "docker",
        &[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={flow_project}"),
        ],
        &[],
    )
    .1;
    for id in ids.split_whitespace() {
        let _ = run(&flow_dir, "docker", &["rm", "-f", id], &[]);
    }
    let rotation = format!("{proxy}-dns");
    let _ = run(&flow_dir, "docker", &["rm", "-f", &proxy, &rotation], &[]);
    let _ = run(
        &flow_dir,
        "docker",
        &["volume", "rm", &format!("{proxy}-data"), &rotation],
        &[],
    );
    let _ = run(
        &flow_dir,
        "docker",
        &[
            "network",
            "rm",
            &format!("{flow_project}_default"),
            &format!("{plain_project}_default"),
            &format!("dflow-{flow_project}-app"),
        ],
        &[],
    );

    let engine = run(
        root,
        "docker",
        &["version", "--format", "{{.Server.Version}}"],
        &[],
    )
    .1;
    let compose = run(root, "docker", &["compose", "version", "--short"], &[]).1;
    let rows = [&flow, &rollback, &plain];
    let mut md = String::new();
    md.push_str("# Benchmarks\n\nWritten by `make bench` (examples/bench.rs) from one real run; do not edit by hand.\n\n");
    md.push_str(&format!(
        "Setup: Docker Engine {}, Compose {}, Caddy 2.11.7 started by docker flow; demo service that needs 2 s to start; \
         {CLIENTS} clients, a fresh connection per request, from 2 s before the command to 3 s after it. \
         \"Unanswered\" counts connections closed or reset with no HTTP answer; \"HTTP errors\" counts 5xx answers. \
         Times are from the command's start.\n\n",
        engine.trim(),
        compose.trim()
    ));
    md.push_str("| redeploy by | requests | failed | HTTP errors | unanswered | p50 | p99 | max | first new-version response | last old-version response | command wall time |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        let s = &row.stats;
        let new = if row.name.contains("rollback") {
            "v1"
        } else {
            "v2"
        };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} s |\n",
            row.name,
            s.total(),
            s.failed().len(),
            s.http_errors().len(),
            s.unanswered().len(),
            ms(s.percentile(0.5)),
            ms(s.percentile(0.99)),
            ms(s.max_latency()),
            since(row.started, s.first_of(new)),
            since(row.started, s.last_not(new)),
            row.wall.as_secs_f64()
        ));
    }
    md.push_str(
        "\ndocker flow switches by rewriting the route's DNS record (served beside Caddy) to the new, \
         healthy release, and stops the old one only once Caddy reports no request in flight to it; it \
         never changes Caddy's config to switch (Caddy drops requests on config changes), so its rows \
         should show no failed request at all.\n",
    );
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/BENCHMARKS.md"), &md).unwrap();
    print!("{md}");
}
