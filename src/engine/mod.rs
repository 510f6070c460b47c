//! The Docker engine, reached only through the user's `docker` and `docker compose` CLIs.
//!
//! Every call carries docker's global flags from the plugin argv (and `--host`/`--cert-path`),
//! so contexts, `DOCKER_HOST`, TLS and ssh hosts behave exactly as the user's docker does.
//! Commands are argv vectors handed to `duct`; nothing is ever run through a shell.
//! With `--dry-run`, commands that change the engine are recorded in the plan instead of run.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::progress::Mode;

mod checks;

#[derive(Debug)]
pub(crate) struct Engine {
    bin: OsString,
    globals: Vec<String>,
    env: Vec<(String, String)>,
    dry_run: bool,
    plan: Mutex<Vec<String>>,
    /// How many docker commands this run has made (reported in the JSON summary).
    calls: AtomicU32,
    /// How the output of commands that show it (`change_streamed`) reaches the user.
    shown: Mode,
}

/// A running `docker` command whose stdin docker flow holds (see `Engine::start_attached`).
pub(crate) struct Attached {
    handle: std::sync::Arc<duct::ReaderHandle>,
    stdin: Option<os_pipe::PipeWriter>,
    /// Set by `close`: the end that follows is asked for, not one to report (`watch`).
    closing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Attached {
    /// Calls `ended` (on a thread of its own) if the command ends before `close` is asked:
    /// killed, its engine gone, its container removed.
    pub(crate) fn watch(&self, ended: impl FnOnce() + Send + 'static) {
        use std::sync::atomic::Ordering;
        let (handle, closing) = (self.handle.clone(), self.closing.clone());
        std::thread::spawn(move || {
            while !closing.load(Ordering::SeqCst) {
                if !matches!(handle.try_wait(), Ok(None)) {
                    if !closing.load(Ordering::SeqCst) {
                        ended();
                    }
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    }

    /// The first line it printed; None when it ended without one.
    pub(crate) fn first_line(&mut self) -> Option<String> {
        use std::io::Read;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.len() < 256 {
            match (&*self.handle).read(&mut byte) {
                Ok(1) if byte[0] == b'\n' => return Some(String::from_utf8_lossy(&line).into()),
                Ok(1) => line.push(byte[0]),
                _ => return None,
            }
        }
        None
    }

    /// What it printed on stderr, once it has ended.
    pub(crate) fn stderr(&self) -> String {
        match self.handle.try_wait() {
            Ok(Some(out)) => String::from_utf8_lossy(&out.stderr).into_owned(),
            _ => String::new(),
        }
    }

    /// Closes its stdin and waits, at most `within`, for it to end; true when it did.
    pub(crate) fn close(&mut self, within: std::time::Duration) -> bool {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.stdin.take();
        let started = std::time::Instant::now();
        while started.elapsed() < within {
            if matches!(self.handle.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}

/// What a finished command printed.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Why docker refused a command, as far as docker flow needs to tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The name is taken, or the object exists or is connected already.
    Conflict,
    /// No such container, network, image or object, or not connected to it.
    NotFound,
    Other,
}

impl Output {
    pub(crate) fn ok(&self) -> bool {
        self.status == 0
    }

    /// Why docker refused the command; None when it succeeded. docker's error text is read here
    /// and nowhere else (the CLI has no error codes; these are the daemon's own messages).
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        const CONFLICT: &[&str] = &["already exists", "already in use", "is already connected"];
        const NOT_FOUND: &[&str] = &["No such", "is not connected"];
        let said = |any: &[&str]| any.iter().any(|m| self.stderr.contains(m));
        // Swarm's API says `service <id> not found` (the CLI's own lookups say `no such`).
        let swarm_gone = self.stderr.lines().any(|l| {
            l.trim_end().ends_with(" not found")
                && ["service ", "task ", "node "].iter().any(|o| l.contains(o))
        });
        if self.ok() {
            None
        } else if said(CONFLICT) {
            Some(Refusal::Conflict)
        } else if said(NOT_FOUND) || swarm_gone {
            Some(Refusal::NotFound)
        } else {
            Some(Refusal::Other)
        }
    }

    /// It succeeded, or what it creates or connects is there already.
    pub(crate) fn ok_or_exists(&self) -> bool {
        matches!(self.refusal(), None | Some(Refusal::Conflict))
    }

    /// It succeeded, or what it removes or disconnects is gone already.
    pub(crate) fn ok_or_gone(&self) -> bool {
        matches!(self.refusal(), None | Some(Refusal::NotFound))
    }

    /// The last line docker printed on stderr (the error it ended with), or "no answer".
    pub(crate) fn last_error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no answer")
            .trim()
    }
}

/// What the engine runner needs of the settings, and nothing else: how to reach the daemon
/// (beyond docker's own global flags), whether to plan instead of change, and how to show the
/// output of commands whose output the user sees.
pub(crate) struct Options {
    /// `--host` (docker flow's own `-H`), used when docker's globals name no host or context.
    pub host: Option<String>,
    /// `DOCKER_CERT_PATH` for the docker CLI.
    pub cert_path: Option<std::path::PathBuf>,
    pub dry_run: bool,
    pub shown: Mode,
}

impl Engine {
    pub(crate) fn new(docker_globals: &[String], settings: &Options) -> Result<Engine> {
        // The docker CLI that ran the plugin; for `__complete` docker 20.10 names the plugin
        // itself there, which is no docker.
        let this = std::env::current_exe().and_then(std::fs::canonicalize).ok();
        let bin = std::env::var_os("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
            .filter(|s| !s.is_empty() && std::fs::canonicalize(s).ok() != this)
            .unwrap_or_else(|| OsString::from("docker"));
        let mut globals = docker_globals.to_vec();
        let has_host = globals
            .iter()
            .any(|g| g.starts_with("--host=") || g.starts_with("--context="));
        if let (Some(host), false) = (&settings.host, has_host) {
            globals.push(format!("--host={host}"));
        }
        let mut env = Vec::new();
        if let Some(p) = &settings.cert_path {
            env.push(("DOCKER_CERT_PATH".to_string(), p.display().to_string()));
        }
        Ok(Engine {
            bin,
            globals,
            env,
            dry_run: settings.dry_run,
            plan: Mutex::new(Vec::new()),
            calls: AtomicU32::new(0),
            shown: settings.shown,
        })
    }

    /// The same engine for another thread (a lock's heartbeat): the same docker, flags and
    /// environment; its calls are not counted in this run's.
    pub(crate) fn detached(&self) -> Engine {
        Engine {
            bin: self.bin.clone(),
            globals: self.globals.clone(),
            env: self.env.clone(),
            dry_run: self.dry_run,
            plan: Mutex::new(Vec::new()),
            calls: AtomicU32::new(0),
            shown: self.shown,
        }
    }

    /// An engine for another daemon (the proxy's host), with the same docker binary.
    pub(crate) fn for_host(&self, host: &str, cert_path: Option<&PathBuf>) -> Engine {
        let mut globals: Vec<String> = self
            .globals
            .iter()
            .filter(|g| !g.starts_with("--host=") && !g.starts_with("--context="))
            .cloned()
            .collect();
        globals.push(format!("--host={host}"));
        let mut env = self.env.clone();
        if let Some(p) = cert_path {
            env.retain(|(k, _)| k != "DOCKER_CERT_PATH");
            env.push(("DOCKER_CERT_PATH".into(), p.display().to_string()));
        }
        Engine {
            bin: self.bin.clone(),
            globals,
            env,
            dry_run: self.dry_run,
            plan: Mutex::new(Vec::new()),
            calls: AtomicU32::new(0),
            shown: self.shown,
        }
    }

    /// The engine's socket on its own host, for a container that must talk to the engine (Swarm
    /// mode's follower): the `unix://` path docker talks to (`-H`, `DOCKER_HOST` or the context),
    /// else Docker's default path.
    pub(crate) fn socket_on_host(&self) -> Result<String> {
        let given = self
            .globals
            .iter()
            .find_map(|g| g.strip_prefix("--host="))
            .map(String::from)
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()));
        let host = match given {
            Some(h) => h,
            None => {
                self.read(&args(&[
                    "context",
                    "inspect",
                    "--format",
                    "{{.Endpoints.docker.Host}}",
                ]))?
                .stdout
            }
        };
        Ok(host
            .trim()
            .strip_prefix("unix://")
            .unwrap_or("/var/run/docker.sock")
            .to_string())
    }

    /// How many docker commands this engine has run.
    pub(crate) fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }

    pub(crate) fn dry_run(&self) -> bool {
        self.dry_run
    }

    fn argv(&self, args: &[String]) -> Vec<String> {
        let mut argv = self.globals.clone();
        argv.extend(args.iter().cloned());
        argv
    }

    /// The command with `stdin` fed in (or none: docker never waits on our terminal).
    fn expression(&self, argv: &[String], stdin: Option<&[u8]>) -> duct::Expression {
        let e = self.command(argv);
        match stdin {
            Some(input) => e.stdin_bytes(input.to_vec()),
            None => e.stdin_null(),
        }
    }

    /// `docker ARGV` (globals included) as every call makes it: counted, with docker flow's
    /// variables for docker, its exit status left to the caller.
    fn command(&self, argv: &[String]) -> duct::Expression {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut e = duct::cmd(&self.bin, argv).unchecked();
        for (k, v) in &self.env {
            e = e.env(k, v);
        }
        e
    }

    /// Runs `docker ARGS` and captures what it prints. For reads: runs in dry-run mode too.
    pub(crate) fn read(&self, args: &[String]) -> Result<Output> {
        self.capture(&self.argv(args), None)
    }

    /// Runs `docker ARGS` and returns what it printed as bytes (an archive from `docker cp`),
    /// None when it failed. For reads: runs in dry-run mode too.
    pub(crate) fn read_bytes(&self, args: &[String]) -> Result<Option<Vec<u8>>> {
        let out = self.run_captured(&self.argv(args), None)?;
        Ok(out.status.success().then_some(out.stdout))
    }

    /// Runs `docker ARGS` with `stdin` fed in, capturing output. Reads only.
    pub(crate) fn read_with_input(&self, args: &[String], stdin: &[u8]) -> Result<Output> {
        self.capture(&self.argv(args), Some(stdin))
    }

    /// Runs a command that changes the engine; in dry-run mode it is only added to the plan.
    pub(crate) fn change(&self, args: &[String], stdin: Option<&[u8]>) -> Result<Output> {
        crate::cancel::still_locked()?;
        let argv = self.argv(args);
        if let Some(planned) = self.plan_instead(&argv, stdin) {
            return Ok(planned);
        }
        self.capture(&argv, stdin)
    }

    /// Like `change`, but the command's own output goes to our stderr as it runs (Compose's
    /// progress appears under the step that ran it): as it is, or each line a JSON event
    /// (`--progress json`), or kept and shown only if the command fails (`quiet`).
    pub(crate) fn change_streamed(&self, args: &[String], stdin: Option<&[u8]>) -> Result<Output> {
        crate::cancel::still_locked()?;
        let argv = self.argv(args);
        if let Some(planned) = self.plan_instead(&argv, stdin) {
            return Ok(planned);
        }
        let label = args.first().map_or("docker", String::as_str);
        let started = std::time::Instant::now();
        let status = crate::progress::show(self.expression(&argv, stdin), label, self.shown)
            .map_err(|err| self.spawn_error(err))?;
        crate::trace::command(args, started);
        Ok(Output {
            status,
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    /// The environment that makes a plain `docker` (in a hook or the test command) talk to
    /// the same daemon as docker flow: docker's global flags given before `flow` as the
    /// variables docker reads (`--context` → `DOCKER_CONTEXT`, `--host` → `DOCKER_HOST`, …),
    /// and the certificate path docker flow was given.
    pub(crate) fn docker_environment(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = self.env.clone();
        for g in &self.globals {
            let (name, value) = g.split_once('=').unwrap_or((g.as_str(), ""));
            let var = match name {
                "--context" => "DOCKER_CONTEXT",
                "--host" => "DOCKER_HOST",
                "--config" => "DOCKER_CONFIG",
                "--tlsverify" => "DOCKER_TLS_VERIFY",
                _ => continue,
            };
            let value = if value.is_empty() { "1" } else { value };
            vars.push((var.to_string(), value.to_string()));
        }
        vars
    }

    /// Runs `docker ARGS` on the user's terminal (stdin, stdout and stderr are ours): `exec`
    /// and `logs` of one instance. Its failure is `Error::Exited` with its own exit code (a
    /// signal counts as 1), which docker flow exits with, adding nothing, as docker does.
    pub(crate) fn interactive(&self, args: &[String]) -> Result<()> {
        let out = self
            .command(&self.argv(args))
            .run()
            .map_err(|err| self.spawn_error(err))?;
        match out.status.code() {
            Some(0) => Ok(()),
            code => Err(Error::Exited {
                command: format!("docker {}", args.first().map_or("", String::as_str)),
                code: code.and_then(|c| u8::try_from(c).ok()).unwrap_or(1),
            }),
        }
    }

    /// Starts `docker ARGS` with its output (stdout and stderr merged) on a reader: `logs` of
    /// several instances, each read by its own thread.
    pub(crate) fn lines(&self, args: &[String]) -> Result<duct::ReaderHandle> {
        self.expression(&self.argv(args), None)
            .stderr_to_stdout()
            .reader()
            .map_err(|err| self.spawn_error(err))
    }

    /// Starts `docker ARGS` (a `docker run -i`) with its stdin a pipe that only the returned
    /// value holds, and a reader on its stdout. When docker flow exits, however it exits, the
    /// pipe closes; that is what ends the deploy lock's process. It runs in its own process
    /// group, so a Ctrl-C at the terminal reaches docker flow, which releases the lock in order,
    /// and not this process.
    pub(crate) fn start_attached(&self, args: &[String]) -> Result<Attached> {
        let (stdin, writer) = os_pipe::pipe().map_err(|e| {
            Error::environment(
                format!("cannot make a pipe: {e}"),
                "check the limits on open files",
            )
        })?;
        let mut e = self
            .command(&self.argv(args))
            .stdin_file(stdin)
            .stderr_capture();
        #[cfg(unix)]
        {
            e = e.before_spawn(|cmd| {
                std::os::unix::process::CommandExt::process_group(cmd, 0);
                Ok(())
            });
        }
        let handle = e.reader().map_err(|err| self.spawn_error(err))?;
        Ok(Attached {
            handle: std::sync::Arc::new(handle),
            stdin: Some(writer),
            closing: Default::default(),
        })
    }

    /// In dry-run mode, records the command in the plan and answers for it as a success.
    fn plan_instead(&self, argv: &[String], stdin: Option<&[u8]>) -> Option<Output> {
        if !self.dry_run {
            return None;
        }
        let line = self.render(argv, stdin.is_some());
        self.plan
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
        Some(Output {
            status: 0,
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    /// The state of a container (`running`, `exited`, …), None when there is no such container.
    pub(crate) fn container_status(&self, name: &str) -> Result<Option<String>> {
        self.container_field(name, "{{.State.Status}}")
    }

    /// What `format` (a Go template) says of the container `name`; None when there is no
    /// such container.
    pub(crate) fn container_field(&self, name: &str, format: &str) -> Result<Option<String>> {
        let out = self.read(&args(&["container", "inspect", "--format", format, name]))?;
        Ok(out.ok().then(|| out.stdout.trim().to_string()))
    }

    /// Makes sure the engine has `tag`, importing it from `tar` (with Dockerfile `changes`) when
    /// it does not: docker flow's own helper images are made this way, never pulled.
    pub(crate) fn ensure_imported(
        &self,
        tag: &str,
        what: &str,
        changes: &[&str],
        tar: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<()> {
        if self.read(&args(&["image", "inspect", tag]))?.ok()
            || self.planned(format!("import the {what} image {tag}"))
        {
            return Ok(());
        }
        let mut a = args(&["import", "--message", what]);
        for c in changes {
            a.extend(args(&["--change", c]));
        }
        a.extend(args(&["-", tag]));
        let out = self.read_with_input(&a, &tar()?)?;
        if !out.ok() {
            return Err(Error::environment(
                format!("cannot create the {what} image: {}", out.stderr.trim()),
                "check that the Docker daemon is running and that you may import images",
            ));
        }
        Ok(())
    }

    /// Records a non-docker change (a proxy request) in the plan. Returns true in dry-run mode,
    /// when the caller must not make the change.
    pub(crate) fn planned(&self, what: String) -> bool {
        if self.dry_run {
            self.plan
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(what);
        }
        self.dry_run
    }

    pub(crate) fn take_plan(&self) -> Vec<String> {
        std::mem::take(&mut self.plan.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn render(&self, argv: &[String], stdin: bool) -> String {
        let mut s = self.bin.to_string_lossy().into_owned();
        for a in argv {
            s.push(' ');
            if a.is_empty()
                || a.chars()
                    .any(|c| c.is_whitespace() || "'\"$`\\|&;<>(){}*?".contains(c))
            {
                s.push_str(&format!("'{}'", a.replace('\'', "'\\''")));
            } else {
                s.push_str(a);
            }
        }
        if stdin && argv.iter().any(|a| a == "compose") {
            s.push_str(" < (derived Compose model)");
        } else if stdin {
            s.push_str(" < (stdin)");
        }
        s
    }

    fn capture(&self, argv: &[String], stdin: Option<&[u8]>) -> Result<Output> {
        let out = self.run_captured(argv, stdin)?;
        Ok(Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs the command and keeps what it printed, as bytes.
    fn run_captured(&self, argv: &[String], stdin: Option<&[u8]>) -> Result<std::process::Output> {
        let started = std::time::Instant::now();
        let out = self
            .expression(argv, stdin)
            .stdout_capture()
            .stderr_capture()
            .run()
            .map_err(|err| self.spawn_error(err));
        crate::trace::command(&argv[self.globals.len().min(argv.len())..], started);
        out
    }

    fn spawn_error(&self, err: std::io::Error) -> Error {
        Error::environment(
            format!("cannot run `{}`: {err}", self.bin.to_string_lossy()),
            "install the docker CLI (Debian: apt-get install docker.io) and make sure it is on PATH",
        )
    }
}

/// `&["a", "b"]` as owned argv.
pub(crate) fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_docker_gets_the_daemon_docker_flow_was_given() {
        let engine = Engine {
            bin: "docker".into(),
            globals: args(&["--context=prod", "--tlsverify", "--log-level=debug"]),
            env: vec![("DOCKER_CERT_PATH".into(), "/certs".into())],
            dry_run: false,
            plan: Mutex::new(Vec::new()),
            calls: AtomicU32::new(0),
            shown: Mode::Plain,
        };
        let vars = engine.docker_environment();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("DOCKER_CONTEXT"), Some("prod"));
        assert_eq!(get("DOCKER_TLS_VERIFY"), Some("1"));
        assert_eq!(get("DOCKER_CERT_PATH"), Some("/certs"));
        assert_eq!(get("DOCKER_HOST"), None);
        assert_eq!(vars.len(), 3, "{vars:?}");
    }

    #[test]
    fn refusals_are_told_apart_by_the_daemons_message() {
        let out = |status, stderr: &str| Output {
            status,
            stdout: String::new(),
            stderr: stderr.into(),
        };
        let taken = out(1, "Error response from daemon: Conflict. The container name \"/x\" is already in use by container \"abc\".");
        assert_eq!(taken.refusal(), Some(Refusal::Conflict));
        let gone = out(
            1,
            "Error response from daemon: service l8gv0norhtbl not found\n",
        );
        assert_eq!(gone.refusal(), Some(Refusal::NotFound));
        assert!(taken.ok_or_exists() && !taken.ok_or_gone());
        let net = out(
            1,
            "Error response from daemon: network with name dflow-a-b already exists",
        );
        assert_eq!(net.refusal(), Some(Refusal::Conflict));
        let gone = out(1, "Error response from daemon: No such container: x");
        assert!(gone.ok_or_gone() && !gone.ok_or_exists());
        let off = out(
            1,
            "Error response from daemon: container abc is not connected to network n",
        );
        assert_eq!(off.refusal(), Some(Refusal::NotFound));
        let other = out(1, "Error response from daemon: permission denied");
        assert_eq!(other.refusal(), Some(Refusal::Other));
        assert!(!other.ok_or_gone() && !other.ok_or_exists());
        assert_eq!(out(0, "").refusal(), None);
    }
}
