//! The derived model: the user's Compose project with the target split into colours.
//!
//! With `--blue-green` the target `app` becomes `app-blue` and `app-green`, identical but for
//! labels that say target, colour and release; references to the target from other services are
//! pointed at one colour. Without it the target keeps its name and only gains labels. The user's
//! files are never touched: the derived model goes to Compose on stdin.

use std::fmt;

use serde_json::Value;

use crate::compose::{locate, ComposeFile, Project};
use crate::error::{Error, Result};
use crate::settings::{ProxyDriver, Settings};

/// A label's value from Docker's `Labels` object (a container's, a service's), empty when it
/// is absent.
pub(crate) fn label(labels: Option<&Value>, key: &str) -> String {
    labels
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub(crate) const LABEL_TARGET: &str = "io.docker-flow.target";
pub(crate) const LABEL_COLOR: &str = "io.docker-flow.color";
pub(crate) const LABEL_RELEASE: &str = "io.docker-flow.release";
pub(crate) const LABEL_RELEASED_AT: &str = "io.docker-flow.released-at";
pub(crate) const LABEL_PORT: &str = "io.docker-flow.port";
/// On a release: the image and release it replaced, so a rollback can recreate them.
pub(crate) const LABEL_PREVIOUS_IMAGE: &str = "io.docker-flow.previous-image";
pub(crate) const LABEL_PREVIOUS_RELEASE: &str = "io.docker-flow.previous-release";
pub(crate) const LABEL_PREVIOUS_RELEASED_AT: &str = "io.docker-flow.previous-released-at";
/// On a release deployed with `--keep-old`: for how many seconds from its release the one it
/// replaced stays running, out of rotation, for an instant rollback.
pub(crate) const LABEL_KEEP_OLD: &str = "io.docker-flow.keep-old";

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Color {
    Blue,
    Green,
}

impl Color {
    pub(crate) fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Color> {
        match s {
            "blue" => Some(Color::Blue),
            "green" => Some(Color::Green),
            _ => None,
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One release: its id and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    pub id: String,
    pub at: String,
}

impl Release {
    /// A new release, now: its id sorts by time and is unique enough for one project.
    pub(crate) fn new() -> Release {
        let now = std::time::SystemTime::now();
        let since = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Release {
            id: format!(
                "{}{:03}-{}",
                since.as_secs(),
                since.subsec_millis(),
                std::process::id()
            ),
            at: humantime::format_rfc3339_millis(now).to_string(),
        }
    }
}

/// The label on a route's network: which route (`<project>.<target>`) it is.
pub(crate) const LABEL_ROUTE: &str = "io.docker-flow.route";
/// On a Swarm colour scaled to 0: how many tasks it had, so that a rollback brings them back.
pub(crate) const LABEL_REPLICAS: &str = "io.docker-flow.replicas";

/// `docker compose config` fills every service's `deploy` with empty maps (`placement: {}`,
/// `resources: {}`); given back to Compose, an empty `placement` makes it warn "only honored by
/// the Swarm scheduler" for a file that never asked for one. They are dropped (and `deploy`
/// with them when nothing else is left), so the derived model warns no more than the user's own.
fn without_empty_deploy_maps(svc: &mut crate::compose::Service) {
    let empty = |v: &serde_json::Value| v.as_object().is_some_and(|m| m.is_empty());
    if let Some(deploy) = svc.rest.get_mut("deploy").and_then(|d| d.as_object_mut()) {
        deploy.retain(|_, v| !empty(v));
    }
    if svc.rest.get("deploy").is_some_and(empty) {
        svc.rest.shift_remove("deploy");
    }
}

/// The route's own network, where the proxy meets the instances in rotation:
/// `dflow-<project>.<target>` on one engine (a project name cannot hold a `.`, so the name is one
/// route's only). Swarm wants network names that are DNS labels, so there it is
/// `dflow-<project>-<target>`, and its owner label tells routes apart.
pub(crate) fn route_network(project: &str, target: &str, swarm: bool) -> String {
    if swarm {
        format!("dflow-{project}-{target}")
    } else {
        format!("dflow-{project}.{target}")
    }
}

/// The owner label's value on a route's network.
pub(crate) fn route_label(project: &str, target: &str) -> String {
    format!("{project}.{target}")
}

/// `docker network create` for a route's network; on Swarm mode an overlay that a plain
/// container (the proxy) can join too.
pub(crate) fn route_network_create(project: &str, target: &str, swarm: bool) -> Vec<String> {
    let label = format!("{LABEL_ROUTE}={}", route_label(project, target));
    let mut a = crate::engine::args(&["network", "create", "--label", &label]);
    if swarm {
        a.extend(crate::engine::args(&[
            "--driver",
            "overlay",
            "--attachable",
        ]));
    }
    a.push(route_network(project, target, swarm));
    a
}

/// The Compose service name of the target in a colour (or as is, without blue-green).
pub(crate) fn service_name(target: &str, color: Option<Color>) -> String {
    match color {
        Some(c) => format!("{target}-{c}"),
        None => target.to_string(),
    }
}

/// Checks the project against what docker flow needs, before anything touches the engine.
/// Returns the service port the proxy forwards to (None without a proxy and nothing to infer).
/// Refuses (exit 2, at its line) a service `docker-flow.yml` gives settings of its own
/// (`services:`) that is not one of the project's. `every_service` lists the project's
/// services in every profile (asked only for a name the loaded project lacks: a service of a
/// profile not enabled is one of the project's too).
pub(crate) fn check_services_in_file(
    project: &Project,
    settings: &Settings,
    every_service: &dyn Fn() -> Vec<String>,
) -> Result<()> {
    let services = &project.model.services;
    let unknown: Vec<&(String, std::path::PathBuf, usize)> = settings
        .services_in_file
        .iter()
        .filter(|(name, _, _)| !services.contains_key(name))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let every = every_service();
    for (name, path, line) in unknown {
        if every.contains(name) {
            continue;
        }
        let mut names: Vec<&str> = every.iter().map(String::as_str).collect();
        names.sort_unstable();
        let close = names
            .iter()
            .find(|s| strsim::damerau_levenshtein(s, name) <= 2);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        return Err(Error::config(
            format!(
                "`{name}` under `services` in {} is not a service of project `{}`",
                crate::settings::file::FILE_NAME,
                project.model.name
            ),
            match close {
                Some(c) => format!("did you mean `{c}`? The services are: {}", names.join(", ")),
                None => format!("the services are: {}", names.join(", ")),
            },
            crate::settings::file::locate_line(path, &text, *line),
        ));
    }
    Ok(())
}

pub(crate) fn validate(
    project: &Project,
    settings: &Settings,
    target: &str,
) -> Result<Option<u16>> {
    let services = &project.model.services;
    let known = || {
        let mut names: Vec<&str> = services.keys().map(String::as_str).collect();
        names.sort_unstable();
        names.join(", ")
    };
    let Some(svc) = services.get(target) else {
        return Err(Error::config(
            format!(
                "the target `{target}` is not a service of project `{}`",
                project.model.name
            ),
            format!("the services are: {}; set --target to one of them", known()),
            None,
        ));
    };
    for side in &settings.side_targets {
        if side == target {
            return Err(Error::usage(
                format!("`{side}` is both the target and a side target"),
                "a side target is a service the target needs (a database); remove it from --side-target",
            ));
        }
        if !services.contains_key(side) {
            return Err(Error::config(
                format!(
                    "the side target `{side}` is not a service of project `{}`",
                    project.model.name
                ),
                format!("the services are: {}; fix --side-target", known()),
                None,
            ));
        }
    }
    if let Some(name) = &svc.container_name {
        return Err(Error::config(
            format!("the target `{target}` sets container_name `{name}`, so two releases cannot run side by side"),
            format!("remove `container_name` from service `{target}`; docker flow names the containers"),
            locate(&project.files, target, Some("container_name")),
        ));
    }
    let fixed = svc.fixed_host_ports();
    if !fixed.is_empty() {
        return Err(Error::config(
            format!(
                "the target `{target}` publishes fixed host port {}, which two releases cannot share",
                fixed.join(", ")
            ),
            format!(
                "remove the host port from `ports` of `{target}` (keep `expose` or the container port alone); the proxy publishes the service"
            ),
            locate(&project.files, target, Some("ports")),
        ));
    }
    if settings.blue_green {
        for color in [Color::Blue, Color::Green] {
            let name = service_name(target, Some(color));
            if services.contains_key(&name) {
                return Err(Error::config(
                    format!("the project already has a service `{name}`, the name docker flow gives the {color} release of `{target}`"),
                    format!("rename the service `{name}`"),
                    locate(&project.files, &name, None),
                ));
            }
        }
    }
    if let Some(port) = settings.service_port {
        return Ok(Some(port));
    }
    let ports = svc.container_ports();
    match (ports.as_slice(), settings.proxy.driver) {
        ([one], _) => Ok(Some(*one)),
        (_, ProxyDriver::None) => Ok(None),
        ([], _) => Err(Error::config(
            format!("cannot tell which port of `{target}` the proxy should forward to: the service declares none"),
            format!("set --service-port (e.g. --service-port=8080), or add `expose: [\"8080\"]` to `{target}`"),
            locate(&project.files, target, None),
        )),
        (many, _) => Err(Error::config(
            format!(
                "cannot tell which port of `{target}` the proxy should forward to: it declares {}",
                many.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            ),
            "set --service-port to the one the proxy should use",
            locate(&project.files, target, Some("expose")),
        )),
    }
}

/// What to derive: the target, which colour gets which release labels, and which colour the
/// other services' references to the target point at.
#[derive(Debug, Clone)]
pub(crate) struct Derivation<'a> {
    pub target: &'a str,
    pub blue_green: bool,
    /// The colour (or, without blue-green, the target) being released, and its release.
    pub release: Option<(Option<Color>, &'a Release)>,
    /// The colour that references to the target resolve to.
    pub refer_to: Color,
    pub port: Option<u16>,
    /// More labels for the released colour only (what it replaced).
    pub extra_labels: &'a [(String, String)],
}

/// Derives the model Compose is handed.
pub(crate) fn derive(model: &ComposeFile, d: &Derivation) -> Result<ComposeFile> {
    let mut out = model.clone();
    for svc in out.services.values_mut() {
        without_empty_deploy_maps(svc);
    }
    let Some(base) = out.services.get(d.target).cloned() else {
        return Err(Error::config(
            format!("no service `{}`", d.target),
            "check --target",
            None,
        ));
    };
    let labelled = |color: Option<Color>| {
        let mut svc = base.clone();
        svc.labels.insert(LABEL_TARGET.into(), d.target.into());
        if let Some(c) = color {
            svc.labels.insert(LABEL_COLOR.into(), c.to_string());
        }
        if let Some(p) = d.port {
            svc.labels.insert(LABEL_PORT.into(), p.to_string());
        }
        if let Some((rc, r)) = d.release {
            if rc == color {
                svc.labels.insert(LABEL_RELEASE.into(), r.id.clone());
                svc.labels.insert(LABEL_RELEASED_AT.into(), r.at.clone());
                for (k, v) in d.extra_labels {
                    svc.labels.insert(k.clone(), v.clone());
                }
            }
        }
        svc
    };
    if !d.blue_green {
        let svc = labelled(None);
        out.services.insert(d.target.to_string(), svc);
        return Ok(out);
    }
    let index = out.services.get_index_of(d.target).unwrap_or(0);
    out.services.shift_remove(d.target);
    out.services.shift_insert(
        index,
        service_name(d.target, Some(Color::Blue)),
        labelled(Some(Color::Blue)),
    );
    out.services.shift_insert(
        index + 1,
        service_name(d.target, Some(Color::Green)),
        labelled(Some(Color::Green)),
    );
    let to = service_name(d.target, Some(d.refer_to));
    for (name, svc) in out.services.iter_mut() {
        if svc.labels.get(LABEL_TARGET).map(String::as_str) == Some(d.target) {
            continue;
        }
        if let Some(v) = svc.depends_on.shift_remove(d.target) {
            svc.depends_on.insert(to.clone(), v);
        }
        for link in svc.links.iter_mut() {
            let (svc_part, alias) = match link.split_once(':') {
                Some((s, a)) => (s.to_string(), Some(a.to_string())),
                None => (link.clone(), None),
            };
            if svc_part == d.target {
                // Keep the target's name as the alias, so the linking service still finds it.
                *link = format!("{to}:{}", alias.unwrap_or_else(|| d.target.to_string()));
            }
        }
        if svc.network_mode.as_deref() == Some(&format!("service:{}", d.target)) {
            svc.network_mode = Some(format!("service:{to}"));
        }
        for vf in svc.volumes_from.iter_mut() {
            let (svc_part, mode) = match vf.split_once(':') {
                Some((s, m)) => (s, Some(m)),
                None => (vf.as_str(), None),
            };
            if svc_part == d.target {
                *vf = match mode {
                    Some(m) => format!("{to}:{m}"),
                    None => to.clone(),
                };
            }
        }
        if let Some(Value::Object(ext)) = svc.rest.get("extends") {
            if ext.get("service").and_then(Value::as_str) == Some(d.target) {
                return Err(Error::config(
                    format!("service `{name}` extends the target `{}`", d.target),
                    "Compose resolves `extends` before docker flow sees it; this should not happen — please report it",
                    None,
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_release_is_stamped_in_rfc3339_with_milliseconds() {
        let r = super::Release::new();
        assert_eq!(r.at.len(), "2026-11-26T23:22:02.618Z".len(), "{}", r.at);
        assert!(
            r.at.ends_with('Z') && r.at.as_bytes()[10] == b'T',
            "{}",
            r.at
        );
        assert!(humantime::parse_rfc3339(&r.at).is_ok(), "{}", r.at);
        assert!(
            r.id.ends_with(&format!("-{}", std::process::id())),
            "{}",
            r.id
        );
    }

    use super::*;
    use serde_json::json;

    fn model() -> ComposeFile {
        serde_json::from_value(json!({
            "name": "shop",
            "services": {
                "db": {"image": "postgres:16", "volumes_from": ["app:ro"]},
                "app": {"image": "demo:v2", "expose": ["8080"], "labels": {"team": "web"},
                        "environment": {"VERSION": "v2"}},
                "worker": {"image": "w", "depends_on": {"app": {"condition": "service_started", "required": true}},
                           "links": ["app", "db:database"], "network_mode": "service:app"},
                "sidecar": {"image": "s", "links": ["app:api"], "volumes_from": ["app"]}
            },
            "networks": {"default": {"name": "shop_default"}}
        }))
        .unwrap()
    }

    #[test]
    fn blue_green_derivation() {
        let release = Release {
            id: "r1".into(),
            at: "2026-11-26T14:00:00Z".into(),
        };
        let d = Derivation {
            target: "app",
            blue_green: true,
            release: Some((Some(Color::Green), &release)),
            refer_to: Color::Blue,
            port: Some(8080),
            extra_labels: &[],
        };
        let out = derive(&model(), &d).unwrap();
        insta::assert_json_snapshot!(out);
        let names: Vec<&String> = out.services.keys().collect();
        assert_eq!(names, ["db", "app-blue", "app-green", "worker", "sidecar"]);
    }

    #[test]
    fn plain_derivation_keeps_the_name() {
        let release = Release {
            id: "r2".into(),
            at: "t".into(),
        };
        let d = Derivation {
            target: "app",
            blue_green: false,
            release: Some((None, &release)),
            refer_to: Color::Blue,
            port: Some(8080),
            extra_labels: &[],
        };
        let out = derive(&model(), &d).unwrap();
        let app = &out.services["app"];
        assert_eq!(app.labels[LABEL_TARGET], "app");
        assert_eq!(app.labels[LABEL_RELEASE], "r2");
        assert!(!app.labels.contains_key(LABEL_COLOR));
        assert_eq!(out.services["worker"].links, vec!["app", "db:database"]);
    }

    #[test]
    fn the_derived_model_drops_the_empty_deploy_maps_compose_config_adds() {
        let mut m = model();
        m.services["app"].rest.insert(
            "deploy".into(),
            serde_json::json!({"replicas": 2, "resources": {}, "placement": {}}),
        );
        m.services["db"].rest.insert(
            "deploy".into(),
            serde_json::json!({"resources": {}, "placement": {}}),
        );
        let release = Release {
            id: "r3".into(),
            at: "t".into(),
        };
        let d = Derivation {
            target: "app",
            blue_green: true,
            release: Some((Some(Color::Blue), &release)),
            refer_to: Color::Blue,
            port: Some(8080),
            extra_labels: &[],
        };
        let out = derive(&m, &d).unwrap();
        assert_eq!(
            out.services["app-blue"].rest["deploy"],
            serde_json::json!({"replicas": 2})
        );
        assert!(!out.services["db"].rest.contains_key("deploy"));
    }
}
