//! Files the proxy service's replicas get as Swarm secrets: a route's certificate files, the
//! root of the local CA every replica issues from (`--tls internal`), and the control network's
//! key. A secret is kept encrypted in the swarm's Raft store and reaches a replica's memory only
//! (tmpfs); `docker cp` would reach no replica but the follower. Each is named after the proxy
//! and its content's hash, so new content is a new secret.

use super::{check, wait_running, LABEL};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::proxy::caddy::tls;
use crate::settings::ProxySettings;

/// Gives every replica `files` (absolute paths in the replica, content) as Swarm secrets
/// mounted at those paths, and takes off the ones no route loads any more (`in_use`: what the
/// config loads now; a route's previous files stay until its next change, as its config still
/// names them until then). A secret is kept encrypted in the swarm's Raft store and reaches a
/// replica's memory only (tmpfs); `docker cp` would reach no replica but the follower. A file's
/// path is named by its content's hash, and so is its secret: new content is a new secret, and
/// one already attached is left as it is. Swarm replaces the replicas one at a time to mount
/// secrets (a task cannot change its mounts in place), as for a route's network: new files cost
/// each node's replica a restart. Called holding the proxy's files lock (`ProxyLock`), with
/// `in_use` read under it: no other run has then given files it has not yet named in the
/// config, so a file no route loads is no run's.
pub(in crate::proxy::caddy) fn give_files(
    engine: &Engine,
    settings: &ProxySettings,
    files: &[(&str, &[u8])],
    in_use: &[String],
) -> Result<()> {
    let name = &settings.name;
    let attached = attached_files(engine, name)?;
    let mut update = args(&["service", "update", "--detach", "--update-parallelism", "1"]);
    for (path, content) in files {
        if attached.iter().any(|(_, target)| target == path) {
            continue;
        }
        let secret = secret_name(name, path);
        keep(
            engine,
            "secret",
            name,
            &secret,
            content,
            &format!("`{path}`"),
        )?;
        update.extend(args(&[
            "--secret-add",
            &format!("source={secret},target={path},mode=0400"),
        ]));
    }
    let stale: Vec<&String> = attached
        .iter()
        .filter(|(_, target)| {
            target.starts_with(tls::FILES)
                && !in_use.contains(target)
                && !files.iter().any(|(p, _)| p == target)
        })
        .map(|(secret, _)| secret)
        .collect();
    for secret in &stale {
        update.extend(args(&["--secret-rm", secret]));
    }
    if update.len() == 5 {
        return Ok(());
    }
    update.push(name.clone());
    let out = engine.change(&update, None)?;
    check(out, name, "mount the route's certificate files in")?;
    wait_running(engine, settings)?;
    for secret in stale {
        // Best effort: a secret another service mounts stays.
        engine.change(&args(&["secret", "rm", secret]), None)?;
    }
    Ok(())
}

/// The root of the local CA every replica issues from (`--tls internal`): the paths of its
/// certificate and key in the replicas. Made once, by docker flow, and given to the replicas
/// as secrets (`give_files`); its certificate is also a Swarm config, readable by anyone who can
/// ask the manager (`docker config inspect`), for clients to trust. Caddy would make a root of
/// its own in each replica's storage, and a client trusting one would refuse the others.
pub(in crate::proxy::caddy) fn local_ca(
    engine: &Engine,
    settings: &ProxySettings,
    in_use: &[String],
) -> Result<(String, String)> {
    let attached = attached_files(engine, &settings.name)?;
    let dir = format!("{}/ca-", tls::FILES);
    let found = |file: &str| {
        attached
            .iter()
            .find(|(_, t)| t.starts_with(&dir) && t.ends_with(file))
            .map(|(_, t)| t.clone())
    };
    if let (Some(cert), Some(key)) = (found("/root.crt"), found("/root.key")) {
        return Ok((cert, key));
    }
    let (cert_pem, key_pem) = new_root(&settings.name).map_err(|e| {
        Error::environment(
            format!("cannot make the proxy's local CA: {e}"),
            "use certificate files (--tls-cert, --tls-key) instead of --tls internal",
        )
    })?;
    let hash = tls::content_hash(&[cert_pem.as_bytes()]);
    let (cert, key) = (
        format!("{dir}{hash}/root.crt"),
        format!("{dir}{hash}/root.key"),
    );
    let public = secret_name(&settings.name, &cert);
    keep(
        engine,
        "config",
        &settings.name,
        &public,
        cert_pem.as_bytes(),
        "the local CA's root",
    )?;
    give_files(
        engine,
        settings,
        &[(&cert, cert_pem.as_bytes()), (&key, key_pem.as_bytes())],
        in_use,
    )?;
    Ok((cert, key))
}

/// A new root CA's certificate and key, in PEM: valid for ten years from the start of this
/// year, for signing certificates only.
fn new_root(proxy: &str) -> std::result::Result<(String, String), rcgen::Error> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("docker flow {proxy} local CA"),
    );
    let year = 1970
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 31_556_952) as i32;
    params.not_before = rcgen::date_time_ymd(year, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Keeps `content` in the swarm's Raft store as the `kind` (`secret` or `config`) `name`,
/// labelled as the proxy's; one of that name is kept as it is (names carry their content's
/// hash). `what`: the content, for an error.
pub(super) fn keep(
    engine: &Engine,
    kind: &str,
    proxy: &str,
    name: &str,
    content: &[u8],
    what: &str,
) -> Result<()> {
    let out = engine.change(
        &args(&[
            kind,
            "create",
            "--label",
            &format!("{LABEL}={proxy}"),
            name,
            "-",
        ]),
        Some(content),
    )?;
    if out.ok_or_exists() {
        return Ok(());
    }
    Err(Error::environment(
        format!(
            "cannot keep {what} as the Swarm {kind} `{name}`: {}",
            out.last_error_line()
        ),
        format!("check `docker {kind} ls` on the manager"),
    ))
}

/// The secrets the service mounts: (secret name, path in the replica).
pub(super) fn attached_files(engine: &Engine, name: &str) -> Result<Vec<(String, String)>> {
    let out = engine.read(&args(&[
        "service",
        "inspect",
        "--format",
        "{{range .Spec.TaskTemplate.ContainerSpec.Secrets}}{{.SecretName}}\t{{.File.Name}}\n{{end}}",
        name,
    ]))?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect())
}

/// The secret holding the file at `path` for the proxy `proxy`: the proxy's name (cut so the
/// whole stays within Swarm's 64 characters) and the path's last two parts (the content's hash,
/// the file's name).
fn secret_name(proxy: &str, path: &str) -> String {
    let mut tail: Vec<&str> = path.rsplit('/').take(2).collect();
    tail.reverse();
    let tail = tail.join("-");
    let room = 63usize.saturating_sub(tail.len());
    let head: String = proxy.chars().take(room).collect();
    format!("{head}-{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_files_secret_is_named_by_its_proxy_and_its_content_within_swarms_64_characters() {
        let path = "/data/docker-flow/tls/0123456789abcdef/cert.pem";
        assert_eq!(secret_name("edge", path), "edge-0123456789abcdef-cert.pem");
        let long = "p".repeat(80);
        let named = secret_name(&long, path);
        assert!(named.len() <= 64, "{named}");
        assert!(named.ends_with("-0123456789abcdef-cert.pem"), "{named}");
    }
}
