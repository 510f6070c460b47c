//! The proxy drivers on the real engine: Caddy shared by projects, surviving restarts, its admin
//! API on loopback only; the seed's Docker Flow Proxy protocol against a recording server.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::load::Load;
use support::Bed;

fn routes(bed: &Bed) -> Value {
    let r = bed.flow(&["status", "--format", "json"]);
    r.ok();
    r.json()["proxy"]["routes"].clone()
}

fn body(bed: &Bed, path: &str) -> String {
    let (code, body) = bed
        .get(path)
        .unwrap_or_else(|| panic!("no answer on {path}"));
    assert_eq!(code, 200, "{path}: {body}");
    body.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

/// A second project using `host`'s proxy (same name and ports), on its own path.
fn sharing(host: &Bed, prefix: &str, path: &str) -> Bed {
    let bed = Bed::demo(prefix, 0);
    bed.write(
        "docker-flow.yml",
        &format!(
            "target: app\nside_targets: [db]\nblue_green: true\nservice_path: [{path}]\npull: missing\nproxy_image: {}\nproxy_name: {}\nproxy_http_port: {}\nproxy_reconf_port: {}\n",
            support::CADDY_IMAGE, host.proxy_name, host.http_port, host.admin_port
        ),
    );
    bed
}

#[test]
fn projects_share_one_proxy_without_touching_each_other() {
    if !support::engine_available() {
        return;
    }
    let mut a = Bed::demo("sharea", 1000);
    a.flow(&["deploy"]).ok();
    let mut b = sharing(&a, "shareb", "/other");
    b.env("V", "v3");
    b.flow(&["deploy"]).ok();
    assert_eq!(body(&a, "/demo"), "v1");
    assert_eq!(body(&a, "/other"), "v3");
    let b_routes = routes(&b);
    assert_eq!(b_routes.as_array().unwrap().len(), 1, "{b_routes}");
    // Deploying A under load on B's path: B never notices.
    let load = Load::start(a.http_port, "/other", 4, Duration::from_secs(60));
    a.env("V", "v2");
    a.flow(&["deploy"]).ok();
    let stats = load.stop();
    assert!(stats.http_errors().is_empty(), "{}", stats.summary());
    assert!(
        stats
            .samples
            .iter()
            .filter(|s| s.ok())
            .all(|s| s.version() == "v3"),
        "{}",
        stats.summary()
    );
    assert_eq!(routes(&b), b_routes, "B's route changed");
    assert_eq!(body(&a, "/demo"), "v2");
}

/// Whether the route answers 200 within 5 s.
fn serves_within_5s(bed: &Bed) -> bool {
    (0..50).any(|_| {
        let ok = bed.get("/demo").is_some_and(|(c, _)| c == 200);
        if !ok {
            std::thread::sleep(Duration::from_millis(100));
        }
        ok
    })
}

#[test]
fn routes_survive_a_proxy_restart_and_are_restored_after_removal() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("restart", 0);
    bed.flow(&["deploy"]).ok();
    let before = routes(&bed);
    assert!(docker(&["restart", &bed.proxy_name]).status.success());
    assert!(
        serves_within_5s(&bed),
        "the proxy did not serve the route after a restart"
    );
    assert_eq!(routes(&bed), before);
    // The rotation's records live on a volume: a restart of its container keeps them.
    let rotation = format!("{}-dns", bed.proxy_name);
    assert!(docker(&["restart", &rotation]).status.success());
    let mut up = false;
    for _ in 0..50 {
        if bed.get("/demo").is_some_and(|(c, _)| c == 200) {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        up,
        "the proxy did not serve the route after its rotation restarted"
    );
    assert_eq!(routes(&bed), before);
    // The rotation gone with its records: the route is first given the instances on its
    // network (as when upgrading from a docker flow that switched by network alias).
    assert!(docker(&["rm", "-f", &rotation]).status.success());
    assert!(docker(&["volume", "rm", &rotation]).status.success());
    let plan = bed.flow(&["proxy", "--dry-run"]);
    plan.ok();
    let seed = format!(
        "/helper set /routes app.{}.dflow {}-app-blue-1@",
        bed.project, bed.project
    );
    assert!(plan.stdout.contains(&seed), "{}", plan.stdout);
    // Gone entirely, volumes too: `docker flow proxy` rebuilds both from the engine's state.
    assert!(docker(&["rm", "-f", &bed.proxy_name]).status.success());
    assert!(
        docker(&["volume", "rm", &format!("{}-data", bed.proxy_name)])
            .status
            .success()
    );
    assert!(bed.get("/demo").is_none());
    bed.flow(&["proxy"]).ok();
    assert_eq!(body(&bed, "/demo"), "v1");
    assert_eq!(routes(&bed), before);
}

#[test]
fn the_admin_api_answers_on_loopback_only() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("admin", 0);
    bed.flow(&["deploy"]).ok();
    let port = docker(&["port", &bed.proxy_name, "2019/tcp"]);
    let published = String::from_utf8_lossy(&port.stdout);
    assert_eq!(
        published.trim(),
        format!("127.0.0.1:{}", bed.admin_port),
        "admin published beyond loopback"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", bed.admin_port)).is_ok());
    // On loopback, only docker flow's own origin is served: a page in a browser on this host
    // (its own Origin, or none after DNS rebinding) is refused.
    let admin_status = |origin: Option<&str>| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", bed.admin_port)).unwrap();
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET /config/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{origin}Connection: close\r\n\r\n",
            bed.admin_port
        )
        .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    let ours = format!("http://127.0.0.1:{}", bed.admin_port);
    assert_eq!(admin_status(Some(&ours)), "200");
    assert_eq!(admin_status(None), "403");
    assert_eq!(admin_status(Some("http://attacker.example")), "403");
    // From another host (a network namespace of the test's own, on a veth pair), the service port
    // answers and the admin port does not.
    let ns = support::unique("dfns");
    let (host_if, ns_if) = (
        format!("{}h", &ns[..ns.len().min(12)]),
        format!("{}n", &ns[..ns.len().min(12)]),
    );
    let sh = |a: &[&str]| Command::new("ip").args(a).status().unwrap().success();
    assert!(sh(&["netns", "add", &ns]));
    let cleanup = || {
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
    };
    let octet = 10 + (std::process::id() % 200) as u8;
    let (host_ip, ns_ip) = (format!("198.18.{octet}.1"), format!("198.18.{octet}.2"));
    let ok = sh(&[
        "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
    ]) && sh(&["link", "set", &ns_if, "netns", &ns])
        && sh(&["addr", "add", &format!("{host_ip}/24"), "dev", &host_if])
        && sh(&["link", "set", &host_if, "up"])
        && sh(&[
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "add",
            &format!("{ns_ip}/24"),
            "dev",
            &ns_if,
        ])
        && sh(&["netns", "exec", &ns, "ip", "link", "set", &ns_if, "up"]);
    let probe = |port: u16| {
        // A TCP connect from inside the namespace (bash's /dev/tcp; the test's own fixed script).
        let script = format!("exec 3<>/dev/tcp/{host_ip}/{port} && echo open || echo closed");
        Command::new("ip")
            .args(["netns", "exec", &ns, "timeout", "5", "bash", "-c", &script])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let (http, admin) = if ok {
        (probe(bed.http_port), probe(bed.admin_port))
    } else {
        (String::new(), String::new())
    };
    cleanup();
    assert!(ok, "could not set up the test host");
    assert_eq!(
        http, "open",
        "the service port is not reachable from the other host, so the check proves nothing"
    );
    assert_eq!(
        admin, "closed",
        "the admin API is reachable from another host"
    );
}

#[test]
fn a_non_loopback_admin_host_needs_an_explicit_opt_in() {
    let bed = Bed::new("optin");
    let r = bed.flow(&["config", "--proxy-host", "192.0.2.10"]);
    r.fails(2, "not a loopback address");
    assert!(
        r.stderr.contains("--proxy-allow-remote-admin"),
        "{}",
        r.stderr
    );
    bed.flow(&[
        "config",
        "--proxy-host",
        "192.0.2.10",
        "--proxy-allow-remote-admin",
    ])
    .ok();
}

/// A server that answers 200 and records each request line.
fn recorder() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_ok() {
                log.lock().unwrap().push(line.trim().to_string());
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                    break;
                }
            }
            let mut s = stream;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"Status\":\"OK\"}\n");
        }
    });
    (port, seen)
}

#[test]
fn the_docker_flow_proxy_driver_speaks_the_seeds_protocol() {
    if !support::engine_available() {
        return;
    }
    let (port, seen) = recorder();
    let bed = Bed::demo("dfp", 0);
    // A running container stands in for Docker Flow Proxy (its image cannot be pulled here):
    // the requests go to the recorder, the templates into this container.
    assert!(
        docker(&["run", "-d", "--name", &bed.proxy_name, "demo-service:v1"])
            .status
            .success()
    );
    let common = ["--proxy-driver", "docker-flow-proxy", "--proxy-reconf-port"];
    let port_s = port.to_string();
    let mut a: Vec<&str> = vec!["deploy"];
    a.extend(common);
    a.push(&port_s);
    bed.flow(&a).ok();
    let mut b = a.clone();
    b.extend(["--service-path", "/a", "--service-path", "/b c"]);
    bed.flow(&b).fails(2, "which a path prefix may not");
    b.truncate(a.len());
    b.extend(["--service-path", "/a", "--service-path", "/b"]);
    bed.flow(&b).ok();
    let svc = format!("{}-app", bed.project);
    std::fs::write(
        bed.path().join("fe.tmpl"),
        "frontend SERVICE_NAME-fe\n  use_backend SERVICE_NAME-be\n",
    )
    .unwrap();
    std::fs::write(bed.path().join("be.tmpl"), "backend SERVICE_NAME-be\n").unwrap();
    let mut c = a.clone();
    c.extend([
        "--consul-template-fe-path",
        "fe.tmpl",
        "--consul-template-be-path",
        "be.tmpl",
    ]);
    bed.flow(&c).ok();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(
        requests,
        vec![
            format!("GET /v1/docker-flow-proxy/reconfigure?serviceName={svc}&serviceColor=blue&servicePath=%2Fdemo HTTP/1.1"),
            format!("GET /v1/docker-flow-proxy/reconfigure?serviceName={svc}&serviceColor=green&servicePath=%2Fa%2C%2Fb HTTP/1.1"),
            format!(
                "GET /v1/docker-flow-proxy/reconfigure?serviceName={svc}&consulTemplateFePath=%2Fconsul_templates%2F{svc}-fe.tmpl&consulTemplateBePath=%2Fconsul_templates%2F{svc}-be.tmpl HTTP/1.1"
            ),
        ]
    );
    // The templates landed in the real container with SERVICE_NAME replaced by the colour's name.
    let out = tempfile::tempdir().unwrap();
    let fe = out.path().join("fe");
    assert!(docker(&[
        "cp",
        &format!("{}:/consul_templates/{svc}-fe.tmpl", bed.proxy_name),
        fe.to_str().unwrap()
    ])
    .status
    .success());
    assert_eq!(
        std::fs::read_to_string(&fe).unwrap(),
        format!("frontend {svc}-blue-fe\n  use_backend {svc}-blue-be\n")
    );
    let be = out.path().join("be");
    assert!(docker(&[
        "cp",
        &format!("{}:/consul_templates/{svc}-be.tmpl", bed.proxy_name),
        be.to_str().unwrap()
    ])
    .status
    .success());
    assert_eq!(
        std::fs::read_to_string(&be).unwrap(),
        format!("backend {svc}-blue-be\n")
    );
    // A proxy that answers anything but 200 fails the switch with exit 3, before the old release stops.
    let mut d = vec![
        "deploy",
        "--proxy-driver",
        "docker-flow-proxy",
        "--proxy-reconf-port",
    ];
    let dead = support::free_port().to_string();
    d.push(&dead);
    let r = bed.flow(&d);
    r.fails(3, "is unreachable");
}
