//! What docker flow prints on stdout, as typed values: each is rendered to JSON (`--format
//! json`) and to text from the same value, and each has a JSON schema in `docs/schemas/`,
//! generated from these types and checked by a test, so scripts can rely on the shape.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::model::Color;

/// `docker flow deploy|scale|proxy|stop-old|rollback --format json`: what a run changed.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct RunReport {
    /// The steps run, comma-separated (`deploy,proxy,stop-old`), or `rollback`.
    pub command: String,
    /// The Compose project.
    pub project: String,
    /// The Compose service deployed.
    pub target: String,
    /// What changed, in order, in words.
    pub changes: Vec<String>,
    /// Seconds each step took, by step name; `health` is how long the new release took to
    /// become healthy (the application's time, included in `deploy`).
    pub durations: IndexMap<String, f64>,
    /// How many docker commands the run made.
    pub engine_calls: u32,
}

/// `--dry-run --format json`: what a run would do, changing nothing.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct PlanReport {
    /// Always true.
    pub dry_run: bool,
    /// The commands and proxy changes the run would make, in order.
    pub plan: Vec<String>,
    /// The derived Compose model the run would hand to Compose (the target split into colours).
    pub model: Option<Value>,
}

/// `docker flow status --format json`: the target's releases and the proxy's routes (without
/// `--target`: an array of them, one per target docker flow deployed in the project).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct StatusReport {
    pub project: String,
    pub target: String,
    pub blue_green: bool,
    /// The colour the proxy routes to (blue-green only).
    pub live_color: Option<Color>,
    /// By colour (`blue`, `green`), or `default` without blue-green.
    pub colors: IndexMap<String, ColorReport>,
    pub proxy: ProxyReport,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ColorReport {
    pub instances: Vec<InstanceReport>,
    /// Kept running out of rotation by `--keep-old` until then (RFC 3339): a rollback to it
    /// only switches. Null otherwise.
    pub warm_until: Option<String>,
    /// What the colour's running release is now: `live`, `canary` (in rotation beside the
    /// live one), `staged` (deployed, previewed, not promoted), `warm`; null when nothing of it
    /// runs or it is simply old.
    pub role: Option<String>,
    /// For a staged release: the header (`name: value`) a request carries to reach it through
    /// the proxy, its value a key new for each staged release. Null otherwise.
    pub preview_header: Option<String>,
    /// Its share of the proxy's rotation, in percent of the instances in it (the proxy
    /// balances round-robin over them); null when it is not in rotation.
    pub traffic_percent: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct InstanceReport {
    /// The container's name.
    pub name: String,
    /// Docker's state: running, exited, created, …
    pub state: String,
    /// Docker's health: healthy, unhealthy, starting, or none (no healthcheck). For an instance
    /// that does not run, the last one Docker saw.
    pub health: String,
    pub image: String,
    pub created: String,
    /// When it last started and, if it does not run, stopped (RFC 3339); null when never.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The release id it belongs to.
    pub release: String,
    /// Swarm mode: the ID of the node its task runs on (`docker node ls`); absent on one engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl InstanceReport {
    /// `up 3m` for a running instance, `exited 2h ago` for a stopped one, as `docker ps` says
    /// it; `-` when Docker does not tell.
    pub(crate) fn uptime(&self, now: std::time::SystemTime) -> String {
        let since = |t: &Option<String>| {
            let t = humantime::parse_rfc3339_weak(t.as_deref()?).ok()?;
            Some(short(now.duration_since(t).unwrap_or_default()))
        };
        if self.state == "running" {
            since(&self.started_at).map_or("-".into(), |d| format!("up {d}"))
        } else {
            since(&self.finished_at).map_or("-".into(), |d| format!("{} {d} ago", self.state))
        }
    }
}

/// Docker's "never" timestamp (`0001-01-01T00:00:00Z`) or an empty one: None.
pub(crate) fn timestamp(t: &str) -> Option<String> {
    (!t.is_empty() && !t.starts_with("0001-")).then(|| t.to_string())
}

/// A duration in its largest whole unit: `45s`, `3m`, `2h`, `5d`.
fn short(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ProxyReport {
    /// caddy, docker-flow-proxy or none.
    pub driver: String,
    pub routes: Vec<RouteReport>,
    /// Why the proxy could not be read, if it could not.
    pub error: Option<String>,
}

/// A route as read back from the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub(crate) struct RouteReport {
    pub paths: Vec<String>,
    pub domains: Vec<String>,
    /// Whether the route is served on HTTPS too (its domains' certificates, or given files).
    pub https: bool,
    /// `container:port` of each instance in rotation.
    pub upstreams: Vec<String>,
    /// Whether it serves the maintenance page instead (`docker flow maintenance on`).
    pub maintenance: bool,
}

impl PlanReport {
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::from("Plan (dry run, nothing was changed):\n");
        for (i, p) in self.plan.iter().enumerate() {
            out.push_str(&format!("{:3}. {p}\n", i + 1));
        }
        out
    }
}

impl StatusReport {
    pub(crate) fn to_text(&self) -> String {
        let mut out = format!(
            "project {}  target {}  live {}\n",
            self.project,
            self.target,
            self.live_color.map_or("-".to_string(), |c| c.to_string())
        );
        for (key, c) in &self.colors {
            let mut about = Vec::new();
            if let Some(role) = &c.role {
                about.push(role.clone());
            }
            if let Some(p) = c.traffic_percent {
                about.push(format!("{p}% of requests"));
            }
            if let Some(until) = &c.warm_until {
                about.push(format!("until {until}"));
            }
            if let Some(header) = &c.preview_header {
                about.push(format!("reached with the header `{header}`"));
            }
            match about.is_empty() {
                true => out.push_str(&format!("{key}:\n")),
                false => out.push_str(&format!("{key} ({}):\n", about.join(", "))),
            }
            if c.instances.is_empty() {
                out.push_str("  (none)\n");
            }
            let now = std::time::SystemTime::now();
            for i in &c.instances {
                // Docker keeps the last health of a stopped container; it says nothing now.
                let health = if i.state == "running" { &i.health } else { "-" };
                out.push_str(&format!(
                    "  {:32} {:8} {:9} {:16} {}\n",
                    i.name,
                    i.state,
                    health,
                    i.uptime(now),
                    i.image
                ));
            }
        }
        out.push_str(&format!("proxy ({}):\n", self.proxy.driver));
        if let Some(e) = &self.proxy.error {
            out.push_str(&format!("  unreachable: {e}\n"));
        }
        for r in &self.proxy.routes {
            out.push_str(&format!(
                "  {} {}{} -> {}\n",
                r.paths.join(","),
                r.domains.join(","),
                if r.https { " (https)" } else { "" },
                r.upstreams.join(", ")
            ));
            if r.maintenance {
                out.push_str("    in maintenance: it answers 503 with the page (`docker flow maintenance off`)\n");
            }
        }
        out
    }
}

/// Writes to stdout: a reader that stops early (`| head`) is not an error.
pub(crate) fn out(args: std::fmt::Arguments) {
    let _ = std::io::Write::write_fmt(&mut std::io::stdout().lock(), args);
}

/// Prints a report as one line of JSON (what scripts read), or its text.
pub(crate) fn print(json: &impl Serialize, text: impl FnOnce() -> String, as_json: bool) {
    let text = if as_json {
        serde_json::to_string(json).unwrap_or_default() + "\n"
    } else {
        text()
    };
    out(format_args!("{text}"));
}

/// What a failed run prints on stdout with `--format json` (the diagnostic goes to stderr as
/// always).
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ErrorReport {
    /// What went wrong.
    pub error: String,
    /// What to do.
    pub help: Option<String>,
    /// The run's exit code.
    pub exit_code: u8,
}

impl ErrorReport {
    pub(crate) fn of(e: &crate::error::Error) -> ErrorReport {
        ErrorReport {
            error: e.to_string(),
            help: miette::Diagnostic::help(e).map(|h| h.to_string()),
            exit_code: e.exit_code(),
        }
    }
}

/// `docker flow down --format json`: what was taken down.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct DownReport {
    pub project: String,
    /// The targets whose releases and routes were removed.
    pub targets: Vec<String>,
    /// Whether the project's named volumes went too (`--volumes`).
    pub volumes_removed: bool,
    /// docker flow's own volumes removed beside Compose's (the release history).
    pub removed: Vec<String>,
    /// With `--proxy`: what became of the proxy.
    pub proxy: Option<ProxyRemoval>,
    pub dry_run: bool,
    /// In a dry run, what would run.
    pub plan: Vec<String>,
}

impl DownReport {
    pub(crate) fn to_text(&self) -> String {
        if self.dry_run {
            return self.plan.iter().map(|l| format!("{l}\n")).collect();
        }
        let routes = if self.targets.is_empty() {
            "no route".to_string()
        } else {
            format!("the routes of {}", self.targets.join(", "))
        };
        let volumes = if self.volumes_removed {
            "its named volumes removed"
        } else {
            "its named volumes kept"
        };
        let mut text = format!(
            "project {} is down: its containers, {routes}, {volumes}\n",
            self.project
        );
        if let Some(p) = &self.proxy {
            text.push_str(&match (&p.kept_because, p.volumes.is_empty()) {
                (Some(why), _) => format!("the proxy {} stays: {why}\n", p.name),
                (None, true) => format!("the proxy {} is removed (its volumes kept)\n", p.name),
                (None, false) => format!(
                    "the proxy {} is removed, and its volumes {}\n",
                    p.name,
                    p.volumes.join(", ")
                ),
            });
        }
        text
    }
}

/// `docker flow maintenance on|off`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct MaintenanceReport {
    pub project: String,
    /// Whether the routes now serve the maintenance page.
    pub on: bool,
    /// The page they serve (on only).
    pub page: Option<String>,
    /// The targets whose routes changed (or were so already).
    pub targets: Vec<String>,
    /// Targets docker flow deployed that have no route in the proxy.
    pub without_route: Vec<String>,
    pub dry_run: bool,
    /// In a dry run, what would run.
    pub plan: Vec<String>,
}

impl MaintenanceReport {
    pub(crate) fn to_text(&self) -> String {
        if self.dry_run {
            return self.plan.iter().map(|l| format!("{l}\n")).collect();
        }
        let mut out = if self.targets.is_empty() {
            format!("no route of project {} is in the proxy\n", self.project)
        } else if self.on {
            format!(
                "maintenance on: the routes of {} answer 503 with the page; their releases keep running\n",
                self.targets.join(", ")
            )
        } else {
            format!(
                "maintenance off: the routes of {} serve their releases\n",
                self.targets.join(", ")
            )
        };
        if !self.without_route.is_empty() {
            out.push_str(&format!(
                "no route in the proxy for {}\n",
                self.without_route.join(", ")
            ));
        }
        out
    }
}

/// `docker flow down --proxy`: the proxy removed, or why it stays.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ProxyRemoval {
    /// The proxy container's name.
    pub name: String,
    /// Why it stays (other projects' routes are in it, or it does not run so none can be
    /// read); none when it was removed.
    pub kept_because: Option<String>,
    /// Its volumes removed with it (`--volumes`).
    pub volumes: Vec<String>,
}

/// `docker flow version --format json`.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct VersionReport {
    pub version: String,
    /// The commit it was built from.
    pub commit: String,
    /// The build of the helper it embeds (the name of its image and file in containers).
    pub helper: String,
}

impl VersionReport {
    pub(crate) fn of_this_build() -> VersionReport {
        VersionReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: env!("DOCKER_FLOW_COMMIT").to_string(),
            helper: crate::helper::build_id(),
        }
    }
}

/// The schemas of every report, by file name under `docs/schemas/`.
#[cfg(test)]
fn schemas() -> Vec<(&'static str, schemars::Schema)> {
    vec![
        ("run.schema.json", schemars::schema_for!(RunReport)),
        ("plan.schema.json", schemars::schema_for!(PlanReport)),
        ("status.schema.json", schemars::schema_for!(StatusReport)),
        (
            "history.schema.json",
            schemars::schema_for!(Vec<crate::history::HistoryEntry>),
        ),
        (
            "status-every-target.schema.json",
            schemars::schema_for!(Vec<StatusReport>),
        ),
        (
            "config.schema.json",
            schemars::schema_for!(crate::settings::config_report::ConfigReport),
        ),
        ("version.schema.json", schemars::schema_for!(VersionReport)),
        ("down.schema.json", schemars::schema_for!(DownReport)),
        (
            "maintenance.schema.json",
            schemars::schema_for!(MaintenanceReport),
        ),
        ("error.schema.json", schemars::schema_for!(ErrorReport)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented schemas are the ones the code prints. To update them after a change:
    /// `DOCKER_FLOW_WRITE_SCHEMAS=1 cargo test --lib schemas` (or `make schemas`).
    #[test]
    fn the_documented_json_schemas_match_the_reports() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas");
        let write = std::env::var_os("DOCKER_FLOW_WRITE_SCHEMAS").is_some();
        for (name, schema) in schemas() {
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let path = dir.join(name);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            let documented = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                documented == text,
                "docs/schemas/{name} is not the schema of what docker flow prints; run `make schemas`"
            );
        }
    }

    #[test]
    fn a_stopped_instance_shows_no_health_in_the_text_view() {
        let instance = |state: &str| InstanceReport {
            name: format!("p-app-blue-{state}"),
            state: state.into(),
            health: "unhealthy".into(),
            image: "demo:v1".into(),
            created: String::new(),
            started_at: timestamp("2026-11-27T10:00:00.123456789Z"),
            finished_at: timestamp(if state == "running" {
                "0001-01-01T00:00:00Z"
            } else {
                "2026-11-27T10:30:00Z"
            }),
            release: "r1".into(),
            node: None,
        };
        let report = StatusReport {
            project: "p".into(),
            target: "app".into(),
            blue_green: true,
            live_color: Some(Color::Blue),
            colors: [(
                "blue".to_string(),
                ColorReport {
                    instances: vec![instance("running"), instance("exited")],
                    warm_until: None,
                    role: Some("live".into()),
                    preview_header: None,
                    traffic_percent: Some(100),
                },
            )]
            .into_iter()
            .collect(),
            proxy: ProxyReport {
                driver: "none".into(),
                routes: vec![],
                error: None,
            },
        };
        let text = report.to_text();
        assert!(
            text.starts_with("project p  target app  live blue\nblue (live, 100% of requests):\n"),
            "{text}"
        );
        let line = |state: &str| {
            text.lines()
                .find(|l| l.contains(&format!("blue-{state}")))
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(line("running")[2], "unhealthy");
        assert_eq!(line("exited")[2], "-");
        // Uptime of what runs, time since it stopped of what does not, as `docker ps` says it.
        let now = humantime::parse_rfc3339("2026-11-27T12:00:01Z").unwrap();
        let [running, exited] = &report.colors["blue"].instances[..] else {
            panic!()
        };
        assert_eq!(running.uptime(now), "up 2h");
        assert_eq!(exited.uptime(now), "exited 1h ago");
        assert_eq!(short(std::time::Duration::from_secs(59)), "59s");
        assert_eq!(short(std::time::Duration::from_secs(3 * 86400)), "3d");
        assert_eq!(running.finished_at, None);
        assert_eq!(line("exited")[3], "exited", "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["live_color"], "blue");
        assert_eq!(
            json["colors"]["blue"]["instances"][1]["health"],
            "unhealthy"
        );
    }
}
