//! The Swarm rows of `make bench`, on the test bed's two-node swarm (`make testbed-swarm`): the
//! same demo service (2 s to start, a healthcheck, 2 tasks spread over both nodes) redeployed
//! under the same load by `docker flow deploy`, by Swarm's own rolling update
//! (`docker service update --update-order start-first`) and by `docker stack deploy` of a changed
//! image. The baselines run behind the same Caddy (docker flow's proxy on the manager), which
//! finds their tasks the way a Swarm user's proxy does without docker flow: by Docker's DNS
//! (`tasks.<service>`, looked up every second), with the same dial retries docker flow's routes
//! have, so what differs is how the switch happens.

use std::path::Path;
use std::time::{Duration, Instant};

use super::load::{Load, Stats};
use super::{add_route, must, run, CADDY_IMAGE, CLIENTS};

/// The swarm's manager (where the proxy publishes its port) and its docker context.
const MANAGER_IP: &str = "10.231.5.11";
const CONTEXT: &str = "dflow-swarm";

/// One redeploy under load on the swarm.
pub(super) struct SwarmRow {
    pub name: &'static str,
    pub stats: Stats,
    pub wall: Duration,
    pub new: &'static str,
    /// When the command started, on the load's clock.
    pub started: Duration,
}

impl SwarmRow {
    /// From the first new-version answer to the last old-version one (0 when they never
    /// overlapped): how long clients saw both versions.
    pub(super) fn mixed(&self) -> Duration {
        match (self.stats.first_of(self.new), self.stats.last_not(self.new)) {
            (Some(first), Some(last)) if last > first => last - first,
            _ => Duration::ZERO,
        }
    }

    /// How long after the command started the new version first answered.
    pub(super) fn first_new(&self) -> Option<Duration> {
        self.stats
            .first_of(self.new)
            .map(|at| at.saturating_sub(self.started))
    }
}

fn service(project: &str, extra: &str) -> String {
    format!(
        "name: {project}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      STARTUP_DELAY_MS: \"2000\"\n    healthcheck:\n      test: [\"CMD\", \"/demo-service\", \"healthcheck\"]\n      interval: 1s\n      timeout: 2s\n      retries: 2\n      start_period: 10s\n{extra}"
    )
}

fn docker(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut a = vec!["--context", CONTEXT];
    a.extend_from_slice(args);
    must(dir, "docker", &a, env)
}

/// Runs `action` under load on the manager's `port` + `path`; `settle` waits, after the command,
/// until the rollout it started is over (for commands that return before it is).
fn measure(
    name: &'static str,
    port: u16,
    path: &str,
    new: &'static str,
    action: impl FnOnce(),
    settle: impl FnOnce(),
) -> SwarmRow {
    let load = Load::start_on(
        MANAGER_IP,
        port,
        "GET",
        path,
        CLIENTS,
        Duration::from_secs(180),
    );
    std::thread::sleep(Duration::from_secs(2));
    let started = load.started.elapsed();
    let t = Instant::now();
    action();
    let wall = t.elapsed();
    settle();
    std::thread::sleep(Duration::from_secs(3));
    SwarmRow {
        name,
        stats: load.stop(),
        wall,
        new,
        started,
    }
}

/// Until every task Swarm wants for `service` runs `image`.
fn converged(dir: &Path, service: &str, image: &str) {
    let started = Instant::now();
    loop {
        let out = docker(
            dir,
            &[
                "service",
                "ps",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.Image}} {{.CurrentState}}",
                service,
            ],
            &[],
        );
        let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
        if !lines.is_empty()
            && lines
                .iter()
                .all(|l| l.starts_with(image) && l.contains("Running"))
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{service} did not converge on {image}: {out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The three Swarm rows. `proxy`, `http`, `https`: the proxy docker flow starts on the manager.
pub(super) fn rows(work: &Path, tag: u32, proxy: &str, http: u16, https: u16) -> Vec<SwarmRow> {
    let flow_dir = work.join("swarm-flow");
    let plain_dir = work.join("swarm-plain");
    std::fs::create_dir_all(&flow_dir).unwrap();
    std::fs::create_dir_all(&plain_dir).unwrap();
    let (flow_project, plain_project) = (format!("benchswf{tag}"), format!("benchswp{tag}"));
    std::fs::write(flow_dir.join("compose.yaml"), service(&flow_project, "")).unwrap();
    std::fs::write(
        flow_dir.join("docker-flow.yml"),
        format!(
            "target: app\nengine: swarm\nservice_path: [/demo]\nservice_port: 8080\npull: never\nproxy_image: {CADDY_IMAGE}\nproxy_name: {proxy}\nproxy_http_port: {http}\nproxy_https_port: {https}\n"
        ),
    )
    .unwrap();
    let flow = |args: &[&str], v: &str| {
        let mut a = vec!["flow"];
        a.extend_from_slice(args);
        docker(&flow_dir, &a, &[("V", v)])
    };
    flow(&["deploy", "--scale", "2"], "v1");
    let flow_row = measure(
        "docker flow deploy (Swarm, 2 nodes)",
        http,
        "/demo",
        "v2",
        || {
            flow(&["deploy"], "v2");
        },
        || {},
    );
    // A rollback within --keep-old: the warm colour swapped back in first thing.
    flow(&["deploy", "--keep-old", "5m"], "v3");
    let warm_row = measure(
        "docker flow rollback (Swarm, within --keep-old)",
        http,
        "/demo",
        "v2",
        || {
            flow(&["rollback"], "v3");
        },
        || {},
    );

    // The baseline: a stack whose service (2 tasks, task addresses) is on an attachable overlay
    // network the proxy joins; its route resolves `tasks.<service>` through Docker's DNS.
    let net = format!("benchswnet{tag}");
    docker(
        &plain_dir,
        &["network", "create", "-d", "overlay", "--attachable", &net],
        &[],
    );
    let extra = format!(
        "    deploy:\n      replicas: 2\n      endpoint_mode: dnsrr\n    networks: [bench]\nnetworks:\n  bench:\n    external: true\n    name: {net}\n"
    );
    std::fs::write(
        plain_dir.join("compose.yaml"),
        service(&plain_project, &extra),
    )
    .unwrap();
    // Swarm's schema wants a version and no `name`: the file as a user writes it for a stack.
    let stack_file = |v: &str| {
        let text = service(&plain_project, &extra)
            .replacen(&format!("name: {plain_project}\n"), "version: \"3.8\"\n", 1)
            .replace("${V:-v1}", v);
        std::fs::write(plain_dir.join("stack.yaml"), text).unwrap();
    };
    let svc = format!("{plain_project}_app");
    stack_file("v1");
    let stack_deploy = || {
        let a = [
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            "stack.yaml",
        ];
        let mut a = a.to_vec();
        a.push(&plain_project);
        docker(&plain_dir, &a, &[]);
    };
    stack_deploy();
    converged(&plain_dir, &svc, "demo-service:v1");
    docker(&plain_dir, &["network", "connect", &net, proxy], &[]);
    let route = serde_json::json!({
        "@id": "bench-swarm-plain",
        "match": [{"path": ["/plain", "/plain/*"]}],
        "handle": [{
            "handler": "reverse_proxy",
            "dynamic_upstreams": {"source": "a", "name": format!("tasks.{svc}"), "port": "8080", "refresh": "1s"},
            "transport": {"protocol": "http", "keep_alive": {"enabled": false}, "dial_timeout": "250ms"},
            "load_balancing": {"selection_policy": {"policy": "round_robin"}, "try_duration": "5s", "try_interval": "10ms"},
            "health_checks": {"passive": {"fail_duration": "500ms", "max_fails": 1}}
        }],
        "terminal": true
    });
    add_route(&["--context", CONTEXT], proxy, &route, (MANAGER_IP, http));
    let update = measure(
        "docker service update --update-order start-first",
        http,
        "/plain",
        "v2",
        || {
            docker(
                &plain_dir,
                &[
                    "service",
                    "update",
                    "--quiet",
                    "--update-order",
                    "start-first",
                    "--image",
                    "demo-service:v2",
                    &svc,
                ],
                &[],
            );
        },
        || converged(&plain_dir, &svc, "demo-service:v2"),
    );
    stack_file("v3");
    let stack = measure(
        "docker stack deploy (image changed)",
        http,
        "/plain",
        "v3",
        stack_deploy,
        || converged(&plain_dir, &svc, "demo-service:v3"),
    );

    // Clean up what this part made on the swarm.
    let quiet = |args: &[&str]| {
        let mut a = vec!["--context", CONTEXT];
        a.extend_from_slice(args);
        let _ = run(work, "docker", &a, &[]);
    };
    quiet(&["stack", "rm", &plain_project]);
    quiet(&["stack", "rm", &flow_project]);
    quiet(&[
        "rm",
        "-f",
        proxy,
        &format!("docker-flow-lock-{flow_project}"),
    ]);
    std::thread::sleep(Duration::from_secs(3));
    quiet(&["network", "rm", &net, &format!("dflow-{flow_project}-app")]);
    for v in ["data", "dns", "tls"] {
        quiet(&["volume", "rm", &format!("{proxy}-{v}")]);
    }
    quiet(&[
        "volume",
        "rm",
        &format!("docker-flow-history-{flow_project}"),
    ]);
    vec![flow_row, warm_row, update, stack]
}
