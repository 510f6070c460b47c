//! Caddy's config as docker flow writes it: pure functions from a route to JSON, unit-tested.
//!
//! docker flow owns one server, `docker-flow`, in `apps.http.servers`, marked with `"@id":
//! "docker-flow"`: that marker (with the container's label) is how it recognises a proxy it
//! configured, and it never replaces a config that lacks it. Each (project, target) owns one
//! route in that server, tagged `"@id": "docker-flow.<project>.<target>"`.

use serde_json::{json, Value};

use super::{ADMIN, RESOLVER};
use crate::proxy::RouteSpec;

/// The Caddy server (in `apps.http.servers`) that holds docker flow's routes.
pub(super) const SERVER: &str = "docker-flow";
/// The path of that server's routes in the admin API.
pub(super) const ROUTES: &str = "/config/apps/http/servers/docker-flow/routes";
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

/// The request header that opts a request into the route's preview (any value).
pub(crate) const PREVIEW_HEADER: &str = "X-Docker-Flow-Preview";

/// The DNS name of the route's preview: the release a `deploy --no-promote` staged, reached by
/// requests that carry `PREVIEW_HEADER`. Empty when nothing is staged.
pub(super) fn preview_record(route: &RouteSpec) -> String {
    format!("preview.{}", record(route))
}

/// The route: its upstreams are whatever its record in the rotation holds, looked up again
/// every `REFRESH_MS`, so a switch rewrites the record and never changes Caddy's config (Caddy
/// drops requests on every config change). Requests with `PREVIEW_HEADER` go to the preview
/// record instead (a staged release; none when it is empty). A dial that fails is retried on
/// another instance.
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
                    "match": [{"header": {PREVIEW_HEADER: ["*"]}}],
                    "handle": [reverse_proxy(&preview_record(route), route.port)],
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
        }
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
