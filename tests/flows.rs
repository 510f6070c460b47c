//! The flows end to end on the real engine, behind a real Caddy, under load where a service is
//! live: every deploy, scale and rollback drops no request and stalls none.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::load::{no_drop, Load, Stats};
use support::{Bed, Run};

/// Runs `f` under 4 clients of load through the proxy and returns what they saw.
fn under_load(bed: &Bed, f: impl FnOnce() -> Run) -> (Run, Stats, Duration) {
    let load = Load::start(bed.http_port, "/demo", 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let run = f();
    let switched = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    (run, load.stop(), switched)
}

/// Starts `docker-flow ARGS` with `env` and returns once its deploy step has started (it holds
/// the project's lock then): the run, and a thread that collects its stderr until it ends.
fn spawn_into_deploy_step(
    bed: &Bed,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    let mut c = bed.command(
        std::path::Path::new(env!("CARGO_BIN_EXE_docker-flow")),
        args,
    );
    c.envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut run = c.spawn().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = run.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("==> deploy") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{args:?} never started its deploy step"));
    (run, reader)
}

fn status(bed: &Bed) -> Value {
    let r = bed.flow(&["status", "--format", "json"]);
    r.ok();
    r.json()
}

fn instances(s: &Value, color: &str) -> Vec<Value> {
    s["colors"][color]["instances"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn running(s: &Value, color: &str) -> usize {
    instances(s, color)
        .iter()
        .filter(|i| i["state"] == "running")
        .count()
}

fn container_started_at(name: &str) -> String {
    let o = std::process::Command::new("docker")
        .args(["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn blue_green_deploy_switches_without_dropping_a_request() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("bg", 2000);
    let files_before: Vec<Vec<u8>> = ["compose.yaml", "docker-flow.yml"]
        .iter()
        .map(|f| std::fs::read(bed.path().join(f)).unwrap())
        .collect();
    bed.flow(&["deploy"]).ok();
    let s = status(&bed);
    assert_eq!(s["live_color"], "blue", "the first deploy is blue");
    assert_eq!(running(&s, "blue"), 1);
    assert_eq!(bed.version_at("/demo"), "v1");
    let db = format!("{}-db-1", bed.project);
    let db_before = container_started_at(&db);
    assert!(!db_before.is_empty(), "the side target was not started");

    bed.env("V", "v2");
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["deploy"]));
    run.ok();
    no_drop(&stats, switched, "v2");
    eprintln!("deploy blue->green under load: {}", stats.summary());
    let s = status(&bed);
    assert_eq!(s["project"], bed.project.as_str());
    assert_eq!(s["target"], "app");
    assert_eq!(s["blue_green"], true);
    assert_eq!(s["live_color"], "green");
    assert_eq!(running(&s, "green"), 1);
    let blue = instances(&s, "blue");
    assert_eq!(blue.len(), 1, "the old colour was removed: {s}");
    assert_eq!(blue[0]["state"], "exited", "the old colour still runs");
    assert_eq!(instances(&s, "green")[0]["image"], "demo-service:v2");
    let route = &s["proxy"]["routes"][0];
    assert_eq!(route["paths"], serde_json::json!(["/demo"]));
    assert_eq!(route["https"], false, "a path-only route is on HTTP only");
    assert_eq!(
        route["upstreams"],
        serde_json::json!([format!("{}-app-green-1:8080", bed.project)])
    );
    assert_eq!(
        container_started_at(&db),
        db_before,
        "the side target was recreated or restarted"
    );
    let files_after: Vec<Vec<u8>> = ["compose.yaml", "docker-flow.yml"]
        .iter()
        .map(|f| std::fs::read(bed.path().join(f)).unwrap())
        .collect();
    assert_eq!(files_before, files_after, "a user file changed");
    let mut names: Vec<String> = std::fs::read_dir(bed.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["compose.yaml", "docker-flow.yml"],
        "docker flow wrote into the project directory"
    );

    // Rollback: the previous colour, started again, not redeployed.
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["rollback", "--format", "json"]));
    run.ok();
    no_drop(&stats, switched, "v1");
    let summary = run.json();
    assert_eq!(summary["command"], "rollback");
    assert!(
        summary["durations"]["rollback"].as_f64().is_some(),
        "{summary}"
    );
    assert!(
        summary["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_str().unwrap().contains("rolled back to blue")),
        "{summary}"
    );
    eprintln!(
        "rollback under load: {} ({})",
        stats.summary(),
        run.stdout.trim()
    );
    let s = status(&bed);
    assert_eq!(s["live_color"], "blue");
    assert_eq!(instances(&s, "green")[0]["state"], "exited");
    assert_eq!(bed.version_at("/demo"), "v1");
    assert_eq!(container_started_at(&db), db_before);
}

#[test]
fn scaling_is_relative_and_never_drops_a_request() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("scale", 2000);
    bed.flow(&["deploy"]).ok();
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["scale", "+2"]));
    run.ok();
    no_drop(&stats, switched, "v1");
    eprintln!("scale +2 under load: {}", stats.summary());
    let s = status(&bed);
    assert_eq!(running(&s, "blue"), 3);
    assert_eq!(
        s["proxy"]["routes"][0]["upstreams"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["scale", "-1"]));
    run.ok();
    no_drop(&stats, switched, "v1");
    assert_eq!(running(&status(&bed), "blue"), 2);
    // The seed's style, with --scale and the flow steps.
    let (run, stats, switched) = under_load(&bed, || {
        bed.flow(&["--scale=-5", "--flow=scale", "--flow=proxy"])
    });
    run.ok();
    no_drop(&stats, switched, "v1");
    assert!(
        run.stderr.contains("warning:") && run.stderr.contains("keeping 1"),
        "{}",
        run.stderr
    );
    assert_eq!(running(&status(&bed), "blue"), 1);
    bed.flow(&["scale", "5"]).ok();
    let s = status(&bed);
    assert_eq!(running(&s, "blue"), 5);
    assert!(
        instances(&s, "blue")
            .iter()
            .all(|i| i["image"] == "demo-service:v1"),
        "{s}"
    );
    // The next deploy inherits the live scale.
    bed.env("V", "v2");
    bed.flow(&["deploy"]).ok();
    let s = status(&bed);
    assert_eq!((running(&s, "green"), running(&s, "blue")), (5, 0));
    assert_eq!(bed.version_at("/demo"), "v2");
}

#[test]
fn seed_staging_deploys_beside_the_live_release_then_promotes() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("stage", 0);
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2");
    bed.flow(&["--flow=deploy"]).ok();
    let s = status(&bed);
    assert_eq!(
        (running(&s, "blue"), running(&s, "green")),
        (1, 1),
        "both colours should run: {s}"
    );
    assert_eq!(
        s["live_color"], "blue",
        "the proxy must stay on the old colour"
    );
    assert_eq!(bed.version_at("/demo"), "v1");
    // A second staging deploy replaces the unpromoted colour.
    bed.env("V", "v3");
    bed.flow(&["--flow=deploy", "--flow=scale"]).ok();
    let s = status(&bed);
    assert_eq!(instances(&s, "green").len(), 1);
    assert_eq!(instances(&s, "green")[0]["image"], "demo-service:v3");
    bed.flow(&["--flow=proxy", "--flow=stop-old"]).ok();
    let s = status(&bed);
    assert_eq!(s["live_color"], "green");
    assert_eq!(running(&s, "blue"), 0);
    assert_eq!(bed.version_at("/demo"), "v3");
}

#[test]
fn unhealthy_or_slow_releases_abort_and_the_live_one_keeps_serving() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("health", 0);
    // A first deploy that fails says that nothing serves, not that a live release does.
    let first = bed.flow_env(&["deploy", "--health-timeout", "5s"], &[("HEALTH", "fail")]);
    first.fails(1, "nothing serves: no release of it was live before");
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2").env("HEALTH", "fail");
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["deploy"]));
    run.fails(1, "is unhealthy");
    assert!(
        run.stderr.contains("the live release keeps serving"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("last health check output") || run.stderr.contains("last log lines"),
        "{}",
        run.stderr
    );
    no_drop(&stats, switched, "v1");
    let s = status(&bed);
    assert_eq!(
        instances(&s, "green").len(),
        0,
        "the failed release was not removed: {s}"
    );
    assert_eq!(s["live_color"], "blue");
    assert_eq!(bed.version_at("/demo"), "v1");

    // Slower to start than --health-timeout.
    let mut slow = Bed::demo("slow", 0);
    slow.flow(&["deploy"]).ok();
    slow.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:v2\n    environment:\n      STARTUP_DELAY_MS: \"20000\"\n    expose: [\"8080\"]\n    healthcheck:\n      test: [\"CMD\", \"/demo-service\", \"healthcheck\"]\n      interval: 1s\n      start_period: 60s\n  db:\n    image: demo-service:v1\n    environment:\n      VERSION: db\n",
            slow.project
        ),
    );
    slow.env("FLOW_HEALTH_TIMEOUT", "3s");
    let r = slow.flow(&["deploy"]);
    r.fails(1, "did not become healthy within 3s");
    let s = status(&slow);
    assert_eq!(instances(&s, "green").len(), 0);
    assert_eq!(slow.version_at("/demo"), "v1");

    // A release that crashes at start.
    slow.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:v2\n    environment:\n      CRASH: start\n    expose: [\"8080\"]\n  db:\n    image: demo-service:v1\n",
            slow.project
        ),
    );
    let r = slow.flow(&["deploy"]);
    r.fails(1, "exited with code 3");
    assert!(
        r.stderr.contains("crashing at start"),
        "the log lines are missing:\n{}",
        r.stderr
    );
    assert_eq!(slow.version_at("/demo"), "v1");
}

#[test]
fn a_plain_deploy_replaces_the_containers_without_dropping_a_request() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("plain", 2000);
    bed.env("FLOW_BLUE_GREEN", "false");
    bed.flow(&["deploy", "--scale", "2"]).ok();
    let s = status(&bed);
    assert_eq!(s["live_color"], Value::Null);
    assert_eq!(running(&s, "default"), 2);
    let old: Vec<String> = instances(&s, "default")
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    bed.env("V", "v2");
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["deploy"]));
    run.ok();
    no_drop(&stats, switched, "v2");
    eprintln!("plain deploy under load: {}", stats.summary());
    let s = status(&bed);
    let now = instances(&s, "default");
    assert_eq!(now.len(), 2, "old containers were not removed: {s}");
    assert!(now
        .iter()
        .all(|i| i["image"] == "demo-service:v2" && i["state"] == "running"));
    assert!(
        now.iter()
            .all(|i| !old.contains(&i["name"].as_str().unwrap().to_string())),
        "{s}"
    );
    // A plain target keeps its Compose name, its containers answer it: the proxy does not take
    // it on the project's network (it does for a blue-green one, whose containers are renamed).
    let nets = support::docker_words(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &bed.proxy_name,
    ]);
    assert!(
        !nets.contains(&format!("{}_default", bed.project)),
        "{nets:?}"
    );
}

/// Waits until some run holds the project's deploy lock.
fn wait_for_lock(bed: &Bed) {
    let lock = format!("docker-flow-lock-{}", bed.project);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !std::process::Command::new("docker")
        .args(["container", "inspect", &lock])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lock never appeared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_deploy_lock_admits_one_run_and_recovers_from_a_killed_holder() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("lock", 2000);
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2");
    let bin = env!("CARGO_BIN_EXE_docker-flow");
    let spawn = || {
        std::process::Command::new(bin)
            .arg("deploy")
            .current_dir(bed.path())
            .env("V", "v2")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    support::one_admitted(|| {
        let mut c = std::process::Command::new(bin);
        c.arg("deploy").current_dir(bed.path()).env("V", "v2");
        c
    });
    assert_eq!(bed.version_at("/demo"), "v2");

    // A holder stopped (SIGSTOP: a long build, a paused laptop) still holds the lock: nothing
    // guesses from its age or its process id.
    let victim = spawn();
    wait_for_lock(&bed);
    let signal = |sig: &str, pid: u32| {
        assert!(std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP", victim.id());
    std::thread::sleep(Duration::from_secs(3));
    bed.flow(&["deploy"])
        .fails(4, "is locked by `deploy,proxy,stop-old`");
    // Killed (SIGKILL), the lock goes with it: the next run has it within 2 s.
    signal("-KILL", victim.id());
    victim.wait_with_output().unwrap();
    let r = bed.flow(&["deploy", "--lock-wait", "2s"]);
    r.ok();
    // A lock whose labels name a dead process on this very host, but which runs (a run in
    // another PID namespace, a container with the same hostname): never taken over.
    let image = bed.docker(&[
        "images",
        "docker-flow-helper",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    let image = image.stdout.lines().next().unwrap().to_string();
    let lock = format!("docker-flow-lock-{}", bed.project);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    bed.docker(&[
        "run",
        "-d",
        "-i",
        "--name",
        &lock,
        "--label",
        "io.docker-flow.lock=true",
        "--label",
        &format!("io.docker-flow.lock.host={}", host.trim()),
        "--label",
        "io.docker-flow.lock.pid=999999",
        "--label",
        "io.docker-flow.lock.command=deploy",
        &image,
        "hold",
    ])
    .ok();
    bed.flow(&["deploy"])
        .fails(4, "is locked by `deploy` (pid 999999 on");
    // `docker flow unlock` removes it, and says what it removed.
    let r = bed.flow(&["unlock"]);
    r.ok();
    assert!(
        r.stdout.contains("removed the deploy lock of")
            && r.stdout.contains("`deploy` (pid 999999 on"),
        "{}",
        r.stdout
    );
    bed.flow(&["unlock"]).ok();
    assert!(bed.flow(&["unlock"]).stdout.contains("is not locked"));
    // A lock created a moment ago and not started yet (its holder's `docker run` between
    // creating and starting it) is being taken: not left over, never removed.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    bed.docker(&[
        "create",
        "--name",
        &lock,
        "--label",
        "io.docker-flow.lock=true",
        "--label",
        "io.docker-flow.lock.command=deploy",
        "--label",
        &format!("io.docker-flow.lock.since={now}"),
        &image,
        "hold",
    ])
    .ok();
    bed.flow(&["deploy"]).fails(4, "is locked by `deploy`");
    bed.docker(&["rm", "-f", &lock]).ok();
    // A container at the lock's name that is not a lock is never removed.
    bed.docker(&["create", "--name", &lock, &image, "hold"])
        .ok();
    bed.flow(&["deploy"]).fails(3, "is not docker flow's lock");
    bed.flow(&["unlock"]).fails(3, "is not docker flow's lock");
    bed.docker(&["rm", "-f", &lock]).ok();
    bed.flow(&["deploy"]).ok();
    // A scale while a deploy runs is refused the same way.
    let holder = spawn();
    wait_for_lock(&bed);
    let r = bed.flow(&["scale", "+1"]);
    r.fails(4, "is locked by `deploy,proxy,stop-old`");
    assert_eq!(holder.wait_with_output().unwrap().status.code(), Some(0));
    // A --lock-wait run waits for the holder instead of failing.
    let holder = spawn();
    wait_for_lock(&bed);
    let r = bed.flow(&["deploy", "--lock-wait", "60s"]);
    let holder = holder.wait_with_output().unwrap();
    assert_eq!(
        holder.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&holder.stderr)
    );
    r.ok();
}

/// Whether `ip:port` accepts a TCP connection from a fresh network namespace (bash's /dev/tcp;
/// the test's own fixed script).
fn reachable_from_elsewhere(addr: &str) -> bool {
    let (ip, port) = addr.rsplit_once(':').unwrap();
    let script = format!("exec 3<>/dev/tcp/{ip}/{port}");
    std::process::Command::new("unshare")
        .args(["--net", "timeout", "3", "bash", "-c", &script])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn without_a_healthcheck_the_probe_checks_from_inside_the_network() {
    if !support::engine_available() {
        return;
    }
    // docker flow runs in its own network namespace: like a client of a remote engine, it
    // reaches the daemon (here through its socket) but no container address.
    let bed = Bed::new("inside");
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      STARTUP_DELAY_MS: \"1500\"\n      HEALTH: ${{HEALTH:-ok}}\n      PORT: ${{PORT:-8080}}\n      BIND: ${{BIND:-0.0.0.0}}\n    expose: [\"8080\"]\n    healthcheck:\n      disable: true\n",
            bed.project
        ),
    );
    bed.write(
        "docker-flow.yml",
        "target: app\nblue_green: true\npull: missing\nproxy_driver: none\nhealth_timeout: 8s\n",
    );
    let elsewhere = |args: &[&str], env: &[(&str, &str)]| {
        let mut argv = vec!["--net", env!("CARGO_BIN_EXE_docker-flow")];
        argv.extend_from_slice(args);
        let mut c = bed.command(std::path::Path::new("unshare"), &argv);
        for (k, v) in env {
            c.env(k, v);
        }
        support::run(c)
    };
    elsewhere(&["deploy"], &[]).ok();
    let s = status(&bed);
    let blue = instances(&s, "blue");
    assert_eq!(blue[0]["health"], "none");
    assert_eq!(blue[0]["state"], "running");
    let ip = support::docker_words(&[
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        blue[0]["name"].as_str().unwrap(),
    ]);
    let addr = format!("{}:8080", ip[0]);
    assert!(
        !reachable_from_elsewhere(&addr),
        "{addr} is reachable from another namespace, so the test proves nothing"
    );
    // A release that never answers below 500 is refused with the probe's reason.
    let r = elsewhere(&["deploy"], &[("V", "v2"), ("HEALTH", "fail")]);
    r.fails(1, "did not become healthy");
    assert!(r.stderr.contains("answered 503"), "{}", r.stderr);
    // It listens where it should: no cause is made up.
    assert!(!r.stderr.contains("likely cause"), "{}", r.stderr);
    // An app on another port than the service port, or on its loopback only: the error says
    // so, from what listens in the instance.
    let r = elsewhere(
        &["deploy", "--health-timeout", "4s"],
        &[("V", "v2"), ("PORT", "3000")],
    );
    r.fails(1, "did not become healthy");
    assert!(
        r.stderr
            .contains("likely cause: nothing listens on port 8080")
            && r.stderr.contains("the app listens on 3000"),
        "{}",
        r.stderr
    );
    let r = elsewhere(
        &["deploy", "--health-timeout", "4s"],
        &[("V", "v2"), ("BIND", "127.0.0.1")],
    );
    r.fails(1, "did not become healthy");
    assert!(
        r.stderr
            .contains("likely cause: the app listens on 127.0.0.1:8080 only"),
        "{}",
        r.stderr
    );
    let s = status(&bed);
    assert_eq!(s["live_color"], "blue");
    assert!(instances(&s, "green").is_empty(), "{s}");
    // The probe leaves no container behind.
    let label = format!("label=io.docker-flow.probe={}_default", bed.project);
    let left = support::docker_words(&["ps", "-aq", "--filter", &label]);
    assert!(left.is_empty(), "probe containers left: {left:?}");
}

#[test]
fn health_without_a_healthcheck_and_rollback_without_containers() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("nohc", 0);
    // No Docker healthcheck: the port must answer (below 500) before the proxy sends traffic.
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      STARTUP_DELAY_MS: \"1500\"\n    expose: [\"8080\"]\n    healthcheck:\n      disable: true\n  db:\n    image: demo-service:v1\n",
            bed.project
        ),
    );
    bed.flow(&["deploy"]).ok();
    let s = status(&bed);
    assert_eq!(instances(&s, "blue")[0]["health"], "none");
    bed.env("V", "v2");
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["deploy", "--format", "json"]));
    run.ok();
    no_drop(&stats, switched, "v2");
    let summary = run.json();
    assert!(
        summary["durations"]["deploy"].as_f64().is_some()
            && summary["changes"].as_array().unwrap().len() >= 2,
        "{summary}"
    );
    // The previous release's containers removed by hand: rollback recreates it from its image.
    let blue = instances(&status(&bed), "blue");
    let names: Vec<&str> = blue.iter().map(|i| i["name"].as_str().unwrap()).collect();
    let mut rm = vec!["rm", "-f"];
    rm.extend(&names);
    assert!(std::process::Command::new("docker")
        .args(&rm)
        .status()
        .unwrap()
        .success());
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["rollback"]));
    run.ok();
    no_drop(&stats, switched, "v1");
    assert!(run.stderr.contains("from its image"), "{}", run.stderr);
    let s = status(&bed);
    assert_eq!(s["live_color"], "blue");
    assert_eq!(bed.version_at("/demo"), "v1");
}

#[test]
fn an_old_release_that_exits_at_once_or_ignores_sigterm_drops_no_request() {
    if !support::engine_available() {
        return;
    }
    // Real services often lack a graceful shutdown: some exit at once on SIGTERM, cutting the
    // requests they are serving; some ignore it and are killed at --drain-timeout. Every answer
    // takes 300 ms here, so requests are always in flight when the old release goes; POSTs
    // cannot be retried by the proxy, so none may be in flight to the old release when it stops.
    for mode in ["exit", "ignore"] {
        let mut bed = Bed::demo(&format!("sig{mode}"), 1000);
        let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
        bed.write(
            "compose.yaml",
            &compose.replace(
                "      HEALTH: ${HEALTH:-ok}\n",
                &format!("      HEALTH: ${{HEALTH:-ok}}\n      ON_SIGTERM: {mode}\n      RESPONSE_DELAY_MS: \"300\"\n"),
            ),
        );
        let settings = std::fs::read_to_string(bed.path().join("docker-flow.yml")).unwrap();
        bed.write(
            "docker-flow.yml",
            &settings.replace("drain_timeout: 10s", "drain_timeout: 3s"),
        );
        bed.flow(&["deploy"]).ok();
        bed.env("V", "v2");
        let max = Duration::from_secs(120);
        let gets = Load::start(bed.http_port, "/demo", 2, max);
        let posts = Load::start_with(bed.http_port, "POST", "/demo", 2, max);
        std::thread::sleep(Duration::from_millis(500));
        bed.flow(&["deploy"]).ok();
        let switched = gets.started.elapsed();
        if mode == "exit" {
            // Scaling down and rolling back stop instances the same way: out of rotation,
            // drained, then stopped.
            bed.flow(&["scale", "+1"]).ok();
            bed.flow(&["scale", "-1"]).ok();
        }
        std::thread::sleep(Duration::from_millis(500));
        for (method, stats) in [("GET", gets.stop()), ("POST", posts.stop())] {
            eprintln!("ON_SIGTERM={mode} {method}: {}", stats.summary());
            assert!(stats.total() > 10, "too little load: {}", stats.summary());
            assert!(
                stats.failed().is_empty(),
                "ON_SIGTERM={mode}: {method} requests failed: {}",
                stats.summary()
            );
            assert!(
                stats.max_latency() < Duration::from_secs(1),
                "ON_SIGTERM={mode}: a {method} stalled: {}",
                stats.summary()
            );
            assert_eq!(stats.stale_after("v2", switched), 0, "{}", stats.summary());
        }
    }
}

#[test]
fn progress_shows_each_step_and_spins_on_a_terminal() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::new("progress");
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      STARTUP_DELAY_MS: \"1500\"\n    expose: [\"8080\"]\n",
            bed.project
        ),
    );
    bed.write(
        "docker-flow.yml",
        "target: app\nblue_green: true\npull: missing\nproxy_driver: none\n",
    );
    // Not a terminal: each step, its duration, Compose's output under the step that ran it,
    // and the wait for health as plain lines.
    let r = bed.flow(&["deploy"]);
    r.ok();
    let err = &r.stderr;
    let at = |s: &str| err.find(s).unwrap_or_else(|| panic!("no `{s}` in:\n{err}"));
    let started = format!("Container {}-app-blue-1 Started", bed.project);
    assert!(at("==> deploy") < at(&started) && at(&started) < at("    deploy done in "));
    assert!(at("    waiting for health (0/1 ready") < at("    deploy done in "));
    assert!(at("==> proxy") < at("==> stop-old") && at("==> stop-old") < at("stop-old done in"));
    let durations = err.lines().filter(|l| l.contains(" done in ")).count();
    assert_eq!(durations, 3, "one duration per step:\n{err}");
    assert!(!err.contains('\r'), "redraws without a terminal:\n{err}");
    // On a terminal (script gives the run one): the waiting line is redrawn in place, spinning.
    let run = format!("{} deploy", env!("CARGO_BIN_EXE_docker-flow"));
    let mut c = bed.command(
        std::path::Path::new("script"),
        &["-qefc", &run, "/dev/null"],
    );
    c.env("V", "v2");
    let tty = support::run(c);
    tty.ok();
    assert!(
        ['|', '/', '-', '\\'].iter().any(|spin| tty
            .stdout
            .contains(&format!("\r\x1b[2K    {spin} waiting for health"))),
        "no spinner on a terminal:\n{:?}",
        tty.stdout
    );
}

#[test]
fn a_deploy_keeps_the_targets_mode_unless_told_to_switch_and_switches_without_dropping_a_request() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("mode", 0);
    bed.flow(&["deploy"]).ok();
    assert_eq!(bed.version_at("/demo"), "v1");
    // A plain deploy of a blue-green target would remove both colours: refused, nothing changed.
    let before = bed.engine_snapshot();
    bed.flow(&["deploy", "--blue-green=false"]).fails(
        2,
        "`app` runs blue-green, but blue_green is false (from --blue-green)",
    );
    bed.flow(&["scale", "+1", "--blue-green=false"])
        .fails(2, "runs blue-green");
    bed.flow(&["proxy", "--switch-mode"])
        .fails(2, "`--switch-mode` is not an option of `docker flow proxy`");
    bed.flow(&["--switch-mode", "proxy"])
        .fails(2, "--switch-mode converts a target by deploying it");
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");

    // The conversion to plain, under load: the colours go once the plain release serves.
    bed.env("V", "v2");
    let (run, stats, switched) = under_load(&bed, || {
        bed.flow(&["deploy", "--blue-green=false", "--switch-mode"])
    });
    run.ok();
    no_drop(&stats, switched, "v2");
    let coloured = |bed: &Bed| {
        bed.docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", bed.project),
            "--filter",
            "label=io.docker-flow.color",
        ])
        .stdout
        .split_whitespace()
        .count()
    };
    assert_eq!(coloured(&bed), 0, "the colours were not removed");
    // Plain now, `app` is its containers' own name again: the proxy gives it up on the
    // project's network (its alias and its route), and takes it back with blue-green below.
    let proxy_names = |bed: &Bed| {
        let aliases = support::docker_words(&[
            "inspect",
            "--format",
            &format!(
                "{{{{with index .NetworkSettings.Networks \"{}_default\"}}}}{{{{range .Aliases}}}}{{{{.}}}} {{{{end}}}}{{{{end}}}}",
                bed.project
            ),
            &bed.proxy_name,
        ]);
        let route = bed
            .proxy_admin("/config/")
            .unwrap_or_default()
            .contains(&format!("docker-flow.{}.app.name", bed.project));
        (aliases.contains(&"app".to_string()), route)
    };
    assert_eq!(proxy_names(&bed), (false, false));

    // Back to blue-green (the file says so): refused without the switch, converted with it.
    bed.flow(&["deploy"]).fails(
        2,
        "runs plain (without blue-green), but blue_green is true (from docker-flow.yml line 4)",
    );
    bed.env("V", "v3");
    let (run, stats, switched) = under_load(&bed, || bed.flow(&["deploy", "--switch-mode"]));
    run.ok();
    no_drop(&stats, switched, "v3");
    let s = status(&bed);
    assert_eq!(s["live_color"], "blue", "{s}");
    assert_eq!(proxy_names(&bed), (true, true));
    let plain = bed.docker(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("label=com.docker.compose.project={}", bed.project),
        "--filter",
        "label=io.docker-flow.target=app",
    ]);
    assert!(
        plain.stdout.lines().all(|n| n.contains("-app-blue-")),
        "a plain instance is left:\n{}",
        plain.stdout
    );
    // And it is a blue-green target again: the next deploy needs no switch.
    bed.flow(&["deploy"]).ok();
    assert_eq!(status(&bed)["live_color"], "green");
}

#[test]
fn the_probe_asks_the_health_path() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::new("hpath");
    // Every path but /health answers only after a minute (and the image's own healthcheck is
    // off, so docker flow's probe decides).
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:v1\n    healthcheck:\n      disable: true\n    environment:\n      RESPONSE_DELAY_MS: \"60000\"\n    expose: [\"8080\"]\n",
            bed.project
        ),
    );
    let deploy = |extra: &[&str]| {
        let mut a = vec![
            "deploy",
            "-t",
            "app",
            "--proxy-driver",
            "none",
            "--pull",
            "missing",
            "--health-timeout",
            "6s",
        ];
        a.extend_from_slice(extra);
        bed.flow(&a)
    };
    deploy(&[]).fails(1, "did not become healthy within 6s");
    deploy(&["--health-path", "/health"]).ok();
    deploy(&["--health-path", "/a b"]).fails(2, "which a path prefix may not");
}

#[test]
fn status_without_a_target_shows_every_target_of_the_project() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("every", 0);
    bed.flow(&["deploy"]).ok();
    // A second target, `worker`, deployed plain and without a proxy.
    let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
    bed.write(
        "compose.yaml",
        &format!("{compose}  worker:\n    image: demo-service:v1\n    expose: [\"8080\"]\n"),
    );
    bed.flow(&[
        "deploy",
        "-t",
        "worker",
        "--side-target",
        "",
        "--blue-green=false",
        "--proxy-driver",
        "none",
    ])
    .ok();
    let r = bed.flow(&["status", "-t", "", "--format", "json"]);
    r.ok();
    let all = r.json();
    let targets: Vec<(&str, bool)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["target"].as_str().unwrap(),
                s["blue_green"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(targets, [("app", true), ("worker", false)], "{all}");
    assert_eq!(all[0]["live_color"], "blue", "{all}");
    assert_eq!(
        all[1]["colors"]["default"]["instances"][0]["state"],
        "running"
    );
    let text = bed.flow(&["status", "-t", ""]);
    text.ok();
    assert!(
        text.stdout.contains("target app  live blue")
            && text.stdout.contains("target worker  live -"),
        "{}",
        text.stdout
    );
}

#[test]
fn no_deploy_scale_or_failure_removes_a_volume() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::new("vol");
    // `/data` is an anonymous volume, as an image's VOLUME is.
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:v1\n    environment:\n      HEALTH: ${{HEALTH:-ok}}\n    volumes: [\"/data\"]\n    expose: [\"8080\"]\n",
            bed.project
        ),
    );
    // The same options for every command: before the command, where every option is taken.
    let flow = |bed: &Bed, args: &[&str]| {
        let mut a = vec![
            "-t",
            "app",
            "--proxy-driver",
            "none",
            "--pull",
            "missing",
            "--health-timeout",
            "5s",
        ];
        a.extend_from_slice(args);
        bed.flow(&a)
    };
    // Every anonymous volume any instance of the target has had.
    let mut seen: Vec<String> = Vec::new();
    let mut look = |bed: &Bed| {
        let ids = bed.docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", bed.project),
        ]);
        for id in ids.stdout.split_whitespace() {
            let m = bed.docker(&[
                "inspect",
                "--format",
                "{{range .Mounts}}{{.Name}} {{end}}",
                id,
            ]);
            for v in m.stdout.split_whitespace() {
                if !seen.iter().any(|s| s == v) {
                    seen.push(v.to_string());
                }
            }
        }
        seen.clone()
    };
    let exists = |bed: &Bed, v: &str| bed.docker(&["volume", "inspect", v]).code == 0;
    flow(&bed, &["deploy"]).ok();
    look(&bed);
    flow(&bed, &["deploy"]).ok(); // a plain deploy removes the old container
    look(&bed);
    flow(&bed, &["scale", "+1"]).ok();
    look(&bed);
    flow(&bed, &["scale", "-1"]).ok(); // a scale-down removes one
    look(&bed);
    bed.env("HEALTH", "fail");
    // A failed deploy removes its new instance; look at it while it still waits for health.
    let started = std::time::Instant::now();
    let failing = std::thread::scope(|s| {
        let run = s.spawn(|| flow(&bed, &["deploy"]));
        while started.elapsed() < std::time::Duration::from_secs(4) {
            look(&bed);
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        run.join().unwrap()
    });
    failing.fails(1, "the deploy is aborted");
    let all = look(&bed);
    // The first deploy's, the second's, the scaled-up one's, and the failed deploy's.
    assert!(
        all.len() >= 4,
        "expected the volumes of 4 instances: {all:?}"
    );
    for v in &all {
        assert!(exists(&bed, v), "volume {v} was removed");
    }
    // Clean up after ourselves: the bed removes containers, not anonymous volumes.
    let mut rm = vec!["volume", "rm", "-f"];
    let ids = bed.docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", bed.project),
    ]);
    for id in ids.stdout.split_whitespace() {
        bed.docker(&["rm", "-f", id]);
    }
    rm.extend(all.iter().map(String::as_str));
    bed.docker(&rm);
}

#[test]
fn keep_old_keeps_the_replaced_release_warm_so_a_rollback_only_switches() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("warm", 1500);
    bed.flow(&["deploy"]).ok();
    bed.env("V", "v2");
    bed.flow(&["deploy", "--keep-old", "5m"]).ok();
    let blue1 = format!("{}-app-blue-1", bed.project);
    let started_at = |bed: &Bed| {
        bed.docker(&["inspect", "-f", "{{.State.StartedAt}}", &blue1])
            .stdout
            .trim()
            .to_string()
    };
    // Blue (v1) still runs, out of rotation, and status says until when.
    let s = status(&bed);
    assert_eq!(s["live_color"], "green", "{s}");
    assert_eq!(running(&s, "blue"), 1, "{s}");
    assert!(s["colors"]["blue"]["warm_until"].is_string(), "{s}");
    assert!(s["colors"]["green"]["warm_until"].is_null(), "{s}");
    for _ in 0..20 {
        assert_eq!(bed.version_at("/demo"), "v2");
    }
    // Bad input changes nothing: refused with the warm release left where it waits.
    bed.flow(&["--switch-mode", "rollback"])
        .fails(2, "--switch-mode converts a target by deploying it");
    assert_eq!(bed.version_at("/demo"), "v2");
    // The lock it took while checking (see below) is gone with it.
    let lock = format!("docker-flow-lock-{}", bed.project);
    assert!(
        support::docker_words(&["ps", "-aq", "--filter", &format!("name=^{lock}$")]).is_empty(),
        "the refused rollback left its lock"
    );
    let before = started_at(&bed);
    // The rollback only switches: no container starts (the 1.5 s start-up never shows), no
    // request fails.
    let load = Load::start(bed.http_port, "/demo", 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let command = load.started.elapsed();
    let r = bed.flow_env(&["rollback"], &[("DOCKER_FLOW_TRACE", "1")]);
    let switched = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let stats = load.stop();
    r.ok();
    no_drop(&stats, switched, "v1");
    // The trace (`DOCKER_FLOW_TRACE`): the lock was taken while the checks ran (its `docker
    // run` started before the proxy's config was read), and the swap came after both.
    let traced = |what: &str| -> (f64, f64) {
        let line = r
            .stderr
            .lines()
            .find(|l| l.starts_with("docker-flow trace:") && l.ends_with(what))
            .unwrap_or_else(|| panic!("no `{what}` in the trace: {}", r.stderr));
        let words: Vec<&str> = line.split_whitespace().collect();
        let ms: f64 = words[2].parse().unwrap();
        let at: f64 = words[5].parse().unwrap();
        (at, at + ms / 1000.0)
    };
    let (lock_at, locked) = traced("docker run … hold");
    let (_, config_read) = traced("docker exec … admin");
    let (swap_at, _) = traced("docker exec … swap");
    assert!(
        lock_at < config_read,
        "the lock waited for the checks: {}",
        r.stderr
    );
    assert!(swap_at >= locked && swap_at >= config_read, "{}", r.stderr);
    assert_eq!(
        started_at(&bed),
        before,
        "the warm release was started again"
    );
    // The proxy swapped the warm release in first thing, before the lock and every read.
    assert!(
        r.stderr.contains("switched back first thing"),
        "{}",
        r.stderr
    );
    let first = stats.first_of("v1").expect("no v1 answer") - command;
    eprintln!("keep-old rollback: first v1 answer {first:?} after the command started");
    // A run that holds the lock in between (here `proxy`) ends the standby: the rollback after
    // it goes the long way, still without starting a container.
    bed.env("V", "v2");
    bed.flow(&["deploy", "--keep-old", "5m"]).ok();
    bed.flow(&["proxy"]).ok();
    let r = bed.flow(&["rollback"]);
    r.ok();
    assert!(!r.stderr.contains("first thing"), "{}", r.stderr);
    assert_eq!(bed.version_at("/demo"), "v1");
    assert_eq!(
        started_at(&bed),
        before,
        "the warm release was started again"
    );
    // A deploy holding the lock ended the standby before it read the route: a rollback asked
    // meanwhile swaps nothing behind it (it would wait for the lock; here it may not: exit 4).
    bed.env("V", "v2");
    bed.flow(&["deploy", "--keep-old", "5m"]).ok();
    // Once its deploy step starts it is past the settle that follows the lock; it is then held
    // still (SIGSTOP) while the rollback asks.
    let (mut deploy, reader) = spawn_into_deploy_step(&bed, &["deploy"], &[("V", "v3")]);
    let signal = |sig: &str| {
        assert!(std::process::Command::new("kill")
            .args([sig, &deploy.id().to_string()])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP");
    let r = bed.flow(&["rollback", "--lock-wait", "0s"]);
    let serving = bed.version_at("/demo");
    signal("-CONT");
    r.fails(4, "is locked by `deploy,proxy,stop-old`");
    assert_eq!(serving, "v2", "the rollback swapped behind the deploy");
    let exit = deploy.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(exit.success(), "{stderr}");
    assert_eq!(bed.version_at("/demo"), "v3");
    // Kept briefly: the next command after its time stops it (docker flow runs no daemon).
    bed.env("V", "v3");
    // (The time counts from the deploy's start, so it covers the new release's start-up; 15 s:
    // a deploy on a busy machine can take more than 8.) Waited out to the second status says.
    bed.flow(&["deploy", "--keep-old", "15s"]).ok();
    let s = status(&bed);
    assert_eq!(running(&s, "blue"), 1);
    let until =
        humantime::parse_rfc3339(s["colors"]["blue"]["warm_until"].as_str().unwrap()).unwrap();
    let left = until
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    assert!(left <= Duration::from_secs(15), "warm until {until:?}");
    std::thread::sleep(left + Duration::from_millis(1100));
    let s = status(&bed);
    assert!(s["colors"]["blue"]["warm_until"].is_null(), "{s}");
    bed.flow(&["proxy"]).ok();
    assert_eq!(running(&status(&bed), "blue"), 0);
    assert_eq!(bed.version_at("/demo"), "v3");
}

#[test]
fn a_rollback_refused_for_the_lock_another_target_holds_moves_no_traffic() {
    if !support::engine_available() {
        return;
    }
    // Two routed targets of one project: `app` on /demo and `api` on /api.
    let mut bed = Bed::demo("lockrb", 0);
    let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
    bed.write(
        "compose.yaml",
        &format!(
            "{compose}  api:\n    image: demo-service:v1\n    environment:\n      HEALTH: ${{API_HEALTH:-ok}}\n    expose: [\"8080\"]\n"
        ),
    );
    let api = ["-t", "api", "--side-target", "", "--service-path", "/api"];
    bed.flow(&["deploy"]).ok();
    bed.flow(&[&["deploy"][..], &api].concat()).ok();
    bed.env("V", "v2");
    bed.flow(&["deploy", "--keep-old", "5m"]).ok();
    assert_eq!(bed.version_at("/demo"), "v2");
    // A rollback with bad input is refused before anything moves.
    bed.flow(&["rollback", "--drain-timeout", "-1s"])
        .fails(2, "a duration cannot be negative");
    assert_eq!(bed.version_at("/demo"), "v2");
    // A deploy of `api` that never gets healthy holds the project's lock meanwhile.
    let (mut deploy, reader) = spawn_into_deploy_step(
        &bed,
        &[&["deploy", "--health-timeout", "25s"][..], &api].concat(),
        &[("API_HEALTH", "fail")],
    );
    // The rollback of `app` is refused for the lock, and `app`'s route is where it was.
    let r = bed.flow(&["rollback", "--lock-wait", "1s"]);
    let serving: Vec<String> = (0..10).map(|_| bed.version_at("/demo")).collect();
    r.fails(4, "is locked by `deploy,proxy,stop-old`");
    assert!(
        serving.iter().all(|v| v == "v2"),
        "a refused rollback moved traffic: {serving:?}"
    );
    let exit = deploy.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(exit.code(), Some(1), "{stderr}");
    // Once the lock is free the warm release is still there to swap in.
    let r = bed.flow(&["rollback"]);
    r.ok();
    assert!(
        r.stderr.contains("switched back first thing"),
        "{}",
        r.stderr
    );
    assert_eq!(bed.version_at("/demo"), "v1");
    assert_eq!(bed.version_at("/api"), "v1");
}
