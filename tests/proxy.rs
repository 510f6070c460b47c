//! The proxy drivers on the real engine: Caddy shared by projects, surviving restarts, its control
//! surface closed to every host port and container; the seed's Docker Flow Proxy protocol against
//! a recording server.

use crate::support;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::load::Load;
use support::Bed;

fn routes(bed: &Bed) -> Value {
    let r = bed.flow(&["status", "--format", "json"]);
    r.ok();
    r.json()["proxy"]["routes"].clone()
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
            "target: app\nside_targets: [db]\nblue_green: true\nservice_path: [{path}]\npull: missing\nproxy_image: {}\nproxy_name: {}\nproxy_http_port: {}\nproxy_https_port: {}\nproxy_reconf_port: {}\n",
            support::CADDY_IMAGE, host.proxy_name, host.http_port, host.https_port, host.admin_port
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
    assert_eq!(a.version_at("/demo"), "v1");
    assert_eq!(a.version_at("/other"), "v3");
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
    assert_eq!(a.version_at("/demo"), "v2");
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
    // The proxy gone with its rotation's records but not its config: the route is first given
    // the instances on its network (as when upgrading from a docker flow that switched by
    // network alias).
    let records = format!("{}-dns", bed.proxy_name);
    assert!(docker(&["rm", "-f", &bed.proxy_name]).status.success());
    assert!(docker(&["volume", "rm", &records]).status.success());
    let plan = bed.flow(&["proxy", "--dry-run"]);
    plan.ok();
    let seed = format!(
        " set /routes app.{}.dflow {}-app-blue-1@",
        bed.project, bed.project
    );
    assert!(plan.stdout.contains(&seed), "{}", plan.stdout);
    // Gone entirely, volumes too: `docker flow proxy` rebuilds both from the engine's state.
    assert!(
        docker(&["volume", "rm", &format!("{}-data", bed.proxy_name)])
            .status
            .success()
    );
    assert!(bed.get("/demo").is_none());
    bed.flow(&["proxy"]).ok();
    assert_eq!(bed.version_at("/demo"), "v1");
    assert_eq!(routes(&bed), before);
}

/// The proxy's addresses on each network it joins (network name, IPv4 address).
fn proxy_addresses(bed: &Bed) -> Vec<(String, String)> {
    let out = docker(&[
        "inspect",
        "--format",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}\n{{end}}",
        &bed.proxy_name,
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, ip)| (n.to_string(), ip.to_string()))
        .collect()
}

/// Runs `program ARGS` in the network namespace of a container started on `network` (as that
/// container would: same interfaces, same addresses), and returns its exit status and output.
fn from_container_on(network: &str, program: &[&str]) -> (bool, String) {
    let name = support::unique("intruder");
    let started = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        network,
        "demo-service:v1",
    ]);
    assert!(started.status.success(), "{started:?}");
    let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    let out = Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(program)
        .output()
        .unwrap();
    let _ = docker(&["rm", "-f", &name]);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_proxys_control_surface_is_reachable_by_no_host_port_and_no_container() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("closed", 0);
    bed.flow(&["deploy"]).ok();
    // Only the HTTP and HTTPS ports are published.
    let ports = docker(&["port", &bed.proxy_name]);
    let ports = String::from_utf8_lossy(&ports.stdout);
    assert!(
        ports
            .lines()
            .all(|l| l.starts_with("80/tcp ") || l.starts_with("443/tcp ")),
        "published: {ports}"
    );
    let nets = proxy_addresses(&bed);
    assert_eq!(
        nets.len(),
        3,
        "the default bridge, the route network and the project's network (where the proxy answers `app`): {nets:?}"
    );
    let config_before = bed.flow(&["status", "--format", "json"]).json()["proxy"].clone();
    for (network, ip) in &nets {
        // The service port answers from there, so a refusal below is not the network's doing.
        let (ok, out) = from_container_on(
            network,
            &["curl", "-sS", "-m", "3", &format!("http://{ip}:80/demo")],
        );
        assert!(ok && out.starts_with("v1"), "{network}: {out}");
        // The admin API, with every header a forger would try, to read and to replace it.
        for (method, path, body) in [("GET", "config/", None), ("POST", "load", Some("{}"))] {
            let url = format!("http://{ip}:2019/{path}");
            let mut a = vec!["curl", "-sS", "-m", "3", "-X", method];
            for h in [
                "Origin: http://127.0.0.1:2019",
                "Host: 127.0.0.1:2019",
                "Content-Type: application/json",
            ] {
                a.extend(["-H", h]);
            }
            if let Some(b) = body {
                a.extend(["--data-binary", b]);
            }
            a.push(&url);
            let (ok, out) = from_container_on(network, &a);
            assert!(!ok, "{network}: {method} {url} answered: {out}");
            assert!(
                out.contains("Couldn't connect") || out.contains("refused"),
                "{network}: {out}"
            );
        }
        // Through the HTTP port, the admin paths are not the admin API.
        let (_, out) = from_container_on(
            network,
            &[
                "curl",
                "-sS",
                "-m",
                "3",
                "-H",
                "Host: 127.0.0.1:2019",
                &format!("http://{ip}:80/config/"),
            ],
        );
        assert!(
            !out.contains("docker-flow"),
            "{network}: the config leaked: {out}"
        );
        // The rotation's records: a DNS query for the route's record gets no answer.
        let query = format!(
            "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); \
             name=b''.join(bytes([len(l)])+l.encode() for l in 'app.{}.dflow'.split('.')); \
             s.sendto(b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00'+name+b'\\x00\\x00\\x01\\x00\\x01', ('{ip}', 5353)); \
             print(s.recvfrom(512))",
            bed.project
        );
        let (ok, out) = from_container_on(network, &["python3", "-c", &query]);
        assert!(
            !ok && out.contains("timed out"),
            "{network}: the rotation answered: {out}"
        );
    }
    let config_after = bed.flow(&["status", "--format", "json"]).json()["proxy"].clone();
    assert_eq!(config_before, config_after);
    assert_eq!(bed.version_at("/demo"), "v1");
}

#[test]
fn the_docker_flow_proxy_driver_speaks_the_seeds_protocol() {
    if !support::engine_available() {
        return;
    }
    let (port, seen) = support::recorder("127.0.0.1");
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

/// Writes a one-service project `name` with target `target` behind `host`'s proxy on `path`.
fn one_service(bed: &Bed, name: &str, target: &str, blue_green: bool, path: &str, host: &Bed) {
    bed.write(
        "compose.yaml",
        &format!(
            "name: {name}\nservices:\n  {target}:\n    image: demo-service:${{V:-v1}}\n    expose: [\"8080\"]\n"
        ),
    );
    bed.write(
        "docker-flow.yml",
        &format!(
            "target: {target}\nblue_green: {blue_green}\nservice_path: [{path}]\npull: missing\nproxy_image: {}\nproxy_name: {}\nproxy_http_port: {}\nproxy_https_port: {}\n",
            support::CADDY_IMAGE, host.proxy_name, host.http_port, host.https_port
        ),
    );
}

#[test]
fn projects_whose_names_run_together_get_their_own_routes_and_networks() {
    if !support::engine_available() {
        return;
    }
    // `shop` + `api-web` and `shop-api` + `web`: the same words, split differently.
    let a = Bed::new("coll");
    one_service(&a, &a.project, "api-web", true, "/a", &a);
    a.flow(&["deploy"]).ok();
    let mut b = Bed::new("coll");
    b.project = format!("{}-api", a.project);
    one_service(&b, &b.project, "web", false, "/b", &a);
    b.env("V", "v2");
    b.flow(&["deploy"]).ok();
    assert_eq!(a.version_at("/a"), "v1");
    assert_eq!(a.version_at("/b"), "v2");
    a.flow(&["deploy"]).ok();
    b.flow(&["deploy"]).ok();
    for _ in 0..20 {
        assert_eq!(a.version_at("/a"), "v1");
        assert_eq!(a.version_at("/b"), "v2");
    }
    // Neither project's containers share a network with the other's.
    let networks = |bed: &Bed| {
        let ids = bed.docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", bed.project),
        ]);
        let mut nets = std::collections::BTreeSet::new();
        for id in ids.stdout.split_whitespace() {
            let n = bed.docker(&[
                "inspect",
                "--format",
                "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
                id,
            ]);
            nets.extend(n.stdout.split_whitespace().map(String::from));
        }
        nets
    };
    let (na, nb) = (networks(&a), networks(&b));
    assert!(!na.is_empty() && !nb.is_empty(), "{na:?} {nb:?}");
    assert!(na.is_disjoint(&nb), "shared networks: {na:?} and {nb:?}");
    // A network of a route's name that another route owns is refused before anything changes.
    let c = Bed::new("coll");
    let taken = format!("dflow-{}.web", c.project);
    c.docker(&[
        "network",
        "create",
        "--label",
        "io.docker-flow.route=someone.else",
        &taken,
    ])
    .ok();
    one_service(&c, &c.project, "web", true, "/c", &a);
    let before = c.engine_snapshot();
    let r = c.flow(&["deploy"]);
    r.fails(
        3,
        &format!("the network `{taken}` belongs to the route `someone.else`"),
    );
    assert_eq!(before, c.engine_snapshot(), "the engine changed");
    c.docker(&["network", "rm", &taken]).ok();
}

#[test]
fn the_docker_flow_proxy_driver_starts_its_proxy_on_the_configured_ports_once_it_answers() {
    if !support::engine_available() {
        return;
    }
    // No proxy runs: docker flow starts one from --proxy-image (a stand-in answering HTTP on
    // 8080, as Docker Flow Proxy's API does, with its ping), published on the ports given.
    let bed = Bed::demo("dfpstart", 0);
    let (http, reconf) = (
        support::free_port().to_string(),
        support::free_port().to_string(),
    );
    let r = bed.flow(&[
        "deploy",
        "--proxy-driver",
        "docker-flow-proxy",
        "--proxy-image",
        "demo-service:v1",
        "--proxy-http-port",
        &http,
        "--proxy-reconf-port",
        &reconf,
    ]);
    let ports = docker(&["port", &bed.proxy_name]);
    let image = docker(&["inspect", "-f", "{{.Config.Image}}", &bed.proxy_name]);
    let _ = docker(&["rm", "-f", &bed.proxy_name]);
    r.ok();
    let ports = String::from_utf8_lossy(&ports.stdout).into_owned();
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{http}")),
        "{ports}"
    );
    assert!(
        ports.contains(&format!("8080/tcp -> 0.0.0.0:{reconf}")),
        "{ports}"
    );
    assert_eq!(
        String::from_utf8_lossy(&image.stdout).trim(),
        "demo-service:v1"
    );
}

#[test]
fn down_takes_the_project_its_releases_and_routes_away_and_leaves_another_project_served() {
    if !support::engine_available() {
        return;
    }
    // A with a named volume on its database, and a second target (`api`), both blue-green;
    // B on the same proxy.
    let mut a = Bed::demo("downa", 0);
    let compose = std::fs::read_to_string(a.path().join("compose.yaml")).unwrap();
    a.write(
        "compose.yaml",
        &format!(
            "{}  api:\n    image: demo-service:v1\n    expose: [\"8080\"]\nvolumes:\n  data: {{}}\n",
            compose.replace(
                "      VERSION: db\n",
                "      VERSION: db\n    volumes: [\"data:/data\"]\n"
            )
        ),
    );
    a.flow(&["deploy"]).ok();
    a.env("V", "v2");
    a.flow(&["deploy"]).ok();
    // `api`'s route from its own settings in docker-flow.yml (`services:`).
    let settings = std::fs::read_to_string(a.path().join("docker-flow.yml")).unwrap();
    a.write(
        "docker-flow.yml",
        &format!("{settings}services:\n  api:\n    service_path: [/api]\n"),
    );
    a.flow(&["deploy", "api"]).ok();
    let b = sharing(&a, "downb", "/other");
    b.flow(&["deploy"]).ok();
    assert_eq!(a.version_at("/demo"), "v2");
    assert_eq!(a.version_at("/api"), "v1");
    // A's networks and volumes (the proxy's, named after A's bed, aside).
    let of_a = |what: &str| -> Vec<String> {
        let mut found =
            support::docker_words(&[what, "ls", "-q", "--filter", &format!("name={}", a.project)]);
        found.retain(|n| !n.starts_with(&a.proxy_name));
        found
    };
    let containers_of_a = || {
        support::docker_words(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", a.project),
        ])
    };
    assert!(!of_a("network").is_empty());
    // A bad option changes nothing.
    a.flow(&["down", "--volumes=maybe"]).fails(2, "maybe");
    assert!(!containers_of_a().is_empty());
    let r = a.flow(&["down"]);
    r.ok();
    assert!(
        r.stdout.contains(&format!("project {} is down", a.project)),
        "{}",
        r.stdout
    );
    // No container of A (both colours of both targets, the database), no network of A (its
    // route networks among them), no route of A in the proxy; its volumes kept.
    assert!(containers_of_a().is_empty(), "{:?}", containers_of_a());
    assert!(of_a("network").is_empty(), "{:?}", of_a("network"));
    let config = a.proxy_admin("/config/").unwrap();
    assert!(
        !config.contains(&format!("docker-flow.{}.", a.project)),
        "{config}"
    );
    let volumes = of_a("volume");
    assert!(
        volumes.contains(&format!("{}_data", a.project)),
        "{volumes:?}"
    );
    let gone = a.get("/demo");
    assert!(
        gone.as_ref()
            .is_none_or(|(c, body)| *c != 200 || !body.starts_with('v')),
        "{gone:?}"
    );
    // B serves on (on A's proxy, at A's port; taking A's route out of Caddy's config reloads
    // it: a request in the moment of the reload may go unanswered, as with any new route).
    let b_serves = || {
        (0..50).any(|_| {
            let ok = a
                .get("/other")
                .is_some_and(|(c, body)| c == 200 && body.starts_with("v1"));
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        })
    };
    assert!(b_serves(), "B stopped serving");
    // Up again, then down with its volumes and `--proxy`: the named volume and the history go
    // too; the proxy stays, B's routes are in it.
    a.flow(&["deploy"]).ok();
    let r = a.flow(&["down", "--volumes", "--proxy"]);
    r.ok();
    assert!(
        r.stdout.contains(&format!(
            "the proxy {} stays: projects {} have routes in it",
            a.proxy_name, b.project
        )),
        "{}",
        r.stdout
    );
    assert!(of_a("volume").is_empty(), "{:?}", of_a("volume"));
    assert!(containers_of_a().is_empty());
    assert!(b_serves(), "B stopped serving");
    // B, the last project in it, takes the proxy with it; its volumes (certificates) stay
    // unless asked.
    let r = b.flow(&["down", "--proxy", "--format", "json"]);
    r.ok();
    let proxy = &r.json()["proxy"];
    assert_eq!(proxy["name"], a.proxy_name.as_str(), "{}", r.stdout);
    assert!(proxy["kept_because"].is_null(), "{}", r.stdout);
    assert!(
        support::docker_words(&["ps", "-aq", "--filter", &format!("name=^{}$", a.proxy_name)])
            .is_empty(),
        "the proxy is still there"
    );
    let proxy_volumes = support::docker_words(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("name={}-", a.proxy_name),
    ]);
    assert!(
        !proxy_volumes.is_empty(),
        "the proxy's volumes went unasked"
    );
    // Gone already: nothing to remove, and said so by no `proxy` in the report.
    let r = b.flow(&["down", "--proxy", "--volumes", "--format", "json"]);
    r.ok();
    assert!(r.json()["proxy"].is_null(), "{}", r.stdout);
}

/// `bed`'s demo project with `front`, a service in front of `app` that calls it by its Compose
/// service name (`http://app:8080/` on `GET /via`), published on an ephemeral host port and
/// started with the release as a side target. As nginx with `proxy_pass http://app:8080`, it
/// depends on `app`, resolves the name once as it starts, exits when it cannot, and keeps
/// that address.
fn with_front(bed: &Bed) {
    let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
    bed.write(
        "compose.yaml",
        &format!(
            "{compose}  front:\n    image: demo-service:v1\n    depends_on: [app]\n    environment:\n      VERSION: front\n      UPSTREAM: app:8080\n      UPSTREAM_RESOLVE: start\n    ports: [\"8080\"]\n"
        ),
    );
    let settings = std::fs::read_to_string(bed.path().join("docker-flow.yml")).unwrap();
    bed.write(
        "docker-flow.yml",
        &settings.replace("side_targets: [db]", "side_targets: [db, front]"),
    );
}

/// The host port `front` of `bed`'s project is published on.
fn front_port(bed: &Bed) -> u16 {
    let out = support::docker_ok(&["port", &format!("{}-front-1", bed.project), "8080/tcp"]);
    let first = out.lines().next().unwrap_or_default();
    first
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("front publishes no port: {out}"))
}

#[test]
fn a_projects_services_reach_a_blue_green_service_by_its_compose_name_always_the_live_release() {
    if !support::engine_available() {
        return;
    }
    // A: `front` calls `app` (blue-green) by name. B shares A's proxy, with an `app` and a
    // `front` of its own: each project's name is its own, on the same port of the same proxy.
    let mut a = Bed::demo("namea", 0);
    with_front(&a);
    a.flow(&["deploy"]).ok();
    let mut b = sharing(&a, "nameb", "/other");
    with_front(&b);
    b.env("V", "v3");
    b.flow(&["deploy"]).ok();
    let via = |bed: &Bed| support::load::get(("127.0.0.1", front_port(bed)), "/via");
    let answer = via(&a).expect("A's front does not answer");
    assert!(answer.0 == 200 && answer.1.starts_with("v1 "), "{answer:?}");
    let answer = via(&b).expect("B's front does not answer");
    assert!(answer.0 == 200 && answer.1.starts_with("v3 "), "{answer:?}");

    // A redeploy of A's `app` under load on A's front: every call answered, none by v1 once v2
    // answered (no mixed versions), only v2 after the command returns.
    a.env("V", "v2");
    let load = Load::start(front_port(&a), "/via", 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let run = a.flow(&["deploy"]);
    let returned = load.started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let stats = load.stop();
    run.ok();
    eprintln!(
        "front calling app by name through a redeploy: {}",
        stats.summary()
    );
    support::load::no_drop(&stats, returned, "v2");
    let first = stats.first_of("v2").expect("no v2 answer");
    assert_eq!(
        stats.stale_after("v2", first + Duration::from_millis(100)),
        0,
        "v1 answered after v2 did: {}",
        stats.summary()
    );
    // The name is A's only: B's front still reaches B's release.
    let answer = via(&b).expect("B's front does not answer");
    assert!(answer.0 == 200 && answer.1.starts_with("v3 "), "{answer:?}");
    // The public route and the name agree.
    assert_eq!(a.version_at("/demo"), "v2");
    a.flow(&["down"]).ok();
    b.flow(&["down"]).ok();
}

#[test]
fn maintenance_serves_a_page_instead_of_the_releases_through_a_restart_and_a_deploy_until_off() {
    if !support::engine_available() {
        return;
    }
    let mut a = Bed::demo("mainta", 0);
    a.flow(&["deploy"]).ok();
    let b = sharing(&a, "maintb", "/other");
    b.flow(&["deploy"]).ok();
    let r = a.flow(&[
        "maintenance",
        "on",
        "--message",
        "Back at 14:00",
        "--format",
        "json",
    ]);
    r.ok();
    assert_eq!(
        r.json()["targets"],
        serde_json::json!(["app"]),
        "{}",
        r.stdout
    );
    let page = |bed: &Bed| bed.get("/demo").expect("no answer");
    assert_eq!(page(&a), (503, "Back at 14:00\n".to_string()));
    // Another project's route serves on.
    let (code, body) = a.get("/other").unwrap();
    assert!(code == 200 && body.starts_with("v1"), "{code} {body}");
    // Status says so; the release still runs, in rotation.
    let s = a.flow(&["status", "--format", "json"]).json();
    assert_eq!(s["proxy"]["routes"][0]["maintenance"], true, "{s}");
    assert_eq!(
        s["proxy"]["routes"][0]["upstreams"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "{s}"
    );
    // A restart of the proxy keeps it (it is Caddy's saved config).
    docker(&["restart", &a.proxy_name]);
    let started = std::time::Instant::now();
    let served = loop {
        if let Some(answer) = a.get("/demo") {
            break answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the proxy did not come back"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(served, (503, "Back at 14:00\n".to_string()));
    // A deploy meanwhile switches the release behind the page, which stays.
    a.env("V", "v2");
    a.flow(&["deploy"]).ok();
    assert_eq!(page(&a).0, 503);
    // Off: the route serves its release again; `--message` belongs to `on` only.
    a.flow(&["maintenance", "off", "--message", "x"])
        .fails(2, "--message is the page `maintenance on` serves");
    a.flow(&["maintenance", "off"]).ok();
    assert_eq!(a.version_at("/demo"), "v2");
    let s = a.flow(&["status", "--format", "json"]).json();
    assert_eq!(s["proxy"]["routes"][0]["maintenance"], false, "{s}");
}

#[test]
fn the_proxy_answers_a_service_name_only_on_networks_the_project_made() {
    if !support::engine_available() {
        return;
    }
    // The project's default network is an external one (others may share it): no name there.
    let bed = Bed::demo("nameext", 0);
    let shared = format!("{}-shared", bed.project);
    support::docker_ok(&["network", "create", &shared]);
    let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
    bed.write(
        "compose.yaml",
        &format!("{compose}networks:\n  default:\n    name: {shared}\n    external: true\n"),
    );
    let r = bed.flow(&["deploy"]);
    r.ok();
    assert!(
        r.stderr.contains(&format!(
            "the proxy does not answer `app` on the network `{shared}`"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(bed.version_at("/demo"), "v1");
    let on: Vec<String> = proxy_addresses(&bed).into_iter().map(|(n, _)| n).collect();
    assert!(!on.contains(&shared), "{on:?}");
    bed.flow(&["down"]).ok();
    docker(&["network", "rm", &shared]);
}
