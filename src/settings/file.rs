//! `docker-flow.yml`: the lowest layer of settings above the defaults.
//!
//! Read once from the project directory (a missing file is fine). Keys are the flag names with
//! `_`; an unknown key, a value that is not a setting, a repeated key or malformed YAML is an error
//! that points at its line. The YAML parser (serde-saphyr, pure Rust) gives each key's position,
//! so no line is searched for by hand.
//!
//! `services:` maps a Compose service's name to settings of its own (the per-service keys:
//! `service_path`, `health_path`, …), which count for a run whose target it is, above the
//! file's own values and below the environment and flags.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use miette::{NamedSource, SourceSpan};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::entry::Raw;
use crate::error::{Error, Located, Result};

pub(crate) const FILE_NAME: &str = "docker-flow.yml";

/// The values the file sets, each with the 1-based line it stands on.
#[derive(Debug, Default)]
pub(crate) struct FileValues {
    pub path: Option<PathBuf>,
    /// How messages name the file: `docker-flow.yml` in the working directory, else its path.
    pub shown: String,
    pub text: String,
    pub values: IndexMap<String, (Raw, usize)>,
    /// `services:`: each service's own values, and the line its name stands on.
    pub services: IndexMap<String, Service>,
}

/// One service's entry under `services:`.
#[derive(Debug, Default)]
pub(crate) struct Service {
    pub line: usize,
    pub values: IndexMap<String, (Raw, usize)>,
}

/// The key of the per-service settings.
pub(crate) const SERVICES: &str = "services";

impl FileValues {
    /// A labelled span on `line` (1-based) of the file, for error messages.
    pub(crate) fn locate_line(&self, line: usize) -> Option<Located> {
        let path = self.path.as_ref()?;
        locate_line(path, &self.text, line)
    }
}

pub(crate) fn locate_line(path: &Path, text: &str, line: usize) -> Option<Located> {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let len = l.trim_end_matches(['\n', '\r']).len();
            return Some(Located {
                src: NamedSource::new(path.display().to_string(), text.to_string()),
                span: SourceSpan::from((offset, len)),
            });
        }
        offset += l.len();
    }
    None
}

/// Loads `docker-flow.yml` from `dir`, checking each key against `known` (and, under
/// `services:`, against `per_service`).
pub(crate) fn load(
    dir: &Path,
    cwd: &Path,
    known: &[&str],
    per_service: &[&str],
) -> Result<FileValues> {
    let path = dir.join(FILE_NAME);
    let shown = match path.strip_prefix(cwd) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => path.display().to_string(),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(FileValues::default()),
        Err(e) => {
            return Err(Error::config(
                format!("cannot read {}: {e}", path.display()),
                "make the file readable or remove it",
                None,
            ))
        }
    };
    Ok(FileValues {
        shown,
        ..parse(&path, text, known, per_service)?
    })
}

pub(crate) fn parse(
    path: &Path,
    text: String,
    known: &[&str],
    per_service: &[&str],
) -> Result<FileValues> {
    let display = path.display().to_string();
    let doc: Doc = serde_saphyr::from_str(&text).map_err(|e| {
        // The parser may place an error past the last line (an unclosed list, say): mark the
        // last line then, so the error always points somewhere.
        let last = text.lines().count().max(1);
        let at = e
            .location()
            .map(|l| (l.line() as usize).clamp(1, last))
            .and_then(|line| locate_line(path, &text, line));
        Error::config(
            format!("{display} is not valid YAML: {}", plain(&e)),
            "fix the YAML syntax at the marked line (keys are the flag names with `_`, e.g. `blue_green: true`)",
            at,
        )
    })?;
    let entries = match doc {
        Doc::Empty => Vec::new(),
        Doc::Settings(entries) => entries,
        Doc::Other => {
            return Err(Error::config(
                format!("{display} must be a mapping of settings"),
                "write one `key: value` per line, e.g. `target: app`",
                locate_line(path, &text, 1),
            ))
        }
    };
    let mut values = IndexMap::new();
    let mut services = IndexMap::new();
    for (key, setting) in entries {
        let line = (key.referenced.line() as usize).max(1);
        let key = key.value;
        if key == SERVICES {
            services = parse_services(path, &text, setting, line, known, per_service)?;
            continue;
        }
        if !known.contains(&key.as_str()) {
            let close = known.iter().find(|k| close(k, &key));
            return Err(Error::config(
                format!("unknown setting `{key}` in {display}"),
                match close {
                    Some(k) => {
                        format!("did you mean `{k}`? (`docker flow config` lists every key)")
                    }
                    None => format!("known settings: {}", known.join(", ")),
                },
                locate_line(path, &text, line),
            ));
        }
        let raw = scalar_or_list(path, &text, &key, setting, line)?;
        values.insert(key, (raw, line));
    }
    Ok(FileValues {
        path: Some(path.to_path_buf()),
        shown: FILE_NAME.into(),
        text,
        values,
        services,
    })
}

/// A setting's value, which must be a scalar or a list of them (not a mapping).
fn scalar_or_list(
    path: &Path,
    text: &str,
    key: &str,
    setting: Setting,
    line: usize,
) -> Result<Raw> {
    match setting {
        Setting::Value(Some(raw)) => Ok(raw),
        _ => Err(Error::config(
            format!(
                "`{key}` in {} must be a string, number, boolean or list of them",
                path.display()
            ),
            "write a scalar (`key: value`) or a list (`key: [a, b]`)",
            locate_line(path, text, line),
        )),
    }
}

/// `services:`: a mapping of Compose service names to mappings of per-service settings.
fn parse_services(
    path: &Path,
    text: &str,
    setting: Setting,
    line: usize,
    known: &[&str],
    per_service: &[&str],
) -> Result<IndexMap<String, Service>> {
    let example = "write `services:` as a mapping of Compose service names to their settings, e.g. `services: {api: {service_path: [/api]}}`";
    let entries = match setting {
        Setting::Map(entries) => entries,
        Setting::Value(Some(Raw::Many(v))) if v.is_empty() => Vec::new(),
        _ => {
            return Err(Error::config(
                format!(
                    "`{SERVICES}` in {} must be a mapping of services",
                    path.display()
                ),
                example,
                locate_line(path, text, line),
            ))
        }
    };
    let mut services = IndexMap::new();
    for (name, setting) in entries {
        let line = (name.referenced.line() as usize).max(1);
        let settings = match setting {
            Setting::Map(settings) => settings,
            Setting::Value(Some(Raw::Many(v))) if v.is_empty() => Vec::new(),
            _ => {
                return Err(Error::config(
                    format!(
                        "the service `{}` under `{SERVICES}` must be a mapping of its settings",
                        name.value
                    ),
                    example,
                    locate_line(path, text, line),
                ))
            }
        };
        let mut values = IndexMap::new();
        for (key, setting) in settings {
            let line = (key.referenced.line() as usize).max(1);
            let key = key.value;
            if !per_service.contains(&key.as_str()) {
                let help = if known.contains(&key.as_str()) {
                    format!("`{key}` is the project's, not a service's: put it at the top level of the file")
                } else {
                    match per_service.iter().find(|k| close(k, &key)) {
                        Some(k) => format!("did you mean `{k}`?"),
                        None => format!("a service takes: {}", per_service.join(", ")),
                    }
                };
                return Err(Error::config(
                    format!(
                        "`{key}` is not a setting of a service (under `{SERVICES}.{}`)",
                        name.value
                    ),
                    help,
                    locate_line(path, text, line),
                ));
            }
            let raw = scalar_or_list(path, text, &key, setting, line)?;
            values.insert(key, (raw, line));
        }
        services.insert(name.value, Service { line, values });
    }
    Ok(services)
}

/// The parser's message for users (no parser internals such as its option names) and without its
/// own snippet: the diagnostic marks the line.
fn plain(e: &serde_saphyr::Error) -> String {
    let options = serde_saphyr::render_options! {
        formatter: &serde_saphyr::UserMessageFormatter,
        snippets: serde_saphyr::SnippetMode::Off,
    };
    e.without_snippet().render_with_options(options)
}

/// The file as a whole: settings in the order written, each key with where it stands.
enum Doc {
    Empty,
    Settings(Vec<(Spanned<String>, Setting)>),
    Other,
}

/// One setting's value: a scalar or a list of scalars, or `None` when it is neither (the caller
/// names the key and line; the parser's own message would not); or a mapping of settings
/// (`services:` and each service's), each key with where it stands.
enum Setting {
    Value(Option<Raw>),
    Map(Vec<(Spanned<String>, Setting)>),
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of settings")
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Doc, E> {
                Ok(Doc::Empty)
            }
            fn visit_none<E: de::Error>(self) -> std::result::Result<Doc, E> {
                Ok(Doc::Empty)
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Doc, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Doc::Settings(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Doc, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Doc::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Doc, E> {
                Ok(Doc::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Doc, E> {
                Ok(Doc::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar as the text it means (`true`, `3`, `app`); `None` for a list or mapping.
struct Scalar(Option<String>);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(|raw| {
            Scalar(match raw {
                Some(Raw::One(s)) => Some(s),
                _ => None,
            })
        })
    }
}

impl<'de> Deserialize<'de> for Setting {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(SettingVisitor)
    }
}

/// A setting: as `ValueVisitor` reads it, but a mapping is kept (with each key's place).
struct SettingVisitor;

impl<'de> Visitor<'de> for SettingVisitor {
    type Value = Setting;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string, number, boolean, list of them, or a mapping of settings")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Setting, E> {
        ValueVisitor.visit_bool(v).map(Setting::Value)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Setting, E> {
        ValueVisitor.visit_i64(v).map(Setting::Value)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Setting, E> {
        ValueVisitor.visit_u64(v).map(Setting::Value)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Setting, E> {
        ValueVisitor.visit_f64(v).map(Setting::Value)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Setting, E> {
        ValueVisitor.visit_str(v).map(Setting::Value)
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Setting, E> {
        ValueVisitor.visit_unit().map(Setting::Value)
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Setting, E> {
        ValueVisitor.visit_none().map(Setting::Value)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> std::result::Result<Setting, A::Error> {
        ValueVisitor.visit_seq(seq).map(Setting::Value)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Setting, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Setting::Map(entries))
    }
}

/// Reads any YAML value as a setting: a scalar is `One`, null an empty list, a list of scalars
/// `Many`; anything else (a mapping, a nested list) is `None`.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Option<Raw>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string, number, boolean or list of them")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(Some(Raw::One(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Raw::One(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Raw::One(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Self::Value, E> {
        Ok(Some(Raw::One(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(Some(Raw::One(v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Some(Raw::Many(Vec::new())))
    }
    fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(Some(Raw::Many(Vec::new())))
    }
    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut items = Some(Vec::new());
        while let Some(Scalar(item)) = seq.next_element()? {
            match (item, items.as_mut()) {
                (Some(s), Some(all)) => all.push(s),
                _ => items = None,
            }
        }
        Ok(items.map(Raw::Many))
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

/// Close enough to suggest: the same but for `-`/`_`, case or a plural `s`, or at most two
/// edits apart (the `strsim` crate's Damerau-Levenshtein distance).
fn close(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.replace('-', "_").to_lowercase();
    let (a, b) = (norm(a), norm(b));
    a.trim_end_matches('s') == b.trim_end_matches('s') || strsim::damerau_levenshtein(&a, &b) <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &[
        "target",
        "side_targets",
        "blue_green",
        "scale",
        "service_path",
    ];
    const PER: &[&str] = &["service_path", "blue_green"];

    #[test]
    fn services_take_their_own_settings_with_lines() {
        let text = "target: web\nservices:\n  web:\n    service_path: [/web]\n  api: {service_path: /api, blue_green: false}\n  worker:\n";
        let f = parse(Path::new("docker-flow.yml"), text.into(), KNOWN, PER).unwrap();
        assert_eq!(f.values["target"], (Raw::One("web".into()), 1));
        assert!(!f.values.contains_key("services"));
        assert_eq!(f.services["web"].line, 3);
        assert_eq!(
            f.services["web"].values["service_path"],
            (Raw::Many(vec!["/web".into()]), 4)
        );
        assert_eq!(
            f.services["api"].values["blue_green"],
            (Raw::One("false".into()), 5)
        );
        assert!(f.services["worker"].values.is_empty());
        // A project's key under a service, a typo, a scalar where a mapping goes: each refused
        // at its line, saying what to do.
        for (text, line, said, help) in [
            (
                "services:\n  web:\n    scale: 2\n",
                3,
                "`scale` is not a setting of a service",
                "the project's, not a service's",
            ),
            (
                "services:\n  web:\n    service_pth: /a\n",
                3,
                "`service_pth`",
                "did you mean `service_path`?",
            ),
            (
                "services:\n  web: /a\n",
                2,
                "must be a mapping of its settings",
                "services: {api:",
            ),
            (
                "services: [web]\n",
                1,
                "must be a mapping of services",
                "services: {api:",
            ),
            (
                "services:\n  web:\n    service_path: {a: 1}\n",
                3,
                "must be a string",
                "scalar",
            ),
        ] {
            match parse(Path::new("docker-flow.yml"), text.into(), KNOWN, PER).unwrap_err() {
                Error::Config {
                    message,
                    help: h,
                    src: Some(src),
                    span: Some(span),
                } => {
                    assert!(message.contains(said), "{message}");
                    assert!(h.as_deref().unwrap_or_default().contains(help), "{h:?}");
                    let at = text[..span.offset()].lines().count() + 1;
                    assert_eq!(at, line, "{text}: {message}");
                    let _ = src;
                }
                other => panic!("{text}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn parses_scalars_and_lists_with_lines() {
        let f = parse(
            Path::new("docker-flow.yml"),
            "target: app\n\nside_targets:\n  - db\n  - cache\nblue_green: true\nscale: 3\n".into(),
            KNOWN,
            PER,
        )
        .unwrap();
        assert_eq!(f.values["target"], (Raw::One("app".into()), 1));
        assert_eq!(
            f.values["side_targets"],
            (Raw::Many(vec!["db".into(), "cache".into()]), 3)
        );
        assert_eq!(f.values["blue_green"], (Raw::One("true".into()), 6));
        assert_eq!(f.values["scale"], (Raw::One("3".into()), 7));
    }

    #[test]
    fn malformed_yaml_points_at_line() {
        let e = parse(
            Path::new("docker-flow.yml"),
            "target: app\nside_targets: [db\nscale: 2\n".into(),
            KNOWN,
            PER,
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("not valid YAML"), "{e}");
        match e {
            Error::Config { span, .. } => assert!(span.is_some()),
            other => panic!("unexpected {other:?}"),
        }
        // A repeated key is refused on its second line.
        match parse(Path::new("x"), "target: a\ntarget: b\n".into(), KNOWN, PER).unwrap_err() {
            Error::Config { span, .. } => assert_eq!(span.unwrap().offset(), 10),
            other => panic!("unexpected {other:?}"),
        }
        // An error the parser finds only at the end of the text still marks a line.
        for text in ["side_targets: [db\n", "target: \"app\n", "a: b\n  c: d\n"] {
            match parse(Path::new("docker-flow.yml"), text.into(), KNOWN, PER).unwrap_err() {
                Error::Config { span, .. } => assert!(span.is_some(), "{text:?}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_key_suggests() {
        let e = parse(
            Path::new("docker-flow.yml"),
            "target: app\nblue-green: true\n".into(),
            KNOWN,
            PER,
        )
        .unwrap_err();
        let msg = format!("{e}");
        assert!(msg.contains("unknown setting `blue-green`"), "{msg}");
        match e {
            Error::Config { help, span, .. } => {
                assert!(help.unwrap().contains("blue_green"));
                assert_eq!(span.unwrap().offset(), 12);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_file_is_fine() {
        assert!(parse(Path::new("x"), "".into(), KNOWN, PER)
            .unwrap()
            .values
            .is_empty());
        assert!(parse(Path::new("x"), "# nothing\n".into(), KNOWN, PER)
            .unwrap()
            .values
            .is_empty());
    }

    #[test]
    fn values_that_are_not_settings_point_at_their_key() {
        let text = "target: app\n\"scale\": {a: 1}\n";
        match parse(Path::new("docker-flow.yml"), text.into(), KNOWN, PER).unwrap_err() {
            Error::Config { message, span, .. } => {
                assert!(message.contains("`scale`"), "{message}");
                assert_eq!(span.unwrap().offset(), 12);
            }
            other => panic!("unexpected {other:?}"),
        }
        let nested = "side_targets: [db, [cache]]\n";
        assert!(parse(Path::new("x"), nested.into(), KNOWN, PER).is_err());
        for text in ["just text\n", "- a\n- b\n", "3\n"] {
            match parse(Path::new("x"), text.into(), KNOWN, PER).unwrap_err() {
                Error::Config { message, .. } => assert!(message.contains("mapping"), "{message}"),
                other => panic!("unexpected {other:?}"),
            }
        }
        // A null value is an empty list, a quoted key is found on its own line.
        let f = parse(
            Path::new("x"),
            "target: app\n'side_targets':\n".into(),
            KNOWN,
            PER,
        )
        .unwrap();
        assert_eq!(f.values["side_targets"], (Raw::Many(vec![]), 2));
    }
}
