//! What is deployed, read back from the engine.
//!
//! docker flow keeps no store of its own: every container it creates carries labels (target,
//! colour, release, time), and this module reads them with `docker ps` and `docker inspect`.

use serde_json::Value;

use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::model::{
    Color, LABEL_COLOR, LABEL_PORT, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_RELEASE,
    LABEL_PREVIOUS_RELEASED_AT, LABEL_RELEASE, LABEL_RELEASED_AT, LABEL_TARGET,
};

/// One container of the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Instance {
    pub id: String,
    pub name: String,
    /// running, exited, created, …
    pub state: String,
    /// healthy, unhealthy, starting, or none (no healthcheck).
    pub health: String,
    pub image: String,
    pub image_id: String,
    pub created: String,
    pub color: Option<Color>,
    pub release: String,
    pub released_at: String,
    pub port: Option<u16>,
    pub exit_code: i64,
    /// The image and release this one replaced (empty for a first release).
    pub previous_image: String,
    pub previous_release: String,
    pub previous_released_at: String,
    pub networks: Vec<(String, String)>,
}

impl Instance {
    pub(crate) fn running(&self) -> bool {
        self.state == "running"
    }

    /// `name:port`, how the proxy dials it.
    pub(crate) fn dial(&self, port: u16) -> String {
        format!("{}:{port}", self.name)
    }

    fn from_inspect(v: &Value) -> Instance {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let label = |k: &str| {
            v.pointer("/Config/Labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let health = v
            .pointer("/State/Health/Status")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_string();
        let networks = v
            .pointer("/NetworkSettings/Networks")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, n)| {
                        (
                            k.clone(),
                            n.get("IPAddress")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Instance {
            id: s("/Id"),
            name: s("/Name").trim_start_matches('/').to_string(),
            state: s("/State/Status"),
            health,
            image: s("/Config/Image"),
            image_id: s("/Image"),
            created: s("/Created"),
            color: Color::parse(&label(LABEL_COLOR)),
            release: label(LABEL_RELEASE),
            released_at: label(LABEL_RELEASED_AT),
            port: label(LABEL_PORT).parse().ok(),
            exit_code: v
                .pointer("/State/ExitCode")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            previous_image: label(LABEL_PREVIOUS_IMAGE),
            previous_release: label(LABEL_PREVIOUS_RELEASE),
            previous_released_at: label(LABEL_PREVIOUS_RELEASED_AT),
            networks,
        }
    }
}

/// Inspects containers by id or name.
pub(crate) fn inspect(engine: &Engine, ids: &[String]) -> Result<Vec<Instance>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut a = args(&["container", "inspect"]);
    a.extend(ids.iter().cloned());
    let out = engine.read(&a)?;
    // A container removed between `ps` and `inspect` is not an error: it is simply gone.
    let parsed: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Array(Vec::new()));
    let list = parsed.as_array().cloned().unwrap_or_default();
    if list.is_empty() && !out.ok() && !out.stderr.contains("No such") {
        return Err(Error::environment(
            format!("`docker container inspect` failed: {}", out.stderr.trim()),
            "check that the Docker daemon is running",
        ));
    }
    Ok(list.iter().map(Instance::from_inspect).collect())
}

/// Every container of `target` in `project`, oldest release first.
pub(crate) fn instances(engine: &Engine, project: &str, target: &str) -> Result<Vec<Instance>> {
    let out = engine.read(&args(&[
        "ps",
        "-a",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label={LABEL_TARGET}={target}"),
    ]))?;
    if !out.ok() {
        return Err(Error::environment(
            format!("`docker ps` failed: {}", out.stderr.trim()),
            "check that the Docker daemon is running and reachable",
        ));
    }
    let ids: Vec<String> = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut list = inspect(engine, &ids)?;
    list.sort_by(|a, b| {
        (&a.released_at, &a.release, &a.name).cmp(&(&b.released_at, &b.release, &b.name))
    });
    Ok(list)
}

/// The newest release among running instances, and its colour.
pub(crate) fn newest_running(instances: &[Instance]) -> Option<&Instance> {
    instances
        .iter()
        .filter(|i| i.running())
        .max_by(|a, b| (&a.released_at, &a.release).cmp(&(&b.released_at, &b.release)))
}

/// The live colour without a proxy to ask: the running colour, the newest if both run.
pub(crate) fn running_color(instances: &[Instance]) -> Option<Color> {
    newest_running(instances).and_then(|i| i.color)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_inspect_output() {
        let v = json!({
            "Id": "abc", "Name": "/shop-app-blue-1", "Created": "2026-11-26T14:00:00Z", "Image": "sha256:1",
            "State": {"Status": "running", "ExitCode": 0, "Health": {"Status": "healthy"}},
            "Config": {"Image": "demo:v1", "Labels": {LABEL_COLOR: "blue", LABEL_RELEASE: "r1", LABEL_RELEASED_AT: "t1", LABEL_PORT: "8080"}},
            "NetworkSettings": {"Networks": {"shop_default": {"IPAddress": "10.0.0.2"}}}
        });
        let i = Instance::from_inspect(&v);
        assert_eq!(i.name, "shop-app-blue-1");
        assert_eq!(i.color, Some(Color::Blue));
        assert_eq!(i.health, "healthy");
        assert_eq!(i.port, Some(8080));
        assert_eq!(i.dial(8080), "shop-app-blue-1:8080");
        assert_eq!(
            i.networks,
            vec![("shop_default".to_string(), "10.0.0.2".to_string())]
        );
        assert_eq!(running_color(&[i]), Some(Color::Blue));
    }
}
