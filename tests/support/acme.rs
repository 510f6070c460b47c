//! An ACME certificate authority on the engine, for HTTPS tests that never leave the machine: a
//! second Caddy running Caddy's own `acme_server` (its PKI app's local CA) on a network of its
//! own. The proxy under test joins that network under the domain's name, so the CA's HTTP and
//! TLS-ALPN challenges reach it as they would reach a server on the Internet.

use std::process::Command;
use std::time::{Duration, Instant};

use super::{docker_ok, docker_words, CADDY_IMAGE};

/// The CA's name on its network (its directory is served for this name).
const CA_HOST: &str = "acme-ca";

pub struct AcmeCa {
    container: String,
    network: String,
    /// The ACME directory URL, as the proxy reaches it.
    pub directory: String,
    /// The CA's root (PEM): it signs the certificates the CA issues and the CA's own HTTPS.
    pub root: Vec<u8>,
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

impl AcmeCa {
    pub fn start(prefix: &str) -> AcmeCa {
        let (container, network) = (format!("{prefix}-ca"), format!("{prefix}-acme"));
        let config = serde_json::json!({
            "apps": {
                "http": {"servers": {"ca": {
                    "listen": [":9443"],
                    "automatic_https": {"disable_redirects": true},
                    // Access logs: each issuance is one POST to the order's finalize URL.
                    "logs": {},
                    "routes": [{
                        "match": [{"host": [CA_HOST]}],
                        "handle": [{"handler": "acme_server", "ca": "local"}]
                    }]
                }}},
                "tls": {"automation": {"policies": [
                    {"subjects": [CA_HOST], "issuers": [{"module": "internal"}]}
                ]}},
                "pki": {"certificate_authorities": {"local": {"install_trust": false}}}
            }
        });
        docker_ok(&["network", "create", &network]);
        docker_ok(&[
            "create",
            "--name",
            &container,
            "--network",
            &network,
            "--network-alias",
            CA_HOST,
            CADDY_IMAGE,
            "caddy",
            "run",
            "--config",
            "/ca.json",
        ]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.json");
        std::fs::write(&file, config.to_string()).unwrap();
        docker_ok(&[
            "cp",
            file.to_str().unwrap(),
            &format!("{container}:/ca.json"),
        ]);
        docker_ok(&["start", &container]);
        let root_file = dir.path().join("root.pem");
        let started = Instant::now();
        let root = loop {
            let o = docker(&[
                "cp",
                &format!("{container}:/data/caddy/pki/authorities/local/root.crt"),
                root_file.to_str().unwrap(),
            ]);
            if o.status.success() {
                break std::fs::read(&root_file).unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the ACME CA made no root: {}",
                String::from_utf8_lossy(&docker(&["logs", &container]).stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        AcmeCa {
            directory: format!("https://{CA_HOST}:9443/acme/local/directory"),
            container,
            network,
            root,
        }
    }

    /// Makes `proxy` answer the CA for `domain` (as DNS pointing the domain at a server does).
    pub fn resolve(&self, proxy: &str, domain: &str) {
        docker_ok(&[
            "network",
            "connect",
            "--alias",
            domain,
            &self.network,
            proxy,
        ]);
    }

    /// How many certificates the CA issued (finalized orders).
    pub fn issued(&self) -> usize {
        let o = docker(&["logs", &self.container]);
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| l.contains("/finalize\"") && l.contains("\"status\":200"))
            .count()
    }

    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&docker(&["logs", &self.container]).stderr).into_owned()
    }
}

impl Drop for AcmeCa {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        for c in docker_words(&[
            "network",
            "inspect",
            "--format",
            "{{range .Containers}}{{.Name}} {{end}}",
            &self.network,
        ]) {
            let _ = docker(&["network", "disconnect", "-f", &self.network, &c]);
        }
        let _ = docker(&["network", "rm", &self.network]);
    }
}
