//! Completion through the docker CLI itself: at `docker flow <TAB>` docker runs
//! `docker-flow __complete flow WORD… PARTIAL` and reads cobra's answer, one candidate a line
//! (`word<TAB>description`) and then `:DIRECTIVE`. Written by hand because clap_complete speaks
//! its own shells' protocols (its dynamic engine is unstable), not cobra's; the candidates come
//! from the same clap definitions as the help and `docker flow completion`.

/// Cobra's directives: let the shell complete file names, or not.
const FILES: u8 = 0;
const NO_FILES: u8 = 4;

/// The answer to `__complete flow WORDS…`, where the last word is the one being completed.
pub(crate) fn cobra(words: &[String]) -> String {
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
                    && prev.strip_prefix('-').and_then(|s| s.chars().next()) == a.get_short())
        });
        if let Some(arg) =
            takes.filter(|a| a.get_action().takes_values() && !a.is_require_equals_set())
        {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .map(|v| v.get_name().to_string())
                .filter(|v| v.starts_with(partial))
                .collect();
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
        // A command's positional values, where clap knows them (`completion`'s shells).
        cmd.get_positionals()
            .flat_map(|a| a.get_possible_values())
            .map(|v| (v.get_name().to_string(), about(v.get_help())))
            .filter(|(w, _)| w.starts_with(partial))
            .collect()
    };
    answer(candidates.into_iter(), NO_FILES)
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
