//! A remote engine: a second dockerd in its own network namespace (`scripts/testbed.sh`), reached
//! through a docker context (tcp://) and over ssh://, with every proxy option at its default while
//! docker flow's own proxy also runs on the local engine. Its loopback and container addresses
//! are unreachable from here; its published ports answer at `REMOTE_IP`.

use crate::support;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use support::load::{no_drop, Load};
use support::{Bed, Run};

const REMOTE_IP: &str = "10.231.0.2";
const REMOTE: &str = "tcp://10.231.0.2:2375";
const CONTEXT: &str = "dflow-remote";
/// The default proxy's name and port, which these tests leave at their defaults.
const PROXY: &str = "docker-flow-proxy";

/// The remote tests share the remote engine's default proxy: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether the remote engine answers; with DOCKER_FLOW_E2E=1 its absence is a failure.
fn remote_available() -> bool {
    if !support::engine_available() {
        return false;
    }
    let ok = remote(&["info", "--format", "{{.ServerVersion}}"])
        .status
        .success();
    if !ok && std::env::var("DOCKER_FLOW_E2E").as_deref() == Ok("1") {
        panic!(
            "DOCKER_FLOW_E2E=1 but the remote engine {REMOTE} does not answer: run `make testbed`"
        );
    }
    ok
}

fn remote(args: &[&str]) -> std::process::Output {
    support::docker_at(&["-H", REMOTE], args)
}

fn remote_words(args: &[&str]) -> Vec<String> {
    support::docker_words_at(&["-H", REMOTE], args)
}

/// A project deployed to the remote engine with the default proxy; removes what it made there.
struct RemoteBed {
    bed: Bed,
    path: String,
}

impl RemoteBed {
    fn new(prefix: &str, delay_ms: u32) -> RemoteBed {
        let bed = Bed::new(prefix);
        let path = format!("/{}", bed.project);
        bed.write(
            "compose.yaml",
            &format!(
                "name: {}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      STARTUP_DELAY_MS: \"{delay_ms}\"\n    expose: [\"8080\"]\n  db:\n    image: demo-service:v1\n    environment:\n      VERSION: db\n",
                bed.project
            ),
        );
        // Only what the project is: no proxy option, so every one is at its default.
        bed.write(
            "docker-flow.yml",
            &format!("target: app\nside_targets: [db]\nblue_green: true\nservice_path: [{path}]\npull: missing\n"),
        );
        RemoteBed { bed, path }
    }

    /// `docker --context dflow-remote flow ARGS`, through the docker CLI and the plugin.
    fn flow(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut a = vec!["--context", CONTEXT, "flow"];
        a.extend_from_slice(args);
        let mut c = self.bed.command(std::path::Path::new("docker"), &a);
        for (k, v) in env {
            c.env(k, v);
        }
        support::run(c)
    }

    /// What the remote proxy answers on this project's path.
    fn version(&self) -> String {
        let (code, body) = support::load::get((REMOTE_IP, 80), &self.path)
            .unwrap_or_else(|| panic!("the remote proxy does not answer on {}", self.path));
        assert_eq!(code, 200, "{body}");
        body.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    fn status(&self) -> Value {
        let r = self.flow(&["status", "--format", "json"], &[]);
        r.ok();
        r.json()
    }
}

impl Drop for RemoteBed {
    fn drop(&mut self) {
        let project = self.bed.project.clone();
        let mut ids = remote_words(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
        ]);
        ids.extend(remote_words(&[
            "ps",
            "-aq",
            "--filter",
            &format!("name={project}"),
        ]));
        ids.push(PROXY.into());
        let mut rm = vec!["rm", "-f", "-v"];
        rm.extend(ids.iter().map(String::as_str));
        let _ = remote(&rm);
        for net in remote_words(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name={project}"),
        ]) {
            let _ = remote(&["network", "rm", &net]);
        }
        for v in ["data", "dns"] {
            let _ = remote(&["volume", "rm", "-f", &format!("{PROXY}-{v}")]);
        }
    }
}

/// A project on the local engine behind docker flow's default proxy (name `docker-flow-proxy`),
/// as on a laptop that also runs something locally. Removes the proxy if it started it.
struct LocalDefaultProxy {
    /// Kept for its cleanup when the test ends.
    _bed: Bed,
    started_proxy: bool,
}

impl LocalDefaultProxy {
    fn start() -> LocalDefaultProxy {
        let started_proxy = !Command::new("docker")
            .args(["container", "inspect", PROXY])
            .output()
            .unwrap()
            .status
            .success();
        let bed = Bed::demo("localdef", 0);
        // The default proxy name; a free port in case this test starts it.
        bed.write(
            "docker-flow.yml",
            &format!(
                "target: app\nblue_green: true\nservice_path: [/{}]\npull: missing\nproxy_image: {}\nproxy_http_port: {}\nproxy_https_port: {}\n",
                bed.project,
                support::CADDY_IMAGE,
                bed.http_port,
                bed.https_port
            ),
        );
        bed.flow(&["deploy"]).ok();
        LocalDefaultProxy {
            _bed: bed,
            started_proxy,
        }
    }

    /// The local proxy's whole config, as Caddy gives it (asked through the local engine).
    fn config(&self) -> String {
        support::proxy_admin(PROXY, "GET", "/config/", None).expect("the local proxy answers")
    }
}

impl Drop for LocalDefaultProxy {
    fn drop(&mut self) {
        if self.started_proxy {
            let _ = Command::new("docker").args(["rm", "-f", PROXY]).output();
            for v in ["data", "dns"] {
                let _ = Command::new("docker")
                    .args(["volume", "rm", "-f", &format!("{PROXY}-{v}")])
                    .output();
            }
        }
    }
}

#[test]
fn a_remote_engine_through_a_context_gets_every_flow_and_its_own_proxy() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !remote_available() {
        return;
    }
    let local = LocalDefaultProxy::start();
    let local_before = local.config();
    let bed = RemoteBed::new("rctx", 2000);
    // First deploy: the remote engine gets its own proxy, which serves v1 on its published port.
    let first = bed.flow(&["deploy"], &[]);
    first.ok();
    assert_eq!(bed.version(), "v1");
    let published = remote(&["port", PROXY]);
    let published = String::from_utf8_lossy(&published.stdout);
    assert!(
        published
            .lines()
            .all(|l| l.starts_with("80/tcp ") || l.starts_with("443/tcp ")),
        "the remote proxy publishes more than HTTP and HTTPS: {published}"
    );
    // A redeploy under 4 clients of load, a fresh connection each.
    let load = Load::start_on(REMOTE_IP, 80, "GET", &bed.path, 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let r = bed.flow(&["deploy", "--format", "json"], &[("V", "v2")]);
    let switched = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let stats = load.stop();
    r.ok();
    no_drop(&stats, switched, "v2");
    let summary = r.json();
    assert!(summary["engine_calls"].as_u64().unwrap() > 0, "{summary}");
    // Scale, relative, under load.
    let load = Load::start_on(REMOTE_IP, 80, "GET", &bed.path, 4, Duration::from_secs(120));
    bed.flow(&["scale", "+2"], &[]).ok();
    let switched = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    no_drop(&load.stop(), switched, "v2");
    let s = bed.status();
    let routes = s["proxy"]["routes"].as_array().cloned().unwrap_or_default();
    assert_eq!(routes.len(), 1, "{s}");
    assert_eq!(routes[0]["paths"], serde_json::json!([bed.path]), "{s}");
    assert_eq!(
        routes[0]["upstreams"].as_array().map(Vec::len),
        Some(3),
        "{s}"
    );
    // Rollback, under load.
    let load = Load::start_on(REMOTE_IP, 80, "GET", &bed.path, 4, Duration::from_secs(120));
    bed.flow(&["rollback"], &[]).ok();
    let switched = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    no_drop(&load.stop(), switched, "v1");
    // The seed's steps: stage, then promote.
    bed.flow(&["--flow=deploy"], &[("V", "v3")]).ok();
    assert_eq!(bed.version(), "v1");
    bed.flow(&["--flow=proxy", "--flow=stop-old"], &[]).ok();
    assert_eq!(bed.version(), "v3");
    // Nothing of this reached the local engine's proxy.
    assert_eq!(
        local.config(),
        local_before,
        "the local proxy's config changed"
    );
}

#[test]
fn a_remote_engine_over_ssh_deploys_and_switches() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !remote_available() {
        return;
    }
    let bed = RemoteBed::new("rssh", 0);
    let ssh = format!("ssh://root@{REMOTE_IP}");
    let flow = |args: &[&str], v: &str| {
        bed.bed
            .flow_env(args, &[("DOCKER_HOST", ssh.as_str()), ("V", v)])
    };
    flow(&["deploy"], "v1").ok();
    assert_eq!(bed.version(), "v1");
    let load = Load::start_on(REMOTE_IP, 80, "GET", &bed.path, 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let r = flow(&["deploy"], "v2");
    let switched = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let stats = load.stop();
    r.ok();
    no_drop(&stats, switched, "v2");
    let s = flow(&["status", "--format", "json"], "v2");
    s.ok();
    assert_eq!(s.json()["live_color"], "green", "{}", s.stdout);
}

#[test]
fn the_docker_flow_proxy_driver_reaches_its_proxy_through_the_proxys_engine() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !remote_available() {
        return;
    }
    // Docker Flow Proxy's reconfigure endpoint is reached where --proxy-host says (the seed's
    // meaning): a recorder on this machine's side of the link to the remote host. Its templates
    // go into the proxy container through the engine that runs it: the project's (a context to
    // the remote engine), or --proxy-docker-host's when the project runs elsewhere.
    let (port, seen) = support::recorder("10.231.0.1");
    let bed = RemoteBed::new("rdfp", 0);
    let dfp = format!("{}-dfp", bed.bed.project);
    assert!(remote(&["run", "-d", "--name", &dfp, "demo-service:v1"])
        .status
        .success());
    bed.bed.write("fe.tmpl", "frontend SERVICE_NAME-fe\n");
    bed.bed.write("be.tmpl", "backend SERVICE_NAME-be\n");
    let port = port.to_string();
    let dfp_args = [
        "--proxy-driver",
        "docker-flow-proxy",
        "--proxy-host",
        "10.231.0.1",
        "--proxy-reconf-port",
        &port,
        "--proxy-name",
        &dfp,
        "--consul-template-fe-path",
        "fe.tmpl",
        "--consul-template-be-path",
        "be.tmpl",
    ];
    let template = |path: &str| {
        let out = remote(&["cp", &format!("{dfp}:/consul_templates/{path}"), "-"]);
        assert!(out.status.success(), "{out:?}");
        let mut archive = tar::Archive::new(out.stdout.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        text
    };
    let svc = format!("{}-app", bed.bed.project);
    let mut a = vec!["deploy"];
    a.extend(dfp_args);
    bed.flow(&a, &[]).ok();
    assert_eq!(
        template(&format!("{svc}-fe.tmpl")),
        format!("frontend {svc}-blue-fe\n")
    );
    // The project on this machine's engine, the proxy on the remote one.
    let local = Bed::demo("ldfp", 0);
    local.write("fe.tmpl", "frontend SERVICE_NAME-fe\n");
    local.write("be.tmpl", "backend SERVICE_NAME-be\n");
    let mut a = vec!["deploy", "--proxy-docker-host", REMOTE];
    a.extend(dfp_args);
    local.flow(&a).ok();
    let local_svc = format!("{}-app", local.project);
    assert_eq!(
        template(&format!("{local_svc}-be.tmpl")),
        format!("backend {local_svc}-blue-be\n")
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(
        requests[0].contains(&format!("serviceName={svc}&")),
        "{requests:?}"
    );
    assert!(
        requests[1].contains(&format!("serviceName={local_svc}&")),
        "{requests:?}"
    );
    let _ = remote(&["rm", "-f", &dfp]);
}
