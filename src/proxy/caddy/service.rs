//! Swarm mode with `--proxy-replicas N`: the proxy as a Swarm service, its replicas on any node.
//!
//! docker flow reaches only the node docker talks to, so a replica elsewhere is never called:
//! each replica's first process is docker flow's helper (`proxy --sync`), which copies the
//! rotation and Caddy's config from the follower (the one container with the engine's socket,
//! on the manager) over the proxy's control network, `<proxy-name>-control`, which only the
//! follower and the replicas join, and reports what its Caddy has in flight. docker flow talks
//! to the follower as it talks to a proxy container (`docker exec` of the helper), and the
//! follower answers for every replica (`helper/src/replicas.rs`). A replica Swarm starts or
//! reschedules gets the routes by itself; Caddy's admin API stays on each replica's loopback.
//!
//! The replicas' image is the proxy image with the helper added (`docker commit` of a container
//! it was copied into), pushed to `--proxy-registry` so that every node can pull it; without a
//! registry the replicas are placed on the node docker talks to, the only one that has it. At
//! most one replica runs on a node (its ports are published in host mode, which keeps the
//! client's address; the routing mesh needs IPVS, which the test bed's kernel lacks).
//!
//! A route's network is added to the service when the route is made; Swarm then replaces the
//! replicas one at a time (a task cannot join a network in place), so making a route costs each
//! node's replica a restart. A switch never does: it changes records only.

use std::time::{Duration, Instant};

use super::{ADMIN, RECORDS, RESOLVER};
use crate::engine::{args, Engine, Refusal};
use crate::error::{Error, Result};
use crate::helper;
use crate::settings::values::PublishMode;
use crate::settings::ProxySettings;

/// The label on the service, as on the proxy container.
pub(super) const LABEL: &str = "io.docker-flow.proxy";
/// Where the follower serves the replicas, on the control network.
pub(super) const CONTROL_PORT: u16 = 2020;
/// Where each replica finds the control network's key (a Swarm secret, in its memory only).
const KEY_TARGET: &str = "docker-flow-control-key";
/// How long the replicas may take to run.
const START: Duration = Duration::from_secs(90);

/// The proxy's control network: the follower and the replicas, nothing else.
pub(super) fn control_network(proxy: &str) -> String {
    format!("{proxy}-control")
}

/// Makes the control network unless it exists: an attachable overlay (the follower is a
/// container), labelled as the proxy's.
pub(super) fn ensure_control_network(engine: &Engine, proxy: &str) -> Result<()> {
    let name = control_network(proxy);
    let out = engine.change(
        &args(&[
            "network",
            "create",
            "--driver",
            "overlay",
            "--attachable",
            "--label",
            &format!("{LABEL}={proxy}"),
            &name,
        ]),
        None,
    )?;
    if out.ok() || out.refusal() == Some(Refusal::Conflict) {
        return Ok(());
    }
    Err(Error::environment(
        format!(
            "cannot create the proxy's control network `{name}`: {}",
            out.stderr.trim()
        ),
        "check `docker network ls` and the swarm's address pools",
    ))
}

/// What stands at the service's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Service {
    Absent,
    /// docker flow's proxy service, with its image, its replicas and the networks it is on
    /// (IDs).
    Ours {
        image: String,
        replicas: u32,
        networks: Vec<String>,
    },
    Foreign {
        image: String,
    },
}

pub(super) fn find(engine: &Engine, name: &str) -> Result<Service> {
    let out = engine.read(&args(&[
        "service",
        "inspect",
        "--format",
        &format!(
            "{{{{index .Spec.Labels \"{LABEL}\"}}}}\t{{{{.Spec.TaskTemplate.ContainerSpec.Image}}}}\t{{{{if .Spec.Mode.Replicated}}}}{{{{.Spec.Mode.Replicated.Replicas}}}}{{{{end}}}}\t{{{{range .Spec.TaskTemplate.Networks}}}}{{{{.Target}}}} {{{{end}}}}"
        ),
        name,
    ]))?;
    if !out.ok() {
        return Ok(Service::Absent);
    }
    let line = out.stdout.trim_end_matches('\n');
    let mut parts = line.splitn(4, '\t');
    let (label, image, replicas, networks) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    Ok(if label == "caddy" {
        Service::Ours {
            image,
            replicas: replicas.trim().parse().unwrap_or(0),
            networks: networks.split_whitespace().map(String::from).collect(),
        }
    } else {
        Service::Foreign { image }
    })
}

/// The replicas' image: the proxy image with this build's helper, named after both; built once
/// on the node docker talks to, and pushed to the registry when there is one.
/// `found`: the service as it stands; one that runs this very image was pulled by its nodes
/// already, so nothing is built or pushed again (a deploy would otherwise push every time).
pub(super) fn image(engine: &Engine, settings: &ProxySettings, found: &Service) -> Result<String> {
    let base = engine.read(&args(&[
        "image",
        "inspect",
        "--format",
        "{{.Id}}",
        &settings.image,
    ]))?;
    if !base.ok() {
        return Err(Error::environment(
            format!("the proxy image `{}` is not on the engine", settings.image),
            format!("pull it first (`docker pull {}`)", settings.image),
        ));
    }
    let id = base.stdout.trim().trim_start_matches("sha256:");
    let repo = match &settings.registry {
        Some(r) => format!("{r}/docker-flow-proxy"),
        None => "docker-flow-proxy".to_string(),
    };
    let tag = format!("{repo}:{}-{}", helper::build_id(), &id[..id.len().min(12)]);
    if let Service::Ours { image: now, .. } = found {
        if now.split('@').next() == Some(tag.as_str()) {
            return Ok(tag);
        }
    }
    let have = engine.read(&args(&["image", "inspect", "--format", "{{.Id}}", &tag]))?;
    if !have.ok() {
        build(engine, settings, &tag)?;
    }
    if settings.registry.is_some() {
        let out = engine.change(&args(&["push", "--quiet", &tag]), None)?;
        if !out.ok() {
            return Err(Error::environment(
                format!(
                    "cannot push the proxy's image `{tag}`: {}",
                    out.last_error_line()
                ),
                "check that the registry answers and that `docker login` gave access to it",
            ));
        }
    }
    Ok(tag)
}

/// `docker create` of the proxy image, the helper copied in, `docker commit`.
fn build(engine: &Engine, settings: &ProxySettings, tag: &str) -> Result<()> {
    let scratch = format!("{}-build-{}", settings.name, std::process::id());
    let fail = |what: &str, out: &crate::engine::Output| {
        Error::environment(
            format!(
                "cannot build the proxy's image ({what}): {}",
                out.last_error_line()
            ),
            format!(
                "check that `{}` can be created on the engine",
                settings.image
            ),
        )
    };
    let created = engine.change(
        &args(&[
            "create",
            "--name",
            &scratch,
            "--entrypoint",
            &helper::path_in_container(),
            &settings.image,
        ]),
        None,
    )?;
    if !created.ok() {
        return Err(fail("create", &created));
    }
    let tar = helper::archive_for_container(&[])?;
    let copied = engine.change(&args(&["cp", "-", &format!("{scratch}:/")]), Some(&tar))?;
    let committed = if copied.ok() {
        Some(engine.change(&args(&["commit", &scratch, tag]), None)?)
    } else {
        None
    };
    engine.change(&args(&["rm", "-f", &scratch]), None)?;
    match committed {
        None => Err(fail("copy the helper", &copied)),
        Some(c) if !c.ok() => Err(fail("commit", &c)),
        Some(_) => Ok(()),
    }
}

/// The control network's key as the follower holds it: its public name and its text.
pub(super) struct ControlKey {
    pub id: String,
    pub text: String,
}

impl ControlKey {
    /// `<id> <key>`, as the helper's `control-key` prints it.
    pub(super) fn parse(line: &str) -> Option<ControlKey> {
        let (id, text) = line.trim().split_once(' ')?;
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        (hex(id, 12) && hex(text, 64)).then(|| ControlKey {
            id: id.to_string(),
            text: text.to_string(),
        })
    }

    /// The Swarm secret that gives it to the replicas.
    fn secret(&self, proxy: &str) -> String {
        let room = 63 - "-control-".len() - self.id.len();
        format!(
            "{}-control-{}",
            proxy.chars().take(room).collect::<String>(),
            self.id
        )
    }
}

/// Creates the service (its replicas follow `follower`, with `key`), or moves it to `image` and
/// `key`.
pub(super) fn ensure(
    engine: &Engine,
    settings: &ProxySettings,
    image: &str,
    follower: &str,
    key: &ControlKey,
    found: &Service,
) -> Result<()> {
    let name = &settings.name;
    let want = settings.replicas.unwrap_or(1);
    let secret = key.secret(name);
    // Made only where the service does not mount it yet (a secret of that name holds that key:
    // its name is the key's id).
    let keep_key = || {
        keep(
            engine,
            "secret",
            name,
            &secret,
            key.text.as_bytes(),
            "the control network's key",
        )
    };
    match found {
        Service::Ours {
            image: now,
            replicas,
            ..
        } => {
            // Another build of docker flow (another helper, which may take other arguments),
            // another count asked for, or another key (the follower's records were lost).
            let mut update = args(&["service", "update", "--detach"]);
            if now.split('@').next() != Some(image) {
                update.extend(args(&["--image", image, "--args", &command(follower).join(" ")]));
            }
            if *replicas != want {
                update.extend(args(&["--replicas", &want.to_string()]));
            }
            let mounted: Vec<String> = attached_files(engine, name)?
                .into_iter()
                .filter(|(_, target)| target == KEY_TARGET)
                .map(|(s, _)| s)
                .collect();
            let stale: Vec<&String> = mounted.iter().filter(|s| **s != secret).collect();
            if !mounted.contains(&secret) {
                keep_key()?;
                for old in &stale {
                    update.extend(args(&["--secret-rm", old]));
                }
                update.extend(args(&["--secret-add", &key_mount(&secret)]));
            }
            if update.len() == 3 {
                return Ok(());
            }
            update.push(name.clone());
            let out = engine.change(&update, None)?;
            check(out, name, "update")?;
            for old in stale {
                // Best effort: a key no replica mounts any more.
                engine.change(&args(&["secret", "rm", old]), None)?;
            }
            return Ok(());
        }
        Service::Foreign { image } => {
            return Err(Error::ProxyNotOwned {
                message: format!(
                    "a service named `{name}` (image {image}) exists, and docker flow did not start it"
                ),
                help: "docker flow only configures a proxy it started itself: choose another name with --proxy-name, or remove that service".into(),
            })
        }
        Service::Absent => {}
    }
    // Without a registry only this node has the image.
    let node = match settings.registry {
        Some(_) => None,
        None => Some(
            engine
                .read(&args(&["info", "--format", "{{.Swarm.NodeID}}"]))?
                .stdout
                .trim()
                .to_string(),
        ),
    };
    keep_key()?;
    let a = create_args(settings, image, follower, &secret, node.as_deref());
    let out = engine.change(&a, None)?;
    check(out, name, "create")
}

/// `docker service create` of the proxy service; `node`: the one node it must run on (the only
/// one with its image).
fn create_args(
    settings: &ProxySettings,
    image: &str,
    follower: &str,
    key_secret: &str,
    node: Option<&str>,
) -> Vec<String> {
    let mode = match settings.publish {
        PublishMode::Host => "host",
        PublishMode::Ingress => "ingress",
    };
    let mut a = args(&[
        "service",
        "create",
        "--detach",
        "--name",
        &settings.name,
        "--label",
        &format!("{LABEL}=caddy"),
        "--replicas",
        &settings.replicas.unwrap_or(1).to_string(),
        "--replicas-max-per-node",
        "1",
        "--publish",
        &format!("mode={mode},target=80,published={}", settings.http_port),
        "--publish",
        &format!("mode={mode},target=443,published={}", settings.https_port),
        "--network",
        &control_network(&settings.name),
        "--secret",
        &key_mount(key_secret),
        "--env",
        &format!("CADDY_ADMIN={ADMIN}"),
        "--env",
        "XDG_CONFIG_HOME=/config",
        "--env",
        "XDG_DATA_HOME=/data",
        "--sysctl",
        "net.ipv4.tcp_migrate_req=1",
        "--entrypoint",
        &helper::path_in_container(),
    ]);
    if let Some(node) = node {
        a.extend(args(&[
            "--constraint",
            &format!("node.id=={node}"),
            "--no-resolve-image",
        ]));
    }
    a.push(image.to_string());
    a.extend(command(follower));
    a
}

/// A replica's command (after the helper, its entrypoint): serve the rotation, keep it and
/// Caddy's config on the follower's, run Caddy.
fn command(follower: &str) -> Vec<String> {
    args(&[
        "proxy",
        RECORDS,
        RESOLVER,
        "--sync",
        &format!("{follower}:{CONTROL_PORT}"),
        &format!("/run/secrets/{KEY_TARGET}"),
        ADMIN,
        "caddy",
        "run",
    ])
}

/// `--secret` of the control network's key.
fn key_mount(secret: &str) -> String {
    format!("source={secret},target={KEY_TARGET},mode=0400")
}

fn check(out: crate::engine::Output, name: &str, what: &str) -> Result<()> {
    if out.ok() {
        return Ok(());
    }
    Err(Error::environment(
        format!(
            "cannot {what} the proxy service `{name}`: {}",
            out.last_error_line()
        ),
        format!("`docker service ps --no-trunc {name}` tells more"),
    ))
}

/// Adds a route's network to the service (Swarm replaces its replicas one at a time) and waits
/// until they run again.
pub(super) fn add_network(engine: &Engine, settings: &ProxySettings, network: &str) -> Result<()> {
    let name = &settings.name;
    let out = engine.change(
        &args(&[
            "service",
            "update",
            "--detach",
            "--update-parallelism",
            "1",
            "--network-add",
            network,
            name,
        ]),
        None,
    )?;
    check(out, name, &format!("connect to `{network}`"))?;
    wait_running(engine, settings).map(drop)
}

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
pub(super) fn give_files(
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
            target.starts_with(super::tls::FILES)
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
pub(super) fn local_ca(
    engine: &Engine,
    settings: &ProxySettings,
    in_use: &[String],
) -> Result<(String, String)> {
    let attached = attached_files(engine, &settings.name)?;
    let dir = format!("{}/ca-", super::tls::FILES);
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
    let hash = super::tls::content_hash(&[cert_pem.as_bytes()]);
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
fn keep(
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
fn attached_files(engine: &Engine, name: &str) -> Result<Vec<(String, String)>> {
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

/// Waits until every replica Swarm wants runs, or at least one does and Swarm has no node for
/// the others (a node down, or its ports taken: they run once it has one), at most `START`.
/// Returns how many replicas Swarm could not place.
pub(super) fn wait_running(engine: &Engine, settings: &ProxySettings) -> Result<usize> {
    if engine.dry_run() {
        return Ok(0);
    }
    let name = &settings.name;
    let want = settings.replicas.unwrap_or(1) as usize;
    let started = Instant::now();
    loop {
        let out = engine.read(&args(&[
            "service",
            "ps",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.CurrentState}}\t{{.Error}}",
            name,
        ]))?;
        let running = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("Running"))
            .count();
        let unplaced = out
            .stdout
            .lines()
            .filter(|l| l.starts_with("Pending") && l.contains("no suitable node"))
            .count();
        let updating = engine
            .read(&args(&[
                "service",
                "inspect",
                "--format",
                "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
                name,
            ]))?
            .stdout
            .trim()
            .to_string();
        if running >= 1 && running + unplaced >= want && updating != "updating" {
            return Ok(unplaced);
        }
        if started.elapsed() > START {
            let why = out
                .stdout
                .lines()
                .find(|l| !l.starts_with("Running"))
                .unwrap_or("");
            return Err(Error::environment(
                format!(
                    "the proxy service `{name}` runs {running} of {want} replicas after {}s {}",
                    START.as_secs(),
                    why.trim()
                ),
                format!(
                    "`docker service ps --no-trunc {name}` tells why; each replica needs a node of its own with ports {} and {} free",
                    settings.http_port, settings.https_port
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ProxyDriver;

    fn settings(publish: PublishMode, registry: Option<&str>) -> ProxySettings {
        ProxySettings {
            driver: ProxyDriver::Caddy,
            image: "caddy:2".into(),
            name: "edge".into(),
            http_port: 80,
            https_port: 443,
            replicas: Some(3),
            registry: registry.map(String::from),
            publish,
            trusted_proxies: None,
            host: "localhost".into(),
            reconf_port: 8080,
            docker_host: None,
            docker_cert_path: None,
        }
    }

    #[test]
    fn a_files_secret_is_named_by_its_proxy_and_its_content_within_swarms_64_characters() {
        let path = "/data/docker-flow/tls/0123456789abcdef/cert.pem";
        assert_eq!(secret_name("edge", path), "edge-0123456789abcdef-cert.pem");
        let long = "p".repeat(80);
        let named = secret_name(&long, path);
        assert!(named.len() <= 64, "{named}");
        assert!(named.ends_with("-0123456789abcdef-cert.pem"), "{named}");
    }

    #[test]
    fn the_control_key_reads_as_the_helper_prints_it_and_names_its_secret() {
        let line = format!("0123456789ab {}\n", "f".repeat(64));
        let key = ControlKey::parse(&line).unwrap();
        assert_eq!(key.secret("edge"), "edge-control-0123456789ab");
        assert!(key.secret(&"p".repeat(80)).len() <= 63);
        assert!(ControlKey::parse("0123456789ab short").is_none());
        assert!(ControlKey::parse("").is_none());
    }

    #[test]
    fn the_replicas_publish_in_host_mode_unless_told_and_follow_the_follower() {
        let a = create_args(
            &settings(PublishMode::Host, Some("r.example")),
            "img",
            "edge-follow",
            "edge-control-0123456789ab",
            None,
        )
        .join(" ");
        assert!(a.contains("--replicas 3 --replicas-max-per-node 1"), "{a}");
        assert!(
            a.contains("--publish mode=host,target=80,published=80"),
            "{a}"
        );
        assert!(a.contains("--network edge-control"), "{a}");
        assert!(
            a.contains("--secret source=edge-control-0123456789ab,target=docker-flow-control-key,mode=0400"),
            "{a}"
        );
        assert!(
            a.ends_with(
                "img proxy /routes 127.0.0.1:5353 --sync edge-follow:2020 /run/secrets/docker-flow-control-key 127.0.0.1:2019 caddy run"
            ),
            "{a}"
        );
        assert!(!a.contains("--constraint"), "{a}");
        let mesh = create_args(
            &settings(PublishMode::Ingress, None),
            "img",
            "edge-follow",
            "edge-control-0123456789ab",
            Some("n1"),
        )
        .join(" ");
        assert!(
            mesh.contains("--publish mode=ingress,target=443,published=443"),
            "{mesh}"
        );
        // Without a registry, only the node that has the image.
        assert!(
            mesh.contains("--constraint node.id==n1 --no-resolve-image"),
            "{mesh}"
        );
    }
}
