//! Containers read back from the engine.
//!
//! docker flow keeps no store of its own: every container it creates carries labels (target,
//! colour, release, time), and this module reads them with `docker ps` and `docker inspect`.

use serde_json::Value;

use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::instance::Instance;
use crate::model::{
    Color, LABEL_COLOR, LABEL_KEEP_OLD, LABEL_PORT, LABEL_PREVIOUS_IMAGE, LABEL_PREVIOUS_RELEASE,
    LABEL_PREVIOUS_RELEASED_AT, LABEL_RELEASE, LABEL_RELEASED_AT, LABEL_TARGET,
};

impl Instance {
    /// An instance from one element of `docker container inspect`.
    fn from_inspect(v: &Value) -> Instance {
        let s = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let label = |k: &str| crate::model::label(v.pointer("/Config/Labels"), k);
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
            started_at: s("/State/StartedAt"),
            finished_at: s("/State/FinishedAt"),
            color: Color::parse(&label(LABEL_COLOR)),
            target: label(LABEL_TARGET),
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
            keep_old: label(LABEL_KEEP_OLD)
                .parse()
                .ok()
                .map(std::time::Duration::from_secs),
            networks,
            ..Instance::default()
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
    if list.is_empty() && !out.ok_or_gone() {
        return Err(Error::environment(
            format!("`docker container inspect` failed: {}", out.stderr.trim()),
            "check that the Docker daemon is running",
        ));
    }
    Ok(list.iter().map(Instance::from_inspect).collect())
}

/// The services of `project` docker flow runs as targets (their containers carry the target
/// label), running or not, sorted: one `docker ps`, no inspect.
pub(crate) fn targets(engine: &Engine, project: &str) -> Result<Vec<String>> {
    let out = engine.read(&args(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        &format!("label={LABEL_TARGET}"),
        "--format",
        &format!("{{{{.Label \"{LABEL_TARGET}\"}}}}"),
    ]))?;
    let mut targets: Vec<String> = out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    Ok(targets)
}

/// Every container carrying all of `labels` (`key=value`), oldest release first.
pub(crate) fn labelled(engine: &Engine, labels: &[String]) -> Result<Vec<Instance>> {
    let mut a = args(&["ps", "-a", "-q", "--no-trunc"]);
    for l in labels {
        a.extend(args(&["--filter", &format!("label={l}")]));
    }
    let out = engine.read(&a)?;
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
        assert_eq!(
            i.networks,
            vec![("shop_default".to_string(), "10.0.0.2".to_string())]
        );
    }
}
