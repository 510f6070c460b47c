//! `./docker-flow.yml`: the lowest layer of settings above the defaults.
//!
//! Read once from the working directory (a missing file is fine). Keys are the flag names with
//! `_`; an unknown key or malformed YAML is an error that points at the line.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use miette::{NamedSource, SourceSpan};

use super::Raw;
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
}

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

/// Loads `docker-flow.yml` from `dir`, checking each key against `known`.
pub(crate) fn load(dir: &Path, cwd: &Path, known: &[&str]) -> Result<FileValues> {
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
        ..parse(&path, text, known)?
    })
}

pub(crate) fn parse(path: &Path, text: String, known: &[&str]) -> Result<FileValues> {
    let display = path.display().to_string();
    let doc: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| {
        // The parser may place an error past the last line (an unclosed list, say): mark the
        // last line then, so the error always points somewhere.
        let last = text.lines().count().max(1);
        let at = e
            .location()
            .map(|l| l.line().clamp(1, last))
            .and_then(|line| locate_line(path, &text, line));
        Error::config(
            format!("{display} is not valid YAML: {e}"),
            "fix the YAML syntax at the marked line (keys are the flag names with `_`, e.g. `blue_green: true`)",
            at,
        )
    })?;
    let mapping = match doc {
        serde_norway::Value::Null => {
            return Ok(FileValues {
                path: Some(path.to_path_buf()),
                shown: FILE_NAME.into(),
                text,
                values: IndexMap::new(),
            })
        }
        serde_norway::Value::Mapping(m) => m,
        _ => {
            return Err(Error::config(
                format!("{display} must be a mapping of settings"),
                "write one `key: value` per line, e.g. `target: app`",
                locate_line(path, &text, 1),
            ))
        }
    };
    let mut values = IndexMap::new();
    for (k, v) in mapping {
        let key = match k {
            serde_norway::Value::String(s) => s,
            other => format!("{other:?}"),
        };
        let line = key_line(&text, &key).unwrap_or(1);
        if !known.contains(&key.as_str()) {
            let close = known.iter().find(|k| close(k, &key));
            return Err(Error::config(
                format!("unknown setting `{key}` in {display}"),
                match close {
                    Some(k) => format!("did you mean `{k}`? Keys are the flag names with `_`"),
                    None => format!("known settings: {}", known.join(", ")),
                },
                locate_line(path, &text, line),
            ));
        }
        let raw = to_raw(&v).ok_or_else(|| {
            Error::config(
                format!("`{key}` in {display} must be a string, number, boolean or list of them"),
                "write a scalar (`key: value`) or a list (`key: [a, b]`)",
                locate_line(path, &text, line),
            )
        })?;
        values.insert(key, (raw, line));
    }
    Ok(FileValues {
        path: Some(path.to_path_buf()),
        shown: FILE_NAME.into(),
        text,
        values,
    })
}

fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn to_raw(v: &serde_norway::Value) -> Option<Raw> {
    match v {
        serde_norway::Value::Sequence(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<Vec<_>>>()
            .map(Raw::Many),
        serde_norway::Value::Null => Some(Raw::Many(Vec::new())),
        other => scalar(other).map(Raw::One),
    }
}

/// The line where a top-level key is defined (keys at column 0).
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_end();
            l.strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .or_else(|| l.strip_prefix(&format!("'{key}'")))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
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

    const KNOWN: &[&str] = &["target", "side_targets", "blue_green", "scale"];

    #[test]
    fn parses_scalars_and_lists_with_lines() {
        let f = parse(
            Path::new("docker-flow.yml"),
            "target: app\n\nside_targets:\n  - db\n  - cache\nblue_green: true\nscale: 3\n".into(),
            KNOWN,
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
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("not valid YAML"), "{e}");
        match e {
            Error::Config { span, .. } => assert!(span.is_some()),
            other => panic!("unexpected {other:?}"),
        }
        // An error the parser finds only at the end of the text still marks a line.
        for text in ["side_targets: [db\n", "target: \"app\n", "a: b\n  c: d\n"] {
            match parse(Path::new("docker-flow.yml"), text.into(), KNOWN).unwrap_err() {
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
        assert!(parse(Path::new("x"), "".into(), KNOWN)
            .unwrap()
            .values
            .is_empty());
        assert!(parse(Path::new("x"), "# nothing\n".into(), KNOWN)
            .unwrap()
            .values
            .is_empty());
    }
}
