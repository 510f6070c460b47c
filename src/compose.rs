//! The Compose project, read the way Compose reads it.
//!
//! `docker compose config --format json` does all of Compose's work (override files,
//! `COMPOSE_FILE`, `.env` interpolation, profiles, `extends`, `include`, anchors); we parse its
//! answer into types that name what docker flow looks at and keep every other field verbatim,
//! so the derived model hands Compose back exactly what it gave us.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{args, Engine};
use crate::error::{Error, Located, Result};
use crate::settings::Settings;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ComposeFile {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub services: IndexMap<String, Service>,
    #[serde(flatten)]
    pub rest: IndexMap<String, Value>,
}

impl ComposeFile {
    /// The networks `service` joins, by the names the engine knows them by (a network's
    /// `name:`, which `docker compose config` fills in): none for a service with a
    /// `network_mode`, or one the project does not have.
    pub(crate) fn networks_of(&self, service: &str) -> Vec<String> {
        let Some(svc) = self.services.get(service) else {
            return Vec::new();
        };
        if svc.network_mode.is_some() {
            return Vec::new();
        }
        let defined = self.rest.get("networks").and_then(Value::as_object);
        let joined: Vec<String> = match svc.rest.get("networks") {
            Some(Value::Object(m)) => m.keys().cloned().collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            // Compose puts a service with no `networks` on the project's `default`.
            _ => vec!["default".to_string()],
        };
        joined
            .iter()
            .map(|key| {
                let def = defined.and_then(|d| d.get(key));
                match def.and_then(|d| d.get("name")).and_then(Value::as_str) {
                    Some(name) => name.to_string(),
                    None => format!("{}_{key}", self.name),
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Service {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<Value>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub depends_on: IndexMap<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(flatten)]
    pub rest: IndexMap<String, Value>,
}

impl Service {
    /// How many instances Compose starts of the service: `deploy.replicas`, else `scale`
    /// (None when neither says, or says 0: a release has at least one instance).
    pub(crate) fn replicas(&self) -> Option<u32> {
        let count = |v: Option<&Value>| {
            v.and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        count(self.rest.get("deploy").and_then(|d| d.get("replicas")))
            .or_else(|| count(self.rest.get("scale")))
            .filter(|n| *n > 0)
    }

    /// Host ports the service publishes at a fixed number (`"8080:8080"`).
    pub(crate) fn fixed_host_ports(&self) -> Vec<String> {
        self.ports
            .iter()
            .filter_map(|p| match p.get("published") {
                Some(Value::String(s)) if !s.is_empty() && s != "0" => Some(s.clone()),
                Some(Value::Number(n)) if n.as_u64() != Some(0) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    }

    /// Container ports the service declares (`expose` and the targets of `ports`), deduplicated.
    pub(crate) fn container_ports(&self) -> Vec<u16> {
        let mut out = Vec::new();
        let from_ports = self
            .ports
            .iter()
            .filter_map(|p| p.get("target").and_then(Value::as_u64));
        let from_expose = self.expose.iter().filter_map(|e| match e {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.split('/').next().and_then(|p| p.parse().ok()),
            _ => None,
        });
        for p in from_ports.chain(from_expose) {
            if let Ok(p) = u16::try_from(p) {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }
}

/// A loaded project: the model plus where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub model: ComposeFile,
    /// The directory Compose resolves relative paths against.
    pub dir: PathBuf,
    /// The user's Compose files, for pointing at lines in errors.
    pub files: Vec<PathBuf>,
    /// In a dry run, the model before interpolation (`config --no-interpolate`): what a plan
    /// shows where interpolation put a value (a secret from `.env`, say).
    pub uninterpolated: Option<ComposeFile>,
}

/// `docker compose` arguments that select the user's project (`-f …`, `--project-directory …`,
/// `-p …`, and the environment's `--env-file …`, `--profile …`).
pub(crate) fn selection_args(settings: &Settings) -> Vec<String> {
    let mut a = environment_args(settings);
    if let Some(d) = &settings.project_directory {
        a.push("--project-directory".to_string());
        a.push(d.display().to_string());
    }
    for f in &settings.compose_paths {
        a.push("-f".to_string());
        a.push(f.display().to_string());
    }
    if let Some(p) = &settings.project {
        a.push("-p".to_string());
        a.push(p.clone());
    }
    a
}

/// `--env-file …` and `--profile …` as given: every Compose call gets them, so that the project
/// Compose loads and the one docker flow changes are the same.
pub(crate) fn environment_args(settings: &Settings) -> Vec<String> {
    let mut a = Vec::new();
    for f in &settings.env_files {
        a.push("--env-file".to_string());
        a.push(f.display().to_string());
    }
    for p in &settings.profiles {
        a.push("--profile".to_string());
        a.push(p.clone());
    }
    a
}

/// The project's name as Compose resolves it (`-p`, `COMPOSE_PROJECT_NAME`, `name:`, the
/// directory), None when Compose cannot load the project.
pub(crate) fn project_name(engine: &Engine, settings: &Settings) -> Option<String> {
    let mut a = args(&["compose"]);
    a.extend(selection_args(settings));
    a.extend(args(&["config", "--no-interpolate", "--format", "json"]));
    let out = engine.read(&a).ok()?;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    v.get("name")?.as_str().map(String::from)
}

/// The project's services in every profile (`--profile '*'`), as Compose lists them; none when
/// Compose cannot tell.
pub(crate) fn every_service(engine: &Engine, settings: &Settings) -> Vec<String> {
    let mut a = args(&["compose"]);
    a.extend(selection_args(settings));
    a.extend(args(&["--profile", "*", "config", "--services"]));
    engine
        .read(&a)
        .ok()
        .filter(|o| o.ok())
        .map(|o| o.stdout.lines().map(|l| l.trim().to_string()).collect())
        .unwrap_or_default()
}

/// Loads the project through `docker compose config`.
pub(crate) fn load(engine: &Engine, settings: &Settings, cwd: &Path) -> Result<Project> {
    let mut a = args(&["compose"]);
    a.extend(selection_args(settings));
    a.extend(args(&["config", "--format", "json"]));
    let out = engine.read(&a)?;
    if !out.ok() {
        let detail = out.stderr.trim();
        let detail = if detail.is_empty() {
            "Compose printed nothing"
        } else {
            detail
        };
        return Err(Error::config(
            format!("Compose cannot load the project: {detail}"),
            "fix the Compose file as Compose says (`docker compose config` shows the same), or point at it with -f/--compose-path",
            None,
        ));
    }
    let model: ComposeFile = serde_json::from_str(&out.stdout).map_err(|e| {
        Error::environment(
            format!("`docker compose config --format json` printed something docker flow cannot read: {e}"),
            "use Compose v2.20 or newer",
        )
    })?;
    let uninterpolated = if engine.dry_run() {
        let mut a = args(&["compose"]);
        a.extend(selection_args(settings));
        a.extend(args(&["config", "--no-interpolate", "--format", "json"]));
        let out = engine.read(&a)?;
        out.ok()
            .then(|| serde_json::from_str(&out.stdout).ok())
            .flatten()
    } else {
        None
    };
    let files = user_files(settings, cwd);
    let dir = crate::project_files::project_dir(
        cwd,
        settings.project_directory.as_deref(),
        files.first().map(PathBuf::as_path),
    );
    Ok(Project {
        model,
        dir,
        files,
        uninterpolated,
    })
}

/// The Compose files Compose itself reads: `-f`, else `COMPOSE_FILE`, else the default names.
pub(crate) fn user_files(settings: &Settings, cwd: &Path) -> Vec<PathBuf> {
    if !settings.compose_paths.is_empty() {
        return settings.compose_paths.iter().map(|p| cwd.join(p)).collect();
    }
    if let Ok(list) = std::env::var("COMPOSE_FILE") {
        let sep = std::env::var("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|_| ":".into());
        let files: Vec<PathBuf> = list
            .split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|p| cwd.join(p))
            .collect();
        if !files.is_empty() {
            return files;
        }
    }
    // Compose's own discovery: the nearest directory up (from --project-directory, if given)
    // that holds a Compose file, and the override file beside it.
    let start = settings
        .project_directory
        .as_ref()
        .map_or_else(|| cwd.to_path_buf(), |d| cwd.join(d));
    let Some(dir) = start.ancestors().find(|d| {
        crate::project_files::DEFAULT_FILES
            .iter()
            .any(|f| d.join(f).is_file())
    }) else {
        return Vec::new();
    };
    let Some(main) = crate::project_files::DEFAULT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|f| f.is_file())
    else {
        return Vec::new();
    };
    let stem = if main.to_string_lossy().contains("docker-compose.") {
        "docker-compose"
    } else {
        "compose"
    };
    let mut out = vec![main];
    out.extend(
        ["yaml", "yml"]
            .iter()
            .map(|ext| dir.join(format!("{stem}.override.{ext}")))
            .find(|f| f.is_file()),
    );
    out
}

/// Finds `services.<service>[.<key>]` in the user's files, for a labelled error.
pub(crate) fn locate(files: &[PathBuf], service: &str, key: Option<&str>) -> Option<Located> {
    // Later files override earlier ones: the last file that names the key is the one that counts.
    files.iter().rev().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        let (offset, len) = locate_in(&text, service, key)?;
        Some(Located {
            src: miette::NamedSource::new(f.display().to_string(), text),
            span: (offset, len).into(),
        })
    })
}

/// Where `services.<service>.<key>` is written, for a message: `compose.yaml line 12`.
pub(crate) fn line_of(files: &[PathBuf], service: &str, key: &str) -> Option<String> {
    files.iter().rev().find_map(|f| {
        let text = std::fs::read_to_string(f).ok()?;
        let (offset, _) = locate_in(&text, service, Some(key))?;
        let line = text[..offset].matches('\n').count() + 1;
        let name = f.file_name()?.to_string_lossy().to_string();
        Some(format!("{name} line {line}"))
    })
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_key(line: &str, key: &str) -> bool {
    let t = line.trim_start();
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            t.strip_prefix(k.as_str())
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
}

/// Byte offset and length of the line that defines `services.<service>.<key>` (or the service).
fn locate_in(text: &str, service: &str, key: Option<&str>) -> Option<(usize, usize)> {
    let lines: Vec<(usize, &str)> = text
        .split_inclusive('\n')
        .scan(0, |off, l| {
            let start = *off;
            *off += l.len();
            Some((start, l.trim_end_matches(['\n', '\r'])))
        })
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    let services = lines
        .iter()
        .position(|(_, l)| indent(l) == 0 && is_key(l, "services"))?;
    let child_indent = lines
        .get(services + 1)
        .map(|(_, l)| indent(l))
        .filter(|i| *i > 0)?;
    let mut i = services + 1;
    while i < lines.len() && indent(lines[i].1) >= child_indent {
        let (off, l) = lines[i];
        if indent(l) == child_indent && is_key(l, service) {
            let Some(key) = key else {
                return Some((off, l.len()));
            };
            let mut j = i + 1;
            let key_indent = lines
                .get(j)
                .map(|(_, l)| indent(l))
                .filter(|k| *k > child_indent)?;
            while j < lines.len() && indent(lines[j].1) > child_indent {
                let (o, kl) = lines[j];
                if indent(kl) == key_indent && is_key(kl, key) {
                    return Some((o, kl.len()));
                }
                j += 1;
            }
            return Some((off, l.len()));
        }
        i += 1;
    }
    None
}

/// Whether the Compose service declares a Docker healthcheck (one its image declares is seen
/// only once it runs).
pub(crate) fn declares_healthcheck(model: &ComposeFile, target: &str) -> bool {
    model
        .services
        .get(target)
        .and_then(|s| s.rest.get("healthcheck"))
        .is_some_and(|h| h.get("disable") != Some(&serde_json::Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_services_count_is_deploy_replicas_else_scale() {
        let svc = |v: serde_json::Value| serde_json::from_value::<Service>(v).unwrap();
        assert_eq!(
            svc(serde_json::json!({"deploy": {"replicas": 3}, "scale": 2})).replicas(),
            Some(3)
        );
        assert_eq!(svc(serde_json::json!({"scale": 2})).replicas(), Some(2));
        assert_eq!(
            svc(serde_json::json!({"deploy": {"placement": {}}})).replicas(),
            None
        );
        assert_eq!(svc(serde_json::json!({"scale": 0})).replicas(), None);
    }

    const YAML: &str = "# comment\nname: demo\nservices:\n  db:\n    image: postgres\n  app:\n    image: demo:v1\n    container_name: fixed\n    ports:\n      - \"8080:8080\"\nvolumes: {}\n";

    #[test]
    fn locates_keys_of_a_service() {
        let (off, len) = locate_in(YAML, "app", Some("container_name")).unwrap();
        assert_eq!(&YAML[off..off + len], "    container_name: fixed");
        let (off, len) = locate_in(YAML, "app", Some("ports")).unwrap();
        assert_eq!(&YAML[off..off + len], "    ports:");
        let (off, len) = locate_in(YAML, "db", None).unwrap();
        assert_eq!(&YAML[off..off + len], "  db:");
        // A key the service does not have points at the service.
        let (off, len) = locate_in(YAML, "db", Some("ports")).unwrap();
        assert_eq!(&YAML[off..off + len], "  db:");
        assert!(locate_in(YAML, "nope", None).is_none());
    }

    #[test]
    fn ports_and_fixed_host_ports() {
        let s: Service = serde_json::from_value(serde_json::json!({
            "ports": [{"mode": "ingress", "target": 8080, "published": "8080", "protocol": "tcp"},
                      {"mode": "ingress", "target": 9090, "protocol": "tcp"}],
            "expose": ["8080", "7070/tcp"],
            "environment": {"A": "1"}
        }))
        .unwrap();
        assert_eq!(s.fixed_host_ports(), vec!["8080".to_string()]);
        assert_eq!(s.container_ports(), vec![8080, 9090, 7070]);
        assert_eq!(s.rest["environment"]["A"], "1");
    }

    #[test]
    fn a_services_networks_by_the_names_the_engine_knows() {
        let f: ComposeFile = serde_json::from_value(serde_json::json!({
            "name": "p",
            "services": {
                "app": {"networks": {"default": null, "back": {"aliases": ["x"]}}},
                "plain": {},
                "host": {"network_mode": "host"},
                "listed": {"networks": ["back"]}
            },
            "networks": {"default": {"name": "p_default"}, "back": {"name": "shared", "external": true}}
        }))
        .unwrap();
        assert_eq!(f.networks_of("app"), ["p_default", "shared"]);
        assert_eq!(f.networks_of("plain"), ["p_default"]);
        assert_eq!(f.networks_of("listed"), ["shared"]);
        assert!(f.networks_of("host").is_empty());
        assert!(f.networks_of("missing").is_empty());
    }

    #[test]
    fn unknown_fields_round_trip() {
        let v = serde_json::json!({
            "name": "p",
            "services": {"app": {"image": "x", "x-custom": {"k": [1, 2]}, "deploy": {"replicas": 2}}},
            "networks": {"default": {"name": "p_default"}},
            "x-top": true
        });
        let m: ComposeFile = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), v);
    }
}
