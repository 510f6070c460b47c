//! HTTPS for a route's domains: where its certificates come from, as Caddy's config says it,
//! and the files docker flow copies into the proxy for it.
//!
//! Caddy obtains and renews the certificates itself (ACME, or its local CA) and keeps them on
//! the proxy's data volume; docker flow only says which issuer a route's domains use. Files the
//! user gives (`--tls-cert`/`--tls-key`, `--acme-ca-root`) are read here, checked, and copied in
//! through the engine under a directory named by their content's hash: new content is a new
//! path, so the config changes (and Caddy loads it) exactly when the files do.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::settings::{CertSource, TlsSettings};

/// Where Caddy keeps the certificates it obtained, one directory per issuer.
pub(super) const STORAGE: &str = "/data/caddy/certificates";
/// Where files docker flow copies in live, on the proxy's data volume.
pub(super) const FILES: &str = "/data/docker-flow/tls";

/// A route's HTTPS, as its Caddy config needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Https {
    pub issuer: Issuer,
    /// Whether HTTP requests for the domains are redirected (308) to HTTPS.
    pub redirect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Issuer {
    Acme {
        ca: Option<String>,
        email: Option<String>,
        /// The path in the container of a root to trust for the CA's own HTTPS.
        root: Option<String>,
    },
    Internal,
    /// Paths in the container.
    Files {
        cert: String,
        key: String,
    },
}

/// A route's HTTPS and the files it needs in the proxy (path in the container, content).
pub(super) struct Material {
    pub https: Https,
    pub files: Vec<(String, Vec<u8>)>,
}

/// Reads and checks what `settings` point at: None when the route is served on HTTP only.
pub(super) fn load(settings: &TlsSettings) -> Result<Option<Material>> {
    let Some(source) = &settings.source else {
        return Ok(None);
    };
    let mut files = Vec::new();
    let issuer = match source {
        CertSource::Internal => Issuer::Internal,
        CertSource::Acme { ca, email, ca_root } => {
            let root = match ca_root {
                Some(path) => {
                    let pem = read_pem(path, "CERTIFICATE", "--acme-ca-root")?;
                    let at = format!("{}/root.pem", dir_for(&[&pem]));
                    files.push((at.clone(), pem));
                    Some(at)
                }
                None => None,
            };
            Issuer::Acme {
                ca: ca.clone(),
                email: email.clone(),
                root,
            }
        }
        CertSource::Files { cert, key } => {
            let cert_pem = read_pem(cert, "CERTIFICATE", "--tls-cert")?;
            let key_pem = read_pem(key, "PRIVATE KEY", "--tls-key")?;
            let dir = dir_for(&[&cert_pem, &key_pem]);
            let (cert, key) = (format!("{dir}/cert.pem"), format!("{dir}/key.pem"));
            files.push((cert.clone(), cert_pem));
            files.push((key.clone(), key_pem));
            Issuer::Files { cert, key }
        }
    };
    Ok(Some(Material {
        https: Https {
            issuer,
            redirect: settings.redirect,
        },
        files,
    }))
}

/// The directory for files with this content.
fn dir_for(contents: &[&[u8]]) -> String {
    format!("{FILES}/{}", content_hash(contents))
}

/// A short hash of `contents` (16 hex digits), to name what holds them.
pub(super) fn content_hash(contents: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for c in contents {
        h.update((c.len() as u64).to_be_bytes());
        h.update(c);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file at `path`, which must hold a PEM block of `kind` (`CERTIFICATE`, `PRIVATE KEY`:
/// the end of the label, so `EC PRIVATE KEY` and `RSA PRIVATE KEY` count).
fn read_pem(path: &Path, kind: &str, flag: &str) -> Result<Vec<u8>> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::usage(
            format!("{flag} `{shown}` cannot be read: {e}"),
            format!("give a readable PEM file to {flag} (a relative path is taken from the project's directory)"),
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let has_block = text.lines().any(|l| {
        l.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|label| label.ends_with(kind))
    });
    if !has_block {
        return Err(Error::usage(
            format!("{flag} `{shown}` holds no PEM `{kind}` block"),
            format!("give {flag} a PEM file (-----BEGIN {kind}-----)"),
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n";

    fn files(dir: &Path) -> (PathBuf, PathBuf) {
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, CERT).unwrap();
        std::fs::write(&k, KEY).unwrap();
        (c, k)
    }

    #[test]
    fn certificate_files_are_copied_under_a_path_named_by_their_content() {
        let tmp = tempfile::tempdir().unwrap();
        let (cert, key) = files(tmp.path());
        let settings = TlsSettings {
            source: Some(CertSource::Files { cert, key }),
            redirect: true,
        };
        let m = load(&settings).unwrap().unwrap();
        let Issuer::Files { cert, key } = &m.https.issuer else {
            panic!("{:?}", m.https.issuer)
        };
        assert!(
            cert.starts_with(FILES) && cert.ends_with("/cert.pem"),
            "{cert}"
        );
        assert_eq!(Path::new(cert).parent(), Path::new(key).parent());
        assert_eq!(m.files.len(), 2);
        assert_eq!(m.files[1].1, KEY.as_bytes());
        // Other content, another path: the config changes when the files do.
        std::fs::write(tmp.path().join("key.pem"), KEY.replace("MHc", "MHd")).unwrap();
        let again = load(&settings).unwrap().unwrap();
        assert_ne!(again.https, m.https);
    }

    #[test]
    fn a_file_without_its_pem_block_is_refused_by_flag() {
        let tmp = tempfile::tempdir().unwrap();
        let (cert, _) = files(tmp.path());
        let settings = TlsSettings {
            source: Some(CertSource::Files {
                cert: cert.clone(),
                key: cert,
            }),
            redirect: true,
        };
        let e = load(&settings).err().unwrap().to_string();
        assert!(e.contains("--tls-key") && e.contains("PRIVATE KEY"), "{e}");
        let missing = TlsSettings {
            source: Some(CertSource::Acme {
                ca: None,
                email: None,
                ca_root: Some(tmp.path().join("nope.pem")),
            }),
            redirect: true,
        };
        let e = load(&missing).err().unwrap().to_string();
        assert!(
            e.contains("--acme-ca-root") && e.contains("cannot be read"),
            "{e}"
        );
        assert!(load(&TlsSettings {
            source: None,
            redirect: false
        })
        .unwrap()
        .is_none());
    }
}
