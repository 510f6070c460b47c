//! Settings: every option of the seed and ours, resolved from defaults < `docker-flow.yml` <
//! environment < flags, each value remembering its source, then validated into `Settings`
//! before any work starts.
//!
//! `options.rs` declares every option; `entry.rs` is a value as given, with its source;
//! `file.rs` reads `docker-flow.yml`; `resolve.rs` layers the sources; `validate.rs` turns them
//! into `Settings` (`typed.rs`), checking single values with `values.rs` and `choices.rs`;
//! `config_report.rs` is what `docker flow config` prints; `early.rs` is what is read of the
//! command line before the settings exist.

mod choices;
pub(crate) mod config_report;
mod early;
mod entry;
pub(crate) mod file;
mod options;
mod resolve;
mod typed;
mod validate;
pub(crate) mod values;

pub(crate) use choices::{
    words, Ansi, EngineKind, Format, ProxyDriver, PublishMode, PullPolicy, Step,
};
pub(crate) use early::{ansi_before_settings, boolean_flag, json_before_settings, option_named};
pub(crate) use options::{Key, DEFAULT_PROXY_IMAGE};
pub(crate) use resolve::{load_file, resolve, Given};
pub(crate) use typed::{CertSource, ProxySettings, Settings, TlsSettings};
