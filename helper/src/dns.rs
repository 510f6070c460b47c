//! The rotation: a tiny authoritative DNS responder and its records.
//!
//! Caddy resolves each route's upstreams from an A record (its `dynamic_upstreams`, refreshed
//! every 200 ms) served here, so docker flow changes who gets traffic by rewriting a record, never
//! Caddy's config (every config change makes Caddy drop requests). Taking an instance out of the
//! record stops new requests to it while the ones in flight finish, before it is ever stopped.
//!
//! - `serve_on`: answers A queries over UDP for the names that have a file in `<dir>` (run by
//!   `proxy`, inside the proxy container).
//! - `set <dir> <name> [--key <key>] [--follow <network> <service,...>] [<container>@<ip>...]`:
//!   replaces a record at once (write, then rename); with `--follow`, `follow` keeps it on the
//!   tasks Swarm runs for those services. A record with a key (32 hexadecimal digits) is
//!   answered only under `<key>.<name>`, never under its own name: a staged release's preview,
//!   which Caddy looks up under the name its request's header gives.
//! - `get <dir> <name>`: prints a record, one `<ip> <container>` per line (nothing if none).

use std::collections::HashMap;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::protocol;

/// The largest reply without EDNS (RFC 1035), and the most an EDNS client may ask for here.
const PLAIN_LIMIT: usize = 512;
const EDNS_LIMIT: usize = 4096;
/// One A record in a reply: a pointer to the question's name, type, class, TTL, length, address.
const ANSWER_LEN: usize = 16;
/// The OPT record of a reply to an EDNS query: root name, type 41, size, TTL, no data.
const OPT_LEN: usize = 11;

/// Answers queries on `socket` from the records in `dir`, for ever.
pub fn serve_on(socket: &UdpSocket, dir: &Path) -> ! {
    let mut buf = [0u8; 1500];
    // Where each name's next answer starts, when its record holds more than a reply can carry.
    let mut rotation = HashMap::new();
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if let Some(reply) = respond(&buf[..n], dir, &mut rotation) {
            let _ = socket.send_to(&reply, from);
        }
    }
}

/// What a record follows on Swarm mode: the route network and the services.
pub type Follow = Option<(String, Vec<String>)>;

/// A record's members and what it follows, from the arguments after its name (`set`'s and
/// `standby`'s): `[--follow <network> <service,...>] [<container>@<ip>...]`.
pub fn parse_members(mut args: &[String]) -> Result<(Follow, Vec<(String, String)>), String> {
    let mut follow = None;
    if args.first().map(String::as_str) == Some("--follow") {
        let [_, network, services, more @ ..] = args else {
            return Err("--follow needs a network and services".into());
        };
        follow = Some((
            network.clone(),
            services.split(',').map(String::from).collect(),
        ));
        args = more;
    }
    let mut members = Vec::new();
    for m in args {
        match protocol::record::parse_member_arg(m).map(|(c, ip)| (c, ip.parse::<Ipv4Addr>())) {
            Some((container, Ok(ip))) => members.push((container.to_string(), ip.to_string())),
            _ => return Err(format!("`{m}` is not <container>@<ipv4>")),
        }
    }
    Ok((follow, members))
}

/// `unset <dir> <name>...`: removes records, with what each follows and any standby beside it
/// (a route taken off the proxy: `docker flow down`). A record that is not there is no error.
pub fn unset(args: &[String]) -> ExitCode {
    let [dir, names @ ..] = args else {
        eprintln!("usage: helper unset <dir> <name>...");
        return ExitCode::from(2);
    };
    let dir = Path::new(dir);
    if let Some(bad) = names.iter().find(|n| record_path(dir, n).is_none()) {
        eprintln!("helper unset: `{bad}` is not a DNS name");
        return ExitCode::from(2);
    }
    let done = lock(dir).and_then(|_lock| {
        for name in names {
            for file in [
                name.clone(),
                protocol::record::follow_file(name),
                protocol::standby::file(name),
            ] {
                match std::fs::remove_file(dir.join(&file)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(format!("{file}: {e}"))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper unset: {e}");
            ExitCode::from(1)
        }
    }
}

/// Writes what the record `name` follows, or removes it (`None`): with the record, under the
/// records' lock (see `follow`).
pub fn write_follow(dir: &Path, name: &str, follow: &Follow) -> Result<(), String> {
    let spec = dir.join(protocol::record::follow_file(name));
    match follow {
        Some((network, services)) => {
            let services: Vec<&str> = services.iter().map(String::as_str).collect();
            let text = protocol::record::follow_spec(network, &services);
            std::fs::write(&spec, text).map_err(|e| e.to_string())
        }
        None => match std::fs::remove_file(&spec) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.to_string()),
            _ => Ok(()),
        },
    }
}

pub fn set(args: &[String]) -> ExitCode {
    const USAGE: &str =
        "usage: helper set <dir> <name> [--key <key>] [--follow <network> <service,...>] [<container>@<ip>...]";
    let [dir, name, rest @ ..] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let (key, rest) = match rest {
        [flag, key, more @ ..] if flag == protocol::record::KEY_ARG => {
            if !protocol::record::is_key(key) {
                eprintln!("helper set: a key is 32 lowercase hexadecimal digits\n{USAGE}");
                return ExitCode::from(2);
            }
            (Some(key.as_str()), more)
        }
        _ => (None, rest),
    };
    let dir = Path::new(dir);
    if record_path(dir, name).is_none() {
        eprintln!("helper set: `{name}` is not a DNS name");
        return ExitCode::from(2);
    }
    let (follow, members) = match parse_members(rest) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("helper set: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let done = lock(dir).and_then(|_lock| {
        write_follow(dir, name, &follow)?;
        let key = key.map(protocol::record::key_line).unwrap_or_default();
        write_raw(dir, name, &(key + &lines(&members)))
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helper set: cannot write the record {name}: {e}");
            ExitCode::from(1)
        }
    }
}

/// The records' lock: `set` and `follow` change a record only while holding it.
pub fn lock(dir: &Path) -> Result<std::fs::File, String> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(|e| e.to_string())?;
    f.lock().map_err(|e| e.to_string())?;
    Ok(f)
}

/// Replaces the record `name` with `members` (container, ipv4) at once: write, then rename.
pub fn write(dir: &Path, name: &str, members: &[(String, String)]) -> Result<(), String> {
    write_raw(dir, name, &lines(members))
}

/// A record file's member lines.
fn lines(members: &[(String, String)]) -> String {
    members
        .iter()
        .map(|(c, ip)| protocol::record::line(ip, c))
        .collect()
}

/// Replaces the record `name` with `text`, a record file's lines, at once (a replica copying
/// the follower's record).
pub fn write_raw(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    let path = record_path(dir, name).ok_or("not a DNS name")?;
    let tmp = path.with_file_name(format!(".{name}.new"));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The record `name`'s members (container, ipv4); none when there is no record.
pub fn members(dir: &Path, name: &str) -> Vec<(String, String)> {
    record_path(dir, name)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.lines().filter_map(protocol::record::parse_line).collect())
        .unwrap_or_default()
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
pub fn record_path(dir: &Path, name: &str) -> Option<PathBuf> {
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

/// The addresses the name `name` resolves to: a record's own name, unless it has a key; a
/// keyed record's under `<key>.<name>` only.
fn addresses(dir: &Path, name: &str) -> Option<Vec<Ipv4Addr>> {
    let read = |name: &str| std::fs::read_to_string(record_path(dir, name)?).ok();
    let text = match read(name) {
        Some(text) if protocol::record::parse_key(&text).is_some() => return None,
        Some(text) => text,
        None => {
            let (key, keyed) = name.split_once('.')?;
            let text = read(keyed)?;
            if protocol::record::parse_key(&text) != Some(key) {
                return None;
            }
            text
        }
    };
    Some(
        text.lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect(),
    )
}

/// The reply to one query: A records for a known name (TTL 0: Caddy decides how long to keep
/// them), no records for other types of a known name, NXDOMAIN for an unknown one.
///
/// A reply never exceeds what the client can read: 512 bytes, or the UDP size its EDNS record
/// advertises (Go's resolver, Caddy's, reads at most 1232). A record with more addresses than
/// fit is answered with as many as fit, a different window of them each time (`rotation` keeps
/// where each name's next window starts), so that, as Caddy looks the name up again every
/// 200 ms, every instance gets its turn. The reply is not marked truncated: Caddy's resolver
/// would retry over TCP, which it dials as UDP.
fn respond(q: &[u8], dir: &Path, rotation: &mut HashMap<String, usize>) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return None;
    }
    let opcode = (q[2] >> 3) & 0x0f;
    let qdcount = u16::from_be_bytes([q[4], q[5]]);
    let arcount = u16::from_be_bytes([q[10], q[11]]);
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
    // An OPT record right after the question (root name, type 41) carries the client's size.
    let edns =
        (arcount > 0 && q.get(pos + 4) == Some(&0) && q.get(pos + 5..pos + 7) == Some(&[0, 41]))
            .then(|| {
                let size = u16::from_be_bytes([*q.get(pos + 7)?, *q.get(pos + 8)?]) as usize;
                Some(size.clamp(PLAIN_LIMIT, EDNS_LIMIT))
            })
            .flatten();
    let limit = edns.unwrap_or(PLAIN_LIMIT);
    let name = labels.join(".");
    let (rcode, mut answers) = if opcode != 0 || qdcount != 1 {
        (4, Vec::new())
    } else {
        match addresses(dir, &name) {
            None => (3, Vec::new()),
            Some(ips) if qclass == 1 && (qtype == 1 || qtype == 255) => (0, ips),
            Some(_) => (0, Vec::new()),
        }
    };
    let fixed = 12 + question.len() + if edns.is_some() { OPT_LEN } else { 0 };
    let fit = limit.saturating_sub(fixed) / ANSWER_LEN;
    if answers.len() > fit {
        let start = rotation.entry(name).or_insert(0);
        let n = answers.len();
        *start %= n;
        answers = (0..fit).map(|i| answers[(*start + i) % n]).collect();
        *start = (*start + fit) % n;
    }
    let mut r = Vec::with_capacity(fixed + ANSWER_LEN * answers.len());
    r.extend_from_slice(&q[0..2]);
    // QR, the query's opcode, AA, the query's RD, RA; then the rcode.
    r.push(0x80 | (opcode << 3) | 0x04 | (q[2] & 0x01));
    r.push(0x80 | rcode);
    r.extend_from_slice(&1u16.to_be_bytes());
    r.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    r.extend_from_slice(&[0, 0]);
    r.extend_from_slice(&u16::from(edns.is_some()).to_be_bytes());
    r.extend_from_slice(question);
    for ip in answers {
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
        r.extend_from_slice(&ip.octets());
    }
    if edns.is_some() {
        r.push(0);
        r.extend_from_slice(&41u16.to_be_bytes());
        r.extend_from_slice(&(EDNS_LIMIT as u16).to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
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
        let r = respond(&q, dir.path(), &mut HashMap::new()).unwrap();
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
    fn a_keyed_record_answers_only_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = "0123456789abcdef0123456789abcdef";
        std::fs::write(
            dir.path().join("preview.app.shop.dflow"),
            format!(
                "{}10.0.0.7 shop-app-green-1\n",
                protocol::record::key_line(key)
            ),
        )
        .unwrap();
        let mut rotation = HashMap::new();
        let answers = |name: &str, rotation: &mut HashMap<String, usize>| {
            let r = respond(&query(7, name, 1), dir.path(), rotation).unwrap();
            (r[3] & 0x0f, u16::from_be_bytes([r[6], r[7]]))
        };
        assert_eq!(
            answers(&format!("{key}.preview.app.shop.dflow"), &mut rotation),
            (0, 1)
        );
        // Not under its own name, nor under another key or a guessable value.
        assert_eq!(answers("preview.app.shop.dflow", &mut rotation), (3, 0));
        for other in ["1", "true", "fedcba9876543210fedcba9876543210"] {
            assert_eq!(
                answers(&format!("{other}.preview.app.shop.dflow"), &mut rotation),
                (3, 0)
            );
        }
        // The key is no member.
        assert_eq!(
            members(dir.path(), "preview.app.shop.dflow"),
            [("shop-app-green-1".to_string(), "10.0.0.7".to_string())]
        );
    }

    #[test]
    fn unknown_names_are_nxdomain_and_other_types_empty() {
        let dir = tempfile::tempdir().unwrap();
        records(dir.path(), "app.demo.dflow", &["c@10.0.0.2"]);
        let r = respond(
            &query(1, "other.demo.dflow", 1),
            dir.path(),
            &mut HashMap::new(),
        )
        .unwrap();
        assert_eq!((r[3] & 0x0f, r[7]), (3, 0));
        let r = respond(
            &query(1, "app.demo.dflow", 28),
            dir.path(),
            &mut HashMap::new(),
        )
        .unwrap();
        assert_eq!((r[3] & 0x0f, r[7]), (0, 0));
        assert!(
            respond(&[0u8; 5], dir.path(), &mut HashMap::new()).is_none(),
            "too short"
        );
    }

    /// `query` with an EDNS OPT record advertising `size`.
    fn edns_query(name: &str, size: u16) -> Vec<u8> {
        let mut q = query(7, name, 1);
        q[11] = 1;
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&size.to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        q
    }

    #[test]
    fn a_large_record_fits_the_clients_size_and_every_member_gets_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let members: Vec<String> = (0..120)
            .map(|i| format!("demo-app-{i}@10.0.{}.{}", i / 200, i % 200 + 1))
            .collect();
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        records(dir.path(), "app.demo.dflow", &refs);
        let mut rotation = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        for (q, limit) in [
            (query(1, "app.demo.dflow", 1), 512),
            (edns_query("app.demo.dflow", 1232), 1232),
            (edns_query("app.demo.dflow", 100), 512),
        ] {
            let mut rounds = 0;
            seen.clear();
            while seen.len() < 120 {
                let r = respond(&q, dir.path(), &mut rotation).unwrap();
                assert!(
                    r.len() <= limit,
                    "{} bytes for a {limit}-byte client",
                    r.len()
                );
                assert_eq!(r[2] & 0x02, 0, "not marked truncated");
                let count = u16::from_be_bytes([r[6], r[7]]) as usize;
                assert!(count >= (limit - 80) / 16, "{count} answers only");
                let answers = &r[12 + (q.len() - 12 - if q[11] == 1 { 11 } else { 0 })..];
                for a in answers.chunks(16).take(count) {
                    seen.insert([a[12], a[13], a[14], a[15]]);
                }
                rounds += 1;
                assert!(
                    rounds <= 120 * 16 / (limit - 80) + 1,
                    "{rounds} lookups and not all seen"
                );
            }
            r_last_arcount(&q, dir.path());
        }
    }

    /// An EDNS query gets an OPT record back, a plain one none.
    fn r_last_arcount(q: &[u8], dir: &Path) {
        let r = respond(q, dir, &mut HashMap::new()).unwrap();
        assert_eq!(r[11], q[11], "additional records of the reply");
    }

    #[test]
    fn a_member_name_cannot_carry_another_line() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["a b@10.0.0.2", "a\n10.0.0.9 x@10.0.0.2", "@10.0.0.2", "a@x"] {
            let a = [
                dir.path().display().to_string(),
                "app.demo.dflow".into(),
                bad.into(),
            ];
            assert_eq!(set(&a), ExitCode::from(2), "{bad:?}");
        }
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
