//! `make bench`: the zero-downtime claim, measured. Under the same load (4 clients, a fresh
//! connection per request) through the same Caddy, a demo service that needs 2 s to start is
//! redeployed v1 -> v2 by `docker flow deploy` and by a plain `docker compose up -d`, and by
//! `docker flow deploy` to the test bed's remote engine (a docker context, tcp://). Also docker
//! flow's own overhead per deploy: the command's wall time less the time the new release took to
//! become healthy, the docker commands it ran, and what one call into the proxy costs. Figures go
//! to docs/BENCHMARKS.md. On the test bed's two-node swarm, `docker flow deploy` against Swarm's
//! own rolling update and `docker stack deploy` (`bench/swarm.rs`). Needs `make testbed-swarm
//! install` (the Makefile's bench target does both).

#[path = "../tests/support/load.rs"]
mod load;
#[path = "bench/swarm.rs"]
mod swarm;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use load::{Load, Stats};

pub(crate) const CADDY_IMAGE: &str = "docker-flow-caddy:2.11.7";
/// The test bed's remote engine (scripts/testbed.sh): its docker context and address.
const REMOTE_CONTEXT: &str = "dflow-remote";
const REMOTE_IP: &str = "10.231.0.2";
pub(crate) const CLIENTS: usize = 4;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn run(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String) {
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
pub(crate) fn must(dir: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let (ok, out) = run(dir, program, args, env);
    assert!(ok, "{program} {args:?} failed:\n{out}");
    out
}

/// What a `docker flow … --format json` run reports about itself: (time waiting for the new
/// release's health in s, docker commands run).
fn report(out: &str) -> (f64, u64) {
    let summary: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON summary");
    (
        summary["durations"]["health"].as_f64().unwrap_or(0.0),
        summary["engine_calls"].as_u64().unwrap_or(0),
    )
}

/// The median time of one call into the proxy (`docker exec` of docker flow's helper, reading a
/// record) through `docker GLOBALS`.
fn proxy_call(globals: &[&str], proxy: &str) -> Duration {
    let mut a: Vec<String> = globals.iter().map(|s| s.to_string()).collect();
    a.extend([
        "inspect".into(),
        "--format".into(),
        "{{.Path}}".into(),
        proxy.into(),
    ]);
    let helper = Command::new("docker").args(&a).output().unwrap();
    let helper = String::from_utf8_lossy(&helper.stdout).trim().to_string();
    let mut times: Vec<Duration> = (0..15)
        .map(|_| {
            let mut a: Vec<String> = globals.iter().map(|s| s.to_string()).collect();
            a.extend(["exec", proxy, &helper, "get", "/routes", "x.dflow"].map(String::from));
            let t = Instant::now();
            assert!(Command::new("docker")
                .args(&a)
                .output()
                .unwrap()
                .status
                .success());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// A docker flow deploy's own cost.
struct Overhead {
    name: &'static str,
    wall: Duration,
    health: f64,
    calls: u64,
    call: Duration,
}

impl Overhead {
    /// From a measured deploy, what it reported (`--format json`), and one proxy call's cost
    /// through `docker GLOBALS`.
    fn of(name: &'static str, row: &Row, out: &str, globals: &[&str], proxy: &str) -> Overhead {
        let (health, calls) = report(out);
        Overhead {
            name,
            wall: row.wall,
            health,
            calls,
            call: proxy_call(globals, proxy),
        }
    }
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

/// Runs `action` under load on `host:port` + `path` and returns the figures.
fn measure(name: &'static str, host: &str, port: u16, path: &str, action: impl FnOnce()) -> Row {
    let load = Load::start_on(host, port, "GET", path, CLIENTS, Duration::from_secs(120));
    measure_load(name, load, action)
}

/// `measure`, under `load` (started just now).
fn measure_load(name: &'static str, load: Load, action: impl FnOnce()) -> Row {
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
    let http = free_port();
    let https = free_port();
    let flow_dir = work.path().join("flow");
    let plain_dir = work.path().join("plain");
    std::fs::create_dir_all(&flow_dir).unwrap();
    std::fs::create_dir_all(&plain_dir).unwrap();
    std::fs::write(flow_dir.join("compose.yaml"), compose_file(&flow_project)).unwrap();
    std::fs::write(plain_dir.join("compose.yaml"), compose_file(&plain_project)).unwrap();
    std::fs::write(
        flow_dir.join("docker-flow.yml"),
        format!(
            "target: app\nblue_green: true\nservice_path: [/demo]\npull: missing\nproxy_image: {CADDY_IMAGE}\nproxy_name: {proxy}\nproxy_http_port: {http}\nproxy_https_port: {https}\n"
        ),
    )
    .unwrap();

    // docker flow: v1 live, then v2 under load.
    must(&flow_dir, "docker", &["flow", "deploy"], &[("V", "v1")]);
    let mut out = String::new();
    let flow = measure(
        "docker flow deploy (blue-green)",
        "127.0.0.1",
        http,
        "/demo",
        || {
            out = must(
                &flow_dir,
                "docker",
                &["flow", "deploy", "--format", "json"],
                &[("V", "v2")],
            );
        },
    );
    let local = Overhead::of("local engine", &flow, &out, &[], &proxy);
    let rollback = measure("docker flow rollback", "127.0.0.1", http, "/demo", || {
        must(&flow_dir, "docker", &["flow", "rollback"], &[]);
    });
    // The same rollback with the old release kept warm by --keep-old: only a switch.
    must(
        &flow_dir,
        "docker",
        &["flow", "deploy", "--keep-old", "5m"],
        &[("V", "v2")],
    );
    let warm = measure(
        "docker flow rollback (within --keep-old)",
        "127.0.0.1",
        http,
        "/demo",
        || {
            must(&flow_dir, "docker", &["flow", "rollback"], &[]);
        },
    );

    // HTTPS: the same route on a domain, with a certificate from Caddy's local CA; the load opens
    // a fresh TLS connection per request.
    let domain = ["--service-domain", "bench.test", "--tls", "internal"];
    let mut args = vec!["flow", "deploy"];
    args.extend(domain);
    must(&flow_dir, "docker", &args, &[("V", "v1")]);
    let root_file = work.path().join("root.pem");
    must(
        root,
        "docker",
        &[
            "cp",
            &format!("{proxy}:/data/caddy/pki/authorities/local/root.crt"),
            root_file.to_str().unwrap(),
        ],
        &[],
    );
    let https_to = load::Https::new(https, "bench.test", &std::fs::read(&root_file).unwrap());
    let started = Instant::now();
    while !https_to.get("/demo").is_ok_and(|(c, _)| c == 200) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "HTTPS never answered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    args.extend(["--format", "json"]);
    let tls = measure_load(
        "docker flow deploy over HTTPS (--tls internal)",
        Load::start_https(&https_to, "/demo", CLIENTS, Duration::from_secs(120)),
        || {
            must(&flow_dir, "docker", &args, &[("V", "v2")]);
        },
    );

    // The remote engine (the test bed's second dockerd, through its docker context), with its
    // own proxy; the load goes to its published port.
    let remote_dir = work.path().join("remote");
    std::fs::create_dir_all(&remote_dir).unwrap();
    let remote_project = format!("benchremote{tag}");
    std::fs::write(
        remote_dir.join("compose.yaml"),
        compose_file(&remote_project),
    )
    .unwrap();
    std::fs::write(
        remote_dir.join("docker-flow.yml"),
        format!(
            "target: app\nblue_green: true\nservice_path: [/demo]\npull: missing\nproxy_image: {CADDY_IMAGE}\nproxy_name: {proxy}\nproxy_http_port: {http}\nproxy_https_port: {https}\n"
        ),
    )
    .unwrap();
    let ctx = ["--context", REMOTE_CONTEXT];
    let remote_flow = |args: &[&str], v: &str| {
        let mut a = ctx.to_vec();
        a.push("flow");
        a.extend_from_slice(args);
        must(&remote_dir, "docker", &a, &[("V", v)])
    };
    remote_flow(&["deploy"], "v1");
    let remote = measure(
        "docker flow deploy to a remote engine (context, tcp://)",
        REMOTE_IP,
        http,
        "/demo",
        || {
            out = remote_flow(&["deploy", "--format", "json"], "v2");
        },
    );
    let remote_overhead = Overhead::of("remote engine (tcp://)", &remote, &out, &ctx, &proxy);
    cleanup(&remote_dir, &ctx, &remote_project, &proxy);

    // Swarm mode, on the two-node swarm.
    let swarm_rows = swarm::rows(work.path(), tag, &proxy, http, https);

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
    // The baseline's route, added through the engine like everything docker flow does to Caddy.
    let route = serde_json::json!({
        "@id": "bench-plain",
        "match": [{"path": ["/plain", "/plain/*"]}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": format!("{plain_project}-app-1:8080")}]}],
        "terminal": true
    });
    add_route(&[], &proxy, &route, ("127.0.0.1", http));
    let plain = measure("docker compose up -d", "127.0.0.1", http, "/plain", || {
        must(
            &plain_dir,
            "docker",
            &["compose", "up", "-d"],
            &[("V", "v2")],
        );
    });

    // Clean up what the bench made.
    let _ = run(&plain_dir, "docker", &["compose", "down", "-v"], &[]);
    cleanup(&flow_dir, &[], &flow_project, &proxy);
    let _ = run(
        &plain_dir,
        "docker",
        &["network", "rm", &format!("{plain_project}_default")],
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
    let rows = [&flow, &rollback, &warm, &tls, &plain, &remote];
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
        "\ndocker flow switches by rewriting the route's DNS record (served inside the proxy container) to the new, \
         healthy release, and stops the old one only once Caddy reports no request in flight to it; it \
         never changes Caddy's config to switch (Caddy drops requests on config changes), so its rows \
         should show no failed request at all.\n",
    );
    md.push_str(
        "\n## docker flow's own overhead per deploy\n\n\
         The deploy rows above, taken apart: the command's wall time, the part spent waiting for the \
         new release to become healthy (the application's 2 s start, checked from inside its network), \
         and the rest, docker flow's own work (Compose, the lock, the proxy, the drain, stopping the \
         old release). Every proxy operation is a docker command through the engine that runs the \
         proxy; \"one proxy call\" is the median of 15 `docker exec`s of docker flow's helper in the \
         proxy container.\n\n\
         | engine | wall time | waiting for health | docker flow's own | docker commands | one proxy call |\n\
         |---|---|---|---|---|---|\n",
    );
    for o in [&local, &remote_overhead] {
        md.push_str(&format!(
            "| {} | {:.2} s | {:.2} s | {:.2} s | {} | {} |\n",
            o.name,
            o.wall.as_secs_f64(),
            o.health,
            o.wall.as_secs_f64() - o.health,
            o.calls,
            ms(o.call)
        ));
    }
    md.push_str(
        "\n## Swarm mode (two nodes)\n\n\
         The test bed's two-node swarm (dockerds in network namespaces joined by a bridge). The \
         demo service (2 s to start, a Docker healthcheck) runs 2 tasks spread over both nodes; \
         the load goes to docker flow's proxy on the manager. docker flow deploys the other colour \
         as a service beside the live one and switches the proxy's record to its tasks once Swarm \
         reports them running (healthy). The baselines are one service updated in place, behind \
         the same Caddy, which finds its tasks by Docker's DNS (`tasks.<service>`, looked up every \
         second) with the same dial retries docker flow's routes have (this kernel has no IPVS, so \
         no routing mesh or VIP). \"Mixed versions\" is how long both versions answered (first new \
         to last old answer). The `docker stack deploy` command returns before its rolling update \
         ends; its load runs until the update is over. The rollback row follows a deploy of v3 \
         with `--keep-old 5m`: v2's colour, kept warm, is swapped back in first thing.\n\n\
         | redeploy by | requests | failed | HTTP errors | unanswered | p99 | max | mixed versions | first new-version response | command wall time |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &swarm_rows {
        let s = &row.stats;
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.2} s | {} | {:.2} s |\n",
            row.name,
            s.total(),
            s.failed().len(),
            s.http_errors().len(),
            s.unanswered().len(),
            ms(s.percentile(0.99)),
            ms(s.max_latency()),
            row.mixed().as_secs_f64(),
            row.first_new()
                .map_or("-".to_string(), |d| format!("{:.2} s", d.as_secs_f64())),
            row.wall.as_secs_f64()
        ));
    }
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("docs/BENCHMARKS.md"), &md).unwrap();
    print!("{md}");
}

/// Adds a baseline's route to docker flow's proxy, through the engine like everything docker flow
/// does to Caddy (its helper's `admin`, run in the proxy container), and waits until `at` answers
/// on it.
pub(crate) fn add_route(globals: &[&str], proxy: &str, route: &serde_json::Value, at: (&str, u16)) {
    let mut inspect = globals.to_vec();
    inspect.extend(["inspect", "--format", "{{.Path}}", proxy]);
    let helper = must(Path::new("."), "docker", &inspect, &[]);
    let mut added = Command::new("docker")
        .args(globals)
        .args([
            "exec",
            "-i",
            proxy,
            helper.trim(),
            "admin",
            "127.0.0.1:2019",
            "POST",
        ])
        .arg("/config/apps/http/servers/docker-flow/routes")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut added.stdin.take().unwrap(),
        route.to_string().as_bytes(),
    )
    .unwrap();
    let added = added.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&added.stdout).starts_with("200 "),
        "cannot add the baseline route: {added:?}"
    );
    let path = route["match"][0]["path"][0].as_str().unwrap_or("/");
    for _ in 0..100 {
        if load::get(at, path).is_some_and(|(c, _)| c == 200) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Removes what a docker flow project and its proxy made on the engine `docker GLOBALS` reaches.
fn cleanup(dir: &Path, globals: &[&str], project: &str, proxy: &str) {
    let docker = |args: &[&str]| {
        let mut a = globals.to_vec();
        a.extend_from_slice(args);
        run(dir, "docker", &a, &[])
    };
    let label = format!("label=com.docker.compose.project={project}");
    let ids = docker(&["ps", "-aq", "--filter", &label]).1;
    let mut rm = vec!["rm", "-f", proxy];
    rm.extend(ids.split_whitespace());
    let _ = docker(&rm);
    let records = format!("{proxy}-dns");
    let data = format!("{proxy}-data");
    let history = format!("docker-flow-history-{project}");
    let _ = docker(&["volume", "rm", &data, &records, &history]);
    let nets = [format!("{project}_default"), format!("dflow-{project}-app")];
    let _ = docker(&["network", "rm", &nets[0], &nets[1]]);
}
