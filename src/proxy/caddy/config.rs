//! Caddy's config as docker flow writes it: pure functions from a route to JSON, unit-tested.
//!
//! docker flow owns one server, `docker-flow`, in `apps.http.servers`, marked with `"@id":
//! "docker-flow"`: that marker (with the container's label) is how it recognises a proxy it
//! configured, and it never replaces a config that lacks it. Each (project, target) owns one
//! route in that server, tagged `"@id": "docker-flow.<project>.<target>"`.

use serde_json::{json, Value};

use super::tls::{Https, Issuer};
use super::{ADMIN, RESOLVER};
use crate::proxy::RouteSpec;

/// The Caddy server (in `apps.http.servers`) that holds docker flow's routes.
pub(super) const SERVER: &str = "docker-flow";
/// The Caddy server (in `apps.http.servers`) that serves the routes with HTTPS, on the
/// container's port 443. Caddy manages the certificates of the domains its routes match.
pub(super) const HTTPS_SERVER: &str = "docker-flow-https";
/// How often Caddy looks a route's record up again.
pub(super) const REFRESH_MS: u64 = 200;

/// The admin API's own settings: the proxy container's loopback only. docker flow reaches it
/// with its helper inside the container; no other container and no host port can.
pub(super) fn admin() -> Value {
    json!({"listen": ADMIN})
}

/// The whole config of a proxy docker flow starts: its server, with no routes yet.
pub(super) fn base() -> Value {
    json!({
        "admin": admin(),
        "apps": {"http": {"servers": {SERVER: {
            "@id": SERVER,
            "listen": [":80"],
            "automatic_https": {"disable": true},
            "routes": []
        }}}}
    })
}

/// What a proxy's config says about who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Owner {
    /// No config yet (a Caddy that has just started): docker flow may write its own.
    Nobody,
    /// docker flow's server is there.
    DockerFlow,
    /// Something else configured this Caddy.
    Foreign,
}

pub(super) fn owner(config: &Value) -> Owner {
    let empty = match config {
        Value::Null => true,
        Value::Object(m) => m.iter().all(|(k, v)| {
            // Caddy fills in an `admin` section of its own when CADDY_ADMIN is set.
            k == "admin" || v.is_null() || v.as_object().is_some_and(|o| o.is_empty())
        }),
        _ => false,
    };
    if empty {
        Owner::Nobody
    } else if config
        .pointer(&format!("/apps/http/servers/{SERVER}"))
        .is_some()
    {
        Owner::DockerFlow
    } else {
        Owner::Foreign
    }
}

/// The route's id.
pub(super) fn route_id(route: &RouteSpec) -> String {
    format!("docker-flow.{}.{}", route.project, route.target)
}

/// The DNS name the route's upstreams are resolved from (its record in the rotation).
pub(super) fn record(route: &RouteSpec) -> String {
    format!("{}.{}.dflow", route.target, route.project).to_ascii_lowercase()
}

/// The request header that opts a request into the route's preview; its value must be the
/// preview's key.
pub(crate) const PREVIEW_HEADER: &str = "X-Docker-Flow-Preview";

/// The DNS name of the route's preview: the release a `deploy --no-promote` staged, reached by
/// requests that carry `PREVIEW_HEADER` with the record's key (the rotation answers it only
/// under `<key>.<name>`). Empty when nothing is staged.
pub(super) fn preview_record(route: &RouteSpec) -> String {
    format!("preview.{}", record(route))
}

/// The route's id in the HTTPS server.
fn https_route_id(route: &RouteSpec) -> String {
    format!("{}.https", route_id(route))
}

/// Whether `servers` (Caddy's `apps.http.servers`) serve the route on HTTPS.
pub(super) fn on_https(servers: &Value, route: &RouteSpec) -> bool {
    let id = json!(https_route_id(route));
    servers
        .pointer(&format!("/{HTTPS_SERVER}/routes"))
        .and_then(Value::as_array)
        .is_some_and(|routes| routes.iter().any(|r| r.get("@id") == Some(&id)))
}

/// The id of the route's certificate policy (which issuer its domains use).
fn policy_id(route: &RouteSpec) -> String {
    format!("{}.tls", route_id(route))
}

/// The id of the route's certificate files (ids are unique in the whole config).
fn files_id(route: &RouteSpec) -> String {
    format!("{}.cert", route_id(route))
}

/// What the proxy's servers are given, beside the routes.
#[derive(Debug, Clone, Default)]
pub(super) struct Servers {
    /// The host port HTTPS is published on, for the redirect.
    pub https_port: u16,
    /// Proxies in front whose `X-Forwarded-For` Caddy believes (None: left as they are).
    pub trusted_proxies: Option<Vec<String>>,
}

/// The whole config with the route as it should be: on HTTP (or a redirect to HTTPS), on HTTPS
/// with its issuer (when `https`), and nowhere else; and the servers as `servers` say. None
/// when `config` is so already: Caddy's config changes only when a route is new or its paths,
/// domains or certificates changed (or the trusted proxies).
pub(super) fn with_route_everywhere(
    config: &Value,
    spec: &RouteSpec,
    https: Option<&Https>,
    servers_given: &Servers,
) -> Option<Value> {
    let https_port = servers_given.https_port;
    let mut new = config.clone();
    let http = match https {
        Some(h) if h.redirect => redirect(spec, https_port),
        _ => route(spec),
    };
    let servers = object_at(&mut new, &["apps", "http", "servers"]);
    let routes = routes_of(servers, SERVER);
    if let Some(r) = with_route(routes.clone(), &http) {
        *routes = r;
    }
    match https {
        Some(_) => {
            if !servers.contains_key(HTTPS_SERVER) {
                servers.insert(HTTPS_SERVER.into(), https_server());
            }
            let ours = with_id(route(spec), &https_route_id(spec));
            let routes = routes_of(servers, HTTPS_SERVER);
            if let Some(r) = with_route(routes.clone(), &ours) {
                *routes = r;
            }
        }
        None => {
            if servers.contains_key(HTTPS_SERVER) {
                let id = json!(https_route_id(spec));
                routes_of(servers, HTTPS_SERVER).retain(|r| r.get("@id") != Some(&id));
            }
        }
    }
    if let Some(ranges) = &servers_given.trusted_proxies {
        for name in [SERVER, HTTPS_SERVER] {
            if let Some(s) = servers.get_mut(name).and_then(Value::as_object_mut) {
                if ranges.is_empty() {
                    s.remove("trusted_proxies");
                } else {
                    s.insert(
                        "trusted_proxies".into(),
                        json!({"source": "static", "ranges": ranges}),
                    );
                }
            }
        }
    }
    let policy = match https.map(|h| &h.issuer) {
        Some(Issuer::Acme { ca, email, root }) => {
            let mut acme = json!({"module": "acme"});
            if let Some(ca) = ca {
                acme["ca"] = json!(ca);
            }
            if let Some(email) = email {
                acme["email"] = json!(email);
            }
            if let Some(root) = root {
                acme["trusted_roots_pem_files"] = json!([root]);
            }
            Some(acme)
        }
        Some(Issuer::Internal) => Some(json!({"module": "internal"})),
        _ => None,
    }
    .map(|issuer| json!({"@id": policy_id(spec), "subjects": spec.domains, "issuers": [issuer]}));
    set_ours(
        &mut new,
        &["apps", "tls", "automation", "policies"],
        &policy_id(spec),
        policy,
    );
    let files = match https.map(|h| &h.issuer) {
        Some(Issuer::Files { cert, key }) => Some(json!({
            "@id": files_id(spec),
            "certificate": cert,
            "key": key,
            "tags": [route_id(spec)]
        })),
        _ => None,
    };
    set_ours(
        &mut new,
        &["apps", "tls", "certificates", "load_files"],
        &files_id(spec),
        files,
    );
    (new != *config).then_some(new)
}

/// The whole config without the route: its HTTP and HTTPS routes, its certificate policy and
/// files (`docker flow down`); other routes as they are. None when it has none of them.
pub(super) fn without_route(config: &Value, spec: &RouteSpec) -> Option<Value> {
    let mut new = config.clone();
    let ids = [json!(route_id(spec)), json!(https_route_id(spec))];
    if let Some(servers) = new
        .pointer_mut("/apps/http/servers")
        .and_then(Value::as_object_mut)
    {
        for server in [SERVER, HTTPS_SERVER] {
            if servers.contains_key(server) {
                routes_of(servers, server)
                    .retain(|r| !r.get("@id").is_some_and(|id| ids.contains(id)));
            }
        }
    }
    set_ours(
        &mut new,
        &["apps", "tls", "automation", "policies"],
        &policy_id(spec),
        None,
    );
    set_ours(
        &mut new,
        &["apps", "tls", "certificates", "load_files"],
        &files_id(spec),
        None,
    );
    (new != *config).then_some(new)
}

/// Every route of every server in the config.
pub(super) fn every_route(config: &Value) -> impl Iterator<Item = &Value> {
    config
        .pointer("/apps/http/servers")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|servers| servers.values())
        .filter_map(|s| s.get("routes").and_then(Value::as_array))
        .flatten()
}

/// The projects with a route in the config (from docker flow's route ids,
/// `docker-flow.<project>.<target>…`: a project name holds no `.`), each once, sorted.
pub(super) fn projects(config: &Value) -> Vec<String> {
    let mut found: Vec<String> = every_route(config)
        .filter_map(|r| r.get("@id").and_then(Value::as_str))
        .filter_map(|id| id.strip_prefix("docker-flow.")?.split('.').next())
        .map(String::from)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The files the config loads (every route's certificate and key, the local CA's root): what
/// the proxy's replicas must keep mounted.
pub(super) fn files_in_use(config: &Value) -> Vec<String> {
    let loaded = config
        .pointer("/apps/tls/certificates/load_files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|f| ["certificate", "key"].map(|k| f.get(k).and_then(Value::as_str)));
    let root = config
        .pointer(LOCAL_CA_ROOT)
        .into_iter()
        .flat_map(|r| ["certificate", "private_key"].map(|k| r.get(k).and_then(Value::as_str)));
    loaded.chain(root).flatten().map(String::from).collect()
}

/// Where the local CA's root is in Caddy's config.
const LOCAL_CA_ROOT: &str = "/apps/pki/certificate_authorities/local/root";

/// `config` with Caddy's local CA (the one `--tls internal` issues from) on the root at `cert`
/// and `key` (PEM files in the proxy), instead of one Caddy makes in its own storage: the
/// replicas of the proxy service each keep their own storage, and must issue from one root
/// that clients trust. Caddy makes its intermediate from it (in each replica's storage).
pub(super) fn with_local_ca(config: &Value, cert: &str, key: &str) -> Value {
    let mut new = config.clone();
    object_at(&mut new, &["apps", "pki", "certificate_authorities"]).insert(
        "local".into(),
        json!({
            "install_trust": false,
            "root": {"certificate": cert, "private_key": key, "format": "pem_file"}
        }),
    );
    new
}

/// The object at `path` in `v`, made (and made an object) on the way.
pub(super) fn object_at<'v>(
    v: &'v mut Value,
    path: &[&str],
) -> &'v mut serde_json::Map<String, Value> {
    let mut at = v;
    for key in path {
        if !at.is_object() {
            *at = json!({});
        }
        at = at
            .as_object_mut()
            .expect("made an object above")
            .entry(key.to_string())
            .or_insert_with(|| json!({}));
    }
    if !at.is_object() {
        *at = json!({});
    }
    at.as_object_mut().expect("made an object above")
}

/// The routes of `server`, made a list if they were not.
pub(super) fn routes_of<'v>(
    servers: &'v mut serde_json::Map<String, Value>,
    server: &str,
) -> &'v mut Vec<Value> {
    let s = servers
        .entry(server.to_string())
        .or_insert_with(|| json!({}));
    if !s.is_object() {
        *s = json!({});
    }
    let routes = s
        .as_object_mut()
        .expect("made an object above")
        .entry("routes".to_string())
        .or_insert_with(|| json!([]));
    if !routes.is_array() {
        *routes = json!([]);
    }
    routes.as_array_mut().expect("made a list above")
}

/// Puts `ours` (or nothing) in place of the entry with `@id` `id` in the list at `path`; an
/// empty list and its parents are left out rather than written empty.
fn set_ours(config: &mut Value, path: &[&str], id: &str, ours: Option<Value>) {
    let (last, parents) = path.split_last().expect("a path");
    let exists = config.pointer(&format!("/{}", path.join("/"))).is_some();
    if ours.is_none() && !exists {
        return;
    }
    let parent = object_at(config, parents);
    let list = parent.entry(last.to_string()).or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let list = list.as_array_mut().expect("made a list above");
    let at = list.iter().position(|e| e.get("@id") == Some(&json!(id)));
    match (at, ours) {
        (Some(i), Some(o)) => list[i] = o,
        (None, Some(o)) => list.push(o),
        (Some(i), None) => {
            list.remove(i);
        }
        (None, None) => {}
    }
}

/// `route` under another id.
fn with_id(mut route: Value, id: &str) -> Value {
    route["@id"] = json!(id);
    route
}

/// The server for HTTPS routes. Caddy's own HTTP-to-HTTPS redirects are off: they would come
/// after docker flow's routes on port 80, which match first (`redirect` is docker flow's).
fn https_server() -> Value {
    json!({
        "@id": HTTPS_SERVER,
        "listen": [":443"],
        "automatic_https": {"disable_redirects": true},
        "routes": []
    })
}

/// The route on HTTP when its domains are served on HTTPS: a permanent redirect that keeps the
/// method (308) to the same host and URI on the published HTTPS port. Caddy answers ACME's HTTP
/// challenges before any route.
fn redirect(spec: &RouteSpec, https_port: u16) -> Value {
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let mut r = route(spec);
    r["handle"] = json!([{
        "handler": "static_response",
        "status_code": 308,
        "headers": {"Location": [format!("https://{{http.request.host}}{port}{{http.request.uri}}")]}
    }]);
    r
}

/// The route: its upstreams are whatever its record in the rotation holds, looked up again
/// every `REFRESH_MS`, so a switch rewrites the record and never changes Caddy's config (Caddy
/// drops requests on every config change). Requests whose `PREVIEW_HEADER` has the shape of a
/// key go to the preview record under that key instead (a staged release, when the key is its
/// own; no upstream otherwise): the header's value is the name Caddy looks up, so the key
/// changes with each release without a config change, and no other value (`1`, `true`)
/// reaches a staged release. A dial that fails is retried on another instance.
pub(super) fn route(route: &RouteSpec) -> Value {
    let mut matcher = serde_json::Map::new();
    if !route.paths.is_empty() {
        let paths: Vec<String> = route
            .paths
            .iter()
            .flat_map(|p| {
                let p = p.trim_end_matches('/');
                if p.is_empty() {
                    vec!["/*".to_string()]
                } else {
                    vec![p.to_string(), format!("{p}/*")]
                }
            })
            .collect();
        matcher.insert("path".into(), json!(paths));
    }
    if !route.domains.is_empty() {
        matcher.insert("host".into(), json!(route.domains));
    }
    json!({
        "@id": route_id(route),
        "match": [Value::Object(matcher)],
        "handle": [{
            "handler": "subroute",
            "routes": [
                {
                    "match": [{"header_regexp": {PREVIEW_HEADER: {"pattern": "^[0-9a-f]{32}$"}}}],
                    "handle": [reverse_proxy(
                        &format!("{{http.request.header.{PREVIEW_HEADER}}}.{}", preview_record(route)),
                        route.port
                    )],
                    "terminal": true
                },
                {"handle": [reverse_proxy(&record(route), route.port)]}
            ]
        }],
        "terminal": true
    })
}

/// Caddy's proxy to the instances the DNS record `name` lists.
fn reverse_proxy(name: &str, port: u16) -> Value {
    json!({
        "handler": "reverse_proxy",
        "dynamic_upstreams": {
            "source": "a",
            "name": name,
            "port": port.to_string(),
            "refresh": format!("{REFRESH_MS}ms"),
            "resolver": {"addresses": [format!("udp/{RESOLVER}")]},
            // The rotation serves A records only.
            "versions": {"ipv4": true}
        },
        // Caddy sets X-Forwarded-For/-Proto/-Host itself; X-Real-IP is the client's address
        // as Caddy sees it (the one its trusted proxies, if any, forwarded for).
        "headers": {"request": {"set": {"X-Real-Ip": ["{http.vars.client_ip}"]}}},
        // A dial that fails (an instance that died in rotation) is retried at once on
        // another instance, and that address is skipped for a moment so no request tries
        // it twice.
        "transport": {"protocol": "http", "keep_alive": {"enabled": false}, "dial_timeout": "250ms"},
        "load_balancing": {
            "selection_policy": {"policy": "round_robin"},
            "try_duration": "5s",
            "try_interval": "10ms"
        },
        "health_checks": {"passive": {"fail_duration": "500ms", "max_fails": 1}}
    })
}

/// Every `reverse_proxy` handler under `v` (a route, or a handler holding routes), however
/// deep: an earlier docker flow wrote them at the top of a route, this one inside a subroute.
pub(super) fn each_proxy(v: &mut Value, f: &mut dyn FnMut(&mut serde_json::Map<String, Value>)) {
    match v {
        Value::Object(o) => {
            if o.get("handler").and_then(Value::as_str) == Some("reverse_proxy") {
                f(o);
            } else {
                o.values_mut().for_each(|v| each_proxy(v, f));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| each_proxy(v, f)),
        _ => {}
    }
}

/// `routes` with `ours` in place: replacing the route with the same id, or inserted before the
/// first less specific route. None when `routes` already holds exactly `ours`.
pub(super) fn with_route(mut routes: Vec<Value>, ours: &Value) -> Option<Vec<Value>> {
    let id = ours.get("@id");
    match routes.iter().position(|rt| rt.get("@id") == id) {
        Some(i) if routes[i] == *ours => return None,
        Some(i) => routes[i] = ours.clone(),
        None => {
            let mine = specificity(ours);
            let at = routes
                .iter()
                .position(|rt| specificity(rt) < mine)
                .unwrap_or(routes.len());
            routes.insert(at, ours.clone());
        }
    }
    Some(routes)
}

/// How specific a route is: host routes first, then longer paths; catch-alls last.
fn specificity(route: &Value) -> (bool, usize) {
    let m = route.pointer("/match/0");
    let has_host = m.and_then(|m| m.get("host")).is_some();
    let longest = m
        .and_then(|m| m.get("path"))
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(Value::as_str)
                .map(|p| p.trim_end_matches("/*").len())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    (has_host, longest)
}

/// The config of a proxy started by an earlier docker flow (admin API published on the host,
/// rotation in a container of its own), made fit for this layout: the admin API on the
/// container's loopback, every docker flow route resolving from the rotation on that loopback,
/// and the server marked as docker flow's.
pub(super) fn migrated(mut config: Value) -> Value {
    if let Some(c) = config.as_object_mut() {
        c.insert("admin".into(), admin());
    }
    if let Some(server) = config
        .pointer_mut(&format!("/apps/http/servers/{SERVER}"))
        .and_then(Value::as_object_mut)
    {
        server.insert("@id".into(), json!(SERVER));
        if let Some(routes) = server.get_mut("routes") {
            each_proxy(routes, &mut |h| {
                if let Some(resolver) = h
                    .get_mut("dynamic_upstreams")
                    .and_then(|d| d.get_mut("resolver"))
                {
                    *resolver = json!({"addresses": [format!("udp/{RESOLVER}")]});
                }
            });
        }
    }
    config
}

/// The paths and domains of the route with `id` in `routes`, as the user gave them.
pub(super) fn route_matchers(routes: &[Value], id: &str) -> Option<(Vec<String>, Vec<String>)> {
    let rt = routes
        .iter()
        .find(|rt| rt.get("@id").and_then(Value::as_str) == Some(id))?;
    let strs = |p: &str| -> Vec<String> {
        rt.pointer(p)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    Some((
        strs("/match/0/path")
            .into_iter()
            .filter(|p| !p.ends_with("/*") || p == "/*")
            .collect(),
        strs("/match/0/host"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(paths: &[&str], domains: &[&str]) -> RouteSpec {
        RouteSpec {
            project: "shop".into(),
            target: "web".into(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
            domains: domains.iter().map(|s| s.to_string()).collect(),
            port: 8080,
            tls: crate::settings::TlsSettings {
                source: None,
                redirect: false,
            },
            swarm: false,
            networks: Vec::new(),
            answers_name: false,
        }
    }

    fn at(https_port: u16) -> Servers {
        Servers {
            https_port,
            trusted_proxies: None,
        }
    }

    #[test]
    fn trusted_proxies_go_on_both_servers_and_none_clears_them() {
        let shop = spec(&[], &["shop.test"]);
        let mut servers = at(443);
        servers.trusted_proxies = Some(vec!["10.0.0.0/8".into()]);
        let c = with_route_everywhere(&base(), &shop, Some(&acme(true)), &servers).unwrap();
        for s in [SERVER, HTTPS_SERVER] {
            assert_eq!(
                c.pointer(&format!("/apps/http/servers/{s}/trusted_proxies/ranges")),
                Some(&json!(["10.0.0.0/8"])),
                "{s}"
            );
        }
        // Not given: left as they are.
        assert!(with_route_everywhere(&c, &shop, Some(&acme(true)), &at(443)).is_none());
        servers.trusted_proxies = Some(Vec::new());
        let cleared = with_route_everywhere(&c, &shop, Some(&acme(true)), &servers).unwrap();
        assert_eq!(
            cleared,
            with_route_everywhere(&base(), &shop, Some(&acme(true)), &at(443)).unwrap()
        );
    }

    fn acme(redirect: bool) -> Https {
        Https {
            issuer: Issuer::Acme {
                ca: Some("https://ca.test/dir".into()),
                email: Some("ops@shop.test".into()),
                root: Some("/data/docker-flow/tls/ab/root.pem".into()),
            },
            redirect,
        }
    }

    #[test]
    fn a_route_with_https_redirects_on_http_and_is_served_on_https_with_its_issuer() {
        let shop = spec(&[], &["shop.test"]);
        let config = with_route_everywhere(&base(), &shop, Some(&acme(true)), &at(8443)).unwrap();
        insta::assert_json_snapshot!(config);
        // Written once: the same route again changes nothing.
        assert!(with_route_everywhere(&config, &shop, Some(&acme(true)), &at(8443)).is_none());
        // Without the redirect, HTTP proxies too.
        let plain = with_route_everywhere(&config, &shop, Some(&acme(false)), &at(8443)).unwrap();
        assert_eq!(
            plain.pointer("/apps/http/servers/docker-flow/routes/0"),
            Some(&route(&shop))
        );
        // Off: the HTTPS route and the policy go; HTTP serves the route.
        let off = with_route_everywhere(&config, &shop, None, &at(8443)).unwrap();
        assert_eq!(
            off.pointer("/apps/http/servers/docker-flow-https/routes"),
            Some(&json!([]))
        );
        assert_eq!(
            off.pointer("/apps/tls/automation/policies"),
            Some(&json!([]))
        );
        assert_eq!(
            off.pointer("/apps/http/servers/docker-flow/routes/0"),
            Some(&route(&shop))
        );
    }

    #[test]
    fn a_redirect_names_the_https_port_unless_it_is_443() {
        let shop = spec(&["/api"], &["shop.test"]);
        let location = |port| {
            let c = with_route_everywhere(&base(), &shop, Some(&acme(true)), &at(port)).unwrap();
            c.pointer("/apps/http/servers/docker-flow/routes/0/handle/0/headers/Location/0")
                .cloned()
                .unwrap()
        };
        assert_eq!(
            location(443),
            json!("https://{http.request.host}{http.request.uri}")
        );
        assert_eq!(
            location(8443),
            json!("https://{http.request.host}:8443{http.request.uri}")
        );
    }

    #[test]
    fn routes_of_other_projects_keep_their_https() {
        let shop = spec(&[], &["shop.test"]);
        let mut blog = spec(&[], &["blog.test"]);
        blog.project = "blog".into();
        let internal = Https {
            issuer: Issuer::Internal,
            redirect: true,
        };
        let files = Https {
            issuer: Issuer::Files {
                cert: "/data/c.pem".into(),
                key: "/data/k.pem".into(),
            },
            redirect: false,
        };
        let one = with_route_everywhere(&base(), &shop, Some(&internal), &at(443)).unwrap();
        let two = with_route_everywhere(&one, &blog, Some(&files), &at(443)).unwrap();
        let https = two
            .pointer("/apps/http/servers/docker-flow-https/routes")
            .unwrap();
        assert_eq!(https.as_array().unwrap().len(), 2);
        assert_eq!(
            two.pointer("/apps/tls/automation/policies/0/issuers/0/module"),
            Some(&json!("internal"))
        );
        assert_eq!(
            two.pointer("/apps/tls/certificates/load_files/0/certificate"),
            Some(&json!("/data/c.pem"))
        );
        assert_eq!(files_in_use(&two), ["/data/c.pem", "/data/k.pem"]);
        assert!(files_in_use(&one).is_empty());
        let ca = with_local_ca(&one, "/data/ca.crt", "/data/ca.key");
        assert_eq!(files_in_use(&ca), ["/data/ca.crt", "/data/ca.key"]);
        assert_eq!(
            ca.pointer("/apps/pki/certificate_authorities/local/install_trust"),
            Some(&json!(false))
        );
        assert_eq!(with_local_ca(&ca, "/data/ca.crt", "/data/ca.key"), ca);
        // Dropping blog's HTTPS leaves shop's.
        let back = with_route_everywhere(&two, &blog, None, &at(443)).unwrap();
        assert_eq!(
            back.pointer("/apps/tls/automation/policies"),
            one.pointer("/apps/tls/automation/policies")
        );
        assert_eq!(
            back.pointer("/apps/tls/certificates/load_files"),
            Some(&json!([]))
        );
        // `down` of blog: shop's routes, policy and all stay; blog's go, everywhere.
        let down = without_route(&two, &blog).unwrap();
        assert_eq!(
            down.pointer("/apps/http/servers/docker-flow-https/routes/0/@id"),
            Some(&json!("docker-flow.shop.web.https"))
        );
        assert_eq!(
            down.pointer("/apps/http/servers/docker-flow-https/routes")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(!down.to_string().contains("docker-flow.blog."), "{down}");
        assert!(files_in_use(&down).is_empty());
        assert_eq!(
            down.pointer("/apps/tls/automation/policies"),
            one.pointer("/apps/tls/automation/policies")
        );
        assert_eq!(without_route(&down, &blog), None, "nothing left to remove");
        let empty = without_route(&without_route(&down, &shop).unwrap(), &shop);
        assert_eq!(empty, None);
    }

    #[test]
    fn a_route_resolves_its_record_on_the_proxys_loopback() {
        insta::assert_json_snapshot!(route(&spec(&["/demo/"], &["shop.example.com"])));
    }

    #[test]
    fn ownership_is_read_from_the_config() {
        assert_eq!(owner(&Value::Null), Owner::Nobody);
        assert_eq!(
            owner(&json!({"admin": {"listen": "127.0.0.1:2019"}})),
            Owner::Nobody
        );
        assert_eq!(owner(&base()), Owner::DockerFlow);
        let foreign = json!({"apps": {"http": {"servers": {"srv0": {"listen": [":80"]}}}}});
        assert_eq!(owner(&foreign), Owner::Foreign);
    }

    #[test]
    fn specificity_orders_hosts_then_longer_paths() {
        let host = json!({"match": [{"host": ["a.com"]}]});
        let long = json!({"match": [{"path": ["/api/v1", "/api/v1/*"]}]});
        let short = json!({"match": [{"path": ["/api", "/api/*"]}]});
        let all = json!({"match": [{}]});
        assert!(specificity(&host) > specificity(&long));
        assert!(specificity(&long) > specificity(&short));
        assert!(specificity(&short) > specificity(&all));
    }

    #[test]
    fn routes_are_inserted_by_specificity_and_replaced_by_id() {
        let api = route(&spec(&["/api"], &[]));
        let mut all = spec(&["/"], &[]);
        all.target = "all".into();
        let all = route(&all);
        let routes = with_route(vec![all.clone()], &api).unwrap();
        assert_eq!(routes, [api.clone(), all.clone()]);
        assert!(with_route(routes.clone(), &api).is_none(), "unchanged");
        let wider = route(&spec(&["/api", "/v2"], &[]));
        assert_eq!(with_route(routes, &wider).unwrap(), [wider, all]);
    }

    #[test]
    fn an_old_layouts_config_moves_admin_and_resolver_to_loopback() {
        let mut old = base();
        old["admin"] = json!({"listen": "0.0.0.0:2019", "enforce_origin": true, "origins": ["127.0.0.1:2019"]});
        let server = &mut old["apps"]["http"]["servers"][SERVER];
        server.as_object_mut().unwrap().remove("@id");
        let mut rt = route(&spec(&["/demo"], &[]));
        each_proxy(&mut rt, &mut |h| {
            h["dynamic_upstreams"]["resolver"] =
                json!({"addresses": ["udp/docker-flow-proxy-dns:5353"]});
        });
        server["routes"] = json!([rt]);
        let new = migrated(old);
        let mut expected = base();
        expected["apps"]["http"]["servers"][SERVER]["routes"] =
            json!([route(&spec(&["/demo"], &[]))]);
        assert_eq!(new, expected);
    }
}
