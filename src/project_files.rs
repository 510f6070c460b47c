//! Where Compose finds a project, as docker flow must find it too: the Compose file names it
//! looks for, and the project's directory (where `docker-flow.yml` lives). Read by the settings,
//! to find `docker-flow.yml`, and by `compose`, to load the project.

use std::path::{Path, PathBuf};

/// The Compose file names Compose looks for, in its order.
pub(crate) const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The project's directory as Compose finds it: `--project-directory`; else the directory of
/// the first Compose file (`-f`, else `COMPOSE_FILE`); else the nearest directory, from the
/// working directory up, that holds a Compose file; else the working directory.
pub(crate) fn project_dir(
    cwd: &Path,
    directory: Option<&Path>,
    first_file: Option<&Path>,
) -> PathBuf {
    if let Some(d) = directory {
        return cwd.join(d);
    }
    let from_env = std::env::var("COMPOSE_FILE").ok().and_then(|list| {
        let sep = std::env::var("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|_| ":".into());
        list.split(sep.as_str())
            .find(|s| !s.is_empty())
            .map(PathBuf::from)
    });
    if let Some(f) = first_file.map(Path::to_path_buf).or(from_env) {
        let file = cwd.join(f);
        return file
            .parent()
            .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
    }
    cwd.ancestors()
        .find(|d| DEFAULT_FILES.iter().any(|f| d.join(f).is_file()))
        .unwrap_or(cwd)
        .to_path_buf()
}

/// Whether Compose finds a file of the project by itself (no `-f`, no `COMPOSE_FILE`): one of
/// its file names in `--project-directory`, else in the working directory or one above it.
pub(crate) fn finds_a_file(cwd: &Path, directory: Option<&Path>) -> bool {
    let has = |d: &Path| DEFAULT_FILES.iter().any(|f| d.join(f).is_file());
    match directory {
        Some(d) => has(&cwd.join(d)),
        None => cwd.ancestors().any(has),
    }
}
