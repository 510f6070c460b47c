//! The stack file docker flow hands `docker stack deploy`: the derived model, cut to the services
//! one deploy changes and rewritten into the form Swarm mode's Compose schema (3.x) accepts.
//!
//! `docker compose config --format json` writes what Compose resolved, nulls and all, and keys
//! the stack schema refuses (`name`, `pull_policy`, …). Swarm also ignores some keys a Compose
//! user relies on; what docker flow does about each is listed in `IGNORED` and docs/ENGINES.md.
//! Pure functions, so the unit tests pin every rewrite.

use serde_json::{json, Map, Value};

/// The network key every routed colour joins: the route network, made beforehand.
pub(super) const ROUTE_NETWORK_KEY: &str = "dflow-route";

/// Service keys Swarm mode does not apply, dropped from the stack file: a stack is made of
/// images (`build` is refused before this), Swarm starts tasks in no order, names them itself
/// and restarts them by `deploy.restart_policy` (`restart` is translated to it).
const IGNORED: &[&str] = &[
    "build",
    "container_name",
    "depends_on",
    "pull_policy",
    "restart",
    "scale",
    "links",
    "profiles",
    // Every port of a task is reachable on its networks; Swarm warns that `expose` is ignored.
    "expose",
];

/// Keys of `service` that Swarm mode will not apply and docker flow drops without a translation,
/// for a warning: (key, why).
pub(crate) fn ignored_keys(service: &crate::compose::Service) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if service.container_name.is_some() {
        out.push(("container_name", "Swarm names its tasks itself"));
    }
    if !service.depends_on.is_empty() {
        out.push(("depends_on", "Swarm starts services in no order"));
    }
    if !service.links.is_empty() {
        out.push((
            "links",
            "services reach each other by name on their networks",
        ));
    }
    for (key, why) in [
        ("pull_policy", "the nodes pull images as Swarm decides"),
        ("profiles", "a stack deploys the services it is given"),
        ("scale", "docker flow sets the replicas"),
    ] {
        if service.rest.contains_key(key) {
            out.push((key, why));
        }
    }
    out
}

/// What one stack deploy carries.
pub(super) struct Cut<'a> {
    /// The services to send, by their name in the derived model.
    pub services: &'a [String],
    /// The colour this deploy releases (its replicas and the route network), if any.
    pub colour: Option<(&'a str, u32)>,
    /// The route network's name, when the proxy reaches the colour over one.
    pub route_network: Option<&'a str>,
    /// Labels for the services themselves (Swarm reads a stopped colour's from there).
    pub service_labels: &'a [(String, String)],
}

/// The stack file for `model` (the derived model as JSON).
pub(super) fn stack_file(model: &Value, cut: &Cut) -> Value {
    let mut out = Map::new();
    out.insert("version".into(), json!("3.8"));
    let mut services = Map::new();
    for name in cut.services {
        let Some(svc) = model.pointer(&format!("/services/{}", escape(name))) else {
            continue;
        };
        let colour = cut.colour.filter(|(c, _)| c == name);
        services.insert(name.clone(), service(svc, colour.map(|(_, n)| n), cut));
    }
    out.insert("services".into(), Value::Object(services));
    for key in ["networks", "volumes", "configs", "secrets"] {
        if let Some(Value::Object(m)) = model.get(key) {
            let kept: Map<String, Value> = m
                .iter()
                .map(|(k, v)| (k.clone(), without_nulls(v).unwrap_or_else(|| json!({}))))
                .collect();
            out.insert(key.into(), Value::Object(kept));
        }
    }
    if let (Some(net), Some(_)) = (cut.route_network, cut.colour) {
        let nets = out
            .entry("networks")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("networks is an object");
        nets.insert(
            ROUTE_NETWORK_KEY.into(),
            json!({"external": true, "name": net}),
        );
    }
    Value::Object(out)
}

/// One service: nulls dropped, ignored keys removed, `restart` as a restart policy, task
/// addresses instead of a virtual IP (the proxy dials tasks; VIPs need IPVS and keep routing to
/// stopping tasks, moby#38841), and for the colour its replicas and the route network.
fn service(svc: &Value, replicas: Option<u32>, cut: &Cut) -> Value {
    let mut s = match without_nulls(svc) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let restart = s.get("restart").and_then(Value::as_str).map(String::from);
    for key in IGNORED {
        s.remove(*key);
    }
    // `networks: {default: null}` lost its entries with the nulls: put them back, empty.
    if let Some(Value::Object(nets)) = svc.get("networks") {
        let kept: Map<String, Value> = nets
            .iter()
            .map(|(k, v)| (k.clone(), without_nulls(v).unwrap_or_else(|| json!({}))))
            .collect();
        s.insert("networks".into(), Value::Object(kept));
    }
    let deploy = s
        .entry("deploy")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("deploy is an object");
    deploy
        .entry("endpoint_mode")
        .or_insert_with(|| json!("dnsrr"));
    if let Some(policy) = restart.as_deref().and_then(restart_policy) {
        deploy.entry("restart_policy").or_insert(policy);
    }
    if let Some(n) = replicas {
        deploy.insert("replicas".into(), json!(n));
        // The colour being released serves nothing yet: all its tasks at once.
        deploy.insert(
            "update_config".into(),
            json!({"parallelism": 0, "order": "start-first"}),
        );
        let labels = deploy
            .entry("labels")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("labels is an object");
        for (k, v) in cut.service_labels {
            labels.insert(k.clone(), json!(v));
        }
        if let Some(Value::Object(own)) = s.get("labels").cloned() {
            let deploy = s["deploy"].as_object_mut().expect("deploy is an object");
            let labels = deploy["labels"].as_object_mut().expect("labels");
            for (k, v) in own.iter().filter(|(k, _)| k.starts_with("io.docker-flow.")) {
                labels.insert(k.clone(), v.clone());
            }
        }
        if cut.route_network.is_some() {
            let nets = s
                .entry("networks")
                .or_insert_with(|| json!({"default": {}}))
                .as_object_mut()
                .expect("networks is an object");
            nets.insert(ROUTE_NETWORK_KEY.into(), json!({}));
        }
    }
    Value::Object(s)
}

/// Compose's `restart` as Swarm's `deploy.restart_policy`.
fn restart_policy(restart: &str) -> Option<Value> {
    match restart.split(':').next().unwrap_or_default() {
        "no" => Some(json!({"condition": "none"})),
        "on-failure" => Some(json!({"condition": "on-failure"})),
        "always" | "unless-stopped" => Some(json!({"condition": "any"})),
        _ => None,
    }
}

/// `v` without null values (None: it was null).
fn without_nulls(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => Some(Value::Object(
            m.iter()
                .filter_map(|(k, v)| without_nulls(v).map(|v| (k.clone(), v)))
                .collect(),
        )),
        Value::Array(a) => Some(Value::Array(a.iter().filter_map(without_nulls).collect())),
        other => Some(other.clone()),
    }
}

/// A JSON pointer segment.
fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Value {
        json!({
            "name": "shop",
            "services": {
                "app-blue": {
                    "image": "demo:v2", "entrypoint": null, "restart": "unless-stopped",
                    "depends_on": {"db": {"condition": "service_started"}},
                    "container_name": "x", "pull_policy": "always",
                    "labels": {"io.docker-flow.color": "blue", "io.docker-flow.release": "r2", "other": "1"},
                    "networks": {"default": null}
                },
                "app-green": {"image": "demo:v1", "networks": {"default": null}},
                "db": {"image": "pg", "networks": {"default": null}, "deploy": {"endpoint_mode": "vip"}}
            },
            "networks": {"default": {"name": "shop_default", "ipam": {}, "external": false}},
            "volumes": {"data": null}
        })
    }

    #[test]
    fn a_stack_file_carries_the_colour_and_the_side_targets_only() {
        let services = ["db".to_string(), "app-blue".to_string()];
        let labels = [("io.docker-flow.replicas".to_string(), "3".to_string())];
        let f = stack_file(
            &model(),
            &Cut {
                services: &services,
                colour: Some(("app-blue", 3)),
                route_network: Some("dflow-shop-app"),
                service_labels: &labels,
            },
        );
        assert_eq!(f["version"], "3.8");
        assert!(f.get("name").is_none(), "the stack schema refuses `name`");
        let names: Vec<&String> = f["services"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["db", "app-blue"], "never the live colour");
        let app = &f["services"]["app-blue"];
        for key in [
            "entrypoint",
            "restart",
            "depends_on",
            "container_name",
            "pull_policy",
        ] {
            assert!(app.get(key).is_none(), "{key} kept: {app}");
        }
        assert_eq!(app["deploy"]["replicas"], 3);
        assert_eq!(app["deploy"]["endpoint_mode"], "dnsrr");
        assert_eq!(app["deploy"]["restart_policy"]["condition"], "any");
        assert_eq!(app["deploy"]["labels"]["io.docker-flow.release"], "r2");
        assert_eq!(app["deploy"]["labels"]["io.docker-flow.replicas"], "3");
        assert!(app["deploy"]["labels"].get("other").is_none());
        assert_eq!(app["networks"], json!({"default": {}, "dflow-route": {}}));
        assert_eq!(
            f["networks"]["dflow-route"],
            json!({"external": true, "name": "dflow-shop-app"})
        );
        assert_eq!(f["volumes"]["data"], json!({}));
        let db = &f["services"]["db"];
        assert_eq!(
            db["deploy"]["endpoint_mode"], "vip",
            "the user's choice stays"
        );
        assert!(db["deploy"].get("replicas").is_none());
        assert_eq!(db["networks"], json!({"default": {}}));
    }

    #[test]
    fn without_a_route_network_the_colour_joins_only_its_own() {
        let services = ["app-green".to_string()];
        let f = stack_file(
            &model(),
            &Cut {
                services: &services,
                colour: Some(("app-green", 1)),
                route_network: None,
                service_labels: &[],
            },
        );
        assert_eq!(
            f["services"]["app-green"]["networks"],
            json!({"default": {}})
        );
        assert!(f["networks"].get("dflow-route").is_none());
    }

    #[test]
    fn the_keys_swarm_ignores_are_named() {
        let svc: crate::compose::Service = serde_json::from_value(json!({
            "image": "x", "container_name": "c", "depends_on": {"db": {}}, "pull_policy": "always"
        }))
        .unwrap();
        let keys: Vec<&str> = ignored_keys(&svc).iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["container_name", "depends_on", "pull_policy"]);
        let plain: crate::compose::Service = serde_json::from_value(json!({"image": "x"})).unwrap();
        assert!(ignored_keys(&plain).is_empty());
    }

    #[test]
    fn restart_becomes_a_restart_policy() {
        assert_eq!(restart_policy("no").unwrap()["condition"], "none");
        assert_eq!(
            restart_policy("on-failure:3").unwrap()["condition"],
            "on-failure"
        );
        assert_eq!(restart_policy("always").unwrap()["condition"], "any");
        assert!(restart_policy("").is_none());
    }
}
