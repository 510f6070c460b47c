//! The rotation: a tiny authoritative DNS responder and its records.
//!
//! Caddy resolves each route's upstreams from an A record (its `dynamic_upstreams`, refreshed
//! every 200 ms) served here, so docker flow changes who gets traffic by rewriting a record, never
//! Caddy's config (every config change makes Caddy drop requests). Taking an instance out of the
//! record stops new requests to it while the ones in flight finish, before it is ever stopped.
//!
//! - `serve_on`: answers A queries over UDP for the names that have a file in `<dir>` (run by
//!   `proxy`, inside the proxy container).
//! - `set <dir> <name> [<container>@<ip>...]`: replaces a record at once (write, then rename).
//! - `get <dir> <name>`: prints a record, one `<ip> <container>` per line (nothing if none).

use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::protocol;

/// Answers queries on `socket` from the records in `dir`, for ever.
pub fn serve_on(socket: &UdpSocket, dir: &Path) -> ! {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if let Some(reply) = respond(&buf[..n], dir) {
            let _ = socket.send_to(&reply, from);
        }
    }
}

pub fn set(args: &[String]) -> ExitCode {
    let Some((dir, rest)) = args.split_first() else {
        eprintln!("usage: helper set <dir> <name> [<container>@<ip>...]");
        return ExitCode::from(2);
    };
    let Some((name, members)) = rest.split_first() else {
        eprintln!("usage: helper set <dir> <name> [<container>@<ip>...]");
        return ExitCode::from(2);
    };
    let Some(path) = record_path(Path::new(dir), name) else {
        eprintln!("helper set: `{name}` is not a DNS name");
        return ExitCode::from(2);
    };
    let mut text = String::new();
    for m in members {
        match protocol::record::parse_member_arg(m).map(|(c, ip)| (c, ip.parse::<Ipv4Addr>())) {
            Some((container, Ok(ip))) => {
                text.push_str(&protocol::record::line(&ip.to_string(), container));
            }
            _ => {
                eprintln!("helper set: `{m}` is not <container>@<ipv4>");
                return ExitCode::from(2);
            }
        }
    }
    let tmp = path.with_file_name(format!(".{name}.new"));
    match std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper set: cannot write {}: {e}", path.display());
            ExitCode::from(1)
        }
    }
}

pub fn get(args: &[String]) -> ExitCode {
    let [dir, name] = args else {
        eprintln!("usage: helper get <dir> <name>");
        return ExitCode::from(2);
    };
    let Some(path) = record_path(Path::new(dir), name) else {
        eprintln!("helper get: `{name}` is not a DNS name");
        return ExitCode::from(2);
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper get: {e}");
            ExitCode::from(1)
        }
    }
}

/// A record's file: names are lower-case labels of letters, digits, `-` and `_`, so no name can
/// leave `dir`.
fn record_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let name = name.trim_end_matches('.');
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
    ok.then(|| dir.join(name))
}

fn addresses(dir: &Path, name: &str) -> Option<Vec<Ipv4Addr>> {
    let text = std::fs::read_to_string(record_path(dir, name)?).ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect(),
    )
}

/// The reply to one query: A records for a known name (TTL 0: Caddy decides how long to keep
/// them), no records for other types of a known name, NXDOMAIN for an unknown one.
fn respond(q: &[u8], dir: &Path) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return None;
    }
    let opcode = (q[2] >> 3) & 0x0f;
    let qdcount = u16::from_be_bytes([q[4], q[5]]);
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = *q.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 || labels.len() > 127 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(pos..pos + len)?).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*q.get(pos)?, *q.get(pos + 1)?]);
    let qclass = u16::from_be_bytes([*q.get(pos + 2)?, *q.get(pos + 3)?]);
    let question = &q[12..pos + 4];
    let (rcode, answers) = if opcode != 0 || qdcount != 1 {
        (4, Vec::new())
    } else {
        match addresses(dir, &labels.join(".")) {
            None => (3, Vec::new()),
            Some(ips) if qclass == 1 && (qtype == 1 || qtype == 255) => (0, ips),
            Some(_) => (0, Vec::new()),
        }
    };
    let mut r = Vec::with_capacity(question.len() + 12 + 16 * answers.len());
    r.extend_from_slice(&q[0..2]);
    // QR, the query's opcode, AA, the query's RD, RA; then the rcode.
    r.push(0x80 | (opcode << 3) | 0x04 | (q[2] & 0x01));
    r.push(0x80 | rcode);
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(question);
    for ip in answers {
        // The name as a pointer to the question's, type A, class IN, TTL 0, 4 bytes of address.
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
        q
    }

    fn records(dir: &Path, name: &str, members: &[&str]) {
        let mut a = vec![dir.display().to_string(), name.to_string()];
        a.extend(members.iter().map(|m| m.to_string()));
        assert_eq!(set(&a), ExitCode::SUCCESS);
    }

    #[test]
    fn a_known_name_gets_its_addresses_with_ttl_0() {
        let dir = tempfile::tempdir().unwrap();
        records(
            dir.path(),
            "app.demo.dflow",
            &["demo-app-1@10.0.0.2", "demo-app-2@10.0.0.3"],
        );
        let q = query(0xbeef, "App.Demo.dflow", 1);
        let r = respond(&q, dir.path()).unwrap();
        assert_eq!(&r[0..2], &[0xbe, 0xef], "id");
        assert_eq!(r[2] & 0x80, 0x80, "a response");
        assert_eq!(r[3] & 0x0f, 0, "NOERROR");
        assert_eq!(u16::from_be_bytes([r[6], r[7]]), 2, "two answers");
        let question = &q[12..];
        assert_eq!(&r[12..12 + question.len()], question);
        let answers = &r[12 + question.len()..];
        assert_eq!(
            answers,
            [
                &[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, 2][..],
                &[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, 3][..]
            ]
            .concat()
        );
    }

    #[test]
    fn unknown_names_are_nxdomain_and_other_types_empty() {
        let dir = tempfile::tempdir().unwrap();
        records(dir.path(), "app.demo.dflow", &["c@10.0.0.2"]);
        let r = respond(&query(1, "other.demo.dflow", 1), dir.path()).unwrap();
        assert_eq!((r[3] & 0x0f, r[7]), (3, 0));
        let r = respond(&query(1, "app.demo.dflow", 28), dir.path()).unwrap();
        assert_eq!((r[3] & 0x0f, r[7]), (0, 0));
        assert!(respond(&[0u8; 5], dir.path()).is_none(), "too short");
    }

    #[test]
    fn records_are_replaced_whole_and_names_cannot_leave_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        records(dir.path(), "app.demo.dflow", &["a@10.0.0.2", "b@10.0.0.3"]);
        records(dir.path(), "app.demo.dflow", &["c@10.0.0.4"]);
        assert_eq!(
            addresses(dir.path(), "app.demo.dflow").unwrap(),
            [Ipv4Addr::new(10, 0, 0, 4)]
        );
        for bad in ["../x", "a/b", ".hidden", "", "UPPER"] {
            assert!(record_path(dir.path(), bad).is_none(), "{bad}");
        }
        let a = [
            dir.path().display().to_string(),
            "x.dflow".into(),
            "nope".into(),
        ];
        assert_eq!(set(&a), ExitCode::from(2));
    }
}
