//! The Caddy driver: a Caddy container docker flow provisions and configures through the admin API.
//!
//! The admin API has no authentication, so it is published on the host's loopback only and
//! serves only docker flow's own Origin (see `admin`). Config is autosaved on a named volume and
//! Caddy runs with `--resume`, so a restarted proxy keeps its routes. Each (project, target) owns one route tagged `@id`, written once (in one request
//! guarded by `If-Match`, so a concurrent change by another project is retried, not overwritten).
//! Caddy drops requests whenever its config changes, so switching never changes it: the route
//! resolves its upstreams from a DNS record docker flow rewrites (see `rotation`), and reaches
//! them on the route's own network. A switch connects the new instances to that network and
//! rewrites the record; the old ones leave the record while they still run, and are stopped only
//! once Caddy reports no request in flight to them (or `--drain-timeout` passed).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::rotation::Rotation;
use super::{base_url, Drained, Proxy, RouteSpec, RouteView};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::model::Color;
use crate::settings::ProxySettings;
use crate::state::Instance;

/// The Caddy server (in `apps.http.servers`) that holds docker flow's routes.
pub const SERVER: &str = "docker-flow";
const ROUTES: &str = "/config/apps/http/servers/docker-flow/routes";
/// How often Caddy looks the route's record up again.
const REFRESH: &str = "200ms";

pub struct Caddy<'a> {
    engine: &'a Engine,
    settings: ProxySettings,
    route: RouteSpec,
    agent: ureq::Agent,
    base: String,
    rotation: Rotation<'a>,
}

struct Reply {
    status: u16,
    etag: Option<String>,
    body: String,
}

impl<'a> Caddy<'a> {
    pub fn new(engine: &'a Engine, settings: &ProxySettings, route: RouteSpec) -> Caddy<'a> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Caddy {
            engine,
            base: base_url(&settings.host, settings.reconf_port),
            settings: settings.clone(),
            route,
            agent,
            rotation: Rotation::new(engine, &settings.name),
        }
    }

    pub fn route_id(&self) -> String {
        format!("docker-flow.{}.{}", self.route.project, self.route.target)
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> Error {
        Error::environment(
            format!("the proxy's admin API at {} is unreachable: {e}", self.base),
            format!(
                "check the proxy container `{}` (`docker logs {}`); `docker flow proxy` re-applies the routes once it runs",
                self.settings.name, self.settings.name
            ),
        )
    }

    /// One admin API request. Caddy restarts its admin endpoint on every config change, so a
    /// request that finds the connection refused or dropped is tried again for up to 2 s; every
    /// request we make is safe to repeat (GETs, a whole `/load`, and `If-Match`-guarded changes).
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply> {
        let started = Instant::now();
        loop {
            match self.request_once(method, path, body, if_match) {
                Err(e) if started.elapsed() < Duration::from_secs(2) => {
                    drop(e);
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    fn request_once(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply> {
        // Once docker flow has configured it, Caddy serves only requests from docker flow's own
        // Origin (see `admin`); before that, it refuses any Origin it was not told about, so a
        // proxy that is not configured yet is asked without one.
        let reply = self.send(method, path, body, if_match, true)?;
        if reply.status == 403 && reply.body.contains("not allowed to access from origin") {
            return self.send(method, path, body, if_match, false);
        }
        Ok(reply)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        with_origin: bool,
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base);
        let origin = with_origin.then_some(self.base.as_str());
        let result = match (method, body) {
            ("GET", _) => with_origin_header(self.agent.get(&url), origin).call(),
            (m, Some(b)) => {
                let mut req = match m {
                    "POST" => self.agent.post(&url),
                    "PATCH" => self.agent.patch(&url),
                    _ => self.agent.put(&url),
                };
                req = with_origin_header(req, origin).header("Content-Type", "application/json");
                if let Some(tag) = if_match {
                    req = req.header("If-Match", tag);
                }
                req.send(b.to_string())
            }
            (_, None) => with_origin_header(self.agent.delete(&url), origin).call(),
        };
        let mut resp = result.map_err(|e| self.unreachable(e))?;
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Ok(Reply {
            status: resp.status().as_u16(),
            etag,
            body,
        })
    }

    fn running(&self) -> Result<bool> {
        Ok(self
            .engine
            .container_status(&self.settings.name)?
            .as_deref()
            == Some("running"))
    }

    fn admin_answers(&self) -> bool {
        self.request_once("GET", "/config/", None, None)
            .is_ok_and(|r| r.status == 200)
    }

    /// `docker run` of the proxy container.
    fn run_args(&self, migrate_requests: bool) -> Vec<String> {
        let s = &self.settings;
        let mut a = args(&[
            "run",
            "-d",
            "--name",
            &s.name,
            "--restart",
            "unless-stopped",
            "--label",
            "io.docker-flow.proxy=caddy",
            "-p",
            &format!("{}:80", s.http_port),
            "-p",
            &format!("{}:{}:2019", publish_host(&s.host), s.reconf_port),
            "-v",
            &format!("{}-data:/config", s.name),
            "-e",
            "CADDY_ADMIN=0.0.0.0:2019",
            "-e",
            "XDG_CONFIG_HOME=/config",
            "-e",
            "XDG_DATA_HOME=/data",
        ]);
        if migrate_requests {
            // Caddy binds a new SO_REUSEPORT socket on every config change and closes the old
            // one; with this, connections queued on the old socket move to the new one instead
            // of being reset.
            a.extend(args(&["--sysctl", "net.ipv4.tcp_migrate_req=1"]));
        }
        a.extend(args(&[&s.image, "caddy", "run", "--resume"]));
        a
    }

    /// Starts the proxy container when it is absent or stopped.
    fn provision(&self) -> Result<()> {
        let name = &self.settings.name;
        let status = self.engine.container_status(name)?;
        if status.as_deref() == Some("running") {
            return Ok(());
        }
        let changed = if status.is_some() {
            self.engine.change(&args(&["start", name]), None)?
        } else {
            let first = self.engine.change(&self.run_args(true), None)?;
            if !first.ok() && first.stderr.contains("tcp_migrate_req") {
                // Kernels before 5.14 lack the sysctl; Caddy still works, with the reload race.
                self.engine.change(&self.run_args(false), None)?
            } else {
                first
            }
        };
        if !changed.ok() {
            return Err(Error::environment(
                format!(
                    "cannot start the proxy container `{name}`: {}",
                    changed.stderr.trim()
                ),
                format!(
                    "check --proxy-image ({}) exists on the engine and ports {} and {} are free",
                    self.settings.image, self.settings.http_port, self.settings.reconf_port
                ),
            ));
        }
        Ok(())
    }

    /// The admin API's own config. It listens on every address of the proxy container (so the
    /// published loopback port reaches it), and accepts only requests whose Origin is that
    /// published address: a web page in a browser on the host cannot drive it (a cross-site
    /// request or DNS rebinding carries the page's own Origin, and a request without one is
    /// refused too).
    fn admin(&self) -> Value {
        let port = self.settings.reconf_port;
        let mut origins = vec![
            self.base.trim_start_matches("http://").to_string(),
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
        ];
        origins.dedup();
        json!({"listen": "0.0.0.0:2019", "enforce_origin": true, "origins": origins})
    }

    /// Makes sure Caddy's config has docker flow's server, and its admin API checks origins.
    fn ensure_server(&self) -> Result<()> {
        let admin = self.request("GET", "/config/admin", None, None)?;
        let current: Value = serde_json::from_str(&admin.body).unwrap_or(Value::Null);
        if admin.status == 200
            && current != Value::Null
            && current.get("enforce_origin") != Some(&Value::Bool(true))
        {
            // A proxy started before docker flow checked origins: one config change.
            let r = self.request("POST", "/config/admin", Some(&self.admin()), None)?;
            if r.status != 200 {
                return Err(Error::environment(
                    format!(
                        "the proxy refused the admin settings ({}): {}",
                        r.status,
                        r.body.trim()
                    ),
                    "remove the proxy container and its volume to start afresh",
                ));
            }
        }
        let r = self.request(
            "GET",
            &format!("/config/apps/http/servers/{SERVER}"),
            None,
            None,
        )?;
        if r.status == 200 && r.body.trim() != "null" {
            return Ok(());
        }
        let config = json!({
            "admin": self.admin(),
            "apps": {"http": {"servers": {SERVER: {
                "listen": [":80"],
                "automatic_https": {"disable": true},
                "routes": []
            }}}}
        });
        let r = self.request("POST", "/load", Some(&config), None)?;
        if r.status != 200 {
            return Err(Error::environment(
                format!(
                    "the proxy refused docker flow's base config ({}): {}",
                    r.status,
                    r.body.trim()
                ),
                "remove the proxy container and its volume to start afresh",
            ));
        }
        Ok(())
    }

    /// The network docker flow keeps for this route: the proxy and the instances in rotation.
    fn route_network(&self) -> String {
        format!("dflow-{}-{}", self.route.project, self.route.target)
    }

    /// The DNS name the route's upstreams are resolved from (its record in the rotation).
    fn record(&self) -> String {
        format!("{}.{}.dflow", self.route.target, self.route.project).to_ascii_lowercase()
    }

    /// The instances in rotation (container name, address); None before the first switch.
    fn members(&self) -> Result<Option<Vec<(String, String)>>> {
        self.rotation.get(&self.record())
    }

    /// Gives a route without a record (its rotation container was recreated, or the route was
    /// made by a docker flow that switched by network alias) the instances that run on its
    /// network, so that it keeps serving until the next switch.
    fn seed_record(&self) -> Result<()> {
        if self.members()?.is_some() {
            return Ok(());
        }
        let members = self.route_addresses()?;
        if members.is_empty() {
            return Ok(());
        }
        self.rotation.set(&self.record(), &members)
    }

    /// The instances on the route network, as (container name, IPv4 address): the running ones
    /// (a stopped container has no endpoint), the proxy and its rotation aside. Empty without
    /// the network (in a dry run, say).
    fn route_addresses(&self) -> Result<Vec<(String, String)>> {
        let out = self.engine.read(&args(&[
            "network",
            "inspect",
            "--format",
            "{{range .Containers}}{{.Name}} {{.IPv4Address}}\n{{end}}",
            &self.route_network(),
        ]))?;
        Ok(out
            .stdout
            .lines()
            .filter_map(|line| line.trim().split_once(' '))
            .filter(|(name, _)| *name != self.settings.name && *name != self.rotation.container())
            .map(|(name, cidr)| {
                let ip = cidr.split('/').next().unwrap_or_default();
                (name.to_string(), ip.to_string())
            })
            .collect())
    }

    /// Requests in flight from Caddy to each of `addresses` (`ip:port`), as Caddy reports them.
    /// An address Caddy does not list has none.
    fn in_flight(&self, addresses: &[String]) -> Result<u64> {
        let r = self.request("GET", "/reverse_proxy/upstreams", None, None)?;
        if r.status != 200 {
            return Err(self.unreachable(format!("status {}", r.status)));
        }
        let listed: Vec<Value> = serde_json::from_str(&r.body).unwrap_or_default();
        Ok(requests_to(&listed, addresses))
    }

    /// The route: its upstreams are whatever its record in the rotation holds, looked up again
    /// every `REFRESH`, so a switch rewrites the record and never changes Caddy's config (Caddy
    /// drops requests on every config change). A dial that fails is retried on another instance.
    fn our_route(&self) -> Value {
        let mut matcher = serde_json::Map::new();
        if !self.route.paths.is_empty() {
            let paths: Vec<String> = self
                .route
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
        if !self.route.domains.is_empty() {
            matcher.insert("host".into(), json!(self.route.domains));
        }
        json!({
            "@id": self.route_id(),
            "match": [Value::Object(matcher)],
            "handle": [{
                "handler": "reverse_proxy",
                "dynamic_upstreams": {
                    "source": "a",
                    "name": self.record(),
                    "port": self.route.port.to_string(),
                    "refresh": REFRESH,
                    "resolver": {"addresses": [self.rotation.resolver()]},
                    // The rotation serves A records only.
                    "versions": {"ipv4": true}
                },
                // A dial that fails (an instance that died in rotation) is retried at once on
                // another instance, and that address is skipped for a moment so no request
                // tries it twice.
                "transport": {"protocol": "http", "keep_alive": {"enabled": false}, "dial_timeout": "250ms"},
                "load_balancing": {
                    "selection_policy": {"policy": "round_robin"},
                    "try_duration": "5s",
                    "try_interval": "10ms"
                },
                "health_checks": {"passive": {"fail_duration": "500ms", "max_fails": 1}}
            }],
            "terminal": true
        })
    }

    /// Creates or updates the route when it differs from ours: the only config change, made
    /// once per route (and again if its paths or domains change).
    fn ensure_route(&self) -> Result<()> {
        let ours = self.our_route();
        for _ in 0..20 {
            let r = self.request("GET", ROUTES, None, None)?;
            let mut routes: Vec<Value> = serde_json::from_str(&r.body)
                .ok()
                .and_then(|v: Value| v.as_array().cloned())
                .unwrap_or_default();
            let id = self.route_id();
            match routes
                .iter()
                .position(|rt| rt.get("@id").and_then(Value::as_str) == Some(id.as_str()))
            {
                Some(i) if routes[i] == ours => return Ok(()),
                Some(i) => routes[i] = ours.clone(),
                None => {
                    let mine = specificity(&ours);
                    let at = routes
                        .iter()
                        .position(|rt| specificity(rt) < mine)
                        .unwrap_or(routes.len());
                    routes.insert(at, ours.clone());
                }
            }
            let w = self.request(
                "PATCH",
                ROUTES,
                Some(&Value::Array(routes)),
                r.etag.as_deref(),
            )?;
            match w.status {
                200 => return Ok(()),
                412 => continue, // someone else changed the config meanwhile: read it again
                s => {
                    return Err(Error::environment(
                        format!("the proxy refused the route ({s}): {}", w.body.trim()),
                        "see `docker logs` of the proxy container",
                    ))
                }
            }
        }
        Err(Error::environment(
            "the proxy's config kept changing under docker flow; the route was not written",
            "run the command again",
        ))
    }
}

/// Requests in flight to `addresses` in Caddy's upstream list. Caddy may list an address more
/// than once (its static and dynamic upstream pools), each entry with the same count, so the
/// largest per address counts; an address it does not list has none.
fn requests_to(listed: &[Value], addresses: &[String]) -> u64 {
    addresses
        .iter()
        .map(|a| {
            listed
                .iter()
                .filter(|u| u.get("address").and_then(Value::as_str) == Some(a.as_str()))
                .filter_map(|u| u.get("num_requests").and_then(Value::as_u64))
                .max()
                .unwrap_or(0)
        })
        .sum()
}

/// The container of an upstream dial address, `name:port`.
fn container_of(upstream: &str) -> &str {
    upstream.rsplit_once(':').map_or(upstream, |(n, _)| n)
}

fn with_origin_header<B>(
    req: ureq::RequestBuilder<B>,
    origin: Option<&str>,
) -> ureq::RequestBuilder<B> {
    match origin {
        Some(o) => req.header("Origin", o),
        None => req,
    }
}

/// The address the admin port is published on: loopback unless the user opted in.
fn publish_host(host: &str) -> String {
    if host == "localhost" {
        "127.0.0.1".into()
    } else if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
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

impl Proxy for Caddy<'_> {
    fn driver(&self) -> &'static str {
        "caddy"
    }

    fn preflight(&self) -> Result<()> {
        if self.engine.dry_run() || !self.running()? {
            return Ok(());
        }
        self.request("GET", "/config/", None, None).map(drop)
    }

    fn ensure(&self) -> Result<()> {
        self.provision()?;
        self.rotation.ensure()?;
        let net = self.route_network();
        let label = format!(
            "io.docker-flow.route={}.{}",
            self.route.project, self.route.target
        );
        let created = self
            .engine
            .change(&args(&["network", "create", "--label", &label, &net]), None)?;
        if !created.ok() && !created.stderr.contains("already exists") {
            return Err(Error::environment(
                format!(
                    "cannot create the route network `{net}`: {}",
                    created.stderr.trim()
                ),
                "check `docker network ls` and the engine's address pools",
            ));
        }
        let out = self.engine.change(
            &args(&["network", "connect", &net, &self.settings.name]),
            None,
        )?;
        if !out.ok() && !out.stderr.contains("already exists") {
            return Err(Error::environment(
                format!(
                    "cannot connect the proxy `{}` to `{net}`: {}",
                    self.settings.name,
                    out.stderr.trim()
                ),
                "check that the proxy container exists",
            ));
        }
        self.rotation.connect(&net)?;
        self.seed_record()?;
        if self.engine.planned(format!(
            "ensure Caddy at {} has the route {}",
            self.base,
            self.route_id()
        )) {
            return Ok(());
        }
        let started = Instant::now();
        while !self.admin_answers() {
            if started.elapsed() > Duration::from_secs(15) {
                return Err(self.unreachable("no answer for 15s"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.ensure_server()?;
        self.ensure_route()
    }

    fn current(&self) -> Result<Option<Vec<String>>> {
        Ok(self.members()?.map(|members| {
            members
                .iter()
                .map(|(n, _)| format!("{n}:{}", self.route.port))
                .collect()
        }))
    }

    fn switch(&self, upstreams: &[String], _: Option<Color>) -> Result<()> {
        if upstreams.is_empty() {
            return Err(Error::flow(
                "refusing to point the proxy at no instances",
                "this is a bug in docker flow: please report it",
            ));
        }
        let net = self.route_network();
        let names: Vec<&str> = upstreams.iter().map(|up| container_of(up)).collect();
        for name in &names {
            let out = self
                .engine
                .change(&args(&["network", "connect", &net, name]), None)?;
            if !out.ok() && !out.stderr.contains("already exists") {
                return Err(Error::environment(
                    format!(
                        "cannot put `{name}` behind the proxy: {}",
                        out.stderr.trim()
                    ),
                    format!("check the route network `{net}` (`docker network inspect {net}`)"),
                ));
            }
        }
        let on_network = self.route_addresses()?;
        let mut members = Vec::new();
        for name in names {
            let ip = match on_network.iter().find(|(n, _)| n == name) {
                Some((_, ip)) => ip.clone(),
                None if self.engine.dry_run() => "<address>".into(),
                None => {
                    return Err(Error::environment(
                        format!("`{name}` has no address on the route network `{net}`"),
                        format!(
                            "check `docker network inspect {net}`; `docker flow proxy` repairs the route"
                        ),
                    ))
                }
            };
            members.push((name.to_string(), ip));
        }
        self.rotation.set(&self.record(), &members)
    }

    fn drain(&self, old: &[String], timeout: Duration) -> Result<Drained> {
        if old.is_empty()
            || self.engine.planned(format!(
                "wait until Caddy has no request in flight to {}",
                old.iter()
                    .map(|up| container_of(up))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        {
            return Ok(Drained::Clear);
        }
        // The old instances left the record but still run on the route network: their
        // addresses there are the ones Caddy sends requests to.
        let addresses: Vec<String> = self
            .route_addresses()?
            .into_iter()
            .filter(|(n, _)| old.iter().any(|up| container_of(up) == n))
            .map(|(_, ip)| format!("{ip}:{}", self.route.port))
            .collect();
        // Caddy looks the record up again within REFRESH; until then it may still pick the old
        // instances, so wait for that first, then for their requests in flight to finish.
        let refresh = humantime::parse_duration(REFRESH).unwrap_or(Duration::from_millis(200));
        let started = Instant::now();
        std::thread::sleep(2 * refresh);
        let mut last = None;
        while started.elapsed() < timeout {
            crate::cancel::check()?;
            // When Caddy cannot say (its admin API did not answer), keep waiting: stopping an
            // instance with requests in flight is worse than waiting out --drain-timeout.
            last = self.in_flight(&addresses).ok();
            if last == Some(0) {
                return Ok(Drained::Clear);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Drained::TimedOut(last))
    }

    fn retire(&self, stopped: &[Instance]) -> Result<()> {
        let net = self.route_network();
        for i in stopped {
            let out = self.engine.change(
                &args(&["network", "disconnect", "--force", &net, &i.name]),
                None,
            )?;
            if !out.ok()
                && !out.stderr.contains("is not connected")
                && !out.stderr.contains("No such")
            {
                return Err(Error::environment(
                    format!(
                        "cannot take `{}` off the route: {}",
                        i.name,
                        out.stderr.trim()
                    ),
                    format!("run `docker network disconnect {net} {}`", i.name),
                ));
            }
        }
        Ok(())
    }

    fn routes(&self) -> Result<Vec<RouteView>> {
        if !self.running()? {
            return Ok(Vec::new());
        }
        let r = self.request("GET", ROUTES, None, None)?;
        let routes: Vec<Value> = serde_json::from_str(&r.body)
            .ok()
            .and_then(|v: Value| v.as_array().cloned())
            .unwrap_or_default();
        let id = self.route_id();
        let upstreams = self.current()?.unwrap_or_default();
        Ok(routes
            .iter()
            .filter(|rt| rt.get("@id").and_then(Value::as_str) == Some(id.as_str()))
            .map(|rt| {
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
                RouteView {
                    paths: strs("/match/0/path")
                        .into_iter()
                        .filter(|p| !p.ends_with("/*") || p == "/*")
                        .collect(),
                    domains: strs("/match/0/host"),
                    upstreams: upstreams.clone(),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_flight_count_each_address_once() {
        // As Caddy 2.11 lists them while three requests are in flight to .5.
        let listed = json!([
            {"address": "192.168.128.5:8080", "num_requests": 3, "fails": 0},
            {"address": "192.168.128.4:8080", "num_requests": 1, "fails": 0},
            {"address": "192.168.128.5:8080", "num_requests": 3, "fails": 0}
        ]);
        let listed = listed.as_array().unwrap();
        let old = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(requests_to(listed, &old(&["192.168.128.5:8080"])), 3);
        assert_eq!(
            requests_to(listed, &old(&["192.168.128.5:8080", "192.168.128.4:8080"])),
            4
        );
        assert_eq!(requests_to(listed, &old(&["192.168.128.9:8080"])), 0);
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
}
