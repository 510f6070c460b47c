//! HTTPS for routes with domains: certificates from an ACME CA (a second Caddy on the engine,
//! see `support::acme`), from Caddy's local CA, or from files; the HTTP redirect; a redeploy
//! over HTTPS under load; the client's address as the app sees it; and a proxy started before
//! HTTPS, recreated with it once a route needs it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::acme::AcmeCa;
use crate::support::load::{self, Https, Load};
use crate::support::{self, docker_ok, docker_words, Bed};

/// `GET path` on the proxy's HTTP port at `addr` for `host`: the status and the whole answer.
fn http_get(addr: (&str, u16), host: &str, path: &str) -> (u16, String) {
    http_get_with(addr, host, path, "")
}

/// `http_get` with `headers` (`Name: value\r\n` lines) sent too.
fn http_get_with(addr: (&str, u16), host: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

/// Waits until HTTPS answers 200 on `path` (Caddy obtains a new domain's certificate in the
/// background); the body.
#[track_caller]
fn wait_https(https: &Https, path: &str, context: &dyn Fn() -> String) -> String {
    let started = Instant::now();
    loop {
        match https.get(path) {
            Ok((200, body)) => return body,
            other if started.elapsed() > Duration::from_secs(60) => {
                panic!("HTTPS never answered: {other:?}\n{}", context())
            }
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// HTTPS to `bed`'s proxy for `domain`, trusting the root of the proxy's own local CA
/// (`--tls internal`), copied out of its data volume.
fn https_with_local_root(bed: &Bed, domain: &str) -> Https {
    let root = bed.path().join("local-root.pem");
    docker_ok(&[
        "cp",
        &format!(
            "{}:/data/caddy/pki/authorities/local/root.crt",
            bed.proxy_name
        ),
        root.to_str().unwrap(),
    ]);
    Https::new(bed.https_port, domain, &std::fs::read(&root).unwrap())
}

fn proxy_logs(proxy: &str) -> String {
    let o = std::process::Command::new("docker")
        .args(["logs", proxy])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_certificate_from_acme_is_obtained_once_and_a_redeploy_over_https_drops_nothing() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("acme", 0);
    let ca = AcmeCa::start(&bed.project);
    // The proxy serves already when the domain is added (as DNS points at a running server).
    bed.flow(&["deploy"]).ok();
    ca.resolve(&bed.proxy_name, "shop.test");
    bed.write("ca-root.pem", &String::from_utf8(ca.root.clone()).unwrap());
    let domain = [
        "--service-domain",
        "shop.test",
        "--acme-ca",
        &ca.directory,
        "--acme-ca-root",
        "ca-root.pem",
        "--acme-email",
        "ops@shop.test",
    ];
    let mut deploy = vec!["deploy"];
    deploy.extend(domain);
    // The deploy that adds the domain waits for its certificate, and says so.
    let r = bed.flow(&deploy);
    r.ok();
    assert!(
        r.stderr.contains("certificate ready for shop.test"),
        "{}",
        r.stderr
    );
    let https = Https::new(bed.https_port, "shop.test", &ca.root);
    let proxy = bed.proxy_name.clone();
    let context = || format!("CA:\n{}\nproxy:\n{}", ca.logs(), proxy_logs(&proxy));
    let body = wait_https(&https, "/demo", &context);
    assert!(body.starts_with("v1 "), "{body}");

    // HTTP on the domain: a permanent redirect, method kept, to the published HTTPS port.
    let (status, answer) = http_get(("127.0.0.1", bed.http_port), "shop.test", "/demo?x=1");
    assert_eq!(status, 308, "{answer}");
    assert!(
        answer.contains(&format!(
            "Location: https://shop.test:{}/demo?x=1",
            bed.https_port
        )),
        "{answer}"
    );

    // A redeploy under 4-client HTTPS load, a fresh TLS connection per request.
    bed.env("V", "v2");
    let live = Load::start_https(&https, "/demo", 4, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(500));
    let r = bed.flow(&deploy);
    let deployed = live.started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let stats = live.stop();
    r.ok();
    load::no_drop(&stats, deployed, "v2");

    // The switch issued nothing: one certificate, and Caddy obtained it once.
    assert_eq!(ca.issued(), 1, "{}", context());
    assert_eq!(
        proxy_logs(&proxy)
            .matches("certificate obtained successfully")
            .count(),
        1,
        "{}",
        context()
    );

    // The certificate is on the proxy's volume: a restarted proxy serves it without asking.
    support::docker_words(&["restart", &bed.proxy_name]);
    let body = wait_https(&https, "/demo", &context);
    assert!(body.starts_with("v2 "), "{body}");
    assert_eq!(ca.issued(), 1, "{}", context());
}

/// The address this machine's traffic to its own non-loopback address comes from: a client
/// there reaches the proxy by the engine's port forwarding, which keeps the source address.
fn own_address() -> String {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    s.connect("10.255.255.1:9").unwrap();
    s.local_addr().unwrap().ip().to_string()
}

#[test]
fn internal_and_file_certificates_redirects_and_the_clients_address() {
    if !support::engine_available() {
        return;
    }
    let bed = Bed::demo("tlsint", 0);
    bed.flow(&[
        "deploy",
        "--service-domain",
        "shop.test",
        "--tls",
        "internal",
    ])
    .ok();
    let https = https_with_local_root(&bed, "shop.test");
    let context = || proxy_logs(&bed.proxy_name);
    assert!(wait_https(&https, "/demo", &context).starts_with("v1 "));
    let (status, answer) = http_get(("127.0.0.1", bed.http_port), "shop.test", "/demo");
    assert_eq!(status, 308, "{answer}");
    // status says the route is on HTTPS.
    let s = bed.flow(&["status", "--format", "json"]).json();
    let route = &s["proxy"]["routes"][0];
    assert_eq!(
        (&route["domains"], &route["https"]),
        (&serde_json::json!(["shop.test"]), &serde_json::json!(true)),
        "{s}"
    );

    // The client's address: Caddy forwards the address the connection came from.
    let me = own_address();
    let body = wait_https(&https, "/demo/client", &context);
    assert!(body.contains("forwarded-for="), "{body}");
    // What the app saw of a request from this machine's own address over HTTP (no redirect),
    // carrying a forged X-Forwarded-For, after `docker flow proxy` with `extra` options.
    let seen_with = |extra: &[&str]| -> String {
        let mut a = vec![
            "proxy",
            "--service-domain",
            "shop.test",
            "--tls",
            "internal",
            "--https-redirect=false",
        ];
        a.extend_from_slice(extra);
        bed.flow(&a).ok();
        let (status, answer) = http_get_with(
            (me.as_str(), bed.http_port),
            "shop.test",
            "/demo/client",
            "X-Forwarded-For: 6.6.6.6\r\n",
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    // A client's own X-Forwarded-For is not believed.
    let answer = seen_with(&[]);
    assert!(
        answer.contains(&format!("forwarded-for={me} "))
            && answer.contains(&format!("real-ip={me}")),
        "the app did not see this client's address {me}: {answer}"
    );
    // Behind a proxy of one's own (a load balancer at this address): its X-Forwarded-For is
    // believed, and the client it names is the app's X-Real-IP.
    let trusted = format!("{me}/32");
    let answer = seen_with(&["--proxy-trusted-proxies", &trusted]);
    assert!(
        answer.contains(&format!("forwarded-for=6.6.6.6, {me} "))
            && answer.contains("real-ip=6.6.6.6"),
        "the balancer's client was not passed on: {answer}"
    );

    // Certificate files, copied in through the engine.
    let cert = rcgen::generate_simple_self_signed(vec!["files.test".to_string()]).unwrap();
    bed.write("cert.pem", &cert.cert.pem());
    bed.write("key.pem", &cert.signing_key.serialize_pem());
    bed.flow(&[
        "proxy",
        "--service-domain",
        "files.test",
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
    ])
    .ok();
    let files = Https::new(bed.https_port, "files.test", cert.cert.pem().as_bytes());
    assert!(wait_https(&files, "/demo", &context).starts_with("v1 "));
    // A path-only route is served on HTTPS when given a certificate, for the names it covers,
    // and on HTTP for any host.
    bed.flow(&[
        "proxy",
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
        "--https-redirect=false",
    ])
    .ok();
    assert!(wait_https(&files, "/demo", &context).starts_with("v1 "));
    assert_eq!(bed.version_at("/demo"), "v1");
    // No file of the user's was left anywhere but in the proxy.
    let volumes = docker_words(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("name={}", bed.proxy_name),
    ]);
    assert!(volumes.iter().any(|v| v.ends_with("-tls")), "{volumes:?}");
}

#[test]
fn a_proxy_without_https_serves_on_until_a_route_needs_it_then_is_recreated_with_its_routes() {
    if !support::engine_available() {
        return;
    }
    let mut bed = Bed::demo("tohttps", 0);
    bed.flow(&["deploy"]).ok();
    let name = bed.proxy_name.clone();
    // Rebuild the proxy as a docker flow before HTTPS ran it (layout 2): docker flow's helper
    // first, HTTP only, Caddy's data in the container; same config, records and networks.
    let helper = docker_ok(&["inspect", "--format", "{{.Path}}", &name]);
    let args: Vec<String> = serde_json::from_str(&docker_ok(&[
        "inspect",
        "--format",
        "{{json .Args}}",
        &name,
    ]))
    .unwrap();
    let saved = tempfile::tempdir().unwrap();
    docker_ok(&[
        "cp",
        &format!("{name}:/docker-flow"),
        saved.path().to_str().unwrap(),
    ]);
    docker_ok(&["rm", "-f", &name]);
    let http = format!("{}:80", bed.http_port);
    let (data, records) = (
        format!("{name}-data:/config"),
        format!("{name}-dns:/routes"),
    );
    let mut create = vec![
        "create",
        "--name",
        &name,
        "--restart",
        "unless-stopped",
        "--label",
        "io.docker-flow.proxy=caddy",
        "--label",
        "io.docker-flow.proxy.layout=2",
        "-p",
        &http,
        "-v",
        &data,
        "-v",
        &records,
        "-e",
        "CADDY_ADMIN=127.0.0.1:2019",
        "-e",
        "XDG_CONFIG_HOME=/config",
        "-e",
        "XDG_DATA_HOME=/data",
        "--entrypoint",
        &helper,
        support::CADDY_IMAGE,
    ];
    create.extend(args.iter().map(String::as_str));
    docker_ok(&create);
    docker_ok(&[
        "cp",
        saved.path().join("docker-flow").to_str().unwrap(),
        &format!("{name}:/"),
    ]);
    docker_ok(&[
        "network",
        "connect",
        &format!("dflow-{}.app", bed.project),
        &name,
    ]);
    docker_ok(&["start", &name]);
    let started = Instant::now();
    while bed.get("/demo").is_none_or(|(c, _)| c != 200) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the layout-2 proxy did not serve"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let layout = || {
        docker_ok(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"io.docker-flow.proxy.layout\"}}",
            &name,
        ])
    };

    // A path-only deploy leaves it as it is; so does a second target's (`api`, which the
    // proxy then answers by name on the project's network, beside `app`).
    bed.env("V", "v2");
    bed.flow(&["deploy"]).ok();
    assert_eq!(layout(), "2");
    assert_eq!(bed.version_at("/demo"), "v2");
    let compose = std::fs::read_to_string(bed.path().join("compose.yaml")).unwrap();
    bed.write(
        "compose.yaml",
        &format!("{compose}  api:\n    image: demo-service:v1\n    expose: [\"8080\"]\n"),
    );
    bed.flow(&["deploy", "api", "--service-path", "/api"]).ok();
    assert_eq!(layout(), "2");
    let network = format!("{}_default", bed.project);
    let names = || {
        let mut words = docker_words(&[
            "inspect",
            "--format",
            &format!(
                "{{{{range (index .NetworkSettings.Networks \"{network}\").Aliases}}}}{{{{.}}}} {{{{end}}}}"
            ),
            &name,
        ]);
        words.retain(|w| w == "app" || w == "api");
        words.sort();
        words
    };
    assert_eq!(names(), ["api", "app"]);

    // The first route that needs HTTPS recreates it once, with the HTTPS port and the volume.
    bed.env("V", "v3");
    let r = bed.flow(&[
        "deploy",
        "--service-domain",
        "shop.test",
        "--tls",
        "internal",
    ]);
    r.ok();
    assert_eq!(layout(), "3");
    // Recreated with the names it answered on the project's network, `api`'s too.
    assert_eq!(names(), ["api", "app"]);
    let ports = docker_ok(&["port", &name]);
    assert!(
        ports.contains(&format!("443/tcp -> 0.0.0.0:{}", bed.https_port)),
        "{ports}"
    );
    let https = https_with_local_root(&bed, "shop.test");
    let body = wait_https(&https, "/demo", &|| proxy_logs(&name));
    assert!(body.starts_with("v3 "), "{body}");
    let volumes = docker_words(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("name={name}-tls"),
    ]);
    assert_eq!(volumes, [format!("{name}-tls")]);
}
