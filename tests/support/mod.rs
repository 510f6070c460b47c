//! The test bed: runs the real `docker-flow` binary (standalone or as the installed plugin through
//! the real `docker` CLI) in a temporary project directory, against the real engine.

pub mod acme;
pub mod load;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub const CADDY_IMAGE: &str = "docker-flow-caddy:2.11.7";

/// What one run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn ok(&self) -> &Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(&self, code: i32, fragment: &str) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(fragment),
            "expected `{fragment}` in stderr:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        self
    }
}

/// Whether the end-to-end tests can run; with DOCKER_FLOW_E2E=1 a missing engine is a failure.
pub fn engine_available() -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var("DOCKER_FLOW_E2E").as_deref() == Ok("1") {
        panic!("DOCKER_FLOW_E2E=1 but the Docker engine does not answer `docker info`: run `make testbed`");
    }
    if !ok {
        eprintln!("skipping: no Docker engine (set DOCKER_FLOW_E2E=1 to make this a failure)");
    }
    ok
}

/// A free TCP port for a proxy to publish. It is taken below the kernel's ephemeral range: the
/// load tests open thousands of connections whose local ports come from that range, so a port
/// found free there can be taken by a client connection before the proxy binds it.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768)
        .clamp(12000, 65535);
    let span = low - 10000;
    let start = std::process::id().wrapping_mul(7919) % span;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(n < span, "no free port below {low}");
        let port = (10000 + (start + n * 101) % span) as u16;
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique name for this test run: project names, proxy names.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A project directory with its own proxy, cleaned up when dropped.
pub struct Bed {
    pub dir: tempfile::TempDir,
    pub project: String,
    pub proxy_name: String,
    pub http_port: u16,
    pub https_port: u16,
    pub admin_port: u16,
    env: Vec<(String, String)>,
}

impl Bed {
    pub fn new(prefix: &str) -> Bed {
        let project = unique(prefix);
        Bed {
            dir: tempfile::Builder::new()
                .prefix("docker-flow-test-")
                .tempdir()
                .unwrap(),
            proxy_name: format!("{project}-proxy"),
            project,
            http_port: free_port(),
            https_port: free_port(),
            admin_port: free_port(),
            env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, content: &str) -> &Bed {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Bed {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The standard demo project, `tests/fixtures/demo/`: `app` (demo-service) and a side
    /// target `db`, with this bed's project name, proxy and ports.
    pub fn demo(prefix: &str, delay_ms: u32) -> Bed {
        let bed = Bed::new(prefix);
        let fill = |file: &str| {
            let path = root().join("tests/fixtures/demo").join(file);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .replace("@PROJECT@", &bed.project)
                .replace("@DELAY_MS@", &delay_ms.to_string())
                .replace("@CADDY_IMAGE@", CADDY_IMAGE)
                .replace("@PROXY_NAME@", &bed.proxy_name)
                .replace("@HTTP_PORT@", &bed.http_port.to_string())
                .replace("@HTTPS_PORT@", &bed.https_port.to_string())
                .replace("@ADMIN_PORT@", &bed.admin_port.to_string())
        };
        bed.write("compose.yaml", &fill("compose.yaml"));
        bed.write("docker-flow.yml", &fill("docker-flow.yml"));
        bed
    }

    /// `program ARGS` in the project directory, with the bed's environment and none of the
    /// caller's docker flow settings.
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args).current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("FLOW") || k == "SCALE" || k.starts_with("COMPOSE_") {
                c.env_remove(k);
            }
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Runs `docker-flow ARGS` (standalone).
    pub fn flow(&self, args: &[&str]) -> Run {
        run(self.command(Path::new(env!("CARGO_BIN_EXE_docker-flow")), args))
    }

    /// Runs `docker-flow ARGS` from another working directory (the project is not there).
    pub fn flow_from(&self, cwd: &Path, args: &[&str]) -> Run {
        let mut c = self.command(Path::new(env!("CARGO_BIN_EXE_docker-flow")), args);
        c.current_dir(cwd);
        run(c)
    }

    /// Runs `docker-flow ARGS` with extra environment.
    pub fn flow_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut c = self.command(Path::new(env!("CARGO_BIN_EXE_docker-flow")), args);
        for (k, v) in env {
            c.env(k, v);
        }
        run(c)
    }

    /// Runs `docker ARGS` in the project directory (for `docker flow …` through the CLI).
    pub fn docker(&self, args: &[&str]) -> Run {
        run(self.command(Path::new("docker"), args))
    }

    /// What the proxy answers on `path` (must be 200): the first word of the body, the demo
    /// service's version.
    #[track_caller]
    pub fn version_at(&self, path: &str) -> String {
        let (code, body) = self
            .get(path)
            .unwrap_or_else(|| panic!("no answer on {path}"));
        assert_eq!(code, 200, "{path}: {body}");
        body.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// GET the proxy's path, with a fresh connection.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        load::get(("127.0.0.1", self.http_port), path)
    }

    /// `GET path` on this bed's proxy's admin API (see [`proxy_admin`]).
    pub fn proxy_admin(&self, path: &str) -> Option<String> {
        proxy_admin(&self.proxy_name, "GET", path, None)
    }

    /// Containers, networks and volumes of this project (and its proxy), for before/after checks.
    pub fn engine_snapshot(&self) -> String {
        let mut out = String::new();
        for args in [
            vec!["ps", "-a", "--format", "{{.Names}} {{.Image}} {{.State}}"],
            vec!["network", "ls", "--format", "{{.Name}}"],
            vec!["volume", "ls", "--format", "{{.Name}}"],
        ] {
            let o = Command::new("docker").args(&args).output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            let mut lines: Vec<&str> = text.lines().filter(|l| l.contains(&self.project)).collect();
            lines.sort_unstable();
            out.push_str(&lines.join("\n"));
            out.push('\n');
        }
        out
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let ids = docker_words(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
        ]);
        let mut rm = vec![
            "rm".to_string(),
            "-f".into(),
            "-v".into(),
            self.proxy_name.clone(),
            format!("{}-dns", self.proxy_name),
        ];
        rm.extend(ids);
        let _ = Command::new("docker").args(&rm).output();
        let nets = docker_words(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name={}", self.project),
        ]);
        for n in nets {
            // A proxy shared with another bed may still be attached: detach everything first.
            let attached = docker_words(&[
                "network",
                "inspect",
                "--format",
                "{{range .Containers}}{{.Name}} {{end}}",
                &n,
            ]);
            for c in attached {
                let _ = Command::new("docker")
                    .args(["network", "disconnect", "-f", &n, &c])
                    .output();
            }
            // Endpoints of many containers just removed can take a moment to be released.
            for _ in 0..20 {
                let rm = Command::new("docker").args(["network", "rm", &n]).output();
                if rm.is_ok_and(|o| o.status.success()) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        }
        for v in ["data", "dns", "tls"] {
            let _ = Command::new("docker")
                .args(["volume", "rm", "-f", &format!("{}-{v}", self.proxy_name)])
                .output();
        }
    }
}

/// `method path` (with `body`) on the admin API of the proxy container `proxy`, through the
/// engine: docker flow's helper in that container, as docker flow itself asks. The answer's body
/// when Caddy says 200, else None.
pub fn proxy_admin(proxy: &str, method: &str, path: &str, body: Option<&str>) -> Option<String> {
    let helper = docker_words(&["inspect", "--format", "{{.Path}}", proxy]);
    let mut child = Command::new("docker")
        .args(["exec", "-i", proxy, helper.first()?])
        .args(["admin", "127.0.0.1:2019", method, path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    stdin.write_all(body.unwrap_or_default().as_bytes()).ok()?;
    drop(stdin);
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, body) = text.split_once('\n')?;
    status.starts_with("200 ").then(|| body.to_string())
}

/// `docker ARGS`, which must succeed: its stdout, trimmed.
#[track_caller]
pub fn docker_ok(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The whitespace-separated words `docker ARGS` prints (names, ids); none on failure.
pub fn docker_words(args: &[&str]) -> Vec<String> {
    docker_words_at(&[], args)
}

/// `docker GLOBALS ARGS`: against another engine (`-H …`, `--context …`).
pub fn docker_at(globals: &[&str], args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(globals)
        .args(args)
        .output()
        .unwrap()
}

/// The whitespace-separated words `docker GLOBALS ARGS` prints; none on failure.
pub fn docker_words_at(globals: &[&str], args: &[&str]) -> Vec<String> {
    String::from_utf8_lossy(&docker_at(globals, args).stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

pub fn run(mut c: Command) -> Run {
    let o = c
        .output()
        .unwrap_or_else(|e| panic!("cannot run {c:?}: {e}"));
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// The repository root (for fixtures).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A server on `host` that answers 200 and records each request line (a stand-in for Docker Flow
/// Proxy's reconfigure endpoint).
pub fn recorder(host: &str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind((host, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_ok() {
                log.lock().unwrap().push(line.trim().to_string());
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                    break;
                }
            }
            let mut s = stream;
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: close\r\n\r\n{\"Status\":\"OK\"}\n");
        }
    });
    (port, seen)
}

/// Runs two of `command` at once: one must run, the other be refused for the deploy lock (exit
/// 4) naming its holder, a `deploy`. The refused one's stderr.
#[track_caller]
pub fn one_admitted(command: impl Fn() -> Command) -> String {
    let spawn = || {
        command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(4)),
        "expected one success and one refusal: {codes:?}\nfirst:\n{}\nsecond:\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    let loser = if a.status.code() == Some(4) { &a } else { &b };
    let err = String::from_utf8_lossy(&loser.stderr).to_string();
    assert!(
        err.contains("is locked by `deploy,proxy,stop-old` (pid"),
        "the holder is not named:\n{err}"
    );
    err
}
