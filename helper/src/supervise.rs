//! `proxy <dir> <dns-addr> [--sync <follower> <admin-addr>] <program> [<arg>...]`: the Caddy
//! driver's proxy container's first process (with `--sync`, a replica of the proxy as a Swarm
//! service: see `replicas`).
//!
//! It serves the rotation's records (`dns`) on `dns-addr`, the container's loopback, and runs
//! Caddy as its child, so Caddy and its resolver share one network namespace and one lifecycle:
//! nothing of the proxy's control surface is on a network other containers share, and a restart
//! of the container restarts both. As the container's PID 1 it forwards the stop signals to Caddy
//! (a PID 1 without a handler ignores them) and exits with Caddy's status. The helper is built with
//! `panic=abort`, so a resolver that fails ends the whole container, and Docker's restart policy
//! brings both back. Processes that `docker exec` starts are not its children (the runtime reaps
//! them), and Caddy starts none, so it has no orphans to reap.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

/// The child's pid, for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);

// std has no signal API; these two libc calls are all the forwarding needs (the helper stays
// std-only, linked statically against the C library).
extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn kill(pid: i32, sig: i32) -> i32;
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGQUIT: i32 = 3;
const SIGUSR1: i32 = 10;
const SIGUSR2: i32 = 12;
const SIGTERM: i32 = 15;

extern "C" fn forward(sig: i32) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // Async-signal-safe: one kill(2).
        unsafe { kill(pid, sig) };
    }
}

pub fn run(args: &[String]) -> ExitCode {
    const USAGE: &str =
        "usage: helper proxy <dir> <dns-addr> [--sync <follower> <key-file> <admin-addr>] <program> [<arg>...]";
    let [dir, dns, rest @ ..] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    // A replica of the proxy as a Swarm service copies the follower's state (`replicas`).
    let (sync, rest) = match rest {
        [flag, follower, key, admin, rest @ ..] if flag == "--sync" => {
            let Ok(admin) = admin.parse::<SocketAddr>() else {
                eprintln!("helper proxy: `{admin}` is not an ip:port address");
                return ExitCode::from(2);
            };
            (Some((follower.clone(), PathBuf::from(key), admin)), rest)
        }
        _ => (None, rest),
    };
    let [program, rest @ ..] = rest else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(dns) = dns.parse::<SocketAddr>() else {
        eprintln!("helper proxy: `{dns}` is not an ip:port address");
        return ExitCode::from(2);
    };
    let socket = match UdpSocket::bind(dns) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("helper proxy: cannot serve the rotation on udp {dns}: {e}");
            return ExitCode::from(1);
        }
    };
    for sig in [SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM] {
        unsafe { signal(sig, forward) };
    }
    let mut child = match Command::new(program).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("helper proxy: cannot start `{program}`: {e}");
            return ExitCode::from(127);
        }
    };
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    let dir = PathBuf::from(dir);
    std::thread::spawn(move || {
        eprintln!(
            "helper proxy: serving the records in {} on udp {dns}",
            dir.display()
        );
        super::dns::serve_on(&socket, &dir)
    });
    if let Some((follower, key, admin)) = sync {
        let dir = PathBuf::from(args[0].clone());
        eprintln!("helper proxy: keeping the rotation and Caddy's config on {follower}'s");
        std::thread::spawn(move || super::replicas::sync(&dir, follower, key, admin));
    }
    match child.wait() {
        Ok(status) => {
            let code = status.code().unwrap_or_else(|| {
                128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
            });
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("helper proxy: lost `{program}`: {e}");
            ExitCode::from(1)
        }
    }
}
