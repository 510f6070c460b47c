//! Caddy's admin API, reached from inside the proxy container's own network namespace.
//!
//! Caddy's admin API has no authentication, so docker flow never publishes it: it listens on the
//! proxy container's loopback only, and docker flow reaches it by running this helper in that
//! container (`docker exec`), through the engine that runs the proxy. So only whoever may use
//! that engine can reconfigure the proxy, from wherever the user's docker reaches it.
//!
//! - `admin <addr> <method> <path> [<if-match>]`: one request; the body (for POST, PUT, PATCH)
//!   is read from stdin. Prints `<status> <etag or ->` on the first line, then the response body.
//!   Exit 0 when Caddy answered (any status), 3 when it did not within 2 s.
//! - `drain <addr> <settle-ms> <timeout-ms> <ip:port>...`: waits `settle-ms` (Caddy looks its
//!   records up again meanwhile), then until Caddy reports no request in flight to any of the
//!   addresses, at most `timeout-ms`. Prints `clear`, or `timeout <n>` (`?` when Caddy could not
//!   say). One `docker exec` per drain instead of one per poll.
//!
//! HTTP/1.0 without keep-alive is all this needs, and keeps the helper std-only: the response is
//! never chunked, and ends when Caddy closes the connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::protocol::admin;
use crate::protocol::drain::{self, Outcome};

/// What Caddy answered.
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    /// The body as text (a JSON API).
    pub body: String,
    /// The body as it came (a sealed message of the control network is not text).
    pub bytes: Vec<u8>,
}

pub fn run(args: &[String]) -> ExitCode {
    let (addr, method, path, if_match) = match args {
        [a, m, p] => (a, m, p, None),
        [a, m, p, tag] => (a, m, p, Some(tag.as_str())),
        _ => {
            eprintln!("usage: helper admin <addr> <method> <path> [<if-match>]");
            return ExitCode::from(2);
        }
    };
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("helper admin: `{addr}` is not an ip:port address");
        return ExitCode::from(2);
    };
    let mut body = Vec::new();
    if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        if let Err(e) = std::io::stdin().read_to_end(&mut body) {
            eprintln!("helper admin: cannot read the request body: {e}");
            return ExitCode::from(2);
        }
    }
    // Caddy restarts its admin endpoint on every config change: a refused or dropped connection
    // is tried again for up to 2 s (every request docker flow makes is safe to repeat).
    let started = Instant::now();
    loop {
        match request(addr, method, path, &body, if_match) {
            Ok(r) => {
                print!("{}{}", admin::head(r.status, r.etag.as_deref()), r.body);
                return ExitCode::SUCCESS;
            }
            Err(e) if started.elapsed() >= Duration::from_secs(2) => {
                eprintln!("helper admin: Caddy's admin API at {addr} does not answer: {e}");
                return ExitCode::from(admin::UNREACHABLE);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

pub fn drain(args: &[String]) -> ExitCode {
    let [addr, settle, timeout, targets @ ..] = args else {
        eprintln!("usage: helper drain <addr> <settle-ms> <timeout-ms> <ip:port>...");
        return ExitCode::from(2);
    };
    let (Ok(addr), Ok(settle), Ok(timeout)) = (
        addr.parse::<SocketAddr>(),
        settle.parse::<u64>(),
        timeout.parse::<u64>(),
    ) else {
        eprintln!("helper drain: expected <ip:port> <settle-ms> <timeout-ms>");
        return ExitCode::from(2);
    };
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(settle));
    let mut last = None;
    let mut most = 0;
    while started.elapsed() < Duration::from_millis(timeout) {
        // When Caddy cannot say, keep waiting: stopping an instance with requests in flight is
        // worse than waiting out the timeout.
        last = request(addr, "GET", "/reverse_proxy/upstreams", &[], None)
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| requests_to(&r.body, targets));
        most = most.max(last.unwrap_or(0));
        if last == Some(0) {
            print!("{}", drain::line(Outcome::Clear(most)));
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    print!("{}", drain::line(Outcome::TimedOut(last)));
    ExitCode::SUCCESS
}

/// One request to Caddy's admin API at `addr`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    if_match: Option<&str>,
) -> Result<Reply, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    // Caddy checks the Host of requests to a loopback admin address.
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(tag) = if_match {
        head.push_str(&format!("If-Match: {tag}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| e.to_string())?;
    // Bounded: the follower's name on the control network may be taken by a container that
    // answers without end.
    let mut raw = Vec::new();
    (&s).take(crate::http::MAX_BODY as u64 + (16 << 10))
        .read_to_end(&mut raw)
        .map_err(|e| e.to_string())?;
    parse(&raw).ok_or_else(|| "the answer is not HTTP".to_string())
}

/// An HTTP/1.x response read to its end.
fn parse(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let etag = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("etag"))
        .map(|(_, v)| v.trim().to_string());
    Some(Reply {
        status,
        etag,
        body: String::from_utf8_lossy(&raw[split + 4..]).into_owned(),
        bytes: raw[split + 4..].to_vec(),
    })
}

/// Requests in flight to `addresses` in Caddy's `/reverse_proxy/upstreams` list, a JSON array of
/// flat objects such as `{"address":"10.0.0.5:8080","num_requests":3,"fails":0}`. Caddy may list
/// an address more than once (its static and dynamic upstream pools), each entry with the same
/// count, so the largest per address counts; an address it does not list has none.
pub fn requests_to(listed: &str, addresses: &[String]) -> u64 {
    let entries = upstreams(listed);
    addresses
        .iter()
        .map(|a| {
            entries
                .iter()
                .filter(|(addr, _)| addr == a)
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0)
        })
        .sum()
}

/// Caddy's `/reverse_proxy/upstreams` answer: (address, requests in flight) of each upstream.
pub fn upstreams(listed: &str) -> Vec<(String, u64)> {
    listed
        .split('{')
        .skip(1)
        .filter_map(|obj| {
            let obj = obj.split('}').next()?;
            Some((
                field(obj, "address")?.trim_matches('"').to_string(),
                field(obj, "num_requests")?.parse().ok()?,
            ))
        })
        .collect()
}

/// The raw value of `"key":value` in one flat JSON object (no nested objects, no commas or
/// quotes inside strings: Caddy's addresses and counts have none).
fn field<'a>(obj: &'a str, key: &str) -> Option<&'a str> {
    obj.split(',').find_map(|pair| {
        let (k, v) = pair.split_once(':')?;
        (k.trim().trim_matches('"') == key).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_flight_count_each_address_once() {
        // As Caddy 2.11 lists them while three requests are in flight to .5.
        let listed = r#"[{"address":"192.168.128.5:8080","num_requests":3,"fails":0},
            {"address":"192.168.128.4:8080","num_requests":1,"fails":0},
            {"address":"192.168.128.5:8080","num_requests":3,"fails":0}]"#;
        let old = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(requests_to(listed, &old(&["192.168.128.5:8080"])), 3);
        assert_eq!(
            requests_to(listed, &old(&["192.168.128.5:8080", "192.168.128.4:8080"])),
            4
        );
        assert_eq!(requests_to(listed, &old(&["192.168.128.9:8080"])), 0);
        assert_eq!(requests_to("[]", &old(&["192.168.128.9:8080"])), 0);
    }

    #[test]
    fn responses_give_status_etag_and_body() {
        let r = parse(b"HTTP/1.0 412 Precondition Failed\r\nEtag: \"/config/ abc\"\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!(
            (r.status, r.etag.as_deref(), r.body.as_str()),
            (412, Some("\"/config/ abc\""), "{}")
        );
        let r = parse(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert_eq!((r.status, r.etag, r.body.as_str()), (200, None, ""));
        assert!(parse(b"garbage").is_none());
    }

    #[test]
    fn a_request_reaches_a_local_server_and_reads_its_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut sent = Vec::new();
            let mut buf = [0u8; 4096];
            while !sent.ends_with(b"[1]") {
                let n = c.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early");
                sent.extend_from_slice(&buf[..n]);
            }
            c.write_all(b"HTTP/1.0 200 OK\r\nEtag: \"x\"\r\n\r\n[1]")
                .unwrap();
            String::from_utf8_lossy(&sent).into_owned()
        });
        let r = request(addr, "PATCH", "/config/x", b"[1]", Some("\"x\"")).unwrap();
        let sent = server.join().unwrap();
        assert!(sent.starts_with("PATCH /config/x HTTP/1.0\r\n"), "{sent}");
        assert!(sent.contains("If-Match: \"x\"\r\n"), "{sent}");
        assert!(sent.ends_with("\r\n\r\n[1]"), "{sent}");
        assert_eq!((r.status, r.body.as_str()), (200, "[1]"));
    }
}
