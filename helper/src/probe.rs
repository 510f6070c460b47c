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
            if !p.starts_with('/') || p.bytes().any(|b| b <= b' ' || b == 0x7f) {
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

/// One HTTP request; the connection and the answer each get at most a second (less when the
/// deadline is nearer, but never under 100 ms so a slow network still gets one fair try).
fn answer(addr: SocketAddr, path: &str, deadline: Instant) -> Result<(), String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut s = TcpStream::connect_timeout(&addr, left).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker-flow-health\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    if !head.starts_with(b"HTTP/") {
        return Err("answered, but not with HTTP".into());
    }
    // "HTTP/1.1 200": the status starts at byte 9.
    if head[9] == b'5' {
        return Err(format!(
            "answered {}",
            String::from_utf8_lossy(&head[9..12])
        ));
    }
    Ok(())
}
