//! A bounded load generator on loopback: N clients, a fresh connection per request, recording
//! each request's outcome, latency, answer and time. Used by the zero-downtime tests and `make bench`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request: when it started (since the load began), how long it took, and what came back.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Duration,
    pub latency: Duration,
    /// HTTP status, or None when the request failed outright.
    pub status: Option<u16>,
    pub body: String,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.status == Some(200)
    }

    /// The first word of the body: the demo service's VERSION.
    pub fn version(&self) -> &str {
        self.body.split_whitespace().next().unwrap_or("")
    }
}

/// GET `path` on `addr` with a fresh connection; None on a connection error or timeout.
pub fn get(addr: impl ToSocketAddrs, path: &str) -> Option<(u16, String)> {
    try_get(addr, path).ok()
}

/// GET `path` on `addr` with a fresh connection; the error says what failed.
pub fn try_get(addr: impl ToSocketAddrs, path: &str) -> Result<(u16, String), String> {
    try_request(addr, "GET", path)
}

/// `method` `path` on `addr` with a fresh connection (a POST carries a small body).
pub fn try_request(
    addr: impl ToSocketAddrs,
    method: &str,
    path: &str,
) -> Result<(u16, String), String> {
    try_request_with(addr, method, path, "")
}

/// Like `try_request`, with `header` (`Name: value`, or empty) sent too.
pub fn try_request_with(
    addr: impl ToSocketAddrs,
    method: &str,
    path: &str,
    header: &str,
) -> Result<(u16, String), String> {
    let s = connect(addr)?;
    exchange(s, "localhost", method, path, header)
}

fn connect(addr: impl ToSocketAddrs) -> Result<TcpStream, String> {
    let addr = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Where requests go over HTTPS: `127.0.0.1:port`, for `domain` (SNI and Host), trusting only
/// the root in `root_pem` (a test CA's).
#[derive(Clone)]
pub struct Https {
    /// The address connected to (this machine unless told).
    pub host: String,
    pub port: u16,
    pub domain: String,
    config: Arc<rustls::ClientConfig>,
}

impl Https {
    pub fn new(port: u16, domain: &str, root_pem: &[u8]) -> Https {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem) {
            roots.add(cert.expect("a PEM certificate")).unwrap();
        }
        static PROVIDER: OnceLock<()> = OnceLock::new();
        PROVIDER.get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Https {
            host: "127.0.0.1".to_string(),
            port,
            domain: domain.to_string(),
            config: Arc::new(config),
        }
    }

    /// The same, connecting to `host`.
    pub fn at(self, host: &str) -> Https {
        Https {
            host: host.to_string(),
            ..self
        }
    }

    /// `GET path` with a fresh TCP connection and a full TLS handshake (no resumption).
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        let tcp = connect((self.host.as_str(), self.port))?;
        let name = rustls::pki_types::ServerName::try_from(self.domain.clone())
            .map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)
            .map_err(|e| format!("tls: {e}"))?;
        exchange(
            rustls::StreamOwned::new(conn, tcp),
            &self.domain,
            "GET",
            path,
            "",
        )
    }
}

/// One request and its answer on `s` (`Connection: close`: the answer ends with the stream).
fn exchange(
    mut s: impl Read + Write,
    host: &str,
    method: &str,
    path: &str,
    header: &str,
) -> Result<(u16, String), String> {
    let body = if method == "GET" { "" } else { "ping" };
    let header = if header.is_empty() {
        String::new()
    } else {
        format!("{header}\r\n")
    };
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{header}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(_) => {}
        // A TLS peer that closes without close_notify, after its whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(format!("read: {e}")),
    }
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "no HTTP status in {:?}",
                text.chars().take(80).collect::<String>()
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<JoinHandle<()>>,
    pub started: Instant,
}

impl Load {
    /// Starts `clients` clients against `127.0.0.1:port` + `path`; each stops by itself after
    /// `max` (a bound, so a forgotten load never runs on).
    pub fn start(port: u16, path: &str, clients: usize, max: Duration) -> Load {
        Load::start_with(port, "GET", path, clients, max)
    }

    /// Like `start`, with another method (a POST, which a proxy may not retry).
    pub fn start_with(port: u16, method: &str, path: &str, clients: usize, max: Duration) -> Load {
        Load::start_on("127.0.0.1", port, method, path, clients, max)
    }

    /// Like `start`, each request carrying `header` (`Name: value`).
    pub fn start_with_header(
        port: u16,
        path: &str,
        header: &str,
        clients: usize,
        max: Duration,
    ) -> Load {
        Load::spawn("127.0.0.1", port, "GET", path, header, clients, max)
    }

    /// Like `start_with`, against another host (a test host in a network namespace).
    pub fn start_on(
        host: &str,
        port: u16,
        method: &str,
        path: &str,
        clients: usize,
        max: Duration,
    ) -> Load {
        Load::spawn(host, port, method, path, "", clients, max)
    }

    /// `clients` clients over HTTPS (see [`Https`]), a fresh TLS connection per request.
    pub fn start_https(https: &Https, path: &str, clients: usize, max: Duration) -> Load {
        let (https, path) = (https.clone(), path.to_string());
        Load::spawn_with(clients, max, move || https.get(&path))
    }

    fn spawn(
        host: &str,
        port: u16,
        method: &str,
        path: &str,
        header: &str,
        clients: usize,
        max: Duration,
    ) -> Load {
        let (method, host) = (method.to_string(), host.to_string());
        let (path, header) = (path.to_string(), header.to_string());
        Load::spawn_with(clients, max, move || {
            try_request_with((host.as_str(), port), &method, &path, &header)
        })
    }

    /// `clients` threads each sending `request` until stopped or `max` passed.
    fn spawn_with(
        clients: usize,
        max: Duration,
        request: impl Fn() -> Result<(u16, String), String> + Clone + Send + 'static,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let threads = (0..clients)
            .map(|_| {
                let (stop, samples, request) = (stop.clone(), samples.clone(), request.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) && started.elapsed() < max {
                        let at = started.elapsed();
                        let t = Instant::now();
                        let r = request();
                        let sample = Sample {
                            at,
                            latency: t.elapsed(),
                            status: r.as_ref().ok().map(|(s, _)| *s),
                            body: r.map(|(_, b)| b).unwrap_or_else(|e| e),
                        };
                        samples.lock().unwrap().push(sample);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Load {
            stop,
            samples,
            threads,
            started,
        }
    }

    pub fn stop(self) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        let mut samples = self.samples.lock().unwrap().clone();
        samples.sort_by_key(|s| s.at);
        Stats { samples }
    }
}

pub struct Stats {
    pub samples: Vec<Sample>,
}

impl Stats {
    pub fn total(&self) -> usize {
        self.samples.len()
    }

    pub fn failed(&self) -> Vec<&Sample> {
        self.samples.iter().filter(|s| !s.ok()).collect()
    }

    /// Requests answered with an HTTP error (a 502 from a dead upstream, a 503 from a starting one).
    pub fn http_errors(&self) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| s.status.is_some_and(|c| c != 200))
            .collect()
    }

    /// Connections the proxy closed or reset without any answer, and requests that got nothing
    /// (timeouts count here too).
    pub fn unanswered(&self) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.status.is_none()).collect()
    }

    pub fn max_latency(&self) -> Duration {
        self.samples
            .iter()
            .map(|s| s.latency)
            .max()
            .unwrap_or_default()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut l: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        l.sort_unstable();
        if l.is_empty() {
            return Duration::ZERO;
        }
        l[((l.len() - 1) as f64 * p).round() as usize]
    }

    /// When the first response of `version` started, and when the last response of another did.
    pub fn first_of(&self, version: &str) -> Option<Duration> {
        self.samples
            .iter()
            .filter(|s| s.ok() && s.version() == version)
            .map(|s| s.at)
            .min()
    }

    pub fn last_not(&self, version: &str) -> Option<Duration> {
        self.samples
            .iter()
            .filter(|s| s.ok() && s.version() != version)
            .map(|s| s.at + s.latency)
            .max()
    }

    /// Responses of versions other than `version` that started after `after`.
    pub fn stale_after(&self, version: &str, after: Duration) -> usize {
        self.samples
            .iter()
            .filter(|s| s.at > after && s.ok() && s.version() != version)
            .count()
    }

    pub fn summary(&self) -> String {
        let f = self.failed();
        format!(
            "{} requests, {} failed{}, p50 {:?}, p99 {:?}, max {:?}",
            self.total(),
            f.len(),
            f.first()
                .map(|s| format!(" (first: {:?} at {:?} {:?})", s.status, s.at, s.body.trim()))
                .unwrap_or_default(),
            self.percentile(0.5),
            self.percentile(0.99),
            self.max_latency()
        )
    }
}

/// Zero failed requests (no HTTP error, no connection closed unanswered), none slower than 1 s,
/// and after the command only `version` answers.
#[track_caller]
pub fn no_drop(stats: &Stats, switched: Duration, version: &str) {
    assert!(
        stats.total() > 50,
        "too little load to judge: {}",
        stats.summary()
    );
    assert!(
        stats.failed().is_empty(),
        "requests failed: {}",
        stats.summary()
    );
    assert!(
        stats.max_latency() < Duration::from_secs(1),
        "a request stalled: {}",
        stats.summary()
    );
    assert_eq!(
        stats.stale_after(version, switched),
        0,
        "old responses after the switch: {}",
        stats.summary()
    );
}

/// Enough load to judge (`what` names it in a failure), and no request failed.
#[track_caller]
pub fn all_ok(stats: &Stats, what: &str) {
    assert!(
        stats.total() > 30,
        "{what}: too little load: {}",
        stats.summary()
    );
    assert!(
        stats.failed().is_empty(),
        "{what}: requests failed: {}",
        stats.summary()
    );
}

/// `all_ok`, and every answer was `version`.
#[track_caller]
pub fn only(stats: &Stats, version: &str, what: &str) {
    all_ok(stats, what);
    assert!(
        stats.samples.iter().all(|s| s.version() == version),
        "{what}: not every answer was {version}: {}",
        stats.summary()
    );
}
