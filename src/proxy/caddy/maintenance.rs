//! Maintenance mode at the proxy (`docker flow maintenance on|off`): a route answers every
//! request with a 503 page (and `Retry-After`) instead of its releases, which keep running, so
//! `off` serves them again at once.
//!
//! The page is the first entry of the route's subroute, tagged with an `@id` of its own, on HTTP
//! and on HTTPS; the route's record and upstreams stay as they are. It is Caddy's config, so it
//! outlives a restart of the proxy (Caddy resumes its saved config), and a deploy that writes
//! the route again keeps it (`kept`): maintenance ends only when asked. Turning it on
//! or off is a change of Caddy's config, which costs what any such change costs (a request in
//! the moment of the reload may go unanswered): the page is what clients see either way.

use serde_json::{json, Value};

use super::config;
use crate::proxy::RouteSpec;

/// How long a client is told to wait before it asks again.
const RETRY_AFTER_S: u32 = 30;

/// The `@id` of the maintenance entry in the route whose `@id` is `route`.
fn entry_id(route: &str) -> String {
    format!("{route}.maintenance")
}

/// The ids of the route on HTTP and on HTTPS.
fn route_ids(spec: &RouteSpec) -> [String; 2] {
    let id = config::route_id(spec);
    [id.clone(), format!("{id}.https")]
}

/// The subroute's routes of a route docker flow wrote (its first handler); None for a route
/// of another shape (a redirect to HTTPS: the page is served on HTTPS).
fn subroutes(route: &mut Value) -> Option<&mut Vec<Value>> {
    let handler = route.pointer_mut("/handle/0")?;
    if handler.get("handler").and_then(Value::as_str) != Some("subroute") {
        return None;
    }
    handler.get_mut("routes")?.as_array_mut()
}

/// The routes of the config's docker flow servers with one of `ids`, to change in place.
fn each_route(config: &mut Value, ids: &[String], f: &mut dyn FnMut(&mut Value)) {
    let Some(servers) = config
        .pointer_mut("/apps/http/servers")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for server in [config::SERVER, config::HTTPS_SERVER] {
        let routes = servers
            .get_mut(server)
            .and_then(|s| s.get_mut("routes"))
            .and_then(Value::as_array_mut);
        for route in routes.into_iter().flatten() {
            let id = route.get("@id").and_then(Value::as_str).unwrap_or_default();
            if ids.iter().any(|i| i == id) {
                f(route);
            }
        }
    }
}

/// The whole config with the route's maintenance page on (`page`) or off (None). None when it
/// is so already, or the config has no such route.
pub(crate) fn with_maintenance(
    config: &Value,
    spec: &RouteSpec,
    page: Option<&str>,
) -> Option<Value> {
    let mut new = config.clone();
    each_route(&mut new, &route_ids(spec), &mut |route| {
        let id = entry_id(route.get("@id").and_then(Value::as_str).unwrap_or_default());
        let Some(routes) = subroutes(route) else {
            return;
        };
        routes.retain(|r| r.get("@id").and_then(Value::as_str) != Some(&id));
        if let Some(page) = page {
            routes.insert(0, entry(&id, page));
        }
    });
    (new != *config).then_some(new)
}

/// The maintenance entry: every request answered 503 with the page.
fn entry(id: &str, page: &str) -> Value {
    json!({
        "@id": id,
        "handle": [{
            "handler": "static_response",
            "status_code": 503,
            "headers": {
                "Content-Type": ["text/plain; charset=utf-8"],
                "Retry-After": [RETRY_AFTER_S.to_string()],
                "Cache-Control": ["no-store"]
            },
            "body": page
        }],
        "terminal": true
    })
}

/// The page the route serves now (on HTTP or HTTPS), if it is in maintenance.
pub(crate) fn page(config: &Value, spec: &RouteSpec) -> Option<String> {
    let mut found = None;
    let mut config = config.clone();
    each_route(&mut config, &route_ids(spec), &mut |route| {
        let id = entry_id(route.get("@id").and_then(Value::as_str).unwrap_or_default());
        let body = subroutes(route)
            .and_then(|rs| {
                rs.iter()
                    .find(|r| r.get("@id").and_then(Value::as_str) == Some(&id))
            })
            .and_then(|r| r.pointer("/handle/0/body"))
            .and_then(Value::as_str)
            .map(String::from);
        found = found.take().or(body);
    });
    found
}

/// `new`, the config about to be written in place of `current` (None: no change), with the
/// route's maintenance page kept if `current` has one: a deploy that writes the route again
/// never ends maintenance, and changes nothing else when nothing else changed.
pub(crate) fn kept(current: &Value, new: Option<Value>, spec: &RouteSpec) -> Option<Value> {
    let new = new?;
    let Some(page) = page(current, spec) else {
        return Some(new);
    };
    let new = with_maintenance(&new, spec, Some(&page)).unwrap_or(new);
    (new != *current).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RouteSpec {
        RouteSpec {
            project: "shop".into(),
            target: "web".into(),
            paths: vec!["/web".into()],
            domains: Vec::new(),
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

    fn with_route() -> Value {
        let servers = config::Servers {
            https_port: 443,
            trusted_proxies: None,
        };
        config::with_route_everywhere(&config::base(), &spec(), None, &servers).unwrap()
    }

    #[test]
    fn a_route_in_maintenance_answers_the_page_first_and_keeps_its_upstreams() {
        let base = with_route();
        let on = with_maintenance(&base, &spec(), Some("back at 2")).unwrap();
        let route = &on["apps"]["http"]["servers"]["docker-flow"]["routes"][0];
        let first = &route["handle"][0]["routes"][0];
        assert_eq!(first["@id"], "docker-flow.shop.web.maintenance");
        assert_eq!(first["handle"][0]["status_code"], 503);
        assert_eq!(first["handle"][0]["headers"]["Retry-After"], json!(["30"]));
        assert_eq!(first["handle"][0]["body"], "back at 2");
        // The route's own subroutes follow, unchanged.
        assert_eq!(
            route["handle"][0]["routes"].as_array().unwrap()[1..],
            base["apps"]["http"]["servers"]["docker-flow"]["routes"][0]["handle"][0]["routes"]
                .as_array()
                .unwrap()[..]
        );
        assert_eq!(page(&on, &spec()).as_deref(), Some("back at 2"));
        // Once: the same again changes nothing; another page replaces it; off restores the route.
        assert_eq!(with_maintenance(&on, &spec(), Some("back at 2")), None);
        let other = with_maintenance(&on, &spec(), Some("back at 3")).unwrap();
        assert_eq!(page(&other, &spec()).as_deref(), Some("back at 3"));
        let off = with_maintenance(&on, &spec(), None).unwrap();
        assert_eq!(off, base);
        assert_eq!(page(&off, &spec()), None);
        assert_eq!(with_maintenance(&base, &spec(), None), None);
        // A config without the route: nothing to do.
        assert_eq!(with_maintenance(&config::base(), &spec(), Some("x")), None);
    }

    #[test]
    fn a_deploy_writing_the_route_again_keeps_it_in_maintenance() {
        let on = with_maintenance(&with_route(), &spec(), Some("later")).unwrap();
        let mut moved = spec();
        moved.paths = vec!["/shop".into()];
        let servers = config::Servers {
            https_port: 443,
            trusted_proxies: None,
        };
        let written = config::with_route_everywhere(&on, &moved, None, &servers);
        let rewritten = kept(&on, written, &moved).unwrap();
        assert_eq!(page(&rewritten, &moved).as_deref(), Some("later"));
        let route = &rewritten["apps"]["http"]["servers"]["docker-flow"]["routes"][0];
        assert_eq!(route["match"][0]["path"], json!(["/shop", "/shop/*"]));
        // The same route written again: no change at all (no reload of Caddy's config).
        let again = config::with_route_everywhere(&on, &spec(), None, &servers);
        assert!(again.is_some(), "without `kept`, the page would be dropped");
        assert_eq!(kept(&on, again, &spec()), None);
        // And a route that is not in maintenance stays out of it.
        let plain = with_route();
        let fresh = config::with_route_everywhere(&plain, &moved, None, &servers);
        assert_eq!(page(&kept(&plain, fresh, &moved).unwrap(), &moved), None);
    }
}
