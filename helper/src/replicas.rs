//! The proxy as a Swarm service: its replicas, on any node, get the rotation from the follower.
//!
//! A replica cannot be reached by `docker exec` from docker flow (it may run on another node),
//! and must not get the engine's socket (it faces the internet). So the follower, the one
//! container with the socket, also holds the state every replica needs: the records (kept on
//! Swarm's tasks as on one proxy) and Caddy's config. It serves them on docker flow's control
//! network, which only the follower and the replicas join; each replica's helper copies them
//! into its own rotation (served on its loopback, as in the proxy container) and loads the
//! config into its Caddy. A replica that starts, or that Swarm reschedules, gets the routes this
//! way with no docker flow run, and one that loses the follower keeps serving what it has.
//!
//! The follower side (`follow … --serve <addr>`):
//! - on the control network, `GET /state?have=<hash>`: the state, as soon as it differs from
//!   `have` (held up to `POLL` otherwise, so a switch reaches the replicas at once), and
//!   `POST /report`: what a replica applied, and what its Caddy has in flight;
//! - on the follower's loopback (reached only by `docker exec` of the helper in the follower),
//!   the part of Caddy's admin API docker flow uses: `GET`/`POST /config/` (the config every
//!   replica loads, with `Etag`/`If-Match` as Caddy has them), and `GET
//!   /reverse_proxy/upstreams`, every live replica's in-flight counts together. A replica that
//!   has not run the current state for `SETTLE` yet counts one more request to each of its
//!   upstreams, so `drain` waits until every replica looked the new record up, then until none
//!   has a request in flight to the instances that left it. A follower that has just started
//!   cannot say for `FRESH` (it has not heard from every replica yet), and `drain` waits on.
//!
//! The replica side (`proxy … --sync <follower:port>`): one thread keeps the state, one reports
//! every `REPORT`.
//!
//! HTTP/1.0, one request per connection: both ends are this program, so it is all they need.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::dns;
use crate::http;
use crate::seal::{self, Key};

/// Where the follower keeps the config the replicas load (a dot file: never a record).
pub const CONFIG_FILE: &str = ".caddy.json";
/// How long a state request waits for a change.
const POLL: Duration = Duration::from_secs(2);
/// How often a replica reports.
const REPORT: Duration = Duration::from_millis(200);
/// A report older than this is a replica gone (stopped, or cut off from the follower).
const FRESH: Duration = Duration::from_secs(2);
/// How long after a replica wrote a record its Caddy has surely looked it up again (it does
/// every 200 ms).
const SETTLE: Duration = Duration::from_millis(400);

/// Where the follower keeps the control network's key (a dot file: never a record, never in
/// the state).
const KEY_FILE: &str = ".control-key";

/// The control network's key, kept in the follower's directory (made on first use, under the
/// records' lock, readable by its owner only).
pub fn control_key(dir: &Path) -> Result<Key, String> {
    let path = dir.join(KEY_FILE);
    if let Ok(key) = seal::read_key(&path) {
        return Ok(key);
    }
    let _lock = dns::lock(dir)?;
    if let Ok(key) = seal::read_key(&path) {
        return Ok(key);
    }
    let tmp = dir.join(format!("{KEY_FILE}.new"));
    let text = seal::new_key_text()?;
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| e.to_string())?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
    seal::read_key(&path)
}

/// `control-key <dir>`: prints the key's public name and the key (for docker flow to give the
/// replicas as a Swarm secret), made first if the follower has not yet.
pub fn print_key(args: &[String]) -> std::process::ExitCode {
    let [dir] = args else {
        eprintln!("usage: helper control-key <dir>");
        return std::process::ExitCode::from(2);
    };
    match control_key(Path::new(dir)) {
        Ok(key) => {
            println!("{} {}", seal::key_id(&key), seal::hex(&key));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("helper control-key: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// What every replica needs: Caddy's config and the records, with a hash naming them.
#[derive(Debug, Default, PartialEq)]
pub struct State {
    pub config: Option<String>,
    pub records: BTreeMap<String, String>,
}

impl State {
    /// The state as the follower's directory holds it.
    pub fn read(dir: &Path) -> State {
        let mut records = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let Ok(name) = e.file_name().into_string() else {
                    continue;
                };
                if name.starts_with('.') || dns::record_path(dir, &name).is_none() {
                    continue;
                }
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    records.insert(name, text);
                }
            }
        }
        State {
            config: std::fs::read_to_string(dir.join(CONFIG_FILE)).ok(),
            records,
        }
    }

    pub fn hash(&self) -> String {
        let mut h = Fnv::default();
        if let Some(c) = &self.config {
            h.add(b"config");
            h.add(c.as_bytes());
        }
        for (name, text) in &self.records {
            h.add(name.as_bytes());
            h.add(text.as_bytes());
        }
        format!("{:016x}", h.0)
    }

    /// `hash <h>\nconfig <len>\n<bytes>record <name> <len>\n<bytes>…`
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("hash {}\n", self.hash()).into_bytes();
        if let Some(c) = &self.config {
            out.extend(format!("config {}\n", c.len()).bytes());
            out.extend(c.bytes());
        }
        for (name, text) in &self.records {
            out.extend(format!("record {name} {}\n", text.len()).bytes());
            out.extend(text.bytes());
        }
        out
    }

    /// The inverse of `encode`, with the hash it says.
    pub fn decode(mut raw: &[u8]) -> Option<(String, State)> {
        let line = |raw: &mut &[u8]| -> Option<String> {
            let end = raw.iter().position(|&b| b == b'\n')?;
            let l = String::from_utf8(raw[..end].to_vec()).ok()?;
            *raw = &raw[end + 1..];
            Some(l)
        };
        let take = |raw: &mut &[u8], n: usize| -> Option<String> {
            let s = String::from_utf8(raw.get(..n)?.to_vec()).ok()?;
            *raw = &raw[n..];
            Some(s)
        };
        let hash = line(&mut raw)?.strip_prefix("hash ")?.to_string();
        let mut state = State::default();
        while !raw.is_empty() {
            let head = line(&mut raw)?;
            let mut words = head.split(' ');
            match (words.next(), words.next(), words.next()) {
                (Some("config"), Some(n), None) => {
                    state.config = Some(take(&mut raw, n.parse().ok()?)?);
                }
                (Some("record"), Some(name), Some(n)) => {
                    let text = take(&mut raw, n.parse().ok()?)?;
                    state.records.insert(name.to_string(), text);
                }
                _ => return None,
            }
        }
        (state.hash() == hash).then_some((hash, state))
    }
}

/// FNV-1a, 64 bits: a name for a state, not a defence (std has no stable hash to share
/// between two builds).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, bytes: &[u8]) {
        for b in bytes.iter().chain(b"\0") {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// What a replica last said.
#[derive(Debug, Clone)]
struct Report {
    hash: String,
    /// How long it had run that state when it said so.
    applied_for: Duration,
    /// Caddy's `/reverse_proxy/upstreams` as it answered.
    upstreams: Vec<(String, u64)>,
    at: Instant,
}

type Reports = Arc<Mutex<BTreeMap<IpAddr, Report>>>;

/// The follower's two servers; returns once both listen. `key`: what the control network's
/// messages are sealed with.
pub fn serve(dir: &Path, control: SocketAddr, admin: SocketAddr, key: Key) -> Result<(), String> {
    let reports: Reports = Arc::default();
    let started = Instant::now();
    let control = TcpListener::bind(control).map_err(|e| format!("{control}: {e}"))?;
    let admin = TcpListener::bind(admin).map_err(|e| format!("{admin}: {e}"))?;
    {
        let (dir, reports) = (dir.to_path_buf(), Arc::clone(&reports));
        std::thread::spawn(move || {
            http::serve(control, move |conn| {
                let _ = answer_replica(conn, &dir, &reports, &key);
            })
        });
    }
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        http::serve(admin, move |conn| {
            let _ = answer_admin(conn, &dir, &reports, started);
        })
    });
    Ok(())
}

/// The request read, or the answer for one that cannot be (413 for a body too large).
fn read(conn: &TcpStream) -> Result<http::Request, String> {
    http::read_request(conn).map_err(|e| match e {
        http::Unread::Broken(why) => why,
        http::Unread::TooLarge => {
            let _ = conn
                .try_clone()
                .map(|c| http::respond(c, 413, None, b"too large"));
            "a body too large".into()
        }
    })
}

/// The context a state answer is sealed for: the request's challenge, so that no answer
/// passes for another (an old state replayed).
fn state_context(challenge: &str) -> Vec<u8> {
    format!("state {challenge}").into_bytes()
}

/// The control network's side: state for replicas, and their reports, each request sealed with
/// the key (403 otherwise: the state is every project's config and records).
fn answer_replica(conn: TcpStream, dir: &Path, reports: &Reports, key: &Key) -> Result<(), String> {
    let peer = conn.peer_addr().map_err(|e| e.to_string())?.ip();
    let req = read(&conn)?;
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/state") => {
            let Some(asked) = seal::open(key, b"state request", &req.body) else {
                return http::respond(conn, 403, None, b"");
            };
            let asked = String::from_utf8_lossy(&asked);
            let (have, challenge) = asked.split_once('\n').unwrap_or_default();
            let started = Instant::now();
            loop {
                let state = State::read(dir);
                if state.hash() != have || started.elapsed() >= POLL {
                    let sealed = seal::seal(key, &state_context(challenge), &state.encode())?;
                    return http::respond(conn, 200, None, &sealed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        ("POST", "/report") => {
            let Some(text) = seal::open(key, b"report", &req.body) else {
                return http::respond(conn, 403, None, b"");
            };
            let Some(report) = parse_report(&String::from_utf8_lossy(&text)) else {
                return http::respond(conn, 400, None, b"unreadable report");
            };
            reports
                .lock()
                .map_err(|e| e.to_string())?
                .insert(peer, report);
            http::respond(conn, 204, None, b"")
        }
        _ => http::respond(conn, 404, None, b""),
    }
}

/// `hash <h>\napplied <ms>\n<Caddy's upstreams JSON>`
fn report_text(hash: &str, applied_for: Duration, upstreams: &str) -> String {
    format!(
        "hash {hash}\napplied {}\n{upstreams}",
        applied_for.as_millis()
    )
}

fn parse_report(text: &str) -> Option<Report> {
    let (hash, rest) = text.strip_prefix("hash ")?.split_once('\n')?;
    let (ms, upstreams) = rest.strip_prefix("applied ")?.split_once('\n')?;
    Some(Report {
        hash: hash.to_string(),
        applied_for: Duration::from_millis(ms.trim().parse().ok()?),
        upstreams: crate::admin::upstreams(upstreams),
        at: Instant::now(),
    })
}

/// The follower's loopback: the admin API docker flow speaks to a proxy, for every replica.
fn answer_admin(
    conn: TcpStream,
    dir: &Path,
    reports: &Reports,
    started: Instant,
) -> Result<(), String> {
    let req = read(&conn)?;
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/config/") => {
            let config = std::fs::read_to_string(dir.join(CONFIG_FILE)).ok();
            let body = config.unwrap_or_else(|| "null\n".into());
            http::respond(conn, 200, Some(&etag(&body)), body.as_bytes())
        }
        ("POST", "/config/") => {
            let _lock = dns::lock(dir)?;
            let now =
                std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap_or_else(|_| "null\n".into());
            if req.if_match.as_deref().is_some_and(|t| t != etag(&now)) {
                return http::respond(conn, 412, None, b"the config changed meanwhile");
            }
            let tmp = dir.join(format!("{CONFIG_FILE}.new"));
            std::fs::write(&tmp, &req.body)
                .and_then(|()| std::fs::rename(&tmp, dir.join(CONFIG_FILE)))
                .map_err(|e| e.to_string())?;
            http::respond(conn, 200, None, b"")
        }
        // Until every live replica has had time to report to a follower that just started, it
        // cannot say (and `drain` waits on).
        ("GET", "/reverse_proxy/upstreams") if started.elapsed() < FRESH => {
            http::respond(conn, 503, None, b"the replicas have not all reported yet")
        }
        ("GET", "/reverse_proxy/upstreams") => {
            let current = State::read(dir).hash();
            let reports = reports.lock().map_err(|e| e.to_string())?.clone();
            http::respond(
                conn,
                200,
                None,
                upstreams_json(&reports, &current).as_bytes(),
            )
        }
        _ => http::respond(conn, 404, None, b""),
    }
}

/// A config's Etag, as Caddy quotes them.
fn etag(config: &str) -> String {
    let mut h = Fnv::default();
    h.add(config.as_bytes());
    format!("\"{:016x}\"", h.0)
}

/// Every live replica's in-flight counts, as one `/reverse_proxy/upstreams` answer; a replica
/// that has not run the `current` state for `SETTLE` counts one more to each upstream.
fn upstreams_json(reports: &BTreeMap<IpAddr, Report>, current: &str) -> String {
    let mut out = Vec::new();
    for r in reports.values().filter(|r| r.at.elapsed() < FRESH) {
        let lagging = r.hash != current || r.applied_for < SETTLE;
        for (address, n) in &r.upstreams {
            let n = n + u64::from(lagging);
            out.push(format!(r#"{{"address":"{address}","num_requests":{n}}}"#));
        }
    }
    format!("[{}]", out.join(","))
}

/// The replica's side: keeps `dir` and its Caddy (admin API on `admin`) on the follower's
/// state, and reports to it; `key_file`: the shared key (a Swarm secret). Runs for ever, on two
/// threads.
pub fn sync(dir: &Path, follower: String, key_file: PathBuf, admin: SocketAddr) {
    let key = loop {
        match seal::read_key(&key_file) {
            Ok(key) => break key,
            Err(e) => {
                eprintln!("helper proxy: no key for the control network yet ({e})");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    };
    let link = Arc::new(Link {
        follower,
        key,
        found: Mutex::new(None),
    });
    let applied: Arc<Mutex<(String, Instant)>> =
        Arc::new(Mutex::new((String::new(), Instant::now())));
    {
        let (applied, link) = (Arc::clone(&applied), Arc::clone(&link));
        std::thread::spawn(move || loop {
            std::thread::sleep(REPORT);
            let Ok(upstreams) =
                crate::admin::request(admin, "GET", "/reverse_proxy/upstreams", &[], None)
            else {
                continue;
            };
            let Ok((hash, since)) = applied.lock().map(|a| (a.0.clone(), a.1)) else {
                continue;
            };
            if hash.is_empty() {
                continue;
            }
            let text = report_text(&hash, since.elapsed(), &upstreams.body);
            let _ = link.exchange("/report", b"report", text.as_bytes(), None);
        });
    }
    let dir = dir.to_path_buf();
    let mut config_applied: Option<String> = None;
    let mut failing: Option<String> = None;
    loop {
        let have = applied.lock().map(|a| a.0.clone()).unwrap_or_default();
        let got = link.state(&have).and_then(|raw| {
            State::decode(&raw).ok_or_else(|| "the state does not read back".to_string())
        });
        let (hash, state) = match got {
            Ok(got) => {
                failing = None;
                got
            }
            Err(e) => {
                // Said once, not every half second.
                if failing.as_ref() != Some(&e) {
                    eprintln!("helper proxy: no state from the follower: {e}");
                    failing = Some(e);
                }
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if hash == have {
            continue;
        }
        if let Err(e) = apply(&dir, &state, admin, &mut config_applied) {
            eprintln!("helper proxy: cannot apply the follower's state: {e}");
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        if let Ok(mut a) = applied.lock() {
            *a = (hash, Instant::now());
        }
    }
}

/// Writes the state's records into `dir` (each at once, those it no longer has removed) and
/// loads its config into Caddy when it changed.
fn apply(
    dir: &Path,
    state: &State,
    admin: SocketAddr,
    config_applied: &mut Option<String>,
) -> Result<(), String> {
    if let Some(config) = state
        .config
        .as_ref()
        .filter(|c| config_applied.as_ref() != Some(c))
    {
        let r = crate::admin::request(admin, "POST", "/load", config.as_bytes(), None)?;
        if r.status != 200 {
            return Err(format!(
                "Caddy refused the config ({}): {}",
                r.status,
                r.body.trim()
            ));
        }
        *config_applied = Some(config.clone());
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let _lock = dns::lock(dir)?;
    let now = State::read(dir);
    for (name, text) in &state.records {
        if now.records.get(name) != Some(text) {
            dns::write_raw(dir, name, text)?;
        }
    }
    for name in now
        .records
        .keys()
        .filter(|n| !state.records.contains_key(*n))
    {
        let _ = std::fs::remove_file(dir.join(name));
    }
    Ok(())
}

/// A replica's way to the follower: its name on the control network (`host:port`) and the key.
/// The follower is the address whose answers open with the key: a container that takes the
/// follower's name on the network gets requests it cannot read, and its answers are refused.
struct Link {
    follower: String,
    key: Key,
    /// The address that answered last, asked first.
    found: Mutex<Option<SocketAddr>>,
}

impl Link {
    /// The follower's state, if it differs from `have` (or after `POLL`): `State::encode`d.
    fn state(&self, have: &str) -> Result<Vec<u8>, String> {
        let challenge = seal::hex(&seal::random(16)?);
        let asked = format!("{have}\n{challenge}");
        self.exchange(
            "/state",
            b"state request",
            asked.as_bytes(),
            Some(&state_context(&challenge)),
        )
    }

    /// POSTs `plain` sealed for `context` to the follower; the answer opened for
    /// `answer_context` (None: an empty answer is all it expects).
    fn exchange(
        &self,
        path: &str,
        context: &[u8],
        plain: &[u8],
        answer_context: Option<&[u8]>,
    ) -> Result<Vec<u8>, String> {
        let body = seal::seal(&self.key, context, plain)?;
        let found = self.found.lock().map(|f| *f).unwrap_or(None);
        let named = self
            .follower
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.follower))?;
        let mut last = format!("{}: no address", self.follower);
        for addr in found.into_iter().chain(named.filter(|a| Some(*a) != found)) {
            let answer = crate::admin::request(addr, "POST", path, &body, None)
                .and_then(|r| match r.status {
                    200 | 204 => Ok(r.bytes),
                    s => Err(format!("{addr} answered {s}")),
                })
                .and_then(|raw| match answer_context {
                    None => Ok(Vec::new()),
                    Some(ctx) => seal::open(&self.key, ctx, &raw)
                        .ok_or_else(|| format!("{addr}'s answer is not sealed with the key")),
                });
            match answer {
                Ok(plain) => {
                    if let Ok(mut f) = self.found.lock() {
                        *f = Some(addr);
                    }
                    return Ok(plain);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            config: Some(r#"{"apps":{}}"#.into()),
            records: [
                (
                    "app.p.dflow".to_string(),
                    "10.0.0.2 p_app-blue.1.x\n".to_string(),
                ),
                ("preview.app.p.dflow".to_string(), String::new()),
            ]
            .into(),
        }
    }

    #[test]
    fn a_state_reads_back_as_it_was_and_a_damaged_one_not_at_all() {
        let s = state();
        let raw = s.encode();
        let (hash, back) = State::decode(&raw).unwrap();
        assert_eq!(back, s);
        assert_eq!(hash, s.hash());
        assert!(State::decode(&raw[..raw.len() - 1]).is_none());
        let mut other = raw.clone();
        let at = other.len() - 3;
        other[at] = b'3';
        assert!(
            State::decode(&other).is_none(),
            "a changed record must not match its hash"
        );
        assert_ne!(State::default().hash(), s.hash());
    }

    #[test]
    fn a_replica_that_has_not_run_the_current_state_long_enough_holds_the_drain() {
        let report = |hash: &str, ms: u64, n: u64| Report {
            hash: hash.into(),
            applied_for: Duration::from_millis(ms),
            upstreams: vec![("10.0.0.2:8080".into(), n)],
            at: Instant::now(),
        };
        let count = |reports: Vec<Report>| {
            let map: BTreeMap<IpAddr, Report> = reports
                .into_iter()
                .enumerate()
                .map(|(i, r)| (IpAddr::from([10, 9, 0, i as u8]), r))
                .collect();
            crate::admin::requests_to(&upstreams_json(&map, "new"), &["10.0.0.2:8080".into()])
        };
        assert_eq!(count(vec![report("new", 900, 0), report("new", 900, 0)]), 0);
        assert_eq!(count(vec![report("new", 900, 0), report("old", 900, 0)]), 1);
        assert_eq!(count(vec![report("new", 100, 0)]), 1);
        assert_eq!(count(vec![report("new", 900, 2), report("new", 900, 0)]), 2);
        // A replica that stopped reporting is gone, not busy.
        let mut gone = report("old", 900, 5);
        gone.at = Instant::now() - FRESH;
        assert_eq!(count(vec![gone, report("new", 900, 0)]), 0);
    }

    #[test]
    fn a_report_reads_back() {
        let text = report_text(
            "abc",
            Duration::from_millis(1500),
            r#"[{"address":"10.0.0.2:8080","num_requests":3,"fails":0}]"#,
        );
        let r = parse_report(&text).unwrap();
        assert_eq!(r.hash, "abc");
        assert_eq!(r.applied_for, Duration::from_millis(1500));
        assert_eq!(r.upstreams, [("10.0.0.2:8080".to_string(), 3)]);
    }

    #[test]
    fn a_replica_syncs_from_the_follower_and_the_follower_keeps_the_config_guarded() {
        let base = std::env::temp_dir().join(format!("dflow-replicas-{}", std::process::id()));
        let (theirs, ours) = (base.join("follower"), base.join("replica"));
        std::fs::create_dir_all(&theirs).unwrap();
        dns::write(
            &theirs,
            "app.p.dflow",
            &[("p_app-blue.1.x".into(), "10.0.0.2".into())],
        )
        .unwrap();
        let (control, admin) = (free(), free());
        let up_since = Instant::now();
        let key = control_key(&theirs).unwrap();
        assert_eq!(control_key(&theirs).unwrap(), key, "made once, then kept");
        serve(&theirs, control, admin, key).unwrap();
        // docker flow's side: the config, guarded by its Etag.
        let r = crate::admin::request(admin, "GET", "/config/", &[], None).unwrap();
        assert_eq!((r.status, r.body.trim()), (200, "null"));
        let tag = r.etag.unwrap();
        let w =
            crate::admin::request(admin, "POST", "/config/", b"{\"apps\":{}}", Some(&tag)).unwrap();
        assert_eq!(w.status, 200);
        let stale = crate::admin::request(admin, "POST", "/config/", b"{}", Some(&tag)).unwrap();
        assert_eq!(stale.status, 412);
        // A replica's first request gets the state at once; its next waits for a change.
        let link = Arc::new(link_to(control, key));
        let (hash, state) = State::decode(&link.state("").unwrap()).unwrap();
        assert_eq!(state.config.as_deref(), Some("{\"apps\":{}}"));
        let mut config_applied = state.config.clone();
        apply(&ours, &state, admin, &mut config_applied).unwrap();
        assert_eq!(
            dns::members(&ours, "app.p.dflow"),
            dns::members(&theirs, "app.p.dflow")
        );
        let waiting = std::thread::spawn({
            let link = Arc::clone(&link);
            move || link.state(&hash)
        });
        std::thread::sleep(Duration::from_millis(200));
        dns::write(
            &theirs,
            "app.p.dflow",
            &[("p_app-green.1.y".into(), "10.0.0.3".into())],
        )
        .unwrap();
        let (_, changed) = State::decode(&waiting.join().unwrap().unwrap()).unwrap();
        apply(&ours, &changed, admin, &mut config_applied).unwrap();
        assert_eq!(
            dns::members(&ours, "app.p.dflow"),
            [("p_app-green.1.y".to_string(), "10.0.0.3".to_string())]
        );
        // Reports reach docker flow's drain as the admin API's upstreams.
        let current = State::read(&theirs).hash();
        link.exchange(
            "/report",
            b"report",
            report_text(
                &current,
                Duration::from_secs(1),
                r#"[{"address":"10.0.0.2:8080","num_requests":1}]"#,
            )
            .as_bytes(),
            None,
        )
        .unwrap();
        let early =
            crate::admin::request(admin, "GET", "/reverse_proxy/upstreams", &[], None).unwrap();
        assert!(
            early.status == 503 || up_since.elapsed() >= FRESH,
            "{}",
            early.status
        );
        std::thread::sleep(FRESH.saturating_sub(up_since.elapsed()));
        let up =
            crate::admin::request(admin, "GET", "/reverse_proxy/upstreams", &[], None).unwrap();
        assert_eq!(
            crate::admin::requests_to(&up.body, &["10.0.0.2:8080".into()]),
            1
        );
        // Without the key: no state, no report, and no state passed off as the follower's.
        let stranger = link_to(
            control,
            seal::parse_key(&seal::new_key_text().unwrap()).unwrap(),
        );
        assert!(stranger.state("").is_err());
        let plain = crate::admin::request(control, "POST", "/state", b"\nabc", None).unwrap();
        assert_eq!(plain.status, 403);
        assert!(!plain.bytes.windows(11).any(|w| w == b"app.p.dflow"));
        let lie = report_text(&current, Duration::from_secs(9), "[]");
        assert!(stranger
            .exchange("/report", b"report", lie.as_bytes(), None)
            .is_err());
        let r = crate::admin::request(control, "POST", "/report", lie.as_bytes(), None).unwrap();
        assert_eq!(r.status, 403);
        let up =
            crate::admin::request(admin, "GET", "/reverse_proxy/upstreams", &[], None).unwrap();
        assert_eq!(
            crate::admin::requests_to(&up.body, &["10.0.0.2:8080".into()]),
            1,
            "the refused report changed nothing"
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_replica_refuses_a_state_not_sealed_with_the_key_and_finds_the_follower() {
        let base = std::env::temp_dir().join(format!("dflow-impostor-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let key = control_key(&base).unwrap();
        // An impostor with a state of its own, sealed with another key, then in plain text.
        let impostor_key = seal::parse_key(&seal::new_key_text().unwrap()).unwrap();
        let evil = State {
            config: Some("{\"evil\":1}".into()),
            records: BTreeMap::new(),
        };
        for sealed_with in [Some(impostor_key), None] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let at = listener.local_addr().unwrap();
            let raw = evil.encode();
            std::thread::spawn(move || {
                http::serve(listener, move |conn| {
                    let _ = read(&conn);
                    let body = match sealed_with {
                        Some(k) => seal::seal(&k, &state_context("x"), &raw).unwrap(),
                        None => raw.clone(),
                    };
                    let _ = http::respond(conn, 200, None, &body);
                })
            });
            let err = link_to(at, key).state("").unwrap_err();
            assert!(err.contains("not sealed with the key"), "{err}");
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    fn free() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    }

    fn link_to(addr: SocketAddr, key: Key) -> Link {
        Link {
            follower: addr.to_string(),
            key,
            found: Mutex::new(None),
        }
    }
}
