//! The server side of the little HTTP/1.0 the follower speaks (to the replicas on the control
//! network, and to docker flow on its loopback): one request per connection, every read bounded
//! (a line, the head, the body, the time), and a bounded number of connections at once, in all
//! and from one address, so that a container on the control network can neither exhaust the
//! follower's memory nor its threads, nor crowd the replicas out.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest head (request line and headers) read.
const MAX_HEAD: u64 = 16 << 10;
/// The largest body read: Caddy's config, which holds no certificate (those are files).
pub const MAX_BODY: usize = 8 << 20;
/// Connections served at once, in all and from one address. A replica holds two at most (its
/// state request, held up to two seconds, and a report).
const MAX_CONNECTIONS: usize = 64;
const MAX_PER_ADDRESS: usize = 4;
/// How long a request may take to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One HTTP request: method, path, `If-Match`, body.
pub struct Request {
    pub method: String,
    pub path: String,
    pub if_match: Option<String>,
    pub body: Vec<u8>,
}

/// Why a request was not read.
#[derive(Debug, PartialEq)]
pub enum Unread {
    /// Not HTTP, cut short, or too slow: no answer.
    Broken(String),
    /// A body larger than `MAX_BODY`: answered 413.
    TooLarge,
}

pub fn read_request(conn: &TcpStream) -> Result<Request, Unread> {
    let broken = |e: std::io::Error| Unread::Broken(e.to_string());
    conn.set_read_timeout(Some(READ_TIMEOUT)).map_err(broken)?;
    read_from(conn)
}

fn read_from(conn: impl Read) -> Result<Request, Unread> {
    let broken = |e: std::io::Error| Unread::Broken(e.to_string());
    let mut head = BufReader::new(conn.take(MAX_HEAD));
    let line = |head: &mut BufReader<_>| -> Result<String, Unread> {
        let mut l = String::new();
        head.read_line(&mut l).map_err(broken)?;
        if !l.ends_with('\n') {
            return Err(Unread::Broken("the head is cut short or too long".into()));
        }
        Ok(l)
    };
    let first = line(&mut head)?;
    let mut words = first.split_whitespace();
    let (Some(method), Some(path)) = (words.next(), words.next()) else {
        return Err(Unread::Broken("not an HTTP request".into()));
    };
    let (mut length, mut if_match) = (0usize, None);
    loop {
        let l = line(&mut head)?;
        if l.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    length = v
                        .trim()
                        .parse()
                        .map_err(|_| Unread::Broken("a Content-Length that is no number".into()))?
                }
                "if-match" => if_match = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    if length > MAX_BODY {
        return Err(Unread::TooLarge);
    }
    // What the head's reader holds beyond the head is the body's start.
    let buffered = head.buffer().to_vec();
    let mut rest = head.into_inner().into_inner();
    let mut body = buffered;
    body.truncate(length);
    let missing = length - body.len();
    let got = (&mut rest)
        .take(missing as u64)
        .read_to_end(&mut body)
        .map_err(broken)?;
    if got < missing {
        return Err(Unread::Broken("the body is cut short".into()));
    }
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        if_match,
        body,
    })
}

pub fn respond(
    mut conn: TcpStream,
    status: u16,
    etag: Option<&str>,
    body: &[u8],
) -> Result<(), String> {
    let mut head = format!(
        "HTTP/1.0 {status} {}\r\nContent-Length: {}\r\n",
        if status < 300 { "OK" } else { "Not OK" },
        body.len()
    );
    if let Some(tag) = etag {
        head.push_str(&format!("Etag: {tag}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())
        .and_then(|()| conn.write_all(body))
        .map_err(|e| e.to_string())
}

/// Serves `listener`, each connection on a thread of its own while within the bounds; one
/// beyond them is closed unanswered.
pub fn serve(listener: TcpListener, answer: impl Fn(TcpStream) + Send + Sync + 'static) {
    let answer = Arc::new(answer);
    let open: Arc<Mutex<BTreeMap<IpAddr, usize>>> = Arc::default();
    for conn in listener.incoming().flatten() {
        let Ok(peer) = conn.peer_addr().map(|a| a.ip()) else {
            continue;
        };
        {
            let Ok(mut open) = open.lock() else {
                continue;
            };
            let all: usize = open.values().sum();
            let mine = open.entry(peer).or_default();
            if all >= MAX_CONNECTIONS || *mine >= MAX_PER_ADDRESS {
                continue;
            }
            *mine += 1;
        }
        let (answer, open) = (Arc::clone(&answer), Arc::clone(&open));
        std::thread::spawn(move || {
            answer(conn);
            if let Ok(mut open) = open.lock() {
                if let Some(n) = open.get_mut(&peer) {
                    *n -= 1;
                    if *n == 0 {
                        open.remove(&peer);
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_within_its_bounds() {
        let r = read_from(&b"POST /report HTTP/1.0\r\nContent-Length: 5\r\nIf-Match: \"x\"\r\n\r\nhello, and more"[..]).unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/report"));
        assert_eq!(r.body, b"hello");
        assert_eq!(r.if_match.as_deref(), Some("\"x\""));
        let big = format!(
            "POST / HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(read_from(big.as_bytes()).err(), Some(Unread::TooLarge));
        let endless = vec![b'a'; (MAX_HEAD + 10) as usize];
        assert!(matches!(read_from(&endless[..]), Err(Unread::Broken(_))));
        assert!(matches!(
            read_from(&b"POST / HTTP/1.0\r\nContent-Length: 9\r\n\r\nshort"[..]),
            Err(Unread::Broken(_))
        ));
        assert!(matches!(
            read_from(&b"POST / HTTP/1.0\r\nContent-Length: lots\r\n\r\n"[..]),
            Err(Unread::Broken(_))
        ));
    }
}
