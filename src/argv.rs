//! Splitting the argv the docker CLI hands a plugin.
//!
//! `docker --context prod flow deploy` runs `docker-flow --context prod flow deploy`: docker's own
//! global flags come first, then the plugin name, then ours. Standalone use (`docker-flow deploy`)
//! has no such prefix. The global flags are kept verbatim so that every `docker` and
//! `docker compose` call we make selects the same daemon the user's docker would.

use crate::error::{Error, Result};

/// Docker's global flags: (long, short, takes a value).
const GLOBAL_FLAGS: &[(&str, Option<char>, bool)] = &[
    ("context", Some('c'), true),
    ("host", Some('H'), true),
    ("config", None, true),
    ("tls", None, false),
    ("tlsverify", None, false),
    ("tlscacert", None, true),
    ("tlscert", None, true),
    ("tlskey", None, true),
    ("log-level", Some('l'), true),
    ("debug", Some('D'), false),
];

/// The plugin's name as docker passes it.
pub(crate) const PLUGIN_NAME: &str = "flow";

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SplitArgs {
    /// Docker's global flags, normalised to `--long=value` / `--long`, in the order given.
    pub docker_globals: Vec<String>,
    /// Our own arguments, starting with the program name clap expects.
    pub ours: Vec<String>,
    /// Whether we were called the plugin way (`… flow …`).
    pub as_plugin: bool,
}

fn lookup_long(name: &str) -> Option<&'static (&'static str, Option<char>, bool)> {
    GLOBAL_FLAGS.iter().find(|(l, _, _)| *l == name)
}

fn lookup_short(c: char) -> Option<&'static (&'static str, Option<char>, bool)> {
    GLOBAL_FLAGS.iter().find(|(_, s, _)| *s == Some(c))
}

/// Splits `args` (without the program name) into docker's globals and ours.
pub(crate) fn split(args: &[String]) -> Result<SplitArgs> {
    let mut globals = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == PLUGIN_NAME {
            // `docker flow -c prod deploy`: docker's context right after `flow` is docker's
            // still (docker flow has no `-c` of its own, so it never means something else).
            let mut j = i + 1;
            while let Some(arg) = args.get(j) {
                let value = match arg.as_str() {
                    "-c" | "--context" => args.get(j + 1).cloned().map(|v| (v, 2)),
                    _ => arg
                        .strip_prefix("--context=")
                        .or_else(|| arg.strip_prefix("-c=").or_else(|| arg.strip_prefix("-c")))
                        .filter(|v| !v.is_empty())
                        .map(|v| (v.to_string(), 1)),
                };
                let Some((value, used)) = value else { break };
                globals.push(format!("--context={value}"));
                j += used;
            }
            let mut ours = vec!["docker flow".to_string()];
            ours.extend(args[j..].iter().cloned());
            return Ok(SplitArgs {
                docker_globals: globals,
                ours,
                as_plugin: true,
            });
        }
        let (spec, inline) = if let Some(rest) = a.strip_prefix("--") {
            let (name, inline) = match rest.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (rest, None),
            };
            (lookup_long(name), inline)
        } else if let Some(rest) = a.strip_prefix('-') {
            let mut chars = rest.chars();
            match chars.next() {
                Some(c) if !rest.is_empty() => {
                    let tail: String = chars.collect();
                    let inline =
                        (!tail.is_empty()).then(|| tail.trim_start_matches('=').to_string());
                    (lookup_short(c), inline)
                }
                _ => (None, None),
            }
        } else {
            (None, None)
        };
        let Some((long, _, takes_value)) = spec else {
            // Not a docker global flag before any `flow`: this is standalone use, and every
            // argument is ours.
            break;
        };
        if *takes_value {
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => v.clone(),
                        None => {
                            return Err(Error::usage(
                                format!("docker's global flag --{long} needs a value"),
                                format!("write it as --{long}=VALUE before `flow`"),
                            ))
                        }
                    }
                }
            };
            globals.push(format!("--{long}={value}"));
        } else {
            match inline.as_deref() {
                None => globals.push(format!("--{long}")),
                Some(v @ ("true" | "false")) => globals.push(format!("--{long}={v}")),
                Some(v) => {
                    return Err(Error::usage(
                        format!("docker's global flag --{long} is a switch, not `{v}`"),
                        format!("use --{long}, --{long}=true or --{long}=false"),
                    ))
                }
            }
        }
        i += 1;
    }
    // We stopped at something that is not a docker global flag. If it is a flag and the first
    // plain word after it is `flow`, the user meant the plugin form with a flag docker lacks.
    if let Some(a) = args.get(i).filter(|a| a.starts_with('-')) {
        if args[i..]
            .iter()
            .find(|t| !t.starts_with('-'))
            .map(String::as_str)
            == Some(PLUGIN_NAME)
        {
            return Err(Error::usage(
                format!("unknown docker global flag `{a}` before `flow`"),
                "docker's global flags are --context/-c, -H/--host, --config, --tls, --tlsverify, \
                 --tlscacert, --tlscert, --tlskey, -l/--log-level and -D/--debug; flags of docker \
                 flow go after `flow`",
            ));
        }
    }
    let mut ours = vec!["docker-flow".to_string()];
    ours.extend(args.iter().cloned());
    Ok(SplitArgs {
        docker_globals: Vec::new(),
        ours,
        as_plugin: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn plugin_form_keeps_globals() {
        let r = split(&s(&[
            "--context",
            "prod",
            "-H",
            "tcp://x:2376",
            "--tls",
            "flow",
            "deploy",
            "-t",
            "app",
        ]))
        .unwrap();
        assert!(r.as_plugin);
        assert_eq!(
            r.docker_globals,
            s(&["--context=prod", "--host=tcp://x:2376", "--tls"])
        );
        assert_eq!(r.ours, s(&["docker flow", "deploy", "-t", "app"]));
    }

    #[test]
    fn inline_and_short_forms() {
        let r = split(&s(&["--log-level=debug", "-cprod", "-D", "flow", "status"])).unwrap();
        assert_eq!(
            r.docker_globals,
            s(&["--log-level=debug", "--context=prod", "--debug"])
        );
    }

    #[test]
    fn standalone_is_all_ours() {
        let r = split(&s(&["deploy", "-c", "http://consul:8500"])).unwrap();
        assert!(!r.as_plugin);
        assert!(r.docker_globals.is_empty());
        assert_eq!(
            r.ours,
            s(&["docker-flow", "deploy", "-c", "http://consul:8500"])
        );
        // `-H` standalone is the seed's --host flag, ours.
        // docker's context right after `flow`.
        let r = split(&s(&[
            "flow",
            "-c",
            "prod",
            "--context=x",
            "-cy",
            "deploy",
            "-c",
            "z",
        ]))
        .unwrap();
        assert_eq!(
            r.docker_globals,
            s(&["--context=prod", "--context=x", "--context=y"])
        );
        assert_eq!(r.ours, s(&["docker flow", "deploy", "-c", "z"]));
        let r = split(&s(&["-H", "unix:///x.sock", "config"])).unwrap();
        assert!(!r.as_plugin);
        assert_eq!(r.ours[1..], s(&["-H", "unix:///x.sock", "config"]));
    }

    #[test]
    fn unknown_global_before_flow_is_an_error() {
        let e = split(&s(&["--bogus", "flow", "deploy"])).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--bogus"), "{e}");
        let e = split(&s(&["--context", "x", "--nope=1", "flow", "deploy"])).unwrap_err();
        assert!(e.to_string().contains("--nope=1"), "{e}");
    }

    #[test]
    fn switch_with_bad_value() {
        assert!(split(&s(&["--tls=maybe", "flow"])).is_err());
        let r = split(&s(&["--tls=false", "flow"])).unwrap();
        assert_eq!(r.docker_globals, s(&["--tls=false"]));
    }
}
