//! Masking what interpolation filled into a model before a plan shows it.
//!
//! A Compose model is interpolated from `.env`, the environment and `env_file:`s, which is
//! where secrets live; a dry run's JSON plan (read in CI logs) shows the model as Compose saw it
//! before interpolation instead, value by value. Written by hand: it is a walk over two JSON
//! values of the same shape, which no crate does for this purpose.

use serde_json::Value;

/// What stands where a value came from an `env_file:` (it has no uninterpolated form).
pub(super) const MASK: &str = "********";

/// Replaces every value of `shown` (the interpolated model) that differs from its counterpart in
/// `raw` (the same model before interpolation) with that counterpart, and masks environment
/// values `raw` does not have (they came from an `env_file:`). `environment` says whether
/// `shown` is an `environment` map.
pub(super) fn interpolated(shown: &mut Value, raw: &Value, environment: bool) {
    match (shown, raw) {
        (Value::Object(shown), Value::Object(raw)) => {
            for (key, value) in shown.iter_mut() {
                match raw.get(key) {
                    Some(r) => interpolated(value, r, key == "environment"),
                    None if environment => *value = Value::String(MASK.into()),
                    None => {}
                }
            }
        }
        (Value::Array(shown), Value::Array(raw)) if shown.len() == raw.len() => {
            for (value, r) in shown.iter_mut().zip(raw) {
                interpolated(value, r, false);
            }
        }
        (shown, raw) if shown != raw => *shown = raw.clone(),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn interpolated_values_show_as_written_and_env_file_values_are_masked() {
        let mut shown = json!({"services": {"app": {
            "image": "demo:v2",
            "command": ["--token", "hunter2"],
            "environment": {"TOKEN": "hunter2", "PLAIN": "x", "FROM_FILE": "s3cr3t"},
            "labels": {"io.docker-flow.color": "blue"},
            "ports": [{"target": 8080, "published": "8080"}]
        }}});
        let raw = json!({"services": {"app": {
            "image": "demo:${TAG}",
            "command": ["--token", "${TOKEN}"],
            "environment": {"TOKEN": "${TOKEN}", "PLAIN": "x"},
            "labels": {"io.docker-flow.color": "blue"},
            "ports": [{"target": 8080, "published": "${PORT}"}]
        }}});
        interpolated(&mut shown, &raw, false);
        let app = &shown["services"]["app"];
        assert_eq!(app["image"], "demo:${TAG}");
        assert_eq!(app["command"], json!(["--token", "${TOKEN}"]));
        assert_eq!(
            app["environment"],
            json!({"TOKEN": "${TOKEN}", "PLAIN": "x", "FROM_FILE": MASK})
        );
        assert_eq!(app["labels"]["io.docker-flow.color"], "blue");
        assert_eq!(app["ports"][0]["published"], "${PORT}");
        assert!(!shown.to_string().contains("hunter2") && !shown.to_string().contains("s3cr3t"));
    }
}
