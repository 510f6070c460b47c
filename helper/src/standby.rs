//! A release kept warm by `--keep-old`: its members wait beside the route's record, so that a
//! rollback is one swap here, done before docker flow reads anything else.
//!
//! The standby (`.<name>.standby`) is written by a run that holds the deploy lock, when it keeps
//! the old release running out of rotation, and says until when it may be swapped in. Every
//! later run that holds the lock ends it (`settle`) before it reads the record, so a swap never
//! happens behind a run that changes the route, and a swap that happened before is what that run
//! reads. The records' lock makes each of these one step.
//!
//! - `standby <dir> <name> <until> [--follow <network> <service,...>] [<container>@<ip>...]`:
//!   writes the standby (`until`: unix seconds; on Swarm mode, the services the record is to
//!   follow once swapped in, as `set` takes them); with no members, removes it.
//! - `swap <dir> <name> <now> <port> <path> [--swarm <socket>] [<container>...]`: when the
//!   standby is there, its time is ahead of `now`, and each of its members answers `GET <path>`
//!   on `port` at its address (below 500, as `probe` asks) and is none of the containers given
//!   (those Docker reports unhealthy), the record becomes the standby's members (and follows
//!   what the standby says) and the standby is removed; the record it replaced is printed. Exit
//!   3 when there is nothing to swap (said on stderr). With `--swarm` (the follower of the proxy
//!   service, which is on no route network and cannot ask the members) each member must instead
//!   be a task Swarm runs and wants running, as the engine at `socket` says: what the follower
//!   trusts to keep a record on Swarm's tasks (running means healthy for a task with a
//!   healthcheck).
//! - `settle <dir> <name>`: removes the standby and prints the record, as `get` does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::protocol;
use crate::{dns, follow, probe};

/// How long a warm release's members have to answer before a swap.
const PROBE_WITHIN: Duration = Duration::from_secs(1);

fn path(dir: &Path, name: &str) -> Option<PathBuf> {
    dns::record_path(dir, name)?;
    Some(dir.join(protocol::standby::file(name)))
}

fn remove(path: &Path) -> Result<(), String> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
        _ => Ok(()),
    }
}

pub fn standby(args: &[String]) -> ExitCode {
    const USAGE: &str = "usage: helper standby <dir> <name> <until> [--follow <network> <service,...>] [<container>@<ip>...]";
    let [dir, name, until, rest @ ..] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let dir = Path::new(dir);
    let (Some(path), Ok(until)) = (path(dir, name), until.parse::<u64>()) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (follow, members) = match dns::parse_members(rest) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("helper standby: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut text = protocol::standby::header(until);
    if let Some((network, services)) = &follow {
        let services: Vec<&str> = services.iter().map(String::as_str).collect();
        text.push_str(&protocol::record::follow_spec(network, &services));
    }
    for (c, ip) in &members {
        text.push_str(&protocol::record::line(ip, c));
    }
    let done = dns::lock(dir).and_then(|_lock| {
        if members.is_empty() {
            return remove(&path);
        }
        let tmp = path.with_file_name(format!("{}.new", protocol::standby::file(name)));
        std::fs::write(&tmp, &text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| e.to_string())
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper standby: {e}");
            ExitCode::from(1)
        }
    }
}

pub fn swap(args: &[String]) -> ExitCode {
    const USAGE: &str =
        "usage: helper swap <dir> <name> <now> <port> <path> [--swarm <socket>] [<container>...]";
    let [dir, name, now, port, probe_path, rest @ ..] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (swarm, unhealthy) = match rest {
        [flag, socket, unhealthy @ ..] if flag == "--swarm" => (Some(socket.as_str()), unhealthy),
        [flag, ..] if flag == "--swarm" => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        unhealthy => (None, unhealthy),
    };
    let dir = Path::new(dir);
    let (Some(path), Ok(now), Ok(port)) =
        (path(dir, name), now.parse::<u64>(), port.parse::<u16>())
    else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if !probe::is_request_path(probe_path) {
        eprintln!("helper swap: `{probe_path}` is not a request path");
        return ExitCode::from(2);
    }
    let swapped = dns::lock(dir).and_then(|_lock| {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err("no release is kept warm".to_string()))
            }
            Err(e) => return Err(e.to_string()),
        };
        let Some(protocol::standby::Standby {
            until,
            follow,
            members,
        }) = protocol::standby::parse(&text)
        else {
            return Ok(Err("the standby is unreadable".to_string()));
        };
        if until <= now {
            return Ok(Err("the warm release's time is up".to_string()));
        }
        if members.is_empty() {
            return Ok(Err("the standby has no member".to_string()));
        }
        let ready = match swarm {
            Some(socket) => swarm_runs(socket, follow.as_ref(), &members),
            None => answer(&members, port, probe_path, unhealthy),
        };
        if let Err(why) = ready {
            return Ok(Err(why));
        }
        let before = dns::members(dir, name);
        dns::write_follow(dir, name, &follow)?;
        dns::write(dir, name, &members)?;
        remove(&path)?;
        Ok(Ok(before))
    });
    match swapped {
        Ok(Ok(before)) => {
            for (c, ip) in before {
                print!("{}", protocol::record::line(&ip, &c));
            }
            ExitCode::SUCCESS
        }
        Ok(Err(why)) => {
            eprintln!("{why}");
            ExitCode::from(protocol::standby::NOTHING)
        }
        Err(e) => {
            eprintln!("helper swap: {e}");
            ExitCode::from(1)
        }
    }
}

/// Whether each member answers where the proxy will send it requests, as the probe that gates
/// a release without a healthcheck does, and is none of `unhealthy` (Docker's verdict).
fn answer(
    members: &[(String, String)],
    port: u16,
    path: &str,
    unhealthy: &[String],
) -> Result<(), String> {
    let deadline = Instant::now() + PROBE_WITHIN;
    for (c, ip) in members {
        if unhealthy.contains(c) {
            return Err(format!("{c} is unhealthy"));
        }
        let addr = format!("{ip}:{port}");
        addr.parse::<SocketAddr>()
            .map_err(|e| e.to_string())
            .and_then(|a| probe::answer(a, path, deadline))
            .map_err(|why| format!("{c} does not answer at {addr}: {why}"))?;
    }
    Ok(())
}

/// Whether Swarm runs (and wants running) each member, as a task of the services `follow`
/// names, at its address on the route network.
fn swarm_runs(
    socket: &str,
    follow: Option<&(String, Vec<String>)>,
    members: &[(String, String)],
) -> Result<(), String> {
    let Some((network, services)) = follow else {
        return Err("the standby names no Swarm service".into());
    };
    let mut running = Vec::new();
    for service in services {
        running.extend(follow::running_tasks(socket, service, network)?);
    }
    match members.iter().find(|m| !running.contains(m)) {
        Some((c, ip)) => Err(format!("Swarm does not run {c} at {ip}")),
        None => Ok(()),
    }
}

pub fn settle(args: &[String]) -> ExitCode {
    let [dir, name] = args else {
        eprintln!("usage: helper settle <dir> <name>");
        return ExitCode::from(2);
    };
    let dir_path = Path::new(dir);
    let Some(path) = path(dir_path, name) else {
        eprintln!("helper settle: `{name}` is not a DNS name");
        return ExitCode::from(2);
    };
    if let Err(e) = dns::lock(dir_path).and_then(|_lock| remove(&path)) {
        eprintln!("helper settle: {e}");
        return ExitCode::from(1);
    }
    dns::get(&[dir.clone(), name.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn run(f: fn(&[String]) -> ExitCode, args: &[&str]) -> ExitCode {
        f(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// An instance answering 200 on 127.0.0.1 (127.0.0.2, the same port, refuses): its port.
    fn instance() -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let _ = s.read(&mut [0u8; 512]);
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            }
        });
        port.to_string()
    }

    /// The green release live, the blue one (at `blue`) kept warm until 1000.
    fn setup(blue: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        assert_eq!(
            run(dns::set, &[&d, "app.p.dflow", "p-app-green-1@127.0.0.3"]),
            ExitCode::SUCCESS
        );
        let member = format!("p-app-blue-1@{blue}");
        assert_eq!(
            run(standby, &[&d, "app.p.dflow", "1000", &member]),
            ExitCode::SUCCESS
        );
        (dir, d)
    }

    fn record(dir: &tempfile::TempDir) -> Vec<(String, String)> {
        dns::members(dir.path(), "app.p.dflow")
    }

    fn green() -> Vec<(String, String)> {
        vec![("p-app-green-1".into(), "127.0.0.3".into())]
    }

    #[test]
    fn a_swap_puts_the_standby_in_the_record_once() {
        let port = instance();
        let (dir, d) = setup("127.0.0.1");
        assert_eq!(
            run(swap, &[&d, "app.p.dflow", "999", &port, "/"]),
            ExitCode::SUCCESS
        );
        assert_eq!(record(&dir), [("p-app-blue-1".into(), "127.0.0.1".into())]);
        // The standby is used up: a second swap finds nothing and changes nothing.
        assert_eq!(
            run(swap, &[&d, "app.p.dflow", "999", &port, "/"]),
            ExitCode::from(protocol::standby::NOTHING)
        );
        assert_eq!(record(&dir), [("p-app-blue-1".into(), "127.0.0.1".into())]);
    }

    #[test]
    fn no_swap_after_its_time_to_a_member_unhealthy_or_silent_or_after_a_settle() {
        let port = instance();
        let nothing = ExitCode::from(protocol::standby::NOTHING);
        let (dir, d) = setup("127.0.0.1");
        let swap_at = |now: &str, unhealthy: &[&str]| {
            let mut a = vec![d.as_str(), "app.p.dflow", now, &port, "/"];
            a.extend(unhealthy);
            run(swap, &a)
        };
        assert_eq!(swap_at("1000", &[]), nothing);
        assert_eq!(swap_at("999", &["p-app-blue-1"]), nothing);
        assert_eq!(record(&dir), green());
        assert_eq!(run(settle, &[&d, "app.p.dflow"]), ExitCode::SUCCESS);
        assert_eq!(swap_at("999", &[]), nothing);
        assert_eq!(record(&dir), green());
        // No members: the standby is removed.
        run(
            standby,
            &[&d, "app.p.dflow", "1000", "p-app-blue-1@127.0.0.1"],
        );
        run(standby, &[&d, "app.p.dflow", "1000"]);
        assert_eq!(swap_at("999", &[]), nothing);
        // Nothing answers at the member's address (restarted elsewhere, say).
        let (dir, d) = setup("127.0.0.2");
        assert_eq!(run(swap, &[&d, "app.p.dflow", "999", &port, "/"]), nothing);
        assert_eq!(record(&dir), green());
    }

    #[test]
    fn on_swarm_mode_the_swapped_record_follows_the_warm_services() {
        let port = instance();
        let (dir, d) = setup("127.0.0.1");
        let follow = ["--follow", "dflow-p-app", "p_app-blue"];
        let mut a = vec![d.as_str(), "app.p.dflow", "1000"];
        a.extend(follow);
        a.push("p_app-blue.1.x@127.0.0.1");
        assert_eq!(run(standby, &a), ExitCode::SUCCESS);
        assert_eq!(
            run(swap, &[&d, "app.p.dflow", "999", &port, "/"]),
            ExitCode::SUCCESS
        );
        assert_eq!(
            record(&dir),
            [("p_app-blue.1.x".into(), "127.0.0.1".into())]
        );
        let spec = std::fs::read_to_string(
            dir.path()
                .join(protocol::record::follow_file("app.p.dflow")),
        )
        .unwrap();
        assert_eq!(
            protocol::record::parse_follow(&spec),
            Some(("dflow-p-app".into(), vec!["p_app-blue".into()]))
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        let (_dir, d) = setup("127.0.0.1");
        let usage = ExitCode::from(2);
        assert_eq!(run(standby, &[&d, "../x", "1000", "c@10.0.0.2"]), usage);
        assert_eq!(run(standby, &[&d, "app.p.dflow", "soon"]), usage);
        assert_eq!(
            run(standby, &[&d, "app.p.dflow", "1000", "c@not-an-ip"]),
            usage
        );
        assert_eq!(run(swap, &[&d, "app.p.dflow", "999", "80"]), usage);
        assert_eq!(run(swap, &[&d, "app.p.dflow", "999", "80", "/a b"]), usage);
        assert_eq!(
            run(swap, &[&d, "app.p.dflow", "999", "80", "/", "--swarm"]),
            usage
        );
    }

    /// An engine's socket that answers every request with the tasks JSON `tasks`.
    fn engine(dir: &Path, tasks: &'static str) -> String {
        let path = dir.join("engine.sock");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                // The whole request first (the client writes it in parts).
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                    request.push(byte[0]);
                }
                let _ = write!(s, "HTTP/1.0 200 OK\r\n\r\n{tasks}");
            }
        });
        path.display().to_string()
    }

    #[test]
    fn with_swarm_the_follower_swaps_to_tasks_swarm_runs_without_asking_them() {
        // Nothing answers at the members' addresses: only Swarm's word counts.
        let nothing = ExitCode::from(protocol::standby::NOTHING);
        let sockets = tempfile::tempdir().unwrap();
        let runs = engine(
            sockets.path(),
            r#"[{"ID":"x","Slot":1,"DesiredState":"running","Status":{"State":"running"},
                "NetworksAttachments":[{"Network":{"Spec":{"Name":"dflow-p-app"}},"Addresses":["127.0.0.2/24"]}]}]"#,
        );
        let stopping = tempfile::tempdir().unwrap();
        let stops = engine(
            stopping.path(),
            r#"[{"ID":"x","Slot":1,"DesiredState":"shutdown","Status":{"State":"running"},
                "NetworksAttachments":[{"Network":{"Spec":{"Name":"dflow-p-app"}},"Addresses":["127.0.0.2/24"]}]}]"#,
        );
        let warm = |with_follow: bool| {
            let (dir, d) = setup("127.0.0.2");
            let mut a = vec![d.as_str(), "app.p.dflow", "1000"];
            if with_follow {
                a.extend(["--follow", "dflow-p-app", "p_app-blue"]);
            }
            a.push("p_app-blue.1.x@127.0.0.2");
            assert_eq!(run(standby, &a), ExitCode::SUCCESS);
            (dir, d)
        };
        let swap_with = |d: &str, socket: &str| {
            run(
                swap,
                &[d, "app.p.dflow", "999", "1", "/", "--swarm", socket],
            )
        };
        let (dir, d) = warm(true);
        assert_eq!(swap_with(&d, &stops), nothing);
        assert_eq!(record(&dir), green());
        assert_eq!(swap_with(&d, &runs), ExitCode::SUCCESS);
        assert_eq!(
            record(&dir),
            [("p_app-blue.1.x".into(), "127.0.0.2".into())]
        );
        // A standby that names no service, or an engine that does not answer: nothing.
        let (dir, d) = warm(false);
        assert_eq!(swap_with(&d, &runs), nothing);
        assert_eq!(record(&dir), green());
        let (dir, d) = warm(true);
        assert_eq!(swap_with(&d, "/nonexistent.sock"), nothing);
        assert_eq!(record(&dir), green());
    }
}
