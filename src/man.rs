//! Man pages, generated from the same clap definitions as the help (clap_mangen):
//! `docker-flow.1` for the command and `docker-flow-<command>.1` for each command.
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
    let top = crate::cli::command().name("docker-flow");
    let mut pages = vec![("docker-flow".to_string(), top.clone())];
    for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("docker-flow-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    let mut written = Vec::new();
    for (name, cmd) in pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out).map_err(fail)?;
        let file = format!("{name}.1");
        std::fs::write(dir.join(&file), out).map_err(fail)?;
        written.push(file);
    }
    Ok(written)
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
    }
}
