//! Swarm mode on a two-node swarm (`make testbed-swarm`: dockerds in network namespaces, the
//! manager at `MANAGER_IP`, a worker beside it, the context `dflow-swarm`). The project's app is
//! placed on the worker, so the proxy (on the manager, the node docker flow talks to) reaches its
//! tasks across nodes over the route's overlay network; the load comes from this machine to the
//! proxy's host-mode port on the manager.

use crate::support;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use support::load::{no_drop, Load};
use support::{Bed, Run};

const MANAGER_IP: &str = "10.231.5.11";
const WORKER_IP: &str = "10.231.5.12";
const CONTEXT: &str = "dflow-swarm";
/// The worker's engine, asked directly (it is not a manager: only for its containers and images).
const WORKER: &str = "unix:///run/dflow-n2/sock";
/// The test bed's registry: plain HTTP, which the nodes' daemons trust as an insecure registry.
const REGISTRY: &str = "10.231.5.1:5000";

/// The swarm is small (2 cores for both nodes): one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether the swarm answers; with DOCKER_FLOW_E2E=1 its absence is a failure.
fn swarm_available() -> bool {
    if !support::engine_available() {
        return false;
    }
    let out = swarm(&["node", "ls", "--format", "{{.Status}}"]);
    let ready = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.trim() == "Ready")
        .count();
    if ready < 2 && std::env::var("DOCKER_FLOW_E2E").as_deref() == Ok("1") {
        panic!("DOCKER_FLOW_E2E=1 but the two-node swarm ({CONTEXT}) is not ready: run `make testbed-swarm`");
    }
    ready >= 2
}

fn swarm(args: &[&str]) -> std::process::Output {
    support::docker_at(&["--context", CONTEXT], args)
}

fn swarm_words(args: &[&str]) -> Vec<String> {
    support::docker_words_at(&["--context", CONTEXT], args)
}

/// A project deployed to the swarm with its own proxy; removes what it made there.
struct SwarmBed {
    bed: Bed,
    path: String,
}

impl SwarmBed {
    /// `on_worker`: the app's tasks are placed on the worker only (else Swarm spreads them).
    fn new(prefix: &str, on_worker: bool) -> SwarmBed {
        let bed = Bed::new(prefix);
        let placement = if on_worker {
            "    deploy:\n      placement:\n        constraints: [\"node.role == worker\"]\n"
        } else {
            ""
        };
        let path = format!("/{}", bed.project);
        // The app on the worker only; a healthcheck that gives it time to start.
        bed.write(
            "compose.yaml",
            &format!(
                r#"name: {}
services:
  app:
    image: ${{REGISTRY:-}}demo-service:${{V:-v1}}
    depends_on: [db]
    environment:
      STARTUP_DELAY_MS: "${{DELAY:-500}}"
      HEALTH: ${{HEALTH:-ok}}
      TOKEN: ${{TOKEN:-none}}
    expose: ["8080"]
    healthcheck:
      test: ["CMD", "/demo-service", "healthcheck"]
      interval: 1s
      timeout: 2s
      retries: 2
      start_period: 5s
{placement}  db:
    image: demo-service:v1
    environment:
      VERSION: db
"#,
                bed.project
            ),
        );
        bed.write(
            "docker-flow.yml",
            &format!(
                "target: app\nside_targets: [db]\nengine: swarm\nservice_path: [{path}]\npull: never\nhealth_timeout: 60s\nproxy_image: {}\nproxy_name: {}\nproxy_http_port: {}\nproxy_https_port: {}\n",
                support::CADDY_IMAGE,
                bed.proxy_name,
                bed.http_port,
                bed.https_port
            ),
        );
        SwarmBed { bed, path }
    }

    /// As `new`, with the proxy as a Swarm service of 2 replicas (one a node), its image pushed
    /// to the test bed's registry.
    fn with_proxy_service(prefix: &str, on_worker: bool) -> SwarmBed {
        let bed = SwarmBed::new(prefix, on_worker);
        bed.configure(&format!("proxy_replicas: 2\nproxy_registry: {REGISTRY}\n"));
        bed
    }

    /// A project of its own on `other`'s proxy service (its name, ports and registry).
    fn sharing_proxy_of(prefix: &str, other: &SwarmBed) -> SwarmBed {
        let mut bed = SwarmBed::new(prefix, false);
        let path = bed.bed.path().join("docker-flow.yml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(&bed.bed.proxy_name, &other.bed.proxy_name)
            .replace(
                &format!("proxy_http_port: {}", bed.bed.http_port),
                &format!("proxy_http_port: {}", other.bed.http_port),
            )
            .replace(
                &format!("proxy_https_port: {}", bed.bed.https_port),
                &format!("proxy_https_port: {}", other.bed.https_port),
            );
        std::fs::write(&path, text).unwrap();
        bed.bed.http_port = other.bed.http_port;
        bed.bed.https_port = other.bed.https_port;
        bed.configure(&format!("proxy_replicas: 2\nproxy_registry: {REGISTRY}\n"));
        bed
    }

    /// `docker --context dflow-swarm flow ARGS`, through the docker CLI and the plugin.
    fn flow(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut a = vec!["--context", CONTEXT, "flow"];
        a.extend_from_slice(args);
        let mut c = self.bed.command(std::path::Path::new("docker"), &a);
        for (k, v) in env {
            c.env(k, v);
        }
        support::run(c)
    }

    fn load(&self) -> Load {
        Load::start_on(
            MANAGER_IP,
            self.bed.http_port,
            "GET",
            &self.path,
            4,
            Duration::from_secs(180),
        )
    }

    /// What the proxy answers on the project's path (must be 200): the version.
    fn version(&self) -> String {
        let (code, body) = support::load::get((MANAGER_IP, self.bed.http_port), &self.path)
            .unwrap_or_else(|| panic!("the swarm's proxy does not answer on {}", self.path));
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

    /// The first status that satisfies `done`, asked every 500 ms for up to `seconds`.
    fn wait_status(&self, seconds: u64, done: impl Fn(&Value) -> bool) -> Option<Value> {
        for _ in 0..seconds * 2 {
            let s = self.status();
            if done(&s) {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        None
    }

    /// The IDs of the stack's services whose name starts with `<project>_<prefix>`.
    fn services(&self, prefix: &str) -> Vec<String> {
        swarm_words(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("name={}_{prefix}", self.bed.project),
        ])
    }

    /// Adds `lines` to the project's docker-flow.yml.
    fn configure(&self, lines: &str) {
        let path = self.bed.path().join("docker-flow.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}{lines}")).unwrap();
    }

    /// What the proxy answers on the project's path at `host` (must be 200): the version.
    fn version_at(&self, host: &str) -> Option<String> {
        let (code, body) = support::load::get((host, self.bed.http_port), &self.path)?;
        (code == 200).then(|| {
            body.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
    }

    /// The service's replicas as Swarm has them.
    fn replicas(&self, service: &str) -> String {
        let out = swarm(&[
            "service",
            "inspect",
            "--format",
            "{{.Spec.Mode.Replicated.Replicas}}",
            &format!("{}_{service}", self.bed.project),
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs `deploy ARGS` under load and checks nothing dropped and only `version` answers after.
    fn under_load(&self, args: &[&str], env: &[(&str, &str)], version: &str) -> Run {
        let load = self.load();
        std::thread::sleep(Duration::from_millis(500));
        let r = self.flow(args, env);
        let switched = load.started.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        let stats = load.stop();
        r.ok();
        no_drop(&stats, switched, version);
        r
    }

    /// Runs `ARGS` under 2 clients on each node's proxy replica and checks, on each, that
    /// nothing dropped and only `version` answers after. Also gives how long after the command
    /// started each node first answered `version`.
    fn under_load_on_both_nodes(
        &self,
        args: &[&str],
        env: &[(&str, &str)],
        version: &str,
    ) -> (Run, Vec<Option<Duration>>) {
        let loads: Vec<Load> = [MANAGER_IP, WORKER_IP]
            .iter()
            .map(|host| {
                Load::start_on(
                    host,
                    self.bed.http_port,
                    "GET",
                    &self.path,
                    2,
                    Duration::from_secs(120),
                )
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let command: Vec<Duration> = loads.iter().map(|l| l.started.elapsed()).collect();
        let r = self.flow(args, env);
        let switched: Vec<Duration> = loads.iter().map(|l| l.started.elapsed()).collect();
        std::thread::sleep(Duration::from_millis(500));
        r.ok();
        let mut first = Vec::new();
        for (i, (host, load)) in [MANAGER_IP, WORKER_IP].iter().zip(loads).enumerate() {
            let stats = load.stop();
            eprintln!("{host}: {}", stats.summary());
            no_drop(&stats, switched[i], version);
            first.push(
                stats
                    .first_of(version)
                    .map(|at| at.saturating_sub(command[i])),
            );
        }
        (r, first)
    }

    /// The app without a Docker healthcheck (its image's disabled too).
    fn without_healthcheck(&self) {
        let path = self.bed.path().join("compose.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text.find("    healthcheck:").unwrap();
        let end =
            text[start..].find("start_period: 5s\n").unwrap() + start + "start_period: 5s\n".len();
        let text = format!(
            "{}    healthcheck:\n      disable: true\n{}",
            &text[..start],
            &text[end..]
        );
        std::fs::write(&path, text).unwrap();
    }
}

impl Drop for SwarmBed {
    fn drop(&mut self) {
        let project = self.bed.project.clone();
        let _ = swarm(&["stack", "rm", &project]);
        let _ = swarm(&["service", "rm", &format!("docker-flow-lock-{project}")]);
        let _ = swarm(&["service", "rm", &self.bed.proxy_name]);
        let mut ids = swarm_words(&["ps", "-aq", "--filter", &format!("name={project}")]);
        ids.push(self.bed.proxy_name.clone());
        let mut rm = vec!["rm", "-f", "-v"];
        rm.extend(ids.iter().map(String::as_str));
        let _ = swarm(&rm);
        // A network is removable once the stack's tasks have left it.
        for _ in 0..20 {
            let nets = swarm_words(&[
                "network",
                "ls",
                "-q",
                "--filter",
                &format!("name={project}"),
            ]);
            if nets.is_empty() {
                break;
            }
            for net in nets {
                let _ = swarm(&["network", "rm", &net]);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        for v in swarm_words(&["volume", "ls", "-q", "--filter", &format!("name={project}")]) {
            let _ = swarm(&["volume", "rm", "-f", &v]);
        }
        let label = format!("label=io.docker-flow.proxy={}", self.bed.proxy_name);
        for secret in swarm_words(&["secret", "ls", "-q", "--filter", &label]) {
            let _ = swarm(&["secret", "rm", &secret]);
        }
        for config in swarm_words(&["config", "ls", "-q", "--filter", &label]) {
            let _ = swarm(&["config", "rm", &config]);
        }
    }
}

/// The blue colour's running tasks in a status report: (name, node).
fn running_tasks(s: &Value) -> Vec<(String, String)> {
    s["colors"]["blue"]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|i| i["state"] == "running")
        .map(|i| {
            (
                i["name"].as_str().unwrap_or_default().to_string(),
                i["node"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Whether the route's record lists exactly the blue colour's running tasks.
fn routed_as_running(s: &Value) -> bool {
    let mut routed: Vec<String> = s["proxy"]["routes"][0]["upstreams"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|u| Some(u.as_str()?.rsplit_once(':')?.0.to_string()))
        .collect();
    let mut running: Vec<String> = running_tasks(s).into_iter().map(|(n, _)| n).collect();
    routed.sort();
    running.sort();
    routed == running
}

#[test]
fn on_a_two_node_swarm_deploys_scales_and_rolls_back_without_dropping_a_request() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::new("swarm", true);
    // An image the other node cannot pull is refused before anything changes.
    bed.flow(
        &["deploy", "--pull", "missing"],
        &[("REGISTRY", "127.0.0.1:5999/")],
    )
    .fails(3, "is not in a registry the swarm's nodes can pull it from");
    // Each colour is a service: a plain deploy is refused before anything changes.
    bed.flow(&["deploy", "--blue-green=false"], &[])
        .fails(2, "Swarm mode deploys blue-green only");
    assert!(bed.services("").is_empty());
    // A target Swarm cannot run (no image, only a build) is refused, pointing at the line.
    bed.bed.write(
        "build.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    build: .\n    expose: [\"8080\"]\n",
            bed.bed.project
        ),
    );
    bed.flow(&["deploy", "-f", "build.yaml", "--side-target", ""], &[])
        .fails(2, "has `build:` and no `image:`");
    let first = bed.flow(&["deploy"], &[]);
    first.ok();
    assert!(
        first
            .stderr
            .contains("Swarm mode ignores `depends_on` of `app` (compose.yaml line 5)"),
        "{}",
        first.stderr
    );
    assert_eq!(bed.version(), "v1");
    // `--engine auto` (the default) finds the project's stack on the manager.
    let auto = bed.flow(&["status", "--engine", "auto", "--format", "json"], &[]);
    auto.ok();
    assert_eq!(auto.json()["live_color"], "blue", "{}", auto.stdout);
    // So does `status` of every target (no --target): the stack's services name them.
    let every = bed.flow(
        &[
            "status",
            "--target=",
            "--engine",
            "auto",
            "--format",
            "json",
        ],
        &[],
    );
    every.ok();
    let every = every.json();
    assert_eq!(every.as_array().map(Vec::len), Some(1), "{every}");
    assert_eq!(every[0]["target"], "app", "{every}");
    assert_eq!(every[0]["live_color"], "blue", "{every}");
    // Each colour is a service of the stack; the live one's tasks are listed with their node,
    // which is the worker (the proxy runs on the manager).
    let s = bed.status();
    assert_eq!(s["live_color"], "blue", "{s}");
    let worker = swarm_words(&["node", "ls", "-q", "--filter", "role=worker"]);
    let tasks = s["colors"]["blue"]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(tasks.len(), 1, "{s}");
    assert!(
        worker.contains(&tasks[0]["node"].as_str().unwrap_or_default().to_string()),
        "the task is not on the worker {worker:?}: {s}"
    );
    // A dry run changes nothing on the swarm.
    let services = || swarm_words(&["service", "ls", "--format", "{{.Name}}={{.Replicas}}"]);
    let before = services();
    // It shows the stack file as written, never what `.env` filled in (secrets live there).
    bed.bed.write(".env", "TOKEN=hunter2\n");
    let plan = bed.flow(&["deploy", "--dry-run", "--format", "json"], &[("V", "v2")]);
    plan.ok();
    std::fs::remove_file(bed.bed.path().join(".env")).unwrap();
    assert!(
        !plan.stdout.contains("hunter2") && !plan.stderr.contains("hunter2"),
        "the plan shows a secret from .env:\n{}\n{}",
        plan.stdout,
        plan.stderr
    );
    assert!(plan.stdout.contains("${TOKEN:-none}"), "{}", plan.stdout);
    assert_eq!(services(), before);
    assert_eq!(bed.version(), "v1");
    // Two deploys at once through the manager: one runs, the other is refused naming the holder.
    support::one_admitted(|| {
        let mut c = bed.bed.command(
            std::path::Path::new("docker"),
            &["--context", CONTEXT, "flow", "deploy"],
        );
        c.env("V", "v1");
        c
    });
    // That deploy went to green: back to blue, so the rest reads as from the first deploy.
    bed.flow(&["deploy"], &[]).ok();
    assert_eq!(
        bed.flow(&["status", "--format", "json"], &[]).json()["live_color"],
        "blue"
    );
    // A redeploy to v2 under load: the green service starts, the proxy switches, blue goes to 0.
    bed.under_load(&["deploy"], &[("V", "v2")], "v2");
    assert_eq!(bed.replicas("app-blue"), "0");
    assert_eq!(bed.replicas("app-green"), "1");
    // Scale up, under load: new tasks join the rotation once running.
    bed.under_load(&["scale", "+2"], &[], "v2");
    let s = bed.status();
    let upstreams = s["proxy"]["routes"][0]["upstreams"].clone();
    assert_eq!(upstreams.as_array().map(Vec::len), Some(3), "{s}");
    // Scale down, under load: Swarm picks the tasks a service loses, so the one task left runs
    // in the other colour, switched to, and the three drain and go.
    bed.under_load(&["scale", "-2"], &[], "v2");
    assert_eq!(bed.replicas("app-blue"), "1");
    assert!(bed.services("app-green").is_empty());
    let s = bed.status();
    let upstreams = s["proxy"]["routes"][0]["upstreams"].clone();
    assert_eq!(upstreams.as_array().map(Vec::len), Some(1), "{s}");
    // Rollback: v1 comes back (recreated in green from its image), blue goes to 0.
    bed.under_load(&["rollback"], &[], "v1");
    assert_eq!(bed.replicas("app-green"), "1");
    assert_eq!(bed.replicas("app-blue"), "0");
    // An unhealthy release: the deploy fails, v1 keeps serving, the failed colour is gone.
    let load = bed.load();
    let r = bed.flow(&["deploy"], &[("V", "v3"), ("HEALTH", "fail")]);
    let stats = load.stop();
    r.fails(1, "ended before Swarm saw it healthy (Swarm: complete");
    assert!(stats.failed().is_empty(), "{}", stats.summary());
    assert_eq!(bed.version(), "v1");
    assert_eq!(bed.replicas("app-green"), "1");
    // The seed's steps: stage, then promote.
    bed.flow(&["--flow=deploy"], &[("V", "v3")]).ok();
    assert_eq!(bed.version(), "v1");
    bed.flow(&["--flow=proxy", "--flow=stop-old"], &[]).ok();
    assert_eq!(bed.version(), "v3");
    assert_eq!(bed.replicas("app-green"), "0");
    // Within --keep-old a rollback swaps the warm colour back in first thing (then the
    // follower keeps the record on its tasks), with no failed request, and scales the other
    // to 0.
    bed.flow(&["deploy", "--keep-old", "5m"], &[("V", "v2")])
        .ok();
    assert_eq!(bed.version(), "v2");
    assert_eq!(bed.replicas("app-blue"), "1");
    let r = bed.under_load(&["rollback"], &[], "v3");
    assert!(
        r.stderr.contains("switched back first thing"),
        "{}",
        r.stderr
    );
    assert_eq!(bed.replicas("app-green"), "0");
}

/// How the worker is lost while it serves.
#[derive(Clone, Copy, Debug)]
enum Loss {
    /// Its network link goes down: its tasks are unreachable, as when the machine dies.
    Cut,
    /// Its dockerd is killed (SIGKILL, by its pidfile): the engine is gone; what its containers
    /// do then is up to the kernel and containerd, as on a real host whose daemon crashes.
    Killed,
}

/// The worker's dockerd, by the test bed's pidfile.
const WORKER_PIDFILE: &str = "/run/dflow-n2/pid";

/// Brings the worker back when the test ends, however it ends (its link up, or its dockerd
/// started again with the command line it had), and waits until the swarm sees it again.
struct Revive {
    /// The killed dockerd's command line, read before the kill.
    dockerd: Option<Vec<String>>,
}

impl Drop for Revive {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["-n", "dflow-n2", "link", "set", "eth0", "up"])
            .status();
        if let Some(argv) = &self.dockerd {
            // The killed daemon left its pidfile, and its pid may be another process's by now:
            // dockerd would then refuse to start.
            let _ = std::fs::remove_file(WORKER_PIDFILE);
            // As scripts/testbed.sh starts it: in the node's network namespace, in a session of
            // its own so that it outlives the test.
            let log = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open("/run/dflow-n2/log")
                .unwrap();
            let _ = Command::new("setsid")
                .args(["nsenter", "--net=/var/run/netns/dflow-n2"])
                .args(argv)
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn();
        }
        for _ in 0..120 {
            if swarm_words(&["node", "ls", "--format", "{{.Status}}"])
                .iter()
                .all(|s| s == "Ready")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The worker's dockerd's command line, by its pidfile.
fn worker_dockerd() -> (String, Vec<String>) {
    let pid = std::fs::read_to_string(WORKER_PIDFILE).unwrap();
    let pid = pid.trim().to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let argv = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (pid, argv)
}

/// Loses the worker (`how`); the guard returned brings it back.
fn lose_the_worker(how: Loss) -> Revive {
    match how {
        Loss::Cut => {
            let revive = Revive { dockerd: None };
            assert!(Command::new("ip")
                .args(["-n", "dflow-n2", "link", "set", "eth0", "down"])
                .status()
                .unwrap()
                .success());
            revive
        }
        Loss::Killed => {
            let (pid, argv) = worker_dockerd();
            let revive = Revive {
                dockerd: Some(argv),
            };
            assert!(Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .unwrap()
                .success());
            revive
        }
    }
}

/// Two tasks, one on each node, under 4 clients; the worker is lost (`how`); Swarm replaces its
/// task on the manager, and the proxy's follower puts the replacement into rotation by itself,
/// with no docker flow command.
fn lose_the_worker_while_serving(prefix: &str, how: Loss) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::new(prefix, false);
    bed.flow(&["deploy", "--scale", "2"], &[]).ok();
    let worker = swarm_words(&["node", "ls", "-q", "--filter", "role=worker"]);
    let nodes =
        |s: &Value| -> Vec<String> { running_tasks(s).into_iter().map(|(_, n)| n).collect() };
    let before = nodes(&bed.status());
    assert_eq!(before.len(), 2, "{before:?}");
    assert!(
        before.iter().any(|n| worker.contains(n)) && before.iter().any(|n| !worker.contains(n)),
        "Swarm did not spread the tasks over both nodes: {before:?}"
    );
    let load = bed.load();
    std::thread::sleep(Duration::from_millis(500));
    let _revive = lose_the_worker(how);
    // Swarm notices the node is down and starts a replacement on the manager.
    let replaced = bed.wait_status(60, |s| {
        let now = nodes(s);
        now.len() == 2 && now.iter().all(|n| !worker.contains(n))
    });
    assert!(
        replaced.is_some(),
        "Swarm did not replace the lost task within a minute"
    );
    let lost = load.started.elapsed();
    // The proxy's follower puts the replacement into rotation by itself, and the lost task out:
    // no docker flow command runs.
    let followed = bed
        .wait_status(10, routed_as_running)
        .map(|s| running_tasks(&s))
        .unwrap_or_default();
    assert_eq!(followed.len(), 2, "the record did not follow Swarm's tasks");
    // The follower, the one container with the engine's socket, has no network at all.
    let follower = format!("{}-follow", bed.bed.proxy_name);
    let mode = swarm(&[
        "inspect",
        "--format",
        "{{.HostConfig.NetworkMode}} {{json .NetworkSettings.Ports}}",
        &follower,
    ]);
    assert_eq!(String::from_utf8_lossy(&mode.stdout).trim(), "none {}");
    std::thread::sleep(Duration::from_secs(2));
    let stats = load.stop();
    eprintln!(
        "worker {how:?}: {} requests over {lost:?} until Swarm replaced the task, then the follower: {} failed, max latency {:?}",
        stats.total(),
        stats.failed().len(),
        stats.max_latency()
    );
    assert!(stats.total() > 50, "{}", stats.summary());
    // Only requests in flight to the node at the loss can be lost (Caddy retries dials, not
    // requests it has sent): at most one per client.
    assert!(stats.failed().len() <= 4, "{}", stats.summary());
    let s = bed.status();
    let after = nodes(&s);
    assert_eq!(after.len(), 2, "{s}");
    assert!(after.iter().all(|n| !worker.contains(n)), "{s}");
    let upstreams = s["proxy"]["routes"][0]["upstreams"].clone();
    assert_eq!(upstreams.as_array().map(Vec::len), Some(2), "{s}");
    assert_eq!(bed.version(), "v1");
}

#[test]
fn a_node_cut_off_while_serving_loses_at_most_the_requests_in_flight_and_its_replacement_joins_by_itself(
) {
    lose_the_worker_while_serving("swnode", Loss::Cut);
}

#[test]
fn a_worker_whose_daemon_is_killed_while_serving_loses_at_most_the_requests_in_flight_and_its_replacement_joins_by_itself(
) {
    lose_the_worker_while_serving("swkill", Loss::Killed);
}

#[test]
fn on_the_swarm_a_staged_release_is_previewed_then_promoted_and_a_canary_aborted() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::new("swstage", false);
    bed.flow(&["deploy", "--scale", "3"], &[]).ok();
    // Staged: only requests with the preview header reach v2.
    bed.flow(&["deploy", "--no-promote"], &[("V", "v2")]).ok();
    let preview = |header: &str| {
        let (code, body) = support::load::try_request_with(
            (MANAGER_IP, bed.bed.http_port),
            "GET",
            &bed.path,
            header,
        )
        .unwrap();
        assert_eq!(code, 200, "{body}");
        body.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let s = bed.status();
    let header = s["colors"]["green"]["preview_header"]
        .as_str()
        .unwrap_or_else(|| panic!("no preview header: {s}"))
        .to_string();
    for _ in 0..10 {
        assert_eq!(preview(""), "v1");
        assert_eq!(preview("X-Docker-Flow-Preview: 1"), "v1");
        assert_eq!(preview(&header), "v2");
    }
    bed.under_load(&["promote"], &[], "v2");
    assert_eq!(bed.replicas("app-green"), "3");
    assert_eq!(bed.replicas("app-blue"), "0");
    // A canary of one task beside three: a quarter of the traffic, then aborted.
    bed.flow(&["deploy", "--canary", "1"], &[("V", "v3")]).ok();
    let s = bed.status();
    assert_eq!(s["colors"]["blue"]["role"], "canary", "{s}");
    assert_eq!(s["colors"]["blue"]["traffic_percent"], 25, "{s}");
    let load = bed.load();
    std::thread::sleep(Duration::from_secs(2));
    bed.flow(&["abort"], &[]).ok();
    let aborted = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let stats = load.stop();
    no_drop(&stats, aborted, "v2");
    assert!(
        stats.samples.iter().any(|s| s.version() == "v3"),
        "the canary never served: {}",
        stats.summary()
    );
    assert_eq!(bed.replicas("app-green"), "3");
}

#[test]
fn the_lock_is_held_in_the_swarm_with_a_heartbeat_and_a_dead_runs_lock_is_taken_over() {
    if !swarm_available() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bed = SwarmBed::new("swlock", false);
    bed.flow(&["deploy"], &[]).ok();
    let lock = format!("docker-flow-lock-{}", bed.bed.project);
    let labels = || -> Option<Value> {
        let out = swarm(&[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.Labels}}",
            &lock,
        ]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).unwrap())
    };

    // A deploy holds the swarm-wide lock, a service in the swarm's Raft store (so the same
    // for runs through any manager), for a while (its pre-deploy hook waits).
    let hook = bed.bed.path().join(".docker-flow/hooks/pre-deploy");
    bed.bed
        .write(".docker-flow/hooks/pre-deploy", "#!/bin/sh\nsleep 12\n");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = bed.bed.command(
        std::path::Path::new("docker"),
        &["--context", CONTEXT, "flow", "deploy"],
    );
    c.env("V", "v2");
    let mut first = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let held = loop {
        if let Some(l) = labels() {
            break l;
        }
        if started.elapsed() > Duration::from_secs(30) || first.try_wait().unwrap().is_some() {
            let _ = first.kill();
            let out = first.wait_with_output().unwrap();
            panic!(
                "the deploy did not hold the swarm's lock:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(held["io.docker-flow.lock.command"], "deploy,proxy,stop-old");
    assert_eq!(
        swarm_words(&[
            "service",
            "inspect",
            "--format",
            "{{.Spec.Mode.Replicated.Replicas}}",
            &lock
        ]),
        ["0"],
        "the lock runs a task"
    );

    // The holder's heartbeat moves while it runs; the lock goes with the run.
    let since = held["io.docker-flow.lock.since"]
        .as_str()
        .unwrap()
        .to_string();
    loop {
        let beat = labels().map(|l| l["io.docker-flow.lock.beat"].clone());
        if beat.as_ref().and_then(Value::as_str) > Some(since.as_str()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no heartbeat after the lock was taken: {beat:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(bed.version(), "v2");
    assert_eq!(labels(), None, "the lock outlived its run");
    std::fs::remove_file(&hook).unwrap();

    // A lock whose holder stopped beating long ago (it died, or lost the swarm) is taken over.
    let foreign = |beat: u64| {
        let labels = [
            "io.docker-flow.lock=true".to_string(),
            "io.docker-flow.lock.host=other-ci".into(),
            "io.docker-flow.lock.pid=4242".into(),
            "io.docker-flow.lock.command=deploy".into(),
            format!("io.docker-flow.lock.since={beat}"),
            format!("io.docker-flow.lock.beat={beat}"),
        ];
        let mut a = vec![
            "service",
            "create",
            "--detach",
            "--replicas",
            "0",
            "--no-resolve-image",
            "--name",
            &lock,
        ];
        for l in &labels {
            a.extend(["--label", l.as_str()]);
        }
        a.extend(["docker-flow-lock:1", "lock"]);
        assert!(swarm(&a).status.success());
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    foreign(now - 120);
    let made = std::time::Instant::now();
    // Silence is the manager's to judge: neither the label the holder wrote nor a client
    // whose clock runs a minute ahead takes over a lock the manager saw updated just now.
    let mut c = bed.bed.command(
        std::path::Path::new("faketime"),
        &[
            "-f",
            "+60s",
            "docker",
            "--context",
            CONTEXT,
            "flow",
            "deploy",
            "--lock-wait",
            "1s",
        ],
    );
    c.env("V", "v1");
    support::run(c).fails(4, "is locked by `deploy` (pid 4242 on other-ci)");
    // Once the manager has seen no heartbeat for 30 s, the lock is left over.
    std::thread::sleep(Duration::from_secs(32).saturating_sub(made.elapsed()));
    let r = bed.flow(&["deploy"], &[("V", "v1")]);
    r.ok();
    assert!(
        r.stderr.contains("taking over the swarm's lock of project")
            && r.stderr.contains("(pid 4242 on other-ci)"),
        "{}",
        r.stderr
    );
    assert_eq!(bed.version(), "v1");

    // One that beats is not: the run waits (--lock-wait) and is refused; `unlock` removes it.
    foreign(now);
    bed.flow(&["deploy", "--lock-wait", "1s"], &[("V", "v2")])
        .fails(4, "is locked by `deploy` (pid 4242 on other-ci)");
    let r = bed.flow(&["unlock"], &[]);
    r.ok();
    assert!(
        r.stdout.contains(&format!(
            "removed the deploy lock of `{}` (service {lock})",
            bed.bed.project
        )),
        "{}",
        r.stdout
    );
    assert_eq!(labels(), None);
    assert_eq!(bed.version(), "v1");

    // A run whose lock is taken from it (removed here, as a takeover after its heartbeat went
    // silent would) stops at its next safe point, having changed nothing.
    bed.bed
        .write(".docker-flow/hooks/pre-deploy", "#!/bin/sh\nsleep 8\n");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut c = bed.bed.command(
        std::path::Path::new("docker"),
        &["--context", CONTEXT, "flow", "deploy"],
    );
    c.env("V", "v3");
    let paused = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while labels().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the deploy never took the lock"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(swarm(&["service", "rm", &lock]).status.success());
    let out = paused.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("lost the project's deploy lock"), "{err}");
    assert_eq!(bed.version(), "v1");
    assert!(
        !swarm_words(&["service", "ls", "--format", "{{.Name}} {{.Image}}"])
            .iter()
            .any(|s| s.contains(&bed.bed.project) && s.contains(":v3")),
        "the run that lost its lock started its release"
    );
}

#[test]
fn on_the_swarm_a_target_without_a_healthcheck_is_probed_before_the_switch() {
    if !swarm_available() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bed = SwarmBed::new("swprobe", false);
    bed.without_healthcheck();
    bed.flow(&["deploy"], &[]).ok();
    assert_eq!(bed.version(), "v1");
    // Swarm runs v2's task as soon as its process starts, and it answers 503 for 4 s: the
    // switch waits until docker flow's probe sees it answer (a 503 under load fails the test).
    let r = bed.under_load(&["deploy"], &[("V", "v2"), ("DELAY", "4000")], "v2");
    assert!(
        r.stderr.contains("0/1 task(s) answering on port 8080"),
        "{}",
        r.stderr
    );
    // One that never answers is never switched to: the deploy fails saying why, v2 serves on,
    // and the failed colour's service is gone.
    let r = bed.flow(
        &["deploy", "--health-timeout", "20s"],
        &[("V", "v3"), ("HEALTH", "fail")],
    );
    r.fails(1, "did not answer within 20s");
    assert!(r.stderr.contains("503"), "{}", r.stderr);
    assert_eq!(bed.version(), "v2");
    let services = swarm_words(&["service", "ls", "--format", "{{.Name}} {{.Image}}"]);
    assert!(
        !services
            .iter()
            .any(|s| s.contains(&bed.bed.project) && s.contains(":v3")),
        "{services:?}"
    );
    // One that never runs (no node meets its constraint) fails saying where Swarm left it.
    let path = bed.bed.path().join("compose.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "    expose: [\"8080\"]\n",
        "    expose: [\"8080\"]\n    deploy:\n      placement:\n        constraints: [\"node.labels.dflow-nowhere == yes\"]\n",
    );
    std::fs::write(&path, text).unwrap();
    bed.flow(&["deploy", "--health-timeout", "3s"], &[("V", "v3")])
        .fails(1, "did not run within 3s (Swarm: pending, ");
    assert_eq!(bed.version(), "v2");
}

/// A drained node made active again, however the test ends.
struct Undrain(String);

impl Drop for Undrain {
    fn drop(&mut self) {
        let _ = swarm(&["node", "update", "--availability", "active", &self.0]);
    }
}

#[test]
fn a_node_drained_while_serving_hands_its_tasks_over_without_a_failed_request() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::new("swdrain", false);
    bed.flow(&["deploy", "--scale", "2"], &[]).ok();
    let worker = swarm_words(&["node", "ls", "-q", "--filter", "role=worker"]);
    let before = running_tasks(&bed.status());
    assert!(
        before.iter().any(|(_, n)| worker.contains(n)),
        "Swarm put no task on the worker: {before:?}"
    );
    // Swarm itself stops the worker's task (SIGTERM) and starts one on the manager, while 4
    // clients keep asking; no docker flow command runs: the follower moves the rotation.
    // Watched: when the worker's engine signals the task, and the route's record every 20 ms.
    let on_worker: Vec<String> = before
        .iter()
        .filter(|(_, n)| worker.contains(n))
        .map(|(name, _)| name.clone())
        .collect();
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 25)
        .to_string();
    let kills = Command::new("docker")
        .args([
            "-H",
            WORKER,
            "events",
            "--filter",
            "type=container",
            "--filter",
            "event=kill",
            "--until",
            &until,
            "--format",
            "{{.TimeNano}} {{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let helper = swarm_words(&[
        "inspect",
        "--format",
        "{{index .Config.Entrypoint 0}}",
        &bed.bed.proxy_name,
    ]);
    let record = format!("app.{}.dflow", bed.bed.project);
    let proxy = bed.bed.proxy_name.clone();
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watch = {
        let watching = watching.clone();
        std::thread::spawn(move || {
            let mut seen: Vec<(u128, String)> = Vec::new();
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                let out = swarm(&["exec", &proxy, &helper[0], "get", "/routes", &record]);
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                seen.push((at, String::from_utf8_lossy(&out.stdout).to_string()));
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        })
    };
    let load = bed.load();
    std::thread::sleep(Duration::from_millis(500));
    let _undrain = Undrain(worker[0].clone());
    assert!(
        swarm(&["node", "update", "--availability", "drain", &worker[0]])
            .status
            .success()
    );
    let moved = bed.wait_status(60, |s| {
        let now = running_tasks(s);
        now.len() == 2 && now.iter().all(|(_, n)| !worker.contains(n)) && routed_as_running(s)
    });
    assert!(
        moved.is_some(),
        "the tasks and the rotation did not move off the drained node within a minute"
    );
    let moved_after = load.started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let stats = load.stop();
    watching.store(false, std::sync::atomic::Ordering::SeqCst);
    let records = watch.join().unwrap();
    let kills = String::from_utf8_lossy(&kills.wait_with_output().unwrap().stdout).to_string();
    // Each task Swarm stopped on the worker left the record before its engine signalled it.
    for task in &on_worker {
        let signalled: u128 = kills
            .lines()
            .find(|l| l.contains(task.as_str()))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no kill of {task} on the worker:\n{kills}"));
        let left = records
            .iter()
            .find(|(_, members)| !members.is_empty() && !members.contains(task.as_str()))
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("{task} never left the record"));
        eprintln!(
            "{task}: left the rotation {:.0} ms before its SIGTERM",
            (signalled as f64 - left as f64) / 1e6
        );
        assert!(
            left < signalled,
            "{task} left the record {} ms after its SIGTERM",
            (left - signalled) / 1_000_000
        );
    }
    eprintln!(
        "node drained: {} requests, the rotation moved within {moved_after:?}: {} failed, max latency {:?}",
        stats.total(),
        stats.failed().len(),
        stats.max_latency()
    );
    assert!(stats.total() > 50, "{}", stats.summary());
    assert!(stats.failed().is_empty(), "{}", stats.summary());
    assert_eq!(bed.version(), "v1");
}

#[test]
fn an_image_pushed_to_a_registry_the_nodes_trust_is_pulled_by_the_worker_and_one_not_pushed_is_refused(
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::new("swreg", true);
    // v1 pushed (through the manager) under a name of this project's, which no node has loaded.
    let registry = format!("{REGISTRY}/{}/", bed.bed.project);
    let v1 = format!("{registry}demo-service:v1");
    for step in [vec!["tag", "demo-service:v1", &v1], vec!["push", &v1]] {
        let out = swarm(&step);
        assert!(
            out.status.success(),
            "{step:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = swarm(&["image", "rm", &v1]);
    // Pulled at its digest, the worker keeps it without the tag: look for the repository.
    let repository = format!("{registry}demo-service");
    let on_worker = || {
        !support::docker_words_at(&["-H", WORKER], &["image", "ls", "-q", &repository]).is_empty()
    };
    assert!(!on_worker(), "the worker has {v1} before the deploy");
    // The registry speaks plain HTTP: docker flow asks it as the nodes pull from it (a check
    // without `--insecure` finds no manifest there and refuses the image).
    let env = [("REGISTRY", registry.as_str())];
    bed.flow(&["deploy", "--pull", "missing"], &env).ok();
    assert_eq!(bed.version(), "v1");
    assert!(on_worker(), "the worker's task did not pull {v1}");
    let s = bed.status();
    assert_eq!(running_tasks(&s).len(), 1, "{s}");
    // The service runs the image at its digest, so every node runs the same bytes.
    let spec = swarm_words(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        &format!("{}_app-blue", bed.bed.project),
    ]);
    assert!(
        spec.first()
            .is_some_and(|i| i.starts_with(&v1) && i.contains("@sha256:")),
        "{spec:?}"
    );
    // v2 was never pushed there: refused before anything changes, naming the image.
    bed.flow(
        &["deploy", "--pull", "missing"],
        &[("REGISTRY", registry.as_str()), ("V", "v2")],
    )
    .fails(
        3,
        &format!(
            "`{registry}demo-service:v2` is not in a registry the swarm's nodes can pull it from"
        ),
    );
    assert!(bed.services("app-green").is_empty());
    assert_eq!(bed.version(), "v1");
    // With --pull never nothing asks the registry: the worker cannot start the image, and the
    // deploy ends with Swarm's reason, leaving no new colour and v1 serving.
    bed.flow(
        &["deploy", "--pull", "never"],
        &[("REGISTRY", registry.as_str()), ("V", "v2")],
    )
    .fails(1, "No such image");
    assert!(bed.services("app-green").is_empty());
    assert_eq!(bed.version(), "v1");
}

#[test]
fn the_proxy_as_a_service_serves_on_every_node_switches_without_a_failed_request_and_a_replaced_replica_gets_its_routes_by_itself(
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::with_proxy_service("swsvc", true);
    // Certificates from an ACME CA (the default for a domain) would differ from replica to
    // replica, and the CA's challenge could reach another one: refused before anything changes.
    bed.flow(&["deploy", "--service-domain", "svc.test"], &[])
        .fails(
            2,
            "HTTPS from an ACME CA is not available with the proxy as a Swarm service",
        );
    assert!(bed.services("").is_empty());
    // A proxy container at the proxy's name (the project's proxy before --proxy-replicas) would
    // hold the manager's ports: refused, naming it.
    let run = swarm(&[
        "run",
        "-d",
        "--name",
        &bed.bed.proxy_name,
        "demo-service:v1",
    ]);
    assert!(run.status.success());
    bed.flow(&["deploy"], &[])
        .fails(3, "stands where the proxy service's replicas would serve");
    assert!(swarm(&["rm", "-f", &bed.bed.proxy_name]).status.success());
    bed.flow(&["deploy"], &[]).ok();
    // One replica on each node (host-mode ports), from the image docker flow pushed.
    for host in [MANAGER_IP, WORKER_IP] {
        assert_eq!(bed.version_at(host).as_deref(), Some("v1"), "{host}");
    }
    let image = swarm_words(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        &bed.bed.proxy_name,
    ]);
    assert!(
        image
            .first()
            .is_some_and(|i| i.starts_with(&format!("{REGISTRY}/docker-flow-proxy:"))),
        "{image:?}"
    );
    // The control surface: the service publishes the proxy's two ports and nothing else,
    // Caddy's admin API listens on each replica's loopback, and no service of the project is
    // on the control network (only the follower and the replicas).
    let proxy = &bed.bed.proxy_name;
    let inspect = |format: &str| swarm_words(&["service", "inspect", "--format", format, proxy]);
    assert_eq!(
        inspect("{{range .Endpoint.Spec.Ports}}{{.TargetPort}}:{{.PublishedPort}}:{{.PublishMode}} {{end}}"),
        [
            format!("80:{}:host", bed.bed.http_port),
            format!("443:{}:host", bed.bed.https_port)
        ]
    );
    assert!(
        inspect("{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{.}} {{end}}")
            .contains(&"CADDY_ADMIN=127.0.0.1:2019".to_string())
    );
    let control = swarm_words(&[
        "network",
        "inspect",
        "--format",
        "{{.Id}}",
        &format!("{proxy}-control"),
    ]);
    assert_eq!(control.len(), 1, "{control:?}");
    assert!(
        inspect("{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}").contains(&control[0])
    );
    for service in bed.services("") {
        let networks = swarm_words(&[
            "service",
            "inspect",
            "--format",
            "{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}",
            &service,
        ]);
        assert!(
            !networks.is_empty() && !networks.contains(&control[0]),
            "{service}: {networks:?}"
        );
    }
    // A redeploy under load on both nodes: the follower's switch reaches both replicas, and the
    // drain waits for both.
    bed.under_load_on_both_nodes(&["deploy"], &[("V", "v2")], "v2");
    // The worker's replica killed: Swarm starts another, which gets the routes and records from
    // the follower with no docker flow run, and serves v2.
    let replica = support::docker_words_at(
        &["-H", WORKER],
        &[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={}", bed.bed.proxy_name),
        ],
    );
    assert_eq!(replica.len(), 1, "{replica:?}");
    let killed = support::docker_at(&["-H", WORKER], &["rm", "-f", &replica[0]]);
    assert!(killed.status.success());
    let back = (0..150).find_map(|_| {
        std::thread::sleep(Duration::from_millis(200));
        let now = support::docker_words_at(
            &["-H", WORKER],
            &[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.swarm.service.name={}", bed.bed.proxy_name),
            ],
        );
        (now.first().is_some_and(|c| *c != replica[0]))
            .then(|| bed.version_at(WORKER_IP))
            .flatten()
    });
    assert_eq!(
        back.as_deref(),
        Some("v2"),
        "the replaced replica does not serve"
    );
    assert_eq!(bed.version_at(MANAGER_IP).as_deref(), Some("v2"));
    // Within --keep-old a rollback swaps the warm colour back in first thing, through the
    // follower (which takes Swarm's word that the warm tasks run), under load on both nodes.
    bed.flow(&["deploy", "--keep-old", "5m"], &[("V", "v3")])
        .ok();
    let (r, first) = bed.under_load_on_both_nodes(&["rollback"], &[], "v2");
    assert!(
        r.stderr.contains("switched back first thing"),
        "{}",
        r.stderr
    );
    eprintln!("rollback within --keep-old: first v2 answer on each node {first:?} after the command started");
    // Certificate files reach every replica as Swarm secrets, mounted where the config loads
    // them; files of new content are new secrets, and those no route loads any more go.
    // What each node's replica answers on HTTPS to a client that trusts `pem` only, asked up
    // to `tries` times.
    let https = |pem: &str, tries: usize| -> Vec<Option<String>> {
        [MANAGER_IP, WORKER_IP]
            .iter()
            .map(|host| {
                let client =
                    support::load::Https::new(bed.bed.https_port, "svc.test", pem.as_bytes())
                        .at(host);
                (0..tries).find_map(|_| match client.get(&bed.path) {
                    Ok((200, body)) => body.split_whitespace().next().map(String::from),
                    _ => {
                        std::thread::sleep(Duration::from_millis(300));
                        None
                    }
                })
            })
            .collect()
    };
    // The certificate files' secrets (not the control network's key).
    let secrets = || {
        let mut all = swarm_words(&[
            "secret",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            &format!("label=io.docker-flow.proxy={}", bed.bed.proxy_name),
        ]);
        all.retain(|s| !s.starts_with(&format!("{}-control-", bed.bed.proxy_name)));
        all
    };
    let mut pems = Vec::new();
    for round in 0..3 {
        let cert = rcgen::generate_simple_self_signed(vec!["svc.test".to_string()]).unwrap();
        bed.bed.write("cert.pem", &cert.cert.pem());
        bed.bed.write("key.pem", &cert.signing_key.serialize_pem());
        bed.flow(
            &[
                "proxy",
                "--service-domain",
                "svc.test",
                "--tls-cert",
                "cert.pem",
                "--tls-key",
                "key.pem",
            ],
            &[],
        )
        .ok();
        let pem = cert.cert.pem();
        assert_eq!(
            https(&pem, 100),
            [Some("v2".to_string()), Some("v2".to_string())],
            "round {round}: HTTPS with the files on both nodes' replicas"
        );
        pems.push(pem);
        // This pair and the one before it (named by the config until this change) are mounted.
        assert_eq!(
            secrets().len(),
            2 * (round + 1).min(2),
            "round {round}: {:?}",
            secrets()
        );
    }
    // The first pair is gone: no replica presents it any more.
    assert_eq!(https(&pems[0], 1), [None, None]);
    // `--tls internal`: every replica issues from the one root docker flow made, which anyone
    // who can ask the manager reads from a Swarm config; another run keeps that root.
    let internal = || {
        bed.flow(
            &["proxy", "--service-domain", "svc.test", "--tls", "internal"],
            &[],
        )
        .ok();
    };
    internal();
    let label = format!("label=io.docker-flow.proxy={}", bed.bed.proxy_name);
    let roots = swarm_words(&["config", "ls", "--format", "{{.Name}}", "--filter", &label]);
    assert_eq!(roots.len(), 1, "{roots:?}");
    let root = swarm(&[
        "config",
        "inspect",
        "--format",
        "{{printf \"%s\" .Spec.Data}}",
        &roots[0],
    ]);
    let root = String::from_utf8(root.stdout).unwrap();
    assert!(root.contains("BEGIN CERTIFICATE"), "{root}");
    assert_eq!(
        https(&root, 100),
        [Some("v2".to_string()), Some("v2".to_string())],
        "HTTPS from the shared local CA on both nodes' replicas"
    );
    let mounted = secrets();
    internal();
    assert_eq!(
        swarm_words(&["config", "ls", "--format", "{{.Name}}", "--filter", &label]),
        roots
    );
    assert_eq!(secrets(), mounted);
    // Another count is applied to the service.
    bed.flow(&["proxy", "--proxy-replicas", "1"], &[]).ok();
    let replicas = swarm_words(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.Mode.Replicated.Replicas}}",
        &bed.bed.proxy_name,
    ]);
    assert_eq!(replicas, ["1"]);
}

#[test]
fn with_the_proxy_as_a_service_a_container_on_the_control_network_cannot_read_the_state_report_or_pass_for_the_follower(
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::with_proxy_service("swctl", false);
    bed.flow(&["deploy"], &[]).ok();
    for host in [MANAGER_IP, WORKER_IP] {
        assert_eq!(bed.version_at(host).as_deref(), Some("v1"), "{host}");
    }
    let proxy = bed.bed.proxy_name.clone();
    let (follower, control) = (format!("{proxy}-follow"), format!("{proxy}-control"));
    let helper = swarm_words(&["inspect", "--format", "{{.Config.Image}}", &follower]);
    let follower_ip = swarm_words(&[
        "inspect",
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{control}\").IPAddress}}}}"),
        &follower,
    ]);
    let at = format!("{}:2020", follower_ip[0]);
    // A container that joins the control network and asks the follower as a replica would,
    // with a body of its own (the helper's `admin` sends stdin).
    let ask = |path: &str, body: &str| -> String {
        let mut c = std::process::Command::new("docker");
        c.args([
            "--context",
            CONTEXT,
            "run",
            "--rm",
            "-i",
            "--network",
            &control,
        ])
        .args([&helper[0], "admin", &at, "POST", path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let state = ask("/state", "\nchallenge");
    assert!(state.starts_with("403 "), "{state}");
    assert!(
        !state.contains(&bed.bed.project),
        "the state leaked: {state}"
    );
    // A report that every replica has run the current state for long with nothing in flight
    // would end a drain early: refused.
    let report = ask("/report", "hash 0\napplied 99999\n[]");
    assert!(report.starts_with("403 "), "{report}");
    // An impostor at the follower's name (the follower stopped) with a config of its own: the
    // replicas, restarted, refuse its state, and serve again once the follower is back.
    assert!(swarm(&["stop", &follower]).status.success());
    let impostor = format!("{proxy}-impostor");
    let run = swarm(&[
        "run",
        "-d",
        "--name",
        &impostor,
        "--network",
        &control,
        "--network-alias",
        &follower,
        "--tmpfs",
        "/r",
        &helper[0],
        "follow",
        "/r",
        "/nowhere.sock",
        "--serve",
        "0.0.0.0:2020",
        "127.0.0.1:2019",
    ]);
    assert!(run.status.success(), "{run:?}");
    let pwned = r#"{"apps":{"http":{"servers":{"s":{"listen":[":80"],"routes":[{"handle":[{"handler":"static_response","body":"pwned"}]}]}}}}}"#;
    let mut c = std::process::Command::new("docker");
    c.args(["--context", CONTEXT, "exec", "-i", &impostor])
        .args(["/helper", "admin", "127.0.0.1:2019", "POST", "/config/"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(pwned.as_bytes())
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    assert!(swarm(&["service", "update", "--force", "--detach", &proxy])
        .status
        .success());
    // Long enough for both replicas to be replaced and to have asked the impostor.
    let mut asked = false;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(500));
        for host in [MANAGER_IP, WORKER_IP] {
            let seen = support::load::get((host, bed.bed.http_port), "/");
            assert!(
                !seen
                    .as_ref()
                    .is_some_and(|(_, body)| body.contains("pwned")),
                "{host} serves the impostor's config"
            );
        }
        // What each node's replica says (`docker service logs` does not return on this bed).
        let refused: Vec<bool> = [["--context", CONTEXT], ["-H", WORKER]]
            .iter()
            .map(|on| {
                let tasks = support::docker_words_at(
                    on,
                    &[
                        "ps",
                        "-q",
                        "--filter",
                        &format!("label=com.docker.swarm.service.name={proxy}"),
                    ],
                );
                tasks.iter().any(|task| {
                    let logs = support::docker_at(on, &["logs", task]);
                    String::from_utf8_lossy(&logs.stderr).contains("no state from the follower")
                })
            })
            .collect();
        if refused == [true, true] {
            asked = true;
            break;
        }
    }
    assert!(asked, "the replicas never refused the impostor");
    assert!(swarm(&["rm", "-f", &impostor]).status.success());
    assert!(swarm(&["start", &follower]).status.success());
    for host in [MANAGER_IP, WORKER_IP] {
        let back = (0..100).find_map(|_| {
            std::thread::sleep(Duration::from_millis(300));
            bed.version_at(host)
        });
        assert_eq!(back.as_deref(), Some("v1"), "{host}");
    }
}

#[test]
fn two_projects_giving_the_proxy_service_certificate_files_at_once_keep_each_others() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let a = SwarmBed::with_proxy_service("swcfa", false);
    let b = SwarmBed::sharing_proxy_of("swcfb", &a);
    a.flow(&["deploy"], &[]).ok();
    b.flow(&["deploy"], &[]).ok();
    let mut pems = Vec::new();
    for (bed, domain) in [(&a, "a.test"), (&b, "b.test")] {
        let cert = rcgen::generate_simple_self_signed(vec![domain.to_string()]).unwrap();
        bed.bed.write("cert.pem", &cert.cert.pem());
        bed.bed.write("key.pem", &cert.signing_key.serialize_pem());
        pems.push(cert.cert.pem());
    }
    // Both at once: each gives the replicas its files (a rolling restart) before it writes its
    // route; neither may take off the other's, given and not yet in the config.
    let tls = [
        "proxy",
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
        "--service-domain",
    ];
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.flow(&[&tls[..], &["a.test"]].concat(), &[]));
        let hb = s.spawn(|| b.flow(&[&tls[..], &["b.test"]].concat(), &[]));
        (ha.join().unwrap(), hb.join().unwrap())
    });
    ra.ok();
    rb.ok();
    // Each project's domain on HTTPS with its own certificate, on both nodes' replicas: now,
    // and from replicas started afresh (which load the whole config, every file it names).
    let serves = |what: &str| {
        for (bed, domain, pem) in [(&a, "a.test", &pems[0]), (&b, "b.test", &pems[1])] {
            for host in [MANAGER_IP, WORKER_IP] {
                let client =
                    support::load::Https::new(a.bed.https_port, domain, pem.as_bytes()).at(host);
                let got = (0..100).find_map(|_| match client.get(&bed.path) {
                    Ok((200, body)) => Some(body),
                    _ => {
                        std::thread::sleep(Duration::from_millis(300));
                        None
                    }
                });
                assert!(
                    got.as_deref().is_some_and(|b| b.starts_with("v1")),
                    "{what}: {domain} on {host}: {got:?}"
                );
            }
        }
    };
    serves("after both runs");
    assert!(swarm(&["service", "update", "--force", &a.bed.proxy_name])
        .status
        .success());
    serves("from replicas started afresh");
}

#[test]
fn with_the_proxy_as_a_service_a_worker_whose_daemon_is_killed_leaves_the_managers_replica_serving_and_deploys_go_on(
) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::with_proxy_service("swsvckill", false);
    bed.flow(&["deploy", "--scale", "2"], &[]).ok();
    for host in [MANAGER_IP, WORKER_IP] {
        assert_eq!(bed.version_at(host).as_deref(), Some("v1"), "{host}");
    }
    let worker = swarm_words(&["node", "ls", "-q", "--filter", "role=worker"]);
    let nodes =
        |s: &Value| -> Vec<String> { running_tasks(s).into_iter().map(|(_, n)| n).collect() };
    // The worker's dockerd killed under 4 clients on the manager's replica.
    let load = bed.load();
    std::thread::sleep(Duration::from_millis(500));
    let _revive = lose_the_worker(Loss::Killed);
    let replaced = bed.wait_status(60, |s| {
        let now = nodes(s);
        now.len() == 2 && now.iter().all(|n| !worker.contains(n))
    });
    assert!(
        replaced.is_some(),
        "Swarm did not replace the lost task within a minute"
    );
    assert!(
        bed.wait_status(10, routed_as_running).is_some(),
        "the record did not follow Swarm's tasks: {}",
        bed.status()
    );
    let stats = load.stop();
    eprintln!(
        "proxy service, worker's daemon killed: {} (manager's replica)",
        stats.summary()
    );
    assert!(stats.total() > 50, "{}", stats.summary());
    assert!(stats.failed().len() <= 4, "{}", stats.summary());
    // With the worker down, a deploy switches and drains on the replica that is left: the
    // lost one no longer counts once it stops reporting.
    let started = std::time::Instant::now();
    let r = bed.under_load(&["deploy"], &[("V", "v2")], "v2");
    let took = started.elapsed();
    assert!(
        r.stderr
            .contains("1 of the proxy service's 2 replicas cannot be placed now"),
        "{}",
        r.stderr
    );
    eprintln!("deploy with the worker down: {took:?}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    // The worker back: Swarm runs its replica there again, which gets the routes and serves v2.
    drop(_revive);
    let back = (0..150).find_map(|_| {
        std::thread::sleep(Duration::from_millis(400));
        bed.version_at(WORKER_IP).filter(|v| v == "v2")
    });
    assert_eq!(
        back.as_deref(),
        Some("v2"),
        "the worker's replica did not serve v2 after the worker came back"
    );
}

#[test]
fn a_foreign_container_at_the_followers_name_is_refused_and_left_alone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::new("foreignfollow", false);
    let name = format!("{}-follow", bed.bed.proxy_name);
    let run = swarm(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "demo-service:v1",
    ]);
    assert!(run.status.success(), "{run:?}");
    let id = String::from_utf8_lossy(&run.stdout).trim().to_string();
    let r = bed.flow(&["deploy"], &[]);
    let inspect = swarm_words(&["inspect", "-f", "{{.Id}} {{.State.Running}}", &name]);
    let _ = swarm(&["rm", "-f", &name]);
    r.fails(3, "is not docker flow's follower");
    assert_eq!(
        inspect,
        [id, "true".to_string()],
        "the container was touched"
    );
    assert!(
        bed.services("").is_empty(),
        "the refused deploy changed the swarm"
    );
}

#[test]
fn on_the_swarm_a_first_deploy_runs_the_replicas_the_stack_asks_for() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !swarm_available() {
        return;
    }
    let bed = SwarmBed::new("swreplicas", false);
    let path = bed.bed.path().join("compose.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "    expose: [\"8080\"]\n",
        "    expose: [\"8080\"]\n    deploy:\n      replicas: 2\n",
        1,
    );
    std::fs::write(&path, text).unwrap();
    bed.flow(&["deploy"], &[]).ok();
    assert_eq!(bed.replicas("app-blue"), "2");
    assert_eq!(bed.version(), "v1");
}
