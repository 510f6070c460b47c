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
//!
//! - `control`: the control network and its key.
//! - `image`: the replicas' image.
//! - `secrets`: the files the replicas get as Swarm secrets (certificates, the local CA's root,
//!   the control network's key).

mod control;
mod image;
mod secrets;

use std::time::{Duration, Instant};

pub(super) use self::control::{control_network, ensure_control_network, ControlKey, CONTROL_PORT};
use self::control::{key_mount, KEY_TARGET};
pub(super) use self::image::image;
use self::secrets::{attached_files, keep};
pub(super) use self::secrets::{give_files, local_ca};
use super::{ADMIN, RECORDS, RESOLVER};
use crate::engine::{args, Engine};
use crate::error::{Error, Result};
use crate::helper;
use crate::settings::{ProxySettings, PublishMode};

/// The label on the service, as on the proxy container.
pub(super) const LABEL: &str = "io.docker-flow.proxy";
/// How long the replicas may take to run.
const START: Duration = Duration::from_secs(90);

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
