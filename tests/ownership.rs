//! docker flow configures only a proxy it started: a foreign Caddy at the proxy's name, on its
//! port or with a config docker flow did not write is refused before anything changes; two first
//! deploys at once both get their routes; an engine the helper cannot run on is refused; a proxy
//! of the earlier layout (admin API published on the host) is migrated once, with its routes.

use crate::support;

use std::process::Command;

use serde_json::{json, Value};
use support::{docker_ok, Bed};

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

/// The config a foreign Caddy serves.
const FOREIGN: &str = r#"{"apps":{"http":{"servers":{"srv0":{"listen":[":80"],"routes":[{"handle":[{"handler":"static_response","body":"foreign"}]}]}}}}}"#;

/// Runs `curl ARGS` in the network namespace of `container`.
fn curl_in(container: &str, args: &[&str]) -> (bool, String) {
    let pid = docker_ok(&["inspect", "--format", "{{.State.Pid}}", container]);
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["curl", "-sS", "-m", "3"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A Caddy docker flow did not start, with `extra` docker options, serving a config of its own
/// (loaded through its admin API, which listens on its loopback).
fn foreign_caddy(name: &str, extra: &[&str]) {
    let mut a = vec!["run", "-d", "--name", name];
    a.extend_from_slice(extra);
    a.extend([support::CADDY_IMAGE, "caddy", "run"]);
    docker_ok(&a);
    for _ in 0..50 {
        let (ok, _) = curl_in(
            name,
            &[
                "-f",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                FOREIGN,
                "http://localhost:2019/load",
            ],
        );
        if ok {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the foreign Caddy `{name}` did not take its config");
}

/// A foreign Caddy's config, read from inside its own network namespace.
fn foreign_config(name: &str) -> String {
    let (ok, text) = curl_in(name, &["http://localhost:2019/config/"]);
    assert!(ok && text.contains("static_response"), "{name}: {text}");
    text
}

#[test]
fn a_foreign_caddy_at_the_proxys_name_or_port_is_left_untouched() {
    if !support::engine_available() {
        return;
    }
    // At the proxy's name.
    let bed = Bed::demo("foreignname", 0);
    foreign_caddy(&bed.proxy_name, &[]);
    let config = foreign_config(&bed.proxy_name);
    let before = bed.engine_snapshot();
    let r = bed.flow(&["deploy"]);
    r.fails(3, "docker flow did not start it");
    assert!(r.stderr.contains("--proxy-name"), "{}", r.stderr);
    // A rollback asks the proxy to swap a warm release in before anything else: a foreign
    // container at the proxy's name gets no helper copied in for it.
    bed.flow(&["rollback", "--blue-green"])
        .fails(3, "docker flow did not start it");
    let copied = docker(&["cp", &format!("{}:/docker-flow", bed.proxy_name), "-"]);
    assert!(
        !copied.status.success(),
        "docker flow's helper was copied in"
    );
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");
    assert_eq!(foreign_config(&bed.proxy_name), config);
    // On the port docker flow would publish.
    let other = Bed::demo("foreignport", 0);
    let squatter = format!("{}-squatter", other.project);
    foreign_caddy(&squatter, &["-p", &format!("{}:80", other.http_port)]);
    let config = foreign_config(&squatter);
    let before = other.engine_snapshot();
    let r = other.flow(&["deploy"]);
    let after = other.engine_snapshot();
    let config_after = foreign_config(&squatter);
    let _ = docker(&["rm", "-f", &squatter]);
    r.fails(3, "is already published by the container");
    assert!(r.stderr.contains("--proxy-http-port"), "{}", r.stderr);
    assert_eq!(before, after, "the engine changed");
    assert_eq!(config, config_after);
}

#[test]
fn a_proxy_with_a_config_docker_flow_did_not_write_is_refused() {
    if !support::engine_available() {
        return;
    }
    // docker flow's labels on a Caddy it did not start.
    let bed = Bed::demo("forgedlabel", 0);
    foreign_caddy(
        &bed.proxy_name,
        &[
            "--label",
            "io.docker-flow.proxy=caddy",
            "--label",
            "io.docker-flow.proxy.layout=2",
        ],
    );
    let config = foreign_config(&bed.proxy_name);
    let before = bed.engine_snapshot();
    bed.flow(&["deploy"])
        .fails(3, "docker flow did not start it");
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");
    assert_eq!(foreign_config(&bed.proxy_name), config);
    // docker flow's own proxy, whose config someone replaced by hand.
    let bed = Bed::demo("foreignconf", 0);
    bed.flow(&["deploy"]).ok();
    support::proxy_admin(&bed.proxy_name, "POST", "/load", Some(FOREIGN))
        .expect("the hand-made config was refused");
    let read = || bed.proxy_admin("/config/").expect("no config");
    let config = read();
    assert!(config.contains("static_response"), "{config}");
    let before = bed.engine_snapshot();
    bed.flow_env(&["deploy"], &[("V", "v2")])
        .fails(3, "carries a Caddy config docker flow did not write");
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");
    assert_eq!(read(), config);
}

#[test]
fn two_first_deploys_at_once_both_get_their_routes() {
    if !support::engine_available() {
        return;
    }
    let a = Bed::demo("racea", 0);
    let b = Bed::demo("raceb", 0);
    // B uses A's proxy (name and port) on its own path; neither exists yet.
    b.write(
        "docker-flow.yml",
        &format!(
            "target: app\nside_targets: [db]\nblue_green: true\nservice_path: [/other]\npull: missing\nproxy_image: {}\nproxy_name: {}\nproxy_http_port: {}\nproxy_https_port: {}\n",
            support::CADDY_IMAGE, a.proxy_name, a.http_port, a.https_port
        ),
    );
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.flow(&["deploy"]));
        let tb = s.spawn(|| b.flow(&["deploy"]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    ra.ok();
    rb.ok();
    assert_eq!(a.version_at("/demo"), "v1");
    assert_eq!(a.version_at("/other"), "v1");
    let routes =
        |bed: &Bed| bed.flow(&["status", "--format", "json"]).json()["proxy"]["routes"].clone();
    assert_eq!(routes(&a)[0]["paths"], json!(["/demo"]));
    assert_eq!(routes(&b)[0]["paths"], json!(["/other"]));
}

#[test]
fn an_engine_the_helper_cannot_run_on_is_refused_before_anything_changes() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("arch", 0);
    bed.flow(&["deploy"]).ok();
    let before = bed.engine_snapshot();
    let r = bed.flow_env(
        &["deploy"],
        &[("V", "v2"), ("DOCKER_FLOW_TEST_ENGINE_ARCH", "s390x")],
    );
    r.fails(3, "the engine runs on s390x");
    assert!(r.stderr.contains("--proxy-driver none"), "{}", r.stderr);
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");
    assert_eq!(bed.version_at("/demo"), "v1");
    // Without a proxy the helper is still the health probe of a target without a healthcheck.
    let r = bed.flow_env(
        &["deploy", "--proxy-driver", "none"],
        &[("V", "v2"), ("DOCKER_FLOW_TEST_ENGINE_ARCH", "s390x")],
    );
    r.fails(3, "the engine runs on s390x");
    assert!(r.stderr.contains("healthcheck"), "{}", r.stderr);
    assert_eq!(before, bed.engine_snapshot(), "the engine changed");
}

/// The config a proxy of the earlier layout carried: its admin API on every address of the
/// container (published on the host's loopback) with an Origin check, routes resolving from the
/// rotation container `<name>-dns`, no ownership marker.
fn old_layout(mut config: Value, proxy: &str) -> Value {
    config["admin"] = json!({"listen": "0.0.0.0:2019", "enforce_origin": true,
                              "origins": ["127.0.0.1:2019", "localhost:2019"]});
    let server = &mut config["apps"]["http"]["servers"]["docker-flow"];
    server.as_object_mut().unwrap().remove("@id");
    let routes = server["routes"].as_array_mut().unwrap();
    let mut other = routes[0].clone();
    other["@id"] = json!("docker-flow.other.app");
    other["match"] = json!([{"path": ["/other", "/other/*"]}]);
    // The earlier layout's route: one proxy handler, resolving the route's record.
    let flat = |rt: &Value| {
        let mut h = proxies(rt).into_iter().last().unwrap();
        h["dynamic_upstreams"]["resolver"] =
            json!({"addresses": [format!("udp/{proxy}-dns:5353")]});
        json!([h])
    };
    other["handle"] = flat(&other);
    other["handle"][0]["dynamic_upstreams"]["name"] = json!("app.other.dflow");
    routes[0]["handle"] = flat(&routes[0]);
    routes.push(other);
    config
}

/// Every `reverse_proxy` handler in a route, however deep.
fn proxies(v: &Value) -> Vec<Value> {
    match v {
        Value::Object(o) if o.get("handler") == Some(&json!("reverse_proxy")) => vec![v.clone()],
        Value::Object(o) => o.values().flat_map(proxies).collect(),
        Value::Array(a) => a.iter().flat_map(proxies).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn a_proxy_of_the_earlier_layout_is_migrated_once_with_its_routes() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("migrate", 0);
    bed.flow(&["deploy"]).ok();
    let name = bed.proxy_name.clone();
    let config: Value = serde_json::from_str(&bed.proxy_admin("/config/").unwrap()).unwrap();
    // Rebuild the proxy as the earlier docker flow ran it, on the same volumes and networks.
    docker_ok(&["rm", "-f", &name]);
    let admin_port = support::free_port();
    docker_ok(&[
        "create",
        "--name",
        &name,
        "--label",
        "io.docker-flow.proxy=caddy",
        "-p",
        &format!("{}:80", bed.http_port),
        "-p",
        &format!("127.0.0.1:{admin_port}:2019"),
        "-v",
        &format!("{name}-data:/config"),
        "-e",
        "CADDY_ADMIN=0.0.0.0:2019",
        support::CADDY_IMAGE,
        "caddy",
        "run",
        "--resume",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("autosave.json");
    std::fs::write(&saved, old_layout(config, &name).to_string()).unwrap();
    docker_ok(&[
        "cp",
        saved.to_str().unwrap(),
        &format!("{name}:/config/caddy/autosave.json"),
    ]);
    docker_ok(&[
        "network",
        "connect",
        &format!("dflow-{}.app", bed.project),
        &name,
    ]);
    docker_ok(&["start", &name]);
    // A container at the earlier layout's rotation name that is not docker flow's is never
    // removed: the migration is refused before anything changes.
    let dns = format!("{name}-dns");
    docker_ok(&["run", "-d", "--name", &dns, "demo-service:v1"]);
    let id = docker_ok(&["inspect", "-f", "{{.Id}}", &dns]);
    bed.flow_env(&["deploy"], &[("V", "v2")])
        .fails(3, "is not docker flow's");
    assert_eq!(docker_ok(&["inspect", "-f", "{{.Id}}", &dns]), id);
    docker_ok(&["rm", "-f", &dns]);
    // The earlier layout's rotation container, with its label (a stand-in: only its removal
    // matters here).
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &dns,
        "--label",
        "io.docker-flow.proxy=rotation",
        "demo-service:v1",
    ]);
    // As it was: the admin API answers on the published port.
    let mut published = false;
    for _ in 0..50 {
        let out = Command::new("curl")
            .args(["-sS", "-m", "2", "-H", "Origin: http://127.0.0.1:2019"])
            .arg(format!("http://127.0.0.1:{admin_port}/config/admin"))
            .output()
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("0.0.0.0:2019") {
            published = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(published, "the earlier layout's admin API did not answer");

    bed.flow_env(&["deploy"], &[("V", "v2")]).ok();
    assert_eq!(bed.version_at("/demo"), "v2");
    let labels = docker_ok(&["inspect", "--format", "{{json .Config.Labels}}", &name]);
    assert!(
        labels.contains("\"io.docker-flow.proxy.layout\":\"3\""),
        "{labels}"
    );
    // HTTP and HTTPS are published, the admin API is not.
    let ports = docker_ok(&["port", &name]);
    assert!(
        ports
            .lines()
            .all(|l| l.starts_with("80/tcp ") || l.starts_with("443/tcp ")),
        "{ports}"
    );
    assert!(ports.contains(&format!(":{}", bed.https_port)), "{ports}");
    assert!(
        !docker(&["container", "inspect", &format!("{name}-dns")])
            .status
            .success(),
        "the earlier rotation container is still there"
    );
    let config: Value = serde_json::from_str(&bed.proxy_admin("/config/").unwrap()).unwrap();
    assert_eq!(config["admin"], json!({"listen": "127.0.0.1:2019"}));
    let routes = config["apps"]["http"]["servers"]["docker-flow"]["routes"]
        .as_array()
        .unwrap();
    let ids: Vec<&str> = routes.iter().filter_map(|r| r["@id"].as_str()).collect();
    assert!(
        ids.contains(&"docker-flow.other.app"),
        "another project's route was lost: {ids:?}"
    );
    for h in routes.iter().flat_map(proxies) {
        assert_eq!(
            h["dynamic_upstreams"]["resolver"],
            json!({"addresses": ["udp/127.0.0.1:5353"]})
        );
    }
    // Migrated once: the next deploy leaves the proxy container as it is.
    let id = docker_ok(&["inspect", "--format", "{{.Id}}", &name]);
    bed.flow_env(&["deploy"], &[("V", "v3")]).ok();
    assert_eq!(docker_ok(&["inspect", "--format", "{{.Id}}", &name]), id);
    assert_eq!(bed.version_at("/demo"), "v3");
}
