//! Which registry an image reference names, and whether the engine reaches it without TLS.
//!
//! On a swarm of several nodes docker flow asks the registry whether an image is there before
//! it deploys (`docker manifest inspect`). That command is the CLI's, and the CLI knows nothing
//! of the daemon's `insecure-registries`: against a plain-HTTP registry it fails ("no such
//! manifest") unless told `--insecure`, although every node would pull from it. So docker flow
//! reads the daemon's registry settings and passes `--insecure` exactly when the daemon would
//! reach that registry without TLS, deciding as the daemon does: the registry's own entry first,
//! else whether its address is in one of the insecure networks.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// Docker Hub, which an image without a registry part comes from.
const DOCKER_HUB: &str = "docker.io";

/// The daemon's registry settings (`docker info --format '{{json .RegistryConfig}}'`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RegistryConfig {
    #[serde(default)]
    index_configs: BTreeMap<String, IndexConfig>,
    #[serde(default, rename = "InsecureRegistryCIDRs")]
    insecure_registry_cidrs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexConfig {
    secure: bool,
}

impl RegistryConfig {
    /// Whether the daemon reaches `registry` (`host[:port]`) over plain HTTP. Like the daemon:
    /// a registry it has an entry for is what the entry says; else one whose address is in an
    /// insecure network (127.0.0.0/8 by default) is insecure. A host name is not resolved here
    /// (the daemon resolves it on its own machine), so only its entry can make it insecure;
    /// `localhost` is the loopback everywhere.
    pub(crate) fn insecure(&self, registry: &str) -> bool {
        if let Some(c) = self.index_configs.get(registry) {
            return !c.secure;
        }
        let Some(ip) = host_ip(registry) else {
            return false;
        };
        self.insecure_registry_cidrs
            .iter()
            .filter_map(|c| c.parse::<IpNet>().ok())
            .any(|net| net.contains(&ip))
    }
}

/// The address of a registry's host, when it is one (or `localhost`).
fn host_ip(registry: &str) -> Option<IpAddr> {
    let host = match registry.strip_prefix('[') {
        // [v6]:port
        Some(rest) => rest.split_once(']').map(|(h, _)| h)?,
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    if host == "localhost" {
        return Some(IpAddr::from([127, 0, 0, 1]));
    }
    host.parse().ok()
}

/// The registry an image reference names, as Docker reads it: the part before the first `/`
/// when it looks like a host (has a `.` or a `:`, is `localhost`, or has capitals), else
/// Docker Hub.
pub(crate) fn of_image(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            first
        }
        _ => DOCKER_HUB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> RegistryConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_registry_is_the_first_part_when_it_looks_like_a_host() {
        assert_eq!(of_image("demo-service:v1"), "docker.io");
        assert_eq!(of_image("library/caddy:2"), "docker.io");
        assert_eq!(
            of_image("10.231.5.1:5000/demo-service:v1"),
            "10.231.5.1:5000"
        );
        assert_eq!(
            of_image("registry.example.com/team/app@sha256:ab"),
            "registry.example.com"
        );
        assert_eq!(of_image("localhost/app"), "localhost");
        assert_eq!(of_image("Team/app"), "Team");
    }

    #[test]
    fn a_registry_is_insecure_as_the_daemon_would_reach_it() {
        // As `docker info` prints it on the test bed's nodes.
        let c = config(
            r#"{"IndexConfigs":{"10.231.5.1:5000":{"Mirrors":[],"Name":"10.231.5.1:5000","Official":false,"Secure":false},"docker.io":{"Mirrors":[],"Name":"docker.io","Official":true,"Secure":true}},"InsecureRegistryCIDRs":["127.0.0.0/8"],"Mirrors":[]}"#,
        );
        assert!(c.insecure("10.231.5.1:5000"));
        assert!(!c.insecure("docker.io"));
        // Not named, but in an insecure network.
        assert!(c.insecure("127.0.0.1:5000"));
        assert!(c.insecure("localhost:5000"));
        // Another port of the same host is another registry, and its address is not insecure.
        assert!(!c.insecure("10.231.5.1:5001"));
        assert!(!c.insecure("registry.example.com"));
        let v6 = config(r#"{"InsecureRegistryCIDRs":["fd00::/8"]}"#);
        assert!(v6.insecure("[fd00::1]:5000"));
        assert!(!v6.insecure("[fe80::1]:5000"));
        // A daemon that says nothing trusts nothing insecure.
        assert!(!RegistryConfig::default().insecure("127.0.0.1:5000"));
    }
}
