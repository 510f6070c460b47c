//! Failure injection: interrupted and killed deploys, an unreachable proxy or daemon. In every
//! case the live release keeps serving and running the command again converges.

use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::load::Load;
use support::Bed;

/// A demo bed whose v2 stays "starting" for 20 s, so a deploy of it sits in the health wait.
fn slow_bed(prefix: &str) -> Bed {
    let bed = Bed::demo(prefix, 0);
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      STARTUP_DELAY_MS: ${{DELAY:-0}}\n    expose: [\"8080\"]\n    healthcheck:\n      test: [\"CMD\", \"/demo-service\", \"healthcheck\"]\n      interval: 1s\n      start_period: 60s\n  db:\n    image: demo-service:v1\n",
            bed.project
        ),
    );
    bed
}

/// A demo bed whose v1 answers after `delay_ms`, deployed, with one request to it in flight
/// (the thread returns its answer), so a deploy of v2 has something to drain.
fn serving_a_slow_request(
    prefix: &str,
    delay_ms: u32,
) -> (Bed, std::thread::JoinHandle<Option<(u16, String)>>) {
    let bed = Bed::demo(prefix, 0);
    bed.write(
        "compose.yaml",
        &format!(
            "name: {}\nservices:\n  app:\n    image: demo-service:${{V:-v1}}\n    environment:\n      RESPONSE_DELAY_MS: ${{SLOW:-0}}\n    expose: [\"8080\"]\n  db:\n    image: demo-service:v1\n",
            bed.project
        ),
    );
    bed.flow_env(&["deploy"], &[("SLOW", &delay_ms.to_string())])
        .ok();
    let port = bed.http_port;
    let slow = std::thread::spawn(move || support::load::get(("127.0.0.1", port), "/demo"));
    // Until Caddy counts it in flight to the live release.
    let in_flight = (0..100).any(|_| {
        let seen = bed
            .proxy_admin("/reverse_proxy/upstreams")
            .is_some_and(|b| b.contains("\"num_requests\":1"));
        if !seen {
            std::thread::sleep(Duration::from_millis(50));
        }
        seen
    });
    assert!(in_flight, "the slow request never reached the live release");
    (bed, slow)
}

fn spawn(bed: &Bed, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_docker-flow"));
    c.args(args)
        .current_dir(bed.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

/// Starts `docker-flow deploy` of a v2 that stays "starting" and returns once its new
/// instances exist, so the deploy sits in its health wait.
fn deploy_into_health_wait(bed: &Bed, extra: &[(&str, &str)]) -> Child {
    let mut env = vec![("V", "v2"), ("DELAY", "20000")];
    env.extend_from_slice(extra);
    let child = spawn(bed, &["deploy"], &env);
    let green = format!("{}-app-green", bed.project);
    wait_until("the new release", || !containers(&green).is_empty());
    std::thread::sleep(Duration::from_millis(300));
    child
}

fn containers(filter: &str) -> Vec<String> {
    let o = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--format",
            "{{.Names}} {{.State}}",
            "--filter",
            &format!("name={filter}"),
        ])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the proxy's route for the bed's target includes `color`.
fn wait_for_switch(bed: &Bed, color: &str) {
    let net = format!("dflow-{}.app", bed.project);
    let needle = format!("-app-{color}-");
    wait_until(&format!("the switch to {color}"), || {
        Command::new("docker")
            .args([
                "network",
                "inspect",
                "--format",
                "{{range .Containers}}{{.Name}} {{end}}",
                &net,
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&needle))
    });
}

fn signal(child: &Child, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn status(bed: &Bed) -> Value {
    let r = bed.flow(&["status", "--format", "json"]);
    r.ok();
    r.json()
}

fn version(bed: &Bed) -> String {
    let (_, body) = bed.get("/demo").expect("the proxy answers");
    body.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// After an interrupted deploy of v2: v1 serves, no green container, no lock.
#[track_caller]
fn cleanly_stopped(bed: &Bed, out: std::process::Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(
        containers(&format!("{}-app-green", bed.project)).is_empty(),
        "the new release was left behind"
    );
    assert!(
        containers(&format!("docker-flow-lock-{}", bed.project)).is_empty(),
        "the lock was left behind"
    );
    let s = status(bed);
    assert_eq!(s["live_color"], "blue");
    assert_eq!(version(bed), "v1");
}

#[test]
fn ctrl_c_sigterm_and_the_plugin_cancel_stop_a_deploy_cleanly() {
    if !support::engine_available() {
        return;
    }
    let bed = slow_bed("sig");
    bed.flow(&["deploy"]).ok();
    let load = Load::start(bed.http_port, "/demo", 4, Duration::from_secs(120));
    for sig in ["-INT", "-TERM"] {
        let child = deploy_into_health_wait(&bed, &[]);
        signal(&child, sig);
        cleanly_stopped(&bed, child.wait_with_output().unwrap());
    }
    // The docker CLI's cancel: it closes the socket named in DOCKER_CLI_PLUGIN_SOCKET.
    use std::os::linux::net::SocketAddrExt;
    let name = support::unique("docker-flow-test-socket");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    // The CLI-side socket is accepted before the deploy reaches its health wait.
    let accept = std::thread::spawn(move || listener.accept().unwrap().0);
    let child = deploy_into_health_wait(&bed, &[("DOCKER_CLI_PLUGIN_SOCKET", &name)]);
    let conn = accept.join().unwrap();
    drop(conn);
    cleanly_stopped(&bed, child.wait_with_output().unwrap());
    let stats = load.stop();
    assert!(
        stats.failed().is_empty(),
        "the live release did not keep serving: {}",
        stats.summary()
    );
}

#[test]
fn a_deploy_killed_at_any_point_converges_when_run_again() {
    if !support::engine_available() {
        return;
    }
    let bed = slow_bed("kill");
    bed.flow(&["deploy"]).ok();
    let load = Load::start(bed.http_port, "/demo", 4, Duration::from_secs(180));

    // 1. While waiting for health: the unpromoted release stays behind (the lock goes with the run).
    let mut child = deploy_into_health_wait(&bed, &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(version(&bed), "v1");
    // The lock went with the killed run (within a moment: --lock-wait covers it).
    let r = bed.flow_env(&["deploy", "--lock-wait", "5s"], &[("V", "v2")]);
    r.ok();
    assert!(!r.stderr.contains("is locked"), "{}", r.stderr);
    let s = status(&bed);
    assert_eq!(s["live_color"], "green");
    assert_eq!(version(&bed), "v2");
    assert!(!containers(&format!("{}-app-blue", bed.project))
        .iter()
        .any(|c| c.ends_with("running")));

    // 2. Right after the proxy switch (v3 to blue), before the old release is stopped.
    let mut child = spawn(&bed, &["deploy", "--drain-timeout", "5s"], &[("V", "v3")]);
    wait_for_switch(&bed, "blue");
    child.kill().unwrap();
    child.wait().unwrap();
    // Both releases are in rotation now: either answers, and nothing fails.
    assert!(["v2", "v3"].contains(&version(&bed).as_str()));
    bed.flow_env(&["deploy", "--lock-wait", "5s"], &[("V", "v3")])
        .ok();
    assert_eq!(version(&bed), "v3");
    only_the_live_release_runs(&bed);

    let stats = load.stop();
    assert!(stats.http_errors().is_empty(), "{}", stats.summary());
    assert!(stats.unanswered().is_empty(), "{}", stats.summary());
}

#[test]
fn a_deploy_killed_while_draining_converges_when_run_again() {
    if !support::engine_available() {
        return;
    }
    let (mut bed, slow) = serving_a_slow_request("drain", 9000);
    let mut child = spawn(&bed, &["deploy", "--drain-timeout", "30s"], &[("V", "v2")]);
    wait_for_switch(&bed, "green");
    // By now the old release is out of rotation and docker flow waits for the request in
    // flight to it before stopping it.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the deploy did not wait for the request in flight"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The request in flight to the old release still finishes.
    let (code, body) = slow.join().unwrap().expect("the slow request was dropped");
    assert_eq!((code, body.split_whitespace().next()), (200, Some("v1")));
    bed.env("V", "v2");
    bed.flow(&["deploy"]).ok();
    assert_eq!(version(&bed), "v2");
    only_the_live_release_runs(&bed);
}

/// One instance runs, of the live colour; none of the other.
#[track_caller]
fn only_the_live_release_runs(bed: &Bed) {
    let s = status(bed);
    let live = s["live_color"].as_str().unwrap();
    let other = if live == "blue" { "green" } else { "blue" };
    let running = |c: &str| {
        s["colors"][c]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["state"] == "running")
            .count()
    };
    assert_eq!((running(live), running(other)), (1, 0), "{s}");
}

#[test]
fn a_drain_that_outlives_the_drain_timeout_is_reported() {
    if !support::engine_available() {
        return;
    }
    let (bed, slow) = serving_a_slow_request("drainto", 20000);
    let r = bed.flow_env(&["deploy", "--drain-timeout", "2s"], &[("V", "v2")]);
    r.ok();
    assert!(
        r.stderr.contains("1 request(s) still in flight to")
            && r.stderr
                .contains("after --drain-timeout (2s); stopping it anyway"),
        "{}",
        r.stderr
    );
    let _ = slow.join();
    assert_eq!(version(&bed), "v2");
}

#[test]
fn an_unreachable_proxy_admin_api_aborts_before_anything_changes() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("noadmin", 0);
    bed.flow(&["deploy"]).ok();
    // A proxy that runs but does not answer (frozen): nothing can be asked through the engine.
    let docker = |a: &[&str]| Command::new("docker").args(a).status().unwrap().success();
    assert!(docker(&["pause", &bed.proxy_name]));
    let before = bed.engine_snapshot();
    let r = bed.flow_env(&["deploy"], &[("V", "v2")]);
    assert!(docker(&["unpause", &bed.proxy_name]));
    r.fails(3, "does not answer");
    assert_eq!(
        before.replace("paused", "running"),
        bed.engine_snapshot(),
        "a deploy changed the engine although the proxy was unreachable"
    );
    assert_eq!(version(&bed), "v1");
    // The proxy killed between deploys: the next deploy starts it again and works.
    assert!(docker(&["kill", &bed.proxy_name]));
    bed.flow_env(&["deploy"], &[("V", "v2")]).ok();
    assert_eq!(version(&bed), "v2");
}

#[test]
fn every_command_exits_3_without_a_daemon() {
    let bed = Bed::demo("nodaemon", 0);
    for cmd in [
        vec!["deploy"],
        vec!["scale", "+1"],
        vec!["proxy"],
        vec!["stop-old"],
        vec!["rollback"],
        vec!["status"],
        vec!["--flow=deploy"],
    ] {
        let mut a = cmd.clone();
        a.extend(["-H", "unix:///nonexistent/docker.sock"]);
        bed.flow(&a).fails(3, "the Docker daemon is unreachable");
    }
}

#[test]
fn a_run_that_loses_its_lock_stops_before_its_next_change() {
    if !support::engine_available() {
        return;
    }
    let bed = slow_bed("lost");
    bed.flow(&["deploy"]).ok();
    let first = deploy_into_health_wait(&bed, &[]);
    // The lock's process is the run's child `docker run … hold`: killed, the lock ends with it
    // (the ssh link dropped, the process killed) while the run goes on.
    let ps = Command::new("ps")
        .args(["-o", "pid=,args=", "--ppid", &first.id().to_string()])
        .output()
        .unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    let hold = ps
        .lines()
        .find(|l| l.trim_end().ends_with(" hold"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no lock process among the run's children:\n{ps}"))
        .to_string();
    assert!(Command::new("kill")
        .args(["-9", &hold])
        .status()
        .unwrap()
        .success());
    // A second run takes the free lock and deploys alone.
    let second = spawn(&bed, &["deploy"], &[("V", "v3"), ("DELAY", "3000")]);
    let out = first.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("lost the project's deploy lock"), "{err}");
    let out = second.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(version(&bed), "v3");
    assert_eq!(status(&bed)["live_color"], "green");
    // The history holds what each run did: the first run wrote nothing into the second's lock.
    let h = bed.flow(&["history", "--format", "json"]);
    h.ok();
    let h = h.json();
    let releases: Vec<(String, String)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["image"].as_str().unwrap_or_default().to_string(),
                e["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        releases,
        [
            ("demo-service:v3".to_string(), "live".to_string()),
            ("demo-service:v1".to_string(), "replaced".to_string())
        ],
        "{h:#}"
    );
}
