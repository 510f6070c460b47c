//! `helper probe <within-ms> [--path /p] <ip:port>...`: checks instances from inside their
//! network.
//!
//! Each address must accept a connection and answer `GET <path>` (default `/`) with an HTTP
//! status below 500 (a 503
//! says "not ready yet"). Addresses are tried every 100 ms until all have answered or
//! `within-ms` has passed. One line per address on stdout: `ok <addr>` or `wait <addr> <reason>`.
//! Exit 0 when all answered, 1 otherwise, 2 on bad usage.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::protocol::{self, probe::Finding};

pub fn run(args: &[String]) -> ExitCode {
    let Some((within, mut addrs)) = args.split_first() else {
        eprintln!("usage: helper probe <within-ms> [--path /p] <ip:port>...");
        return ExitCode::from(2);
    };
    let mut path = "/";
    if let [flag, p, rest @ ..] = addrs {
        if flag == "--path" {
            // docker flow checks the path (a `/` and a strict character set); a request line
            // with a space or CR/LF in it is still refused here.
            if !is_request_path(p) {
                eprintln!("probe: `{p}` is not a request path");
                return ExitCode::from(2);
            }
            path = p;
            addrs = rest;
        }
    }
    let Ok(within) = within.parse::<u64>() else {
        eprintln!("probe: `{within}` is not a number of milliseconds");
        return ExitCode::from(2);
    };
    let mut targets = Vec::new();
    for a in addrs {
        match a.parse::<SocketAddr>() {
            Ok(addr) => targets.push((a.clone(), addr, None::<String>, false)),
            Err(_) => {
                eprintln!("probe: `{a}` is not an ip:port address");
                return ExitCode::from(2);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_millis(within);
    loop {
        for (_, addr, why, ok) in targets.iter_mut().filter(|t| !t.3) {
            match answer(*addr, path, deadline) {
                Ok(()) => *ok = true,
                Err(e) => *why = Some(e),
            }
        }
        if targets.iter().all(|t| t.3) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut all = true;
    for (text, _, why, ok) in &targets {
        let finding = if *ok {
            Finding::Answered(text.clone())
        } else {
            all = false;
            Finding::Waiting(
                text.clone(),
                why.clone().unwrap_or_else(|| "no answer yet".into()),
            )
        };
        print!("{}", protocol::probe::line(&finding));
    }
    if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Whether `p` can be the path of a request line: a `/`, and no space, CR, LF or other
/// control character that would end or split the line.
pub(crate) fn is_request_path(p: &str) -> bool {
    p.starts_with('/') && !p.bytes().any(|b| b <= b' ' || b == 0x7f)
}

/// One HTTP request; the connection and the answer each get at most a second (less when the
/// deadline is nearer, but never under 100 ms so a slow network still gets one fair try).
pub(crate) fn answer(addr: SocketAddr, path: &str, deadline: Instant) -> Result<(), String> {
    // One attempt has at most a second, and never outlives the probe's deadline: the time
    // bounds the attempt as a whole, so an answer that trickles in byte by byte cannot hold it.
    let until = Instant::now()
        + deadline
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
    let left = || {
        let d = until.saturating_duration_since(Instant::now());
        (!d.is_zero()).then_some(d).ok_or("answered too slowly")
    };
    // What went wrong in words a user reads: a timeout is no answer in time, not the OS's
    // "Resource temporarily unavailable".
    let limit = until.saturating_duration_since(Instant::now());
    let said = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no answer within {} ms at {addr}{path}", limit.as_millis())
        }
        std::io::ErrorKind::ConnectionRefused => format!("nothing listens at {addr}"),
        _ => format!("{e} at {addr}{path}"),
    };
    let mut s = TcpStream::connect_timeout(&addr, left()?).map_err(said)?;
    s.set_write_timeout(Some(left()?)).map_err(said)?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker-flow-health\r\n\r\n").as_bytes())
        .map_err(said)?;
    let mut head = Vec::new();
    let mut buf = [0u8; 128];
    while !head.contains(&b'\n') && head.len() < 256 {
        s.set_read_timeout(Some(left()?)).map_err(said)?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(said(e)),
        }
    }
    status(&head).and_then(|code| {
        if code >= 500 {
            Err(format!("answered {code}"))
        } else {
            Ok(())
        }
    })
}

/// The status code of an HTTP status line (`HTTP/1.1 200 OK`, `HTTP/2 503`).
fn status(head: &[u8]) -> Result<u16, String> {
    let line = String::from_utf8_lossy(head);
    let mut words = line.lines().next().unwrap_or_default().split_whitespace();
    if !words.next().is_some_and(|w| w.starts_with("HTTP/")) {
        return Err("answered, but not with HTTP".into());
    }
    words
        .next()
        .filter(|c| c.len() == 3)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| "answered, but with no HTTP status".into())
}

#[cfg(test)]
mod tests {
    use super::status;

    #[test]
    fn the_status_is_read_from_any_http_version() {
        assert_eq!(status(b"HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(status(b"HTTP/2 503\r\n"), Ok(503));
        assert_eq!(status(b"HTTP/1.0 404 Not Found"), Ok(404));
        assert!(status(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(status(b"HTTP/1.1 2000 OK\r\n").is_err());
    }

    #[test]
    fn a_trickling_answer_cannot_hold_the_probe_past_its_deadline() {
        use std::io::{Read, Write};
        use std::time::{Duration, Instant};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut req = [0u8; 64];
            let _ = c.read(&mut req);
            for b in b"HTTP/1.1 200 OK\r\n" {
                let _ = c.write_all(&[*b]);
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        let started = Instant::now();
        let r = super::answer(addr, "/", started + Duration::from_millis(700));
        assert!(r.is_err(), "{r:?}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn a_probe_says_what_went_wrong_in_words() {
        use std::time::{Duration, Instant};
        // Accepts, never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let held = std::thread::spawn(move || silent.accept().map(|(c, _)| c));
        let r = super::answer(addr, "/health", Instant::now() + Duration::from_millis(300));
        let e = r.unwrap_err();
        assert!(
            e.starts_with("no answer within ") && e.ends_with(&format!("ms at {addr}/health")),
            "{e}"
        );
        drop(held);
        // Nothing listens.
        let gone = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = super::answer(gone, "/", Instant::now() + Duration::from_millis(300)).unwrap_err();
        assert_eq!(e, format!("nothing listens at {gone}"));
    }
}
