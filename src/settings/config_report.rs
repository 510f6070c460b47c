//! The `docker flow config` report (`ConfigReport`): every setting by its `docker-flow.yml` key,
//! with its value and where it came from, made from the resolved settings (`Resolved::report`).

use indexmap::IndexMap;
use serde_json::{json, Value};

use super::entry::Source;
use super::options::{Key, Kind};
use super::resolve::Resolved;
use super::values;

/// `docker flow config --format json`: every setting by its `docker-flow.yml` key.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub(crate) struct ConfigReport(pub IndexMap<String, ConfigEntry>);

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct ConfigEntry {
    /// The value as given (a list for repeatable settings; null when unset).
    pub value: Value,
    pub source: Source,
    /// Where exactly: `--scale`, `FLOW_SCALE`, `docker-flow.yml line 3`, `default`.
    pub origin: String,
}

impl Resolved {
    /// The resolved settings as `docker flow config` prints them.
    pub(crate) fn report(&self) -> ConfigReport {
        let mut out = IndexMap::new();
        for &key in Key::ALL {
            let e = self.entry(key);
            let value = match (key.spec().kind, &e.raw) {
                (_, None) => Value::Null,
                (Kind::List, _) => json!(self.list(key)),
                (Kind::Argv, _) => json!(self.argv(key).unwrap_or_else(|_| self.list(key))),
                (Kind::Bool, _) => self
                    .text(key)
                    .and_then(|v| values::parse_bool(&v))
                    .map_or(Value::Null, Value::Bool),
                (Kind::Number, _) => self
                    .text(key)
                    .map(|v| {
                        v.parse::<u64>()
                            .map(Value::from)
                            .unwrap_or(Value::String(v))
                    })
                    .unwrap_or(Value::Null),
                _ => self.text(key).map_or(Value::Null, Value::String),
            };
            let entry = if self.ignored.borrow().contains(&key) {
                ConfigEntry {
                    value: Value::Null,
                    source: Source::Default,
                    origin: format!(
                        "default ({} is set, but not to a value of this option)",
                        e.origin
                    ),
                }
            } else {
                ConfigEntry {
                    value,
                    source: e.source,
                    origin: e.origin.clone(),
                }
            };
            out.insert(key.name().to_string(), entry);
        }
        ConfigReport(out)
    }
}

impl ConfigReport {
    /// Shows what Compose resolves for a setting nobody set (the project's name).
    pub(crate) fn resolved_by_compose(&mut self, key: Key, value: String) {
        if let Some(e) = self.0.get_mut(key.name()) {
            if e.source == Source::Default {
                e.value = Value::String(value);
                e.source = Source::Compose;
                e.origin = match key {
                    Key::ProjectDirectory => "where Compose finds the project".into(),
                    _ => "Compose's project name rules".into(),
                };
            }
        }
    }

    /// The resolved settings as a table for people.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        let width = self.0.keys().map(String::len).max().unwrap_or(0);
        for (key, e) in &self.0 {
            let shown = match &e.value {
                Value::Null => "-".to_string(),
                Value::String(s) => s.clone(),
                Value::Array(items) if items.is_empty() => "[]".into(),
                other => other.to_string(),
            };
            out.push_str(&format!("{key:width$}  {shown}  ({})\n", e.origin));
        }
        out
    }
}
