//! Completion through the docker CLI itself: at `docker flow <TAB>` docker runs
//! `docker-flow __complete flow WORD… PARTIAL` and reads cobra's answer, one candidate a line
//! (`word<TAB>description`) and then `:DIRECTIVE`. Written by hand because clap_complete speaks
//! its own shells' protocols (its dynamic engine is unstable), not cobra's; the candidates come
//! from the same clap definitions as the help and `docker flow completion`, the words a setting
//! takes (`settings::words`), and the project's services, which Compose lists (`docker compose
//! config --services`, with the project options among the words) where a service goes.

/// Cobra's directives: let the shell complete file names, or not.
const FILES: u8 = 0;
const NO_FILES: u8 = 4;

/// The answer to `__complete flow WORDS…`, where the last word is the one being completed.
pub(crate) fn cobra(words: &[String]) -> String {
    answer_with(words, &|| services(words))
}

/// Options whose value is a service of the project.
const SERVICE_OPTIONS: &[&str] = &["target", "side_targets"];
/// The positional arguments that start with a service (`deploy web`, `exec web sh`, `scale web 3`).
const SERVICE_POSITIONALS: &[&str] = &["service", "first", "command"];

/// `cobra`, with the project's services from `services` (asked only where one goes).
fn answer_with(words: &[String], services: &dyn Fn() -> Vec<String>) -> String {
    let top = crate::cli::command();
    let (partial, before) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let mut cmd = &top;
    for w in before {
        if let Some(sub) = cmd.find_subcommand(w) {
            cmd = sub;
        }
    }
    // The word after an option that takes a value is that value: only paths complete there.
    if let Some(prev) = before.last() {
        let takes = cmd.get_arguments().find(|a| {
            prev.strip_prefix("--")
                .is_some_and(|l| a.get_long() == Some(l))
                || (prev.len() == 2
                    && prev
                        .strip_prefix('-')
                        .and_then(|s| s.chars().next())
                        .is_some_and(|c| a.get_short() == Some(c)))
        });
        if let Some(arg) =
            takes.filter(|a| a.get_action().takes_values() && !a.is_require_equals_set())
        {
            let id = arg.get_id().as_str();
            let key = crate::settings::Key::ALL.iter().find(|k| k.name() == id);
            let mut values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .chain(
                    key.into_iter()
                        .flat_map(|k| crate::settings::words(*k))
                        .map(|w| w.to_string()),
                )
                .collect();
            if SERVICE_OPTIONS.contains(&id) {
                values.extend(services());
            }
            values.retain(|v| v.starts_with(partial));
            let path = matches!(
                arg.get_id().as_str(),
                "compose_path" | "project_directory" | "env_file"
            );
            return answer(
                values.into_iter().map(|v| (v, String::new())),
                if path { FILES } else { NO_FILES },
            );
        }
    }
    let candidates: Vec<(String, String)> = if partial.starts_with('-') {
        cmd.get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| Some((format!("--{}", a.get_long()?), about(a.get_help()))))
            .chain([("--help".to_string(), "Print help".to_string())])
            .filter(|(w, _)| w.starts_with(partial))
            .collect()
    } else if cmd.has_subcommands() {
        cmd.get_subcommands()
            .filter(|s| s.get_name() != "help")
            .map(|s| (s.get_name().to_string(), about(s.get_about())))
            .filter(|(w, _)| w.starts_with(partial))
            .collect()
    } else {
        // A command's positional values, where clap knows them (`completion`'s shells), and
        // the project's services where the first positional is one (none typed yet).
        let first = cmd.get_positionals().next();
        let typed = positionals_typed(cmd, before);
        let services = first
            .filter(|a| typed == 0 && SERVICE_POSITIONALS.contains(&a.get_id().as_str()))
            .map(|_| services())
            .unwrap_or_default();
        cmd.get_positionals()
            .flat_map(|a| a.get_possible_values())
            .map(|v| (v.get_name().to_string(), about(v.get_help())))
            .chain(services.into_iter().map(|s| (s, String::new())))
            .filter(|(w, _)| w.starts_with(partial))
            .collect()
    };
    answer(candidates.into_iter(), NO_FILES)
}

/// How many positional words `before` has after the command's name (options and their values
/// aside).
fn positionals_typed(cmd: &clap::Command, before: &[String]) -> usize {
    let Some(at) = before.iter().position(|w| w == cmd.get_name()) else {
        return 0;
    };
    let mut count = 0;
    let mut skip = false;
    for w in &before[at + 1..] {
        if skip {
            skip = false;
        } else if let Some(long) = w.strip_prefix("--") {
            skip = !long.contains('=')
                && cmd.get_arguments().any(|a| {
                    a.get_long() == Some(long)
                        && a.get_action().takes_values()
                        && !a.is_require_equals_set()
                });
        } else if w.starts_with('-') && w.len() == 2 {
            let c = w.chars().nth(1);
            skip = cmd.get_arguments().any(|a| {
                a.get_short() == c && a.get_action().takes_values() && !a.is_require_equals_set()
            });
        } else {
            count += 1;
        }
    }
    count
}

/// The project's services, as Compose lists them for the project the words select (its files,
/// directory, name, profiles); none when Compose cannot tell.
fn services(words: &[String]) -> Vec<String> {
    const SELECTING: &[&str] = &[
        "-f",
        "--file",
        "--compose-path",
        "-p",
        "--project",
        "--project-name",
        "--project-directory",
        "--env-file",
        "--profile",
    ];
    let mut a = vec!["compose".to_string()];
    // A short flag after the command may be the command's own (`logs -f` follows).
    let top = crate::cli::command();
    let command_at = words
        .iter()
        .position(|w| top.find_subcommand(w).is_some())
        .unwrap_or(words.len());
    let mut it = words.iter().enumerate();
    while let Some((i, w)) = it.next() {
        if i > command_at && !w.starts_with("--") {
            continue;
        }
        let (flag, value) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (w.as_str(), None),
        };
        if let Some(&known) = SELECTING.iter().find(|s| **s == flag) {
            let value = value.or_else(|| it.next().map(|(_, v)| v.clone()));
            let as_compose = match known {
                "--compose-path" => "--file",
                "--project" => "--project-name",
                other => other,
            };
            a.extend([as_compose.to_string(), value.unwrap_or_default()]);
        }
    }
    a.extend(["config".to_string(), "--services".to_string()]);
    let options = crate::engine::Options {
        host: None,
        cert_path: None,
        dry_run: false,
        shown: crate::progress::Mode::Quiet,
    };
    crate::engine::Engine::new(&[], &options)
        .and_then(|e| e.read(&a))
        .ok()
        .filter(|o| o.ok())
        .map(|o| {
            o.stdout
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn about(text: Option<&clap::builder::StyledStr>) -> String {
    text.map(|t| t.to_string().lines().next().unwrap_or_default().to_string())
        .unwrap_or_default()
}

fn answer(candidates: impl Iterator<Item = (String, String)>, directive: u8) -> String {
    let mut out = String::new();
    for (word, about) in candidates {
        if about.is_empty() {
            out.push_str(&format!("{word}\n"));
        } else {
            out.push_str(&format!("{word}\t{about}\n"));
        }
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::cobra;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn setting_values_and_services_where_they_go() {
        let svc = || vec!["web".to_string(), "worker".to_string()];
        let at = |w: &[&str]| super::answer_with(&words(w), &svc);
        assert_eq!(at(&["deploy", "--tls", "in"]), "internal\n:4\n");
        assert_eq!(
            at(&["deploy", "--proxy-driver", ""]),
            "caddy\ndocker-flow-proxy\nnone\n:4\n"
        );
        assert_eq!(at(&["deploy", "--target", "w"]), "web\nworker\n:4\n");
        assert_eq!(at(&["deploy", "w"]), "web\nworker\n:4\n");
        assert_eq!(at(&["logs", "--tail", "10", ""]), "web\nworker\n:4\n");
        assert_eq!(at(&["exec", "web", ""]), ":4\n");
        assert_eq!(at(&["deploy", "web", ""]), ":4\n");
    }

    #[test]
    fn commands_options_and_values() {
        let top = cobra(&words(&["de"]));
        assert!(top.starts_with("deploy\tDeploy the next release"), "{top}");
        assert!(top.ends_with(":4\n"), "{top}");
        let status = cobra(&words(&["status", "--"]));
        assert!(status.contains("--target\t"), "{status}");
        assert!(!status.contains("--blue-green"), "{status}");
        let deploy = cobra(&words(&["deploy", "--blue"]));
        assert_eq!(
            deploy.lines().next(),
            Some("--blue-green\tPerform a blue-green deployment [true|false]")
        );
        // A path option's value completes file names; another's does not.
        assert_eq!(cobra(&words(&["deploy", "-f", ""])), ":0\n");
        assert_eq!(cobra(&words(&["deploy", "--target", ""])), ":4\n");
        let shells = cobra(&words(&["completion", ""]));
        assert!(
            shells.contains("zsh\n") || shells.contains("zsh\t"),
            "{shells}"
        );
    }
}
