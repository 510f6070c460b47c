//! Man pages, generated from the same clap definitions as the help (clap_mangen):
//! `docker-flow.1` for the command and `docker-flow-<command>.1` for each command, each with an
//! ENVIRONMENT section naming the variable of every option it lists (clap_mangen leaves them
//! out: the help names variables but never their values, which clap calls hiding them).
//! `docker-flow __man DIR` writes them; `make install` and `make dist` ship them.

use std::path::Path;

use crate::error::{Error, Result};

/// Writes every page into `dir` (created if missing); returns the files written.
pub(crate) fn write(dir: &Path) -> Result<Vec<String>> {
    let fail = |e: std::io::Error| {
        Error::environment(
            format!("cannot write the man pages into {}: {e}", dir.display()),
            "pass a writable directory",
        )
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    // `help` is a subcommand of the CLI, not a page: none is written for it.
    let top = crate::cli::command()
        .name("docker-flow")
        .disable_help_subcommand(true);
    let mut pages = vec![("docker-flow".to_string(), top.clone())];
    for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("docker-flow-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    let mut written = Vec::new();
    for (name, cmd) in pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .render(&mut out)
            .map_err(fail)?;
        let out = with_environment(&String::from_utf8_lossy(&out), &cmd);
        let file = format!("{name}.1");
        std::fs::write(dir.join(&file), out).map_err(fail)?;
        written.push(file);
    }
    Ok(written)
}

/// `page` with an ENVIRONMENT section (before VERSION, else at the end) listing each option's
/// `FLOW_*` variable, and the Compose or Docker Flow 1.x variable read when it is unset.
fn with_environment(page: &str, cmd: &clap::Command) -> String {
    let mut section = String::new();
    for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let var = var.to_string_lossy();
        let fallback = crate::settings::Key::ALL
            .iter()
            .map(|k| k.spec())
            .find(|s| s.long == long)
            .and_then(|s| s.fallback_env);
        section.push_str(&format!(".TP\n\\fB{}\\fR\n", roff(&var)));
        section.push_str(&format!("the same as \\fB\\-\\-{}\\fR", roff(long)));
        if let Some(f) = fallback {
            section.push_str(&format!("; when neither is set, \\fB{}\\fR", roff(f)));
        }
        section.push('\n');
    }
    if section.is_empty() {
        return page.to_string();
    }
    let section = format!(
        ".SH ENVIRONMENT\nA flag wins over its variable, a variable over docker\\-flow.yml.\n{section}"
    );
    match page.find(".SH VERSION") {
        Some(at) => format!("{}{section}{}", &page[..at], &page[at..]),
        None => format!("{page}{section}"),
    }
}

/// Text as roff shows it literally (a `-` is a hyphen, not a minus).
fn roff(text: &str) -> String {
    text.replace('\\', "\\\\").replace('-', "\\-")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_per_command_with_its_options() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::write(dir.path()).unwrap();
        assert!(files.contains(&"docker-flow.1".to_string()));
        let deploy = std::fs::read_to_string(dir.path().join("docker-flow-deploy.1")).unwrap();
        assert!(
            deploy.starts_with(".ie") || deploy.contains(".TH"),
            "{deploy}"
        );
        assert!(deploy.contains("blue\\-green"), "{deploy}");
        let status = std::fs::read_to_string(dir.path().join("docker-flow-status.1")).unwrap();
        assert!(!status.contains("blue\\-green"), "{status}");
        // The variables of the options each page lists, and only those.
        assert!(deploy.contains(".SH ENVIRONMENT"), "{deploy}");
        assert!(
            deploy.contains("\\fBFLOW_BLUE_GREEN\\fR\nthe same as \\fB\\-\\-blue\\-green\\fR"),
            "{deploy}"
        );
        assert!(
            deploy.contains("\\fBFLOW_PROJECT\\fR\nthe same as \\fB\\-\\-project\\fR; when neither is set, \\fBCOMPOSE_PROJECT_NAME\\fR"),
            "{deploy}"
        );
        assert!(!status.contains("FLOW_BLUE_GREEN"), "{status}");
        // Every page the SEE ALSO and SUBCOMMANDS name is written (none for `help`).
        let top = std::fs::read_to_string(dir.path().join("docker-flow.1")).unwrap();
        for page in files.iter().chain(&["docker-flow.1".to_string()]) {
            assert!(dir.path().join(page).is_file());
        }
        for named in top.split("docker\\-flow\\-").skip(1) {
            let name = named
                .split('(')
                .next()
                .unwrap_or_default()
                .replace("\\-", "-");
            assert!(
                files.contains(&format!("docker-flow-{name}.1")),
                "docker-flow-{name}(1) is named but not written"
            );
        }
    }
}
