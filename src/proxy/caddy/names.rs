//! The target's Compose service name inside its project. The project's other services (a
//! user's own nginx with `proxy_pass http://backend:8000`, app code calling `http://api:8080`)
//! reach a blue-green target by the name Compose gave it, as they would without docker flow,
//! and always the live release: the proxy joins the networks the target joins, with the
//! service's name as its alias there, and Caddy answers that name on the service's port with
//! the route's own upstreams (its record in the rotation). The name moves with the switch, in
//! the same one write of the record, and the old release is drained of these callers' requests
//! as of the public ones.
//!
//! Why the proxy and not the instances' own aliases: Docker's DNS answers an alias with every
//! container that has it, so new instances carrying it would take requests before their health
//! gate and beside the old ones (mixed versions); and an alias moves only by taking a container
//! off its network, which cuts its requests in flight and its own connections (to its database,
//! say).
//!
//! Only the project's own services reach the name: the proxy is on other projects' networks
//! too, so the name's route matches the source addresses of the networks the target joins.

use serde_json::{json, Map, Value};

use super::config;
use super::{ADMIN, RESOLVER};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::proxy::RouteSpec;

/// The container ports Caddy cannot also answer on: its HTTPS server's, and its admin API's and
/// the rotation's on the container's loopback.
fn taken(port: u16) -> bool {
    let on = |addr: &str| addr.rsplit(':').next() == Some(port.to_string().as_str());
    port == 443 || on(ADMIN) || on(RESOLVER)
}

/// Whether the proxy can answer the route's service name (its port is free in the proxy).
pub(super) fn answerable(spec: &RouteSpec) -> bool {
    spec.answers_name && !spec.networks.is_empty() && !taken(spec.port)
}

/// Whether `config` answers the route's service name.
pub(super) fn answered(config: &Value, spec: &RouteSpec) -> bool {
    let id = json!(route_id(spec));
    config::every_route(config).any(|r| r.get("@id") == Some(&id))
}

/// The server the name is answered in: docker flow's own on port 80, else one per port.
fn server(port: u16) -> String {
    if port == 80 {
        config::SERVER.to_string()
    } else {
        format!("{}-names-{port}", config::SERVER)
    }
}

/// The name's route id.
fn route_id(spec: &RouteSpec) -> String {
    format!("{}.name", config::route_id(spec))
}

/// The whole config with the route's service name answered for requests from `subnets` (the
/// target's networks), on the route's port, with the route's upstreams; none from any other
/// server. None when `config` is so already.
pub(super) fn with_name(config: &Value, spec: &RouteSpec, callers: &Callers) -> Option<Value> {
    if callers.subnets.is_empty() {
        // No network of the project's own to answer on (or none with IPv4): no name route.
        return without_name(config, spec);
    }
    let here = server(spec.port);
    let mut ours = config::route(spec);
    ours["@id"] = json!(route_id(spec));
    let mut matcher = json!({"host": [spec.target], "remote_ip": {"ranges": callers.subnets}});
    if !callers.gateways.is_empty() {
        matcher["not"] = json!([{"remote_ip": {"ranges": callers.gateways}}]);
    }
    ours["match"] = json!([matcher]);
    let there = config
        .pointer(&format!("/apps/http/servers/{here}/routes"))
        .and_then(Value::as_array);
    if there.is_some_and(|routes| routes.contains(&ours)) {
        // Caddy's config changes only when the name's route does.
        return None;
    }
    let mut new = without_name(config, spec).unwrap_or_else(|| config.clone());
    let servers = config::object_at(&mut new, &["apps", "http", "servers"]);
    if !servers.contains_key(&here) {
        servers.insert(
            here.clone(),
            json!({
                "@id": here,
                "listen": [format!(":{}", spec.port)],
                "automatic_https": {"disable": true},
                "routes": []
            }),
        );
    }
    let routes = config::routes_of(servers, &here);
    // Before any route that matches on paths only (on port 80, the public routes).
    routes.insert(0, ours);
    (new != *config).then_some(new)
}

/// The whole config without the route's service name, and without a server of names left with
/// no route. None when it has no such route.
pub(super) fn without_name(config: &Value, spec: &RouteSpec) -> Option<Value> {
    let id = json!(route_id(spec));
    let mut new = config.clone();
    let servers = new
        .pointer_mut("/apps/http/servers")
        .and_then(Value::as_object_mut)?;
    let prefix = format!("{}-names-", config::SERVER);
    let mut found = false;
    servers.retain(|name, server| {
        if let Some(routes) = server.get_mut("routes").and_then(Value::as_array_mut) {
            let before = routes.len();
            routes.retain(|r| r.get("@id") != Some(&id));
            found |= routes.len() != before;
            return !(name.starts_with(&prefix) && routes.is_empty());
        }
        true
    });
    found.then_some(new)
}

/// Where the name is answered: the source addresses of the project's own networks the target
/// joins, but their gateways (the engine's own address there, which relays what comes from
/// outside the networks: a published port's clients, say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Callers {
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
}

/// The target's networks the project made (Compose's label says so), with their subnets and
/// gateways; the others are named to `warn` (an external network, which other projects may
/// share: another project's service of the same name could be there). None in a dry run
/// before the networks exist.
fn owned(
    engine: &Engine,
    spec: &RouteSpec,
    warn: &mut dyn FnMut(String),
) -> Result<Option<Vec<(String, Callers)>>> {
    let mut inspect = args(&[
        "network",
        "inspect",
        "--format",
        "{{.Name}}\t{{index .Labels \"com.docker.compose.project\"}}\t{{range .IPAM.Config}}{{.Subnet}} {{end}}\t{{range .IPAM.Config}}{{.Gateway}} {{end}}",
    ]);
    inspect.extend(spec.networks.iter().cloned());
    let out = engine.read(&inspect)?;
    if !out.ok() && engine.dry_run() {
        return Ok(None);
    }
    if !out.ok() {
        return Err(cannot(
            &spec.networks.join("`, `"),
            &spec.target,
            out.last_error_line(),
        ));
    }
    let mut found = Vec::new();
    for line in out.stdout.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, project, subnets, gateways] = fields[..] else {
            continue;
        };
        if project != spec.project {
            warn(format!(
                "the proxy does not answer `{}` on the network `{name}`: the project did not make it, and another project's `{}` could be there; call the target by its route, or put the callers on a network of the project's own",
                spec.target, spec.target
            ));
            continue;
        }
        let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let gateways = words(gateways)
            .into_iter()
            .map(|g| {
                if g.contains(':') {
                    format!("{g}/128")
                } else {
                    format!("{g}/32")
                }
            })
            .collect();
        found.push((
            name.to_string(),
            Callers {
                subnets: words(subnets),
                gateways,
            },
        ));
    }
    Ok(Some(found))
}

/// Gives the proxy container the target's service name on each network the target joins that
/// the project made (joining it there, or joining again with its other names when it is there
/// without this one), and returns who may call it there. What the user should know goes to
/// `warn`.
pub(super) fn ensure(
    engine: &Engine,
    proxy: &str,
    spec: &RouteSpec,
    warn: &mut dyn FnMut(String),
) -> Result<Callers> {
    let Some(owned) = owned(engine, spec, warn)? else {
        // A dry run before the first deploy: the networks are not made yet.
        return Ok(Callers::default());
    };
    let joined = Joined::read(engine, proxy)?;
    let mut callers = Callers::default();
    for (network, on) in owned {
        callers.subnets.extend(on.subnets);
        callers.gateways.extend(on.gateways);
        let names = joined.names(&network);
        if names.contains(&spec.target) {
            continue;
        }
        let was_there = joined.on(&network);
        if was_there {
            // Docker gives a container new names on a network only as it joins it.
            let out = engine.change(&disconnect(&network, proxy), None)?;
            if !out.ok_or_gone() {
                return Err(cannot(&network, &spec.target, out.last_error_line()));
            }
            warn(format!(
                "the proxy joined `{network}` again to answer `{}` there as well: a service that keeps the proxy's address from before (nginx resolves names once, at its start) resolves it again after a restart",
                spec.target
            ));
        }
        let all: Vec<&String> = names.iter().chain([&spec.target]).collect();
        let out = engine.change(&connect(&network, proxy, &all), None)?;
        if !out.ok_or_exists() {
            if was_there {
                // Back with the names it had, so the other targets' callers keep theirs.
                let old: Vec<&String> = names.iter().collect();
                let _ = engine.change(&connect(&network, proxy, &old), None);
            }
            return Err(cannot(&network, &spec.target, out.last_error_line()));
        }
    }
    Ok(callers)
}

/// Takes the target's service name from the proxy container on the project's networks (a
/// target switched to plain, whose containers answer it now), keeping its other names there.
pub(super) fn forget(engine: &Engine, proxy: &str, spec: &RouteSpec) -> Result<()> {
    let Some(owned) = owned(engine, spec, &mut |_| {})? else {
        return Ok(());
    };
    let joined = Joined::read(engine, proxy)?;
    for (network, _) in owned {
        let names = joined.names(&network);
        if !names.contains(&spec.target) {
            continue;
        }
        let out = engine.change(&disconnect(&network, proxy), None)?;
        if !out.ok_or_gone() {
            return Err(cannot(&network, &spec.target, out.last_error_line()));
        }
        let others: Vec<&String> = names.iter().filter(|n| **n != spec.target).collect();
        if !others.is_empty() {
            let out = engine.change(&connect(&network, proxy, &others), None)?;
            if !out.ok_or_exists() {
                return Err(cannot(&network, &spec.target, out.last_error_line()));
            }
        }
    }
    Ok(())
}

/// Takes the proxy container off the target's networks the project made (`docker flow down`,
/// which then removes them); never off another project's.
pub(super) fn leave(engine: &Engine, proxy: &str, spec: &RouteSpec) -> Result<()> {
    let Some(owned) = owned(engine, spec, &mut |_| {})? else {
        return Ok(());
    };
    for (network, _) in owned {
        let out = engine.change(&disconnect(&network, proxy), None)?;
        if !out.ok_or_gone() {
            return Err(Error::environment(
                format!(
                    "cannot take the proxy `{proxy}` off the project's network `{network}`: {}",
                    out.last_error_line()
                ),
                format!("run `docker network disconnect {network} {proxy}`"),
            ));
        }
    }
    Ok(())
}

/// The proxy container's networks as `docker inspect` lists them, with its id.
struct Joined {
    id: String,
    networks: Map<String, Value>,
}

impl Joined {
    fn read(engine: &Engine, proxy: &str) -> Result<Joined> {
        let out = engine.read(&args(&[
            "container",
            "inspect",
            "--format",
            "{{.Id}}\t{{json .NetworkSettings.Networks}}",
            proxy,
        ]))?;
        let (id, networks) = out.stdout.trim().split_once('\t').unwrap_or_default();
        Ok(Joined {
            id: id.to_string(),
            networks: serde_json::from_str(networks).unwrap_or_default(),
        })
    }

    /// Whether the proxy is on `network`.
    fn on(&self, network: &str) -> bool {
        self.networks.contains_key(network)
    }

    /// The names the proxy has on `network`.
    fn names(&self, network: &str) -> Vec<String> {
        aliases(self.networks.get(network), &self.id)
    }
}

/// `docker network connect` of the proxy to `network` with `names`.
fn connect(network: &str, proxy: &str, names: &[&String]) -> Vec<String> {
    let mut a = args(&["network", "connect"]);
    for name in names {
        a.extend(args(&["--alias", name]));
    }
    a.extend(args(&[network, proxy]));
    a
}

/// `docker network disconnect` of the proxy from `network` (the proxy is on it or not).
fn disconnect(network: &str, proxy: &str) -> Vec<String> {
    args(&["network", "disconnect", "--force", network, proxy])
}

/// The names the proxy has on a network (as `docker inspect` lists its endpoint there), but
/// the container's short id, which Docker adds itself.
fn aliases(endpoint: Option<&Value>, id: &str) -> Vec<String> {
    endpoint
        .and_then(|e| e.get("Aliases"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|a| !(a.len() >= 12 && id.starts_with(a)))
        .map(String::from)
        .collect()
}

fn cannot(network: &str, name: &str, detail: &str) -> Error {
    Error::environment(
        format!("the proxy cannot answer `{name}` on the project's network `{network}`: {detail}"),
        format!("check `docker network inspect {network}`; `docker flow proxy` repairs the route"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callers(subnets: &[&str], gateways: &[&str]) -> Callers {
        Callers {
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            gateways: gateways.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn spec(port: u16) -> RouteSpec {
        RouteSpec {
            project: "shop".into(),
            target: "api".into(),
            paths: vec!["/api".into()],
            domains: Vec::new(),
            port,
            tls: crate::settings::TlsSettings {
                source: None,
                redirect: false,
            },
            swarm: false,
            networks: vec!["shop_default".into()],
            answers_name: true,
        }
    }

    #[test]
    fn the_name_is_answered_on_its_port_for_the_projects_subnets_only() {
        let base = config::base();
        let nets = callers(&["172.20.0.0/16"], &["172.20.0.1/32"]);
        let named = with_name(&base, &spec(8080), &nets).unwrap();
        let server = &named["apps"]["http"]["servers"]["docker-flow-names-8080"];
        assert_eq!(server["listen"], json!([":8080"]));
        let route = &server["routes"][0];
        assert_eq!(route["@id"], "docker-flow.shop.api.name");
        assert_eq!(
            route["match"],
            json!([{
                "host": ["api"],
                "remote_ip": {"ranges": ["172.20.0.0/16"]},
                // Not the engine's own address there, which relays outside clients.
                "not": [{"remote_ip": {"ranges": ["172.20.0.1/32"]}}]
            }])
        );
        // The route's own upstreams: its record, looked up again as the switch rewrites it.
        assert_eq!(route["handle"], config::route(&spec(8080))["handle"]);
        // Written once: the same again changes nothing, wherever another name's route went.
        assert_eq!(with_name(&named, &spec(8080), &nets), None);
        let mut other = spec(8080);
        other.project = "blog".into();
        let both = with_name(&named, &other, &callers(&["172.21.0.0/16"], &[])).unwrap();
        assert_eq!(
            both["apps"]["http"]["servers"]["docker-flow-names-8080"]["routes"][1]["@id"],
            "docker-flow.shop.api.name"
        );
        assert_eq!(with_name(&both, &spec(8080), &nets), None);
        // Other subnets (the network made again): rewritten.
        assert!(with_name(&named, &spec(8080), &callers(&["172.22.0.0/16"], &[])).is_some());
        // Another port: it moves, and the server left empty goes.
        let moved = with_name(&named, &spec(9000), &nets).unwrap();
        let servers = moved["apps"]["http"]["servers"].as_object().unwrap();
        assert!(!servers.contains_key("docker-flow-names-8080"));
        assert_eq!(
            servers["docker-flow-names-9000"]["routes"][0]["@id"],
            "docker-flow.shop.api.name"
        );
        let gone = without_name(&moved, &spec(9000)).unwrap();
        assert_eq!(gone, base);
        assert_eq!(without_name(&base, &spec(9000)), None);
    }

    #[test]
    fn without_a_network_of_the_projects_own_there_is_no_name_route() {
        let named = with_name(
            &config::base(),
            &spec(8080),
            &callers(&["172.20.0.0/16"], &[]),
        )
        .unwrap();
        assert_eq!(
            with_name(&named, &spec(8080), &Callers::default()).unwrap(),
            config::base()
        );
        assert_eq!(
            with_name(&config::base(), &spec(8080), &Callers::default()),
            None
        );
    }

    #[test]
    fn on_port_80_the_name_comes_before_the_public_routes() {
        let mut public = config::base();
        public["apps"]["http"]["servers"]["docker-flow"]["routes"] =
            json!([config::route(&spec(80))]);
        let named = with_name(
            &public,
            &spec(80),
            &callers(&["10.0.0.0/24", "fd00::/64"], &[]),
        )
        .unwrap();
        let routes = &named["apps"]["http"]["servers"]["docker-flow"]["routes"];
        assert_eq!(routes[0]["@id"], "docker-flow.shop.api.name");
        assert_eq!(routes[1]["@id"], "docker-flow.shop.api");
        assert_eq!(without_name(&named, &spec(80)).unwrap(), public);
    }

    #[test]
    fn ports_the_proxy_holds_itself_are_not_answered() {
        assert!(answerable(&spec(8080)));
        assert!(answerable(&spec(80)));
        assert!(!answerable(&spec(443)));
        assert!(!answerable(&spec(2019)));
        assert!(!answerable(&spec(5353)));
        let mut none = spec(8080);
        none.networks.clear();
        assert!(!answerable(&none));
        let mut plain = spec(8080);
        plain.answers_name = false;
        assert!(!answerable(&plain));
    }

    #[test]
    fn the_short_id_docker_adds_is_not_one_of_the_names() {
        let endpoint = json!({"Aliases": ["foo", "8a39f609bc0c"]});
        assert_eq!(
            aliases(Some(&endpoint), "8a39f609bc0c924ab48cc6df4f4c12fd"),
            ["foo"]
        );
        assert!(aliases(None, "x").is_empty());
    }
}
