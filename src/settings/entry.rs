//! A setting as given, before validation: its raw value (`Raw`), where it came from (`Source`)
//! and exactly where (`Entry`'s origin: `--scale`, `FLOW_SCALE`, `docker-flow.yml line 3`).

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    Default,
    /// Not set: what Compose resolves (the project's name).
    Compose,
    File,
    Env,
    Flag,
}

/// A raw value before validation: one string, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Raw {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub raw: Option<Raw>,
    pub source: Source,
    /// Human name of the source: `--scale`, `FLOW_SCALE`, `docker-flow.yml line 3`, `default`.
    pub origin: String,
    /// Line in docker-flow.yml, when it came from there.
    pub(super) line: Option<usize>,
}
