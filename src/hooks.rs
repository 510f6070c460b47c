//! The user's own commands that docker flow runs at points of a run: the hooks in the project's
//! `.docker-flow/hooks/` (as Kamal's `.kamal/hooks/`) and the test gate (`--test-cmd`).
//!
//! Each runs as argv (an executable file, or the words of `--test-cmd`; no shell unless the user
//! writes `sh -c`), in the project's directory, with docker flow's environment plus the run's
//! facts as `DOCKER_FLOW_*` variables. Its output shows as progress says (`--progress`). Both
//! are checked before anything changes: a hook that is not executable, or a test command that
//! cannot be found, is a configuration error (exit 2).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::progress::Mode;

/// The points of a run where a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hook {
    /// Before a deploy changes anything; failing aborts with nothing changed.
    PreDeploy,
    /// Before the proxy step switches traffic; failing removes what this run deployed.
    PrePromote,
    /// After a run with a deploy finished; failing is a warning (the release is live).
    PostDeploy,
    /// After a run failed; failing is a warning.
    OnFailure,
}

impl Hook {
    pub(crate) const ALL: [Hook; 4] = [
        Hook::PreDeploy,
        Hook::PrePromote,
        Hook::PostDeploy,
        Hook::OnFailure,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Hook::PreDeploy => "pre-deploy",
            Hook::PrePromote => "pre-promote",
            Hook::PostDeploy => "post-deploy",
            Hook::OnFailure => "on-failure",
        }
    }
}

/// Where hooks live, below the project's directory.
pub(crate) const HOOKS_DIR: &str = ".docker-flow/hooks";

/// The project's hooks, found and checked once, before anything changes.
#[derive(Debug, Default)]
pub(crate) struct Hooks {
    found: Vec<(Hook, PathBuf)>,
    /// Files in the hooks' directory that are no hook (a misspelled `pre-deploi`): never run,
    /// so the run says so.
    pub strays: Vec<String>,
}

impl Hooks {
    pub(crate) fn find(project_dir: &Path) -> Result<Hooks> {
        let dir = project_dir.join(HOOKS_DIR);
        let mut found = Vec::new();
        for hook in Hook::ALL {
            let path = dir.join(hook.name());
            if !path.exists() {
                continue;
            }
            if !executable(&path) {
                return Err(Error::config(
                    format!("the hook {} is not an executable file", path.display()),
                    format!(
                        "make it executable (`chmod +x {}`), or remove it",
                        path.display()
                    ),
                    None,
                ));
            }
            found.push((hook, path));
        }
        let mut strays: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && !Hook::ALL.iter().any(|h| h.name() == n))
            .collect();
        strays.sort_unstable();
        Ok(Hooks { found, strays })
    }

    /// What to say of the files in the hooks' directory that are no hook.
    pub(crate) fn stray_warnings(&self) -> Vec<String> {
        let names: Vec<&str> = Hook::ALL.iter().map(|h| h.name()).collect();
        self.strays
            .iter()
            .map(|stray| {
                let near = names
                    .iter()
                    .find(|n| strsim::damerau_levenshtein(stray, n) <= 2)
                    .map(|n| format!(" (did you mean `{n}`?)"))
                    .unwrap_or_default();
                format!(
                    "{HOOKS_DIR}/{stray} is not a hook and never runs{near}; the hooks are {}",
                    names.join(", ")
                )
            })
            .collect()
    }

    pub(crate) fn get(&self, hook: Hook) -> Option<&Path> {
        self.found
            .iter()
            .find(|(h, _)| *h == hook)
            .map(|(_, p)| p.as_path())
    }
}

/// Whether the test command's program can be run: a path to an executable file, or a name
/// found on `PATH`, as the shell would find it.
pub(crate) fn check_program(argv: &[String], dir: &Path) -> Result<()> {
    let Some(program) = argv.first() else {
        return Ok(());
    };
    let found = if program.contains('/') {
        executable(&dir.join(program))
    } else {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| executable(&d.join(program))))
    };
    if found {
        return Ok(());
    }
    Err(Error::config(
        format!("the test command `{program}` cannot be run: no such executable"),
        "give --test-cmd a program on PATH or a path to an executable file (relative to the project's directory), e.g. --test-cmd './smoke.sh --fast'",
        None,
    ))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `argv` in `dir` with `vars` added to the environment; its output shows as `mode` says,
/// labelled `label` in JSON events. Returns its exit code (a signal counts as 1).
pub(crate) fn run(
    argv: &[String],
    dir: &Path,
    vars: &[(String, String)],
    label: &str,
    mode: Mode,
) -> Result<i32> {
    let Some((program, args)) = argv.split_first() else {
        return Ok(0);
    };
    let mut e = duct::cmd(program, args).dir(dir).unchecked().stdin_null();
    for (k, v) in vars {
        e = e.env(k, v);
    }
    crate::progress::show(e, label, mode).map_err(|err| {
        Error::environment(
            format!("cannot run {label} `{program}`: {err}"),
            "check that it exists and is executable",
        )
    })
}
